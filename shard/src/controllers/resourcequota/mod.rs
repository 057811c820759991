//! ResourceQuota status, as kube's quota controller keeps it: `status.hard` acknowledges
//! `spec.hard` (admission enforces only acknowledged limits) and `status.used` counts what is
//! stored. Admission ([`crate::quota`]) charges each create as it happens; this controller
//! recounts when a quota is first seen or its limits change, when an object in its namespace
//! goes, and every [`RESYNC`], which also gives back a charge whose create then failed.

#[cfg(test)]
mod tests;

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use apimachinery::quota;
use apimachinery::request::ClusterTarget;
use apimachinery::status::Reason;
use apiserver::controller::{Action, Change, Controller, Informers, Reconcile};
use apiserver::rest::client::{ObjectRef, SystemClient};
use apiserver::rest::object;
use apiserver::storage::{key, Key};
use serde_json::{json, Map, Value};

use super::{Error, Part};
use crate::quota::QuotaIndex;

/// The controller's name (metrics, logs, identity).
pub const NAME: &str = "resourcequota";

/// How often every quota is recounted, changes or not (kube's default sync period).
pub const RESYNC: Duration = Duration::from_secs(300);

/// Keeps each quota's status true to its spec and to what its namespace holds.
pub struct QuotaStatus {
    /// Reads quotas and writes their status as the controller.
    pub client: SystemClient,
    /// The quotas of each namespace, shared with admission.
    pub index: Arc<QuotaIndex>,
}

/// Whether a stored quota's acknowledged limits lag its spec.
fn lags(value: &[u8]) -> bool {
    serde_json::from_slice::<Value>(value).is_ok_and(|q| q["spec"]["hard"] != q["status"]["hard"] || q["status"]["used"].is_null())
}

/// The controller, fed by every object of the shard: quotas themselves, and deletions in
/// namespaces that have quotas.
pub fn controller(reconciler: QuotaStatus, informers: &Informers) -> Controller<QuotaStatus> {
    let index = reconciler.index.clone();
    let listed = informers.follow(&key::resource_prefix("", "resourcequotas"), Box::new(|_| {}));
    let synced = index.clone();
    tokio::spawn(async move {
        if listed.await.is_ok() {
            synced.mark_synced();
        }
    });
    // Quotas seen by this process: each is counted once when first seen, then every RESYNC.
    let mut seen = HashSet::new();
    Controller::new(NAME, reconciler).workers(2).watches(informers, "", move |change: &Change| {
        let Some(k) = Key::parse(change.key()) else { return Vec::new() };
        if k.group.is_empty() && k.resource == "resourcequotas" {
            index.saw(change);
            let r = ObjectRef::new("", "resourcequotas", k.cluster, k.namespace, k.name);
            return match change {
                Change::Present(s) if seen.insert(s.key.clone()) || lags(&s.value) => vec![r],
                Change::Present(_) => Vec::new(),
                Change::Gone(key) => {
                    seen.remove(key);
                    Vec::new()
                }
            };
        }
        match change {
            Change::Gone(_) if !k.namespace.is_empty() => {
                index.of(k.cluster, k.namespace).iter().map(|q| ObjectRef::new("", "resourcequotas", k.cluster, k.namespace, q)).collect()
            }
            _ => Vec::new(),
        }
    })
}

impl QuotaStatus {
    /// The status a quota should have: its limits acknowledged, and each counted against what
    /// its namespace stores (names that are not object counts use nothing: no pods run here).
    async fn status(&self, r: &ObjectRef, q: &Value) -> Result<Value, Error> {
        let hard = q["spec"]["hard"].as_object().cloned().unwrap_or_default();
        let api = self.client.api();
        let served = api.served(&r.cluster);
        let target = ClusterTarget::Name(r.cluster.clone());
        let mut used = Map::new();
        for name in hard.keys() {
            let resource = quota::counted(name).filter(|_| quota::counts_objects(q));
            let info = resource.and_then(|(group, plural)| served.iter().find(|i| i.namespaced && i.group == group && i.plural == plural));
            // Resolved as requests are, so that the count reads where the objects are stored.
            let count = match info.and_then(|i| api.resolve(&target, &i.group, &i.version, &i.plural)) {
                Some(resolved) => api.store.list(&resolved.prefix(Some(&r.cluster), &r.namespace), None, 0, None).await?.items.len() as u64,
                None => 0,
            };
            used.insert(name.clone(), quota::count_quantity(count));
        }
        Ok(json!({"hard": hard, "used": used}))
    }
}

impl Reconcile for QuotaStatus {
    type Key = ObjectRef;
    type Error = Error;

    async fn reconcile(&self, r: &ObjectRef) -> Result<Action, Error> {
        loop {
            let Some(q) = self.client.get(r).await? else { return Ok(Action::Done) };
            if object::is_deleting(&q) {
                return Ok(Action::Done);
            }
            let status = self.status(r, &q).await?;
            // Written over the quota as read before counting: a create charged meanwhile makes
            // this a conflict, and the count is taken again.
            let write = self.client.modify(r, Part::Status, Some(q), |q| {
                let changed = q["status"] != status;
                q["status"] = status;
                changed
            });
            match write.await {
                Err(e) if e.reason == Reason::Conflict => continue,
                Err(e) => return Err(e.into()),
                Ok(_) => return Ok(Action::RequeueAfter(RESYNC)),
            }
        }
    }
}
