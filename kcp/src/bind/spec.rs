//! The pure half of `kubectl kcp bind apiexport`: parsing the export reference and the claim
//! flags with kcp's rules and words, and building the APIBinding at the version the server
//! prefers. No I/O, so every rule is a plain assert in the tests below.

use serde_json::{json, Value};

use super::BindError;

/// The API group of APIExports and APIBindings.
pub const GROUP: &str = "apis.kcp.io";

/// The `<workspace path>:<export name>` argument, split as kcp splits it: the last segment
/// is the export's name, everything before it the path of the export's workspace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportRef {
    /// Path of the workspace holding the export, e.g. `root:providers`.
    pub path: String,
    /// Name of the APIExport.
    pub name: String,
}

impl ExportRef {
    /// Parses the argument. kcp requires the path (a bare export name is refused, not taken to
    /// mean the current workspace); unlike kcp, an empty name is refused here too rather than
    /// left for the server to reject.
    pub fn parse(arg: &str) -> Result<ExportRef, BindError> {
        let unqualified = || {
            BindError::Usage(
                "fully qualified reference to workspace where APIExport exists is required. The format is `<logical-cluster-name>:<apiexport>` or `<full>:<path>:<to>:<apiexport>`"
                    .into(),
            )
        };
        let (path, name) = arg.rsplit_once(':').ok_or_else(unqualified)?;
        if !apimachinery::request::valid_cluster_name(path) || name.is_empty() {
            return Err(unqualified());
        }
        Ok(ExportRef { path: path.to_string(), name: name.to_string() })
    }
}

/// Whether the consumer accepts or rejects a claim.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClaimState {
    /// `Accepted`.
    Accepted,
    /// `Rejected`.
    Rejected,
}

impl ClaimState {
    fn as_str(self) -> &'static str {
        match self {
            ClaimState::Accepted => "Accepted",
            ClaimState::Rejected => "Rejected",
        }
    }
}

/// A claim argument that is not `resource.group`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid permission claim {0:?}")]
pub struct InvalidClaim(pub String);

/// A claim the user named with `--accept-permission-claim` / `--reject-permission-claim`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestedClaim {
    /// API group; `""` for the core group (written `core` on the command line).
    pub group: String,
    /// Resource, plural.
    pub resource: String,
    /// Accepted or rejected.
    pub state: ClaimState,
}

impl RequestedClaim {
    /// Parses `resource.group` (`configmaps.core`, `widgets.example.io`): everything before the
    /// first dot is the resource, as in kcp.
    fn parse(arg: &str, state: ClaimState) -> Result<RequestedClaim, InvalidClaim> {
        let (resource, group) = arg.split_once('.').ok_or_else(|| InvalidClaim(arg.to_string()))?;
        let group = if group == "core" { "" } else { group };
        Ok(RequestedClaim { group: group.to_string(), resource: resource.to_string(), state })
    }

    /// `resource.group` with `core` for the core group, as the user writes it.
    fn display(&self) -> String {
        format!("{}.{}", self.resource, if self.group.is_empty() { "core" } else { &self.group })
    }
}

/// Which claims the binding answers: some by name, or all the export makes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claims {
    /// The ones named on the command line, accepted ones first.
    Named(Vec<RequestedClaim>),
    /// Every claim of the export, in this state.
    All(ClaimState),
}

/// The claim flags as given.
#[derive(Debug, Clone, Default)]
pub struct ClaimFlags {
    /// `--accept-permission-claim` values.
    pub accept: Vec<String>,
    /// `--reject-permission-claim` values.
    pub reject: Vec<String>,
    /// `--accept-all-permission-claims`.
    pub accept_all: bool,
    /// `--reject-all-permission-claims`.
    pub reject_all: bool,
}

impl ClaimFlags {
    /// Checks that the flags go together (kcp checks this before the export reference, and
    /// the claims themselves after it).
    pub fn check(&self) -> Result<(), BindError> {
        let refuse = |m: &str| Err(BindError::Usage(m.to_string()));
        match (self.accept_all, self.reject_all, self.accept.is_empty(), self.reject.is_empty()) {
            (true, true, _, _) => refuse("cannot use both --accept-all-permission-claims and --reject-all-permission-claims"),
            (true, _, false, _) => refuse("cannot use --accept-all-permission-claims with --accept-permission-claim"),
            (true, _, _, false) => refuse("cannot use --accept-all-permission-claims together with --reject-permission-claim"),
            (_, true, _, false) => refuse("cannot use --reject-all-permission-claims with --reject-permission-claim"),
            (_, true, false, _) => refuse("cannot use --reject-all-permission-claims together with --accept-permission-claim"),
            _ => Ok(()),
        }
    }

    /// Checks the combination and parses the claims, in kcp's order and words.
    pub fn parse(&self) -> Result<Claims, BindError> {
        self.check()?;
        if self.accept_all || self.reject_all {
            return Ok(Claims::All(if self.accept_all { ClaimState::Accepted } else { ClaimState::Rejected }));
        }
        let parse_all = |args: &[String], state: ClaimState, which: &str| -> Result<Vec<RequestedClaim>, BindError> {
            let (ok, bad): (Vec<_>, Vec<_>) = args.iter().map(|a| RequestedClaim::parse(a, state)).partition(Result::is_ok);
            if !bad.is_empty() {
                let messages: Vec<String> = bad.into_iter().filter_map(Result::err).map(|e| e.to_string()).collect();
                return Err(BindError::Usage(format!("invalid {which} permission claims: [{}]", messages.join(" "))));
            }
            Ok(ok.into_iter().filter_map(Result::ok).collect())
        };
        let accepted = parse_all(&self.accept, ClaimState::Accepted, "accepted")?;
        let rejected = parse_all(&self.reject, ClaimState::Rejected, "rejected")?;
        for a in &accepted {
            if let Some(r) = rejected.iter().find(|r| r.group == a.group && r.resource == a.resource) {
                return Err(BindError::Usage(format!("accepted permission claim {} conflicts with rejected permission claim {}", a.display(), r.display())));
            }
        }
        Ok(Claims::Named(accepted.into_iter().chain(rejected).collect()))
    }
}

/// The served version of `apis.kcp.io` the plugin writes bindings in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Version {
    /// `v1alpha1`: claims are `all: true`, without verbs.
    V1alpha1,
    /// `v1alpha2`: claims carry verbs and a selector.
    V1alpha2,
}

impl Version {
    /// v1alpha2 when the group's discovery document lists it, else v1alpha1; `None` when
    /// neither is served.
    pub fn from_discovery(group: &Value) -> Option<Version> {
        let served: Vec<&str> = group["versions"].as_array().map(|vs| vs.iter().filter_map(|v| v["version"].as_str()).collect()).unwrap_or_default();
        if served.contains(&"v1alpha2") {
            Some(Version::V1alpha2)
        } else if served.contains(&"v1alpha1") {
            Some(Version::V1alpha1)
        } else {
            None
        }
    }

    /// `v1alpha1` or `v1alpha2`.
    pub fn as_str(self) -> &'static str {
        match self {
            Version::V1alpha1 => "v1alpha1",
            Version::V1alpha2 => "v1alpha2",
        }
    }
}

/// One claim of the binding's `spec.permissionClaims`, before it is written in a version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BindingClaim {
    /// API group.
    pub group: String,
    /// Resource.
    pub resource: String,
    /// The identity of the claimed resource's export; empty for built-in resources.
    pub identity_hash: String,
    /// Verbs claimed (v1alpha2 only).
    pub verbs: Vec<String>,
    /// Accepted or rejected.
    pub state: ClaimState,
}

impl BindingClaim {
    fn to_json(&self, version: Version) -> Value {
        let mut claim = json!({"group": self.group, "resource": self.resource});
        if !self.identity_hash.is_empty() {
            claim["identityHash"] = json!(self.identity_hash);
        }
        match version {
            Version::V1alpha1 => claim["all"] = json!(true),
            Version::V1alpha2 => {
                claim["verbs"] = json!(self.verbs);
                claim["selector"] = json!({"matchAll": true});
            }
        }
        claim["state"] = json!(self.state.as_str());
        claim
    }
}

/// The export's claims that match `group`/`resource`.
fn exported<'a>(export_claims: &'a [Value], group: &'a str, resource: &'a str) -> impl Iterator<Item = &'a Value> {
    export_claims.iter().filter(move |c| c["group"].as_str().unwrap_or_default() == group && c["resource"] == resource)
}

/// A binding claim for the export's claim `c`, taking its identity and verbs so that the
/// binding answers exactly what the export asks (a `*` would answer too, but the identity
/// must match for claims on resources other exports serve).
fn from_export(c: &Value, state: ClaimState) -> BindingClaim {
    let verbs: Vec<String> = c["verbs"].as_array().map(|v| v.iter().filter_map(|s| s.as_str().map(String::from)).collect()).unwrap_or_default();
    BindingClaim {
        group: c["group"].as_str().unwrap_or_default().to_string(),
        resource: c["resource"].as_str().unwrap_or_default().to_string(),
        identity_hash: c["identityHash"].as_str().unwrap_or_default().to_string(),
        verbs: if verbs.is_empty() { vec!["*".into()] } else { verbs },
        state,
    }
}

/// The binding's claims. `export_claims` is the export's `spec.permissionClaims` when the user
/// may read it; without it, a named claim gets what kcp's plugin gives every claim: all verbs
/// and no identity.
pub fn binding_claims(claims: &Claims, export_claims: Option<&[Value]>) -> Vec<BindingClaim> {
    let known = export_claims.unwrap_or_default();
    match claims {
        Claims::All(state) => known.iter().map(|c| from_export(c, *state)).collect(),
        Claims::Named(named) => named
            .iter()
            .flat_map(|r| {
                let matching: Vec<BindingClaim> = exported(known, &r.group, &r.resource).map(|c| from_export(c, r.state)).collect();
                if matching.is_empty() {
                    vec![BindingClaim {
                        group: r.group.clone(),
                        resource: r.resource.clone(),
                        identity_hash: String::new(),
                        verbs: vec!["*".into()],
                        state: r.state,
                    }]
                } else {
                    matching
                }
            })
            .collect(),
    }
}

/// The APIBinding `name` for `export`, at `version`.
pub fn binding_object(version: Version, name: &str, export: &ExportRef, claims: &[BindingClaim]) -> Value {
    let mut binding = json!({
        "apiVersion": format!("{GROUP}/{}", version.as_str()),
        "kind": "APIBinding",
        "metadata": {"name": name},
        "spec": {"reference": {"export": {"path": export.path, "name": export.name}}},
    });
    if !claims.is_empty() {
        binding["spec"]["permissionClaims"] = claims.iter().map(|c| c.to_json(version)).collect();
    }
    binding
}

/// Whether the binding is bound: phase `Bound`, or `InitialBindingCompleted` (which `Ready`
/// mirrors) true.
pub fn is_bound(binding: &Value) -> bool {
    binding.pointer("/status/phase").and_then(Value::as_str) == Some("Bound")
        || binding
            .pointer("/status/conditions")
            .and_then(Value::as_array)
            .is_some_and(|cs| cs.iter().any(|c| matches!(c["type"].as_str(), Some("InitialBindingCompleted" | "Ready")) && c["status"] == "True"))
}

/// The binding's phase and conditions that are not true, for a message on why it is not bound.
pub fn describe_progress(binding: &Value) -> String {
    let phase = match binding.pointer("/status/phase").and_then(Value::as_str).filter(|p| !p.is_empty()) {
        Some(p) => format!("phase {p:?}"),
        None => "no phase yet".to_string(),
    };
    let pending: Vec<String> = binding
        .pointer("/status/conditions")
        .and_then(Value::as_array)
        .map(|cs| {
            cs.iter()
                .filter(|c| c["status"] != "True")
                .map(|c| {
                    let mut line = format!("{}={}", c["type"].as_str().unwrap_or("?"), c["status"].as_str().unwrap_or("Unknown"));
                    let why: Vec<&str> = [c["reason"].as_str(), c["message"].as_str()].into_iter().flatten().filter(|s| !s.is_empty()).collect();
                    if !why.is_empty() {
                        line.push_str(&format!(" ({})", why.join(": ")));
                    }
                    line
                })
                .collect()
        })
        .unwrap_or_default();
    if pending.is_empty() {
        format!("{phase}, no conditions reported")
    } else {
        format!("{phase}, {}", pending.join(", "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn usage(r: Result<impl std::fmt::Debug, BindError>) -> String {
        match r {
            Err(BindError::Usage(m)) => m,
            other => panic!("expected a usage error, got {other:?}"),
        }
    }

    #[test]
    fn export_references_split_at_the_last_colon() {
        assert_eq!(ExportRef::parse("root:providers:cowboys").expect("valid"), ExportRef { path: "root:providers".into(), name: "cowboys".into() });
        assert_eq!(ExportRef::parse("2ab4c:cowboys").expect("valid").path, "2ab4c");
        for bad in ["", "cowboys", ":cowboys", ":root:cowboys", "root::cowboys", "Root:cowboys", "root:", "root:-a:b"] {
            assert!(usage(ExportRef::parse(bad)).starts_with("fully qualified reference to workspace where APIExport exists is required."), "{bad}");
        }
    }

    fn flags(accept: &[&str], reject: &[&str], accept_all: bool, reject_all: bool) -> ClaimFlags {
        let owned = |v: &[&str]| v.iter().map(|s| s.to_string()).collect();
        ClaimFlags { accept: owned(accept), reject: owned(reject), accept_all, reject_all }
    }

    #[test]
    fn claim_flags_follow_kcps_rules() {
        let named = flags(&["configmaps.core", "widgets.example.io"], &["secrets.core"], false, false).parse().expect("valid");
        let claim = |group: &str, resource: &str, state| RequestedClaim { group: group.into(), resource: resource.into(), state };
        assert_eq!(
            named,
            Claims::Named(vec![
                claim("", "configmaps", ClaimState::Accepted),
                claim("example.io", "widgets", ClaimState::Accepted),
                claim("", "secrets", ClaimState::Rejected)
            ])
        );
        assert_eq!(flags(&[], &[], true, false).parse().expect("valid"), Claims::All(ClaimState::Accepted));
        assert_eq!(flags(&[], &[], false, true).parse().expect("valid"), Claims::All(ClaimState::Rejected));
        assert_eq!(flags(&[], &[], false, false).parse().expect("valid"), Claims::Named(vec![]));

        let cases = [
            (flags(&[], &[], true, true), "cannot use both --accept-all-permission-claims and --reject-all-permission-claims"),
            (flags(&["a.b"], &[], true, false), "cannot use --accept-all-permission-claims with --accept-permission-claim"),
            (flags(&[], &["a.b"], true, false), "cannot use --accept-all-permission-claims together with --reject-permission-claim"),
            (flags(&[], &["a.b"], false, true), "cannot use --reject-all-permission-claims with --reject-permission-claim"),
            (flags(&["a.b"], &[], false, true), "cannot use --reject-all-permission-claims together with --accept-permission-claim"),
            (
                flags(&["secrets", "x.core", "configmaps"], &[], false, false),
                "invalid accepted permission claims: [invalid permission claim \"secrets\" invalid permission claim \"configmaps\"]",
            ),
            (flags(&[], &["secrets"], false, false), "invalid rejected permission claims: [invalid permission claim \"secrets\"]"),
            (
                flags(&["secrets.core"], &["secrets.core"], false, false),
                "accepted permission claim secrets.core conflicts with rejected permission claim secrets.core",
            ),
        ];
        for (f, want) in cases {
            assert_eq!(usage(f.parse()), want, "{f:?}");
        }
    }

    #[test]
    fn versions_come_from_discovery() {
        let group = |vs: &[&str]| json!({"versions": vs.iter().map(|v| json!({"groupVersion": format!("apis.kcp.io/{v}"), "version": v})).collect::<Vec<_>>()});
        assert_eq!(Version::from_discovery(&group(&["v1alpha2", "v1alpha1"])), Some(Version::V1alpha2));
        assert_eq!(Version::from_discovery(&group(&["v1alpha1", "v1alpha2"])), Some(Version::V1alpha2));
        assert_eq!(Version::from_discovery(&group(&["v1alpha1"])), Some(Version::V1alpha1));
        assert_eq!(Version::from_discovery(&group(&["v1"])), None);
        assert_eq!(Version::from_discovery(&Value::Null), None);
    }

    fn export_claims() -> Vec<Value> {
        vec![
            json!({"group": "", "resource": "configmaps", "verbs": ["get", "list"]}),
            json!({"group": "example.io", "resource": "widgets", "identityHash": "abc", "verbs": ["*"]}),
            json!({"group": "example.io", "resource": "widgets", "identityHash": "def"}),
        ]
    }

    #[test]
    fn named_claims_take_identity_and_verbs_from_the_export() {
        let named = flags(&["configmaps.core", "widgets.example.io"], &["secrets.core"], false, false).parse().expect("valid");
        let known = export_claims();
        let claims = binding_claims(&named, Some(&known));
        let summary: Vec<(&str, &str, Vec<String>, ClaimState)> =
            claims.iter().map(|c| (c.resource.as_str(), c.identity_hash.as_str(), c.verbs.clone(), c.state)).collect();
        let verbs = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            summary,
            [
                ("configmaps", "", verbs(&["get", "list"]), ClaimState::Accepted),
                ("widgets", "abc", verbs(&["*"]), ClaimState::Accepted),
                ("widgets", "def", verbs(&["*"]), ClaimState::Accepted),
                ("secrets", "", verbs(&["*"]), ClaimState::Rejected),
            ]
        );
        // Without the export (the user may not read it), every claim is what kcp writes.
        let blind = binding_claims(&named, None);
        assert!(blind.iter().all(|c| c.identity_hash.is_empty() && c.verbs == ["*"]), "{blind:?}");
        assert_eq!(blind.len(), 3);
        // All of the export's claims, rejected.
        let all = binding_claims(&Claims::All(ClaimState::Rejected), Some(&known));
        assert_eq!(all.len(), 3);
        assert!(all.iter().all(|c| c.state == ClaimState::Rejected));
    }

    #[test]
    fn bindings_are_written_in_either_version() {
        let export = ExportRef { path: "root:prov".into(), name: "widgets".into() };
        let claims = binding_claims(&flags(&["widgets.example.io"], &["configmaps.core"], false, false).parse().expect("valid"), Some(&export_claims()[..2]));
        assert_eq!(
            binding_object(Version::V1alpha2, "mine", &export, &claims),
            json!({
                "apiVersion": "apis.kcp.io/v1alpha2", "kind": "APIBinding", "metadata": {"name": "mine"},
                "spec": {
                    "reference": {"export": {"path": "root:prov", "name": "widgets"}},
                    "permissionClaims": [
                        {"group": "example.io", "resource": "widgets", "identityHash": "abc", "verbs": ["*"], "selector": {"matchAll": true}, "state": "Accepted"},
                        {"group": "", "resource": "configmaps", "verbs": ["get", "list"], "selector": {"matchAll": true}, "state": "Rejected"},
                    ],
                },
            })
        );
        assert_eq!(
            binding_object(Version::V1alpha1, "mine", &export, &claims)["spec"]["permissionClaims"],
            json!([
                {"group": "example.io", "resource": "widgets", "identityHash": "abc", "all": true, "state": "Accepted"},
                {"group": "", "resource": "configmaps", "all": true, "state": "Rejected"},
            ])
        );
        let plain = binding_object(Version::V1alpha1, "widgets", &export, &[]);
        assert_eq!(plain["apiVersion"], "apis.kcp.io/v1alpha1");
        assert!(plain["spec"].get("permissionClaims").is_none(), "{plain}");
    }

    #[test]
    fn progress_is_read_from_phase_and_conditions() {
        assert!(!is_bound(&json!({})));
        assert_eq!(describe_progress(&json!({})), "no phase yet, no conditions reported");
        let binding = json!({"status": {"phase": "Binding", "conditions": [
            {"type": "APIExportValid", "status": "True"},
            {"type": "InitialBindingCompleted", "status": "False", "reason": "WaitingForEstablished", "message": "waiting for the CRDs"},
            {"type": "Ready", "status": "False", "reason": "WaitingForEstablished"},
        ]}});
        assert!(!is_bound(&binding));
        assert_eq!(
            describe_progress(&binding),
            "phase \"Binding\", InitialBindingCompleted=False (WaitingForEstablished: waiting for the CRDs), Ready=False (WaitingForEstablished)"
        );
        assert!(is_bound(&json!({"status": {"phase": "Bound"}})));
        assert!(is_bound(&json!({"status": {"conditions": [{"type": "InitialBindingCompleted", "status": "True"}]}})));
    }
}
