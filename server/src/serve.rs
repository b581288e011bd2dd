//! The HTTP edge: one axum router that answers health checks, hands Glue, Athena and STS
//! requests to their protocol adapters (`dispatch`), and everything else to the s3s service;
//! and `serve`, which opens the app, seeds it (`init`) and listens until told to stop.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use http::{HeaderValue, Method, StatusCode};
use tower::ServiceExt;
use tracing::Instrument;

use crate::app::{App, MAX_XML_BODY, Settings, anyhow_like};
use crate::dispatch::{self, Service};

/// The whole HTTP surface, callable without a socket in tests.
pub fn router(app: Arc<App>) -> Router {
    Router::new()
        .route("/_minerva/health", get(health))
        .route("/_minerva/metrics", get(metrics))
        .route("/_minerva/reset", axum::routing::post(crate::reset::reset))
        .fallback(edge)
        .with_state(app)
}

async fn metrics(State(app): State<Arc<App>>) -> impl IntoResponse {
    let text = app.metrics.render(app.engine.query_counts(), app.engine.memory_reserved());
    (StatusCode::OK, [(http::header::CONTENT_TYPE, "text/plain; version=0.0.4")], text)
}

async fn health() -> impl IntoResponse {
    (StatusCode::OK, [(http::header::CONTENT_TYPE, "application/json")], "{\"status\":\"ok\"}")
}

async fn edge(State(app): State<Arc<App>>, req: Request) -> Response {
    let started = Instant::now();
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let request_id = uuid::Uuid::new_v4().simple().to_string().to_uppercase();
    let service = dispatch::service(&method, &path, req.headers(), req.uri());
    let label = match service {
        Service::S3 => "s3",
        Service::Api(api) => api.name(),
    };
    let access_key = crate::log::access_key(req.headers(), req.uri());
    let received = content_length(req.headers());
    // `op` is filled in once the request's protocol has named its operation.
    let span = tracing::debug_span!("request", %method, %path, service = label, op = tracing::field::Empty, id = %request_id);
    let handled = async {
        match service {
            Service::S3 => s3_request(&app, req).await,
            Service::Api(api) => dispatch::api_request(&app, api, req, &request_id).await,
        }
    };
    let (mut response, note) = crate::log::noted(handled.instrument(span)).await;
    if let Ok(v) = HeaderValue::from_str(&request_id) {
        response.headers_mut().insert("x-amzn-requestid", v.clone());
        response.headers_mut().entry("x-amz-request-id").or_insert(v);
    }
    let took = started.elapsed();
    app.metrics.record(crate::metrics::Served {
        service: label,
        operation: note.operation.as_deref().unwrap_or("-"),
        status: response.status().as_u16(),
        took,
        received,
        sent: content_length(response.headers()),
    });
    crate::log::answered(crate::log::Answered {
        service: label,
        method: &method,
        path: &path,
        status: response.status(),
        took,
        request_id: &request_id,
        access_key: access_key.as_deref(),
        note,
    });
    response
}

fn content_length(headers: &http::HeaderMap) -> Option<u64> {
    headers.get(http::header::CONTENT_LENGTH)?.to_str().ok()?.parse().ok()
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
    response = crate::s3::error::finish_error(response).await;
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

/// Serves until SIGTERM or Ctrl-C, then stops accepting and lets in-flight requests finish.
pub async fn serve(settings: Settings) -> anyhow_like::Result<()> {
    let opened = Instant::now();
    tracing::info!(data_dir = %settings.data_dir.display(), version = env!("CARGO_PKG_VERSION"), "minerva is starting on {}", settings.data_dir.display());
    if settings.users.any_credentials() {
        tracing::warn!(
            primary = %settings.users.primary().access_key,
            "--any-credentials: every access key no user has is taken as the primary user's, its signature unchecked; for tests only"
        );
    }
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
    if let Some(retention) = settings.results_retention {
        crate::retention::spawn(app.clone(), retention);
    }
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
