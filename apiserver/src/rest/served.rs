//! Objects as LISTs last served them, so the next LIST of the same revisions copies them whole.
//!
//! Serving a stored object means scanning its text for the fields that change on the way out
//! (see [`super::encoded`]); for a page of ConfigMaps that scan was a third of a LIST's CPU. A
//! stored object is identified by its key and revision, and what is served for it depends only
//! on those and on the `apiVersion` asked for, so the bytes can be kept and reused until the
//! object changes: a new revision simply no longer matches.
//!
//! The cache is bounded: it is split by key into shards, and a shard that would outgrow its
//! share is emptied before it takes the new entry. That forgets entries of objects that were
//! deleted or rewritten, and under a working set larger than the bound it costs one scan per
//! miss, which is what serving cost without the cache.

use std::collections::HashMap;
use std::hash::{BuildHasher, RandomState};
use std::sync::{Mutex, MutexGuard};

use crate::storage::Stored;

/// Shards, so that concurrent LISTs rarely wait on one another's lock.
const SHARDS: usize = 16;

/// Bytes every entry costs beyond its key and served text: the map slot and the allocations.
const ENTRY_OVERHEAD: usize = 96;

/// What a shard's cache holds at most: pages of hot lists, not a second copy of the store.
const DEFAULT_BUDGET: usize = 16 << 20;

/// Served encodings of stored objects, by key.
pub struct ServedCache {
    shards: Box<[Mutex<Shard>]>,
    hasher: RandomState,
    /// The most one shard holds, in bytes.
    shard_budget: usize,
}

#[derive(Default)]
struct Shard {
    entries: HashMap<String, Entry>,
    bytes: usize,
}

struct Entry {
    revision: u64,
    api_version: Option<Box<str>>,
    served: Box<[u8]>,
}

impl Default for ServedCache {
    fn default() -> ServedCache {
        ServedCache::new(DEFAULT_BUDGET)
    }
}

impl ServedCache {
    /// A cache holding at most about `budget` bytes.
    pub fn new(budget: usize) -> ServedCache {
        let shards = (0..SHARDS).map(|_| Mutex::default()).collect();
        ServedCache { shards, hasher: RandomState::new(), shard_budget: budget / SHARDS }
    }

    fn shard(&self, key: &str) -> MutexGuard<'_, Shard> {
        let index = self.hasher.hash_one(key) as usize % SHARDS;
        // Entries are only ever replaced whole, so a panicking holder leaves a usable shard.
        self.shards[index].lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Appends what was served for `stored` with `api_version` to `out`; false when that is not
    /// known for this revision.
    pub fn append(&self, stored: &Stored, api_version: Option<&str>, out: &mut Vec<u8>) -> bool {
        let shard = self.shard(&stored.key);
        match shard.entries.get(stored.key.as_str()) {
            Some(e) if e.revision == stored.revision && e.api_version.as_deref() == api_version => {
                out.extend_from_slice(&e.served);
                true
            }
            _ => false,
        }
    }

    /// Records that `stored`, asked for with `api_version`, is served as `served`.
    pub fn insert(&self, stored: &Stored, api_version: Option<&str>, served: &[u8]) {
        let cost = stored.key.len() + served.len() + ENTRY_OVERHEAD;
        if cost > self.shard_budget {
            return;
        }
        let mut shard = self.shard(&stored.key);
        let entry = Entry { revision: stored.revision, api_version: api_version.map(Box::from), served: served.into() };
        if let Some(old) = shard.entries.insert(stored.key.clone(), entry) {
            shard.bytes -= stored.key.len() + old.served.len() + ENTRY_OVERHEAD;
        }
        shard.bytes += cost;
        if shard.bytes > self.shard_budget {
            let entry = shard.entries.remove(stored.key.as_str());
            shard.entries.clear();
            shard.bytes = cost;
            shard.entries.extend(entry.map(|e| (stored.key.clone(), e)));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    fn stored(key: &str, revision: u64) -> Stored {
        Stored { key: key.into(), value: Bytes::new(), revision }
    }

    fn served(cache: &ServedCache, stored: &Stored, api_version: Option<&str>) -> Option<Vec<u8>> {
        let mut out = b"[".to_vec();
        cache.append(stored, api_version, &mut out).then(|| out.split_off(1))
    }

    #[test]
    fn an_entry_serves_only_its_revision_and_version() {
        let cache = ServedCache::new(1 << 20);
        let v1 = stored("core/configmaps/c/ns/a", 7);
        assert_eq!(served(&cache, &v1, None), None);
        cache.insert(&v1, None, b"{\"a\":7}");
        assert_eq!(served(&cache, &v1, None).as_deref(), Some(&b"{\"a\":7}"[..]), "appended after what out held");
        assert_eq!(served(&cache, &stored("core/configmaps/c/ns/a", 8), None), None, "a newer revision is a miss");
        assert_eq!(served(&cache, &v1, Some("example.io/v2")), None, "another version is a miss");
        assert_eq!(served(&cache, &stored("core/configmaps/c/ns/b", 7), None), None);
        cache.insert(&v1, Some("example.io/v2"), b"{\"v\":2}");
        assert_eq!(served(&cache, &v1, Some("example.io/v2")).as_deref(), Some(&b"{\"v\":2}"[..]));
        assert_eq!(served(&cache, &v1, None), None, "one entry per key: the last one served");
    }

    #[test]
    fn the_cache_stays_within_its_budget() {
        let cache = ServedCache::new(SHARDS * 4096);
        let text = vec![b'x'; 1000];
        for i in 0..1000 {
            cache.insert(&stored(&format!("core/configmaps/c/ns/{i}"), i), None, &text);
        }
        let held: usize = cache.shards.iter().map(|s| s.lock().expect("shard").bytes).sum();
        let entries: usize = cache.shards.iter().map(|s| s.lock().expect("shard").entries.len()).sum();
        assert!(held <= SHARDS * 4096, "{held} bytes held");
        assert!(entries >= SHARDS, "every shard keeps at least its newest entry: {entries}");
        // The newest entry survives the emptying it caused.
        assert!(served(&cache, &stored("core/configmaps/c/ns/999", 999), None).is_some());
        // Replacing an entry accounts for the one it replaces.
        let cache = ServedCache::new(SHARDS * 4096);
        for revision in 0..100 {
            cache.insert(&stored("core/configmaps/c/ns/a", revision), None, &text);
        }
        let held: usize = cache.shards.iter().map(|s| s.lock().expect("shard").bytes).sum();
        assert_eq!(held, "core/configmaps/c/ns/a".len() + text.len() + ENTRY_OVERHEAD);
        // An entry bigger than a shard is not kept at all.
        cache.insert(&stored("core/configmaps/c/ns/huge", 1), None, &vec![b'x'; 8192]);
        assert!(served(&cache, &stored("core/configmaps/c/ns/huge", 1), None).is_none());
    }
}
