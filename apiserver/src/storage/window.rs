//! The event window: the most recent committed events of one shard, shared by every backend.
//!
//! Backends publish each durable event here once, in revision order; watchers read from the same
//! ring. A watcher is just a cursor (the last revision it has looked at): replay and live delivery
//! are the same operation — "give me the events after my cursor" — so there is no hand-over
//! between a replay phase and a live phase that could drop or repeat an event, and the ring is the
//! only copy of the events in memory. A cursor older than the ring can serve (its next events were
//! evicted, or it predates the process start) is answered with [`StorageError::Expired`]; a live
//! watcher that falls that far behind gets the same error once and its stream ends, which the REST
//! layer turns into a 410 so the client re-lists.

use std::collections::VecDeque;
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};

use futures::stream;
use tokio::sync::watch;

use super::{Event, EventStream, StorageError, WatchFrom};

/// How many events a watcher copies out of the ring per lock acquisition; bounds the time a
/// reader holds the lock and the memory one slow consumer pins.
const BATCH: usize = 256;

/// A bounded, shared ring of recent events with live fan-out to watchers.
#[derive(Clone)]
pub struct EventWindow {
    inner: Arc<Inner>,
}

struct Inner {
    ring: RwLock<Ring>,
    /// Wakes watchers waiting for events; carries the tip so a waiter can tell whether there is
    /// anything new without taking the ring lock.
    tip: watch::Sender<Tip>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Tip {
    revision: u64,
    closed: bool,
}

struct Ring {
    events: VecDeque<Event>,
    capacity: usize,
    /// Newest revision published (or the store's revision when the window was created).
    revision: u64,
    /// The ring holds every event with a revision above this one: a cursor at or above it can be
    /// served, one below it has lost events.
    floor: u64,
    closed: bool,
}

impl Ring {
    fn expired(&self, requested: u64) -> StorageError {
        StorageError::Expired { requested, oldest: self.floor }
    }

    /// Copies up to [`BATCH`] events after `cursor` whose key starts with `prefix` into `out`;
    /// returns the new cursor (the revision of the last event looked at, matching or not).
    fn collect_after(&self, cursor: u64, prefix: &str, out: &mut VecDeque<Event>) -> Result<u64, StorageError> {
        if cursor < self.floor {
            return Err(self.expired(cursor));
        }
        let start = self.events.partition_point(|e| e.revision <= cursor);
        let mut next = cursor;
        for event in self.events.range(start..).take(BATCH) {
            next = event.revision;
            if event.key.starts_with(prefix) {
                out.push_back(event.clone());
            }
        }
        Ok(next)
    }
}

impl EventWindow {
    /// An empty window keeping up to `capacity` events, starting at the store's `revision`
    /// (watches from before it answer `Expired`).
    pub fn new(capacity: usize, revision: u64) -> Self {
        let ring = Ring { events: VecDeque::with_capacity(capacity.min(4096)), capacity, revision, floor: revision, closed: false };
        let (tip, _) = watch::channel(Tip { revision, closed: false });
        EventWindow { inner: Arc::new(Inner { ring: RwLock::new(ring), tip }) }
    }

    fn read(&self) -> RwLockReadGuard<'_, Ring> {
        // A panic while holding the lock cannot leave the ring half-updated in a way readers
        // could misread (every mutation is a push/pop plus plain assignments), so poisoning is
        // ignored rather than spread to every watcher.
        self.inner.ring.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write(&self) -> RwLockWriteGuard<'_, Ring> {
        self.inner.ring.write().unwrap_or_else(|e| e.into_inner())
    }

    /// Appends durable events, which must come in strictly increasing revision order after every
    /// event published before, and wakes the watchers.
    pub fn publish(&self, events: impl IntoIterator<Item = Event>) {
        let revision = {
            let mut ring = self.write();
            for event in events {
                debug_assert!(event.revision > ring.revision, "events published out of revision order");
                ring.revision = event.revision;
                ring.events.push_back(event);
                while ring.events.len() > ring.capacity {
                    if let Some(evicted) = ring.events.pop_front() {
                        ring.floor = evicted.revision;
                    }
                }
            }
            ring.revision
        };
        self.inner.tip.send_modify(|tip| tip.revision = revision);
    }

    /// Forgets every event and continues at `revision`: for a backend that lost track of what
    /// happened since the last publish (etcd compacted the history its feed had to resume from).
    /// Every watcher still behind `revision` gets [`StorageError::Expired`] and must re-list.
    pub fn restart(&self, revision: u64) {
        {
            let mut ring = self.write();
            ring.events.clear();
            ring.revision = ring.revision.max(revision);
            ring.floor = ring.revision;
        }
        let revision = self.revision();
        self.inner.tip.send_modify(|tip| tip.revision = revision);
    }

    /// Ends every watch stream once it has delivered what was published (graceful shutdown).
    pub fn close(&self) {
        self.write().closed = true;
        self.inner.tip.send_modify(|tip| tip.closed = true);
    }

    /// The newest published revision.
    pub fn revision(&self) -> u64 {
        self.read().revision
    }

    /// The oldest revision a watch can still start after.
    pub fn oldest(&self) -> u64 {
        self.read().floor
    }

    /// Streams the events under `prefix` after `from`, replayed from the ring then live.
    pub fn watch(&self, prefix: &str, from: WatchFrom) -> Result<EventStream, StorageError> {
        let cursor = {
            let ring = self.read();
            match from {
                WatchFrom::Now => ring.revision,
                WatchFrom::After(rv) if rv < ring.floor => return Err(ring.expired(rv)),
                WatchFrom::After(rv) => rv,
            }
        };
        let watcher =
            Watcher { window: self.clone(), tip: self.inner.tip.subscribe(), prefix: prefix.to_owned(), cursor, buffered: VecDeque::new(), done: false };
        Ok(Box::pin(stream::unfold(watcher, Watcher::next)))
    }
}

/// One watch stream's state: where it is in the ring and what it has copied but not yet yielded.
struct Watcher {
    window: EventWindow,
    tip: watch::Receiver<Tip>,
    prefix: String,
    cursor: u64,
    buffered: VecDeque<Event>,
    done: bool,
}

impl Watcher {
    async fn next(mut self) -> Option<(Result<Event, StorageError>, Self)> {
        loop {
            if let Some(event) = self.buffered.pop_front() {
                return Some((Ok(event), self));
            }
            if self.done {
                return None;
            }
            let (collected, closed) = {
                let ring = self.window.read();
                (ring.collect_after(self.cursor, &self.prefix, &mut self.buffered), ring.closed)
            };
            match collected {
                Err(expired) => {
                    self.done = true;
                    return Some((Err(expired), self));
                }
                Ok(next) if next > self.cursor => {
                    self.cursor = next;
                    continue;
                }
                Ok(_) => {}
            }
            if closed {
                return None;
            }
            let cursor = self.cursor;
            // The sender lives as long as the window this watcher holds, so this only fails if
            // the window is gone, which ends the stream like a close would.
            if self.tip.wait_for(|tip| tip.revision > cursor || tip.closed).await.is_err() {
                return None;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;
    use futures::StreamExt;

    use super::*;
    use crate::storage::EventKind;

    fn event(revision: u64, key: &str) -> Event {
        Event { kind: EventKind::Added, key: key.to_owned(), value: Bytes::from(format!("v{revision}")), revision, prev: None }
    }

    /// Takes `n` items from a stream, failing the test if they do not arrive promptly.
    async fn take(stream: &mut EventStream, n: usize) -> Vec<Result<Event, StorageError>> {
        let mut out = Vec::new();
        for _ in 0..n {
            let item = tokio::time::timeout(std::time::Duration::from_secs(5), stream.next()).await.expect("event did not arrive").expect("stream ended early");
            out.push(item);
        }
        out
    }

    fn revisions(items: &[Result<Event, StorageError>]) -> Vec<u64> {
        items.iter().map(|i| i.as_ref().expect("event").revision).collect()
    }

    async fn nothing_pending(stream: &mut EventStream) -> bool {
        tokio::time::timeout(std::time::Duration::from_millis(50), stream.next()).await.is_err()
    }

    #[tokio::test]
    async fn replays_then_continues_live_without_gap_or_duplicate() {
        let window = EventWindow::new(10, 0);
        window.publish((1..=3).map(|r| event(r, "core/cm/a/ns/x")));
        let mut stream = window.watch("core/cm/a/", WatchFrom::After(1)).expect("watch");
        window.publish([event(4, "core/cm/a/ns/y")]);
        let items = take(&mut stream, 3).await;
        assert_eq!(revisions(&items), vec![2, 3, 4]);
        assert!(nothing_pending(&mut stream).await);
    }

    #[tokio::test]
    async fn restart_expires_watchers_behind_it_and_serves_later_ones() {
        let window = EventWindow::new(10, 0);
        window.publish((1..=2).map(|r| event(r, "core/cm/a/ns/x")));
        let mut behind = window.watch("", WatchFrom::After(1)).expect("watch");
        assert_eq!(revisions(&take(&mut behind, 1).await), vec![2]);
        window.restart(9);
        assert!(matches!(take(&mut behind, 1).await[0], Err(StorageError::Expired { requested: 2, oldest: 9 })));
        assert!(matches!(window.watch("", WatchFrom::After(5)), Err(StorageError::Expired { .. })));
        let mut fresh = window.watch("", WatchFrom::After(9)).expect("watch from the restart");
        window.publish([event(10, "core/cm/a/ns/y")]);
        assert_eq!(revisions(&take(&mut fresh, 1).await), vec![10]);
    }

    #[tokio::test]
    async fn now_sees_only_later_events() {
        let window = EventWindow::new(10, 0);
        window.publish([event(1, "k/1")]);
        let mut stream = window.watch("k/", WatchFrom::Now).expect("watch");
        assert!(nothing_pending(&mut stream).await);
        window.publish([event(2, "k/2")]);
        assert_eq!(revisions(&take(&mut stream, 1).await), vec![2]);
    }

    #[tokio::test]
    async fn prefix_filters_other_clusters() {
        let window = EventWindow::new(10, 0);
        window.publish([event(1, "core/cm/a/ns/x"), event(2, "core/cm/ab/ns/x"), event(3, "core/cm/a/ns/y"), event(4, "core/cm/b/ns/z")]);
        let mut stream = window.watch("core/cm/a/", WatchFrom::After(0)).expect("watch");
        let items = take(&mut stream, 2).await;
        assert_eq!(revisions(&items), vec![1, 3]);
        assert!(nothing_pending(&mut stream).await);
    }

    #[test]
    fn expired_when_events_were_evicted_or_predate_the_window() {
        let window = EventWindow::new(3, 10);
        window.publish((11..=15).map(|r| event(r, "k")));
        assert_eq!(window.oldest(), 12);
        assert_eq!(window.revision(), 15);
        let cases = [(0, false), (11, false), (12, true), (15, true), (20, true)];
        for (rv, ok) in cases {
            match window.watch("", WatchFrom::After(rv)) {
                Ok(_) => assert!(ok, "After({rv}) should be expired"),
                Err(StorageError::Expired { requested, oldest }) => {
                    assert!(!ok, "After({rv}) should be served");
                    assert_eq!((requested, oldest), (rv, 12));
                }
                Err(other) => panic!("unexpected {other:?}"),
            }
        }
    }

    #[tokio::test]
    async fn lagging_watcher_gets_one_expired_then_ends() {
        let window = EventWindow::new(4, 0);
        let mut stream = window.watch("", WatchFrom::Now).expect("watch");
        window.publish((1..=10).map(|r| event(r, "k")));
        match take(&mut stream, 1).await.pop() {
            Some(Err(StorageError::Expired { requested: 0, oldest: 6 })) => {}
            other => panic!("expected Expired, got {other:?}"),
        }
        assert!(stream.next().await.is_none());
    }

    #[tokio::test]
    async fn close_ends_streams_after_pending_events() {
        let window = EventWindow::new(10, 0);
        let mut stream = window.watch("", WatchFrom::Now).expect("watch");
        window.publish([event(1, "k")]);
        window.close();
        assert_eq!(revisions(&take(&mut stream, 1).await), vec![1]);
        assert!(stream.next().await.is_none());
    }

    #[tokio::test]
    async fn long_replays_cross_batches_in_order() {
        let total = (BATCH * 2 + 7) as u64;
        let window = EventWindow::new(total as usize, 0);
        window.publish((1..=total).map(|r| event(r, if r % 2 == 0 { "even" } else { "odd" })));
        let mut stream = window.watch("even", WatchFrom::After(0)).expect("watch");
        let items = take(&mut stream, (total / 2) as usize).await;
        assert_eq!(revisions(&items), (1..=total / 2).map(|i| i * 2).collect::<Vec<_>>());
    }
}
