//! Storage of serialized objects, keyed so that logical clusters never overlap.
//!
//! A key is `<group>/<resource>/<cluster>/<namespace>/<name>` (see [`key`]); values are the
//! object's JSON bytes. Every write gets a shard-wide, strictly increasing revision, assigned in
//! the same atomic step as the write, and is acknowledged only after it is durable on disk.
//! Watches replay from an in-memory window of recent events and answer `Expired` past it.

#[cfg(all(test, any(feature = "sled", feature = "etcd")))]
mod conformance;
#[cfg(feature = "sled")]
pub mod dirsync;
#[cfg(feature = "etcd")]
pub mod etcd;
pub mod key;
#[cfg(feature = "sled")]
pub mod sled;
#[cfg(feature = "sled")]
pub mod wal;
pub mod window;

use std::pin::Pin;
use std::sync::Arc;

use bytes::Bytes;
use futures::future::BoxFuture;
use futures::Stream;

pub use key::Key;

/// A stored value together with the revision of the write that produced it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stored {
    /// Encoded storage key the value was read from.
    pub key: String,
    /// The object's JSON bytes.
    pub value: Bytes,
    /// Revision of the write that produced the value.
    pub revision: u64,
}

/// What happened to a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventKind {
    /// The key was created.
    Added,
    /// The key's value was replaced.
    Modified,
    /// The key was deleted.
    Deleted,
}

/// One committed change, as watchers see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// Whether the key was added, modified or deleted.
    pub kind: EventKind,
    /// Encoded storage key that changed.
    pub key: String,
    /// The new value; for `Deleted`, the last value before deletion.
    pub value: Bytes,
    /// The revision of this change (for `Deleted`, the revision of the delete itself).
    pub revision: u64,
    /// The value before this change (`None` for `Added`).
    pub prev: Option<Bytes>,
}

/// One page of a prefix listing.
#[derive(Debug, Clone, Default)]
pub struct Page {
    /// The values of this page, in key order.
    pub items: Vec<Stored>,
    /// The store's revision when the list was taken.
    pub revision: u64,
    /// The last key returned when more items follow; pass it back as `start_after`.
    pub more_after: Option<String>,
}

/// Where a watch starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WatchFrom {
    /// Only changes after the current revision.
    Now,
    /// Changes with a revision strictly greater than this one.
    After(u64),
}

/// A stream of committed events in revision order.
pub type EventStream = Pin<Box<dyn Stream<Item = Result<Event, StorageError>> + Send>>;

/// Errors of the storage layer; the REST layer maps them to Status once.
#[derive(Debug, Clone, thiserror::Error)]
pub enum StorageError {
    /// A read, update or delete named a key that does not exist.
    #[error("key {key} not found")]
    NotFound {
        /// The missing key.
        key: String,
    },
    /// A create named a key that already exists.
    #[error("key {key} already exists")]
    AlreadyExists {
        /// The existing key.
        key: String,
    },
    /// An update or delete expected a revision the key is no longer at.
    #[error("key {key} is at revision {current}, not the expected one")]
    Conflict {
        /// The key written.
        key: String,
        /// Revision the key is actually at.
        current: u64,
    },
    /// A watch asked to start from a revision older than the event window holds.
    #[error("too old resource version: {requested} ({oldest})")]
    Expired {
        /// Revision the watch asked to start after.
        requested: u64,
        /// Oldest revision a watch can still start after.
        oldest: u64,
    },
    /// The backend cannot read or write (an I/O error, a failed flush); the text says why.
    #[error("storage unavailable: {0}")]
    Unavailable(String),
    /// The backend cannot be reached right now (etcd lost quorum or no member answers); the
    /// same request can succeed later, so clients are told to retry.
    #[error("storage unreachable: {0}")]
    Unreachable(String),
}

/// What a client is told to wait before retrying a request the storage could not serve.
const RETRY_AFTER_SECONDS: u32 = 1;

/// The Status a client expects for a storage failure, in kube's words: the key names the
/// resource and object concerned.
impl From<StorageError> for apimachinery::status::ApiError {
    fn from(e: StorageError) -> Self {
        use apimachinery::status::ApiError;
        let parts = |key: &str| key::Key::parse(key).map(|k| (k.group.to_string(), k.resource.to_string(), k.name.to_string())).unwrap_or_default();
        match e {
            StorageError::NotFound { key } => {
                let (g, r, n) = parts(&key);
                ApiError::not_found(&g, &r, &n)
            }
            StorageError::AlreadyExists { key } => {
                let (g, r, n) = parts(&key);
                ApiError::already_exists(&g, &r, &n)
            }
            StorageError::Conflict { key, .. } => {
                let (g, r, n) = parts(&key);
                ApiError::conflict(&g, &r, &n)
            }
            StorageError::Expired { requested, oldest } => ApiError::expired(requested, oldest),
            StorageError::Unavailable(msg) => ApiError::internal(msg),
            StorageError::Unreachable(msg) => {
                let mut e = ApiError::unavailable(format!("storage is unavailable, try again later: {msg}"));
                e.retry_after = Some(RETRY_AFTER_SECONDS);
                e
            }
        }
    }
}

/// The operations every backend (sled, etcd) provides.
///
/// Every method that returns after a write returns only once that write is durable.
pub trait Storage: Send + Sync + 'static {
    /// Reads one key.
    fn get<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<Stored, StorageError>>;
    /// Lists keys under `prefix` in key order, starting after `start_after`, at most `limit`
    /// items (0 = no limit). `at` continues a list at the revision of its first page: a backend
    /// with history (etcd) reads that snapshot, or answers `Expired` once it is compacted; one
    /// without (sled) reads the newest state.
    fn list<'a>(&'a self, prefix: &'a str, start_after: Option<&'a str>, limit: usize, at: Option<u64>) -> BoxFuture<'a, Result<Page, StorageError>>;
    /// Creates a key that must not exist; returns the new revision.
    fn create<'a>(&'a self, key: &'a str, value: Bytes) -> BoxFuture<'a, Result<u64, StorageError>>;
    /// Replaces a key whose current revision is `expect`; returns the new revision.
    fn update<'a>(&'a self, key: &'a str, expect: u64, value: Bytes) -> BoxFuture<'a, Result<u64, StorageError>>;
    /// Deletes a key, if `expect` is given only at that revision; returns the deleted value and
    /// the revision of the delete.
    fn delete<'a>(&'a self, key: &'a str, expect: Option<u64>) -> BoxFuture<'a, Result<Stored, StorageError>>;
    /// Watches every key under `prefix`.
    fn watch(&self, prefix: &str, from: WatchFrom) -> Result<EventStream, StorageError>;
    /// The revision of the newest durable write.
    fn current_revision(&self) -> u64;
    /// Bytes the store occupies on disk.
    fn size_on_disk(&self) -> u64;
    /// How many times the store has made writes durable (one sync covers a whole group of
    /// writes): the ratio to writes says how well group commit batches.
    fn durable_syncs(&self) -> u64;
    /// How long making writes durable takes, one observation per sync: exported as
    /// `kcp_storage_sync_duration_seconds`.
    fn sync_durations(&self) -> SyncDurations;
}

/// The distribution of sync (group commit) durations, shared by the store and `/metrics`.
pub type SyncDurations = prometheus_client::metrics::histogram::Histogram;

/// An empty sync histogram: 0.25 ms to about 4 s, doubling.
pub fn sync_durations() -> SyncDurations {
    SyncDurations::new(prometheus_client::metrics::histogram::exponential_buckets(0.00025, 2.0, 15))
}

/// A shared handle to whichever backend the process uses.
pub type SharedStorage = Arc<dyn Storage>;
