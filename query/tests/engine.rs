//! The engine end to end in process: a CSV in the lake, a table in the catalog, SQL, result files.

use std::time::Duration;

use bytes::Bytes;
use catalog::{Catalog, Catalogs, Column, Database, SerDeInfo, StorageDescriptor, Table};
use futures::StreamExt;
use query::{Engine, EngineConfig, QueryState, StartQuery};
use storage::{PutOptions, Store};

struct Fixture {
    _dir: tempfile::TempDir,
    engine: Engine,
    store: Store,
    catalog: Catalog,
    catalogs: Catalogs,
}

async fn fixture() -> Fixture {
    fixture_with(EngineConfig { threads: 2, ..Default::default() }).await
}

async fn fixture_with(config: EngineConfig) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let kv = storage::open_data_dir(dir.path()).unwrap();
    let (store, _) = Store::open(dir.path(), kv.clone(), "us-east-1").unwrap();
    let catalogs = Catalogs::new(kv.clone());
    let catalog = catalogs.account(ACCOUNT).unwrap();
    let engine = Engine::new(store.clone(), catalogs.clone(), kv, config).unwrap();
    store.create_bucket("lake", "minerva").await.unwrap();
    store.create_bucket("results", "minerva").await.unwrap();
    let csv = "sentiment,review_body,product_category\n1,\"Great, fits well\",Dresses\n-1,\"Too \"\"big\"\"\nreturned\",Dresses\n0,ok,Knits\n";
    let body = futures::stream::iter([Ok(Bytes::from(csv))]).boxed();
    store.put_object("lake", "reviews/data.csv", body, PutOptions::default()).await.unwrap();
    catalog.create_database(Database { name: "shop".into(), ..Default::default() }).await.unwrap();
    let col = |n: &str, t: &str| Column { name: n.into(), r#type: Some(t.into()), ..Default::default() };
    let table = Table {
        name: "reviews".into(),
        parameters: [("skip.header.line.count".to_string(), "1".to_string())].into_iter().collect(),
        storage_descriptor: Some(StorageDescriptor {
            columns: vec![col("sentiment", "int"), col("review_body", "string"), col("product_category", "string")],
            location: Some("s3://lake/reviews".into()),
            serde_info: Some(SerDeInfo {
                serialization_library: Some("org.apache.hadoop.hive.serde2.lazy.LazySimpleSerDe".into()),
                parameters: [("field.delim".to_string(), ",".to_string())].into_iter().collect(),
                ..Default::default()
            }),
            ..Default::default()
        }),
        ..Default::default()
    };
    catalog.create_table("shop", table).await.unwrap();
    Fixture { _dir: dir, engine, store, catalog, catalogs }
}

async fn wait(engine: &Engine, id: &str) -> query::QueryExecution {
    wait_as(engine, id, ACCOUNT).await
}

async fn wait_as(engine: &Engine, id: &str, account: &str) -> query::QueryExecution {
    for _ in 0..3000 {
        let q = engine.get(id, account).unwrap();
        if q.state.is_final() {
            return q;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("query {id} did not finish");
}

/// The account every query of these tests runs as.
const ACCOUNT: &str = "000000000000";

fn start(sql: &str) -> StartQuery {
    StartQuery {
        account: ACCOUNT.into(),
        sql: sql.into(),
        database: Some("shop".into()),
        workgroup: "primary".into(),
        output_dir: "s3://results/".into(),
        ..Default::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn select_writes_athena_csv_and_pages() {
    let f = fixture().await;
    let id = f
        .engine
        .start(start("SELECT product_category, COUNT(*), AVG(sentiment) AS avg_s FROM \"Shop\".reviews GROUP BY 1 ORDER BY 1"))
        .await
        .unwrap();
    let q = wait(&f.engine, &id).await;
    assert_eq!(q.state, QueryState::Succeeded, "{:?}", q.state_change_reason);
    assert_eq!(q.output_location, format!("s3://results/{id}.csv"));
    let names: Vec<(&str, &str)> = q.columns.iter().map(|c| (c.name.as_str(), c.r#type.as_str())).collect();
    assert_eq!(names, [("product_category", "varchar"), ("_col1", "bigint"), ("avg_s", "double")]);
    let page = f.engine.results(&id, ACCOUNT, None, 2).await.unwrap();
    assert_eq!(page.rows[0], [Some("product_category".to_string()), Some("_col1".into()), Some("avg_s".into())]);
    assert_eq!(page.rows[1], [Some("Dresses".to_string()), Some("2".into()), Some("0.0".into())]);
    let next = f.engine.results(&id, ACCOUNT, page.next_token.as_deref(), 10).await.unwrap();
    assert_eq!(next.rows, vec![vec![Some("Knits".to_string()), Some("1".into()), Some("0.0".into())]]);
    assert!(next.next_token.is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn split_cardinality_and_quoted_newlines() {
    let f = fixture().await;
    let id = f
        .engine
        .start(start("SELECT sentiment, CARDINALITY(SPLIT(review_body, ' ')) AS words, NULL AS nothing FROM reviews ORDER BY sentiment"))
        .await
        .unwrap();
    let q = wait(&f.engine, &id).await;
    assert_eq!(q.state, QueryState::Succeeded, "{:?}", q.state_change_reason);
    assert_eq!(q.columns[1].r#type, "bigint");
    let page = f.engine.results(&id, ACCOUNT, None, 100).await.unwrap();
    let words: Vec<Option<String>> = page.rows[1..].iter().map(|r| r[1].clone()).collect();
    // "Too \"big\"\nreturned" is one word-split of two pieces; "Great, fits well" three; "ok" one.
    assert_eq!(words, [Some("2".to_string()), Some("1".into()), Some("3".into())]);
    assert_eq!(page.rows[1][2], None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ctas_writes_parquet_manifest_and_table() {
    let f = fixture().await;
    let sql = "CREATE TABLE \"shop\".\"temp_table_1\" WITH (external_location = 's3://results/tmp/t1', format = 'PARQUET') AS SELECT sentiment, review_body FROM reviews";
    let id = f.engine.start(start(sql)).await.unwrap();
    let q = wait(&f.engine, &id).await;
    assert_eq!(q.state, QueryState::Succeeded, "{:?}", q.state_change_reason);
    assert_eq!(q.statement_type, query::StatementType::Ddl);
    let manifest = q.manifest_location.clone().unwrap();
    assert_eq!(manifest, format!("s3://results/tables/{id}-manifest.csv"));
    let body = f.store.get_object("results", &format!("tables/{id}-manifest.csv"), None).await.unwrap();
    let text: Vec<Bytes> = body.stream.map(|c| c.unwrap()).collect().await;
    let text = String::from_utf8(text.concat()).unwrap();
    assert!(text.lines().count() >= 1 && text.lines().all(|l| l.starts_with("s3://results/tmp/t1/")), "{text}");
    let table = f.catalog.get_table("shop", "temp_table_1").unwrap();
    assert_eq!(table.columns()[0].r#type.as_deref(), Some("int"));
    // The new table is queryable, and the same CTAS again fails because the table exists.
    let id = f.engine.start(start("SELECT COUNT(*) FROM temp_table_1")).await.unwrap();
    let q = wait(&f.engine, &id).await;
    assert_eq!(q.state, QueryState::Succeeded, "{:?}", q.state_change_reason);
    assert_eq!(f.engine.results(&id, ACCOUNT, None, 10).await.unwrap().rows[1][0].as_deref(), Some("3"));
    let id = f.engine.start(start(sql)).await.unwrap();
    assert_eq!(wait(&f.engine, &id).await.state, QueryState::Failed);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failures_carry_a_reason_and_leave_no_result() {
    let f = fixture().await;
    for (sql, reason) in [("SELEC 1", "SYNTAX_ERROR"), ("SELECT * FROM nope", "TABLE_NOT_FOUND"), ("SELECT nope FROM reviews", "COLUMN_NOT_FOUND")] {
        let id = f.engine.start(start(sql)).await.unwrap();
        let q = wait(&f.engine, &id).await;
        assert_eq!(q.state, QueryState::Failed, "{sql}");
        let r = q.state_change_reason.unwrap_or_default();
        assert!(r.starts_with(reason), "{sql}: {r}");
        assert!(f.store.head_object("results", &format!("{id}.csv")).is_err());
        assert!(f.engine.results(&id, ACCOUNT, None, 10).await.is_err());
    }
    assert!(matches!(f.engine.get("no-such-id", ACCOUNT), Err(query::Error::NotFound(_))));
}

/// A query busy inside one operator (an aggregate draining a join) stops at once when stopped:
/// its task ends and the memory it held goes back to the pool.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stop_ends_a_busy_query_and_frees_its_memory() {
    let f = fixture().await;
    let heavy = "SELECT COUNT(*) FROM generate_series(1, 300000) a \
                 CROSS JOIN generate_series(1, 300000) b WHERE (a.value * b.value) % 7 = 3";
    let id = f.engine.start(start(heavy)).await.unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while f.engine.memory_reserved() == 0 {
        assert!(std::time::Instant::now() < deadline, "the query never reserved memory");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(f.engine.get(&id, ACCOUNT).unwrap().state, QueryState::Running);
    f.engine.stop(&id, ACCOUNT).await.unwrap();
    assert_eq!(f.engine.get(&id, ACCOUNT).unwrap().state, QueryState::Cancelled);
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while f.engine.tasks_alive() > 0 || f.engine.memory_reserved() > 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "a stopped query still runs: {} tasks, {} bytes held",
            f.engine.tasks_alive(),
            f.engine.memory_reserved()
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // Nothing of the cancelled query's result was committed.
    assert!(f.store.head_object("results", &format!("{id}.csv")).is_err());
}

/// Two buckets with the same prefixes, and files that change: every query sees the current
/// files of its own table (DataFusion's path-keyed caches are off).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tables_see_current_files_of_their_own_bucket() {
    let f = fixture().await;
    f.store.create_bucket("other", "minerva").await.unwrap();
    let body = |s: &'static str| futures::stream::iter([Ok(Bytes::from(s))]).boxed();
    // The same key in another bucket, with other rows.
    f.store.put_object("other", "reviews/data.csv", body("sentiment,review_body,product_category\n9,x,y\n"), PutOptions::default()).await.unwrap();
    let count = |sql: &'static str| {
        let engine = f.engine.clone();
        async move {
            let id = engine.start(start(sql)).await.unwrap();
            let q = wait(&engine, &id).await;
            assert_eq!(q.state, QueryState::Succeeded, "{:?}", q.state_change_reason);
            engine.results(&id, ACCOUNT, None, 10).await.unwrap().rows[1][0].clone().unwrap()
        }
    };
    assert_eq!(count("SELECT COUNT(*) FROM reviews").await, "3");
    let mut other = f.catalog.get_table("shop", "reviews").unwrap();
    other.name = "other_reviews".into();
    other.storage_descriptor.as_mut().unwrap().location = Some("s3://other/reviews".into());
    f.catalog.create_table("shop", other).await.unwrap();
    assert_eq!(count("SELECT COUNT(*) FROM other_reviews").await, "1");
    // A file added after the first query is seen by the next.
    f.store.put_object("lake", "reviews/more.csv", body("sentiment,review_body,product_category\n1,y,z\n"), PutOptions::default()).await.unwrap();
    assert_eq!(count("SELECT COUNT(*) FROM reviews").await, "4");
}

async fn run_ok(f: &Fixture, sql: &str) -> query::QueryExecution {
    let id = f.engine.start(start(sql)).await.unwrap();
    let q = wait(&f.engine, &id).await;
    assert_eq!(q.state, QueryState::Succeeded, "{sql}: {:?}", q.state_change_reason);
    q
}

async fn lines(f: &Fixture, id: &str) -> Vec<String> {
    f.engine.results(id, ACCOUNT, None, 1000).await.unwrap().rows.into_iter().map(|r| r[0].clone().unwrap_or_default()).collect()
}

/// A scan is split across the cores: by files, and large files by byte ranges. EXPLAIN shows
/// the groups, and EXPLAIN ANALYZE what each operator did.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scans_run_in_parallel_partitions_and_explain_shows_them() {
    let f = fixture().await;
    // About 3 MB of Parquet in one file: more than a megabyte is read in ranges.
    run_ok(&f, "CREATE TABLE big WITH (write_compression = 'NONE') AS SELECT value AS id, concat('row ', CAST(value AS varchar)) AS label FROM generate_series(1, 200000)").await;
    let q = run_ok(&f, "EXPLAIN SELECT count(*), max(label) FROM big WHERE id % 3 = 0").await;
    let plan = lines(&f, &q.id).await.join("\n");
    assert!(plan.contains("file_groups={2 groups"), "{plan}");
    assert!(plan.contains(".parquet:0.."), "a file read in byte ranges: {plan}");
    let q = run_ok(&f, "EXPLAIN ANALYZE SELECT count(*) FROM big WHERE label LIKE '%7'").await;
    let plan = lines(&f, &q.id).await.join("\n");
    assert!(plan.contains("output_rows="), "{plan}");
    assert!(!plan.contains("CancelExec"), "the operators that stop queries are not shown: {plan}");
    assert_eq!(q.statement_type, query::StatementType::Utility);
    let q = run_ok(&f, "SELECT count(*) FROM big WHERE id > 100").await;
    assert!(q.data_scanned > 100_000, "DataScannedInBytes is what the scan read: {}", q.data_scanned);
}

/// Each query has a memory limit: what can spill spills and succeeds; what cannot fails with a
/// resource error, its memory goes back, and the engine goes on serving.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_query_over_its_memory_limit_spills_or_fails_and_the_engine_goes_on() {
    let f = fixture_with(EngineConfig { threads: 2, query_memory_limit: 48 << 20, memory_limit: 256 << 20, ..Default::default() }).await;
    // Grouping 1.5 million distinct strings (~100 MB of state) in 48 MB: the aggregate spills.
    let sorting = "SELECT count(*) FROM (SELECT s, count(*) AS n FROM \
                   (SELECT concat('some padding to make rows wide ', CAST(value AS varchar)) AS s FROM generate_series(1, 1500000)) GROUP BY s)";
    let q = run_ok(&f, sorting).await;
    assert_eq!(f.engine.results(&q.id, ACCOUNT, None, 10).await.unwrap().rows[1][0].as_deref(), Some("1500000"));
    let q = run_ok(&f, &format!("EXPLAIN ANALYZE {sorting}")).await;
    let plan = lines(&f, &q.id).await.join("\n");
    let spilled = plan
        .split("spill_count=")
        .skip(1)
        .any(|rest| rest.chars().take_while(|c| c.is_ascii_digit()).collect::<String>().parse::<u64>().unwrap_or(0) > 0);
    assert!(spilled, "the sort spilled: {plan}");
    // A hash join must hold its build side in memory: 10 million keys do not fit.
    let id = f
        .engine
        .start(start("SELECT count(*) FROM generate_series(1, 10000000) a JOIN generate_series(1, 10000000) b ON a.value = b.value"))
        .await
        .unwrap();
    let q = wait(&f.engine, &id).await;
    assert_eq!(q.state, QueryState::Failed);
    let reason = q.state_change_reason.unwrap_or_default();
    assert!(reason.starts_with("EXCEEDED_LOCAL_MEMORY_LIMIT: Query exceeded the per-query memory limit of 48.0MB"), "{reason}");
    assert_eq!((q.error_category, q.error_type, q.retryable), (Some(2), Some(0), false), "a resource error is the user's");
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while f.engine.memory_reserved() > 0 || f.engine.tasks_alive() > 0 {
        assert!(std::time::Instant::now() < deadline, "the failed query still holds {} bytes", f.engine.memory_reserved());
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    run_ok(&f, "SELECT 1").await;
}

/// A global sort of strings several times the query's memory spills runs and merges them a few
/// at a time. Merging every run at once took all the memory the query had left, and the merge
/// of the two partitions' sorted streams above it failed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sort_of_strings_over_the_memory_limit_spills_and_merges() {
    let f = fixture_with(EngineConfig { threads: 2, query_memory_limit: 32 << 20, memory_limit: 256 << 20, ..Default::default() }).await;
    // 600,000 rows of 64 characters: about 45 MB to sort in 32 MB.
    let sql = "SELECT max(r), count(*), min(x) FROM (SELECT row_number() OVER (ORDER BY s) AS r, s AS x FROM \
               (SELECT concat(md5(CAST(value AS varchar)), md5(CAST(value * 7 AS varchar))) AS s FROM generate_series(1, 600000)))";
    let q = run_ok(&f, sql).await;
    let rows = f.engine.results(&q.id, ACCOUNT, None, 10).await.unwrap().rows;
    assert_eq!(rows[1][..2], [Some("600000".to_string()), Some("600000".to_string())]);
    assert_eq!(rows[1][2].as_ref().map(String::len), Some(64));
    let q = run_ok(&f, &format!("EXPLAIN ANALYZE {sql}")).await;
    let plan = lines(&f, &q.id).await.join("\n");
    let sort = plan.lines().find(|l| l.contains("SortExec")).unwrap_or_default().to_string();
    let spilled =
        sort.split("spill_count=").nth(1).and_then(|rest| rest.chars().take_while(|c| c.is_ascii_digit()).collect::<String>().parse::<u64>().ok());
    assert!(spilled.unwrap_or(0) > 0, "the sort spilled: {plan}");
}

/// Under a small limit a spilling operator's share (half the limit over the spilling
/// operators) can be smaller than one batch: one that holds nothing may still take a batch, and
/// spills before it takes more. It used to fail with nothing to spill.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_spilling_aggregate_under_a_small_limit_takes_a_batch_at_a_time() {
    let f = fixture_with(EngineConfig { threads: 2, query_memory_limit: 8 << 20, memory_limit: 256 << 20, ..Default::default() }).await;
    let sql = "SELECT count(*) FROM (SELECT DISTINCT s FROM \
               (SELECT concat(md5(CAST(value AS varchar)), md5(CAST(value * 3 AS varchar)), md5(CAST(value * 5 AS varchar)), \
               md5(CAST(value * 7 AS varchar))) AS s FROM generate_series(1, 200000)))";
    let q = run_ok(&f, sql).await;
    assert_eq!(f.engine.results(&q.id, ACCOUNT, None, 10).await.unwrap().rows[1][0].as_deref(), Some("200000"));
}

/// A cross join emits a batch per row of its build side, each sharing the probe batch's
/// buffers; a second cross join over that output used to charge the shared buffers once per
/// batch (192 MB for 6,000 rows of integers) and fail. Its input is now compacted first.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chained_cross_joins_count_their_memory_once() {
    let f = fixture_with(EngineConfig { threads: 2, query_memory_limit: 48 << 20, memory_limit: 256 << 20, ..Default::default() }).await;
    let sql = "SELECT count(*), max(y + z), sum(one) FROM unnest(sequence(1, 3000)) u(y) \
               CROSS JOIN unnest(sequence(0, 1)) v(z) CROSS JOIN (SELECT 1) w(one)";
    let q = run_ok(&f, sql).await;
    let rows = f.engine.results(&q.id, ACCOUNT, None, 10).await.unwrap().rows;
    assert_eq!(rows[1], vec![Some("6000".to_string()), Some("3001".to_string()), Some("6000".to_string())]);
}

/// A query that runs past the timeout fails, and stops.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_query_past_its_time_limit_fails_and_stops() {
    let f = fixture_with(EngineConfig { threads: 2, timeout: Duration::from_millis(500), ..Default::default() }).await;
    let id = f
        .engine
        .start(start("SELECT COUNT(*) FROM generate_series(1, 300000) a CROSS JOIN generate_series(1, 300000) b WHERE (a.value * b.value) % 7 = 3"))
        .await
        .unwrap();
    let q = wait(&f.engine, &id).await;
    assert_eq!(q.state, QueryState::Failed);
    assert!(
        q.state_change_reason.as_deref().unwrap_or_default().starts_with("EXCEEDED_TIME_LIMIT: Query exceeded the maximum execution time of 0.50s"),
        "{:?}",
        q.state_change_reason
    );
    assert_eq!((q.error_category, q.error_type, q.retryable), (Some(1), Some(206), true));
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while f.engine.tasks_alive() > 0 || f.engine.memory_reserved() > 0 {
        assert!(std::time::Instant::now() < deadline, "the timed-out query still runs or holds {} bytes", f.engine.memory_reserved());
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// With one query at a time, the next waits in QUEUED and runs once the first is done. Its
/// statistics say so: the time before it was admitted covers the wait, and the parts add up to
/// the total as Athena's do.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queries_beyond_the_concurrency_limit_queue() {
    let f = fixture_with(EngineConfig { threads: 2, max_concurrent: 1, ..Default::default() }).await;
    let heavy = f.engine.start(start(HEAVY)).await.unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while f.engine.get(&heavy, ACCOUNT).unwrap().state != QueryState::Running {
        assert!(std::time::Instant::now() < deadline);
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let next = f.engine.start(start("SELECT 1")).await.unwrap();
    let submitted = std::time::Instant::now();
    // For as long as the first runs, the next stays queued.
    while submitted.elapsed() < Duration::from_millis(100) {
        assert_eq!(f.engine.get(&next, ACCOUNT).unwrap().state, QueryState::Queued);
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let waited = submitted.elapsed().as_millis() as u64;
    f.engine.stop(&heavy, ACCOUNT).await.unwrap();
    let q = wait(&f.engine, &next).await;
    assert_eq!(q.state, QueryState::Succeeded);
    // Each part is rounded down to a millisecond on its own.
    assert!(q.queue_ms > 0 && q.preprocessing_ms + q.queue_ms + 1 >= waited, "queued {} + {} ms, waited {waited} ms", q.preprocessing_ms, q.queue_ms);
    assert_eq!(q.total_ms, q.preprocessing_ms + q.queue_ms + q.engine_ms + q.service_ms);
    assert!(q.planning_ms <= q.engine_ms, "planning is part of the engine's time: {q:?}");
    let h = f.engine.get(&heavy, ACCOUNT).unwrap();
    assert_eq!(h.state, QueryState::Cancelled);
    assert!(h.engine_ms >= 100 && h.total_ms >= h.engine_ms + h.queue_ms, "{h:?}");
}

const HEAVY: &str = "SELECT COUNT(*) FROM generate_series(1, 300000) a CROSS JOIN generate_series(1, 300000) b WHERE (a.value * b.value) % 7 = 3";

/// A scan of a partitioned table reads files of several partitions in each of its parallel
/// groups; EXPLAIN shows them, and shows the partitions a filter prunes gone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn explain_shows_files_of_several_partitions() {
    let f = fixture().await;
    run_ok(
        &f,
        "CREATE TABLE parts WITH (partitioned_by = ARRAY['day'], external_location = 's3://results/parts/') \
         AS SELECT value AS id, concat('d', CAST(value % 4 AS varchar)) AS day FROM generate_series(1, 100)",
    )
    .await;
    let q = run_ok(&f, "EXPLAIN SELECT count(*), max(id) FROM parts").await;
    let plan = lines(&f, &q.id).await.join("\n");
    let scan = plan.lines().find(|l| l.contains("DataSourceExec")).unwrap_or_else(|| panic!("no scan: {plan}"));
    assert!(scan.contains("file_groups={2 groups: [["), "two parallel groups: {scan}");
    for day in ["d0", "d1", "d2", "d3"] {
        assert_eq!(scan.matches(&format!("parts/day={day}/")).count(), 1, "one file of partition {day}: {scan}");
    }
    // Each group holds files of more than one partition.
    let groups: Vec<&str> = scan.split("], [").collect();
    assert_eq!(groups.len(), 2, "{scan}");
    assert!(groups.iter().all(|g| g.matches("parts/day=").count() == 2), "{scan}");
    let q = run_ok(&f, "EXPLAIN SELECT count(*) FROM parts WHERE day IN ('d1', 'd2')").await;
    let plan = lines(&f, &q.id).await.join("\n");
    assert!(plan.contains("parts/day=d1/") && plan.contains("parts/day=d2/"), "{plan}");
    assert!(!plan.contains("parts/day=d0/") && !plan.contains("parts/day=d3/"), "pruned partitions are not read: {plan}");
}

/// DataScannedInBytes of a full scan is the size of the files the table has.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_scan_reports_the_bytes_of_the_files() {
    let f = fixture().await;
    let csv = f.store.head_object("lake", "reviews/data.csv").unwrap().record.size;
    let q = run_ok(&f, "SELECT * FROM reviews").await;
    assert_eq!(q.data_scanned, csv);
    run_ok(&f, "CREATE TABLE pq WITH (external_location = 's3://results/pq/') AS SELECT value AS id, concat('row ', CAST(value AS varchar)) AS label FROM generate_series(1, 5000)").await;
    let listed = f.store.list_objects("results", &storage::ListQuery { prefix: "pq/".into(), max_keys: 1000, ..Default::default() }).unwrap();
    let parquet: u64 = listed.objects.iter().map(|o| o.record.size).sum();
    assert!(parquet > 0);
    let q = run_ok(&f, "SELECT * FROM pq").await;
    assert_eq!(q.data_scanned, parquet, "{} files", listed.objects.len());
}

/// A text file larger than a block is cut where its records end and its blocks parsed in
/// parallel: quoted line breaks that cross any cut, the header, '' against NULL and every row
/// read exactly once, as one pass would read them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_large_text_file_reads_exactly_in_parallel_blocks() {
    let f = fixture().await;
    let mut csv = String::from("\u{feff}id,body,empty,missing\n");
    let rows: u64 = 120_000;
    for i in 0..rows {
        match i % 3 {
            0 => csv.push_str(&format!("{i},\"a \"\"quoted\"\" body,\nover\r\nthree lines {i}\",,m\r\n")),
            1 => csv.push_str(&format!("{i},plain body {i},\"\"\n\n")),
            _ => csv.push_str(&format!("{i},\"{}\"\n", "x".repeat((i % 100) as usize))),
        }
    }
    assert!(csv.len() > 4 << 20, "more than one 4 MiB block: {} bytes", csv.len());
    let body = futures::stream::iter([Ok(Bytes::from(csv))]).boxed();
    f.store.put_object("lake", "big/data.csv", body, PutOptions::default()).await.unwrap();
    let col = |n: &str, t: &str| Column { name: n.into(), r#type: Some(t.into()), ..Default::default() };
    let table = Table {
        name: "big_text".into(),
        parameters: [("skip.header.line.count".to_string(), "1".to_string())].into_iter().collect(),
        storage_descriptor: Some(StorageDescriptor {
            columns: vec![col("id", "bigint"), col("body", "string"), col("empty", "string"), col("missing", "string")],
            location: Some("s3://lake/big".into()),
            serde_info: Some(SerDeInfo {
                serialization_library: Some("org.apache.hadoop.hive.serde2.OpenCSVSerde".into()),
                parameters: [("separatorChar".to_string(), ",".to_string())].into_iter().collect(),
                ..Default::default()
            }),
            ..Default::default()
        }),
        ..Default::default()
    };
    f.catalog.create_table("shop", table).await.unwrap();
    let q = run_ok(
        &f,
        "SELECT count(*), count(DISTINCT id), sum(id), count_if(strpos(body, concat(chr(13), chr(10), 'three')) > 0), \
         count_if(empty = ''), count(empty), count(missing) FROM big_text",
    )
    .await;
    let page = f.engine.results(&q.id, ACCOUNT, None, 10).await.unwrap();
    let third = rows.div_ceil(3);
    let want = [rows, rows, rows * (rows - 1) / 2, third, rows - rows / 3, rows - rows / 3, third];
    let got: Vec<u64> = page.rows[1].iter().map(|v| v.as_deref().unwrap_or("NULL").parse().unwrap()).collect();
    assert_eq!(got, want);
}

/// The index store of a full disk, as the query history sees it: a final query's record cannot
/// be written.
struct FinalRecordsRefused(std::sync::Arc<dyn storage::Kv>);

struct RefusingTree(std::sync::Arc<dyn storage::KvTree>);

#[async_trait::async_trait]
impl storage::Kv for FinalRecordsRefused {
    fn tree(&self, name: &str) -> storage::Result<std::sync::Arc<dyn storage::KvTree>> {
        let tree = self.0.tree(name)?;
        Ok(if name == "queries" { std::sync::Arc::new(RefusingTree(tree)) } else { tree })
    }

    async fn flush(&self) -> storage::Result<()> {
        self.0.flush().await
    }
}

impl storage::KvTree for RefusingTree {
    fn get(&self, key: &[u8]) -> storage::Result<Option<Vec<u8>>> {
        self.0.get(key)
    }
    fn put(&self, key: &[u8], value: &[u8]) -> storage::Result<Option<Vec<u8>>> {
        let text = String::from_utf8_lossy(value);
        if ["\"SUCCEEDED\"", "\"FAILED\"", "\"CANCELLED\""].iter().any(|s| text.contains(s)) {
            return Err(storage::Error::NoSpace(std::io::Error::new(std::io::ErrorKind::StorageFull, "the disk is full")));
        }
        self.0.put(key, value)
    }
    fn delete(&self, key: &[u8]) -> storage::Result<Option<Vec<u8>>> {
        self.0.delete(key)
    }
    fn apply(&self, ops: Vec<storage::KvOp>) -> storage::Result<()> {
        self.0.apply(ops)
    }
    fn compare_and_swap(&self, key: &[u8], old: Option<&[u8]>, new: Option<&[u8]>) -> storage::Result<bool> {
        self.0.compare_and_swap(key, old, new)
    }
    fn range(&self, from: std::ops::Bound<Vec<u8>>, to: std::ops::Bound<Vec<u8>>) -> storage::KvIter<'_> {
        self.0.range(from, to)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_final_state_that_cannot_be_recorded_is_still_answered() {
    let f = fixture().await;
    let kv = storage::open_data_dir(&f._dir.path().join("other")).unwrap();
    let engine = Engine::new(
        f.store.clone(),
        f.catalogs.clone(),
        std::sync::Arc::new(FinalRecordsRefused(kv)),
        EngineConfig { threads: 2, ..Default::default() },
    )
    .unwrap();
    let mut request = start("SELECT count(*) FROM reviews");
    request.output_dir = "s3://results/refused/".into();
    let done = wait(&engine, &engine.start(request).await.unwrap()).await;
    assert_eq!(done.state, QueryState::Succeeded, "{:?}", done.state_change_reason);
    // A cancelled one too: StopQueryExecution answers, and the query reads as cancelled.
    let heavy = "SELECT COUNT(*) FROM generate_series(1, 300000) a CROSS JOIN generate_series(1, 300000) b WHERE (a.value * b.value) % 7 = 3";
    let id = engine.start(start(heavy)).await.unwrap();
    engine.stop(&id, ACCOUNT).await.unwrap();
    assert_eq!(wait(&engine, &id).await.state, QueryState::Cancelled);
}

/// Each account sees only its own queries, and a query runs over its own account's catalog.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_account_has_its_own_history_and_catalog() {
    const OTHER: &str = "111111111111";
    let f = fixture().await;
    let mut mine = start("SELECT count(*) FROM reviews");
    mine.client_request_token = Some("same-token-in-both-accounts".into());
    let id = f.engine.start(mine.clone()).await.unwrap();
    assert_eq!(wait(&f.engine, &id).await.state, QueryState::Succeeded);

    // Another account's query is as unknown as one that never ran: to read, page, stop or list.
    assert!(matches!(f.engine.get(&id, OTHER), Err(query::Error::NotFound(_))));
    assert!(matches!(f.engine.results(&id, OTHER, None, 10).await, Err(query::Error::NotFound(_))));
    assert!(matches!(f.engine.stop(&id, OTHER).await, Err(query::Error::NotFound(_))));
    assert_eq!(f.engine.list("primary", OTHER).unwrap(), Vec::<String>::new());
    assert_eq!(f.engine.list("primary", ACCOUNT).unwrap(), vec![id.clone()]);

    // The same idempotency token in another account is another query.
    let mut theirs = mine.clone();
    theirs.account = OTHER.into();
    let other_id = f.engine.start(theirs).await.unwrap();
    assert_ne!(other_id, id);
    // ... which ran over its own catalog, where `shop` does not exist.
    let failed = wait_as(&f.engine, &other_id, OTHER).await;
    assert_eq!(failed.state, QueryState::Failed);
    assert!(failed.state_change_reason.as_deref().unwrap_or_default().contains("shop"), "{:?}", failed.state_change_reason);
    assert_eq!(f.engine.list("primary", ACCOUNT).unwrap(), vec![id.clone()]);

    // What a query creates lands in its own account's catalog only.
    let theirs_catalog = f.catalogs.account(OTHER).unwrap();
    theirs_catalog.create_database(Database { name: "shop".into(), ..Default::default() }).await.unwrap();
    let mut ctas = start("CREATE TABLE shop.made AS SELECT 1 AS x");
    ctas.account = OTHER.into();
    let made = wait_as(&f.engine, &f.engine.start(ctas).await.unwrap(), OTHER).await;
    assert_eq!(made.state, QueryState::Succeeded, "{:?}", made.state_change_reason);
    assert!(theirs_catalog.get_table("shop", "made").is_ok());
    assert!(f.catalog.get_table("shop", "made").is_err());
    // An account id that is not one is refused before anything is recorded.
    let mut bad = start("SELECT 1");
    bad.account = "not-an-account".into();
    assert!(f.engine.start(bad).await.is_err());
}

/// The lake as the Iceberg format crate reads and writes it, without permission checks.
fn lake_io(store: &Store) -> iceberg::io::Io {
    let store = store.clone();
    iceberg::io::Io::new(std::sync::Arc::new(move |bucket: &str| {
        Ok(std::sync::Arc::new(storage::BucketStore::new(store.clone(), bucket)) as std::sync::Arc<dyn object_store::ObjectStore>)
    }))
}

async fn iceberg_table(f: &Fixture, name: &str) -> iceberg::table::Table {
    let glue = f.catalog.get_table("shop", name).unwrap();
    iceberg::table::Table::load(lake_io(&f.store), &glue.parameters["metadata_location"]).await.unwrap()
}

/// Makes `next` the Glue table's metadata, as another engine's commit would.
async fn commit_as_another_engine(f: &Fixture, name: &str, next: &iceberg::table::Table) {
    let location = next.metadata_location.clone();
    f.catalog
        .update_table_with("shop", name, |t| {
            let previous = t.parameters.insert("metadata_location".into(), location).unwrap_or_default();
            t.parameters.insert("previous_metadata_location".into(), previous);
            Ok(())
        })
        .await
        .unwrap();
}

async fn all_lines(f: &Fixture, sql: &str) -> Vec<String> {
    let q = run_ok(f, sql).await;
    f.engine.results(&q.id, ACCOUNT, None, 1000).await.unwrap().rows.into_iter().skip(1).map(|r| r[0].clone().unwrap_or_default()).collect()
}

/// Equality delete files (what Flink and Spark's upserts write) delete the rows whose columns
/// equal theirs, in data files of their partition committed before them: reads, row-level
/// changes and OPTIMIZE all leave those rows out.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn iceberg_equality_deletes_apply_by_partition_and_sequence() {
    use datafusion::arrow::array::{Int32Array, RecordBatch};
    use datafusion::arrow::datatypes::{DataType, Field, Schema};
    let f = fixture().await;
    run_ok(
        &f,
        "CREATE TABLE ev (id int, name string, cat string) PARTITIONED BY (cat) LOCATION 's3://lake/ev/' \
         TBLPROPERTIES ('table_type'='ICEBERG', 'optimize_rewrite_data_file_threshold'='1', 'optimize_rewrite_delete_file_threshold'='1')",
    )
    .await;
    run_ok(&f, "INSERT INTO ev VALUES (1, 'a', 'x'), (2, 'b', 'x'), (3, 'c', 'y'), (4, 'd', 'y'), (5, 'e', 'x')").await;
    // An equality delete file of partition cat=x naming ids 2 and 3: 3 lives in cat=y.
    let table = iceberg_table(&f, "ev").await;
    let id_field = Field::new("id", DataType::Int32, true).with_metadata([("PARQUET:field_id".to_string(), "1".to_string())].into());
    let schema = std::sync::Arc::new(Schema::new(vec![id_field]));
    let batch = RecordBatch::try_new(schema.clone(), vec![std::sync::Arc::new(Int32Array::from(vec![2, 3]))]).unwrap();
    let mut writer = datafusion::parquet::arrow::ArrowWriter::try_new(Vec::new(), schema, None).unwrap();
    writer.write(&batch).unwrap();
    let bytes = writer.into_inner().unwrap();
    let url = "s3://lake/ev/data/cat=x/eq-deletes.parquet";
    let size = table.io.write_new(url, bytes).await.unwrap();
    let partition = vec![Some(iceberg::values::Literal::String("x".into()))];
    let deletes = iceberg::manifest::DataFile {
        content: iceberg::manifest::Content::EqualityDeletes,
        equality_ids: Some(vec![1]),
        ..iceberg::manifest::DataFile::parquet(url.into(), partition, 2, size as i64)
    };
    let next = table.row_delta(Vec::new(), vec![deletes]).await.unwrap();
    commit_as_another_engine(&f, "ev", &next).await;
    assert_eq!(all_lines(&f, "SELECT id FROM ev ORDER BY id").await, ["1", "3", "4", "5"]);
    assert_eq!(all_lines(&f, "SELECT name FROM ev WHERE cat = 'x' ORDER BY name LIMIT 5").await, ["a", "e"]);
    assert_eq!(all_lines(&f, "SELECT count(*) FROM ev").await, ["4"]);
    // A row written after the delete is not deleted by it.
    run_ok(&f, "INSERT INTO ev VALUES (2, 'b again', 'x')").await;
    assert_eq!(all_lines(&f, "SELECT name FROM ev WHERE id = 2").await, ["b again"]);
    // Row-level changes and OPTIMIZE read the live rows as scans do.
    run_ok(&f, "UPDATE ev SET name = upper(name) WHERE cat = 'x'").await;
    assert_eq!(all_lines(&f, "SELECT name FROM ev ORDER BY id").await, ["A", "B AGAIN", "c", "d", "E"]);
    run_ok(&f, "OPTIMIZE ev REWRITE DATA USING BIN_PACK").await;
    assert_eq!(all_lines(&f, "SELECT name FROM ev ORDER BY id").await, ["A", "B AGAIN", "c", "d", "E"]);
    // Partition x's files became one, without the rows the equality deletes named.
    assert_eq!(all_lines(&f, "SELECT count(*) FROM \"ev$files\" WHERE content = 0 AND file_path LIKE '%cat=x%'").await, ["1"]);
    assert_eq!(all_lines(&f, "SELECT count(*) FROM ev").await, ["5"]);
}

/// Data files carry their columns' metrics (value and null counts, bounds) in the manifests, and
/// scans skip the files whose bounds rule a filter out: with a file gone from the lake, a query
/// that needs none of its rows still answers, and one that needs them fails.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn iceberg_files_carry_metrics_and_scans_skip_by_them() {
    let f = fixture().await;
    run_ok(&f, "CREATE TABLE m (id bigint, label string, at timestamp) LOCATION 's3://lake/m/' TBLPROPERTIES ('table_type'='ICEBERG')").await;
    run_ok(&f, "INSERT INTO m VALUES (1, 'one', TIMESTAMP '2024-01-01 00:00:00'), (3, NULL, TIMESTAMP '2024-01-02 00:00:00')").await;
    run_ok(&f, "INSERT INTO m VALUES (100, 'hundred', TIMESTAMP '2025-01-01 00:00:00'), (102, NULL, NULL)").await;
    let table = iceberg_table(&f, "m").await;
    let files = table.files(table.metadata.current_snapshot()).await.unwrap();
    assert_eq!(files.data.len(), 2);
    let bound = |b: &Vec<u8>| i64::from_le_bytes(b[..8].try_into().unwrap());
    let high = files.data.iter().find(|d| d.file.lower_bounds.get(&1).map(bound) == Some(100)).expect("a file with ids from 100");
    assert_eq!(high.file.upper_bounds.get(&1).map(bound), Some(102));
    assert_eq!(high.file.value_counts.get(&2), Some(&2));
    assert_eq!(high.file.null_value_counts.get(&2), Some(&1));
    assert_eq!(high.file.null_value_counts.get(&3), Some(&1));
    // The file of ids 100-102 removed behind the table's back.
    let (_, key) = iceberg::io::split_url(&high.file.file_path).unwrap();
    f.store.delete_object("lake", key, None, None).await.unwrap();
    assert_eq!(all_lines(&f, "SELECT count(*) FROM m WHERE id < 50").await, ["2"]);
    assert_eq!(all_lines(&f, "SELECT label FROM m WHERE id <= 3 ORDER BY id").await, ["one", ""]);
    assert_eq!(all_lines(&f, "SELECT count(*) FROM m WHERE at < TIMESTAMP '2024-06-01 00:00:00'").await, ["2"]);
    assert_eq!(all_lines(&f, "SELECT count(*) FROM m WHERE label >= 'o'").await, ["1"]);
    for needs_it in ["SELECT count(*) FROM m WHERE id > 50", "SELECT count(*) FROM m", "SELECT count(*) FROM m WHERE label = 'hundred'"] {
        let id = f.engine.start(start(needs_it)).await.unwrap();
        let q = wait(&f.engine, &id).await;
        assert_eq!(q.state, QueryState::Failed, "{needs_it}");
    }
}

/// VACUUM also deletes orphan files (in the table's data and metadata folders, reached by no
/// metadata, as old as expired snapshots), and nothing else under the table's location.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn iceberg_vacuum_removes_orphan_files_only() {
    let f = fixture().await;
    run_ok(&f, "CREATE TABLE vo (n int) LOCATION 's3://lake/vo' TBLPROPERTIES ('table_type'='ICEBERG', 'vacuum_max_snapshot_age_seconds'='0')").await;
    run_ok(&f, "INSERT INTO vo VALUES (1), (2)").await;
    let put = |key: &'static str| {
        let store = f.store.clone();
        async move {
            let body = futures::stream::iter([Ok(Bytes::from_static(b"left behind"))]).boxed();
            store.put_object("lake", key, body, PutOptions::default()).await.unwrap();
        }
    };
    put("vo/data/failed-write.parquet").await;
    put("vo/metadata/failed-commit.avro").await;
    put("vo/notes.txt").await;
    put("vo-other/data/x.parquet").await;
    run_ok(&f, "VACUUM vo").await;
    let exists = |key: &str| f.store.head_object("lake", key).is_ok();
    assert!(!exists("vo/data/failed-write.parquet"));
    assert!(!exists("vo/metadata/failed-commit.avro"));
    assert!(exists("vo/notes.txt") && exists("vo-other/data/x.parquet"));
    assert_eq!(all_lines(&f, "SELECT sum(n) FROM vo").await, ["3"]);
    run_ok(&f, "INSERT INTO vo VALUES (3)").await;
    assert_eq!(all_lines(&f, "SELECT sum(n) FROM vo").await, ["6"]);
}
