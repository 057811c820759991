//! The garbage collector's view of ownership: which objects exist (by uid) and which dependents
//! name each owner. Fed by the informer in revision order.
//!
//! The index spans every object on the shard, so it is kept small: each key is allocated once
//! and shared by every map that names it, and uids are held as 128-bit values.

use std::collections::{HashMap, HashSet};
use std::hash::{Hash, Hasher};
use std::sync::Arc;

use apimachinery::meta::StoredMeta;
use apiserver::storage::key;

use crate::object_limit::ObjectCounts;
use serde_json::Value;

/// An object's uid as 128 bits. The shard assigns uids (UUIDs) on create and never changes
/// them, so one uid names one object on the shard; anything else a reference names is hashed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct Uid(u128);

impl Uid {
    fn of(uid: &str) -> Uid {
        if let Ok(u) = uuid::Uuid::try_parse(uid) {
            return Uid(u.as_u128());
        }
        let half = |seed: u8| {
            let mut h = std::hash::DefaultHasher::new();
            (seed, uid).hash(&mut h);
            u128::from(h.finish())
        };
        Uid(half(0) << 64 | half(1))
    }
}

/// A storage key, allocated once and shared by the maps.
type Key = Arc<str>;

/// The logical cluster of a storage key; ownerReferences never cross logical clusters.
fn cluster_of(key: &str) -> &str {
    key::decode(key).map(|(c, _, _)| c).unwrap_or_default()
}

/// Ownership of every object on the shard.
#[derive(Default)]
pub struct Index {
    /// Object key → uid, for every object that has one.
    uid_of: HashMap<Key, Uid>,
    /// uid → object key.
    key_of: HashMap<Uid, Key>,
    /// Owner uid → keys of the objects whose ownerReferences name it (readers keep only those
    /// in the owner's logical cluster).
    dependents: HashMap<Uid, HashSet<Key>>,
    /// Dependent key → its owners' uids, for objects that have owners.
    owners_of: HashMap<Key, Box<[Uid]>>,
    /// The newest revision recorded: every write up to it is reflected.
    revision: u64,
    /// Told of every key the index learns of or forgets: the index sees every object anyway.
    counts: Arc<ObjectCounts>,
}

/// The uids an object's ownerReferences name.
pub fn owner_uids(obj: &Value) -> Vec<String> {
    obj.pointer("/metadata/ownerReferences")
        .and_then(Value::as_array)
        .map(|refs| refs.iter().filter_map(|r| r["uid"].as_str().map(String::from)).collect())
        .unwrap_or_default()
}

impl Index {
    /// An empty index reporting keys to `counts`.
    pub fn counting_into(counts: Arc<ObjectCounts>) -> Index {
        Index { counts, ..Index::default() }
    }

    /// Records an object as it is at `revision`.
    pub fn present(&mut self, key: &str, obj: &StoredMeta, revision: u64) {
        self.revision = self.revision.max(revision);
        if key::decode(key).is_none() {
            return;
        }
        let shared = self.shared(key);
        let uid = obj.uid().filter(|u| !u.is_empty()).map(Uid::of);
        let old = match uid {
            Some(uid) => {
                self.key_of.insert(uid, shared.clone());
                let previous = self.uid_of.insert(shared.clone(), uid);
                if previous.is_none() {
                    self.counts.count(key, 1);
                }
                previous.filter(|old| *old != uid)
            }
            None => self.uid_of.remove(key).inspect(|_| self.counts.count(key, -1)),
        };
        if let Some(old) = old {
            self.forget_uid(old, key);
        }
        self.set_owners(&shared, obj.owner_uids().map(Uid::of).collect());
    }

    /// Forgets a deleted object; returns the keys of its dependents and of its owners, which
    /// both have something to do now.
    pub fn gone(&mut self, key: &str) -> (Vec<String>, Vec<String>) {
        let cluster = cluster_of(key);
        let owners: Vec<String> = self.owners_of.get(key).into_iter().flatten().filter_map(|o| self.key_in(cluster, *o)).map(String::from).collect();
        self.release(key);
        let Some(uid) = self.uid_of.remove(key) else { return (Vec::new(), owners) };
        self.counts.count(key, -1);
        self.forget_uid(uid, key);
        (self.dependents_in(cluster, uid), owners)
    }

    /// The keys the index holds that `listed` lacks: the informer asks at a relist, so that
    /// it need not keep a second copy of every key on the shard.
    pub fn vanished(&self, listed: &HashSet<&str>) -> Vec<String> {
        let held = self.uid_of.keys().chain(self.owners_of.keys().filter(|k| !self.uid_of.contains_key(*k)));
        held.filter(|k| !listed.contains(&***k)).map(|k| k.to_string()).collect()
    }

    /// Whether the index has seen every write up to `revision`.
    pub fn reflects(&self, revision: u64) -> bool {
        self.revision >= revision
    }

    /// Whether an object with this uid exists in the cluster.
    pub fn exists(&self, cluster: &str, uid: &str) -> bool {
        self.key_in(cluster, Uid::of(uid)).is_some()
    }

    /// Keys of the objects in the cluster that name this owner.
    pub fn dependents_of(&self, cluster: &str, uid: &str) -> Vec<String> {
        self.dependents_in(cluster, Uid::of(uid))
    }

    /// The key already held for `key`, or a new one.
    fn shared(&self, key: &str) -> Key {
        let held = self.uid_of.get_key_value(key).map(|(k, _)| k).or_else(|| self.owners_of.get_key_value(key).map(|(k, _)| k));
        held.cloned().unwrap_or_else(|| Key::from(key))
    }

    fn key_in(&self, cluster: &str, uid: Uid) -> Option<&str> {
        self.key_of.get(&uid).map(|k| &**k).filter(|k| cluster_of(k) == cluster)
    }

    fn dependents_in(&self, cluster: &str, uid: Uid) -> Vec<String> {
        self.dependents.get(&uid).into_iter().flatten().filter(|k| cluster_of(k) == cluster).map(|k| k.to_string()).collect()
    }

    /// Drops `uid → key` unless the uid has since moved to another key.
    fn forget_uid(&mut self, uid: Uid, key: &str) {
        if self.key_of.get(&uid).is_some_and(|k| &**k == key) {
            self.key_of.remove(&uid);
        }
    }

    /// Forgets which owners `dep` names.
    fn release(&mut self, dep: &str) {
        for o in self.owners_of.remove(dep).into_iter().flatten() {
            if let Some(set) = self.dependents.get_mut(&o) {
                set.remove(dep);
                if set.is_empty() {
                    self.dependents.remove(&o);
                }
            }
        }
    }

    fn set_owners(&mut self, dep: &Key, uids: Box<[Uid]>) {
        self.release(dep);
        if uids.is_empty() {
            return;
        }
        for id in uids.iter() {
            self.dependents.entry(*id).or_default().insert(dep.clone());
        }
        self.owners_of.insert(dep.clone(), uids);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(uid: &str, owners: &[&str]) -> StoredMeta {
        let refs: Vec<Value> = owners.iter().map(|u| serde_json::json!({"uid": u})).collect();
        StoredMeta::parse(serde_json::json!({"metadata": {"uid": uid, "ownerReferences": refs}}).to_string().as_bytes()).unwrap()
    }

    const OWNER: &str = "0b5ee3c5-54f4-4c4a-9d1e-5c8a3a0e6f01";
    const DEP: &str = "7d3f2a9e-1111-4c4a-9d1e-5c8a3a0e6f02";

    #[test]
    fn each_key_is_counted_once_while_it_exists() {
        let counts = Arc::new(ObjectCounts::default());
        let mut idx = Index::counting_into(counts.clone());
        idx.present("core/configmaps/c1/ns/a", &meta(OWNER, &[]), 1);
        idx.present("core/configmaps/c1/ns/a", &meta(OWNER, &[]), 2);
        idx.present("core/configmaps/c1/ns/b", &meta(DEP, &[]), 3);
        idx.present("core/configmaps/c2/ns/a", &meta("other", &[]), 4);
        assert_eq!((counts.objects("c1"), counts.objects("c2")), (2, 1), "an update is not a new object");
        idx.gone("core/configmaps/c1/ns/a");
        idx.gone("core/configmaps/c1/ns/a");
        assert_eq!(counts.objects("c1"), 1, "a key goes once");
    }

    #[test]
    fn owners_and_dependents_are_found_within_their_cluster_only() {
        let mut idx = Index::default();
        idx.present("core/configmaps/c1/ns/owner", &meta(OWNER, &[]), 1);
        idx.present("core/configmaps/c1/ns/dep", &meta(DEP, &[OWNER]), 2);
        // A tenant in another cluster naming the same uid neither sees the owner nor is its dependent.
        idx.present("core/configmaps/c2/ns/stranger", &meta("not-a-uuid", &[OWNER]), 3);
        assert!(idx.exists("c1", OWNER) && !idx.exists("c2", OWNER));
        assert_eq!(idx.dependents_of("c1", OWNER), ["core/configmaps/c1/ns/dep"]);
        assert!(idx.exists("c2", "not-a-uuid"), "non-UUID uids are indexed too");
        assert!(idx.reflects(3) && !idx.reflects(4));
        let mut vanished = idx.vanished(&["core/configmaps/c1/ns/dep"].into());
        vanished.sort();
        assert_eq!(vanished, ["core/configmaps/c1/ns/owner", "core/configmaps/c2/ns/stranger"], "what a relist no longer finds");

        let (deps, owners) = idx.gone("core/configmaps/c1/ns/owner");
        assert_eq!((deps, owners), (vec!["core/configmaps/c1/ns/dep".to_string()], vec![]));
        assert!(!idx.exists("c1", OWNER));
        let (deps, owners) = idx.gone("core/configmaps/c1/ns/dep");
        assert!(deps.is_empty() && owners.is_empty(), "its owner is gone already");
    }

    #[test]
    fn a_dependent_going_names_its_live_owner_and_updates_drop_old_references() {
        let mut idx = Index::default();
        idx.present("core/configmaps/c1/ns/owner", &meta(OWNER, &[]), 1);
        idx.present("core/configmaps/c1/ns/dep", &meta(DEP, &[OWNER]), 2);
        idx.present("core/configmaps/c1/ns/dep", &meta(DEP, &[]), 3);
        assert!(idx.dependents_of("c1", OWNER).is_empty(), "the update released the owner");
        idx.present("core/configmaps/c1/ns/dep", &meta(DEP, &[OWNER]), 4);
        let (deps, owners) = idx.gone("core/configmaps/c1/ns/dep");
        assert_eq!((deps, owners), (vec![], vec!["core/configmaps/c1/ns/owner".to_string()]));
        assert!(idx.dependents.is_empty() && idx.owners_of.is_empty() && idx.uid_of.len() == 1 && idx.key_of.len() == 1);
    }
}
