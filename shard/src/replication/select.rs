//! Which objects a shard publishes to the cache, and the shape of the published copy.
//!
//! kcp's rules: what every shard must be able to resolve (Shards, WorkspaceTypes, the APIs
//! objects) always; LogicalClusters, ClusterRoles and ClusterRoleBindings only when a labeller
//! marked them (`internal.kcp.io/replicate`); never anything in a `system:*` logical cluster,
//! and never any other kind (Secrets, Workspaces, APIBindings, tenant objects).

use serde_json::{json, Value};

use crate::controllers::replicate_rbac::reasons;
use crate::tenancy::PATH_ANNOTATION;

/// Storage prefixes (`<group>/<resource>/`) of every kind that may be replicated.
pub const PREFIXES: &[&str] = &[
    "core.kcp.io/shards/",
    "tenancy.kcp.io/workspacetypes/",
    "apis.kcp.io/apiexports/",
    "apis.kcp.io/apiresourceschemas/",
    "apis.kcp.io/apiexportendpointslices/",
    "core.kcp.io/logicalclusters/",
    "rbac.authorization.k8s.io/clusterroles/",
    "rbac.authorization.k8s.io/clusterrolebindings/",
];

/// Whether `obj`, a `group`/`resource` in logical cluster `cluster`, goes to the cache.
pub fn replicated(group: &str, resource: &str, cluster: &str, obj: &Value) -> bool {
    if cluster.starts_with("system:") || gone(obj) {
        return false;
    }
    match (group, resource) {
        ("core.kcp.io", "shards") | ("tenancy.kcp.io", "workspacetypes") => true,
        ("apis.kcp.io", "apiexports" | "apiresourceschemas" | "apiexportendpointslices") => true,
        ("core.kcp.io", "logicalclusters") | ("rbac.authorization.k8s.io", "clusterroles" | "clusterrolebindings") => !reasons(obj).is_empty(),
        _ => false,
    }
}

/// Being deleted with nothing left to hold it: as good as gone for other shards.
fn gone(obj: &Value) -> bool {
    obj.pointer("/metadata/deletionTimestamp").is_some_and(|t| !t.is_null())
        && obj.pointer("/metadata/finalizers").and_then(Value::as_array).is_none_or(Vec::is_empty)
}

/// The copy other shards see: the object as stored, plus the workspace path of its cluster
/// (`path`, when known) so a type or export referenced by path can be found.
pub fn published_copy(mut obj: Value, path: Option<&str>) -> Value {
    if let (Some(path), Some(meta)) = (path, obj.get_mut("metadata").and_then(Value::as_object_mut)) {
        let annotations = meta.entry("annotations").or_insert_with(|| json!({}));
        if let Some(a) = annotations.as_object_mut() {
            a.entry(PATH_ANNOTATION).or_insert_with(|| json!(path));
        }
    }
    obj
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::controllers::replicate_rbac::REPLICATE_ANNOTATION;

    #[test]
    fn kcp_rules() {
        let plain = json!({"metadata": {"name": "x"}});
        let marked = json!({"metadata": {"name": "x", "annotations": {REPLICATE_ANNOTATION: "workspacetypes"}}});
        assert!(replicated("tenancy.kcp.io", "workspacetypes", "root", &plain));
        assert!(replicated("core.kcp.io", "shards", "root", &plain));
        assert!(replicated("apis.kcp.io", "apiexports", "2abc", &plain));
        assert!(!replicated("rbac.authorization.k8s.io", "clusterroles", "root", &plain));
        assert!(replicated("rbac.authorization.k8s.io", "clusterroles", "root", &marked));
        assert!(replicated("rbac.authorization.k8s.io", "clusterrolebindings", "root", &marked));
        // Never: system clusters, secrets, workspaces, bindings, tenant objects.
        assert!(!replicated("tenancy.kcp.io", "workspacetypes", "system:admin", &plain));
        assert!(!replicated("rbac.authorization.k8s.io", "clusterroles", "system:admin", &marked));
        assert!(!replicated("", "secrets", "root", &marked));
        assert!(!replicated("tenancy.kcp.io", "workspaces", "root", &marked));
        assert!(!replicated("apis.kcp.io", "apibindings", "root", &marked));
        assert!(!replicated("", "configmaps", "root", &marked));
    }

    #[test]
    fn deleted_without_finalizers_is_withdrawn() {
        let deleting = json!({"metadata": {"name": "x", "deletionTimestamp": "2026-01-01T00:00:00Z", "finalizers": ["a"]}});
        assert!(replicated("tenancy.kcp.io", "workspacetypes", "root", &deleting));
        let done = json!({"metadata": {"name": "x", "deletionTimestamp": "2026-01-01T00:00:00Z"}});
        assert!(!replicated("tenancy.kcp.io", "workspacetypes", "root", &done));
    }

    #[test]
    fn copies_carry_their_path() {
        let copy = published_copy(json!({"metadata": {"name": "t"}}), Some("root:org"));
        assert_eq!(copy["metadata"]["annotations"][PATH_ANNOTATION], "root:org");
        assert_eq!(published_copy(json!({"metadata": {"name": "t"}}), None), json!({"metadata": {"name": "t"}}));
    }
}
