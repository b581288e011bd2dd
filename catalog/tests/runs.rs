//! Crawler runs driven step by step: a test object store that can hold a read until the test
//! releases it, fail reads of chosen objects, and record every byte range asked for. With it the
//! STOPPING state and Glue's crawler state errors are observed for certain, a stopped or failed
//! run is shown to leave only whole tables, an unreadable object is skipped and read again next
//! time, and Parquet inference is shown to fetch the footer only.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use arrow_array::{ArrayRef, Int64Array, RecordBatch, StringArray};
use async_trait::async_trait;
use catalog::{Catalog, CrawlerState, Database, Error, Resolver};
use catalog::{Crawler, S3Target, Targets};
use futures::stream::BoxStream;
use object_store::memory::InMemory;
use object_store::path::Path;
use object_store::{
    CopyOptions, GetOptions, GetRange, GetResult, ListResult, MultipartUpload, ObjectMeta, ObjectStore, ObjectStoreExt, PutMultipartOptions,
    PutOptions, PutPayload, PutResult,
};
use tokio::sync::{Notify, Semaphore};

/// An in-memory store whose reads the test can hold, fail and inspect.
#[derive(Debug)]
struct Probe {
    inner: InMemory,
    /// Every read (not HEAD): the key and the range asked for (`None`: the whole object).
    reads: Mutex<Vec<(String, Option<GetRange>)>>,
    /// Reads of these keys fail.
    failing: Mutex<HashSet<String>>,
    /// Reads of this key announce themselves on `reached`, then wait for a permit of `release`.
    held: Mutex<Option<String>>,
    reached: Notify,
    release: Semaphore,
}

impl Probe {
    fn new() -> Arc<Probe> {
        Arc::new(Probe {
            inner: InMemory::new(),
            reads: Mutex::default(),
            failing: Mutex::default(),
            held: Mutex::default(),
            reached: Notify::new(),
            release: Semaphore::new(0),
        })
    }

    async fn add(&self, key: &str, data: impl Into<Vec<u8>>) {
        self.inner.put(&Path::from(key), PutPayload::from(data.into())).await.unwrap();
    }

    fn hold(&self, key: &str) {
        *self.held.lock().unwrap() = Some(key.to_string());
    }

    fn reads_of(&self, key: &str) -> Vec<Option<GetRange>> {
        self.reads.lock().unwrap().iter().filter(|(k, _)| k == key).map(|(_, r)| r.clone()).collect()
    }
}

impl std::fmt::Display for Probe {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Probe")
    }
}

#[async_trait]
impl ObjectStore for Probe {
    async fn put_opts(&self, location: &Path, payload: PutPayload, opts: PutOptions) -> object_store::Result<PutResult> {
        self.inner.put_opts(location, payload, opts).await
    }

    async fn put_multipart_opts(&self, location: &Path, opts: PutMultipartOptions) -> object_store::Result<Box<dyn MultipartUpload>> {
        self.inner.put_multipart_opts(location, opts).await
    }

    async fn get_opts(&self, location: &Path, options: GetOptions) -> object_store::Result<GetResult> {
        let key = location.to_string();
        if !options.head {
            self.reads.lock().unwrap().push((key.clone(), options.range.clone()));
        }
        if self.failing.lock().unwrap().contains(&key) {
            return Err(object_store::Error::Generic { store: "Probe", source: "the disk under this object is failing".into() });
        }
        let held = self.held.lock().unwrap().as_deref() == Some(key.as_str());
        if held {
            self.reached.notify_one();
            let _permit = self.release.acquire().await.expect("the semaphore is never closed");
        }
        self.inner.get_opts(location, options).await
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

fn catalog() -> (tempfile::TempDir, Catalog) {
    let dir = tempfile::tempdir().unwrap();
    let kv = storage::open_data_dir(dir.path()).unwrap();
    (dir, Catalog::open(kv, "000000000000").unwrap())
}

/// Bucket `corpus` is the probe; any other bucket does not exist.
fn resolver(probe: &Arc<Probe>) -> Resolver {
    let probe = probe.clone();
    Arc::new(
        move |bucket: &str| {
            if bucket == "corpus" { Ok(probe.clone() as Arc<dyn ObjectStore>) } else { Err(format!("The S3 bucket {bucket} does not exist")) }
        },
    )
}

fn crawler(name: &str, paths: &[&str]) -> Crawler {
    Crawler {
        name: name.into(),
        role: Some("role".into()),
        database_name: Some("lake".into()),
        targets: Targets { s3_targets: paths.iter().map(|p| S3Target { path: p.to_string(), ..Default::default() }).collect(), ..Default::default() },
        ..Default::default()
    }
}

async fn setup() -> (tempfile::TempDir, Catalog, Arc<Probe>) {
    let (dir, cat) = catalog();
    cat.create_database(Database { name: "lake".into(), ..Default::default() }).await.unwrap();
    (dir, cat, Probe::new())
}

fn code(e: Error) -> &'static str {
    match e {
        Error::CrawlerState { state: CrawlerState::Running, .. } => "CrawlerRunningException",
        Error::CrawlerState { state: CrawlerState::NotRunning, .. } => "CrawlerNotRunningException",
        Error::CrawlerState { state: CrawlerState::Stopping, .. } => "CrawlerStoppingException",
        other => panic!("expected a crawler state error, got {other:?}"),
    }
}

/// Runs a crawl in a task of its own, so that the test can act while it is held.
fn spawn_run(cat: &Catalog, name: &str, probe: &Arc<Probe>) -> tokio::task::JoinHandle<catalog::Result<Result<catalog::RunSummary, String>>> {
    let (cat, name, resolver) = (cat.clone(), name.to_string(), resolver(probe));
    tokio::spawn(async move { cat.run_crawler(&name, resolver, &|_| {}).await })
}

/// The partitions of a table as (values, objectCount), or None when the table does not exist.
fn partitions(cat: &Catalog, table: &str) -> Option<Vec<(Vec<String>, String)>> {
    cat.get_table("lake", table).ok()?;
    let mut got: Vec<_> = cat.get_partitions("lake", table).unwrap().into_iter().map(|p| (p.values, p.parameters["objectCount"].clone())).collect();
    got.sort();
    Some(got)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stopping_is_a_state_of_its_own_with_glues_errors() {
    let (_dir, cat, probe) = setup().await;
    // One file, held: no other read can end the crawl at its next step once it is stopped (with
    // more files, a read that finished after the stop ended it before the state was checked).
    probe.add("slow/b.json", "{\"id\": 1}\n").await;
    probe.hold("slow/b.json");
    cat.create_crawler(crawler("c", &["s3://corpus/slow/"])).await.unwrap();
    assert_eq!(code(cat.stop_crawler("c").await.unwrap_err()), "CrawlerNotRunningException");

    let run = spawn_run(&cat, "c", &probe);
    probe.reached.notified().await;
    assert_eq!(cat.get_crawler("c").unwrap().state, "RUNNING");
    assert_eq!(code(cat.start_crawler("c", resolver(&probe)).await.unwrap_err()), "CrawlerRunningException");
    assert_eq!(code(cat.update_crawler("c", |c| c.description = Some("x".into())).await.unwrap_err()), "CrawlerRunningException");
    assert_eq!(code(cat.delete_crawler("c").await.unwrap_err()), "CrawlerRunningException");
    assert!(cat.crawler_metrics("c").unwrap().still_estimating);

    cat.stop_crawler("c").await.unwrap();
    // The read is still held: the crawl cannot have ended, so this is STOPPING for certain.
    let c = cat.get_crawler("c").unwrap();
    assert_eq!(c.state, "STOPPING");
    assert_eq!(code(cat.stop_crawler("c").await.unwrap_err()), "CrawlerStoppingException");
    assert_eq!(code(cat.start_crawler("c", resolver(&probe)).await.unwrap_err()), "CrawlerRunningException");
    assert_eq!(code(cat.update_crawler("c", |c| c.description = Some("x".into())).await.unwrap_err()), "CrawlerRunningException");
    assert_eq!(code(cat.delete_crawler("c").await.unwrap_err()), "CrawlerRunningException");

    probe.release.add_permits(1);
    run.await.unwrap().unwrap().unwrap();
    let c = cat.get_crawler("c").unwrap();
    assert_eq!((c.state.as_str(), c.last_crawl.unwrap().status.as_str()), ("READY", "CANCELLED"));
    assert_eq!(cat.crawler_runs("c").unwrap().last().unwrap().status, "CANCELLED");
    assert!(cat.list_tables("lake", None).unwrap().is_empty(), "a crawl stopped while reading writes nothing");
    // READY again: it starts, and this time runs to the end.
    *probe.held.lock().unwrap() = None;
    let done = cat.run_crawler("c", resolver(&probe), &|_| {}).await.unwrap().unwrap();
    assert_eq!(done.tables_created, ["slow"]);
    assert_eq!(cat.get_crawler("c").unwrap().last_crawl.unwrap().status, "SUCCEEDED");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopped_or_failed_crawl_leaves_only_whole_tables() {
    let (_dir, cat, probe) = setup().await;
    for d in 1..=3 {
        for f in ["a", "b"] {
            probe.add(&format!("first/day={d}/{f}.json"), "{\"id\": 1, \"v\": \"x\"}\n").await;
            probe.add(&format!("second/day={d}/{f}.json"), "{\"k\": 2.5}\n").await;
        }
    }
    let whole = |n: &str| Some((1..=3).map(|d| (vec![d.to_string()], n.to_string())).collect::<Vec<_>>());
    // The first target is read and written before the second is listed; a read of the second
    // is held while the crawler is stopped.
    probe.hold("second/day=2/b.json");
    cat.create_crawler(crawler("two", &["s3://corpus/first/", "s3://corpus/second/"])).await.unwrap();
    let run = spawn_run(&cat, "two", &probe);
    probe.reached.notified().await;
    cat.stop_crawler("two").await.unwrap();
    probe.release.add_permits(1);
    let stopped = run.await.unwrap().unwrap().unwrap();
    assert_eq!(stopped.tables_created, ["first"]);
    assert_eq!(partitions(&cat, "first"), whole("2"), "the table written before the stop is whole");
    assert_eq!(partitions(&cat, "second"), None, "the table being read when the crawl stopped is not there at all");
    assert_eq!(cat.get_table("lake", "first").unwrap().parameters["objectCount"], "6");

    // The next run completes what the stopped one did not.
    *probe.held.lock().unwrap() = None;
    let next = cat.run_crawler("two", resolver(&probe), &|_| {}).await.unwrap().unwrap();
    assert_eq!(next.tables_created, ["second"]);
    assert_eq!(partitions(&cat, "second"), whole("2"));

    // A run that fails (its second bucket is gone) keeps the tables it wrote whole as well.
    cat.create_crawler(crawler("lost", &["s3://corpus/first/", "s3://gone/x/"])).await.unwrap();
    probe.add("first/day=4/a.json", "{\"id\": 4, \"v\": \"y\"}\n").await;
    let failed = cat.run_crawler("lost", resolver(&probe), &|_| {}).await.unwrap();
    assert!(failed.unwrap_err().contains("gone"));
    assert_eq!(cat.get_crawler("lost").unwrap().last_crawl.unwrap().status, "FAILED");
    let mut want = whole("2").unwrap();
    want.push((vec!["4".into()], "1".into()));
    assert_eq!(partitions(&cat, "first"), Some(want));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreadable_object_is_skipped_named_and_read_again_next_time() {
    let (_dir, cat, probe) = setup().await;
    for key in ["mixed/day=1/a.json", "mixed/day=1/broken.json", "mixed/day=2/a.json"] {
        probe.add(key, "{\"id\": 1}\n").await;
    }
    probe.failing.lock().unwrap().insert("mixed/day=1/broken.json".into());
    cat.create_crawler(crawler("c", &["s3://corpus/mixed/"])).await.unwrap();
    let first = cat.run_crawler("c", resolver(&probe), &|_| {}).await.unwrap().unwrap();
    assert_eq!(first.skipped.len(), 1, "{first:?}");
    let (object, reason) = &first.skipped[0];
    assert_eq!(object, "s3://corpus/mixed/day=1/broken.json");
    assert!(reason.starts_with("cannot read") && reason.contains("the disk under this object is failing"), "{reason}");
    assert_eq!(cat.get_crawler("c").unwrap().last_crawl.unwrap().status, "SUCCEEDED", "the crawl completes");
    assert_eq!(cat.get_table("lake", "mixed").unwrap().parameters["objectCount"], "2");
    assert_eq!(partitions(&cat, "mixed"), Some(vec![(vec!["1".into()], "1".into()), (vec!["2".into()], "1".into())]));

    // A failed read is not remembered as the object's verdict: once readable, it is read.
    probe.failing.lock().unwrap().clear();
    let second = cat.run_crawler("c", resolver(&probe), &|_| {}).await.unwrap().unwrap();
    assert_eq!((second.objects_read, second.objects_reused), (1, 2), "{second:?}");
    assert!(second.skipped.is_empty(), "{second:?}");
    assert_eq!(cat.get_table("lake", "mixed").unwrap().parameters["objectCount"], "3");
}

fn parquet_file(rows: i64) -> Vec<u8> {
    let batch = RecordBatch::try_from_iter(vec![
        ("id", Arc::new(Int64Array::from_iter_values(0..rows)) as ArrayRef),
        ("label", Arc::new(StringArray::from_iter_values((0..rows).map(|i| format!("row {i}")))) as ArrayRef),
    ])
    .unwrap();
    let mut out = Vec::new();
    let mut w = parquet::arrow::ArrowWriter::try_new(&mut out, batch.schema(), None).unwrap();
    w.write(&batch).unwrap();
    w.close().unwrap();
    out
}

/// The bytes a list of ranges of an object of `size` bytes covers, and where the first begins.
fn span(reads: &[Option<GetRange>], size: u64) -> (u64, u64) {
    let mut total = 0;
    let mut lowest = size;
    for r in reads {
        let (start, end) = match r.clone().expect("every read asks for a range, never the whole object") {
            GetRange::Bounded(r) => (r.start, r.end.min(size)),
            GetRange::Offset(o) => (o, size),
            GetRange::Suffix(n) => (size.saturating_sub(n), size),
        };
        total += end - start;
        lowest = lowest.min(start);
    }
    (total, lowest)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parquet_is_read_by_its_footer_and_text_by_its_first_megabyte() {
    let (_dir, cat, probe) = setup().await;
    let parquet = parquet_file(200_000);
    let size = parquet.len() as u64;
    let footer = u32::from_le_bytes(parquet[parquet.len() - 8..parquet.len() - 4].try_into().unwrap()) as u64;
    assert!(size > 50 * (footer + 8), "the body ({size} bytes) dwarfs the footer ({footer} bytes)");
    probe.add("pq/data.parquet", parquet).await;
    let mut csv = String::from("id,label\n");
    let mut i = 0;
    while csv.len() < 3 << 20 {
        csv.push_str(&format!("{i},row {i}\n"));
        i += 1;
    }
    let csv_size = csv.len() as u64;
    probe.add("text/data.csv", csv).await;
    cat.create_crawler(crawler("c", &["s3://corpus/pq/", "s3://corpus/text/"])).await.unwrap();
    let s = cat.run_crawler("c", resolver(&probe), &|_| {}).await.unwrap().unwrap();
    assert!(s.skipped.is_empty(), "{s:?}");
    assert_eq!(cat.get_table("lake", "pq").unwrap().parameters["recordCount"], "200000", "the row count is the footer's");

    let (read, lowest) = span(&probe.reads_of("pq/data.parquet"), size);
    // The magic (4 bytes), the footer's length and magic (8), the footer itself: nothing else.
    assert_eq!(read, 4 + 8 + footer, "{:?}", probe.reads_of("pq/data.parquet"));
    assert_eq!(lowest, size - 8 - footer);
    let (read, lowest) = span(&probe.reads_of("text/data.csv"), csv_size);
    assert_eq!(lowest, 0);
    assert!(read <= (1 << 20) + 4, "a text file is sampled by its first megabyte, not read whole: {read} of {csv_size} bytes");
}
