//! The lake: buckets and objects over a blob directory and the object index.
//!
//! Write path (invariant 1): stage the body in `tmp/` while hashing it, fsync, verify every digest
//! the client sent, rename into `objects/`, fsync the directory, commit the index record, make the
//! index durable, and only then answer. The blobs a write replaced are removed after the commit.

use std::collections::{HashMap, HashSet};
use std::ops::{Bound, Range};
use std::path::Path;
use std::sync::{Arc, Mutex};

use chrono::Utc;
use md5::Digest as _;

use crate::blobs::{BlobDir, ByteStream, Staged, read_stream};
use crate::checksum::{ChecksumAlgorithm, Checksums, ExpectedDigests};
use crate::error::{Error, Result};
use crate::kv::{Kv, KvOp, KvTree, prefix_successor};
use crate::records::*;

/// The smallest a part may be, unless it is the last one.
pub const MIN_PART_SIZE: u64 = 5 * 1024 * 1024;
/// The most parts an upload may have.
pub const MAX_PART_NUMBER: u32 = 10_000;
/// The longest key S3 accepts, in bytes.
pub const MAX_KEY_LEN: usize = 1024;

/// What a client claimed about a body. Trailer checksums (aws-chunked uploads) are only known once
/// the body has been read, so they come from a callback called after the body ends.
#[derive(Default)]
pub struct Expected {
    pub digests: ExpectedDigests,
    pub trailer: Option<Box<dyn FnOnce() -> Checksums + Send>>,
}

impl Expected {
    fn resolve(self) -> ExpectedDigests {
        let mut digests = self.digests;
        if let Some(trailer) = self.trailer {
            let sums = trailer();
            for a in sums.algorithms() {
                if let Some(v) = sums.get(a) {
                    digests.checksums.set(a, v.to_string());
                }
            }
        }
        digests
    }
}

/// The options of a PUT or an UploadPart.
#[derive(Default)]
pub struct PutOptions {
    pub headers: ObjectHeaders,
    /// Checksums to compute and store besides the MD5 (those the client sends or asks for).
    pub algorithms: Vec<ChecksumAlgorithm>,
    pub expected: Expected,
}

/// A byte range as a Range header states it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RangeSpec {
    /// `bytes=first-` or `bytes=first-last` (inclusive).
    From { first: u64, last: Option<u64> },
    /// `bytes=-n`: the last n bytes.
    Suffix(u64),
}

impl RangeSpec {
    /// The byte range this spec selects from an object of `size` bytes, as S3 resolves it.
    pub fn resolve(self, size: u64) -> Result<Range<u64>> {
        match self {
            RangeSpec::From { first, last } => {
                if first >= size || last.is_some_and(|l| l < first) {
                    return Err(Error::InvalidRange { size });
                }
                let end = last.map(|l| (l + 1).min(size)).unwrap_or(size);
                Ok(first..end)
            }
            RangeSpec::Suffix(n) => {
                if n == 0 || size == 0 {
                    return Err(Error::InvalidRange { size });
                }
                Ok(size.saturating_sub(n)..size)
            }
        }
    }
}

/// An object as found by HEAD, GET or a listing.
#[derive(Debug, Clone)]
pub struct ObjectInfo {
    pub key: String,
    pub record: ObjectRecord,
}

pub struct ObjectBody {
    pub info: ObjectInfo,
    /// The bytes being returned, within `0..info.record.size`.
    pub range: Range<u64>,
    pub stream: ByteStream,
}

#[derive(Debug, Clone, Default)]
pub struct ListQuery {
    pub prefix: String,
    pub delimiter: Option<String>,
    /// Return only keys after this one (StartAfter, Marker, or a decoded continuation token).
    pub after: Option<String>,
    pub max_keys: usize,
}

#[derive(Debug, Clone, Default)]
pub struct ListPage {
    pub objects: Vec<ObjectInfo>,
    pub common_prefixes: Vec<String>,
    pub is_truncated: bool,
    /// The last key or common prefix returned: where the next page starts.
    pub last: Option<String>,
}

#[derive(Debug, Clone)]
pub struct CompletedPart {
    pub number: u32,
    pub etag: String,
    pub checksums: Checksums,
}

#[derive(Debug, Clone, Default)]
pub struct PartsPage {
    pub parts: Vec<PartRecord>,
    pub is_truncated: bool,
    pub next_marker: Option<u32>,
}

#[derive(Debug, Clone, Default)]
pub struct UploadsPage {
    pub uploads: Vec<UploadRecord>,
    pub common_prefixes: Vec<String>,
    pub is_truncated: bool,
}

/// A handle on the lake; cheap to clone.
#[derive(Clone)]
pub struct Store {
    inner: Arc<Inner>,
}

struct Inner {
    kv: Arc<dyn Kv>,
    index: Arc<dyn KvTree>,
    blobs: BlobDir,
    region: String,
    /// Writers that need their bucket to stay put hold this shared; DeleteBucket holds it exclusively.
    gate: tokio::sync::RwLock<()>,
    /// One lock per multipart upload, so that Complete and Abort do not interleave.
    upload_locks: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

/// What start-up recovery found and did.
#[derive(Debug, Clone, Copy, Default)]
pub struct Recovery {
    pub staged_removed: usize,
    pub orphans_removed: usize,
    pub objects: usize,
}

/// Checks a bucket name against S3's rules for new buckets.
pub fn validate_bucket_name(name: &str) -> Result<()> {
    let fail = |reason| Err(Error::InvalidBucketName { name: name.to_string(), reason });
    if name.len() < 3 || name.len() > 63 {
        return fail("bucket names must be between 3 and 63 characters long");
    }
    if !name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'-') {
        return fail("bucket names can consist only of lowercase letters, numbers, dots and hyphens");
    }
    let first = name.as_bytes()[0];
    let last = name.as_bytes()[name.len() - 1];
    if !first.is_ascii_alphanumeric() || !last.is_ascii_alphanumeric() {
        return fail("bucket names must begin and end with a letter or number");
    }
    if name.contains("..") {
        return fail("bucket names must not contain two adjacent periods");
    }
    if name.parse::<std::net::Ipv4Addr>().is_ok() {
        return fail("bucket names must not be formatted as an IP address");
    }
    Ok(())
}

fn validate_key(key: &str) -> Result<()> {
    if key.is_empty() {
        return Err(Error::InvalidKey("the key must not be empty"));
    }
    if key.len() > MAX_KEY_LEN {
        return Err(Error::InvalidKey("the key is longer than 1024 bytes"));
    }
    Ok(())
}

fn strip_quotes(etag: &str) -> &str {
    etag.trim().trim_matches('"')
}

impl Store {
    /// Opens the lake under `root`, using `kv` for the index, and recovers from any crash: staged
    /// files are removed and blobs that no record references are deleted.
    pub fn open(root: &Path, kv: Arc<dyn Kv>, region: &str) -> Result<(Self, Recovery)> {
        let (blobs, staged_removed) = BlobDir::open(root)?;
        let index = kv.tree("objects")?;
        let store = Store {
            inner: Arc::new(Inner {
                kv,
                index,
                blobs,
                region: region.to_string(),
                gate: tokio::sync::RwLock::new(()),
                upload_locks: Mutex::new(HashMap::new()),
            }),
        };
        let mut referenced = HashSet::new();
        let mut objects = 0;
        for entry in store.inner.index.scan_prefix(OBJECT_PREFIX) {
            let (_, value) = entry?;
            let record: ObjectRecord = decode("object record", &value)?;
            referenced.extend(record.segments.into_iter().map(|s| s.blob));
            objects += 1;
        }
        for entry in store.inner.index.scan_prefix(PART_PREFIX) {
            let (_, value) = entry?;
            let record: PartRecord = decode("part record", &value)?;
            referenced.insert(record.blob);
        }
        let orphans_removed = store.inner.blobs.sweep(&referenced)?;
        Ok((store, Recovery { staged_removed, orphans_removed, objects }))
    }

    pub fn region(&self) -> &str {
        &self.inner.region
    }

    fn index(&self) -> &dyn KvTree {
        self.inner.index.as_ref()
    }

    async fn durable(&self) -> Result<()> {
        self.inner.kv.flush().await
    }

    // ---- buckets ----

    pub async fn create_bucket(&self, name: &str) -> Result<BucketRecord> {
        validate_bucket_name(name)?;
        let record = BucketRecord { v: RECORD_VERSION, name: name.to_string(), created: Utc::now(), region: self.inner.region.clone() };
        let swapped = self.index().compare_and_swap(&bucket_key(name), None, Some(&encode(&record)))?;
        if !swapped {
            return Err(Error::BucketAlreadyOwnedByYou(name.to_string()));
        }
        self.durable().await?;
        Ok(record)
    }

    pub fn head_bucket(&self, name: &str) -> Result<BucketRecord> {
        match self.index().get(&bucket_key(name))? {
            Some(v) => decode("bucket record", &v),
            None => Err(Error::NoSuchBucket(name.to_string())),
        }
    }

    pub fn list_buckets(&self) -> Result<Vec<BucketRecord>> {
        self.index().scan_prefix(BUCKET_PREFIX).map(|e| e.and_then(|(_, v)| decode("bucket record", &v))).collect()
    }

    /// Deletes an empty bucket. Multipart uploads still open in it are aborted.
    pub async fn delete_bucket(&self, name: &str) -> Result<()> {
        let _gate = self.inner.gate.write().await;
        self.head_bucket(name)?;
        if self.index().scan_prefix(&object_prefix(name)).next().transpose()?.is_some() {
            return Err(Error::BucketNotEmpty(name.to_string()));
        }
        let mut ops = vec![KvOp::Delete(bucket_key(name))];
        let mut blobs = Vec::new();
        for entry in self.index().scan_prefix(&upload_prefix(name)) {
            let (k, v) = entry?;
            let upload: UploadRecord = decode("upload record", &v)?;
            ops.push(KvOp::Delete(k));
            for part in self.index().scan_prefix(&part_prefix(&upload.upload_id)) {
                let (pk, pv) = part?;
                let part: PartRecord = decode("part record", &pv)?;
                ops.push(KvOp::Delete(pk));
                blobs.push(part.blob);
            }
        }
        self.index().apply(ops)?;
        self.durable().await?;
        self.inner.blobs.remove(blobs).await;
        Ok(())
    }

    // ---- objects ----

    /// Receives a body, verifies it and makes it durable in `tmp/`→`objects/`, without touching
    /// the index. Returns the staged blob and its digests.
    async fn receive(&self, body: ByteStream, options_algorithms: &[ChecksumAlgorithm], expected: Expected) -> Result<(Staged, Checksums)> {
        expected.digests.validate_format()?;
        // Compute every algorithm the client named, whether in headers or in the trailer.
        let mut algorithms: Vec<ChecksumAlgorithm> = options_algorithms.to_vec();
        for a in expected.digests.checksums.algorithms() {
            if !algorithms.contains(&a) {
                algorithms.push(a);
            }
        }
        let mut staged = self.inner.blobs.stage(body, &algorithms).await?;
        let expected = expected.resolve();
        expected.validate_format()?;
        expected.verify(&staged.md5, &staged.checksums)?;
        // Store the checksums the client asked for: those are the ones S3 returns later.
        let mut stored = Checksums::default();
        for a in algorithms {
            if let Some(v) = staged.checksums.get(a) {
                stored.set(a, v.to_string());
            }
        }
        self.inner.blobs.promote(&mut staged).await?;
        Ok((staged, stored))
    }

    /// Stores an object. Returns its record once it is durable.
    pub async fn put_object(&self, bucket: &str, key: &str, body: ByteStream, options: PutOptions) -> Result<ObjectRecord> {
        validate_key(key)?;
        self.head_bucket(bucket)?;
        let (staged, checksums) = self.receive(body, &options.algorithms, options.expected).await?;
        let record = ObjectRecord {
            v: RECORD_VERSION,
            size: staged.size,
            etag: hex::encode(staged.md5),
            last_modified: Utc::now(),
            headers: options.headers,
            checksums,
            segments: vec![Segment { blob: staged.id.clone(), len: staged.size }],
            parts: Vec::new(),
        };
        self.commit_object(bucket, key, &record, Vec::new(), Vec::new()).await?;
        Ok(record)
    }

    /// Writes an object record (plus `extra` index operations) atomically and durably, then frees
    /// the blobs the previous version used and those in `release`.
    async fn commit_object(&self, bucket: &str, key: &str, record: &ObjectRecord, extra: Vec<KvOp>, release: Vec<String>) -> Result<()> {
        let okey = object_key(bucket, key);
        let old = {
            let _gate = self.inner.gate.read().await;
            self.head_bucket(bucket)?;
            let old = self.index().get(&okey)?;
            let mut ops = vec![KvOp::Put(okey.clone(), encode(record))];
            ops.extend(extra);
            self.index().apply(ops)?;
            old
        };
        self.durable().await?;
        let mut garbage = release;
        if let Some(old) = old
            && let Ok(old) = decode::<ObjectRecord>("object record", &old)
        {
            let keep: HashSet<&String> = record.segments.iter().map(|s| &s.blob).collect();
            garbage.extend(old.segments.into_iter().map(|s| s.blob).filter(|b| !keep.contains(b)));
        }
        self.inner.blobs.remove(garbage).await;
        Ok(())
    }

    pub fn head_object(&self, bucket: &str, key: &str) -> Result<ObjectInfo> {
        match self.index().get(&object_key(bucket, key))? {
            Some(v) => Ok(ObjectInfo { key: key.to_string(), record: decode("object record", &v)? }),
            None => {
                self.head_bucket(bucket)?;
                Err(Error::NoSuchKey(key.to_string()))
            }
        }
    }

    /// Opens an object for reading, optionally a byte range of it.
    pub async fn get_object(&self, bucket: &str, key: &str, range: Option<RangeSpec>) -> Result<ObjectBody> {
        // A concurrent overwrite may delete the blobs between reading the record and opening them;
        // then the record has changed, and reading it again finds the new blobs.
        for _ in 0..8 {
            let info = self.head_object(bucket, key)?;
            let byte_range = match range {
                Some(spec) => spec.resolve(info.record.size)?,
                None => 0..info.record.size,
            };
            let ids: Vec<&str> = info.record.segments.iter().map(|s| s.blob.as_str()).collect();
            if let Some(files) = self.inner.blobs.open_all(&ids).await? {
                let files = files.into_iter().zip(info.record.segments.iter().map(|s| s.len)).collect();
                let stream = read_stream(files, byte_range.clone());
                return Ok(ObjectBody { info, range: byte_range, stream });
            }
        }
        Err(Error::Internal(format!("object {bucket}/{key} kept changing while it was being opened")))
    }

    /// Deletes an object; deleting a missing key succeeds, as on S3.
    pub async fn delete_object(&self, bucket: &str, key: &str) -> Result<()> {
        self.head_bucket(bucket)?;
        let old = self.index().delete(&object_key(bucket, key))?;
        if let Some(old) = old {
            self.durable().await?;
            if let Ok(old) = decode::<ObjectRecord>("object record", &old) {
                self.inner.blobs.remove(old.segments.into_iter().map(|s| s.blob)).await;
            }
        }
        Ok(())
    }

    /// Copies an object. `headers` replaces the source's headers when given (the REPLACE
    /// directive); otherwise they are copied.
    pub async fn copy_object(
        &self,
        src_bucket: &str,
        src_key: &str,
        dst_bucket: &str,
        dst_key: &str,
        headers: Option<ObjectHeaders>,
    ) -> Result<ObjectRecord> {
        validate_key(dst_key)?;
        self.head_bucket(dst_bucket)?;
        let source = self.get_object(src_bucket, src_key, None).await?;
        let algorithms: Vec<ChecksumAlgorithm> = source.info.record.checksums.algorithms().collect();
        let options = PutOptions {
            headers: headers.unwrap_or_else(|| source.info.record.headers.clone()),
            algorithms,
            expected: Expected::default(),
        };
        self.put_object(dst_bucket, dst_key, source.stream, options).await
    }

    /// One page of a listing, in UTF-8 byte order, rolling keys up into common prefixes at the
    /// delimiter.
    pub fn list_objects(&self, bucket: &str, query: &ListQuery) -> Result<ListPage> {
        self.head_bucket(bucket)?;
        let base = object_prefix(bucket);
        let full = |k: &str| {
            let mut v = base.clone();
            v.extend_from_slice(k.as_bytes());
            v
        };
        let mut scan_prefix = base.clone();
        scan_prefix.extend_from_slice(query.prefix.as_bytes());
        let end = match prefix_successor(&scan_prefix) {
            Some(e) => Bound::Excluded(e),
            None => Bound::Unbounded,
        };
        let mut from = match &query.after {
            Some(after) if after.as_str() >= query.prefix.as_str() => Bound::Excluded(full(after)),
            _ => Bound::Included(scan_prefix.clone()),
        };
        let delimiter = query.delimiter.as_deref().filter(|d| !d.is_empty());
        let mut page = ListPage::default();
        let mut count = 0usize;
        'scan: loop {
            for entry in self.index().range(from.clone(), end.clone()) {
                let (k, v) = entry?;
                let key = std::str::from_utf8(&k[base.len()..]).map_err(|e| Error::Corrupt(e.to_string()))?.to_string();
                let rolled = delimiter.and_then(|d| {
                    key[query.prefix.len()..].find(d).map(|i| key[..query.prefix.len() + i + d.len()].to_string())
                });
                if let Some(cp) = rolled {
                    // A prefix already returned on an earlier page is not returned again.
                    let seen = query.after.as_deref().is_some_and(|a| a.starts_with(&cp));
                    if !seen {
                        if count == query.max_keys {
                            page.is_truncated = true;
                            break 'scan;
                        }
                        count += 1;
                        page.last = Some(cp.clone());
                        page.common_prefixes.push(cp.clone());
                    }
                    // Skip every key under this prefix in one jump.
                    match prefix_successor(&full(&cp)) {
                        Some(next) => {
                            from = Bound::Included(next);
                            continue 'scan;
                        }
                        None => break 'scan,
                    }
                }
                if count == query.max_keys {
                    page.is_truncated = true;
                    break 'scan;
                }
                count += 1;
                page.last = Some(key.clone());
                page.objects.push(ObjectInfo { key, record: decode("object record", &v)? });
            }
            break;
        }
        Ok(page)
    }

    // ---- multipart uploads ----

    fn upload_lock(&self, upload_id: &str) -> Arc<tokio::sync::Mutex<()>> {
        let mut locks = self.inner.upload_locks.lock().unwrap_or_else(|p| p.into_inner());
        locks.entry(upload_id.to_string()).or_default().clone()
    }

    fn forget_upload_lock(&self, upload_id: &str) {
        let mut locks = self.inner.upload_locks.lock().unwrap_or_else(|p| p.into_inner());
        locks.remove(upload_id);
    }

    pub async fn create_multipart_upload(
        &self,
        bucket: &str,
        key: &str,
        headers: ObjectHeaders,
        checksum_algorithm: Option<ChecksumAlgorithm>,
    ) -> Result<UploadRecord> {
        validate_key(key)?;
        let _gate = self.inner.gate.read().await;
        self.head_bucket(bucket)?;
        let now = Utc::now();
        // Ids sort by creation time, so uploads of one key list oldest first, as on S3.
        let nanos = now.timestamp_nanos_opt().unwrap_or_default();
        let upload_id = format!("{nanos:016x}{}", &uuid::Uuid::new_v4().simple().to_string()[..16]);
        let record = UploadRecord {
            v: RECORD_VERSION,
            upload_id: upload_id.clone(),
            bucket: bucket.to_string(),
            key: key.to_string(),
            initiated: now,
            headers,
            checksum_algorithm,
        };
        self.index().put(&upload_key(bucket, key, &upload_id), &encode(&record))?;
        self.durable().await?;
        Ok(record)
    }

    fn upload(&self, bucket: &str, key: &str, upload_id: &str) -> Result<UploadRecord> {
        match self.index().get(&upload_key(bucket, key, upload_id))? {
            Some(v) => decode("upload record", &v),
            None => {
                self.head_bucket(bucket)?;
                Err(Error::NoSuchUpload(upload_id.to_string()))
            }
        }
    }

    pub async fn upload_part(
        &self,
        bucket: &str,
        key: &str,
        upload_id: &str,
        number: u32,
        body: ByteStream,
        options: PutOptions,
    ) -> Result<PartRecord> {
        if !(1..=MAX_PART_NUMBER).contains(&number) {
            return Err(Error::InvalidArgument(format!("part number must be an integer between 1 and {MAX_PART_NUMBER}")));
        }
        let upload = self.upload(bucket, key, upload_id)?;
        let mut algorithms = options.algorithms;
        if let Some(a) = upload.checksum_algorithm
            && !algorithms.contains(&a)
        {
            algorithms.push(a);
        }
        let (staged, checksums) = self.receive(body, &algorithms, options.expected).await?;
        let record = PartRecord {
            v: RECORD_VERSION,
            number,
            size: staged.size,
            etag: hex::encode(staged.md5),
            last_modified: Utc::now(),
            blob: staged.id.clone(),
            checksums,
        };
        let lock = self.upload_lock(upload_id);
        let _guard = lock.lock().await;
        // The upload may have been completed or aborted while the part was arriving.
        if let Err(e) = self.upload(bucket, key, upload_id) {
            self.inner.blobs.remove([staged.id.clone()]).await;
            return Err(e);
        }
        let old = self.index().put(&part_key(upload_id, number), &encode(&record))?;
        self.durable().await?;
        if let Some(old) = old
            && let Ok(old) = decode::<PartRecord>("part record", &old)
        {
            self.inner.blobs.remove([old.blob]).await;
        }
        Ok(record)
    }

    pub fn list_parts(&self, bucket: &str, key: &str, upload_id: &str, after: u32, max_parts: usize) -> Result<(UploadRecord, PartsPage)> {
        let upload = self.upload(bucket, key, upload_id)?;
        let mut page = PartsPage::default();
        for entry in self.index().range(Bound::Excluded(part_key(upload_id, after)), Bound::Excluded(part_key(upload_id, MAX_PART_NUMBER + 1))) {
            let (_, v) = entry?;
            let part: PartRecord = decode("part record", &v)?;
            if page.parts.len() == max_parts {
                page.is_truncated = true;
                break;
            }
            page.next_marker = Some(part.number);
            page.parts.push(part);
        }
        Ok((upload, page))
    }

    /// Assembles the listed parts into the object. Parts become the object's segments without
    /// copying, so completion takes the same time for 1 MiB or 100 GiB. `min_part_size` is S3's
    /// 5 MiB for clients; internal writers may pass 0.
    pub async fn complete_multipart_upload(
        &self,
        bucket: &str,
        key: &str,
        upload_id: &str,
        parts: &[CompletedPart],
        min_part_size: u64,
    ) -> Result<ObjectRecord> {
        let lock = self.upload_lock(upload_id);
        let _guard = lock.lock().await;
        let upload = self.upload(bucket, key, upload_id)?;
        if parts.is_empty() {
            return Err(Error::InvalidArgument("you must specify at least one part".into()));
        }
        let mut stored: HashMap<u32, PartRecord> = HashMap::new();
        let mut ops = vec![KvOp::Delete(upload_key(bucket, key, upload_id))];
        for entry in self.index().scan_prefix(&part_prefix(upload_id)) {
            let (k, v) = entry?;
            let part: PartRecord = decode("part record", &v)?;
            ops.push(KvOp::Delete(k));
            stored.insert(part.number, part);
        }
        if parts.windows(2).any(|w| w[1].number <= w[0].number) {
            return Err(Error::InvalidPartOrder);
        }
        let mut md5s = md5::Md5::new();
        let mut segments = Vec::with_capacity(parts.len());
        let mut summaries = Vec::with_capacity(parts.len());
        let mut size = 0u64;
        for (i, wanted) in parts.iter().enumerate() {
            let part = stored.get(&wanted.number).ok_or(Error::InvalidPart(wanted.number))?;
            if !strip_quotes(&wanted.etag).eq_ignore_ascii_case(&part.etag) {
                return Err(Error::InvalidPart(wanted.number));
            }
            for a in wanted.checksums.algorithms() {
                if part.checksums.get(a).is_some_and(|have| Some(have) != wanted.checksums.get(a)) {
                    return Err(Error::InvalidPart(wanted.number));
                }
            }
            let last = i + 1 == parts.len();
            if !last && part.size < min_part_size {
                return Err(Error::EntityTooSmall { part: part.number, size: part.size, min: min_part_size });
            }
            md5s.update(hex::decode(&part.etag).map_err(|e| Error::Corrupt(e.to_string()))?);
            segments.push(Segment { blob: part.blob.clone(), len: part.size });
            summaries.push(PartSummary { number: part.number, size: part.size, etag: part.etag.clone() });
            size += part.size;
        }
        let used: HashSet<u32> = parts.iter().map(|p| p.number).collect();
        let unused: Vec<String> = stored.values().filter(|p| !used.contains(&p.number)).map(|p| p.blob.clone()).collect();
        let record = ObjectRecord {
            v: RECORD_VERSION,
            size,
            etag: format!("{}-{}", hex::encode(md5s.finalize()), parts.len()),
            last_modified: Utc::now(),
            headers: upload.headers,
            checksums: Checksums::default(),
            segments,
            parts: summaries,
        };
        self.commit_object(bucket, key, &record, ops, unused).await?;
        self.forget_upload_lock(upload_id);
        Ok(record)
    }

    pub async fn abort_multipart_upload(&self, bucket: &str, key: &str, upload_id: &str) -> Result<()> {
        let lock = self.upload_lock(upload_id);
        let _guard = lock.lock().await;
        self.upload(bucket, key, upload_id)?;
        let mut ops = vec![KvOp::Delete(upload_key(bucket, key, upload_id))];
        let mut blobs = Vec::new();
        for entry in self.index().scan_prefix(&part_prefix(upload_id)) {
            let (k, v) = entry?;
            let part: PartRecord = decode("part record", &v)?;
            ops.push(KvOp::Delete(k));
            blobs.push(part.blob);
        }
        self.index().apply(ops)?;
        self.durable().await?;
        self.inner.blobs.remove(blobs).await;
        self.forget_upload_lock(upload_id);
        Ok(())
    }

    /// Uploads in progress, ordered by key and then by initiation time.
    pub fn list_multipart_uploads(
        &self,
        bucket: &str,
        prefix: &str,
        delimiter: Option<&str>,
        key_marker: Option<&str>,
        upload_id_marker: Option<&str>,
        max_uploads: usize,
    ) -> Result<UploadsPage> {
        self.head_bucket(bucket)?;
        let mut page = UploadsPage::default();
        let mut seen_prefixes = HashSet::new();
        let delimiter = delimiter.filter(|d| !d.is_empty());
        for entry in self.index().scan_prefix(&upload_prefix(bucket)) {
            let (_, v) = entry?;
            let upload: UploadRecord = decode("upload record", &v)?;
            if !upload.key.starts_with(prefix) {
                continue;
            }
            if let Some(marker) = key_marker {
                let after = match upload_id_marker {
                    Some(id) => (upload.key.as_str(), upload.upload_id.as_str()) > (marker, id),
                    None => upload.key.as_str() > marker,
                };
                if !after {
                    continue;
                }
            }
            if let Some(d) = delimiter
                && let Some(i) = upload.key[prefix.len()..].find(d)
            {
                let cp = upload.key[..prefix.len() + i + d.len()].to_string();
                if seen_prefixes.insert(cp.clone()) {
                    page.common_prefixes.push(cp);
                }
                continue;
            }
            if page.uploads.len() + page.common_prefixes.len() >= max_uploads {
                page.is_truncated = true;
                break;
            }
            page.uploads.push(upload);
        }
        Ok(page)
    }
}
