//! Buckets and objects on local disk: the layout, the durable object index, multipart uploads,
//! listing, and an `object_store` view of the lake. Knows nothing of HTTP, XML or SQL.
//!
//! Layout of a data directory:
//!
//! ```text
//! FORMAT            layout version ("minerva-data 2")
//! LOCK              held (flock) by the process that has the directory open; holds its pid
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
/// unknown layout) and opens its embedded store. The directory is locked for as long as the store
/// is open: a second process is refused with [`Error::InUse`], naming the holder's pid.
pub fn open_data_dir(root: &Path) -> Result<Arc<dyn Kv>> {
    std::fs::create_dir_all(root).map_err(|e| Error::io(format!("creating {}", root.display()), e))?;
    let lock = lock_data_dir(root)?;
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
    Ok(Arc::new(SledKv::open(&root.join("index"))?.holding(lock)))
}

/// Empties a data directory (a server must not be running on it): every bucket, object, catalog
/// and query goes, and the next start finds it as new. Refuses a directory that holds no Minerva
/// data, so that a wrong path never costs anyone their files.
pub fn reset_data_dir(root: &Path) -> Result<()> {
    if !is_data_dir(root) {
        return Err(Error::NotADataDir { dir: root.to_path_buf() });
    }
    let _lock = lock_data_dir(root)?;
    let entries = std::fs::read_dir(root).map_err(|e| Error::io(format!("reading {}", root.display()), e))?;
    for entry in entries {
        let entry = entry.map_err(|e| Error::io(format!("reading {}", root.display()), e))?;
        let name = entry.file_name();
        if name == "LOCK" || name == "FORMAT" {
            continue;
        }
        let path = entry.path();
        let removed = if entry.file_type().is_ok_and(|t| t.is_dir()) { std::fs::remove_dir_all(&path) } else { std::fs::remove_file(&path) };
        removed.map_err(|e| Error::io(format!("removing {}", path.display()), e))?;
    }
    Ok(())
}

/// Whether a directory holds Minerva data (a layout this binary reads or upgrades).
pub fn is_data_dir(root: &Path) -> bool {
    std::fs::read_to_string(root.join("FORMAT")).is_ok_and(|f| f.trim() == LAYOUT_VERSION || UPGRADABLE.contains(&f.trim()))
}

/// Takes the data directory's lock (an advisory lock on `LOCK`, released when the process ends
/// however it ends) and writes this process's pid into it.
fn lock_data_dir(root: &Path) -> Result<std::fs::File> {
    use std::io::{Read, Seek, Write};
    let path = root.join("LOCK");
    let mut file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .map_err(|e| Error::io(format!("opening {}", path.display()), e))?;
    match file.try_lock() {
        Ok(()) => {}
        Err(std::fs::TryLockError::WouldBlock) => {
            let mut text = String::new();
            let _ = file.read_to_string(&mut text);
            return Err(Error::InUse { dir: root.to_path_buf(), pid: text.trim().parse().ok() });
        }
        Err(std::fs::TryLockError::Error(e)) => return Err(Error::io(format!("locking {}", path.display()), e)),
    }
    let written = file.set_len(0).and_then(|_| file.rewind()).and_then(|_| writeln!(file, "{}", std::process::id()));
    written.map_err(|e| Error::io(format!("writing {}", path.display()), e))?;
    Ok(file)
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
    fn a_data_directory_is_opened_by_one_store_at_a_time() {
        let dir = tempfile::tempdir().unwrap();
        assert!(!is_data_dir(dir.path()));
        let first = open_data_dir(dir.path()).unwrap();
        assert!(is_data_dir(dir.path()));
        match open_data_dir(dir.path()) {
            Err(e @ Error::InUse { pid: Some(pid), .. }) => {
                assert_eq!(pid, std::process::id());
                assert_eq!(e.to_string(), format!("another Minerva (pid {pid}) is using the data directory {}", dir.path().display()));
            }
            other => panic!("a second open was not refused: {:?}", other.err()),
        }
        drop(first);
        open_data_dir(dir.path()).expect("the lock is released with the store");
    }

    #[test]
    fn a_reset_empties_a_data_directory_and_nothing_else() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("precious.txt"), "x").unwrap();
        assert!(matches!(reset_data_dir(dir.path()), Err(Error::NotADataDir { .. })));
        assert!(dir.path().join("precious.txt").exists());
        let data = dir.path().join("data");
        let kv = open_data_dir(&data).unwrap();
        kv.tree("t").unwrap().put(b"k", b"v").unwrap();
        assert!(matches!(reset_data_dir(&data), Err(Error::InUse { .. })), "not while it is open");
        drop(kv);
        reset_data_dir(&data).unwrap();
        let left: Vec<_> = std::fs::read_dir(&data).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
        assert!(left.iter().all(|n| n == "FORMAT" || n == "LOCK"), "{left:?}");
        let kv = open_data_dir(&data).unwrap();
        assert_eq!(kv.tree("t").unwrap().get(b"k").unwrap(), None);
    }

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
