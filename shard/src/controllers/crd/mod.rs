//! CRD establishment and cleanup.
//!
//! A new CRD gets `NamesAccepted` and `Established` (or `NamesAccepted=False` with the
//! conflicting name) and is fed into the [`CrdIndex`] that serves it; a deleted CRD first loses
//! every object of its resource, then its cleanup finalizer.

use std::sync::Arc;

use apimachinery::registry::crd::{self, CrdIndex, CLEANUP_FINALIZER};
use apiserver::rest::client::{ObjectRef, SystemClient};
use apiserver::rest::object;
use apiserver::storage::key;
use serde_json::{json, Value};

use super::{delete_all, remove_finalizer, update, Error, Part, DELETE_PASS};
use apiserver::controller::{Action, Change, Controller, Informers, Reconcile};

/// The controller's name (metrics, logs, identity).
pub const NAME: &str = "crd";

/// Storage prefix of every CRD on the shard.
pub const PREFIX: &str = "apiextensions.k8s.io/customresourcedefinitions/";

/// Establishes new CRDs and cleans up deleted ones.
pub struct Crds {
    /// Writes CRD conditions and deletes a deleted CRD's objects as the controller.
    pub client: SystemClient,
    /// The served CRDs, updated as CRDs change.
    pub index: Arc<CrdIndex>,
}

/// The controller, fed by every CRD of the shard. The index that serves custom resources is
/// kept in step with storage as changes arrive, before any reconcile looks at it.
pub fn controller(reconciler: Crds, informers: &Informers) -> Controller<Crds> {
    let index = reconciler.index.clone();
    Controller::new(NAME, reconciler).workers(2).watches(informers, PREFIX, move |change: &Change| {
        let r = ObjectRef::from_key(change.key())?;
        match change {
            Change::Gone(_) => {
                index.remove(&r.cluster, &r.name);
                None
            }
            Change::Present(s) => {
                index.upsert(&r.cluster, serde_json::from_slice(&s.value).ok()?);
                Some(r)
            }
        }
    })
}

impl Reconcile for Crds {
    type Key = ObjectRef;
    type Error = Error;

    async fn reconcile(&self, r: &ObjectRef) -> Result<Action, Error> {
        let Some(obj) = self.client.get(r).await? else { return Ok(Action::Done) };
        if object::is_deleting(&obj) {
            return self.cleanup(r, &obj).await;
        }
        if !crd::has_condition(&obj, "Established") {
            let conflict = name_conflict(&self.index, &r.cluster, &obj);
            update(&self.client, r, Part::Status, |o| establish(o, conflict.as_deref())).await?;
        }
        Ok(Action::Done)
    }
}

impl Crds {
    /// Deletes every object of a deleted CRD, then releases the CRD.
    async fn cleanup(&self, r: &ObjectRef, crd: &Value) -> Result<Action, Error> {
        let group = crd["spec"]["group"].as_str().unwrap_or_default();
        let plural = crd["spec"]["names"]["plural"].as_str().unwrap_or_default();
        if group.is_empty() || plural.is_empty() {
            return Ok(Action::Done);
        }
        if delete_all(&self.client, [key::cluster_prefix(group, plural, &r.cluster)]).await? > 0 {
            return Ok(Action::RequeueAfter(DELETE_PASS));
        }
        remove_finalizer(&self.client, r, CLEANUP_FINALIZER).await?;
        Ok(Action::Done)
    }
}

/// Another CRD of the same group in the cluster already uses this kind or a short name.
fn name_conflict(index: &CrdIndex, cluster: &str, crd: &Value) -> Option<String> {
    let group = &crd["spec"]["group"];
    let name = &crd["metadata"]["name"];
    let kind = &crd["spec"]["names"]["kind"];
    let shorts: Vec<&Value> = crd["spec"]["names"]["shortNames"].as_array().map(|a| a.iter().collect()).unwrap_or_default();
    for other in index.crds(cluster) {
        if &other["metadata"]["name"] == name || &other["spec"]["group"] != group || !crd::has_condition(&other, "Established") {
            continue;
        }
        if &other["spec"]["names"]["kind"] == kind {
            return Some(format!("{kind} is already in use"));
        }
        if let Some(theirs) = other["spec"]["names"]["shortNames"].as_array() {
            if let Some(s) = shorts.iter().find(|s| theirs.contains(s)) {
                return Some(format!("short name {s} is already in use"));
            }
        }
    }
    None
}

fn condition(type_: &str, status: &str, reason: &str, message: &str) -> Value {
    json!({"type": type_, "status": status, "lastTransitionTime": object::now_rfc3339(), "reason": reason, "message": message})
}

/// Sets the status of a CRD that has not been established yet.
fn establish(crd: &mut Value, conflict: Option<&str>) -> bool {
    if crd::has_condition(crd, "Established") || object::is_deleting(crd) {
        return false;
    }
    let conditions = match conflict {
        Some(msg) => {
            if crd.pointer("/status/conditions/0/message").and_then(Value::as_str) == Some(msg) {
                return false;
            }
            vec![
                condition("NamesAccepted", "False", "MultipleNameConflicts", msg),
                condition("Established", "False", "NotAccepted", "not all names are accepted"),
            ]
        }
        None => vec![
            condition("NamesAccepted", "True", "NoConflicts", "no conflicts found"),
            condition("Established", "True", "InitialNamesAccepted", "the initial names have been accepted"),
        ],
    };
    let names = &crd["spec"]["names"];
    let kind = names["kind"].as_str().unwrap_or_default();
    let mut accepted = names.clone();
    if accepted.get("singular").and_then(Value::as_str).unwrap_or_default().is_empty() {
        accepted["singular"] = json!(kind.to_ascii_lowercase());
    }
    if accepted.get("listKind").and_then(Value::as_str).unwrap_or_default().is_empty() {
        accepted["listKind"] = json!(format!("{kind}List"));
    }
    let stored: Vec<Value> =
        crd["spec"]["versions"].as_array().map(|vs| vs.iter().filter(|v| v["storage"] == json!(true)).map(|v| v["name"].clone()).collect()).unwrap_or_default();
    crd["status"] = json!({"conditions": conditions, "acceptedNames": accepted, "storedVersions": stored});
    true
}

#[cfg(test)]
mod tests;
