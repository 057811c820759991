//! `apis.kcp.io/v1alpha1` APIResourceSchema: an immutable snapshot of a CRD's names, scope and
//! versions that an APIExport serves; a new schema, under a new name prefix, evolves it.

use serde_json::Value;

use super::{age_column, items, CATEGORIES, GROUP, V1ALPHA1};
use crate::field::str_at;
use crate::registry::strategy::{Definition, Strategy};
use crate::registry::ResourceInfo;
use crate::status::FieldError;
use crate::table::{cell, crd_columns, Column, Row};
use crate::validation::{is_dns1123_label, is_dns1123_subdomain};

const DEFINITION: Definition = Definition { categories: CATEGORIES, ..Definition::stored(GROUP, V1ALPHA1, "APIResourceSchema", "apiresourceschemas", false) };

/// The APIResourceSchema strategy.
pub struct APIResourceSchema;

impl Strategy for APIResourceSchema {
    fn info(&self) -> ResourceInfo {
        DEFINITION.info()
    }

    fn tracks_generation(&self) -> bool {
        true
    }

    fn validate(&self, obj: &Value, old: Option<&Value>) -> Vec<FieldError> {
        match old {
            // Bound CRDs are derived from the schema once; a changed spec would not reach them.
            Some(old) if old.get("spec") != obj.get("spec") => vec![FieldError::invalid("spec", "object", "field is immutable")],
            Some(_) => Vec::new(),
            None => validate(obj),
        }
    }

    fn columns(&self) -> Vec<Column> {
        crd_columns(&[age_column()])
    }

    fn row(&self, obj: &Value, _now: jiff::Timestamp) -> Row {
        cell::name_row(obj)
    }
}

/// kcp's pattern for version names (`v1`, `v1alpha1`, `v2beta3`).
fn is_version_name(v: &str) -> bool {
    let Some(rest) = v.strip_prefix('v') else { return false };
    let digits = rest.find(|c: char| !c.is_ascii_digit()).unwrap_or(rest.len());
    let (major, tail) = rest.split_at(digits);
    if major.is_empty() || major.starts_with('0') {
        return false;
    }
    if tail.is_empty() {
        return true;
    }
    let letters = tail.find(|c: char| !c.is_ascii_lowercase()).unwrap_or(tail.len());
    let (word, minor) = tail.split_at(letters);
    !word.is_empty() && !minor.is_empty() && !minor.starts_with('0') && minor.chars().all(|c| c.is_ascii_digit())
}

/// The name, names, scope and versions rules of a new schema, like a CRD's where they apply.
fn validate(obj: &Value) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let group = str_at(obj, &["spec", "group"]);
    let plural = str_at(obj, &["spec", "names", "plural"]);
    let name = str_at(obj, &["metadata", "name"]);
    if !group.is_empty() {
        errs.extend(is_dns1123_subdomain(group).into_iter().map(|m| FieldError::invalid("spec.group", group, m)));
    }
    for (field, value, required) in [("plural", plural, true), ("singular", str_at(obj, &["spec", "names", "singular"]), false)] {
        if value.is_empty() && required {
            errs.push(FieldError::required(format!("spec.names.{field}"), ""));
        }
        if !value.is_empty() {
            errs.extend(is_dns1123_label(value).into_iter().map(|m| FieldError::invalid(format!("spec.names.{field}"), value, m)));
        }
    }
    if str_at(obj, &["spec", "names", "kind"]).is_empty() {
        errs.push(FieldError::required("spec.names.kind", ""));
    }
    let suffix = format!(".{plural}.{}", if group.is_empty() { "core" } else { group });
    if !plural.is_empty() && (!name.ends_with(&suffix) || name.len() == suffix.len()) {
        errs.push(FieldError::invalid("metadata.name", name, format!("must be <prefix>{suffix}, matching spec.names.plural and spec.group")));
    }
    match str_at(obj, &["spec", "scope"]) {
        "Namespaced" | "Cluster" => {}
        other => errs.push(FieldError::not_supported("spec.scope", other, &["Cluster", "Namespaced"])),
    }
    match str_at(obj, &["spec", "nameValidation"]) {
        "" | "DNS1123Subdomain" | "PathSegmentName" => {}
        other => errs.push(FieldError::not_supported("spec.nameValidation", other, &["DNS1123Subdomain", "PathSegmentName"])),
    }
    let versions = items(obj, "/spec/versions");
    if versions.is_empty() {
        errs.push(FieldError::required("spec.versions", "must have at least one version"));
    } else if versions.iter().filter(|v| v["storage"] == Value::Bool(true)).count() != 1 {
        errs.push(FieldError::invalid("spec.versions", versions.len(), "must have exactly one version marked as storage version"));
    }
    if versions.len() > 1 && obj.pointer("/spec/conversion").is_none() {
        errs.push(FieldError::invalid("spec", "object", "Conversion must be specified when multiple versions exist"));
    }
    for (i, v) in versions.iter().enumerate() {
        let field = format!("spec.versions[{i}]");
        let version = v["name"].as_str().unwrap_or_default();
        if !is_version_name(version) {
            errs.push(FieldError::invalid(format!("{field}.name"), version, "must match ^v[1-9][0-9]*([a-z]+[1-9][0-9]*)?$"));
        } else if versions[..i].iter().any(|p| p["name"] == v["name"]) {
            errs.push(FieldError::invalid(format!("{field}.name"), version, "must be unique"));
        }
        match v.get("schema") {
            Some(schema) if schema.is_object() => errs.extend(crate::schema::validate_structural(schema, &format!("{field}.schema"))),
            _ => errs.push(FieldError::required(format!("{field}.schema"), "schemas are required")),
        }
        for (j, c) in items(v, "/additionalPrinterColumns").iter().enumerate() {
            for key in ["name", "type", "jsonPath"] {
                if c[key].as_str().unwrap_or_default().is_empty() {
                    errs.push(FieldError::required(format!("{field}.additionalPrinterColumns[{j}].{key}"), ""));
                }
            }
        }
    }
    errs
}
