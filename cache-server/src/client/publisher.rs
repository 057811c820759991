//! The shard side of replication: one stream per replica, each starting with a snapshot.
//!
//! The publisher keeps its own copy of the shard's replicated set, so that any (re)connection
//! can start with a snapshot without asking the shard. Callers only update that copy and hand
//! the change to the connected streams' bounded feeds: they never wait for a replica. A feed
//! that overflows (its replica stalled) or closes is dropped, and its stream reconnects
//! with a fresh snapshot.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use futures::StreamExt;
use proto::cache as pb;
use proto::cache::publish_request::Kind;
use tokio::sync::{mpsc, watch};
use tokio_stream::wrappers::ReceiverStream;

use super::{connect, Target};
use crate::replica::chunks;
use crate::store::Key;

/// Changes a connected stream may have queued before it counts as stalled.
const FEED_CAPACITY: usize = 64 * 1024;
/// Retry delays after a failed connection: doubling up to the cap, so that a restarted
/// replica is refilled within about half a second of listening again.
const FIRST_RETRY: Duration = Duration::from_millis(50);
const MAX_RETRY: Duration = Duration::from_millis(500);

/// The shard's replicated set as last told, and the feeds of the connected streams.
#[derive(Default)]
struct Mirror {
    revision: u64,
    objects: BTreeMap<Key, Bytes>,
    feeds: Vec<mpsc::Sender<pb::Change>>,
}

struct Shared {
    shard: String,
    mirror: Mutex<Mirror>,
    /// Bumped by every [`Publisher::reset`]; streams wait for the first one before connecting.
    resets: watch::Sender<u64>,
    /// Revision each replica (by target index) acknowledged last.
    acked: Mutex<Vec<u64>>,
}

/// Publishes one shard's replicated objects to every replica. Dropping it stops the streams.
pub struct Publisher {
    shared: Arc<Shared>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

fn now_micros() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_micros() as u64).unwrap_or(0)
}

impl Publisher {
    /// Starts publishing as `shard` to each target. Nothing is sent before the first
    /// [`Publisher::reset`]: an empty snapshot would wipe what replicas hold of the shard.
    pub fn start(shard: impl Into<String>, targets: Vec<Target>) -> Publisher {
        let shared =
            Arc::new(Shared { shard: shard.into(), mirror: Mutex::default(), resets: watch::Sender::new(0), acked: Mutex::new(vec![0; targets.len()]) });
        let tasks = targets.into_iter().enumerate().map(|(index, target)| tokio::spawn(stream_to(shared.clone(), index, target))).collect();
        Publisher { shared, tasks }
    }

    fn mirror(&self) -> std::sync::MutexGuard<'_, Mirror> {
        self.shared.mirror.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Replaces the whole set (at start, or after the shard re-listed); every stream reconnects
    /// and sends it as a snapshot.
    pub fn reset(&self, revision: u64, objects: impl IntoIterator<Item = (Key, Bytes)>) {
        let mut mirror = self.mirror();
        mirror.revision = revision;
        mirror.objects = objects.into_iter().collect();
        // Closing the feeds ends the streams; they reopen with the new set.
        mirror.feeds.clear();
        drop(mirror);
        self.shared.resets.send_modify(|n| *n += 1);
    }

    /// Records that the object at `key` is now `json`, as of shard revision `revision`.
    pub fn upsert(&self, revision: u64, key: Key, json: Bytes) {
        self.change(revision, key, Some(json));
    }

    /// Records that the object at `key` is gone, as of shard revision `revision`.
    pub fn delete(&self, revision: u64, key: Key) {
        self.change(revision, key, None);
    }

    fn change(&self, revision: u64, key: Key, json: Option<Bytes>) {
        let mut mirror = self.mirror();
        if revision <= mirror.revision {
            tracing::debug!(revision, current = mirror.revision, "ignoring a change at or below the published revision");
            return;
        }
        mirror.revision = revision;
        let wire = pb::Change {
            shard: String::new(),
            revision,
            key: Some(key.to_wire()),
            json: json.clone().unwrap_or_default(),
            deleted: json.is_none(),
            published_unix_micros: now_micros(),
        };
        match json {
            Some(json) => mirror.objects.insert(key, json),
            None => mirror.objects.remove(&key),
        };
        mirror.feeds.retain(|feed| feed.try_send(wire.clone()).is_ok());
    }

    /// The revision each target (in the order given to [`Publisher::start`]) acknowledged last.
    pub fn acknowledged(&self) -> Vec<u64> {
        self.shared.acked.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// The latest revision handed to the publisher.
    pub fn revision(&self) -> u64 {
        self.mirror().revision
    }
}

impl Drop for Publisher {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

/// Keeps one replica's stream open for as long as the publisher lives.
async fn stream_to(shared: Arc<Shared>, index: usize, target: Target) {
    let mut resets = shared.resets.subscribe();
    if resets.wait_for(|n| *n > 0).await.is_err() {
        return;
    }
    let mut retry = FIRST_RETRY;
    loop {
        let generation = *resets.borrow_and_update();
        let (feed, changes) = mpsc::channel(FEED_CAPACITY);
        let snapshot = {
            let mut mirror = shared.mirror.lock().unwrap_or_else(|e| e.into_inner());
            mirror.feeds.push(feed);
            chunks(&shared.shard, mirror.revision, mirror.objects.iter().map(|(k, v)| (k.clone(), v.clone())))
        };
        let open = pb::PublishRequest { kind: Some(Kind::Open(pb::Open { shard: shared.shard.clone() })) };
        let requests = futures::stream::iter(std::iter::once(open).chain(snapshot.into_iter().map(|c| pb::PublishRequest { kind: Some(Kind::Snapshot(c)) })))
            .chain(ReceiverStream::new(changes).map(|c| pb::PublishRequest { kind: Some(Kind::Change(c)) }));
        let outcome = match connect::publish(&target, requests).await {
            Ok(mut acks) => loop {
                match acks.next().await {
                    Some(Ok(ack)) => {
                        retry = FIRST_RETRY;
                        if let Some(slot) = shared.acked.lock().unwrap_or_else(|e| e.into_inner()).get_mut(index) {
                            *slot = ack.revision;
                        }
                    }
                    Some(Err(status)) => break Err(super::ClientError::Status(status)),
                    None => break Ok(()),
                }
            },
            Err(e) => Err(e),
        };
        if let Err(e) = &outcome {
            tracing::debug!(replica = target.name(), error = %apiserver::process::report(e), "publish stream failed; retrying");
        }
        // A stream the publisher closed (reset) reopens at once; any other after a pause.
        if outcome.is_err() || *resets.borrow() == generation {
            tokio::time::sleep(retry).await;
            retry = (retry * 2).min(MAX_RETRY);
        }
    }
}
