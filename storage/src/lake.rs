//! The lake seen through `object_store::ObjectStore`, one store per bucket.
//!
//! DataFusion and the crawler read and write tables through this trait, straight from the blob
//! files, with no HTTP in between. The same callers can be given `object_store`'s S3 client instead
//! to read a remote lake. A store acting for someone checks each call against their S3
//! permissions first (see `access`), as S3 would check the same request.

use std::fmt;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use bytes::Bytes;
use futures::stream::{self, BoxStream, StreamExt, TryStreamExt};
use object_store::path::Path;
use object_store::{
    CopyMode, CopyOptions, GetOptions, GetRange, GetResult, GetResultPayload, ListResult, MultipartUpload, ObjectMeta, ObjectStore, PutMode,
    PutMultipartOptions, PutOptions as OsPutOptions, PutPayload, PutResult, UploadPart,
};

use crate::access::{Action, Permissions};
use crate::error::Error;
use crate::listing::ListQuery;
use crate::multipart::{CompleteOptions, CompletedPart, UploadOptions};
use crate::objects::{CopyOptions as LakeCopyOptions, PutOptions};
use crate::store::{RangeSpec, Store, WriteCondition};

const STORE_NAME: &str = "minerva";
const LIST_PAGE: usize = 1000;
/// Ranged reads up to this size are read in one piece rather than streamed.
const WHOLE_RANGE_MAX: u64 = 64 * 1024 * 1024;

/// One bucket of the lake as an [`ObjectStore`]. Paths are object keys.
#[derive(Clone)]
pub struct BucketStore {
    store: Store,
    bucket: String,
    /// Whose permissions every call is checked against; none for the server's own work.
    acting_for: Option<Arc<dyn Permissions>>,
}

impl BucketStore {
    pub fn new(store: Store, bucket: impl Into<String>) -> Self {
        BucketStore { store, bucket: bucket.into(), acting_for: None }
    }

    /// The bucket as `permissions` may use it: every call is checked first.
    pub fn acting_for(store: Store, bucket: impl Into<String>, permissions: Arc<dyn Permissions>) -> Self {
        BucketStore { store, bucket: bucket.into(), acting_for: Some(permissions) }
    }

    fn check(&self, action: Action, key: Option<&str>) -> object_store::Result<()> {
        match &self.acting_for {
            Some(p) => crate::access::authorize(p.as_ref(), action, &self.bucket, key).map_err(|e| object_store::Error::PermissionDenied {
                path: format!("s3://{}/{}", self.bucket, key.unwrap_or_default()),
                source: Box::new(e),
            }),
            None => Ok(()),
        }
    }
}

impl fmt::Debug for BucketStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "BucketStore({})", self.bucket)
    }
}

impl fmt::Display for BucketStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "minerva lake bucket {}", self.bucket)
    }
}

fn to_os_error(path: &str, e: Error) -> object_store::Error {
    match e {
        Error::NoSuchKey(_) | Error::NoSuchBucket(_) => object_store::Error::NotFound { path: path.to_string(), source: Box::new(e) },
        other => object_store::Error::Generic { store: STORE_NAME, source: Box::new(other) },
    }
}

fn meta(location: Path, record: &crate::records::ObjectRecord) -> ObjectMeta {
    ObjectMeta { location, last_modified: record.last_modified, size: record.size, e_tag: Some(format!("\"{}\"", record.etag)), version: None }
}

fn payload_stream(payload: PutPayload) -> crate::blobs::ByteStream {
    let chunks: Vec<std::io::Result<Bytes>> = payload.iter().cloned().map(Ok).collect();
    stream::iter(chunks).boxed()
}

fn prefix_of(prefix: Option<&Path>) -> String {
    match prefix {
        Some(p) if !p.as_ref().is_empty() => format!("{}/", p.as_ref()),
        _ => String::new(),
    }
}

#[async_trait]
impl ObjectStore for BucketStore {
    async fn put_opts(&self, location: &Path, payload: PutPayload, opts: OsPutOptions) -> object_store::Result<PutResult> {
        let key = location.as_ref();
        self.check(Action::PutObject, Some(key))?;
        let condition = match &opts.mode {
            PutMode::Overwrite => None,
            PutMode::Create => Some(WriteCondition::IfNoneMatch),
            PutMode::Update(v) => Some(WriteCondition::IfMatch(v.e_tag.clone().unwrap_or_else(|| "*".into()))),
        };
        let options = PutOptions { condition, ..Default::default() };
        let record = self.store.put_object(&self.bucket, key, payload_stream(payload), options).await.map_err(|e| match e {
            Error::PreconditionFailed if matches!(opts.mode, PutMode::Create) => {
                object_store::Error::AlreadyExists { path: key.to_string(), source: "object exists".into() }
            }
            Error::PreconditionFailed => object_store::Error::Precondition { path: key.to_string(), source: "the object changed".into() },
            e => to_os_error(key, e),
        })?;
        Ok(PutResult { e_tag: Some(format!("\"{}\"", record.etag)), version: None })
    }

    async fn put_multipart_opts(&self, location: &Path, _opts: PutMultipartOptions) -> object_store::Result<Box<dyn MultipartUpload>> {
        let key = location.as_ref().to_string();
        self.check(Action::PutObject, Some(&key))?;
        let upload = self.store.create_multipart_upload(&self.bucket, &key, UploadOptions::default()).await.map_err(|e| to_os_error(&key, e))?;
        Ok(Box::new(LakeUpload {
            store: self.store.clone(),
            bucket: self.bucket.clone(),
            key,
            upload_id: upload.upload_id,
            next_part: 1,
            parts: Arc::new(Mutex::new(Vec::new())),
        }))
    }

    async fn get_opts(&self, location: &Path, options: GetOptions) -> object_store::Result<GetResult> {
        let key = location.as_ref();
        self.check(Action::GetObject, Some(key))?;
        let range = match &options.range {
            None => None,
            Some(GetRange::Bounded(r)) => {
                if r.end <= r.start {
                    return Err(object_store::Error::Generic { store: STORE_NAME, source: "empty range".into() });
                }
                Some(RangeSpec::From { first: r.start, last: Some(r.end - 1) })
            }
            Some(GetRange::Offset(o)) => Some(RangeSpec::From { first: *o, last: None }),
            Some(GetRange::Suffix(n)) => Some(RangeSpec::Suffix(*n)),
        };
        if options.head {
            let info = self.store.head_object(&self.bucket, key).map_err(|e| to_os_error(key, e))?;
            let m = meta(location.clone(), &info.record);
            options.check_preconditions(&m)?;
            return Ok(GetResult {
                payload: GetResultPayload::Stream(stream::empty().boxed()),
                range: 0..0,
                meta: m,
                attributes: Default::default(),
            });
        }
        if let Some(spec) = range {
            // A range a reader can hold (a footer, a column chunk) is read in one piece. Its bounds
            // come from the current version's size; the preconditions are checked against the
            // version actually read, and should an overwrite come in between (the version read is
            // not the one sized), the streaming read below starts over on a single version.
            let sized = self.store.head_object(&self.bucket, key).map_err(|e| to_os_error(key, e))?;
            let wanted = spec.resolve(sized.record.size).map_err(|e| to_os_error(key, e))?;
            if wanted.end - wanted.start <= WHOLE_RANGE_MAX
                && let Ok((read, mut parts)) = self.store.read_ranges(&self.bucket, key, vec![wanted.clone()]).await
                && read.record.seq == sized.record.seq
                && read.record.etag == sized.record.etag
            {
                let m = meta(location.clone(), &read.record);
                options.check_preconditions(&m)?;
                let part = parts.pop().unwrap_or_default();
                return Ok(GetResult {
                    payload: GetResultPayload::Stream(stream::once(async move { Ok(part) }).boxed()),
                    range: wanted,
                    meta: m,
                    attributes: Default::default(),
                });
            }
        }
        let body = self.store.get_object(&self.bucket, key, range).await.map_err(|e| to_os_error(key, e))?;
        let m = meta(location.clone(), &body.info.record);
        options.check_preconditions(&m)?;
        let path = key.to_string();
        let stream = body.stream.map_err(move |e| object_store::Error::Generic { store: STORE_NAME, source: format!("{path}: {e}").into() }).boxed();
        Ok(GetResult { payload: GetResultPayload::Stream(stream), range: body.range, meta: m, attributes: Default::default() })
    }

    async fn get_ranges(&self, location: &Path, ranges: &[std::ops::Range<u64>]) -> object_store::Result<Vec<Bytes>> {
        let key = location.as_ref();
        self.check(Action::GetObject, Some(key))?;
        let (_, parts) = self.store.read_ranges(&self.bucket, key, ranges.to_vec()).await.map_err(|e| to_os_error(key, e))?;
        Ok(parts)
    }

    fn delete_stream(&self, locations: BoxStream<'static, object_store::Result<Path>>) -> BoxStream<'static, object_store::Result<Path>> {
        let this = self.clone();
        locations
            .and_then(move |path| {
                let this = this.clone();
                async move {
                    this.check(Action::DeleteObject, Some(path.as_ref()))?;
                    this.store.delete_object(&this.bucket, path.as_ref(), None, None).await.map_err(|e| to_os_error(path.as_ref(), e))?;
                    Ok(path)
                }
            })
            .boxed()
    }

    fn list(&self, prefix: Option<&Path>) -> BoxStream<'static, object_store::Result<ObjectMeta>> {
        if let Err(e) = self.check(Action::ListBucket, None) {
            return stream::once(async move { Err(e) }).boxed();
        }
        let this = self.clone();
        let prefix = prefix_of(prefix);
        // Pages are fetched lazily; each page is a consistent snapshot of its range of keys.
        stream::try_unfold((Some(None::<String>), this, prefix), |(after, this, prefix)| async move {
            let Some(after) = after else { return Ok::<_, object_store::Error>(None) };
            let query = ListQuery { prefix: prefix.clone(), delimiter: None, after, max_keys: LIST_PAGE };
            let page = this.store.list_objects(&this.bucket, &query).map_err(|e| to_os_error(&prefix, e))?;
            let next = if page.is_truncated { Some(page.last.clone()) } else { None };
            let metas: Vec<object_store::Result<ObjectMeta>> =
                page.objects.iter().filter_map(|o| Path::parse(&o.key).ok().map(|p| Ok(meta(p, &o.record)))).collect();
            Ok(Some((stream::iter(metas), (next, this, prefix))))
        })
        .try_flatten()
        .boxed()
    }

    async fn list_with_delimiter(&self, prefix: Option<&Path>) -> object_store::Result<ListResult> {
        self.check(Action::ListBucket, None)?;
        let prefix = prefix_of(prefix);
        let mut result = ListResult { common_prefixes: Vec::new(), objects: Vec::new() };
        let mut after = None;
        loop {
            let query = ListQuery { prefix: prefix.clone(), delimiter: Some("/".into()), after, max_keys: LIST_PAGE };
            let page = self.store.list_objects(&self.bucket, &query).map_err(|e| to_os_error(&prefix, e))?;
            for o in &page.objects {
                if let Ok(p) = Path::parse(&o.key) {
                    result.objects.push(meta(p, &o.record));
                }
            }
            for cp in &page.common_prefixes {
                if let Ok(p) = Path::parse(cp.trim_end_matches('/')) {
                    result.common_prefixes.push(p);
                }
            }
            if !page.is_truncated {
                return Ok(result);
            }
            after = page.last;
        }
    }

    async fn copy_opts(&self, from: &Path, to: &Path, options: CopyOptions) -> object_store::Result<()> {
        self.check(Action::GetObject, Some(from.as_ref()))?;
        self.check(Action::PutObject, Some(to.as_ref()))?;
        let create = matches!(options.mode, CopyMode::Create);
        let copy = LakeCopyOptions { condition: create.then_some(WriteCondition::IfNoneMatch), ..Default::default() };
        self.store.copy_object(&self.bucket, from.as_ref(), &self.bucket, to.as_ref(), copy).await.map_err(|e| match e {
            Error::PreconditionFailed => object_store::Error::AlreadyExists { path: to.to_string(), source: "object exists".into() },
            e => to_os_error(from.as_ref(), e),
        })?;
        Ok(())
    }
}

/// A streaming write as a multipart upload of the lake. Parts may finish in any order.
#[derive(Debug)]
struct LakeUpload {
    store: Store,
    bucket: String,
    key: String,
    upload_id: String,
    next_part: u32,
    parts: Arc<Mutex<Vec<CompletedPart>>>,
}

impl fmt::Debug for Store {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Store")
    }
}

#[async_trait]
impl MultipartUpload for LakeUpload {
    fn put_part(&mut self, data: PutPayload) -> UploadPart {
        let number = self.next_part;
        self.next_part += 1;
        let (store, bucket, key, upload_id, parts) =
            (self.store.clone(), self.bucket.clone(), self.key.clone(), self.upload_id.clone(), self.parts.clone());
        Box::pin(async move {
            let part = store
                .upload_part(&bucket, &key, &upload_id, number, payload_stream(data), PutOptions::default())
                .await
                .map_err(|e| to_os_error(&key, e))?;
            parts.lock().unwrap_or_else(|p| p.into_inner()).push(CompletedPart { number, etag: part.etag, checksums: Default::default() });
            Ok(())
        })
    }

    async fn complete(&mut self) -> object_store::Result<PutResult> {
        let mut parts = self.parts.lock().unwrap_or_else(|p| p.into_inner()).clone();
        parts.sort_by_key(|p| p.number);
        if parts.is_empty() {
            // An empty write still makes an (empty) object, as a plain PUT would.
            let part = self
                .store
                .upload_part(&self.bucket, &self.key, &self.upload_id, 1, stream::empty().boxed(), PutOptions::default())
                .await
                .map_err(|e| to_os_error(&self.key, e))?;
            parts.push(CompletedPart { number: 1, etag: part.etag, checksums: Default::default() });
        }
        let record = self
            .store
            .complete_multipart_upload(&self.bucket, &self.key, &self.upload_id, &parts, CompleteOptions::default())
            .await
            .map_err(|e| to_os_error(&self.key, e))?;
        Ok(PutResult { e_tag: Some(format!("\"{}\"", record.etag)), version: None })
    }

    async fn abort(&mut self) -> object_store::Result<()> {
        self.store.abort_multipart_upload(&self.bucket, &self.key, &self.upload_id).await.map_err(|e| to_os_error(&self.key, e))
    }
}
