//! Query-result retention (`--results-retention-days`): Athena's result files older than the
//! retention are removed in the background, so that a long-lived server's results do not pile up.
//!
//! Only what Athena itself writes into a results bucket (`aws-athena-query-results-…`) goes, at
//! whatever prefix the output location named: a query's `<id>.csv`, `<id>.csv.metadata` and
//! `<id>.txt`, and a write's manifest `<id>-manifest.csv`. Tables a CTAS made there (in a
//! `tables/<id>/` folder), anything else in the bucket, and every other bucket stay, however old.

use std::sync::Arc;
use std::time::Duration;

use storage::{ListQuery, Store};

use crate::app::App;

/// Removes expired result files now and then, until the server stops.
pub fn spawn(app: Arc<App>, retention: Duration) {
    let every = (retention / 4).clamp(Duration::from_millis(100), Duration::from_secs(3600));
    tokio::spawn(async move {
        loop {
            match sweep(&app.store, retention).await {
                Ok(0) => {}
                Ok(removed) => tracing::info!(removed, retention_days = retention.as_secs_f64() / 86_400.0, "removed expired query results"),
                Err(e) => tracing::warn!(error = %e, "sweeping expired query results failed"),
            }
            tokio::time::sleep(every).await;
        }
    });
}

/// Removes the result files older than `retention`; returns how many went.
pub async fn sweep(store: &Store, retention: Duration) -> Result<usize, storage::Error> {
    let cutoff = chrono::Utc::now() - chrono::Duration::from_std(retention).unwrap_or(chrono::Duration::MAX);
    let mut removed = 0;
    for bucket in store.list_buckets()? {
        if !bucket.name.starts_with("aws-athena-query-results-") {
            continue;
        }
        let mut after = None;
        loop {
            let page =
                store.list_objects(&bucket.name, &ListQuery { prefix: String::new(), delimiter: None, after: after.clone(), max_keys: 1000 })?;
            for object in &page.objects {
                if object.record.last_modified < cutoff && is_result_file(&object.key) {
                    match store.delete_object(&bucket.name, &object.key, None, None).await {
                        Ok(_) | Err(storage::Error::NoSuchKey(_)) => removed += 1,
                        Err(e) => return Err(e),
                    }
                }
            }
            if !page.is_truncated {
                break;
            }
            after = page.last;
        }
    }
    Ok(removed)
}

/// Whether a key of a results bucket is a file Athena wrote for a query (named by its id), not
/// a file of a table a CTAS made.
fn is_result_file(key: &str) -> bool {
    let (folders, name) = key.rsplit_once('/').unwrap_or(("", key));
    let in_table = folders.split('/').collect::<Vec<_>>().windows(2).any(|w| w[0] == "tables" && is_query_id(w[1]));
    !in_table && [".csv", ".csv.metadata", ".txt", "-manifest.csv"].iter().any(|s| name.strip_suffix(s).is_some_and(is_query_id))
}

/// A query execution id: a UUID, `8-4-4-4-12` hex digits.
fn is_query_id(s: &str) -> bool {
    let parts: Vec<&str> = s.split('-').collect();
    parts.iter().map(|p| p.len()).eq([8, 4, 4, 4, 12]) && parts.iter().all(|p| p.bytes().all(|b| b.is_ascii_hexdigit()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_athenas_own_files_are_results() {
        let id = "0b4f8c2e-1d3a-4b5c-9e7f-123456789abc";
        for key in [
            format!("{id}.csv"),
            format!("{id}.csv.metadata"),
            format!("{id}.txt"),
            format!("tables/{id}-manifest.csv"),
            format!("pyathena/{id}.csv"),
        ] {
            assert!(is_result_file(&key), "{key}");
        }
        for key in [
            format!("tables/{id}/part-0.parquet"),
            format!("tables/{id}/{id}.csv"),
            "notes.txt".to_string(),
            format!("{id}.parquet"),
            "0b4f8c2e.csv".to_string(),
        ] {
            assert!(!is_result_file(&key), "{key}");
        }
    }
}
