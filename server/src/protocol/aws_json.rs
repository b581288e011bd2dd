//! AWS JSON 1.0 and 1.1: `POST /` with `X-Amz-Target: <Prefix>.<Operation>` and the input as a
//! JSON object; the output as a JSON object, an error as `__type` and `message` (and the
//! `X-Amzn-ErrorType` header). Glue, older Athena clients and the AWS SDK for Rust's Athena speak
//! 1.1; 1.0 differs only in its content type.

use axum::response::Response;
use http::HeaderMap;

use super::{ApiError, Outcome};

/// Which version a request used; the answer uses the same.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Version {
    V1_0,
    V1_1,
}

impl Version {
    /// The version a request's `Content-Type` names (1.1 when it names neither).
    pub fn of(headers: &HeaderMap) -> Self {
        let content_type = headers.get(http::header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or_default();
        if content_type.starts_with("application/x-amz-json-1.0") { Version::V1_0 } else { Version::V1_1 }
    }

    fn content_type(self) -> &'static str {
        match self {
            Version::V1_0 => "application/x-amz-json-1.0",
            Version::V1_1 => "application/x-amz-json-1.1",
        }
    }
}

/// The operation named by `X-Amz-Target`, which must be of the service's target prefix.
pub fn operation(headers: &HeaderMap, prefix: &str) -> Result<String, ApiError> {
    let target = headers.get("x-amz-target").and_then(|v| v.to_str().ok()).unwrap_or_default();
    match target.split_once('.') {
        Some((p, op)) if p == prefix && !op.is_empty() => Ok(op.to_string()),
        _ if target.is_empty() => Err(ApiError::unknown_operation("The request has no X-Amz-Target header naming an operation")),
        _ => Err(ApiError::unknown_operation(format!("{target} is not an operation of {prefix}"))),
    }
}

/// Writes an outcome as the protocol answers it.
pub fn encode(version: Version, outcome: Outcome) -> Response {
    super::json_answer(outcome, version.content_type())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_name_operations_of_their_own_service() {
        let mut headers = HeaderMap::new();
        headers.insert("x-amz-target", "AWSGlue.GetTable".parse().unwrap());
        assert_eq!(operation(&headers, "AWSGlue").unwrap(), "GetTable");
        assert_eq!(operation(&headers, "AmazonAthena").unwrap_err().code, "UnknownOperationException");
        headers.insert("x-amz-target", "AWSGlue.".parse().unwrap());
        assert!(operation(&headers, "AWSGlue").is_err());
        assert!(operation(&HeaderMap::new(), "AWSGlue").is_err());
    }
}
