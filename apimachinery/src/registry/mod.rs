//! What a logical cluster serves: one [`ResourceInfo`] per resource, built in or from a CRD.
//!
//! Discovery, OpenAPI, Table printing, request routing and validation all read these
//! descriptions, so adding a resource means adding one entry here and nothing else.

use serde_json::Value;

/// A printer column, as `additionalPrinterColumns` or a built-in type's `kubectl get` output.
#[derive(Debug, Clone, PartialEq)]
pub struct Column {
    pub name: String,
    /// `string`, `integer`, `number`, `boolean` or `date`.
    pub type_: String,
    pub format: String,
    pub description: String,
    pub priority: i32,
    /// JSONPath into the object (`.spec.size`); empty for computed built-in columns.
    pub json_path: String,
}

/// The description of one served resource in one version.
#[derive(Debug, Clone)]
pub struct ResourceInfo {
    pub group: String,
    pub version: String,
    pub kind: String,
    pub list_kind: String,
    /// Plural resource name used in URLs.
    pub plural: String,
    pub singular: String,
    pub namespaced: bool,
    pub short_names: Vec<String>,
    pub categories: Vec<String>,
    pub verbs: Vec<String>,
    /// Subresources served (`status`).
    pub subresources: Vec<String>,
    /// Printer columns after `Name`; empty means the generic `Created At`.
    pub columns: Vec<Column>,
    /// OpenAPI v3 schema of the kind (CRDs); built-ins take theirs from k8s-openapi.
    pub schema: Option<Value>,
    /// True for CRD-backed resources: no strategic merge patch, schema-driven validation.
    pub custom: bool,
}

impl ResourceInfo {
    /// `group/version`, or `version` for the core group.
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.clone()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }
}

pub mod builtin;
pub mod crd;
