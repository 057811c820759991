//! Authentication and RBAC authorization, as pure functions over identities and the RBAC
//! objects of one logical cluster.
//!
//! Nothing here touches the network or storage: the server authenticates with the helpers in
//! [`user`] and [`token_file`], loads the Roles/ClusterRoles/bindings of the logical cluster a
//! request addresses, and asks [`rbac`] for a decision. `system:masters` and the other
//! authorizers of the chain (workspace access, bootstrap policy, APIExport maximal permissions)
//! live with the caller, which is why RBAC only ever allows or has no opinion.
//!
//! Files: [`user`] (identity, bearer header, client certificate), [`token_file`] (static
//! tokens), [`rule`] (one PolicyRule and request matching), [`labels`] (aggregation selectors),
//! [`rbac`] (bindings → decision, rules listing), [`escalation`] (no-escalation checks for
//! writes of roles and bindings), [`review`] (SubjectAccessReview specs).

pub mod escalation;
pub mod labels;
pub mod rbac;
pub mod review;
pub mod rule;
pub mod service_account;
pub mod token_file;
pub mod user;

pub use escalation::{
    check_binding_write, check_role_write, confirm_no_escalation, covers, covers_rules, escalation_message, full_authority, has_aggregation_rule,
    AGGREGATION_REFUSED,
};
pub use rbac::{authorize, rules_for, Attributes, CompiledRbac, Decision, RbacObjects};
pub use review::{attributes_from_review, user_from_review_spec};
pub use rule::Rule;
pub use service_account::{as_seen_in, is_local_service_account, service_account_cluster, Claims, ServiceAccountRef, TokenSigner, TokenVerifier};
pub use token_file::TokenFile;
pub use user::{
    bearer_token, is_lifecycle_group, service_account_username, user_from_certificate, UserInfo, AUTHENTICATED_GROUP, BINDING_PREFIX, CLUSTER_GROUP_PREFIX,
    INITIALIZER_GROUP_PREFIX, MASTERS_GROUP, TERMINATOR_GROUP_PREFIX,
};

use crate::status::FieldError;

/// Failures of authentication setup, review parsing and escalation checks.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// The token file could not be read.
    #[error("reading token file {path}")]
    TokenFileRead {
        /// File path.
        path: String,
        /// Underlying I/O error.
        source: std::io::Error,
    },
    /// A line of the token file is malformed.
    #[error("token file {path}: line {line}: {detail}")]
    TokenFile {
        /// File path (`<inline>` for parsed text).
        path: String,
        /// 1-based line number.
        line: usize,
        /// What is wrong with it.
        detail: String,
    },
    /// A (Self)SubjectAccessReview spec failed validation; render as 422 Invalid.
    #[error("{}", render_field_errors(.0))]
    InvalidReview(Vec<FieldError>),
    /// A roleRef names a role that does not exist (kube's NotFound text).
    #[error("{resource}.rbac.authorization.k8s.io {} not found", go_quote(.name))]
    RoleNotFound {
        /// `roles` or `clusterroles`.
        resource: &'static str,
        /// Role name.
        name: String,
    },
    /// A roleRef kind other than Role or ClusterRole.
    #[error("unsupported role reference kind: {}", go_quote(.kind))]
    UnsupportedRoleRef {
        /// The kind found.
        kind: String,
    },
    /// The service-account signing key is unusable.
    #[error("service-account signing key: {0}")]
    SigningKey(String),
    /// The user tried to grant permissions they lack; the text is kube's. Render as 403:
    /// `<resource>.rbac.authorization.k8s.io "<name>" is forbidden: <text>`.
    #[error("{0}")]
    Escalation(String),
}

fn render_field_errors(errors: &[FieldError]) -> String {
    errors.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ")
}

/// A string quoted as Go's `%q` does, so user-visible messages match kube byte for byte.
pub(crate) fn go_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{7}' => out.push_str("\\a"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\u{b}' => out.push_str("\\v"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => out.push_str(&format!("\\x{:02x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A string list as Go's `%q` prints a `[]string`: `["a" "b"]`.
pub(crate) fn go_quote_list(items: &[String]) -> String {
    format!("[{}]", items.iter().map(|s| go_quote(s)).collect::<Vec<_>>().join(" "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_quoting() {
        assert_eq!(go_quote("plain"), "\"plain\"");
        assert_eq!(go_quote("a\"b\\c\nd\u{1}"), "\"a\\\"b\\\\c\\nd\\x01\"");
        assert_eq!(go_quote("ü"), "\"ü\"");
        assert_eq!(go_quote_list(&["g".into(), "system:authenticated".into()]), "[\"g\" \"system:authenticated\"]");
        assert_eq!(go_quote_list(&[]), "[]");
    }

    #[test]
    fn role_not_found_text() {
        let err = AuthError::RoleNotFound { resource: "clusterroles", name: "edit".into() };
        assert_eq!(err.to_string(), "clusterroles.rbac.authorization.k8s.io \"edit\" not found");
    }
}
