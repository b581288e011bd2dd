//! Versions, delete markers, conditional writes and concurrent writers of one key.

use std::collections::BTreeMap;

use bytes::Bytes;
use futures::{StreamExt, TryStreamExt, stream};
use storage::{ByteStream, Error, PutOptions, ReadOptions, Store, VersionQuery, Versioning, WriteCondition, open_data_dir};

fn body(data: &[u8]) -> ByteStream {
    let chunks: Vec<std::io::Result<Bytes>> = data.chunks(5).map(|c| Ok(Bytes::copy_from_slice(c))).collect();
    stream::iter(chunks).boxed()
}

fn open(dir: &std::path::Path) -> Store {
    let kv = open_data_dir(dir).unwrap();
    Store::open(dir, kv, "us-east-1").unwrap().0
}

async fn read(store: &Store, key: &str, version: Option<&str>) -> Result<Vec<u8>, Error> {
    let options = ReadOptions { version_id: version.map(str::to_string), ..Default::default() };
    let b = store.open_object("bkt", key, &options).await?;
    let parts: Vec<Bytes> = b.stream.try_collect().await.unwrap();
    Ok(parts.concat())
}

async fn put(store: &Store, key: &str, data: &[u8]) -> storage::ObjectRecord {
    store.put_object("bkt", key, body(data), PutOptions::default()).await.unwrap()
}

/// `(key, version, is_latest, delete_marker)` of every version, page by page of `size`.
fn all_versions(store: &Store, size: usize) -> Vec<(String, String, bool, bool)> {
    let mut out = Vec::new();
    let mut query = VersionQuery { max_keys: size, ..Default::default() };
    loop {
        let page = store.list_object_versions("bkt", &query).unwrap();
        assert!(page.versions.len() + page.common_prefixes.len() <= size);
        out.extend(page.versions.iter().map(|v| (v.key.clone(), v.record.version_name().to_string(), v.is_latest, v.record.delete_marker)));
        if !page.is_truncated {
            return out;
        }
        query.key_marker = page.next_key_marker;
        query.version_id_marker = page.next_version_id_marker;
    }
}

#[tokio::test]
async fn versions_markers_and_permanent_deletes() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    store.create_bucket("bkt", "me").await.unwrap();
    // Written before versioning: the "null" version.
    let v0 = put(&store, "k", b"zero").await;
    assert_eq!(v0.version_id, None);
    store.set_versioning("bkt", Versioning::Enabled).await.unwrap();
    let v1 = put(&store, "k", b"one").await;
    let v2 = put(&store, "k", b"two").await;
    let (id1, id2) = (v1.version_id.clone().unwrap(), v2.version_id.clone().unwrap());
    assert_ne!(id1, id2);
    assert_eq!(read(&store, "k", None).await.unwrap(), b"two");
    assert_eq!(read(&store, "k", Some(&id1)).await.unwrap(), b"one");
    assert_eq!(read(&store, "k", Some("null")).await.unwrap(), b"zero");
    assert!(matches!(read(&store, "k", Some("0000000000000000ffffffffffffffff")).await, Err(Error::NoSuchVersion(_))));
    assert!(matches!(read(&store, "k", Some("not-a-version")).await, Err(Error::InvalidVersionId(_))));

    // A delete without a version id leaves a marker: the key is gone from the current view only.
    let deleted = store.delete_object("bkt", "k", None, None).await.unwrap();
    assert!(deleted.delete_marker);
    let marker = deleted.version_id.unwrap();
    assert!(matches!(read(&store, "k", None).await, Err(Error::DeleteMarker { latest: true, .. })));
    assert!(matches!(read(&store, "k", Some(&marker)).await, Err(Error::DeleteMarker { latest: false, .. })));
    assert!(store.list_objects("bkt", &storage::ListQuery { max_keys: 10, ..Default::default() }).unwrap().objects.is_empty());
    let want = vec![
        ("k".to_string(), marker.clone(), true, true),
        ("k".into(), id2.clone(), false, false),
        ("k".into(), id1.clone(), false, false),
        ("k".into(), "null".into(), false, false),
    ];
    for size in 1..=5 {
        assert_eq!(all_versions(&store, size), want, "page size {size}");
    }

    // Removing the marker brings the newest version back; removing a version frees it for good.
    let removed = store.delete_object("bkt", "k", Some(&marker), None).await.unwrap();
    assert!(removed.delete_marker);
    assert_eq!(read(&store, "k", None).await.unwrap(), b"two");
    store.delete_object("bkt", "k", Some(&id2), None).await.unwrap();
    assert_eq!(read(&store, "k", None).await.unwrap(), b"one");
    store.delete_object("bkt", "k", Some("null"), None).await.unwrap();
    assert_eq!(all_versions(&store, 10), vec![("k".to_string(), id1.clone(), true, false)]);
    // Deleting a version that is not there succeeds, as on S3.
    store.delete_object("bkt", "k", Some(&id2), None).await.unwrap();
    assert!(matches!(store.delete_bucket("bkt").await, Err(Error::BucketNotEmpty(_))));
    store.delete_object("bkt", "k", Some(&id1), None).await.unwrap();
    // The bucket is empty only once every version is gone; then every blob is gone too.
    store.delete_bucket("bkt").await.unwrap();
    let blobs = store.blob_count().unwrap();
    assert_eq!(blobs, 0);
}

#[tokio::test]
async fn suspended_versioning_replaces_the_null_version() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    store.create_bucket("bkt", "me").await.unwrap();
    store.set_versioning("bkt", Versioning::Enabled).await.unwrap();
    let kept = put(&store, "k", b"versioned").await.version_id.unwrap();
    store.set_versioning("bkt", Versioning::Suspended).await.unwrap();
    put(&store, "k", b"null one").await;
    put(&store, "k", b"null two").await;
    let listed = all_versions(&store, 10);
    assert_eq!(listed, vec![("k".to_string(), "null".into(), true, false), ("k".into(), kept.clone(), false, false)]);
    assert_eq!(read(&store, "k", Some("null")).await.unwrap(), b"null two");
    // A delete while suspended makes the null version a delete marker.
    let d = store.delete_object("bkt", "k", None, None).await.unwrap();
    assert_eq!((d.version_id.as_deref(), d.delete_marker), (Some("null"), true));
    assert_eq!(all_versions(&store, 10).len(), 2);
    assert!(matches!(store.set_versioning("bkt", Versioning::Unversioned).await, Err(Error::InvalidArgument(_))));
}

#[tokio::test]
async fn listing_versions_with_prefixes_and_awkward_keys() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    store.create_bucket("bkt", "me").await.unwrap();
    store.set_versioning("bkt", Versioning::Enabled).await.unwrap();
    let keys = ["a", "a\0", "a\0b", "a/1", "a/2", "b", "é"];
    for k in keys {
        put(&store, k, b"1").await;
        put(&store, k, b"2").await;
    }
    let listed = all_versions(&store, 3);
    let listed_keys: Vec<&str> = listed.iter().map(|v| v.0.as_str()).step_by(2).collect();
    assert_eq!(listed_keys, keys);
    assert!(listed.iter().step_by(2).all(|v| v.2) && listed.iter().skip(1).step_by(2).all(|v| !v.2));
    let q = VersionQuery { delimiter: Some("/".into()), max_keys: 100, ..Default::default() };
    let page = store.list_object_versions("bkt", &q).unwrap();
    assert_eq!(page.common_prefixes, ["a/"]);
    assert_eq!(page.versions.len(), 10);
    let q = VersionQuery { prefix: "a/".into(), key_marker: Some("a/1".into()), max_keys: 100, ..Default::default() };
    let page = store.list_object_versions("bkt", &q).unwrap();
    assert_eq!(page.versions.iter().map(|v| v.key.as_str()).collect::<Vec<_>>(), ["a/2", "a/2"]);
}

#[tokio::test]
async fn conditional_writes_are_atomic() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    store.create_bucket("bkt", "me").await.unwrap();
    let create = || PutOptions { condition: Some(WriteCondition::IfNoneMatch), ..Default::default() };
    // Many writers race to create the same key: exactly one wins.
    let tasks: Vec<_> = (0..16)
        .map(|i| {
            let store = store.clone();
            tokio::spawn(async move { store.put_object("bkt", "once", body(format!("writer {i}").as_bytes()), create()).await })
        })
        .collect();
    let mut won = 0;
    for t in tasks {
        match t.await.unwrap() {
            Ok(_) => won += 1,
            Err(Error::PreconditionFailed) => {}
            Err(e) => panic!("{e}"),
        }
    }
    assert_eq!(won, 1);
    let current = store.head_object("bkt", "once").unwrap().record;
    let if_match = |etag: &str| PutOptions { condition: Some(WriteCondition::IfMatch(format!("\"{etag}\""))), ..Default::default() };
    assert!(matches!(store.put_object("bkt", "once", body(b"x"), if_match("0000")).await, Err(Error::PreconditionFailed)));
    store.put_object("bkt", "once", body(b"x"), if_match(&current.etag)).await.unwrap();
    assert!(matches!(store.put_object("bkt", "missing", body(b"x"), if_match("*")).await, Err(Error::NoSuchKey(_))));
    // A refused conditional write leaves no blob behind (before the fix it stayed until restart).
    assert_eq!(store.blob_count().unwrap(), 1);
    // A conditional delete checks the version it deletes, under the key's lock.
    let etag = store.head_object("bkt", "once").unwrap().record.etag;
    let stale = WriteCondition::IfMatch("\"0000\"".into());
    assert!(matches!(store.delete_object("bkt", "once", None, Some(&stale)).await, Err(Error::PreconditionFailed)));
    store.delete_object("bkt", "once", None, Some(&WriteCondition::IfMatch(etag))).await.unwrap();
    assert!(matches!(store.head_object("bkt", "once"), Err(Error::NoSuchKey(_))));
    assert_eq!(store.blob_count().unwrap(), 0);
}

#[tokio::test]
async fn listing_uploads_pages_through_prefixes_once() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    store.create_bucket("bkt", "me").await.unwrap();
    for key in ["a", "b/1", "b/2", "c", "d/x"] {
        store.create_multipart_upload("bkt", key, Default::default()).await.unwrap();
    }
    for size in 1..=4 {
        let (mut seen, mut key_marker, mut id_marker) = (Vec::new(), None::<String>, None::<String>);
        loop {
            let page = store.list_multipart_uploads("bkt", "", Some("/"), key_marker.as_deref(), id_marker.as_deref(), size).unwrap();
            seen.extend(page.uploads.iter().map(|u| u.key.clone()));
            seen.extend(page.common_prefixes.iter().cloned());
            if !page.is_truncated {
                break;
            }
            assert!(page.next_key_marker.is_some(), "a truncated page says where the next one starts");
            key_marker = page.next_key_marker;
            id_marker = page.next_upload_id_marker;
        }
        seen.sort();
        assert_eq!(seen, ["a", "b/", "c", "d/"], "page size {size}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_overwrites_leave_one_whole_body_and_no_leaked_blobs() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    store.create_bucket("bkt", "me").await.unwrap();
    let bodies: Vec<Vec<u8>> = (0..24u8).map(|i| vec![i; 10_000 + i as usize]).collect();
    let writers: Vec<_> = bodies
        .iter()
        .cloned()
        .map(|b| {
            let store = store.clone();
            tokio::spawn(async move {
                store.put_object("bkt", "hot", body(&b), PutOptions::default()).await.unwrap();
            })
        })
        .collect();
    // Readers during the overwrites see one whole body, never a mix.
    let readers: Vec<_> = (0..8)
        .map(|_| {
            let store = store.clone();
            let bodies = bodies.clone();
            tokio::spawn(async move {
                for _ in 0..20 {
                    if let Ok(got) = read(&store, "hot", None).await {
                        assert!(bodies.contains(&got), "a torn read of {} bytes", got.len());
                    }
                }
            })
        })
        .collect();
    for t in writers.into_iter().chain(readers) {
        t.await.unwrap();
    }
    let got = read(&store, "hot", None).await.unwrap();
    assert!(bodies.contains(&got));
    // Exactly one blob remains: every replaced body was freed, none twice, none leaked.
    let blobs = store.blob_count().unwrap();
    assert_eq!(blobs, 1);
}

#[tokio::test]
async fn tags_change_a_version_in_place() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    store.create_bucket("bkt", "me").await.unwrap();
    store.set_versioning("bkt", Versioning::Enabled).await.unwrap();
    let tags: BTreeMap<String, String> = [("team".to_string(), "data".to_string())].into();
    let v1 = store.put_object("bkt", "k", body(b"1"), PutOptions { tags: tags.clone(), ..Default::default() }).await.unwrap();
    let v1 = v1.version_id.unwrap();
    put(&store, "k", b"2").await;
    let retagged = store.update_version("bkt", "k", Some(&v1), |r| r.tags = [("x".to_string(), "y".to_string())].into()).await.unwrap();
    assert_eq!(retagged.version_id.as_deref(), Some(v1.as_str()));
    assert_eq!(store.head_version("bkt", "k", Some(&v1)).unwrap().record.tags["x"], "y");
    assert!(store.head_object("bkt", "k").unwrap().record.tags.is_empty());
    store.update_version("bkt", "k", None, |r| r.tags = tags.clone()).await.unwrap();
    assert_eq!(store.head_object("bkt", "k").unwrap().record.tags, tags);
    assert_eq!(all_versions(&store, 10).len(), 2, "tagging made no new version");
}
