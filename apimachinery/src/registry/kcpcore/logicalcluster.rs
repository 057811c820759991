//! `core.kcp.io/v1alpha1` LogicalCluster: one per logical cluster, named `cluster` (an
//! admission plugin enforces that, as kcp's does).

use serde_json::Value;

use super::GROUP;
use crate::auth::UserInfo;
use crate::registry::strategy::{Definition, Strategy};
use crate::registry::ResourceInfo;
use crate::table::cell::crd_column;
use crate::table::{cell, crd_columns, Column, Row};

/// Annotation recording who created the workspace (JSON user info); initializers act as them.
pub const OWNER_ANNOTATION: &str = "experimental.tenancy.kcp.io/owner";

/// The user who created the workspace of a LogicalCluster, from [`OWNER_ANNOTATION`].
pub fn owner(lc: &Value) -> Option<UserInfo> {
    let text = lc.pointer("/metadata/annotations").and_then(|a| a.get(OWNER_ANNOTATION)).and_then(Value::as_str)?;
    serde_json::from_str::<UserInfo>(text).ok().filter(|u| !u.name.is_empty())
}

/// Finalizer that keeps a deleted LogicalCluster while terminators may still act on it
/// (kcp's name); it goes once the cluster's content is gone.
pub const TERMINATOR_FINALIZER: &str = "kcp.io/has-terminators";

/// A stage of a logical cluster's life in which controllers named by its WorkspaceType hold
/// it: initializers before it becomes Ready, terminators before its content is deleted. Each
/// holder removes itself from the matching `status` list when it is done.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hook {
    /// `spec.initializer` types; the cluster is `Initializing`.
    Initializer,
    /// `spec.terminator` types; the cluster has been deleted and is `Terminating`.
    Terminator,
}

impl Hook {
    /// Field of the LogicalCluster's `spec` and `status` listing the holders.
    pub fn field(self) -> &'static str {
        match self {
            Hook::Initializer => "initializers",
            Hook::Terminator => "terminators",
        }
    }

    /// Boolean field of a WorkspaceType's `spec` that makes its workspaces wait for it.
    pub fn type_flag(self) -> &'static str {
        match self {
            Hook::Initializer => "initializer",
            Hook::Terminator => "terminator",
        }
    }

    /// Whether a WorkspaceType (as stored) sets this hook's `spec` flag.
    pub fn marks(self, workspace_type: &Value) -> bool {
        workspace_type.get("spec").and_then(|s| s.get(self.type_flag())).and_then(Value::as_bool) == Some(true)
    }

    /// RBAC verb on `workspacetypes` that lets a caller act as the type's holder.
    pub fn verb(self) -> &'static str {
        match self {
            Hook::Initializer => "initialize",
            Hook::Terminator => "terminate",
        }
    }

    /// Field of a WorkspaceType's `spec` with the PolicyRules its holder gets inside.
    pub fn permissions_field(self) -> &'static str {
        match self {
            Hook::Initializer => "initializerPermissions",
            Hook::Terminator => "terminatorPermissions",
        }
    }

    /// Prefix of the group a holder acts with inside the cluster.
    pub fn group_prefix(self) -> &'static str {
        match self {
            Hook::Initializer => crate::auth::INITIALIZER_GROUP_PREFIX,
            Hook::Terminator => crate::auth::TERMINATOR_GROUP_PREFIX,
        }
    }

    /// The holders a LogicalCluster still lists in its `status`.
    pub fn pending(self, lc: &Value) -> Vec<String> {
        let list = lc.get("status").and_then(|s| s.get(self.field())).and_then(Value::as_array);
        list.into_iter().flatten().filter_map(Value::as_str).map(String::from).collect()
    }

    /// Whether the LogicalCluster is in this stage and `holder` has not let go of it yet:
    /// initializing for an initializer, deleted for a terminator.
    pub fn holds(self, lc: &Value, holder: &str) -> bool {
        let in_stage = match self {
            Hook::Initializer => lc.pointer("/status/phase").and_then(Value::as_str) == Some("Initializing"),
            Hook::Terminator => lc.pointer("/metadata/deletionTimestamp").is_some_and(|t| !t.is_null()),
        };
        in_stage && self.pending(lc).iter().any(|h| h == holder)
    }
}

const DEFINITION: Definition = Definition { subresources: &["status"], ..Definition::stored(GROUP, "v1alpha1", "LogicalCluster", "logicalclusters", false) };

/// The LogicalCluster strategy.
pub struct LogicalCluster;

impl Strategy for LogicalCluster {
    fn info(&self) -> ResourceInfo {
        DEFINITION.info()
    }

    // kcp's CRD for LogicalCluster declares these printer columns.
    fn columns(&self) -> Vec<Column> {
        crd_columns(&[
            crd_column("Phase", "string", "The current phase (e.g. Scheduling, Initializing, Ready, Deleting)", ".status.phase"),
            crd_column("URL", "string", "URL to access the logical cluster", ".status.URL"),
            crd_column("Age", "date", "", ".metadata.creationTimestamp"),
        ])
    }

    fn row(&self, obj: &Value, _now: jiff::Timestamp) -> Row {
        cell::name_row(obj)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_owner_is_read_from_its_annotation() {
        let lc = json!({"metadata": {"annotations": {OWNER_ANNOTATION: r#"{"username":"alice","groups":["devs"]}"#}}});
        let who = owner(&lc).expect("owner");
        assert_eq!((who.name.as_str(), who.groups.as_slice()), ("alice", ["devs".to_string()].as_slice()));
        assert!(owner(&json!({"metadata": {"annotations": {OWNER_ANNOTATION: "not json"}}})).is_none());
        assert!(owner(&json!({})).is_none());
    }

    #[test]
    fn only_an_initializing_cluster_waits() {
        let lc = |phase: &str| json!({"status": {"phase": phase, "initializers": ["root:gated"]}});
        assert!(Hook::Initializer.holds(&lc("Initializing"), "root:gated"));
        assert!(!Hook::Initializer.holds(&lc("Initializing"), "root:other"));
        assert!(!Hook::Initializer.holds(&lc("Ready"), "root:gated"));
    }

    #[test]
    fn only_a_deleted_cluster_waits_for_its_terminators() {
        let lc = json!({"metadata": {"name": "cluster"}, "status": {"phase": "Ready", "terminators": ["root:cleanup"]}});
        assert!(!Hook::Terminator.holds(&lc, "root:cleanup"));
        let mut deleted = lc.clone();
        deleted["metadata"]["deletionTimestamp"] = json!("2026-12-04T10:00:00Z");
        assert!(Hook::Terminator.holds(&deleted, "root:cleanup"));
        assert!(!Hook::Terminator.holds(&deleted, "root:other"));
        assert_eq!(Hook::Terminator.pending(&deleted), ["root:cleanup"]);
        assert!(Hook::Initializer.pending(&deleted).is_empty());
    }
}
