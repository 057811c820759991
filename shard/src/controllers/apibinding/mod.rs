//! APIBindings, as kcp's binding controller: a binding finds its export (on any shard, through
//! the cache), takes the lock on each of the export's group/resources in its workspace,
//! makes sure a bound CRD serves each schema on this shard, and reports `Bound` with the
//! resources it serves, which are from then on served in its workspace under the export's
//! identity. A deleted binding first deletes the objects it served, unless another binding
//! of the workspace serves them from the same identity and adopts them.

mod bound_crd;
pub mod status;
#[cfg(test)]
mod tests;

use std::sync::Arc;

use apimachinery::registry::crd::{BoundResource, CrdIndex, ExportRef};
use apimachinery::registry::storage_resource;
use apiserver::controller::{Action, Change, Controller, Informers, Reconcile};
use apiserver::rest::client::{ObjectRef, SystemClient};
use apiserver::rest::object;
use apiserver::storage::key;
use serde_json::{json, Value};

use self::status::{Bound, Outcome, BINDING_RESOURCE_DELETE_SUCCESS};
use super::{add_finalizer, delete_all, remove_finalizer, update_from, Error, Part, DELETE_PASS};
use crate::global::Global;
use crate::resource_locks::{self, Conflict, Holder};

/// The controller's name (metrics, logs, identity).
pub const NAME: &str = "apibinding";

/// Finalizer holding a binding until the objects it served are gone.
pub const FINALIZER: &str = "apis.kcp.io/apibinding-finalizer";

const GROUP: &str = "apis.kcp.io";

/// How long a binding whose export cannot be used yet waits before looking again, unless a
/// change of an export or schema in the cache wakes it first.
const RECHECK: std::time::Duration = std::time::Duration::from_secs(1);

/// Bindings waiting for their export or its schemas (or a resource another holds).
type Waiting = super::Keys;

/// Binds, serves and unbinds APIBindings.
pub struct ApiBindings {
    /// Writes bindings and deletes served objects as the controller.
    pub client: SystemClient,
    /// Where exports and schemas are found.
    pub global: Arc<Global>,
    /// What each binding serves, for the REST handlers.
    pub index: Arc<CrdIndex>,
    waiting: Waiting,
}

impl ApiBindings {
    /// The reconciler, finding exports through `global` and recording what is served in `index`.
    pub fn new(client: SystemClient, global: Arc<Global>, index: Arc<CrdIndex>) -> Self {
        ApiBindings { client, global, index, waiting: Arc::default() }
    }
}

/// The controller, fed by every APIBinding of the shard. What each serves is recorded in the
/// index as soon as its status says so, before any reconcile.
pub fn controller(reconciler: ApiBindings, informers: &Informers) -> Controller<ApiBindings> {
    let index = reconciler.index.clone();
    let (cache, waiting) = (reconciler.global.cache.clone(), reconciler.waiting.clone());
    let controller = Controller::new(NAME, reconciler).workers(4).watches(informers, key::resource_prefix(GROUP, "apibindings"), move |change: &Change| {
        let r = ObjectRef::from_key(change.key())?;
        match change {
            Change::Gone(_) => {
                index.bind(&r.cluster, &r.name, None, Vec::new());
                None
            }
            Change::Present(s) => {
                let binding: Value = serde_json::from_slice(&s.value).ok()?;
                let (export, resources) = served(&binding);
                index.bind(&r.cluster, &r.name, export, resources);
                Some(r)
            }
        }
    });
    if let Some(cache) = cache {
        // An export or schema created on another shard arrives through the cache.
        tokio::spawn(super::wake_on_cache(cache.changed(), GROUP, controller.queue(), waiting));
    }
    controller
}

/// The export a binding's status says it is bound to (once `Bound`, or while it serves
/// anything), and the resources it serves.
fn served(binding: &Value) -> (Option<ExportRef>, Vec<BoundResource>) {
    let resources = binding.pointer("/status/boundResources").and_then(Value::as_array).cloned().unwrap_or_default();
    let text = |p: &str| binding.pointer(p).and_then(Value::as_str).unwrap_or_default().to_string();
    let export = ExportRef { cluster: text("/status/apiExportClusterName"), name: text("/spec/reference/export/name") };
    let resources: Vec<BoundResource> = resources
        .iter()
        .filter_map(|b| {
            let crd = b.pointer("/schema/UID").and_then(Value::as_str).filter(|s| !s.is_empty())?;
            let identity = b.pointer("/schema/identityHash").and_then(Value::as_str).filter(|s| !s.is_empty())?;
            Some(BoundResource { crd: crd.to_string(), identity: identity.to_string(), export: export.clone() })
        })
        .collect();
    // Serving resources, it stays bound while it is being deleted: their deletions still
    // reach the export's view.
    let bound = !export.cluster.is_empty() && (text("/status/phase") == "Bound" || !resources.is_empty());
    (bound.then_some(export), resources)
}

impl Reconcile for ApiBindings {
    type Key = ObjectRef;
    type Error = Error;

    async fn reconcile(&self, r: &ObjectRef) -> Result<Action, Error> {
        let Some(mut binding) = self.client.get(r).await? else {
            self.waiting.lock().unwrap_or_else(|e| e.into_inner()).remove(r);
            return Ok(Action::Done);
        };
        if object::is_deleting(&binding) {
            return self.unbind(r, binding).await;
        }
        if !object::finalizers(&binding).iter().any(|f| f == FINALIZER) {
            let Some(held) = add_finalizer(&self.client, r, Some(binding), FINALIZER).await? else {
                return Ok(Action::Done);
            };
            binding = held;
        }
        let outcome = self.bind(r, &binding).await?;
        let bound = matches!(outcome, Outcome::Bound { .. });
        {
            let mut waiting = self.waiting.lock().unwrap_or_else(|e| e.into_inner());
            if bound {
                waiting.remove(r);
            } else {
                waiting.insert(r.clone());
            }
        }
        update_from(&self.client, r, Part::Status, Some(binding), |b| status::apply(b, &outcome)).await?;
        Ok(if bound { Action::Done } else { Action::RequeueAfter(RECHECK) })
    }
}

impl ApiBindings {
    /// Finds the export and its schemas, locks their resources and serves them.
    async fn bind(&self, r: &ObjectRef, binding: &Value) -> Result<Outcome, Error> {
        let export_ref = &binding["spec"]["reference"]["export"];
        let name = export_ref["name"].as_str().unwrap_or_default();
        let path = export_ref["path"].as_str().filter(|p| !p.is_empty()).unwrap_or(&r.cluster);
        let shown = format!("{path}:{name}");
        let Some(export) = self.global.find(GROUP, "apiexports", path, name).await.map_err(apimachinery::status::ApiError::from)? else {
            return Ok(Outcome::ExportNotFound(shown));
        };
        let identity = export.object.pointer("/status/identityHash").and_then(Value::as_str).unwrap_or_default();
        if identity.is_empty() {
            return Ok(Outcome::MissingIdentity(shown));
        }
        let mut schemas = Vec::new();
        for resource in export.object.pointer("/spec/resources").and_then(Value::as_array).cloned().unwrap_or_default() {
            let schema_name = resource["schema"].as_str().unwrap_or_default();
            let found = self.global.find(GROUP, "apiresourceschemas", &export.cluster, schema_name).await.map_err(apimachinery::status::ApiError::from)?;
            match found {
                Some(s) => schemas.push(s.object),
                None => return Ok(Outcome::SchemaNotFound(schema_name.to_string())),
            }
        }
        let grs: Vec<String> = schemas.iter().map(|s| resource_locks::group_resource(s["spec"]["group"].as_str().unwrap_or_default(), plural_of(s))).collect();
        let others = self.bindings_in(&r.cluster).await?;
        let standing = |gr: &str, held: &resource_locks::Lock| self.standing(&r.cluster, &others, gr, held);
        let locked = resource_locks::lock(self.client.api().store.as_ref(), &r.cluster, &grs, Holder::Binding(&r.name), standing).await?;
        // Locks are taken before a conflict is reported, so a binding that lost keeps trying.
        if let Err((gr, conflict)) = locked {
            return Ok(Outcome::NamingConflict(format!("{gr} is already served by {conflict}")));
        }
        let mut resources = Vec::new();
        for schema in &schemas {
            let storage_versions = bound_crd::ensure(self.client.api().store.as_ref(), schema, &export.cluster).await?;
            resources.push(Bound {
                group: schema["spec"]["group"].as_str().unwrap_or_default().to_string(),
                resource: plural_of(schema).to_string(),
                schema: object::meta_str(schema, "name").to_string(),
                uid: object::meta_str(schema, "uid").to_string(),
                identity: identity.to_string(),
                storage_versions,
            });
        }
        let export_claims = export.object.pointer("/spec/permissionClaims").cloned().unwrap_or_else(|| json!([]));
        Ok(Outcome::Bound { export_cluster: export.cluster, resources, export_claims })
    }

    /// Whether a lock another holds on `gr` in `cluster` still stands: its binding exists, or
    /// its CRD exists or has not expired yet.
    fn standing(&self, cluster: &str, bindings: &[(String, Value)], gr: &str, held: &resource_locks::Lock) -> Option<Conflict> {
        if !held.binding.is_empty() {
            return bindings.iter().any(|(name, _)| *name == held.binding).then(|| Conflict::Binding(held.binding.clone()));
        }
        let crd = self.index.crds(cluster).into_iter().find(|c| {
            resource_locks::group_resource(c["spec"]["group"].as_str().unwrap_or_default(), c["spec"]["names"]["plural"].as_str().unwrap_or_default()) == gr
        });
        match crd {
            Some(c) => Some(Conflict::Crd(Some(object::meta_str(&c, "name").to_string()))),
            None if held.expiry.is_some_and(|e| e > resource_locks::now()) => Some(Conflict::Crd(None)),
            None => None,
        }
    }

    /// Deletes what a deleted binding served (finalizers respected), then lets it go.
    async fn unbind(&self, r: &ObjectRef, binding: Value) -> Result<Action, Error> {
        if !object::finalizers(&binding).iter().any(|f| f == FINALIZER) {
            return Ok(Action::Done);
        }
        let adopted = adopted(r, &binding, &self.bindings_in(&r.cluster).await?);
        let mut prefixes = Vec::new();
        for b in binding.pointer("/status/boundResources").and_then(Value::as_array).cloned().unwrap_or_default() {
            let (group, resource) = (b["group"].as_str().unwrap_or_default(), b["resource"].as_str().unwrap_or_default());
            let identity = b.pointer("/schema/identityHash").and_then(Value::as_str).unwrap_or_default();
            if group.is_empty() && resource.is_empty() || adopted.contains(&(group.to_string(), resource.to_string(), identity.to_string())) {
                continue;
            }
            prefixes.push(key::cluster_prefix(group, &storage_resource(resource, Some(identity)), &r.cluster));
        }
        let remaining = delete_all(&self.client, prefixes).await?;
        let (status, reason, message) = match remaining {
            0 => ("True", "", String::new()),
            n => ("False", "ResourceDeletionInProgress", format!("{n} objects of the bound resources remain")),
        };
        update_from(&self.client, r, Part::Status, Some(binding), |b| {
            let mut conditions = b.pointer("/status/conditions").and_then(Value::as_array).cloned().unwrap_or_default();
            let before = conditions.clone();
            super::set_condition(&mut conditions, BINDING_RESOURCE_DELETE_SUCCESS, status, reason, &message);
            b["status"]["conditions"] = Value::Array(conditions.clone());
            conditions != before
        })
        .await?;
        if remaining > 0 {
            return Ok(Action::RequeueAfter(DELETE_PASS));
        }
        resource_locks::release(self.client.api().store.as_ref(), &r.cluster, &r.name).await?;
        remove_finalizer(&self.client, r, FINALIZER).await?;
        Ok(Action::Done)
    }

    /// Every APIBinding of a cluster, by name.
    async fn bindings_in(&self, cluster: &str) -> Result<Vec<(String, Value)>, Error> {
        let page = self.client.api().store.list(&key::cluster_prefix(GROUP, "apibindings", cluster), None, 0, None).await?;
        Ok(page.items.iter().filter_map(|s| Some((key::decode(&s.key)?.2.to_string(), serde_json::from_slice(&s.value).ok()?))).collect())
    }
}

/// The (group, resource, identity) of each bound resource another live binding of the
/// workspace serves from the same identity, or refers to the same export for: it keeps
/// those objects.
fn adopted(r: &ObjectRef, binding: &Value, others: &[(String, Value)]) -> Vec<(String, String, String)> {
    let (_, mine) = served(binding);
    let reference = &binding["spec"]["reference"]["export"];
    let mut out = Vec::new();
    for b in binding.pointer("/status/boundResources").and_then(Value::as_array).cloned().unwrap_or_default() {
        let identity = b.pointer("/schema/identityHash").and_then(Value::as_str).unwrap_or_default().to_string();
        let taken = others.iter().filter(|(name, o)| *name != r.name && !object::is_deleting(o)).any(|(_, o)| {
            o["spec"]["reference"]["export"] == *reference || served(o).1.iter().any(|s| s.identity == identity && mine.iter().any(|m| m.crd == s.crd))
        });
        if taken {
            out.push((b["group"].as_str().unwrap_or_default().to_string(), b["resource"].as_str().unwrap_or_default().to_string(), identity));
        }
    }
    out
}

/// A schema's plural resource name.
fn plural_of(schema: &Value) -> &str {
    schema["spec"]["names"]["plural"].as_str().unwrap_or_default()
}
