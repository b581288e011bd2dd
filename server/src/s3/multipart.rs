//! Multipart uploads: create, upload part (or copy a range of an object into one), list parts,
//! complete, abort, list uploads.

use s3s::dto::*;
use s3s::{S3Request, S3Response, S3Result, s3_error};
use storage::{ChecksumAlgorithm as Algo, CompleteOptions, Expected, ObjectHeaders, PutOptions, ReadOptions, UploadOptions};

use crate::s3::Lake;
use crate::s3::access::{Request as AccessRequest, action_for};
use crate::s3::buckets::canned_acl;
use crate::s3::dates::*;
use crate::s3::error::s3_err;
use crate::s3::objects::{MAX_PUT_SIZE, OBJECT_ACLS, check_metadata, stored_headers};
use crate::s3::util::*;

fn part_number(n: i32) -> S3Result<u32> {
    u32::try_from(n)
        .ok()
        .filter(|n| (1..=storage::MAX_PART_NUMBER).contains(n))
        .ok_or_else(|| s3_error!(InvalidArgument, "Part number must be an integer between 1 and 10000, inclusive"))
}

impl Lake {
    pub(super) async fn create_multipart_upload(
        &self,
        req: S3Request<CreateMultipartUploadInput>,
    ) -> S3Result<S3Response<CreateMultipartUploadOutput>> {
        let input = req.input;
        let algorithm = match &input.checksum_algorithm {
            Some(a) => Some(Algo::parse(a.as_str()).ok_or_else(|| s3_error!(InvalidRequest, "Checksum algorithm {} is not supported", a.as_str()))?),
            None => None,
        };
        let kind = match input.checksum_type.as_ref().map(|t| t.as_str()) {
            Some("FULL_OBJECT") => Some(storage::ChecksumType::FullObject),
            Some("COMPOSITE") => Some(storage::ChecksumType::Composite),
            Some(other) => return Err(s3_error!(InvalidRequest, "Checksum type {} is not supported", other)),
            None => None,
        };
        let tags = parse_tagging_header(input.tagging.as_deref())?;
        let acl = match &input.acl {
            Some(a) => Some(canned_acl(Some(a.as_str()), None, &OBJECT_ACLS)?),
            None => None,
        };
        let (bucket, key) = (input.bucket.clone(), input.key.clone());
        let checksum_algorithm = input.checksum_algorithm.clone();
        let headers: ObjectHeaders = stored_headers!(input);
        check_metadata(&headers)?;
        let options = UploadOptions { headers, checksum_algorithm: algorithm, checksum_type: kind, tags, acl };
        let upload = self.store.create_multipart_upload(&bucket, &key, options).await.map_err(s3_err)?;
        Ok(S3Response::new(CreateMultipartUploadOutput {
            bucket: Some(bucket),
            key: Some(key),
            upload_id: Some(upload.upload_id),
            checksum_algorithm,
            checksum_type: upload.checksum_algorithm.map(|_| checksum_type(upload.checksum_type)),
            ..Default::default()
        }))
    }

    pub(super) async fn upload_part(&self, req: S3Request<UploadPartInput>) -> S3Result<S3Response<UploadPartOutput>> {
        let algorithms = requested_algorithms(&req.headers, req.input.checksum_algorithm.as_ref());
        let input = req.input;
        if input.content_length.is_some_and(|l| l > MAX_PUT_SIZE) {
            return Err(s3_error!(EntityTooLarge, "Your proposed upload exceeds the maximum allowed size"));
        }
        let number = part_number(input.part_number)?;
        let digests = claimed(
            input.content_md5,
            input.checksum_crc32,
            input.checksum_crc32c,
            input.checksum_crc64nvme,
            input.checksum_sha1,
            input.checksum_sha256,
        );
        let options = PutOptions { algorithms, expected: Expected { digests, trailer: trailer_reader(req.trailing_headers) }, ..Default::default() };
        let (body, outcome) = body_stream(input.body, input.content_length);
        let part = self.store.upload_part(&input.bucket, &input.key, &input.upload_id, number, body, options).await.map_err(|e| outcome.error(e))?;
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

    pub(super) async fn upload_part_copy(&self, req: S3Request<UploadPartCopyInput>) -> S3Result<S3Response<UploadPartCopyOutput>> {
        let caller = req.credentials.as_ref().and_then(|c| self.users.get(&c.access_key)).cloned();
        let input = req.input;
        let number = part_number(input.part_number)?;
        let CopySource::Bucket { bucket: src_bucket, key: src_key, version_id } = &input.copy_source else {
            return Err(s3_error!(NotImplemented, "access point copy sources are not supported"));
        };
        let read = AccessRequest {
            action: action_for("GetObject", version_id.is_some()),
            bucket: src_bucket,
            key: Some(src_key),
            version_id: version_id.as_deref(),
        };
        if self.store.head_bucket(src_bucket).is_ok() && !self.access.allowed(caller.as_ref(), &read) {
            return Err(s3_error!(AccessDenied, "Access Denied"));
        }
        let range = input.copy_source_range.as_deref().map(copy_source_range).transpose()?;
        let source = ReadOptions { version_id: version_id.as_deref().map(str::to_string), range, part_number: None };
        let conditions = (
            input.copy_source_if_match.clone(),
            input.copy_source_if_none_match.clone(),
            input.copy_source_if_modified_since.clone(),
            input.copy_source_if_unmodified_since.clone(),
        );
        let (part, src) = self
            .store
            .upload_part_copy(
                &input.bucket,
                &input.key,
                &input.upload_id,
                number,
                storage::CopySource { bucket: src_bucket, key: src_key, read: source },
                |rec| {
                    crate::s3::objects::check_copy_conditions(
                        rec,
                        conditions.0.as_ref(),
                        conditions.1.as_ref(),
                        conditions.2.as_ref(),
                        conditions.3.as_ref(),
                    )
                },
            )
            .await
            .map_err(s3_err)?;
        Ok(S3Response::new(UploadPartCopyOutput {
            copy_part_result: Some(CopyPartResult {
                e_tag: Some(etag(&part.etag)),
                last_modified: Some(timestamp(part.last_modified)),
                ..Default::default()
            }),
            copy_source_version_id: match self.store.head_bucket(src_bucket).map(|b| b.versioning) {
                Ok(storage::Versioning::Unversioned) | Err(_) => None,
                Ok(_) => Some(src.version_name().to_string()),
            },
            ..Default::default()
        }))
    }

    pub(super) async fn list_parts(&self, req: S3Request<ListPartsInput>) -> S3Result<S3Response<ListPartsOutput>> {
        let input = req.input;
        let after = input.part_number_marker.and_then(|m| u32::try_from(m).ok()).unwrap_or(0);
        let max = input.max_parts.map(|m| m.clamp(0, 1000) as usize).unwrap_or(1000);
        let (upload, page) = self.store.list_parts(&input.bucket, &input.key, &input.upload_id, after, max).map_err(s3_err)?;
        let bucket = self.store.head_bucket(&input.bucket).map_err(s3_err)?;
        let account = self.account_of(&bucket.owner);
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
            checksum_type: upload.checksum_algorithm.map(|_| checksum_type(upload.checksum_type)),
            owner: Some(owner(&account)),
            initiator: Some(Initiator { display_name: Some(crate::s3::ACCOUNT_DISPLAY_NAME.into()), id: Some(account.clone()) }),
            storage_class: Some(StorageClass::from_static(StorageClass::STANDARD)),
            ..Default::default()
        }))
    }

    pub(super) async fn complete_multipart_upload(
        &self,
        req: S3Request<CompleteMultipartUploadInput>,
    ) -> S3Result<S3Response<CompleteMultipartUploadOutput>> {
        let input = req.input;
        let listed = input.multipart_upload.and_then(|m| m.parts).unwrap_or_default();
        if listed.is_empty() {
            return Err(s3_error!(MalformedXML, "The XML you provided was not well-formed or did not validate against our published schema"));
        }
        let mut parts = Vec::with_capacity(listed.len());
        for p in listed {
            let number = p.part_number.and_then(|n| u32::try_from(n).ok()).ok_or_else(|| s3_error!(InvalidPart, "a part has no valid PartNumber"))?;
            let etag = p.e_tag.map(|e| e.value().to_string()).ok_or_else(|| s3_error!(InvalidPart, "part {} has no ETag", number))?;
            let digests = claimed(None, p.checksum_crc32, p.checksum_crc32c, p.checksum_crc64nvme, p.checksum_sha1, p.checksum_sha256);
            parts.push(storage::CompletedPart { number, etag, checksums: digests.checksums });
        }
        let condition = match (input.if_match.as_ref(), input.if_none_match.as_ref()) {
            (None, Some(ETagCondition::Any)) => Some(storage::WriteCondition::IfNoneMatch),
            (Some(ETagCondition::ETag(e)), None) => Some(storage::WriteCondition::IfMatch(e.value().to_string())),
            (Some(ETagCondition::Any), None) => Some(storage::WriteCondition::IfMatch("*".into())),
            (None, None) => None,
            _ => return Err(s3_error!(NotImplemented, "this combination of conditions is not supported")),
        };
        let expected =
            claimed(None, input.checksum_crc32, input.checksum_crc32c, input.checksum_crc64nvme, input.checksum_sha1, input.checksum_sha256)
                .checksums;
        let options = CompleteOptions { min_part_size: storage::MIN_PART_SIZE, expected, condition };
        let record = self.store.complete_multipart_upload(&input.bucket, &input.key, &input.upload_id, &parts, options).await.map_err(s3_err)?;
        if let Some(size) = input.mpu_object_size
            && size as u64 != record.size
        {
            tracing::warn!(bucket = %input.bucket, key = %input.key, claimed = size, actual = record.size, "x-amz-mp-object-size did not match");
        }
        let [crc32, crc32c, crc64, sha1, sha256] = checksum_fields(&record.checksums);
        let version_id = match self.store.head_bucket(&input.bucket).map(|b| b.versioning) {
            Ok(storage::Versioning::Unversioned) | Err(_) => None,
            Ok(_) => Some(record.version_name().to_string()),
        };
        Ok(S3Response::new(CompleteMultipartUploadOutput {
            bucket: Some(input.bucket.clone()),
            key: Some(input.key.clone()),
            e_tag: Some(etag(&record.etag)),
            location: Some(format!("/{}/{}", input.bucket, input.key)),
            checksum_crc32: crc32,
            checksum_crc32c: crc32c,
            checksum_crc64nvme: crc64,
            checksum_sha1: sha1,
            checksum_sha256: sha256,
            checksum_type: (!record.checksums.is_empty()).then(|| checksum_type(record.checksum_type)),
            version_id,
            ..Default::default()
        }))
    }

    pub(super) async fn abort_multipart_upload(&self, req: S3Request<AbortMultipartUploadInput>) -> S3Result<S3Response<AbortMultipartUploadOutput>> {
        let input = req.input;
        self.store.abort_multipart_upload(&input.bucket, &input.key, &input.upload_id).await.map_err(s3_err)?;
        Ok(S3Response::new(AbortMultipartUploadOutput::default()))
    }

    pub(super) async fn list_multipart_uploads(&self, req: S3Request<ListMultipartUploadsInput>) -> S3Result<S3Response<ListMultipartUploadsOutput>> {
        let input = req.input;
        let enc = encoder(&input.encoding_type);
        let max = input.max_uploads.map(|m| m.clamp(0, 1000) as usize).unwrap_or(1000);
        let prefix = input.prefix.clone().unwrap_or_default();
        let bucket = self.store.head_bucket(&input.bucket).map_err(s3_err)?;
        let account = self.account_of(&bucket.owner);
        let page = self
            .store
            .list_multipart_uploads(
                &input.bucket,
                &prefix,
                input.delimiter.as_deref(),
                input.key_marker.as_deref(),
                input.upload_id_marker.as_deref(),
                max,
            )
            .map_err(s3_err)?;
        let uploads = page
            .uploads
            .into_iter()
            .map(|u| MultipartUpload {
                key: Some(enc(&u.key)),
                upload_id: Some(u.upload_id),
                initiated: Some(timestamp(u.initiated)),
                owner: Some(owner(&account)),
                initiator: Some(Initiator { display_name: Some(crate::s3::ACCOUNT_DISPLAY_NAME.into()), id: Some(account.clone()) }),
                storage_class: Some(StorageClass::from_static(StorageClass::STANDARD)),
                checksum_algorithm: u.checksum_algorithm.map(|a| ChecksumAlgorithm::from(a.name().to_string())),
                checksum_type: u.checksum_algorithm.map(|_| checksum_type(u.checksum_type)),
            })
            .collect();
        let prefixes = page.common_prefixes.iter().map(|p| CommonPrefix { prefix: Some(enc(p)) }).collect();
        Ok(S3Response::new(ListMultipartUploadsOutput {
            bucket: Some(input.bucket),
            prefix: Some(enc(&prefix)),
            delimiter: input.delimiter.as_deref().map(&enc),
            key_marker: input.key_marker.as_deref().map(&enc),
            upload_id_marker: input.upload_id_marker,
            next_key_marker: page.next_key_marker.as_deref().map(&enc),
            next_upload_id_marker: page.next_upload_id_marker,
            max_uploads: Some(max as i32),
            is_truncated: Some(page.is_truncated),
            uploads: Some(uploads),
            common_prefixes: Some(prefixes),
            encoding_type: input.encoding_type,
            ..Default::default()
        }))
    }
}
