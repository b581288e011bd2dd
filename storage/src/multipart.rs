//! Multipart uploads: create, upload parts (from a body or copied from an object), list, complete
//! and abort. Completion turns the parts' blobs into the object's segments without copying, so it
//! takes the same time for 1 MiB or 100 GiB, and commits in one atomic batch.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::ops::Bound;

use chrono::Utc;
use md5::Digest as _;

use crate::blobs::ByteStream;
use crate::checksum::{ChecksumAlgorithm, Checksums, multipart_checksum};
use crate::error::{Error, Result};
use crate::kv::KvOp;
use crate::objects::{PutOptions, ReadOptions};
use crate::records::*;
use crate::store::{Commit, MAX_PART_NUMBER, Store, WriteCondition, strip_quotes, validate_key};

/// What CreateMultipartUpload asks for.
#[derive(Debug, Clone, Default)]
pub struct UploadOptions {
    pub headers: ObjectHeaders,
    pub checksum_algorithm: Option<ChecksumAlgorithm>,
    /// `FULL_OBJECT` (CRC algorithms only) or `COMPOSITE`; composite when not given.
    pub checksum_type: Option<ChecksumType>,
    pub tags: BTreeMap<String, String>,
    pub acl: Option<String>,
}

#[derive(Debug, Clone)]
pub struct CompletedPart {
    pub number: u32,
    pub etag: String,
    pub checksums: Checksums,
}

/// What CompleteMultipartUpload asks for besides the parts.
#[derive(Debug, Clone, Default)]
pub struct CompleteOptions {
    /// The smallest a part other than the last may be: S3's 5 MiB for clients, 0 for internal
    /// writers.
    pub min_part_size: u64,
    /// A checksum of the whole object the client computed (`x-amz-checksum-*` on the request).
    pub expected: Checksums,
    pub condition: Option<WriteCondition>,
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
    /// Where the next page starts: the last upload's key and id, or the last common prefix.
    pub next_key_marker: Option<String>,
    pub next_upload_id_marker: Option<String>,
}

/// The object (a version of it, a range of it) UploadPartCopy reads.
pub struct CopySource<'a> {
    pub bucket: &'a str,
    pub key: &'a str,
    pub read: ReadOptions,
}

impl Store {
    pub async fn create_multipart_upload(&self, bucket: &str, key: &str, options: UploadOptions) -> Result<UploadRecord> {
        validate_key(key)?;
        let checksum_type = match (options.checksum_algorithm, options.checksum_type) {
            (Some(ChecksumAlgorithm::Sha1 | ChecksumAlgorithm::Sha256), Some(ChecksumType::FullObject)) => {
                return Err(Error::InvalidArgument("the FULL_OBJECT checksum type is only for CRC algorithms".into()));
            }
            (None, Some(_)) => {
                return Err(Error::InvalidArgument("a checksum type needs a checksum algorithm".into()));
            }
            (Some(ChecksumAlgorithm::Crc64Nvme), None) => ChecksumType::FullObject,
            (_, t) => t.unwrap_or(ChecksumType::Composite),
        };
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
            headers: options.headers,
            checksum_algorithm: options.checksum_algorithm,
            checksum_type,
            tags: options.tags,
            acl: options.acl,
        };
        self.index().put(&upload_key(bucket, key, &upload_id), &encode(&record))?;
        self.durable().await?;
        Ok(record)
    }

    pub fn upload(&self, bucket: &str, key: &str, upload_id: &str) -> Result<UploadRecord> {
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
            return Err(Error::InvalidArgument(format!("Part number must be an integer between 1 and {MAX_PART_NUMBER}, inclusive")));
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
        // The bucket (and with it the upload) must not go away between the check and the write.
        let gate = self.inner.gate.read().await;
        // The upload may have been completed or aborted while the part was arriving.
        if let Err(e) = self.upload(bucket, key, upload_id) {
            drop(gate);
            self.inner.blobs.remove([staged.id.clone()]).await;
            return Err(e);
        }
        let old = self.index().put(&part_key(upload_id, number), &encode(&record))?;
        drop(gate);
        self.durable().await?;
        if let Some(old) = old
            && let Ok(old) = decode::<PartRecord>("part record", &old)
        {
            self.inner.blobs.remove([old.blob]).await;
        }
        Ok(record)
    }

    /// UploadPartCopy: a part whose body is (a range of) an existing object. `check_source` sees
    /// the source version before anything is written. Returns the part and the source's record.
    pub async fn upload_part_copy(
        &self,
        bucket: &str,
        key: &str,
        upload_id: &str,
        number: u32,
        source: CopySource<'_>,
        check_source: impl FnOnce(&ObjectRecord) -> Result<()>,
    ) -> Result<(PartRecord, ObjectRecord)> {
        self.upload(bucket, key, upload_id)?;
        let body = self.open_object(source.bucket, source.key, &source.read).await?;
        check_source(&body.info.record)?;
        let src = body.info.record.clone();
        let part = self.upload_part(bucket, key, upload_id, number, body.stream, PutOptions::default()).await?;
        Ok((part, src))
    }

    pub fn list_parts(&self, bucket: &str, key: &str, upload_id: &str, after: u32, max_parts: usize) -> Result<(UploadRecord, PartsPage)> {
        let upload = self.upload(bucket, key, upload_id)?;
        let mut page = PartsPage::default();
        let from = Bound::Excluded(part_key(upload_id, after.min(MAX_PART_NUMBER)));
        for entry in self.index().range(from, Bound::Excluded(part_key(upload_id, MAX_PART_NUMBER + 1))) {
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

    /// Assembles the listed parts into the object's newest version. A failed completion changes
    /// nothing: the upload and its parts stay, so the client may retry.
    pub async fn complete_multipart_upload(
        &self,
        bucket: &str,
        key: &str,
        upload_id: &str,
        parts: &[CompletedPart],
        options: CompleteOptions,
    ) -> Result<ObjectRecord> {
        // Checked before a lock is made for the id, so that made-up ids cost nothing.
        self.upload(bucket, key, upload_id)?;
        let lock = self.upload_lock(upload_id);
        let _guard = lock.lock().await;
        let upload = self.upload(bucket, key, upload_id)?;
        if parts.is_empty() {
            return Err(Error::InvalidArgument("You must specify at least one part".into()));
        }
        if parts.windows(2).any(|w| w[1].number <= w[0].number) {
            return Err(Error::InvalidPartOrder);
        }
        let mut stored: HashMap<u32, PartRecord> = HashMap::new();
        let mut ops = vec![KvOp::Delete(upload_key(bucket, key, upload_id))];
        for entry in self.index().scan_prefix(&part_prefix(upload_id)) {
            let (k, v) = entry?;
            let part: PartRecord = decode("part record", &v)?;
            ops.push(KvOp::Delete(k));
            stored.insert(part.number, part);
        }
        let mut md5s = md5::Md5::new();
        let mut segments = Vec::with_capacity(parts.len());
        let mut summaries = Vec::with_capacity(parts.len());
        let mut size = 0u64;
        // Every listed part must exist as listed before sizes are looked at, as on S3.
        for wanted in parts {
            let part = stored.get(&wanted.number).ok_or(Error::InvalidPart(wanted.number))?;
            if !strip_quotes(&wanted.etag).eq_ignore_ascii_case(&part.etag) {
                return Err(Error::InvalidPart(wanted.number));
            }
            for a in wanted.checksums.algorithms() {
                if part.checksums.get(a).is_some_and(|have| Some(have) != wanted.checksums.get(a)) {
                    return Err(Error::InvalidPart(wanted.number));
                }
            }
        }
        for (i, wanted) in parts.iter().enumerate() {
            let part = &stored[&wanted.number];
            let last = i + 1 == parts.len();
            if !last && part.size < options.min_part_size {
                return Err(Error::EntityTooSmall { part: part.number, size: part.size, min: options.min_part_size });
            }
            md5s.update(hex::decode(&part.etag).map_err(|e| Error::Corrupt(e.to_string()))?);
            segments.push(Segment { blob: part.blob.clone(), len: part.size });
            summaries.push(PartSummary { number: part.number, size: part.size, etag: part.etag.clone(), checksums: part.checksums.clone() });
            size += part.size;
        }
        let mut checksums = Checksums::default();
        if let Some(algorithm) = upload.checksum_algorithm {
            let full = upload.checksum_type == ChecksumType::FullObject;
            let per_part: Option<Vec<(&str, u64)>> = summaries.iter().map(|p| p.checksums.get(algorithm).map(|c| (c, p.size))).collect();
            let value = per_part
                .and_then(|pp| multipart_checksum(algorithm, &pp, full))
                .ok_or_else(|| Error::InvalidArgument(format!("every part needs a {} checksum", algorithm.name())))?;
            if let Some(claimed) = options.expected.get(algorithm)
                && claimed.trim() != value
            {
                return Err(Error::BadDigest(algorithm.digest_kind()));
            }
            checksums.set(algorithm, value);
        }
        let used: HashSet<u32> = parts.iter().map(|p| p.number).collect();
        let unused: Vec<String> = stored.values().filter(|p| !used.contains(&p.number)).map(|p| p.blob.clone()).collect();
        let record = ObjectRecord {
            v: RECORD_VERSION,
            size,
            etag: format!("{}-{}", hex::encode(md5s.finalize()), parts.len()),
            last_modified: Utc::now(),
            headers: upload.headers,
            checksums,
            checksum_type: upload.checksum_type,
            segments,
            parts: summaries,
            version_id: None,
            seq: 0,
            delete_marker: false,
            tags: upload.tags,
            acl: upload.acl,
        };
        let commit = Commit {
            condition: options.condition.as_ref(),
            extra: ops,
            garbage: unused,
            requires: Some((upload_key(bucket, key, upload_id), upload_id.to_string())),
            ..Default::default()
        };
        let record = self.commit_version(bucket, key, record, commit).await?;
        self.forget_upload_lock(upload_id);
        Ok(record)
    }

    pub async fn abort_multipart_upload(&self, bucket: &str, key: &str, upload_id: &str) -> Result<()> {
        self.upload(bucket, key, upload_id)?;
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

    /// Uploads in progress, ordered by key and then by initiation time, rolled up into common
    /// prefixes at the delimiter. The page's markers say where the next one starts.
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
        let delimiter = delimiter.filter(|d| !d.is_empty());
        let key_marker = key_marker.filter(|m| !m.is_empty());
        let upload_id_marker = upload_id_marker.filter(|m| !m.is_empty());
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
            let rolled = delimiter.and_then(|d| upload.key[prefix.len()..].find(d).map(|i| upload.key[..prefix.len() + i + d.len()].to_string()));
            if let Some(cp) = rolled {
                // Returned already: on this page, or (the marker is under it) on an earlier one.
                if page.common_prefixes.last() == Some(&cp) || key_marker.is_some_and(|m| m.starts_with(&cp)) {
                    continue;
                }
                if page.uploads.len() + page.common_prefixes.len() >= max_uploads {
                    page.is_truncated = true;
                    break;
                }
                page.next_key_marker = Some(cp.clone());
                page.next_upload_id_marker = None;
                page.common_prefixes.push(cp);
                continue;
            }
            if page.uploads.len() + page.common_prefixes.len() >= max_uploads {
                page.is_truncated = true;
                break;
            }
            page.next_key_marker = Some(upload.key.clone());
            page.next_upload_id_marker = Some(upload.upload_id.clone());
            page.uploads.push(upload);
        }
        if !page.is_truncated {
            page.next_key_marker = None;
            page.next_upload_id_marker = None;
        }
        Ok(page)
    }
}
