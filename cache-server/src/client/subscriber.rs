//! The reader side: the last known state of every shard's objects, kept current from one
//! replica at a time.
//!
//! The subscriber holds one revision per shard (its revision vector) and sends it whenever it
//! (re)subscribes, so the next replica replays only what is missing, or sends a snapshot of
//! the shards it cannot replay. When a replica fails, the next one in the list is tried at
//! once; only after every replica failed in a row does it pause.
//!
//! Going backwards: a replica may be behind the one before it. A snapshot or change at or
//! below the revision the subscriber holds for its shard is dropped — a shard's revision
//! names its state, so what the subscriber holds is already that state or a later one; the
//! slower replica's later changes and snapshots (above that revision) apply as they come.
//! (A shard whose storage is reset to lower revisions must be read by a fresh subscriber.)

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use bytes::Bytes;
use futures::StreamExt;
use proto::cache as pb;
use proto::cache::subscribe_event::Kind;
use tokio::sync::{broadcast, watch};

use super::{connect, Target};
use crate::store::{object_from_wire, Change, Filter, Key};

/// Pause after every replica failed in a row.
const ROUND_PAUSE: Duration = Duration::from_millis(200);
/// Updates kept for slow [`Subscriber::updates`] receivers.
const UPDATES_CAPACITY: usize = 4096;

/// An object as the cache holds it.
#[derive(Debug, Clone, PartialEq)]
pub struct CachedObject {
    /// The shard that published it.
    pub shard: String,
    /// Where it lives in that shard.
    pub key: Key,
    /// Its JSON as the shard stored it.
    pub json: Bytes,
}

/// What changed in the subscriber's state.
#[derive(Debug, Clone)]
pub enum Update {
    /// One object changed.
    Changed(Arc<Change>),
    /// A shard's whole set was replaced by its state at `revision`.
    Replaced {
        /// The shard.
        shard: String,
        /// Its revision now.
        revision: u64,
    },
}

#[derive(Debug, Default)]
struct ShardView {
    revision: u64,
    objects: BTreeMap<Key, Bytes>,
}

struct Shared {
    shards: RwLock<BTreeMap<String, ShardView>>,
    connected: watch::Sender<bool>,
    updates: broadcast::Sender<Update>,
}

impl Shared {
    fn read(&self) -> std::sync::RwLockReadGuard<'_, BTreeMap<String, ShardView>> {
        self.shards.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, BTreeMap<String, ShardView>> {
        self.shards.write().unwrap_or_else(|e| e.into_inner())
    }

    fn revisions(&self) -> BTreeMap<String, u64> {
        self.read().iter().map(|(s, v)| (s.clone(), v.revision)).collect()
    }

    /// Replaces a shard's set unless the subscriber already holds a later state.
    fn replace(&self, shard: String, revision: u64, objects: Vec<pb::Object>) {
        let mut shards = self.write();
        let view = shards.entry(shard.clone()).or_default();
        if revision < view.revision {
            return;
        }
        view.revision = revision;
        view.objects = objects.iter().map(object_from_wire).collect();
        drop(shards);
        let _ = self.updates.send(Update::Replaced { shard, revision });
    }

    /// Applies a change above the shard's revision.
    fn apply(&self, change: pb::Change) {
        let change = Change::from_wire(&change.shard, &change);
        let mut shards = self.write();
        let view = shards.entry(change.shard.clone()).or_default();
        if change.revision <= view.revision {
            return;
        }
        view.revision = change.revision;
        match &change.json {
            Some(json) => view.objects.insert(change.key.clone(), json.clone()),
            None => view.objects.remove(&change.key),
        };
        drop(shards);
        let _ = self.updates.send(Update::Changed(Arc::new(change)));
    }
}

/// A reader of the cache that fails over between replicas. Dropping it ends the subscription.
pub struct Subscriber {
    shared: Arc<Shared>,
    task: tokio::task::JoinHandle<()>,
}

impl Subscriber {
    /// Subscribes to the objects `filter` admits, trying `targets` in turn.
    pub fn start(targets: Vec<Target>, filter: Filter) -> Subscriber {
        let shared = Arc::new(Shared { shards: RwLock::default(), connected: watch::Sender::new(false), updates: broadcast::channel(UPDATES_CAPACITY).0 });
        let task = tokio::spawn(follow(shared.clone(), targets, filter));
        Subscriber { shared, task }
    }

    /// The object at (group, resource, cluster, namespace, name) — a logical cluster lives on
    /// one shard, so at most one shard has it. Cluster-scoped objects have namespace `""`.
    pub fn get(&self, group: &str, resource: &str, cluster: &str, namespace: &str, name: &str) -> Option<CachedObject> {
        let key = Key { group: group.into(), resource: resource.into(), cluster: cluster.into(), namespace: namespace.into(), name: name.into() };
        let shards = self.shared.read();
        shards.iter().find_map(|(shard, view)| view.objects.get(&key).map(|json| CachedObject { shard: shard.clone(), key: key.clone(), json: json.clone() }))
    }

    /// Every object of a resource, of one logical cluster or of all.
    pub fn list(&self, group: &str, resource: &str, cluster: Option<&str>) -> Vec<CachedObject> {
        let filter = Filter { group: Some(group.into()), resource: Some(resource.into()), shard: None, cluster: cluster.map(String::from) };
        let shards = self.shared.read();
        let mut out = Vec::new();
        for (shard, view) in shards.iter() {
            let matching = view.objects.iter().filter(|(k, _)| filter.matches(shard, k));
            out.extend(matching.map(|(k, v)| CachedObject { shard: shard.clone(), key: k.clone(), json: v.clone() }));
        }
        out
    }

    /// True while subscribed to a replica that has sent everything it held (for `/readyz`).
    pub fn is_connected(&self) -> bool {
        *self.shared.connected.borrow()
    }

    /// Follows [`Subscriber::is_connected`].
    pub fn connected(&self) -> watch::Receiver<bool> {
        self.shared.connected.subscribe()
    }

    /// The revision held per shard.
    pub fn revisions(&self) -> BTreeMap<String, u64> {
        self.shared.revisions()
    }

    /// Every later update of the state, for callers that react to changes.
    pub fn updates(&self) -> broadcast::Receiver<Update> {
        self.shared.updates.subscribe()
    }
}

impl Drop for Subscriber {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Subscribes to one target after the other, forever.
async fn follow(shared: Arc<Shared>, targets: Vec<Target>, filter: Filter) {
    let mut failed_in_a_row = 0;
    for target in targets.iter().cycle() {
        let request = pb::SubscribeRequest { filter: Some(filter.to_wire()), resume: shared.revisions().into_iter().collect() };
        match connect::subscribe(target, request).await {
            Ok(events) => {
                if read(&shared, events).await {
                    failed_in_a_row = 0;
                }
                shared.connected.send_replace(false);
                tracing::warn!(replica = target.name(), "cache subscription ended; failing over");
            }
            Err(e) => tracing::debug!(replica = target.name(), error = %apiserver::process::report(&e), "cannot subscribe"),
        }
        failed_in_a_row += 1;
        if failed_in_a_row >= targets.len() {
            failed_in_a_row = 0;
            tokio::time::sleep(ROUND_PAUSE).await;
        }
    }
}

/// Applies a subscription's events until it ends; true when it got as far as `synced`.
async fn read(shared: &Shared, mut events: crate::replica::WireStream<pb::SubscribeEvent>) -> bool {
    let mut synced = false;
    let mut staged: BTreeMap<String, (u64, Vec<pb::Object>)> = BTreeMap::new();
    while let Some(Ok(pb::SubscribeEvent { kind: Some(kind) })) = events.next().await {
        match kind {
            Kind::Snapshot(chunk) => {
                let entry = staged.entry(chunk.shard.clone()).or_default();
                if chunk.first {
                    *entry = (chunk.revision, Vec::new());
                }
                entry.1.extend(chunk.objects);
                if chunk.last {
                    let (revision, objects) = staged.remove(&chunk.shard).unwrap_or_default();
                    shared.replace(chunk.shard, revision, objects);
                }
            }
            Kind::Change(change) => shared.apply(change),
            Kind::Synced(_) => {
                synced = true;
                shared.connected.send_replace(true);
            }
        }
    }
    synced
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::testing::{key, until};
    use crate::client::Publisher;
    use crate::replica::Replica;

    #[tokio::test]
    async fn publishes_and_reads_through_an_in_process_replica() {
        let replica = Replica::new(100, Arc::default());
        let publisher = Publisher::start("s1", vec![Target::Local(replica.clone())]);
        let subscriber = Subscriber::start(vec![Target::Local(replica.clone())], Filter::default());
        publisher.reset(10, [(key("a"), Bytes::from_static(b"{\"v\":1}"))]);
        until("the snapshot", || subscriber.get("apis.kcp.io", "apiexports", "c1", "", "a").is_some()).await;
        assert!(subscriber.is_connected());
        publisher.upsert(11, key("b"), Bytes::from_static(b"{}"));
        publisher.delete(12, key("a"));
        until("the changes", || subscriber.revisions().get("s1") == Some(&12)).await;
        let names: Vec<String> = subscriber.list("apis.kcp.io", "apiexports", None).into_iter().map(|o| o.key.name).collect();
        assert_eq!(names, ["b"]);
        until("the acknowledgement", || publisher.acknowledged() == [12]).await;
    }

    #[tokio::test]
    async fn a_reader_fails_over_and_resumes_without_going_back() {
        let ahead = Replica::new(100, Arc::default());
        let behind = Replica::new(100, Arc::default());
        let publisher = Publisher::start("s1", vec![Target::Local(ahead.clone())]);
        publisher.reset(1, [(key("a"), Bytes::from_static(b"{}"))]);
        publisher.upsert(2, key("b"), Bytes::from_static(b"{}"));
        // The second replica only ever saw revision 1.
        let old = Publisher::start("s1", vec![Target::Local(behind.clone())]);
        old.reset(1, [(key("a"), Bytes::from_static(b"{}"))]);
        until("the lagging replica", || behind.store().revisions().get("s1") == Some(&1)).await;
        drop(old);

        let reader = Subscriber::start(vec![Target::Local(ahead.clone())], Filter::default());
        until("revision 2", || reader.revisions().get("s1") == Some(&2)).await;
        let shared = reader.shared.clone();
        drop(reader);
        // Resume against the lagging replica: its snapshot at 1 must not undo revision 2.
        let events =
            connect::subscribe(&Target::Local(behind.clone()), pb::SubscribeRequest { filter: None, resume: shared.revisions().into_iter().collect() })
                .await
                .unwrap();
        let mut events = events.take(2);
        let collected = async {
            let mut shared_events = Vec::new();
            while let Some(Ok(e)) = events.next().await {
                shared_events.push(e);
            }
            shared_events
        };
        for event in collected.await {
            if let Some(Kind::Snapshot(chunk)) = event.kind {
                shared.replace(chunk.shard, chunk.revision, chunk.objects);
            }
        }
        assert_eq!(shared.revisions().get("s1"), Some(&2));
        assert_eq!(shared.read().get("s1").map(|v| v.objects.len()), Some(2));
    }
}
