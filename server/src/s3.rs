//! The S3 protocol: s3s's typed operations implemented over the lake, and storage errors mapped
//! to S3 error codes.

use std::pin::Pin;
use std::sync::Mutex;
use std::task::{Context, Poll};
use std::time::SystemTime;

use base64::Engine as _;
use bytes::Bytes;
use futures::{Stream, StreamExt, TryStreamExt};
use s3s::dto::*;
use s3s::{S3, S3Error, S3ErrorCode, S3Request, S3Response, S3Result, s3_error};
use storage::{ChecksumAlgorithm as Algo, Checksums, ErrorKind, Expected, ExpectedDigests, ListQuery, ObjectHeaders, PutOptions, RangeSpec, Store};

/// The owner reported in listings: the one local account.
pub const ACCOUNT_ID: &str = "000000000000";
const MAX_KEYS: usize = 1000;

pub struct Lake {
    pub store: Store,
}

/// Maps a storage error to its S3 error; internal faults are logged once here.
pub fn s3_err(e: storage::Error) -> S3Error {
    use storage::Error as E;
    let msg = e.to_string();
    let code = match &e {
        E::NoSuchBucket(_) => S3ErrorCode::NoSuchBucket,
        E::NoSuchKey(_) => S3ErrorCode::NoSuchKey,
        E::NoSuchUpload(_) => S3ErrorCode::NoSuchUpload,
        E::BucketAlreadyOwnedByYou(_) => S3ErrorCode::BucketAlreadyOwnedByYou,
        E::BucketAlreadyExists(_) => S3ErrorCode::BucketAlreadyExists,
        E::BucketNotEmpty(_) => S3ErrorCode::BucketNotEmpty,
        E::InvalidBucketName { .. } => S3ErrorCode::InvalidBucketName,
        E::InvalidKey(m) if m.contains("longer") => S3ErrorCode::KeyTooLongError,
        E::InvalidKey(_) => S3ErrorCode::InvalidArgument,
        E::BadDigest(_) => S3ErrorCode::BadDigest,
        E::InvalidDigest(storage::DigestKind::ContentMd5) => S3ErrorCode::InvalidDigest,
        E::InvalidDigest(_) => S3ErrorCode::InvalidRequest,
        E::InvalidRange { .. } => S3ErrorCode::InvalidRange,
        E::InvalidPart(_) => S3ErrorCode::InvalidPart,
        E::InvalidPartOrder => S3ErrorCode::InvalidPartOrder,
        E::EntityTooSmall { .. } => S3ErrorCode::EntityTooSmall,
        E::InvalidArgument(_) => S3ErrorCode::InvalidArgument,
        E::IncompleteBody(_) => S3ErrorCode::IncompleteBody,
        _ => S3ErrorCode::InternalError,
    };
    if e.kind() == ErrorKind::Internal || e.kind() == ErrorKind::ResourceExhausted {
        tracing::error!(error = %e, "storage fault");
    } else {
        tracing::debug!(error = %e, "request refused");
    }
    let mut err = S3Error::with_message(code, msg);
    if let E::InvalidRange { .. } = e {
        err.set_status_code(http::StatusCode::RANGE_NOT_SATISFIABLE);
    }
    err
}

fn timestamp(t: chrono::DateTime<chrono::Utc>) -> Timestamp {
    Timestamp::from(SystemTime::from(t))
}

fn etag(v: &str) -> ETag {
    ETag::Strong(v.to_string())
}

/// Keys in listings are percent-encoded when the client asks for `EncodingType=url` (botocore
/// always does, and decodes them with `unquote_plus`).
fn encoder(kind: &Option<EncodingType>) -> impl Fn(&str) -> String + use<> {
    let url = kind.as_ref().is_some_and(|k| k.as_str().eq_ignore_ascii_case("url"));
    move |s: &str| {
        if !url {
            return s.to_string();
        }
        const KEEP: &percent_encoding::AsciiSet =
            &percent_encoding::NON_ALPHANUMERIC.remove(b'-').remove(b'_').remove(b'.').remove(b'~').remove(b'/');
        percent_encoding::utf8_percent_encode(s, KEEP).to_string()
    }
}

fn body_stream(blob: Option<StreamingBlob>) -> storage::ByteStream {
    match blob {
        Some(b) => b.map_err(std::io::Error::other).boxed(),
        None => futures::stream::empty().boxed(),
    }
}

/// Which checksums to compute for an upload: those named by headers, the trailer declaration,
/// or the SDK's algorithm header.
fn requested_algorithms(headers: &http::HeaderMap, declared: Option<&ChecksumAlgorithm>) -> Vec<Algo> {
    let mut out = Vec::new();
    let mut add = |name: &str| {
        if let Some(a) = Algo::parse(name.trim().trim_start_matches("x-amz-checksum-"))
            && !out.contains(&a)
        {
            out.push(a);
        }
    };
    if let Some(d) = declared {
        add(d.as_str());
    }
    for name in ["x-amz-sdk-checksum-algorithm", "x-amz-checksum-algorithm"] {
        if let Some(v) = headers.get(name).and_then(|v| v.to_str().ok()) {
            add(v);
        }
    }
    if let Some(v) = headers.get("x-amz-trailer").and_then(|v| v.to_str().ok()) {
        for t in v.split(',') {
            add(t);
        }
    }
    out
}

fn claimed(
    md5: Option<String>,
    crc32: Option<String>,
    crc32c: Option<String>,
    crc64: Option<String>,
    sha1: Option<String>,
    sha256: Option<String>,
) -> ExpectedDigests {
    let mut digests = ExpectedDigests { content_md5: md5, checksums: Checksums::default() };
    for (a, v) in [(Algo::Crc32, crc32), (Algo::Crc32c, crc32c), (Algo::Crc64Nvme, crc64), (Algo::Sha1, sha1), (Algo::Sha256, sha256)] {
        if let Some(v) = v {
            digests.checksums.set(a, v);
        }
    }
    digests
}

/// Reads `x-amz-checksum-*` values from the trailer of an aws-chunked body, once it has ended.
fn trailer_reader(trailers: Option<s3s::TrailingHeaders>) -> Option<Box<dyn FnOnce() -> Checksums + Send>> {
    let trailers = trailers?;
    Some(Box::new(move || {
        let mut sums = Checksums::default();
        trailers.read(|headers| {
            for a in Algo::ALL {
                let name = format!("x-amz-checksum-{}", a.name().to_ascii_lowercase());
                if let Some(v) = headers.get(name.as_str()).and_then(|v| v.to_str().ok()) {
                    sums.set(a, v.to_string());
                }
            }
        });
        sums
    }))
}

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
            expires: $input.expires.map(|e| format!("{e:?}")),
            user_metadata: user_metadata($input.metadata),
        }
    };
}

/// The fields GetObject and HeadObject share, filled from an object's record.
macro_rules! described_object {
    ($ty:ident, $rec:expr, $len:expr, $range:expr, $sums:expr, { $($extra:tt)* }) => {{
        let rec = $rec;
        let h = &rec.headers;
        let [crc32, crc32c, crc64, sha1, sha256] = checksum_fields($sums);
        $ty {
            accept_ranges: Some("bytes".into()),
            content_length: Some($len as i64),
            content_range: $range,
            content_type: h.content_type.clone(),
            content_encoding: h.content_encoding.clone(),
            content_disposition: h.content_disposition.clone(),
            content_language: h.content_language.clone(),
            cache_control: h.cache_control.clone(),
            e_tag: Some(etag(&rec.etag)),
            last_modified: Some(timestamp(rec.last_modified)),
            metadata: (!h.user_metadata.is_empty()).then(|| h.user_metadata.clone().into_iter().collect()),
            parts_count: (!rec.parts.is_empty()).then_some(rec.parts.len() as i32),
            checksum_crc32: crc32,
            checksum_crc32c: crc32c,
            checksum_crc64nvme: crc64,
            checksum_sha1: sha1,
            checksum_sha256: sha256,
            $($extra)*
            ..Default::default()
        }
    }};
}

fn user_metadata(m: Option<Metadata>) -> std::collections::BTreeMap<String, String> {
    m.unwrap_or_default().into_iter().map(|(k, v)| (k.to_ascii_lowercase(), v)).collect()
}

/// A body stream that s3s can hold across threads: the lake's stream behind a lock that is never
/// contended, with its exact length so that responses carry Content-Length.
struct SyncBody {
    inner: Mutex<storage::ByteStream>,
    remaining: usize,
}

impl Stream for SyncBody {
    type Item = Result<Bytes, s3s::StdError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let polled = {
            let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
            inner.poll_next_unpin(cx)
        };
        if let Poll::Ready(Some(Ok(chunk))) = &polled {
            self.remaining = self.remaining.saturating_sub(chunk.len());
        }
        polled.map(|o| o.map(|r| r.map_err(|e| Box::new(e) as s3s::StdError)))
    }
}

impl s3s::stream::ByteStream for SyncBody {
    fn remaining_length(&self) -> s3s::stream::RemainingLength {
        s3s::stream::RemainingLength::new_exact(self.remaining)
    }
}

fn checksum_fields(sums: &Checksums) -> [Option<String>; 5] {
    [sums.crc32.clone(), sums.crc32c.clone(), sums.crc64nvme.clone(), sums.sha1.clone(), sums.sha256.clone()]
}

#[async_trait::async_trait]
impl S3 for Lake {
    async fn create_bucket(&self, req: S3Request<CreateBucketInput>) -> S3Result<S3Response<CreateBucketOutput>> {
        let name = req.input.bucket;
        match self.store.create_bucket(&name).await {
            Ok(_) => {}
            // us-east-1 answers a re-create by the owner with success, for historical reasons.
            Err(storage::Error::BucketAlreadyOwnedByYou(_)) if self.store.region() == "us-east-1" => {}
            Err(e) => return Err(s3_err(e)),
        }
        Ok(S3Response::new(CreateBucketOutput { location: Some(format!("/{name}")), ..Default::default() }))
    }

    async fn delete_bucket(&self, req: S3Request<DeleteBucketInput>) -> S3Result<S3Response<DeleteBucketOutput>> {
        self.store.delete_bucket(&req.input.bucket).await.map_err(s3_err)?;
        Ok(S3Response::new(DeleteBucketOutput::default()))
    }

    async fn head_bucket(&self, req: S3Request<HeadBucketInput>) -> S3Result<S3Response<HeadBucketOutput>> {
        let b = self.store.head_bucket(&req.input.bucket).map_err(s3_err)?;
        Ok(S3Response::new(HeadBucketOutput { bucket_region: Some(b.region), ..Default::default() }))
    }

    async fn get_bucket_location(&self, req: S3Request<GetBucketLocationInput>) -> S3Result<S3Response<GetBucketLocationOutput>> {
        let b = self.store.head_bucket(&req.input.bucket).map_err(s3_err)?;
        // us-east-1 is reported as an empty constraint, as S3 does.
        let location_constraint = (b.region != "us-east-1").then(|| BucketLocationConstraint::from(b.region));
        Ok(S3Response::new(GetBucketLocationOutput { location_constraint }))
    }

    async fn list_buckets(&self, _req: S3Request<ListBucketsInput>) -> S3Result<S3Response<ListBucketsOutput>> {
        let buckets = self.store.list_buckets().map_err(s3_err)?;
        let buckets = buckets
            .into_iter()
            .map(|b| Bucket { name: Some(b.name), creation_date: Some(timestamp(b.created)), bucket_region: Some(b.region) })
            .collect();
        Ok(S3Response::new(ListBucketsOutput {
            buckets: Some(buckets),
            owner: Some(Owner { display_name: Some("minerva".into()), id: Some(ACCOUNT_ID.into()) }),
            ..Default::default()
        }))
    }

    async fn put_object(&self, req: S3Request<PutObjectInput>) -> S3Result<S3Response<PutObjectOutput>> {
        let algorithms = requested_algorithms(&req.headers, req.input.checksum_algorithm.as_ref());
        let input = req.input;
        let digests = claimed(
            input.content_md5,
            input.checksum_crc32,
            input.checksum_crc32c,
            input.checksum_crc64nvme,
            input.checksum_sha1,
            input.checksum_sha256,
        );
        let headers = stored_headers!(input);
        let options = PutOptions { headers, algorithms, expected: Expected { digests, trailer: trailer_reader(req.trailing_headers) } };
        let record = self.store.put_object(&input.bucket, &input.key, body_stream(input.body), options).await.map_err(s3_err)?;
        let [crc32, crc32c, crc64, sha1, sha256] = checksum_fields(&record.checksums);
        Ok(S3Response::new(PutObjectOutput {
            e_tag: Some(etag(&record.etag)),
            checksum_crc32: crc32,
            checksum_crc32c: crc32c,
            checksum_crc64nvme: crc64,
            checksum_sha1: sha1,
            checksum_sha256: sha256,
            ..Default::default()
        }))
    }

    async fn get_object(&self, req: S3Request<GetObjectInput>) -> S3Result<S3Response<GetObjectOutput>> {
        let input = req.input;
        let range = input.range.map(|r| match r {
            Range::Int { first, last } => RangeSpec::From { first, last },
            Range::Suffix { length } => RangeSpec::Suffix(length),
        });
        if input.part_number.is_some() {
            return Err(s3_error!(NotImplemented, "GetObject with partNumber is not supported yet"));
        }
        let body = self.store.get_object(&input.bucket, &input.key, range).await.map_err(s3_err)?;
        let rec = &body.info.record;
        let len = body.range.end - body.range.start;
        let content_range = range.map(|_| format!("bytes {}-{}/{}", body.range.start, body.range.end.saturating_sub(1), rec.size));
        // Checksums describe the whole object, so they accompany only whole-object reads.
        let sums = if range.is_none() && input.checksum_mode.is_some() { rec.checksums.clone() } else { Checksums::default() };
        let stream = SyncBody { inner: Mutex::new(body.stream), remaining: len as usize };
        let output = described_object!(GetObjectOutput, rec, len, content_range, &sums, {
            body: Some(StreamingBlob::new(stream)),
        });
        Ok(S3Response::new(output))
    }

    async fn head_object(&self, req: S3Request<HeadObjectInput>) -> S3Result<S3Response<HeadObjectOutput>> {
        let input = req.input;
        let info = self.store.head_object(&input.bucket, &input.key).map_err(s3_err)?;
        let rec = &info.record;
        let (len, content_range) = match input.range {
            None => (rec.size, None),
            Some(r) => {
                let spec = match r {
                    Range::Int { first, last } => RangeSpec::From { first, last },
                    Range::Suffix { length } => RangeSpec::Suffix(length),
                };
                let span = spec.resolve(rec.size).map_err(s3_err)?;
                (span.end - span.start, Some(format!("bytes {}-{}/{}", span.start, span.end.saturating_sub(1), rec.size)))
            }
        };
        let sums = if input.checksum_mode.is_some() { rec.checksums.clone() } else { Checksums::default() };
        Ok(S3Response::new(described_object!(HeadObjectOutput, rec, len, content_range, &sums, {})))
    }

    async fn delete_object(&self, req: S3Request<DeleteObjectInput>) -> S3Result<S3Response<DeleteObjectOutput>> {
        self.store.delete_object(&req.input.bucket, &req.input.key).await.map_err(s3_err)?;
        Ok(S3Response::with_status(DeleteObjectOutput::default(), http::StatusCode::NO_CONTENT))
    }

    async fn delete_objects(&self, req: S3Request<DeleteObjectsInput>) -> S3Result<S3Response<DeleteObjectsOutput>> {
        let input = req.input;
        self.store.head_bucket(&input.bucket).map_err(s3_err)?;
        let quiet = input.delete.quiet.unwrap_or(false);
        let (mut deleted, mut errors) = (Vec::new(), Vec::new());
        for id in input.delete.objects {
            match self.store.delete_object(&input.bucket, &id.key).await {
                Ok(()) => {
                    if !quiet {
                        deleted.push(DeletedObject { key: Some(id.key), ..Default::default() });
                    }
                }
                Err(e) => {
                    let err = s3_err(e);
                    errors.push(Error {
                        code: Some(err.code().as_str().to_string()),
                        key: Some(id.key),
                        message: err.message().map(str::to_string),
                        version_id: None,
                    });
                }
            }
        }
        Ok(S3Response::new(DeleteObjectsOutput { deleted: Some(deleted), errors: Some(errors), ..Default::default() }))
    }

    async fn copy_object(&self, req: S3Request<CopyObjectInput>) -> S3Result<S3Response<CopyObjectOutput>> {
        let input = req.input;
        let (src_bucket, src_key) = match &input.copy_source {
            CopySource::Bucket { bucket, key, version_id } => {
                if version_id.as_deref().is_some_and(|v| v != "null") {
                    return Err(s3_error!(NoSuchVersion, "versioning is not enabled; only version \"null\" exists"));
                }
                (bucket.to_string(), key.to_string())
            }
            _ => return Err(s3_error!(NotImplemented, "access point copy sources are not supported")),
        };
        let replace = input.metadata_directive.as_ref().is_some_and(|d| d.as_str().eq_ignore_ascii_case("REPLACE"));
        if !replace && src_bucket == input.bucket && src_key == input.key {
            return Err(s3_error!(
                InvalidRequest,
                "This copy request is illegal because it is trying to copy an object to itself without changing the object's metadata, storage class, website redirect location or encryption attributes."
            ));
        }
        let headers = replace.then(|| stored_headers!(input));
        let record = self.store.copy_object(&src_bucket, &src_key, &input.bucket, &input.key, headers).await.map_err(s3_err)?;
        Ok(S3Response::new(CopyObjectOutput {
            copy_object_result: Some(CopyObjectResult {
                e_tag: Some(etag(&record.etag)),
                last_modified: Some(timestamp(record.last_modified)),
                ..Default::default()
            }),
            ..Default::default()
        }))
    }

    async fn list_objects(&self, req: S3Request<ListObjectsInput>) -> S3Result<S3Response<ListObjectsOutput>> {
        let input = req.input;
        let enc = encoder(&input.encoding_type);
        let max = input.max_keys.map(|m| m.clamp(0, MAX_KEYS as i32) as usize).unwrap_or(MAX_KEYS);
        let query = ListQuery {
            prefix: input.prefix.clone().unwrap_or_default(),
            delimiter: input.delimiter.clone(),
            after: input.marker.clone().filter(|m| !m.is_empty()),
            max_keys: max,
        };
        let page = self.store.list_objects(&input.bucket, &query).map_err(s3_err)?;
        let contents = page.objects.iter().map(|o| object_entry(o, &enc)).collect();
        let prefixes = page.common_prefixes.iter().map(|p| CommonPrefix { prefix: Some(enc(p)) }).collect();
        Ok(S3Response::new(ListObjectsOutput {
            name: Some(input.bucket),
            prefix: Some(enc(&query.prefix)),
            marker: Some(enc(query.after.as_deref().unwrap_or_default())),
            delimiter: input.delimiter.as_deref().map(&enc),
            max_keys: Some(max as i32),
            is_truncated: Some(page.is_truncated),
            // S3 returns NextMarker only when a delimiter is given; clients then use the last key.
            next_marker: if page.is_truncated && input.delimiter.is_some() { page.last.as_deref().map(&enc) } else { None },
            contents: Some(contents),
            common_prefixes: Some(prefixes),
            encoding_type: input.encoding_type,
            ..Default::default()
        }))
    }

    async fn list_objects_v2(&self, req: S3Request<ListObjectsV2Input>) -> S3Result<S3Response<ListObjectsV2Output>> {
        let input = req.input;
        let enc = encoder(&input.encoding_type);
        let max = input.max_keys.map(|m| m.clamp(0, MAX_KEYS as i32) as usize).unwrap_or(MAX_KEYS);
        let after = match &input.continuation_token {
            Some(token) => {
                let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
                    .decode(token)
                    .ok()
                    .and_then(|b| String::from_utf8(b).ok())
                    .ok_or_else(|| s3_error!(InvalidArgument, "The continuation token provided is incorrect"))?;
                Some(raw)
            }
            None => input.start_after.clone().filter(|s| !s.is_empty()),
        };
        let query = ListQuery { prefix: input.prefix.clone().unwrap_or_default(), delimiter: input.delimiter.clone(), after, max_keys: max };
        let page = self.store.list_objects(&input.bucket, &query).map_err(s3_err)?;
        let contents: Vec<Object> = page.objects.iter().map(|o| object_entry(o, &enc)).collect();
        let prefixes: Vec<CommonPrefix> = page.common_prefixes.iter().map(|p| CommonPrefix { prefix: Some(enc(p)) }).collect();
        let next = if page.is_truncated { page.last.as_ref().map(|l| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(l)) } else { None };
        Ok(S3Response::new(ListObjectsV2Output {
            name: Some(input.bucket),
            prefix: Some(enc(&query.prefix)),
            delimiter: input.delimiter.as_deref().map(&enc),
            max_keys: Some(max as i32),
            key_count: Some((contents.len() + prefixes.len()) as i32),
            continuation_token: input.continuation_token,
            next_continuation_token: next,
            is_truncated: Some(page.is_truncated),
            start_after: input.start_after.as_deref().map(&enc),
            contents: Some(contents),
            common_prefixes: Some(prefixes),
            encoding_type: input.encoding_type,
            ..Default::default()
        }))
    }

    async fn list_object_versions(&self, req: S3Request<ListObjectVersionsInput>) -> S3Result<S3Response<ListObjectVersionsOutput>> {
        let input = req.input;
        let enc = encoder(&input.encoding_type);
        let max = input.max_keys.map(|m| m.clamp(0, MAX_KEYS as i32) as usize).unwrap_or(MAX_KEYS);
        let query = ListQuery {
            prefix: input.prefix.clone().unwrap_or_default(),
            delimiter: input.delimiter.clone(),
            after: input.key_marker.clone().filter(|m| !m.is_empty()),
            max_keys: max,
        };
        let page = self.store.list_objects(&input.bucket, &query).map_err(s3_err)?;
        // Without versioning every object has exactly one version, "null", and it is the latest.
        let versions = page
            .objects
            .iter()
            .map(|o| ObjectVersion {
                e_tag: Some(etag(&o.record.etag)),
                is_latest: Some(true),
                key: Some(enc(&o.key)),
                last_modified: Some(timestamp(o.record.last_modified)),
                owner: Some(Owner { display_name: Some("minerva".into()), id: Some(ACCOUNT_ID.into()) }),
                size: Some(o.record.size as i64),
                storage_class: Some(ObjectVersionStorageClass::from_static(ObjectVersionStorageClass::STANDARD)),
                version_id: Some("null".into()),
                ..Default::default()
            })
            .collect();
        let prefixes = page.common_prefixes.iter().map(|p| CommonPrefix { prefix: Some(enc(p)) }).collect();
        Ok(S3Response::new(ListObjectVersionsOutput {
            name: Some(input.bucket),
            prefix: Some(enc(&query.prefix)),
            delimiter: input.delimiter.as_deref().map(&enc),
            key_marker: Some(enc(query.after.as_deref().unwrap_or_default())),
            version_id_marker: input.version_id_marker,
            max_keys: Some(max as i32),
            is_truncated: Some(page.is_truncated),
            next_key_marker: if page.is_truncated { page.last.as_deref().map(&enc) } else { None },
            next_version_id_marker: page.is_truncated.then(|| "null".to_string()),
            versions: Some(versions),
            common_prefixes: Some(prefixes),
            encoding_type: input.encoding_type,
            ..Default::default()
        }))
    }

    async fn create_multipart_upload(&self, req: S3Request<CreateMultipartUploadInput>) -> S3Result<S3Response<CreateMultipartUploadOutput>> {
        let input = req.input;
        let algorithm = input.checksum_algorithm.as_ref().and_then(|a| Algo::parse(a.as_str()));
        let headers = stored_headers!(input);
        let upload = self.store.create_multipart_upload(&input.bucket, &input.key, headers, algorithm).await.map_err(s3_err)?;
        Ok(S3Response::new(CreateMultipartUploadOutput {
            bucket: Some(input.bucket),
            key: Some(input.key),
            upload_id: Some(upload.upload_id),
            checksum_algorithm: input.checksum_algorithm,
            ..Default::default()
        }))
    }

    async fn upload_part(&self, req: S3Request<UploadPartInput>) -> S3Result<S3Response<UploadPartOutput>> {
        let algorithms = requested_algorithms(&req.headers, req.input.checksum_algorithm.as_ref());
        let input = req.input;
        let digests = claimed(
            input.content_md5,
            input.checksum_crc32,
            input.checksum_crc32c,
            input.checksum_crc64nvme,
            input.checksum_sha1,
            input.checksum_sha256,
        );
        let options = PutOptions { headers: ObjectHeaders::default(), algorithms, expected: Expected { digests, trailer: trailer_reader(req.trailing_headers) } };
        let number = u32::try_from(input.part_number).map_err(|_| s3_error!(InvalidArgument, "Part number must be an integer between 1 and 10000, inclusive"))?;
        let part = self
            .store
            .upload_part(&input.bucket, &input.key, &input.upload_id, number, body_stream(input.body), options)
            .await
            .map_err(s3_err)?;
        let [crc32, crc32c, crc64, sha1, sha256] = checksum_fields(&part.checksums);
        Ok(S3Response::new(UploadPartOutput {
            e_tag: Some(etag(&part.etag)),
            checksum_crc32: crc32,
            checksum_crc32c: crc32c,
            checksum_crc64nvme: crc64,
            checksum_sha1: sha1,
            checksum_sha256: sha256,
            ..Default::default()
        }))
    }

    async fn list_parts(&self, req: S3Request<ListPartsInput>) -> S3Result<S3Response<ListPartsOutput>> {
        let input = req.input;
        let after = input.part_number_marker.and_then(|m| u32::try_from(m).ok()).unwrap_or(0);
        let max = input.max_parts.map(|m| m.clamp(0, 1000) as usize).unwrap_or(1000);
        let (upload, page) = self.store.list_parts(&input.bucket, &input.key, &input.upload_id, after, max).map_err(s3_err)?;
        let parts = page
            .parts
            .iter()
            .map(|p| Part {
                part_number: Some(p.number as i32),
                e_tag: Some(etag(&p.etag)),
                size: Some(p.size as i64),
                last_modified: Some(timestamp(p.last_modified)),
                checksum_crc32: p.checksums.crc32.clone(),
                checksum_crc32c: p.checksums.crc32c.clone(),
                checksum_crc64nvme: p.checksums.crc64nvme.clone(),
                checksum_sha1: p.checksums.sha1.clone(),
                checksum_sha256: p.checksums.sha256.clone(),
            })
            .collect();
        Ok(S3Response::new(ListPartsOutput {
            bucket: Some(input.bucket),
            key: Some(input.key),
            upload_id: Some(upload.upload_id),
            part_number_marker: Some(after as i32),
            next_part_number_marker: page.next_marker.filter(|_| page.is_truncated).map(|n| n as i32),
            max_parts: Some(max as i32),
            is_truncated: Some(page.is_truncated),
            parts: Some(parts),
            checksum_algorithm: upload.checksum_algorithm.map(|a| ChecksumAlgorithm::from(a.name().to_string())),
            owner: Some(Owner { display_name: Some("minerva".into()), id: Some(ACCOUNT_ID.into()) }),
            initiator: Some(Initiator { display_name: Some("minerva".into()), id: Some(ACCOUNT_ID.into()) }),
            storage_class: Some(StorageClass::from_static(StorageClass::STANDARD)),
            ..Default::default()
        }))
    }

    async fn complete_multipart_upload(&self, req: S3Request<CompleteMultipartUploadInput>) -> S3Result<S3Response<CompleteMultipartUploadOutput>> {
        let input = req.input;
        let listed = input.multipart_upload.and_then(|m| m.parts).unwrap_or_default();
        let mut parts = Vec::with_capacity(listed.len());
        for p in listed {
            let number = p.part_number.and_then(|n| u32::try_from(n).ok()).ok_or_else(|| s3_error!(InvalidPart, "a part has no valid PartNumber"))?;
            let etag = p.e_tag.map(|e| e.value().to_string()).ok_or_else(|| s3_error!(InvalidPart, "part {} has no ETag", number))?;
            let digests = claimed(None, p.checksum_crc32, p.checksum_crc32c, p.checksum_crc64nvme, p.checksum_sha1, p.checksum_sha256);
            parts.push(storage::CompletedPart { number, etag, checksums: digests.checksums });
        }
        if parts.is_empty() {
            return Err(s3_error!(MalformedXML, "The XML you provided was not well-formed or did not validate against our published schema"));
        }
        let record = self
            .store
            .complete_multipart_upload(&input.bucket, &input.key, &input.upload_id, &parts, storage::store::MIN_PART_SIZE)
            .await
            .map_err(s3_err)?;
        Ok(S3Response::new(CompleteMultipartUploadOutput {
            bucket: Some(input.bucket.clone()),
            key: Some(input.key.clone()),
            e_tag: Some(etag(&record.etag)),
            location: Some(format!("/{}/{}", input.bucket, input.key)),
            ..Default::default()
        }))
    }

    async fn abort_multipart_upload(&self, req: S3Request<AbortMultipartUploadInput>) -> S3Result<S3Response<AbortMultipartUploadOutput>> {
        let input = req.input;
        self.store.abort_multipart_upload(&input.bucket, &input.key, &input.upload_id).await.map_err(s3_err)?;
        Ok(S3Response::with_status(AbortMultipartUploadOutput::default(), http::StatusCode::NO_CONTENT))
    }

    async fn list_multipart_uploads(&self, req: S3Request<ListMultipartUploadsInput>) -> S3Result<S3Response<ListMultipartUploadsOutput>> {
        let input = req.input;
        let enc = encoder(&input.encoding_type);
        let max = input.max_uploads.map(|m| m.clamp(0, 1000) as usize).unwrap_or(1000);
        let prefix = input.prefix.clone().unwrap_or_default();
        let page = self
            .store
            .list_multipart_uploads(&input.bucket, &prefix, input.delimiter.as_deref(), input.key_marker.as_deref(), input.upload_id_marker.as_deref(), max)
            .map_err(s3_err)?;
        let last = page.uploads.last().map(|u| (u.key.clone(), u.upload_id.clone()));
        let uploads = page
            .uploads
            .into_iter()
            .map(|u| MultipartUpload {
                key: Some(enc(&u.key)),
                upload_id: Some(u.upload_id),
                initiated: Some(timestamp(u.initiated)),
                owner: Some(Owner { display_name: Some("minerva".into()), id: Some(ACCOUNT_ID.into()) }),
                initiator: Some(Initiator { display_name: Some("minerva".into()), id: Some(ACCOUNT_ID.into()) }),
                storage_class: Some(StorageClass::from_static(StorageClass::STANDARD)),
                checksum_algorithm: u.checksum_algorithm.map(|a| ChecksumAlgorithm::from(a.name().to_string())),
                ..Default::default()
            })
            .collect();
        let prefixes = page.common_prefixes.iter().map(|p| CommonPrefix { prefix: Some(enc(p)) }).collect();
        Ok(S3Response::new(ListMultipartUploadsOutput {
            bucket: Some(input.bucket),
            prefix: Some(enc(&prefix)),
            delimiter: input.delimiter.as_deref().map(&enc),
            key_marker: input.key_marker.as_deref().map(&enc),
            upload_id_marker: input.upload_id_marker,
            next_key_marker: if page.is_truncated { last.as_ref().map(|l| enc(&l.0)) } else { None },
            next_upload_id_marker: if page.is_truncated { last.map(|l| l.1) } else { None },
            max_uploads: Some(max as i32),
            is_truncated: Some(page.is_truncated),
            uploads: Some(uploads),
            common_prefixes: Some(prefixes),
            encoding_type: input.encoding_type,
            ..Default::default()
        }))
    }
}

fn object_entry(o: &storage::ObjectInfo, enc: &impl Fn(&str) -> String) -> Object {
    Object {
        key: Some(enc(&o.key)),
        e_tag: Some(etag(&o.record.etag)),
        last_modified: Some(timestamp(o.record.last_modified)),
        size: Some(o.record.size as i64),
        storage_class: Some(ObjectStorageClass::from_static(ObjectStorageClass::STANDARD)),
        owner: Some(Owner { display_name: Some("minerva".into()), id: Some(ACCOUNT_ID.into()) }),
        checksum_algorithm: {
            let algos: Vec<ChecksumAlgorithm> = o.record.checksums.algorithms().map(|a| ChecksumAlgorithm::from(a.name().to_string())).collect();
            (!algos.is_empty()).then_some(algos)
        },
        ..Default::default()
    }
}
