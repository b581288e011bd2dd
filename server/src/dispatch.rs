//! Which service a request is for and which protocol it speaks, and the path of a Glue, Athena
//! or STS request through its protocol adapter to its handler and back.
//!
//! The service is whom the request is signed for: the SigV4 credential scope (`glue`,
//! `athena`, `sts`, `s3`), from the `Authorization` header or a presigned URL. Only an unsigned
//! request is placed by the protocol's own markers (`X-Amz-Target`, a form body), and otherwise
//! it is S3's. A path never decides the service: a bucket may be called `workgroups`.

use axum::body::Body;
use axum::extract::Request;
use axum::response::Response;
use http::{HeaderMap, Method, StatusCode};

use crate::app::App;
use crate::athena::{self, Athena};
use crate::glue;
use crate::protocol::aws_json::{self, Version};
use crate::protocol::{ApiError, Document, Outcome, query, rest_json};
use crate::sigv4::{self, AuthError};
use crate::sts;
use crate::users::{UNKNOWN_KEY_HINT, User};

/// The largest Glue, Athena or STS request body accepted.
const MAX_BODY: usize = 16 * 1024 * 1024;

/// The services Minerva answers besides S3.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Api {
    Glue,
    Athena,
    Sts,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Service {
    S3,
    Api(Api),
}

/// The service a request is for.
pub fn service(method: &Method, path: &str, headers: &HeaderMap, uri: &http::Uri) -> Service {
    match sigv4::scope_service(headers, uri).as_deref() {
        Some("glue") => return Service::Api(Api::Glue),
        Some("athena") => return Service::Api(Api::Athena),
        Some("sts") => return Service::Api(Api::Sts),
        // S3's own, or a service Minerva does not offer: s3s answers those.
        Some(_) => return Service::S3,
        None => {}
    }
    // Unsigned: an RPC request to `/` that names its service is answered by that service, so that
    // the missing signature is reported in its own protocol.
    if method != Method::POST || path != "/" {
        return Service::S3;
    }
    if let Some(target) = headers.get("x-amz-target").and_then(|v| v.to_str().ok()) {
        let prefix = target.split('.').next().unwrap_or_default();
        for api in [Api::Glue, Api::Athena, Api::Sts] {
            if prefix == api.target_prefix() {
                return Service::Api(api);
            }
        }
    }
    let form =
        headers.get(http::header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).is_some_and(|c| c.starts_with("application/x-www-form-urlencoded"));
    if form { Service::Api(Api::Sts) } else { Service::S3 }
}

/// The wire protocol of one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wire {
    AwsJson(Version),
    RestJson,
    Query,
}

impl Api {
    pub fn name(self) -> &'static str {
        match self {
            Api::Glue => "glue",
            Api::Athena => "athena",
            Api::Sts => "sts",
        }
    }

    /// The `X-Amz-Target` prefix of the service's operations in AWS JSON.
    fn target_prefix(self) -> &'static str {
        match self {
            Api::Glue => glue::TARGET_PREFIX,
            Api::Athena => athena::TARGET_PREFIX,
            Api::Sts => sts::TARGET_PREFIX,
        }
    }

    /// The protocol a request to this service speaks, by its markers.
    pub fn wire(self, method: &Method, headers: &HeaderMap, uri: &http::Uri) -> Wire {
        if headers.contains_key("x-amz-target") {
            return Wire::AwsJson(Version::of(headers));
        }
        match self {
            Api::Athena => Wire::RestJson,
            Api::Sts if method == Method::POST || uri.query().is_some_and(|q| q.contains("Action=")) => Wire::Query,
            // Answered in AWS JSON: "no operation named".
            Api::Glue | Api::Sts => Wire::AwsJson(Version::V1_1),
        }
    }

    /// A failed sign-in, in the service's words.
    fn auth_error(self, e: AuthError) -> ApiError {
        let (code, message) = match (self, e) {
            (Api::Sts, AuthError::UnknownKey) => {
                ("InvalidClientTokenId", format!("The security token included in the request is invalid.{UNKNOWN_KEY_HINT}"))
            }
            (Api::Sts, AuthError::Missing) => ("MissingAuthenticationToken", "Request is missing Authentication Token".to_string()),
            (Api::Sts, AuthError::Expired) => {
                ("SignatureDoesNotMatch", "Signature expired: the presigned request is past its X-Amz-Expires.".to_string())
            }
            (Api::Sts, AuthError::Mismatch | AuthError::Malformed(_)) => ("SignatureDoesNotMatch", SIGNATURE_MISMATCH.to_string()),
            (_, AuthError::Missing) => ("MissingAuthenticationTokenException", "Missing Authentication Token".to_string()),
            (_, AuthError::UnknownKey) => {
                ("UnrecognizedClientException", format!("The security token included in the request is invalid.{UNKNOWN_KEY_HINT}"))
            }
            (_, AuthError::Mismatch) => ("InvalidSignatureException", SIGNATURE_MISMATCH.to_string()),
            (_, AuthError::Expired) => {
                ("InvalidSignatureException", "Signature expired: the presigned request is past its X-Amz-Expires.".to_string())
            }
            (_, AuthError::Malformed(m)) => ("IncompleteSignatureException", m),
        };
        ApiError::new(code, message).with_status(StatusCode::FORBIDDEN)
    }
}

const SIGNATURE_MISMATCH: &str =
    "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method.";

impl Wire {
    /// The operation and its input document.
    fn decode(self, api: Api, method: &Method, uri: &http::Uri, headers: &HeaderMap, body: &[u8]) -> Result<(String, Document), ApiError> {
        match self {
            Wire::AwsJson(_) => Ok((aws_json::operation(headers, api.target_prefix())?, crate::protocol::json_body(body)?)),
            Wire::RestJson => {
                let (op, document) = rest_json::decode_request(athena::ROUTES, method, uri, headers, body)?;
                Ok((op.to_string(), document))
            }
            Wire::Query => query::decode_request(uri, body),
        }
    }

    fn encode(self, operation: &str, request_id: &str, outcome: Outcome) -> Response {
        match self {
            Wire::AwsJson(version) => aws_json::encode(version, outcome),
            Wire::RestJson => rest_json::encode(outcome),
            Wire::Query => query::encode(sts::NAMESPACE, operation, request_id, outcome),
        }
    }
}

/// A Glue, Athena or STS request: read, signature checked, decoded by its protocol, handled,
/// and answered in the same protocol.
pub async fn api_request(app: &App, api: Api, req: Request, request_id: &str) -> Response {
    let (parts, body) = req.into_parts();
    let wire = api.wire(&parts.method, &parts.headers, &parts.uri);
    let body = match axum::body::to_bytes(Body::new(body), MAX_BODY).await {
        Ok(b) => b,
        Err(e) => return wire.encode("", request_id, Err(ApiError::serialization(e))),
    };
    let (caller, region) = match sigv4::verify(&parts.method, &parts.uri, &parts.headers, &body, app.users.credentials()) {
        Ok(signed) => (app.users.get(&signed.access_key), signed.region),
        Err(AuthError::UnknownKey) => match sigv4::claimed(&parts.headers, &parts.uri) {
            // `--any-credentials`: a key no user has stands for the primary user.
            Some((key, region)) if app.users.stands_in(&key) => (Some(app.users.primary()), region),
            _ => return wire.encode("", request_id, Err(api.auth_error(AuthError::UnknownKey))),
        },
        Err(e) => return wire.encode("", request_id, Err(api.auth_error(e))),
    };
    let Some(caller) = caller else {
        return wire.encode("", request_id, Err(api.auth_error(AuthError::UnknownKey)));
    };
    let (operation, input) = match wire.decode(api, &parts.method, &parts.uri, &parts.headers, &body) {
        Ok(call) => call,
        Err(e) => return wire.encode("", request_id, Err(e)),
    };
    tracing::Span::current().record("op", format!("{}.{operation}", api.name()));
    crate::log::operation(operation.to_string());
    if let Some(resource) = resource_of(&input) {
        crate::log::resource(resource);
    }
    let outcome = call(app, api, caller, &region, &operation, input).await;
    wire.encode(&operation, request_id, outcome)
}

/// What a request is about, for its log line: the members Glue's and Athena's operations name
/// their resources by (`DatabaseName` and `TableName` together as `db.table`).
fn resource_of(input: &Document) -> Option<String> {
    let text = |k: &str| input.get(k).and_then(|v| v.as_str()).filter(|s| !s.is_empty());
    if let (Some(db), Some(table)) = (text("DatabaseName"), text("TableName")) {
        return Some(format!("{db}.{table}"));
    }
    ["QueryExecutionId", "DatabaseName", "Name", "CrawlerName", "WorkGroup", "CatalogId"].into_iter().find_map(text).map(str::to_string)
}

/// Runs one operation of a service for the caller, in the region the request was signed for
/// (every region is served, as one endpoint each would be).
async fn call(app: &App, api: Api, caller: &User, region: &str, operation: &str, input: Document) -> Outcome {
    match api {
        Api::Glue => {
            let caller = glue::Caller {
                catalogs: &app.catalogs,
                store: &app.store,
                users: &app.users,
                user: caller,
                region: &app.region,
                acting_for: app.access.acting_for(caller),
            };
            glue::call(&caller, operation, input).await
        }
        Api::Athena => {
            // The caller's own results bucket, made on first use, as on AWS each account has one.
            let output_location = app
                .results_location(caller, region)
                .await
                .map_err(|e| ApiError::internal(format!("could not prepare the Athena results bucket: {e}")))?;
            let catalog = app.catalogs.account(&caller.account_id).map_err(glue::glue_err)?;
            let athena = Athena {
                engine: &app.engine,
                account: &caller.account_id,
                acting_for: app.access.acting_for(caller),
                catalog,
                output_location: &output_location,
                store: &app.store,
                users: &app.users,
            };
            athena::call(&athena, operation, input).await
        }
        Api::Sts => sts::call(caller, operation, input).await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        pairs.iter().map(|(k, v)| (http::HeaderName::from_static(k), v.parse().unwrap())).collect()
    }

    fn signed_for(service: &str) -> String {
        format!("AWS4-HMAC-SHA256 Credential=AKID/20261206/us-east-1/{service}/aws4_request, SignedHeaders=host, Signature=00")
    }

    #[test]
    fn the_signature_scope_decides_the_service() {
        let athena = signed_for("athena");
        let glue = signed_for("glue");
        let s3 = signed_for("s3");
        let dynamodb = signed_for("dynamodb");
        // (method, path, headers, the service it is for)
        type Case<'a> = (Method, &'static str, Vec<(&'static str, &'a str)>, Service);
        let cases: Vec<Case> = vec![
            // Today's Athena clients: REST paths, signed for athena.
            (Method::GET, "/workgroups/primary", vec![("authorization", &athena)], Service::Api(Api::Athena)),
            (Method::POST, "/query-executions", vec![("authorization", &athena)], Service::Api(Api::Athena)),
            // A bucket named after Athena's paths is S3's when signed for S3, or unsigned.
            (Method::GET, "/workgroups/primary", vec![("authorization", &s3)], Service::S3),
            (Method::PUT, "/query-executions", vec![("authorization", &s3)], Service::S3),
            (Method::GET, "/query-executions/key", vec![], Service::S3),
            // Older clients: AWS JSON 1.1 to `/`.
            (Method::POST, "/", vec![("authorization", &glue), ("x-amz-target", "AWSGlue.GetTables")], Service::Api(Api::Glue)),
            // The scope wins over the target: a Glue target signed for Athena is Athena's to refuse.
            (Method::POST, "/", vec![("authorization", &athena), ("x-amz-target", "AWSGlue.GetTables")], Service::Api(Api::Athena)),
            // Unsigned requests name their service in their own protocol's markers, or are S3's.
            (Method::POST, "/", vec![("x-amz-target", "AmazonAthena.ListWorkGroups")], Service::Api(Api::Athena)),
            (Method::POST, "/", vec![("content-type", "application/x-www-form-urlencoded")], Service::Api(Api::Sts)),
            (Method::POST, "/bucket", vec![("x-amz-target", "AWSGlue.GetTables")], Service::S3),
            (Method::POST, "/", vec![], Service::S3),
            // A service Minerva does not offer goes to S3, which says so.
            (Method::POST, "/", vec![("authorization", &dynamodb)], Service::S3),
        ];
        for (method, path, pairs, expected) in cases {
            let uri: http::Uri = path.parse().unwrap();
            assert_eq!(service(&method, path, &headers(&pairs), &uri), expected, "{method} {path} {pairs:?}");
        }
        let presigned: http::Uri = "/?Action=GetCallerIdentity&X-Amz-Credential=AKID%2F20261206%2Fus-east-1%2Fsts%2Faws4_request".parse().unwrap();
        assert_eq!(service(&Method::GET, "/", &HeaderMap::new(), &presigned), Service::Api(Api::Sts));
    }

    #[test]
    fn markers_decide_the_protocol() {
        let uri: http::Uri = "/".parse().unwrap();
        let json = headers(&[("x-amz-target", "AmazonAthena.ListWorkGroups"), ("content-type", "application/x-amz-json-1.1")]);
        assert_eq!(Api::Athena.wire(&Method::POST, &json, &uri), Wire::AwsJson(Version::V1_1));
        let json10 =
            headers(&[("x-amz-target", "AWSSecurityTokenServiceV20110615.GetCallerIdentity"), ("content-type", "application/x-amz-json-1.0")]);
        assert_eq!(Api::Sts.wire(&Method::POST, &json10, &uri), Wire::AwsJson(Version::V1_0));
        assert_eq!(Api::Athena.wire(&Method::GET, &HeaderMap::new(), &"/workgroups/primary".parse().unwrap()), Wire::RestJson);
        assert_eq!(Api::Sts.wire(&Method::POST, &headers(&[("content-type", "application/x-www-form-urlencoded")]), &uri), Wire::Query);
        assert_eq!(Api::Sts.wire(&Method::GET, &HeaderMap::new(), &"/?Action=GetCallerIdentity".parse().unwrap()), Wire::Query);
    }
}
