//! The authentication phase: who is calling (client certificate, bearer token, or the
//! front-proxy's identity headers), then whom they act as (impersonation, judged by the RBAC of
//! the logical cluster the request goes to).

use std::sync::Arc;

use futures::future::BoxFuture;

use super::phase::{Outcome, Phase, Req};
use crate::audit::Trail;
use crate::auth::authn::{strip_identity_headers, user_from_headers, Authenticator, PeerSubject, TrustedProxy, REMOTE_CLUSTER};
use crate::auth::authz::{Authorizer, BOOTSTRAP_CLUSTER};
use apimachinery::auth::{self, Attributes, UserInfo, MASTERS_GROUP};
use apimachinery::request::{ClusterTarget, RequestInfo, SERVICES_PREFIX};
use apimachinery::status::ApiError;

/// The authentication phase: puts the caller's [`UserInfo`] on the request.
pub struct Authenticate {
    /// Who the credentials say the caller is.
    pub authn: Arc<Authenticator>,
    /// Whether the caller may impersonate whom it asks to.
    pub authz: Arc<Authorizer>,
    /// Turns a workspace path into its logical cluster, to judge impersonation in the target's
    /// RBAC; without one, impersonation on a path is judged by the bootstrap policy alone.
    pub resolver: Option<Arc<dyn ClusterResolver>>,
}

/// Resolves the cluster a request names as written (a workspace path) to a logical cluster.
pub trait ClusterResolver: Send + Sync {
    /// The logical cluster `path` names, if any.
    fn resolve<'a>(&'a self, path: &'a str) -> BoxFuture<'a, Option<String>>;
}

impl Phase for Authenticate {
    fn run<'a>(&'a self, req: &'a mut Req) -> BoxFuture<'a, Result<Outcome, ApiError>> {
        Box::pin(async move {
            let forwarded = req.extensions().get::<TrustedProxy>().and_then(|_| user_from_headers(req.headers()));
            if req.extensions().get::<TrustedProxy>().is_some() {
                adopt_cluster_as_written(req);
            }
            let authorization = req.headers().get(http::header::AUTHORIZATION).and_then(|v| v.to_str().ok());
            let user = match forwarded {
                Some(user) => user,
                None => self.authn.authenticate(authorization, req.extensions().get::<PeerSubject>()).await?.ok_or_else(ApiError::unauthorized)?,
            };
            route_in_cluster_client(req, &user);
            if let Some(trail) = req.extensions().get::<Trail>() {
                trail.identify(&user.clone().without_cluster_groups());
            }
            let impersonating = req.headers().contains_key(IMPERSONATE_USER) || req.headers().contains_key(IMPERSONATE_GROUP);
            let user = if impersonating {
                // Impersonation is judged by the RBAC of the cluster the request goes to, so a
                // path is resolved first; an unknown one has no RBAC and grants nothing.
                let cluster = match req.extensions().get::<RequestInfo>() {
                    Some(info) if info.cluster_is_path() => {
                        let path = info.cluster_as_written.clone();
                        match &self.resolver {
                            Some(resolver) => resolver.resolve(&path).await.unwrap_or(path),
                            None => BOOTSTRAP_CLUSTER.to_string(),
                        }
                    }
                    Some(info) => info.cluster_name().unwrap_or(BOOTSTRAP_CLUSTER).to_string(),
                    None => BOOTSTRAP_CLUSTER.to_string(),
                };
                impersonate(&self.authz, user, req.headers(), &cluster).await?
            } else {
                user
            };
            // Workspace groups are the server's to give (after this phase), never a caller's.
            let user = user.without_cluster_groups();
            if let Some(trail) = req.extensions().get::<Trail>().filter(|_| impersonating) {
                trail.impersonate(&user);
            }
            tracing::Span::current().record("user", user.name.as_str());
            // Nothing past this phase may read identity headers; drop them in any case.
            strip_identity_headers(req.headers_mut());
            req.extensions_mut().insert(user);
            Ok(Outcome::Next)
        })
    }
}

/// Groups whose members hold power beyond one workspace: `system:masters` and kcp's own
/// `system:kcp:*` groups (the kcp administrators among them).
fn is_privileged_group(group: &str) -> bool {
    group == MASTERS_GROUP || group.starts_with("system:kcp:")
}

/// A service account calling without a `/clusters/` prefix (an in-cluster client) addresses
/// its own logical cluster, unless it calls a view, which names its clusters itself.
fn route_in_cluster_client(req: &mut Req, user: &UserInfo) {
    let Some(cluster) = auth::service_account_cluster(user) else { return };
    if req.uri().path().starts_with(SERVICES_PREFIX) {
        return;
    }
    if let Some(info) = req.extensions_mut().get_mut::<RequestInfo>() {
        if info.cluster == ClusterTarget::None {
            info.cluster = ClusterTarget::Name(cluster.to_string());
            tracing::Span::current().record("cluster", cluster);
        }
    }
}

/// The front-proxy forwards to `/clusters/<logical cluster>` and says in [`REMOTE_CLUSTER`] how
/// the caller wrote it; messages use the caller's words.
fn adopt_cluster_as_written(req: &mut Req) {
    let Some(written) =
        req.headers().get(REMOTE_CLUSTER).and_then(|v| v.to_str().ok()).filter(|w| apimachinery::request::valid_cluster_name(w)).map(String::from)
    else {
        return;
    };
    if let Some(info) = req.extensions_mut().get_mut::<RequestInfo>().filter(|i| i.cluster_name().is_some()) {
        info.cluster_as_written = written;
    }
}

const IMPERSONATE_USER: &str = "impersonate-user";
const IMPERSONATE_GROUP: &str = "impersonate-group";

async fn impersonate(authz: &Authorizer, user: UserInfo, headers: &http::HeaderMap, cluster: &str) -> Result<UserInfo, ApiError> {
    let Some(target) = headers.get(IMPERSONATE_USER).and_then(|v| v.to_str().ok()) else {
        if headers.contains_key(IMPERSONATE_GROUP) {
            return Err(ApiError::new(apimachinery::status::Reason::BadRequest, "requested Impersonate-Group without Impersonate-User"));
        }
        return Ok(user);
    };
    let groups: Vec<String> = headers.get_all(IMPERSONATE_GROUP).iter().filter_map(|v| v.to_str().ok().map(String::from)).collect();
    // RBAC inside a workspace may grant `impersonate` on anything, but a workspace's admin
    // must not become an administrator of the whole shard, or one of its controllers, that way.
    if !user.is_masters() {
        if target.starts_with("system:kcp:") {
            return Err(ApiError::new(
                apimachinery::status::Reason::Forbidden,
                format!("users \"{target}\" is forbidden: User \"{}\" cannot impersonate user \"{target}\": only system:masters may impersonate the system's own users", user.name),
            ));
        }
        if let Some(g) = groups.iter().find(|g| is_privileged_group(g)) {
            return Err(ApiError::new(
                apimachinery::status::Reason::Forbidden,
                format!(
                    "groups \"{g}\" is forbidden: User \"{}\" cannot impersonate group \"{g}\": only system:masters may impersonate privileged groups",
                    user.name
                ),
            ));
        }
    }
    let mut checks: Vec<(String, String, String)> = Vec::new();
    match target.strip_prefix("system:serviceaccount:").and_then(|r| r.split_once(':')) {
        Some((ns, name)) => checks.push(("serviceaccounts".into(), ns.into(), name.into())),
        None => checks.push(("users".into(), String::new(), target.into())),
    }
    checks.extend(groups.iter().map(|g| ("groups".to_string(), String::new(), g.clone())));
    for (resource, namespace, name) in checks {
        let attrs = Attributes {
            user: user.clone(),
            verb: "impersonate".into(),
            resource_request: true,
            resource: resource.clone(),
            namespace,
            name: name.clone(),
            ..Default::default()
        };
        if !authz.allows(cluster, &attrs).await? {
            return Err(ApiError::new(
                apimachinery::status::Reason::Forbidden,
                format!(
                    "{resource} \"{name}\" is forbidden: User \"{}\" cannot impersonate resource \"{resource}\" in API group \"\" at the cluster scope",
                    user.name
                ),
            ));
        }
    }
    Ok(UserInfo { name: target.to_string(), uid: String::new(), groups, extra: Default::default() }.with_authenticated_group())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn privileged_groups() {
        assert!(is_privileged_group("system:masters"));
        assert!(is_privileged_group("system:kcp:admin"));
        assert!(is_privileged_group("system:kcp:logical-cluster-admin"));
        assert!(!is_privileged_group("system:authenticated"));
        assert!(!is_privileged_group("dev"));
    }

    #[test]
    fn an_in_cluster_client_addresses_its_cluster_but_not_through_a_view() {
        let robot = UserInfo {
            name: "system:serviceaccount:default:robot".into(),
            extra: [(apimachinery::auth::service_account::CLUSTER_NAME_EXTRA.to_string(), vec!["c1".to_string()])].into(),
            ..Default::default()
        };
        let routed = |path: &str| {
            let mut req = crate::server::phase::parsed(http::Method::GET, path);
            route_in_cluster_client(&mut req, &robot);
            req.extensions().get::<RequestInfo>().and_then(|i| i.cluster_name().map(String::from))
        };
        assert_eq!(routed("/api/v1/namespaces/default/configmaps").as_deref(), Some("c1"));
        assert_eq!(routed("/clusters/c2/api/v1/namespaces/default/configmaps").as_deref(), Some("c2"));
        assert_eq!(routed("/services/terminatingworkspaces/root:cleanup/clusters/*/api"), None);
    }
}
