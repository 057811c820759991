//! `core.kcp.io/v1alpha1` LogicalCluster: one per logical cluster, named `cluster` (an
//! admission plugin enforces that, as kcp's does).

use serde_json::Value;

use super::GROUP;
use crate::registry::strategy::{Definition, Strategy};
use crate::registry::ResourceInfo;
use crate::table::cell::crd_column;
use crate::table::{cell, crd_columns, Column, Row};

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
