//! The wire protocols in front of Glue, Athena and STS, and what they share.
//!
//! AWS moves services between protocols (Athena from AWS JSON 1.1 to REST-JSON, SQS from Query to
//! JSON, CloudWatch to RPC v2 CBOR) and SDKs follow at different times, so one service is spoken
//! in several protocols at once. Each operation therefore has one typed handler that takes and
//! returns a [`Document`] in the service model's member names, and each protocol is an adapter
//! that turns a request into an operation name and its input document, and an output document or
//! an [`ApiError`] into a response:
//!
//! - [`aws_json`]: AWS JSON 1.0 and 1.1 (`X-Amz-Target: <Prefix>.<Operation>`, a JSON body);
//! - [`rest_json`]: REST-JSON (method and path choose the operation; members bound to the path,
//!   the query string and headers; the rest in a JSON body);
//! - [`query`]: the Query protocol (a form of `Action` and members; an XML answer).
//!
//! A new protocol (RPC v2 CBOR, say) is one more adapter: it decodes into a document and encodes
//! one, and no handler changes. Timestamps travel in documents as epoch seconds, as both JSON
//! protocols write them; a wire that types them apart (CBOR's tag 1, the Query protocol's ISO 8601
//! text) needs to know which output members are timestamps, which a document alone does not say
//! (none of STS's outputs here has one).

pub mod aws_json;
pub mod query;
pub mod rest_json;

use std::future::Future;

use axum::response::{IntoResponse, Response};
use http::{HeaderValue, StatusCode};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

/// An operation's input or output: a JSON value in the service model's member names.
pub type Document = Value;

/// An operation's output, serialized once as JSON in the service model's member names: what
/// both JSON protocols send as it is, and what the Query protocol reads back to write as XML.
/// Written straight from the typed output, not through a [`Document`]: a page of query results
/// would otherwise build a map for every value it holds.
#[derive(Debug)]
pub struct Answer(String);

impl Answer {
    pub fn of(output: &impl Serialize) -> Result<Answer, ApiError> {
        serde_json::to_string(output).map(Answer).map_err(|e| ApiError::internal(e.to_string()))
    }

    /// The output as a document.
    pub fn document(&self) -> Result<Document, ApiError> {
        serde_json::from_str(&self.0).map_err(|e| ApiError::internal(e.to_string()))
    }
}

/// The result of one operation, before a protocol writes it.
pub type Outcome = Result<Answer, ApiError>;

/// An error in a service's own vocabulary: the error shape's name (botocore's error code and
/// exception class), an HTTP status, a message, and the shape's other members.
#[derive(Debug, Clone)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: String,
    pub message: String,
    /// Other members of the error shape (Athena's `AthenaErrorCode`, …).
    pub fields: Vec<(String, Value)>,
}

impl ApiError {
    /// A client error (400).
    pub fn new(code: &str, message: impl Into<String>) -> Self {
        ApiError { status: StatusCode::BAD_REQUEST, code: code.to_string(), message: message.into(), fields: Vec::new() }
    }

    pub fn with_status(mut self, status: StatusCode) -> Self {
        self.status = status;
        self
    }

    /// Adds a member of the error shape.
    pub fn with(mut self, name: &str, value: impl Into<String>) -> Self {
        self.fields.push((name.to_string(), Value::String(value.into())));
        self
    }

    /// A body that cannot be read as the operation's input: not JSON, not a structure, or a
    /// member of the wrong type. AWS's services answer these with `SerializationException`.
    pub fn serialization(detail: impl std::fmt::Display) -> Self {
        ApiError::new("SerializationException", format!("the request body could not be read: {detail}"))
    }

    /// A fault of the server's, not the request's.
    pub fn internal(message: impl Into<String>) -> Self {
        ApiError::new("InternalServerException", message).with_status(StatusCode::INTERNAL_SERVER_ERROR)
    }

    /// A request no operation answers (an unknown target, path or action).
    pub fn unknown_operation(message: impl Into<String>) -> Self {
        ApiError::new("UnknownOperationException", message).with_status(StatusCode::NOT_FOUND)
    }

    /// Notes the error for the request's line in the log (see `crate::log`).
    pub fn log(&self) {
        crate::log::error(&self.code, &self.message);
    }
}

/// An operation's typed input: deserialized from the document after the members the service
/// model marks as required have been checked, so that a missing one is answered in the
/// service's own words (see [`ServiceErrors::missing_member`]), not serde's.
pub trait Input: DeserializeOwned {
    /// The model's required members, by their wire names; `A.B` is member `B` of the required
    /// structure `A`.
    const REQUIRED: &'static [&'static str] = &[];
}

/// How a service words the errors every protocol needs: missing members and failed sign-ins.
pub trait ServiceErrors {
    /// A required member that is absent (or null).
    fn missing_member(&self, member: &str) -> ApiError;
}

/// Reads a typed input from a document. Unknown members are ignored, as AWS's services do.
pub fn input<I: Input>(document: Document, errors: &impl ServiceErrors) -> Result<I, ApiError> {
    for path in I::REQUIRED {
        let mut at = &document;
        for member in path.split('.') {
            match at.get(member) {
                Some(v) if !v.is_null() => at = v,
                _ => return Err(errors.missing_member(path)),
            }
        }
    }
    serde_json::from_value(document).map_err(ApiError::serialization)
}

/// Runs one typed handler over a document: input, handler, output document.
pub async fn run<I, O, F, Fut>(document: Document, errors: &impl ServiceErrors, handler: F) -> Outcome
where
    I: Input,
    O: Serialize,
    F: FnOnce(I) -> Fut,
    Fut: Future<Output = Result<O, ApiError>>,
{
    Answer::of(&handler(input(document, errors)?).await?)
}

/// The input document of a body: an object; empty and `null` are an empty input.
pub fn json_body(body: &[u8]) -> Result<Document, ApiError> {
    if body.is_empty() {
        return Ok(json!({}));
    }
    match serde_json::from_slice(body) {
        Ok(Value::Null) => Ok(json!({})),
        Ok(v @ Value::Object(_)) => Ok(v),
        // Every operation's input is a structure.
        Ok(Value::Array(_)) => Err(ApiError::serialization("Start of list found where not expected")),
        Ok(_) => Err(ApiError::serialization("a JSON object was expected")),
        Err(e) => Err(ApiError::serialization(e)),
    }
}

/// The answer of both JSON protocols: the output document, or an error as its `__type`, its
/// `message` (and `Message`, the member the error shapes name) and its other members, with the
/// type in `X-Amzn-ErrorType` too (where REST-JSON clients look first).
fn json_answer(outcome: Outcome, content_type: &'static str) -> Response {
    let (status, body, error_type) = match outcome {
        Ok(Answer(body)) => (StatusCode::OK, body, None),
        Err(e) => {
            e.log();
            let mut body = json!({ "__type": e.code, "message": e.message, "Message": e.message });
            for (k, v) in e.fields {
                body[k] = v;
            }
            (e.status, body.to_string(), Some(e.code))
        }
    };
    let mut response = (status, body).into_response();
    let headers = response.headers_mut();
    headers.insert(http::header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    if let Some(v) = error_type.and_then(|t| HeaderValue::from_str(&t).ok()) {
        headers.insert("x-amzn-errortype", v);
    }
    response
}

/// An output with no members.
#[derive(Debug, Default, Serialize)]
pub struct Empty {}

/// Pages of a list whose `NextToken` is an offset into it (a list that is read whole).
pub struct Paging {
    pub start: usize,
    pub max: usize,
}

impl Paging {
    /// Reads `NextToken` and `MaxResults` (default `default_max`, at most `limit`).
    pub fn new(next_token: Option<&str>, max_results: Option<i64>, default_max: usize, limit: usize, errors_as: &str) -> Result<Self, ApiError> {
        let start = match next_token {
            Some(t) => t.parse::<usize>().map_err(|_| ApiError::new(errors_as, "The NextToken is invalid"))?,
            None => 0,
        };
        let max = max_results.map(|m| m.max(1) as usize).unwrap_or(default_max).clamp(1, limit);
        Ok(Paging { start, max })
    }

    /// The page of `all`, and the token of the next page if there is one.
    pub fn page<'a, T>(&self, all: &'a [T]) -> (&'a [T], Option<String>) {
        let start = self.start.min(all.len());
        let end = (start + self.max).min(all.len());
        let next = (end < all.len()).then(|| end.to_string());
        (&all[start..end], next)
    }
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;
    use serde_json::json;

    use super::*;

    #[derive(Deserialize)]
    #[serde(rename_all = "PascalCase")]
    struct Sample {
        name: String,
        #[serde(default)]
        count: Option<i64>,
    }

    impl Input for Sample {
        const REQUIRED: &'static [&'static str] = &["Name", "Inner.Id"];
    }

    struct Words;
    impl ServiceErrors for Words {
        fn missing_member(&self, member: &str) -> ApiError {
            ApiError::new("Missing", member)
        }
    }

    #[test]
    fn inputs_check_required_members_then_types() {
        // (input, Ok((name, count)) or Err((code, a word of the message)))
        type Case = (Value, Result<(&'static str, Option<i64>), (&'static str, &'static str)>);
        let cases: [Case; 7] = [
            (json!({"Name": "a", "Inner": {"Id": 1}}), Ok(("a", None))),
            (json!({"Name": "a", "Inner": {"Id": 1}, "Count": 3, "Unknown": [1]}), Ok(("a", Some(3)))),
            (json!({"Inner": {"Id": 1}}), Err(("Missing", "Name"))),
            (json!({"Name": null}), Err(("Missing", "Name"))),
            (json!({"Name": "a"}), Err(("Missing", "Inner.Id"))),
            (json!({"Name": "a", "Inner": {}}), Err(("Missing", "Inner.Id"))),
            (json!({"Name": "a", "Inner": {"Id": 1}, "Count": "three"}), Err(("SerializationException", ""))),
        ];
        for (document, expected) in cases {
            let got = input::<Sample>(document.clone(), &Words);
            match (got, expected) {
                (Ok(s), Ok((name, count))) => assert_eq!((s.name.as_str(), s.count), (name, count), "{document}"),
                (Err(e), Err((code, message))) => {
                    assert_eq!(e.code, code, "{document}");
                    assert!(e.message.contains(message), "{document}: {}", e.message);
                }
                (got, _) => panic!("{document}: unexpected {:?}", got.map(|s| s.name)),
            }
        }
    }

    #[test]
    fn bodies_are_structures() {
        assert_eq!(json_body(b"").unwrap(), json!({}));
        assert_eq!(json_body(b"null").unwrap(), json!({}));
        assert_eq!(json_body(br#"{"A":1}"#).unwrap(), json!({"A": 1}));
        for bad in [&b"[1]"[..], b"\"s\"", b"3", b"{", b"not json"] {
            assert_eq!(json_body(bad).unwrap_err().code, "SerializationException", "{:?}", String::from_utf8_lossy(bad));
        }
    }

    #[test]
    fn paging_walks_a_list_to_its_end() {
        let all: Vec<u32> = (0..5).collect();
        let mut token = None;
        let mut seen = Vec::new();
        loop {
            let paging = Paging::new(token.as_deref(), Some(2), 50, 50, "Invalid").unwrap();
            let (page, next) = paging.page(&all);
            seen.extend_from_slice(page);
            match next {
                Some(t) => token = Some(t),
                None => break,
            }
        }
        assert_eq!(seen, all);
        assert_eq!(Paging::new(Some("x"), None, 50, 50, "Invalid").err().map(|e| e.code), Some("Invalid".to_string()));
        // A token past the end is an empty last page, not a panic.
        assert_eq!(Paging::new(Some("99"), None, 50, 50, "Invalid").unwrap().page(&all), (&[][..], None));
    }
}
