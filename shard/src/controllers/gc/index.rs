//! The garbage collector's view of ownership: which objects exist (by logical cluster and
//! uid) and which dependents name each owner. Fed by the informer in revision order.

use std::collections::{HashMap, HashSet};

use apimachinery::meta::StoredMeta;
use apiserver::storage::key;
use serde_json::Value;

/// (logical cluster, uid): ownerReferences never cross logical clusters.
pub type OwnerId = (String, String);

/// Ownership of every object on the shard.
#[derive(Default)]
pub struct Index {
    /// Owner → dependent keys.
    dependents: HashMap<OwnerId, HashSet<String>>,
    /// Dependent key → its owners.
    owners_of: HashMap<String, Vec<OwnerId>>,
    /// Object key → uid, for every object.
    uid_of: HashMap<String, String>,
    /// (cluster, uid) → key, for every object.
    key_of: HashMap<OwnerId, String>,
    /// The newest revision recorded: every write up to it is reflected.
    revision: u64,
}

/// The uids an object's ownerReferences name.
pub fn owner_uids(obj: &Value) -> Vec<String> {
    obj.pointer("/metadata/ownerReferences")
        .and_then(Value::as_array)
        .map(|refs| refs.iter().filter_map(|r| r["uid"].as_str().map(String::from)).collect())
        .unwrap_or_default()
}

impl Index {
    /// Records an object as it is at `revision`.
    pub fn present(&mut self, key: &str, obj: &StoredMeta, revision: u64) {
        self.revision = self.revision.max(revision);
        let Some((cluster, _, _)) = key::decode(key) else { return };
        let uid = obj.uid().unwrap_or_default().to_string();
        if let Some(old) = self.uid_of.insert(key.to_string(), uid.clone()) {
            self.key_of.remove(&(cluster.to_string(), old));
        }
        self.key_of.insert((cluster.to_string(), uid), key.to_string());
        self.set_owners(key, cluster, obj.owner_uids());
    }

    /// Forgets a deleted object; returns the keys of its dependents and of its owners, which
    /// both have something to do now.
    pub fn gone(&mut self, key: &str) -> (Vec<String>, Vec<String>) {
        let Some((cluster, _, _)) = key::decode(key) else { return Default::default() };
        let owners: Vec<String> = self.owners_of.get(key).into_iter().flatten().filter_map(|o| self.key_of.get(o).cloned()).collect();
        self.set_owners(key, cluster, Vec::new());
        let Some(uid) = self.uid_of.remove(key) else { return (Vec::new(), owners) };
        let id = (cluster.to_string(), uid);
        self.key_of.remove(&id);
        let deps = self.dependents.get(&id).map(|d| d.iter().cloned().collect()).unwrap_or_default();
        (deps, owners)
    }

    /// Whether the index has seen every write up to `revision`.
    pub fn reflects(&self, revision: u64) -> bool {
        self.revision >= revision
    }

    /// Whether an object with this uid exists in the cluster.
    pub fn exists(&self, cluster: &str, uid: &str) -> bool {
        self.key_of.contains_key(&(cluster.to_string(), uid.to_string()))
    }

    /// Keys of the objects that name this owner.
    pub fn dependents_of(&self, cluster: &str, uid: &str) -> Vec<String> {
        self.dependents.get(&(cluster.to_string(), uid.to_string())).map(|d| d.iter().cloned().collect()).unwrap_or_default()
    }

    fn set_owners(&mut self, dep: &str, cluster: &str, uids: Vec<String>) {
        if let Some(old) = self.owners_of.remove(dep) {
            for o in old {
                if let Some(set) = self.dependents.get_mut(&o) {
                    set.remove(dep);
                    if set.is_empty() {
                        self.dependents.remove(&o);
                    }
                }
            }
        }
        if uids.is_empty() {
            return;
        }
        let ids: Vec<OwnerId> = uids.into_iter().map(|u| (cluster.to_string(), u)).collect();
        for id in &ids {
            self.dependents.entry(id.clone()).or_default().insert(dep.to_string());
        }
        self.owners_of.insert(dep.to_string(), ids);
    }
}
