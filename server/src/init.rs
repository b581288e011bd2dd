//! Seeding at start-up, for containers: buckets named in `MINERVA_INIT_BUCKETS`, and a folder
//! (`MINERVA_INIT_DIR`) whose `buckets/<bucket>/…` files are uploaded and whose `*.sql` files are
//! run, in name order, on the first start of a data directory. The server listens only once
//! seeding is done, so a healthy server is a seeded one; a seed that fails stops the server.
//!
//! Also `minerva healthcheck`, which a container's HEALTHCHECK runs (the image has no curl).

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::time::Duration;

use bytes::Bytes;
use futures::StreamExt;
use query::{QueryState, StartQuery};
use storage::PutOptions;

use crate::app::App;
use crate::app::anyhow_like::Result;

/// The file in the data directory that says the init folder was applied.
const MARKER: &str = "init.done";

/// Creates the named buckets (those missing), then applies the init folder once.
pub async fn seed(app: &App, data_dir: &Path, buckets: &[String], dir: Option<&Path>) -> Result<()> {
    let owner = app.users.primary().clone();
    for name in buckets {
        create_bucket(app, name, &owner.access_key).await?;
    }
    let Some(dir) = dir else { return Ok(()) };
    let marker = data_dir.join(MARKER);
    if marker.exists() {
        tracing::info!(dir = %dir.display(), "the init folder was applied before; skipping it");
        return Ok(());
    }
    if !dir.is_dir() {
        return Err(format!("the init folder {} does not exist", dir.display()).into());
    }
    let mut uploaded = 0;
    let bucket_root = dir.join("buckets");
    if bucket_root.is_dir() {
        for entry in sorted_entries(&bucket_root)? {
            if !entry.is_dir() {
                continue;
            }
            let bucket = entry.file_name().and_then(|n| n.to_str()).unwrap_or_default().to_string();
            create_bucket(app, &bucket, &owner.access_key).await?;
            for file in files_under(&entry)? {
                let key = file.strip_prefix(&entry).map_err(|e| e.to_string())?.to_string_lossy().replace('\\', "/");
                let data = std::fs::read(&file).map_err(|e| format!("reading {}: {e}", file.display()))?;
                let body = futures::stream::iter([Ok(Bytes::from(data))]).boxed();
                app.store.put_object(&bucket, &key, body, PutOptions::default()).await.map_err(|e| format!("uploading {}: {e}", file.display()))?;
                uploaded += 1;
            }
        }
    }
    let output_dir = app.results_location(&owner, &app.region).await?;
    let mut statements = 0;
    for file in sorted_entries(dir)?.into_iter().filter(|p| p.extension().is_some_and(|e| e == "sql")) {
        let text = std::fs::read_to_string(&file).map_err(|e| format!("reading {}: {e}", file.display()))?;
        for sql in split_statements(&text) {
            run(app, &sql, &output_dir).await.map_err(|e| format!("{}: {e}\n  in: {sql}", file.display()))?;
            statements += 1;
        }
    }
    std::fs::write(&marker, b"applied\n").map_err(|e| format!("writing {}: {e}", marker.display()))?;
    tracing::info!(dir = %dir.display(), uploaded, statements, "applied the init folder");
    Ok(())
}

async fn create_bucket(app: &App, name: &str, owner: &str) -> Result<()> {
    if app.store.head_bucket(name).is_ok() {
        return Ok(());
    }
    match app.store.create_bucket(name, owner).await {
        Ok(_) | Err(storage::Error::BucketAlreadyOwnedByYou(_)) => Ok(()),
        Err(e) => Err(format!("creating bucket {name}: {e}").into()),
    }
}

async fn run(app: &App, sql: &str, output_dir: &str) -> Result<()> {
    let id = app
        .engine
        .start(StartQuery {
            account: app.users.primary().account_id.clone(),
            acting_for: Some(app.access.acting_for(app.users.primary())),
            sql: sql.to_string(),
            database: Some("default".into()),
            workgroup: "primary".into(),
            output_dir: output_dir.to_string(),
            ..Default::default()
        })
        .await?;
    loop {
        let q = app.engine.get(&id, &app.users.primary().account_id)?;
        match q.state {
            QueryState::Succeeded => return Ok(()),
            QueryState::Failed | QueryState::Cancelled => return Err(q.state_change_reason.unwrap_or_else(|| "the statement failed".into()).into()),
            _ => tokio::time::sleep(Duration::from_millis(10)).await,
        }
    }
}

fn sorted_entries(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut out: Vec<PathBuf> =
        std::fs::read_dir(dir).map_err(|e| format!("reading {}: {e}", dir.display()))?.filter_map(|e| e.ok().map(|e| e.path())).collect();
    out.sort();
    Ok(out)
}

fn files_under(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for p in sorted_entries(dir)? {
        if p.is_dir() {
            out.extend(files_under(&p)?);
        } else if p.is_file() {
            out.push(p);
        }
    }
    Ok(out)
}

/// Splits SQL text into statements at `;`, outside quotes and comments.
pub fn split_statements(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    let chars: Vec<char> = text.chars().collect();
    let mut i = 0;
    let mut quote: Option<char> = None;
    while i < chars.len() {
        let c = chars[i];
        match quote {
            Some(q) => {
                current.push(c);
                if c == q {
                    quote = None;
                }
            }
            None => match c {
                '\'' | '"' | '`' => {
                    quote = Some(c);
                    current.push(c);
                }
                '-' if chars.get(i + 1) == Some(&'-') => {
                    while i < chars.len() && chars[i] != '\n' {
                        i += 1;
                    }
                    current.push('\n');
                }
                ';' => {
                    if !current.trim().is_empty() {
                        out.push(current.trim().to_string());
                    }
                    current.clear();
                }
                c => current.push(c),
            },
        }
        i += 1;
    }
    if !current.trim().is_empty() {
        out.push(current.trim().to_string());
    }
    out
}

/// `minerva healthcheck`: exits 0 when the server at `address` (a wildcard address means this
/// host) answers its health check, 1 otherwise.
pub fn healthcheck(address: &str) -> Result<()> {
    let mut addr: SocketAddr = address.parse().map_err(|e| format!("address {address:?}: {e}"))?;
    if addr.ip().is_unspecified() {
        addr.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
    }
    let timeout = Duration::from_secs(2);
    let mut stream = TcpStream::connect_timeout(&addr, timeout).map_err(|e| format!("connecting to {addr}: {e}"))?;
    stream.set_read_timeout(Some(timeout))?;
    stream.write_all(format!("GET /_minerva/health HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n").as_bytes())?;
    let mut response = String::new();
    stream.read_to_string(&mut response)?;
    match response.lines().next() {
        Some(status) if status.split_whitespace().nth(1) == Some("200") => Ok(()),
        other => Err(format!("the server at {addr} is not healthy: {}", other.unwrap_or("no answer")).into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statements_split_outside_quotes_and_comments() {
        let text = "CREATE DATABASE a; -- a comment; with a semicolon\nSELECT ';' AS x;\n\nSELECT \"a;b\" FROM t";
        assert_eq!(split_statements(text), ["CREATE DATABASE a", "SELECT ';' AS x", "SELECT \"a;b\" FROM t"]);
    }
}
