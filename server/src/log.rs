//! The log: how it is set up (`MINERVA_LOG`, `MINERVA_LOG_FORMAT`), and the one line each request
//! leaves in it.
//!
//! A request is logged once, when it is answered: at INFO if it succeeded, at WARN if the client
//! erred (with the error's code and message in S3's or the service's own words), at ERROR for a
//! fault of ours. Not-found answers and failed preconditions are INFO: they are how clients
//! probe for what exists. A failed sign-in names the access key id that was tried, whichever
//! protocol it came by.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use http::StatusCode;
use tracing_subscriber::EnvFilter;

/// Our crates: a bare level in `MINERVA_LOG` applies to them, not to dependencies.
const OUR_CRATES: [&str; 4] = ["minerva", "storage", "query", "catalog"];

/// Sets up the log on stderr: `MINERVA_LOG` is a level for Minerva's own crates (`debug`) or a
/// full filter (`info,sled=debug`); `MINERVA_LOG_FORMAT=json` writes one JSON object a line.
pub fn init() {
    let filter = filter(std::env::var("MINERVA_LOG").ok().as_deref());
    let json = std::env::var("MINERVA_LOG_FORMAT").is_ok_and(|f| f.eq_ignore_ascii_case("json"));
    use std::io::IsTerminal;
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_target(false).with_writer(std::io::stderr);
    if json {
        builder.json().flatten_event(true).with_current_span(false).with_span_list(false).init();
    } else {
        builder.with_ansi(std::io::stderr().is_terminal()).init();
    }
}

/// The filter a `MINERVA_LOG` value means. s3s's own error lines are off in every case but a
/// full filter naming it: each request's line already says how it ended, in plain words.
fn filter(setting: Option<&str>) -> EnvFilter {
    let level = |l: &str| {
        let ours: Vec<String> = OUR_CRATES.iter().map(|c| format!("{c}={l}")).collect();
        format!("warn,s3s=off,{}", ours.join(","))
    };
    let text = match setting.map(str::trim) {
        None | Some("") => level("info"),
        Some(l @ ("trace" | "debug" | "info" | "warn" | "error" | "off")) => level(l),
        Some(full) => full.to_string(),
    };
    EnvFilter::try_new(&text).unwrap_or_else(|e| {
        eprintln!("minerva: MINERVA_LOG={text:?} is no filter ({e}); logging at info");
        EnvFilter::new(level("info"))
    })
}

/// What a request's handlers learn about it on the way (its operation, the error they answer),
/// for its line in the log.
#[derive(Debug, Default)]
pub struct Note {
    pub operation: Option<String>,
    /// What a Glue, Athena or STS request is about (a database, table, crawler, query id).
    pub resource: Option<String>,
    pub error: Option<(String, String)>,
}

tokio::task_local! {
    static NOTE: Arc<Mutex<Note>>;
}

/// Runs a request's handling with a note its handlers can fill in, and returns the note.
pub async fn noted<F: std::future::Future>(handling: F) -> (F::Output, Note) {
    let note = Arc::new(Mutex::new(Note::default()));
    let out = NOTE.scope(note.clone(), handling).await;
    let note = std::mem::take(&mut *note.lock().unwrap_or_else(|p| p.into_inner()));
    (out, note)
}

/// Names the operation the request is (`GetObject`, `Athena.StartQueryExecution`).
pub fn operation(name: impl Into<String>) {
    let _ = NOTE.try_with(|n| n.lock().unwrap_or_else(|p| p.into_inner()).operation = Some(name.into()));
}

/// Names what the request is about, for the services whose path does not say it.
pub fn resource(name: impl Into<String>) {
    let _ = NOTE.try_with(|n| n.lock().unwrap_or_else(|p| p.into_inner()).resource = Some(name.into()));
}

/// Records the error the request is answered with, in the protocol's own words.
pub fn error(code: impl Into<String>, message: impl Into<String>) {
    let _ = NOTE.try_with(|n| n.lock().unwrap_or_else(|p| p.into_inner()).error = Some((code.into(), message.into())));
}

/// The access key id a request is signed with (SigV4 or SigV2, header or presigned URL).
pub fn access_key(headers: &http::HeaderMap, uri: &http::Uri) -> Option<String> {
    if let Some(auth) = headers.get(http::header::AUTHORIZATION).and_then(|v| v.to_str().ok()) {
        if let Some(rest) = auth.split("Credential=").nth(1) {
            return rest.split('/').next().map(str::to_string);
        }
        // SigV2: `AWS <key>:<signature>`.
        if let Some(rest) = auth.strip_prefix("AWS ") {
            return rest.split(':').next().map(str::to_string);
        }
    }
    let query = uri.query()?;
    query.split('&').find_map(|pair| {
        let (name, value) = pair.split_once('=')?;
        match name {
            "X-Amz-Credential" => {
                let decoded = percent_encoding::percent_decode_str(value).decode_utf8_lossy().into_owned();
                decoded.split('/').next().map(str::to_string)
            }
            "AWSAccessKeyId" => Some(percent_encoding::percent_decode_str(value).decode_utf8_lossy().into_owned()),
            _ => None,
        }
    })
}

/// What one answered request was, for its line.
pub struct Answered<'a> {
    pub service: &'a str,
    pub method: &'a http::Method,
    pub path: &'a str,
    pub status: StatusCode,
    pub took: Duration,
    pub request_id: &'a str,
    pub access_key: Option<&'a str>,
    pub note: Note,
}

/// Writes a request's one line, at the level its ending calls for.
pub fn answered(a: Answered<'_>) {
    let Answered { service, method, path, status, took, request_id, access_key, note } = a;
    let operation = note.operation.as_deref().unwrap_or("-");
    // S3's path names the bucket and key; the other services' requests name theirs in the body.
    let resource = note.resource.as_deref().unwrap_or(path);
    let ms = took.as_secs_f64() * 1000.0;
    let status = status.as_u16();
    // Absent fields (no error, an unsigned request) are left out of the line.
    let (code, reason) = match &note.error {
        Some((code, message)) => (Some(code.as_str()), Some(message.as_str())),
        None => (None, None),
    };
    if status >= 500 {
        tracing::error!(service, operation, %method, resource, status, ms, request_id, access_key, code, reason, "request failed");
    } else if status >= 400 && !matches!(status, 404 | 412) {
        tracing::warn!(service, operation, %method, resource, status, ms, request_id, access_key, code, reason, "request refused");
    } else {
        tracing::info!(service, operation, %method, resource, status, ms, request_id, access_key, code, reason, "request answered");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bare_level_is_for_minervas_crates_only() {
        let text = filter(Some("debug")).to_string();
        assert!(text.contains("query=debug") && text.contains("minerva=debug") && text.contains("s3s=off"), "{text}");
        assert!(!text.contains("sled=debug") && text.split(',').any(|d| d == "warn"), "{text}");
        let full = filter(Some("info,sled=debug")).to_string();
        assert!(full.contains("sled=debug") && !full.contains("s3s=off"), "{full}");
    }

    #[test]
    fn the_access_key_tried_is_found_in_any_signature() {
        let uri: http::Uri = "/b/k".parse().unwrap();
        let mut headers = http::HeaderMap::new();
        headers.insert(
            http::header::AUTHORIZATION,
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20240101/us-east-1/s3/aws4_request, SignedHeaders=host, Signature=x".parse().unwrap(),
        );
        assert_eq!(access_key(&headers, &uri).as_deref(), Some("AKIDEXAMPLE"));
        headers.insert(http::header::AUTHORIZATION, "AWS someone:c2lnbmF0dXJl".parse().unwrap());
        assert_eq!(access_key(&headers, &uri).as_deref(), Some("someone"));
        let presigned: http::Uri =
            "/b/k?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=test%2F20240101%2Fus-east-1%2Fs3%2Faws4_request".parse().unwrap();
        assert_eq!(access_key(&http::HeaderMap::new(), &presigned).as_deref(), Some("test"));
        assert_eq!(access_key(&http::HeaderMap::new(), &uri), None);
    }
}
