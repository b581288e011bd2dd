//! Listings: ListObjects (V1 and V2) and ListObjectVersions.

use base64::Engine as _;
use s3s::dto::*;
use s3s::{S3Request, S3Response, S3Result, s3_error};
use storage::{ListQuery, VersionQuery};

use crate::s3::Lake;
use crate::s3::dates::*;
use crate::s3::error::s3_err;
use crate::s3::util::*;

const MAX_KEYS: usize = 1000;

fn max_keys(requested: Option<i32>) -> S3Result<usize> {
    match requested {
        Some(m) if m < 0 => Err(s3_error!(InvalidArgument, "Argument maxKeys must be an integer between 0 and 2147483647")),
        Some(m) => Ok((m as usize).min(MAX_KEYS)),
        None => Ok(MAX_KEYS),
    }
}

fn object_entry(o: &storage::ObjectInfo, enc: &impl Fn(&str) -> String, owner_account: Option<&str>) -> Object {
    Object {
        key: Some(enc(&o.key)),
        e_tag: Some(etag(&o.record.etag)),
        last_modified: Some(timestamp(o.record.last_modified)),
        size: Some(o.record.size as i64),
        storage_class: Some(ObjectStorageClass::from_static(ObjectStorageClass::STANDARD)),
        owner: owner_account.map(owner),
        checksum_algorithm: algorithm_list(&o.record.checksums),
        checksum_type: (!o.record.checksums.is_empty()).then(|| checksum_type(o.record.checksum_type)),
        ..Default::default()
    }
}

impl Lake {
    pub(super) async fn list_objects(&self, req: S3Request<ListObjectsInput>) -> S3Result<S3Response<ListObjectsOutput>> {
        let input = req.input;
        let enc = encoder(&input.encoding_type);
        let max = max_keys(input.max_keys)?;
        let query = ListQuery {
            prefix: input.prefix.clone().unwrap_or_default(),
            delimiter: input.delimiter.clone(),
            after: input.marker.clone().filter(|m| !m.is_empty()),
            max_keys: max,
        };
        let bucket = self.store.head_bucket(&input.bucket).map_err(s3_err)?;
        let account = self.account_of(&bucket.owner);
        let page = self.store.list_objects(&input.bucket, &query).map_err(s3_err)?;
        let contents = page.objects.iter().map(|o| object_entry(o, &enc, Some(&account))).collect();
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

    pub(super) async fn list_objects_v2(&self, req: S3Request<ListObjectsV2Input>) -> S3Result<S3Response<ListObjectsV2Output>> {
        let input = req.input;
        let enc = encoder(&input.encoding_type);
        let max = max_keys(input.max_keys)?;
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
        let owner_account = if input.fetch_owner.unwrap_or(false) {
            let bucket = self.store.head_bucket(&input.bucket).map_err(s3_err)?;
            Some(self.account_of(&bucket.owner))
        } else {
            None
        };
        let query = ListQuery { prefix: input.prefix.clone().unwrap_or_default(), delimiter: input.delimiter.clone(), after, max_keys: max };
        let page = self.store.list_objects(&input.bucket, &query).map_err(s3_err)?;
        let contents: Vec<Object> = page.objects.iter().map(|o| object_entry(o, &enc, owner_account.as_deref())).collect();
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

    pub(super) async fn list_object_versions(&self, req: S3Request<ListObjectVersionsInput>) -> S3Result<S3Response<ListObjectVersionsOutput>> {
        let input = req.input;
        let enc = encoder(&input.encoding_type);
        let max = max_keys(input.max_keys)?;
        if input.version_id_marker.as_deref().is_some_and(|v| !v.is_empty()) && input.key_marker.as_deref().is_none_or(str::is_empty) {
            return Err(s3_error!(InvalidArgument, "A version-id marker cannot be specified without a key marker."));
        }
        let bucket = self.store.head_bucket(&input.bucket).map_err(s3_err)?;
        let account = self.account_of(&bucket.owner);
        let query = VersionQuery {
            prefix: input.prefix.clone().unwrap_or_default(),
            delimiter: input.delimiter.clone(),
            key_marker: input.key_marker.clone(),
            version_id_marker: input.version_id_marker.clone(),
            max_keys: max,
        };
        let page = self.store.list_object_versions(&input.bucket, &query).map_err(s3_err)?;
        let mut versions = Vec::new();
        let mut markers = Vec::new();
        for v in &page.versions {
            let r = &v.record;
            if r.delete_marker {
                markers.push(DeleteMarkerEntry {
                    is_latest: Some(v.is_latest),
                    key: Some(enc(&v.key)),
                    last_modified: Some(timestamp(r.last_modified)),
                    owner: Some(owner(&account)),
                    version_id: Some(r.version_name().to_string()),
                });
            } else {
                versions.push(ObjectVersion {
                    e_tag: Some(etag(&r.etag)),
                    is_latest: Some(v.is_latest),
                    key: Some(enc(&v.key)),
                    last_modified: Some(timestamp(r.last_modified)),
                    owner: Some(owner(&account)),
                    size: Some(r.size as i64),
                    storage_class: Some(ObjectVersionStorageClass::from_static(ObjectVersionStorageClass::STANDARD)),
                    version_id: Some(r.version_name().to_string()),
                    checksum_algorithm: algorithm_list(&r.checksums),
                    checksum_type: (!r.checksums.is_empty()).then(|| checksum_type(r.checksum_type)),
                    ..Default::default()
                });
            }
        }
        let prefixes = page.common_prefixes.iter().map(|p| CommonPrefix { prefix: Some(enc(p)) }).collect();
        Ok(S3Response::new(ListObjectVersionsOutput {
            name: Some(input.bucket),
            prefix: Some(enc(&query.prefix)),
            delimiter: input.delimiter.as_deref().map(&enc),
            key_marker: Some(enc(query.key_marker.as_deref().unwrap_or_default())),
            version_id_marker: Some(input.version_id_marker.unwrap_or_default()),
            max_keys: Some(max as i32),
            is_truncated: Some(page.is_truncated),
            next_key_marker: page.next_key_marker.as_deref().map(&enc),
            next_version_id_marker: page.next_version_id_marker,
            versions: Some(versions),
            delete_markers: Some(markers),
            common_prefixes: Some(prefixes),
            encoding_type: input.encoding_type,
            ..Default::default()
        }))
    }
}
