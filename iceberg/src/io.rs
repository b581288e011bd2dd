//! Files by their URLs (`s3://bucket/key`), through the `object_store` of their bucket.

use std::sync::Arc;

use bytes::Bytes;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, PutMode, PutOptions, PutPayload};

use crate::{Error, Result};

/// The object store of a bucket.
pub type Resolver = Arc<dyn Fn(&str) -> std::result::Result<Arc<dyn ObjectStore>, String> + Send + Sync>;

/// Reads and writes a table's files.
#[derive(Clone)]
pub struct Io {
    resolve: Resolver,
}

impl std::fmt::Debug for Io {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Io")
    }
}

/// The bucket and key of an `s3://` (or `s3a://`, `s3n://`) URL.
pub fn split_url(url: &str) -> Result<(&str, &str)> {
    let rest = ["s3://", "s3a://", "s3n://"]
        .iter()
        .find_map(|s| url.strip_prefix(s))
        .ok_or_else(|| Error::Unsupported(format!("{url} is not an s3:// location")))?;
    let (bucket, key) = rest.split_once('/').unwrap_or((rest, ""));
    if bucket.is_empty() {
        return Err(Error::Invalid(format!("{url} names no bucket")));
    }
    Ok((bucket, key))
}

impl Io {
    pub fn new(resolve: Resolver) -> Io {
        Io { resolve }
    }

    /// The store and path of a URL.
    pub fn locate(&self, url: &str) -> Result<(Arc<dyn ObjectStore>, Path)> {
        let (bucket, key) = split_url(url)?;
        let store = (self.resolve)(bucket).map_err(Error::Io)?;
        let path = Path::parse(key).map_err(|e| Error::Invalid(format!("{url}: {e}")))?;
        Ok((store, path))
    }

    pub async fn read(&self, url: &str) -> Result<Bytes> {
        let (store, path) = self.locate(url)?;
        let got = store.get(&path).await.map_err(|e| Error::Io(format!("cannot read {url}: {e}")))?;
        got.bytes().await.map_err(|e| Error::Io(format!("cannot read {url}: {e}")))
    }

    /// Writes a file that must not exist yet: files of a table are never overwritten.
    pub async fn write_new(&self, url: &str, bytes: impl Into<Bytes>) -> Result<u64> {
        let (store, path) = self.locate(url)?;
        let bytes: Bytes = bytes.into();
        let len = bytes.len() as u64;
        let options = PutOptions { mode: PutMode::Create, ..Default::default() };
        store.put_opts(&path, PutPayload::from(bytes), options).await.map_err(|e| Error::Io(format!("cannot write {url}: {e}")))?;
        Ok(len)
    }

    pub async fn size(&self, url: &str) -> Result<u64> {
        let (store, path) = self.locate(url)?;
        Ok(store.head(&path).await.map_err(|e| Error::Io(format!("cannot read {url}: {e}")))?.size)
    }

    /// The files under a URL prefix (a folder), each with its last modification in
    /// milliseconds since the epoch.
    pub async fn list(&self, prefix: &str) -> Result<Vec<(String, i64)>> {
        use futures::TryStreamExt;
        let (bucket, key) = split_url(prefix)?;
        let (store, _) = self.locate(prefix)?;
        let folder = Path::parse(key.trim_end_matches('/')).map_err(|e| Error::Invalid(format!("{prefix}: {e}")))?;
        let found: Vec<object_store::ObjectMeta> =
            store.list(Some(&folder)).try_collect().await.map_err(|e| Error::Io(format!("cannot list {prefix}: {e}")))?;
        Ok(found.into_iter().map(|o| (format!("s3://{bucket}/{}", o.location), o.last_modified.timestamp_millis())).collect())
    }

    pub async fn delete(&self, url: &str) -> Result<()> {
        let (store, path) = self.locate(url)?;
        match store.delete(&path).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(Error::Io(format!("cannot delete {url}: {e}"))),
        }
    }
}
