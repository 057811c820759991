//! Who is making a request: the `UserInfo` every authenticator produces, and the small
//! extractors (bearer header, client certificate) that feed authenticators.
//!
//! The struct mirrors kube's `user.Info` and serialises as the `userInfo` object of
//! TokenReview / SelfSubjectReview, so the REST layer can echo it without a second type.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Group every successfully authenticated request belongs to.
pub const AUTHENTICATED_GROUP: &str = "system:authenticated";

/// Username prefix kube gives service accounts: `system:serviceaccount:<ns>:<name>`.
pub const SERVICE_ACCOUNT_PREFIX: &str = "system:serviceaccount:";

/// An authenticated identity, in the `userInfo` JSON shape of the authentication.k8s.io API.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserInfo {
    /// User name (`username` on the wire).
    #[serde(rename = "username", default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    /// Stable unique id of the user, when the authenticator knows one.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub uid: String,
    /// Groups the user belongs to, in the order the authenticator reported them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub groups: Vec<String>,
    /// Authenticator-specific extra attributes (scopes, warrants, ...).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub extra: BTreeMap<String, Vec<String>>,
}

/// The group whose members are unrestricted on a shard.
pub const MASTERS_GROUP: &str = "system:masters";

/// Prefix of the groups naming a logical cluster (`system:cluster:<name>`): only the server
/// gives them, to a workspace's service accounts seen from elsewhere, so a provider may grant
/// to a whole consumer workspace.
pub const CLUSTER_GROUP_PREFIX: &str = "system:cluster:";

/// Prefix of the identity a request to a bound resource is checked as in its export's
/// workspace, when the export sets a maximal permission policy (kcp's prefix).
pub const BINDING_PREFIX: &str = "apis.kcp.io:binding:";

/// Prefix of the group an initializer acts with inside a workspace when its WorkspaceType
/// grants it `initializerPermissions`; the front-proxy never lets a caller assert it.
pub const INITIALIZER_GROUP_PREFIX: &str = "system:kcp:initializer:";

/// Prefix of the group a terminator acts with inside a workspace being deleted when its
/// WorkspaceType grants it `terminatorPermissions`; never asserted by callers either.
pub const TERMINATOR_GROUP_PREFIX: &str = "system:kcp:terminator:";

/// Whether a group is one that only a lifecycle view may give (initializer or terminator):
/// a front-proxy drops such groups from what a caller asserts.
pub fn is_lifecycle_group(group: &str) -> bool {
    group.starts_with(INITIALIZER_GROUP_PREFIX) || group.starts_with(TERMINATOR_GROUP_PREFIX)
}

impl UserInfo {
    /// The identity the export's RBAC judges under its maximal permission policy: name and
    /// every group prefixed with [`BINDING_PREFIX`], so no group keeps the power it has
    /// unprefixed (`system:masters` included) and the provider grants to prefixed names only.
    pub fn for_maximal_permission_policy(&self) -> UserInfo {
        UserInfo {
            name: format!("{BINDING_PREFIX}{}", self.name),
            uid: self.uid.clone(),
            groups: self.groups.iter().map(|g| format!("{BINDING_PREFIX}{g}")).collect(),
            extra: Default::default(),
        }
    }

    /// Whether the user is in `system:masters`.
    pub fn is_masters(&self) -> bool {
        self.groups.iter().any(|g| g == MASTERS_GROUP)
    }

    /// Drops the `system:cluster:*` groups a credential claims: no token, certificate, OIDC
    /// claim or proxy header may speak for a whole workspace.
    pub fn without_cluster_groups(mut self) -> Self {
        self.groups.retain(|g| !g.starts_with(CLUSTER_GROUP_PREFIX));
        self
    }

    /// Appends `system:authenticated` unless already present, as kube's group adder does
    /// after any authenticator succeeds.
    pub fn with_authenticated_group(mut self) -> Self {
        if !self.groups.iter().any(|g| g == AUTHENTICATED_GROUP) {
            self.groups.push(AUTHENTICATED_GROUP.to_string());
        }
        self
    }
}

/// The `system:serviceaccount:<namespace>:<name>` user name of a service account.
pub fn service_account_username(namespace: &str, name: &str) -> String {
    format!("{SERVICE_ACCOUNT_PREFIX}{namespace}:{name}")
}

/// Extracts the token from an `Authorization` header value the way kube's bearer-token
/// authenticator does: trimmed, scheme matched case-insensitively, token is the second
/// space-separated word and must be non-empty.
pub fn bearer_token(header: Option<&str>) -> Option<&str> {
    let value = header?.trim();
    let mut parts = value.splitn(3, ' ');
    let scheme = parts.next()?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return None;
    }
    // A double space yields an empty second word: kube rejects that rather than skipping it.
    parts.next().filter(|t| !t.is_empty())
}

/// Identity of an x509 client certificate: CommonName is the user, Organizations the groups.
pub fn user_from_certificate(cn: String, orgs: Vec<String>) -> UserInfo {
    UserInfo { name: cn, uid: String::new(), groups: orgs, extra: BTreeMap::new() }.with_authenticated_group()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn bearer_token_cases() {
        let cases: &[(Option<&str>, Option<&str>)] = &[
            (None, None),
            (Some(""), None),
            (Some("Bearer abc"), Some("abc")),
            (Some("  bearer abc  "), Some("abc")),
            (Some("BEARER abc"), Some("abc")),
            (Some("Bearer abc extra"), Some("abc")),
            (Some("Bearer  abc"), None),
            (Some("Bearer"), None),
            (Some("Basic abc"), None),
            (Some("Bearerabc"), None),
        ];
        for (header, want) in cases {
            assert_eq!(bearer_token(*header), *want, "header {header:?}");
        }
    }

    #[test]
    fn certificate_user_gets_authenticated_group_once() {
        let u = user_from_certificate("alice".into(), vec!["dev".into()]);
        assert_eq!(u.name, "alice");
        assert_eq!(u.groups, vec!["dev", AUTHENTICATED_GROUP]);
        let again = u.clone().with_authenticated_group();
        assert_eq!(again.groups, u.groups);
    }

    #[test]
    fn serde_uses_user_info_wire_shape() {
        let mut u = user_from_certificate("bob".into(), vec![]);
        u.extra.insert("scopes".into(), vec!["cluster:abc".into()]);
        let v = serde_json::to_value(&u).unwrap_or_default();
        assert_eq!(v, json!({"username": "bob", "groups": ["system:authenticated"], "extra": {"scopes": ["cluster:abc"]}}));
        let back: UserInfo = serde_json::from_value(v).unwrap_or_default();
        assert_eq!(back, u);
    }
}
