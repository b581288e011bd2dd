//! The records the object index stores, and how their keys are built.
//!
//! Every record is JSON with a format version `v`, so that a later layout can read an older one.
//! Keys never become file paths: object bodies live in blobs named by random ids, and the index maps
//! `(bucket, key)` to the list of blobs that make up the body.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::checksum::{ChecksumAlgorithm, Checksums};
use crate::error::{Error, Result};

/// The version written into every record of this module.
pub const RECORD_VERSION: u32 = 1;

fn version() -> u32 {
    RECORD_VERSION
}

/// A bucket's versioning state. A bucket that has had versioning enabled can only go back to
/// `Suspended`, never to `Unversioned`, as on S3.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Versioning {
    #[default]
    Unversioned,
    Enabled,
    Suspended,
}

/// One CORS rule of a bucket, as S3's `CORSRule` states it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CorsRule {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    pub allowed_origins: Vec<String>,
    pub allowed_methods: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allowed_headers: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub expose_headers: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_age_seconds: Option<i32>,
}

/// The settings a bucket carries besides its name. Storage keeps them; the server gives them
/// their meaning (who may do what, which origins may call).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BucketConfig {
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub tags: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cors: Option<Vec<CorsRule>>,
    /// A canned ACL (`private`, `public-read`, …).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acl: Option<String>,
    /// A bucket policy, as the JSON text the client sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BucketRecord {
    #[serde(default = "version")]
    pub v: u32,
    pub name: String,
    pub created: DateTime<Utc>,
    pub region: String,
    /// The access key id of the user that created the bucket.
    #[serde(default)]
    pub owner: String,
    #[serde(default)]
    pub versioning: Versioning,
    #[serde(default)]
    pub config: BucketConfig,
}

/// Headers stored with an object and returned on GET and HEAD.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObjectHeaders {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_encoding: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_disposition: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_language: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_control: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires: Option<String>,
    /// `x-amz-meta-*` values, keyed by the lowercase name without the prefix.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub user_metadata: BTreeMap<String, String>,
}

/// One stretch of an object's body: a whole blob file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Segment {
    pub blob: String,
    pub len: u64,
}

/// The parts an object was assembled from, kept so that part-wise reads stay possible.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartSummary {
    pub number: u32,
    pub size: u64,
    pub etag: String,
    #[serde(default)]
    pub checksums: Checksums,
}

/// How an object's checksum was computed: over the whole body, or (multipart) over the parts'
/// checksums, S3's `COMPOSITE` value that ends in `-N`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum ChecksumType {
    #[default]
    FullObject,
    Composite,
}

/// One version of an object: its body and headers, or a delete marker.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObjectRecord {
    #[serde(default = "version")]
    pub v: u32,
    pub size: u64,
    /// The ETag without quotes: hex MD5, or `hex-N` for a multipart object.
    pub etag: String,
    pub last_modified: DateTime<Utc>,
    #[serde(default)]
    pub headers: ObjectHeaders,
    #[serde(default)]
    pub checksums: Checksums,
    #[serde(default)]
    pub checksum_type: ChecksumType,
    pub segments: Vec<Segment>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub parts: Vec<PartSummary>,
    /// `None` is the version S3 calls "null": the one of an unversioned or suspended bucket.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version_id: Option<String>,
    /// Orders the versions of a key; later writes have larger numbers.
    #[serde(default)]
    pub seq: u64,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub delete_marker: bool,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub tags: BTreeMap<String, String>,
    /// A canned ACL set on the object (`public-read`, …).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acl: Option<String>,
}

impl ObjectRecord {
    /// The version id as S3 spells it.
    pub fn version_name(&self) -> &str {
        self.version_id.as_deref().unwrap_or("null")
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct UploadRecord {
    #[serde(default = "version")]
    pub v: u32,
    pub upload_id: String,
    pub bucket: String,
    pub key: String,
    pub initiated: DateTime<Utc>,
    #[serde(default)]
    pub headers: ObjectHeaders,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checksum_algorithm: Option<ChecksumAlgorithm>,
    #[serde(default)]
    pub checksum_type: ChecksumType,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub tags: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acl: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PartRecord {
    #[serde(default = "version")]
    pub v: u32,
    pub number: u32,
    pub size: u64,
    /// Hex MD5 of the part, without quotes.
    pub etag: String,
    pub last_modified: DateTime<Utc>,
    pub blob: String,
    #[serde(default)]
    pub checksums: Checksums,
}

pub(crate) fn encode<T: Serialize>(record: &T) -> Vec<u8> {
    // Serialising these plain structs cannot fail.
    serde_json::to_vec(record).unwrap_or_default()
}

pub(crate) fn decode<T: for<'de> Deserialize<'de>>(what: &str, bytes: &[u8]) -> Result<T> {
    let value: serde_json::Value = serde_json::from_slice(bytes).map_err(|e| Error::Corrupt(format!("{what}: {e}")))?;
    let v = value.get("v").and_then(|v| v.as_u64()).unwrap_or(1);
    if v > RECORD_VERSION as u64 {
        return Err(Error::Corrupt(format!("{what}: record version {v} is newer than this binary understands")));
    }
    serde_json::from_value(value).map_err(|e| Error::Corrupt(format!("{what}: {e}")))
}

// Index keys. The NUL separator cannot occur in a bucket name, so `(bucket, key)` pairs sort by
// bucket, then by key in byte order: exactly S3's listing order.
//
// Where a key is followed by more fields (versions, uploads), it is escaped so that the order
// stays the keys' order even when a key holds NUL bytes: each 0x00 becomes 0x00 0x01 and the key
// ends with 0x00 0x00, which sorts below every escaped byte.

pub(crate) fn bucket_key(bucket: &str) -> Vec<u8> {
    format!("b/{bucket}").into_bytes()
}

pub(crate) const BUCKET_PREFIX: &[u8] = b"b/";

/// The current version of each live object: what GET without a version id and ListObjects see.
pub(crate) fn object_prefix(bucket: &str) -> Vec<u8> {
    format!("o/{bucket}\0").into_bytes()
}

pub(crate) fn object_key(bucket: &str, key: &str) -> Vec<u8> {
    let mut k = object_prefix(bucket);
    k.extend_from_slice(key.as_bytes());
    k
}

pub(crate) const OBJECT_PREFIX: &[u8] = b"o/";

/// Appends `key` escaped, without its terminator.
pub(crate) fn push_escaped(out: &mut Vec<u8>, key: &str) {
    for &b in key.as_bytes() {
        out.push(b);
        if b == 0 {
            out.push(1);
        }
    }
}

/// Reads an escaped, terminated key from the start of `bytes`; returns it and the bytes after
/// its terminator.
pub(crate) fn split_escaped(bytes: &[u8]) -> Result<(String, &[u8])> {
    let mut key = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == 0 {
            match bytes.get(i + 1) {
                Some(0) => {
                    let key = String::from_utf8(key).map_err(|e| Error::Corrupt(format!("index key: {e}")))?;
                    return Ok((key, &bytes[i + 2..]));
                }
                Some(1) => {
                    key.push(0);
                    i += 2;
                    continue;
                }
                _ => break,
            }
        }
        key.push(bytes[i]);
        i += 1;
    }
    Err(Error::Corrupt("index key without a terminator".into()))
}

/// Every version of every object, delete markers included, newest first within a key.
pub(crate) fn version_prefix(bucket: &str) -> Vec<u8> {
    format!("v/{bucket}\0").into_bytes()
}

/// The versions of one key: `v/<bucket>\0<escaped key>\0\0`.
pub(crate) fn key_versions_prefix(bucket: &str, key: &str) -> Vec<u8> {
    let mut k = version_prefix(bucket);
    push_escaped(&mut k, key);
    k.extend_from_slice(&[0, 0]);
    k
}

/// Versions sort newest first: the sequence number is stored inverted, as 16 hex digits.
pub(crate) fn version_key(bucket: &str, key: &str, seq: u64) -> Vec<u8> {
    let mut k = key_versions_prefix(bucket, key);
    k.extend_from_slice(format!("{:016x}", u64::MAX - seq).as_bytes());
    k
}

pub(crate) const VERSION_PREFIX: &[u8] = b"v/";

/// Where the "null" version of a key sits among its versions: its sequence number.
pub(crate) fn null_key(bucket: &str, key: &str) -> Vec<u8> {
    let mut k = format!("n/{bucket}\0").into_bytes();
    k.extend_from_slice(key.as_bytes());
    k
}

pub(crate) fn upload_prefix(bucket: &str) -> Vec<u8> {
    format!("u/{bucket}\0").into_bytes()
}

pub(crate) fn upload_key(bucket: &str, key: &str, upload_id: &str) -> Vec<u8> {
    let mut k = upload_prefix(bucket);
    push_escaped(&mut k, key);
    k.extend_from_slice(&[0, 0]);
    k.extend_from_slice(upload_id.as_bytes());
    k
}

pub(crate) fn part_prefix(upload_id: &str) -> Vec<u8> {
    format!("p/{upload_id}/").into_bytes()
}

pub(crate) fn part_key(upload_id: &str, number: u32) -> Vec<u8> {
    format!("p/{upload_id}/{number:05}").into_bytes()
}

pub(crate) const PART_PREFIX: &[u8] = b"p/";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaped_keys_keep_key_order() {
        let mut keys = ["a", "a\0", "a\0b", "a/b", "a\u{1}", "", "b", "ab"];
        keys.sort_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
        let mut encoded: Vec<Vec<u8>> = keys.iter().map(|k| version_key("bkt", k, 7)).collect();
        let before = encoded.clone();
        encoded.sort();
        assert_eq!(encoded, before, "escaped keys sort as the keys do");
        for (k, e) in keys.iter().zip(&encoded) {
            let (back, rest) = split_escaped(&e[version_prefix("bkt").len()..]).unwrap();
            assert_eq!(&back, k);
            assert_eq!(rest, format!("{:016x}", u64::MAX - 7).as_bytes());
        }
    }

    #[test]
    fn newer_versions_sort_first() {
        assert!(version_key("b", "k", 10) < version_key("b", "k", 9));
    }
}
