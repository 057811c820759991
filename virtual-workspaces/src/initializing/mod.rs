//! The initializingworkspaces virtual workspace: for one initializer, the logical clusters of
//! this shard that wait for it, and their content until it lets go.
//!
//! A wildcard list or watch of `logicalclusters` shows the clusters in `Initializing` whose
//! `status.initializers` still name the initializer; one that stops waiting (the initializer
//! removed itself, or the cluster became Ready) is delivered as DELETED. Inside one waiting
//! cluster, the LogicalCluster can be read and changed only by removing the initializer, and
//! every other request runs as the workspace's creator, under the creator's permissions, as kcp
//! does. Once the cluster stops waiting, its LogicalCluster is not found here and its content
//! is forbidden. Every request first needs verb `initialize` on the WorkspaceType.

pub mod guard;
pub mod path;

use std::sync::Arc;

use apimachinery::auth::UserInfo;
use apimachinery::registry::kcpcore::logicalcluster::{self, LogicalCluster};
use apimachinery::registry::strategy::Strategy;
use apimachinery::request::{ClusterTarget, RequestInfo, Verb};
use apimachinery::status::ApiError;
use apiserver::rest::{Api, Guard, Visible};
use apiserver::server::access::{attributes, forbidden};
use apiserver::server::phase::{Outcome, Phase, Req};
use apiserver::storage::Key;
use futures::future::BoxFuture;
use serde_json::Value;

/// Whether a user holds a verb on a WorkspaceType, in the workspace that defines it (which may
/// be on another shard); the shard implements it with its RBAC and cache.
pub trait TypeAccess: Send + Sync {
    /// Whether `user` may `verb` the WorkspaceType `type_ref` (`<workspace path>:<name>`); an
    /// unknown type allows nothing.
    fn may<'a>(&'a self, user: &'a UserInfo, verb: &'a str, type_ref: &'a str) -> BoxFuture<'a, Result<bool, ApiError>>;
    /// The type's `spec.initializerPermissions` (RBAC PolicyRules), when it sets any.
    fn initializer_permissions<'a>(&'a self, type_ref: &'a str) -> BoxFuture<'a, Result<Option<Vec<Value>>, ApiError>>;
}

/// Whether `rules` (RBAC PolicyRules) allow the request `attrs`.
fn rules_allow(rules: &[Value], attrs: &apimachinery::auth::Attributes) -> bool {
    let role = serde_json::json!({"metadata": {"name": "initializer"}, "rules": rules});
    let binding = serde_json::json!({"metadata": {"name": "initializer"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "initializer"},
        "subjects": [{"kind": "User", "name": attrs.user.name}]});
    let rbac = apimachinery::auth::RbacObjects { cluster_roles: vec![role], cluster_role_bindings: vec![binding], ..Default::default() };
    matches!(apimachinery::auth::rbac::authorize(attrs, &rbac), apimachinery::auth::Decision::Allow(_))
}

/// The request phase answering `/services/initializingworkspaces/...`.
pub struct InitializingView {
    /// The shard's REST handlers, store and authorizer.
    pub api: Arc<Api>,
    /// Who may act as an initializer.
    pub access: Arc<dyn TypeAccess>,
}

impl Phase for InitializingView {
    fn run<'a>(&'a self, req: &'a mut Req) -> BoxFuture<'a, Result<Outcome, ApiError>> {
        Box::pin(async move {
            let Some(target) = path::parse(req.method(), req.uri().path(), req.uri().query()) else { return Ok(Outcome::Next) };
            let user = req.extensions().get::<UserInfo>().cloned().ok_or_else(ApiError::unauthorized)?;
            let path::Target { initializer, info } = target?;
            if !self.access.may(&user, "initialize", &initializer).await? {
                return Err(forbidden(&user, &info, &format!("verb initialize on WorkspaceType {initializer} not granted")));
            }
            let root = crate::root_url(&format!("{}{initializer}", path::PREFIX), &info);
            let lc_info = LogicalCluster.info();
            let is_lc = info.is_resource_request && info.api_group == lc_info.group && info.resource == lc_info.plural;
            let cluster = match &info.cluster {
                ClusterTarget::Name(c) => c.clone(),
                _ if !info.is_resource_request => return crate::discovery(&[lc_info], &info, &root, req.headers()).map(Outcome::Respond),
                _ if is_lc => {
                    let waiting: Visible = Arc::new(move |lc: &Value| logicalcluster::waits_for(lc, &initializer));
                    return self.pass(req, user, info, Some(waiting), None).await;
                }
                _ => return Err(ApiError::path_not_found()),
            };
            let lc = self.logical_cluster(&cluster).await?;
            let waiting = lc.as_ref().is_some_and(|lc| logicalcluster::waits_for(lc, &initializer));
            if is_lc {
                if !waiting || (!info.name.is_empty() && info.name != "cluster") {
                    return Err(ApiError::not_found(&lc_info.group, &lc_info.plural, if info.name.is_empty() { "cluster" } else { &info.name }));
                }
                if !matches!(info.verb, Verb::Get | Verb::List | Verb::Watch | Verb::Update | Verb::Patch) {
                    return Err(ApiError::method_not_allowed(format!(
                        "the server does not allow this method on the requested resource: {} through an initializer's view",
                        info.verb
                    )));
                }
                let guard: Guard = Arc::new(move |old: &Value, new: &Value| guard::only_removes(&initializer, old, new));
                return self.pass(req, user, info, None, Some(guard)).await;
            }
            let owner = match lc.as_ref().filter(|_| waiting).and_then(logicalcluster::owner) {
                Some(owner) => owner,
                None => return Err(forbidden(&user, &info, &format!("the logical cluster is not waiting for initializer {initializer}"))),
            };
            if !info.is_resource_request {
                return crate::discovery(&self.api.served(&cluster), &info, &root, req.headers()).map(Outcome::Respond);
            }
            // A type granting its initializer permissions: exactly those, as the caller in the
            // initializer's group. Otherwise it acts as the workspace's creator, with their
            // permissions, not its own.
            if let Some(rules) = self.access.initializer_permissions(&initializer).await? {
                if !rules_allow(&rules, &attributes(&user, &info)) {
                    return Err(forbidden(&user, &info, &format!("not among the initializerPermissions of WorkspaceType {initializer}")));
                }
                let mut caller = user;
                caller.groups.push(format!("{}{initializer}", apimachinery::auth::INITIALIZER_GROUP_PREFIX));
                return self.pass(req, caller, info, None, None).await;
            }
            if !self.api.authz.allows(&cluster, &attributes(&owner, &info)).await? {
                return Err(forbidden(&user, &info, "the workspace's creator may not do this"));
            }
            self.pass(req, owner, info, None, None).await
        })
    }
}

impl InitializingView {
    /// The LogicalCluster of `cluster` on this shard, if there is one.
    async fn logical_cluster(&self, cluster: &str) -> Result<Option<Value>, ApiError> {
        match self.api.store.get(&Key::logical_cluster(cluster).encode()).await {
            Ok(stored) => Ok(serde_json::from_slice(&stored.value).ok()),
            Err(apiserver::storage::StorageError::NotFound { .. }) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    async fn pass(&self, req: &mut Req, user: UserInfo, info: RequestInfo, visible: Option<Visible>, guard: Option<Guard>) -> Result<Outcome, ApiError> {
        crate::handle(&self.api, req, user, info, visible, guard).await.map(Outcome::Respond)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use apimachinery::auth::Attributes;
    use serde_json::json;

    #[test]
    fn initializer_permissions_are_rbac_rules() {
        let rules = [json!({"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get", "create"]})];
        let user = UserInfo { name: "system:serviceaccount:default:init".into(), ..Default::default() };
        let ask = |resource: &str, verb: &str| Attributes {
            user: user.clone(),
            verb: verb.into(),
            resource_request: true,
            resource: resource.into(),
            namespace: "default".into(),
            ..Default::default()
        };
        assert!(rules_allow(&rules, &ask("configmaps", "get")));
        assert!(rules_allow(&rules, &ask("configmaps", "create")));
        assert!(!rules_allow(&rules, &ask("configmaps", "delete")));
        assert!(!rules_allow(&rules, &ask("secrets", "get")));
    }
}
