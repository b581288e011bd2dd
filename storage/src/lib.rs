//! Buckets and objects on local disk: the layout, the durable object index, multipart uploads,
//! listing, and an `object_store` view of the lake. Knows nothing of HTTP, XML or SQL.
//!
//! Layout of a data directory:
//!
//! ```text
//! FORMAT            layout version ("minerva-data 2")
//! index/            the embedded key-value store (object index, small bodies, each account's catalog,
//!                   query history)
//! tmp/              bodies being received; emptied at start-up
//! objects/xx/<id>   blob files: object bodies and parts over 16 KiB, named by random ids, never by key
//! ```
//!
//! Index trees hold, per bucket: `o/` the current version of each live key (what GET and
//! ListObjects read), `v/` every version and delete marker (newest first within a key), `n/`
//! where each key's "null" version is, `u/` and `p/` multipart uploads and their parts. See
//! `records.rs`.

mod access;
mod blobs;
mod checksum;
mod error;
mod kv;
mod lake;
mod listing;
mod location;
mod multipart;
mod objects;
mod records;
mod space;
mod store;

use std::path::Path;
use std::sync::Arc;

pub use access::{Action, Permissions, authorize};
pub use blobs::{ByteStream, INLINE_MAX};
pub use checksum::{ChecksumAlgorithm, Checksums, ExpectedDigests};
pub use error::{DigestKind, Error, ErrorKind, Result};
pub use kv::{Kv, KvIter, KvOp, KvTree, SledKv};
pub use lake::BucketStore;
pub use listing::{ListPage, ListQuery, VersionEntry, VersionQuery, VersionsPage};
pub use location::{BadLocation, S3Location, escape_partition_value, unescape_partition_value};
pub use multipart::{CompleteOptions, CompletedPart, CopySource, PartsPage, UploadOptions, UploadsPage};
pub use objects::{CopyOptions, DeleteResult, ObjectBody, ObjectInfo, PutOptions, ReadOptions};
pub use records::{
    BucketConfig, BucketRecord, ChecksumType, CorsRule, ObjectHeaders, ObjectRecord, PartRecord, PartSummary, UploadRecord, Versioning,
};
pub use space::Space;
pub use store::{Expected, MAX_PART_NUMBER, MIN_PART_SIZE, RangeSpec, Recovery, Store, WriteCondition, validate_bucket_name};

/// The layout version this binary writes and reads: 2, a Glue catalog per account.
pub const LAYOUT_VERSION: &str = "minerva-data 2";

/// Layouts this binary upgrades when it opens them. Layout 1 had one catalog for every account
/// in the tree `catalog`; the catalog crate moves it into the primary account's tree whenever it
/// finds records there (`catalog::Catalogs::adopt_shared_catalog`), so the version is rewritten
/// at once and a crash before the move is finished only means the next start finishes it.
const UPGRADABLE: &[&str] = &["minerva-data 1"];

/// Prepares a data directory (creating it if needed, upgrading an older layout, refusing one of an
/// unknown layout) and opens its embedded store.
pub fn open_data_dir(root: &Path) -> Result<Arc<dyn Kv>> {
    std::fs::create_dir_all(root).map_err(|e| Error::io(format!("creating {}", root.display()), e))?;
    let format = root.join("FORMAT");
    match std::fs::read_to_string(&format) {
        Ok(found) if found.trim() == LAYOUT_VERSION => {}
        Ok(found) if UPGRADABLE.contains(&found.trim()) => {
            tracing::info!(from = found.trim(), to = LAYOUT_VERSION, "upgrading the data directory's layout");
            write_format(root)?;
        }
        Ok(found) => {
            return Err(Error::Corrupt(format!("{} holds layout {:?}; this binary reads {LAYOUT_VERSION:?}", root.display(), found.trim())));
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => write_format(root)?,
        Err(e) => return Err(Error::io("reading FORMAT", e)),
    }
    Ok(Arc::new(SledKv::open(&root.join("index"))?))
}

/// Writes FORMAT whole or not at all: a temporary file, synced, renamed over it, the rename synced.
fn write_format(root: &Path) -> Result<()> {
    let staged = root.join("FORMAT.tmp");
    let io = |what: &str| {
        let what = what.to_string();
        move |e| Error::io(what, e)
    };
    let mut file = std::fs::File::create(&staged).map_err(io("writing FORMAT"))?;
    std::io::Write::write_all(&mut file, format!("{LAYOUT_VERSION}\n").as_bytes()).map_err(io("writing FORMAT"))?;
    file.sync_all().map_err(io("syncing FORMAT"))?;
    std::fs::rename(&staged, root.join("FORMAT")).map_err(io("renaming FORMAT"))?;
    std::fs::File::open(root).and_then(|d| d.sync_all()).map_err(io("syncing the data directory"))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layouts_are_upgraded_or_refused() {
        let dir = tempfile::tempdir().unwrap();
        let format = |root: &Path| std::fs::read_to_string(root.join("FORMAT")).unwrap();
        let fresh = dir.path().join("fresh");
        drop(open_data_dir(&fresh).unwrap());
        assert_eq!(format(&fresh), format!("{LAYOUT_VERSION}\n"));
        let older = dir.path().join("older");
        std::fs::create_dir_all(&older).unwrap();
        std::fs::write(older.join("FORMAT"), "minerva-data 1\n").unwrap();
        drop(open_data_dir(&older).unwrap());
        assert_eq!(format(&older), format!("{LAYOUT_VERSION}\n"));
        assert!(!older.join("FORMAT.tmp").exists());
        let unknown = dir.path().join("unknown");
        std::fs::create_dir_all(&unknown).unwrap();
        std::fs::write(unknown.join("FORMAT"), "minerva-data 9\n").unwrap();
        assert!(matches!(open_data_dir(&unknown), Err(Error::Corrupt(_))));
        assert_eq!(format(&unknown), "minerva-data 9\n");
    }
}
