//! `core.kcp.io/v1alpha1` Shard: where logical clusters are scheduled, reachable by https URLs.

use serde_json::Value;

use super::GROUP;
use crate::registry::strategy::{Definition, Strategy};
use crate::registry::ResourceInfo;
use crate::status::FieldError;
use crate::table::cell::crd_column;
use crate::table::{cell, crd_columns, Column, Row};
use crate::validation;

const DEFINITION: Definition = Definition { subresources: &["status"], ..Definition::stored(GROUP, "v1alpha1", "Shard", "shards", false) };

/// The Shard strategy.
pub struct Shard;

impl Strategy for Shard {
    fn info(&self) -> ResourceInfo {
        DEFINITION.info()
    }

    fn validate(&self, obj: &Value, _old: Option<&Value>) -> Vec<FieldError> {
        validation::kcp::shard(obj)
    }

    // kcp's CRD for Shard declares these printer columns.
    fn columns(&self) -> Vec<Column> {
        crd_columns(&[
            crd_column("Region", "string", "The region this shard is in", ".metadata.labels.region"),
            crd_column("URL", "string", "Type URL to directly connect to the shard", ".spec.baseURL"),
            crd_column("External URL", "string", "The URL clients use to reach workspaces on this shard", ".spec.externalURL"),
            crd_column("Age", "date", "", ".metadata.creationTimestamp"),
        ])
    }

    fn row(&self, obj: &Value, _now: jiff::Timestamp) -> Row {
        cell::name_row(obj)
    }
}
