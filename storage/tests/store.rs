//! The lake through its public API: keys, listing, multipart, digests and crash recovery.

use std::sync::Arc;

use bytes::Bytes;
use futures::{StreamExt, TryStreamExt, stream};
use storage::{
    ByteStream, ChecksumAlgorithm, CompleteOptions, CompletedPart, Error, Expected, ExpectedDigests, Kv, ListQuery, PutOptions, RangeSpec, Store,
    open_data_dir,
};

fn min5() -> CompleteOptions {
    CompleteOptions { min_part_size: storage::MIN_PART_SIZE, ..Default::default() }
}

const OWNER: &str = "owner";

fn body(data: &[u8]) -> ByteStream {
    // Split into small chunks so that chunk boundaries are exercised.
    let chunks: Vec<std::io::Result<Bytes>> = data.chunks(if data.len() < 1000 { 7 } else { 65536 }).map(|c| Ok(Bytes::copy_from_slice(c))).collect();
    stream::iter(chunks).boxed()
}

fn open(dir: &std::path::Path) -> (Store, Arc<dyn Kv>) {
    let kv = open_data_dir(dir).unwrap();
    let (store, _) = Store::open(dir, kv.clone(), "us-east-1").unwrap();
    (store, kv)
}

async fn read(store: &Store, bucket: &str, key: &str, range: Option<RangeSpec>) -> Vec<u8> {
    let b = store.get_object(bucket, key, range).await.unwrap();
    let parts: Vec<Bytes> = b.stream.try_collect().await.unwrap();
    parts.concat()
}

async fn put(store: &Store, bucket: &str, key: &str, data: &[u8]) {
    store.put_object(bucket, key, body(data), PutOptions::default()).await.unwrap();
}

#[tokio::test]
async fn awkward_keys_round_trip_and_list_in_byte_order() {
    let dir = tempfile::tempdir().unwrap();
    let (store, _) = open(dir.path());
    store.create_bucket("bkt", OWNER).await.unwrap();
    let long = "k".repeat(1024);
    let keys = ["a", "a/b", "a/", "../../etc/passwd", "x//y", "ünï/cødé", "..", long.as_str(), "a b+c%"];
    for (i, k) in keys.iter().enumerate() {
        put(&store, "bkt", k, format!("body {i}").as_bytes()).await;
    }
    for (i, k) in keys.iter().enumerate() {
        assert_eq!(read(&store, "bkt", k, None).await, format!("body {i}").as_bytes(), "key {k:?}");
    }
    let page = store.list_objects("bkt", &ListQuery { max_keys: 1000, ..Default::default() }).unwrap();
    let listed: Vec<&str> = page.objects.iter().map(|o| o.key.as_str()).collect();
    let mut sorted: Vec<&str> = keys.to_vec();
    sorted.sort_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
    assert_eq!(listed, sorted);
    // Nothing was written outside the data directory.
    assert!(!dir.path().parent().unwrap().join("etc").exists());
    assert!(matches!(store.put_object("bkt", &"k".repeat(1025), body(b""), PutOptions::default()).await, Err(Error::InvalidKey(_))));
}

#[tokio::test]
async fn listing_with_delimiter_pages_without_repeats() {
    let dir = tempfile::tempdir().unwrap();
    let (store, _) = open(dir.path());
    store.create_bucket("bkt", OWNER).await.unwrap();
    let keys = ["a/1", "a/2", "b", "c/x/1", "c/y", "d", "e/1", "e/2", "f"];
    for k in keys {
        put(&store, "bkt", k, b"x").await;
    }
    // Walk every page size; the concatenation must equal the single-page answer.
    let full = store.list_objects("bkt", &ListQuery { delimiter: Some("/".into()), max_keys: 1000, ..Default::default() }).unwrap();
    assert_eq!(full.common_prefixes, ["a/", "c/", "e/"]);
    assert_eq!(full.objects.iter().map(|o| o.key.as_str()).collect::<Vec<_>>(), ["b", "d", "f"]);
    for size in 1..=6 {
        let (mut objects, mut prefixes, mut after) = (Vec::new(), Vec::new(), None);
        loop {
            let q = ListQuery { delimiter: Some("/".into()), after: after.clone(), max_keys: size, ..Default::default() };
            let page = store.list_objects("bkt", &q).unwrap();
            assert!(page.objects.len() + page.common_prefixes.len() <= size);
            objects.extend(page.objects.iter().map(|o| o.key.clone()));
            prefixes.extend(page.common_prefixes.clone());
            if !page.is_truncated {
                break;
            }
            after = page.last.clone();
        }
        assert_eq!(objects, ["b", "d", "f"], "page size {size}");
        assert_eq!(prefixes, ["a/", "c/", "e/"], "page size {size}");
    }
    let q = ListQuery { prefix: "c/".into(), delimiter: Some("/".into()), max_keys: 1000, ..Default::default() };
    let page = store.list_objects("bkt", &q).unwrap();
    assert_eq!(page.common_prefixes, ["c/x/"]);
    assert_eq!(page.objects[0].key, "c/y");
    let q = ListQuery { after: Some("c/y".into()), max_keys: 1000, ..Default::default() };
    let page = store.list_objects("bkt", &q).unwrap();
    assert_eq!(page.objects.iter().map(|o| o.key.as_str()).collect::<Vec<_>>(), ["d", "e/1", "e/2", "f"]);
}

#[tokio::test]
async fn ranges_resolve_as_s3_does() {
    let dir = tempfile::tempdir().unwrap();
    let (store, _) = open(dir.path());
    store.create_bucket("bkt", OWNER).await.unwrap();
    put(&store, "bkt", "k", b"0123456789").await;
    let cases: [(RangeSpec, &[u8]); 4] = [
        (RangeSpec::From { first: 2, last: Some(4) }, b"234"),
        (RangeSpec::From { first: 7, last: None }, b"789"),
        (RangeSpec::From { first: 8, last: Some(100) }, b"89"),
        (RangeSpec::Suffix(3), b"789"),
    ];
    for (spec, want) in cases {
        assert_eq!(read(&store, "bkt", "k", Some(spec)).await, want, "{spec:?}");
    }
    assert!(matches!(store.get_object("bkt", "k", Some(RangeSpec::From { first: 10, last: None })).await, Err(Error::InvalidRange { size: 10 })));
}

#[tokio::test]
async fn digests_are_verified_and_a_mismatch_stores_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (store, _) = open(dir.path());
    store.create_bucket("bkt", OWNER).await.unwrap();
    let mut digests = ExpectedDigests::default();
    digests.checksums.set(ChecksumAlgorithm::Crc32, "DUoRhQ==".into());
    digests.content_md5 = Some("XrY7u+Ae7tCTyyK7j1rNww==".into());
    let ok = PutOptions { expected: Expected { digests: digests.clone(), trailer: None }, ..Default::default() };
    let rec = store.put_object("bkt", "good", body(b"hello world"), ok).await.unwrap();
    assert_eq!(rec.etag, "5eb63bbbe01eeed093cb22bb8f5acdc3");
    assert_eq!(rec.checksums.crc32.as_deref(), Some("DUoRhQ=="));

    let bad = PutOptions { expected: Expected { digests: digests.clone(), trailer: None }, ..Default::default() };
    assert!(matches!(store.put_object("bkt", "bad", body(b"hello worle"), bad).await, Err(Error::BadDigest(_))));
    // A checksum that arrives in the trailer is checked too.
    let trailer = PutOptions {
        algorithms: vec![ChecksumAlgorithm::Sha256],
        expected: Expected {
            digests: ExpectedDigests::default(),
            trailer: Some(Box::new(|| {
                let mut c = storage::Checksums::default();
                c.set(ChecksumAlgorithm::Sha256, "uU0nuZNNPgilLlLX2n2r+sSE7+N6U4DukIj3rOLvzek=".into());
                c
            })),
        },
        ..Default::default()
    };
    assert!(matches!(store.put_object("bkt", "bad", body(b"hello"), trailer).await, Err(Error::BadDigest(_))));
    assert!(matches!(store.head_object("bkt", "bad"), Err(Error::NoSuchKey(_))));
    // No staged or orphan file is left behind.
    assert_eq!(std::fs::read_dir(dir.path().join("tmp")).unwrap().count(), 0);
    let blobs = store.blob_count().unwrap();
    assert_eq!(blobs, 1);
}

#[tokio::test]
async fn multipart_assembles_parts_and_checks_the_list() {
    let dir = tempfile::tempdir().unwrap();
    let (store, _) = open(dir.path());
    store.create_bucket("bkt", OWNER).await.unwrap();
    let up = store.create_multipart_upload("bkt", "big", Default::default()).await.unwrap();
    let p1 = vec![b'a'; storage::MIN_PART_SIZE as usize];
    let r1 = store.upload_part("bkt", "big", &up.upload_id, 1, body(&p1), PutOptions::default()).await.unwrap();
    let r2 = store.upload_part("bkt", "big", &up.upload_id, 2, body(b"tail"), PutOptions::default()).await.unwrap();
    let part = |n, e: &str| CompletedPart { number: n, etag: format!("\"{e}\""), checksums: Default::default() };
    assert!(matches!(
        store.complete_multipart_upload("bkt", "big", &up.upload_id, &[part(2, &r2.etag), part(1, &r1.etag)], min5()).await,
        Err(Error::InvalidPartOrder)
    ));
    assert!(matches!(
        store.complete_multipart_upload("bkt", "big", &up.upload_id, &[part(1, &r1.etag), part(3, &r2.etag)], min5()).await,
        Err(Error::InvalidPart(3))
    ));
    let (_, listed) = store.list_parts("bkt", "big", &up.upload_id, 0, 1000).unwrap();
    assert_eq!(listed.parts.len(), 2);
    let rec = store.complete_multipart_upload("bkt", "big", &up.upload_id, &[part(1, &r1.etag), part(2, &r2.etag)], min5()).await.unwrap();
    assert!(rec.etag.ends_with("-2"));
    let mut want = p1.clone();
    want.extend_from_slice(b"tail");
    assert_eq!(read(&store, "bkt", "big", None).await, want);
    assert_eq!(read(&store, "bkt", "big", Some(RangeSpec::Suffix(6))).await, b"aatail");
    // Ranges read in one piece, across a file part and a small part kept in the index.
    let edge = storage::MIN_PART_SIZE;
    let (_, parts) = store.read_ranges("bkt", "big", vec![edge - 2..edge + 2, 0..3, edge + 4..edge + 4]).await.unwrap();
    assert_eq!(parts, [&b"aata"[..], b"aaa", b""]);
    assert!(matches!(store.read_ranges("bkt", "big", std::iter::once(0..edge + 5).collect()).await, Err(Error::InvalidRange { .. })));
    assert!(matches!(store.list_parts("bkt", "big", &up.upload_id, 0, 10), Err(Error::NoSuchUpload(_))));

    // Small non-final parts are refused; abort removes the upload.
    let up = store.create_multipart_upload("bkt", "small", Default::default()).await.unwrap();
    let a = store.upload_part("bkt", "small", &up.upload_id, 1, body(b"x"), PutOptions::default()).await.unwrap();
    let b = store.upload_part("bkt", "small", &up.upload_id, 2, body(b"y"), PutOptions::default()).await.unwrap();
    assert!(matches!(
        store.complete_multipart_upload("bkt", "small", &up.upload_id, &[part(1, &a.etag), part(2, &b.etag)], min5()).await,
        Err(Error::EntityTooSmall { part: 1, .. })
    ));
    assert_eq!(store.list_multipart_uploads("bkt", "", None, None, None, 100).unwrap().uploads.len(), 1);
    store.abort_multipart_upload("bkt", "small", &up.upload_id).await.unwrap();
    assert!(store.list_multipart_uploads("bkt", "", None, None, None, 100).unwrap().uploads.is_empty());
    // What remains are the two parts of `big` (a file and a small body); the aborted parts are gone.
    assert_eq!(store.blob_count().unwrap(), 2);
}

#[tokio::test]
async fn buckets_delete_only_when_empty() {
    let dir = tempfile::tempdir().unwrap();
    let (store, _) = open(dir.path());
    store.create_bucket("bkt", OWNER).await.unwrap();
    assert!(matches!(store.create_bucket("bkt", OWNER).await, Err(Error::BucketAlreadyOwnedByYou(_))));
    for bad in ["ab", "Upper", "_minerva", "a..b", "192.168.0.1", "-ab"] {
        assert!(matches!(store.create_bucket(bad, OWNER).await, Err(Error::InvalidBucketName { .. })), "{bad}");
    }
    put(&store, "bkt", "k", b"v").await;
    assert!(matches!(store.delete_bucket("bkt").await, Err(Error::BucketNotEmpty(_))));
    store.delete_object("bkt", "k", None, None).await.unwrap();
    store.delete_bucket("bkt").await.unwrap();
    assert!(matches!(store.head_bucket("bkt"), Err(Error::NoSuchBucket(_))));
    assert!(matches!(store.put_object("bkt", "k", body(b""), PutOptions::default()).await, Err(Error::NoSuchBucket(_))));
}

#[tokio::test]
async fn restart_keeps_objects_and_sweeps_orphans() {
    let dir = tempfile::tempdir().unwrap();
    {
        let (store, kv) = open(dir.path());
        store.create_bucket("bkt", OWNER).await.unwrap();
        put(&store, "bkt", "keep", b"kept").await;
        put(&store, "bkt", "over", b"first").await;
        put(&store, "bkt", "over", b"second").await;
        // Over the inline limit: a body in a file of its own.
        put(&store, "bkt", "large", &[7u8; storage::INLINE_MAX + 1]).await;
        // Simulate a crash between a small body's write and its record's commit.
        kv.tree("bodies").unwrap().put(b"iorphan", b"orphan").unwrap();
        kv.flush().await.unwrap();
        assert_eq!(store.blob_count().unwrap(), 4);
    }
    // Simulate a crash mid-write: a staged file and a promoted blob no record points at.
    std::fs::write(dir.path().join("tmp").join("deadbeef"), b"partial").unwrap();
    std::fs::write(dir.path().join("objects").join("ab").join("ab00orphan"), b"orphan").unwrap();
    let kv = open_data_dir(dir.path()).unwrap();
    let (store, recovery) = Store::open(dir.path(), kv, "us-east-1").unwrap();
    assert_eq!((recovery.staged_removed, recovery.orphans_removed, recovery.objects, recovery.versions), (1, 2, 3, 3));
    assert_eq!(store.blob_count().unwrap(), 3);
    assert_eq!(read(&store, "bkt", "keep", None).await, b"kept");
    assert_eq!(read(&store, "bkt", "over", None).await, b"second");
    assert_eq!(read(&store, "bkt", "large", Some(RangeSpec::Suffix(2))).await, b"\x07\x07");
}

#[tokio::test]
async fn object_store_view_reads_writes_and_lists() {
    use object_store::{ObjectStore, ObjectStoreExt, path::Path};
    let dir = tempfile::tempdir().unwrap();
    let (store, _) = open(dir.path());
    store.create_bucket("lake", OWNER).await.unwrap();
    let os = storage::BucketStore::new(store.clone(), "lake");
    os.put(&Path::from("t/a.csv"), Bytes::from_static(b"1,2\n").into()).await.unwrap();
    let mut up = os.put_multipart(&Path::from("t/sub/b.parquet")).await.unwrap();
    up.put_part(Bytes::from_static(b"PAR1").into()).await.unwrap();
    up.put_part(Bytes::from_static(b"data").into()).await.unwrap();
    up.complete().await.unwrap();
    assert_eq!(read(&store, "lake", "t/sub/b.parquet", None).await, b"PAR1data");
    assert_eq!(os.get_range(&Path::from("t/a.csv"), 1..3).await.unwrap(), Bytes::from_static(b",2"));
    let parts = os.get_ranges(&Path::from("t/sub/b.parquet"), &[2..6, 0..8, 7..8]).await.unwrap();
    assert_eq!(parts, [Bytes::from_static(b"R1da"), Bytes::from_static(b"PAR1data"), Bytes::from_static(b"a")]);
    let suffix = object_store::GetOptions::new().with_range(Some(object_store::GetRange::Suffix(3)));
    let tail = os.get_opts(&Path::from("t/sub/b.parquet"), suffix).await.unwrap();
    assert_eq!(tail.range, 5..8);
    assert_eq!(tail.bytes().await.unwrap(), Bytes::from_static(b"ata"));
    // A ranged read holds to its preconditions: the version's ETag matches, another does not.
    let etag = os.head(&Path::from("t/sub/b.parquet")).await.unwrap().e_tag.expect("an ETag");
    let matching =
        object_store::GetOptions { if_match: Some(etag.clone()), range: Some(object_store::GetRange::Bounded(0..4)), ..Default::default() };
    assert_eq!(os.get_opts(&Path::from("t/sub/b.parquet"), matching).await.unwrap().bytes().await.unwrap(), Bytes::from_static(b"PAR1"));
    let stale =
        object_store::GetOptions { if_match: Some("\"0123\"".into()), range: Some(object_store::GetRange::Bounded(0..4)), ..Default::default() };
    assert!(matches!(os.get_opts(&Path::from("t/sub/b.parquet"), stale).await, Err(object_store::Error::Precondition { .. })));
    let changed = object_store::GetOptions { if_none_match: Some(etag), range: Some(object_store::GetRange::Suffix(2)), ..Default::default() };
    assert!(matches!(os.get_opts(&Path::from("t/sub/b.parquet"), changed).await, Err(object_store::Error::NotModified { .. })));
    let all: Vec<_> = os.list(Some(&Path::from("t"))).try_collect().await.unwrap();
    assert_eq!(all.len(), 2);
    let top = os.list_with_delimiter(Some(&Path::from("t"))).await.unwrap();
    assert_eq!(top.objects.len(), 1);
    assert_eq!(top.common_prefixes, vec![Path::from("t/sub")]);
    assert!(matches!(os.head(&Path::from("t/none")).await, Err(object_store::Error::NotFound { .. })));
}

/// Lets through what a table of (action, key prefix) names, and records what it was asked.
#[derive(Debug, Default)]
struct Grants {
    allowed: Vec<(storage::Action, &'static str)>,
    asked: std::sync::Mutex<Vec<(storage::Action, Option<String>)>>,
}

impl storage::Permissions for Grants {
    fn allows(&self, action: storage::Action, bucket: &str, key: Option<&str>) -> bool {
        assert_eq!(bucket, "lake");
        self.asked.lock().unwrap().push((action, key.map(str::to_string)));
        self.allowed.iter().any(|(a, prefix)| *a == action && key.unwrap_or_default().starts_with(prefix))
    }
}

/// A store acting for someone checks each call first, and a refused call touches nothing.
#[tokio::test]
async fn a_bucket_store_acting_for_someone_checks_every_call() {
    use object_store::{ObjectStore, ObjectStoreExt, path::Path};
    use storage::Action::*;
    let dir = tempfile::tempdir().unwrap();
    let (store, _) = open(dir.path());
    store.create_bucket("lake", OWNER).await.unwrap();
    put(&store, "lake", "open/a.csv", b"open").await;
    put(&store, "lake", "closed/b.csv", b"closed").await;
    let grants = Arc::new(Grants { allowed: vec![(GetObject, "open/"), (PutObject, "out/")], ..Default::default() });
    let os = storage::BucketStore::acting_for(store.clone(), "lake", grants.clone());
    let denied =
        |r: object_store::Result<()>| matches!(r, Err(object_store::Error::PermissionDenied { ref path, .. }) if path.starts_with("s3://lake/"));
    assert_eq!(os.get(&Path::from("open/a.csv")).await.unwrap().bytes().await.unwrap(), Bytes::from_static(b"open"));
    assert!(denied(os.get(&Path::from("closed/b.csv")).await.map(|_| ())));
    assert!(denied(os.head(&Path::from("closed/b.csv")).await.map(|_| ())));
    assert!(denied(os.get_range(&Path::from("closed/b.csv"), 0..2).await.map(|_| ())));
    assert!(denied(os.list(None).try_collect::<Vec<_>>().await.map(|_| ())));
    assert!(denied(os.list_with_delimiter(None).await.map(|_| ())));
    os.put(&Path::from("out/c.csv"), Bytes::from_static(b"c").into()).await.unwrap();
    assert!(denied(os.put(&Path::from("closed/new.csv"), Bytes::from_static(b"x").into()).await.map(|_| ())));
    assert!(denied(os.put_multipart(&Path::from("closed/big.csv")).await.map(|_| ())));
    assert!(denied(os.delete(&Path::from("open/a.csv")).await));
    assert!(denied(os.copy(&Path::from("closed/b.csv"), &Path::from("out/b.csv")).await));
    // Nothing refused happened: the objects are as they were, no new ones appeared.
    let keys: Vec<String> =
        store.list_objects("lake", &ListQuery { max_keys: 100, ..Default::default() }).unwrap().objects.into_iter().map(|o| o.key).collect();
    assert_eq!(keys, ["closed/b.csv", "open/a.csv", "out/c.csv"]);
    assert!(grants.asked.lock().unwrap().contains(&(ListBucket, None)));
    // The server's own store checks nothing.
    let own = storage::BucketStore::new(store.clone(), "lake");
    assert_eq!(own.get(&Path::from("closed/b.csv")).await.unwrap().bytes().await.unwrap(), Bytes::from_static(b"closed"));
}
