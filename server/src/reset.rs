//! `POST /_minerva/reset` (only with `--allow-reset`): empties a running server, as `minerva
//! reset` empties a stopped one's data directory, for test suites that start each test on a new
//! lake. Every query is stopped and forgotten, every bucket emptied (every version, delete
//! marker and unfinished upload) and deleted, every account's catalog emptied, every workgroup, named query, prepared statement and
//! data catalog forgotten; then the server
//! is as a new one: `default` databases, the primary user's results bucket. Meant for between
//! tests: requests sent meanwhile may see part of the old state or part of the new.

use std::sync::Arc;

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use http::StatusCode;
use storage::{Store, VersionQuery};

use crate::app::App;

pub async fn reset(State(app): State<Arc<App>>) -> Response {
    if !app.allow_reset {
        let body = r#"{"message":"resetting is off: start the server with --allow-reset (or stop it and run `minerva reset`)"}"#;
        return (StatusCode::FORBIDDEN, [(http::header::CONTENT_TYPE, "application/json")], body).into_response();
    }
    match empty(&app).await {
        Ok((buckets, queries)) => {
            tracing::warn!(buckets, queries, "the server was reset: every bucket, table and query is gone");
            let body = format!(r#"{{"buckets":{buckets},"queries":{queries}}}"#);
            (StatusCode::OK, [(http::header::CONTENT_TYPE, "application/json")], body).into_response()
        }
        Err(e) => {
            tracing::error!(error = %e, "resetting the server failed");
            let body = serde_json::json!({ "message": format!("the reset failed: {e}") }).to_string();
            (StatusCode::CONFLICT, [(http::header::CONTENT_TYPE, "application/json")], body).into_response()
        }
    }
}

/// Empties everything; returns how many buckets and query records went.
async fn empty(app: &App) -> Result<(usize, usize), Box<dyn std::error::Error + Send + Sync>> {
    let queries = app.engine.forget_all().await?;
    app.engine.registry().clear().await?;
    for user in app.users.all() {
        app.catalogs.account(&user.account_id)?.clear().await?;
    }
    let buckets = app.store.list_buckets()?;
    for bucket in &buckets {
        empty_bucket(&app.store, &bucket.name).await?;
        app.store.delete_bucket(&bucket.name).await?;
    }
    app.results_location(app.users.primary(), &app.region).await?;
    Ok((buckets.len(), queries))
}

/// Deletes every version, delete marker and unfinished upload of a bucket.
async fn empty_bucket(store: &Store, bucket: &str) -> Result<(), storage::Error> {
    loop {
        let page = store.list_object_versions(bucket, &VersionQuery { max_keys: 1000, ..Default::default() })?;
        for v in &page.versions {
            store.delete_object(bucket, &v.key, Some(v.record.version_name()), None).await?;
        }
        if !page.is_truncated || page.versions.is_empty() {
            break;
        }
    }
    loop {
        let page = store.list_multipart_uploads(bucket, "", None, None, None, 1000)?;
        for u in &page.uploads {
            store.abort_multipart_upload(bucket, &u.key, &u.upload_id).await?;
        }
        if !page.is_truncated || page.uploads.is_empty() {
            break;
        }
    }
    Ok(())
}
