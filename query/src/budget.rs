//! What one query may use and what it used: a memory pool per query that also draws on the
//! budget of all queries together, and object stores that count the bytes a query reads (its
//! `DataScannedInBytes`): each byte of each object once, however often it is read.

use std::collections::HashMap;
use std::fmt;
use std::ops::Range;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use async_trait::async_trait;
use bytes::Bytes;
use datafusion::common::{DataFusionError, Result as DfResult};
use datafusion::execution::memory_pool::{MemoryConsumer, MemoryLimit, MemoryPool, MemoryReservation};
use datafusion::execution::object_store::ObjectStoreRegistry;
use futures::StreamExt;
use futures::stream::BoxStream;
use object_store::path::Path;
use object_store::{
    CopyOptions, GetOptions, GetResult, GetResultPayload, ListResult, MultipartUpload, ObjectMeta, ObjectStore, PutMultipartOptions, PutOptions,
    PutPayload, PutResult,
};
use url::Url;

/// The memory all running queries hold together, and its limit.
#[derive(Debug)]
pub struct Budget {
    used: AtomicUsize,
    limit: usize,
}

impl Budget {
    pub fn new(limit: usize) -> Self {
        Budget { used: AtomicUsize::new(0), limit }
    }

    pub fn used(&self) -> usize {
        self.used.load(Ordering::SeqCst)
    }
}

/// One query's memory: at most `limit`, and never more than the budget of all queries has
/// left. Operators that can spill (sorts, aggregates) share half the limit equally and spill
/// when their share is full (one that holds nothing may take a batch past it); the other half
/// is kept for operators that cannot spill (merges of spilled runs, hash join build sides),
/// which would otherwise find nothing left and fail a query that spilling could have finished.
#[derive(Debug)]
pub struct QueryPool {
    state: std::sync::Mutex<PoolState>,
    budget: Arc<Budget>,
    limit: usize,
}

#[derive(Debug, Default)]
struct PoolState {
    used: usize,
    spillers: usize,
}

impl QueryPool {
    pub fn new(limit: usize, budget: Arc<Budget>) -> Self {
        QueryPool { state: std::sync::Mutex::new(PoolState::default()), budget, limit }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, PoolState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn spill_share(&self, spillers: usize) -> usize {
        self.limit / 2 / spillers.max(1)
    }
}

impl fmt::Display for QueryPool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "QueryPool(limit {}, {} reserved)", human(self.limit), human(self.state().used))
    }
}

fn human(bytes: usize) -> String {
    if bytes >= 1 << 30 { format!("{:.1}GB", bytes as f64 / (1u64 << 30) as f64) } else { format!("{:.1}MB", bytes as f64 / (1u64 << 20) as f64) }
}

impl MemoryPool for QueryPool {
    fn name(&self) -> &str {
        "minerva_query_pool"
    }

    fn register(&self, consumer: &MemoryConsumer) {
        if consumer.can_spill() {
            self.state().spillers += 1;
        }
    }

    fn unregister(&self, consumer: &MemoryConsumer) {
        if consumer.can_spill() {
            let mut state = self.state();
            state.spillers = state.spillers.saturating_sub(1);
        }
    }

    fn grow(&self, _reservation: &MemoryReservation, additional: usize) {
        self.state().used += additional;
        self.budget.used.fetch_add(additional, Ordering::SeqCst);
    }

    fn shrink(&self, _reservation: &MemoryReservation, shrink: usize) {
        let mut state = self.state();
        state.used = state.used.saturating_sub(shrink);
        self.budget.used.fetch_sub(shrink, Ordering::SeqCst);
    }

    fn try_grow(&self, reservation: &MemoryReservation, additional: usize) -> DfResult<()> {
        let mut state = self.state();
        let consumer = reservation.consumer();
        // A spilling operator that holds nothing has nothing to spill: it may take what one
        // batch needs even past its share (the query's limit still holds), and spill after.
        if consumer.can_spill() && reservation.size() > 0 {
            let share = self.spill_share(state.spillers);
            if reservation.size() + additional > share {
                // Spilling operators catch this and spill.
                return Err(DataFusionError::ResourcesExhausted(format!(
                    "Query exceeded the per-query memory limit of {}: {} may hold {} and holds {}, {} more were asked for",
                    human(self.limit),
                    consumer.name(),
                    human(share),
                    human(reservation.size()),
                    human(additional)
                )));
            }
        }
        if state.used + additional > self.limit {
            return Err(DataFusionError::ResourcesExhausted(format!(
                "Query exceeded the per-query memory limit of {}: {} asked for {} more with {} in use",
                human(self.limit),
                consumer.name(),
                human(additional),
                human(state.used)
            )));
        }
        let before = self.budget.used.fetch_add(additional, Ordering::SeqCst);
        if before + additional > self.budget.limit {
            self.budget.used.fetch_sub(additional, Ordering::SeqCst);
            return Err(DataFusionError::ResourcesExhausted(format!(
                "Query exceeded the memory limit of all queries ({}): running queries hold {}, {} more were needed for {}",
                human(self.budget.limit),
                human(before),
                human(additional),
                consumer.name()
            )));
        }
        state.used += additional;
        Ok(())
    }

    fn reserved(&self) -> usize {
        self.state().used
    }

    fn memory_limit(&self) -> MemoryLimit {
        MemoryLimit::Finite(self.limit)
    }
}

/// The bytes of objects a query read. A byte read twice (a Parquet footer is read to plan the
/// scan and again by it; ranges of a split file meet at their edges) counts once, so a full scan
/// reads as the size of its files.
///
/// It also keeps the first write of the query that failed: DataFusion's file sinks report a
/// failed write as "Error encountered while finalizing writes!", without the cause.
///
/// And the rows the query's scans produced (its `InputRows`), and the bytes it may scan at most
/// (its workgroup's `BytesScannedCutoffPerQuery`), past which its operators stop.
#[derive(Debug)]
pub struct Scanned {
    /// The ranges read of each object, sorted and apart.
    read: std::sync::Mutex<HashMap<String, Vec<Range<u64>>>>,
    total: AtomicU64,
    rows: AtomicU64,
    cutoff: u64,
    failed_write: std::sync::Mutex<Option<FailedWrite>>,
}

impl Default for Scanned {
    fn default() -> Self {
        Scanned::with_cutoff(None)
    }
}

/// Why a write of the query failed.
#[derive(Debug, Clone)]
pub struct FailedWrite {
    /// The storage error's text (for a full disk, what the disk said).
    pub message: String,
    /// The data directory was full ([`storage::Error::NoSpace`]).
    pub no_space: bool,
}

impl Scanned {
    pub fn with_cutoff(cutoff: Option<u64>) -> Self {
        Scanned {
            read: Default::default(),
            total: AtomicU64::new(0),
            rows: AtomicU64::new(0),
            cutoff: cutoff.unwrap_or(u64::MAX),
            failed_write: Default::default(),
        }
    }

    /// Whether the query has read more than it may.
    pub fn over_cutoff(&self) -> bool {
        self.bytes() > self.cutoff
    }

    /// Counts rows a scan produced.
    pub fn add_rows(&self, n: usize) {
        self.rows.fetch_add(n as u64, Ordering::Relaxed);
    }

    /// Rows the query's scans produced.
    pub fn rows(&self) -> u64 {
        self.rows.load(Ordering::Relaxed)
    }

    /// The first write of the query that failed, if one did.
    pub fn failed_write(&self) -> Option<FailedWrite> {
        self.failed_write.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    fn note<T>(&self, result: object_store::Result<T>) -> object_store::Result<T> {
        if let Err(e) = &result {
            let (message, no_space) = match e {
                object_store::Error::Generic { source, .. } => match source.downcast_ref::<storage::Error>() {
                    Some(storage::Error::NoSpace(io)) => (io.to_string(), true),
                    Some(cause) => (cause.to_string(), false),
                    None => (source.to_string(), false),
                },
                other => (other.to_string(), false),
            };
            self.failed_write.lock().unwrap_or_else(|p| p.into_inner()).get_or_insert(FailedWrite { message, no_space });
        }
        result
    }

    pub fn bytes(&self) -> u64 {
        self.total.load(Ordering::Relaxed)
    }

    fn add(&self, object: &str, range: Range<u64>) {
        if range.is_empty() {
            return;
        }
        let mut read = self.read.lock().unwrap_or_else(|p| p.into_inner());
        let ranges = read.entry(object.to_string()).or_default();
        let (mut start, mut end, mut known) = (range.start, range.end, 0);
        let mut kept = Vec::with_capacity(ranges.len() + 1);
        for r in ranges.drain(..) {
            if r.end < range.start || r.start > range.end {
                kept.push(r);
            } else {
                known += r.end.min(range.end).saturating_sub(r.start.max(range.start));
                start = start.min(r.start);
                end = end.max(r.end);
            }
        }
        kept.push(start..end);
        kept.sort_by_key(|r| r.start);
        *ranges = kept;
        self.total.fetch_add(range.end - range.start - known, Ordering::Relaxed);
    }
}

/// Hands out the stores of an inner registry, wrapped to count what is read.
#[derive(Debug)]
pub struct CountingRegistry {
    pub inner: Arc<dyn ObjectStoreRegistry>,
    pub scanned: Arc<Scanned>,
}

impl ObjectStoreRegistry for CountingRegistry {
    fn register_store(&self, url: &Url, store: Arc<dyn ObjectStore>) -> Option<Arc<dyn ObjectStore>> {
        self.inner.register_store(url, store)
    }

    fn deregister_store(&self, url: &Url) -> DfResult<Arc<dyn ObjectStore>> {
        self.inner.deregister_store(url)
    }

    fn get_store(&self, url: &Url) -> DfResult<Arc<dyn ObjectStore>> {
        // Callers name a store by a table's URL or by the bucket's alone: the bucket names it.
        let store = format!("{}://{}/", url.scheme(), url.host_str().unwrap_or_default());
        Ok(Arc::new(CountingStore { inner: self.inner.get_store(url)?, url: store, scanned: self.scanned.clone() }))
    }
}

/// A streaming write whose failures the query keeps (see [`Scanned::failed_write`]).
#[derive(Debug)]
struct NotedUpload {
    inner: Box<dyn MultipartUpload>,
    scanned: Arc<Scanned>,
}

#[async_trait]
impl MultipartUpload for NotedUpload {
    fn put_part(&mut self, data: PutPayload) -> object_store::UploadPart {
        let (part, scanned) = (self.inner.put_part(data), self.scanned.clone());
        Box::pin(async move { scanned.note(part.await) })
    }

    async fn complete(&mut self) -> object_store::Result<PutResult> {
        self.scanned.note(self.inner.complete().await)
    }

    async fn abort(&mut self) -> object_store::Result<()> {
        self.inner.abort().await
    }
}

/// An object store that records the bytes it returns from reads.
#[derive(Debug)]
struct CountingStore {
    inner: Arc<dyn ObjectStore>,
    /// The store's bucket as a URL (`s3://bucket/`), which with a path names an object.
    url: String,
    scanned: Arc<Scanned>,
}

impl fmt::Display for CountingStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Counting({})", self.inner)
    }
}

#[async_trait]
impl ObjectStore for CountingStore {
    async fn put_opts(&self, location: &Path, payload: PutPayload, opts: PutOptions) -> object_store::Result<PutResult> {
        self.scanned.note(self.inner.put_opts(location, payload, opts).await)
    }

    async fn put_multipart_opts(&self, location: &Path, opts: PutMultipartOptions) -> object_store::Result<Box<dyn MultipartUpload>> {
        let upload = self.scanned.note(self.inner.put_multipart_opts(location, opts).await)?;
        Ok(Box::new(NotedUpload { inner: upload, scanned: self.scanned.clone() }))
    }

    async fn get_opts(&self, location: &Path, options: GetOptions) -> object_store::Result<GetResult> {
        let mut result = self.inner.get_opts(location, options).await?;
        let object = format!("{}{location}", self.url);
        match result.payload {
            GetResultPayload::Stream(stream) => {
                // Chunks arrive in order from the start of the range.
                let scanned = self.scanned.clone();
                let mut at = result.range.start;
                let counted = stream.map(move |chunk| {
                    if let Ok(c) = &chunk {
                        scanned.add(&object, at..at + c.len() as u64);
                        at += c.len() as u64;
                    }
                    chunk
                });
                result.payload = GetResultPayload::Stream(counted.boxed());
            }
            other => {
                self.scanned.add(&object, result.range.clone());
                result.payload = other;
            }
        }
        Ok(result)
    }

    async fn get_ranges(&self, location: &Path, ranges: &[Range<u64>]) -> object_store::Result<Vec<Bytes>> {
        let parts = self.inner.get_ranges(location, ranges).await?;
        let object = format!("{}{location}", self.url);
        for (range, part) in ranges.iter().zip(&parts) {
            self.scanned.add(&object, range.start..range.start + part.len() as u64);
        }
        Ok(parts)
    }

    fn delete_stream(&self, locations: BoxStream<'static, object_store::Result<Path>>) -> BoxStream<'static, object_store::Result<Path>> {
        self.inner.delete_stream(locations)
    }

    fn list(&self, prefix: Option<&Path>) -> BoxStream<'static, object_store::Result<ObjectMeta>> {
        self.inner.list(prefix)
    }

    async fn list_with_delimiter(&self, prefix: Option<&Path>) -> object_store::Result<ListResult> {
        self.inner.list_with_delimiter(prefix).await
    }

    async fn copy_opts(&self, from: &Path, to: &Path, options: CopyOptions) -> object_store::Result<()> {
        self.inner.copy_opts(from, to, options).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_read_twice_count_once() {
        let s = Scanned::default();
        s.add("s3://b/f", 90..100);
        s.add("s3://b/f", 0..100);
        assert_eq!(s.bytes(), 100);
        s.add("s3://b/f", 50..120);
        s.add("s3://b/g", 50..120);
        assert_eq!(s.bytes(), 190);
        s.add("s3://b/h", 0..10);
        s.add("s3://b/h", 20..30);
        s.add("s3://b/h", 5..25);
        s.add("s3://b/h", 10..20);
        assert_eq!(s.bytes(), 220);
    }
}
