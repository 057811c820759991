//! The [`Sink`] over the cache client's publisher: gathers the initial set into one snapshot,
//! then forwards each change with a revision that only grows.

use std::collections::BTreeMap;
use std::sync::Mutex;

use apiserver::storage::Key;
use bytes::Bytes;
use cache_server::client::Publisher;
use cache_server::store::Key as CacheKey;

use super::Sink;

/// What the sink knows between calls.
#[derive(Default)]
struct State {
    /// The set being gathered until the informers have listed; None afterwards.
    initial: Option<BTreeMap<CacheKey, Bytes>>,
    /// The last revision handed to the publisher.
    revision: u64,
}

/// Publishes a shard's replicated objects to every cache replica.
pub struct PublisherSink {
    publisher: Publisher,
    state: Mutex<State>,
}

impl PublisherSink {
    /// Feeds `publisher`, which sends nothing until the initial set is complete. Revisions
    /// start above `revision` (the store's when publishing starts), so a restarted shard never
    /// goes back behind what it published before.
    pub fn new(publisher: Publisher, revision: u64) -> PublisherSink {
        PublisherSink { publisher, state: Mutex::new(State { initial: Some(BTreeMap::new()), revision }) }
    }
}

fn cache_key(key: &Key<'_>) -> CacheKey {
    CacheKey {
        group: key.group.to_string(),
        resource: key.resource.to_string(),
        cluster: key.cluster.to_string(),
        namespace: key.namespace.to_string(),
        name: key.name.to_string(),
    }
}

impl Sink for PublisherSink {
    fn set(&self, key: &Key<'_>, json: Option<Bytes>, revision: u64) {
        let key = cache_key(key);
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let State { initial, revision: last } = &mut *state;
        // Kinds are followed by separate informers, so one kind's change may arrive after
        // another's newer one: the revision handed on is kept growing regardless.
        *last = revision.max(*last + 1);
        if let Some(initial) = initial {
            match json {
                Some(json) => initial.insert(key, json),
                None => initial.remove(&key),
            };
            return;
        }
        match json {
            Some(json) => self.publisher.upsert(*last, key, json),
            None => self.publisher.delete(*last, key),
        }
    }

    fn synced(&self) {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let Some(initial) = state.initial.take() else { return };
        self.publisher.reset(state.revision, initial);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn gathers_then_forwards_with_growing_revisions() {
        let publisher = Publisher::start("root", Vec::new());
        let sink = PublisherSink::new(publisher, 0);
        let k = |name: &'static str| Key { group: "tenancy.kcp.io", resource: "workspacetypes", cluster: "root", namespace: "", name };
        sink.set(&k("a"), Some(Bytes::from_static(b"{}")), 10);
        sink.set(&k("b"), Some(Bytes::from_static(b"{}")), 5);
        sink.set(&k("b"), None, 12);
        assert_eq!(sink.publisher.revision(), 0, "nothing is sent before the set is complete");
        sink.synced();
        assert_eq!(sink.publisher.revision(), 12);
        // An older revision from another informer still moves forward.
        sink.set(&k("c"), Some(Bytes::from_static(b"{}")), 7);
        assert_eq!(sink.publisher.revision(), 13);
        // Withdrawing what was never published sends nothing.
        sink.set(&k("never"), None, 20);
        assert_eq!(sink.publisher.revision(), 13);
        sink.set(&k("a"), None, 21);
        assert_eq!(sink.publisher.revision(), 21);
    }
}
