//! The state of one replica: every shard's replicated objects, and a window of recent changes
//! from which subscribers resume.
//!
//! Pure data, no I/O: [`crate::replica`] puts it behind a lock and broadcasts what it returns.
//! A shard's set is what its publisher last said: a snapshot replaces it whole, changes above
//! the shard's revision amend it. Nothing here survives a restart; publishers refill it.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;

use bytes::Bytes;
use proto::cache as pb;

/// Where an object lives inside one shard; ordered so that one resource's objects are adjacent.
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Key {
    /// API group (empty for the core group).
    pub group: String,
    /// Resource (plural, lower case).
    pub resource: String,
    /// Logical cluster.
    pub cluster: String,
    /// Namespace; empty for cluster-scoped objects.
    pub namespace: String,
    /// Object name.
    pub name: String,
}

impl Key {
    /// The key of a wire object key (absent: the empty key, which no filter treats specially).
    pub fn from_wire(key: Option<&pb::ObjectKey>) -> Key {
        key.map(|k| Key {
            group: k.group.clone(),
            resource: k.resource.clone(),
            cluster: k.cluster.clone(),
            namespace: k.namespace.clone(),
            name: k.name.clone(),
        })
        .unwrap_or_default()
    }

    /// The wire form of this key.
    pub fn to_wire(&self) -> pb::ObjectKey {
        pb::ObjectKey {
            group: self.group.clone(),
            resource: self.resource.clone(),
            cluster: self.cluster.clone(),
            namespace: self.namespace.clone(),
            name: self.name.clone(),
        }
    }
}

/// An object of a wire message, with its JSON in an allocation of its own: decoded messages
/// slice their payloads out of one receive buffer, which a kept slice would pin whole.
pub fn object_from_wire(object: &pb::Object) -> (Key, Bytes) {
    (Key::from_wire(object.key.as_ref()), Bytes::copy_from_slice(&object.json))
}

/// Which objects a reader wants; `None` matches everything.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Filter {
    /// Only this API group.
    pub group: Option<String>,
    /// Only this resource.
    pub resource: Option<String>,
    /// Only this shard.
    pub shard: Option<String>,
    /// Only this logical cluster.
    pub cluster: Option<String>,
}

fn given(s: &str) -> Option<String> {
    (!s.is_empty()).then(|| s.to_string())
}

impl Filter {
    /// The filter of a wire request (empty fields match everything).
    pub fn from_wire(f: Option<&pb::Filter>) -> Filter {
        f.map(|f| Filter { group: given(&f.group), resource: given(&f.resource), shard: given(&f.shard), cluster: given(&f.cluster) }).unwrap_or_default()
    }

    /// The wire form of this filter.
    pub fn to_wire(&self) -> pb::Filter {
        let s = |o: &Option<String>| o.clone().unwrap_or_default();
        pb::Filter { group: s(&self.group), resource: s(&self.resource), shard: s(&self.shard), cluster: s(&self.cluster) }
    }

    /// True when the filter lets a shard's objects through at all.
    pub fn admits_shard(&self, shard: &str) -> bool {
        self.shard.as_deref().is_none_or(|s| s == shard)
    }

    /// True when the filter lets this object of this shard through.
    pub fn matches(&self, shard: &str, key: &Key) -> bool {
        let ok = |want: &Option<String>, have: &str| want.as_deref().is_none_or(|w| w == have);
        self.admits_shard(shard) && ok(&self.group, &key.group) && ok(&self.resource, &key.resource) && ok(&self.cluster, &key.cluster)
    }
}

/// A shard's whole set (within some filter) at one revision.
#[derive(Debug, Clone, PartialEq)]
pub struct Snapshot {
    /// The publishing shard.
    pub shard: String,
    /// The shard revision the set is current at.
    pub revision: u64,
    /// The objects and their JSON.
    pub objects: Vec<(Key, Bytes)>,
}

/// One change of a shard's set.
#[derive(Debug, Clone, PartialEq)]
pub struct Change {
    /// The publishing shard.
    pub shard: String,
    /// The shard revision of the change.
    pub revision: u64,
    /// The changed object.
    pub key: Key,
    /// The new JSON, or `None` when the object was deleted.
    pub json: Option<Bytes>,
    /// When the publisher sent it (unix microseconds; 0 when unknown).
    pub published_unix_micros: u64,
}

impl Change {
    /// The change of a wire message from `shard`.
    pub fn from_wire(shard: &str, c: &pb::Change) -> Change {
        Change {
            shard: shard.to_string(),
            revision: c.revision,
            key: Key::from_wire(c.key.as_ref()),
            // Copied for the reason given at [`object_from_wire`].
            json: (!c.deleted).then(|| Bytes::copy_from_slice(&c.json)),
            published_unix_micros: c.published_unix_micros,
        }
    }

    /// The wire form, naming the shard.
    pub fn to_wire(&self) -> pb::Change {
        pb::Change {
            shard: self.shard.clone(),
            revision: self.revision,
            key: Some(self.key.to_wire()),
            json: self.json.clone().unwrap_or_default(),
            deleted: self.json.is_none(),
            published_unix_micros: self.published_unix_micros,
        }
    }
}

/// What a replica tells subscribers, in order per shard.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// The shard's set is now exactly this (deletions included by absence).
    Snapshot(Arc<Snapshot>),
    /// The shard's set changed by one object.
    Change(Arc<Change>),
    /// The shard's set was replaced at `revision`; read it with [`Store::snapshot_of`].
    /// (Broadcast instead of the set itself: a broadcast channel keeps its last values.)
    Replaced {
        /// The shard.
        shard: String,
        /// The revision of the snapshot that replaced the set.
        revision: u64,
    },
}

/// Returned when a publish stream has been superseded by a newer one for the same shard.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("a newer publish stream of this shard took over")]
pub struct Superseded;

/// One shard's objects.
#[derive(Debug, Default)]
struct ShardSet {
    /// Revision of the last snapshot or change applied.
    revision: u64,
    /// The window holds every change of this shard above this revision.
    floor: u64,
    /// The publish stream allowed to write; older streams are refused.
    session: u64,
    /// Whether a snapshot arrived: before that, the replica knows nothing of the shard.
    loaded: bool,
    objects: BTreeMap<Key, Bytes>,
}

/// Everything one replica holds.
#[derive(Debug)]
pub struct Store {
    shards: BTreeMap<String, ShardSet>,
    window: VecDeque<Arc<Change>>,
    window_size: usize,
    sessions: u64,
}

impl Store {
    /// An empty store keeping the last `window_size` changes (of all shards) for resuming.
    pub fn new(window_size: usize) -> Store {
        Store { shards: BTreeMap::new(), window: VecDeque::new(), window_size, sessions: 0 }
    }

    /// Starts a publish session for `shard`, superseding any earlier one.
    pub fn open(&mut self, shard: &str) -> u64 {
        self.sessions += 1;
        self.shards.entry(shard.to_string()).or_default().session = self.sessions;
        self.sessions
    }

    fn session(&mut self, shard: &str, session: u64) -> Result<&mut ShardSet, Superseded> {
        self.shards.get_mut(shard).filter(|s| s.session == session).ok_or(Superseded)
    }

    /// Replaces the shard's whole set. Older window entries of the shard go: they describe a
    /// history the snapshot may contradict, so readers behind it must take the snapshot.
    pub fn replace(&mut self, session: u64, snapshot: Snapshot) -> Result<Event, Superseded> {
        let set = self.session(&snapshot.shard, session)?;
        set.objects = snapshot.objects.iter().cloned().collect();
        set.revision = snapshot.revision;
        set.floor = snapshot.revision;
        set.loaded = true;
        self.window.retain(|c| c.shard != snapshot.shard);
        Ok(Event::Replaced { shard: snapshot.shard, revision: snapshot.revision })
    }

    /// Applies a change; `None` when the shard already has its revision (a replay).
    pub fn apply(&mut self, session: u64, change: Change) -> Result<Option<Event>, Superseded> {
        let set = self.session(&change.shard, session)?;
        // A change before the snapshot has nothing to amend: the snapshot will include it.
        if !set.loaded || change.revision <= set.revision {
            return Ok(None);
        }
        set.revision = change.revision;
        match &change.json {
            Some(json) => set.objects.insert(change.key.clone(), json.clone()),
            None => set.objects.remove(&change.key),
        };
        let change = Arc::new(change);
        self.window.push_back(change.clone());
        while self.window.len() > self.window_size {
            if let Some(old) = self.window.pop_front() {
                if let Some(set) = self.shards.get_mut(&old.shard) {
                    set.floor = set.floor.max(old.revision);
                }
            }
        }
        Ok(Some(Event::Change(change)))
    }

    /// What a subscriber holding `resume` (revision per shard) needs to be current: the
    /// window's later changes for shards it covers, a snapshot for shards it does not cover
    /// (never seen, fallen out of the window, or ahead of this replica). Shards this replica
    /// has no data for are left out: it knows nothing that could correct the subscriber.
    pub fn catch_up(&self, filter: &Filter, resume: &BTreeMap<String, u64>) -> Vec<Event> {
        let mut events = Vec::new();
        for (shard, set) in self.shards.iter().filter(|(shard, set)| set.loaded && filter.admits_shard(shard)) {
            match resume.get(shard) {
                Some(&at) if at >= set.floor && at <= set.revision => {
                    let later = self.window.iter().filter(|c| &c.shard == shard && c.revision > at && filter.matches(shard, &c.key));
                    events.extend(later.map(|c| Event::Change(c.clone())));
                }
                _ => events.push(Event::Snapshot(Arc::new(self.snapshot(shard, set, filter)))),
            }
        }
        events
    }

    /// The shard's current set within `filter`, if the shard is known.
    pub fn snapshot_of(&self, shard: &str, filter: &Filter) -> Option<Snapshot> {
        let set = self.shards.get(shard).filter(|s| s.loaded)?;
        Some(self.snapshot(shard, set, filter))
    }

    fn snapshot(&self, shard: &str, set: &ShardSet, filter: &Filter) -> Snapshot {
        let objects = set.objects.iter().filter(|(k, _)| filter.matches(shard, k)).map(|(k, v)| (k.clone(), v.clone())).collect();
        Snapshot { shard: shard.to_string(), revision: set.revision, objects }
    }

    /// Revision per shard.
    pub fn revisions(&self) -> BTreeMap<String, u64> {
        self.shards.iter().map(|(s, set)| (s.clone(), set.revision)).collect()
    }

    /// The object at `key` in `shard`, or in whichever shard has it, with that shard's name.
    pub fn find(&self, shard: Option<&str>, key: &Key) -> Option<(String, Bytes)> {
        let mut shards = self.shards.iter().filter(|(s, _)| shard.is_none_or(|want| want == s.as_str()));
        shards.find_map(|(s, set)| set.objects.get(key).map(|json| (s.clone(), json.clone())))
    }

    /// Every object the filter admits, with its shard, in shard then key order.
    pub fn list(&self, filter: &Filter) -> Vec<(String, Key, Bytes)> {
        let mut out = Vec::new();
        for (shard, set) in self.shards.iter().filter(|(s, _)| filter.admits_shard(s)) {
            out.extend(set.objects.iter().filter(|(k, _)| filter.matches(shard, k)).map(|(k, v)| (shard.clone(), k.clone(), v.clone())));
        }
        out
    }

    /// Number of objects per (group, resource), across shards.
    pub fn counts(&self) -> BTreeMap<(String, String), usize> {
        let mut counts = BTreeMap::new();
        for key in self.shards.values().flat_map(|s| s.objects.keys()) {
            *counts.entry((key.group.clone(), key.resource.clone())).or_default() += 1;
        }
        counts
    }
}

#[cfg(test)]
mod tests;
