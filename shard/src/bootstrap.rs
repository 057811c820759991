//! First-start content of a shard: the `system:admin` logical cluster holding the bootstrap
//! policy that applies in every logical cluster, and the `root` logical cluster.
//!
//! Objects are created only when missing, so restarts never overwrite what users changed. The
//! ClusterRoles of the bootstrap policy alone get back, at every start, any of their rules they
//! lack (a newer release's among them), as kube-apiserver reconciles its default roles.

use apimachinery::{auth, field};
use apiserver::auth::authz::BOOTSTRAP_CLUSTER;
use apiserver::rest::object;
use apiserver::storage::{Key, SharedStorage, StorageError};
use serde_json::{json, Value};

/// The logical cluster kubeconfig contexts point at by default.
pub const ROOT_CLUSTER: &str = "root";
/// ClusterRole (bootstrap policy) granting workspace access: verb `access` on `/`.
pub const WORKSPACE_ACCESS_ROLE: &str = "system:kcp:workspace:access";
/// ClusterRole (bootstrap policy) for reading workspaces and their types.
pub const TENANCY_READER_ROLE: &str = "system:kcp:tenancy:reader";

/// Group of the kcp administrators (`kcp-admin` in the admin kubeconfig).
pub const KCP_ADMIN_GROUP: &str = "system:kcp:admin";

/// A bootstrap role carrying this annotation with `"false"` keeps its rules across upgrades.
const AUTOUPDATE_ANNOTATION: &str = "rbac.authorization.kubernetes.io/autoupdate";

/// The workspace type of home workspaces.
pub const HOME_TYPE: &str = "home";
/// ClusterRole in `root` allowing `create` of `workspaces/~`: who may get a home workspace.
pub const HOME_CREATOR_ROLE: &str = "system:kcp:home-workspace-create";

/// A new object with the metadata the REST layer would have given it.
pub(crate) fn new_object(api_version: &str, kind: &str, name: &str, namespace: &str, body: Value) -> Value {
    let mut obj = json!({"apiVersion": api_version, "kind": kind,
        "metadata": {"name": name, "uid": apimachinery::uid::new_v4().to_string(), "creationTimestamp": object::now_rfc3339()}});
    if !namespace.is_empty() {
        obj["metadata"]["namespace"] = json!(namespace);
    }
    if let (Some(o), Some(b)) = (obj.as_object_mut(), body.as_object()) {
        for (k, v) in b {
            o.insert(k.clone(), v.clone());
        }
    }
    obj
}

/// Creates an object unless it exists.
pub(crate) async fn ensure(store: &SharedStorage, key: Key<'_>, obj: Value) -> Result<(), StorageError> {
    match store.create(&key.encode(), object::to_stored(&obj)).await {
        Ok(_) | Err(StorageError::AlreadyExists { .. }) => Ok(()),
        Err(e) => Err(e),
    }
}

/// Changes an existing object in place with compare-and-swap, again on conflicts; `change`
/// returns false when nothing needs writing. For start-up content written before the API
/// serves; controllers write through the REST handlers instead.
pub(crate) async fn update(store: &SharedStorage, key: &str, mut change: impl FnMut(&mut Value) -> bool) -> Result<(), StorageError> {
    loop {
        let stored = match store.get(key).await {
            Ok(s) => s,
            Err(StorageError::NotFound { .. }) => return Ok(()),
            Err(e) => return Err(e),
        };
        let mut obj: Value = serde_json::from_slice(&stored.value).map_err(|e| StorageError::Unavailable(e.to_string()))?;
        if !change(&mut obj) {
            return Ok(());
        }
        match store.update(key, stored.revision, object::to_stored(&obj)).await {
            Err(StorageError::Conflict { .. }) => continue,
            other => return other.map(drop),
        }
    }
}

/// Creates a logical cluster's `LogicalCluster` object unless it exists.
pub async fn ensure_logical_cluster(store: &SharedStorage, cluster: &str) -> Result<(), StorageError> {
    let lc = new_object("core.kcp.io/v1alpha1", "LogicalCluster", "cluster", "", json!({"spec": {}, "status": {"phase": "Initializing"}}));
    let lc = {
        let mut lc = lc;
        lc["metadata"]["annotations"] = json!({"kcp.io/path": cluster});
        lc
    };
    ensure(store, Key::logical_cluster(cluster), lc).await
}

fn cluster_role(name: &str, rules: Value) -> (String, Value) {
    (name.to_string(), new_object("rbac.authorization.k8s.io/v1", "ClusterRole", name, "", json!({"rules": rules})))
}

fn cluster_role_binding(name: &str, role: &str, group: &str) -> (String, Value) {
    let body = json!({
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": role},
        "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": group}],
    });
    (name.to_string(), new_object("rbac.authorization.k8s.io/v1", "ClusterRoleBinding", name, "", body))
}

/// What `view` may read. `edit` reads it too, as kube's `edit` aggregates `view`: an editor can
/// then grant `view` to others, which the escalation check refuses unless the editor holds it.
fn view_rule() -> Value {
    json!({"apiGroups": ["", "coordination.k8s.io", "events.k8s.io"],
    "resources": ["configmaps", "serviceaccounts", "events", "leases", "namespaces", "resourcequotas", "limitranges"],
    "verbs": ["get", "list", "watch"]})
}

/// Adds to a stored bootstrap role the rules of `wanted` it does not cover, as kube-apiserver
/// reconciles its default roles at every start: rules added by hand stay, and a role annotated
/// `rbac.authorization.kubernetes.io/autoupdate: "false"` is left as it is. True when it changed.
fn add_lacking_rules(stored: &mut Value, wanted: &[Value]) -> bool {
    if field::str_at(stored, &["metadata", "annotations", AUTOUPDATE_ANNOTATION]) == "false" {
        return false;
    }
    let held = stored["rules"].as_array().cloned().unwrap_or_default();
    let lacking: Vec<Value> = wanted.iter().filter(|rule| auth::covers(&held, std::slice::from_ref(rule)).is_err()).cloned().collect();
    if lacking.is_empty() {
        return false;
    }
    stored["rules"] = Value::Array(held.into_iter().chain(lacking).collect());
    true
}

/// Objects to create, by name.
type Named = Vec<(String, Value)>;

/// The bootstrap policy: roles every logical cluster may bind, and grants that hold everywhere.
fn policy() -> (Named, Named) {
    let roles = vec![
        cluster_role(
            "cluster-admin",
            json!([
            {"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]},
            {"nonResourceURLs": ["*"], "verbs": ["*"]}]),
        ),
        cluster_role("admin", json!([{"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]}])),
        cluster_role(
            "edit",
            json!([{"apiGroups": ["", "coordination.k8s.io", "events.k8s.io"],
            "resources": ["configmaps", "secrets", "serviceaccounts", "events", "leases"],
            "verbs": ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"]},
            view_rule()]),
        ),
        cluster_role("view", json!([view_rule()])),
        cluster_role(
            "system:basic-user",
            json!([
            {"apiGroups": ["authorization.k8s.io"], "resources": ["selfsubjectaccessreviews", "selfsubjectrulesreviews"], "verbs": ["create"]},
            {"apiGroups": ["authentication.k8s.io"], "resources": ["selfsubjectreviews"], "verbs": ["create"]}]),
        ),
        cluster_role(
            "system:discovery",
            json!([{"nonResourceURLs": ["/api", "/api/*", "/apis", "/apis/*", "/openapi", "/openapi/*", "/version", "/version/"], "verbs": ["get"]}]),
        ),
        cluster_role(WORKSPACE_ACCESS_ROLE, json!([{"nonResourceURLs": ["/"], "verbs": ["access"]}])),
        cluster_role(
            TENANCY_READER_ROLE,
            json!([
            {"apiGroups": ["tenancy.kcp.io"], "resources": ["workspaces", "workspacetypes"], "verbs": ["get", "list", "watch"]},
            {"apiGroups": ["core.kcp.io"], "resources": ["logicalclusters"], "verbs": ["get", "list", "watch"]}]),
        ),
    ];
    let bindings = vec![
        cluster_role_binding("system:kcp:admin:cluster-admin", "cluster-admin", KCP_ADMIN_GROUP),
        cluster_role_binding("system:basic-user", "system:basic-user", "system:authenticated"),
        cluster_role_binding("system:discovery", "system:discovery", "system:authenticated"),
    ];
    (roles, bindings)
}

/// What a shard bootstraps beyond its local policy.
#[derive(Debug, Clone, Copy)]
pub struct Scope {
    /// This shard hosts `root`: the root workspace, its types and grants.
    pub hosts_root: bool,
    /// Home workspaces are on: type `home` and the grant to create one.
    pub home_workspaces: bool,
}

/// Creates whatever of the first-start content is missing: the shard-local bootstrap policy,
/// and on the root shard the root workspace with its types and grants.
pub async fn run(store: &SharedStorage, scope: Scope) -> Result<(), StorageError> {
    ensure_logical_cluster(store, BOOTSTRAP_CLUSTER).await?;
    let (roles, bindings) = policy();
    for (name, obj) in roles {
        let key = Key { group: "rbac.authorization.k8s.io", resource: "clusterroles", cluster: BOOTSTRAP_CLUSTER, namespace: "", name: &name };
        let (encoded, wanted) = (key.encode(), obj["rules"].as_array().cloned().unwrap_or_default());
        ensure(store, key, obj).await?;
        // A shard started on an older install's store gets the rules its roles lack now.
        update(store, &encoded, |stored| add_lacking_rules(stored, &wanted)).await?;
    }
    for (name, obj) in bindings {
        let key = Key { group: "rbac.authorization.k8s.io", resource: "clusterrolebindings", cluster: BOOTSTRAP_CLUSTER, namespace: "", name: &name };
        ensure(store, key, obj).await?;
    }
    if !scope.hosts_root {
        return Ok(());
    }
    ensure_logical_cluster(store, ROOT_CLUSTER).await?;
    for (name, obj) in workspace_types().into_iter().filter(|(name, _)| scope.home_workspaces || name != HOME_TYPE) {
        let key = Key { group: "tenancy.kcp.io", resource: "workspacetypes", cluster: ROOT_CLUSTER, namespace: "", name: &name };
        ensure(store, key, obj).await?;
    }
    if scope.home_workspaces {
        let (name, role) = cluster_role(
            HOME_CREATOR_ROLE,
            json!([
            {"apiGroups": ["tenancy.kcp.io"], "resources": ["workspaces"], "resourceNames": ["~"], "verbs": ["create"]}]),
        );
        ensure(store, Key { group: "rbac.authorization.k8s.io", resource: "clusterroles", cluster: ROOT_CLUSTER, namespace: "", name: &name }, role).await?;
        let (name, obj) = cluster_role_binding(HOME_CREATOR_ROLE, HOME_CREATOR_ROLE, "system:authenticated");
        ensure(store, Key { group: "rbac.authorization.k8s.io", resource: "clusterrolebindings", cluster: ROOT_CLUSTER, namespace: "", name: &name }, obj)
            .await?;
    }
    let (name, role) = cluster_role(
        "system:kcp:workspacetype-use",
        json!([
        {"apiGroups": ["tenancy.kcp.io"], "resources": ["workspacetypes"], "resourceNames": ["universal", "organization", "team"], "verbs": ["use"]}]),
    );
    ensure(store, Key { group: "rbac.authorization.k8s.io", resource: "clusterroles", cluster: ROOT_CLUSTER, namespace: "", name: &name }, role).await?;
    // Every authenticated user may enter root, read its workspaces and use the public types.
    for (binding, role) in [
        ("system:kcp:workspacetype-use", "system:kcp:workspacetype-use"),
        ("system:kcp:authenticated:access", WORKSPACE_ACCESS_ROLE),
        ("system:kcp:authenticated:tenancy-reader", TENANCY_READER_ROLE),
    ] {
        let (name, obj) = cluster_role_binding(binding, role, "system:authenticated");
        ensure(store, Key { group: "rbac.authorization.k8s.io", resource: "clusterrolebindings", cluster: ROOT_CLUSTER, namespace: "", name: &name }, obj)
            .await?;
    }
    Ok(())
}

/// The built-in workspace types of `root`.
fn workspace_types() -> Named {
    let wt = |name: &str, spec: Value| (name.to_string(), new_object("tenancy.kcp.io/v1alpha1", "WorkspaceType", name, "", json!({"spec": spec})));
    let t = |name: &str| json!({"name": name, "path": ROOT_CLUSTER});
    let universal = json!({"with": [t("universal")]});
    vec![
        wt("root", json!({"extend": universal, "limitAllowedParents": {"none": true}, "defaultChildWorkspaceType": t("organization")})),
        wt("universal", json!({"defaultChildWorkspaceType": t("universal")})),
        wt("organization", json!({"extend": universal, "limitAllowedParents": {"types": [t("root")]}, "defaultChildWorkspaceType": t("team")})),
        wt("team", json!({"extend": universal, "limitAllowedParents": {"types": [t("organization"), t("team")]}, "defaultChildWorkspaceType": t("universal")})),
        // Home workspaces have no parent: they are created on first GET of `workspaces/~`.
        wt(HOME_TYPE, json!({"extend": universal, "limitAllowedParents": {"none": true}, "defaultChildWorkspaceType": t("universal")})),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules_of(roles: &Named, name: &str) -> Vec<Value> {
        let role = roles.iter().find(|(n, _)| n == name).map(|(_, r)| r).expect("bootstrap role");
        role["rules"].as_array().cloned().unwrap_or_default()
    }

    #[test]
    fn a_stored_role_gains_what_it_lacks_and_keeps_its_own_rules() {
        let (roles, _) = policy();
        let wanted = rules_of(&roles, "edit");
        let own = json!({"apiGroups": ["example.com"], "resources": ["widgets"], "verbs": ["get"]});
        let mut old_edit = json!({"metadata": {"name": "edit"}, "rules": [wanted[0].clone(), own.clone()]});
        assert!(add_lacking_rules(&mut old_edit, &wanted));
        assert_eq!(old_edit["rules"], json!([wanted[0], own, wanted[1]]));
        assert!(!add_lacking_rules(&mut old_edit, &wanted), "a second start changes nothing");
        let mut pinned = json!({"metadata": {"annotations": {AUTOUPDATE_ANNOTATION: "false"}}, "rules": []});
        assert!(!add_lacking_rules(&mut pinned, &wanted));
        assert_eq!(pinned["rules"], json!([]));
    }

    #[test]
    fn each_role_holds_the_ones_below_it() {
        let (roles, _) = policy();
        for (above, below) in [("edit", "view"), ("admin", "edit"), ("cluster-admin", "admin")] {
            assert_eq!(auth::covers(&rules_of(&roles, above), &rules_of(&roles, below)), Ok(()), "{above} lacks part of {below}");
        }
    }
}
