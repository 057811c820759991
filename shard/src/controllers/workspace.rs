//! Workspace lifecycle: scheduling a new Workspace onto a fresh logical cluster, mirroring the
//! logical cluster's phase, and deleting the whole subtree with its content.
//!
//! Scheduling is two-phase so a crash never orphans or reuses a logical cluster: the chosen
//! name is first recorded on the Workspace (annotation), then the LogicalCluster is created
//! (owned by this Workspace), then `spec.cluster` and `spec.URL` are set.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use apimachinery::registry::builtin::{self, Backing};
use apimachinery::registry::crd::{self, CrdIndex};
use apimachinery::rest::object;
use apimachinery::storage::{key, Key, SharedStorage, StorageError};
use serde_json::{json, Value};

use super::{run_informer, update, Change, RETRY};
use crate::bootstrap;
use crate::tenancy::{self, OWNER_ANNOTATION, PATH_ANNOTATION, TYPE_ANNOTATION, WORKSPACE_FINALIZER};

/// Storage prefix of every Workspace on the shard.
pub const PREFIX: &str = "tenancy.kcp.io/workspaces/";

/// Runs the workspace controller forever; `base_url` is where clients reach this shard.
pub async fn run(store: SharedStorage, crds: Arc<CrdIndex>, base_url: String) {
    let busy: Arc<Mutex<HashSet<String>>> = Arc::default();
    let mirror = tokio::spawn(mirror_phases(store.clone()));
    run_informer(store.clone(), PREFIX.to_string(), move |change| {
        let (store, crds, busy, base_url) = (store.clone(), crds.clone(), busy.clone(), base_url.clone());
        async move {
            let Change::Present(s) = change else { return };
            let Some((parent, _, _)) = key::decode(&s.key) else { return };
            let Ok(ws) = serde_json::from_slice::<Value>(&s.value) else { return };
            if !busy.lock().unwrap_or_else(|e| e.into_inner()).insert(s.key.clone()) {
                return;
            }
            let (parent, k) = (parent.to_string(), s.key.clone());
            tokio::spawn(async move {
                let result = if object::is_deleting(&ws) {
                    delete_subtree(&store, &crds, &k, &ws).await
                } else if ws.pointer("/spec/cluster").and_then(Value::as_str).unwrap_or_default().is_empty() {
                    schedule(&store, &parent, &k, &ws, &base_url).await
                } else {
                    Ok(())
                };
                if let Err(e) = result {
                    tracing::warn!(key = %k, error = %e, "reconciling workspace failed");
                }
                busy.lock().unwrap_or_else(|e| e.into_inner()).remove(&k);
            });
        }
    })
    .await;
    mirror.abort();
}

/// Creates the Workspace's logical cluster and points the Workspace at it.
async fn schedule(store: &SharedStorage, parent: &str, ws_key: &str, ws: &Value, base_url: &str) -> Result<(), StorageError> {
    let ws_name = object::meta_str(ws, "name").to_string();
    let cluster = apimachinery::request::workspace_cluster_name(object::meta_str(ws, "uid"));
    let path = format!("{}:{ws_name}", tenancy::path_of(store, parent).await);
    let owner = ws.pointer("/metadata/annotations/experimental.tenancy.kcp.io~1owner").and_then(Value::as_str).map(String::from);
    let type_ref = format!(
        "{}:{}",
        ws.pointer("/spec/type/path").and_then(Value::as_str).unwrap_or(tenancy::TYPES_CLUSTER),
        ws.pointer("/spec/type/name").and_then(Value::as_str).unwrap_or("universal")
    );
    let spec_owner = json!({"apiVersion": "tenancy.kcp.io/v1alpha1", "resource": "workspaces", "name": ws_name, "cluster": parent, "uid": object::meta_str(ws, "uid")});
    create_logical_cluster(store, NewCluster { name: &cluster, path: &path, type_ref: &type_ref, owner: owner.as_deref(), spec_owner }).await?;
    // The logical cluster may already be Ready (no initializers), and the phase mirror skips
    // Workspaces that are not scheduled yet: take its phase along now.
    let phase = tenancy::logical_cluster(store, &cluster).await.and_then(|lc| lc.pointer("/status/phase").cloned()).unwrap_or_else(|| json!("Initializing"));
    let url = format!("{base_url}/clusters/{path}");
    update(store, ws_key, |w| {
        w["spec"]["cluster"] = json!(cluster);
        w["spec"]["URL"] = json!(url);
        if !object::is_deleting(w) {
            w["status"]["phase"] = phase.clone();
        }
        true
    })
    .await
}

/// A logical cluster to create for a workspace.
pub struct NewCluster<'a> {
    /// Logical cluster name.
    pub name: &'a str,
    /// Canonical path (`root:org:team`, `user:alice`).
    pub path: &'a str,
    /// Workspace type as `<path>:<name>`.
    pub type_ref: &'a str,
    /// The creator's user info (JSON), who becomes its admin.
    pub owner: Option<&'a str>,
    /// `spec.owner`: the Workspace it belongs to, or null for a parent-less cluster.
    pub spec_owner: Value,
}

/// Creates a LogicalCluster with its type's initializers, its `default` namespace and the
/// owner's admin binding. Without initializers it starts `Ready`: everything a new workspace
/// needs exists before the LogicalCluster does, so no second write is needed to finish it.
pub async fn create_logical_cluster(store: &SharedStorage, c: NewCluster<'_>) -> Result<(), StorageError> {
    let initializers = tenancy::initializers_of(store, c.type_ref).await;
    bootstrap::ensure_namespace(store, c.name, "default").await?;
    if let Some(owner) = c.owner.and_then(|o| serde_json::from_str::<Value>(o).ok()) {
        let crb = bootstrap::new_object("rbac.authorization.k8s.io/v1", "ClusterRoleBinding", "workspace-admin", "", json!({
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "cluster-admin"},
            "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": owner["username"]}],
        }));
        let key = Key { group: "rbac.authorization.k8s.io", resource: "clusterrolebindings", cluster: c.name, namespace: "", name: "workspace-admin" };
        bootstrap::ensure(store, key, crb).await?;
    }
    let mut annotations = json!({PATH_ANNOTATION: c.path, TYPE_ANNOTATION: c.type_ref});
    if let Some(o) = c.owner {
        annotations[OWNER_ANNOTATION] = json!(o);
    }
    let mut lc = bootstrap::new_object("core.kcp.io/v1alpha1", "LogicalCluster", "cluster", "", json!({
        "spec": {"initializers": initializers},
        "status": {"phase": if initializers.is_empty() { "Ready" } else { "Initializing" }, "initializers": initializers},
    }));
    if !c.spec_owner.is_null() {
        lc["spec"]["owner"] = c.spec_owner;
    }
    lc["metadata"]["annotations"] = annotations;
    bootstrap::ensure(store, Key::logical_cluster(c.name), lc).await?;
    Ok(())
}

/// Copies a logical cluster's phase onto its scheduled Workspace.
async fn mirror_phase(store: &SharedStorage, ws_key: &str, phase: &Value) -> Result<(), StorageError> {
    update(store, ws_key, |ws| {
        let scheduled = ws.pointer("/spec/cluster").and_then(Value::as_str).is_some_and(|c| !c.is_empty());
        if !scheduled || object::is_deleting(ws) || ws.pointer("/status/phase") == Some(phase) {
            return false;
        }
        ws["status"]["phase"] = phase.clone();
        true
    })
    .await
}

/// Copies each owned LogicalCluster's phase onto its Workspace.
async fn mirror_phases(store: SharedStorage) {
    run_informer(store.clone(), super::logicalcluster::PREFIX.to_string(), move |change| {
        let store = store.clone();
        async move {
            let Change::Present(s) = change else { return };
            let Ok(lc) = serde_json::from_slice::<Value>(&s.value) else { return };
            let (Some(parent), Some(name)) = (lc.pointer("/spec/owner/cluster").and_then(Value::as_str), lc.pointer("/spec/owner/name").and_then(Value::as_str)) else {
                return;
            };
            let Some(phase) = lc.pointer("/status/phase").cloned() else { return };
            let ws_key = Key { group: "tenancy.kcp.io", resource: "workspaces", cluster: parent, namespace: "", name }.encode();
            if let Err(e) = mirror_phase(&store, &ws_key, &phase).await {
                tracing::warn!(key = %ws_key, error = %e, "mirroring workspace phase failed");
            }
        }
    })
    .await;
}

/// Prefixes of everything stored in a logical cluster: custom objects first, then built-ins,
/// with the LogicalCluster itself last.
fn content_prefixes(crds: &CrdIndex, cluster: &str) -> Vec<String> {
    let defined = crds.crds(cluster);
    let custom = defined.iter().flat_map(|c| crd::resources_of(c)).map(|r| (r.group, r.plural));
    let builtins = builtin::builtins()
        .iter()
        .filter(|b| b.backing == Backing::Stored && b.info.plural != "logicalclusters")
        .map(|b| (b.info.group.clone(), b.info.plural.clone()));
    let mut out: Vec<String> = custom.chain(builtins).map(|(g, p)| key::cluster_prefix(&g, &p, cluster)).collect();
    out.dedup();
    out.push(key::cluster_prefix("core.kcp.io", "logicalclusters", cluster));
    out
}

/// Deletes child workspaces, then every object of the logical cluster (finalizers respected),
/// then releases the Workspace.
async fn delete_subtree(store: &SharedStorage, crds: &CrdIndex, ws_key: &str, ws: &Value) -> Result<(), StorageError> {
    let cluster = ws.pointer("/spec/cluster").and_then(Value::as_str).unwrap_or_default().to_string();
    if !cluster.is_empty() {
        loop {
            let mut remaining = 0;
            // Children first: their own deletion recurses through this controller.
            let prefixes = content_prefixes(crds, &cluster);
            let children = key::cluster_prefix("tenancy.kcp.io", "workspaces", &cluster);
            let ordered = std::iter::once(children.clone()).chain(prefixes.into_iter().filter(|p| *p != children));
            for prefix in ordered {
                let page = store.list(&prefix, None, 0).await?;
                remaining += page.items.len();
                for item in page.items {
                    super::delete(store, &item.key, None).await?;
                }
                // Content waits until the child workspaces are gone.
                if prefix == children && remaining > 0 {
                    break;
                }
            }
            if remaining == 0 {
                break;
            }
            tokio::time::sleep(RETRY / 5).await;
        }
    }
    super::remove_finalizer(store, ws_key, WORKSPACE_FINALIZER).await
}
