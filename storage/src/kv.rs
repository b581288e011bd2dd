//! The embedded key-value store behind a small trait, with sled as the default backend.
//!
//! Everything Minerva persists outside object bodies (the object index, the catalog, query
//! history) lives in one [`Kv`] store, in named trees. Keeping the store behind this trait means
//! another engine can replace sled if measurements call for it, without touching the callers.

use std::ops::Bound;
use std::path::Path;
use std::sync::Arc;

use crate::error::{Error, Result};
use crate::space::Space;
use libc::ENOSPC;

/// One write in an atomic batch.
#[derive(Debug, Clone)]
pub enum KvOp {
    Put(Vec<u8>, Vec<u8>),
    Delete(Vec<u8>),
}

pub type KvPair = (Vec<u8>, Vec<u8>);
pub type KvIter<'a> = Box<dyn Iterator<Item = Result<KvPair>> + Send + 'a>;

/// A store of named, ordered trees.
#[async_trait::async_trait]
pub trait Kv: Send + Sync + 'static {
    /// Opens (creating if needed) the tree with this name.
    fn tree(&self, name: &str) -> Result<Arc<dyn KvTree>>;

    /// Makes every write made so far durable. Callers acknowledge a write only after this returns.
    async fn flush(&self) -> Result<()>;
}

/// An ordered map of byte strings. Keys sort in byte order.
pub trait KvTree: Send + Sync + 'static {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>>;
    /// Inserts and returns the previous value.
    fn put(&self, key: &[u8], value: &[u8]) -> Result<Option<Vec<u8>>>;
    /// Removes and returns the previous value.
    fn delete(&self, key: &[u8]) -> Result<Option<Vec<u8>>>;
    /// Applies every operation, or none of them.
    fn apply(&self, ops: Vec<KvOp>) -> Result<()>;
    /// Swaps `old` for `new` if the current value is `old`; `None` means absent. Returns whether it
    /// swapped.
    fn compare_and_swap(&self, key: &[u8], old: Option<&[u8]>, new: Option<&[u8]>) -> Result<bool>;
    /// Entries with keys in the range, in ascending key order.
    fn range(&self, from: Bound<Vec<u8>>, to: Bound<Vec<u8>>) -> KvIter<'_>;

    /// Entries whose key starts with `prefix`, in ascending key order.
    fn scan_prefix(&self, prefix: &[u8]) -> KvIter<'_> {
        let end = match prefix_successor(prefix) {
            Some(end) => Bound::Excluded(end),
            None => Bound::Unbounded,
        };
        self.range(Bound::Included(prefix.to_vec()), end)
    }
}

/// The smallest byte string greater than every string that starts with `prefix`, if there is one.
pub fn prefix_successor(prefix: &[u8]) -> Option<Vec<u8>> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < 0xff {
            end.push(last + 1);
            return Some(end);
        }
    }
    None
}

/// The sled backend.
pub struct SledKv {
    db: sled::Db,
    space: Arc<Space>,
    commits: Arc<GroupCommit>,
    committer: Option<std::thread::JoinHandle<()>>,
    /// The data directory's lock (see `open_data_dir`), released after the fields above.
    lock: Option<std::fs::File>,
}

/// Makes sled's log durable for every flush, one round for all the flushes waiting at once.
///
/// sled's own flush ends its log writes with `sync_file_range`, which survives a crash of the
/// process but neither flushes the disk's write cache nor waits for the file's metadata: a power
/// cut could still lose a write we acknowledged. So a flush is followed by `fdatasync` of the log
/// file. That costs a disk round trip; to keep concurrent writers from paying one each, a flush
/// takes a ticket and waits, as an async task, until the committer thread has flushed and synced
/// past it: one round serves every ticket handed out before the round began (group commit). No
/// writer holds a thread while it waits, and one wake-up reaches them all.
struct GroupCommit {
    /// The last ticket handed out, and whether the store is closing.
    requested: std::sync::Mutex<(u64, bool)>,
    /// Wakes the committer when a ticket is taken.
    pending: std::sync::Condvar,
    /// What the committer has made durable (or failed to).
    done: tokio::sync::watch::Sender<Durable>,
    /// How many flush-and-sync rounds ran (fewer than flushes asked for, under load).
    rounds: std::sync::atomic::AtomicU64,
}

/// Why a flush failed: a full disk is told apart.
#[derive(Debug, Clone)]
struct Failure {
    message: String,
    no_space: bool,
}

impl Failure {
    fn of(e: sled::Error) -> Self {
        Failure { no_space: is_no_space(&e), message: e.to_string() }
    }

    fn into_error(self, context: &str) -> Error {
        if self.no_space {
            Error::NoSpace(std::io::Error::new(std::io::ErrorKind::StorageFull, format!("{context}: {}", self.message)))
        } else {
            Error::Index(format!("{context}: {}", self.message))
        }
    }
}

#[derive(Debug, Clone, Default)]
struct Durable {
    /// Every ticket up to this one is durable.
    upto: u64,
    /// The last round that failed: the tickets up to it that are not durable get its error.
    failed: Option<(u64, Failure)>,
}

impl GroupCommit {
    fn lock(&self) -> std::sync::MutexGuard<'_, (u64, bool)> {
        self.requested.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The committer thread: waits for tickets, flushes sled and syncs its log, reports.
    fn run(&self, db: sled::Db, log: std::fs::File) {
        let mut served = 0;
        loop {
            let target = {
                let mut requested = self.lock();
                while requested.0 == served && !requested.1 {
                    requested = self.pending.wait(requested).unwrap_or_else(|p| p.into_inner());
                }
                if requested.0 == served {
                    return; // closing, and nothing is waiting
                }
                requested.0
            };
            // Everything written before a ticket was taken is covered by the round that starts now.
            self.rounds.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let result = db.flush().map(drop).map_err(Failure::of).and_then(|_| log.sync_data().map_err(|e| Failure::of(sled::Error::Io(e))));
            self.done.send_modify(|d| match result {
                Ok(()) => d.upto = d.upto.max(target),
                Err(e) => d.failed = Some((target, e)),
            });
            served = target;
        }
    }

    async fn wait_durable(&self) -> Result<()> {
        let mut done = self.done.subscribe();
        let ticket = {
            let mut requested = self.lock();
            requested.0 += 1;
            requested.0
        };
        self.pending.notify_one();
        let state = done
            .wait_for(|d| d.upto >= ticket || d.failed.as_ref().is_some_and(|(upto, _)| *upto >= ticket))
            .await
            .map_err(|_| Error::Index("the index committer has stopped".into()))?;
        match &state.failed {
            _ if state.upto >= ticket => Ok(()),
            Some((_, e)) => Err(e.clone().into_error("flushing the index")),
            None => Err(Error::Index("flushing the index failed".into())),
        }
    }
}

/// Whether sled failed because the disk is full.
fn is_no_space(e: &sled::Error) -> bool {
    matches!(e, sled::Error::Io(io) if io.raw_os_error() == Some(ENOSPC))
}

fn index_err(e: sled::Error) -> Error {
    match e {
        // A full disk is NoSpace, as for any file of the data directory.
        sled::Error::Io(io) => Error::io("the index store", io),
        e => Error::Index(e.to_string()),
    }
}

impl SledKv {
    pub fn open(path: &Path) -> Result<Self> {
        let db = sled::Config::new()
            .path(path)
            // A small cache keeps the idle footprint low; the index is small next to the data.
            .cache_capacity(16 * 1024 * 1024)
            .open()
            .map_err(index_err)?;
        // sled keeps its log in `db`; syncing any descriptor of the file syncs what sled wrote.
        let log = std::fs::File::open(path.join("db")).map_err(|e| Error::io("opening the index log", e))?;
        let commits = Arc::new(GroupCommit {
            requested: Default::default(),
            pending: Default::default(),
            done: tokio::sync::watch::Sender::new(Durable::default()),
            rounds: Default::default(),
        });
        // Not sled's `flush_async`: it runs the flush on sled's own small thread pool, where a
        // flush holds sled's read lock while it waits for the pool to write the log. With a
        // batch waiting for the write lock, enough waiting flushes fill the pool and nothing is
        // left to write the log: every writer hangs. One thread of our own does every flush.
        let committer = {
            let (commits, db) = (commits.clone(), db.clone());
            std::thread::Builder::new()
                .name("minerva-commit".into())
                .spawn(move || commits.run(db, log))
                .map_err(|e| Error::io("starting the index committer", e))?
        };
        Ok(SledKv { db, space: Arc::new(Space::new(path)), commits, committer: Some(committer), lock: None })
    }

    /// Keeps the data directory's lock for as long as the store is open.
    pub(crate) fn holding(mut self, lock: std::fs::File) -> Self {
        self.lock = Some(lock);
        self
    }
}

impl Drop for SledKv {
    fn drop(&mut self) {
        // The committer holds the database open: stop it, so that the directory can be opened
        // again by this process (tests restart stores in place).
        self.commits.lock().1 = true;
        self.commits.pending.notify_one();
        if let Some(t) = self.committer.take() {
            let _ = t.join();
        }
    }
}

#[async_trait::async_trait]
impl Kv for SledKv {
    fn tree(&self, name: &str) -> Result<Arc<dyn KvTree>> {
        Ok(Arc::new(SledTree(self.db.open_tree(name).map_err(index_err)?, self.space.clone())))
    }

    async fn flush(&self) -> Result<()> {
        self.commits.wait_durable().await
    }
}

/// A tree, and the room its writes may take (see [`Space`]): writes that add or replace are
/// refused once the disk is nearly full; deletes always go through.
struct SledTree(sled::Tree, Arc<Space>);

impl KvTree for SledTree {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        Ok(self.0.get(key).map_err(index_err)?.map(|v| v.to_vec()))
    }

    fn put(&self, key: &[u8], value: &[u8]) -> Result<Option<Vec<u8>>> {
        self.1.for_index()?;
        Ok(self.0.insert(key, value).map_err(index_err)?.map(|v| v.to_vec()))
    }

    fn delete(&self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        Ok(self.0.remove(key).map_err(index_err)?.map(|v| v.to_vec()))
    }

    fn apply(&self, ops: Vec<KvOp>) -> Result<()> {
        // A batch that deletes anything is part of making room (a delete that also writes a
        // marker or moves a version), so it goes through.
        if !ops.iter().any(|op| matches!(op, KvOp::Delete(_))) {
            self.1.for_index()?;
        }
        let mut batch = sled::Batch::default();
        for op in ops {
            match op {
                KvOp::Put(k, v) => batch.insert(k, v),
                KvOp::Delete(k) => batch.remove(k),
            }
        }
        self.0.apply_batch(batch).map_err(index_err)
    }

    fn compare_and_swap(&self, key: &[u8], old: Option<&[u8]>, new: Option<&[u8]>) -> Result<bool> {
        if new.is_some() {
            self.1.for_index()?;
        }
        Ok(self.0.compare_and_swap(key, old, new).map_err(index_err)?.is_ok())
    }

    fn range(&self, from: Bound<Vec<u8>>, to: Bound<Vec<u8>>) -> KvIter<'_> {
        Box::new(self.0.range::<Vec<u8>, _>((from, to)).map(|r| r.map(|(k, v)| (k.to_vec(), v.to_vec())).map_err(index_err)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_successor_cases() {
        let cases: &[(&[u8], Option<&[u8]>)] = &[(b"a", Some(b"b")), (b"a/", Some(b"a0")), (b"a\xff", Some(b"b")), (b"\xff\xff", None), (b"", None)];
        for (input, want) in cases {
            assert_eq!(prefix_successor(input).as_deref(), *want, "input {input:?}");
        }
    }

    #[tokio::test]
    async fn sled_tree_round_trip_and_order() {
        let dir = tempfile::tempdir().unwrap();
        let kv = SledKv::open(dir.path()).unwrap();
        let t = kv.tree("t").unwrap();
        for k in ["b", "a/b", "a", "a0", "é"] {
            t.put(k.as_bytes(), b"v").unwrap();
        }
        let keys: Vec<String> = t.scan_prefix(b"a").map(|r| String::from_utf8(r.unwrap().0).unwrap()).collect();
        assert_eq!(keys, ["a", "a/b", "a0"]);
        assert!(t.compare_and_swap(b"a", Some(b"v"), Some(b"w")).unwrap());
        assert!(!t.compare_and_swap(b"a", Some(b"v"), None).unwrap());
        t.apply(vec![KvOp::Delete(b"a".to_vec()), KvOp::Put(b"c".to_vec(), b"x".to_vec())]).unwrap();
        assert_eq!(t.get(b"a").unwrap(), None);
        assert_eq!(t.get(b"c").unwrap().as_deref(), Some(&b"x"[..]));
        kv.flush().await.unwrap();
    }
}

#[cfg(test)]
mod load {
    use std::time::Duration;

    use super::*;

    /// Many writers committing batches and flushing at once, as a busy S3 endpoint does. Flushes
    /// once ran on sled's own thread pool: enough of them blocked there behind a batch's write
    /// lock left no thread to write the log they waited for, and every request hung.
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn concurrent_batches_and_flushes_do_not_deadlock() {
        let dir = tempfile::tempdir().unwrap();
        let sled = Arc::new(SledKv::open(dir.path()).unwrap());
        let kv: Arc<dyn Kv> = sled.clone();
        let t = kv.tree("t").unwrap();
        let work = async {
            let mut tasks = Vec::new();
            for w in 0..48 {
                let (kv, t) = (kv.clone(), t.clone());
                tasks.push(tokio::spawn(async move {
                    for i in 0..60 {
                        let k = format!("{w}/{i}").into_bytes();
                        t.apply(vec![KvOp::Put(k.clone(), vec![7; 600]), KvOp::Put([b"o/".as_slice(), &k].concat(), vec![1; 80])]).unwrap();
                        assert!(t.get(&k).unwrap().is_some());
                        kv.flush().await.unwrap();
                    }
                }));
            }
            for task in tasks {
                task.await.unwrap();
            }
        };
        tokio::time::timeout(Duration::from_secs(120), work).await.expect("writers and flushes deadlocked");
        assert_eq!(t.scan_prefix(b"o/").count(), 48 * 60);
        // Flushes that wait at the same time share one sync.
        let rounds = sled.commits.rounds.load(std::sync::atomic::Ordering::Relaxed);
        assert!(rounds < 48 * 60, "{rounds} syncs for {} flushes", 48 * 60);
    }
}
