//! Repairs at the HTTP edge, for answers s3s settles before or after our operations run.
//!
//! - A malformed `X-Amz-Date` is `AccessDenied` (403) on S3; s3s answers `InvalidRequest`.
//! - A malformed `If-Modified-Since` or `If-Unmodified-Since` is ignored, as RFC 9110 requires
//!   and S3 does; s3s refuses the whole request. Such a header is usually signed, so it is
//!   removed only after the request's own signature has been checked here, and the request is
//!   then signed again, for s3s, with the caller's key.
//! - A HEAD that reads a range (a part number) answers 206 like the GET it describes; s3s sets
//!   206 only on GET.
//! - A refusal of a request with a body closes the connection, whose state an unread (or
//!   unsent, after `Expect: 100-continue`) body leaves ambiguous.

use axum::extract::Request;
use axum::response::{IntoResponse, Response};
use http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, header};
use s3s::dto::{Timestamp, TimestampFormat};
use sha2::{Digest, Sha256};

use crate::sigv4;
use crate::users::Users;

/// The read preconditions that carry a date.
static DATE_CONDITIONS: [HeaderName; 2] = [header::IF_MODIFIED_SINCE, header::IF_UNMODIFIED_SINCE];

/// The parts of a header-signed SigV4 request's Authorization header.
#[derive(Clone)]
struct Authorization {
    /// `<access key>/<date>/<region>/<service>/aws4_request`.
    credential: String,
    access_key: String,
    scope: String,
    date: String,
    region: String,
    service: String,
    signed_headers: Vec<String>,
    signature: String,
}

impl Authorization {
    fn of(headers: &HeaderMap) -> Option<Authorization> {
        let text = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
        let rest = text.strip_prefix("AWS4-HMAC-SHA256")?;
        let (mut credential, mut signed, mut signature) = (None, None, None);
        for part in rest.split(',') {
            let part = part.trim();
            if let Some(v) = part.strip_prefix("Credential=") {
                credential = Some(v.to_string());
            } else if let Some(v) = part.strip_prefix("SignedHeaders=") {
                signed = Some(v.split(';').map(str::to_string).collect());
            } else if let Some(v) = part.strip_prefix("Signature=") {
                signature = Some(v.to_string());
            }
        }
        let credential = credential?;
        let fields: Vec<&str> = credential.split('/').collect();
        let [access_key, date, region, service, "aws4_request"] = fields[..] else { return None };
        Some(Authorization {
            access_key: access_key.to_string(),
            scope: format!("{date}/{region}/{service}/aws4_request"),
            date: date.to_string(),
            region: region.to_string(),
            service: service.to_string(),
            credential: credential.clone(),
            signed_headers: signed?,
            signature: signature?,
        })
    }
}

/// What the edge remembers of a request to adjust its answer.
pub struct Exchange {
    head: bool,
    /// The request carries a body, which a refusal may leave unread.
    has_body: bool,
}

impl Exchange {
    /// Adjusts s3s's answer to the request.
    pub fn finish(&self, response: &mut Response) {
        if self.head && response.status() == StatusCode::OK && response.headers().contains_key(header::CONTENT_RANGE) {
            *response.status_mut() = StatusCode::PARTIAL_CONTENT;
        }
        // A refusal may leave the body unread, and hyper then either closes the connection
        // without saying so (the client's next request on it fails) or, when the client waits
        // for `100 Continue` and so never sends the body, reads "a tiny body" from the
        // connection: the first bytes of the client's next request. Saying `close` avoids both.
        if self.has_body && (response.status().is_client_error() || response.status().is_server_error()) {
            response.headers_mut().insert(header::CONNECTION, HeaderValue::from_static("close"));
        }
    }
}

/// Prepares an S3 request for s3s: the request to pass on with what to remember of it, or the
/// answer to give instead.
pub fn before(req: Request, users: &Users) -> Result<(Request, Exchange), Box<Response>> {
    let exchange = Exchange { head: req.method() == Method::HEAD, has_body: has_body(req.headers()) };
    Ok((prepare(req, users)?, exchange))
}

fn prepare(mut req: Request, users: &Users) -> Result<Request, Box<Response>> {
    let auth = Authorization::of(req.headers());
    if auth.is_some() && req.headers().get("x-amz-date").is_some_and(|v| !valid_amz_date(v)) {
        let mut answer = access_denied("AWS authentication requires a valid Date or x-amz-date header");
        // The body is never read: say so, or the client may send its next request on a
        // connection the server is about to close.
        if has_body(req.headers()) {
            answer.headers_mut().insert(header::CONNECTION, HeaderValue::from_static("close"));
        }
        return Err(Box::new(answer));
    }
    if let Some(auth) = auth.as_ref().filter(|a| users.stands_in(&a.access_key)) {
        stand_in_for(&mut req, auth, users);
        return Ok(req);
    }
    if matches!(*req.method(), Method::GET | Method::HEAD) {
        ignore_malformed_dates(&mut req, auth.as_ref(), users);
    }
    Ok(req)
}

/// `--any-credentials`: a header-signed request with a key no user has is signed again with the
/// primary user's key, unchecked, so that s3s takes it as the primary user's. (Presigned URLs,
/// SigV2 and signed payload chunks are not: they need a user's own key.)
fn stand_in_for(req: &mut Request, auth: &Authorization, users: &Users) {
    let primary = users.primary();
    let Some(amz_date) = req.headers().get("x-amz-date").and_then(|v| v.to_str().ok()).map(str::to_string) else { return };
    let raw_path = req.uri().path().to_string();
    let decoded = percent_encoding::percent_decode_str(&raw_path).decode_utf8_lossy().into_owned();
    let path = percent_encoding::utf8_percent_encode(&decoded, sigv4::UNRESERVED_AND_SLASH).to_string();
    let credential = format!("{}/{}", primary.access_key, auth.scope);
    let ours = Authorization { access_key: primary.access_key.clone(), credential: credential.clone(), ..auth.clone() };
    let Some(signature) = signature(req, &path, &auth.signed_headers, &ours, &amz_date, &primary.secret_key) else { return };
    let value = format!("AWS4-HMAC-SHA256 Credential={credential}, SignedHeaders={}, Signature={signature}", auth.signed_headers.join(";"));
    if let Ok(v) = HeaderValue::from_str(&value) {
        req.headers_mut().insert(header::AUTHORIZATION, v);
    }
}

fn has_body(headers: &HeaderMap) -> bool {
    headers.contains_key(header::TRANSFER_ENCODING)
        || headers.get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).is_some_and(|v| v.trim() != "0")
}

fn access_denied(message: &str) -> Response {
    let xml = format!("<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>AccessDenied</Code><Message>{message}</Message></Error>");
    (StatusCode::FORBIDDEN, [(header::CONTENT_TYPE, "application/xml")], xml).into_response()
}

/// `YYYYMMDD'T'HHMMSS'Z'`, a real time of day on a real date.
fn valid_amz_date(value: &HeaderValue) -> bool {
    let Ok(text) = value.to_str() else { return false };
    let b = text.as_bytes();
    let digits = |r: std::ops::Range<usize>| b[r].iter().all(u8::is_ascii_digit);
    b.len() == 16
        && digits(0..8)
        && b[8] == b'T'
        && digits(9..15)
        && b[15] == b'Z'
        && chrono::NaiveDateTime::parse_from_str(text, "%Y%m%dT%H%M%SZ").is_ok()
}

/// Whether s3s can read a date precondition (an empty value counts as absent).
fn valid_http_date(value: &HeaderValue) -> bool {
    value.is_empty() || value.to_str().is_ok_and(|t| Timestamp::parse(TimestampFormat::HttpDate, t).is_ok())
}

/// Removes date preconditions s3s cannot read. A signed one goes only from a request whose
/// signature holds, which is then signed again without it, so that nobody obtains a signature
/// without the key.
fn ignore_malformed_dates(req: &mut Request, auth: Option<&Authorization>, users: &Users) {
    let bad: Vec<&HeaderName> = DATE_CONDITIONS.iter().filter(|name| req.headers().get_all(*name).iter().any(|v| !valid_http_date(v))).collect();
    if bad.is_empty() {
        return;
    }
    let Some(auth) = auth else {
        // Anonymous, or a presigned URL: those sign the query and, at most, headers named in it.
        let query = req.uri().query().unwrap_or_default();
        let presigned_headers: Vec<String> = url::form_urlencoded::parse(query.as_bytes())
            .filter(|(k, _)| k == "X-Amz-SignedHeaders")
            .flat_map(|(_, v)| v.split(';').map(str::to_string).collect::<Vec<_>>())
            .collect();
        if bad.iter().all(|name| !presigned_headers.iter().any(|h| h == name.as_str())) {
            for name in bad {
                req.headers_mut().remove(name);
            }
        }
        return;
    };
    if bad.iter().all(|name| !auth.signed_headers.iter().any(|h| h == name.as_str())) {
        for name in bad {
            req.headers_mut().remove(name);
        }
        return;
    }
    let Some(user) = users.get(&auth.access_key) else { return };
    let Some(amz_date) = req.headers().get("x-amz-date").and_then(|v| v.to_str().ok()).map(str::to_string) else { return };
    // s3s signs the decoded path re-encoded, and accepts the raw path as sent too.
    let raw_path = req.uri().path().to_string();
    let decoded = percent_encoding::percent_decode_str(&raw_path).decode_utf8_lossy().into_owned();
    let encoded_path = percent_encoding::utf8_percent_encode(&decoded, sigv4::UNRESERVED_AND_SLASH).to_string();
    let sign = |req: &Request, path: &str, signed: &[String]| signature(req, path, signed, auth, &amz_date, &user.secret_key);
    let holds = |path: &str| sign(req, path, &auth.signed_headers).is_some_and(|s| same_signature(&s, &auth.signature));
    let Some(path) = [encoded_path, raw_path].into_iter().find(|p| holds(p)) else {
        // Not ours to judge: s3s answers a bad signature as S3 does.
        return;
    };
    for name in &bad {
        req.headers_mut().remove(*name);
    }
    let signed: Vec<String> = auth.signed_headers.iter().filter(|h| !bad.iter().any(|b| b.as_str() == h.as_str())).cloned().collect();
    let Some(new_signature) = sign(req, &path, &signed) else { return };
    let value = format!("AWS4-HMAC-SHA256 Credential={}, SignedHeaders={}, Signature={new_signature}", auth.credential, signed.join(";"));
    if let Ok(v) = HeaderValue::from_str(&value) {
        req.headers_mut().insert(header::AUTHORIZATION, v);
    }
}

/// Compares signatures without an early exit, so that timing does not reveal how much matched.
fn same_signature(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.bytes().zip(b.bytes()).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The SigV4 signature of a header-signed S3 request, canonicalised as s3s does.
fn signature(req: &Request, path: &str, signed: &[String], auth: &Authorization, amz_date: &str, secret: &str) -> Option<String> {
    let payload = req.headers().get("x-amz-content-sha256")?.to_str().ok()?;
    let headers: String = signed.iter().map(|h| format!("{h}:{}\n", sigv4::header_value(req.headers(), h).trim())).collect();
    let canonical = format!(
        "{}\n{path}\n{}\n{headers}\n{}\n{payload}",
        req.method().as_str(),
        sigv4::canonical_query(req.uri().query().unwrap_or_default()),
        signed.join(";"),
    );
    let string_to_sign = format!("AWS4-HMAC-SHA256\n{amz_date}\n{}\n{}", auth.scope, hex::encode(Sha256::digest(canonical.as_bytes())));
    let mut key = sigv4::hmac(format!("AWS4{secret}").as_bytes(), auth.date.as_bytes());
    for part in [auth.region.as_bytes(), auth.service.as_bytes(), b"aws4_request"] {
        key = sigv4::hmac(&key, part);
    }
    Some(hex::encode(sigv4::hmac(&key, string_to_sign.as_bytes())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amz_dates() {
        let cases = [
            ("20250102T030405Z", true),
            ("20251302T030405Z", false),
            ("20250102T250405Z", false),
            ("20250102 030405Z", false),
            ("2025010T2030405Z", false),
            ("yesterday at noon", false),
            ("20250102T030405", false),
            ("", false),
        ];
        for (text, want) in cases {
            assert_eq!(valid_amz_date(&HeaderValue::from_static(text)), want, "{text:?}");
        }
    }

    #[test]
    fn http_dates() {
        assert!(valid_http_date(&HeaderValue::from_static("Wed, 21 Oct 2015 07:28:00 GMT")));
        assert!(valid_http_date(&HeaderValue::from_static("")));
        assert!(!valid_http_date(&HeaderValue::from_static("not a date")));
        assert!(!valid_http_date(&HeaderValue::from_static("2015-10-21")));
    }
}
