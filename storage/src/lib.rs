//! Buckets and objects on local disk: the layout, the durable object index, multipart uploads,
//! listing, and an `object_store` view of the lake. Knows nothing of HTTP, XML or SQL.
//!
//! Layout of a data directory:
//!
//! ```text
//! FORMAT            layout version ("minerva-data 1")
//! index/            the embedded key-value store (object index, small bodies, catalog, query history)
//! tmp/              bodies being received; emptied at start-up
//! objects/xx/<id>   blob files: object bodies and parts over 16 KiB, named by random ids, never by key
//! ```
//!
//! Index trees hold, per bucket: `o/` the current version of each live key (what GET and
//! ListObjects read), `v/` every version and delete marker (newest first within a key), `n/`
//! where each key's "null" version is, `u/` and `p/` multipart uploads and their parts. See
//! `records.rs`.

pub mod blobs;
pub mod checksum;
pub mod error;
pub mod kv;
pub mod lake;
pub mod listing;
pub mod multipart;
pub mod objects;
pub mod records;
pub mod space;
pub mod store;

use std::path::Path;
use std::sync::Arc;

pub use blobs::ByteStream;
pub use checksum::{ChecksumAlgorithm, Checksums, ExpectedDigests};
pub use error::{DigestKind, Error, ErrorKind, Result};
pub use kv::{Kv, KvOp, KvTree, SledKv};
pub use lake::BucketStore;
pub use listing::{ListPage, ListQuery, VersionEntry, VersionQuery, VersionsPage};
pub use multipart::{CompleteOptions, CompletedPart, PartsPage, UploadOptions, UploadsPage};
pub use objects::{CopyOptions, DeleteResult, ObjectBody, ObjectInfo, PutOptions, ReadOptions};
pub use records::{
    BucketConfig, BucketRecord, ChecksumType, CorsRule, ObjectHeaders, ObjectRecord, PartRecord, PartSummary, UploadRecord, Versioning,
};
pub use space::Space;
pub use store::{Expected, RangeSpec, Recovery, Store, WriteCondition, validate_bucket_name};

/// The layout version this binary writes and reads.
pub const LAYOUT_VERSION: &str = "minerva-data 1";

/// Prepares a data directory (creating it if needed, refusing one of an unknown layout) and opens
/// its embedded store.
pub fn open_data_dir(root: &Path) -> Result<Arc<dyn Kv>> {
    std::fs::create_dir_all(root).map_err(|e| Error::io(format!("creating {}", root.display()), e))?;
    let format = root.join("FORMAT");
    match std::fs::read_to_string(&format) {
        Ok(found) if found.trim() == LAYOUT_VERSION => {}
        Ok(found) => {
            return Err(Error::Corrupt(format!("{} holds layout {:?}; this binary reads {LAYOUT_VERSION:?}", root.display(), found.trim())));
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            std::fs::write(&format, format!("{LAYOUT_VERSION}\n")).map_err(|e| Error::io("writing FORMAT", e))?;
        }
        Err(e) => return Err(Error::io("reading FORMAT", e)),
    }
    Ok(Arc::new(SledKv::open(&root.join("index"))?))
}
