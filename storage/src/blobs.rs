//! Blobs: the bytes of object bodies and parts. A large blob is a file, `objects/<2 hex>/<id>`;
//! a small one (at most [`INLINE_MAX`] bytes, id `i<hex>`) lives in the index store's `bodies`
//! tree, so that writing it costs no file, no rename and no fsync of its own: the flush that makes
//! the record durable makes its body durable too (sled writes one log, recovered as a prefix).
//!
//! A large body is first staged in `tmp/` while it is hashed, then fsynced, checked against what
//! the client claimed, renamed into `objects/` and the directory fsynced. A small one is held in
//! memory until it is checked. Only then may an index record point at a blob. A blob that no
//! record points at (a crash before the record's commit) is an orphan and is removed at start-up
//! by [`BlobDir::sweep`].

use std::collections::HashSet;
use std::io::ErrorKind as IoKind;
use std::ops::Range;
use std::path::{Path, PathBuf};

use bytes::Bytes;
use futures::stream::{BoxStream, StreamExt};
use tokio::io::AsyncWriteExt;

use crate::checksum::{ChecksumAlgorithm, Checksums, Hasher};
use crate::error::{Error, Result};
use crate::kv::KvTree;
use crate::space::Space;

/// A request or response body: a stream of byte chunks.
pub type ByteStream = BoxStream<'static, std::io::Result<Bytes>>;

const READ_CHUNK: usize = 1024 * 1024;

/// How much of a large body is written between two looks at the free space.
const SPACE_CHECK: u64 = 1024 * 1024;

/// The largest body kept in the index store rather than in a file of its own.
pub const INLINE_MAX: usize = 16 * 1024;

/// Ids of blobs kept in the `bodies` tree start with this; file blobs are plain hex.
const INLINE_MARK: char = 'i';

#[derive(Clone)]
pub(crate) struct BlobDir {
    tmp: PathBuf,
    objects: PathBuf,
    bodies: std::sync::Arc<dyn KvTree>,
    /// Bodies stop short of the index's reserve (see [`Space`]).
    space: Space,
}

/// A body received and hashed, not yet part of the lake: a file in `tmp/` (removed if the body is
/// dropped before it is promoted) or, for a small body, the bytes themselves.
pub(crate) struct Staged {
    pub id: String,
    path: PathBuf,
    inline: Option<Bytes>,
    pub size: u64,
    pub md5: [u8; 16],
    pub checksums: Checksums,
    promoted: bool,
}

impl Drop for Staged {
    fn drop(&mut self) {
        if !self.promoted && self.inline.is_none() {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// Where a body's segment is read from.
pub(crate) enum Source {
    File(std::fs::File),
    Memory(Bytes),
}

fn is_inline(id: &str) -> bool {
    id.starts_with(INLINE_MARK)
}

fn fsync_dir(path: &Path) -> std::io::Result<()> {
    std::fs::File::open(path)?.sync_all()
}

impl BlobDir {
    /// Prepares `tmp/` (emptied: anything in it is an interrupted upload) and `objects/`; small
    /// bodies live in `bodies`.
    pub fn open(root: &Path, bodies: std::sync::Arc<dyn KvTree>) -> Result<(Self, usize)> {
        let tmp = root.join("tmp");
        let objects = root.join("objects");
        let mut wiped = 0;
        if tmp.exists() {
            for entry in std::fs::read_dir(&tmp).map_err(|e| Error::io("reading tmp/", e))? {
                let entry = entry.map_err(|e| Error::io("reading tmp/", e))?;
                // No folder is made here; one is left from an older layout (spill files).
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
        Ok((BlobDir { tmp, objects, bodies, space: Space::new(root) }, wiped))
    }

    fn path(&self, id: &str) -> PathBuf {
        self.objects.join(&id[..2]).join(id)
    }

    /// Receives a body, hashing it as it arrives: a body of at most [`INLINE_MAX`] bytes is kept
    /// in memory, a larger one goes into `tmp/` and is fsynced. A body that would eat into the
    /// index's reserve is refused ([`Error::NoSpace`]), and its staging file removed.
    pub async fn stage(&self, mut body: ByteStream, algorithms: &[ChecksumAlgorithm]) -> Result<Staged> {
        let id = uuid::Uuid::new_v4().simple().to_string();
        let mut hasher = Hasher::new(algorithms.iter().copied());
        let mut held = Vec::new();
        let mut file = None;
        let mut size = 0u64;
        // What the file holds beyond what the last look at the free space allowed for.
        let mut unchecked = 0u64;
        while let Some(chunk) = body.next().await {
            let chunk = chunk.map_err(|e| Error::IncompleteBody(e.to_string()))?;
            hasher.update(&chunk);
            size += chunk.len() as u64;
            if file.is_none() && held.len() + chunk.len() <= INLINE_MAX {
                held.extend_from_slice(&chunk);
                continue;
            }
            unchecked += chunk.len() as u64;
            if file.is_none() || unchecked >= SPACE_CHECK {
                self.space.for_body(unchecked.max(SPACE_CHECK))?;
                unchecked = 0;
            }
            if file.is_none() {
                let path = self.tmp.join(&id);
                let f = tokio::fs::File::create(&path).await.map_err(|e| Error::io("creating a staging file", e))?;
                // From here on the staged body owns the file, so that an error removes it.
                file =
                    Some((f, Staged { id: id.clone(), path, inline: None, size: 0, md5: [0; 16], checksums: Checksums::default(), promoted: false }));
                let (f, _) = file.as_mut().expect("just set");
                f.write_all(&std::mem::take(&mut held)).await.map_err(|e| Error::io("writing a staging file", e))?;
            }
            let (f, _) = file.as_mut().expect("a large body has its file");
            f.write_all(&chunk).await.map_err(|e| Error::io("writing a staging file", e))?;
        }
        let (md5, checksums) = hasher.finish();
        let mut staged = match file {
            Some((mut f, staged)) => {
                f.flush().await.map_err(|e| Error::io("writing a staging file", e))?;
                f.sync_all().await.map_err(|e| Error::io("syncing a staging file", e))?;
                staged
            }
            None => {
                self.space.for_body(held.len() as u64)?;
                Staged {
                    id: format!("{INLINE_MARK}{id}"),
                    path: PathBuf::new(),
                    inline: Some(Bytes::from(held)),
                    size: 0,
                    md5: [0; 16],
                    checksums: Checksums::default(),
                    promoted: false,
                }
            }
        };
        staged.size = size;
        staged.md5 = md5;
        staged.checksums = checksums;
        Ok(staged)
    }

    /// Moves a staged body into the lake. After this, a record may point at it: a file is renamed
    /// into `objects/` and its directory fsynced; a small body is written to `bodies`, made durable
    /// by the index flush that follows the record's commit.
    pub async fn promote(&self, staged: &mut Staged) -> Result<()> {
        if let Some(bytes) = &staged.inline {
            self.bodies.put(staged.id.as_bytes(), bytes)?;
            staged.promoted = true;
            return Ok(());
        }
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
            if is_inline(&id) {
                // Nothing is flushed for this: a removal lost to a crash leaves an orphan that
                // the next start-up sweeps.
                if let Err(e) = self.bodies.delete(id.as_bytes()) {
                    tracing::warn!(blob = %id, error = %e, "could not remove an unreferenced body");
                }
                continue;
            }
            if let Err(e) = tokio::fs::remove_file(self.path(&id)).await
                && e.kind() != IoKind::NotFound
            {
                tracing::warn!(blob = %id, error = %e, "could not remove an unreferenced blob");
            }
        }
    }

    /// Opens the blobs of a body, so that a concurrent overwrite cannot pull them away mid-read.
    /// `None` means a blob vanished (the record was replaced under us): the caller re-reads.
    pub async fn open_all(&self, ids: &[&str]) -> Result<Option<Vec<Source>>> {
        let mut files = Vec::with_capacity(ids.len());
        for id in ids {
            if is_inline(id) {
                match self.bodies.get(id.as_bytes())? {
                    Some(bytes) => files.push(Source::Memory(Bytes::from(bytes))),
                    None => return Ok(None),
                }
                continue;
            }
            match tokio::fs::File::open(self.path(id)).await {
                Ok(f) => files.push(Source::File(f.into_std().await)),
                Err(e) if e.kind() == IoKind::NotFound => return Ok(None),
                Err(e) => return Err(Error::io("opening a blob", e)),
            }
        }
        Ok(Some(files))
    }

    /// Reads `ranges` of the body made of `segments` (blob ids with their lengths), each range
    /// into one buffer, with positioned reads on the calling thread (a blocking one). `None`
    /// means a blob vanished: the record was replaced under us and the caller reads it again.
    pub fn read_ranges(&self, segments: &[(String, u64)], ranges: &[Range<u64>]) -> Result<Option<Vec<Bytes>>> {
        use std::os::unix::fs::FileExt;
        let mut sources = Vec::with_capacity(segments.len());
        for (id, _) in segments {
            if is_inline(id) {
                match self.bodies.get(id.as_bytes())? {
                    Some(bytes) => sources.push(Err(Bytes::from(bytes))),
                    None => return Ok(None),
                }
                continue;
            }
            match std::fs::File::open(self.path(id)) {
                Ok(f) => sources.push(Ok(f)),
                Err(e) if e.kind() == IoKind::NotFound => return Ok(None),
                Err(e) => return Err(Error::io("opening a blob", e)),
            }
        }
        let mut parts = Vec::with_capacity(ranges.len());
        for range in ranges {
            // Zeroed by the allocator's fresh pages, not by a pass over the buffer.
            let mut buf = vec![0u8; (range.end - range.start) as usize];
            let mut offset = 0u64;
            for ((_, len), source) in segments.iter().zip(&sources) {
                let (start, end) = (offset, offset + len);
                offset = end;
                if end <= range.start || start >= range.end {
                    continue;
                }
                let (from, to) = (range.start.max(start), range.end.min(end));
                let dst = &mut buf[(from - range.start) as usize..(to - range.start) as usize];
                match source {
                    Ok(file) => file.read_exact_at(dst, from - start).map_err(|e| Error::io("reading a blob", e))?,
                    Err(bytes) => {
                        let src = bytes.get((from - start) as usize..(to - start) as usize);
                        dst.copy_from_slice(src.ok_or_else(|| Error::Corrupt("a blob is shorter than its record".into()))?);
                    }
                }
            }
            parts.push(Bytes::from(buf));
        }
        Ok(Some(parts))
    }

    /// How many blobs there are, files and small bodies.
    pub fn count(&self) -> Result<usize> {
        let mut n = 0;
        for entry in self.bodies.scan_prefix(b"") {
            entry?;
            n += 1;
        }
        for dir in std::fs::read_dir(&self.objects).map_err(|e| Error::io("reading objects/", e))? {
            let dir = dir.map_err(|e| Error::io("reading objects/", e))?;
            if dir.path().is_dir() {
                n += std::fs::read_dir(dir.path()).map_err(|e| Error::io("reading objects/", e))?.count();
            }
        }
        Ok(n)
    }

    /// Deletes every blob (file or small body) that is not in `referenced`. Returns how many it
    /// removed.
    pub fn sweep(&self, referenced: &HashSet<String>) -> Result<usize> {
        let mut removed = 0;
        let mut orphans = Vec::new();
        for entry in self.bodies.scan_prefix(b"") {
            let (id, _) = entry?;
            if !referenced.contains(String::from_utf8_lossy(&id).as_ref()) {
                orphans.push(id);
            }
        }
        for id in orphans {
            self.bodies.delete(&id)?;
            removed += 1;
        }
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

/// Streams `range` of the body made of `segments` (opened sources with their lengths).
pub(crate) fn read_stream(sources: Vec<(Source, u64)>, range: Range<u64>) -> ByteStream {
    // Work out, per segment, which slice of it the range covers.
    let mut plan = Vec::new();
    let mut offset = 0u64;
    for (source, len) in sources {
        let (start, end) = (offset, offset + len);
        offset = end;
        if end <= range.start || start >= range.end {
            continue;
        }
        let from = range.start.max(start) - start;
        let to = range.end.min(end) - start;
        plan.push((source, from, to));
    }
    // A file is read on a blocking thread straight into the buffer that becomes the chunk: one
    // copy from the page cache (tokio's `File` reads into a buffer of its own and copies again).
    let state = (plan.into_iter(), None::<(std::fs::File, u64, u64)>);
    futures::stream::try_unfold(state, |(mut plan, mut current)| async move {
        loop {
            if let Some((file, at, remaining)) = current.take() {
                if remaining == 0 {
                    continue;
                }
                let want = remaining.min(READ_CHUNK as u64) as usize;
                let (file, buf) = tokio::task::spawn_blocking(move || -> std::io::Result<_> {
                    use std::os::unix::fs::FileExt;
                    let mut buf = vec![0u8; want];
                    file.read_exact_at(&mut buf, at).map_err(|e| match e.kind() {
                        IoKind::UnexpectedEof => std::io::Error::new(IoKind::UnexpectedEof, "a blob is shorter than its record"),
                        _ => e,
                    })?;
                    Ok((file, buf))
                })
                .await
                .map_err(std::io::Error::other)??;
                let rest = remaining - want as u64;
                return Ok(Some((Bytes::from(buf), (plan, Some((file, at + want as u64, rest))))));
            }
            match plan.next() {
                None => return Ok(None),
                Some((Source::Memory(bytes), from, to)) => {
                    if (to as usize) > bytes.len() {
                        return Err(std::io::Error::new(IoKind::UnexpectedEof, "a blob is shorter than its record"));
                    }
                    if to > from {
                        return Ok(Some((bytes.slice(from as usize..to as usize), (plan, None))));
                    }
                }
                Some((Source::File(file), from, to)) => current = Some((file, from, to - from)),
            }
        }
    })
    .boxed()
}
