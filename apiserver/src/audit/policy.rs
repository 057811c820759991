//! The audit policy: Kubernetes' `audit.k8s.io/v1` Policy, read from YAML, and the one question
//! it answers, at which [`Level`] a request is recorded. Rules are tried in order and the first
//! that matches decides; no match records nothing. Whatever the rules say, objects that carry
//! credentials never go beyond `Metadata` (see [`Policy::level`]).

use serde::Deserialize;

use apimachinery::auth::UserInfo;
use apimachinery::request::RequestInfo;

/// How much of a request an event records, least first (so levels compare with `<`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Deserialize, serde::Serialize)]
pub enum Level {
    /// No event.
    None,
    /// Who did what to which object, and the answer's code.
    Metadata,
    /// Metadata and the request body.
    Request,
    /// Metadata, the request body and the response body.
    RequestResponse,
}

/// A stage of a request, as events and `omitStages` name them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
pub enum Stage {
    /// As soon as the request arrives (never emitted here).
    RequestReceived,
    /// Headers sent, body still streaming: the one event of a watch.
    ResponseStarted,
    /// The answer is complete: the one event of every other request.
    ResponseComplete,
    /// A handler panicked (never emitted here).
    Panic,
}

/// Resources of one API group a rule matches.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GroupResources {
    /// The API group (`""` is the core group).
    #[serde(default)]
    pub group: String,
    /// Resources (`configmaps`, `pods/log`, `*/status`, `*`); empty matches all of the group.
    #[serde(default)]
    pub resources: Vec<String>,
    /// Object names; empty matches any.
    #[serde(default)]
    pub resource_names: Vec<String>,
}

/// One rule of a policy.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Rule {
    /// The level of the requests this rule matches.
    pub level: Level,
    /// User names; empty matches anyone.
    #[serde(default)]
    pub users: Vec<String>,
    /// Groups, any of which the user must be in; empty matches anyone.
    #[serde(default)]
    pub user_groups: Vec<String>,
    /// Verbs; empty matches all.
    #[serde(default)]
    pub verbs: Vec<String>,
    /// Resources; a rule with resources matches resource requests only.
    #[serde(default)]
    pub resources: Vec<GroupResources>,
    /// Namespaces (`""` for cluster-scoped objects); a rule with namespaces matches resource
    /// requests only.
    #[serde(default)]
    pub namespaces: Vec<String>,
    /// Non-resource paths (`/healthz`, `/openapi*`, `*`); a rule with them matches non-resource
    /// requests only.
    #[serde(default, rename = "nonResourceURLs")]
    pub non_resource_urls: Vec<String>,
    /// Stages not recorded for the requests this rule matches.
    #[serde(default)]
    pub omit_stages: Vec<Stage>,
}

/// An audit policy file.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Policy {
    /// `audit.k8s.io/v1`.
    #[serde(default)]
    pub api_version: String,
    /// `Policy`.
    #[serde(default)]
    pub kind: String,
    /// Kubernetes object metadata; ignored.
    #[serde(default)]
    pub metadata: Option<serde_json::Value>,
    /// Rules, first match wins.
    #[serde(default)]
    pub rules: Vec<Rule>,
    /// Stages recorded for no request.
    #[serde(default)]
    pub omit_stages: Vec<Stage>,
    /// Accepted for compatibility; objects are recorded as sent.
    #[serde(default)]
    pub omit_managed_fields: bool,
}

/// Why a policy file cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    /// Not YAML of a Policy.
    #[error("parsing audit policy: {0}")]
    Parse(String),
    /// Another kind or API version.
    #[error("audit policy: expected apiVersion audit.k8s.io/v1 and kind Policy, got {api_version:?} {kind:?}")]
    NotAPolicy {
        /// What the file says.
        api_version: String,
        /// What the file says.
        kind: String,
    },
}

/// What a request is, as the policy sees it.
pub struct Subject<'a> {
    /// Who made it; `None` before authentication (or when it failed).
    pub user: Option<&'a UserInfo>,
    /// What it addresses.
    pub info: &'a RequestInfo,
}

impl Policy {
    /// Parses a policy file's text.
    pub fn parse(text: &str) -> Result<Policy, PolicyError> {
        let policy: Policy = serde_saphyr::from_str(text).map_err(|e| PolicyError::Parse(e.to_string()))?;
        if policy.api_version != "audit.k8s.io/v1" || policy.kind != "Policy" {
            return Err(PolicyError::NotAPolicy { api_version: policy.api_version, kind: policy.kind });
        }
        Ok(policy)
    }

    /// The level `subject` is recorded at, and whether `stage` is recorded at all.
    pub fn level(&self, subject: &Subject<'_>, stage: Stage) -> Level {
        let Some(rule) = self.rules.iter().find(|r| r.matches(subject)) else { return Level::None };
        if self.omit_stages.contains(&stage) || rule.omit_stages.contains(&stage) {
            return Level::None;
        }
        rule.level.min(ceiling(subject.info))
    }
}

/// The most a request may record. Secrets, token reviews and issued service-account tokens
/// carry credentials in their bodies; non-resource requests have no objects to record.
fn ceiling(info: &RequestInfo) -> Level {
    let credentials = matches!(
        (info.api_group.as_str(), info.resource.as_str(), info.subresource.as_str()),
        ("", "secrets", _) | ("authentication.k8s.io", "tokenreviews", _) | ("", "serviceaccounts", "token")
    );
    if credentials || !info.is_resource_request {
        Level::Metadata
    } else {
        Level::RequestResponse
    }
}

impl Rule {
    fn matches(&self, s: &Subject<'_>) -> bool {
        let name = s.user.map(|u| u.name.as_str()).unwrap_or_default();
        let groups = s.user.map(|u| u.groups.as_slice()).unwrap_or_default();
        if !self.users.is_empty() && !self.users.iter().any(|u| u == name) {
            return false;
        }
        if !self.user_groups.is_empty() && !groups.iter().any(|g| self.user_groups.contains(g)) {
            return false;
        }
        if !self.verbs.is_empty() && !self.verbs.iter().any(|v| v == s.info.verb.as_str()) {
            return false;
        }
        if s.info.is_resource_request {
            self.matches_resource(s.info)
        } else {
            self.matches_non_resource(&s.info.path)
        }
    }

    fn matches_resource(&self, info: &RequestInfo) -> bool {
        if !self.non_resource_urls.is_empty() {
            return false;
        }
        if !self.namespaces.is_empty() && !self.namespaces.contains(&info.namespace) {
            return false;
        }
        if self.resources.is_empty() {
            return true;
        }
        let full = if info.subresource.is_empty() { info.resource.clone() } else { format!("{}/{}", info.resource, info.subresource) };
        self.resources.iter().filter(|gr| gr.group == info.api_group).any(|gr| {
            if gr.resources.is_empty() {
                return true;
            }
            let named = gr.resource_names.is_empty() || gr.resource_names.contains(&info.name);
            named
                && gr.resources.iter().any(|r| {
                    r == &full
                        || r == "*"
                        || (!info.subresource.is_empty() && (r == &format!("*/{}", info.subresource) || r == &format!("{}/*", info.resource)))
                })
        })
    }

    fn matches_non_resource(&self, path: &str) -> bool {
        if !self.resources.is_empty() || !self.namespaces.is_empty() {
            return false;
        }
        self.non_resource_urls.is_empty()
            || self.non_resource_urls.iter().any(|spec| spec == "*" || spec == path || spec.strip_suffix('*').is_some_and(|p| path.starts_with(p)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const POLICY: &str = r#"
apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: [RequestReceived]
rules:
- level: None
  nonResourceURLs: ["/healthz", "/readyz", "/livez*"]
- level: None
  users: ["system:kcp:controller"]
- level: Metadata
  resources:
  - group: ""
    resources: ["configmaps"]
    resourceNames: ["quiet"]
- level: RequestResponse
  userGroups: ["auditors"]
- level: Request
  verbs: ["create", "update", "patch"]
  resources:
  - group: ""
    resources: ["configmaps", "secrets", "serviceaccounts/token"]
  - group: "tenancy.kcp.io"
- level: Metadata
  namespaces: ["kube-system"]
- level: Metadata
  omitStages: [ResponseStarted]
"#;

    fn info(method: &str, path: &str) -> RequestInfo {
        let (path, query) = path.split_once('?').map(|(p, q)| (p, Some(q))).unwrap_or((path, None));
        RequestInfo::parse(&method.parse().expect("method"), path, query).expect("parses")
    }

    fn level(user: &str, groups: &[&str], method: &str, path: &str) -> Level {
        let policy = Policy::parse(POLICY).expect("policy");
        let user = UserInfo { name: user.into(), groups: groups.iter().map(|g| g.to_string()).collect(), ..Default::default() };
        let info = info(method, path);
        let stage = if info.verb == apimachinery::request::Verb::Watch { Stage::ResponseStarted } else { Stage::ResponseComplete };
        policy.level(&Subject { user: Some(&user), info: &info }, stage)
    }

    #[test]
    fn the_first_matching_rule_decides() {
        assert_eq!(level("alice", &[], "GET", "/healthz"), Level::None);
        assert_eq!(level("alice", &[], "GET", "/livez/ping"), Level::None);
        assert_eq!(level("alice", &[], "GET", "/version"), Level::Metadata);
        assert_eq!(level("system:kcp:controller", &[], "POST", "/clusters/root/api/v1/namespaces/d/configmaps"), Level::None);
        assert_eq!(level("alice", &[], "PUT", "/clusters/root/api/v1/namespaces/d/configmaps/quiet"), Level::Metadata);
        assert_eq!(level("alice", &[], "PUT", "/clusters/root/api/v1/namespaces/d/configmaps/loud"), Level::Request);
        assert_eq!(level("alice", &[], "GET", "/clusters/root/api/v1/namespaces/d/configmaps/loud"), Level::Metadata);
        assert_eq!(level("alice", &[], "POST", "/clusters/root/apis/tenancy.kcp.io/v1alpha1/workspaces"), Level::Request);
        assert_eq!(level("alice", &[], "POST", "/clusters/root/apis/apps/v1/namespaces/d/deployments"), Level::Metadata);
        assert_eq!(level("bob", &["auditors"], "GET", "/clusters/root/api/v1/namespaces/d/configmaps"), Level::RequestResponse);
    }

    #[test]
    fn stages_can_be_omitted_per_rule() {
        assert_eq!(level("alice", &[], "GET", "/clusters/root/api/v1/namespaces/d/configmaps?watch=true"), Level::None);
        assert_eq!(level("alice", &[], "GET", "/clusters/root/api/v1/namespaces/d/configmaps"), Level::Metadata);
    }

    #[test]
    fn credentials_never_go_beyond_metadata() {
        assert_eq!(level("alice", &[], "POST", "/clusters/root/api/v1/namespaces/d/secrets"), Level::Metadata);
        assert_eq!(level("bob", &["auditors"], "GET", "/clusters/root/api/v1/namespaces/d/secrets/s"), Level::Metadata);
        assert_eq!(level("bob", &["auditors"], "POST", "/clusters/root/apis/authentication.k8s.io/v1/tokenreviews"), Level::Metadata);
        assert_eq!(level("alice", &[], "POST", "/clusters/root/api/v1/namespaces/d/serviceaccounts/default/token"), Level::Metadata);
        assert_eq!(level("bob", &["auditors"], "GET", "/version"), Level::Metadata);
    }

    #[test]
    fn namespaces_and_subresource_wildcards() {
        let policy = Policy::parse(
            "apiVersion: audit.k8s.io/v1\nkind: Policy\nrules:\n- level: Request\n  namespaces: [\"\"]\n- level: RequestResponse\n  resources:\n  - group: \"\"\n    resources: [\"*/status\"]\n",
        )
        .expect("policy");
        let user = UserInfo::default();
        let at = |m: &str, p: &str| policy.level(&Subject { user: Some(&user), info: &info(m, p) }, Stage::ResponseComplete);
        assert_eq!(at("PUT", "/clusters/root/api/v1/namespaces/d"), Level::Request, "a namespace is cluster-scoped");
        assert_eq!(at("PUT", "/clusters/root/api/v1/namespaces/d/configmaps/x/status"), Level::RequestResponse);
        assert_eq!(at("PUT", "/clusters/root/api/v1/namespaces/d/configmaps/x"), Level::None);
        assert_eq!(at("GET", "/version"), Level::None, "resource rules never match non-resource requests");
    }

    #[test]
    fn only_audit_policies_are_accepted() {
        assert!(matches!(Policy::parse("apiVersion: v1\nkind: ConfigMap\n"), Err(PolicyError::NotAPolicy { .. })));
        assert!(matches!(Policy::parse("apiVersion: audit.k8s.io/v1\nkind: Policy\nrules:\n- level: Loud\n"), Err(PolicyError::Parse(_))));
        let unauthenticated = info("GET", "/version");
        assert_eq!(Policy::parse(POLICY).expect("policy").level(&Subject { user: None, info: &unauthenticated }, Stage::ResponseComplete), Level::Metadata);
    }
}
