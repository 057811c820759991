//! kcp's maximal permission policy: when an export sets `maximalPermissionPolicy.local`, a
//! request to one of its resources in a consumer workspace is allowed only if the export's
//! workspace would also allow it to the caller with name and groups prefixed
//! `apis.kcp.io:binding:`. The export's RBAC is read locally or, for an export on another
//! shard, from the cache (its replication marks send such grants there).

use std::sync::Arc;

use apimachinery::auth::{Attributes, Decision};
use apimachinery::registry::crd::CrdIndex;
use apimachinery::status::ApiError;
use apiserver::auth::authz::{Authorizer, Limit};
use futures::future::BoxFuture;

use crate::global::Global;

/// The limit of bound resources by their exports' maximal permission policies.
pub struct MaximalPermissionPolicy {
    /// What each binding serves.
    pub index: Arc<CrdIndex>,
    /// Where bindings, exports and the exports' RBAC are read.
    pub global: Arc<Global>,
}

impl Limit for MaximalPermissionPolicy {
    fn allows<'a>(&'a self, authz: &'a Authorizer, cluster: &'a str, attrs: &'a Attributes) -> BoxFuture<'a, Result<bool, ApiError>> {
        Box::pin(async move {
            // The index knows the export from the binding's status: no read of the binding.
            let Some(export) = self.index.export_of(cluster, &attrs.api_group, &attrs.resource) else { return Ok(true) };
            let export = self.global.find("apis.kcp.io", "apiexports", &export.cluster, &export.name).await?;
            // An export that is gone (or unknown for now) cannot limit; its binding no longer
            // reports up to date.
            let Some(export) = export else { return Ok(true) };
            if export.object.pointer("/spec/maximalPermissionPolicy/local").is_none() {
                return Ok(true);
            }
            let prefixed = Attributes { user: attrs.user.for_maximal_permission_policy(), namespace: String::new(), ..attrs.clone() };
            let decision = if export.local {
                authz.decide_rbac(&export.cluster, &prefixed).await?
            } else {
                let Some(rbac) = self.global.cached_rbac(&export.cluster) else { return Ok(false) };
                authz.decide_elsewhere(rbac, &prefixed).await?
            };
            Ok(matches!(decision, Decision::Allow(_)))
        })
    }
}
