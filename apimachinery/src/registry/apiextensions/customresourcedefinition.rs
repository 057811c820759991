//! `apiextensions.k8s.io/v1` CustomResourceDefinition: names that match the spec, one storage
//! version, structural schemas, and a cleanup finalizer from the start.

use serde_json::{json, Value};

use crate::patch::{KindLists, ListRule, ListType};
use crate::registry::builtin::is_builtin_group;
use crate::registry::crd::CLEANUP_FINALIZER;
use crate::registry::strategy::{Definition, Strategy};
use crate::registry::ResourceInfo;
use crate::status::FieldError;

const DEFINITION: Definition = Definition {
    short_names: &["crd", "crds"],
    subresources: &["status"],
    ..Definition::stored("apiextensions.k8s.io", "v1", "CustomResourceDefinition", "customresourcedefinitions", false)
};

/// The CustomResourceDefinition strategy.
pub struct CustomResourceDefinition;

impl Strategy for CustomResourceDefinition {
    fn info(&self) -> ResourceInfo {
        DEFINITION.info()
    }

    fn tracks_generation(&self) -> bool {
        true
    }

    fn initialize(&self, obj: &mut Value) {
        let mut finalizers: Vec<&str> = obj.pointer("/metadata/finalizers").and_then(Value::as_array).into_iter().flatten().filter_map(Value::as_str).collect();
        if !finalizers.contains(&CLEANUP_FINALIZER) {
            finalizers.push(CLEANUP_FINALIZER);
        }
        obj["metadata"]["finalizers"] = json!(finalizers);
        obj["status"] = json!({"conditions": [], "acceptedNames": {"kind": "", "plural": ""}, "storedVersions": []});
    }

    fn validate(&self, obj: &Value, _old: Option<&Value>) -> Vec<FieldError> {
        validate_crd(obj)
    }

    // Conditions are atomic for SMP but keyed by `type` for SSA, as upstream tags them.
    fn lists(&self) -> KindLists<'static> {
        &[("status.conditions", ListRule { smp: ListType::Atomic, ssa: ListType::Map("type") })]
    }
}

fn str_of<'a>(v: &'a Value, pointer: &str) -> &'a str {
    v.pointer(pointer).and_then(Value::as_str).unwrap_or_default()
}

/// The name is `<plural>.<group>`, one storage version, structural schemas.
fn validate_crd(crd: &Value) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let group = str_of(crd, "/spec/group");
    let plural = str_of(crd, "/spec/names/plural");
    let name = str_of(crd, "/metadata/name");
    if group.is_empty() {
        errs.push(FieldError::required("spec.group", ""));
    } else if !group.contains('.') {
        errs.push(FieldError::invalid("spec.group", group, "should be a domain with at least one dot"));
    } else if is_builtin_group(group) {
        errs.push(FieldError::invalid("spec.group", group, "the group is reserved for built-in resources"));
    }
    if plural.is_empty() {
        errs.push(FieldError::required("spec.names.plural", ""));
    }
    if str_of(crd, "/spec/names/kind").is_empty() {
        errs.push(FieldError::required("spec.names.kind", ""));
    }
    if !group.is_empty() && !plural.is_empty() && name != format!("{plural}.{group}") {
        errs.push(FieldError::invalid("metadata.name", name, "must be spec.names.plural+\".\"+spec.group"));
    }
    match str_of(crd, "/spec/scope") {
        "Namespaced" | "Cluster" => {}
        other => errs.push(FieldError::not_supported("spec.scope", other, &["Cluster", "Namespaced"])),
    }
    let versions = crd.pointer("/spec/versions").and_then(Value::as_array).cloned().unwrap_or_default();
    if versions.is_empty() {
        errs.push(FieldError::invalid("spec.versions", json!([]), "must have exactly one version marked as storage version"));
    }
    let storage = versions.iter().filter(|v| v["storage"] == json!(true)).count();
    if !versions.is_empty() && storage != 1 {
        errs.push(FieldError::invalid("spec.versions", json!(versions.len()), "must have exactly one version marked as storage version"));
    }
    for (i, v) in versions.iter().enumerate() {
        if let Some(schema) = v.pointer("/schema/openAPIV3Schema") {
            errs.extend(crate::schema::validate_structural(schema, &format!("spec.versions[{i}].schema.openAPIV3Schema")));
        } else {
            errs.push(FieldError::required(format!("spec.versions[{i}].schema.openAPIV3Schema"), "schemas are required"));
        }
    }
    errs
}
