//! The Query protocol (STS): `Action`, `Version` and the members as form fields (in a POST body
//! or the query string; `A.B` names a nested member, `A.member.N` a list's N-th item); the output
//! as XML wrapped in `<ActionResponse><ActionResult>`, an error as `<ErrorResponse>`. Every value
//! written into XML is escaped.

use axum::response::{IntoResponse, Response};
use http::{HeaderValue, StatusCode, Uri};
use serde_json::{Map, Value};

use super::{ApiError, Document, Outcome};

/// A decoded request: the action and its input document.
pub fn decode_request(uri: &Uri, body: &[u8]) -> Result<(String, Document), ApiError> {
    let mut fields: Vec<(String, String)> = url::form_urlencoded::parse(uri.query().unwrap_or_default().as_bytes()).into_owned().collect();
    fields.extend(url::form_urlencoded::parse(body).into_owned());
    let mut action = None;
    let mut document = Value::Object(Map::new());
    for (key, value) in fields {
        match key.as_str() {
            "Action" => action = Some(value),
            // The API version and the signature fields of a presigned request are not members.
            "Version" => {}
            k if k.starts_with("X-Amz-") => {}
            _ => insert(&mut document, &key.split('.').collect::<Vec<_>>(), value)?,
        }
    }
    match action {
        Some(a) if !a.is_empty() => Ok((a, document)),
        _ => Err(ApiError::new("MissingAction", "The request must contain the parameter Action")),
    }
}

fn insert(into: &mut Value, path: &[&str], value: String) -> Result<(), ApiError> {
    let malformed = || ApiError::new("MalformedInput", format!("the parameter {} is malformed", path.join(".")));
    match path {
        [] => Err(malformed()),
        [name] => {
            into.as_object_mut().ok_or_else(malformed)?.insert(name.to_string(), Value::String(value));
            Ok(())
        }
        [name, "member", index, rest @ ..] => {
            let index: usize = index.parse().ok().filter(|i| (1..=1000).contains(i)).ok_or_else(malformed)?;
            let list = into.as_object_mut().ok_or_else(malformed)?.entry(name.to_string()).or_insert_with(|| Value::Array(Vec::new()));
            let items = list.as_array_mut().ok_or_else(malformed)?;
            if items.len() < index {
                items.resize(index, Value::Null);
            }
            let item = &mut items[index - 1];
            if rest.is_empty() {
                *item = Value::String(value);
                Ok(())
            } else {
                if item.is_null() {
                    *item = Value::Object(Map::new());
                }
                insert(item, rest, value)
            }
        }
        [name, rest @ ..] => {
            let nested = into.as_object_mut().ok_or_else(malformed)?.entry(name.to_string()).or_insert_with(|| Value::Object(Map::new()));
            insert(nested, rest, value)
        }
    }
}

/// Text for an XML element or attribute.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
    out
}

fn write_members(out: &mut String, members: &Map<String, Value>) {
    for (name, value) in members {
        if value.is_null() {
            continue;
        }
        let name = escape(name);
        out.push_str(&format!("<{name}>"));
        write_value(out, value);
        out.push_str(&format!("</{name}>"));
    }
}

fn write_value(out: &mut String, value: &Value) {
    match value {
        Value::Null => {}
        Value::String(s) => out.push_str(&escape(s)),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => out.push_str(&n.to_string()),
        Value::Array(items) => {
            for item in items {
                out.push_str("<member>");
                write_value(out, item);
                out.push_str("</member>");
            }
        }
        Value::Object(members) => write_members(out, members),
    }
}

/// Writes an outcome as the protocol answers it, in the service's XML namespace.
pub fn encode(namespace: &str, action: &str, request_id: &str, outcome: Outcome) -> Response {
    let (namespace, request_id) = (escape(namespace), escape(request_id));
    let (status, body) = match outcome.and_then(|answer| answer.document()) {
        Ok(document) => {
            let action = escape(action);
            let mut result = String::new();
            if let Value::Object(members) = &document {
                write_members(&mut result, members);
            }
            (
                StatusCode::OK,
                format!(
                    "<{action}Response xmlns=\"{namespace}\"><{action}Result>{result}</{action}Result><ResponseMetadata><RequestId>{request_id}</RequestId></ResponseMetadata></{action}Response>"
                ),
            )
        }
        Err(e) => {
            e.log();
            let side = if e.status.is_server_error() { "Receiver" } else { "Sender" };
            (
                e.status,
                format!(
                    "<ErrorResponse xmlns=\"{namespace}\"><Error><Type>{side}</Type><Code>{}</Code><Message>{}</Message></Error><RequestId>{request_id}</RequestId></ErrorResponse>",
                    escape(&e.code),
                    escape(&e.message)
                ),
            )
        }
    };
    let mut response = (status, body).into_response();
    response.headers_mut().insert(http::header::CONTENT_TYPE, HeaderValue::from_static("text/xml"));
    response
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::protocol::Answer;

    #[test]
    fn forms_become_documents() {
        let uri: Uri = "/?Version=2011-06-15".parse().unwrap();
        let body = b"Action=AssumeRole&RoleArn=arn%3Aaws&Tags.member.2.Key=b&Tags.member.1.Key=a&Policy.Text=x+y";
        let (action, document) = decode_request(&uri, body).unwrap();
        assert_eq!(action, "AssumeRole");
        assert_eq!(document, json!({"RoleArn": "arn:aws", "Tags": [{"Key": "a"}, {"Key": "b"}], "Policy": {"Text": "x y"}}));
        assert_eq!(decode_request(&uri, b"RoleArn=x").unwrap_err().code, "MissingAction");
        assert_eq!(decode_request(&uri, b"Action=A&Tags.member.0=x").unwrap_err().code, "MalformedInput");
        let presigned: Uri = "/?Action=GetCallerIdentity&Version=2011-06-15&X-Amz-Signature=abc".parse().unwrap();
        assert_eq!(decode_request(&presigned, b"").unwrap(), ("GetCallerIdentity".to_string(), json!({})));
    }

    #[tokio::test]
    async fn every_echoed_value_is_escaped() {
        let outcome = Answer::of(&json!({"Arn": "a<b>&\"c\"", "List": ["x", "<y>"], "Skipped": null}));
        let response = encode("urn:ns", "Get<It>", "id&1", outcome);
        let body = axum::body::to_bytes(response.into_body(), 1 << 20).await.unwrap();
        assert_eq!(
            String::from_utf8(body.to_vec()).unwrap(),
            "<Get&lt;It&gt;Response xmlns=\"urn:ns\"><Get&lt;It&gt;Result><Arn>a&lt;b&gt;&amp;&quot;c&quot;</Arn><List><member>x</member><member>&lt;y&gt;</member></List></Get&lt;It&gt;Result><ResponseMetadata><RequestId>id&amp;1</RequestId></ResponseMetadata></Get&lt;It&gt;Response>"
        );
        let response = encode("urn:ns", "X", "r", Err(ApiError::new("InvalidAction", "Could not find operation <script>")));
        assert_eq!(response.status(), StatusCode::BAD_REQUEST);
        let body = axum::body::to_bytes(response.into_body(), 1 << 20).await.unwrap();
        assert!(String::from_utf8(body.to_vec()).unwrap().contains("<Message>Could not find operation &lt;script&gt;</Message>"));
    }
}
