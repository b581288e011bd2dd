//! The HTTP edge: one axum router that answers health checks, dispatches Glue, Athena and STS
//! requests by `X-Amz-Target` and SigV4 scope, and hands everything else to the s3s service.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use catalog::Catalog;
use http::{HeaderValue, Method, StatusCode};
use query::{Engine, EngineConfig};
use s3s::auth::{S3Auth, SecretKey};
use s3s::service::{S3Service, S3ServiceBuilder};
use s3s::{S3Result, s3_error};
use storage::Store;
use tower::ServiceExt;
use tracing::Instrument;

use crate::athena::AthenaContext;
use crate::aws_json::JsonError;
use crate::s3::Lake;
use crate::s3::access::Access;
use crate::sigv4::{self, AuthError};
use crate::users::{User, Users};

/// The largest Glue, Athena or STS request body accepted.
const MAX_JSON_BODY: usize = 16 * 1024 * 1024;

/// The most a browser form upload (POST Object) may carry: s3s holds it in memory.
const MAX_POST_OBJECT: u64 = 64 * 1024 * 1024;
/// The largest XML request body (CompleteMultipartUpload with 10,000 parts is about 1 MiB).
const MAX_XML_BODY: u64 = 4 * 1024 * 1024;
/// How far a request's signing time may be from ours, as on S3.
const MAX_CLOCK_SKEW_SECS: u32 = 15 * 60;

/// Validated settings of `minerva serve`.
#[derive(Clone)]
pub struct Settings {
    pub address: SocketAddr,
    pub data_dir: PathBuf,
    pub region: String,
    pub users: Users,
    pub query_memory: usize,
    /// Memory one query may hold.
    pub query_limit: usize,
    pub query_timeout: Duration,
    pub max_queries: usize,
    /// How long a connection may idle while sending request headers or a body.
    pub idle_timeout: Duration,
    /// Buckets to create at start, and a folder to apply on the first start.
    pub init_buckets: Vec<String>,
    pub init_dir: Option<PathBuf>,
}

pub struct App {
    pub store: Store,
    pub catalog: Catalog,
    pub engine: Engine,
    pub users: Users,
    pub region: String,
    pub idle_timeout: Duration,
    started: f64,
    s3: S3Service,
}

struct Auth(Users);

#[async_trait::async_trait]
impl S3Auth for Auth {
    async fn get_secret_key(&self, access_key: &str) -> S3Result<SecretKey> {
        match self.0.credentials().secret(access_key) {
            Some(secret) => Ok(SecretKey::from(secret)),
            None => Err(s3_error!(InvalidAccessKeyId, "The AWS Access Key Id you provided does not exist in our records.")),
        }
    }
}

impl App {
    /// Opens the data directory and everything over it. Fast: no data is scanned beyond the
    /// index, so the server is ready well under a second after start.
    pub async fn open(settings: &Settings) -> anyhow_like::Result<Arc<App>> {
        let kv = storage::open_data_dir(&settings.data_dir)?;
        let root = settings.data_dir.clone();
        let (store, recovery) = Store::open(&root, kv.clone(), &settings.region)?;
        // Logged at every start, so that what a crash left behind is visible and counted.
        tracing::info!(
            objects = recovery.objects,
            versions = recovery.versions,
            staged_removed = recovery.staged_removed,
            orphans_removed = recovery.orphans_removed,
            "recovered the data directory"
        );
        let catalog = Catalog::open(kv.clone())?;
        if catalog.provision_default_database().await? {
            tracing::info!("created the catalog's default database");
        }
        let engine = Engine::new(
            store.clone(),
            catalog.clone(),
            kv,
            EngineConfig {
                memory_limit: settings.query_memory,
                query_memory_limit: settings.query_limit,
                max_concurrent: settings.max_queries,
                timeout: settings.query_timeout,
                // Spill files go with the rest of the data (a container may have no /tmp), in
                // a directory of their own that the engine empties at start-up.
                spill_dir: Some(settings.data_dir.join("spill")),
                ..Default::default()
            },
        )?;
        let app = App {
            store: store.clone(),
            catalog,
            engine,
            users: settings.users.clone(),
            region: settings.region.clone(),
            idle_timeout: settings.idle_timeout,
            started: chrono::Utc::now().timestamp_millis() as f64 / 1000.0,
            s3: {
                let access = Arc::new(Access { store: store.clone(), users: settings.users.clone() });
                let mut builder = S3ServiceBuilder::new(Lake { store: store.clone(), users: settings.users.clone(), access: access.clone() });
                builder.set_auth(Auth(settings.users.clone()));
                builder.set_access(SharedAccess(access));
                let mut config = s3s::config::S3Config::default();
                config.post_object_max_file_size = MAX_POST_OBJECT;
                config.xml_max_body_size = MAX_XML_BODY as usize;
                config.presigned_url_max_skew_time_secs = MAX_CLOCK_SKEW_SECS;
                builder.set_config(Arc::new(s3s::config::StaticConfigProvider::new(Arc::new(config))));
                builder.build()
            },
        };
        // The primary user's Athena results bucket exists from the start, as the console makes it.
        app.results_location(settings.users.primary()).await?;
        Ok(Arc::new(app))
    }
}

/// The access check s3s calls for every S3 request, shared with the operations that check
/// more than one resource (CopyObject reads its source, DeleteObjects checks each key).
struct SharedAccess(Arc<Access>);

#[async_trait::async_trait]
impl s3s::access::S3Access for SharedAccess {
    async fn check(&self, cx: &mut s3s::access::S3AccessContext<'_>) -> S3Result<()> {
        self.0.check(cx).await
    }
}

impl App {
    /// The caller's default Athena result location,
    /// `s3://aws-athena-query-results-<account>-<region>/`, creating the bucket (owned by the
    /// caller) the first time.
    pub async fn results_location(&self, user: &User) -> Result<String, storage::Error> {
        let bucket = format!("aws-athena-query-results-{}-{}", user.account_id, self.region);
        if self.store.head_bucket(&bucket).is_err() {
            match self.store.create_bucket(&bucket, &user.access_key).await {
                Ok(_) | Err(storage::Error::BucketAlreadyOwnedByYou(_) | storage::Error::BucketAlreadyExists(_)) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(format!("s3://{bucket}/"))
    }
}

/// Start-up errors: anything that stops the server from starting, with its message.
pub mod anyhow_like {
    pub type Result<T> = std::result::Result<T, Box<dyn std::error::Error + Send + Sync>>;
}

/// The whole HTTP surface, callable without a socket in tests.
pub fn router(app: Arc<App>) -> Router {
    Router::new().route("/_minerva/health", get(health)).fallback(edge).with_state(app)
}

async fn health() -> impl IntoResponse {
    (StatusCode::OK, [(http::header::CONTENT_TYPE, "application/json")], "{\"status\":\"ok\"}")
}

/// Which protocol a request speaks.
enum Protocol {
    Json { service: &'static str, op: String },
    Sts,
    S3,
}

fn classify(req: &Request) -> Protocol {
    if req.method() != Method::POST || req.uri().path() != "/" {
        return Protocol::S3;
    }
    if let Some(target) = req.headers().get("x-amz-target").and_then(|v| v.to_str().ok()) {
        if let Some(op) = target.strip_prefix("AWSGlue.") {
            return Protocol::Json { service: "glue", op: op.to_string() };
        }
        if let Some(op) = target.strip_prefix("AmazonAthena.") {
            return Protocol::Json { service: "athena", op: op.to_string() };
        }
    }
    let scope = sigv4::scope_service(req.headers());
    let form = req
        .headers()
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|c| c.starts_with("application/x-www-form-urlencoded"));
    if scope.as_deref() == Some("sts") || (form && scope.as_deref() != Some("s3")) {
        return Protocol::Sts;
    }
    Protocol::S3
}

async fn edge(State(app): State<Arc<App>>, req: Request) -> Response {
    let started = Instant::now();
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let request_id = uuid::Uuid::new_v4().simple().to_string().to_uppercase();
    let protocol = classify(&req);
    let request_id_for_sts = request_id.clone();
    let label = match &protocol {
        Protocol::Json { service, op } => format!("{service}.{op}"),
        Protocol::Sts => "sts".to_string(),
        Protocol::S3 => "s3".to_string(),
    };
    let span = tracing::debug_span!("request", %method, %path, op = %label, id = %request_id);
    let handled = async move {
        match protocol {
            Protocol::S3 => s3_request(&app, req).await,
            Protocol::Json { service, op } => json_request(&app, service, &op, req).await,
            Protocol::Sts => sts_request(&app, req, &request_id_for_sts).await,
        }
    };
    let mut response = handled.instrument(span.clone()).await;
    if let Ok(v) = HeaderValue::from_str(&request_id) {
        response.headers_mut().insert("x-amzn-requestid", v.clone());
        response.headers_mut().entry("x-amz-request-id").or_insert(v);
    }
    tracing::debug!(parent: &span, status = response.status().as_u16(), ms = started.elapsed().as_millis() as u64, "answered");
    response
}

/// S3: CORS preflights are answered here (s3s knows no OPTIONS); everything else goes to s3s
/// with a body that fails if the client stalls, and leaves with the bucket's CORS headers.
async fn s3_request(app: &App, req: Request) -> Response {
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    if let Some(preflight) = crate::s3::cors::preflight(&app.store, &method, &path, req.headers()) {
        return preflight;
    }
    if let Some(refusal) = oversized_xml(&req) {
        return refusal;
    }
    let (req, exchange) = match crate::s3::edge::before(req, &app.users) {
        Ok(prepared) => prepared,
        Err(answer) => return *answer,
    };
    let origin = req.headers().get(http::header::ORIGIN).and_then(|v| v.to_str().ok()).map(str::to_string);
    let req = req.map(|body| Body::new(crate::idle::IdleBody::new(body, app.idle_timeout)));
    let mut response = match app.s3.clone().oneshot(req).await {
        Ok(resp) => resp.map(Body::new),
        Err(e) => {
            tracing::error!(error = ?e, "the S3 service failed");
            (StatusCode::INTERNAL_SERVER_ERROR, "internal error").into_response()
        }
    };
    if method == Method::POST && response.status() == StatusCode::BAD_REQUEST {
        response = post_policy_denial(response).await;
    }
    response = crate::s3::error::explain_bare(response).await;
    exchange.finish(&mut response);
    crate::s3::cors::decorate(&app.store, &method, &path, origin.as_deref(), &mut response);
    response
}

/// The sub-resources whose requests carry an XML (or, for `policy`, JSON) document rather than
/// object data.
const DOCUMENT_SUBRESOURCES: [&str; 12] =
    ["delete", "tagging", "cors", "versioning", "acl", "policy", "lifecycle", "uploadId", "website", "notification", "replication", "encryption"];

/// Refuses a document body larger than S3 accepts before reading it. (s3s would read up to its
/// limit and then answer InternalError when the body is streamed.)
fn oversized_xml(req: &Request) -> Option<Response> {
    let length: u64 = req.headers().get(http::header::CONTENT_LENGTH)?.to_str().ok()?.parse().ok()?;
    if length <= MAX_XML_BODY || !matches!(*req.method(), Method::PUT | Method::POST) {
        return None;
    }
    let query = req.uri().query().unwrap_or_default();
    let names: Vec<&str> = query.split('&').map(|p| p.split('=').next().unwrap_or_default()).collect();
    // UploadPart also names `uploadId`, but with a `partNumber`: that body is data.
    if names.contains(&"partNumber") || !names.iter().any(|n| DOCUMENT_SUBRESOURCES.contains(n)) {
        return None;
    }
    let xml = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>MaxMessageLengthExceeded</Code><Message>Your request was too big: {length} bytes, the most this request takes is {MAX_XML_BODY}.</Message></Error>"
    );
    Some((StatusCode::BAD_REQUEST, [(http::header::CONTENT_TYPE, "application/xml")], xml).into_response())
}

/// A form upload whose fields break its policy is `AccessDenied` (403) on S3, "Invalid according
/// to Policy"; s3s answers `InvalidPolicyDocument` (400). Only that answer is rewritten.
async fn post_policy_denial(response: Response) -> Response {
    let (parts, body) = response.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, 64 * 1024).await else {
        return (StatusCode::BAD_REQUEST, "malformed POST request").into_response();
    };
    let text = String::from_utf8_lossy(&bytes);
    if !text.contains("<Code>InvalidPolicyDocument</Code>") || !text.contains("Policy condition") {
        return Response::from_parts(parts, Body::from(bytes));
    }
    let detail = text.split("<Message>").nth(1).and_then(|m| m.split("</Message>").next()).unwrap_or_default();
    let xml = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>AccessDenied</Code><Message>Invalid according to Policy: {detail}</Message></Error>"
    );
    (StatusCode::FORBIDDEN, [(http::header::CONTENT_TYPE, "application/xml")], xml).into_response()
}

async fn json_request(app: &App, service: &str, op: &str, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let bytes = match axum::body::to_bytes(body, MAX_JSON_BODY).await {
        Ok(b) => b,
        Err(e) => return JsonError::new("SerializationException", format!("the request body could not be read: {e}")).into_response(),
    };
    let signed = match sigv4::verify(&parts.method, &parts.uri, &parts.headers, &bytes, app.users.credentials()) {
        Ok(signed) if signed.service != service => {
            return JsonError::new("InvalidSignatureException", format!("Credential should be scoped to correct service: '{service}'."))
                .with_status(StatusCode::FORBIDDEN)
                .into_response();
        }
        Ok(signed) => signed,
        Err(AuthError::Missing) => {
            return JsonError::new("MissingAuthenticationTokenException", "Missing Authentication Token")
                .with_status(StatusCode::FORBIDDEN)
                .into_response();
        }
        Err(AuthError::UnknownKey) => {
            return JsonError::new("UnrecognizedClientException", "The security token included in the request is invalid.")
                .with_status(StatusCode::FORBIDDEN)
                .into_response();
        }
        Err(AuthError::Mismatch) => {
            return JsonError::new(
                "InvalidSignatureException",
                "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method.",
            )
            .with_status(StatusCode::FORBIDDEN)
            .into_response();
        }
        Err(AuthError::Malformed(m)) => return JsonError::new("IncompleteSignatureException", m).with_status(StatusCode::FORBIDDEN).into_response(),
    };
    let Some(caller) = app.users.get(&signed.access_key) else {
        return JsonError::new("UnrecognizedClientException", "The security token included in the request is invalid.")
            .with_status(StatusCode::FORBIDDEN)
            .into_response();
    };
    let body: serde_json::Value = if bytes.is_empty() {
        serde_json::json!({})
    } else {
        match serde_json::from_slice(&bytes) {
            Ok(serde_json::Value::Null) => serde_json::json!({}),
            Ok(v @ serde_json::Value::Object(_)) => v,
            // Every operation's input is a structure.
            Ok(serde_json::Value::Array(_)) => return JsonError::invalid_body("Start of list found where not expected").into_response(),
            Ok(_) => return JsonError::invalid_body("a JSON object was expected").into_response(),
            Err(e) => return JsonError::invalid_body(e).into_response(),
        }
    };
    let result = match service {
        "glue" => crate::glue::handle(&app.catalog, &app.store, op, &body).await,
        _ => {
            // The caller's own results bucket, made on first use, as on AWS each account has one.
            let output_location = match app.results_location(caller).await {
                Ok(l) => l,
                Err(e) => {
                    tracing::error!(error = %e, "could not prepare the Athena results bucket");
                    return JsonError::new("InternalServerException", e.to_string()).with_status(StatusCode::INTERNAL_SERVER_ERROR).into_response();
                }
            };
            let ctx = AthenaContext { engine: &app.engine, catalog: &app.catalog, output_location: &output_location, started: app.started };
            crate::athena::handle(&ctx, op, &body).await
        }
    };
    match result {
        Ok(r) => r,
        Err(e) => e.into_response(),
    }
}

fn sts_error(status: StatusCode, code: &str, message: &str, request_id: &str) -> Response {
    let body = format!(
        "<ErrorResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\"><Error><Type>Sender</Type><Code>{code}</Code><Message>{message}</Message></Error><RequestId>{request_id}</RequestId></ErrorResponse>"
    );
    (status, [(http::header::CONTENT_TYPE, "text/xml")], body).into_response()
}

/// STS over the Query protocol: `GetCallerIdentity` answers with the one local account.
async fn sts_request(app: &App, req: Request, request_id: &str) -> Response {
    let (parts, body) = req.into_parts();
    let bytes = match axum::body::to_bytes(body, MAX_JSON_BODY).await {
        Ok(b) => b,
        Err(_) => return sts_error(StatusCode::BAD_REQUEST, "MalformedInput", "the request body could not be read", request_id),
    };
    let signed = match sigv4::verify(&parts.method, &parts.uri, &parts.headers, &bytes, app.users.credentials()) {
        Ok(s) => s,
        Err(AuthError::UnknownKey) => {
            return sts_error(StatusCode::FORBIDDEN, "InvalidClientTokenId", "The security token included in the request is invalid.", request_id);
        }
        Err(AuthError::Missing) => {
            return sts_error(StatusCode::FORBIDDEN, "MissingAuthenticationToken", "Request is missing Authentication Token", request_id);
        }
        Err(_) => {
            return sts_error(
                StatusCode::FORBIDDEN,
                "SignatureDoesNotMatch",
                "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method.",
                request_id,
            );
        }
    };
    let form: Vec<(String, String)> = url::form_urlencoded::parse(&bytes).into_owned().collect();
    let action = form.iter().find(|(k, _)| k == "Action").map(|(_, v)| v.as_str()).unwrap_or_default();
    if action != "GetCallerIdentity" {
        return sts_error(StatusCode::BAD_REQUEST, "InvalidAction", &format!("Could not find operation {action} for version 2011-06-15"), request_id);
    }
    let Some(user) = app.users.get(&signed.access_key) else {
        return sts_error(StatusCode::FORBIDDEN, "InvalidClientTokenId", "The security token included in the request is invalid.", request_id);
    };
    let body = format!(
        "<GetCallerIdentityResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\"><GetCallerIdentityResult><Arn>{arn}</Arn><UserId>{key}</UserId><Account>{account}</Account></GetCallerIdentityResult><ResponseMetadata><RequestId>{request_id}</RequestId></ResponseMetadata></GetCallerIdentityResponse>",
        arn = user.arn(),
        key = user.access_key,
        account = user.account_id,
    );
    (StatusCode::OK, [(http::header::CONTENT_TYPE, "text/xml")], body).into_response()
}

/// Serves until SIGTERM or Ctrl-C, then stops accepting and lets in-flight requests finish.
pub async fn serve(settings: Settings) -> anyhow_like::Result<()> {
    let opened = Instant::now();
    let app = App::open(&settings).await?;
    // Seeding comes before listening: once the health check answers, the seed is in place.
    crate::init::seed(&app, &settings.data_dir, &settings.init_buckets, settings.init_dir.as_deref()).await?;
    let listener = tokio::net::TcpListener::bind(settings.address).await.map_err(|e| format!("cannot listen on {}: {e}", settings.address))?;
    let address = listener.local_addr()?;
    tracing::info!(
        %address,
        data_dir = %settings.data_dir.display(),
        region = %app.region,
        access_key = %settings.users.primary().access_key,
        users = settings.users.len(),
        ready_ms = opened.elapsed().as_millis() as u64,
        "minerva is serving S3, Glue, Athena and STS at http://{address}"
    );
    let router = router(app.clone());
    let mut builder = hyper_util::server::conn::auto::Builder::new(hyper_util::rt::TokioExecutor::new());
    // A client that does not finish sending its request headers in time loses the connection.
    builder.http1().timer(hyper_util::rt::TokioTimer::new()).header_read_timeout(settings.idle_timeout);
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let shutdown = shutdown_signal();
    tokio::pin!(shutdown);
    loop {
        let (stream, _) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // Out of file descriptors and the like: wait a moment rather than spin.
                    tracing::warn!(error = %e, "accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = &mut shutdown => break,
        };
        // Responses go out as they are written: with Nagle's algorithm, a small response written
        // in two parts waits for the client's delayed acknowledgement (40 ms a request).
        let _ = stream.set_nodelay(true);
        let service = hyper_util::service::TowerToHyperService::new(router.clone());
        let connection = builder.serve_connection_with_upgrades(hyper_util::rt::TokioIo::new(stream), service);
        let connection = graceful.watch(connection.into_owned());
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!(error = %e, "a connection ended with an error");
            }
        });
    }
    drop(listener);
    graceful.shutdown().await;
    drop(app);
    tracing::info!("stopped");
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
    tracing::info!("shutting down: finishing requests in flight");
}
