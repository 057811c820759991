//! Default APIBindings, as kcp's `system:apibindings` initializer: a new workspace whose type
//! (or a type it extends) lists `spec.defaultAPIBindings` gets a binding to each of those
//! exports, and leaves `Initializing` only once all of them are bound. Whoever created the
//! type proved they may bind each export; the bindings are then made in the system's name.

use std::sync::Arc;

use apiserver::controller::{Action, Controller, Informers, Reconcile};
use apiserver::rest::client::{ObjectRef, SystemClient};
use serde_json::{json, Value};

use super::{ensure, own_key, update, Error, Part, RETRY};
use crate::global::Global;
use crate::tenancy::{self, API_BINDINGS_INITIALIZER};

#[cfg(test)]
mod tests;

/// The controller's name (metrics, logs, identity).
pub const NAME: &str = "apibinder";

/// Creates the default bindings of new workspaces and releases them once bound.
pub struct ApiBinder {
    /// Creates bindings and removes the initializer as the controller.
    pub client: SystemClient,
    /// Where workspace types are read.
    pub global: Arc<Global>,
}

/// The controller, fed by every LogicalCluster of the shard.
pub fn controller(reconciler: ApiBinder, informers: &Informers) -> Controller<ApiBinder> {
    Controller::new(NAME, reconciler).workers(2).watches(informers, apiserver::storage::key::resource_prefix("core.kcp.io", "logicalclusters"), own_key)
}

/// Name of the binding for export `name`, unique among the defaults: kcp's names are the
/// export's, with the position appended when two exports share a name.
fn binding_name(defaults: &[(String, String)], i: usize) -> String {
    let name = &defaults[i].1;
    if defaults.iter().filter(|(_, n)| n == name).count() > 1 {
        format!("{name}-{i}")
    } else {
        name.clone()
    }
}

impl Reconcile for ApiBinder {
    type Key = ObjectRef;
    type Error = Error;

    async fn reconcile(&self, r: &ObjectRef) -> Result<Action, Error> {
        let Some(lc) = self.client.get(r).await? else { return Ok(Action::Done) };
        let waiting = lc.pointer("/status/initializers").and_then(Value::as_array).is_some_and(|a| a.iter().any(|i| i == API_BINDINGS_INITIALIZER));
        if !waiting || lc.pointer("/status/phase") != Some(&json!("Initializing")) {
            return Ok(Action::Done);
        }
        let of_type = tenancy::type_of(&self.client.api().store, &r.cluster).await;
        let defaults = tenancy::default_api_bindings(&self.global, &of_type).await.map_err(apimachinery::status::ApiError::from)?;
        let mut pending = 0;
        for (i, (path, export)) in defaults.iter().enumerate() {
            let name = binding_name(&defaults, i);
            let at = ObjectRef::new("apis.kcp.io", "apibindings", &r.cluster, "", &name);
            let binding = json!({
                "apiVersion": "apis.kcp.io/v1alpha2",
                "kind": "APIBinding",
                "metadata": {"name": name},
                "spec": {"reference": {"export": {"path": path, "name": export}}},
            });
            ensure(&self.client, &at, binding).await?;
            let bound = self.client.get(&at).await?.is_some_and(|b| b.pointer("/status/phase") == Some(&json!("Bound")));
            pending += usize::from(!bound);
        }
        if pending > 0 {
            return Ok(Action::RequeueAfter(RETRY));
        }
        update(&self.client, r, Part::Status, |lc| {
            let Some(list) = lc.pointer_mut("/status/initializers").and_then(Value::as_array_mut) else { return false };
            let before = list.len();
            list.retain(|i| i != API_BINDINGS_INITIALIZER);
            list.len() != before
        })
        .await?;
        tracing::debug!(cluster = %r.cluster, bindings = defaults.len(), "default APIBindings bound");
        Ok(Action::Done)
    }
}
