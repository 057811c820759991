//! `apis.kcp.io` APIExport: a set of APIResourceSchemas a workspace offers for binding, with
//! the identity that keys their storage and the permissions it claims in consumers.
//!
//! Served at v1alpha1 (`spec.latestResourceSchemas`, claims with `all`/`resourceSelector`)
//! and v1alpha2 (`spec.resources` with storage, claims with verbs), stored at v1alpha2.

use serde_json::{json, Value};

use super::claims::{self, ClaimList};
use super::{
    age_column, check_group, check_resource, claim_group_resource, convert_with, convertible, drop_status_on_create, items, unchanged, CATEGORIES,
    CONDITION_LISTS, GROUP, STORED, V1ALPHA1,
};
use crate::patch::KindLists;
use crate::registry::strategy::{ConversionError, Definition, Strategy};
use crate::registry::ResourceInfo;
use crate::status::FieldError;
use crate::table::cell::crd_column;
use crate::table::{cell, crd_columns, Column, Row};

const DEFINITION: Definition =
    Definition { categories: CATEGORIES, subresources: &["status"], ..Definition::stored(GROUP, STORED, "APIExport", "apiexports", false) };

/// Annotation on a v1alpha1 export with the v1alpha2 resources `latestResourceSchemas` cannot say.
pub const RESOURCE_SCHEMAS_ANNOTATION: &str = "apis.v1alpha2.kcp.io/resource-schemas";

/// The export's permission claims across versions.
const CLAIMS: ClaimList = ClaimList {
    pointer: "/spec/permissionClaims",
    scoped: false,
    v1alpha1_annotation: "apis.v1alpha2.kcp.io/v1alpha1-permission-claims",
    v1alpha2_annotation: "apis.v1alpha2.kcp.io/permission-claims",
};

/// The APIExport strategy.
pub struct APIExport;

impl Strategy for APIExport {
    fn info(&self) -> ResourceInfo {
        DEFINITION.info()
    }

    fn other_versions(&self) -> &'static [&'static str] {
        &[V1ALPHA1]
    }

    fn convert(&self, obj: Value, version: &str) -> Result<Value, ConversionError> {
        convert_with(obj, version, to_v1alpha1, to_v1alpha2)
    }

    fn tracks_generation(&self) -> bool {
        true
    }

    fn prepare(&self, obj: &mut Value, old: Option<&Value>) -> Vec<FieldError> {
        drop_status_on_create(obj, old)
    }

    // Both versions are checked in v1alpha2's words, the ones kcp's rules are written in.
    fn validate(&self, obj: &Value, old: Option<&Value>) -> Vec<FieldError> {
        let errs = convertible(self, obj);
        match self.convert(obj.clone(), STORED) {
            Ok(obj) if errs.is_empty() => validate(&obj, old.and_then(|o| self.convert(o.clone(), STORED).ok()).as_ref()),
            _ => errs,
        }
    }

    fn columns(&self) -> Vec<Column> {
        crd_columns(&[age_column()])
    }

    // kcp's v1alpha1 CRD also printed whether the virtual workspace URLs were ready.
    fn columns_at(&self, version: &str) -> Vec<Column> {
        match version {
            V1ALPHA1 => crd_columns(&[age_column(), crd_column("Ready", "string", "", ".status.conditions[?(@.type==\"VirtualWorkspaceURLsReady\")].status")]),
            _ => self.columns(),
        }
    }

    fn row(&self, obj: &Value, _now: jiff::Timestamp) -> Row {
        cell::name_row(obj)
    }

    fn lists(&self) -> KindLists<'static> {
        CONDITION_LISTS
    }
}

/// `<prefix>.<resource>.<group>` split into the resource and the group ("core" is the core group).
fn parse_schema_name(schema: &str) -> Option<(&str, &str)> {
    let mut parts = schema.splitn(3, '.');
    let (_prefix, resource, group) = (parts.next()?, parts.next()?, parts.next()?);
    Some((resource, if group == "core" { "" } else { group }))
}

/// The v1alpha2 resource a v1alpha1 schema name stands for.
fn resource_of(schema: &str) -> Result<Value, ConversionError> {
    let (name, group) = parse_schema_name(schema).ok_or_else(|| ConversionError {
        version: STORED.into(),
        field: "spec.latestResourceSchemas".into(),
        reason: format!("invalid schema {schema:?}: must have at least 3 dot-separated segments"),
    })?;
    Ok(json!({"name": name, "group": group, "schema": schema, "storage": {"crd": {}}}))
}

fn to_v1alpha1(obj: &mut Value) -> Result<(), ConversionError> {
    let mut latest = Vec::new();
    let mut kept = Vec::new();
    for r in items(obj, "/spec/resources") {
        match r["schema"].as_str() {
            Some(schema) if resource_of(schema).ok().as_ref() == Some(r) => latest.push(json!(schema)),
            _ => kept.push(r.clone()),
        }
    }
    if let Some(spec) = obj.get_mut("spec").and_then(Value::as_object_mut) {
        spec.remove("resources");
        if !latest.is_empty() {
            spec.insert("latestResourceSchemas".into(), json!(latest));
        }
    }
    if !kept.is_empty() {
        let encoded =
            serde_json::to_string(&kept).map_err(|e| ConversionError { version: V1ALPHA1.into(), field: "spec.resources".into(), reason: e.to_string() })?;
        claims::set_annotation(obj, RESOURCE_SCHEMAS_ANNOTATION, encoded);
    }
    CLAIMS.to_v1alpha1(obj)
}

fn to_v1alpha2(obj: &mut Value) -> Result<(), ConversionError> {
    let mut resources = items(obj, "/spec/latestResourceSchemas").iter().map(|s| resource_of(s.as_str().unwrap_or_default())).collect::<Result<Vec<_>, _>>()?;
    resources.extend(claims::take_annotation(obj, RESOURCE_SCHEMAS_ANNOTATION, STORED)?);
    if let Some(spec) = obj.get_mut("spec").and_then(Value::as_object_mut) {
        spec.remove("latestResourceSchemas");
        if !resources.is_empty() {
            spec.insert("resources".into(), json!(resources));
        }
    }
    CLAIMS.to_v1alpha2(obj)
}

/// kcp's rules for a v1alpha2 export.
fn validate(obj: &Value, old: Option<&Value>) -> Vec<FieldError> {
    let mut errs = Vec::new();
    for (i, r) in items(obj, "/spec/resources").iter().enumerate() {
        let field = format!("spec.resources[{i}]");
        let name = r["name"].as_str().unwrap_or_default();
        let group = r["group"].as_str().unwrap_or_default();
        errs.extend(check_group(group, format!("{field}.group")));
        errs.extend(check_resource(name, format!("{field}.name")));
        match r["schema"].as_str() {
            None | Some("") => errs.push(FieldError::required(format!("{field}.schema"), "")),
            Some(schema) => {
                let suffix = format!(".{name}.{}", if group.is_empty() { "core" } else { group });
                if !schema.ends_with(&suffix) || schema.len() == suffix.len() {
                    errs.push(FieldError::invalid(format!("{field}.schema"), schema, format!("must be <prefix>{suffix}")));
                }
            }
        }
        let storage = &r["storage"];
        if storage.get("crd").is_some() == storage.get("virtual").is_some() {
            errs.push(FieldError::invalid(format!("{field}.storage"), "object", "Exactly one of crd or virtual must be set"));
        }
    }
    for (i, c) in items(obj, "/spec/permissionClaims").iter().enumerate() {
        let field = format!("spec.permissionClaims[{i}]");
        errs.extend(claim_group_resource(c, &field));
        if items(c, "/verbs").is_empty() {
            errs.push(FieldError::required(format!("{field}.verbs"), "at least one verb is required"));
        }
    }
    // A changed identity would orphan everything stored under the old one.
    if old.and_then(|o| o.pointer("/spec/identity/secretRef")).is_some() {
        errs.extend(unchanged(obj, old, "/spec/identity/secretRef", "field is immutable once set"));
    }
    errs
}
