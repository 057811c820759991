//! Body validation of the RBAC kinds (kube's `pkg/apis/rbac/validation`).

use super::meta::validate_label_selector;
use super::names::{is_dns1123_subdomain, is_valid_path_segment_name};
use super::{list_at, str_at};
use crate::status::FieldError;
use serde_json::Value;

const RBAC_GROUP: &str = "rbac.authorization.k8s.io";

fn non_empty(rule: &Value, field: &str) -> bool {
    !list_at(rule, field).is_empty()
}

/// kube's `ValidatePolicyRule` for `rules[i]`.
fn policy_rule(rule: &Value, namespaced: bool, path: &str) -> Vec<FieldError> {
    let mut errs = Vec::new();
    if !non_empty(rule, "verbs") {
        errs.push(FieldError::required(format!("{path}.verbs"), "verbs must contain at least one value"));
    }
    if non_empty(rule, "nonResourceURLs") {
        let urls = rule.get("nonResourceURLs").cloned().unwrap_or(Value::Null);
        if namespaced {
            errs.push(FieldError::invalid(format!("{path}.nonResourceURLs"), urls.clone(), "namespaced rules cannot apply to non-resource URLs"));
        }
        if ["apiGroups", "resources", "resourceNames"].iter().any(|f| non_empty(rule, f)) {
            errs.push(FieldError::invalid(format!("{path}.nonResourceURLs"), urls, "rules cannot apply to both regular resources and non-resource URLs"));
        }
        return errs;
    }
    if !non_empty(rule, "apiGroups") {
        errs.push(FieldError::required(format!("{path}.apiGroups"), "resource rules must supply at least one api group"));
    }
    if !non_empty(rule, "resources") {
        errs.push(FieldError::required(format!("{path}.resources"), "resource rules must supply at least one resource"));
    }
    errs
}

/// Role (`namespaced`) or ClusterRole: every rule, and a ClusterRole's aggregation selectors.
pub fn role(obj: &Value, namespaced: bool) -> Vec<FieldError> {
    let mut errs = Vec::new();
    for (i, rule) in list_at(obj, "rules").iter().enumerate() {
        errs.extend(policy_rule(rule, namespaced, &format!("rules[{i}]")));
    }
    if let Some(aggregation) = obj.get("aggregationRule").filter(|a| !namespaced && !a.is_null()) {
        let selectors = list_at(aggregation, "clusterRoleSelectors");
        if selectors.is_empty() {
            errs.push(FieldError::required("aggregationRule.clusterRoleSelectors", "at least one clusterRoleSelector required if aggregationRule is non-nil"));
        }
        for (i, selector) in selectors.iter().enumerate() {
            errs.extend(validate_label_selector(selector, &format!("aggregationRule.clusterRoleSelectors[{i}]")));
        }
    }
    errs
}

/// RoleBinding (`namespaced`) or ClusterRoleBinding, with `roleRef` frozen on update.
pub fn binding(obj: &Value, old: Option<&Value>, namespaced: bool) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let null = Value::Null;
    let role_ref = obj.get("roleRef").unwrap_or(&null);
    let api_group = str_at(role_ref, "apiGroup");
    if api_group != RBAC_GROUP {
        errs.push(FieldError::not_supported("roleRef.apiGroup", api_group, &[RBAC_GROUP]));
    }
    let kind = str_at(role_ref, "kind");
    let kinds: &[&str] = if namespaced { &["Role", "ClusterRole"] } else { &["ClusterRole"] };
    if !kinds.contains(&kind) {
        errs.push(FieldError::not_supported("roleRef.kind", kind, kinds));
    }
    let name = str_at(role_ref, "name");
    if name.is_empty() {
        errs.push(FieldError::required("roleRef.name", ""));
    } else {
        for msg in is_valid_path_segment_name(name, false) {
            errs.push(FieldError::invalid("roleRef.name", name, msg));
        }
    }
    for (i, subject) in list_at(obj, "subjects").iter().enumerate() {
        errs.extend(validate_subject(subject, namespaced, &format!("subjects[{i}]")));
    }
    if let Some(old_ref) = old.and_then(|o| o.get("roleRef")) {
        if old_ref != role_ref {
            errs.push(FieldError::invalid("roleRef", role_ref.clone(), "cannot change roleRef"));
        }
    }
    errs
}

/// kube's `ValidateRoleBindingSubject`.
fn validate_subject(subject: &Value, namespaced: bool, path: &str) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let name = str_at(subject, "name");
    if name.is_empty() {
        errs.push(FieldError::required(format!("{path}.name"), ""));
    }
    let api_group = str_at(subject, "apiGroup");
    match str_at(subject, "kind") {
        "ServiceAccount" => {
            if !name.is_empty() {
                for msg in is_dns1123_subdomain(name) {
                    errs.push(FieldError::invalid(format!("{path}.name"), name, msg));
                }
            }
            if !api_group.is_empty() {
                errs.push(FieldError::not_supported(format!("{path}.apiGroup"), api_group, &[""]));
            }
            if !namespaced && str_at(subject, "namespace").is_empty() {
                errs.push(FieldError::required(format!("{path}.namespace"), ""));
            }
        }
        // v1 defaulting fills an empty apiGroup for users and groups before validation runs.
        "User" | "Group" => {
            if !api_group.is_empty() && api_group != RBAC_GROUP {
                errs.push(FieldError::not_supported(format!("{path}.apiGroup"), api_group, &[RBAC_GROUP]));
            }
        }
        other => {
            errs.push(FieldError::not_supported(format!("{path}.kind"), other, &["ServiceAccount", "User", "Group"]));
        }
    }
    errs
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::validation::messages;
    use serde_json::json;

    #[test]
    fn policy_rules() {
        let cases: Vec<(Value, bool, Vec<&str>)> = vec![
            (json!({"rules": [{"verbs": ["get"], "apiGroups": [""], "resources": ["pods"]}]}), true, vec![]),
            (
                json!({"rules": [{"apiGroups": [""], "resources": ["pods"]}]}),
                true,
                vec!["rules[0].verbs: Required value: verbs must contain at least one value"],
            ),
            (
                json!({"rules": [{"verbs": ["get"]}]}),
                true,
                vec![
                    "rules[0].apiGroups: Required value: resource rules must supply at least one api group",
                    "rules[0].resources: Required value: resource rules must supply at least one resource",
                ],
            ),
            (json!({"rules": [{"verbs": ["get"], "nonResourceURLs": ["/healthz"]}]}), false, vec![]),
            (
                json!({"rules": [{"verbs": ["get"], "nonResourceURLs": ["/x"], "resources": ["pods"]}]}),
                true,
                vec![
                    "rules[0].nonResourceURLs: Invalid value: [...]: namespaced rules cannot apply to non-resource URLs",
                    "rules[0].nonResourceURLs: Invalid value: [...]: rules cannot apply to both regular resources and non-resource URLs",
                ],
            ),
            (
                json!({"aggregationRule": {}}),
                false,
                vec!["aggregationRule.clusterRoleSelectors: Required value: at least one clusterRoleSelector required if aggregationRule is non-nil"],
            ),
            (json!({"aggregationRule": {"clusterRoleSelectors": [{"matchLabels": {"a": "b"}}]}}), false, vec![]),
        ];
        for (obj, namespaced, want) in cases {
            assert_eq!(messages(&role(&obj, namespaced)), want, "{obj}");
        }
    }

    #[test]
    fn bindings() {
        let rr = |kind: &str| json!({"apiGroup": RBAC_GROUP, "kind": kind, "name": "view"});
        let cases: Vec<(Value, Option<Value>, bool, Vec<&str>)> = vec![
            (
                json!({"roleRef": rr("ClusterRole"), "subjects": [{"kind": "User", "name": "alice"},
                {"kind": "ServiceAccount", "name": "default"}]}),
                None,
                true,
                vec![],
            ),
            (json!({"roleRef": rr("Role")}), None, false, vec!["roleRef.kind: Unsupported value: \"Role\": supported values: \"ClusterRole\""]),
            (
                json!({}),
                None,
                true,
                vec![
                    "roleRef.apiGroup: Unsupported value: \"\": supported values: \"rbac.authorization.k8s.io\"",
                    "roleRef.kind: Unsupported value: \"\": supported values: \"Role\", \"ClusterRole\"",
                    "roleRef.name: Required value",
                ],
            ),
            (
                json!({"roleRef": rr("ClusterRole"), "subjects": [{"kind": "ServiceAccount", "name": "sa"}]}),
                None,
                false,
                vec!["subjects[0].namespace: Required value"],
            ),
            (
                json!({"roleRef": rr("ClusterRole"), "subjects": [{"kind": "Robot", "name": "r"}, {"kind": "Group", "apiGroup": "x"}]}),
                None,
                true,
                vec![
                    "subjects[0].kind: Unsupported value: \"Robot\": supported values: \"ServiceAccount\", \"User\", \"Group\"",
                    "subjects[1].name: Required value",
                    "subjects[1].apiGroup: Unsupported value: \"x\": supported values: \"rbac.authorization.k8s.io\"",
                ],
            ),
            (
                json!({"roleRef": rr("ClusterRole")}),
                Some(json!({"roleRef": rr("Role")})),
                true,
                vec!["roleRef: Invalid value: map[...]: cannot change roleRef"],
            ),
            (json!({"roleRef": rr("Role")}), Some(json!({"roleRef": rr("Role")})), true, vec![]),
        ];
        for (obj, old, namespaced, want) in cases {
            assert_eq!(messages(&binding(&obj, old.as_ref(), namespaced)), want, "{obj}");
        }
    }
}
