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
    /// Feeds of the connected streams, by a number of their own.
    feeds: Vec<(u64, mpsc::Sender<pb::Change>)>,
    fed: u64,
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

    /// Records that the object at `key` is gone, as of shard revision `revision`; nothing is sent
    /// for a key the publisher does not hold.
    pub fn delete(&self, revision: u64, key: Key) {
        self.change(revision, key, None);
    }

    fn change(&self, revision: u64, key: Key, json: Option<Bytes>) {
        let mut mirror = self.mirror();
        if revision <= mirror.revision {
            tracing::debug!(revision, current = mirror.revision, "ignoring a change at or below the published revision");
            return;
        }
        // Withdrawing what replicas never got tells them nothing.
        if json.is_none() && !mirror.objects.contains_key(&key) {
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
        mirror.feeds.retain(|(_, feed)| feed.try_send(wire.clone()).is_ok());
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
        let (mine, snapshot) = {
            let mut mirror = shared.mirror.lock().unwrap_or_else(|e| e.into_inner());
            mirror.fed += 1;
            let mine = mirror.fed;
            mirror.feeds.push((mine, feed));
            (mine, chunks(&shared.shard, mirror.revision, mirror.objects.iter().map(|(k, v)| (k.clone(), v.clone()))))
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
        // The stream may be stuck rather than gone (a frozen replica): stop feeding it now
        // instead of queueing changes for it until the feed overflows.
        shared.mirror.lock().unwrap_or_else(|e| e.into_inner()).feeds.retain(|(id, _)| *id != mine);
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::testing::{key, until};
    use crate::replica::Replica;
    use crate::store::Filter;

    fn names(replica: &Replica) -> Vec<String> {
        replica.store().list(&Filter::default()).into_iter().map(|(_, k, _)| k.name).collect()
    }

    #[tokio::test]
    async fn a_reset_replaces_the_set_on_every_replica() {
        let replicas = [Replica::new(10, Arc::default()), Replica::new(10, Arc::default())];
        let publisher = Publisher::start("s1", replicas.iter().cloned().map(Target::Local).collect());
        let json = Bytes::from_static(b"{}");
        publisher.upsert(1, key("before-reset"), json.clone());
        publisher.reset(2, [(key("a"), json.clone())]);
        publisher.upsert(3, key("b"), json.clone());
        until("both replicas at 3", || publisher.acknowledged() == [3, 3]).await;
        assert_eq!(names(&replicas[0]), ["a", "b"], "changes before the first reset are part of it, not sent");
        publisher.reset(4, [(key("c"), json.clone())]);
        publisher.upsert(4, key("stale"), json);
        until("both replicas at 4", || publisher.acknowledged() == [4, 4]).await;
        for replica in &replicas {
            assert_eq!(names(replica), ["c"]);
        }
    }

    #[tokio::test]
    async fn an_unreachable_replica_holds_no_queue() {
        let ca = apiserver::pki::new_ca("test CA").unwrap();
        let tls = Arc::new(apiserver::pki::client_config(&ca.cert_pem, None).unwrap());
        let port = std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).unwrap().port();
        let publisher = Publisher::start("s1", vec![Target::Remote { url: format!("https://127.0.0.1:{port}"), tls }]);
        publisher.reset(1, []);
        for revision in 2..1000 {
            publisher.upsert(revision, key(&revision.to_string()), Bytes::from_static(b"{}"));
        }
        until("failed attempts to let go of their feeds", || publisher.mirror().feeds.is_empty()).await;
        assert_eq!((publisher.revision(), publisher.acknowledged()), (999, vec![0]));
    }
}
