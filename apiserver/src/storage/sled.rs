//! The embedded backend: one sled tree per shard, with group commit.
//!
//! Each value is stored as its 8-byte big-endian revision followed by the object's JSON, and the
//! shard's revision counter lives in the same tree under a reserved key that starts with `\0`
//! (object keys always start with a group segment, so no prefix listing can reach it). Object
//! and counter go into one sled batch, so a crash never separates them and a reopen continues
//! from the highest revision ever stored.
//!
//! Writers are serialized by one mutex held only while they check their precondition and apply
//! their batch, so revision order is commit order. Durability is decoupled from that lock: sled's
//! own periodic flush is off, and a dedicated flusher thread repeatedly takes everything committed
//! so far, flushes sled and then `fdatasync`s its files with [`DirSync`] (sled's own flush stops at
//! `sync_file_range`, which a power cut can undo), then publishes those events to the [`EventWindow`] and raises the
//! "durable up to revision N" watermark that writers wait on. Concurrent writers therefore share
//! one fsync (group commit), no write is acknowledged or seen by watchers before it is on disk,
//! and events reach the window exactly once, in revision order. Reads never take the write lock;
//! a read that finds a value newer than the watermark waits for it, so nothing a later crash could
//! lose is ever returned.

use std::ops::Bound;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;

use bytes::Bytes;
use futures::future::BoxFuture;
use tokio::sync::watch;

use super::dirsync::DirSync;
use super::window::EventWindow;
use super::{Event, EventKind, EventStream, Page, Storage, StorageError, Stored, WatchFrom};

/// Where the shard's revision counter is kept; sorts before every object key.
const REVISION_KEY: &[u8] = b"\0revision";

/// sled's page cache size.
const CACHE_BYTES: u64 = 64 * 1024 * 1024;

/// Bytes of revision prefix in front of every stored value.
const REVISION_LEN: usize = 8;

/// A [`Storage`] backed by a sled database in one directory.
pub struct SledStorage {
    shared: Arc<Shared>,
    flusher: Option<JoinHandle<()>>,
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
    /// Only the flusher thread syncs; the mutex just makes that ownership shareable.
    disk: Mutex<DirSync>,
}

/// State guarded by the write lock.
struct WriteState {
    /// The newest revision applied to sled (durable or not).
    committed: u64,
    /// Events applied but not yet covered by a flush, in revision order.
    pending: Vec<Event>,
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
        // We flush ourselves after every group of writes; sled's timer would only add fsyncs.
        // sled caches up to 1 GiB by default; a control plane keeps many small objects and
        // should not grow its resident set with the database.
        let db = sled::Config::new().path(dir).flush_every_ms(None).cache_capacity(CACHE_BYTES).open().map_err(unavailable)?;
        let revision = match db.get(REVISION_KEY).map_err(unavailable)? {
            None => 0,
            Some(raw) => <[u8; REVISION_LEN]>::try_from(raw.as_ref()).map(u64::from_be_bytes).map_err(|_| unavailable("corrupt revision counter"))?,
        };
        // sled names its log file `db` inside the directory it was given.
        let disk = DirSync::open(dir, "db").map_err(unavailable)?;
        let (durable, _) = watch::channel(Durable { revision, failed: None });
        let shared = Arc::new(Shared {
            db,
            writes: Mutex::new(WriteState { committed: revision, pending: Vec::new(), shutdown: false }),
            wake: Condvar::new(),
            durable,
            window: EventWindow::new(window_capacity, revision),
            flushes: AtomicU64::new(0),
            sync_durations: super::sync_durations(),
            disk: Mutex::new(disk),
        });
        let flusher = {
            let shared = Arc::clone(&shared);
            std::thread::Builder::new().name("sled-flusher".into()).spawn(move || shared.run_flusher()).map_err(unavailable)?
        };
        Ok(SledStorage { shared, flusher: Some(flusher) })
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
        let current = shared.db.get(key).map_err(unavailable)?.map(split_value).transpose()?;
        let revision = state.committed + 1;
        let not_found = || StorageError::NotFound { key: key.to_owned() };
        let conflict = |current| StorageError::Conflict { key: key.to_owned(), current };
        let (kind, value, prev) = match (write, current) {
            (Write::Create(value), None) => (EventKind::Added, value, None),
            (Write::Create(_), Some(_)) => return Err(StorageError::AlreadyExists { key: key.to_owned() }),
            (Write::Update { expect, value }, Some((rev, old))) if rev == expect => (EventKind::Modified, value, Some(old)),
            (Write::Update { .. }, Some((rev, _))) => return Err(conflict(rev)),
            (Write::Delete { expect: Some(expect) }, Some((rev, _))) if rev != expect => return Err(conflict(rev)),
            (Write::Delete { .. }, Some((_, old))) => (EventKind::Deleted, old.clone(), Some(old)),
            (Write::Update { .. } | Write::Delete { .. }, None) => return Err(not_found()),
        };
        let mut batch = sled::Batch::default();
        match kind {
            EventKind::Deleted => batch.remove(key),
            EventKind::Added | EventKind::Modified => batch.insert(key, encode_value(revision, &value)),
        }
        batch.insert(REVISION_KEY, &revision.to_be_bytes());
        shared.db.apply_batch(batch).map_err(unavailable)?;
        let event = Event { kind, key: key.to_owned(), value, revision, prev };
        state.committed = revision;
        state.pending.push(event.clone());
        drop(state);
        shared.wake.notify_one();
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

    /// Writes sled's buffers out, then syncs every file they went to.
    fn sync_to_disk(&self) -> Result<(), StorageError> {
        self.db.flush().map_err(unavailable)?;
        let mut disk = self.disk.lock().unwrap_or_else(|e| e.into_inner());
        disk.sync().map_err(unavailable)?;
        Ok(())
    }

    /// The flusher thread: one fsync per batch of committed writes, then publication.
    fn run_flusher(&self) {
        loop {
            let (target, events) = {
                let mut state = self.lock_writes();
                while state.pending.is_empty() && !state.shutdown {
                    state = self.wake.wait(state).unwrap_or_else(|e| e.into_inner());
                }
                if state.pending.is_empty() {
                    return;
                }
                (state.committed, std::mem::take(&mut state.pending))
            };
            // Every event taken above was applied before this call, so this sync covers it.
            let started = std::time::Instant::now();
            if let Err(error) = self.sync_to_disk() {
                tracing::error!(%error, "sled flush failed; the store stops accepting writes");
                self.durable.send_modify(|d| d.failed = Some(error.to_string().into()));
                return;
            }
            self.flushes.fetch_add(1, Ordering::Relaxed);
            self.sync_durations.observe(started.elapsed().as_secs_f64());
            // The window first, so that anyone who sees the watermark can watch from it.
            self.window.publish(events);
            self.durable.send_modify(|d| d.revision = target);
        }
    }
}

impl Drop for SledStorage {
    fn drop(&mut self) {
        self.shared.lock_writes().shutdown = true;
        self.shared.wake.notify_one();
        if let Some(flusher) = self.flusher.take() {
            // The flusher drains what is pending before it exits; joining makes the directory
            // lock free for a reopen once drop returns.
            if flusher.join().is_err() {
                tracing::error!("sled flusher thread panicked");
            }
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
        fn open(&self, window_capacity: usize) -> SledStorage {
            SledStorage::open(self.0.path(), window_capacity).expect("open sled")
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

    #[tokio::test]
    async fn an_acknowledged_large_value_has_its_blob_file_synced() {
        let h = SledHarness::new();
        let store = h.open(10);
        // Far above sled's inline limit (a quarter of a 512 KiB segment), so it lands in a blob.
        let value = Bytes::from(vec![b'x'; 300 * 1024]);
        store.create("core/secrets/a/ns/big", value).await.expect("create");
        let blobs = h.0.path().join("blobs");
        let on_disk: Vec<_> = std::fs::read_dir(&blobs).expect("blobs dir").map(|e| e.expect("entry").path()).collect();
        assert!(!on_disk.is_empty(), "sled wrote no blob file for a 300 KiB value");
        let disk = store.shared.disk.lock().expect("lock");
        for blob in &on_disk {
            assert!(disk.is_synced(blob), "{} was acknowledged before it was fsynced", blob.display());
        }
    }

    #[tokio::test]
    async fn counter_is_stored_with_the_object_and_hidden_from_lists() {
        let h = SledHarness::new();
        let store = h.open(10);
        let rev = store.create("core/configmaps/a/ns/x", Bytes::from_static(b"{}")).await.expect("create");
        let raw = store.shared.db.get(REVISION_KEY).expect("read").expect("counter stored");
        assert_eq!(raw.as_ref(), &rev.to_be_bytes()[..]);
        let page = store.list("", None, 0, None).await.expect("list");
        assert_eq!(page.items.iter().map(|i| i.key.as_str()).collect::<Vec<_>>(), ["core/configmaps/a/ns/x"]);
    }

    #[test]
    fn split_value_rejects_values_without_revision() {
        assert!(split_value(sled::IVec::from(&b"short"[..])).is_err());
        let (rev, value) = split_value(sled::IVec::from(encode_value(7, b"{}"))).expect("split");
        assert_eq!((rev, value.as_ref()), (7, &b"{}"[..]));
    }
}
