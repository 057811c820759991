//! A replica: the [`Store`] behind a lock, fed by publish streams and read by subscriptions,
//! both in the wire types so that a remote (gRPC) and an in-process caller share one path.
//!
//! Every store update is broadcast while the lock is held, and a subscription takes its
//! catch-up events and its broadcast receiver under the same lock: it sees each change once.

use std::collections::BTreeMap;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};

use bytes::Bytes;
use futures::StreamExt;
use proto::cache as pb;
use proto::cache::publish_request::Kind as Publish;
use proto::cache::subscribe_event::Kind as Delivered;
use tokio::sync::{broadcast, mpsc};
use tokio_stream::wrappers::ReceiverStream;
use tonic::Status;

use crate::metrics::CacheMetrics;
use crate::store::{object_from_wire, Change, Event, Filter, Key, Snapshot, Store, Superseded};

/// A stream of wire messages, or the status that ended it.
pub type WireStream<T> = Pin<Box<dyn futures::Stream<Item = Result<T, Status>> + Send>>;

/// Changes broadcast to subscriptions before a slow one is cut off (it then resumes by vector).
const BROADCAST_CAPACITY: usize = 16 * 1024;
/// Objects per snapshot chunk, and the bytes a chunk stops growing at.
const CHUNK_OBJECTS: usize = 1000;
const CHUNK_BYTES: usize = 1 << 20;

/// One in-memory replica; cheap to clone, all clones share the state.
#[derive(Clone)]
pub struct Replica {
    inner: Arc<Inner>,
}

struct Inner {
    store: Mutex<Store>,
    events: broadcast::Sender<Event>,
    metrics: Arc<CacheMetrics>,
}

/// True for names kcp accepts for shards (`^[a-z0-9-:]{1,61}$`).
pub fn valid_shard_name(name: &str) -> bool {
    !name.is_empty() && name.len() <= 61 && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b':')
}

/// Splits a shard's set into snapshot chunks; an empty set is one empty chunk, so it still replaces.
pub fn chunks(shard: &str, revision: u64, objects: impl IntoIterator<Item = (Key, Bytes)>) -> Vec<pb::SnapshotChunk> {
    let mut out = vec![pb::SnapshotChunk { shard: shard.to_string(), revision, objects: Vec::new(), first: true, last: false }];
    let mut bytes = 0;
    for (key, json) in objects {
        let full = out.last().is_some_and(|c| c.objects.len() >= CHUNK_OBJECTS || bytes >= CHUNK_BYTES);
        if full {
            out.push(pb::SnapshotChunk { shard: shard.to_string(), revision, objects: Vec::new(), first: false, last: false });
            bytes = 0;
        }
        bytes += json.len();
        if let Some(chunk) = out.last_mut() {
            chunk.objects.push(pb::Object { key: Some(key.to_wire()), json });
        }
    }
    if let Some(chunk) = out.last_mut() {
        chunk.last = true;
    }
    out
}

/// The wire messages telling a subscription with `filter` about `event`.
fn deliveries(event: &Event, filter: &Filter) -> Vec<pb::SubscribeEvent> {
    let wrap = |kind| pb::SubscribeEvent { kind: Some(kind) };
    match event {
        Event::Snapshot(s) => {
            let objects = s.objects.iter().filter(|(k, _)| filter.matches(&s.shard, k)).cloned();
            chunks(&s.shard, s.revision, objects).into_iter().map(|c| wrap(Delivered::Snapshot(c))).collect()
        }
        Event::Change(c) if filter.matches(&c.shard, &c.key) => vec![wrap(Delivered::Change(c.to_wire()))],
        Event::Change(_) | Event::Replaced { .. } => Vec::new(),
    }
}

impl Replica {
    /// An empty replica keeping `window_size` recent changes for subscribers to resume from.
    pub fn new(window_size: usize, metrics: Arc<CacheMetrics>) -> Replica {
        let (events, _) = broadcast::channel(BROADCAST_CAPACITY);
        Replica { inner: Arc::new(Inner { store: Mutex::new(Store::new(window_size)), events, metrics }) }
    }

    /// The store, for reading.
    pub fn store(&self) -> MutexGuard<'_, Store> {
        self.inner.store.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The metrics this replica records into.
    pub fn metrics(&self) -> &Arc<CacheMetrics> {
        &self.inner.metrics
    }

    /// Runs an update and broadcasts its event under the store lock (see the module doc).
    fn commit(&self, update: impl FnOnce(&mut Store) -> Result<Option<Event>, Superseded>) -> Result<(), Superseded> {
        let mut store = self.store();
        if let Some(event) = update(&mut store)? {
            if let Event::Change(c) = &event {
                self.inner.metrics.observe_change(&c.shard, c.published_unix_micros);
            }
            // No subscriber is not an error.
            let _ = self.inner.events.send(event);
        }
        Ok(())
    }

    /// Serves one publish stream: `open`, a snapshot, then changes; acknowledges revisions.
    pub fn publish<S>(&self, requests: S) -> WireStream<pb::PublishAck>
    where
        S: futures::Stream<Item = Result<pb::PublishRequest, Status>> + Send + Unpin + 'static,
    {
        let (tx, rx) = mpsc::channel(64);
        let replica = self.clone();
        tokio::spawn(async move {
            if let Err(status) = replica.take_publish(requests, &tx).await {
                let _ = tx.send(Err(status)).await;
            }
        });
        Box::pin(ReceiverStream::new(rx))
    }

    async fn take_publish<S>(&self, mut requests: S, acks: &mpsc::Sender<Result<pb::PublishAck, Status>>) -> Result<(), Status>
    where
        S: futures::Stream<Item = Result<pb::PublishRequest, Status>> + Unpin,
    {
        let shard = match requests.next().await {
            Some(Ok(pb::PublishRequest { kind: Some(Publish::Open(open)) })) if valid_shard_name(&open.shard) => open.shard,
            Some(Err(status)) => return Err(status),
            _ => return Err(Status::invalid_argument("a publish stream starts with `open` naming a valid shard")),
        };
        let session = self.store().open(&shard);
        tracing::info!(%shard, "publisher connected");
        let superseded = |_: Superseded| Status::aborted("a newer publish stream of this shard took over");
        let mut staged: Option<Snapshot> = None;
        while let Some(request) = requests.next().await {
            let revision = match request?.kind {
                Some(Publish::Snapshot(chunk)) => {
                    if chunk.first {
                        staged = Some(Snapshot { shard: shard.clone(), revision: chunk.revision, objects: Vec::new() });
                    }
                    let Some(snapshot) = staged.as_mut() else {
                        return Err(Status::invalid_argument("a snapshot chunk arrived before the first one"));
                    };
                    snapshot.objects.extend(chunk.objects.iter().map(object_from_wire));
                    if !chunk.last {
                        continue;
                    }
                    let Some(snapshot) = staged.take() else { continue };
                    tracing::info!(%shard, revision = chunk.revision, objects = snapshot.objects.len(), "snapshot applied");
                    self.commit(|store| store.replace(session, snapshot).map(Some)).map_err(superseded)?;
                    chunk.revision
                }
                Some(Publish::Change(change)) => {
                    let revision = change.revision;
                    self.commit(|store| store.apply(session, Change::from_wire(&shard, &change))).map_err(superseded)?;
                    revision
                }
                Some(Publish::Open(_)) | None => return Err(Status::invalid_argument("a publish stream is opened once")),
            };
            if acks.send(Ok(pb::PublishAck { revision })).await.is_err() {
                break;
            }
        }
        tracing::info!(%shard, "publisher disconnected");
        Ok(())
    }

    /// Serves one subscription: what the subscriber's revision vector misses, `synced`, then
    /// every later change the filter admits.
    pub fn subscribe(&self, request: pb::SubscribeRequest) -> WireStream<pb::SubscribeEvent> {
        let filter = Filter::from_wire(request.filter.as_ref());
        let resume: BTreeMap<String, u64> = request.resume.into_iter().collect();
        let (catch_up, revisions, mut events) = {
            let store = self.store();
            (store.catch_up(&filter, &resume), store.revisions(), self.inner.events.subscribe())
        };
        let revisions = revisions.into_iter().filter(|(shard, _)| filter.admits_shard(shard)).collect();
        let (tx, rx) = mpsc::channel(256);
        let replica = self.clone();
        tokio::spawn(async move {
            let _counted = replica.inner.metrics.subscriber();
            let synced = pb::SubscribeEvent { kind: Some(Delivered::Synced(pb::Synced { revisions })) };
            let first = catch_up.iter().flat_map(|e| deliveries(e, &filter)).chain([synced]);
            for message in first {
                if tx.send(Ok(message)).await.is_err() {
                    return;
                }
            }
            // Revision per shard of the snapshots read from the store since: the changes
            // broadcast up to there are in them already.
            let mut read_at: BTreeMap<String, u64> = BTreeMap::new();
            loop {
                let event = tokio::select! {
                    event = events.recv() => event,
                    _ = tx.closed() => return,
                };
                match event {
                    Ok(event) => {
                        let event = match event {
                            Event::Replaced { shard, .. } if filter.admits_shard(&shard) => {
                                let Some(snapshot) = replica.store().snapshot_of(&shard, &filter) else { continue };
                                read_at.insert(shard, snapshot.revision);
                                Event::Snapshot(Arc::new(snapshot))
                            }
                            Event::Change(c) if read_at.get(&c.shard).is_some_and(|at| c.revision <= *at) => continue,
                            other => other,
                        };
                        for message in deliveries(&event, &filter) {
                            if tx.send(Ok(message)).await.is_err() {
                                return;
                            }
                        }
                    }
                    Err(broadcast::error::RecvError::Lagged(missed)) => {
                        let _ = tx.send(Err(Status::aborted(format!("subscriber fell {missed} events behind; resume from its revisions")))).await;
                        return;
                    }
                    Err(broadcast::error::RecvError::Closed) => return,
                }
            }
        });
        Box::pin(ReceiverStream::new(rx))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(name: &str) -> Key {
        Key { group: "g".into(), resource: "r".into(), cluster: "c".into(), namespace: String::new(), name: name.into() }
    }

    #[test]
    fn chunks_split_large_sets_and_keep_empty_ones() {
        let empty = chunks("s", 3, []);
        assert_eq!(empty.len(), 1);
        assert!(empty[0].first && empty[0].last && empty[0].objects.is_empty());
        let many = chunks("s", 3, (0..2500).map(|i| (key(&i.to_string()), Bytes::from_static(b"{}"))));
        assert_eq!(many.iter().map(|c| c.objects.len()).collect::<Vec<_>>(), [1000, 1000, 500]);
        assert_eq!(many.iter().map(|c| (c.first, c.last)).collect::<Vec<_>>(), [(true, false), (false, false), (false, true)]);
    }

    fn summary(event: pb::SubscribeEvent) -> String {
        match event.kind {
            Some(Delivered::Snapshot(c)) => format!("snapshot {}@{} {}", c.shard, c.revision, c.objects.len()),
            Some(Delivered::Change(c)) => format!("change {}@{}", c.shard, c.revision),
            Some(Delivered::Synced(s)) => format!("synced {:?}", s.revisions),
            None => "nothing".into(),
        }
    }

    async fn next(events: &mut WireStream<pb::SubscribeEvent>) -> String {
        summary(events.next().await.unwrap().unwrap())
    }

    /// Opens a publish stream for `shard` and sends `then` after `open`.
    async fn publish(replica: &Replica, shard: &str, then: Vec<Publish>) -> (mpsc::Sender<Result<pb::PublishRequest, Status>>, WireStream<pb::PublishAck>) {
        let (tx, rx) = mpsc::channel(16);
        let acks = replica.publish(ReceiverStream::new(rx));
        for kind in std::iter::once(Publish::Open(pb::Open { shard: shard.into() })).chain(then) {
            tx.send(Ok(pb::PublishRequest { kind: Some(kind) })).await.unwrap();
        }
        (tx, acks)
    }

    #[tokio::test]
    async fn subscribers_follow_snapshots_and_changes_once() {
        let replica = Replica::new(10, Arc::default());
        let mut events = replica.subscribe(pb::SubscribeRequest::default());
        assert_eq!(next(&mut events).await, "synced {}");
        let snapshot = |revision, names: &[&str]| {
            let objects = names.iter().map(|n| (key(n), Bytes::from_static(b"{}")));
            chunks("s1", revision, objects).into_iter().map(Publish::Snapshot).collect::<Vec<_>>()
        };
        let change = |revision, name: &str| pb::PublishRequest {
            kind: Some(Publish::Change(pb::Change { revision, key: Some(key(name).to_wire()), json: Bytes::from_static(b"{}"), ..Default::default() })),
        };
        let (first, _acks) = publish(&replica, "s1", snapshot(1, &["a"])).await;
        assert_eq!(next(&mut events).await, "snapshot s1@1 1");
        first.send(Ok(change(2, "b"))).await.unwrap();
        assert_eq!(next(&mut events).await, "change s1@2");
        // A reconnect of the shard supersedes the first stream and replaces the set.
        let (_second, mut acks) = publish(&replica, "s1", snapshot(3, &["b"])).await;
        assert_eq!(acks.next().await.unwrap().unwrap().revision, 3);
        assert_eq!(next(&mut events).await, "snapshot s1@3 1");
        first.send(Ok(change(4, "c"))).await.unwrap();
        assert!(tokio::time::timeout(std::time::Duration::from_millis(100), next(&mut events)).await.is_err(), "nothing from a superseded stream");
        assert_eq!(replica.store().revisions().get("s1"), Some(&3));
    }

    #[test]
    fn shard_names() {
        assert!(valid_shard_name("shard-1:a"));
        assert!(!valid_shard_name(""));
        assert!(!valid_shard_name("Shard"));
        assert!(!valid_shard_name(&"a".repeat(62)));
    }
}
