//! One RBAC `PolicyRule`, read once from JSON into plain string lists, and kube's matching of a
//! request against it (`RuleAllows`).
//!
//! Authorization, rule listing and escalation checks all work on this form so that each RBAC
//! object is parsed once per compile rather than once per comparison.

use serde_json::{json, Map, Value};

use super::rbac::Attributes;

/// Wildcard that matches every verb, group, resource or URL.
pub const ALL: &str = "*";

/// A parsed `rbac.authorization.k8s.io/v1` PolicyRule.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct Rule {
    /// `verbs`.
    pub verbs: Vec<String>,
    /// `apiGroups`.
    pub api_groups: Vec<String>,
    /// `resources`, possibly `resource/subresource` or `*/subresource`.
    pub resources: Vec<String>,
    /// `resourceNames`; empty means every name.
    pub resource_names: Vec<String>,
    /// `nonResourceURLs`, possibly ending in `*` for a prefix match.
    pub non_resource_urls: Vec<String>,
}

/// The strings of a JSON array field; absent or non-string entries contribute nothing, since
/// stored RBAC objects were validated on write and a stray value must not widen a grant.
fn strings(obj: &Value, field: &str) -> Vec<String> {
    obj.get(field).and_then(Value::as_array).map(|items| items.iter().filter_map(Value::as_str).map(str::to_string).collect()).unwrap_or_default()
}

fn has(set: &[String], item: &str) -> bool {
    set.iter().any(|s| s == item)
}

impl Rule {
    /// Reads a PolicyRule object.
    pub fn from_value(rule: &Value) -> Self {
        Rule {
            verbs: strings(rule, "verbs"),
            api_groups: strings(rule, "apiGroups"),
            resources: strings(rule, "resources"),
            resource_names: strings(rule, "resourceNames"),
            non_resource_urls: strings(rule, "nonResourceURLs"),
        }
    }

    /// Reads the `rules` array of a Role or ClusterRole.
    pub fn list_from(role: &Value) -> Vec<Self> {
        role.get("rules").and_then(Value::as_array).map(|rs| rs.iter().map(Rule::from_value).collect()).unwrap_or_default()
    }

    /// The PolicyRule JSON, with empty lists omitted as Go's `omitempty` does (`verbs` is
    /// always present: it is required).
    pub fn to_value(&self) -> Value {
        let mut out = Map::new();
        out.insert("verbs".into(), json!(self.verbs));
        for (key, list) in [
            ("apiGroups", &self.api_groups),
            ("resources", &self.resources),
            ("resourceNames", &self.resource_names),
            ("nonResourceURLs", &self.non_resource_urls),
        ] {
            if !list.is_empty() {
                out.insert(key.into(), json!(list));
            }
        }
        Value::Object(out)
    }

    /// kube's `RuleAllows`: does this rule grant the request?
    pub fn allows(&self, attrs: &Attributes) -> bool {
        if !self.verb_matches(&attrs.verb) {
            return false;
        }
        if !attrs.resource_request {
            return self.non_resource_urls.iter().any(|url| non_resource_url_covers(url, &attrs.path));
        }
        let group_ok = self.api_groups.iter().any(|g| g == ALL || *g == attrs.api_group);
        group_ok && self.resource_matches(&attrs.resource, &attrs.subresource) && self.name_matches(&attrs.name)
    }

    fn verb_matches(&self, verb: &str) -> bool {
        self.verbs.iter().any(|v| v == ALL || v == verb)
    }

    fn resource_matches(&self, resource: &str, subresource: &str) -> bool {
        self.resources.iter().any(|r| {
            if r == ALL {
                return true;
            }
            if subresource.is_empty() {
                return r == resource;
            }
            // `resource/subresource` exactly, or `*/subresource`.
            match r.split_once('/') {
                Some((res, sub)) => sub == subresource && (res == resource || res == ALL),
                None => false,
            }
        })
    }

    fn name_matches(&self, name: &str) -> bool {
        self.resource_names.is_empty() || has(&self.resource_names, name)
    }
}

/// Whether a rule's non-resource URL grants `path`: exact, or prefix when it ends in `*`
/// (every trailing `*` is dropped, as kube's `TrimRight` does; `*` alone matches all).
pub fn non_resource_url_covers(rule_url: &str, path: &str) -> bool {
    match rule_url.strip_suffix('*') {
        Some(_) => path.starts_with(rule_url.trim_end_matches('*')),
        None => rule_url == path,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_policy_rule_json() {
        let v = json!({"verbs": ["get"], "apiGroups": [""], "resources": ["pods"], "resourceNames": ["a"]});
        assert_eq!(Rule::from_value(&v).to_value(), v);
        let nr = json!({"verbs": ["get"], "nonResourceURLs": ["/healthz"]});
        assert_eq!(Rule::from_value(&nr).to_value(), nr);
        assert_eq!(Rule::from_value(&json!({})).to_value(), json!({"verbs": []}));
    }

    #[test]
    fn non_resource_url_cases() {
        let cases = [
            ("*", "/anything", true),
            ("/healthz", "/healthz", true),
            ("/healthz", "/healthz/ping", false),
            ("/healthz/*", "/healthz/ping", true),
            ("/healthz/*", "/healthz", false),
            ("/api*", "/apis/foo", true),
            ("/api**", "/apis", true),
        ];
        for (rule, path, want) in cases {
            assert_eq!(non_resource_url_covers(rule, path), want, "{rule} vs {path}");
        }
    }
}
