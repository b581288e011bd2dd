//! The fuzz harness for key and path handling, shared by the cargo-fuzz target
//! (`storage/fuzz`, for long campaigns) and by `tests/fuzz_keys.rs` (which replays the corpus and
//! a batch of generated inputs in every test run).
//!
//! An input is a key table and a program. Bytes up to the first 0xFE are split at 0xFF into up to
//! eight keys (lossy UTF-8, at most 1024 bytes, so NUL, `..`, `/` and unicode all occur); every
//! following pair of bytes is an operation on one of them. The lake, in a versioned bucket, is
//! checked against a plain model after every operation: reads, listings with and without a
//! delimiter, and the version listing.

use std::collections::BTreeMap;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};

use bytes::Bytes;
use futures::{StreamExt, TryStreamExt, stream};
use storage::{Error, ListQuery, PutOptions, Store, VersionQuery, Versioning, open_data_dir};

struct Lake {
    _dir: tempfile::TempDir,
    store: Store,
    runtime: tokio::runtime::Runtime,
    next_bucket: AtomicUsize,
}

fn lake() -> &'static Lake {
    static LAKE: OnceLock<Lake> = OnceLock::new();
    LAKE.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), open_data_dir(dir.path()).unwrap(), "us-east-1").unwrap().0;
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        Lake { _dir: dir, store, runtime, next_bucket: AtomicUsize::new(0) }
    })
}

fn keys_of(table: &[u8]) -> Vec<String> {
    let mut keys: Vec<String> = table
        .split(|b| *b == 0xFF)
        .take(8)
        .map(|k| {
            let mut s = String::from_utf8_lossy(k).into_owned();
            while s.len() > 1024 {
                s.pop();
            }
            s
        })
        .filter(|k| !k.is_empty())
        .collect();
    if keys.is_empty() {
        keys.push("a".into());
    }
    keys
}

/// One version in the model: a body, or a delete marker.
type Versions = Vec<Option<Vec<u8>>>;

pub fn run(data: &[u8]) {
    let lake = lake();
    let (table, program) = match data.iter().position(|b| *b == 0xFE) {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, &[][..]),
    };
    let keys = keys_of(table);
    let bucket = format!("fuzz{}", lake.next_bucket.fetch_add(1, Ordering::SeqCst));
    lake.runtime.block_on(async {
        let store = &lake.store;
        store.create_bucket(&bucket, "fuzz").await.unwrap();
        store.set_versioning(&bucket, Versioning::Enabled).await.unwrap();
        let mut model: BTreeMap<String, Versions> = BTreeMap::new();
        for (step, op) in program.chunks(2).take(64).enumerate() {
            let key = &keys[op.get(1).copied().unwrap_or(0) as usize % keys.len()];
            match op[0] % 4 {
                0 | 1 => {
                    let body = format!("{step}").into_bytes();
                    let options = PutOptions::default();
                    store.put_object(&bucket, key, stream::iter([Ok(Bytes::from(body.clone()))]).boxed(), options).await.unwrap();
                    model.entry(key.clone()).or_default().insert(0, Some(body));
                }
                2 => {
                    let done = store.delete_object(&bucket, key, None, None).await.unwrap();
                    assert!(done.delete_marker);
                    model.entry(key.clone()).or_default().insert(0, None);
                }
                _ => {}
            }
            check(store, &bucket, &model).await;
        }
        check(store, &bucket, &model).await;
    });
}

async fn check(store: &Store, bucket: &str, model: &BTreeMap<String, Versions>) {
    for (key, versions) in model {
        match (store.get_object(bucket, key, None).await, versions.first()) {
            (Ok(got), Some(Some(want))) => {
                let got: Vec<Bytes> = got.stream.try_collect().await.unwrap();
                assert_eq!(&got.concat(), want, "{key:?}");
            }
            (Err(Error::DeleteMarker { latest: true, .. }), Some(None)) => {}
            (other, want) => panic!("{key:?}: got {:?}, model says {want:?}", other.map(|b| b.info.record.size)),
        }
    }
    let live: Vec<&String> = model.iter().filter(|(_, v)| matches!(v.first(), Some(Some(_)))).map(|(k, _)| k).collect();
    let listed = store.list_objects(bucket, &ListQuery { max_keys: 1000, ..Default::default() }).unwrap();
    assert_eq!(listed.objects.iter().map(|o| &o.key).collect::<Vec<_>>(), live);
    let rolled = store.list_objects(bucket, &ListQuery { delimiter: Some("/".into()), max_keys: 1000, ..Default::default() }).unwrap();
    let mut prefixes: Vec<String> = live.iter().filter_map(|k| k.find('/').map(|i| k[..=i].to_string())).collect();
    prefixes.dedup();
    assert_eq!(rolled.common_prefixes, prefixes);
    let versions = store.list_object_versions(bucket, &VersionQuery { max_keys: 10_000, ..Default::default() }).unwrap();
    let want: Vec<(&String, bool, bool)> =
        model.iter().flat_map(|(k, vs)| vs.iter().enumerate().map(move |(i, v)| (k, i == 0, v.is_none()))).collect();
    let got: Vec<(&String, bool, bool)> = versions.versions.iter().map(|v| (&v.key, v.is_latest, v.record.delete_marker)).collect();
    assert_eq!(got, want);
}
