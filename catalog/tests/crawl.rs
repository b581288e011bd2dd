//! The crawler over a generated corpus, through `object_store` (in memory): what it infers for
//! every kind of file Glue classifies, kept as a snapshot (`UPDATE_EXPECT=1 cargo test` rewrites
//! it after a deliberate change), and how re-crawls add, merge, reuse and retire.

use std::collections::BTreeMap;
use std::io::Write;
use std::sync::Arc;

use arrow_array::builder::{ListBuilder, StringBuilder};
use arrow_array::{
    ArrayRef, BooleanArray, Date32Array, Float64Array, Int32Array, Int64Array, RecordBatch, StringArray, StructArray, TimestampMillisecondArray,
};
use arrow_schema::{DataType, Field};
use catalog::{Catalog, Database, Resolver, RunSummary};
use catalog::{Crawler, S3Target, SchemaChangePolicy, Targets};
use object_store::memory::InMemory;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};

fn catalog() -> (tempfile::TempDir, Catalog) {
    let dir = tempfile::tempdir().unwrap();
    let kv = storage::open_data_dir(dir.path()).unwrap();
    (dir, Catalog::open(kv, "000000000000").unwrap())
}

fn resolver(store: Arc<InMemory>) -> Resolver {
    Arc::new(
        move |bucket: &str| {
            if bucket == "corpus" { Ok(store.clone() as Arc<dyn ObjectStore>) } else { Err(format!("The S3 bucket {bucket} does not exist")) }
        },
    )
}

async fn put(store: &InMemory, key: &str, data: impl Into<Vec<u8>>) {
    store.put(&Path::from(key), PutPayload::from(data.into())).await.unwrap();
}

/// A gzip member whose deflate stream is one stored block. Built by hand because the snapshot
/// records object sizes, and what a compressor emits depends on the zlib backend that feature
/// unification picks for the build (`cargo test -p catalog` and `--workspace` differ).
fn gzip(data: &[u8]) -> Vec<u8> {
    let len = u16::try_from(data.len()).expect("one stored block holds at most 65535 bytes");
    let mut out = vec![0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff];
    out.push(1); // the final block, stored
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(&(!len).to_le_bytes());
    out.extend_from_slice(data);
    let mut crc = flate2::Crc::new();
    crc.update(data);
    out.extend_from_slice(&crc.sum().to_le_bytes());
    out.extend_from_slice(&(data.len() as u32).to_le_bytes());
    out
}

fn bzip2(data: &[u8]) -> Vec<u8> {
    let mut e = bzip2::write::BzEncoder::new(Vec::new(), bzip2::Compression::default());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

fn parquet_file() -> Vec<u8> {
    let mut tags = ListBuilder::new(StringBuilder::new());
    tags.values().append_value("a");
    tags.append(true);
    tags.append(true);
    let point = StructArray::from(vec![
        (Arc::new(Field::new("x", DataType::Float64, true)), Arc::new(Float64Array::from(vec![1.0, 2.0])) as ArrayRef),
        (Arc::new(Field::new("Label", DataType::Utf8, true)), Arc::new(StringArray::from(vec!["p", "q"])) as ArrayRef),
    ]);
    let batch = RecordBatch::try_from_iter(vec![
        ("small", Arc::new(Int32Array::from(vec![1, 2])) as ArrayRef),
        ("Big", Arc::new(Int64Array::from(vec![10, 20])) as ArrayRef),
        ("price", Arc::new(Float64Array::from(vec![1.5, 2.5])) as ArrayRef),
        ("name", Arc::new(StringArray::from(vec!["x", "y"])) as ArrayRef),
        ("ok", Arc::new(BooleanArray::from(vec![true, false])) as ArrayRef),
        ("day", Arc::new(Date32Array::from(vec![19000, 19001])) as ArrayRef),
        ("at", Arc::new(TimestampMillisecondArray::from(vec![1_700_000_000_000, 1_700_000_001_000])) as ArrayRef),
        ("tags", Arc::new(tags.finish()) as ArrayRef),
        ("point", Arc::new(point) as ArrayRef),
    ])
    .unwrap();
    let mut out = Vec::new();
    let mut w = parquet::arrow::ArrowWriter::try_new(&mut out, batch.schema(), None).unwrap();
    w.write(&batch).unwrap();
    w.close().unwrap();
    out
}

/// Every case of the crawler section of the design, one folder each.
async fn corpus(store: &InMemory) {
    put(
        store,
        "csv/comma/data.csv",
        "id,name,price,active,day,at\n1,alpha,2.5,true,2024-01-02,2024-01-02 10:20:30\n2,beta,3,false,2024-01-03,2024-01-03 11:00:00\n",
    )
    .await;
    put(store, "csv/tab/data.tsv", "id\tcity\n1\tParis\n2\tRome\n").await;
    put(store, "csv/pipe/data.txt", "1|2.5|x\n2|3.5|y\n3|4.5|z\n").await;
    put(store, "csv/semicolon/data.csv", "a;b\n1;x\n2;y\n").await;
    put(store, "csv/ctrl_a/data", "1\x01x\n2\x01y\n").await;
    put(store, "csv/quoted/data.csv", "id,review,stars\n1,\"Great, fits well\",5\n2,\"Too \"\"big\"\"\nreturned\",2\n").await;
    put(store, "csv/gzip/data.csv.gz", gzip(b"id,v\n1,0.5\n2,1.5\n")).await;
    put(store, "json/nested/data.json", "{\"id\": 1, \"user\": {\"name\": \"a\", \"age\": 30}, \"tags\": [\"x\"]}\n{\"id\": 2, \"user\": {\"name\": \"b\"}, \"tags\": [], \"score\": 0.5}\n").await;
    put(store, "json/bzip2/data.json.bz2", bzip2(b"{\"k\": \"v\", \"n\": 1}\n{\"k\": \"w\", \"n\": 2}\n")).await;
    put(store, "parquet/flat/part-0.parquet", parquet_file()).await;
    for (y, m) in [(2023, 1), (2023, 2), (2024, 1)] {
        put(store, &format!("hive/sales/year={y}/month={m}/part.csv"), "sku,qty\nA1,3\nB2,4\n").await;
    }
    for d in ["2024/01", "2024/02"] {
        put(store, &format!("unnamed/logs/{d}/events.json"), "{\"level\": \"info\", \"ms\": 12}\n").await;
    }
    // Bad input: skipped and named; the good file beside them still makes the table.
    put(store, "bad/good.csv", "id,v\n1,2\n3,4\n").await;
    put(store, "bad/garbage.parquet", "this is not parquet at all").await;
    let real = parquet_file();
    put(store, "bad/truncated.parquet", real[..real.len() / 2].to_vec()).await;
    put(store, "bad/ragged.csv", "a,b,c\n1,2\n3,4,5,6\n7\n").await;
    put(store, "bad/invalid.json", "{\"a\": 1}\n{not json}\n").await;
    put(store, "bad/empty.csv", "").await;
    // Not data: markers and hidden files are left alone.
    put(store, "csv/comma/_SUCCESS", "").await;
    put(store, "csv/comma/.hidden", "x").await;
}

fn crawler(name: &str, path: &str) -> Crawler {
    Crawler {
        name: name.into(),
        role: Some("role".into()),
        database_name: Some("lake".into()),
        targets: Targets { s3_targets: vec![S3Target { path: path.into(), ..Default::default() }], ..Default::default() },
        ..Default::default()
    }
}

/// The tables of a database as a stable text, for snapshots.
fn render(cat: &Catalog, summary: &RunSummary) -> String {
    let mut out = String::new();
    for t in cat.list_tables("lake", None).unwrap() {
        let sd = t.storage_descriptor.as_ref().unwrap();
        let serde = sd.serde_info.as_ref().unwrap();
        out.push_str(&format!("table {} at {}\n", t.name, sd.location.as_deref().unwrap()));
        out.push_str(&format!("  serde {} {:?}\n", serde.serialization_library.as_deref().unwrap(), serde.parameters));
        for c in &sd.columns {
            out.push_str(&format!("  column {}: {}\n", c.name, c.r#type.as_deref().unwrap()));
        }
        for k in &t.partition_keys {
            out.push_str(&format!("  partition key {}: {}\n", k.name, k.r#type.as_deref().unwrap()));
        }
        let keep = [
            "classification",
            "compressionType",
            "delimiter",
            "areColumnsQuoted",
            "skip.header.line.count",
            "recordCount",
            "averageRecordSize",
            "objectCount",
            "sizeKey",
            "typeOfData",
        ];
        let params: BTreeMap<&String, &String> = t.parameters.iter().filter(|(k, _)| keep.contains(&k.as_str())).collect();
        out.push_str(&format!("  parameters {params:?}\n"));
        for p in cat.get_partitions("lake", &t.name).unwrap() {
            out.push_str(&format!(
                "  partition {:?} at {} (recordCount {}, averageRecordSize {}, sizeKey {})\n",
                p.values,
                p.storage_descriptor.as_ref().and_then(|s| s.location.as_deref()).unwrap_or(""),
                p.parameters["recordCount"],
                p.parameters["averageRecordSize"],
                p.parameters["sizeKey"],
            ));
        }
    }
    let mut skipped = summary.skipped.clone();
    skipped.sort();
    for (object, reason) in skipped {
        out.push_str(&format!("skipped {object}: {reason}\n"));
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_corpus_infers_as_glue_would() {
    let (_dir, cat) = catalog();
    let store = Arc::new(InMemory::new());
    corpus(&store).await;
    cat.create_database(Database { name: "lake".into(), ..Default::default() }).await.unwrap();
    cat.create_crawler(crawler("corpus", "s3://corpus/")).await.unwrap();
    let summary = cat.run_crawler("corpus", resolver(store.clone()), &|_| {}).await.unwrap().unwrap();
    expect_test::expect_file!["snapshots/corpus.txt"].assert_eq(&render(&cat, &summary));
    assert_eq!(summary.objects_reused, 0);
    let c = cat.get_crawler("corpus").unwrap();
    assert_eq!((c.state.as_str(), c.last_crawl.unwrap().status.as_str()), ("READY", "SUCCEEDED"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recrawls_add_partitions_merge_columns_and_reuse_unchanged_objects() {
    let (_dir, cat) = catalog();
    let store = Arc::new(InMemory::new());
    cat.create_database(Database { name: "lake".into(), ..Default::default() }).await.unwrap();
    for m in [1, 2] {
        put(&store, &format!("sales/month={m}/a.json"), "{\"sku\": \"A\", \"qty\": 1}\n").await;
    }
    cat.create_crawler(crawler("c", "s3://corpus/sales/")).await.unwrap();
    let first = cat.run_crawler("c", resolver(store.clone()), &|_| {}).await.unwrap().unwrap();
    assert_eq!((first.tables_created.clone(), first.partitions_added, first.objects_read), (vec!["sales".to_string()], 2, 2));
    // New data: a partition, and a file with one more column.
    put(&store, "sales/month=3/a.json", "{\"sku\": \"C\", \"qty\": 3, \"price\": 9.5}\n").await;
    let second = cat.run_crawler("c", resolver(store.clone()), &|_| {}).await.unwrap().unwrap();
    assert_eq!(second.tables_updated, ["sales"], "{second:?}");
    assert_eq!(second.partitions_added, 1);
    assert_eq!((second.objects_read, second.objects_reused), (1, 2), "unchanged objects are not read again");
    let t = cat.get_table("lake", "sales").unwrap();
    assert_eq!(t.columns().iter().map(|c| c.name.as_str()).collect::<Vec<_>>(), ["sku", "qty", "price"]);
    assert_eq!(t.version_id.as_deref(), Some("1"));
    assert_eq!(cat.table_versions("lake", "sales").unwrap().len(), 2);
    // Nothing changed: nothing is read, nothing updated.
    let third = cat.run_crawler("c", resolver(store.clone()), &|_| {}).await.unwrap().unwrap();
    assert!(third.tables_updated.is_empty() && third.objects_read == 0 && third.objects_reused == 3, "{third:?}");
    // A vanished partition is deprecated by default, deleted when the policy says so.
    store.delete(&Path::from("sales/month=1/a.json")).await.unwrap();
    cat.run_crawler("c", resolver(store.clone()), &|_| {}).await.unwrap().unwrap();
    let p = cat.get_partition("lake", "sales", &["1".into()]).unwrap();
    assert_eq!(p.parameters.get("DEPRECATED_BY_CRAWLER").map(String::as_str), Some("c"));
    cat.update_crawler("c", |c| {
        c.schema_change_policy =
            SchemaChangePolicy { update_behavior: Some("UPDATE_IN_DATABASE".into()), delete_behavior: Some("DELETE_FROM_DATABASE".into()) }
    })
    .await
    .unwrap();
    let fourth = cat.run_crawler("c", resolver(store.clone()), &|_| {}).await.unwrap().unwrap();
    assert_eq!(fourth.partitions_deleted, 1);
    assert_eq!(cat.get_partitions("lake", "sales").unwrap().len(), 2);
    // All data gone: the table this crawler made is retired.
    for m in [2, 3] {
        store.delete(&Path::from(format!("sales/month={m}/a.json").as_str())).await.unwrap();
    }
    let fifth = cat.run_crawler("c", resolver(store.clone()), &|_| {}).await.unwrap().unwrap();
    assert_eq!(fifth.tables_deleted, ["sales"]);
    assert!(cat.get_table("lake", "sales").is_err());
    assert!(cat.crawler_metrics("c").unwrap().median_runtime_seconds >= 0.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn log_policy_keeps_the_schema_and_new_folders_only_reads_new_folders() {
    let (_dir, cat) = catalog();
    let store = Arc::new(InMemory::new());
    cat.create_database(Database { name: "lake".into(), ..Default::default() }).await.unwrap();
    put(&store, "t/d=1/a.json", "{\"a\": 1}\n").await;
    let mut c = crawler("logonly", "s3://corpus/t/");
    c.schema_change_policy = SchemaChangePolicy { update_behavior: Some("LOG".into()), delete_behavior: Some("LOG".into()) };
    c.recrawl_policy.recrawl_behavior = Some("CRAWL_NEW_FOLDERS_ONLY".into());
    cat.create_crawler(c).await.unwrap();
    cat.run_crawler("logonly", resolver(store.clone()), &|_| {}).await.unwrap().unwrap();
    // A changed file in a known folder is not read; a new folder is, and only adds a partition.
    put(&store, "t/d=1/a.json", "{\"a\": 1, \"b\": 2}\n").await;
    put(&store, "t/d=2/a.json", "{\"a\": 2, \"c\": 3}\n").await;
    let s = cat.run_crawler("logonly", resolver(store.clone()), &|_| {}).await.unwrap().unwrap();
    assert_eq!((s.objects_read, s.partitions_added), (1, 1));
    assert_eq!(cat.get_table("lake", "t").unwrap().columns().len(), 1, "LOG leaves the schema alone");
    // The policy rules are Glue's: new folders only needs LOG behaviours.
    let mut bad = crawler("bad", "s3://corpus/t/");
    bad.recrawl_policy.recrawl_behavior = Some("CRAWL_NEW_FOLDERS_ONLY".into());
    assert!(matches!(cat.create_crawler(bad).await, Err(catalog::Error::InvalidInput(_))));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_bucket_fails_the_run_and_changes_nothing() {
    let (_dir, cat) = catalog();
    cat.create_database(Database { name: "lake".into(), ..Default::default() }).await.unwrap();
    cat.create_crawler(crawler("lost", "s3://no-such-bucket/x/")).await.unwrap();
    let outcome = cat.run_crawler("lost", resolver(Arc::new(InMemory::new())), &|_| {}).await.unwrap();
    assert!(outcome.unwrap_err().contains("no-such-bucket"));
    let c = cat.get_crawler("lost").unwrap();
    let last = c.last_crawl.unwrap();
    assert_eq!((c.state.as_str(), last.status.as_str()), ("READY", "FAILED"));
    assert!(last.error_message.unwrap().contains("does not exist"));
    assert!(cat.list_tables("lake", None).unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exclusions_samples_prefixes_and_table_levels() {
    let (_dir, cat) = catalog();
    let store = Arc::new(InMemory::new());
    cat.create_database(Database { name: "lake".into(), ..Default::default() }).await.unwrap();
    for i in 0..5 {
        put(&store, &format!("data/orders/day={i}/a.json"), "{\"id\": 1, \"total\": 2.5}\n").await;
        put(&store, &format!("data/orders/day={i}/b.json"), "{\"id\": 2, \"total\": 3.5}\n").await;
    }
    put(&store, "data/orders/day=0/scratch.tmp", "not data").await;
    put(&store, "data/orders/skip/x.json", "{\"other\": true}\n").await;
    let mut c = crawler("shaped", "s3://corpus/data/");
    c.targets.s3_targets[0].exclusions = vec!["**.tmp".into(), "orders/skip/**".into()];
    c.targets.s3_targets[0].sample_size = Some(1);
    c.table_prefix = Some("raw_".into());
    cat.create_crawler(c).await.unwrap();
    let s = cat.run_crawler("shaped", resolver(store.clone()), &|_| {}).await.unwrap().unwrap();
    // One file read per folder; the excluded ones not even listed as skipped.
    assert_eq!(s.objects_read, 5, "{s:?}");
    assert!(s.skipped.is_empty(), "{s:?}");
    // The include path is the table, as in Glue: its one subfolder is a partition value.
    assert_eq!(s.tables_created, ["raw_data"]);
    let t = cat.get_table("lake", "raw_data").unwrap();
    assert_eq!(t.partition_keys.iter().map(|k| k.name.as_str()).collect::<Vec<_>>(), ["partition_0", "day"]);
    assert_eq!(t.parameters["objectCount"], "10", "unsampled files still count");
    assert_eq!(cat.get_partitions("lake", "raw_data").unwrap().len(), 5);

    // Glue's absolute TableLevelConfiguration: bucket = 1, data = 2, orders = 3, day=N = 4.
    let mut leveled = crawler("leveled", "s3://corpus/data/");
    leveled.configuration = Some(r#"{"Version": 1.0, "Grouping": {"TableLevelConfiguration": 4}}"#.into());
    leveled.targets.s3_targets[0].exclusions = vec!["**.tmp".into(), "orders/skip/**".into()];
    cat.create_crawler(leveled).await.unwrap();
    let s = cat.run_crawler("leveled", resolver(store.clone()), &|_| {}).await.unwrap().unwrap();
    let mut made = s.tables_created.clone();
    made.sort();
    assert_eq!(made, ["day_0", "day_1", "day_2", "day_3", "day_4"]);
}
