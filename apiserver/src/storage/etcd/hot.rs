//! Keys read on nearly every request (a request's logical cluster, its namespace, the
//! workspaces of its path), kept in memory from the watch feed so that reading them costs no
//! etcd round trip.
//!
//! Served reads stay as fresh as etcd's: this shard is the only writer under its prefix, and
//! it acknowledges a write only once the feed has delivered it, so the memory copy holds every
//! acknowledged write. When that chain breaks (a write acknowledged before the feed delivered
//! it, or history lost to compaction) reads go to etcd until the feed has caught up again.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::RwLock;

use bytes::Bytes;

use crate::storage::{Event, EventKind, StorageError, Stored};

/// The in-memory copy of every key under some prefixes.
#[derive(Default)]
pub(super) struct HotKeys {
    prefixes: Vec<String>,
    /// Key → (value, revision).
    entries: RwLock<HashMap<String, (Bytes, u64)>>,
    /// Whether `entries` holds every key under the prefixes as of the feed's revision.
    complete: AtomicBool,
    /// The newest revision acknowledged before the feed had delivered it; reads are served
    /// from memory only once the feed is past it.
    unseen: AtomicU64,
}

impl HotKeys {
    /// A copy of the keys under `prefixes`, empty until [`HotKeys::fill`].
    pub fn new(prefixes: Vec<String>) -> HotKeys {
        HotKeys { prefixes, ..HotKeys::default() }
    }

    fn covers(&self, key: &str) -> bool {
        self.prefixes.iter().any(|p| key.starts_with(p.as_str()))
    }

    /// The prefixes to list when filling.
    pub fn prefixes(&self) -> &[String] {
        &self.prefixes
    }

    /// Whether a fill is needed before reads can be served.
    pub fn is_complete(&self) -> bool {
        self.complete.load(Ordering::Acquire)
    }

    /// Replaces the copy with a listing of every prefix (all read at one revision).
    pub fn fill(&self, items: Vec<Stored>) {
        let entries = items.into_iter().map(|s| (s.key, (s.value, s.revision))).collect();
        *self.entries.write().unwrap_or_else(|e| e.into_inner()) = entries;
        self.complete.store(true, Ordering::Release);
    }

    /// Forgets completeness: events were lost, so a new fill must come first.
    pub fn invalidate(&self) {
        self.complete.store(false, Ordering::Release);
    }

    /// Records a write acknowledged before the feed delivered it.
    pub fn acknowledged_unseen(&self, revision: u64) {
        self.unseen.fetch_max(revision, Ordering::AcqRel);
    }

    /// Applies the feed's events, before they count as seen.
    pub fn apply(&self, events: &[Event]) {
        let mut covered = events.iter().filter(|e| self.covers(&e.key)).peekable();
        if covered.peek().is_none() {
            return;
        }
        let mut entries = self.entries.write().unwrap_or_else(|e| e.into_inner());
        for event in covered {
            match event.kind {
                EventKind::Deleted => entries.remove(&event.key),
                _ => entries.insert(event.key.clone(), (event.value.clone(), event.revision)),
            };
        }
    }

    /// The key's current state from memory, when memory can answer for it: `None` when the
    /// key is not covered or the copy may be behind what was acknowledged (`seen` is the
    /// feed's revision).
    pub fn get(&self, key: &str, seen: u64) -> Option<Result<Stored, StorageError>> {
        if !self.covers(key) || !self.is_complete() || seen < self.unseen.load(Ordering::Acquire) {
            return None;
        }
        let entries = self.entries.read().unwrap_or_else(|e| e.into_inner());
        Some(match entries.get(key) {
            Some((value, revision)) => Ok(Stored { key: key.to_owned(), value: value.clone(), revision: *revision }),
            None => Err(StorageError::NotFound { key: key.to_owned() }),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(kind: EventKind, key: &str, revision: u64) -> Event {
        Event { kind, key: key.into(), value: Bytes::from(format!("v{revision}")), revision, prev: None }
    }

    #[test]
    fn answers_only_for_covered_keys_once_complete_and_caught_up() {
        let hot = HotKeys::new(vec!["core/namespaces/".into()]);
        assert!(hot.get("core/namespaces/c//a", 0).is_none(), "not filled yet");
        hot.fill(vec![Stored { key: "core/namespaces/c//a".into(), value: Bytes::from("v1"), revision: 1 }]);
        assert_eq!(hot.get("core/namespaces/c//a", 1).unwrap().unwrap().revision, 1);
        assert!(hot.get("core/configmaps/c/a/x", 1).is_none(), "not covered");

        hot.apply(&[event(EventKind::Added, "core/namespaces/c//b", 2), event(EventKind::Deleted, "core/namespaces/c//a", 3)]);
        assert_eq!(hot.get("core/namespaces/c//b", 3).unwrap().unwrap().value, Bytes::from("v2"));
        assert!(matches!(hot.get("core/namespaces/c//a", 3), Some(Err(StorageError::NotFound { .. }))), "a miss is authoritative");

        hot.acknowledged_unseen(5);
        assert!(hot.get("core/namespaces/c//b", 4).is_none(), "the feed is behind an acknowledged write");
        assert!(hot.get("core/namespaces/c//b", 5).is_some());
        hot.invalidate();
        assert!(hot.get("core/namespaces/c//b", 5).is_none(), "events were lost");
    }
}
