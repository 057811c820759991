//! Kubernetes RBAC over the Roles, ClusterRoles and bindings of one logical cluster.
//!
//! The caller hands in the raw JSON objects; [`CompiledRbac::new`] parses them once, resolves
//! every binding's role reference, evaluates ClusterRole `aggregationRule`s (so no aggregation
//! controller has to run), and indexes bindings by the user names and groups they name. A
//! request then touches only the bindings that can apply to its user, visiting them in kube's
//! order (ClusterRoleBindings, then RoleBindings of the request's namespace, each in input
//! order) so the "allowed by" reason is the one kube would give. The compiled form is
//! immutable: cache it per logical cluster keyed by the RBAC objects' revision.

use std::collections::{HashMap, HashSet};

use serde_json::{json, Map, Value};

use super::labels::selector_matches;
use super::rule::Rule;
use super::user::{service_account_username, UserInfo};
use super::{go_quote, AuthError};
use crate::field::str_at;

/// The request being authorized, as kube's `authorizer.Attributes`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Attributes {
    /// The requesting identity.
    pub user: UserInfo,
    /// Kube verb (`get`, `list`, `watch`, `create`, ..., or a custom verb like `bind`).
    pub verb: String,
    /// True for API resource requests; false for non-resource paths such as `/healthz`.
    pub resource_request: bool,
    /// API group (`""` for core).
    pub api_group: String,
    /// API version (`*` when unspecified in a review); RBAC ignores it.
    pub api_version: String,
    /// Resource plural.
    pub resource: String,
    /// Subresource, e.g. `status`.
    pub subresource: String,
    /// Namespace, empty for cluster-scoped requests.
    pub namespace: String,
    /// Object name, empty for collection requests.
    pub name: String,
    /// URL path of a non-resource request.
    pub path: String,
}

/// The RBAC objects of one logical cluster, as stored JSON.
#[derive(Debug, Clone, Default)]
pub struct RbacObjects {
    /// Roles of every namespace.
    pub roles: Vec<Value>,
    /// ClusterRoles.
    pub cluster_roles: Vec<Value>,
    /// RoleBindings of every namespace.
    pub role_bindings: Vec<Value>,
    /// ClusterRoleBindings.
    pub cluster_role_bindings: Vec<Value>,
}

/// An RBAC authorization outcome. RBAC never denies: other authorizers may still allow.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Allowed, with kube's reason (`RBAC: allowed by ClusterRoleBinding "x" of ...`).
    Allow(String),
    /// No rule grants the request.
    NoOpinion,
}

/// A binding subject as written, plus the user name it matches when it is a service account.
#[derive(Debug)]
struct Subject {
    kind: String,
    name: String,
    namespace: String,
    /// `system:serviceaccount:<ns>:<name>`, with the namespace defaulted to the binding's;
    /// `None` when no namespace is known, which kube treats as matching nobody.
    sa_user: Option<String>,
}

impl Subject {
    fn applies_to(&self, user: &UserInfo) -> bool {
        match self.kind.as_str() {
            "User" => user.name == self.name,
            "Group" => user.groups.contains(&self.name),
            "ServiceAccount" => self.sa_user.as_deref() == Some(user.name.as_str()),
            _ => false,
        }
    }

    /// kube's `describeSubject`.
    fn describe(&self, binding_namespace: &str) -> String {
        if self.kind == "ServiceAccount" {
            let ns = if self.namespace.is_empty() { binding_namespace } else { &self.namespace };
            format!("{} {}", self.kind, go_quote(&format!("{}/{}", self.name, ns)))
        } else {
            format!("{} {}", self.kind, go_quote(&self.name))
        }
    }
}

/// One (Cluster)RoleBinding with its role reference already resolved.
#[derive(Debug)]
struct Binding {
    name: String,
    /// Empty for ClusterRoleBindings.
    namespace: String,
    role_kind: String,
    role_name: String,
    subjects: Vec<Subject>,
    /// Index into `CompiledRbac::rule_sets`; `None` when the referenced role does not exist.
    rules: Option<usize>,
}

impl Binding {
    /// kube's binding describers, used in the "allowed by" reason.
    fn describe(&self, subject: &Subject) -> String {
        if self.namespace.is_empty() {
            format!("ClusterRoleBinding {} of {} {} to {}", go_quote(&self.name), self.role_kind, go_quote(&self.role_name), subject.describe(""))
        } else {
            format!(
                "RoleBinding {} of {} {} to {}",
                go_quote(&format!("{}/{}", self.name, self.namespace)),
                self.role_kind,
                go_quote(&self.role_name),
                subject.describe(&self.namespace)
            )
        }
    }
}

/// Bindings of one scope, indexed by the user names and groups their subjects match.
#[derive(Debug, Default)]
struct BindingSet {
    bindings: Vec<Binding>,
    by_user: HashMap<String, Vec<usize>>,
    by_group: HashMap<String, Vec<usize>>,
}

impl BindingSet {
    fn push(&mut self, binding: Binding) {
        let idx = self.bindings.len();
        for s in &binding.subjects {
            let key = match s.kind.as_str() {
                "User" => Some((&mut self.by_user, s.name.clone())),
                "Group" => Some((&mut self.by_group, s.name.clone())),
                "ServiceAccount" => s.sa_user.clone().map(|u| (&mut self.by_user, u)),
                _ => None,
            };
            if let Some((index, key)) = key {
                let slot = index.entry(key).or_default();
                if slot.last() != Some(&idx) {
                    slot.push(idx);
                }
            }
        }
        self.bindings.push(binding);
    }

    /// Bindings naming this user (directly, by group or as a service account), in input order,
    /// each with the first of its subjects that applies (the one kube's reason names).
    fn applicable<'a>(&'a self, user: &'a UserInfo) -> impl Iterator<Item = (&'a Binding, &'a Subject)> + 'a {
        let mut idxs: Vec<usize> = self.by_user.get(&user.name).into_iter().flatten().copied().collect();
        for g in &user.groups {
            idxs.extend(self.by_group.get(g).into_iter().flatten().copied());
        }
        idxs.sort_unstable();
        idxs.dedup();
        idxs.into_iter().filter_map(move |i| {
            let b = self.bindings.get(i)?;
            b.subjects.iter().find(|s| s.applies_to(user)).map(|s| (b, s))
        })
    }
}

/// RBAC objects of one logical cluster, parsed and indexed for repeated authorization.
#[derive(Debug, Default)]
pub struct CompiledRbac {
    /// Effective rules of every ClusterRole, then of every Role.
    rule_sets: Vec<Vec<Rule>>,
    cluster_role_ids: HashMap<String, usize>,
    role_ids: HashMap<(String, String), usize>,
    cluster_bindings: BindingSet,
    namespaced_bindings: HashMap<String, BindingSet>,
}

/// A parsed ClusterRole before aggregation.
struct ClusterRoleSource<'a> {
    name: &'a str,
    labels: Option<&'a Map<String, Value>>,
    rules: Vec<Rule>,
    selectors: Option<&'a [Value]>,
}

/// Effective rules of every ClusterRole, aggregation applied.
///
/// Like kube's aggregation controller, an aggregated role's own `rules` are replaced by the
/// de-duplicated rules of the other ClusterRoles its selectors pick (per selector, by name).
/// Aggregated roles may select each other, so this iterates to a fixed point, bounded by the
/// number of aggregated roles (enough for any acyclic chain; cycles just stop growing there).
fn aggregate_cluster_roles(sources: &[ClusterRoleSource<'_>]) -> Vec<Vec<Rule>> {
    let empty = Map::new();
    let picks: Vec<Option<Vec<usize>>> = sources
        .iter()
        .enumerate()
        .map(|(me, role)| {
            role.selectors.map(|selectors| {
                let mut out = Vec::new();
                for selector in selectors {
                    let mut chosen: Vec<usize> = (0..sources.len())
                        .filter(|&i| i != me && sources[i].name != role.name)
                        .filter(|&i| selector_matches(selector, sources[i].labels.unwrap_or(&empty)))
                        .collect();
                    chosen.sort_by(|&a, &b| sources[a].name.cmp(sources[b].name));
                    out.extend(chosen);
                }
                out
            })
        })
        .collect();
    let mut effective: Vec<Vec<Rule>> = sources.iter().map(|r| if r.selectors.is_some() { Vec::new() } else { r.rules.clone() }).collect();
    let aggregated = picks.iter().filter(|p| p.is_some()).count();
    for _ in 0..=aggregated {
        let mut changed = false;
        for (me, pick) in picks.iter().enumerate() {
            let Some(pick) = pick else { continue };
            let mut seen = HashSet::new();
            let mut merged = Vec::new();
            for &src in pick {
                for rule in &effective[src] {
                    if seen.insert(rule) {
                        merged.push(rule.clone());
                    }
                }
            }
            if merged != effective[me] {
                effective[me] = merged;
                changed = true;
            }
        }
        if !changed {
            break;
        }
    }
    effective
}

/// The selectors of a ClusterRole that aggregates. Any `aggregationRule` object, even one
/// without selectors, replaces the role's own rules.
pub fn aggregation_selectors(role: &Value) -> Option<&[Value]> {
    let rule = role.get("aggregationRule").filter(|a| a.is_object())?;
    Some(rule.get("clusterRoleSelectors").and_then(Value::as_array).map_or(&[], Vec::as_slice))
}

fn sources(cluster_roles: &[Value]) -> Vec<ClusterRoleSource<'_>> {
    cluster_roles
        .iter()
        .map(|cr| ClusterRoleSource {
            name: str_at(cr, &["metadata", "name"]),
            labels: cr.pointer("/metadata/labels").and_then(Value::as_object),
            rules: Rule::list_from(cr),
            selectors: aggregation_selectors(cr),
        })
        .collect()
}

/// The rules ClusterRole `name` has once aggregated among `cluster_roles` (those of its logical
/// cluster), as the authorizer evaluates them; None when it does not aggregate. The
/// aggregation controller writes these into the role, so what it shows is what is enforced.
pub fn aggregated_rules(cluster_roles: &[Value], name: &str) -> Option<Vec<Value>> {
    let sources = sources(cluster_roles);
    let me = sources.iter().position(|s| s.name == name && s.selectors.is_some())?;
    Some(aggregate_cluster_roles(&sources).swap_remove(me).iter().map(Rule::to_value).collect())
}

impl CompiledRbac {
    /// Parses, resolves and indexes the RBAC objects of one logical cluster.
    pub fn new(rbac: &RbacObjects) -> Self {
        let sources = sources(&rbac.cluster_roles);
        let mut rule_sets = aggregate_cluster_roles(&sources);
        let cluster_role_ids: HashMap<String, usize> = sources.iter().enumerate().map(|(i, s)| (s.name.to_string(), i)).collect();
        let mut role_ids: HashMap<(String, String), usize> = HashMap::new();
        for role in &rbac.roles {
            let key = (str_at(role, &["metadata", "namespace"]).to_string(), str_at(role, &["metadata", "name"]).to_string());
            role_ids.insert(key, rule_sets.len());
            rule_sets.push(Rule::list_from(role));
        }

        let compile = |b: &Value, namespace: &str| {
            let role_kind = str_at(b, &["roleRef", "kind"]);
            let role_name = str_at(b, &["roleRef", "name"]);
            let rules = match role_kind {
                "ClusterRole" => cluster_role_ids.get(role_name).copied(),
                "Role" => role_ids.get(&(namespace.to_string(), role_name.to_string())).copied(),
                _ => None,
            };
            let subjects =
                b.get("subjects").and_then(Value::as_array).map(|items| items.iter().map(|s| compile_subject(s, namespace)).collect()).unwrap_or_default();
            Binding {
                name: str_at(b, &["metadata", "name"]).to_string(),
                namespace: namespace.to_string(),
                role_kind: role_kind.to_string(),
                role_name: role_name.to_string(),
                subjects,
                rules,
            }
        };
        let mut cluster_bindings = BindingSet::default();
        for b in &rbac.cluster_role_bindings {
            cluster_bindings.push(compile(b, ""));
        }
        let mut namespaced_bindings: HashMap<String, BindingSet> = HashMap::new();
        for b in &rbac.role_bindings {
            let ns = str_at(b, &["metadata", "namespace"]);
            // A RoleBinding without a namespace cannot exist in storage; it grants nothing.
            if ns.is_empty() {
                continue;
            }
            namespaced_bindings.entry(ns.to_string()).or_default().push(compile(b, ns));
        }
        CompiledRbac { rule_sets, cluster_role_ids, role_ids, cluster_bindings, namespaced_bindings }
    }

    /// Every (binding, subject, rules) granting something to `user` in `namespace`, in kube's
    /// visiting order: ClusterRoleBindings first, then RoleBindings of that namespace.
    fn grants<'a>(&'a self, user: &'a UserInfo, namespace: &str) -> impl Iterator<Item = (&'a Binding, &'a Subject, &'a [Rule])> + 'a {
        let local = if namespace.is_empty() { None } else { self.namespaced_bindings.get(namespace) };
        self.cluster_bindings
            .applicable(user)
            .chain(local.into_iter().flat_map(move |set| set.applicable(user)))
            .filter_map(|(b, s)| Some((b, s, self.rule_sets.get(b.rules?)?.as_slice())))
    }

    /// kube's RBAC `Authorize`.
    pub fn authorize(&self, attrs: &Attributes) -> Decision {
        match self.first_grant(attrs) {
            Some((binding, subject)) => Decision::Allow(format!("RBAC: allowed by {}", binding.describe(subject))),
            None => Decision::NoOpinion,
        }
    }

    /// Whether [`CompiledRbac::authorize`] allows, without composing its reason.
    pub fn allows(&self, attrs: &Attributes) -> bool {
        self.first_grant(attrs).is_some()
    }

    /// The first binding, in kube's visiting order, whose rules allow the request.
    fn first_grant<'a>(&'a self, attrs: &'a Attributes) -> Option<(&'a Binding, &'a Subject)> {
        self.grants(&attrs.user, &attrs.namespace).find(|(_, _, rules)| rules.iter().any(|r| r.allows(attrs))).map(|(b, s, _)| (b, s))
    }

    /// All rules granted to `user` in `namespace` (cluster-wide ones included), unmerged and in
    /// visiting order, as kube's `RulesFor`; the input of escalation checks.
    pub fn policy_rules_for(&self, user: &UserInfo, namespace: &str) -> Vec<Rule> {
        self.grants(user, namespace).flat_map(|(_, _, rules)| rules.iter().cloned()).collect()
    }

    /// The rules of the role a binding's `roleRef` names, as kube's `GetRoleReferenceRules`
    /// (aggregation applied); the rules a binding would grant.
    pub fn role_ref_rules(&self, role_ref: &Value, binding_namespace: &str) -> Result<Vec<Rule>, AuthError> {
        let kind = str_at(role_ref, &["kind"]);
        let name = str_at(role_ref, &["name"]);
        let (resource, found) = match kind {
            "ClusterRole" => ("clusterroles", self.cluster_role_ids.get(name)),
            "Role" => ("roles", self.role_ids.get(&(binding_namespace.to_string(), name.to_string()))),
            other => return Err(AuthError::UnsupportedRoleRef { kind: other.to_string() }),
        };
        found.and_then(|&i| self.rule_sets.get(i)).cloned().ok_or_else(|| AuthError::RoleNotFound { resource, name: name.to_string() })
    }

    /// The resource and non-resource rules of `user` in `namespace`, in the shapes of
    /// SelfSubjectRulesReview's `status.resourceRules` and `status.nonResourceRules`.
    pub fn rules_for(&self, user: &UserInfo, namespace: &str) -> (Vec<Value>, Vec<Value>) {
        let mut resource_rules = Vec::new();
        let mut non_resource_rules = Vec::new();
        for (_, _, rules) in self.grants(user, namespace) {
            for rule in rules {
                // A rule may carry both halves; kube reports each half on its own.
                if !rule.resources.is_empty() {
                    resource_rules.push(Rule { non_resource_urls: Vec::new(), ..rule.clone() }.to_value());
                }
                if !rule.non_resource_urls.is_empty() {
                    non_resource_rules.push(json!({"verbs": rule.verbs, "nonResourceURLs": rule.non_resource_urls}));
                }
            }
        }
        (resource_rules, non_resource_rules)
    }
}

fn compile_subject(s: &Value, binding_namespace: &str) -> Subject {
    let kind = str_at(s, &["kind"]).to_string();
    let name = str_at(s, &["name"]).to_string();
    let namespace = str_at(s, &["namespace"]).to_string();
    let sa_user = (kind == "ServiceAccount")
        .then_some(if namespace.is_empty() { binding_namespace } else { namespace.as_str() })
        .filter(|ns| !ns.is_empty())
        .map(|ns| service_account_username(ns, &name));
    Subject { kind, name, namespace, sa_user }
}

/// One-shot RBAC authorization; compile once with [`CompiledRbac::new`] when it repeats.
pub fn authorize(attrs: &Attributes, rbac: &RbacObjects) -> Decision {
    CompiledRbac::new(rbac).authorize(attrs)
}

/// One-shot [`CompiledRbac::rules_for`].
pub fn rules_for(user: &UserInfo, namespace: &str, rbac: &RbacObjects) -> (Vec<Value>, Vec<Value>) {
    CompiledRbac::new(rbac).rules_for(user, namespace)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cluster_role(name: &str, labels: Value, rules: Value) -> Value {
        json!({"metadata": {"name": name, "labels": labels}, "rules": rules})
    }

    fn binding(name: &str, namespace: Option<&str>, role_kind: &str, role: &str, subjects: Value) -> Value {
        let mut meta = json!({"name": name});
        if let Some(ns) = namespace {
            meta["namespace"] = json!(ns);
        }
        json!({"metadata": meta, "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": role_kind, "name": role},
               "subjects": subjects})
    }

    fn user_subject(name: &str) -> Value {
        json!([{"kind": "User", "apiGroup": "rbac.authorization.k8s.io", "name": name}])
    }

    fn group_subject(name: &str) -> Value {
        json!([{"kind": "Group", "apiGroup": "rbac.authorization.k8s.io", "name": name}])
    }

    /// A small cluster exercising every kind of grant.
    pub(crate) fn fixture() -> RbacObjects {
        let to_view = json!({"example.io/aggregate-to-view": "true"});
        RbacObjects {
            cluster_roles: vec![
                cluster_role("pod-reader", json!({}), json!([{"verbs": ["get", "list"], "apiGroups": [""], "resources": ["pods"]}])),
                cluster_role("secret-one", json!({}), json!([{"verbs": ["get"], "apiGroups": [""], "resources": ["secrets"], "resourceNames": ["one"]}])),
                cluster_role("logs", json!({}), json!([{"verbs": ["get"], "apiGroups": [""], "resources": ["pods/log"]}])),
                cluster_role("any-status", json!({}), json!([{"verbs": ["get"], "apiGroups": ["*"], "resources": ["*/status"]}])),
                cluster_role("all", json!({}), json!([{"verbs": ["*"], "apiGroups": ["*"], "resources": ["*"]}])),
                cluster_role("health", json!({}), json!([{"verbs": ["get"], "nonResourceURLs": ["/healthz", "/logs/*"]}])),
                json!({"metadata": {"name": "agg-view", "labels": {"tier": "top"}},
                       "aggregationRule": {"clusterRoleSelectors": [{"matchLabels": to_view}]},
                       // Stale own rules: aggregation replaces them.
                       "rules": [{"verbs": ["delete"], "apiGroups": ["*"], "resources": ["*"]}]}),
                cluster_role("view-cm", to_view.clone(), json!([{"verbs": ["get"], "apiGroups": [""], "resources": ["configmaps"]}])),
                cluster_role(
                    "view-lease",
                    to_view.clone(),
                    json!([
                    {"verbs": ["get"], "apiGroups": ["coordination.k8s.io"], "resources": ["leases"]},
                    {"verbs": ["get"], "apiGroups": [""], "resources": ["configmaps"]}]),
                ),
                json!({"metadata": {"name": "agg-top"},
                       "aggregationRule": {"clusterRoleSelectors": [
                           {"matchExpressions": [{"key": "tier", "operator": "In", "values": ["top"]}]}]}}),
            ],
            roles: vec![
                json!({"metadata": {"name": "cm-writer", "namespace": "ns1"},
                       "rules": [{"verbs": ["create"], "apiGroups": [""], "resources": ["configmaps"]}]}),
                json!({"metadata": {"name": "cm-writer", "namespace": "ns2"},
                       "rules": [{"verbs": ["delete"], "apiGroups": [""], "resources": ["configmaps"]}]}),
            ],
            cluster_role_bindings: vec![
                binding("crb-missing", None, "ClusterRole", "nope", user_subject("alice")),
                binding("crb-reader", None, "ClusterRole", "pod-reader", user_subject("alice")),
                binding("crb-health", None, "ClusterRole", "health", group_subject("system:authenticated")),
                binding("crb-any-status", None, "ClusterRole", "any-status", json!([{"kind": "ServiceAccount", "name": "robot", "namespace": "ns1"}])),
                binding("crb-sa-no-ns", None, "ClusterRole", "all", json!([{"kind": "ServiceAccount", "name": "robot"}])),
                binding("crb-agg", None, "ClusterRole", "agg-top", group_subject("viewers")),
            ],
            role_bindings: vec![
                binding("rb-writer", Some("ns1"), "Role", "cm-writer", user_subject("bob")),
                binding("rb-secret", Some("ns1"), "ClusterRole", "secret-one", group_subject("devs")),
                binding("rb-logs", Some("ns1"), "ClusterRole", "logs", json!([{"kind": "ServiceAccount", "name": "robot"}])),
                binding("rb-writer2", Some("ns2"), "Role", "cm-writer", user_subject("bob")),
                binding(
                    "rb-all",
                    Some("ns2"),
                    "ClusterRole",
                    "all",
                    json!([{"kind": "Group", "name": "nobody"}, {"kind": "ServiceAccount", "name": "robot", "namespace": "ns1"}]),
                ),
            ],
        }
    }

    fn user(name: &str, groups: &[&str]) -> UserInfo {
        UserInfo { name: name.into(), groups: groups.iter().map(|g| g.to_string()).collect(), ..UserInfo::default() }
    }

    /// `verb group/resource[/sub] ns name`, parsed for compact tables.
    fn resource(u: &UserInfo, verb: &str, group: &str, resource: &str, ns: &str, name: &str) -> Attributes {
        let (resource, subresource) = resource.split_once('/').unwrap_or((resource, ""));
        Attributes {
            user: u.clone(),
            verb: verb.into(),
            resource_request: true,
            api_group: group.into(),
            api_version: "v1".into(),
            resource: resource.into(),
            subresource: subresource.into(),
            namespace: ns.into(),
            name: name.into(),
            path: String::new(),
        }
    }

    fn non_resource(u: &UserInfo, verb: &str, path: &str) -> Attributes {
        Attributes { user: u.clone(), verb: verb.into(), path: path.into(), ..Attributes::default() }
    }

    #[test]
    fn authorization_table() {
        let alice = user("alice", &[]);
        let bob = user("bob", &[]);
        let carol = user("carol", &["devs"]);
        let robot = user("system:serviceaccount:ns1:robot", &[]);
        let robot2 = user("system:serviceaccount:ns2:robot", &[]);
        let bare_robot = user("robot", &[]);
        let dave = user("dave", &["system:authenticated"]);
        let viewer = user("vic", &["viewers"]);
        let cases: Vec<(&str, Attributes, Option<&str>)> = vec![
            (
                "clusterrolebinding grants in a namespace",
                resource(&alice, "get", "", "pods", "ns1", "p"),
                Some(r#"ClusterRoleBinding "crb-reader" of ClusterRole "pod-reader" to User "alice""#),
            ),
            (
                "clusterrolebinding grants cluster-wide",
                resource(&alice, "list", "", "pods", "", ""),
                Some(r#"ClusterRoleBinding "crb-reader" of ClusterRole "pod-reader" to User "alice""#),
            ),
            ("verb not granted", resource(&alice, "delete", "", "pods", "ns1", "p"), None),
            ("group not granted", resource(&alice, "get", "apps", "pods", "ns1", "p"), None),
            (
                "rolebinding to role",
                resource(&bob, "create", "", "configmaps", "ns1", ""),
                Some(r#"RoleBinding "rb-writer/ns1" of Role "cm-writer" to User "bob""#),
            ),
            (
                "same-named role of another namespace",
                resource(&bob, "delete", "", "configmaps", "ns2", "c"),
                Some(r#"RoleBinding "rb-writer2/ns2" of Role "cm-writer" to User "bob""#),
            ),
            ("namespace mismatch", resource(&bob, "create", "", "configmaps", "ns2", ""), None),
            ("namespace mismatch, other way", resource(&bob, "delete", "", "configmaps", "ns1", "c"), None),
            ("rolebinding is not cluster-wide", resource(&bob, "create", "", "configmaps", "", ""), None),
            (
                "resourceNames match",
                resource(&carol, "get", "", "secrets", "ns1", "one"),
                Some(r#"RoleBinding "rb-secret/ns1" of ClusterRole "secret-one" to Group "devs""#),
            ),
            ("resourceNames mismatch", resource(&carol, "get", "", "secrets", "ns1", "two"), None),
            ("resourceNames never match collections", resource(&carol, "get", "", "secrets", "ns1", ""), None),
            ("clusterrole bound in a namespace only", resource(&carol, "get", "", "secrets", "ns2", "one"), None),
            (
                "subresource granted",
                resource(&robot, "get", "", "pods/log", "ns1", "p"),
                Some(r#"RoleBinding "rb-logs/ns1" of ClusterRole "logs" to ServiceAccount "robot/ns1""#),
            ),
            ("subresource rule does not grant the resource", resource(&robot, "get", "", "pods", "ns1", "p"), None),
            (
                "*/subresource",
                resource(&robot, "get", "apps", "deployments/status", "ns3", "d"),
                Some(r#"ClusterRoleBinding "crb-any-status" of ClusterRole "any-status" to ServiceAccount "robot/ns1""#),
            ),
            ("*/subresource needs a subresource", resource(&robot, "get", "apps", "deployments", "ns3", "d"), None),
            ("service account namespace defaults to the binding's", resource(&robot2, "get", "", "pods/log", "ns1", "p"), None),
            (
                "wildcard rule, second subject",
                resource(&robot, "deletecollection", "x.io", "things", "ns2", ""),
                Some(r#"RoleBinding "rb-all/ns2" of ClusterRole "all" to ServiceAccount "robot/ns1""#),
            ),
            ("clusterrolebinding service account needs a namespace", resource(&bare_robot, "get", "", "pods", "ns2", "p"), None),
            (
                "non-resource exact",
                non_resource(&dave, "get", "/healthz"),
                Some(r#"ClusterRoleBinding "crb-health" of ClusterRole "health" to Group "system:authenticated""#),
            ),
            ("non-resource exact is not a prefix", non_resource(&dave, "get", "/healthz/etcd"), None),
            (
                "non-resource prefix",
                non_resource(&dave, "get", "/logs/kube-apiserver.log"),
                Some(r#"ClusterRoleBinding "crb-health" of ClusterRole "health" to Group "system:authenticated""#),
            ),
            ("non-resource prefix needs the slash", non_resource(&dave, "get", "/logs"), None),
            ("non-resource verb", non_resource(&dave, "post", "/healthz"), None),
            ("resource rules never grant paths", non_resource(&robot, "get", "/api"), None),
            ("non-resource rules never grant resources", resource(&dave, "get", "", "healthz", "", ""), None),
            (
                "aggregated through a chain",
                resource(&viewer, "get", "coordination.k8s.io", "leases", "ns1", "l"),
                Some(r#"ClusterRoleBinding "crb-agg" of ClusterRole "agg-top" to Group "viewers""#),
            ),
            (
                "aggregated configmaps",
                resource(&viewer, "get", "", "configmaps", "", ""),
                Some(r#"ClusterRoleBinding "crb-agg" of ClusterRole "agg-top" to Group "viewers""#),
            ),
            ("aggregation replaces own rules", resource(&viewer, "delete", "", "configmaps", "ns1", "c"), None),
        ];
        let compiled = CompiledRbac::new(&fixture());
        for (what, attrs, want) in cases {
            assert_eq!(compiled.allows(&attrs), want.is_some(), "{what}: the verdict without the reason");
            let want = want.map_or(Decision::NoOpinion, |r| Decision::Allow(format!("RBAC: allowed by {r}")));
            assert_eq!(compiled.authorize(&attrs), want, "{what}");
        }
        assert_eq!(authorize(&resource(&alice, "get", "", "pods", "", ""), &fixture()), compiled.authorize(&resource(&alice, "get", "", "pods", "", "")));
    }

    #[test]
    fn aggregation_cycle_terminates_and_unions() {
        let sel = |v: &str| json!({"clusterRoleSelectors": [{"matchLabels": {"ring": v}}]});
        let rbac = RbacObjects {
            cluster_roles: vec![
                json!({"metadata": {"name": "a", "labels": {"ring": "b"}}, "aggregationRule": sel("a")}),
                json!({"metadata": {"name": "b", "labels": {"ring": "a"}}, "aggregationRule": sel("b")}),
                cluster_role("leaf", json!({"ring": "a"}), json!([{"verbs": ["get"], "apiGroups": [""], "resources": ["pods"]}])),
            ],
            cluster_role_bindings: vec![binding("x", None, "ClusterRole", "a", user_subject("u"))],
            ..RbacObjects::default()
        };
        // a picks b and leaf (ring=a); b picks a (ring=b); so both end with leaf's rule.
        let compiled = CompiledRbac::new(&rbac);
        let u = user("u", &[]);
        assert!(matches!(compiled.authorize(&resource(&u, "get", "", "pods", "", "")), Decision::Allow(_)));
        let b_rules = compiled.role_ref_rules(&json!({"kind": "ClusterRole", "name": "b"}), "").expect("b exists");
        assert_eq!(b_rules.len(), 1);
    }

    #[test]
    fn rules_for_lists_visible_rules() {
        let rbac = fixture();
        let bob = user("bob", &["system:authenticated"]);
        let (res, non_res) = rules_for(&bob, "ns1", &rbac);
        assert_eq!(res, vec![json!({"verbs": ["create"], "apiGroups": [""], "resources": ["configmaps"]})]);
        assert_eq!(non_res, vec![json!({"verbs": ["get"], "nonResourceURLs": ["/healthz", "/logs/*"]})]);

        let (cluster_wide, _) = rules_for(&bob, "", &rbac);
        assert!(cluster_wide.is_empty(), "rolebindings must not show without a namespace");

        let carol = user("carol", &["devs"]);
        let (res, non_res) = rules_for(&carol, "ns1", &rbac);
        assert_eq!(res, vec![json!({"verbs": ["get"], "apiGroups": [""], "resources": ["secrets"], "resourceNames": ["one"]})]);
        assert!(non_res.is_empty());

        let (viewer, _) = rules_for(&user("vic", &["viewers"]), "", &rbac);
        assert_eq!(
            viewer,
            vec![
                json!({"verbs": ["get"], "apiGroups": [""], "resources": ["configmaps"]}),
                json!({"verbs": ["get"], "apiGroups": ["coordination.k8s.io"], "resources": ["leases"]}),
            ],
            "aggregation de-duplicates the configmaps rule"
        );
    }

    #[test]
    fn index_picks_the_right_binding_among_many() {
        let mut rbac = fixture();
        for i in 0..5000 {
            let subjects = if i % 2 == 0 { user_subject(&format!("u{i}")) } else { group_subject(&format!("g{i}")) };
            rbac.role_bindings.push(binding(&format!("b{i}"), Some("ns1"), "Role", "cm-writer", subjects));
        }
        let compiled = CompiledRbac::new(&rbac);
        let create_cm = |u: &UserInfo| compiled.authorize(&resource(u, "create", "", "configmaps", "ns1", ""));
        assert_eq!(create_cm(&user("u4998", &[])), Decision::Allow(r#"RBAC: allowed by RoleBinding "b4998/ns1" of Role "cm-writer" to User "u4998""#.into()));
        assert_eq!(
            create_cm(&user("x", &["g4999", "g3"])),
            Decision::Allow(r#"RBAC: allowed by RoleBinding "b3/ns1" of Role "cm-writer" to Group "g3""#.into()),
            "the first binding in input order wins, whichever group came first"
        );
        assert_eq!(create_cm(&user("u4999", &["g4998"])), Decision::NoOpinion);
    }

    #[test]
    fn role_ref_rules_errors() {
        let compiled = CompiledRbac::new(&fixture());
        let ok = compiled.role_ref_rules(&json!({"kind": "Role", "name": "cm-writer"}), "ns2").expect("exists");
        assert_eq!(ok[0].verbs, vec!["delete"]);
        let missing = compiled.role_ref_rules(&json!({"kind": "Role", "name": "cm-writer"}), "ns3").map(|_| ()).unwrap_err();
        assert_eq!(missing.to_string(), r#"roles.rbac.authorization.k8s.io "cm-writer" not found"#);
        let odd = compiled.role_ref_rules(&json!({"kind": "Group", "name": "x"}), "").map(|_| ()).unwrap_err();
        assert_eq!(odd.to_string(), r#"unsupported role reference kind: "Group""#);
    }
}
