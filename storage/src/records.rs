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

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BucketRecord {
    #[serde(default = "version")]
    pub v: u32,
    pub name: String,
    pub created: DateTime<Utc>,
    pub region: String,
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
}

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
    pub segments: Vec<Segment>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub parts: Vec<PartSummary>,
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
    let value: serde_json::Value =
        serde_json::from_slice(bytes).map_err(|e| Error::Corrupt(format!("{what}: {e}")))?;
    let v = value.get("v").and_then(|v| v.as_u64()).unwrap_or(1);
    if v > RECORD_VERSION as u64 {
        return Err(Error::Corrupt(format!("{what}: record version {v} is newer than this binary understands")));
    }
    serde_json::from_value(value).map_err(|e| Error::Corrupt(format!("{what}: {e}")))
}

// Index keys. The NUL separator cannot occur in a bucket name, so `(bucket, key)` pairs sort by
// bucket, then by key in byte order: exactly S3's listing order.

pub(crate) fn bucket_key(bucket: &str) -> Vec<u8> {
    format!("b/{bucket}").into_bytes()
}

pub(crate) const BUCKET_PREFIX: &[u8] = b"b/";

pub(crate) fn object_prefix(bucket: &str) -> Vec<u8> {
    format!("o/{bucket}\0").into_bytes()
}

pub(crate) fn object_key(bucket: &str, key: &str) -> Vec<u8> {
    let mut k = object_prefix(bucket);
    k.extend_from_slice(key.as_bytes());
    k
}

pub(crate) const OBJECT_PREFIX: &[u8] = b"o/";

pub(crate) fn upload_prefix(bucket: &str) -> Vec<u8> {
    format!("u/{bucket}\0").into_bytes()
}

pub(crate) fn upload_key(bucket: &str, key: &str, upload_id: &str) -> Vec<u8> {
    let mut k = upload_prefix(bucket);
    k.extend_from_slice(key.as_bytes());
    k.push(0);
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
