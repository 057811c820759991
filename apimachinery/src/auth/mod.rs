//! Who is calling (identity from certificates and tokens) and what RBAC lets them do.
//!
//! Pure logic: the caller supplies the RBAC objects of the logical cluster being addressed, so
//! nothing here can read across clusters.

mod rbac;
mod token_file;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

pub use rbac::{attributes_from_review, authorize, covers, escalation_message, rules_for, Attributes, Decision, RbacObjects};
pub use token_file::TokenFile;

/// Group every authenticated identity carries.
pub const AUTHENTICATED_GROUP: &str = "system:authenticated";

/// Errors of authentication setup and review parsing.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("{path}: {source}")]
    Io { path: String, source: std::io::Error },
    #[error("token file line {line}: {message}")]
    TokenFile { line: usize, message: String },
    #[error("{0}")]
    Review(String),
}

/// An authenticated identity, in the shape of `authentication.k8s.io/v1` UserInfo.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserInfo {
    #[serde(rename = "username", default)]
    pub name: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub uid: String,
    #[serde(default)]
    pub groups: Vec<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub extra: BTreeMap<String, Vec<String>>,
}

impl UserInfo {
    /// Adds `system:authenticated` unless present.
    pub fn authenticated(mut self) -> UserInfo {
        if !self.groups.iter().any(|g| g == AUTHENTICATED_GROUP) {
            self.groups.push(AUTHENTICATED_GROUP.to_string());
        }
        self
    }
}

/// The token of an `Authorization: Bearer <token>` header.
pub fn bearer_token(header: Option<&str>) -> Option<&str> {
    let h = header?.trim();
    let (scheme, token) = h.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

/// The identity of a verified client certificate: CN is the user, O values are groups.
pub fn user_from_certificate(cn: String, orgs: Vec<String>) -> UserInfo {
    UserInfo { name: cn, uid: String::new(), groups: orgs, extra: BTreeMap::new() }.authenticated()
}

/// Strings of a JSON array.
fn strings(v: &Value) -> Vec<String> {
    v.as_array().map(|a| a.iter().filter_map(|x| x.as_str().map(String::from)).collect()).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_tokens() {
        assert_eq!(bearer_token(Some("Bearer abc")), Some("abc"));
        assert_eq!(bearer_token(Some("bearer  abc ")), Some("abc"));
        assert_eq!(bearer_token(Some("Basic abc")), None);
        assert_eq!(bearer_token(Some("Bearer ")), None);
        assert_eq!(bearer_token(None), None);
    }

    #[test]
    fn certificate_users_are_authenticated() {
        let u = user_from_certificate("alice".into(), vec!["dev".into()]);
        assert_eq!(u.groups, vec!["dev".to_string(), AUTHENTICATED_GROUP.to_string()]);
        assert_eq!(serde_json::to_value(&u).expect("json")["username"], "alice");
    }
}
