//! Authorization of every request: the logical cluster must exist (or be the one being
//! created by `system:masters`), wildcards are for `system:masters` only, and the authorizer
//! chain must allow the verb. Unknown clusters and denied ones look the same to the caller.

use std::sync::Arc;

use futures::future::BoxFuture;

use super::phase::{Outcome, Phase, Req};
use apimachinery::auth::{Attributes, UserInfo};
use apimachinery::request::{ClusterTarget, RequestInfo, WorkspacePath, Verb};
use crate::auth::authz::Authorizer;
use apimachinery::status::{ApiError, Reason};
use crate::storage::key::Key;
use crate::storage::{SharedStorage, Storage};

/// The authorization phase.
pub struct Authorize {
    /// The authorizer chain (workspace access, bootstrap policy, the cluster's RBAC).
    pub authz: Arc<Authorizer>,
    /// Where paths are resolved and logical clusters are found to exist (or be inactive).
    pub store: SharedStorage,
}

impl Phase for Authorize {
    fn run<'a>(&'a self, req: &'a mut Req) -> BoxFuture<'a, Result<Outcome, ApiError>> {
        Box::pin(async move {
            resolve_path(&*self.store, req).await?;
            scope_identity(req);
            let (Some(info), Some(user)) = (req.extensions().get::<RequestInfo>(), req.extensions().get::<UserInfo>()) else {
                return Err(ApiError::internal("authorization ran before request parsing and authentication"));
            };
            let masters = user.is_masters();
            let cluster = match &info.cluster {
                ClusterTarget::Name(c) => {
                    check_cluster(self, c, user, info).await?;
                    c.as_str()
                }
                ClusterTarget::Wildcard if masters => return Ok(Outcome::Next),
                ClusterTarget::Wildcard => {
                    return Err(forbidden(user, info, "wildcard requests across logical clusters are restricted to system:masters"))
                }
                ClusterTarget::None if info.is_resource_request => {
                    return Err(ApiError::new(
                        Reason::NotFound,
                        "the server could not find the requested resource: resource requests need a /clusters/<logical cluster> prefix",
                    ))
                }
                // Shard-level paths (/version, /metrics, discovery) follow the bootstrap policy.
                ClusterTarget::None => crate::auth::authz::BOOTSTRAP_CLUSTER,
            };
            // Asking about oneself is always possible; the answer applies the whole chain.
            if is_self_review(info) {
                return Ok(Outcome::Next);
            }
            if !self.authz.allows(cluster, &attributes(user, info)).await? {
                return Err(forbidden(user, info, ""));
            }
            Ok(Outcome::Next)
        })
    }
}

/// Service accounts of other logical clusters act as authenticated strangers here.
fn scope_identity(req: &mut Req) {
    let Some(cluster) = req.extensions().get::<RequestInfo>().and_then(|i| i.cluster_name().map(String::from)) else { return };
    if let Some(user) = req.extensions_mut().get_mut::<UserInfo>() {
        *user = apimachinery::auth::as_seen_in(std::mem::take(user), &cluster);
    }
}

/// Replaces a workspace path (`root:org:team`, or `user:<name>:...` from a home workspace) by
/// the logical cluster it names. An unresolvable path is, to anyone but `system:masters`,
/// indistinguishable from a workspace they may not access.
async fn resolve_path(store: &dyn Storage, req: &mut Req) -> Result<(), ApiError> {
    let Some(path) = req.extensions().get::<RequestInfo>().filter(|i| i.cluster_is_path()).and_then(|i| i.cluster_name().map(String::from)) else {
        return Ok(());
    };
    let Some(cluster) = walk_path(store, &path).await else {
        let (Some(info), Some(user)) = (req.extensions().get::<RequestInfo>(), req.extensions().get::<UserInfo>()) else {
            return Err(ApiError::internal("path resolution ran before request parsing and authentication"));
        };
        if user.is_masters() {
            return Err(ApiError::new(Reason::NotFound, format!("workspaces.tenancy.kcp.io {path:?} not found")));
        }
        // A service account would be a stranger in whatever the path named, had it existed.
        let seen = apimachinery::auth::as_seen_in(user.clone(), &path);
        return Err(forbidden(&seen, info, ""));
    };
    if let Some(info) = req.extensions_mut().get_mut::<RequestInfo>() {
        info.cluster = ClusterTarget::Name(cluster);
    }
    Ok(())
}

/// The logical cluster a workspace path names, walking the Workspaces from its first segment.
pub(crate) async fn walk_path(store: &dyn Storage, path: &str) -> Option<String> {
    let path = WorkspacePath::parse(path)?;
    let mut cluster = path.start().to_string();
    for &name in path.children() {
        let key = Key { group: "tenancy.kcp.io", resource: "workspaces", cluster: &cluster, namespace: "", name }.encode();
        let stored = store.get(&key).await.ok()?;
        cluster = serde_json::from_slice::<serde_json::Value>(&stored.value)
            .ok()?
            .pointer("/spec/cluster")
            .and_then(serde_json::Value::as_str)
            .filter(|c| !c.is_empty())?
            .to_string();
    }
    Some(cluster)
}

/// Lets a request into an existing, active logical cluster. Whether a cluster exists or is
/// inactive is told only to those the authorizer lets in.
async fn check_cluster(gate: &Authorize, cluster: &str, user: &UserInfo, info: &RequestInfo) -> Result<(), ApiError> {
    let key = Key::logical_cluster(cluster).encode();
    let masters = user.is_masters();
    if let Ok(stored) = gate.store.get(&key).await {
        // An inactive logical cluster is closed to everyone but system:masters (who can
        // reopen it); saying so is only for those who could otherwise have come in.
        if !masters && is_inactive(&stored.value) {
            let why = if gate.authz.allows(cluster, &attributes(user, info)).await? { "the logical cluster is inactive" } else { "" };
            return Err(forbidden(user, info, why));
        }
        return Ok(());
    }
    let creating_cluster = info.verb == Verb::Create && info.api_group == "core.kcp.io" && info.resource == "logicalclusters";
    // Discovery and OpenAPI let kubectl validate the LogicalCluster it is about to create.
    if masters && (creating_cluster || !info.is_resource_request) {
        return Ok(());
    }
    if masters {
        return Err(ApiError::new(Reason::NotFound, format!("logical cluster {cluster:?} not found")));
    }
    // Without privileges, a missing cluster looks exactly like one you may not access.
    Err(forbidden(user, info, ""))
}

/// Annotation that closes a logical cluster when `"true"`.
pub const INACTIVE_ANNOTATION: &str = "core.kcp.io/inactive";

/// Whether a stored LogicalCluster carries `core.kcp.io/inactive: "true"`.
pub(crate) fn is_inactive(stored: &[u8]) -> bool {
    // Almost no cluster is inactive: skip parsing unless the annotation's name is there at all.
    let needle = INACTIVE_ANNOTATION.as_bytes();
    if !stored.windows(needle.len()).any(|w| w == needle) {
        return false;
    }
    serde_json::from_slice::<serde_json::Value>(stored)
        .ok()
        .and_then(|lc| lc.pointer("/metadata/annotations").and_then(|a| a.get(INACTIVE_ANNOTATION)).cloned())
        .is_some_and(|v| v == "true")
}

/// Creating a SelfSubjectAccessReview, SelfSubjectRulesReview or SelfSubjectReview.
fn is_self_review(info: &RequestInfo) -> bool {
    info.verb == Verb::Create
        && matches!(
            (info.api_group.as_str(), info.resource.as_str()),
            ("authorization.k8s.io", "selfsubjectaccessreviews" | "selfsubjectrulesreviews") | ("authentication.k8s.io", "selfsubjectreviews")
        )
}

/// Authorization attributes of a request.
pub fn attributes(user: &UserInfo, info: &RequestInfo) -> Attributes {
    Attributes {
        user: user.clone(),
        verb: info.verb.to_string(),
        resource_request: info.is_resource_request,
        api_group: info.api_group.clone(),
        api_version: info.api_version.clone(),
        resource: info.resource.clone(),
        subresource: info.subresource.clone(),
        namespace: info.namespace.clone(),
        name: info.name.clone(),
        path: info.path.clone(),
    }
}

fn forbidden(user: &UserInfo, info: &RequestInfo, why: &str) -> ApiError {
    if !info.is_resource_request {
        let verb = &info.verb;
        let mut msg = format!("forbidden: User \"{}\" cannot {verb} path \"{}\"", user.name, info.path);
        if !why.is_empty() {
            msg.push_str(": ");
            msg.push_str(why);
        }
        return ApiError::new(Reason::Forbidden, msg);
    }
    let scope = if info.namespace.is_empty() {
        match info.cluster_as_written.as_str() {
            "" => "at the cluster scope".to_string(),
            c => format!("at the cluster scope of workspace \"{c}\""),
        }
    } else {
        format!("in the namespace \"{}\"", info.namespace)
    };
    let resource = if info.subresource.is_empty() { info.resource.clone() } else { format!("{}/{}", info.resource, info.subresource) };
    ApiError::forbidden(&user.name, info.verb.as_str(), &resource, &info.api_group, &info.name, &scope, why)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inactive_only_when_annotated_true() {
        let lc = |a: serde_json::Value| serde_json::to_vec(&serde_json::json!({"metadata": {"name": "cluster", "annotations": a}})).unwrap_or_default();
        assert!(is_inactive(&lc(serde_json::json!({"core.kcp.io/inactive": "true"}))));
        assert!(!is_inactive(&lc(serde_json::json!({"core.kcp.io/inactive": "false"}))));
        assert!(!is_inactive(&lc(serde_json::json!({"kcp.io/path": "root:a"}))));
    }
}
