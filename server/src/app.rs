//! The HTTP edge: one axum router that answers health checks, dispatches Glue, Athena and STS
//! requests by `X-Amz-Target` and SigV4 scope, and hands everything else to the s3s service.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

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
use crate::s3::{ACCOUNT_ID, Lake};
use crate::sigv4::{self, AuthError, Credentials};

/// The largest Glue, Athena or STS request body accepted.
const MAX_JSON_BODY: usize = 16 * 1024 * 1024;

/// Validated settings of `minerva serve`.
#[derive(Debug, Clone)]
pub struct Settings {
    pub address: SocketAddr,
    pub data_dir: PathBuf,
    pub region: String,
    pub access_key: String,
    pub secret_key: String,
    pub query_memory: usize,
    pub max_queries: usize,
}

pub struct App {
    pub store: Store,
    pub catalog: Catalog,
    pub engine: Engine,
    pub credentials: Credentials,
    pub region: String,
    /// Athena's default result location: `s3://aws-athena-query-results-<account>-<region>/`.
    pub results_location: String,
    started: f64,
    s3: S3Service,
}

struct Auth(Credentials);

#[async_trait::async_trait]
impl S3Auth for Auth {
    async fn get_secret_key(&self, access_key: &str) -> S3Result<SecretKey> {
        match self.0.secret(access_key) {
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
        if recovery.staged_removed + recovery.orphans_removed > 0 {
            tracing::info!(
                staged = recovery.staged_removed,
                orphans = recovery.orphans_removed,
                "removed the leftovers of interrupted writes"
            );
        }
        let catalog = Catalog::open(kv.clone())?;
        let engine = Engine::new(
            store.clone(),
            catalog.clone(),
            kv,
            EngineConfig { memory_limit: settings.query_memory, max_concurrent: settings.max_queries, ..Default::default() },
        )?;
        let results_bucket = format!("aws-athena-query-results-{ACCOUNT_ID}-{}", settings.region);
        if store.head_bucket(&results_bucket).is_err() {
            store.create_bucket(&results_bucket).await?;
        }
        let credentials = Credentials::new([(settings.access_key.clone(), settings.secret_key.clone())]);
        let mut builder = S3ServiceBuilder::new(Lake { store: store.clone() });
        builder.set_auth(Auth(credentials.clone()));
        let s3 = builder.build();
        Ok(Arc::new(App {
            store,
            catalog,
            engine,
            credentials,
            region: settings.region.clone(),
            results_location: format!("s3://{results_bucket}/"),
            started: chrono::Utc::now().timestamp_millis() as f64 / 1000.0,
            s3,
        }))
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
    let form = req.headers().get(http::header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).is_some_and(|c| c.starts_with("application/x-www-form-urlencoded"));
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
        Protocol::S3 => {
            let svc = app.s3.clone();
            match svc.oneshot(req).await {
                Ok(resp) => resp.map(Body::new),
                Err(e) => {
                    tracing::error!(error = ?e, "the S3 service failed");
                    (StatusCode::INTERNAL_SERVER_ERROR, "internal error").into_response()
                }
            }
        }
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

async fn json_request(app: &App, service: &str, op: &str, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let bytes = match axum::body::to_bytes(body, MAX_JSON_BODY).await {
        Ok(b) => b,
        Err(e) => return JsonError::new("SerializationException", format!("the request body could not be read: {e}")).into_response(),
    };
    match sigv4::verify(&parts.method, &parts.uri, &parts.headers, &bytes, &app.credentials) {
        Ok(signed) if signed.service != service => {
            return JsonError::new("InvalidSignatureException", format!("Credential should be scoped to correct service: '{service}'."))
                .with_status(StatusCode::FORBIDDEN)
                .into_response();
        }
        Ok(_) => {}
        Err(AuthError::Missing) => {
            return JsonError::new("MissingAuthenticationTokenException", "Missing Authentication Token").with_status(StatusCode::FORBIDDEN).into_response();
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
    }
    let body: serde_json::Value = if bytes.is_empty() {
        serde_json::json!({})
    } else {
        match serde_json::from_slice(&bytes) {
            Ok(v) => v,
            Err(e) => return JsonError::invalid_body(e).into_response(),
        }
    };
    let result = match service {
        "glue" => crate::glue::handle(&app.catalog, op, &body).await,
        _ => {
            let ctx = AthenaContext { engine: &app.engine, catalog: &app.catalog, output_location: &app.results_location, started: app.started };
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
    let signed = match sigv4::verify(&parts.method, &parts.uri, &parts.headers, &bytes, &app.credentials) {
        Ok(s) => s,
        Err(AuthError::UnknownKey) => {
            return sts_error(StatusCode::FORBIDDEN, "InvalidClientTokenId", "The security token included in the request is invalid.", request_id);
        }
        Err(AuthError::Missing) => return sts_error(StatusCode::FORBIDDEN, "MissingAuthenticationToken", "Request is missing Authentication Token", request_id),
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
    let body = format!(
        "<GetCallerIdentityResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\"><GetCallerIdentityResult><Arn>arn:aws:iam::{ACCOUNT_ID}:user/{user}</Arn><UserId>{user}</UserId><Account>{ACCOUNT_ID}</Account></GetCallerIdentityResult><ResponseMetadata><RequestId>{request_id}</RequestId></ResponseMetadata></GetCallerIdentityResponse>",
        user = signed.access_key
    );
    (StatusCode::OK, [(http::header::CONTENT_TYPE, "text/xml")], body).into_response()
}

/// Serves until SIGTERM or Ctrl-C, then stops accepting and lets in-flight requests finish.
pub async fn serve(settings: Settings) -> anyhow_like::Result<()> {
    let opened = Instant::now();
    let app = App::open(&settings).await?;
    let listener = tokio::net::TcpListener::bind(settings.address).await.map_err(|e| format!("cannot listen on {}: {e}", settings.address))?;
    let address = listener.local_addr()?;
    tracing::info!(
        %address,
        data_dir = %settings.data_dir.display(),
        region = %app.region,
        access_key = %settings.access_key,
        results = %app.results_location,
        ready_ms = opened.elapsed().as_millis() as u64,
        "minerva is serving S3, Glue, Athena and STS at http://{address}"
    );
    let store = app.store.clone();
    axum::serve(listener, router(app)).with_graceful_shutdown(shutdown_signal()).await?;
    drop(store);
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
