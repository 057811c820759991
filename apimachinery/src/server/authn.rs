//! Authentication: client certificate or bearer token, then impersonation; 401 otherwise.

use std::sync::Arc;

use futures::future::BoxFuture;

use super::phase::{Outcome, Phase, Req};
use crate::auth::{self, Attributes, TokenFile, TokenSigner, UserInfo};
use crate::request::{ClusterTarget, RequestInfo};
use crate::rest::Api;
use crate::status::ApiError;
use crate::storage::{Key, SharedStorage};

/// The verified client certificate's (CN, O values), put on requests by the connection.
#[derive(Debug, Clone)]
pub struct PeerSubject(pub String, pub Vec<String>);

/// The configured authenticators.
#[derive(Default)]
pub struct Authenticator {
    pub tokens: Option<TokenFile>,
    pub service_accounts: Option<ServiceAccountTokens>,
}

/// Service-account tokens: the signer, and the storage that says whether the account still exists.
pub struct ServiceAccountTokens {
    pub signer: TokenSigner,
    pub store: SharedStorage,
}

impl ServiceAccountTokens {
    /// The identity of a valid token whose service account still exists with the same uid.
    async fn authenticate(&self, token: &str, audiences: &[String]) -> Option<UserInfo> {
        let claims = self.signer.verify(token, audiences)?;
        let sa = &claims.kubernetes;
        let key = Key { group: "", resource: "serviceaccounts", cluster: &sa.cluster, namespace: &sa.namespace, name: &sa.account.name };
        let stored = self.store.get(&key.encode()).await.ok()?;
        let obj: serde_json::Value = serde_json::from_slice(&stored.value).ok()?;
        let alive = obj.pointer("/metadata/uid").and_then(|u| u.as_str()) == Some(sa.account.uid.as_str())
            && obj.pointer("/metadata/deletionTimestamp").is_none();
        alive.then(|| claims.user())
    }
}

impl Authenticator {
    /// Identifies the caller from the Authorization header or the client certificate.
    pub async fn authenticate(&self, authorization: Option<&str>, peer: Option<&PeerSubject>) -> Option<UserInfo> {
        if let Some(token) = auth::bearer_token(authorization) {
            // A presented token that does not authenticate is a failure, not a fallback.
            return self.authenticate_token(token, &[]).await;
        }
        peer.map(|p| auth::user_from_certificate(p.0.clone(), p.1.clone()))
    }

    /// Identifies a bearer token meant for one of `audiences` (the API server when empty);
    /// TokenReview uses this too.
    pub async fn authenticate_token(&self, token: &str, audiences: &[String]) -> Option<UserInfo> {
        if let Some(user) = self.tokens.as_ref().and_then(|t| t.authenticate(token)) {
            return Some(user);
        }
        self.service_accounts.as_ref()?.authenticate(token, audiences).await
    }
}

/// The authentication phase: puts the caller's [`UserInfo`] on the request.
pub struct Authenticate {
    pub api: Arc<Api>,
}

impl Phase for Authenticate {
    fn run<'a>(&'a self, req: &'a mut Req) -> BoxFuture<'a, Result<Outcome, ApiError>> {
        Box::pin(async move {
            let authorization = req.headers().get(http::header::AUTHORIZATION).and_then(|v| v.to_str().ok());
            let user = self.api.authn.authenticate(authorization, req.extensions().get::<PeerSubject>()).await.ok_or_else(ApiError::unauthorized)?;
            route_in_cluster_client(req, &user);
            // Paths are resolved only after authentication; impersonation of a request addressed
            // by path is judged by the bootstrap policy.
            let cluster = req
                .extensions()
                .get::<RequestInfo>()
                .filter(|i| !i.cluster_is_path())
                .and_then(|i| i.cluster_name().map(String::from))
                .unwrap_or_else(|| super::authz::BOOTSTRAP_CLUSTER.to_string());
            let user = impersonate(&self.api, user, req.headers(), &cluster).await?;
            tracing::Span::current().record("user", user.name.as_str());
            req.extensions_mut().insert(user);
            Ok(Outcome::Next)
        })
    }
}

/// A service account calling without a `/clusters/` prefix (an in-cluster client) addresses
/// its own logical cluster.
fn route_in_cluster_client(req: &mut Req, user: &UserInfo) {
    let Some(cluster) = auth::service_account_cluster(user) else { return };
    if let Some(info) = req.extensions_mut().get_mut::<RequestInfo>() {
        if info.cluster == ClusterTarget::None {
            info.cluster = ClusterTarget::Name(cluster.to_string());
            tracing::Span::current().record("cluster", cluster);
        }
    }
}

async fn impersonate(api: &Api, user: UserInfo, headers: &http::HeaderMap, cluster: &str) -> Result<UserInfo, ApiError> {
    let Some(target) = headers.get("impersonate-user").and_then(|v| v.to_str().ok()) else {
        if headers.contains_key("impersonate-group") {
            return Err(ApiError::new(crate::status::Reason::BadRequest, "requested Impersonate-Group without Impersonate-User"));
        }
        return Ok(user);
    };
    let groups: Vec<String> = headers.get_all("impersonate-group").iter().filter_map(|v| v.to_str().ok().map(String::from)).collect();
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
        if !api.authz.allows(cluster, &attrs).await? {
            return Err(ApiError::new(
                crate::status::Reason::Forbidden,
                format!("{resource} \"{name}\" is forbidden: User \"{}\" cannot impersonate resource \"{resource}\" in API group \"\" at the cluster scope", user.name),
            ));
        }
    }
    Ok(UserInfo { name: target.to_string(), uid: String::new(), groups, extra: Default::default() }.with_authenticated_group())
}

