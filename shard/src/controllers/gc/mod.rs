//! Garbage collection through ownerReferences, within one logical cluster.
//!
//! An in-memory [`index::Index`] maps each owner to its dependents. A dependent whose owner is
//! gone loses that reference, and is deleted once it has no owner left (background). An owner
//! with the `foregroundDeletion` finalizer waits until its dependents are gone; one with
//! `orphan` releases its dependents and keeps them.
//!
//! Keys are the objects themselves: a dependent is queued when an owner of it goes, an owner
//! when one of its dependents goes, and each reconcile decides from the index as it is then.

pub mod index;

use std::sync::{Arc, Mutex, MutexGuard};

use apiserver::rest::client::{ObjectRef, SystemClient};
use apiserver::rest::delete::{FOREGROUND_FINALIZER, ORPHAN_FINALIZER};
use apiserver::rest::object;
use serde_json::Value;

use super::{remove_finalizer, update, Error, Part};
use crate::object_limit::ObjectCounts;
use apimachinery::meta::StoredMeta;
use apiserver::controller::{Action, Change, Controller, Informers, Known, Reconcile};
use index::{owner_uids, Index};

/// The controller's name (metrics, logs, identity).
pub const NAME: &str = "garbage-collector";

/// How long a reconcile waits for the index to catch up with what it read.
const CATCH_UP: std::time::Duration = std::time::Duration::from_millis(50);

/// Deletes and releases dependents as their owners go.
pub struct GarbageCollector {
    /// Reads owners and deletes dependents as the controller.
    pub client: SystemClient,
    index: Arc<Mutex<Index>>,
}

impl GarbageCollector {
    /// A collector with an empty index (the controller's informer fills it), which reports
    /// every key it learns of or forgets to `counts`.
    pub fn new(client: SystemClient, counts: Arc<ObjectCounts>) -> Self {
        GarbageCollector { client, index: Arc::new(Mutex::new(Index::counting_into(counts))) }
    }

    fn index(&self) -> MutexGuard<'_, Index> {
        self.index.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The controller, fed by every object of the shard.
pub fn controller(reconciler: GarbageCollector, informers: &Informers) -> Controller<GarbageCollector> {
    let index = reconciler.index.clone();
    informers.remember_with(IndexedKeys(index.clone()));
    Controller::new(NAME, reconciler).workers(2).watches(informers, "", move |change: &Change| {
        let mut idx = index.lock().unwrap_or_else(|e| e.into_inner());
        let keys: Vec<String> = match change {
            Change::Present(s) => {
                let Ok(obj) = StoredMeta::parse(&s.value) else { return Vec::new() };
                idx.present(&s.key, &obj, s.revision);
                let waits = obj.deleting() && obj.finalizers().iter().any(|f| f == FOREGROUND_FINALIZER || f == ORPHAN_FINALIZER);
                // An owner listed after its dependent is not known yet here; the reconcile,
                // which runs once everything is listed, decides.
                let cluster = apiserver::storage::key::decode(&s.key).map(|(c, _, _)| c).unwrap_or_default();
                let orphaned = obj.owner_uids().any(|u| !idx.exists(cluster, u));
                if waits || orphaned {
                    vec![s.key.clone()]
                } else {
                    Vec::new()
                }
            }
            Change::Gone(key) => {
                let (deps, owners) = idx.gone(key);
                deps.into_iter().chain(owners).collect()
            }
        };
        keys.iter().filter_map(|k| ObjectRef::from_key(k)).collect::<Vec<_>>()
    })
}

/// The index holds every key of the shard, so it is the shared informer's record of them too.
struct IndexedKeys(Arc<Mutex<Index>>);

impl Known for IndexedKeys {
    fn saw(&mut self, _: &Change) {}

    fn vanished(&self, listed: &std::collections::HashSet<&str>) -> Vec<String> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).vanished(listed)
    }
}

impl Reconcile for GarbageCollector {
    type Key = ObjectRef;
    type Error = Error;

    async fn reconcile(&self, r: &ObjectRef) -> Result<Action, Error> {
        let Some(obj) = self.client.get(r).await? else { return Ok(Action::Done) };
        let dead: Vec<String> = {
            let idx = self.index();
            // An owner created just before this version of the object may not be indexed yet:
            // absence means something only once the index has caught up.
            let revision = object::resource_version(&obj)?.unwrap_or_default();
            if !idx.reflects(revision) {
                return Ok(Action::RequeueAfter(CATCH_UP));
            }
            owner_uids(&obj).into_iter().filter(|u| !idx.exists(&r.cluster, u)).collect()
        };
        if !dead.is_empty() {
            if owner_uids(&obj).len() == dead.len() {
                self.client.delete(r, None).await?;
                return Ok(Action::Done);
            }
            update(&self.client, r, Part::Main, |obj| strip_owners(obj, &dead)).await?;
        }
        let fins = object::finalizers(&obj);
        if !object::is_deleting(&obj) {
            return Ok(Action::Done);
        }
        let uid = object::meta_str(&obj, "uid").to_string();
        let deps = self.index().dependents_of(&r.cluster, &uid);
        if fins.iter().any(|f| f == ORPHAN_FINALIZER) {
            for dep in deps.iter().filter_map(|k| ObjectRef::from_key(k)) {
                update(&self.client, &dep, Part::Main, |obj| strip_owners(obj, std::slice::from_ref(&uid))).await?;
            }
            remove_finalizer(&self.client, r, ORPHAN_FINALIZER).await?;
        } else if fins.iter().any(|f| f == FOREGROUND_FINALIZER) {
            for dep in deps.iter().filter_map(|k| ObjectRef::from_key(k)) {
                self.client.delete(&dep, Some("Foreground")).await?;
            }
            // The last dependent's going queues this owner again.
            if deps.is_empty() {
                remove_finalizer(&self.client, r, FOREGROUND_FINALIZER).await?;
            }
        }
        Ok(Action::Done)
    }
}

/// Removes the references to `uids` from an object's ownerReferences; false if it had none.
fn strip_owners(obj: &mut Value, uids: &[String]) -> bool {
    if !owner_uids(obj).iter().any(|u| uids.contains(u)) {
        return false;
    }
    let meta = object::meta_mut(obj);
    let refs: Vec<Value> = meta
        .get("ownerReferences")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter(|r| !r["uid"].as_str().is_some_and(|u| uids.iter().any(|x| x == u))).cloned().collect())
        .unwrap_or_default();
    if refs.is_empty() {
        meta.remove("ownerReferences");
    } else {
        meta.insert("ownerReferences".into(), Value::Array(refs));
    }
    true
}

#[cfg(test)]
mod tests;
