//! Endpoint slice URLs, as kcp's per-shard controller: every shard lists its own apiexport
//! virtual workspace URL in the endpoint slices of each export that at least one binding on
//! the shard is bound to, and takes it out when the last one goes. A slice on another shard
//! is written there over the network, as `system:masters`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use apiserver::client::Client;
use apiserver::controller::{Action, Change, Controller, Informers, Reconcile};
use apiserver::rest::client::{ObjectRef, SystemClient};
use apiserver::storage::key;
use serde_json::{json, Value};

use super::{update, update_from, Error, Part};
use crate::global::{Global, SHARD_ANNOTATION};

#[cfg(test)]
mod tests;

/// The controller's name (metrics, logs, identity).
pub const NAME: &str = "apiexportendpointslice-urls";

const GROUP: &str = "apis.kcp.io";

/// How long an export whose slice is not known here yet (it may still be on its way through
/// the cache) waits before looking again.
const RECHECK: Duration = Duration::from_secs(1);

/// The exports each local binding is bound to, by binding key.
type Bound = Arc<Mutex<HashMap<String, ObjectRef>>>;

/// Keeps this shard's URL in the endpoint slices of the exports bound here.
pub struct EndpointSliceUrls {
    /// Writes local slices as the controller.
    pub client: SystemClient,
    /// Where slices of other shards' exports are read.
    pub global: Arc<Global>,
    /// A `system:masters` client for other shards.
    pub others: Option<Client>,
    /// This shard's virtual workspace base URL.
    pub virtual_workspace_url: String,
    /// Where clients reach workspaces (the front-proxy, in a sharded install), which also
    /// serves each export's view merged across shards.
    pub external_url: String,
    bound: Bound,
}

impl EndpointSliceUrls {
    /// The reconciler of a shard whose virtual workspaces are served at `virtual_workspace_url`.
    pub fn new(client: SystemClient, global: Arc<Global>, others: Option<Client>, virtual_workspace_url: String, external_url: String) -> Self {
        EndpointSliceUrls { client, global, others, virtual_workspace_url, external_url, bound: Arc::default() }
    }

    /// This shard's URL of an export's virtual workspace.
    fn url(&self, export: &ObjectRef) -> String {
        view_url(&self.virtual_workspace_url, export)
    }
}

/// An export's apiexport view below `base`.
fn view_url(base: &str, export: &ObjectRef) -> String {
    format!("{}/services/apiexport/{}/{}", base.trim_end_matches('/'), export.cluster, export.name)
}

/// Annotation on an endpoint slice naming the URL of its export's view merged across every
/// shard; kcp clients read `status.endpoints` and never see it.
pub const MERGED_URL_ANNOTATION: &str = "apis.kcp-rs.io/merged-url";

impl EndpointSliceUrls {
    /// Records the merged view's URL on a local slice.
    async fn annotate(&self, r: &ObjectRef, export: &ObjectRef) -> Result<(), Error> {
        let merged = view_url(&self.external_url, export);
        update(&self.client, r, Part::Main, |s| {
            if s.pointer("/metadata/annotations").and_then(|a| a.get(MERGED_URL_ANNOTATION)) == Some(&json!(merged)) {
                return false;
            }
            let annotations = apiserver::rest::object::meta_mut(s).entry("annotations").or_insert_with(|| json!({}));
            annotations[MERGED_URL_ANNOTATION] = json!(merged);
            true
        })
        .await?;
        Ok(())
    }
}

/// The controller, keyed by export, fed by the shard's bindings and endpoint slices.
pub fn controller(reconciler: EndpointSliceUrls, informers: &Informers) -> Controller<EndpointSliceUrls> {
    let bound = reconciler.bound.clone();
    Controller::new(NAME, reconciler)
        .workers(2)
        .watches(informers, key::resource_prefix(GROUP, "apibindings"), move |change: &Change| {
            let mut bound = bound.lock().unwrap_or_else(|e| e.into_inner());
            let before = bound.remove(change.key());
            let now = match change {
                Change::Present(s) => serde_json::from_slice::<Value>(&s.value).ok().and_then(|b| export_of(&b)),
                Change::Gone(_) => None,
            };
            if let Some(export) = &now {
                bound.insert(change.key().to_string(), export.clone());
            }
            let mut wake: Vec<ObjectRef> = before.into_iter().chain(now).collect();
            wake.dedup();
            wake
        })
        .watches(informers, key::resource_prefix(GROUP, "apiexportendpointslices"), |change: &Change| {
            let Change::Present(s) = change else { return None };
            let slice = ObjectRef::from_key(&s.key)?;
            let value: Value = serde_json::from_slice(&s.value).ok()?;
            let name = value.pointer("/spec/export/name").and_then(Value::as_str)?;
            Some(ObjectRef::new(GROUP, "apiexports", &slice.cluster, "", name))
        })
}

/// The export a binding is bound to, once it is.
fn export_of(binding: &Value) -> Option<ObjectRef> {
    if binding.pointer("/status/phase") != Some(&json!("Bound")) || binding.pointer("/metadata/deletionTimestamp").is_some() {
        return None;
    }
    let cluster = binding.pointer("/status/apiExportClusterName").and_then(Value::as_str).filter(|c| !c.is_empty())?;
    let name = binding.pointer("/spec/reference/export/name").and_then(Value::as_str)?;
    Some(ObjectRef::new(GROUP, "apiexports", cluster, "", name))
}

/// `endpoints` with `url` in it when `wanted`, without it otherwise; None when that is how
/// they are already.
pub fn endpoints_with(endpoints: &Value, url: &str, wanted: bool) -> Option<Vec<Value>> {
    let list = endpoints.as_array().cloned().unwrap_or_default();
    let present = list.iter().any(|e| e["url"] == url);
    match (present, wanted) {
        (true, true) | (false, false) => None,
        (false, true) => Some(list.into_iter().chain([json!({"url": url})]).collect()),
        (true, false) => Some(list.into_iter().filter(|e| e["url"] != url).collect()),
    }
}

impl Reconcile for EndpointSliceUrls {
    type Key = ObjectRef;
    type Error = Error;

    async fn reconcile(&self, export: &ObjectRef) -> Result<Action, Error> {
        let wanted = self.bound.lock().unwrap_or_else(|e| e.into_inner()).values().any(|e| e == export);
        let url = self.url(export);
        let local = self.client.api().store.list(&key::cluster_prefix(GROUP, "apiexportendpointslices", &export.cluster), None, 0, None).await?;
        let mut mine = Vec::new();
        for slice in local.items.iter().filter_map(|s| serde_json::from_slice::<Value>(&s.value).ok()) {
            if self.slices_export(&slice, export).await? {
                mine.push(slice);
            }
        }
        let local = mine;
        if !local.is_empty() {
            for slice in local {
                let r = ObjectRef::new(GROUP, "apiexportendpointslices", &export.cluster, "", apiserver::rest::object::meta_str(&slice, "name"));
                self.annotate(&r, export).await?;
                update_from(&self.client, &r, Part::Status, None, |s| match endpoints_with(&s["status"]["endpoints"], &url, wanted) {
                    Some(list) => {
                        s["status"]["endpoints"] = Value::Array(list);
                        true
                    }
                    None => false,
                })
                .await?;
            }
            return Ok(Action::Done);
        }
        let mut remote = Vec::new();
        for slice in self.global.cache.as_ref().map(|c| c.list(GROUP, "apiexportendpointslices", Some(&export.cluster), None)).unwrap_or_default() {
            if self.slices_export(&slice, export).await? {
                remote.push(slice);
            }
        }
        if remote.is_empty() {
            // Nothing to list this shard in yet; a slice made later on this shard wakes the
            // export, one on another shard is only seen by looking again.
            return Ok(if wanted { Action::RequeueAfter(RECHECK) } else { Action::Done });
        }
        for slice in remote {
            if endpoints_with(&slice["status"]["endpoints"], &url, wanted).is_some() {
                self.write_remote(export, &slice, &url, wanted).await?;
            }
        }
        Ok(Action::Done)
    }
}

impl EndpointSliceUrls {
    /// Whether a slice of the export's workspace points at `export`: its reference (a path,
    /// or empty for its own workspace) leads there.
    async fn slices_export(&self, slice: &Value, export: &ObjectRef) -> Result<bool, Error> {
        if slice.pointer("/spec/export/name") != Some(&json!(export.name)) {
            return Ok(false);
        }
        let path = slice.pointer("/spec/export/path").and_then(Value::as_str).unwrap_or_default();
        if path.is_empty() || path == export.cluster {
            return Ok(true);
        }
        let found = self.global.find(GROUP, "apiexports", path, &export.name).await.map_err(apimachinery::status::ApiError::from)?;
        Ok(found.is_some_and(|f| f.cluster == export.cluster))
    }

    /// Writes this shard's URL into (or out of) a slice on the shard that holds it.
    async fn write_remote(&self, export: &ObjectRef, slice: &Value, url: &str, wanted: bool) -> Result<(), Error> {
        let shard_name = slice.pointer("/metadata/annotations").and_then(|a| a.get(SHARD_ANNOTATION)).and_then(Value::as_str).unwrap_or_default();
        let Some(client) = &self.others else { return Ok(()) };
        let shards = self.global.shards().await?;
        let Some(base) =
            shards.iter().find(|s| s.pointer("/metadata/name") == Some(&json!(shard_name))).and_then(|s| s.pointer("/spec/baseURL")).and_then(Value::as_str)
        else {
            return Ok(());
        };
        let name = apiserver::rest::object::meta_str(slice, "name");
        let at = format!("{base}/clusters/{}/apis/{GROUP}/v1alpha1/apiexportendpointslices/{name}", export.cluster);
        loop {
            let (code, mut current) = client.json("GET", &at, None).await.map_err(|e| Error::remote("reading an endpoint slice", shard_name, e))?;
            if code == 404 {
                return Ok(());
            }
            let Some(list) = endpoints_with(&current["status"]["endpoints"], url, wanted) else { return Ok(()) };
            current["status"]["endpoints"] = Value::Array(list);
            let (code, answer) =
                client.json("PUT", &format!("{at}/status"), Some(&current)).await.map_err(|e| Error::remote("writing an endpoint slice", shard_name, e))?;
            match code {
                200 => return Ok(()),
                409 => continue,
                other => {
                    let message = answer["message"].as_str().unwrap_or_default().to_string();
                    return Err(Error::remote("writing an endpoint slice", shard_name, format!("{at}/status answered {other}: {message}")));
                }
            }
        }
    }
}
