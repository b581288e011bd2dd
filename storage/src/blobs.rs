//! Blob files: the bytes of object bodies and parts, under `objects/<2 hex>/<id>`.
//!
//! A body is first staged in `tmp/` while it is hashed, then fsynced, checked against what the
//! client claimed, renamed into `objects/` and the directory fsynced. Only then may an index record
//! point at it. A blob that no record points at (a crash between rename and commit) is an orphan
//! and is removed at start-up by [`BlobDir::sweep`].

use std::collections::HashSet;
use std::io::ErrorKind as IoKind;
use std::ops::Range;
use std::path::{Path, PathBuf};

use bytes::Bytes;
use futures::stream::{BoxStream, StreamExt};
use tokio::io::{AsyncReadExt, AsyncSeekExt, AsyncWriteExt};

use crate::checksum::{ChecksumAlgorithm, Checksums, Hasher};
use crate::error::{Error, Result};

/// A request or response body: a stream of byte chunks.
pub type ByteStream = BoxStream<'static, std::io::Result<Bytes>>;

const READ_CHUNK: usize = 256 * 1024;

#[derive(Debug, Clone)]
pub(crate) struct BlobDir {
    tmp: PathBuf,
    objects: PathBuf,
}

/// A body received into `tmp/` and hashed, not yet part of the lake. Dropping it removes the file.
pub(crate) struct Staged {
    pub id: String,
    path: PathBuf,
    pub size: u64,
    pub md5: [u8; 16],
    pub checksums: Checksums,
    promoted: bool,
}

impl Drop for Staged {
    fn drop(&mut self) {
        if !self.promoted {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

fn fsync_dir(path: &Path) -> std::io::Result<()> {
    std::fs::File::open(path)?.sync_all()
}

impl BlobDir {
    /// Prepares `tmp/` (emptied: anything in it is an interrupted upload) and `objects/`.
    pub fn open(root: &Path) -> Result<(Self, usize)> {
        let tmp = root.join("tmp");
        let objects = root.join("objects");
        let mut wiped = 0;
        if tmp.exists() {
            for entry in std::fs::read_dir(&tmp).map_err(|e| Error::io("reading tmp/", e))? {
                let entry = entry.map_err(|e| Error::io("reading tmp/", e))?;
                // Folders are the query engine's spill files, of queries the stop cut short.
                if entry.file_type().map_err(|e| Error::io("reading tmp/", e))?.is_dir() {
                    std::fs::remove_dir_all(entry.path()).map_err(|e| Error::io("cleaning tmp/", e))?;
                } else {
                    std::fs::remove_file(entry.path()).map_err(|e| Error::io("cleaning tmp/", e))?;
                    wiped += 1;
                }
            }
        }
        std::fs::create_dir_all(&tmp).map_err(|e| Error::io("creating tmp/", e))?;
        std::fs::create_dir_all(&objects).map_err(|e| Error::io("creating objects/", e))?;
        // All 256 fan-out directories exist from the start, so a rename never needs a new directory
        // whose own entry would have to be made durable first.
        for i in 0..=255u8 {
            let dir = objects.join(format!("{i:02x}"));
            if !dir.exists() {
                std::fs::create_dir(&dir).map_err(|e| Error::io("creating objects/", e))?;
            }
        }
        fsync_dir(&objects).map_err(|e| Error::io("syncing objects/", e))?;
        fsync_dir(root).map_err(|e| Error::io("syncing the data directory", e))?;
        Ok((BlobDir { tmp, objects }, wiped))
    }

    fn path(&self, id: &str) -> PathBuf {
        self.objects.join(&id[..2]).join(id)
    }

    /// Receives a body into `tmp/`, hashing it as it arrives, and fsyncs it.
    pub async fn stage(&self, mut body: ByteStream, algorithms: &[ChecksumAlgorithm]) -> Result<Staged> {
        let id = uuid::Uuid::new_v4().simple().to_string();
        let path = self.tmp.join(&id);
        let mut file = tokio::fs::File::create(&path).await.map_err(|e| Error::io("creating a staging file", e))?;
        let mut staged = Staged { id, path, size: 0, md5: [0; 16], checksums: Checksums::default(), promoted: false };
        let mut hasher = Hasher::new(algorithms.iter().copied());
        while let Some(chunk) = body.next().await {
            let chunk = chunk.map_err(|e| Error::IncompleteBody(e.to_string()))?;
            hasher.update(&chunk);
            staged.size += chunk.len() as u64;
            file.write_all(&chunk).await.map_err(|e| Error::io("writing a staging file", e))?;
        }
        file.flush().await.map_err(|e| Error::io("writing a staging file", e))?;
        file.sync_all().await.map_err(|e| Error::io("syncing a staging file", e))?;
        let (md5, checksums) = hasher.finish();
        staged.md5 = md5;
        staged.checksums = checksums;
        Ok(staged)
    }

    /// Moves a staged body into `objects/` durably. After this, a record may point at it.
    pub async fn promote(&self, staged: &mut Staged) -> Result<()> {
        let target = self.path(&staged.id);
        tokio::fs::rename(&staged.path, &target).await.map_err(|e| Error::io("moving a blob into place", e))?;
        staged.promoted = true;
        let dir = target.parent().map(Path::to_path_buf).unwrap_or_else(|| self.objects.clone());
        tokio::task::spawn_blocking(move || fsync_dir(&dir))
            .await
            .map_err(|e| Error::Internal(e.to_string()))?
            .map_err(|e| Error::io("syncing a blob directory", e))?;
        Ok(())
    }

    /// Removes blobs no longer referenced. Readers that opened them keep reading: on Unix an open
    /// file outlives its name.
    pub async fn remove(&self, ids: impl IntoIterator<Item = String>) {
        for id in ids {
            if let Err(e) = tokio::fs::remove_file(self.path(&id)).await
                && e.kind() != IoKind::NotFound
            {
                tracing::warn!(blob = %id, error = %e, "could not remove an unreferenced blob");
            }
        }
    }

    /// Opens the blobs of a body, so that a concurrent overwrite cannot pull them away mid-read.
    /// `None` means a blob vanished (the record was replaced under us): the caller re-reads.
    pub async fn open_all(&self, ids: &[&str]) -> Result<Option<Vec<tokio::fs::File>>> {
        let mut files = Vec::with_capacity(ids.len());
        for id in ids {
            match tokio::fs::File::open(self.path(id)).await {
                Ok(f) => files.push(f),
                Err(e) if e.kind() == IoKind::NotFound => return Ok(None),
                Err(e) => return Err(Error::io("opening a blob", e)),
            }
        }
        Ok(Some(files))
    }

    /// Deletes every blob in `objects/` that is not in `referenced`. Returns how many it removed.
    pub fn sweep(&self, referenced: &HashSet<String>) -> Result<usize> {
        let mut removed = 0;
        for dir in std::fs::read_dir(&self.objects).map_err(|e| Error::io("reading objects/", e))? {
            let dir = dir.map_err(|e| Error::io("reading objects/", e))?;
            if !dir.path().is_dir() {
                continue;
            }
            for entry in std::fs::read_dir(dir.path()).map_err(|e| Error::io("reading objects/", e))? {
                let entry = entry.map_err(|e| Error::io("reading objects/", e))?;
                let name = entry.file_name().to_string_lossy().into_owned();
                if !referenced.contains(&name) {
                    std::fs::remove_file(entry.path()).map_err(|e| Error::io("removing an orphan blob", e))?;
                    removed += 1;
                }
            }
        }
        Ok(removed)
    }
}

/// Streams `range` of the body made of `segments` (open files with their lengths).
pub(crate) fn read_stream(files: Vec<(tokio::fs::File, u64)>, range: Range<u64>) -> ByteStream {
    // Work out, per segment, which slice of it the range covers.
    let mut plan = Vec::new();
    let mut offset = 0u64;
    for (file, len) in files {
        let (start, end) = (offset, offset + len);
        offset = end;
        if end <= range.start || start >= range.end {
            continue;
        }
        let from = range.start.max(start) - start;
        let to = range.end.min(end) - start;
        plan.push((file, from, to));
    }
    let state = (plan.into_iter(), None::<(tokio::fs::File, u64)>);
    futures::stream::try_unfold(state, |(mut plan, mut current)| async move {
        loop {
            if let Some((mut file, remaining)) = current.take() {
                if remaining == 0 {
                    continue;
                }
                let want = remaining.min(READ_CHUNK as u64) as usize;
                let mut buf = vec![0u8; want];
                let mut filled = 0;
                while filled < want {
                    let n = file.read(&mut buf[filled..]).await?;
                    if n == 0 {
                        return Err(std::io::Error::new(IoKind::UnexpectedEof, "a blob is shorter than its record"));
                    }
                    filled += n;
                }
                let rest = remaining - want as u64;
                return Ok(Some((Bytes::from(buf), (plan, Some((file, rest))))));
            }
            match plan.next() {
                None => return Ok(None),
                Some((mut file, from, to)) => {
                    file.seek(std::io::SeekFrom::Start(from)).await?;
                    current = Some((file, to - from));
                }
            }
        }
    })
    .boxed()
}
