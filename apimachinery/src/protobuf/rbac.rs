//! Converters for `rbac.authorization.k8s.io/v1`. Roles and bindings come in namespaced and
//! cluster flavours with the same fields, so each pair shares one body helper.

use k8s_pb::api::rbac::v1::{ClusterRole, ClusterRoleBinding, PolicyRule, Role, RoleBinding, RoleRef, Subject};
use k8s_pb::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use super::json::{all, label_selector, Obj};

pub(crate) fn role(r: Role) -> Obj {
    with_rules(r.metadata, r.rules)
}

pub(crate) fn cluster_role(r: ClusterRole) -> Obj {
    let aggregation = r.aggregation_rule.map(|a| Obj::default().omit("clusterRoleSelectors", all(a.cluster_role_selectors, label_selector)));
    with_rules(r.metadata, r.rules).keep("aggregationRule", aggregation)
}

fn with_rules(meta: Option<ObjectMeta>, rules: Vec<PolicyRule>) -> Obj {
    Obj::object(meta).always("rules", all(rules, policy_rule))
}

fn policy_rule(r: PolicyRule) -> Obj {
    Obj::default()
        .always("verbs", r.verbs)
        .omit("apiGroups", r.api_groups)
        .omit("resources", r.resources)
        .omit("resourceNames", r.resource_names)
        .omit("nonResourceURLs", r.non_resource_ur_ls)
}

pub(crate) fn role_binding(b: RoleBinding) -> Obj {
    binding(b.metadata, b.subjects, b.role_ref)
}

pub(crate) fn cluster_role_binding(b: ClusterRoleBinding) -> Obj {
    binding(b.metadata, b.subjects, b.role_ref)
}

fn binding(meta: Option<ObjectMeta>, subjects: Vec<Subject>, role: Option<RoleRef>) -> Obj {
    Obj::object(meta).omit("subjects", all(subjects, subject)).always("roleRef", role.map(role_ref))
}

fn subject(s: Subject) -> Obj {
    Obj::default().always("kind", s.kind).omit("apiGroup", s.api_group).always("name", s.name).omit("namespace", s.namespace)
}

fn role_ref(r: RoleRef) -> Obj {
    Obj::default().always("apiGroup", r.api_group).always("kind", r.kind).always("name", r.name)
}
