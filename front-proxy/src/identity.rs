//! Who is calling, as the front-proxy decides it: a client certificate or a static token gives
//! a user whose identity the shard receives in `X-Remote-*` headers; a service-account token
//! is checked here (signature, issuer, audience, expiry) but authenticated again by the shard,
//! which alone knows whether the service account still exists.

use apimachinery::auth::{self, Claims, TokenFile, TokenVerifier, UserInfo};
use apiserver::auth::authn::PeerSubject;

use crate::oidc::Oidc;

/// The outcome of authentication at the proxy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Identity {
    /// Authenticated here; forwarded as identity headers.
    User(UserInfo),
    /// A valid service-account token, forwarded as is for the shard to authenticate.
    ServiceAccount(Box<Claims>),
    /// No credentials: the shard answers as it does for anonymous callers.
    Anonymous,
}

/// Groups a caller may not carry through the proxy, whatever authenticated them.
#[derive(Debug, Clone)]
pub struct GroupFilter {
    /// Dropped groups; a trailing `*` drops every group with that prefix.
    pub drop: Vec<String>,
    /// Groups passed on even if `drop` names them.
    pub pass_on: Vec<String>,
}

impl Default for GroupFilter {
    fn default() -> Self {
        GroupFilter { drop: vec!["system:masters".into(), "system:kcp:logical-cluster-admin".into()], pass_on: Vec::new() }
    }
}

fn matches(pattern: &str, group: &str) -> bool {
    match pattern.strip_suffix('*') {
        Some(prefix) => group.starts_with(prefix),
        None => pattern == group,
    }
}

impl GroupFilter {
    /// The groups that survive.
    pub fn apply(&self, groups: Vec<String>) -> Vec<String> {
        groups.into_iter().filter(|g| self.pass_on.iter().any(|p| matches(p, g)) || !self.drop.iter().any(|p| matches(p, g))).collect()
    }
}

/// The proxy's authenticators.
pub struct Authenticators {
    /// Static bearer tokens, tried first.
    pub tokens: Option<TokenFile>,
    /// The OIDC issuer, tried for tokens that name it as their issuer.
    pub oidc: Option<Oidc>,
    /// Checks service-account tokens before they are passed on; without it they are refused.
    pub service_accounts: Option<TokenVerifier>,
    /// Filters the groups of users authenticated here before they are forwarded.
    pub groups: GroupFilter,
}

impl Authenticators {
    /// Identifies a request; None means credentials were presented and are invalid (401).
    pub async fn identify(&self, authorization: Option<&str>, peer: Option<&PeerSubject>) -> Option<Identity> {
        let identity = if let Some(token) = auth::bearer_token(authorization) {
            if let Some(user) = self.tokens.as_ref().and_then(|t| t.authenticate(token)) {
                Identity::User(user)
            } else if let Some(oidc) = self.oidc.as_ref().filter(|o| o.is_mine(token)) {
                match oidc.authenticate(token).await {
                    Ok(user) => Identity::User(user),
                    Err(e) => {
                        tracing::info!(error = %apiserver::process::report(&e), "OIDC token refused");
                        return None;
                    }
                }
            } else {
                Identity::ServiceAccount(Box::new(self.service_accounts.as_ref()?.verify(token, &[])?))
            }
        } else if let Some(p) = peer {
            Identity::User(auth::user_from_certificate(p.0.clone(), p.1.clone()))
        } else {
            Identity::Anonymous
        };
        Some(match identity {
            Identity::User(mut u) => {
                u.groups = self.groups.apply(std::mem::take(&mut u.groups));
                Identity::User(u)
            }
            other => other,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn privileged_groups_are_dropped() {
        let f = GroupFilter::default();
        let g = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(f.apply(g(&["system:masters", "dev", "system:authenticated"])), g(&["dev", "system:authenticated"]));
        let f = GroupFilter { drop: g(&["system:kcp:*"]), pass_on: g(&["system:kcp:admin"]) };
        assert_eq!(f.apply(g(&["system:kcp:initializer:x", "system:kcp:admin"])), g(&["system:kcp:admin"]));
    }

    #[tokio::test]
    async fn certificates_tokens_and_nothing() {
        let tokens = TokenFile::parse("t1,alice,1,\"system:masters,dev\"\n").expect("token file");
        let a = Authenticators { tokens: Some(tokens), oidc: None, service_accounts: None, groups: GroupFilter::default() };
        let Some(Identity::User(u)) = a.identify(Some("Bearer t1"), None).await else { panic!("alice") };
        assert_eq!((u.name.as_str(), u.groups.clone()), ("alice", vec!["dev".to_string(), "system:authenticated".to_string()]));
        assert_eq!(a.identify(Some("Bearer nope"), None).await, None);
        assert_eq!(a.identify(None, None).await, Some(Identity::Anonymous));
        let peer = PeerSubject("bob".into(), vec!["system:masters".into()]);
        let Some(Identity::User(b)) = a.identify(None, Some(&peer)).await else { panic!("bob") };
        assert_eq!(b.groups, vec!["system:authenticated".to_string()]);
    }
}
