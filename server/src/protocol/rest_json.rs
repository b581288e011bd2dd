//! REST-JSON: the method and path choose the operation; members are bound to path labels, the
//! query string and headers as the service model's `location` traits say, and the rest travel
//! as a JSON object in the body. Errors carry their type in `X-Amzn-ErrorType` and a JSON body.
//! Athena has spoken it since botocore 1.44.1x.

use axum::response::Response;
use http::{HeaderMap, Method, Uri};
use percent_encoding::percent_decode_str;
use serde_json::{Map, Value, json};

use super::{ApiError, Document, Outcome};

/// How a member bound outside the body is typed (the query string and headers carry text).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    String,
    Integer,
    Boolean,
    /// A list of strings: a repeated query key, or a comma-separated header.
    StringList,
}

/// One operation's HTTP binding, as the service model's `http` and `location` traits give it.
#[derive(Debug)]
pub struct Route {
    pub method: Method,
    /// The path template: literal segments and `{Member}` labels (`{Member+}` takes the rest).
    pub path: &'static str,
    pub operation: &'static str,
    /// Query-string keys and the members they carry.
    pub query: &'static [(&'static str, &'static str, Kind)],
    /// Headers and the members they carry.
    pub headers: &'static [(&'static str, &'static str, Kind)],
}

impl Route {
    pub const fn new(method: Method, path: &'static str, operation: &'static str) -> Self {
        Route { method, path, operation, query: &[], headers: &[] }
    }

    pub const fn query(mut self, bindings: &'static [(&'static str, &'static str, Kind)]) -> Self {
        self.query = bindings;
        self
    }

    #[allow(dead_code)] // Athena's operations bind no header yet; the protocol has them.
    pub const fn headers(mut self, bindings: &'static [(&'static str, &'static str, Kind)]) -> Self {
        self.headers = bindings;
        self
    }

    /// The path labels' values if the path fits the template.
    fn labels(&self, path: &str) -> Option<Vec<(&'static str, String)>> {
        let mut given = path.strip_prefix('/')?.split('/');
        let mut labels = Vec::new();
        for segment in self.path.trim_start_matches('/').split('/') {
            match segment.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
                Some(name) if name.ends_with('+') => {
                    let rest: Vec<&str> = given.by_ref().collect();
                    let value = decode(&rest.join("/"))?;
                    if value.is_empty() {
                        return None;
                    }
                    labels.push((name.trim_end_matches('+'), value));
                }
                Some(name) => {
                    let value = decode(given.next()?)?;
                    if value.is_empty() {
                        return None;
                    }
                    labels.push((name, value));
                }
                None if given.next()? == segment => {}
                None => return None,
            }
        }
        given.next().is_none().then_some(labels)
    }
}

fn decode(segment: &str) -> Option<String> {
    percent_decode_str(segment).decode_utf8().ok().map(|s| s.into_owned())
}

/// The route a request takes, if any.
pub fn route<'r>(routes: &'r [Route], method: &Method, path: &str) -> Option<(&'r Route, Vec<(&'static str, String)>)> {
    routes.iter().filter(|r| r.method == *method).find_map(|r| r.labels(path).map(|labels| (r, labels)))
}

/// Turns a request into its operation and input document.
pub fn decode_request(routes: &[Route], method: &Method, uri: &Uri, headers: &HeaderMap, body: &[u8]) -> Result<(&'static str, Document), ApiError> {
    let Some((route, labels)) = route(routes, method, uri.path()) else {
        return Err(ApiError::unknown_operation(format!("No operation answers {method} {}", uri.path())));
    };
    let mut document = Map::new();
    if matches!(*method, Method::POST | Method::PUT | Method::PATCH)
        && let Value::Object(members) = super::json_body(body)?
    {
        document = members;
    }
    for (member, value) in labels {
        document.insert(member.to_string(), Value::String(value));
    }
    let pairs: Vec<(String, String)> = url::form_urlencoded::parse(uri.query().unwrap_or_default().as_bytes()).into_owned().collect();
    for (key, member, kind) in route.query {
        let values: Vec<&str> = pairs.iter().filter(|(k, _)| k == key).map(|(_, v)| v.as_str()).collect();
        if !values.is_empty() {
            document.insert(member.to_string(), typed(member, &values, *kind)?);
        }
    }
    for (header, member, kind) in route.headers {
        if let Some(value) = headers.get(*header).and_then(|v| v.to_str().ok()) {
            let values: Vec<&str> = if *kind == Kind::StringList { value.split(',').map(str::trim).collect() } else { vec![value] };
            document.insert(member.to_string(), typed(member, &values, *kind)?);
        }
    }
    Ok((route.operation, Value::Object(document)))
}

fn typed(member: &str, values: &[&str], kind: Kind) -> Result<Value, ApiError> {
    let last = values.last().copied().unwrap_or_default();
    let wrong = || ApiError::serialization(format!("{member}: {last:?} is not a valid {kind:?}"));
    Ok(match kind {
        Kind::String => json!(last),
        Kind::Integer => json!(last.parse::<i64>().map_err(|_| wrong())?),
        Kind::Boolean => json!(last.parse::<bool>().map_err(|_| wrong())?),
        Kind::StringList => json!(values),
    })
}

/// Writes an outcome as the protocol answers it: as AWS JSON does, with its own content type.
pub fn encode(outcome: Outcome) -> Response {
    super::json_answer(outcome, "application/json")
}

#[cfg(test)]
mod tests {
    use super::*;

    static ROUTES: &[Route] = &[
        Route::new(Method::POST, "/things", "CreateThing"),
        Route::new(Method::GET, "/things", "ListThings").query(&[("MaxResults", "MaxResults", Kind::Integer), ("tag", "Tags", Kind::StringList)]),
        Route::new(Method::GET, "/things/{ThingId}", "GetThing"),
        Route::new(Method::POST, "/things/{ThingId}/stop", "StopThing").headers(&[("x-force", "Force", Kind::Boolean)]),
        Route::new(Method::GET, "/files/{Key+}", "GetFile"),
    ];

    fn call(method: Method, uri: &str, headers: &[(&str, &str)], body: &str) -> Result<(&'static str, Document), ApiError> {
        let mut map = HeaderMap::new();
        for (k, v) in headers {
            map.insert(http::HeaderName::from_bytes(k.as_bytes()).unwrap(), v.parse().unwrap());
        }
        decode_request(ROUTES, &method, &uri.parse().unwrap(), &map, body.as_bytes())
    }

    #[test]
    fn requests_become_operations_and_documents() {
        // (method, URI, headers, body, operation, input document)
        type Case = (Method, &'static str, &'static [(&'static str, &'static str)], &'static str, &'static str, Value);
        let cases: Vec<Case> = vec![
            (Method::POST, "/things", &[], r#"{"Name":"a"}"#, "CreateThing", json!({"Name": "a"})),
            (Method::POST, "/things", &[], "", "CreateThing", json!({})),
            (Method::GET, "/things", &[], "", "ListThings", json!({})),
            (Method::GET, "/things?MaxResults=5&tag=a&tag=b%20c", &[], "", "ListThings", json!({"MaxResults": 5, "Tags": ["a", "b c"]})),
            (Method::GET, "/things/id%2F1", &[], "ignored", "GetThing", json!({"ThingId": "id/1"})),
            (Method::POST, "/things/t1/stop", &[("x-force", "true")], "{}", "StopThing", json!({"ThingId": "t1", "Force": true})),
            // A label overrides a body member of the same name.
            (Method::POST, "/things/t1/stop", &[], r#"{"ThingId":"other"}"#, "StopThing", json!({"ThingId": "t1"})),
            (Method::GET, "/files/a/b/c.txt", &[], "", "GetFile", json!({"Key": "a/b/c.txt"})),
        ];
        for (method, uri, headers, body, op, document) in cases {
            let got = call(method.clone(), uri, headers, body).unwrap_or_else(|e| panic!("{method} {uri}: {e:?}"));
            assert_eq!(got, (op, document), "{method} {uri}");
        }
    }

    #[test]
    fn unknown_paths_and_bad_values_are_refused() {
        let cases: Vec<(Method, &str, &str, &str)> = vec![
            (Method::GET, "/nothing", "", "UnknownOperationException"),
            (Method::DELETE, "/things", "", "UnknownOperationException"),
            (Method::GET, "/things/a/b", "", "UnknownOperationException"),
            (Method::GET, "/things/", "", "UnknownOperationException"),
            (Method::GET, "/things?MaxResults=many", "", "SerializationException"),
            (Method::POST, "/things", "not json", "SerializationException"),
            (Method::POST, "/things", "[1]", "SerializationException"),
        ];
        for (method, uri, body, code) in cases {
            let e = call(method.clone(), uri, &[], body).unwrap_err();
            assert_eq!(e.code, code, "{method} {uri}");
        }
    }
}
