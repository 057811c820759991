//! Kubernetes RBAC over the roles and bindings of one logical cluster.
//!
//! ClusterRoleBindings grant everywhere in the cluster; RoleBindings only in their namespace.
//! Aggregated ClusterRoles are resolved at evaluation time, so no controller has to keep their
//! rules up to date.

use serde_json::{json, Value};

use super::{strings, AuthError, UserInfo};

/// What a request wants to do.
#[derive(Debug, Clone, Default)]
pub struct Attributes {
    pub user: UserInfo,
    pub verb: String,
    pub resource_request: bool,
    pub api_group: String,
    pub api_version: String,
    pub resource: String,
    pub subresource: String,
    pub namespace: String,
    pub name: String,
    /// Request path, for non-resource requests.
    pub path: String,
}

/// The RBAC objects of one logical cluster, as JSON.
#[derive(Debug, Clone, Default)]
pub struct RbacObjects {
    pub roles: Vec<Value>,
    pub cluster_roles: Vec<Value>,
    pub role_bindings: Vec<Value>,
    pub cluster_role_bindings: Vec<Value>,
}

/// The outcome of authorization.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Allowed, with the reason (which binding granted it).
    Allow(String),
    /// RBAC grants nothing; other authorizers may still allow.
    NoOpinion,
}

fn name_of(v: &Value) -> &str {
    v.pointer("/metadata/name").and_then(Value::as_str).unwrap_or_default()
}

fn ns_of(v: &Value) -> &str {
    v.pointer("/metadata/namespace").and_then(Value::as_str).unwrap_or_default()
}

fn has(list: &[String], want: &str) -> bool {
    list.iter().any(|x| x == "*" || x == want)
}

/// matchLabels / matchExpressions of an aggregation selector against labels.
fn selector_matches(sel: &Value, labels: &Value) -> bool {
    let label = |k: &str| labels.get(k).and_then(Value::as_str);
    let labels_ok = sel["matchLabels"].as_object().is_none_or(|m| m.iter().all(|(k, v)| label(k) == v.as_str()));
    let exprs_ok = sel["matchExpressions"].as_array().is_none_or(|es| {
        es.iter().all(|e| {
            let key = e["key"].as_str().unwrap_or_default();
            let values = strings(&e["values"]);
            match e["operator"].as_str().unwrap_or_default() {
                "In" => label(key).is_some_and(|v| values.iter().any(|x| x == v)),
                "NotIn" => label(key).is_none_or(|v| !values.iter().any(|x| x == v)),
                "Exists" => label(key).is_some(),
                "DoesNotExist" => label(key).is_none(),
                _ => false,
            }
        })
    });
    labels_ok && exprs_ok
}

impl RbacObjects {
    /// Rules of a ClusterRole, including those aggregated from other ClusterRoles.
    fn cluster_role_rules(&self, name: &str) -> Vec<Value> {
        let Some(role) = self.cluster_roles.iter().find(|r| name_of(r) == name) else { return Vec::new() };
        let mut rules: Vec<Value> = role["rules"].as_array().cloned().unwrap_or_default();
        if let Some(selectors) = role.pointer("/aggregationRule/clusterRoleSelectors").and_then(Value::as_array) {
            for other in &self.cluster_roles {
                if name_of(other) == name {
                    continue;
                }
                let labels = other.pointer("/metadata/labels").cloned().unwrap_or(json!({}));
                if selectors.iter().any(|s| selector_matches(s, &labels)) {
                    rules.extend(other["rules"].as_array().cloned().unwrap_or_default());
                }
            }
        }
        rules
    }

    /// Rules a binding's roleRef grants (a RoleBinding's Role lives in its namespace).
    fn bound_rules(&self, binding: &Value) -> Vec<Value> {
        let kind = binding.pointer("/roleRef/kind").and_then(Value::as_str).unwrap_or_default();
        let name = binding.pointer("/roleRef/name").and_then(Value::as_str).unwrap_or_default();
        match kind {
            "ClusterRole" => self.cluster_role_rules(name),
            "Role" => self
                .roles
                .iter()
                .find(|r| name_of(r) == name && ns_of(r) == ns_of(binding))
                .and_then(|r| r["rules"].as_array().cloned())
                .unwrap_or_default(),
            _ => Vec::new(),
        }
    }

    /// Bindings that apply to `user` in `namespace` ("" = cluster scope), with their rules.
    fn grants<'a>(&'a self, user: &'a UserInfo, namespace: &'a str) -> impl Iterator<Item = (&'a Value, Vec<Value>)> + 'a {
        let crbs = self.cluster_role_bindings.iter();
        let rbs = self.role_bindings.iter().filter(move |b| !namespace.is_empty() && ns_of(b) == namespace);
        crbs.chain(rbs).filter(move |b| applies_to(b, user)).map(move |b| (b, self.bound_rules(b)))
    }
}

/// True when one of the binding's subjects is the user, a group of theirs, or their service account.
fn applies_to(binding: &Value, user: &UserInfo) -> bool {
    let subjects = binding["subjects"].as_array().map(Vec::as_slice).unwrap_or_default();
    subjects.iter().any(|s| {
        let name = s["name"].as_str().unwrap_or_default();
        match s["kind"].as_str().unwrap_or_default() {
            "User" => name == user.name,
            "Group" => user.groups.iter().any(|g| g == name),
            "ServiceAccount" => {
                let ns = s["namespace"].as_str().filter(|n| !n.is_empty()).unwrap_or(ns_of(binding));
                user.name == format!("system:serviceaccount:{ns}:{name}")
            }
            _ => false,
        }
    })
}

/// True when one rule allows the attributes.
fn rule_allows(rule: &Value, a: &Attributes) -> bool {
    if !has(&strings(&rule["verbs"]), &a.verb) {
        return false;
    }
    if !a.resource_request {
        return strings(&rule["nonResourceURLs"]).iter().any(|u| match u.strip_suffix('*') {
            Some(prefix) => a.path.starts_with(prefix),
            None => *u == a.path,
        });
    }
    if !has(&strings(&rule["apiGroups"]), &a.api_group) {
        return false;
    }
    let resources = strings(&rule["resources"]);
    let resource_ok = if a.subresource.is_empty() {
        has(&resources, &a.resource)
    } else {
        let combined = format!("{}/{}", a.resource, a.subresource);
        let any_sub = format!("*/{}", a.subresource);
        resources.iter().any(|r| r == "*" || *r == combined || *r == any_sub)
    };
    if !resource_ok {
        return false;
    }
    let names = strings(&rule["resourceNames"]);
    names.is_empty() || names.contains(&a.name)
}

fn subject_desc(binding: &Value, user: &UserInfo) -> String {
    let subjects = binding["subjects"].as_array().map(Vec::as_slice).unwrap_or_default();
    let s = subjects.iter().find(|s| {
        let n = s["name"].as_str().unwrap_or_default();
        match s["kind"].as_str().unwrap_or_default() {
            "User" => n == user.name,
            "Group" => user.groups.iter().any(|g| g == n),
            _ => true,
        }
    });
    match s {
        Some(s) => format!("{} {:?}", s["kind"].as_str().unwrap_or_default(), s["name"].as_str().unwrap_or_default()),
        None => String::new(),
    }
}

/// Kubernetes RBAC authorization.
pub fn authorize(attrs: &Attributes, rbac: &RbacObjects) -> Decision {
    for (binding, rules) in rbac.grants(&attrs.user, &attrs.namespace) {
        if rules.iter().any(|r| rule_allows(r, attrs)) {
            let kind = if ns_of(binding).is_empty() { "ClusterRoleBinding" } else { "RoleBinding" };
            let scope = if ns_of(binding).is_empty() { String::new() } else { format!(" of namespace {:?}", ns_of(binding)) };
            return Decision::Allow(format!(
                "RBAC: allowed by {kind} {:?}{scope} of {} {:?} to {}",
                name_of(binding),
                binding.pointer("/roleRef/kind").and_then(Value::as_str).unwrap_or_default(),
                binding.pointer("/roleRef/name").and_then(Value::as_str).unwrap_or_default(),
                subject_desc(binding, &attrs.user)
            ));
        }
    }
    Decision::NoOpinion
}

/// (resource rules, non-resource rules) a user holds in a namespace, for SelfSubjectRulesReview.
pub fn rules_for(user: &UserInfo, namespace: &str, rbac: &RbacObjects) -> (Vec<Value>, Vec<Value>) {
    let (mut res, mut non) = (Vec::new(), Vec::new());
    for (_, rules) in rbac.grants(user, namespace) {
        for r in rules {
            if r.get("nonResourceURLs").and_then(Value::as_array).is_some_and(|a| !a.is_empty()) {
                non.push(json!({"verbs": r["verbs"], "nonResourceURLs": r["nonResourceURLs"]}));
            }
            if r.get("resources").and_then(Value::as_array).is_some_and(|a| !a.is_empty()) {
                let mut out = json!({"verbs": r["verbs"], "apiGroups": r["apiGroups"], "resources": r["resources"]});
                if r.get("resourceNames").and_then(Value::as_array).is_some_and(|a| !a.is_empty()) {
                    out["resourceNames"] = r["resourceNames"].clone();
                }
                res.push(out);
            }
        }
    }
    (res, non)
}

/// Checks that `owner` rules cover every permission in `requested`; returns what is missing,
/// one rule per uncovered (group, resource, verb, name) combination.
pub fn covers(owner: &[Value], requested: &[Value]) -> Result<(), Vec<Value>> {
    let mut missing = Vec::new();
    for rule in requested {
        let verbs = strings(&rule["verbs"]);
        let urls = strings(&rule["nonResourceURLs"]);
        for verb in &verbs {
            for url in &urls {
                let a = Attributes { verb: verb.clone(), path: url.clone(), ..Default::default() };
                if !owner.iter().any(|o| rule_allows(o, &a) || (strings(&o["nonResourceURLs"]).contains(url) && has(&strings(&o["verbs"]), verb))) {
                    missing.push(json!({"nonResourceURLs": [url], "verbs": [verb]}));
                }
            }
            let groups = strings(&rule["apiGroups"]);
            let resources = strings(&rule["resources"]);
            let names = strings(&rule["resourceNames"]);
            let names: Vec<String> = if names.is_empty() { vec![String::new()] } else { names };
            for g in &groups {
                for r in &resources {
                    for n in &names {
                        let (res, sub) = r.split_once('/').unwrap_or((r.as_str(), ""));
                        let a = Attributes {
                            verb: verb.clone(),
                            resource_request: true,
                            api_group: g.clone(),
                            resource: res.to_string(),
                            subresource: sub.to_string(),
                            name: n.clone(),
                            ..Default::default()
                        };
                        // Wildcards in the request are only covered by wildcards in the owner's rules.
                        let covered = owner.iter().any(|o| {
                            let og = strings(&o["apiGroups"]);
                            let or = strings(&o["resources"]);
                            let ov = strings(&o["verbs"]);
                            let wild_ok = (g != "*" || og.contains(&"*".to_string()))
                                && (r != "*" || or.contains(&"*".to_string()))
                                && (verb != "*" || ov.contains(&"*".to_string()));
                            wild_ok && rule_allows(o, &a)
                        });
                        if !covered {
                            let mut m = json!({"apiGroups": [g], "resources": [r], "verbs": [verb]});
                            if !n.is_empty() {
                                m["resourceNames"] = json!([n]);
                            }
                            missing.push(m);
                        }
                    }
                }
            }
        }
    }
    if missing.is_empty() {
        Ok(())
    } else {
        Err(missing)
    }
}

fn go_list(v: &Value) -> String {
    let items: Vec<String> = strings(v).iter().map(|s| format!("{s:?}")).collect();
    format!("[{}]", items.join(" "))
}

/// kube's message for an attempted privilege escalation.
pub fn escalation_message(user: &UserInfo, missing: &[Value]) -> String {
    let groups: Vec<String> = user.groups.iter().map(|g| format!("{g:?}")).collect();
    let rules: Vec<String> = missing
        .iter()
        .map(|m| {
            if m.get("nonResourceURLs").is_some() {
                format!("{{NonResourceURLs:{}, Verbs:{}}}", go_list(&m["nonResourceURLs"]), go_list(&m["verbs"]))
            } else {
                let names = if m.get("resourceNames").is_some() { format!(", ResourceNames:{}", go_list(&m["resourceNames"])) } else { String::new() };
                format!("{{APIGroups:{}, Resources:{}{names}, Verbs:{}}}", go_list(&m["apiGroups"]), go_list(&m["resources"]), go_list(&m["verbs"]))
            }
        })
        .collect();
    format!(
        "user {:?} (groups=[{}]) is attempting to grant RBAC permissions not currently held:\n{}",
        user.name,
        groups.join(" "),
        rules.join("\n")
    )
}

/// Attributes of a (Self)SubjectAccessReview spec, for `user`.
pub fn attributes_from_review(spec: &Value, user: UserInfo) -> Result<Attributes, AuthError> {
    let s = |v: &Value| v.as_str().unwrap_or_default().to_string();
    if let Some(ra) = spec.get("resourceAttributes").filter(|v| v.is_object()) {
        return Ok(Attributes {
            user,
            verb: s(&ra["verb"]),
            resource_request: true,
            api_group: s(&ra["group"]),
            api_version: s(&ra["version"]),
            resource: s(&ra["resource"]),
            subresource: s(&ra["subresource"]),
            namespace: s(&ra["namespace"]),
            name: s(&ra["name"]),
            path: String::new(),
        });
    }
    if let Some(na) = spec.get("nonResourceAttributes").filter(|v| v.is_object()) {
        return Ok(Attributes { user, verb: s(&na["verb"]), path: s(&na["path"]), ..Default::default() });
    }
    Err(AuthError::Review("exactly one of nonResourceAttributes or resourceAttributes must be specified".into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(name: &str, groups: &[&str]) -> UserInfo {
        UserInfo { name: name.into(), groups: groups.iter().map(|g| g.to_string()).collect(), ..Default::default() }.authenticated()
    }

    fn attrs(u: &UserInfo, verb: &str, group: &str, resource: &str, ns: &str, name: &str) -> Attributes {
        Attributes { user: u.clone(), verb: verb.into(), resource_request: true, api_group: group.into(), resource: resource.into(), namespace: ns.into(), name: name.into(), ..Default::default() }
    }

    fn objects() -> RbacObjects {
        RbacObjects {
            roles: vec![json!({"metadata":{"name":"secret-reader","namespace":"a"},"rules":[{"apiGroups":[""],"resources":["secrets"],"verbs":["get","list"]}]})],
            cluster_roles: vec![
                json!({"metadata":{"name":"view"},"rules":[{"apiGroups":[""],"resources":["configmaps"],"verbs":["get"]}]}),
                json!({"metadata":{"name":"agg"},"aggregationRule":{"clusterRoleSelectors":[{"matchLabels":{"agg":"yes"}}]},"rules":[]}),
                json!({"metadata":{"name":"part","labels":{"agg":"yes"}},"rules":[{"apiGroups":["coordination.k8s.io"],"resources":["leases"],"verbs":["*"]}]}),
                json!({"metadata":{"name":"one"},"rules":[{"apiGroups":[""],"resources":["configmaps"],"resourceNames":["only"],"verbs":["update"]},{"apiGroups":[""],"resources":["namespaces/status"],"verbs":["get"]},{"nonResourceURLs":["/healthz","/api/*"],"verbs":["get"]}]}),
            ],
            role_bindings: vec![
                json!({"metadata":{"name":"rb","namespace":"a"},"roleRef":{"kind":"Role","name":"secret-reader"},"subjects":[{"kind":"User","name":"alice"}]}),
                json!({"metadata":{"name":"rb2","namespace":"a"},"roleRef":{"kind":"ClusterRole","name":"view"},"subjects":[{"kind":"ServiceAccount","name":"robot"}]}),
            ],
            cluster_role_bindings: vec![
                json!({"metadata":{"name":"crb"},"roleRef":{"kind":"ClusterRole","name":"agg"},"subjects":[{"kind":"Group","name":"ops"}]}),
                json!({"metadata":{"name":"crb2"},"roleRef":{"kind":"ClusterRole","name":"one"},"subjects":[{"kind":"User","name":"carol"}]}),
            ],
        }
    }

    #[test]
    fn authorization_table() {
        let rbac = objects();
        let alice = user("alice", &[]);
        let ops = user("bob", &["ops"]);
        let robot = user("system:serviceaccount:a:robot", &[]);
        let carol = user("carol", &[]);
        let cases = [
            (attrs(&alice, "get", "", "secrets", "a", "s"), true),
            (attrs(&alice, "get", "", "secrets", "b", "s"), false),
            (attrs(&alice, "delete", "", "secrets", "a", "s"), false),
            (attrs(&alice, "get", "", "secrets", "", ""), false),
            (attrs(&ops, "create", "coordination.k8s.io", "leases", "x", ""), true),
            (attrs(&ops, "create", "", "configmaps", "x", ""), false),
            (attrs(&robot, "get", "", "configmaps", "a", "c"), true),
            (attrs(&robot, "get", "", "configmaps", "b", "c"), false),
            (attrs(&carol, "update", "", "configmaps", "x", "only"), true),
            (attrs(&carol, "update", "", "configmaps", "x", "other"), false),
        ];
        for (a, want) in cases {
            assert_eq!(matches!(authorize(&a, &rbac), Decision::Allow(_)), want, "{a:?}");
        }
        let mut sub = attrs(&carol, "get", "", "namespaces", "", "n");
        sub.subresource = "status".into();
        assert!(matches!(authorize(&sub, &rbac), Decision::Allow(_)));
        let non = |p: &str| Attributes { user: carol.clone(), verb: "get".into(), path: p.into(), ..Default::default() };
        assert!(matches!(authorize(&non("/healthz"), &rbac), Decision::Allow(_)));
        assert!(matches!(authorize(&non("/api/v1"), &rbac), Decision::Allow(_)));
        assert_eq!(authorize(&non("/metrics"), &rbac), Decision::NoOpinion);
    }

    #[test]
    fn escalation_is_detected() {
        let owner = vec![json!({"apiGroups":[""],"resources":["secrets"],"verbs":["get","list"]})];
        assert!(covers(&owner, &[json!({"apiGroups":[""],"resources":["secrets"],"verbs":["get"]})]).is_ok());
        let missing = covers(&owner, &[json!({"apiGroups":[""],"resources":["secrets","configmaps"],"verbs":["get"]})]).expect_err("escalates");
        assert_eq!(missing.len(), 1);
        let msg = escalation_message(&user("alice", &["g"]), &missing);
        assert_eq!(msg, "user \"alice\" (groups=[\"g\" \"system:authenticated\"]) is attempting to grant RBAC permissions not currently held:\n{APIGroups:[\"\"], Resources:[\"configmaps\"], Verbs:[\"get\"]}");
        assert!(covers(&owner, &[json!({"apiGroups":["*"],"resources":["secrets"],"verbs":["get"]})]).is_err());
    }

    #[test]
    fn rules_review_lists_grants() {
        let (res, non) = rules_for(&user("carol", &[]), "x", &objects());
        assert_eq!(res.len(), 2);
        assert_eq!(non.len(), 1);
    }
}
