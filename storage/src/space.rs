//! Free space on the data directory's filesystem, and the part of it kept for the index.
//!
//! sled does not survive a full disk: a log write that fails with ENOSPC poisons the open
//! database (every later call, reads included, returns that error until the process ends), and
//! it cannot be opened again while the disk is full. A full disk would leave no way to delete an
//! object and make room. So object bodies stop short of a reserve ([`Space::for_body`]), index
//! writes that only add stop at half of it ([`Space::for_index`]), and deletes always go through:
//! there is always room to make room. Queries' spill files stop at the reserve too ([`Space::room`]).

use std::ffi::CString;
use std::io;
use std::mem::MaybeUninit;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

const MIB: u64 = 1024 * 1024;

/// Sizes of a filesystem, in bytes.
struct Stat {
    total: u64,
    available: u64,
}

fn statvfs(path: &Path) -> io::Result<Stat> {
    let path = CString::new(path.as_os_str().as_bytes()).map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
    let mut stat = MaybeUninit::<libc::statvfs>::uninit();
    // SAFETY: `path` is NUL-terminated and outlives the call; `stat` is only read after statvfs
    // returned 0, which means it wrote the whole struct.
    let stat = unsafe {
        if libc::statvfs(path.as_ptr(), stat.as_mut_ptr()) != 0 {
            return Err(io::Error::last_os_error());
        }
        stat.assume_init()
    };
    let block = stat.f_frsize as u64;
    Ok(Stat { total: stat.f_blocks as u64 * block, available: stat.f_bavail as u64 * block })
}

/// The filesystem a data directory lives on, and how much of it stays free.
#[derive(Debug, Clone)]
pub struct Space {
    path: PathBuf,
    reserve: u64,
}

impl Space {
    /// Watches the filesystem holding `path`. The reserve is 1% of its size, at least 8 MiB (a
    /// few of sled's 512 KiB log segments and a snapshot) and at most 64 MiB.
    pub fn new(path: &Path) -> Self {
        let total = statvfs(path).map(|s| s.total).unwrap_or(0);
        Space { path: path.to_path_buf(), reserve: (total / 100).clamp(8 * MIB, 64 * MIB) }
    }

    pub fn reserve(&self) -> u64 {
        self.reserve
    }

    /// Whether `adding` more bytes leave `keep` free. A filesystem that cannot be asked is
    /// assumed to have room: the write itself then reports what goes wrong.
    fn ensure(&self, adding: u64, keep: u64) -> Result<()> {
        let Ok(stat) = statvfs(&self.path) else { return Ok(()) };
        if stat.available >= adding.saturating_add(keep) {
            return Ok(());
        }
        Err(Error::NoSpace(io::Error::new(
            io::ErrorKind::StorageFull,
            format!(
                "{:.1} MiB free, and {} MiB of it stays free for the index, so that objects can still be deleted",
                stat.available as f64 / MIB as f64,
                keep / MIB
            ),
        )))
    }

    /// What may still be written before the reserve is reached; `None` if the filesystem cannot
    /// be asked.
    pub fn room(&self) -> Option<u64> {
        statvfs(&self.path).ok().map(|s| s.available.saturating_sub(self.reserve))
    }

    /// Before `adding` bytes of object bodies are written.
    pub fn for_body(&self, adding: u64) -> Result<()> {
        self.ensure(adding, self.reserve)
    }

    /// Before an index write that adds entries or replaces them (not one that deletes).
    pub fn for_index(&self) -> Result<()> {
        self.ensure(0, self.reserve / 2)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_reserve_is_bounded_and_a_body_larger_than_the_disk_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let space = Space::new(dir.path());
        assert!((8 * MIB..=64 * MIB).contains(&space.reserve()));
        space.for_body(1).unwrap();
        space.for_index().unwrap();
        assert!(space.room().unwrap() > 0);
        let err = space.for_body(u64::MAX / 2).unwrap_err();
        assert!(matches!(err, Error::NoSpace(_)), "{err}");
        assert!(err.to_string().starts_with("the data directory is full: "), "{err}");
    }
}
