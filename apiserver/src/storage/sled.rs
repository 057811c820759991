//! The embedded backend: one sled tree per shard, with group commit through a write-ahead log.
//!
//! Each value is stored as its 8-byte big-endian revision followed by the object's JSON. The
//! shard's revision counter lives in the same tree under a reserved key that starts with `\0`
//! (object keys always start with a group segment, so no prefix listing can reach it). Writes
//! reserve revisions in blocks: the counter is set to the end of a block before the block's first
//! write, so it always covers every revision sled may hold, at one counter write per block. A
//! reopen continues after the highest revision in the counter or the log; after a crash that
//! skips the rest of the block, and watchers from before it relist, as they would after any
//! restart that lost the event window. A clean shutdown stores the exact revision.
//!
//! Writers are serialized by one mutex held only while they check their precondition and apply
//! their write, so revision order is commit order. Durability is decoupled from that lock: sled's
//! own periodic flush is off, and a dedicated flusher thread repeatedly takes everything committed
//! so far and appends it to the [`Wal`] with one `fdatasync`, then publishes those events to the
//! [`EventWindow`] and raises the "durable up to revision N" watermark that writers wait on.
//! Concurrent writers therefore share one fsync (group commit), no write is acknowledged or seen
//! by watchers before it is on disk, and events reach the window exactly once, in revision order.
//! Reads never take the write lock; a read that finds a value newer than the watermark waits for
//! it, so nothing a later crash could lose is ever returned.
//!
//! sled itself is made durable only when a log segment fills up: a checkpoint thread flushes it,
//! `fdatasync`s its files with [`DirSync`] (sled's own flush stops at `sync_file_range`, which a
//! power cut can undo) and deletes the segment. Opening the store replays the log's writes newer
//! than sled's counter.

use std::ops::Bound;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;

use bytes::Bytes;
use futures::future::BoxFuture;
use tokio::sync::watch;

use super::dirsync::DirSync;
use super::wal::{self, Wal};
use super::window::EventWindow;
use super::{Event, EventKind, EventStream, Page, Storage, StorageError, Stored, WatchFrom};

/// Where the shard's revision counter is kept; sorts before every object key.
const REVISION_KEY: &[u8] = b"\0revision";

/// sled's page cache size.
const CACHE_BYTES: u64 = 64 * 1024 * 1024;

/// A sync waits while writes keep arriving at least this often...
const GATHER_GAP: std::time::Duration = std::time::Duration::from_micros(200);

/// ...but never longer than this. Every writer waits out the gathering, so a long one
/// leaves the CPU idle once all of them are waiting: at 2 ms, 32 connections creating
/// ConfigMaps left 17 % of the CPU idle, at 500 µs 9 %, with more creates per second.
const GATHER_MAX: std::time::Duration = std::time::Duration::from_micros(500);

/// Bytes of revision prefix in front of every stored value.
const REVISION_LEN: usize = 8;

/// Revisions reserved by one write of the counter. Writing it before every write cost a sled
/// insert per create (3 % of a shard's CPU); a crash now skips at most this many revisions.
const REVISION_BLOCK: u64 = 4096;

/// A [`Storage`] backed by a sled database in one directory.
pub struct SledStorage {
    shared: Arc<Shared>,
    flusher: Option<JoinHandle<()>>,
    checkpointer: Option<JoinHandle<()>>,
}

/// What the store handle and the flusher thread share.
struct Shared {
    db: sled::Db,
    writes: Mutex<WriteState>,
    /// Signals the flusher that `writes.pending` is non-empty or shutdown was asked.
    wake: Condvar,
    durable: watch::Sender<Durable>,
    window: EventWindow,
    flushes: AtomicU64,
    /// How long each flush took.
    sync_durations: super::SyncDurations,
    /// Only the checkpoint thread syncs sled; the mutex just makes that ownership shareable.
    disk: Mutex<DirSync>,
    /// Where the write-ahead log's segments live.
    wal_dir: std::path::PathBuf,
}

/// State guarded by the write lock.
struct WriteState {
    /// The newest revision applied to sled (durable or not).
    committed: u64,
    /// The revision counter as last written to sled: no write may go beyond it.
    reserved: u64,
    /// Events applied but not yet covered by a flush, in revision order.
    pending: Vec<Event>,
    /// The flusher sleeps on `wake` and needs a signal for the next write.
    flusher_idle: bool,
    /// Writes arrived while the last sync ran: others are writing concurrently.
    contended: bool,
    shutdown: bool,
}

/// The durability watermark writers and readers wait on.
#[derive(Debug, Clone)]
struct Durable {
    revision: u64,
    /// Set once a flush failed: nothing after `revision` can be acknowledged any more.
    failed: Option<Arc<str>>,
}

/// A write request with its precondition.
enum Write {
    Create(Bytes),
    Update { expect: u64, value: Bytes },
    Delete { expect: Option<u64> },
}

fn unavailable(error: impl std::fmt::Display) -> StorageError {
    StorageError::Unavailable(error.to_string())
}

/// Splits a stored value into its revision and the object bytes, without copying them.
fn split_value(stored: sled::IVec) -> Result<(u64, Bytes), StorageError> {
    let revision = stored
        .get(..REVISION_LEN)
        .and_then(|head| <[u8; REVISION_LEN]>::try_from(head).ok())
        .map(u64::from_be_bytes)
        .ok_or_else(|| unavailable("corrupt value: missing revision prefix"))?;
    Ok((revision, Bytes::from_owner(stored).slice(REVISION_LEN..)))
}

/// Starts a named thread running `run` on the store's shared state.
fn spawn_thread(name: &str, shared: &Arc<Shared>, run: impl FnOnce(&Shared) + Send + 'static) -> Result<JoinHandle<()>, StorageError> {
    let shared = Arc::clone(shared);
    std::thread::Builder::new().name(name.into()).spawn(move || run(&shared)).map_err(unavailable)
}

/// Applies one write to sled: the value with its revision, or the key's removal. A commit has
/// reserved the revision first (see [`reserve`]); a replay need not, since the log it replays
/// stays until the next checkpoint.
///
/// Single `insert`/`remove`s, never a `sled::Batch`: sled 0.34 writes out its log buffer
/// before and after every batch, through its I/O thread pool, which cost more than the rest of
/// a create.
fn apply(db: &sled::Db, key: &str, revision: u64, value: Option<&[u8]>) -> Result<(), StorageError> {
    match value {
        Some(value) => db.insert(key, encode_value(revision, value)).map(drop),
        None => db.remove(key).map(drop),
    }
    .map_err(unavailable)
}

/// Stores the value of a new key if the key is absent, in one lookup.
fn create(db: &sled::Db, key: &str, revision: u64, value: &[u8]) -> Result<(), StorageError> {
    match db.compare_and_swap(key, None::<&[u8]>, Some(encode_value(revision, value))).map_err(unavailable)? {
        Ok(()) => Ok(()),
        Err(_) => Err(StorageError::AlreadyExists { key: key.to_owned() }),
    }
}

/// The stored value of `key`, which must exist, at revision `expect` when one is given.
fn current_at(db: &sled::Db, key: &str, expect: Option<u64>) -> Result<Bytes, StorageError> {
    let Some((revision, value)) = db.get(key).map_err(unavailable)?.map(split_value).transpose()? else {
        return Err(StorageError::NotFound { key: key.to_owned() });
    };
    match expect {
        Some(expect) if expect != revision => Err(StorageError::Conflict { key: key.to_owned(), current: revision }),
        _ => Ok(value),
    }
}

/// Sets the revision counter to `revision`.
fn store_counter(db: &sled::Db, revision: u64) -> Result<(), StorageError> {
    db.insert(REVISION_KEY, &revision.to_be_bytes()).map(drop).map_err(unavailable)
}

/// Makes sure the counter covers `revision` before a write stores it, reserving a new block
/// when it does not. sled recovers a prefix of its operations, so any write sled kept is
/// covered by a counter it kept too, even one that never reached the [`Wal`] (sled writes full
/// log buffers on its own): its revision is never handed out again.
fn reserve(db: &sled::Db, state: &mut WriteState, revision: u64) -> Result<(), StorageError> {
    if revision > state.reserved {
        let end = revision + REVISION_BLOCK - 1;
        store_counter(db, end)?;
        state.reserved = end;
    }
    Ok(())
}

/// Makes everything applied to sled so far durable.
fn checkpoint(db: &sled::Db, disk: &mut DirSync) -> Result<(), StorageError> {
    db.flush().map_err(unavailable)?;
    disk.sync().map_err(unavailable)?;
    Ok(())
}

fn encode_value(revision: u64, value: &[u8]) -> Vec<u8> {
    let mut stored = Vec::with_capacity(REVISION_LEN + value.len());
    stored.extend_from_slice(&revision.to_be_bytes());
    stored.extend_from_slice(value);
    stored
}

impl SledStorage {
    /// Opens (or creates) the store in `dir`, keeping the last `window_capacity` events for
    /// watch replay.
    pub fn open(dir: &Path, window_capacity: usize) -> Result<SledStorage, StorageError> {
        // The log makes writes durable and sled is flushed at checkpoints; sled's timer would
        // only add fsyncs. sled caches up to 1 GiB by default; a control plane keeps many small objects and
        // should not grow its resident set with the database.
        let db = sled::Config::new().path(dir).flush_every_ms(None).cache_capacity(CACHE_BYTES).open().map_err(unavailable)?;
        let mut revision = match db.get(REVISION_KEY).map_err(unavailable)? {
            None => 0,
            Some(raw) => <[u8; REVISION_LEN]>::try_from(raw.as_ref()).map(u64::from_be_bytes).map_err(|_| unavailable("corrupt revision counter"))?,
        };
        // sled names its log file `db` inside the directory it was given.
        let mut disk = DirSync::open(dir, "db").map_err(unavailable)?;
        let wal_dir = dir.join("wal");
        let (wal, records) = Wal::open(&wal_dir).map_err(unavailable)?;
        // Every logged write is redone, in order: sled may have lost any of them, and redoing
        // the ones it kept changes nothing. The log only holds writes newer than the segments
        // already deleted, so nothing older is brought back.
        for record in records {
            revision = revision.max(record.revision);
            apply(&db, &record.key, record.revision, record.value.as_deref())?;
        }
        // The counter covers what sled kept beyond the log, and what the log redid.
        store_counter(&db, revision)?;
        // sled now holds everything the older segments recorded; make that durable so they can go.
        checkpoint(&db, &mut disk)?;
        wal.remove_older_segments().map_err(unavailable)?;
        let (durable, _) = watch::channel(Durable { revision, failed: None });
        let shared = Arc::new(Shared {
            db,
            writes: Mutex::new(WriteState {
                committed: revision,
                reserved: revision,
                pending: Vec::new(),
                flusher_idle: false,
                contended: false,
                shutdown: false,
            }),
            wake: Condvar::new(),
            durable,
            window: EventWindow::new(window_capacity, revision),
            flushes: AtomicU64::new(0),
            sync_durations: super::sync_durations(),
            disk: Mutex::new(disk),
            wal_dir,
        });
        let (closed, full_segments) = std::sync::mpsc::channel();
        let flusher = spawn_thread("sled-flusher", &shared, move |shared| shared.run_flusher(wal, closed))?;
        let checkpointer = spawn_thread("sled-checkpoint", &shared, move |shared| shared.run_checkpointer(full_segments))?;
        Ok(SledStorage { shared, flusher: Some(flusher), checkpointer: Some(checkpointer) })
    }

    /// How many fsyncs the store has done; far fewer than writes under concurrency.
    pub fn flush_count(&self) -> u64 {
        self.shared.flushes.load(Ordering::Relaxed)
    }

    /// Checks the precondition and applies one write atomically; returns its (not yet durable)
    /// event.
    fn commit(&self, key: &str, write: Write) -> Result<Event, StorageError> {
        let shared = &*self.shared;
        let mut state = shared.lock_writes();
        if let Some(reason) = &shared.durable.borrow().failed {
            return Err(StorageError::Unavailable(reason.to_string()));
        }
        let revision = state.committed + 1;
        reserve(&shared.db, &mut state, revision)?;
        let (kind, value, prev) = match write {
            Write::Create(value) => {
                create(&shared.db, key, revision, &value)?;
                (EventKind::Added, value, None)
            }
            Write::Update { expect, value } => {
                let old = current_at(&shared.db, key, Some(expect))?;
                apply(&shared.db, key, revision, Some(&value))?;
                (EventKind::Modified, value, Some(old))
            }
            Write::Delete { expect } => {
                let old = current_at(&shared.db, key, expect)?;
                apply(&shared.db, key, revision, None)?;
                (EventKind::Deleted, old.clone(), Some(old))
            }
        };
        let event = Event { kind, key: key.to_owned(), value, revision, prev };
        state.committed = revision;
        state.pending.push(event.clone());
        let idle = std::mem::take(&mut state.flusher_idle);
        drop(state);
        if idle {
            shared.wake.notify_one();
        }
        Ok(event)
    }

    /// Commits a write and returns its event once it is durable.
    async fn write(&self, key: &str, write: Write) -> Result<Event, StorageError> {
        let event = self.commit(key, write)?;
        self.shared.wait_durable(event.revision).await?;
        Ok(event)
    }
}

impl Shared {
    fn lock_writes(&self) -> MutexGuard<'_, WriteState> {
        // The guarded fields are only assigned after the fallible sled call succeeded, so a
        // panicking holder leaves them consistent.
        self.writes.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Waits until everything up to `revision` is on disk.
    async fn wait_durable(&self, revision: u64) -> Result<(), StorageError> {
        let mut durable = self.durable.subscribe();
        let state = durable.wait_for(|d| d.revision >= revision || d.failed.is_some()).await.map_err(|_| unavailable("store closed"))?;
        match &state.failed {
            Some(reason) if state.revision < revision => Err(StorageError::Unavailable(reason.to_string())),
            _ => Ok(()),
        }
    }

    /// The flusher thread: one log append and fsync per batch of committed writes, then
    /// publication. Full log segments go to the checkpoint thread.
    fn run_flusher(&self, mut wal: Wal, closed: std::sync::mpsc::Sender<std::path::PathBuf>) {
        loop {
            let (target, events) = {
                let mut state = self.lock_writes();
                while state.pending.is_empty() && !state.shutdown {
                    state.flusher_idle = true;
                    state = self.wake.wait(state).unwrap_or_else(|e| e.into_inner());
                }
                state.flusher_idle = false;
                if state.pending.is_empty() {
                    return;
                }
                if state.contended || state.pending.len() > 1 {
                    state = self.gather(state);
                }
                (state.committed, std::mem::take(&mut state.pending))
            };
            let started = std::time::Instant::now();
            match wal.append(&events) {
                Ok(full) => {
                    if let Some(segment) = full {
                        // The checkpoint thread only ends after this one, so the send cannot fail.
                        let _ = closed.send(segment);
                    }
                }
                Err(error) => {
                    tracing::error!(%error, "write-ahead log append failed; the store stops accepting writes");
                    self.durable.send_modify(|d| d.failed = Some(error.to_string().into()));
                    return;
                }
            }
            self.flushes.fetch_add(1, Ordering::Relaxed);
            self.sync_durations.observe(started.elapsed().as_secs_f64());
            // The window first, so that anyone who sees the watermark can watch from it.
            self.window.publish(events);
            self.durable.send_modify(|d| d.revision = target);
            let mut state = self.lock_writes();
            state.contended = !state.pending.is_empty();
        }
    }

    /// The checkpoint thread: makes sled durable behind each full log segment, then deletes it.
    fn run_checkpointer(&self, full_segments: std::sync::mpsc::Receiver<std::path::PathBuf>) {
        while let Ok(segment) = full_segments.recv() {
            let segments: Vec<_> = std::iter::once(segment).chain(full_segments.try_iter()).collect();
            // Every write in these segments was applied to sled before it was logged.
            let mut disk = self.disk.lock().unwrap_or_else(|e| e.into_inner());
            let done = checkpoint(&self.db, &mut disk).and_then(|()| wal::remove_segments(&self.wal_dir, &segments).map_err(unavailable));
            if let Err(error) = done {
                // The segments stay, and a reopen replays them; nothing acknowledged is at risk.
                tracing::error!(%error, "sled checkpoint failed; keeping the write-ahead log");
            }
        }
    }

    /// Lets concurrent writers join the next sync: waits while writes keep arriving, up to
    /// [`GATHER_MAX`]. A sync costs the same for one write as for fifty, so on a busy shard
    /// fewer, fuller syncs leave more CPU to the requests themselves.
    fn gather<'a>(&'a self, mut state: MutexGuard<'a, WriteState>) -> MutexGuard<'a, WriteState> {
        let started = std::time::Instant::now();
        loop {
            let seen = state.pending.len();
            drop(state);
            std::thread::sleep(GATHER_GAP);
            state = self.lock_writes();
            if state.shutdown || state.pending.len() == seen || started.elapsed() >= GATHER_MAX {
                return state;
            }
        }
    }
}

impl Drop for SledStorage {
    fn drop(&mut self) {
        self.shared.lock_writes().shutdown = true;
        self.shared.wake.notify_one();
        // The flusher drains what is pending before it exits, which ends the checkpoint thread;
        // joining both makes the directory lock free for a reopen once drop returns.
        for thread in [self.flusher.take(), self.checkpointer.take()].into_iter().flatten() {
            if thread.join().is_err() {
                tracing::error!("a sled storage thread panicked");
            }
        }
        // The rest of the reserved block need not be skipped on a clean stop.
        let committed = self.shared.lock_writes().committed;
        if let Err(error) = store_counter(&self.shared.db, committed) {
            tracing::warn!(%error, "could not store the revision counter; a reopen skips the reserved revisions");
        }
        self.shared.window.close();
    }
}

impl Storage for SledStorage {
    fn get<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<Stored, StorageError>> {
        Box::pin(async move {
            let stored = self.shared.db.get(key).map_err(unavailable)?;
            let (revision, value) = stored.map(split_value).transpose()?.ok_or_else(|| StorageError::NotFound { key: key.to_owned() })?;
            self.shared.wait_durable(revision).await?;
            Ok(Stored { key: key.to_owned(), value, revision })
        })
    }

    fn list<'a>(&'a self, prefix: &'a str, start_after: Option<&'a str>, limit: usize, _at: Option<u64>) -> BoxFuture<'a, Result<Page, StorageError>> {
        Box::pin(async move {
            // Taken before the scan: the scan may show newer writes, never miss older ones, so a
            // watch from this revision sees every change the page might lack.
            let revision = self.current_revision();
            let lower = match start_after {
                Some(after) if after >= prefix => Bound::Excluded(after.as_bytes()),
                _ => Bound::Included(prefix.as_bytes()),
            };
            let mut items = Vec::new();
            let mut more = false;
            for entry in self.shared.db.range::<&[u8], _>((lower, Bound::Unbounded)) {
                let (key, stored) = entry.map_err(unavailable)?;
                if !key.starts_with(prefix.as_bytes()) {
                    break;
                }
                if key.as_ref() == REVISION_KEY {
                    continue;
                }
                if limit != 0 && items.len() == limit {
                    more = true;
                    break;
                }
                let key = String::from_utf8(key.to_vec()).map_err(|_| unavailable("corrupt key: not UTF-8"))?;
                let (revision, value) = split_value(stored)?;
                items.push(Stored { key, value, revision });
            }
            let newest = items.iter().map(|item| item.revision).max().unwrap_or(0);
            self.shared.wait_durable(newest).await?;
            let more_after = if more { items.last().map(|item| item.key.clone()) } else { None };
            Ok(Page { items, revision, more_after })
        })
    }

    fn create<'a>(&'a self, key: &'a str, value: Bytes) -> BoxFuture<'a, Result<u64, StorageError>> {
        Box::pin(async move { Ok(self.write(key, Write::Create(value)).await?.revision) })
    }

    fn update<'a>(&'a self, key: &'a str, expect: u64, value: Bytes) -> BoxFuture<'a, Result<u64, StorageError>> {
        Box::pin(async move { Ok(self.write(key, Write::Update { expect, value }).await?.revision) })
    }

    fn delete<'a>(&'a self, key: &'a str, expect: Option<u64>) -> BoxFuture<'a, Result<Stored, StorageError>> {
        Box::pin(async move {
            let event = self.write(key, Write::Delete { expect }).await?;
            Ok(Stored { key: event.key, value: event.value, revision: event.revision })
        })
    }

    fn watch(&self, prefix: &str, from: WatchFrom) -> Result<EventStream, StorageError> {
        self.shared.window.watch(prefix, from)
    }

    fn current_revision(&self) -> u64 {
        self.shared.durable.borrow().revision
    }

    fn durable_syncs(&self) -> u64 {
        self.flush_count()
    }

    fn sync_durations(&self) -> super::SyncDurations {
        self.shared.sync_durations.clone()
    }

    fn size_on_disk(&self) -> u64 {
        self.shared.db.size_on_disk().unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Instant;

    use super::*;
    use crate::storage::conformance::{conformance_tests, Harness};

    /// A temporary directory that every `open` reopens.
    struct SledHarness(tempfile::TempDir);

    impl SledHarness {
        fn new() -> Self {
            SledHarness(tempfile::tempdir().expect("tempdir"))
        }
    }

    impl Harness for SledHarness {
        type Store = SledStorage;
        /// Opens the store, waiting for a moment if the directory is still locked: sled's own
        /// I/O threads may finish writes of a store just dropped, and hold its lock until then.
        fn open(&self, window_capacity: usize) -> SledStorage {
            let mut tries = 0;
            loop {
                match SledStorage::open(self.0.path(), window_capacity) {
                    Err(StorageError::Unavailable(why)) if why.contains("could not acquire lock") && tries < 100 => {
                        tries += 1;
                        std::thread::sleep(std::time::Duration::from_millis(50));
                    }
                    opened => return opened.expect("open sled"),
                }
            }
        }
    }

    conformance_tests!(SledHarness::new());

    /// Runs `writers` tasks doing `per_writer` creates each; returns (writes/s, flushes).
    async fn write_burst(store: Arc<SledStorage>, writers: usize, per_writer: usize) -> (f64, u64) {
        let flushes_before = store.flush_count();
        let started = Instant::now();
        let tasks: Vec<_> = (0..writers)
            .map(|w| {
                let store = Arc::clone(&store);
                tokio::spawn(async move {
                    for i in 0..per_writer {
                        let key = format!("core/configmaps/c{writers}/ns/{w}-{i}");
                        store.create(&key, Bytes::from_static(b"{}")).await?;
                    }
                    Ok::<_, StorageError>(())
                })
            })
            .collect();
        for task in tasks {
            task.await.expect("join").expect("create");
        }
        let rate = (writers * per_writer) as f64 / started.elapsed().as_secs_f64();
        (rate, store.flush_count() - flushes_before)
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_writers_share_flushes() {
        let h = SledHarness::new();
        let store = Arc::new(h.open(1000));
        let (_, flushes) = write_burst(Arc::clone(&store), 50, 4).await;
        assert!(flushes < 100, "200 concurrent writes took {flushes} flushes");
        assert_eq!(store.list("", None, 0, None).await.expect("list").items.len(), 200);
    }

    /// Copies every file of `from` into `to`, as a SIGKILL leaves them on disk.
    fn copy_dir(from: &std::path::Path, to: &std::path::Path) {
        std::fs::create_dir_all(to).expect("mkdir");
        for entry in std::fs::read_dir(from).expect("readdir") {
            let entry = entry.expect("entry");
            let target = to.join(entry.file_name());
            if entry.file_type().expect("type").is_dir() {
                copy_dir(&entry.path(), &target);
            } else {
                std::fs::copy(entry.path(), target).expect("copy");
            }
        }
    }

    #[tokio::test]
    async fn a_crash_keeps_every_acknowledged_write_sled_had_not_flushed() {
        let h = SledHarness::new();
        let store = h.open(10);
        // Far above sled's inline limit (a quarter of a 512 KiB segment), so sled puts it in a blob.
        let big = Bytes::from(vec![b'x'; 300 * 1024]);
        store.create("core/secrets/a/ns/big", big.clone()).await.expect("create");
        let small = store.create("core/configmaps/a/ns/small", Bytes::from_static(b"{}")).await.expect("create");
        store.delete("core/configmaps/a/ns/small", Some(small)).await.expect("delete");
        let last = store.create("core/configmaps/a/ns/last", Bytes::from_static(b"{\"v\":1}")).await.expect("create");
        // The store is still running: its files are what a SIGKILL now would leave behind.
        let crashed = tempfile::tempdir().expect("tempdir");
        copy_dir(h.0.path(), crashed.path());
        drop(store);
        let reopened = SledStorage::open(crashed.path(), 10).expect("reopen the crashed copy");
        assert_eq!(reopened.get("core/secrets/a/ns/big").await.expect("big").value, big);
        assert!(matches!(reopened.get("core/configmaps/a/ns/small").await, Err(StorageError::NotFound { .. })));
        assert_eq!(reopened.get("core/configmaps/a/ns/last").await.expect("last").revision, last);
        let next = reopened.create("core/configmaps/a/ns/next", Bytes::from_static(b"{}")).await.expect("create");
        assert!(next > last && next <= last + REVISION_BLOCK + 1, "revision {next} after {last}");
    }

    #[tokio::test]
    async fn a_write_sled_kept_but_the_log_never_got_keeps_its_revision_taken() {
        let h = SledHarness::new();
        let store = h.open(10);
        let acked = store.create("core/configmaps/a/ns/x", Bytes::from_static(b"{}")).await.expect("create");
        // Applied and written out by sled itself, but the process died before the flusher
        // logged it, so it was never acknowledged.
        let phantom = store.commit("core/configmaps/a/ns/phantom", Write::Create(Bytes::from_static(b"{}"))).expect("commit").revision;
        store.shared.db.flush().expect("sled flush");
        let crashed = tempfile::tempdir().expect("tempdir");
        copy_dir(h.0.path(), crashed.path());
        drop(store);
        // Whether or not the flusher logged it, only the counter may speak for it now.
        std::fs::remove_dir_all(crashed.path().join("wal")).expect("forget the log");
        let reopened = SledStorage::open(crashed.path(), 10).expect("reopen the crashed copy");
        assert!(reopened.current_revision() >= phantom, "the counter lost revision {phantom}");
        assert_eq!(reopened.get("core/configmaps/a/ns/x").await.expect("acknowledged").revision, acked);
        let next = reopened.create("core/configmaps/a/ns/y", Bytes::from_static(b"{}")).await.expect("create");
        assert!(next > phantom, "revision {next} was handed out twice");
    }

    #[tokio::test]
    async fn a_reopen_checkpoints_the_counter_which_lists_never_show() {
        let h = SledHarness::new();
        let store = h.open(10);
        store.create("core/configmaps/a/ns/x", Bytes::from_static(b"{}")).await.expect("create");
        let y = store.create("core/configmaps/a/ns/y", Bytes::from_static(b"{}")).await.expect("create");
        let gone = store.delete("core/configmaps/a/ns/y", Some(y)).await.expect("delete").revision;
        drop(store);
        let store = h.open(10);
        let raw = store.shared.db.get(REVISION_KEY).expect("read").expect("counter stored");
        assert_eq!(raw.as_ref(), &gone.to_be_bytes()[..]);
        let page = store.list("", None, 0, None).await.expect("list");
        assert_eq!(page.items.iter().map(|i| i.key.as_str()).collect::<Vec<_>>(), ["core/configmaps/a/ns/x"]);
    }

    #[tokio::test]
    async fn a_full_log_segment_is_checkpointed_and_deleted() {
        let h = SledHarness::new();
        let store = h.open(10);
        let value = Bytes::from(vec![b'x'; 512 * 1024]);
        let writes = (wal::SEGMENT_BYTES / value.len() as u64) + 1;
        for i in 0..writes {
            store.create(&format!("core/secrets/a/ns/s{i}"), value.clone()).await.expect("create");
        }
        let segments = || std::fs::read_dir(h.0.path().join("wal")).expect("wal dir").count();
        let deadline = Instant::now() + std::time::Duration::from_secs(30);
        while segments() > 1 && Instant::now() < deadline {
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        assert_eq!(segments(), 1, "the full segment was not removed after its checkpoint");
        let raw = store.shared.db.get(REVISION_KEY).expect("read").expect("counter stored");
        assert!(u64::from_be_bytes(raw.as_ref().try_into().expect("8 bytes")) >= writes - 1);
    }

    #[test]
    fn split_value_rejects_values_without_revision() {
        assert!(split_value(sled::IVec::from(&b"short"[..])).is_err());
        let (rev, value) = split_value(sled::IVec::from(encode_value(7, b"{}"))).expect("split");
        assert_eq!((rev, value.as_ref()), (7, &b"{}"[..]));
    }
}
