//! The query-execution manager: queue, concurrency, states, cancellation, timeouts and the
//! persisted history of executions. A query's session is `session`'s, what its statement does
//! `statements`' or `write`'s, its result file `results`'.
//!
//! Each query runs as a task on the engine's own multi-threaded runtime (the "CPU runtime"), so a
//! heavy query cannot starve the runtime that serves S3. A semaphore bounds how many run at once;
//! DataFusion's memory pool bounds what they hold together, spilling where it can.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use catalog::Catalogs;
use datafusion::error::DataFusionError;
use datafusion::execution::cache::cache_manager::CacheManagerConfig;
use datafusion::execution::runtime_env::{RuntimeEnv, RuntimeEnvBuilder};
use serde::{Deserialize, Serialize};
use storage::{KvTree, S3Location, Store};

use crate::budget::{Budget, Scanned};
use crate::cancel::CancelToken;
use crate::context::{Context, Outcome};
use crate::error::{Error, Result};
use crate::location;
use crate::registry::Registry;
use crate::results::{self, ResultPage};
use crate::session::{Acting, SessionFor, Sessions};
use crate::sql::{self, Plan, Prepared, StatementType, Write};
use crate::statements;
use crate::tables::LakeRegistry;
use crate::types::ColumnInfo;
use crate::write;

const RECORD_VERSION: u32 = 1;

#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// Bytes all running queries may hold together before they spill or fail.
    pub memory_limit: usize,
    /// Bytes one query may hold before it spills or fails.
    pub query_memory_limit: usize,
    /// Queries running at once; the rest wait in state QUEUED.
    pub max_concurrent: usize,
    /// Worker threads of the query runtime, and DataFusion's target partitions.
    pub threads: usize,
    /// How long a query may run before it fails (Athena's default is 30 minutes).
    pub timeout: Duration,
    /// Where sorts and aggregates spill (emptied at start); the OS temporary directory if unset.
    pub spill_dir: Option<std::path::PathBuf>,
    /// The account of query records written before each account had its own history (the
    /// primary account, which owned everything then).
    pub legacy_account: String,
}

impl Default for EngineConfig {
    fn default() -> Self {
        let threads = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2);
        EngineConfig {
            memory_limit: 1 << 30,
            query_memory_limit: 512 << 20,
            max_concurrent: 4,
            threads,
            timeout: Duration::from_secs(30 * 60),
            spill_dir: None,
            legacy_account: "000000000000".into(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum QueryState {
    Queued,
    Running,
    Succeeded,
    Failed,
    Cancelled,
}

impl QueryState {
    pub fn as_str(self) -> &'static str {
        match self {
            QueryState::Queued => "QUEUED",
            QueryState::Running => "RUNNING",
            QueryState::Succeeded => "SUCCEEDED",
            QueryState::Failed => "FAILED",
            QueryState::Cancelled => "CANCELLED",
        }
    }

    pub fn is_final(self) -> bool {
        matches!(self, QueryState::Succeeded | QueryState::Failed | QueryState::Cancelled)
    }
}

/// One query execution, as `GetQueryExecution` describes it. Persisted as JSON with a version.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct QueryExecution {
    #[serde(default)]
    pub v: u32,
    pub id: String,
    /// The account that ran it: only that account sees it. Absent in records written before
    /// accounts had histories of their own (see [`EngineConfig::legacy_account`]).
    #[serde(default)]
    pub account: Option<String>,
    pub query: String,
    pub statement_type: StatementType,
    pub state: QueryState,
    #[serde(default)]
    pub state_change_reason: Option<String>,
    /// 1 system, 2 user, 3 other: Athena's `AthenaError.ErrorCategory`.
    #[serde(default)]
    pub error_category: Option<u8>,
    /// Athena's `AthenaError.ErrorType` (see [`crate::failure`]).
    #[serde(default)]
    pub error_type: Option<u16>,
    /// Athena's `AthenaError.Retryable`.
    #[serde(default)]
    pub retryable: bool,
    pub database: Option<String>,
    pub catalog: Option<String>,
    pub workgroup: String,
    /// The result file: `s3://…/<id>.csv` (or `.txt` for DDL).
    pub output_location: String,
    pub submitted: f64,
    #[serde(default)]
    pub completed: Option<f64>,
    #[serde(default)]
    pub queue_ms: u64,
    #[serde(default)]
    pub engine_ms: u64,
    #[serde(default)]
    pub data_scanned: u64,
    #[serde(default)]
    pub manifest_location: Option<String>,
    #[serde(default)]
    pub columns: Vec<ColumnInfo>,
    /// Rows returned, or written by CTAS, INSERT and UNLOAD (Athena's `UpdateCount`).
    #[serde(default)]
    pub rows: u64,
    /// Athena's `SubstatementType`: `SELECT`, `CREATE_TABLE`, `SHOW_TABLES`, …
    #[serde(default)]
    pub substatement_type: Option<String>,
    #[serde(default)]
    pub execution_parameters: Vec<String>,
    #[serde(default)]
    pub planning_ms: u64,
    /// From submission to the query's task starting (Athena's `ServicePreProcessingTimeInMillis`).
    #[serde(default)]
    pub preprocessing_ms: u64,
    /// From the engine's end to the final state being recorded (`ServiceProcessingTimeInMillis`).
    #[serde(default)]
    pub service_ms: u64,
    /// From submission to the final state: preprocessing, queue, engine and service times
    /// together (`TotalExecutionTimeInMillis`). Zero until the query ends.
    #[serde(default)]
    pub total_ms: u64,
    /// The rest of Athena's `ResultConfiguration` (encryption, ACL, expected bucket owner), as
    /// the workgroup or the client set it.
    #[serde(default)]
    pub result_configuration: serde_json::Map<String, serde_json::Value>,
    /// Result reuse was asked for, with this maximum age in minutes.
    #[serde(default)]
    pub reuse_max_age_minutes: Option<u32>,
    /// The result is an earlier execution's, reused.
    #[serde(default)]
    pub reused: bool,
    /// Rows the query's scans produced (`InputRows` of its runtime statistics).
    #[serde(default)]
    pub input_rows: u64,
    /// The size of its result file (`OutputBytes`).
    #[serde(default)]
    pub output_bytes: u64,
}

/// What StartQueryExecution asks for.
#[derive(Debug, Clone, Default)]
pub struct StartQuery {
    /// Whose query it is: it runs over this account's Glue catalog, and only this account sees it.
    pub account: String,
    pub sql: String,
    pub database: Option<String>,
    pub catalog: Option<String>,
    pub workgroup: String,
    /// The directory results go to: `s3://bucket/prefix/`.
    pub output_dir: String,
    /// Athena's idempotency token: a retried start with the same token returns the same id.
    pub client_request_token: Option<String>,
    /// Values for the `?` placeholders, as SQL literals.
    pub execution_parameters: Vec<String>,
    /// Whose S3 permissions the query reads and writes with: every object it touches is checked
    /// against them, as S3 would check the caller's own request. None: the engine's own work
    /// (seeding a data directory, tests).
    pub acting_for: Option<Arc<dyn storage::Permissions>>,
    /// The rest of the execution's `ResultConfiguration` (see [`QueryExecution`]).
    pub result_configuration: serde_json::Map<String, serde_json::Value>,
    /// The workgroup's `BytesScannedCutoffPerQuery`: a query that reads more is cancelled.
    pub bytes_scanned_cutoff: Option<u64>,
    /// Result reuse: the newest result of the same statement, in the same workgroup, catalog
    /// and database, at most this many minutes old, answers the query.
    pub reuse_max_age_minutes: Option<u32>,
}

#[derive(Clone)]
pub struct Engine {
    inner: Arc<Inner>,
}

/// How many spilled runs one merge pass reads at most at once.
const SPILL_MERGE_FAN_IN: usize = 8;
/// What one spilled run being merged may hold: a batch of wide rows (8,192 rows of two 64-byte
/// strings, with their sort keys in row format) is about 2 MiB.
const MERGE_RUN_MEMORY: usize = 4 << 20;

/// How many runs a merge pass reads at once, so that every partition of a query can merge at
/// the same time within the query's memory: under a small limit (32 MiB over two cores), eight
/// runs a partition took all of it whenever both partitions merged at once, and the merge of
/// their sorted streams above them found nothing left.
fn spill_merge_fan_in(query_memory_limit: usize, threads: usize) -> usize {
    (query_memory_limit / (threads.max(1) * MERGE_RUN_MEMORY)).clamp(2, SPILL_MERGE_FAN_IN)
}

struct Inner {
    store: Store,
    catalogs: Catalogs,
    kv: Arc<dyn storage::Kv>,
    history: Arc<dyn KvTree>,
    registry: Registry,
    runtime: Mutex<Option<tokio::runtime::Runtime>>,
    handle: tokio::runtime::Handle,
    sessions: Arc<Sessions>,
    config: EngineConfig,
    permits: Arc<tokio::sync::Semaphore>,
    /// Queries not yet final.
    live: Mutex<HashMap<String, Live>>,
    /// Final queries whose record could not be written (a full disk): answered from memory, so
    /// that they do not read as running forever. A restart marks them failed.
    unrecorded: Mutex<HashMap<String, QueryExecution>>,
    /// Query tasks alive (queued, running, or still unwinding after a stop).
    tasks: Arc<AtomicUsize>,
    /// Queries that reached each final state since start: succeeded, failed, cancelled.
    finished: [AtomicU64; 3],
}

/// How many queries are in each state: those waiting or running now, and those that ended since
/// the engine started.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct QueryCounts {
    pub queued: u64,
    pub running: u64,
    pub succeeded: u64,
    pub failed: u64,
    pub cancelled: u64,
}

/// Counts a query task from its spawn until its future is dropped, however it ends.
struct TaskGuard(Arc<AtomicUsize>);

impl TaskGuard {
    fn new(count: &Arc<AtomicUsize>) -> Self {
        count.fetch_add(1, Ordering::SeqCst);
        TaskGuard(count.clone())
    }
}

impl Drop for TaskGuard {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        // A runtime may not be dropped from inside another; let its threads wind down on their own.
        if let Some(rt) = self.runtime.lock().unwrap_or_else(|p| p.into_inner()).take() {
            rt.shutdown_background();
        }
    }
}

/// A query that has not reached a final state, with what stops it.
struct Live {
    q: QueryExecution,
    /// Fails the query's operators at their next batch.
    cancel: CancelToken,
    /// Drops the query's task (and with it every stream and buffer it holds) when it next yields.
    abort: Option<tokio::task::AbortHandle>,
    /// When it was submitted.
    since: Instant,
}

fn millis(d: Duration) -> u64 {
    d.as_millis().min(u64::MAX as u128) as u64
}

/// The times of an execution: submitted, its task started, it got a permit, the engine ended.
struct Times {
    submitted: Instant,
    started: Instant,
    admitted: Instant,
    ended: Instant,
}

impl Times {
    /// Fills the record's times so that they add up to the total, as Athena's do.
    fn record(&self, q: &mut QueryExecution) {
        q.preprocessing_ms = millis(self.started - self.submitted);
        q.queue_ms = millis(self.admitted - self.started);
        q.engine_ms = millis(self.ended - self.admitted);
        q.total_ms = millis(self.submitted.elapsed()).max(q.preprocessing_ms + q.queue_ms + q.engine_ms);
        q.service_ms = q.total_ms - q.preprocessing_ms - q.queue_ms - q.engine_ms;
    }
}

fn now() -> f64 {
    chrono::Utc::now().timestamp_millis() as f64 / 1000.0
}

impl Engine {
    /// Starts the engine's runtime. Queries that were running when the process stopped are
    /// marked FAILED: their results were never acknowledged.
    pub fn new(store: Store, catalogs: Catalogs, kv: Arc<dyn storage::Kv>, config: EngineConfig) -> Result<Self> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(config.threads.max(1))
            .thread_name("minerva-query")
            .enable_all()
            .build()
            .map_err(|e| Error::Internal(format!("starting the query runtime: {e}")))?;
        // DataFusion's caches are keyed by object path alone, not bucket. The listing cache never
        // expires, so it would miss files added since: it is off. Cached statistics and Parquet
        // footers are used only while the object's size and last-modified time (to the
        // nanosecond, as the lake records it) still match, which a rewritten object or one of
        // the same path in another bucket does not: those caches are on, small, and spare every
        // query re-reading the footers of every file it plans and reads.
        let caches = CacheManagerConfig::default()
            .with_list_files_cache_limit(0)
            .with_file_statistics_cache_limit(8 << 20)
            .with_metadata_cache_limit(32 << 20);
        // Shared by every query: object stores, the disk manager (spill files) and caches. Each
        // query gets its own memory pool and a registry that counts what it reads.
        let mut builder = RuntimeEnvBuilder::new().with_object_store_registry(Arc::new(LakeRegistry::new(store.clone()))).with_cache_manager(caches);
        // A merge of spilled runs reads this many at a time (more passes over more runs):
        // unbounded, it took as many as the query's memory could seat, and the operator above it
        // (the merge of the partitions' sorted streams) found nothing left.
        let fan_in = spill_merge_fan_in(config.query_memory_limit, config.threads);
        let mut disks = datafusion::execution::disk_manager::DiskManagerBuilder::default().with_max_spill_merge_fan_in(fan_in);
        if let Some(dir) = &config.spill_dir {
            // Spill files of a process that was killed are never read again: start empty.
            if dir.exists() {
                std::fs::remove_dir_all(dir).map_err(|e| Error::Internal(format!("emptying the spill directory {}: {e}", dir.display())))?;
            }
            std::fs::create_dir_all(dir).map_err(|e| Error::Internal(format!("creating the spill directory {}: {e}", dir.display())))?;
            disks = disks.with_mode(datafusion::execution::disk_manager::DiskManagerMode::Directories(vec![dir.clone()]));
        }
        builder = builder.with_disk_manager_builder(disks);
        let sessions = Arc::new(Sessions {
            store: store.clone(),
            shared: builder.build_arc()?,
            spill_space: config.spill_dir.as_deref().map(storage::Space::new),
            budget: Arc::new(Budget::new(config.memory_limit)),
            query_memory_limit: config.query_memory_limit,
            threads: config.threads,
        });
        let history = kv.tree("queries")?;
        for entry in history.scan_prefix(b"q/") {
            let (k, v) = entry?;
            if let Ok(mut q) = serde_json::from_slice::<QueryExecution>(&v)
                && !q.state.is_final()
            {
                q.state = QueryState::Failed;
                q.state_change_reason = Some("GENERIC_INTERNAL_ERROR: the server stopped while the query ran".into());
                (q.error_category, q.error_type, q.retryable) = (Some(1), Some(200), true);
                q.completed = Some(now());
                history.put(&k, &serde_json::to_vec(&q).unwrap_or_default())?;
            }
        }
        let handle = runtime.handle().clone();
        let registry = Registry::open(kv.clone())?;
        Ok(Engine {
            inner: Arc::new(Inner {
                store,
                catalogs,
                kv,
                history,
                registry,
                runtime: Mutex::new(Some(runtime)),
                handle,
                sessions,
                permits: Arc::new(tokio::sync::Semaphore::new(config.max_concurrent.max(1))),
                config,
                live: Mutex::new(HashMap::new()),
                finished: Default::default(),
                unrecorded: Mutex::new(HashMap::new()),
                tasks: Arc::new(AtomicUsize::new(0)),
            }),
        })
    }

    /// Athena's resources: workgroups, named queries, prepared statements, data catalogs.
    pub fn registry(&self) -> &Registry {
        &self.inner.registry
    }

    fn save(&self, q: &QueryExecution) -> Result<()> {
        self.inner.history.put(format!("q/{}", q.id).as_bytes(), &serde_json::to_vec(q).unwrap_or_default())?;
        Ok(())
    }

    /// Submits a query; it runs in the background. Returns its id.
    pub async fn start(&self, request: StartQuery) -> Result<String> {
        if request.sql.trim().is_empty() {
            return Err(Error::InvalidInput("QueryString must not be empty".into()));
        }
        // The account's catalog must open (a well-formed account id) before anything is recorded.
        self.inner.catalogs.account(&request.account)?;
        // A statement that cannot even be classified still becomes an execution that FAILED, as
        // on Athena, so the client learns why from GetQueryExecution; one Athena turns away
        // outright (MALFORMED_QUERY) does not.
        let planned = self.plan(&request);
        if let Err(e @ Error::Malformed(_)) = planned {
            // A retry of a request that was recorded still finds its execution.
            if let Some(token) = &request.client_request_token
                && let Some(existing) = self.inner.history.get(format!("t/{}/{token}", request.account).as_bytes())?
            {
                return Ok(String::from_utf8_lossy(&existing).into_owned());
            }
            return Err(e);
        }
        let id = uuid::Uuid::new_v4().to_string();
        if let Some(token) = &request.client_request_token {
            // Recorded in the history tree, so a retry after a restart still finds its query.
            let key = format!("t/{}/{token}", request.account);
            if !self.inner.history.compare_and_swap(key.as_bytes(), None, Some(id.as_bytes()))? {
                let existing = self.inner.history.get(key.as_bytes())?.unwrap_or_default();
                return Ok(String::from_utf8_lossy(&existing).into_owned());
            }
        }
        if self.reuse(&request, &id).await? {
            return Ok(id);
        }
        let statement_type = planned.as_ref().map(|p| p.statement_type()).unwrap_or(StatementType::Dml);
        let substatement_type = planned.as_ref().map(|p| p.substatement_type().to_string()).ok();
        // Rows of a SELECT go to a CSV file; what other statements print, to a text file.
        let extension = if statement_type == StatementType::Dml { "csv" } else { "txt" };
        let output_dir = if request.output_dir.ends_with('/') { request.output_dir.clone() } else { format!("{}/", request.output_dir) };
        let q = QueryExecution {
            v: RECORD_VERSION,
            id: id.clone(),
            account: Some(request.account.clone()),
            query: request.sql.clone(),
            statement_type,
            state: QueryState::Queued,
            state_change_reason: None,
            error_category: None,
            error_type: None,
            retryable: false,
            database: request.database.clone(),
            catalog: request.catalog.clone(),
            workgroup: request.workgroup.clone(),
            output_location: format!("{output_dir}{id}.{extension}"),
            submitted: now(),
            completed: None,
            queue_ms: 0,
            engine_ms: 0,
            data_scanned: 0,
            manifest_location: None,
            columns: Vec::new(),
            rows: 0,
            substatement_type,
            execution_parameters: request.execution_parameters.clone(),
            planning_ms: 0,
            preprocessing_ms: 0,
            service_ms: 0,
            total_ms: 0,
            result_configuration: request.result_configuration.clone(),
            reuse_max_age_minutes: request.reuse_max_age_minutes,
            reused: false,
            input_rows: 0,
            output_bytes: 0,
        };
        self.save(&q)?;
        // Once its id is returned, the execution exists, crash or not.
        self.inner.kv.flush().await?;
        let cancel = CancelToken::default();
        let submitted = Instant::now();
        self.inner
            .live
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(id.clone(), Live { q, cancel: cancel.clone(), abort: None, since: submitted });
        let engine = self.clone();
        let task_id = id.clone();
        let guard = TaskGuard::new(&self.inner.tasks);
        let task = self.inner.handle.spawn(async move {
            let _guard = guard;
            let started = Instant::now();
            let _permit = engine.inner.permits.clone().acquire_owned().await;
            let admitted = Instant::now();
            engine.update(&task_id, |q| {
                q.state = QueryState::Running;
                q.preprocessing_ms = millis(started - submitted);
                q.queue_ms = millis(admitted - started);
            });
            let span = tracing::info_span!("query", id = %task_id);
            let request_kind = match &planned {
                Ok(plan) => plan.substatement_type(),
                Err(_) => "UNKNOWN",
            };
            tracing::info!(id = %task_id, statement = request_kind, queued_ms = millis(admitted - started), "query running");
            let outcome = {
                let _enter = span.enter();
                match planned {
                    // A panic in the query's own code fails the query (its record would otherwise
                    // say RUNNING for ever); the server goes on.
                    Ok(plan) => match futures::FutureExt::catch_unwind(std::panic::AssertUnwindSafe(engine.run(
                        &task_id,
                        plan,
                        &request,
                        &output_dir,
                        cancel,
                    )))
                    .await
                    {
                        Ok(outcome) => outcome,
                        Err(panic) => {
                            let what = panic.downcast_ref::<&str>().map(|s| s.to_string()).or_else(|| panic.downcast_ref::<String>().cloned());
                            tracing::error!(id = %task_id, panic = ?what, "a query panicked");
                            Err(Error::Internal(format!("the query failed unexpectedly: {}", what.unwrap_or_default())))
                        }
                    },
                    Err(e) => Err(e),
                }
            };
            engine.finish(&task_id, outcome, Times { submitted, started, admitted, ended: Instant::now() }).await;
        });
        if let Some(entry) = self.inner.live.lock().unwrap_or_else(|p| p.into_inner()).get_mut(&id) {
            entry.abort = Some(task.abort_handle());
        }
        Ok(id)
    }

    /// The statement a request runs: EXECUTE runs the statement its workgroup prepared under
    /// that name, with the values of `USING` or the request's execution parameters.
    fn plan(&self, request: &StartQuery) -> Result<Plan> {
        match sql::prepared(&request.sql)? {
            None => sql::plan_with(&request.sql, &request.execution_parameters),
            Some(Prepared::Execute { name, using }) => {
                let statement = self.inner.registry.prepared_statement(&request.account, &request.workgroup, &name)?;
                let parameters = match (using.is_empty(), request.execution_parameters.is_empty()) {
                    (true, _) => &request.execution_parameters,
                    (false, true) => &using,
                    (false, false) => {
                        return Err(Error::Syntax("line 1:1: EXECUTE takes its values from USING or from the execution parameters, not both".into()));
                    }
                };
                sql::plan_with(&statement.query_statement, parameters)
            }
            Some(Prepared::Prepare { name, statement }) => {
                check_prepared(&statement)?;
                Ok(Plan::Prepared(Prepared::Prepare { name, statement }))
            }
            Some(deallocate) => Ok(Plan::Prepared(deallocate)),
        }
    }

    /// Answers a request from an earlier result if it asks for reuse and one is young enough:
    /// the newest succeeded query of the same text, workgroup, catalog and database. The new
    /// execution succeeds at once, pointing at the earlier result file.
    async fn reuse(&self, request: &StartQuery, id: &str) -> Result<bool> {
        let Some(minutes) = request.reuse_max_age_minutes else { return Ok(false) };
        // EXECUTE's text does not say what it runs (its statement may have changed since).
        if matches!(sql::prepared(&request.sql), Ok(Some(_)) | Err(_)) {
            return Ok(false);
        }
        let oldest = now() - f64::from(minutes) * 60.0;
        let catalog = |c: &Option<String>| c.as_deref().unwrap_or("awsdatacatalog").to_lowercase();
        let mut newest: Option<QueryExecution> = None;
        for entry in self.inner.history.scan_prefix(b"q/") {
            let (_, v) = entry?;
            let Ok(q) = serde_json::from_slice::<QueryExecution>(&v) else { continue };
            let fits = q.state == QueryState::Succeeded
                && self.owner(&q) == request.account
                && q.query == request.sql
                && q.workgroup == request.workgroup
                && catalog(&q.catalog) == catalog(&request.catalog)
                && q.database == request.database
                && q.execution_parameters == request.execution_parameters
                && q.substatement_type.as_deref() == Some("SELECT")
                && q.completed.is_some_and(|c| c >= oldest);
            if fits && newest.as_ref().is_none_or(|n| n.completed < q.completed) {
                newest = Some(q);
            }
        }
        let Some(earlier) = newest else { return Ok(false) };
        let at = now();
        let q = QueryExecution {
            id: id.to_string(),
            account: Some(request.account.clone()),
            submitted: at,
            completed: Some(at),
            queue_ms: 0,
            engine_ms: 0,
            data_scanned: 0,
            planning_ms: 0,
            preprocessing_ms: 0,
            service_ms: 0,
            total_ms: 0,
            input_rows: 0,
            reuse_max_age_minutes: Some(minutes),
            reused: true,
            ..earlier
        };
        self.save(&q)?;
        self.inner.kv.flush().await?;
        self.inner.finished[0].fetch_add(1, Ordering::Relaxed);
        Ok(true)
    }

    fn update(&self, id: &str, f: impl FnOnce(&mut QueryExecution)) {
        let mut live = self.inner.live.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(entry) = live.get_mut(id) {
            f(&mut entry.q);
            let _ = self.save(&entry.q);
        }
    }

    async fn finish(&self, id: &str, outcome: Result<Outcome>, times: Times) {
        let finished = {
            let mut live = self.inner.live.lock().unwrap_or_else(|p| p.into_inner());
            // Absent means it was cancelled meanwhile: the cancellation already recorded it.
            live.remove(id).map(|Live { mut q, .. }| {
                q.completed = Some(now());
                match outcome {
                    Ok(o) => {
                        q.state = QueryState::Succeeded;
                        q.columns = o.columns;
                        q.rows = o.rows;
                        q.manifest_location = o.manifest;
                        q.data_scanned = o.scanned;
                        q.input_rows = o.input_rows;
                        q.output_bytes = o.output_bytes;
                        q.planning_ms = o.planning_ms;
                    }
                    Err(Error::ScanLimitExceeded) => {
                        tracing::info!(id, "query cancelled: it read more than its workgroup allows");
                        q.state = QueryState::Cancelled;
                        q.state_change_reason = Some(Error::ScanLimitExceeded.to_string());
                    }
                    Err(e) => {
                        let failure = crate::failure::failure(&e);
                        if failure.category == 1 {
                            tracing::error!(id, reason = %failure.reason, error = ?e, "query failed");
                        } else {
                            tracing::info!(id, reason = %failure.reason, "query failed");
                        }
                        q.state = QueryState::Failed;
                        q.error_category = Some(failure.category);
                        q.error_type = Some(failure.error_type);
                        q.retryable = failure.retryable;
                        q.state_change_reason = Some(failure.reason);
                    }
                }
                times.record(&mut q);
                if q.state == QueryState::Succeeded {
                    tracing::info!(id, ms = q.total_ms, rows = q.rows, "query succeeded");
                }
                q
            })
        };
        if let Some(q) = finished {
            self.save_final(q).await;
        }
    }

    /// Records a query's final state; if the record cannot be written, keeps it in memory.
    async fn save_final(&self, q: QueryExecution) {
        let slot = match q.state {
            QueryState::Succeeded => Some(0),
            QueryState::Failed => Some(1),
            QueryState::Cancelled => Some(2),
            QueryState::Queued | QueryState::Running => None,
        };
        if let Some(i) = slot {
            self.inner.finished[i].fetch_add(1, Ordering::Relaxed);
        }
        let saved = match self.save(&q) {
            Ok(()) => self.inner.kv.flush().await.map_err(Error::from),
            Err(e) => Err(e),
        };
        if let Err(e) = saved {
            tracing::error!(id = %q.id, error = %e, "could not record a finished query; keeping it in memory");
            self.inner.unrecorded.lock().unwrap_or_else(|p| p.into_inner()).insert(q.id.clone(), q);
        }
    }

    /// Query tasks still alive: queued, running, or not yet unwound after a stop.
    pub fn tasks_alive(&self) -> usize {
        self.inner.tasks.load(Ordering::SeqCst)
    }

    /// Queries by state: waiting and running now, ended since start.
    pub fn query_counts(&self) -> QueryCounts {
        let live = self.inner.live.lock().unwrap_or_else(|p| p.into_inner());
        let running = live.values().filter(|l| l.q.state == QueryState::Running).count() as u64;
        let [succeeded, failed, cancelled] = [0, 1, 2].map(|i| self.inner.finished[i].load(Ordering::Relaxed));
        QueryCounts { queued: live.len() as u64 - running, running, succeeded, failed, cancelled }
    }

    /// Bytes the running queries hold in the memory pool.
    pub fn memory_reserved(&self) -> usize {
        self.inner.sessions.budget.used()
    }

    pub fn get(&self, id: &str, account: &str) -> Result<QueryExecution> {
        let found = self.find(id)?;
        match found {
            Some(q) if self.owner(&q) == account => Ok(q),
            // Another account's query is as unknown to the caller as one that never ran.
            _ => Err(Error::NotFound(format!("QueryExecution {id} was not found"))),
        }
    }

    /// The account a record belongs to.
    fn owner<'a>(&'a self, q: &'a QueryExecution) -> &'a str {
        q.account.as_deref().unwrap_or(&self.inner.config.legacy_account)
    }

    fn find(&self, id: &str) -> Result<Option<QueryExecution>> {
        if let Some(entry) = self.inner.live.lock().unwrap_or_else(|p| p.into_inner()).get(id) {
            return Ok(Some(entry.q.clone()));
        }
        if let Some(q) = self.inner.unrecorded.lock().unwrap_or_else(|p| p.into_inner()).get(id) {
            return Ok(Some(q.clone()));
        }
        match self.inner.history.get(format!("q/{id}").as_bytes())? {
            Some(v) => serde_json::from_slice(&v).map(Some).map_err(|e| Error::Internal(format!("query record {id}: {e}"))),
            None => Ok(None),
        }
    }

    /// The account's queries in a workgroup, newest first.
    pub fn list(&self, workgroup: &str, account: &str) -> Result<Vec<String>> {
        let mut all = Vec::new();
        for entry in self.inner.history.scan_prefix(b"q/") {
            let (_, v) = entry?;
            if let Ok(q) = serde_json::from_slice::<QueryExecution>(&v)
                && q.workgroup == workgroup
                && self.owner(&q) == account
            {
                all.push((q.submitted, q.id));
            }
        }
        all.sort_by(|a, b| b.0.total_cmp(&a.0));
        Ok(all.into_iter().map(|(_, id)| id).collect())
    }

    /// Forgets an account's queries in a workgroup (a workgroup deleted with its contents):
    /// running ones are stopped first. Their result files stay, as Athena leaves them in S3.
    /// Returns how many records went.
    pub async fn forget_workgroup(&self, workgroup: &str, account: &str) -> Result<usize> {
        let live: Vec<String> = {
            let live = self.inner.live.lock().unwrap_or_else(|p| p.into_inner());
            live.values().filter(|l| l.q.workgroup == workgroup && self.owner(&l.q) == account).map(|l| l.q.id.clone()).collect()
        };
        for id in live {
            self.stop(&id, account).await?;
        }
        self.inner.unrecorded.lock().unwrap_or_else(|p| p.into_inner()).retain(|_, q| !(q.workgroup == workgroup && self.owner(q) == account));
        let ops: Vec<storage::KvOp> =
            self.list(workgroup, account)?.into_iter().map(|id| storage::KvOp::Delete(format!("q/{id}").into_bytes())).collect();
        let n = ops.len();
        self.inner.history.apply(ops)?;
        self.inner.kv.flush().await?;
        Ok(n)
    }

    /// Forgets every query of every account: running ones are stopped first. Returns how many
    /// records went.
    pub async fn forget_all(&self) -> Result<usize> {
        let live: Vec<(String, String)> = {
            let live = self.inner.live.lock().unwrap_or_else(|p| p.into_inner());
            live.values().map(|l| (l.q.id.clone(), self.owner(&l.q).to_string())).collect()
        };
        for (id, account) in live {
            self.stop(&id, &account).await?;
        }
        self.inner.unrecorded.lock().unwrap_or_else(|p| p.into_inner()).clear();
        let ops: Vec<storage::KvOp> =
            self.inner.history.scan_prefix(b"q/").map(|e| e.map(|(k, _)| storage::KvOp::Delete(k))).collect::<std::result::Result<_, _>>()?;
        let n = ops.len();
        self.inner.history.apply(ops)?;
        self.inner.kv.flush().await?;
        Ok(n)
    }

    /// Cancels one of the account's queries. Stopping a finished query changes nothing, as on
    /// Athena.
    pub async fn stop(&self, id: &str, account: &str) -> Result<()> {
        // Another account's query is not found, and so not stopped.
        self.get(id, account)?;
        let cancelled = {
            let mut live = self.inner.live.lock().unwrap_or_else(|p| p.into_inner());
            live.remove(id).map(|Live { mut q, cancel, abort, since }| {
                cancel.cancel();
                if let Some(h) = abort {
                    h.abort();
                }
                // A query stopped in the queue spent the rest of its time there; a running one,
                // in the engine.
                q.total_ms = millis(since.elapsed()).max(q.preprocessing_ms + q.queue_ms);
                let rest = q.total_ms - q.preprocessing_ms - q.queue_ms;
                if q.state == QueryState::Running {
                    q.engine_ms = rest;
                } else {
                    q.queue_ms += rest;
                }
                q.state = QueryState::Cancelled;
                q.state_change_reason = Some("Query was cancelled by the user".into());
                q.completed = Some(now());
                q
            })
        };
        match cancelled {
            Some(q) => {
                self.save_final(q).await;
                Ok(())
            }
            None => Ok(()),
        }
    }

    /// A page of one of the account's finished queries' results, read back from its result file.
    pub async fn results(&self, id: &str, account: &str, token: Option<&str>, max_rows: usize) -> Result<ResultPage> {
        let q = self.get(id, account)?;
        match q.state {
            QueryState::Succeeded => {}
            QueryState::Queued | QueryState::Running => {
                return Err(Error::InvalidInput(format!("Query has not yet finished. Current state: {}", q.state.as_str())));
            }
            s => {
                return Err(Error::InvalidInput(format!(
                    "Query did not finish successfully. Final query state: {}\n{}",
                    s.as_str(),
                    q.state_change_reason.unwrap_or_default()
                )));
            }
        }
        let counted = matches!(
            q.substatement_type.as_deref(),
            Some("CREATE_TABLE_AS_SELECT" | "INSERT" | "UNLOAD" | "DELETE" | "UPDATE" | "MERGE" | "OPTIMIZE" | "VACUUM")
        );
        let update_count = if counted { q.rows } else { 0 };
        if q.statement_type != StatementType::Dml || q.output_location.ends_with(".txt") || update_count > 0 || counted {
            let mut page = results::text_page(&self.inner.store, &q.output_location, q.columns, token, max_rows).await?;
            page.update_count = update_count;
            return Ok(page);
        }
        results::csv_page(&self.inner.store, &q.output_location, q.columns, token, max_rows).await
    }

    async fn run(&self, id: &str, plan: Plan, request: &StartQuery, output_dir: &str, cancel: CancelToken) -> Result<Outcome> {
        if let Plan::Prepared(p) = plan {
            return self.prepared(id, p, request, output_dir).await;
        }
        let scanned = Arc::new(Scanned::with_cutoff(request.bytes_scanned_cutoff));
        let catalog = self.inner.catalogs.account(&request.account)?;
        let acting = Acting(request.acting_for.clone());
        let session = self.inner.sessions.session(SessionFor {
            catalog: &catalog,
            acting: acting.clone(),
            database: request.database.as_deref(),
            cancel: Some(cancel.clone()),
            scanned: scanned.clone(),
            aliases: self.inner.registry.glue_aliases(&request.account)?,
        })?;
        let timeout = self.inner.config.timeout;
        let runtime = Arc::downgrade(&session.runtime_env());
        let cx = Context {
            id: id.to_string(),
            store: self.inner.store.clone(),
            catalog,
            database: request.database.clone(),
            acting,
            session,
            output_dir: output_dir.to_string(),
        };
        let executed = tokio::time::timeout(timeout, execute(&cx, plan)).await;
        drop(cx);
        released(id, runtime).await;
        // However it ended, a query that read more than it may was stopped for it.
        if scanned.over_cutoff() {
            return Err(Error::ScanLimitExceeded);
        }
        match executed {
            Ok(Ok(mut o)) => {
                o.scanned = scanned.bytes();
                o.input_rows = scanned.rows();
                Ok(o)
            }
            // A file sink says only that a write failed; the write itself said why.
            Ok(Err(Error::DataFusion(e))) if matches!(e.find_root(), DataFusionError::Internal(_)) => Err(match scanned.failed_write() {
                Some(w) if w.no_space => Error::Storage(storage::Error::NoSpace(std::io::Error::new(std::io::ErrorKind::StorageFull, w.message))),
                Some(w) => Error::Internal(format!("writing the query's files failed: {}", w.message)),
                None => Error::DataFusion(e),
            }),
            Ok(Err(e)) => Err(e),
            Err(_) => {
                cancel.cancel();
                Err(Error::Timeout(format!("Query exceeded the maximum execution time of {}", humantime(timeout))))
            }
        }
    }
}

impl Engine {
    /// PREPARE and DEALLOCATE PREPARE: the workgroup's prepared statements change, and the
    /// (empty) text result is written.
    async fn prepared(&self, id: &str, statement: Prepared, request: &StartQuery, output_dir: &str) -> Result<Outcome> {
        let S3Location { bucket, key } = location::parse(output_dir)?;
        Acting(request.acting_for.clone()).check(storage::Action::PutObject, &bucket, Some(&format!("{key}{id}.txt")))?;
        let registry = &self.inner.registry;
        match statement {
            Prepared::Prepare { name, statement } => {
                let prepared = crate::registry::PreparedStatement {
                    v: 0,
                    name,
                    workgroup: request.workgroup.clone(),
                    query_statement: statement,
                    description: None,
                    last_modified: 0.0,
                };
                registry.put_prepared_statement(&request.account, prepared, true, false).await?;
            }
            Prepared::Deallocate { name } => registry.delete_prepared_statement(&request.account, &request.workgroup, &name).await?,
            Prepared::Execute { .. } => return Err(Error::Internal("EXECUTE is planned as the statement it runs".into())),
        }
        results::put_text(&self.inner.store, output_dir, &format!("{id}.txt"), &[]).await?;
        Ok(Outcome::default())
    }
}

/// Checks that a statement to prepare is one Athena can run: classified as it would be run,
/// each `?` a NULL.
pub fn check_prepared(statement: &str) -> Result<()> {
    if sql::prepared(statement)?.is_some() {
        return Err(Error::Syntax("line 1:1: a prepared statement cannot PREPARE, EXECUTE or DEALLOCATE".into()));
    }
    sql::plan_with(statement, &vec!["NULL".to_string(); sql::placeholders(statement)?]).map(drop)
}

/// Runs a statement and writes its result file: a query's rows, or what a statement prints.
async fn execute(cx: &Context, plan: Plan) -> Result<Outcome> {
    // The files every statement leaves in the output location are the caller's writes: a
    // location they may not write fails the query before it runs.
    let S3Location { bucket: results_bucket, key: results_prefix } = location::parse(&cx.output_dir)?;
    let extension = if matches!(plan, Plan::Query(_) | Plan::Write(Write::Unload(_))) { "csv" } else { "txt" };
    cx.acting.check(storage::Action::PutObject, &results_bucket, Some(&format!("{results_prefix}{}.{extension}", cx.id)))?;
    if matches!(plan, Plan::Write(_)) {
        cx.acting.check(storage::Action::PutObject, &results_bucket, Some(&format!("{results_prefix}tables/{}-manifest.csv", cx.id)))?;
    }
    let outcome = match plan {
        Plan::Query(q) => {
            let planning = Instant::now();
            let df = cx.dataframe(&q.sql).await?;
            let planning_ms = planning.elapsed().as_millis() as u64;
            let (columns, rows, output_bytes) = results::write_csv(&cx.store, &cx.id, df, &cx.output_dir).await?;
            return Ok(Outcome { columns, rows, planning_ms, output_bytes, ..Default::default() });
        }
        Plan::Write(Write::Unload(u)) => {
            // UNLOAD is DML: its result file is the (empty) CSV.
            let o = write::run(cx, Write::Unload(u)).await?;
            results::put_text(&cx.store, &cx.output_dir, &format!("{}.csv", cx.id), &[]).await?;
            return Ok(o);
        }
        Plan::Write(w) => write::run(cx, w).await?,
        Plan::Explain(e) => statements::explain(cx, e).await?,
        Plan::Ddl(d) => statements::run(cx, d).await?,
        Plan::Unsupported(u) => {
            if let Some(name) = &u.target {
                cx.table(name)?;
            }
            return Err(Error::InvalidInput(u.reason));
        }
        Plan::Prepared(_) => return Err(Error::Internal("prepared statements are the engine's to run".into())),
    };
    results::put_text(&cx.store, &cx.output_dir, &format!("{}.txt", cx.id), &outcome.lines).await?;
    Ok(outcome)
}

impl std::fmt::Debug for Inner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine").finish_non_exhaustive()
    }
}

fn humantime(d: Duration) -> String {
    let secs = d.as_secs_f64();
    if secs >= 60.0 { format!("{:.2}m", secs / 60.0) } else { format!("{secs:.2}s") }
}

/// Waits until nothing of a finished query holds its runtime, so that its final state is recorded
/// only once its memory is returned and its spill files are deleted. DataFusion's spawned tasks
/// (repartitions, sort merges) are aborted when the query's stream drops, but end only when the
/// runtime next polls them, and until then they hold both. Bounded: a reference kept elsewhere
/// is logged, not waited on forever.
async fn released(id: &str, runtime: std::sync::Weak<RuntimeEnv>) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while runtime.strong_count() > 0 {
        if Instant::now() > deadline {
            tracing::warn!(id, "a finished query's operators still hold its runtime after 10 s");
            return;
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}
