//! Property tests of key handling: any valid key round-trips, lists in UTF-8 byte order (also
//! page by page and with delimiters), keeps its versions apart from other keys', and never
//! becomes a path: the data directory holds only blob files named by hex ids.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use bytes::Bytes;
use futures::{StreamExt, TryStreamExt, stream};
use proptest::prelude::*;
use storage::{ListQuery, PutOptions, Store, VersionQuery, Versioning, open_data_dir};

/// Keys as S3 allows them: any UTF-8 up to 1024 bytes, with a bias towards the awkward parts
/// (separators, dots, NUL, prefixes of one another).
fn key() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        Just("/".to_string()),
        Just("..".to_string()),
        Just(".".to_string()),
        Just("\0".to_string()),
        Just("a".to_string()),
        Just("é".to_string()),
        Just("%2F".to_string()),
        "[a-z0-9]{1,3}",
        any::<char>().prop_map(|c| c.to_string()),
    ];
    proptest::collection::vec(piece, 1..12).prop_map(|parts| {
        let mut k = parts.concat();
        while k.len() > 1024 {
            k.pop();
        }
        k
    })
}

fn body(data: &[u8]) -> storage::ByteStream {
    stream::iter([Ok(Bytes::copy_from_slice(data))]).boxed()
}

/// Every file under `root`, relative to it.
fn files(root: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let entry = entry.unwrap();
            if entry.file_type().unwrap().is_dir() {
                stack.push(entry.path());
            } else {
                out.push(entry.path().strip_prefix(root).unwrap().to_string_lossy().into_owned());
            }
        }
    }
    out
}

fn check(keys: Vec<String>, page: usize) -> Result<(), TestCaseError> {
    let outer = tempfile::tempdir().unwrap();
    let root = outer.path().join("data");
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async {
        let store = Store::open(&root, open_data_dir(&root).unwrap(), "us-east-1").unwrap().0;
        store.create_bucket("bkt", "me").await.unwrap();
        store.set_versioning("bkt", Versioning::Enabled).await.unwrap();
        let mut model: BTreeMap<String, Vec<u8>> = BTreeMap::new();
        for (i, k) in keys.iter().enumerate() {
            let data = format!("{i}:{k}").into_bytes();
            store.put_object("bkt", k, body(&data), PutOptions::default()).await.unwrap();
            model.insert(k.clone(), data);
        }
        for (k, want) in &model {
            let got: Vec<Bytes> = store.get_object("bkt", k, None).await.unwrap().stream.try_collect().await.unwrap();
            prop_assert_eq!(&got.concat(), want, "key {:?}", k);
        }
        // Listing, page by page, is the model's keys in byte order.
        let mut listed = Vec::new();
        let mut after = None;
        loop {
            let p = store.list_objects("bkt", &ListQuery { after: after.clone(), max_keys: page, ..Default::default() }).unwrap();
            listed.extend(p.objects.iter().map(|o| o.key.clone()));
            if !p.is_truncated {
                break;
            }
            after = p.last;
        }
        let want: Vec<String> = model.keys().cloned().collect();
        prop_assert_eq!(&listed, &want);
        // With a delimiter, the keys roll up as S3 rolls them up.
        let rolled = store.list_objects("bkt", &ListQuery { delimiter: Some("/".into()), max_keys: 10_000, ..Default::default() }).unwrap();
        let mut want_prefixes = BTreeSet::new();
        let mut want_plain = Vec::new();
        for k in model.keys() {
            match k.find('/') {
                Some(i) => {
                    want_prefixes.insert(k[..=i].to_string());
                }
                None => want_plain.push(k.clone()),
            }
        }
        prop_assert_eq!(rolled.common_prefixes, want_prefixes.into_iter().collect::<Vec<_>>());
        prop_assert_eq!(rolled.objects.iter().map(|o| o.key.clone()).collect::<Vec<_>>(), want_plain);
        // Versions list under their own keys, in the same order.
        let versions = store.list_object_versions("bkt", &VersionQuery { max_keys: 10_000, ..Default::default() }).unwrap();
        let version_keys: BTreeSet<String> = versions.versions.iter().map(|v| v.key.clone()).collect();
        prop_assert_eq!(version_keys.into_iter().collect::<Vec<_>>(), want);
        prop_assert!(versions.versions.windows(2).all(|w| w[0].key.as_bytes() <= w[1].key.as_bytes()));
        Ok(())
    })?;
    // Nothing exists beside the data directory, and inside it only the known layout: blob files
    // are named by 32 hex digits in a two-hex-digit folder, whatever the keys were.
    let beside: Vec<_> = std::fs::read_dir(outer.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
    prop_assert_eq!(beside, vec![std::ffi::OsString::from("data")]);
    for f in files(&root) {
        let ok = f == "FORMAT"
            || f == "LOCK"
            || f.starts_with("index/")
            || f.strip_prefix("objects/").is_some_and(|rest| {
                let (dir, name) = rest.split_once('/').unwrap_or(("", ""));
                dir.len() == 2 && name.len() == 32 && name.bytes().all(|b| b.is_ascii_hexdigit()) && name.starts_with(dir)
            });
        prop_assert!(ok, "unexpected file {}", f);
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn keys_round_trip_list_in_byte_order_and_never_become_paths(keys in proptest::collection::vec(key(), 1..24), page in 1usize..6) {
        check(keys, page)?;
    }
}

#[test]
fn the_longest_keys_and_their_prefixes() {
    let long = "x/".repeat(512);
    check(vec![long.clone(), long[..1023].to_string(), long[..1].to_string(), "\0".repeat(1024)], 2).unwrap();
}
