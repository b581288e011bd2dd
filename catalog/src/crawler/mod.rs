//! Crawlers: their Glue records (create, get, list, update, delete), their state machine
//! (READY → RUNNING → STOPPING → READY), their runs and metrics. The crawl itself is in `run`,
//! inference in `infer` and `parquet` (custom classifiers in `custom`), the grouping of files into tables in `plan`.
//!
//! Keys: `c/<name>` the crawler, `cr/<name>\0<start ms>` its runs, `cs/<name>\0<url>` what it
//! learnt of each object (so an unchanged object is not read again).

mod custom;
pub(crate) mod iceberg;
mod infer;
mod parquet;
mod plan;
mod run;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use storage::KvOp;

use crate::model::{self, Timestamp};
use crate::{Catalog, Error, Result, decode, encode, validate};

pub(crate) use custom::JsonPathClassifier;
pub use iceberg::columns as iceberg_columns;
pub use run::{Progress, Resolver, RunSummary};

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct S3Target {
    pub path: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub exclusions: Vec<String>,
    /// How many files of each leaf folder are read; the rest are assumed alike.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sample_size: Option<i64>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Targets {
    #[serde(default)]
    pub s3_targets: Vec<S3Target>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct SchemaChangePolicy {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub update_behavior: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delete_behavior: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct RecrawlPolicy {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recrawl_behavior: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct LastCrawl {
    pub status: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_message: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log_group: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log_stream: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message_prefix: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_time: Option<Timestamp>,
}

/// A crawler, with Glue's field names.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Crawler {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    #[serde(default)]
    pub targets: Targets,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub database_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub classifiers: Vec<String>,
    #[serde(default)]
    pub recrawl_policy: RecrawlPolicy,
    #[serde(default)]
    pub schema_change_policy: SchemaChangePolicy,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lineage_configuration: Option<Value>,
    #[serde(default)]
    pub state: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub table_prefix: Option<String>,
    /// `{"ScheduleExpression": …, "State": …}` (the API takes the expression as a string).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schedule: Option<Value>,
    #[serde(default)]
    pub crawl_elapsed_time: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub creation_time: Option<Timestamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_updated: Option<Timestamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_crawl: Option<LastCrawl>,
    #[serde(default)]
    pub version: i64,
    /// The `Configuration` JSON text (`Grouping`, `CrawlerOutput`, …).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub configuration: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub crawler_security_configuration: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lake_formation_configuration: Option<Value>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

pub const READY: &str = "READY";
pub const RUNNING: &str = "RUNNING";
pub const STOPPING: &str = "STOPPING";

/// One run of a crawler, kept for GetCrawlerMetrics and for the CLI's report.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct RunRecord {
    pub start: Timestamp,
    pub end: Timestamp,
    pub status: String,
    #[serde(default)]
    pub error: Option<String>,
    #[serde(default)]
    pub summary: RunSummary,
}

/// What GetCrawlerMetrics reports for one crawler.
#[derive(Debug, Clone, Default)]
pub struct CrawlerMetrics {
    pub name: String,
    pub time_left_seconds: f64,
    pub still_estimating: bool,
    pub last_runtime_seconds: f64,
    pub median_runtime_seconds: f64,
    pub tables_created: u64,
    pub tables_updated: u64,
    pub tables_deleted: u64,
}

fn crawler_key(name: &str) -> Vec<u8> {
    format!("c/{name}").into_bytes()
}

pub(crate) fn runs_prefix(name: &str) -> Vec<u8> {
    format!("cr/{name}\0").into_bytes()
}

pub(crate) fn cache_prefix(name: &str) -> Vec<u8> {
    format!("cs/{name}\0").into_bytes()
}

fn state_error(state: crate::CrawlerState, message: String) -> Error {
    Error::CrawlerState { state, message }
}

/// Checks what the API accepts for a crawler: a name, S3 targets, known policy values, a
/// Configuration that is JSON.
fn check(c: &mut Crawler) -> Result<()> {
    c.name = {
        let n = c.name.trim();
        if n.is_empty() || n.chars().count() > 255 || n.chars().any(|ch| ch.is_control()) {
            return Err(Error::InvalidInput("a crawler name must be 1 to 255 printable characters".into()));
        }
        n.to_string()
    };
    if c.targets.s3_targets.is_empty() && c.targets.extra.values().all(|v| v.as_array().is_none_or(|a| a.is_empty())) {
        return Err(Error::InvalidInput("a crawler needs at least one target".into()));
    }
    for t in &c.targets.s3_targets {
        if !t.path.starts_with("s3://") || t.path.len() <= 5 {
            return Err(Error::InvalidInput(format!("S3 target path {:?} is not an s3:// path", t.path)));
        }
        if let Some(n) = t.sample_size
            && !(1..=249).contains(&n)
        {
            return Err(Error::InvalidInput("SampleSize must be between 1 and 249".into()));
        }
    }
    if let Some(db) = &c.database_name {
        c.database_name = Some(validate::normalize_name("database", db)?);
    }
    let update = c.schema_change_policy.update_behavior.get_or_insert_with(|| "UPDATE_IN_DATABASE".into()).clone();
    let delete = c.schema_change_policy.delete_behavior.get_or_insert_with(|| "DEPRECATE_IN_DATABASE".into()).clone();
    let recrawl = c.recrawl_policy.recrawl_behavior.get_or_insert_with(|| "CRAWL_EVERYTHING".into()).clone();
    if !["LOG", "UPDATE_IN_DATABASE"].contains(&update.as_str()) {
        return Err(Error::InvalidInput(format!("unknown UpdateBehavior {update}")));
    }
    if !["LOG", "DELETE_FROM_DATABASE", "DEPRECATE_IN_DATABASE"].contains(&delete.as_str()) {
        return Err(Error::InvalidInput(format!("unknown DeleteBehavior {delete}")));
    }
    if !["CRAWL_EVERYTHING", "CRAWL_NEW_FOLDERS_ONLY", "CRAWL_EVENT_MODE"].contains(&recrawl.as_str()) {
        return Err(Error::InvalidInput(format!("unknown RecrawlBehavior {recrawl}")));
    }
    if recrawl == "CRAWL_NEW_FOLDERS_ONLY" && (update != "LOG" || delete != "LOG") {
        return Err(Error::InvalidInput(
            "The SchemaChangePolicy for \"Crawl new folders only\" Amazon S3 target can have only LOG DeleteBehavior value and LOG UpdateBehavior value.".into(),
        ));
    }
    if let Some(conf) = &c.configuration {
        run::CrawlConfig::parse(conf)?;
    }
    if let Some(p) = &c.table_prefix
        && p.chars().count() > 128
    {
        return Err(Error::InvalidInput("TablePrefix must be at most 128 characters long".into()));
    }
    Ok(())
}

/// Cancel flags of the runs in progress, by crawler.
#[derive(Default)]
pub(crate) struct Running(Mutex<HashMap<String, Arc<AtomicBool>>>);

impl Running {
    fn insert(&self, name: &str) -> Arc<AtomicBool> {
        let flag = Arc::new(AtomicBool::new(false));
        self.0.lock().unwrap_or_else(|p| p.into_inner()).insert(name.to_string(), flag.clone());
        flag
    }

    fn remove(&self, name: &str) {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).remove(name);
    }

    fn cancel(&self, name: &str) {
        if let Some(f) = self.0.lock().unwrap_or_else(|p| p.into_inner()).get(name) {
            f.store(true, Ordering::SeqCst);
        }
    }

    pub(crate) fn any(&self) -> bool {
        !self.0.lock().unwrap_or_else(|p| p.into_inner()).is_empty()
    }
}

impl Catalog {
    /// Crawlers left RUNNING or STOPPING by a process that stopped are READY again, their last
    /// crawl FAILED: the run never finished.
    pub(crate) fn recover_crawlers(&self) -> Result<()> {
        for entry in self.tree.scan_prefix(b"c/") {
            let (k, v) = entry?;
            let mut c: Crawler = decode(&v)?;
            if c.state != READY {
                c.state = READY.into();
                let start = c.last_crawl.as_ref().and_then(|l| l.start_time);
                c.last_crawl = Some(LastCrawl {
                    status: "FAILED".into(),
                    error_message: Some("The crawl was interrupted: the server stopped while it ran".into()),
                    start_time: start,
                    ..Default::default()
                });
                self.tree.put(&k, &encode(&c))?;
            }
        }
        Ok(())
    }

    pub async fn create_crawler(&self, crawler: Crawler) -> Result<Crawler> {
        self.create_tagged_crawler(crawler, crate::Tags::new()).await
    }

    /// Creates a crawler with its tags, in one batch.
    pub async fn create_tagged_crawler(&self, mut crawler: Crawler, tags: crate::Tags) -> Result<Crawler> {
        check(&mut crawler)?;
        crate::validate::tags(&tags)?;
        let now = model::now();
        crawler.state = READY.into();
        crawler.creation_time = Some(now);
        crawler.last_updated = Some(now);
        crawler.version = 1;
        crawler.last_crawl = None;
        crawler.crawl_elapsed_time = 0;
        let _writes = self.writes.lock().await;
        if self.tree.get(&crawler_key(&crawler.name))?.is_some() {
            return Err(Error::AlreadyExists(format!("Crawler with name {} has already been created", crawler.name)));
        }
        let mut ops = vec![KvOp::Put(crawler_key(&crawler.name), encode(&crawler))];
        if !tags.is_empty() {
            ops.push(KvOp::Put(crate::tags::crawler_tags_key(&crawler.name), encode(&tags)));
        }
        self.commit(ops).await?;
        Ok(crawler)
    }

    pub fn get_crawler(&self, name: &str) -> Result<Crawler> {
        match self.tree.get(&crawler_key(name))? {
            Some(v) => decode(&v),
            None => Err(Error::NotFound(format!("Crawler entry with name {name} does not exist"))),
        }
    }

    /// Every crawler, in name order.
    pub fn list_crawlers(&self) -> Result<Vec<Crawler>> {
        self.tree.scan_prefix(b"c/").map(|e| e.map_err(Error::from).and_then(|(_, v)| decode(&v))).collect()
    }

    /// Applies an update to a crawler's definition (not while it runs).
    pub async fn update_crawler(&self, name: &str, change: impl FnOnce(&mut Crawler)) -> Result<Crawler> {
        let _writes = self.writes.lock().await;
        let mut c = self.get_crawler(name)?;
        if c.state != READY {
            return Err(state_error(crate::CrawlerState::Running, format!("Crawler {name} is running")));
        }
        change(&mut c);
        c.name = name.to_string();
        check(&mut c)?;
        c.version += 1;
        c.last_updated = Some(model::now());
        self.commit(vec![KvOp::Put(crawler_key(name), encode(&c))]).await?;
        Ok(c)
    }

    pub async fn delete_crawler(&self, name: &str) -> Result<()> {
        let _writes = self.writes.lock().await;
        let c = self.get_crawler(name)?;
        if c.state != READY {
            return Err(state_error(crate::CrawlerState::Running, format!("Crawler {name} is running and cannot be deleted")));
        }
        let mut ops = vec![KvOp::Delete(crawler_key(name)), KvOp::Delete(crate::tags::crawler_tags_key(name))];
        ops.extend(self.deletes_under(&runs_prefix(name))?);
        ops.extend(self.deletes_under(&cache_prefix(name))?);
        self.commit(ops).await
    }

    /// Marks a crawler RUNNING and hands back its definition and cancel flag.
    async fn begin_run(&self, name: &str) -> Result<(Crawler, Arc<AtomicBool>, Timestamp)> {
        let _writes = self.writes.lock().await;
        let mut c = self.get_crawler(name)?;
        match c.state.as_str() {
            READY => {}
            STOPPING => return Err(state_error(crate::CrawlerState::Running, format!("Crawler {name} is stopping"))),
            _ => return Err(state_error(crate::CrawlerState::Running, format!("Crawler with name {name} has already started"))),
        }
        let start = model::now();
        c.state = RUNNING.into();
        c.last_crawl = Some(LastCrawl {
            status: "RUNNING".into(),
            start_time: Some(start),
            log_group: Some("/aws-glue/crawlers".into()),
            log_stream: Some(name.to_string()),
            message_prefix: Some(uuid::Uuid::new_v4().to_string()),
            ..Default::default()
        });
        self.commit(vec![KvOp::Put(crawler_key(name), encode(&c))]).await?;
        let flag = self.running.insert(name);
        Ok((c, flag, start))
    }

    /// Records how a run ended and makes the crawler READY.
    async fn end_run(&self, name: &str, start: Timestamp, outcome: &std::result::Result<RunSummary, String>, cancelled: bool) -> Result<()> {
        let _writes = self.writes.lock().await;
        self.running.remove(name);
        let mut c = self.get_crawler(name)?;
        let end = model::now();
        let paths: Vec<&str> = c.targets.s3_targets.iter().map(|t| t.path.as_str()).collect();
        let (status, error) = match outcome {
            Ok(_) if cancelled => ("CANCELLED", None),
            Ok(summary) => ("SUCCEEDED", found_nothing(summary, &paths)),
            Err(e) => ("FAILED", Some(e.clone())),
        };
        c.state = READY.into();
        c.crawl_elapsed_time = 0;
        let prefix = c.last_crawl.as_ref().and_then(|l| l.message_prefix.clone());
        c.last_crawl = Some(LastCrawl {
            status: status.into(),
            error_message: error.clone(),
            start_time: Some(start),
            log_group: Some("/aws-glue/crawlers".into()),
            log_stream: Some(name.to_string()),
            message_prefix: prefix,
        });
        let record = RunRecord { start, end, status: status.into(), error, summary: outcome.clone().unwrap_or_default() };
        let run_key = [runs_prefix(name), format!("{:020}", (start * 1000.0) as u64).into_bytes()].concat();
        self.commit(vec![KvOp::Put(crawler_key(name), encode(&c)), KvOp::Put(run_key, encode(&record))]).await
    }

    /// Starts a crawl in the background (StartCrawler).
    pub async fn start_crawler(&self, name: &str, resolver: Resolver) -> Result<()> {
        let (crawler, cancel, start) = self.begin_run(name).await?;
        let catalog = self.clone();
        tokio::spawn(async move {
            let outcome = run::crawl(&catalog, &crawler, &resolver, &cancel, &|_| {}).await;
            log_outcome(&crawler.name, &outcome);
            let cancelled = cancel.load(Ordering::SeqCst);
            if let Err(e) = catalog.end_run(&crawler.name, start, &outcome, cancelled).await {
                tracing::error!(crawler = %crawler.name, error = %e, "could not record the end of a crawl");
            }
        });
        Ok(())
    }

    /// Runs a crawl to its end in this task, reporting progress (the `minerva crawl` command).
    pub async fn run_crawler(
        &self,
        name: &str,
        resolver: Resolver,
        progress: &(dyn Fn(Progress) + Sync),
    ) -> Result<std::result::Result<RunSummary, String>> {
        let (crawler, cancel, start) = self.begin_run(name).await?;
        let outcome = run::crawl(self, &crawler, &resolver, &cancel, progress).await;
        log_outcome(&crawler.name, &outcome);
        self.end_run(name, start, &outcome, cancel.load(Ordering::SeqCst)).await?;
        Ok(outcome)
    }

    /// Asks a running crawl to stop (StopCrawler); it stops between files.
    pub async fn stop_crawler(&self, name: &str) -> Result<()> {
        let _writes = self.writes.lock().await;
        let mut c = self.get_crawler(name)?;
        match c.state.as_str() {
            RUNNING => {}
            STOPPING => return Err(state_error(crate::CrawlerState::Stopping, format!("Crawler {name} is already stopping"))),
            _ => return Err(state_error(crate::CrawlerState::NotRunning, format!("Crawler with name {name} has not started"))),
        }
        c.state = STOPPING.into();
        self.commit(vec![KvOp::Put(crawler_key(name), encode(&c))]).await?;
        self.running.cancel(name);
        Ok(())
    }

    /// The runs of a crawler, oldest first.
    pub fn crawler_runs(&self, name: &str) -> Result<Vec<RunRecord>> {
        self.tree.scan_prefix(&runs_prefix(name)).map(|e| e.map_err(Error::from).and_then(|(_, v)| decode(&v))).collect()
    }

    pub fn crawler_metrics(&self, name: &str) -> Result<CrawlerMetrics> {
        let c = self.get_crawler(name)?;
        let runs = self.crawler_runs(name)?;
        let mut durations: Vec<f64> = runs.iter().map(|r| (r.end - r.start).max(0.0)).collect();
        durations.sort_by(|a, b| a.total_cmp(b));
        let median = if durations.is_empty() {
            0.0
        } else if durations.len() % 2 == 1 {
            durations[durations.len() / 2]
        } else {
            (durations[durations.len() / 2 - 1] + durations[durations.len() / 2]) / 2.0
        };
        let last = runs.last();
        Ok(CrawlerMetrics {
            name: c.name.clone(),
            time_left_seconds: 0.0,
            still_estimating: c.state == RUNNING,
            last_runtime_seconds: last.map(|r| (r.end - r.start).max(0.0)).unwrap_or(0.0),
            median_runtime_seconds: median,
            tables_created: last.map(|r| r.summary.tables_created.len() as u64).unwrap_or(0),
            tables_updated: last.map(|r| r.summary.tables_updated.len() as u64).unwrap_or(0),
            tables_deleted: last.map(|r| r.summary.tables_deleted.len() as u64).unwrap_or(0),
        })
    }
}

/// Why a crawl that succeeded made no table, if it made none: no object under its targets, or
/// none it could read. Said in the last crawl's message (and the log), where a user looks.
fn found_nothing(s: &RunSummary, paths: &[&str]) -> Option<String> {
    if !s.tables.is_empty() || !s.tables_created.is_empty() || !s.tables_updated.is_empty() {
        return None;
    }
    let targets = paths.join(", ");
    Some(match s.skipped.first() {
        None if s.objects_read + s.objects_reused == 0 => format!("The crawl found no objects under {targets}: no table was made"),
        None => format!("The crawl found no table in the objects under {targets}"),
        Some((object, reason)) => format!(
            "The crawl could not classify any of the {} objects under {targets}, so no table was made (the first, {object}: {reason})",
            s.skipped.len()
        ),
    })
}

fn log_outcome(name: &str, outcome: &std::result::Result<RunSummary, String>) {
    match outcome {
        Ok(s) => {
            tracing::info!(
                crawler = name,
                created = ?s.tables_created,
                updated = ?s.tables_updated,
                deleted = ?s.tables_deleted,
                partitions_added = s.partitions_added,
                objects_read = s.objects_read,
                objects_reused = s.objects_reused,
                "crawl finished"
            );
            for (object, reason) in &s.skipped {
                tracing::warn!(crawler = name, object = %object, reason = %reason, "crawl skipped a file");
            }
            if s.tables.is_empty() && s.tables_created.is_empty() && s.tables_updated.is_empty() {
                tracing::warn!(
                    crawler = name,
                    objects_read = s.objects_read,
                    skipped = s.skipped.len(),
                    "the crawl found nothing to make a table of"
                );
            }
        }
        Err(e) => tracing::warn!(crawler = name, error = %e, "crawl failed"),
    }
}
