//! The kcp part of authorization: a request's workspace path is resolved to the logical
//! cluster it names, the cluster must exist and be active (or be the one `system:masters` is
//! creating), and service accounts of other clusters become strangers. Unknown and closed
//! clusters look the same to the caller as ones it may not access; what the caller may do
//! inside is then the authorizer's business (apiserver's Authorize phase, which runs next).

use std::sync::Arc;

use apimachinery::auth::UserInfo;
use apimachinery::request::{ClusterTarget, RequestInfo, Verb, WorkspacePath};
use apimachinery::status::{ApiError, Reason};
use apiserver::auth::authz::Authorizer;
use apiserver::server::access::{attributes, forbidden};
use apiserver::server::authenticate::ClusterResolver;
use apiserver::server::phase::{Outcome, Phase, Req};
use apiserver::storage::{Key, SharedStorage, Storage, StorageError};
use futures::future::BoxFuture;

/// The cluster gate phase.
pub struct ClusterGate {
    /// Decides whether callers may learn that a closed cluster is inactive.
    pub authz: Arc<Authorizer>,
    /// Where Workspaces and LogicalClusters are read.
    pub store: SharedStorage,
}

impl Phase for ClusterGate {
    fn run<'a>(&'a self, req: &'a mut Req) -> BoxFuture<'a, Result<Outcome, ApiError>> {
        Box::pin(async move {
            resolve_path(&*self.store, req).await?;
            scope_identity(req);
            let (Some(info), Some(user)) = (req.extensions().get::<RequestInfo>(), req.extensions().get::<UserInfo>()) else {
                return Err(ApiError::internal("the cluster gate ran before request parsing and authentication"));
            };
            if let ClusterTarget::Name(c) = &info.cluster {
                check_cluster(self, c, user, info).await?;
            }
            Ok(Outcome::Next)
        })
    }
}

/// Resolves workspace paths for the authentication phase, which judges impersonation with the
/// RBAC of the cluster a request goes to.
pub struct PathResolver(pub SharedStorage);

impl ClusterResolver for PathResolver {
    fn resolve<'a>(&'a self, path: &'a str) -> BoxFuture<'a, Option<String>> {
        // An unreadable store resolves nothing, so impersonation is judged as into an unknown
        // cluster: refused.
        Box::pin(async move { walk_path(&*self.0, path).await.ok().flatten() })
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
    let Some(cluster) = walk_path(store, &path).await? else {
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

/// The logical cluster a workspace path names, walking the Workspaces from its first segment;
/// `None` when the path names no workspace. A store that cannot be read is an error, never
/// "no such workspace": that would answer 404 (or 403) for what a retry can serve.
pub async fn walk_path(store: &dyn Storage, path: &str) -> Result<Option<String>, StorageError> {
    let Some(path) = WorkspacePath::parse(path) else { return Ok(None) };
    let mut cluster = path.start().to_string();
    for &name in path.children() {
        let key = Key { group: "tenancy.kcp.io", resource: "workspaces", cluster: &cluster, namespace: "", name }.encode();
        let stored = match store.get(&key).await {
            Ok(stored) => stored,
            Err(StorageError::NotFound { .. }) => return Ok(None),
            Err(other) => return Err(other),
        };
        let next = serde_json::from_slice::<serde_json::Value>(&stored.value)
            .ok()
            .and_then(|ws| ws.pointer("/spec/cluster").and_then(serde_json::Value::as_str).filter(|c| !c.is_empty()).map(String::from));
        match next {
            Some(next) => cluster = next,
            None => return Ok(None),
        }
    }
    Ok(Some(cluster))
}

/// Lets a request into an existing, active logical cluster. Whether a cluster exists or is
/// inactive is told only to those the authorizer lets in.
async fn check_cluster(gate: &ClusterGate, cluster: &str, user: &UserInfo, info: &RequestInfo) -> Result<(), ApiError> {
    let key = Key::logical_cluster(cluster).encode();
    let masters = user.is_masters();
    let found = match gate.store.get(&key).await {
        Ok(stored) => Some(stored),
        Err(StorageError::NotFound { .. }) => None,
        // Unreadable is not missing: the caller gets the storage error (503 when retryable).
        Err(other) => return Err(other.into()),
    };
    if let Some(stored) = found {
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
pub fn is_inactive(stored: &[u8]) -> bool {
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
