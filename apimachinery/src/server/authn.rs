//! Authentication: client certificate or bearer token, then impersonation; 401 otherwise.

use std::sync::Arc;

use futures::future::BoxFuture;

use super::phase::{Outcome, Phase, Req};
use crate::auth::{self, Attributes, TokenFile, UserInfo};
use crate::request::RequestInfo;
use crate::rest::Api;
use crate::status::ApiError;

/// The verified client certificate's (CN, O values), put on requests by the connection.
#[derive(Debug, Clone)]
pub struct PeerSubject(pub String, pub Vec<String>);

/// The configured authenticators.
#[derive(Default)]
pub struct Authenticator {
    pub tokens: Option<TokenFile>,
}

impl Authenticator {
    /// Identifies the caller from the Authorization header or the client certificate.
    pub fn authenticate(&self, authorization: Option<&str>, peer: Option<&PeerSubject>) -> Option<UserInfo> {
        if let Some(token) = auth::bearer_token(authorization) {
            // A presented token that does not authenticate is a failure, not a fallback.
            return self.authenticate_token(token);
        }
        peer.map(|p| auth::user_from_certificate(p.0.clone(), p.1.clone()))
    }

    /// Identifies a bearer token (TokenReview uses this too).
    pub fn authenticate_token(&self, token: &str) -> Option<UserInfo> {
        self.tokens.as_ref().and_then(|t| t.authenticate(token))
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
            let user = self.api.authn.authenticate(authorization, req.extensions().get::<PeerSubject>()).ok_or_else(ApiError::unauthorized)?;
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

