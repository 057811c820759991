//! RBAC privilege-escalation prevention: a user may only write a Role/ClusterRole or a binding
//! granting permissions they already hold, unless they hold `escalate` (roles) or `bind` (the
//! referenced role). This is kube's `ConfirmNoEscalation` / `BindingAuthorized` /
//! `RoleEscalationAuthorized`, with its user-visible message.
//!
//! Checking `escalate`/`bind` goes through the caller's whole authorizer chain (a closure),
//! because kube asks its full authorizer there; coverage only counts RBAC-held rules, because
//! kube's rule resolver only knows RBAC.

use std::collections::BTreeSet;

use serde_json::{json, Value};

use super::go_quote_list;
use super::rbac::{Attributes, CompiledRbac};
use super::rule::{non_resource_url_covers, Rule, ALL};
use super::user::UserInfo;
use super::AuthError;

/// API group of the RBAC resources.
const RBAC_GROUP: &str = "rbac.authorization.k8s.io";

/// Whether the `owner` rules cover every permission in `requested`; otherwise the uncovered
/// permissions, broken down to one verb × group × resource × name (or verb × URL) each.
pub fn covers(owner: &[Value], requested: &[Value]) -> Result<(), Vec<Value>> {
    let owner: Vec<Rule> = owner.iter().map(Rule::from_value).collect();
    let requested: Vec<Rule> = requested.iter().map(Rule::from_value).collect();
    covers_rules(&owner, &requested).map_err(|missing| missing.iter().map(Rule::to_value).collect())
}

/// [`covers`] on parsed rules.
pub fn covers_rules(owner: &[Rule], requested: &[Rule]) -> Result<(), Vec<Rule>> {
    // Broken down to atoms, each one is covered by a single owner rule or not at all.
    let missing: Vec<Rule> = requested.iter().flat_map(breakdown).filter(|atom| !owner.iter().any(|o| rule_covers(o, atom))).collect();
    if missing.is_empty() {
        Ok(())
    } else {
        Err(missing)
    }
}

/// Splits a rule into rules of one verb and one group/resource/name, or one verb and one URL.
fn breakdown(rule: &Rule) -> Vec<Rule> {
    let one = |s: &String| vec![s.clone()];
    let mut out = Vec::new();
    for group in &rule.api_groups {
        for resource in &rule.resources {
            for verb in &rule.verbs {
                let atom = |names: Vec<String>| Rule {
                    verbs: one(verb),
                    api_groups: one(group),
                    resources: one(resource),
                    resource_names: names,
                    non_resource_urls: Vec::new(),
                };
                if rule.resource_names.is_empty() {
                    out.push(atom(Vec::new()));
                } else {
                    out.extend(rule.resource_names.iter().map(|n| atom(one(n))));
                }
            }
        }
    }
    for url in &rule.non_resource_urls {
        for verb in &rule.verbs {
            out.push(Rule { verbs: one(verb), non_resource_urls: one(url), ..Rule::default() });
        }
    }
    out
}

fn has(set: &[String], item: &str) -> bool {
    set.iter().any(|s| s == item)
}

fn has_all(set: &[String], items: &[String]) -> bool {
    items.iter().all(|i| has(set, i))
}

/// kube's `ruleCovers`: does `owner` grant everything in the broken-down `atom`?
fn rule_covers(owner: &Rule, atom: &Rule) -> bool {
    let verbs = has(&owner.verbs, ALL) || has_all(&owner.verbs, &atom.verbs);
    let groups = has(&owner.api_groups, ALL) || has_all(&owner.api_groups, &atom.api_groups);
    let resources = has(&owner.resources, ALL)
        || atom.resources.iter().all(|r| has(&owner.resources, r) || r.split_once('/').is_some_and(|(_, sub)| has(&owner.resources, &format!("*/{sub}"))));
    let urls = atom.non_resource_urls.iter().all(|u| owner.non_resource_urls.iter().any(|o| non_resource_url_covers(o, u)));
    let names = if atom.resource_names.is_empty() {
        owner.resource_names.is_empty()
    } else {
        owner.resource_names.is_empty() || has_all(&owner.resource_names, &atom.resource_names)
    };
    verbs && groups && resources && urls && names
}

/// kube's `CompactRules`: merges the verbs of rules that name one group, one resource and at
/// most one resource name and nothing else, keeping first-seen order.
fn compact(rules: &[Rule]) -> Vec<Rule> {
    let mut out: Vec<Rule> = Vec::new();
    for rule in rules {
        let simple = rule.api_groups.len() == 1 && rule.resources.len() == 1 && rule.resource_names.len() <= 1 && rule.non_resource_urls.is_empty();
        let same_target = |r: &Rule| r.api_groups == rule.api_groups && r.resources == rule.resources && r.resource_names == rule.resource_names;
        match out.iter_mut().find(|r| simple && r.non_resource_urls.is_empty() && same_target(r)) {
            Some(existing) => existing.verbs.extend(rule.verbs.iter().cloned()),
            None => out.push(rule.clone()),
        }
    }
    out
}

/// kube's `CompactString`: `{APIGroups:[""], Resources:["secrets"], Verbs:["get"]}`.
fn compact_string(rule: &Rule) -> String {
    let parts: Vec<String> = [
        ("APIGroups", &rule.api_groups),
        ("Resources", &rule.resources),
        ("NonResourceURLs", &rule.non_resource_urls),
        ("ResourceNames", &rule.resource_names),
        ("Verbs", &rule.verbs),
    ]
    .into_iter()
    .filter(|(_, list)| !list.is_empty())
    .map(|(label, list)| format!("{label}:{}", go_quote_list(list)))
    .collect();
    format!("{{{}}}", parts.join(", "))
}

/// kube's escalation message for `user` lacking the `missing` rules (as returned by [`covers`]).
pub fn escalation_message(user: &UserInfo, missing: &[Value]) -> String {
    let missing: Vec<Rule> = missing.iter().map(Rule::from_value).collect();
    message_for(user, &missing)
}

fn message_for(user: &UserInfo, missing: &[Rule]) -> String {
    let lines: BTreeSet<String> = compact(missing).iter().map(compact_string).collect();
    format!(
        "user {} (groups={}) is attempting to grant RBAC permissions not currently held:\n{}",
        super::go_quote(&user.name),
        go_quote_list(&user.groups),
        lines.into_iter().collect::<Vec<_>>().join("\n")
    )
}

/// Fails with kube's message unless `user`'s RBAC rules in `namespace` (cluster-wide ones
/// included; pass `""` for cluster-scoped objects) cover `requested`.
pub fn confirm_no_escalation(rbac: &CompiledRbac, user: &UserInfo, namespace: &str, requested: &[Rule]) -> Result<(), AuthError> {
    let owned = rbac.policy_rules_for(user, namespace);
    covers_rules(&owned, requested).map_err(|missing| AuthError::Escalation(message_for(user, &missing)))
}

/// Why a ClusterRole's `aggregationRule` was refused, in kube's words.
pub const AGGREGATION_REFUSED: &str = "must have cluster-admin privileges to use the aggregationRule";

/// Whether a ClusterRole has an `aggregationRule` as kube's escalation check counts one: with
/// at least one selector.
pub fn has_aggregation_rule(role: &Value) -> bool {
    role.get("aggregationRule").and_then(|a| a.get("clusterRoleSelectors")).and_then(Value::as_array).is_some_and(|s| !s.is_empty())
}

/// The rules that let a ClusterRole carry an `aggregationRule`: everything, everywhere.
pub fn full_authority() -> [Rule; 2] {
    let all = || vec![ALL.to_string()];
    [Rule { verbs: all(), api_groups: all(), resources: all(), ..Rule::default() }, Rule { verbs: all(), non_resource_urls: all(), ..Rule::default() }]
}

fn meta<'a>(obj: &'a Value, field: &str) -> &'a str {
    obj.get("metadata").and_then(|m| m.get(field)).and_then(Value::as_str).unwrap_or("")
}

/// Decides a create/update of a Role (`resource = "roles"`) or ClusterRole (`"clusterroles"`).
///
/// Allowed when `is_allowed` grants `escalate` on it, or when the user's RBAC rules cover its
/// rules; a ClusterRole that gains or changes an `aggregationRule` (compared with `old`, the
/// stored object on update) additionally needs full authority.
pub fn check_role_write(
    rbac: &CompiledRbac,
    is_allowed: impl Fn(&Attributes) -> bool,
    user: &UserInfo,
    resource: &str,
    role: &Value,
    old: Option<&Value>,
) -> Result<(), AuthError> {
    let namespace = meta(role, "namespace");
    let escalate = Attributes {
        user: user.clone(),
        verb: "escalate".into(),
        resource_request: true,
        api_group: RBAC_GROUP.into(),
        api_version: ALL.into(),
        resource: resource.into(),
        namespace: namespace.into(),
        name: meta(role, "name").into(),
        ..Attributes::default()
    };
    if is_allowed(&escalate) {
        return Ok(());
    }
    confirm_no_escalation(rbac, user, namespace, &Rule::list_from(role))?;
    let aggregation_changed = has_aggregation_rule(role) && old.and_then(|o| o.get("aggregationRule")) != role.get("aggregationRule");
    if resource == "clusterroles" && aggregation_changed {
        confirm_no_escalation(rbac, user, namespace, &full_authority()).map_err(|_| AuthError::Escalation(AGGREGATION_REFUSED.into()))?;
    }
    Ok(())
}

/// Decides a create/update of a RoleBinding or ClusterRoleBinding.
///
/// Allowed when `is_allowed` grants `bind` on the referenced role (checked in the binding's
/// namespace, or cluster-wide for ClusterRoleBindings), or when the user's RBAC rules cover
/// the referenced role's rules. A missing role is an error, as in kube.
pub fn check_binding_write(rbac: &CompiledRbac, is_allowed: impl Fn(&Attributes) -> bool, user: &UserInfo, binding: &Value) -> Result<(), AuthError> {
    let namespace = meta(binding, "namespace");
    let role_ref = binding.get("roleRef").cloned().unwrap_or_else(|| json!({}));
    let str_of = |k: &str| role_ref.get(k).and_then(Value::as_str).unwrap_or("");
    let resource = match str_of("kind") {
        "ClusterRole" => Some("clusterroles"),
        "Role" => Some("roles"),
        _ => None,
    };
    if let Some(resource) = resource {
        let bind = Attributes {
            user: user.clone(),
            verb: "bind".into(),
            resource_request: true,
            api_group: str_of("apiGroup").into(),
            resource: resource.into(),
            namespace: namespace.into(),
            name: str_of("name").into(),
            ..Attributes::default()
        };
        if is_allowed(&bind) {
            return Ok(());
        }
    }
    let rules = rbac.role_ref_rules(&role_ref, namespace)?;
    confirm_no_escalation(rbac, user, namespace, &rules)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::rbac::RbacObjects;
    use std::cell::RefCell;

    #[test]
    fn covers_table() {
        let pods = json!({"verbs": ["get", "list"], "apiGroups": [""], "resources": ["pods"]});
        let cases = [
            ("subset of verbs", vec![pods.clone()], json!({"verbs": ["get"], "apiGroups": [""], "resources": ["pods"]}), 0),
            ("verb missing", vec![pods.clone()], json!({"verbs": ["get", "delete"], "apiGroups": [""], "resources": ["pods"]}), 1),
            ("other group", vec![pods.clone()], json!({"verbs": ["get"], "apiGroups": ["apps"], "resources": ["pods"]}), 1),
            (
                "wildcards cover all",
                vec![json!({"verbs": ["*"], "apiGroups": ["*"], "resources": ["*"]})],
                json!({"verbs": ["escalate"], "apiGroups": ["x.io", ""], "resources": ["a", "b/c"], "resourceNames": ["n"]}),
                0,
            ),
            ("wildcard verb is not covered by named verbs", vec![pods.clone()], json!({"verbs": ["*"], "apiGroups": [""], "resources": ["pods"]}), 1),
            (
                "*/status covers a status subresource",
                vec![json!({"verbs": ["get"], "apiGroups": ["apps"], "resources": ["*/status"]})],
                json!({"verbs": ["get"], "apiGroups": ["apps"], "resources": ["deployments/status", "deployments"]}),
                1,
            ),
            (
                "named owner covers the same name",
                vec![json!({"verbs": ["get"], "apiGroups": [""], "resources": ["secrets"], "resourceNames": ["a", "b"]})],
                json!({"verbs": ["get"], "apiGroups": [""], "resources": ["secrets"], "resourceNames": ["a", "c"]}),
                1,
            ),
            (
                "named owner does not cover all names",
                vec![json!({"verbs": ["get"], "apiGroups": [""], "resources": ["secrets"], "resourceNames": ["a"]})],
                json!({"verbs": ["get"], "apiGroups": [""], "resources": ["secrets"]}),
                1,
            ),
            ("unnamed owner covers names", vec![pods.clone()], json!({"verbs": ["get"], "apiGroups": [""], "resources": ["pods"], "resourceNames": ["x"]}), 0),
            (
                "url prefix",
                vec![json!({"verbs": ["get"], "nonResourceURLs": ["/logs/*"]})],
                json!({"verbs": ["get"], "nonResourceURLs": ["/logs/a", "/logs", "/metrics"]}),
                2,
            ),
            (
                "resource rules do not cover urls",
                vec![json!({"verbs": ["*"], "apiGroups": ["*"], "resources": ["*"]})],
                json!({"verbs": ["get"], "nonResourceURLs": ["/healthz"]}),
                1,
            ),
        ];
        for (what, owner, requested, want_missing) in cases {
            let got = covers(&owner, &[requested]).err().map_or(0, |m| m.len());
            assert_eq!(got, want_missing, "{what}");
        }
    }

    #[test]
    fn missing_rules_are_atoms() {
        let owner = vec![json!({"verbs": ["get"], "apiGroups": [""], "resources": ["pods"]})];
        let requested = [json!({"verbs": ["get", "list"], "apiGroups": [""], "resources": ["pods", "secrets"]})];
        let missing = covers(&owner, &requested).unwrap_err();
        assert_eq!(
            missing,
            vec![
                json!({"verbs": ["list"], "apiGroups": [""], "resources": ["pods"]}),
                json!({"verbs": ["get"], "apiGroups": [""], "resources": ["secrets"]}),
                json!({"verbs": ["list"], "apiGroups": [""], "resources": ["secrets"]}),
            ]
        );
    }

    fn alice() -> UserInfo {
        UserInfo { name: "alice".into(), groups: vec!["g".into(), "system:authenticated".into()], ..UserInfo::default() }
    }

    #[test]
    fn message_matches_kube() {
        let requested = [
            json!({"verbs": ["get"], "apiGroups": [""], "resources": ["secrets"]}),
            json!({"verbs": ["get", "list"], "apiGroups": [""], "resources": ["secrets", "configmaps"], "resourceNames": ["x"]}),
            json!({"verbs": ["get"], "nonResourceURLs": ["/metrics"]}),
        ];
        let missing = covers(&[], &requested).unwrap_err();
        assert_eq!(
            escalation_message(&alice(), &missing),
            "user \"alice\" (groups=[\"g\" \"system:authenticated\"]) is attempting to grant RBAC permissions not currently held:\n\
             {APIGroups:[\"\"], Resources:[\"configmaps\"], ResourceNames:[\"x\"], Verbs:[\"get\" \"list\"]}\n\
             {APIGroups:[\"\"], Resources:[\"secrets\"], ResourceNames:[\"x\"], Verbs:[\"get\" \"list\"]}\n\
             {APIGroups:[\"\"], Resources:[\"secrets\"], Verbs:[\"get\"]}\n\
             {NonResourceURLs:[\"/metrics\"], Verbs:[\"get\"]}"
        );
    }

    /// alice may read and write configmaps in ns1 through a RoleBinding; nothing else.
    fn cluster() -> RbacObjects {
        RbacObjects {
            cluster_roles: vec![json!({"metadata": {"name": "cm-admin"},
                "rules": [{"verbs": ["*"], "apiGroups": [""], "resources": ["configmaps"]}]})],
            roles: vec![json!({"metadata": {"name": "secrets", "namespace": "ns1"},
                "rules": [{"verbs": ["get"], "apiGroups": [""], "resources": ["secrets"]}]})],
            role_bindings: vec![json!({"metadata": {"name": "a", "namespace": "ns1"},
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "cm-admin"},
                "subjects": [{"kind": "User", "name": "alice"}]})],
            ..RbacObjects::default()
        }
    }

    #[test]
    fn role_writes() {
        let rbac = CompiledRbac::new(&cluster());
        let deny = |_: &Attributes| false;
        let covered = json!({"metadata": {"name": "r", "namespace": "ns1"},
            "rules": [{"verbs": ["get", "update"], "apiGroups": [""], "resources": ["configmaps"]}]});
        assert!(check_role_write(&rbac, deny, &alice(), "roles", &covered, None).is_ok());

        let elsewhere = json!({"metadata": {"name": "r", "namespace": "ns2"}, "rules": covered["rules"].clone()});
        let err = check_role_write(&rbac, deny, &alice(), "roles", &elsewhere, None).unwrap_err().to_string();
        assert!(err.ends_with("{APIGroups:[\"\"], Resources:[\"configmaps\"], Verbs:[\"get\" \"update\"]}"), "{err}");

        let seen = RefCell::new(None);
        let escalate = |a: &Attributes| {
            *seen.borrow_mut() = Some(a.clone());
            a.verb == "escalate"
        };
        assert!(check_role_write(&rbac, escalate, &alice(), "roles", &elsewhere, None).is_ok());
        let asked = seen.borrow().clone().expect("escalate was asked");
        assert_eq!(
            (asked.api_group.as_str(), asked.resource.as_str(), asked.namespace.as_str(), asked.name.as_str()),
            ("rbac.authorization.k8s.io", "roles", "ns2", "r")
        );

        let aggregated = json!({"metadata": {"name": "agg"}, "aggregationRule": {"clusterRoleSelectors": [{}]}});
        let err = check_role_write(&rbac, deny, &alice(), "clusterroles", &aggregated, None).unwrap_err();
        assert_eq!(err.to_string(), "must have cluster-admin privileges to use the aggregationRule");
        let no_selectors = json!({"metadata": {"name": "agg"}, "aggregationRule": {"clusterRoleSelectors": []}});
        assert!(check_role_write(&rbac, deny, &alice(), "clusterroles", &no_selectors, None).is_ok());
        // Unchanged aggregationRule on update needs no full authority.
        assert!(check_role_write(&rbac, deny, &alice(), "clusterroles", &aggregated, Some(&aggregated)).is_ok());
    }

    #[test]
    fn binding_writes() {
        let rbac = CompiledRbac::new(&cluster());
        let deny = |_: &Attributes| false;
        let rb = |ns: &str, kind: &str, role: &str| {
            json!({"metadata": {"name": "b", "namespace": ns},
                   "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": kind, "name": role},
                   "subjects": [{"kind": "User", "name": "bob"}]})
        };
        assert!(check_binding_write(&rbac, deny, &alice(), &rb("ns1", "ClusterRole", "cm-admin")).is_ok());
        let err = check_binding_write(&rbac, deny, &alice(), &rb("ns1", "Role", "secrets")).unwrap_err().to_string();
        assert!(err.ends_with("{APIGroups:[\"\"], Resources:[\"secrets\"], Verbs:[\"get\"]}"), "{err}");
        let err = check_binding_write(&rbac, deny, &alice(), &rb("ns1", "Role", "gone")).unwrap_err().to_string();
        assert_eq!(err, "roles.rbac.authorization.k8s.io \"gone\" not found");

        let seen = RefCell::new(None);
        let bind = |a: &Attributes| {
            *seen.borrow_mut() = Some(a.clone());
            a.verb == "bind"
        };
        assert!(check_binding_write(&rbac, bind, &alice(), &rb("ns1", "Role", "secrets")).is_ok());
        let asked = seen.borrow().clone().expect("bind was asked");
        assert_eq!(
            (asked.api_group.as_str(), asked.resource.as_str(), asked.namespace.as_str(), asked.name.as_str()),
            ("rbac.authorization.k8s.io", "roles", "ns1", "secrets")
        );
    }
}
