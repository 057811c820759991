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

/// Whether a LogicalCluster is initializing and `initializer` has not let go of it yet.
pub fn waits_for(lc: &Value, initializer: &str) -> bool {
    lc.pointer("/status/phase").and_then(Value::as_str) == Some("Initializing")
        && lc.pointer("/status/initializers").and_then(Value::as_array).is_some_and(|list| list.iter().any(|i| i == initializer))
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
        assert!(waits_for(&lc("Initializing"), "root:gated"));
        assert!(!waits_for(&lc("Initializing"), "root:other"));
        assert!(!waits_for(&lc("Ready"), "root:gated"));
    }
}
