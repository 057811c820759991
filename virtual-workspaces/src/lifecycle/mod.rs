//! The initializingworkspaces and terminatingworkspaces virtual workspaces: for one
//! initializer (terminator), the logical clusters of this shard that wait for it, and their
//! content until it lets go.
//!
//! A wildcard list or watch of `logicalclusters` shows the clusters in the hook's stage
//! (`Initializing`; deleted and `Terminating`) whose `status` list still names the holder; one
//! that stops waiting (the holder removed itself, or the stage ended) is delivered as DELETED.
//! Inside one waiting cluster, the LogicalCluster can be read and changed only through its
//! `status` and only by removing the holder, and every other request runs as the workspace's
//! creator, under the creator's permissions, as kcp does, unless the type grants its holder
//! permissions of its own. Once the cluster stops waiting, its LogicalCluster is not found here
//! and its content is forbidden. Every request first needs the hook's verb (`initialize`,
//! `terminate`) on the WorkspaceType.

pub mod guard;
pub mod path;

use std::sync::Arc;

use apimachinery::auth::UserInfo;
use apimachinery::registry::kcpcore::logicalcluster::{self, Hook, LogicalCluster};
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
    /// The type's `spec.initializerPermissions` (`terminatorPermissions` for
    /// [`Hook::Terminator`]), RBAC PolicyRules, when it sets any.
    fn permissions<'a>(&'a self, hook: Hook, type_ref: &'a str) -> BoxFuture<'a, Result<Option<Vec<Value>>, ApiError>>;
}

/// Whether `rules` (RBAC PolicyRules) allow the request `attrs`.
fn rules_allow(rules: &[Value], attrs: &apimachinery::auth::Attributes) -> bool {
    let role = serde_json::json!({"metadata": {"name": "holder"}, "rules": rules});
    let binding = serde_json::json!({"metadata": {"name": "holder"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "holder"},
        "subjects": [{"kind": "User", "name": attrs.user.name}]});
    let rbac = apimachinery::auth::RbacObjects { cluster_roles: vec![role], cluster_role_bindings: vec![binding], ..Default::default() };
    matches!(apimachinery::auth::rbac::authorize(attrs, &rbac), apimachinery::auth::Decision::Allow(_))
}

/// The request phase answering `/services/initializingworkspaces/...` and
/// `/services/terminatingworkspaces/...`.
pub struct LifecycleView {
    /// The shard's REST handlers, store and authorizer.
    pub api: Arc<Api>,
    /// Who may act as an initializer or terminator.
    pub access: Arc<dyn TypeAccess>,
}

impl Phase for LifecycleView {
    fn run<'a>(&'a self, req: &'a mut Req) -> BoxFuture<'a, Result<Outcome, ApiError>> {
        Box::pin(async move {
            let Some(target) = path::parse(req.method(), req.uri().path(), req.uri().query()) else { return Ok(Outcome::Next) };
            let user = req.extensions().get::<UserInfo>().cloned().ok_or_else(ApiError::unauthorized)?;
            let path::Target { hook, holder, info } = target?;
            if !self.access.may(&user, hook.verb(), &holder).await? {
                return Err(forbidden(&user, &info, &format!("verb {} on WorkspaceType {holder} not granted", hook.verb())));
            }
            let root = crate::root_url(&format!("{}{holder}", path::prefix(hook)), &info);
            let lc_info = LogicalCluster.info();
            let is_lc = info.is_resource_request && info.api_group == lc_info.group && info.resource == lc_info.plural;
            let cluster = match &info.cluster {
                ClusterTarget::Name(c) => c.clone(),
                _ if !info.is_resource_request => return crate::discovery(&[lc_info], &info, &root, req.headers()).map(Outcome::Respond),
                _ if is_lc => {
                    let waiting: Visible = Arc::new(move |lc: &Value| hook.holds(lc, &holder));
                    return self.pass(req, user, info, Some(waiting), None).await;
                }
                _ => return Err(ApiError::path_not_found()),
            };
            let lc = self.logical_cluster(&cluster).await?;
            let waiting = lc.as_ref().is_some_and(|lc| hook.holds(lc, &holder));
            if is_lc {
                if !waiting || (!info.name.is_empty() && info.name != "cluster") {
                    return Err(ApiError::not_found(&lc_info.group, &lc_info.plural, if info.name.is_empty() { "cluster" } else { &info.name }));
                }
                // Reads of the object, and changes of its status only: the rest of it is the
                // system's (kcp answers the same).
                let writes_status = info.subresource == "status" && matches!(info.verb, Verb::Update | Verb::Patch);
                if !matches!(info.verb, Verb::Get | Verb::List | Verb::Watch) && !writes_status {
                    return Err(ApiError::method_not_allowed(format!(
                        "the server does not allow this method on the requested resource: {} through the view of {holder}; only its status may be changed",
                        info.verb
                    )));
                }
                let guard: Guard = Arc::new(move |old: &Value, new: &Value| guard::only_removes(hook, &holder, old, new));
                return self.pass(req, user, info, None, Some(guard)).await;
            }
            let owner = match lc.as_ref().filter(|_| waiting).and_then(logicalcluster::owner) {
                Some(owner) => owner,
                None => return Err(forbidden(&user, &info, &format!("the logical cluster is not waiting for {} {holder}", hook.type_flag()))),
            };
            if !info.is_resource_request {
                return crate::discovery(&self.api.served(&cluster), &info, &root, req.headers()).map(Outcome::Respond);
            }
            // A type granting its holder permissions: exactly those, as the caller in the
            // holder's group. Otherwise it acts as the workspace's creator, with their
            // permissions, not its own.
            if let Some(rules) = self.access.permissions(hook, &holder).await? {
                if !rules_allow(&rules, &attributes(&user, &info)) {
                    return Err(forbidden(&user, &info, &format!("not among the {} of WorkspaceType {holder}", hook.permissions_field())));
                }
                let mut caller = user;
                caller.groups.push(format!("{}{holder}", hook.group_prefix()));
                return self.pass(req, caller, info, None, None).await;
            }
            if !self.api.authz.allows(&cluster, &attributes(&owner, &info)).await? {
                return Err(forbidden(&user, &info, "the workspace's creator may not do this"));
            }
            self.pass(req, owner, info, None, None).await
        })
    }
}

impl LifecycleView {
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
