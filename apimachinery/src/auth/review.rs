//! Request attributes from the specs of SubjectAccessReview and SelfSubjectAccessReview, with
//! kube's validation of those specs.
//!
//! A SubjectAccessReview asks about the user named in its spec, a SelfSubjectAccessReview about
//! the caller; so the identity is an argument, and [`user_from_review_spec`] reads the spec's.

use std::collections::BTreeMap;

use serde_json::Value;

use super::rbac::Attributes;
use super::rule::ALL;
use super::user::UserInfo;
use super::AuthError;
use crate::status::FieldError;

fn field<'a>(obj: &'a Value, key: &str) -> &'a str {
    obj.get(key).and_then(Value::as_str).unwrap_or("")
}

/// Present, non-null member of an object.
fn member<'a>(obj: &'a Value, key: &str) -> Option<&'a Value> {
    obj.get(key).filter(|v| !v.is_null())
}

/// The attributes a (Self)SubjectAccessReview `spec` asks about, for `user`.
///
/// Exactly one of `resourceAttributes` / `nonResourceAttributes` must be set; an empty
/// resource `version` means every version (`*`), as in kube.
pub fn attributes_from_review(spec: &Value, user: UserInfo) -> Result<Attributes, AuthError> {
    let resource = member(spec, "resourceAttributes");
    let non_resource = member(spec, "nonResourceAttributes");
    match (resource, non_resource) {
        (Some(r), None) if r.is_object() => {
            let version = field(r, "version");
            Ok(Attributes {
                user,
                verb: field(r, "verb").into(),
                resource_request: true,
                api_group: field(r, "group").into(),
                api_version: if version.is_empty() { ALL.into() } else { version.into() },
                resource: field(r, "resource").into(),
                subresource: field(r, "subresource").into(),
                namespace: field(r, "namespace").into(),
                name: field(r, "name").into(),
                path: String::new(),
            })
        }
        (None, Some(n)) if n.is_object() => {
            Ok(Attributes { user, verb: field(n, "verb").into(), resource_request: false, path: field(n, "path").into(), ..Attributes::default() })
        }
        (Some(_), Some(n)) => Err(AuthError::InvalidReview(vec![FieldError::invalid(
            "spec.nonResourceAttributes",
            n.clone(),
            "cannot be specified in combination with resourceAttributes",
        )])),
        (None, None) => Err(AuthError::InvalidReview(vec![FieldError::invalid(
            "spec.resourceAttributes",
            Value::Null,
            "exactly one of nonResourceAttributes or resourceAttributes must be specified",
        )])),
        (Some(r), None) => Err(AuthError::InvalidReview(vec![FieldError::type_invalid("spec.resourceAttributes", r.clone(), "must be an object")])),
        (None, Some(n)) => Err(AuthError::InvalidReview(vec![FieldError::type_invalid("spec.nonResourceAttributes", n.clone(), "must be an object")])),
    }
}

fn string_list(v: Option<&Value>) -> Vec<String> {
    v.and_then(Value::as_array).map(|a| a.iter().filter_map(Value::as_str).map(str::to_string).collect()).unwrap_or_default()
}

/// The identity a SubjectAccessReview spec asks about (`user`, `uid`, `groups`, `extra`),
/// taken as written: no `system:authenticated` is added, since the spec states the groups.
pub fn user_from_review_spec(spec: &Value) -> Result<UserInfo, AuthError> {
    let name = field(spec, "user").to_string();
    let groups = string_list(spec.get("groups"));
    if name.is_empty() && groups.is_empty() {
        return Err(AuthError::InvalidReview(vec![FieldError::invalid("spec.user", "", "at least one of user or group must be specified")]));
    }
    let extra: BTreeMap<String, Vec<String>> =
        spec.get("extra").and_then(Value::as_object).map(|m| m.iter().map(|(k, v)| (k.clone(), string_list(Some(v)))).collect()).unwrap_or_default();
    Ok(UserInfo { name, uid: field(spec, "uid").into(), groups, extra })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn alice() -> UserInfo {
        UserInfo { name: "alice".into(), ..UserInfo::default() }
    }

    #[test]
    fn resource_attributes() {
        let spec = json!({"resourceAttributes": {"namespace": "ns", "verb": "get", "group": "apps",
            "resource": "deployments", "subresource": "scale", "name": "web"}});
        let a = attributes_from_review(&spec, alice()).expect("valid");
        assert!(a.resource_request);
        assert_eq!((a.verb.as_str(), a.api_group.as_str(), a.api_version.as_str(), a.resource.as_str()), ("get", "apps", "*", "deployments"));
        assert_eq!((a.subresource.as_str(), a.namespace.as_str(), a.name.as_str()), ("scale", "ns", "web"));
        assert_eq!(a.user.name, "alice");

        let versioned = json!({"resourceAttributes": {"verb": "list", "version": "v1", "resource": "pods"}});
        assert_eq!(attributes_from_review(&versioned, alice()).map(|a| a.api_version).ok(), Some("v1".into()));
    }

    #[test]
    fn non_resource_attributes() {
        let spec = json!({"nonResourceAttributes": {"path": "/healthz", "verb": "get"}});
        let a = attributes_from_review(&spec, alice()).expect("valid");
        assert!(!a.resource_request);
        assert_eq!((a.path.as_str(), a.verb.as_str()), ("/healthz", "get"));
    }

    #[test]
    fn invalid_specs() {
        let cases = [
            (json!({}), "spec.resourceAttributes: Invalid value: null: exactly one of nonResourceAttributes or resourceAttributes must be specified"),
            (json!({"resourceAttributes": null, "nonResourceAttributes": null}), "exactly one of"),
            (
                json!({"resourceAttributes": {}, "nonResourceAttributes": {}}),
                "spec.nonResourceAttributes: Invalid value: map[...]: cannot be specified in combination with resourceAttributes",
            ),
            (json!({"resourceAttributes": "x"}), "spec.resourceAttributes"),
        ];
        for (spec, want) in cases {
            let err = attributes_from_review(&spec, alice()).map(|_| ()).unwrap_err().to_string();
            assert!(err.contains(want), "spec {spec}: {err}");
        }
    }

    #[test]
    fn sar_user() {
        let spec = json!({"user": "bob", "uid": "42", "groups": ["dev"], "extra": {"scopes": ["a", "b"]}});
        let u = user_from_review_spec(&spec).expect("valid");
        assert_eq!((u.name.as_str(), u.uid.as_str()), ("bob", "42"));
        assert_eq!(u.groups, vec!["dev"]);
        assert_eq!(u.extra.get("scopes"), Some(&vec!["a".to_string(), "b".to_string()]));

        let group_only = user_from_review_spec(&json!({"groups": ["dev"]})).expect("groups suffice");
        assert_eq!(group_only.name, "");

        let err = user_from_review_spec(&json!({"uid": "1"})).map(|_| ()).unwrap_err().to_string();
        assert_eq!(err, "spec.user: Invalid value: \"\": at least one of user or group must be specified");
    }
}
