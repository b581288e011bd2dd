//! The AWS JSON 1.1 protocol shared by Glue and Athena: replies, and errors as `__type`.

use axum::response::{IntoResponse, Response};
use http::{HeaderValue, StatusCode};
use serde_json::{Value, json};

pub const CONTENT_TYPE: &str = "application/x-amz-json-1.1";

/// An error in the JSON protocol's shape: an HTTP status, a `__type` and a message.
#[derive(Debug)]
pub struct JsonError {
    pub status: StatusCode,
    pub kind: String,
    pub message: String,
    /// Extra members some errors carry (Athena's `AthenaErrorCode`, …).
    pub extra: Option<(&'static str, String)>,
}

impl JsonError {
    pub fn new(kind: &str, message: impl Into<String>) -> Self {
        JsonError { status: StatusCode::BAD_REQUEST, kind: kind.to_string(), message: message.into(), extra: None }
    }

    pub fn with_status(mut self, status: StatusCode) -> Self {
        self.status = status;
        self
    }

    pub fn with(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.extra = Some((name, value.into()));
        self
    }

    /// A bad request body: a JSON that does not parse or lacks a member.
    pub fn invalid_body(e: impl std::fmt::Display) -> Self {
        JsonError::new("SerializationException", format!("the request body could not be read: {e}"))
    }
}

impl IntoResponse for JsonError {
    fn into_response(self) -> Response {
        if self.status.is_server_error() {
            tracing::error!(kind = %self.kind, message = %self.message, "request failed");
        } else {
            tracing::debug!(kind = %self.kind, message = %self.message, "request refused");
        }
        let mut body = json!({ "__type": self.kind, "Message": self.message, "message": self.message });
        if let Some((k, v)) = self.extra {
            body[k] = Value::String(v);
        }
        let mut response = (self.status, body.to_string()).into_response();
        let headers = response.headers_mut();
        headers.insert(http::header::CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE));
        if let Ok(v) = HeaderValue::from_str(&self.kind) {
            headers.insert("x-amzn-errortype", v);
        }
        response
    }
}

/// A successful reply.
pub fn reply(value: Value) -> Response {
    let mut response = (StatusCode::OK, value.to_string()).into_response();
    response.headers_mut().insert(http::header::CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE));
    response
}

pub type JsonResult = Result<Response, JsonError>;

/// Reads a required string member.
pub fn required<'a>(body: &'a Value, name: &str) -> Result<&'a str, JsonError> {
    body.get(name).and_then(Value::as_str).ok_or_else(|| {
        JsonError::new(
            "InvalidInputException",
            format!("1 validation error detected: Value null at '{name}' failed to satisfy constraint: Member must not be null"),
        )
    })
}

pub fn optional<'a>(body: &'a Value, name: &str) -> Option<&'a str> {
    body.get(name).and_then(Value::as_str)
}

/// Decodes a `NextToken` made by [`next_token`]: an offset into an ordered list.
pub fn page(body: &Value, default_max: usize, limit: usize) -> Result<(usize, usize), JsonError> {
    let start = match optional(body, "NextToken") {
        Some(t) => t.parse::<usize>().map_err(|_| JsonError::new("InvalidInputException", "The NextToken is invalid"))?,
        None => 0,
    };
    let max = body.get("MaxResults").and_then(Value::as_u64).map(|m| m as usize).unwrap_or(default_max).clamp(1, limit);
    Ok((start, max))
}

pub fn next_token(start: usize, max: usize, total: usize) -> Value {
    if start + max < total { Value::String((start + max).to_string()) } else { Value::Null }
}
