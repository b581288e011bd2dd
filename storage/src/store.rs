//! The lake: buckets and the machinery every object write goes through.
//!
//! Write path (invariant 1): stage the body in `tmp/` while hashing it, fsync, verify every digest
//! the client sent, rename into `objects/`, fsync the directory (a body of at most 16 KiB is held
//! in memory instead and written to the index store's `bodies` tree), commit the index records in
//! one atomic batch, make the index durable, and only then answer. Blobs that a write made
//! unreachable are removed after the commit.
//!
//! Writes to one key are serialised by a striped lock, so that concurrent writers of a key each
//! see the other's result: the version they replace is the one really there, and its blobs are
//! freed exactly once. Object operations live in `objects.rs`, listings in `listing.rs`,
//! multipart uploads in `multipart.rs`.

use std::collections::{HashMap, HashSet};
use std::hash::{Hash, Hasher};
use std::ops::Range;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use chrono::Utc;

use crate::blobs::{BlobDir, ByteStream, Staged};
use crate::checksum::{ChecksumAlgorithm, Checksums, ExpectedDigests};
use crate::error::{Error, Result};
use crate::kv::{Kv, KvOp, KvTree};
use crate::records::*;

/// The smallest a part may be, unless it is the last one.
pub const MIN_PART_SIZE: u64 = 5 * 1024 * 1024;
/// The most parts an upload may have.
pub const MAX_PART_NUMBER: u32 = 10_000;
/// The longest key S3 accepts, in bytes.
pub const MAX_KEY_LEN: usize = 1024;
/// How many locks the keys of the lake are spread over.
const KEY_LOCKS: usize = 256;

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
                let end = last.map(|l| l.saturating_add(1).min(size)).unwrap_or(size);
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

/// A precondition on the version a write replaces, checked atomically with the write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WriteCondition {
    /// `If-None-Match: *`: only if the key has no current version.
    IfNoneMatch,
    /// `If-Match: <etag>`: only if the current version has this ETag (`*`: any current version).
    IfMatch(String),
}

/// What joins a version's commit besides the record itself.
#[derive(Default)]
pub(crate) struct Commit<'a> {
    /// A precondition on the key's current version, checked under the key's lock.
    pub condition: Option<&'a WriteCondition>,
    /// More index operations for the same atomic batch.
    pub extra: Vec<KvOp>,
    /// Blobs to free once the commit is durable.
    pub garbage: Vec<String>,
    /// Blobs written for this commit alone: freed if the commit does not happen.
    pub fresh: Vec<String>,
    /// An index entry that must still exist when the batch is applied (the multipart upload a
    /// completion consumes), with the upload id to report if it does not.
    pub requires: Option<(Vec<u8>, String)>,
}

/// A handle on the lake; cheap to clone.
#[derive(Clone)]
pub struct Store {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    kv: Arc<dyn Kv>,
    pub(crate) index: Arc<dyn KvTree>,
    pub(crate) blobs: BlobDir,
    region: String,
    /// Writers that need their bucket to stay put hold this shared; DeleteBucket holds it exclusively.
    pub(crate) gate: tokio::sync::RwLock<()>,
    /// Writes to one key take the lock its hash picks.
    key_locks: Vec<tokio::sync::Mutex<()>>,
    /// One lock per multipart upload, so that Complete and Abort do not interleave.
    upload_locks: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    /// The last version sequence number handed out.
    seq: AtomicU64,
}

/// What start-up recovery found and did.
#[derive(Debug, Clone, Copy, Default)]
pub struct Recovery {
    pub staged_removed: usize,
    pub orphans_removed: usize,
    pub objects: usize,
    pub versions: usize,
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
    if name.contains("..") || name.contains(".-") || name.contains("-.") {
        return fail("bucket names must not contain two adjacent periods, or a period next to a hyphen");
    }
    if name.parse::<std::net::Ipv4Addr>().is_ok() {
        return fail("bucket names must not be formatted as an IP address");
    }
    for reserved in ["xn--", "sthree-", "amzn-s3-demo-"] {
        if name.starts_with(reserved) {
            return fail("bucket names must not start with a reserved prefix (xn--, sthree-, amzn-s3-demo-)");
        }
    }
    for reserved in ["-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3"] {
        if name.ends_with(reserved) {
            return fail("bucket names must not end with a reserved suffix (-s3alias, --ol-s3, .mrap, --x-s3, --table-s3)");
        }
    }
    Ok(())
}

pub(crate) fn validate_key(key: &str) -> Result<()> {
    if key.is_empty() {
        return Err(Error::InvalidKey("the key must not be empty"));
    }
    if key.len() > MAX_KEY_LEN {
        return Err(Error::InvalidKey("the key is longer than 1024 bytes"));
    }
    Ok(())
}

pub(crate) fn strip_quotes(etag: &str) -> &str {
    etag.trim().trim_matches('"')
}

/// The blobs a record uses.
pub(crate) fn blobs_of(record: &ObjectRecord) -> impl Iterator<Item = String> + '_ {
    record.segments.iter().map(|s| s.blob.clone())
}

impl Store {
    /// Opens the lake under `root`, using `kv` for the index, and recovers from any crash: staged
    /// files are removed and blobs that no record references are deleted.
    pub fn open(root: &Path, kv: Arc<dyn Kv>, region: &str) -> Result<(Self, Recovery)> {
        let (blobs, staged_removed) = BlobDir::open(root, kv.tree("bodies")?)?;
        let index = kv.tree("objects")?;
        let store = Store {
            inner: Arc::new(Inner {
                kv,
                index,
                blobs,
                region: region.to_string(),
                gate: tokio::sync::RwLock::new(()),
                key_locks: (0..KEY_LOCKS).map(|_| tokio::sync::Mutex::new(())).collect(),
                upload_locks: Mutex::new(HashMap::new()),
                seq: AtomicU64::new(0),
            }),
        };
        let mut referenced = HashSet::new();
        let mut recovery = Recovery { staged_removed, ..Default::default() };
        let mut max_seq = 0;
        for entry in store.inner.index.scan_prefix(VERSION_PREFIX) {
            let (_, value) = entry?;
            let record: ObjectRecord = decode("version record", &value)?;
            max_seq = max_seq.max(record.seq);
            referenced.extend(blobs_of(&record));
            recovery.versions += 1;
        }
        for entry in store.inner.index.scan_prefix(OBJECT_PREFIX) {
            let (_, value) = entry?;
            let record: ObjectRecord = decode("object record", &value)?;
            referenced.extend(blobs_of(&record));
            recovery.objects += 1;
        }
        for entry in store.inner.index.scan_prefix(PART_PREFIX) {
            let (_, value) = entry?;
            let record: PartRecord = decode("part record", &value)?;
            referenced.insert(record.blob);
        }
        recovery.orphans_removed = store.inner.blobs.sweep(&referenced)?;
        // Version numbers keep increasing even if the clock went back while we were down.
        store.inner.seq.store(max_seq, Ordering::SeqCst);
        Ok((store, recovery))
    }

    /// How many blobs the lake holds (files and small bodies): what a test of leaks counts.
    pub fn blob_count(&self) -> Result<usize> {
        self.inner.blobs.count()
    }

    pub fn region(&self) -> &str {
        &self.inner.region
    }

    pub(crate) fn index(&self) -> &dyn KvTree {
        self.inner.index.as_ref()
    }

    pub(crate) async fn durable(&self) -> Result<()> {
        self.inner.kv.flush().await
    }

    /// A sequence number larger than every one handed out before, close to the time in
    /// nanoseconds (so that version ids also say roughly when they were made).
    pub(crate) fn next_seq(&self) -> u64 {
        let now = Utc::now().timestamp_nanos_opt().unwrap_or_default().max(0) as u64;
        let mut last = self.inner.seq.load(Ordering::SeqCst);
        loop {
            let next = now.max(last + 1);
            match self.inner.seq.compare_exchange(last, next, Ordering::SeqCst, Ordering::SeqCst) {
                Ok(_) => return next,
                Err(seen) => last = seen,
            }
        }
    }

    /// The lock that serialises writes to `(bucket, key)`.
    pub(crate) fn key_lock(&self, bucket: &str, key: &str) -> &tokio::sync::Mutex<()> {
        let mut h = std::hash::DefaultHasher::new();
        (bucket, key).hash(&mut h);
        &self.inner.key_locks[(h.finish() % KEY_LOCKS as u64) as usize]
    }

    pub(crate) fn upload_lock(&self, upload_id: &str) -> Arc<tokio::sync::Mutex<()>> {
        let mut locks = self.inner.upload_locks.lock().unwrap_or_else(|p| p.into_inner());
        locks.entry(upload_id.to_string()).or_default().clone()
    }

    pub(crate) fn forget_upload_lock(&self, upload_id: &str) {
        let mut locks = self.inner.upload_locks.lock().unwrap_or_else(|p| p.into_inner());
        locks.remove(upload_id);
    }

    /// Receives a body, verifies it and makes it durable in `tmp/`→`objects/`, without touching
    /// the index. Returns the staged blob and the checksums to store (those the client named).
    pub(crate) async fn receive(&self, body: ByteStream, algorithms: &[ChecksumAlgorithm], expected: Expected) -> Result<(Staged, Checksums)> {
        expected.digests.validate_format()?;
        // Compute every algorithm the client named, whether in headers or in the trailer.
        let mut algorithms: Vec<ChecksumAlgorithm> = algorithms.to_vec();
        for a in expected.digests.checksums.algorithms() {
            if !algorithms.contains(&a) {
                algorithms.push(a);
            }
        }
        let mut staged = self.inner.blobs.stage(body, &algorithms).await?;
        let expected = expected.resolve();
        expected.validate_format()?;
        expected.verify(&staged.md5, &staged.checksums)?;
        let mut stored = Checksums::default();
        for a in algorithms {
            if let Some(v) = staged.checksums.get(a) {
                stored.set(a, v.to_string());
            }
        }
        self.inner.blobs.promote(&mut staged).await?;
        Ok((staged, stored))
    }

    /// Makes `record` the newest version of `(bucket, key)`, atomically and durably, honouring
    /// the bucket's versioning: with versioning enabled it gets a new version id; otherwise it
    /// becomes the "null" version, replacing the previous null version. A delete marker removes
    /// the key from the current view. See [`Commit`] for what else joins the commit.
    pub(crate) async fn commit_version(&self, bucket: &str, key: &str, record: ObjectRecord, commit: Commit<'_>) -> Result<ObjectRecord> {
        let Commit { condition, extra, mut garbage, fresh, requires } = commit;
        let applied = async {
            let _key = self.key_lock(bucket, key).lock().await;
            let _gate = self.inner.gate.read().await;
            let mut record = record;
            let bucket_record = self.head_bucket(bucket)?;
            if let Some((guard, upload_id)) = &requires
                && self.index().get(guard)?.is_none()
            {
                return Err(Error::NoSuchUpload(upload_id.clone()));
            }
            let okey = object_key(bucket, key);
            let current: Option<ObjectRecord> = match self.index().get(&okey)? {
                Some(v) => Some(decode("object record", &v)?),
                None => None,
            };
            check_condition(condition, current.as_ref(), key)?;
            record.seq = self.next_seq();
            let mut ops = extra;
            let mut replaced = Vec::new();
            if bucket_record.versioning == Versioning::Enabled {
                record.version_id = Some(version_name(record.seq));
            } else {
                record.version_id = None;
                let nkey = null_key(bucket, key);
                if let Some(old) = self.null_version(bucket, key)? {
                    ops.push(KvOp::Delete(version_key(bucket, key, old.seq)));
                    let keep: HashSet<String> = blobs_of(&record).collect();
                    replaced.extend(blobs_of(&old).filter(|b| !keep.contains(b)));
                }
                ops.push(KvOp::Put(nkey, record.seq.to_string().into_bytes()));
            }
            ops.push(KvOp::Put(version_key(bucket, key, record.seq), encode(&record)));
            if record.delete_marker {
                ops.push(KvOp::Delete(okey));
            } else {
                ops.push(KvOp::Put(okey, encode(&record)));
            }
            self.index().apply(ops)?;
            Ok((record, replaced))
        }
        .await;
        let (record, replaced) = match applied {
            Ok(done) => done,
            Err(e) => {
                // Nothing points at the blobs made for this write: free them now rather than at
                // the next start.
                self.inner.blobs.remove(fresh).await;
                return Err(e);
            }
        };
        self.durable().await?;
        garbage.extend(replaced);
        self.inner.blobs.remove(garbage).await;
        Ok(record)
    }

    /// The key's "null" version, if it has one.
    pub(crate) fn null_version(&self, bucket: &str, key: &str) -> Result<Option<ObjectRecord>> {
        let Some(seq) = self.index().get(&null_key(bucket, key))? else { return Ok(None) };
        let seq: u64 = std::str::from_utf8(&seq)
            .ok()
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| Error::Corrupt(format!("null-version pointer of {bucket}/{key}")))?;
        // Read outside the key's lock, the pointer and the version may be from two sides of a
        // concurrent write: a pointer to nothing then means the null version is being replaced.
        match self.index().get(&version_key(bucket, key, seq))? {
            Some(v) => Ok(Some(decode("version record", &v)?)),
            None => Ok(None),
        }
    }

    // ---- buckets ----

    /// Creates a bucket owned by `owner` (an access key id), in the store's region.
    pub async fn create_bucket(&self, name: &str, owner: &str) -> Result<BucketRecord> {
        let region = self.inner.region.clone();
        self.create_bucket_in(name, owner, &region).await
    }

    /// Creates a bucket owned by `owner` in `region` (any region: every one is served here).
    pub async fn create_bucket_in(&self, name: &str, owner: &str, region: &str) -> Result<BucketRecord> {
        validate_bucket_name(name)?;
        let record = BucketRecord {
            v: RECORD_VERSION,
            name: name.to_string(),
            created: Utc::now(),
            region: region.to_string(),
            owner: owner.to_string(),
            versioning: Versioning::Unversioned,
            config: BucketConfig::default(),
        };
        let swapped = self.index().compare_and_swap(&bucket_key(name), None, Some(&encode(&record)))?;
        if !swapped {
            let existing = self.head_bucket(name)?;
            return Err(if existing.owner == owner {
                Error::BucketAlreadyOwnedByYou(name.to_string())
            } else {
                Error::BucketAlreadyExists(name.to_string())
            });
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

    /// Changes a bucket's record with `change`, atomically against other changes, and durably.
    pub async fn update_bucket(&self, name: &str, mut change: impl FnMut(&mut BucketRecord) -> Result<()>) -> Result<BucketRecord> {
        let key = bucket_key(name);
        loop {
            let Some(old) = self.index().get(&key)? else { return Err(Error::NoSuchBucket(name.to_string())) };
            let mut record: BucketRecord = decode("bucket record", &old)?;
            change(&mut record)?;
            if self.index().compare_and_swap(&key, Some(&old), Some(&encode(&record)))? {
                self.durable().await?;
                return Ok(record);
            }
        }
    }

    /// Turns versioning on or suspends it. A bucket can never return to unversioned.
    pub async fn set_versioning(&self, name: &str, state: Versioning) -> Result<BucketRecord> {
        if state == Versioning::Unversioned {
            return Err(Error::InvalidArgument("versioning can only be Enabled or Suspended".into()));
        }
        self.update_bucket(name, |b| {
            b.versioning = state;
            Ok(())
        })
        .await
    }

    /// Deletes an empty bucket (no objects, no versions, no delete markers). Multipart uploads
    /// still open in it are aborted.
    pub async fn delete_bucket(&self, name: &str) -> Result<()> {
        let _gate = self.inner.gate.write().await;
        self.head_bucket(name)?;
        if self.index().scan_prefix(&version_prefix(name)).next().transpose()?.is_some()
            || self.index().scan_prefix(&object_prefix(name)).next().transpose()?.is_some()
        {
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
}

/// The version id of a version with this sequence number: the inverted sequence number (so the
/// id alone finds the version's index entry), then random digits (so ids are not guessable).
pub(crate) fn version_name(seq: u64) -> String {
    let random = &uuid::Uuid::new_v4().simple().to_string()[..16];
    format!("{:016x}{random}", u64::MAX - seq)
}

/// The sequence number a version id was made from, if it is one of ours.
pub(crate) fn parse_version_name(id: &str) -> Result<u64> {
    if id.len() != 32 || !id.bytes().all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()) {
        return Err(Error::InvalidVersionId(id.to_string()));
    }
    u64::from_str_radix(&id[..16], 16).map(|inv| u64::MAX - inv).map_err(|_| Error::InvalidVersionId(id.to_string()))
}

/// Checks a write's precondition against the key's current version.
pub(crate) fn check_condition(condition: Option<&WriteCondition>, current: Option<&ObjectRecord>, key: &str) -> Result<()> {
    match condition {
        None => Ok(()),
        Some(WriteCondition::IfNoneMatch) => match current {
            Some(_) => Err(Error::PreconditionFailed),
            None => Ok(()),
        },
        Some(WriteCondition::IfMatch(etag)) => match current {
            None => Err(Error::NoSuchKey(key.to_string())),
            Some(c) if etag.trim() == "*" || strip_quotes(etag) == c.etag => Ok(()),
            Some(_) => Err(Error::PreconditionFailed),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_names_round_trip() {
        for seq in [1u64, 1_700_000_000_000_000_000, u64::MAX - 1] {
            assert_eq!(parse_version_name(&version_name(seq)).unwrap(), seq);
        }
        for bad in ["null", "", "zz", &"A".repeat(32), &"0".repeat(31)] {
            assert!(matches!(parse_version_name(bad), Err(Error::InvalidVersionId(_))), "{bad}");
        }
    }

    #[test]
    fn bucket_names() {
        for good in ["abc", "my-bucket.2024", "a".repeat(63).as_str()] {
            validate_bucket_name(good).unwrap();
        }
        for bad in ["ab", "Abc", "a_b", "-ab", "ab-", "a..b", "a.-b", "192.168.1.1", "xn--ab", "ab-s3alias", &"a".repeat(64)] {
            assert!(validate_bucket_name(bad).is_err(), "{bad}");
        }
    }
}
