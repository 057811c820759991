//! The resources every logical cluster serves without any CRD: one line per kind.

use std::sync::OnceLock;

use super::strategy::Strategy;
use super::ResourceInfo;
use super::{apiextensions, apis, authentication, authorization, coordination, core, events, kcpcore, rbac, tenancy};

/// How a built-in resource is served.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backing {
    /// Stored objects with the generic REST verbs.
    Stored,
    /// Create-only reviews answered from request data (SSAR, TokenReview, ...); nothing is stored.
    Review,
}

/// Every built-in kind, in discovery order.
const KINDS: &[&dyn Strategy] = &[
    &core::Namespace,
    &core::ConfigMap,
    &core::Secret,
    &core::ServiceAccount,
    &core::Event,
    &core::ResourceQuota,
    &core::LimitRange,
    &rbac::Role,
    &rbac::ClusterRole,
    &rbac::RoleBinding,
    &rbac::ClusterRoleBinding,
    &apiextensions::CustomResourceDefinition,
    &coordination::Lease,
    &events::Event,
    &kcpcore::LogicalCluster,
    &kcpcore::Shard,
    &tenancy::Workspace,
    &tenancy::WorkspaceType,
    // APIExport first: its stored version leads the group's versions, making it preferred.
    &apis::APIExport,
    &apis::APIBinding,
    &apis::APIResourceSchema,
    &apis::APIExportEndpointSlice,
    &authorization::SelfSubjectAccessReview,
    &authorization::SubjectAccessReview,
    &authorization::LocalSubjectAccessReview,
    &authorization::SelfSubjectRulesReview,
    &authentication::SelfSubjectReview,
    &authentication::TokenReview,
];

/// Kinds that only travel through a subresource of another kind.
const SUBRESOURCE_KINDS: &[&dyn Strategy] = &[&authentication::TokenRequest];

/// A built-in resource with how it is served.
#[derive(Debug, Clone)]
pub struct Builtin {
    /// Names, scope, verbs and schema the resource is served with.
    pub info: ResourceInfo,
    /// Whether objects are stored or computed per request.
    pub backing: Backing,
    /// How the kind behaves.
    pub strategy: &'static dyn Strategy,
    /// The stored version, when this one is served by converting from it.
    pub converted_from: Option<String>,
    /// The group objects are stored under, when not the served one ([`Strategy::stored_as`]).
    pub stored_group: Option<&'static str>,
}

/// Every built-in resource, in discovery order.
pub fn builtins() -> &'static [Builtin] {
    static ALL: OnceLock<Vec<Builtin>> = OnceLock::new();
    ALL.get_or_init(|| {
        // The stored version comes first, so it is the group's preferred one in discovery.
        KINDS
            .iter()
            .flat_map(|&strategy| {
                let stored = strategy.info();
                let others = strategy.other_versions().iter().map(move |v| {
                    let info = ResourceInfo { version: v.to_string(), ..strategy.info() };
                    Builtin { backing: info.backing, info, strategy, converted_from: Some(strategy.info().version), stored_group: None }
                });
                let (converted_from, stored_group) = match strategy.stored_as() {
                    Some((group, version)) => (Some(version.to_string()), Some(group)),
                    None => (None, None),
                };
                std::iter::once(Builtin { backing: stored.backing, info: stored, strategy, converted_from, stored_group }).chain(others)
            })
            .collect()
    })
}

/// The built-in resource served at `group/version/plural`, if any.
pub fn find(group: &str, version: &str, plural: &str) -> Option<&'static Builtin> {
    builtins().iter().find(|b| b.info.group == group && b.info.version == version && b.info.plural == plural)
}

/// The strategy of built-in kind `kind` of `apiVersion`, subresource kinds included.
pub fn by_kind(api_version: &str, kind: &str) -> Option<&'static dyn Strategy> {
    KINDS.iter().chain(SUBRESOURCE_KINDS).copied().find(|s| {
        let info = s.info();
        info.kind == kind && info.api_version() == api_version
    })
}

/// The kind a subresource takes and returns, and its verbs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubresourceShape {
    /// API group of the kind the subresource takes (empty for core).
    pub group: String,
    /// API version of that kind.
    pub version: String,
    /// The kind the subresource takes and returns (`TokenRequest`, or the parent's kind).
    pub kind: String,
    /// Verbs the subresource serves.
    pub verbs: &'static [&'static str],
}

/// How subresource `name` of `info` is served: `token` is TokenRequest's create, anything
/// else (`status`) reads and writes the parent kind.
pub fn subresource_shape(info: &ResourceInfo, name: &str) -> SubresourceShape {
    match name {
        "token" => {
            let token = authentication::TokenRequest.info();
            SubresourceShape { group: token.group, version: token.version, kind: token.kind, verbs: &["create"] }
        }
        _ => SubresourceShape { group: info.group.clone(), version: info.version.clone(), kind: info.kind.clone(), verbs: &["get", "patch", "update"] },
    }
}

/// True when `group` is served by built-ins (CRDs may not claim it).
pub fn is_builtin_group(group: &str) -> bool {
    builtins().iter().any(|b| b.info.group == group)
}
