//! `tenancy.kcp.io/v1alpha1` Workspace: DNS-label names, since a workspace name is a path
//! segment (`root:org:team`). Scheduling and type checks are the shard's admission plugins.

use serde_json::Value;

use super::GROUP;
use crate::registry::strategy::{Definition, Strategy};
use crate::registry::ResourceInfo;
use crate::table::cell::crd_column;
use crate::table::{cell, crd_columns, Column, Row};
use crate::validation::NameRule;

const DEFINITION: Definition =
    Definition { short_names: &["ws"], subresources: &["status"], ..Definition::stored(GROUP, "v1alpha1", "Workspace", "workspaces", false) };

/// The Workspace strategy.
pub struct Workspace;

impl Strategy for Workspace {
    fn info(&self) -> ResourceInfo {
        DEFINITION.info()
    }

    fn name_rule(&self) -> NameRule {
        NameRule::Label
    }

    // kcp's Workspace columns, evaluated by JSONPath like a CRD's.
    fn columns(&self) -> Vec<Column> {
        crd_columns(&[
            crd_column("Type", "string", "Type of the workspace", ".spec.type.name"),
            crd_column("Phase", "string", "The current phase (e.g. Scheduling, Initializing, Ready)", ".status.phase"),
            crd_column("URL", "string", "URL to access the workspace", ".spec.URL"),
            crd_column("Age", "date", "", ".metadata.creationTimestamp"),
        ])
    }

    fn row(&self, obj: &Value, _now: jiff::Timestamp) -> Row {
        cell::name_row(obj)
    }
}
