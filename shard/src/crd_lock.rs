//! Admission of CRDs against bound resources: a new CRD takes its group/resource in the
//! workspace's lock table before it is stored, and is refused when an APIBinding serves it.

use apimachinery::status::{ApiError, Reason};
use apiserver::rest::{object, AdmissionPlugin, Write};
use apiserver::storage::Key;
use futures::future::BoxFuture;
use serde_json::Value;

use crate::resource_locks::{self, Conflict, Holder};

/// Locks the group/resource of every new CRD.
pub struct CrdLockAdmission;

impl AdmissionPlugin for CrdLockAdmission {
    fn admit<'a>(&'a self, w: Write<'a>, obj: &'a mut Value) -> BoxFuture<'a, Result<(), ApiError>> {
        Box::pin(async move {
            // System clusters (the bound CRDs among them) have no LogicalCluster to lock in.
            if !w.is("apiextensions.k8s.io", "CustomResourceDefinition") || w.old.is_some() || w.cluster.starts_with("system:") {
                return Ok(());
            }
            let gr =
                resource_locks::group_resource(obj["spec"]["group"].as_str().unwrap_or_default(), obj["spec"]["names"]["plural"].as_str().unwrap_or_default());
            let store = w.api.store.as_ref();
            // A dry run takes nothing: it is refused if the resource is taken, and otherwise admitted.
            let dry_run = w.req.info.param("dryRun") == Some("All");
            let refused = |binding: &str| {
                let name = object::meta_str(obj, "name");
                ApiError::new(
                    Reason::Forbidden,
                    format!("customresourcedefinitions.apiextensions.k8s.io {name:?} is forbidden: cannot create because resource is bound by APIBinding {binding:?}"),
                )
            };
            // A binding's lock stands unless that binding was seen gone.
            let mut gone = None;
            if let Some(binding) = current_lock(w, &gr).await.map(|l| l.binding).filter(|b| !b.is_empty()) {
                let key = Key { group: "apis.kcp.io", resource: "apibindings", cluster: w.cluster, namespace: "", name: &binding }.encode();
                if store.get(&key).await.is_ok() {
                    return Err(refused(&binding));
                }
                gone = Some(binding);
            }
            if dry_run {
                return Ok(());
            }
            let standing = |_: &str, held: &resource_locks::Lock| {
                (!held.binding.is_empty() && gone.as_ref() != Some(&held.binding)).then(|| Conflict::Binding(held.binding.clone()))
            };
            match resource_locks::lock(store, w.cluster, std::slice::from_ref(&gr), Holder::Crd, standing).await? {
                Ok(()) => Ok(()),
                Err((_, Conflict::Binding(b))) => Err(refused(&b)),
                Err((_, other)) => Err(ApiError::new(Reason::Conflict, format!("{gr} is being taken by {other}; try again"))),
            }
        })
    }
}

/// The lock on `gr` in the written cluster, if any.
async fn current_lock(w: Write<'_>, gr: &str) -> Option<resource_locks::Lock> {
    let stored = w.api.store.get(&Key::logical_cluster(w.cluster).encode()).await.ok()?;
    let lc: Value = serde_json::from_slice(&stored.value).ok()?;
    resource_locks::table_of(&lc).remove(gr)
}
