//! The distributed backend: objects in an etcd v3 cluster, under one key prefix per shard.
//!
//! Revisions are etcd's own: an object's revision is its mod revision, and every write is one
//! transaction whose comparison is the precondition (create: the key was never created since its
//! last delete; update and delete: the key exists at the expected mod revision), so a racing
//! writer loses with a conflict instead of overwriting. etcd acknowledges a write only once a
//! quorum of members has it in its log on disk, which is the durability the trait promises.
//!
//! Watchers are served from the shared [`EventWindow`], fed by one etcd watch (see [`feed`]), as
//! kube-apiserver serves them from its watch cache: one etcd stream per shard instead of one per
//! client, and exactly the window behaviour sled has. A write returns once the feed has
//! published it, so whoever sees a revision can watch from it. A continued list reads at the
//! revision of its first page, so pages are consistent with each other. Several shards can share
//! one cluster: each sees only its prefix, and the global revision merely has gaps for it.

mod client;
mod feed;
mod hot;
pub mod local;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use futures::future::BoxFuture;
use proto::etcd as pb;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use self::client::{call, Clients};
pub use self::client::{ConnectError, EtcdTls};
use super::window::EventWindow;
use super::{EventStream, Page, Storage, StorageError, Stored, WatchFrom};

/// How often etcd's history is compacted unless configured otherwise.
pub const DEFAULT_COMPACTION_INTERVAL: Duration = Duration::from_secs(5 * 60);

/// Items per etcd range when a caller asks for a whole prefix: bounds each response while the
/// list as a whole still reads one revision.
const LIST_CHUNK: usize = 500;

/// Pause between attempts to reach etcd while opening the store.
const OPEN_RETRY_PAUSE: Duration = Duration::from_millis(500);

/// The key prefix a shard uses unless configured otherwise.
pub fn default_prefix(shard: &str) -> String {
    format!("/kcp-rs/{shard}/")
}

/// Where the store lives and how it is kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EtcdConfig {
    /// Client URLs of the members (`https://host:2379`).
    pub servers: Vec<String>,
    /// TLS material; required when any server is `https://`.
    pub tls: Option<EtcdTls>,
    /// Prefix of every key this store reads or writes; ends with `/`.
    pub prefix: String,
    /// How often history is compacted; `None` leaves compaction to someone else.
    pub compaction_interval: Option<Duration>,
    /// How many recent events watchers can resume from.
    pub window_capacity: usize,
    /// Key prefixes kept in memory from the watch feed and read from there (the objects a
    /// shard reads on every request); empty reads everything from etcd.
    pub read_cache: Vec<String>,
}

/// Why the store could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// The configuration does not describe a usable connection.
    #[error(transparent)]
    Connect(#[from] ConnectError),
    /// etcd did not answer the first read.
    #[error("etcd at {servers} did not answer")]
    Unreachable {
        /// The configured servers.
        servers: String,
        /// The failed read.
        #[source]
        source: StorageError,
    },
}

/// A [`Storage`] in an etcd cluster.
pub struct EtcdStorage {
    shared: Arc<Shared>,
    tasks: Vec<JoinHandle<()>>,
}

/// What the store handle and its background tasks share.
pub(super) struct Shared {
    clients: Clients,
    prefix: Bytes,
    window: EventWindow,
    /// The newest revision the feed has published to the window; writers wait for theirs.
    seen: watch::Sender<u64>,
    /// Set by the feed whenever etcd delivered anything, so reconnect pauses stay short.
    seen_progress: AtomicBool,
    db_size: AtomicU64,
    writes: AtomicU64,
    /// Round trips of write transactions: etcd answers once its log is synced.
    sync_durations: super::SyncDurations,
    /// The keys read from memory.
    hot: hot::HotKeys,
}

/// The smallest key greater than every key starting with `prefix` (etcd's `range_end`).
fn prefix_end(prefix: &[u8]) -> Bytes {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < 0xff {
            end.push(last + 1);
            return end.into();
        }
    }
    // Every byte was 0xff (or the prefix was empty): "\0" means "to the end of the keyspace".
    Bytes::from_static(b"\0")
}

fn concat(parts: &[&[u8]]) -> Bytes {
    let mut out = BytesMut::with_capacity(parts.iter().map(|p| p.len()).sum());
    parts.iter().for_each(|p| out.extend_from_slice(p));
    out.freeze()
}

fn header_revision(header: Option<&pb::ResponseHeader>) -> u64 {
    header.map_or(0, |h| h.revision as u64)
}

fn compare(key: &Bytes, target: pb::compare::CompareTarget, result: pb::compare::CompareResult, value: pb::compare::TargetUnion) -> pb::Compare {
    pb::Compare { result: result as i32, target: target as i32, key: key.clone(), target_union: Some(value) }
}

/// The key exists (it has a version).
fn exists(key: &Bytes) -> pb::Compare {
    use pb::compare::{CompareResult, CompareTarget, TargetUnion};
    compare(key, CompareTarget::Version, CompareResult::Greater, TargetUnion::Version(0))
}

/// The key does not exist (no create revision).
fn absent(key: &Bytes) -> pb::Compare {
    use pb::compare::{CompareResult, CompareTarget, TargetUnion};
    compare(key, CompareTarget::Create, CompareResult::Equal, TargetUnion::CreateRevision(0))
}

/// The key was last written at `revision`.
fn at_revision(key: &Bytes, revision: u64) -> pb::Compare {
    use pb::compare::{CompareResult, CompareTarget, TargetUnion};
    compare(key, CompareTarget::Mod, CompareResult::Equal, TargetUnion::ModRevision(revision as i64))
}

fn op(request: pb::request_op::Request) -> pb::RequestOp {
    pb::RequestOp { request: Some(request) }
}

fn get_op(key: &Bytes) -> pb::RequestOp {
    op(pb::request_op::Request::RequestRange(pb::RangeRequest { key: key.clone(), ..Default::default() }))
}

fn put_op(key: &Bytes, value: Bytes) -> pb::RequestOp {
    op(pb::request_op::Request::RequestPut(pb::PutRequest { key: key.clone(), value }))
}

fn delete_op(key: &Bytes) -> pb::RequestOp {
    op(pb::request_op::Request::RequestDeleteRange(pb::DeleteRangeRequest { key: key.clone(), range_end: Bytes::new(), prev_kv: true }))
}

/// The store revision, read as the header of a lookup of the prefix itself: a single key no
/// object has, so the read costs the same however many objects the prefix holds.
async fn newest_revision(clients: &Clients, prefix: &Bytes) -> Result<u64, StorageError> {
    let request = pb::RangeRequest { key: prefix.clone(), ..Default::default() };
    let response = call(0, clients.kv.clone().range(request)).await?;
    Ok(header_revision(response.header.as_ref()))
}

impl Shared {
    fn key(&self, key: &str) -> Bytes {
        concat(&[&self.prefix, key.as_bytes()])
    }

    /// The object key of an etcd key under the prefix.
    fn strip(&self, key: &[u8]) -> Result<String, StorageError> {
        let rest = key
            .strip_prefix(&self.prefix[..])
            .ok_or_else(|| StorageError::Unavailable(format!("etcd key {:?} is outside the store prefix", String::from_utf8_lossy(key))))?;
        String::from_utf8(rest.to_vec()).map_err(|_| StorageError::Unavailable("corrupt key: not UTF-8".into()))
    }

    fn stored(&self, kv: pb::KeyValue) -> Result<Stored, StorageError> {
        Ok(Stored { key: self.strip(&kv.key)?, value: kv.value, revision: kv.mod_revision as u64 })
    }

    async fn newest_revision(&self) -> Result<u64, StorageError> {
        newest_revision(&self.clients, &self.prefix).await
    }

    async fn txn(&self, compare: Vec<pb::Compare>, success: pb::RequestOp, failure: Vec<pb::RequestOp>) -> Result<pb::TxnResponse, StorageError> {
        let started = std::time::Instant::now();
        let response = call(0, self.clients.kv.clone().txn(pb::TxnRequest { compare, success: vec![success], failure })).await;
        if response.is_ok() {
            self.sync_durations.observe(started.elapsed().as_secs_f64());
        }
        response
    }

    /// One page of `prefix` (every item when `limit` is 0), read at `at` or now.
    async fn list(&self, prefix: &str, start_after: Option<&str>, limit: usize, at: Option<u64>) -> Result<Page, StorageError> {
        let full = self.key(prefix);
        let end = prefix_end(&full);
        // The smallest key after `after` is `after` followed by a zero byte.
        let after = |key: &str| concat(&[&self.prefix, key.as_bytes(), b"\0"]);
        let mut start = match start_after {
            Some(key) if key >= prefix => after(key),
            _ => full,
        };
        let mut revision = at;
        let mut items = Vec::new();
        loop {
            let want = if limit == 0 { LIST_CHUNK } else { limit };
            let request = pb::RangeRequest { key: start, range_end: end.clone(), limit: want as i64, revision: revision.unwrap_or(0) as i64 };
            let response = call(revision.unwrap_or(0), self.clients.kv.clone().range(request)).await?;
            // Every chunk after the first reads the first one's revision.
            let read_at = *revision.get_or_insert_with(|| header_revision(response.header.as_ref()));
            for kv in response.kvs {
                items.push(self.stored(kv)?);
            }
            let last = items.last().map(|item: &Stored| item.key.clone());
            match last {
                Some(last) if response.more && limit == 0 => start = after(&last),
                last => return Ok(Page { items, revision: read_at, more_after: if response.more { last } else { None } }),
            }
        }
    }

    /// Explains a failed update or delete from the key's state that the failure branch read.
    fn precondition_failed(&self, key: &str, response: pb::TxnResponse) -> StorageError {
        let current = response.responses.into_iter().find_map(|r| match r.response {
            Some(pb::response_op::Response::ResponseRange(range)) => range.kvs.into_iter().next(),
            _ => None,
        });
        match current {
            Some(kv) => StorageError::Conflict { key: key.to_owned(), current: kv.mod_revision as u64 },
            None => StorageError::NotFound { key: key.to_owned() },
        }
    }

    /// Returns once the feed has published `revision`, so that a watch from it sees what follows.
    /// A feed cut off from etcd does not fail the write: it is durable already, and watchers
    /// receive it when the feed reconnects.
    async fn acknowledge(&self, revision: u64) -> u64 {
        self.writes.fetch_add(1, Ordering::Relaxed);
        let mut seen = self.seen.subscribe();
        if tokio::time::timeout(client::REQUEST_TIMEOUT, seen.wait_for(|seen| *seen >= revision)).await.is_err() {
            tracing::warn!(revision, "etcd acknowledged a write its watch has not delivered yet");
            self.hot.acknowledged_unseen(revision);
        }
        revision
    }

    async fn compact(&self, revision: u64) -> Result<(), StorageError> {
        call(revision, self.clients.kv.clone().compact(pb::CompactionRequest { revision: revision as i64, physical: false })).await.map(drop)
    }

    /// Asks the member we are connected to how large its database file is.
    async fn refresh_size(&self) {
        match call(0, self.clients.maintenance.clone().status(pb::StatusRequest {})).await {
            Ok(status) => self.db_size.store(status.db_size as u64, Ordering::Relaxed),
            Err(error) => tracing::debug!(%error, "etcd status unavailable"),
        }
    }
}

impl EtcdStorage {
    /// Connects to the cluster, reads its current revision and starts the watch feed (and the
    /// compactor, when configured). Must run inside a tokio runtime.
    pub async fn open(config: &EtcdConfig) -> Result<EtcdStorage, OpenError> {
        Self::open_patiently(config, Duration::ZERO).await
    }

    /// Like [`EtcdStorage::open`], but keeps asking for up to `patience` while etcd is
    /// unreachable: members restarting together with a shard (or a cluster still electing a
    /// leader) answer a few seconds later, and a shard should start then rather than exit.
    pub async fn open_patiently(config: &EtcdConfig, patience: Duration) -> Result<EtcdStorage, OpenError> {
        let clients = Clients::new(client::channel(&config.servers, config.tls.as_ref())?);
        let prefix = Bytes::from(config.prefix.clone());
        let deadline = tokio::time::Instant::now() + patience;
        let revision = loop {
            match newest_revision(&clients, &prefix).await {
                Ok(revision) => break revision,
                Err(source @ StorageError::Unreachable(_)) if tokio::time::Instant::now() < deadline => {
                    tracing::warn!(error = %source, "etcd is not answering yet; asking again");
                    tokio::time::sleep(OPEN_RETRY_PAUSE).await;
                }
                Err(source) => return Err(OpenError::Unreachable { servers: config.servers.join(","), source }),
            }
        };
        let (seen, _) = watch::channel(revision);
        let shared = Arc::new(Shared {
            clients,
            prefix,
            window: EventWindow::new(config.window_capacity, revision),
            seen,
            seen_progress: AtomicBool::new(false),
            db_size: AtomicU64::new(0),
            writes: AtomicU64::new(0),
            sync_durations: super::sync_durations(),
            hot: hot::HotKeys::new(config.read_cache.clone()),
        });
        shared.refresh_size().await;
        let mut tasks = vec![tokio::spawn(feed::run(Arc::clone(&shared), revision))];
        if let Some(interval) = config.compaction_interval.filter(|i| !i.is_zero()) {
            tasks.push(tokio::spawn(feed::compact_periodically(Arc::clone(&shared), interval)));
        }
        Ok(EtcdStorage { shared, tasks })
    }
}

impl Drop for EtcdStorage {
    fn drop(&mut self) {
        self.tasks.iter().for_each(JoinHandle::abort);
        self.shared.window.close();
    }
}

impl Storage for EtcdStorage {
    fn get<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<Stored, StorageError>> {
        Box::pin(async move {
            let s = &self.shared;
            if let Some(answer) = s.hot.get(key, *s.seen.borrow()) {
                return answer;
            }
            let response = call(0, s.clients.kv.clone().range(pb::RangeRequest { key: s.key(key), ..Default::default() })).await?;
            let kv = response.kvs.into_iter().next().ok_or_else(|| StorageError::NotFound { key: key.to_owned() })?;
            s.stored(kv)
        })
    }

    fn list<'a>(&'a self, prefix: &'a str, start_after: Option<&'a str>, limit: usize, at: Option<u64>) -> BoxFuture<'a, Result<Page, StorageError>> {
        Box::pin(self.shared.list(prefix, start_after, limit, at))
    }

    fn create<'a>(&'a self, key: &'a str, value: Bytes) -> BoxFuture<'a, Result<u64, StorageError>> {
        Box::pin(async move {
            let s = &self.shared;
            let k = s.key(key);
            let response = s.txn(vec![absent(&k)], put_op(&k, value), Vec::new()).await?;
            if !response.succeeded {
                return Err(StorageError::AlreadyExists { key: key.to_owned() });
            }
            Ok(s.acknowledge(header_revision(response.header.as_ref())).await)
        })
    }

    fn update<'a>(&'a self, key: &'a str, expect: u64, value: Bytes) -> BoxFuture<'a, Result<u64, StorageError>> {
        Box::pin(async move {
            let s = &self.shared;
            let k = s.key(key);
            let response = s.txn(vec![exists(&k), at_revision(&k, expect)], put_op(&k, value), vec![get_op(&k)]).await?;
            if !response.succeeded {
                return Err(s.precondition_failed(key, response));
            }
            Ok(s.acknowledge(header_revision(response.header.as_ref())).await)
        })
    }

    fn delete<'a>(&'a self, key: &'a str, expect: Option<u64>) -> BoxFuture<'a, Result<Stored, StorageError>> {
        Box::pin(async move {
            let s = &self.shared;
            let k = s.key(key);
            let compare = std::iter::once(exists(&k)).chain(expect.map(|rev| at_revision(&k, rev))).collect();
            let response = s.txn(compare, delete_op(&k), vec![get_op(&k)]).await?;
            if !response.succeeded {
                return Err(s.precondition_failed(key, response));
            }
            let revision = header_revision(response.header.as_ref());
            let value = response
                .responses
                .into_iter()
                .find_map(|r| match r.response {
                    Some(pb::response_op::Response::ResponseDeleteRange(d)) => d.prev_kvs.into_iter().next(),
                    _ => None,
                })
                .map(|kv| kv.value)
                .ok_or_else(|| StorageError::Unavailable("etcd deleted a key without returning its value".into()))?;
            s.acknowledge(revision).await;
            Ok(Stored { key: key.to_owned(), value, revision })
        })
    }

    fn watch(&self, prefix: &str, from: WatchFrom) -> Result<EventStream, StorageError> {
        self.shared.window.watch(prefix, from)
    }

    fn current_revision(&self) -> u64 {
        self.shared.window.revision()
    }

    fn size_on_disk(&self) -> u64 {
        self.shared.db_size.load(Ordering::Relaxed)
    }

    /// etcd makes each transaction durable on its own (batching is its business, not visible to
    /// a client), so this counts acknowledged writes.
    fn durable_syncs(&self) -> u64 {
        self.shared.writes.load(Ordering::Relaxed)
    }

    fn sync_durations(&self) -> super::SyncDurations {
        self.shared.sync_durations.clone()
    }
}

/// A one-member etcd in `dir` and a store on it under `prefix` that reads everything from
/// etcd: for tests elsewhere that need storage which can be taken away.
#[cfg(test)]
pub(crate) async fn local_store(dir: &std::path::Path, prefix: &str) -> (local::LocalEtcd, super::SharedStorage) {
    let etcd = local::LocalEtcd::start(dir).unwrap_or_else(|e| panic!("this test needs a real etcd: {e}"));
    let config = EtcdConfig {
        servers: vec![etcd.url.clone()],
        tls: None,
        prefix: prefix.into(),
        compaction_interval: None,
        window_capacity: 10,
        read_cache: Vec::new(),
    };
    let store = EtcdStorage::open(&config).await.expect("open etcd store");
    (etcd, Arc::new(store))
}

#[cfg(test)]
mod tests;
