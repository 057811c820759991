//! The resources every logical cluster serves without any CRD.

use std::sync::OnceLock;

use super::ResourceInfo;

/// How a built-in resource is served.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backing {
    /// Stored objects with the generic REST verbs.
    Stored,
    /// Create-only reviews answered from request data (SSAR, TokenReview, ...); nothing is stored.
    Review,
}

struct Def {
    group: &'static str,
    version: &'static str,
    kind: &'static str,
    plural: &'static str,
    namespaced: bool,
    short: &'static [&'static str],
    categories: &'static [&'static str],
    subresources: &'static [&'static str],
    backing: Backing,
}

const STORED_VERBS: &[&str] = &["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"];

const DEFS: &[Def] = &[
    def("", "v1", "Namespace", "namespaces", false, &["ns"], &[], &["status"]),
    def("", "v1", "ConfigMap", "configmaps", true, &["cm"], &[], &[]),
    def("", "v1", "Secret", "secrets", true, &[], &[], &[]),
    def("", "v1", "ServiceAccount", "serviceaccounts", true, &["sa"], &[], &["token"]),
    def("", "v1", "Event", "events", true, &["ev"], &[], &[]),
    def("", "v1", "ResourceQuota", "resourcequotas", true, &["quota"], &[], &["status"]),
    def("", "v1", "LimitRange", "limitranges", true, &["limits"], &[], &[]),
    def("rbac.authorization.k8s.io", "v1", "Role", "roles", true, &[], &[], &[]),
    def("rbac.authorization.k8s.io", "v1", "ClusterRole", "clusterroles", false, &[], &[], &[]),
    def("rbac.authorization.k8s.io", "v1", "RoleBinding", "rolebindings", true, &[], &[], &[]),
    def("rbac.authorization.k8s.io", "v1", "ClusterRoleBinding", "clusterrolebindings", false, &[], &[], &[]),
    def("apiextensions.k8s.io", "v1", "CustomResourceDefinition", "customresourcedefinitions", false, &["crd", "crds"], &[], &["status"]),
    def("coordination.k8s.io", "v1", "Lease", "leases", true, &[], &[], &[]),
    def("events.k8s.io", "v1", "Event", "events", true, &["ev"], &[], &[]),
    def("core.kcp.io", "v1alpha1", "LogicalCluster", "logicalclusters", false, &[], &[], &["status"]),
    def("core.kcp.io", "v1alpha1", "Shard", "shards", false, &[], &[], &["status"]),
    def("tenancy.kcp.io", "v1alpha1", "Workspace", "workspaces", false, &["ws"], &[], &["status"]),
    def("tenancy.kcp.io", "v1alpha1", "WorkspaceType", "workspacetypes", false, &[], &[], &["status"]),
    review("authorization.k8s.io", "SelfSubjectAccessReview", "selfsubjectaccessreviews", false),
    review("authorization.k8s.io", "SubjectAccessReview", "subjectaccessreviews", false),
    review("authorization.k8s.io", "LocalSubjectAccessReview", "localsubjectaccessreviews", true),
    review("authorization.k8s.io", "SelfSubjectRulesReview", "selfsubjectrulesreviews", false),
    review("authentication.k8s.io", "SelfSubjectReview", "selfsubjectreviews", false),
    review("authentication.k8s.io", "TokenReview", "tokenreviews", false),
];

#[allow(clippy::too_many_arguments)]
const fn def(
    group: &'static str,
    version: &'static str,
    kind: &'static str,
    plural: &'static str,
    namespaced: bool,
    short: &'static [&'static str],
    categories: &'static [&'static str],
    subresources: &'static [&'static str],
) -> Def {
    Def { group, version, kind, plural, namespaced, short, categories, subresources, backing: Backing::Stored }
}

const fn review(group: &'static str, kind: &'static str, plural: &'static str, namespaced: bool) -> Def {
    Def { group, version: "v1", kind, plural, namespaced, short: &[], categories: &[], subresources: &[], backing: Backing::Review }
}

/// A built-in resource with how it is served.
#[derive(Debug, Clone)]
pub struct Builtin {
    pub info: ResourceInfo,
    pub backing: Backing,
}

/// Every built-in resource, in discovery order.
pub fn builtins() -> &'static [Builtin] {
    static ALL: OnceLock<Vec<Builtin>> = OnceLock::new();
    ALL.get_or_init(|| {
        DEFS.iter()
            .map(|d| Builtin {
                info: ResourceInfo {
                    group: d.group.into(),
                    version: d.version.into(),
                    kind: d.kind.into(),
                    list_kind: format!("{}List", d.kind),
                    plural: d.plural.into(),
                    singular: d.kind.to_ascii_lowercase(),
                    namespaced: d.namespaced,
                    short_names: d.short.iter().map(|s| s.to_string()).collect(),
                    categories: d.categories.iter().map(|s| s.to_string()).collect(),
                    verbs: match d.backing {
                        Backing::Stored => STORED_VERBS.iter().map(|s| s.to_string()).collect(),
                        Backing::Review => vec!["create".into()],
                    },
                    subresources: d.subresources.iter().map(|s| s.to_string()).collect(),
                    columns: vec![],
                    schema: None,
                    custom: false,
                },
                backing: d.backing,
            })
            .collect()
    })
}

/// The built-in resource served at `group/version/plural`, if any.
pub fn find(group: &str, version: &str, plural: &str) -> Option<&'static Builtin> {
    builtins().iter().find(|b| b.info.group == group && b.info.version == version && b.info.plural == plural)
}

/// The kind a subresource takes and returns, and its verbs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubresourceShape {
    pub group: String,
    pub version: String,
    pub kind: String,
    pub verbs: &'static [&'static str],
}

/// How subresource `name` of `info` is served: `token` is TokenRequest's create, anything
/// else (`status`) reads and writes the parent kind.
pub fn subresource_shape(info: &ResourceInfo, name: &str) -> SubresourceShape {
    match name {
        "token" => SubresourceShape { group: "authentication.k8s.io".into(), version: "v1".into(), kind: "TokenRequest".into(), verbs: &["create"] },
        _ => SubresourceShape { group: info.group.clone(), version: info.version.clone(), kind: info.kind.clone(), verbs: &["get", "patch", "update"] },
    }
}

/// True when `group` is served by built-ins (CRDs may not claim it).
pub fn is_builtin_group(group: &str) -> bool {
    builtins().iter().any(|b| b.info.group == group)
}
