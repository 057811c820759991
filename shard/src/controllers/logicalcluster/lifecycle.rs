//! Creating a logical cluster: the objects a new workspace needs, then its LogicalCluster.

use apimachinery::status::ApiError;
use apiserver::rest::client::{ObjectRef, SystemClient};
use serde_json::{json, Value};

use super::super::ensure;
use crate::bootstrap;
use crate::global::Global;
use crate::tenancy::{self, Holders, OWNER_ANNOTATION, PATH_ANNOTATION, TYPE_ANNOTATION};
use apimachinery::registry::kcpcore::logicalcluster::TERMINATOR_FINALIZER;

/// A logical cluster to create for a workspace.
pub struct NewCluster<'a> {
    /// Logical cluster name.
    pub name: &'a str,
    /// Canonical path (`root:org:team`, `user:alice`).
    pub path: &'a str,
    /// Workspace type as `<path>:<name>`.
    pub type_ref: &'a str,
    /// The creator's user info (JSON), who becomes its admin.
    pub owner: Option<&'a str>,
    /// `spec.owner`: the Workspace it belongs to, or null for a parent-less cluster.
    pub spec_owner: Value,
}

/// Creates a LogicalCluster with its type's initializers and terminators, its `default`
/// namespace and the owner's admin binding. Without initializers it starts `Ready`:
/// everything a new workspace needs exists before the LogicalCluster does, so no second write
/// is needed to finish it. Granting cluster-admin needs a `system:masters` client.
pub async fn create_logical_cluster(client: &SystemClient, global: &Global, c: NewCluster<'_>) -> Result<(), ApiError> {
    let holders = tenancy::holders_of(global, c.type_ref).await?;
    let ns = bootstrap::new_object("v1", "Namespace", "default", "", json!({}));
    let default = ObjectRef::new("", "namespaces", c.name, "", "default");
    let admin = ObjectRef::new("rbac.authorization.k8s.io", "clusterrolebindings", c.name, "", "workspace-admin");
    let namespace = ensure(client, &default, ns);
    let binding = async {
        match c.admin_binding() {
            Some(crb) => ensure(client, &admin, crb).await,
            None => Ok(()),
        }
    };
    // Neither needs the other: written at once, they share one group commit.
    futures::try_join!(namespace, binding)?;
    let phase = if holders.initializers.is_empty() { "Ready" } else { "Initializing" };
    ensure(client, &ObjectRef::new("core.kcp.io", "logicalclusters", c.name, "", "cluster"), c.object(&holders, phase)).await
}

impl NewCluster<'_> {
    /// The LogicalCluster object, in `phase`, waiting for `holders`. Terminators come with the
    /// finalizer that keeps it, once deleted, until they are done and its content is gone.
    pub fn object(&self, holders: &Holders, phase: &str) -> Value {
        let mut annotations = json!({PATH_ANNOTATION: self.path, TYPE_ANNOTATION: self.type_ref});
        if let Some(o) = self.owner {
            annotations[OWNER_ANNOTATION] = json!(o);
        }
        let mut lc = bootstrap::new_object(
            "core.kcp.io/v1alpha1",
            "LogicalCluster",
            "cluster",
            "",
            json!({
                "spec": {"initializers": holders.initializers, "terminators": holders.terminators},
                "status": {"phase": phase, "initializers": holders.initializers, "terminators": holders.terminators},
            }),
        );
        if !holders.terminators.is_empty() {
            lc["metadata"]["finalizers"] = json!([TERMINATOR_FINALIZER]);
        }
        if !self.spec_owner.is_null() {
            lc["spec"]["owner"] = self.spec_owner.clone();
        }
        lc["metadata"]["annotations"] = annotations;
        lc
    }

    /// The owner's `workspace-admin` ClusterRoleBinding to cluster-admin.
    pub fn admin_binding(&self) -> Option<Value> {
        let owner = serde_json::from_str::<Value>(self.owner?).ok()?;
        Some(bootstrap::new_object(
            "rbac.authorization.k8s.io/v1",
            "ClusterRoleBinding",
            "workspace-admin",
            "",
            json!({
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "cluster-admin"},
                "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": owner["username"]}],
            }),
        ))
    }
}
