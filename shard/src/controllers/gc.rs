//! Garbage collection through ownerReferences, within one logical cluster.
//!
//! An in-memory index maps each owner uid to the keys of its dependents. When an owner is
//! gone, its dependents lose that reference and are deleted once they have no owner left
//! (background). An owner with the `foregroundDeletion` finalizer waits until its dependents are
//! gone; one with `orphan` releases its dependents and keeps them.

use std::collections::{HashMap, HashSet};

use apiserver::rest::delete::{FOREGROUND_FINALIZER, ORPHAN_FINALIZER};
use apiserver::rest::object;
use apiserver::storage::{key, SharedStorage};
use serde_json::Value;

use super::{run_informer, Change};

/// (logical cluster, owner uid).
type OwnerId = (String, String);

#[derive(Default)]
struct Index {
    /// Owner → dependent keys.
    dependents: HashMap<OwnerId, HashSet<String>>,
    /// Dependent key → its owners.
    owners_of: HashMap<String, Vec<OwnerId>>,
    /// Object key → uid, for every object that is an owner or in foreground/orphan deletion.
    uid_of: HashMap<String, String>,
    /// Owner uid → key, for owners waiting on dependents.
    waiting: HashMap<OwnerId, String>,
}

fn owner_uids(obj: &Value) -> Vec<String> {
    obj.pointer("/metadata/ownerReferences")
        .and_then(Value::as_array)
        .map(|refs| refs.iter().filter_map(|r| r["uid"].as_str().map(String::from)).collect())
        .unwrap_or_default()
}

/// Runs the garbage collector forever.
pub async fn run(store: SharedStorage) {
    let index = std::sync::Arc::new(tokio::sync::Mutex::new(Index::default()));
    run_informer(store.clone(), String::new(), move |change| {
        let (store, index) = (store.clone(), index.clone());
        async move {
            let mut idx = index.lock().await;
            match change {
                Change::Present(s) => {
                    let Some((cluster, _, _)) = key::decode(&s.key) else { return };
                    let Ok(obj) = serde_json::from_slice::<Value>(&s.value) else { return };
                    let cluster = cluster.to_string();
                    let uid = object::meta_str(&obj, "uid").to_string();
                    idx.set_owners(&s.key, &cluster, owner_uids(&obj));
                    idx.uid_of.insert(s.key.clone(), uid.clone());
                    let fins = object::finalizers(&obj);
                    if object::is_deleting(&obj) && fins.iter().any(|f| f == FOREGROUND_FINALIZER || f == ORPHAN_FINALIZER) {
                        let id = (cluster, uid);
                        idx.waiting.insert(id.clone(), s.key.clone());
                        let orphan = fins.iter().any(|f| f == ORPHAN_FINALIZER);
                        let deps: Vec<String> = idx.dependents.get(&id).map(|d| d.iter().cloned().collect()).unwrap_or_default();
                        drop(idx);
                        for dep in &deps {
                            let r = if orphan { release(&store, dep, &id.1).await } else { super::delete(&store, dep, Some(FOREGROUND_FINALIZER)).await };
                            if let Err(e) = r {
                                tracing::warn!(key = %dep, error = %e, "garbage collecting dependent failed");
                            }
                        }
                        if orphan || deps.is_empty() {
                            let fin = if orphan { ORPHAN_FINALIZER } else { FOREGROUND_FINALIZER };
                            if let Err(e) = super::remove_finalizer(&store, &s.key, fin).await {
                                tracing::warn!(key = %s.key, error = %e, "releasing owner failed");
                            }
                        }
                    }
                }
                Change::Gone(s) => {
                    let Some((cluster, _, _)) = key::decode(&s.key) else { return };
                    let cluster = cluster.to_string();
                    let uid = idx.uid_of.remove(&s.key).unwrap_or_default();
                    let owners = idx.owners_of.get(&s.key).cloned().unwrap_or_default();
                    idx.set_owners(&s.key, &cluster, Vec::new());
                    let id = (cluster, uid);
                    idx.waiting.remove(&id);
                    let deps: Vec<String> = idx.dependents.remove(&id).map(|d| d.into_iter().collect()).unwrap_or_default();
                    // An owner in foreground deletion may have just lost its last dependent.
                    let released: Vec<String> = owners
                        .iter()
                        .filter(|o| idx.dependents.get(o).is_none_or(|d| d.is_empty()))
                        .filter_map(|o| idx.waiting.get(o).cloned())
                        .collect();
                    drop(idx);
                    for dep in deps {
                        if let Err(e) = orphan_or_delete(&store, &dep, &id.1).await {
                            tracing::warn!(key = %dep, error = %e, "garbage collecting dependent failed");
                        }
                    }
                    for owner in released {
                        if let Err(e) = super::remove_finalizer(&store, &owner, FOREGROUND_FINALIZER).await {
                            tracing::warn!(key = %owner, error = %e, "releasing owner failed");
                        }
                    }
                }
            }
        }
    })
    .await;
}

impl Index {
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

/// Drops the reference to a vanished owner; deletes the dependent when no owner is left.
async fn orphan_or_delete(store: &SharedStorage, dep: &str, owner_uid: &str) -> Result<(), apiserver::storage::StorageError> {
    let mut now_orphan = false;
    super::update(store, dep, |obj| {
        let before = owner_uids(obj);
        if !before.iter().any(|u| u == owner_uid) {
            return false;
        }
        strip_owner(obj, owner_uid);
        now_orphan = owner_uids(obj).is_empty();
        !now_orphan
    })
    .await?;
    if now_orphan {
        super::delete(store, dep, None).await?;
    }
    Ok(())
}

/// Removes an owner's reference from a dependent and keeps the dependent.
async fn release(store: &SharedStorage, dep: &str, owner_uid: &str) -> Result<(), apiserver::storage::StorageError> {
    super::update(store, dep, |obj| {
        if !owner_uids(obj).iter().any(|u| u == owner_uid) {
            return false;
        }
        strip_owner(obj, owner_uid);
        true
    })
    .await
}

fn strip_owner(obj: &mut Value, owner_uid: &str) {
    let meta = object::meta_mut(obj);
    let refs: Vec<Value> = meta
        .get("ownerReferences")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter(|r| r["uid"] != owner_uid).cloned().collect())
        .unwrap_or_default();
    if refs.is_empty() {
        meta.remove("ownerReferences");
    } else {
        meta.insert("ownerReferences".into(), Value::Array(refs));
    }
}
