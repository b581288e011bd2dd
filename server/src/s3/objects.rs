//! Object operations: put (also POST form uploads), get, head, delete (one or many), copy,
//! tagging, ACLs and attributes, with S3's conditional requests.

use std::collections::BTreeMap;

use http::{HeaderMap, HeaderValue, StatusCode};
use s3s::dto::*;
use s3s::{S3Error, S3ErrorCode, S3Request, S3Response, S3Result, s3_error};
use storage::{Checksums, CopyOptions, Expected, ObjectHeaders, ObjectRecord, PutOptions, ReadOptions, Versioning, WriteCondition};

use crate::s3::Lake;
use crate::s3::access::{Request as AccessRequest, action_for};
use crate::s3::buckets::{canned_acl, grants};
use crate::s3::dates::*;
use crate::s3::error::s3_err;
use crate::s3::util::*;

/// The largest body a single PUT may carry, as on S3.
pub const MAX_PUT_SIZE: i64 = 5 * 1024 * 1024 * 1024;
/// The most user metadata an object may carry (names and values), as on S3.
const MAX_METADATA: usize = 2 * 1024;
/// The most keys one DeleteObjects request may name.
const MAX_DELETE_KEYS: usize = 1000;

pub const OBJECT_ACLS: [&str; 6] =
    ["private", "public-read", "public-read-write", "authenticated-read", "bucket-owner-read", "bucket-owner-full-control"];

/// The stored headers of an upload-like input (PutObject, CopyObject with REPLACE,
/// CreateMultipartUpload): the same fields on different s3s types.
macro_rules! stored_headers {
    ($input:expr) => {
        ObjectHeaders {
            content_type: $input.content_type,
            content_encoding: $input.content_encoding.filter(|e: &String| !e.eq_ignore_ascii_case("aws-chunked")),
            content_disposition: $input.content_disposition,
            content_language: $input.content_language,
            cache_control: $input.cache_control,
            expires: $input.expires.as_ref().map(http_date_text),
            user_metadata: user_metadata($input.metadata),
        }
    };
}
pub(crate) use stored_headers;

/// The fields GetObject and HeadObject share, filled from an object's record.
macro_rules! described_object {
    ($ty:ident, $rec:expr, $len:expr, $range:expr, $sums:expr, $version:expr, { $($extra:tt)* }) => {{
        let rec = $rec;
        let h = &rec.headers;
        let sums: &Checksums = $sums;
        let [crc32, crc32c, crc64, sha1, sha256] = checksum_fields(sums);
        $ty {
            accept_ranges: Some("bytes".into()),
            content_length: Some($len as i64),
            content_range: $range,
            content_type: h.content_type.clone(),
            content_encoding: h.content_encoding.clone(),
            content_disposition: h.content_disposition.clone(),
            content_language: h.content_language.clone(),
            cache_control: h.cache_control.clone(),
            expires: h.expires.as_deref().and_then(http_date_of),
            e_tag: Some(etag(&rec.etag)),
            last_modified: Some(timestamp(rec.last_modified)),
            metadata: (!h.user_metadata.is_empty()).then(|| h.user_metadata.clone().into_iter().collect()),
            parts_count: (!rec.parts.is_empty()).then_some(rec.parts.len() as i32),
            checksum_crc32: crc32,
            checksum_crc32c: crc32c,
            checksum_crc64nvme: crc64,
            checksum_sha1: sha1,
            checksum_sha256: sha256,
            checksum_type: (!sums.is_empty()).then(|| checksum_type(rec.checksum_type)),
            version_id: $version,
            $($extra)*
            ..Default::default()
        }
    }};
}

pub(super) fn check_metadata(headers: &ObjectHeaders) -> S3Result<()> {
    let size: usize = headers.user_metadata.iter().map(|(k, v)| k.len() + v.len()).sum();
    if size > MAX_METADATA {
        return Err(s3_error!(MetadataTooLarge, "Your metadata headers exceed the maximum allowed metadata size"));
    }
    Ok(())
}

/// The precondition of a write, from its If-Match / If-None-Match headers.
fn write_condition(if_match: Option<&ETagCondition>, if_none_match: Option<&ETagCondition>) -> S3Result<Option<WriteCondition>> {
    match (if_match, if_none_match) {
        (Some(_), Some(_)) => Err(s3_error!(NotImplemented, "If-Match and If-None-Match together are not supported")),
        (None, Some(ETagCondition::Any)) => Ok(Some(WriteCondition::IfNoneMatch)),
        (None, Some(_)) => Err(s3_error!(NotImplemented, "If-None-Match on a write supports only *")),
        (Some(ETagCondition::Any), None) => Ok(Some(WriteCondition::IfMatch("*".into()))),
        (Some(ETagCondition::ETag(e)), None) => Ok(Some(WriteCondition::IfMatch(e.value().to_string()))),
        (None, None) => Ok(None),
    }
}

fn etag_matches(condition: &ETagCondition, rec: &ObjectRecord) -> bool {
    match condition {
        ETagCondition::Any => true,
        ETagCondition::ETag(e) => e.value() == rec.etag,
    }
}

/// The not-modified answer of a conditional GET or HEAD: 304 with the validators.
fn not_modified(rec: &ObjectRecord) -> S3Error {
    let mut e = S3Error::with_message(S3ErrorCode::NotModified, "Not Modified");
    e.set_status_code(StatusCode::NOT_MODIFIED);
    let mut headers = HeaderMap::new();
    if let Ok(v) = HeaderValue::from_str(&format!("\"{}\"", rec.etag)) {
        headers.insert(http::header::ETAG, v);
    }
    if let Ok(v) = HeaderValue::from_str(&http_date_text(&timestamp(rec.last_modified))) {
        headers.insert(http::header::LAST_MODIFIED, v);
    }
    e.set_headers(headers);
    e
}

/// The part a GET or HEAD reads, in S3's range of part numbers.
fn read_part_number(n: i32) -> S3Result<u32> {
    u32::try_from(n)
        .ok()
        .filter(|n| (1..=storage::MAX_PART_NUMBER).contains(n))
        .ok_or_else(|| s3_error!(InvalidArgument, "Part number must be an integer between 1 and 10000, inclusive"))
}

/// S3 honours `response-*` overrides only on signed requests (headers or presigned URL).
fn signed_for_overrides(signed: bool, overrides: &[bool]) -> S3Result<()> {
    if !signed && overrides.iter().any(|o| *o) {
        return Err(s3_error!(InvalidRequest, "Request specific response headers cannot be used for anonymous GET requests."));
    }
    Ok(())
}

fn precondition_failed() -> S3Error {
    s3_error!(PreconditionFailed, "At least one of the pre-conditions you specified did not hold")
}

/// RFC 9110's evaluation of a read's preconditions, as S3 applies it: If-Match before
/// If-Unmodified-Since, If-None-Match before If-Modified-Since; the date checks only apply when
/// the matching ETag check is absent. Dates compare at the second.
fn check_read_conditions(
    rec: &ObjectRecord,
    if_match: Option<&ETagCondition>,
    if_none_match: Option<&ETagCondition>,
    if_modified_since: Option<&Timestamp>,
    if_unmodified_since: Option<&Timestamp>,
) -> S3Result<()> {
    let modified = rec.last_modified.timestamp();
    match if_match {
        Some(c) if !etag_matches(c, rec) => return Err(precondition_failed()),
        Some(_) => {}
        None => {
            if let Some(t) = if_unmodified_since
                && modified > chrono_of(t).timestamp()
            {
                return Err(precondition_failed());
            }
        }
    }
    match if_none_match {
        Some(c) if etag_matches(c, rec) => return Err(not_modified(rec)),
        Some(_) => {}
        None => {
            if let Some(t) = if_modified_since
                && modified <= chrono_of(t).timestamp()
            {
                return Err(not_modified(rec));
            }
        }
    }
    Ok(())
}

/// Copy-source conditions: every failure is 412.
pub(super) fn check_copy_conditions(
    rec: &ObjectRecord,
    if_match: Option<&ETagCondition>,
    if_none_match: Option<&ETagCondition>,
    if_modified_since: Option<&Timestamp>,
    if_unmodified_since: Option<&Timestamp>,
) -> storage::Result<()> {
    let modified = rec.last_modified.timestamp();
    let failed = if_match.is_some_and(|c| !etag_matches(c, rec))
        || (if_match.is_none() && if_unmodified_since.is_some_and(|t| modified > chrono_of(t).timestamp()))
        || if_none_match.is_some_and(|c| etag_matches(c, rec))
        || (if_none_match.is_none() && if_modified_since.is_some_and(|t| modified <= chrono_of(t).timestamp()));
    if failed { Err(storage::Error::PreconditionFailed) } else { Ok(()) }
}

/// The source of a copy: bucket, key and version.
fn copy_source(source: &CopySource) -> S3Result<(String, String, Option<String>)> {
    match source {
        CopySource::Bucket { bucket, key, version_id } => Ok((bucket.to_string(), key.to_string(), version_id.as_deref().map(str::to_string))),
        _ => Err(s3_error!(NotImplemented, "access point copy sources are not supported")),
    }
}

impl Lake {
    /// The version id to report: S3 names versions only in buckets that have had versioning.
    fn reported_version(&self, bucket: &str, rec: &ObjectRecord) -> Option<String> {
        match self.store.head_bucket(bucket).map(|b| b.versioning) {
            Ok(Versioning::Unversioned) | Err(_) => None,
            Ok(_) => Some(rec.version_name().to_string()),
        }
    }

    pub(super) async fn put_object(&self, req: S3Request<PutObjectInput>) -> S3Result<S3Response<PutObjectOutput>> {
        let algorithms = requested_algorithms(&req.headers, req.input.checksum_algorithm.as_ref());
        let input = req.input;
        if input.content_length.is_some_and(|l| l > MAX_PUT_SIZE) {
            return Err(s3_error!(EntityTooLarge, "Your proposed upload exceeds the maximum allowed size"));
        }
        let condition = write_condition(input.if_match.as_ref(), input.if_none_match.as_ref())?;
        let tags = parse_tagging_header(input.tagging.as_deref())?;
        let acl = match &input.acl {
            Some(a) => Some(canned_acl(Some(a.as_str()), None, &OBJECT_ACLS)?),
            None => None,
        };
        let digests = claimed(
            input.content_md5,
            input.checksum_crc32,
            input.checksum_crc32c,
            input.checksum_crc64nvme,
            input.checksum_sha1,
            input.checksum_sha256,
        );
        let headers = stored_headers!(input);
        check_metadata(&headers)?;
        let options =
            PutOptions { headers, algorithms, expected: Expected { digests, trailer: trailer_reader(req.trailing_headers) }, tags, acl, condition };
        let (body, outcome) = body_stream(input.body, input.content_length);
        let record = self.store.put_object(&input.bucket, &input.key, body, options).await.map_err(|e| outcome.error(e))?;
        let [crc32, crc32c, crc64, sha1, sha256] = checksum_fields(&record.checksums);
        Ok(S3Response::new(PutObjectOutput {
            e_tag: Some(etag(&record.etag)),
            checksum_crc32: crc32,
            checksum_crc32c: crc32c,
            checksum_crc64nvme: crc64,
            checksum_sha1: sha1,
            checksum_sha256: sha256,
            checksum_type: (!record.checksums.is_empty()).then(|| checksum_type(record.checksum_type)),
            version_id: self.reported_version(&input.bucket, &record),
            ..Default::default()
        }))
    }

    pub(super) async fn get_object(&self, req: S3Request<GetObjectInput>) -> S3Result<S3Response<GetObjectOutput>> {
        let input = req.input;
        let overrides = [
            input.response_content_type.is_some(),
            input.response_content_language.is_some(),
            input.response_expires.is_some(),
            input.response_cache_control.is_some(),
            input.response_content_disposition.is_some(),
            input.response_content_encoding.is_some(),
        ];
        signed_for_overrides(req.credentials.is_some(), &overrides)?;
        let range = input.range.map(range_spec);
        let part_number = match input.part_number {
            Some(_) if range.is_some() => {
                return Err(s3_error!(InvalidRequest, "Cannot specify both Range header and partNumber query parameter"));
            }
            Some(n) => Some(read_part_number(n)?),
            None => None,
        };
        let options = ReadOptions { version_id: input.version_id.clone(), range, part_number };
        let body = self.store.open_object(&input.bucket, &input.key, &options).await.map_err(s3_err)?;
        let rec = &body.info.record;
        check_read_conditions(
            rec,
            input.if_match.as_ref(),
            input.if_none_match.as_ref(),
            input.if_modified_since.as_ref(),
            input.if_unmodified_since.as_ref(),
        )?;
        let len = body.range.end - body.range.start;
        // A part number reads a range, even the one part (or the only part) covering the whole
        // object; only an empty object has no range to report.
        let partial = range.is_some() || (part_number.is_some() && rec.size > 0);
        let content_range = partial.then(|| format!("bytes {}-{}/{}", body.range.start, body.range.end.saturating_sub(1), rec.size));
        // Checksums describe the whole object, so they accompany only whole-object reads.
        let sums = if !partial && input.checksum_mode.is_some() { rec.checksums.clone() } else { Checksums::default() };
        let version = self.reported_version(&input.bucket, rec);
        let output = described_object!(GetObjectOutput, rec, len, content_range, &sums, version, {
            tag_count: (!rec.tags.is_empty()).then_some(rec.tags.len() as i32),
            body: Some(SyncBody::blob(body.stream, len)),
        });
        Ok(S3Response::new(output))
    }

    pub(super) async fn head_object(&self, req: S3Request<HeadObjectInput>) -> S3Result<S3Response<HeadObjectOutput>> {
        let input = req.input;
        let overrides = [
            input.response_content_type.is_some(),
            input.response_content_language.is_some(),
            input.response_expires.is_some(),
            input.response_cache_control.is_some(),
            input.response_content_disposition.is_some(),
            input.response_content_encoding.is_some(),
        ];
        signed_for_overrides(req.credentials.is_some(), &overrides)?;
        let info = self.store.head_version(&input.bucket, &input.key, input.version_id.as_deref()).map_err(s3_err)?;
        let rec = &info.record;
        check_read_conditions(
            rec,
            input.if_match.as_ref(),
            input.if_none_match.as_ref(),
            input.if_modified_since.as_ref(),
            input.if_unmodified_since.as_ref(),
        )?;
        if let Some(n) = input.part_number {
            if input.range.is_some() {
                return Err(s3_error!(InvalidRequest, "Cannot specify both Range header and partNumber query parameter"));
            }
            read_part_number(n)?;
        }
        let (len, content_range) = match (input.range, input.part_number) {
            (Some(r), _) => {
                let span = range_spec(r).resolve(rec.size).map_err(s3_err)?;
                (span.end - span.start, Some(format!("bytes {}-{}/{}", span.start, span.end.saturating_sub(1), rec.size)))
            }
            (None, Some(n)) if !rec.parts.is_empty() => {
                let index = usize::try_from(n).ok().and_then(|n| n.checked_sub(1)).filter(|i| *i < rec.parts.len());
                let index = index.ok_or_else(|| s3_err(storage::Error::InvalidPartNumber(n.max(0) as u32)))?;
                let start: u64 = rec.parts[..index].iter().map(|p| p.size).sum();
                let size = rec.parts[index].size;
                (size, Some(format!("bytes {}-{}/{}", start, (start + size).saturating_sub(1), rec.size)))
            }
            // A plain object is one part, as GET sees it.
            (None, Some(n)) if n != 1 => return Err(s3_err(storage::Error::InvalidPartNumber(n.max(0) as u32))),
            (None, Some(_)) if rec.size > 0 => (rec.size, Some(format!("bytes 0-{}/{}", rec.size - 1, rec.size))),
            _ => (rec.size, None),
        };
        let sums = if input.checksum_mode.is_some() && content_range.is_none() { rec.checksums.clone() } else { Checksums::default() };
        let version = self.reported_version(&input.bucket, rec);
        let mut output = described_object!(HeadObjectOutput, rec, len, content_range, &sums, version, {});
        // HEAD takes the same response-* overrides as GET; s3s applies them to GET only.
        if let Some(v) = input.response_content_type {
            output.content_type = Some(v);
        }
        if let Some(v) = input.response_content_language {
            output.content_language = Some(v);
        }
        if let Some(v) = input.response_expires {
            output.expires = Some(v);
        }
        if let Some(v) = input.response_cache_control {
            output.cache_control = Some(v);
        }
        if let Some(v) = input.response_content_disposition {
            output.content_disposition = Some(v);
        }
        if let Some(v) = input.response_content_encoding {
            output.content_encoding = Some(v);
        }
        Ok(S3Response::new(output))
    }

    pub(super) async fn delete_object(&self, req: S3Request<DeleteObjectInput>) -> S3Result<S3Response<DeleteObjectOutput>> {
        let input = req.input;
        let condition = match &input.if_match {
            Some(ETagCondition::ETag(e)) => Some(WriteCondition::IfMatch(e.value().to_string())),
            Some(ETagCondition::Any) => Some(WriteCondition::IfMatch("*".into())),
            None => None,
        };
        let done = self.store.delete_object(&input.bucket, &input.key, input.version_id.as_deref(), condition.as_ref()).await.map_err(s3_err)?;
        Ok(S3Response::new(DeleteObjectOutput {
            delete_marker: done.delete_marker.then_some(true),
            version_id: done.version_id,
            ..Default::default()
        }))
    }

    pub(super) async fn delete_objects(&self, req: S3Request<DeleteObjectsInput>) -> S3Result<S3Response<DeleteObjectsOutput>> {
        let caller = req.credentials.as_ref().and_then(|c| self.users.get(&c.access_key)).cloned();
        let input = req.input;
        self.store.head_bucket(&input.bucket).map_err(s3_err)?;
        if input.delete.objects.len() > MAX_DELETE_KEYS {
            return Err(s3_error!(MalformedXML, "The request may name at most 1000 keys"));
        }
        let quiet = input.delete.quiet.unwrap_or(false);
        let (mut deleted, mut errors) = (Vec::new(), Vec::new());
        for id in input.delete.objects {
            // Each key is authorised on its own, as S3 does.
            let action = action_for("DeleteObject", id.version_id.is_some());
            let request = AccessRequest { action, bucket: &input.bucket, key: Some(&id.key), version_id: id.version_id.as_deref() };
            // An ETag in the entry makes its delete conditional, as If-Match does for one object.
            let condition = id.e_tag.as_ref().map(|e| WriteCondition::IfMatch(e.value().to_string()));
            let outcome = if self.access.allowed(caller.as_ref(), &request) {
                self.store.delete_object(&input.bucket, &id.key, id.version_id.as_deref(), condition.as_ref()).await.map_err(s3_err)
            } else {
                Err(s3_error!(AccessDenied, "Access Denied"))
            };
            match outcome {
                Ok(done) => {
                    if !quiet {
                        let marker_version = done.delete_marker.then(|| done.version_id.clone()).flatten();
                        deleted.push(DeletedObject {
                            key: Some(id.key),
                            version_id: id.version_id.clone(),
                            delete_marker: done.delete_marker.then_some(true),
                            delete_marker_version_id: if id.version_id.is_none() { marker_version } else { None },
                        });
                    }
                }
                Err(err) => errors.push(Error {
                    code: Some(err.code().as_str().to_string()),
                    key: Some(id.key),
                    message: err.message().map(str::to_string),
                    version_id: id.version_id,
                }),
            }
        }
        Ok(S3Response::new(DeleteObjectsOutput { deleted: Some(deleted), errors: Some(errors), ..Default::default() }))
    }

    pub(super) async fn copy_object(&self, req: S3Request<CopyObjectInput>) -> S3Result<S3Response<CopyObjectOutput>> {
        let caller = req.credentials.as_ref().and_then(|c| self.users.get(&c.access_key)).cloned();
        let algorithms = requested_algorithms(&req.headers, req.input.checksum_algorithm.as_ref());
        let req_headers = req.headers;
        let input = req.input;
        let (src_bucket, src_key, src_version) = copy_source(&input.copy_source)?;
        let read = AccessRequest {
            action: action_for("GetObject", src_version.is_some()),
            bucket: &src_bucket,
            key: Some(&src_key),
            version_id: src_version.as_deref(),
        };
        if self.store.head_bucket(&src_bucket).is_ok() && !self.access.allowed(caller.as_ref(), &read) {
            return Err(s3_error!(AccessDenied, "Access Denied"));
        }
        let replace = input.metadata_directive.as_ref().is_some_and(|d| d.as_str().eq_ignore_ascii_case("REPLACE"));
        let replace_tags = input.tagging_directive.as_ref().is_some_and(|d| d.as_str().eq_ignore_ascii_case("REPLACE"));
        let same = src_bucket == input.bucket && src_key == input.key;
        if !replace && !replace_tags && same && src_version.is_none() && input.acl.is_none() {
            return Err(s3_error!(
                InvalidRequest,
                "This copy request is illegal because it is trying to copy an object to itself without changing the object's metadata, storage class, website redirect location or encryption attributes."
            ));
        }
        // Conditional copies (If-None-Match on the destination) arrive as headers s3s does not parse.
        let header =
            |name: &str| req_headers.get(name).and_then(|v| v.to_str().ok()).and_then(|v| ETagCondition::parse_http_header(v.as_bytes()).ok());
        let condition = write_condition(header("if-match").as_ref(), header("if-none-match").as_ref())?;
        let tags = if replace_tags { Some(parse_tagging_header(input.tagging.as_deref())?) } else { None };
        let acl = match &input.acl {
            Some(a) => Some(canned_acl(Some(a.as_str()), None, &OBJECT_ACLS)?),
            None => None,
        };
        let conditions = (
            input.copy_source_if_match.clone(),
            input.copy_source_if_none_match.clone(),
            input.copy_source_if_modified_since.clone(),
            input.copy_source_if_unmodified_since.clone(),
        );
        let headers = if replace {
            let h = stored_headers!(input);
            check_metadata(&h)?;
            Some(h)
        } else {
            None
        };
        let options = CopyOptions {
            source_version: src_version,
            headers,
            tags,
            acl,
            algorithms,
            check_source: Some(Box::new(move |rec: &ObjectRecord| {
                check_copy_conditions(rec, conditions.0.as_ref(), conditions.1.as_ref(), conditions.2.as_ref(), conditions.3.as_ref())
            })),
            condition,
        };
        let (record, source) = self.store.copy_object(&src_bucket, &src_key, &input.bucket, &input.key, options).await.map_err(s3_err)?;
        let [crc32, crc32c, crc64, sha1, sha256] = checksum_fields(&record.checksums);
        Ok(S3Response::new(CopyObjectOutput {
            copy_object_result: Some(CopyObjectResult {
                e_tag: Some(etag(&record.etag)),
                last_modified: Some(timestamp(record.last_modified)),
                checksum_crc32: crc32,
                checksum_crc32c: crc32c,
                checksum_crc64nvme: crc64,
                checksum_sha1: sha1,
                checksum_sha256: sha256,
                checksum_type: (!record.checksums.is_empty()).then(|| checksum_type(record.checksum_type)),
            }),
            copy_source_version_id: self.reported_version(&src_bucket, &source),
            version_id: self.reported_version(&input.bucket, &record),
            ..Default::default()
        }))
    }

    pub(super) async fn get_object_tagging(&self, req: S3Request<GetObjectTaggingInput>) -> S3Result<S3Response<GetObjectTaggingOutput>> {
        let input = req.input;
        let info = self.store.head_version(&input.bucket, &input.key, input.version_id.as_deref()).map_err(s3_err)?;
        Ok(S3Response::new(GetObjectTaggingOutput {
            tag_set: tag_set(&info.record.tags),
            version_id: self.reported_version(&input.bucket, &info.record),
        }))
    }

    pub(super) async fn put_object_tagging(&self, req: S3Request<PutObjectTaggingInput>) -> S3Result<S3Response<PutObjectTaggingOutput>> {
        let input = req.input;
        let tags = tags_of(input.tagging, false)?;
        let rec = self.store.update_version(&input.bucket, &input.key, input.version_id.as_deref(), |r| r.tags = tags).await.map_err(s3_err)?;
        Ok(S3Response::new(PutObjectTaggingOutput { version_id: self.reported_version(&input.bucket, &rec) }))
    }

    pub(super) async fn delete_object_tagging(&self, req: S3Request<DeleteObjectTaggingInput>) -> S3Result<S3Response<DeleteObjectTaggingOutput>> {
        let input = req.input;
        let rec =
            self.store.update_version(&input.bucket, &input.key, input.version_id.as_deref(), |r| r.tags = BTreeMap::new()).await.map_err(s3_err)?;
        Ok(S3Response::new(DeleteObjectTaggingOutput { version_id: self.reported_version(&input.bucket, &rec) }))
    }

    pub(super) async fn get_object_acl(&self, req: S3Request<GetObjectAclInput>) -> S3Result<S3Response<GetObjectAclOutput>> {
        let input = req.input;
        let info = self.store.head_version(&input.bucket, &input.key, input.version_id.as_deref()).map_err(s3_err)?;
        let bucket = self.store.head_bucket(&input.bucket).map_err(s3_err)?;
        let account = self.account_of(&bucket.owner);
        Ok(S3Response::new(GetObjectAclOutput {
            grants: Some(grants(info.record.acl.as_deref(), &account)),
            owner: Some(owner(&account)),
            ..Default::default()
        }))
    }

    pub(super) async fn put_object_acl(&self, req: S3Request<PutObjectAclInput>) -> S3Result<S3Response<PutObjectAclOutput>> {
        let input = req.input;
        let acl = canned_acl(input.acl.as_ref().map(|a| a.as_str()), input.access_control_policy.as_ref(), &OBJECT_ACLS)?;
        self.store.update_version(&input.bucket, &input.key, input.version_id.as_deref(), |r| r.acl = Some(acl)).await.map_err(s3_err)?;
        Ok(S3Response::new(PutObjectAclOutput::default()))
    }

    pub(super) async fn get_object_attributes(&self, req: S3Request<GetObjectAttributesInput>) -> S3Result<S3Response<GetObjectAttributesOutput>> {
        let input = req.input;
        let info = self.store.head_version(&input.bucket, &input.key, input.version_id.as_deref()).map_err(s3_err)?;
        let rec = &info.record;
        // s3s hands over each header value whole; a client may send one comma-separated value.
        let wanted: Vec<String> =
            input.object_attributes.iter().flat_map(|a| a.as_str().split(',').map(|s| s.trim().to_ascii_lowercase()).collect::<Vec<_>>()).collect();
        let want = |name: &str| wanted.iter().any(|w| w == name);
        let mut out = GetObjectAttributesOutput {
            last_modified: Some(timestamp(rec.last_modified)),
            version_id: self.reported_version(&input.bucket, rec),
            ..Default::default()
        };
        if want("etag") {
            out.e_tag = Some(etag(&rec.etag));
        }
        if want("objectsize") {
            out.object_size = Some(rec.size as i64);
        }
        if want("storageclass") {
            out.storage_class = Some(StorageClass::from_static(StorageClass::STANDARD));
        }
        if want("checksum") && !rec.checksums.is_empty() {
            let [crc32, crc32c, crc64, sha1, sha256] = checksum_fields(&rec.checksums);
            out.checksum = Some(Checksum {
                checksum_crc32: crc32,
                checksum_crc32c: crc32c,
                checksum_crc64nvme: crc64,
                checksum_sha1: sha1,
                checksum_sha256: sha256,
                checksum_type: Some(checksum_type(rec.checksum_type)),
            });
        }
        if want("objectparts") && !rec.parts.is_empty() {
            let marker = input.part_number_marker.unwrap_or(0).max(0) as usize;
            let max = input.max_parts.map(|m| m.clamp(0, 1000) as usize).unwrap_or(1000);
            let rest: Vec<(usize, &storage::PartSummary)> = rec.parts.iter().enumerate().skip(marker).collect();
            let truncated = rest.len() > max;
            let parts: Vec<ObjectPart> = rest
                .iter()
                .take(max)
                .map(|(i, p)| {
                    let [crc32, crc32c, crc64, sha1, sha256] = checksum_fields(&p.checksums);
                    ObjectPart {
                        part_number: Some(*i as i32 + 1),
                        size: Some(p.size as i64),
                        checksum_crc32: crc32,
                        checksum_crc32c: crc32c,
                        checksum_crc64nvme: crc64,
                        checksum_sha1: sha1,
                        checksum_sha256: sha256,
                    }
                })
                .collect();
            let next = parts.last().and_then(|p| p.part_number);
            out.object_parts = Some(GetObjectAttributesParts {
                total_parts_count: Some(rec.parts.len() as i32),
                part_number_marker: Some(marker as i32),
                next_part_number_marker: if truncated { next } else { None },
                max_parts: Some(max as i32),
                is_truncated: Some(truncated),
                parts: Some(parts),
            });
        }
        Ok(S3Response::new(out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(etag: &str, modified: i64) -> ObjectRecord {
        ObjectRecord {
            v: 1,
            size: 1,
            etag: etag.into(),
            last_modified: chrono::DateTime::from_timestamp(modified, 0).unwrap(),
            headers: Default::default(),
            checksums: Default::default(),
            checksum_type: Default::default(),
            segments: vec![],
            parts: vec![],
            version_id: None,
            seq: 1,
            delete_marker: false,
            tags: Default::default(),
            acl: None,
        }
    }

    #[test]
    fn read_preconditions_follow_rfc_9110() {
        let rec = record("abc", 1000);
        let tag = |v: &str| ETagCondition::ETag(ETag::Strong(v.into()));
        let at = |secs| timestamp(chrono::DateTime::from_timestamp(secs, 0).unwrap());
        let status = |r: S3Result<()>| r.err().map(|e| e.status_code().unwrap_or(StatusCode::OK));
        // (if-match, if-none-match, if-modified-since, if-unmodified-since) -> status
        type Case = (Option<ETagCondition>, Option<ETagCondition>, Option<Timestamp>, Option<Timestamp>, Option<StatusCode>);
        let cases: Vec<Case> = vec![
            (Some(tag("abc")), None, None, None, None),
            (Some(tag("zzz")), None, None, None, Some(StatusCode::PRECONDITION_FAILED)),
            (Some(ETagCondition::Any), None, None, None, None),
            (None, Some(tag("abc")), None, None, Some(StatusCode::NOT_MODIFIED)),
            (None, Some(tag("zzz")), None, None, None),
            (None, None, Some(at(1000)), None, Some(StatusCode::NOT_MODIFIED)),
            (None, None, Some(at(999)), None, None),
            (None, None, None, Some(at(999)), Some(StatusCode::PRECONDITION_FAILED)),
            (None, None, None, Some(at(1000)), None),
            // If-Match true overrides a failing If-Unmodified-Since; If-None-Match false
            // overrides a not-modified If-Modified-Since.
            (Some(tag("abc")), None, None, Some(at(10)), None),
            (None, Some(tag("zzz")), Some(at(2000)), None, None),
        ];
        for (i, (m, nm, ms, us, want)) in cases.into_iter().enumerate() {
            assert_eq!(status(check_read_conditions(&rec, m.as_ref(), nm.as_ref(), ms.as_ref(), us.as_ref())), want, "case {i}");
        }
        assert!(check_copy_conditions(&rec, Some(&tag("zzz")), None, None, None).is_err());
        assert!(check_copy_conditions(&rec, None, Some(&tag("abc")), None, None).is_err());
        assert!(check_copy_conditions(&rec, Some(&tag("abc")), None, None, Some(&at(10))).is_ok());
    }

    #[test]
    fn write_preconditions() {
        assert_eq!(write_condition(None, Some(&ETagCondition::Any)).unwrap(), Some(WriteCondition::IfNoneMatch));
        assert!(write_condition(None, Some(&ETagCondition::ETag(ETag::Strong("x".into())))).is_err());
        assert_eq!(write_condition(Some(&ETagCondition::ETag(ETag::Strong("x".into()))), None).unwrap(), Some(WriteCondition::IfMatch("x".into())));
    }
}
