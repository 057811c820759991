//! `apis.kcp.io/v1alpha1` APIExportEndpointSlice: where the virtual workspace URLs of one
//! APIExport are published, optionally restricted to the shards of a Partition.

use serde_json::Value;

use super::{age_column, drop_status_on_create, export_reference, unchanged, CATEGORIES, GROUP, V1ALPHA1};
use crate::registry::strategy::{Definition, Strategy};
use crate::registry::ResourceInfo;
use crate::status::FieldError;
use crate::table::cell::crd_column;
use crate::table::{cell, crd_columns, Column, Row};

const DEFINITION: Definition = Definition {
    categories: CATEGORIES,
    subresources: &["status"],
    ..Definition::stored(GROUP, V1ALPHA1, "APIExportEndpointSlice", "apiexportendpointslices", false)
};

/// The APIExportEndpointSlice strategy.
pub struct APIExportEndpointSlice;

impl Strategy for APIExportEndpointSlice {
    fn info(&self) -> ResourceInfo {
        DEFINITION.info()
    }

    fn tracks_generation(&self) -> bool {
        true
    }

    fn prepare(&self, obj: &mut Value, old: Option<&Value>) -> Vec<FieldError> {
        drop_status_on_create(obj, old)
    }

    fn validate(&self, obj: &Value, old: Option<&Value>) -> Vec<FieldError> {
        let mut errs = export_reference(obj.pointer("/spec/export"), "spec.export");
        errs.extend(unchanged(obj, old, "/spec/export", "APIExport reference must not be changed"));
        errs
    }

    fn columns(&self) -> Vec<Column> {
        crd_columns(&[crd_column("Export", "string", "", ".spec.export.name"), crd_column("Partition", "string", "", ".spec.partition"), age_column()])
    }

    fn row(&self, obj: &Value, _now: jiff::Timestamp) -> Row {
        cell::name_row(obj)
    }
}
