//! CORS for browsers: preflight `OPTIONS` requests answered from the bucket's CORS rules, and
//! the `Access-Control-*` headers added to actual responses, as S3 does. s3s does neither, so the
//! edge calls these before and after the S3 service.

use axum::body::Body;
use axum::response::{IntoResponse, Response};
use http::{HeaderMap, HeaderValue, Method, StatusCode};
use storage::{CorsRule, Store};

use crate::s3::access::glob;

/// The bucket a path-style request names.
pub fn bucket_of(path: &str) -> Option<&str> {
    path.trim_start_matches('/').split('/').next().filter(|b| !b.is_empty())
}

fn origin_matches(rule: &CorsRule, origin: &str) -> bool {
    rule.allowed_origins.iter().any(|o| glob(o, origin))
}

fn header_allowed(rule: &CorsRule, header: &str) -> bool {
    let header = header.trim().to_ascii_lowercase();
    rule.allowed_headers.iter().any(|h| glob(&h.to_ascii_lowercase(), &header))
}

/// The first rule that allows this origin, method and these request headers.
fn matching_rule<'a>(rules: &'a [CorsRule], origin: &str, method: &str, headers: &[&str]) -> Option<&'a CorsRule> {
    rules.iter().find(|r| {
        origin_matches(r, origin)
            && r.allowed_methods.iter().any(|m| m.eq_ignore_ascii_case(method))
            && headers.iter().all(|h| h.trim().is_empty() || header_allowed(r, h))
    })
}

fn forbidden(message: &str) -> Response {
    let body = format!("<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>AccessForbidden</Code><Message>{message}</Message></Error>");
    (StatusCode::FORBIDDEN, [(http::header::CONTENT_TYPE, "application/xml")], body).into_response()
}

fn set(headers: &mut HeaderMap, name: &'static str, value: &str) {
    if let Ok(v) = HeaderValue::from_str(value) {
        headers.insert(name, v);
    }
}

/// The origin headers a matched rule puts on a response.
fn allow_origin(headers: &mut HeaderMap, rule: &CorsRule, origin: &str) {
    if rule.allowed_origins.iter().any(|o| o == "*") {
        set(headers, "access-control-allow-origin", "*");
    } else {
        set(headers, "access-control-allow-origin", origin);
        set(headers, "access-control-allow-credentials", "true");
    }
    headers.append(http::header::VARY, HeaderValue::from_static("Origin, Access-Control-Request-Headers, Access-Control-Request-Method"));
}

/// Answers a preflight request, or `None` if this `OPTIONS` is not one.
pub fn preflight(store: &Store, method: &Method, path: &str, headers: &HeaderMap) -> Option<Response> {
    if method != Method::OPTIONS {
        return None;
    }
    let origin = headers.get(http::header::ORIGIN).and_then(|v| v.to_str().ok());
    let requested = headers.get(http::header::ACCESS_CONTROL_REQUEST_METHOD).and_then(|v| v.to_str().ok());
    let (Some(origin), Some(requested)) = (origin, requested) else {
        return Some(forbidden("CORSResponse: Invalid preflight request: Origin and Access-Control-Request-Method are required"));
    };
    let Some(bucket) = bucket_of(path) else {
        return Some(forbidden("CORSResponse: CORS is not enabled for this bucket."));
    };
    let rules = match store.head_bucket(bucket) {
        Ok(b) => b.config.cors.unwrap_or_default(),
        Err(_) => return Some(forbidden("CORSResponse: Bucket not found")),
    };
    if rules.is_empty() {
        return Some(forbidden("CORSResponse: CORS is not enabled for this bucket."));
    }
    let asked = headers.get(http::header::ACCESS_CONTROL_REQUEST_HEADERS).and_then(|v| v.to_str().ok()).unwrap_or_default();
    let asked: Vec<&str> = asked.split(',').collect();
    let Some(rule) = matching_rule(&rules, origin, requested, &asked) else {
        return Some(forbidden(
            "CORSResponse: This CORS request is not allowed. This is usually because the evalution of Origin, request method / Access-Control-Request-Method or Access-Control-Request-Headers are not whitelisted by the resource's CORS spec.",
        ));
    };
    let mut response = Response::new(Body::empty());
    let h = response.headers_mut();
    allow_origin(h, rule, origin);
    set(h, "access-control-allow-methods", &rule.allowed_methods.join(", "));
    let asked: Vec<&str> = asked.iter().map(|a| a.trim()).filter(|a| !a.is_empty()).collect();
    if !asked.is_empty() {
        set(h, "access-control-allow-headers", &asked.join(", "));
    }
    if !rule.expose_headers.is_empty() {
        set(h, "access-control-expose-headers", &rule.expose_headers.join(", "));
    }
    if let Some(age) = rule.max_age_seconds {
        set(h, "access-control-max-age", &age.to_string());
    }
    Some(response)
}

/// Adds the CORS headers of the bucket's matching rule to an actual (non-preflight) response.
pub fn decorate(store: &Store, method: &Method, path: &str, origin: Option<&str>, response: &mut Response) {
    let Some(origin) = origin else { return };
    let Some(bucket) = bucket_of(path) else { return };
    let Ok(b) = store.head_bucket(bucket) else { return };
    let Some(rules) = b.config.cors else { return };
    if let Some(rule) = matching_rule(&rules, origin, method.as_str(), &[]) {
        let h = response.headers_mut();
        allow_origin(h, rule, origin);
        set(h, "access-control-allow-methods", &rule.allowed_methods.join(", "));
        if !rule.expose_headers.is_empty() {
            set(h, "access-control-expose-headers", &rule.expose_headers.join(", "));
        }
        if let Some(age) = rule.max_age_seconds {
            set(h, "access-control-max-age", &age.to_string());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(origins: &[&str], methods: &[&str], headers: &[&str]) -> CorsRule {
        CorsRule {
            allowed_origins: origins.iter().map(|s| s.to_string()).collect(),
            allowed_methods: methods.iter().map(|s| s.to_string()).collect(),
            allowed_headers: headers.iter().map(|s| s.to_string()).collect(),
            ..Default::default()
        }
    }

    #[test]
    fn rules_match_origin_method_and_headers() {
        let rules = vec![rule(&["https://*.example.com"], &["GET", "PUT"], &["content-type", "x-amz-*"]), rule(&["*"], &["GET"], &[])];
        assert!(matching_rule(&rules, "https://app.example.com", "PUT", &["Content-Type", "x-amz-date"]).is_some());
        assert!(matching_rule(&rules, "https://app.example.com", "PUT", &["authorization"]).is_none());
        assert_eq!(matching_rule(&rules, "https://other.org", "GET", &[]).map(|r| r.allowed_origins[0].as_str()), Some("*"));
        assert!(matching_rule(&rules, "https://other.org", "DELETE", &[]).is_none());
        assert_eq!(bucket_of("/bkt/a/b"), Some("bkt"));
        assert_eq!(bucket_of("/"), None);
    }
}
