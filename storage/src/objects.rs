//! Objects and their versions: put, get (whole, by range, by part, by version), delete (which
//! may leave a delete marker), copy, and the settings a version carries (tags, ACL).

use std::collections::BTreeMap;
use std::ops::Range;

use chrono::Utc;

use crate::blobs::{ByteStream, read_stream};
use crate::checksum::{ChecksumAlgorithm, Checksums};
use crate::error::{Error, Result};
use crate::kv::KvOp;
use crate::records::*;
use crate::store::{Commit, Expected, RangeSpec, Store, WriteCondition, blobs_of, check_condition, parse_version_name, validate_key};

/// The options of a PUT or an UploadPart.
#[derive(Default)]
pub struct PutOptions {
    pub headers: ObjectHeaders,
    /// Checksums to compute and store besides the MD5 (those the client sends or asks for).
    pub algorithms: Vec<ChecksumAlgorithm>,
    pub expected: Expected,
    pub tags: BTreeMap<String, String>,
    pub acl: Option<String>,
    pub condition: Option<WriteCondition>,
}

/// What to read of an object.
#[derive(Debug, Clone, Default)]
pub struct ReadOptions {
    /// A version id, or "null"; `None` reads the current version.
    pub version_id: Option<String>,
    pub range: Option<RangeSpec>,
    /// Reads only this part of a multipart object (part 1 of a plain object is all of it).
    pub part_number: Option<u32>,
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

/// What a DELETE did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeleteResult {
    /// The version removed or created (S3's `x-amz-version-id`), if versions are in play.
    pub version_id: Option<String>,
    /// Whether a delete marker was created, or the version removed was one.
    pub delete_marker: bool,
}

/// A check of a copy's source version, made before anything is written.
pub type SourceCheck = Box<dyn FnOnce(&ObjectRecord) -> Result<()> + Send>;

/// The options of a copy.
#[derive(Default)]
pub struct CopyOptions {
    pub source_version: Option<String>,
    /// New headers (the REPLACE directive); `None` copies the source's.
    pub headers: Option<ObjectHeaders>,
    /// New tags (the REPLACE tagging directive); `None` copies the source's.
    pub tags: Option<BTreeMap<String, String>>,
    pub acl: Option<String>,
    /// Checksums to compute for the copy; the source's algorithms when empty.
    pub algorithms: Vec<ChecksumAlgorithm>,
    /// Checked against the source version before anything is written (copy-source conditions).
    pub check_source: Option<SourceCheck>,
    pub condition: Option<WriteCondition>,
}

impl Store {
    /// Stores an object as the key's newest version. Returns its record once it is durable.
    pub async fn put_object(&self, bucket: &str, key: &str, body: ByteStream, options: PutOptions) -> Result<ObjectRecord> {
        validate_key(key)?;
        self.head_bucket(bucket)?;
        // A create-if-absent that cannot succeed is refused before the body is stored.
        if let Some(c @ WriteCondition::IfNoneMatch) = &options.condition {
            check_condition(Some(c), self.current(bucket, key)?.as_ref(), key)?;
        }
        let (staged, checksums) = self.receive(body, &options.algorithms, options.expected).await?;
        let record = ObjectRecord {
            v: RECORD_VERSION,
            size: staged.size,
            etag: hex::encode(staged.md5),
            last_modified: Utc::now(),
            headers: options.headers,
            checksums,
            checksum_type: ChecksumType::FullObject,
            segments: vec![Segment { blob: staged.id.clone(), len: staged.size }],
            parts: Vec::new(),
            version_id: None,
            seq: 0,
            delete_marker: false,
            tags: options.tags,
            acl: options.acl,
        };
        let commit = Commit { condition: options.condition.as_ref(), fresh: vec![staged.id.clone()], ..Default::default() };
        self.commit_version(bucket, key, record, commit).await
    }

    /// The key's current version, if it has a live one.
    pub(crate) fn current(&self, bucket: &str, key: &str) -> Result<Option<ObjectRecord>> {
        match self.index().get(&object_key(bucket, key))? {
            Some(v) => Ok(Some(decode("object record", &v)?)),
            None => Ok(None),
        }
    }

    /// The newest version of a key, delete markers included.
    pub(crate) fn latest_version(&self, bucket: &str, key: &str) -> Result<Option<ObjectRecord>> {
        match self.index().scan_prefix(&key_versions_prefix(bucket, key)).next().transpose()? {
            Some((_, v)) => Ok(Some(decode("version record", &v)?)),
            None => Ok(None),
        }
    }

    /// Finds a version: the current one (`None`), the "null" one, or one by id. A delete marker
    /// is reported as [`Error::DeleteMarker`].
    pub fn head_version(&self, bucket: &str, key: &str, version_id: Option<&str>) -> Result<ObjectInfo> {
        let record = match version_id {
            None => match self.current(bucket, key)? {
                Some(r) => r,
                None => {
                    self.head_bucket(bucket)?;
                    return Err(match self.latest_version(bucket, key)? {
                        Some(r) if r.delete_marker => Error::DeleteMarker {
                            key: key.to_string(),
                            version_id: r.version_name().to_string(),
                            last_modified: r.last_modified,
                            latest: true,
                        },
                        _ => Error::NoSuchKey(key.to_string()),
                    });
                }
            },
            Some(id) => {
                let found = if id == "null" {
                    self.null_version(bucket, key)?
                } else {
                    let seq = parse_version_name(id)?;
                    match self.index().get(&version_key(bucket, key, seq))? {
                        Some(v) => Some(decode::<ObjectRecord>("version record", &v)?).filter(|r| r.version_id.as_deref() == Some(id)),
                        None => None,
                    }
                };
                match found {
                    Some(r) if r.delete_marker => {
                        return Err(Error::DeleteMarker {
                            key: key.to_string(),
                            version_id: r.version_name().to_string(),
                            last_modified: r.last_modified,
                            latest: false,
                        });
                    }
                    Some(r) => r,
                    None => {
                        self.head_bucket(bucket)?;
                        return Err(Error::NoSuchVersion(id.to_string()));
                    }
                }
            }
        };
        Ok(ObjectInfo { key: key.to_string(), record })
    }

    /// The current version of an object.
    pub fn head_object(&self, bucket: &str, key: &str) -> Result<ObjectInfo> {
        self.head_version(bucket, key, None)
    }

    /// Opens the current version of an object for reading, optionally a byte range of it.
    pub async fn get_object(&self, bucket: &str, key: &str, range: Option<RangeSpec>) -> Result<ObjectBody> {
        self.open_object(bucket, key, &ReadOptions { range, ..Default::default() }).await
    }

    /// Reads byte ranges of an object's current version, each into one buffer, in one blocking
    /// task of positioned reads: what a Parquet reader asks for (a footer, column chunks), without
    /// the chunked stream a GET gets.
    pub async fn read_ranges(&self, bucket: &str, key: &str, ranges: Vec<Range<u64>>) -> Result<(ObjectInfo, Vec<bytes::Bytes>)> {
        // As in `open_object`: an overwrite may free the blobs between the record and the read.
        for _ in 0..8 {
            let info = self.head_version(bucket, key, None)?;
            let size = info.record.size;
            if ranges.iter().any(|r| r.start > r.end || r.end > size) {
                return Err(Error::InvalidRange { size });
            }
            let segments: Vec<(String, u64)> = info.record.segments.iter().map(|s| (s.blob.clone(), s.len)).collect();
            let (blobs, wanted) = (self.inner.blobs.clone(), ranges.clone());
            let read =
                tokio::task::spawn_blocking(move || blobs.read_ranges(&segments, &wanted)).await.map_err(|e| Error::Internal(e.to_string()))??;
            if let Some(parts) = read {
                return Ok((info, parts));
            }
        }
        Err(Error::Internal(format!("object {bucket}/{key} kept changing while it was being read")))
    }

    /// Opens an object for reading.
    pub async fn open_object(&self, bucket: &str, key: &str, options: &ReadOptions) -> Result<ObjectBody> {
        // A concurrent overwrite may delete the blobs between reading the record and opening them;
        // then the record has changed, and reading it again finds the new blobs.
        for _ in 0..8 {
            let info = self.head_version(bucket, key, options.version_id.as_deref())?;
            let byte_range = match (options.part_number, options.range) {
                (Some(n), _) => part_range(&info.record, n)?,
                (None, Some(spec)) => spec.resolve(info.record.size)?,
                (None, None) => 0..info.record.size,
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

    /// Deletes an object or one of its versions, as S3 does:
    /// - without a version id, in an unversioned bucket, the object is removed (a missing key is
    ///   not an error);
    /// - without a version id, in a versioned or suspended bucket, a delete marker becomes the
    ///   newest version (the "null" one when suspended);
    /// - with a version id, that version is removed for good, and the next newer one becomes
    ///   current.
    ///
    /// `condition` (If-Match) is checked under the key's lock against the version being deleted:
    /// the named one, or the current one.
    pub async fn delete_object(&self, bucket: &str, key: &str, version_id: Option<&str>, condition: Option<&WriteCondition>) -> Result<DeleteResult> {
        let bucket_record = self.head_bucket(bucket)?;
        if let Some(id) = version_id {
            return self.delete_version(bucket, key, id, condition).await;
        }
        if bucket_record.versioning == Versioning::Unversioned {
            return self.remove_unversioned(bucket, key, condition).await;
        }
        let marker = ObjectRecord {
            v: RECORD_VERSION,
            size: 0,
            etag: String::new(),
            last_modified: Utc::now(),
            headers: ObjectHeaders::default(),
            checksums: Checksums::default(),
            checksum_type: ChecksumType::FullObject,
            segments: Vec::new(),
            parts: Vec::new(),
            version_id: None,
            seq: 0,
            delete_marker: true,
            tags: BTreeMap::new(),
            acl: None,
        };
        let marker = self.commit_version(bucket, key, marker, Commit { condition, ..Default::default() }).await?;
        Ok(DeleteResult { version_id: Some(marker.version_name().to_string()), delete_marker: true })
    }

    async fn remove_unversioned(&self, bucket: &str, key: &str, condition: Option<&WriteCondition>) -> Result<DeleteResult> {
        let garbage = {
            let _key = self.key_lock(bucket, key).lock().await;
            let _gate = self.inner.gate.read().await;
            // The bucket may have had versioning turned on while we waited for the lock.
            if self.head_bucket(bucket)?.versioning != Versioning::Unversioned {
                drop(_gate);
                drop(_key);
                return Box::pin(self.delete_object(bucket, key, None, condition)).await;
            }
            check_condition(condition, self.current(bucket, key)?.as_ref(), key)?;
            let Some(null) = self.null_version(bucket, key)? else { return Ok(DeleteResult::default()) };
            let ops =
                vec![KvOp::Delete(object_key(bucket, key)), KvOp::Delete(null_key(bucket, key)), KvOp::Delete(version_key(bucket, key, null.seq))];
            self.index().apply(ops)?;
            blobs_of(&null).collect::<Vec<_>>()
        };
        self.durable().await?;
        self.inner.blobs.remove(garbage).await;
        Ok(DeleteResult::default())
    }

    /// Removes one version for good. Removing a version that does not exist succeeds, as on S3.
    async fn delete_version(&self, bucket: &str, key: &str, id: &str, condition: Option<&WriteCondition>) -> Result<DeleteResult> {
        let (removed, garbage) = {
            let _key = self.key_lock(bucket, key).lock().await;
            let _gate = self.inner.gate.read().await;
            self.head_bucket(bucket)?;
            let found = if id == "null" {
                self.null_version(bucket, key)?
            } else {
                let seq = parse_version_name(id)?;
                match self.index().get(&version_key(bucket, key, seq))? {
                    Some(v) => Some(decode::<ObjectRecord>("version record", &v)?).filter(|r| r.version_id.as_deref() == Some(id)),
                    None => None,
                }
            };
            if condition.is_some() {
                check_condition(condition, found.as_ref().filter(|r| !r.delete_marker), key)?;
            }
            let Some(record) = found else {
                return Ok(DeleteResult { version_id: Some(id.to_string()), delete_marker: false });
            };
            let vkey = version_key(bucket, key, record.seq);
            let mut ops = vec![KvOp::Delete(vkey.clone())];
            if record.version_id.is_none() {
                ops.push(KvOp::Delete(null_key(bucket, key)));
            }
            // If this was the newest version, the next newer one (if any, and not a marker)
            // becomes current.
            let mut newest = self.index().scan_prefix(&key_versions_prefix(bucket, key));
            if let Some((first, _)) = newest.next().transpose()?
                && first == vkey
            {
                let okey = object_key(bucket, key);
                match newest.next().transpose()? {
                    Some((_, next)) => {
                        let next: ObjectRecord = decode("version record", &next)?;
                        ops.push(if next.delete_marker { KvOp::Delete(okey) } else { KvOp::Put(okey, encode(&next)) });
                    }
                    None => ops.push(KvOp::Delete(okey)),
                }
            }
            drop(newest);
            self.index().apply(ops)?;
            let garbage: Vec<String> = blobs_of(&record).collect();
            (record, garbage)
        };
        self.durable().await?;
        self.inner.blobs.remove(garbage).await;
        Ok(DeleteResult { version_id: Some(id.to_string()), delete_marker: removed.delete_marker })
    }

    /// Changes the settings of one version in place (tags, ACL): no new version is made, as on S3.
    pub async fn update_version(
        &self,
        bucket: &str,
        key: &str,
        version_id: Option<&str>,
        change: impl FnOnce(&mut ObjectRecord),
    ) -> Result<ObjectRecord> {
        let record = {
            let _key = self.key_lock(bucket, key).lock().await;
            let _gate = self.inner.gate.read().await;
            let mut record = self.head_version(bucket, key, version_id)?.record;
            change(&mut record);
            let mut ops = vec![KvOp::Put(version_key(bucket, key, record.seq), encode(&record))];
            if self.current(bucket, key)?.is_some_and(|c| c.seq == record.seq) {
                ops.push(KvOp::Put(object_key(bucket, key), encode(&record)));
            }
            self.index().apply(ops)?;
            record
        };
        self.durable().await?;
        Ok(record)
    }

    /// Copies an object (or one version of it) to a new version of the destination key. Returns
    /// the new record and the source's.
    pub async fn copy_object(
        &self,
        src_bucket: &str,
        src_key: &str,
        dst_bucket: &str,
        dst_key: &str,
        options: CopyOptions,
    ) -> Result<(ObjectRecord, ObjectRecord)> {
        validate_key(dst_key)?;
        self.head_bucket(dst_bucket)?;
        let read = ReadOptions { version_id: options.source_version.clone(), ..Default::default() };
        let source = self.open_object(src_bucket, src_key, &read).await?;
        if let Some(check) = options.check_source {
            check(&source.info.record)?;
        }
        let src = source.info.record.clone();
        let algorithms = if options.algorithms.is_empty() { src.checksums.algorithms().collect() } else { options.algorithms };
        let put = PutOptions {
            headers: options.headers.unwrap_or_else(|| src.headers.clone()),
            algorithms,
            expected: Expected::default(),
            tags: options.tags.unwrap_or_else(|| src.tags.clone()),
            acl: options.acl,
            condition: options.condition,
        };
        let record = self.put_object(dst_bucket, dst_key, source.stream, put).await?;
        Ok((record, src))
    }
}

/// The bytes of part `n` of an object, counting the parts it was completed with from 1 (as
/// `PartsCount` does). A plain object is one part.
fn part_range(record: &ObjectRecord, n: u32) -> Result<Range<u64>> {
    if record.parts.is_empty() {
        return if n == 1 { Ok(0..record.size) } else { Err(Error::InvalidPartNumber(n)) };
    }
    let index = (n as usize).checked_sub(1).filter(|i| *i < record.parts.len()).ok_or(Error::InvalidPartNumber(n))?;
    let offset: u64 = record.parts[..index].iter().map(|p| p.size).sum();
    Ok(offset..offset + record.parts[index].size)
}
