//! SigV4 verification for the services other than S3 (Glue, Athena, STS), signed in the
//! `Authorization` header or, presigned, in the query string.
//!
//! s3s verifies S3 requests itself but accepts only the `s3` and `sts` scopes, so the other
//! services are checked here, with the same credentials.

use std::collections::HashMap;
use std::sync::Arc;

use hmac::{KeyInit, Mac};
use http::{HeaderMap, Method, Uri};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, percent_decode_str, utf8_percent_encode};
use sha2::{Digest, Sha256};

type HmacSha256 = hmac::Hmac<Sha256>;

/// Characters SigV4 leaves unencoded: the RFC 3986 unreserved set.
const UNRESERVED: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'_').remove(b'.').remove(b'~');
pub(crate) const UNRESERVED_AND_SLASH: &AsciiSet = &UNRESERVED.remove(b'/');

/// The access keys Minerva accepts, each with its secret.
#[derive(Clone, Default)]
pub struct Credentials {
    keys: Arc<HashMap<String, String>>,
}

impl Credentials {
    pub fn new(pairs: impl IntoIterator<Item = (String, String)>) -> Self {
        Credentials { keys: Arc::new(pairs.into_iter().collect()) }
    }

    pub fn secret(&self, access_key: &str) -> Option<&str> {
        self.keys.get(access_key).map(String::as_str)
    }
}

#[derive(Debug, PartialEq, Eq)]
pub enum AuthError {
    /// No SigV4 Authorization header.
    Missing,
    /// The header is not a SigV4 header we can read.
    Malformed(String),
    /// The access key is not one we know.
    UnknownKey,
    /// The signature does not match.
    Mismatch,
    /// A presigned request past its expiry.
    Expired,
}

/// Who signed a request, and for what scope.
#[derive(Debug, Clone)]
pub struct Signed {
    pub access_key: String,
    /// The region the request was signed for: the endpoint it was sent to.
    pub region: String,
    #[allow(dead_code)] // Requests are dispatched by the scope before they are verified.
    pub service: String,
}

/// The service a request is signed for: the credential scope's fourth part, from the
/// `Authorization` header or a presigned URL's `X-Amz-Credential`.
pub fn scope_service(headers: &HeaderMap, uri: &Uri) -> Option<String> {
    let credential = match headers.get(http::header::AUTHORIZATION) {
        Some(auth) => auth.to_str().ok()?.split(&[' ', ','][..]).find_map(|p| p.trim().strip_prefix("Credential="))?.to_string(),
        None => query_param(uri, "X-Amz-Credential")?,
    };
    credential.split('/').nth(3).map(str::to_string)
}

/// A query-string parameter, decoded.
fn query_param(uri: &Uri, name: &str) -> Option<String> {
    url::form_urlencoded::parse(uri.query()?.as_bytes()).find(|(k, _)| k == name).map(|(_, v)| v.into_owned())
}

/// The parts of a signature, wherever the request carries them.
struct Authorization {
    credential: String,
    signed_headers: String,
    signature: String,
    amz_date: String,
    /// For a presigned request: how long after `amz_date` it is valid, in seconds.
    expires: Option<i64>,
}

impl Authorization {
    fn of(headers: &HeaderMap, uri: &Uri) -> Result<Self, AuthError> {
        let Some(auth) = headers.get(http::header::AUTHORIZATION) else {
            return Self::presigned(uri);
        };
        let auth = auth.to_str().map_err(|_| AuthError::Malformed("the Authorization header is not ASCII".into()))?;
        let rest =
            auth.strip_prefix("AWS4-HMAC-SHA256").ok_or_else(|| AuthError::Malformed("only AWS4-HMAC-SHA256 signatures are supported".into()))?;
        let (mut credential, mut signed_headers, mut signature) = (None, None, None);
        for part in rest.split(',') {
            let part = part.trim();
            if let Some(v) = part.strip_prefix("Credential=") {
                credential = Some(v);
            } else if let Some(v) = part.strip_prefix("SignedHeaders=") {
                signed_headers = Some(v);
            } else if let Some(v) = part.strip_prefix("Signature=") {
                signature = Some(v);
            }
        }
        let (Some(credential), Some(signed_headers), Some(signature)) = (credential, signed_headers, signature) else {
            return Err(AuthError::Malformed("the Authorization header lacks Credential, SignedHeaders or Signature".into()));
        };
        let amz_date = headers
            .get("x-amz-date")
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| AuthError::Malformed("the request has no X-Amz-Date header".into()))?;
        Ok(Authorization {
            credential: credential.to_string(),
            signed_headers: signed_headers.to_string(),
            signature: signature.to_string(),
            amz_date: amz_date.to_string(),
            expires: None,
        })
    }

    /// A presigned request's signature, from its query string.
    fn presigned(uri: &Uri) -> Result<Self, AuthError> {
        let Some(credential) = query_param(uri, "X-Amz-Credential") else {
            return Err(AuthError::Missing);
        };
        if query_param(uri, "X-Amz-Algorithm").as_deref() != Some("AWS4-HMAC-SHA256") {
            return Err(AuthError::Malformed("only AWS4-HMAC-SHA256 signatures are supported".into()));
        }
        let field = |name: &str| query_param(uri, name).ok_or_else(|| AuthError::Malformed(format!("the presigned request has no {name}")));
        let expires = field("X-Amz-Expires")?.parse::<i64>().map_err(|_| AuthError::Malformed("X-Amz-Expires is not a number".into()))?;
        Ok(Authorization {
            credential,
            signed_headers: field("X-Amz-SignedHeaders")?,
            signature: field("X-Amz-Signature")?,
            amz_date: field("X-Amz-Date")?,
            expires: Some(expires),
        })
    }
}

/// The canonical query string of a presigned request leaves out its signature.
fn without_signature(query: &str) -> String {
    query.split('&').filter(|p| !p.starts_with("X-Amz-Signature=")).collect::<Vec<_>>().join("&")
}

pub(crate) fn hmac(key: &[u8], data: &[u8]) -> Vec<u8> {
    let mut mac = HmacSha256::new_from_slice(key).expect("HMAC takes keys of any length");
    mac.update(data);
    mac.finalize().into_bytes().to_vec()
}

pub(crate) fn canonical_query(query: &str) -> String {
    let mut pairs: Vec<(String, String)> = query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            let k = percent_decode_str(&k.replace('+', " ")).decode_utf8_lossy().into_owned();
            let v = percent_decode_str(&v.replace('+', " ")).decode_utf8_lossy().into_owned();
            (utf8_percent_encode(&k, UNRESERVED).to_string(), utf8_percent_encode(&v, UNRESERVED).to_string())
        })
        .collect();
    pairs.sort();
    pairs.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("&")
}

pub(crate) fn header_value(headers: &HeaderMap, name: &str) -> String {
    let values: Vec<String> =
        headers.get_all(name).iter().map(|v| String::from_utf8_lossy(v.as_bytes()).split_whitespace().collect::<Vec<_>>().join(" ")).collect();
    values.join(",")
}

/// Checks a signed request (header or presigned) against the known credentials.
/// The access key and region a SigV4 request claims, unchecked (header or presigned).
pub fn claimed(headers: &HeaderMap, uri: &Uri) -> Option<(String, String)> {
    let credential = Authorization::of(headers, uri).ok()?.credential;
    let scope: Vec<&str> = credential.split('/').collect();
    (scope.len() == 5).then(|| (scope[0].to_string(), scope[2].to_string()))
}

pub fn verify(method: &Method, uri: &Uri, headers: &HeaderMap, body: &[u8], creds: &Credentials) -> Result<Signed, AuthError> {
    let Authorization { credential, signed_headers, signature, amz_date, expires } = Authorization::of(headers, uri)?;
    let scope: Vec<&str> = credential.split('/').collect();
    if scope.len() != 5 || scope[4] != "aws4_request" {
        return Err(AuthError::Malformed(format!("malformed credential scope {credential:?}")));
    }
    let (access_key, date, region, service) = (scope[0], scope[1], scope[2], scope[3]);
    let secret = creds.secret(access_key).ok_or(AuthError::UnknownKey)?;
    if let Some(expires) = expires {
        let signed_at = chrono::NaiveDateTime::parse_from_str(&amz_date, "%Y%m%dT%H%M%SZ")
            .map_err(|_| AuthError::Malformed("X-Amz-Date is not a date".into()))?
            .and_utc();
        if chrono::Utc::now() > signed_at + chrono::Duration::seconds(expires) {
            return Err(AuthError::Expired);
        }
    }
    let signed_headers = signed_headers.as_str();
    let query = uri.query().unwrap_or_default();
    let query = if expires.is_some() { without_signature(query) } else { query.to_string() };
    let canonical_headers: String = signed_headers.split(';').map(|h| format!("{h}:{}\n", header_value(headers, h).trim())).collect();
    let payload_hash = match headers.get("x-amz-content-sha256").and_then(|v| v.to_str().ok()) {
        Some(h) => h.to_string(),
        None => hex::encode(Sha256::digest(body)),
    };
    let path = if uri.path().is_empty() { "/" } else { uri.path() };
    let canonical_request = format!(
        "{}\n{}\n{}\n{}\n{}\n{}",
        method.as_str(),
        utf8_percent_encode(path, UNRESERVED_AND_SLASH),
        canonical_query(&query),
        canonical_headers,
        signed_headers,
        payload_hash
    );
    let scope_text = format!("{date}/{region}/{service}/aws4_request");
    let string_to_sign = format!("AWS4-HMAC-SHA256\n{amz_date}\n{scope_text}\n{}", hex::encode(Sha256::digest(canonical_request.as_bytes())));
    let k_date = hmac(format!("AWS4{secret}").as_bytes(), date.as_bytes());
    let k_region = hmac(&k_date, region.as_bytes());
    let k_service = hmac(&k_region, service.as_bytes());
    let k_signing = hmac(&k_service, b"aws4_request");
    let expected = hex::encode(hmac(&k_signing, string_to_sign.as_bytes()));
    // Compare without an early exit, so timing does not reveal how much matched.
    let matches = expected.len() == signature.len() && expected.bytes().zip(signature.bytes()).fold(0u8, |acc, (a, b)| acc | (a ^ b)) == 0;
    if !matches {
        tracing::debug!(canonical_request, region, service, "signature mismatch");
        return Err(AuthError::Mismatch);
    }
    Ok(Signed { access_key: access_key.to_string(), region: region.to_string(), service: service.to_string() })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The `get-vanilla` case of AWS's SigV4 test suite, with its published signature.
    #[test]
    fn aws_test_suite_get_vanilla() {
        let creds = Credentials::new([("AKIDEXAMPLE".to_string(), "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY".to_string())]);
        let mut headers = HeaderMap::new();
        headers.insert("host", "example.amazonaws.com".parse().unwrap());
        headers.insert("x-amz-date", "20150830T123600Z".parse().unwrap());
        headers.insert(
            "authorization",
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=host;x-amz-date, Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"
                .parse()
                .unwrap(),
        );
        let uri: Uri = "/".parse().unwrap();
        let signed = verify(&Method::GET, &uri, &headers, b"", &creds).unwrap();
        assert_eq!(signed.service, "service");
        assert_eq!(scope_service(&headers, &uri).as_deref(), Some("service"));
        let presigned: Uri = "/?Action=GetCallerIdentity&X-Amz-Credential=AKID%2F20150830%2Fus-east-1%2Fsts%2Faws4_request".parse().unwrap();
        assert_eq!(scope_service(&HeaderMap::new(), &presigned).as_deref(), Some("sts"));
        let other = Credentials::new([("AKIDEXAMPLE".to_string(), "wrong".to_string())]);
        assert_eq!(verify(&Method::GET, &uri, &headers, b"", &other).unwrap_err(), AuthError::Mismatch);
        assert_eq!(verify(&Method::GET, &uri, &headers, b"", &Credentials::default()).unwrap_err(), AuthError::UnknownKey);
    }
}
