//! `apis.kcp.io` APIBinding: a workspace's request to serve the resources of an APIExport,
//! with the permission claims it accepts or rejects.
//!
//! Served at v1alpha1 and v1alpha2, stored at v1alpha2; the two differ only in how claims are
//! scoped (`all`/`resourceSelector` against verbs and a label selector), in the spec and in
//! the status lists the binding controller reports.

use serde_json::Value;

use super::claims::ClaimList;
use super::{
    age_column, claim_group_resource, convert_with, convertible, drop_status_on_create, export_reference, items, unchanged, CATEGORIES, CONDITION_LISTS, GROUP,
    STORED, V1ALPHA1,
};
use crate::patch::KindLists;
use crate::registry::strategy::{ConversionError, Definition, Strategy};
use crate::registry::ResourceInfo;
use crate::status::FieldError;
use crate::table::cell::crd_column;
use crate::table::{cell, crd_columns, Column, Row};

const DEFINITION: Definition =
    Definition { categories: CATEGORIES, subresources: &["status"], ..Definition::stored(GROUP, STORED, "APIBinding", "apibindings", false) };

/// Every claim list of a binding, with the annotations kcp names for each.
const CLAIMS: [ClaimList; 3] = [
    ClaimList {
        pointer: "/spec/permissionClaims",
        scoped: true,
        v1alpha1_annotation: "apis.v1alpha2.kcp.io/v1alpha1-permission-claims",
        v1alpha2_annotation: "apis.v1alpha2.kcp.io/acceptable-permission-claims",
    },
    ClaimList {
        pointer: "/status/exportPermissionClaims",
        scoped: false,
        v1alpha1_annotation: "apis.v1alpha2.kcp.io/v1alpha1-status-export-permission-claims",
        v1alpha2_annotation: "apis.v1alpha2.kcp.io/status-export-permission-claims",
    },
    ClaimList {
        pointer: "/status/appliedPermissionClaims",
        scoped: true,
        v1alpha1_annotation: "apis.v1alpha2.kcp.io/v1alpha1-status-applied-permission-claims",
        v1alpha2_annotation: "apis.v1alpha2.kcp.io/status-applied-permission-claims",
    },
];

/// The APIBinding strategy.
pub struct APIBinding;

impl Strategy for APIBinding {
    fn info(&self) -> ResourceInfo {
        DEFINITION.info()
    }

    fn other_versions(&self) -> &'static [&'static str] {
        &[V1ALPHA1]
    }

    fn convert(&self, obj: Value, version: &str) -> Result<Value, ConversionError> {
        convert_with(obj, version, |o| CLAIMS.iter().try_for_each(|c| c.to_v1alpha1(o)), |o| CLAIMS.iter().try_for_each(|c| c.to_v1alpha2(o)))
    }

    fn tracks_generation(&self) -> bool {
        true
    }

    fn prepare(&self, obj: &mut Value, old: Option<&Value>) -> Vec<FieldError> {
        drop_status_on_create(obj, old)
    }

    // The reference and claims read the same in both versions but for how claims are scoped,
    // which is checked in each version's words.
    fn validate(&self, obj: &Value, old: Option<&Value>) -> Vec<FieldError> {
        let mut errs = convertible(self, obj);
        errs.extend(export_reference(obj.pointer("/spec/reference/export"), "spec.reference.export"));
        errs.extend(unchanged(obj, old, "/spec/reference", "APIExport reference must not be changed"));
        let v1alpha1 = super::version_of(obj) == V1ALPHA1;
        for (i, claim) in items(obj, "/spec/permissionClaims").iter().enumerate() {
            let field = format!("spec.permissionClaims[{i}]");
            errs.extend(claim_group_resource(claim, &field));
            match claim["state"].as_str() {
                Some("Accepted" | "Rejected") => {}
                other => errs.push(FieldError::not_supported(format!("{field}.state"), other.unwrap_or_default(), &["Accepted", "Rejected"])),
            }
            // Ratcheting, as kube's CEL rules do: a claim read at v1alpha1 that a v1alpha2
            // selector scopes says neither, and writing it back unchanged must stay possible.
            let unchanged_claim = old.is_some_and(|o| items(o, "/spec/permissionClaims").contains(claim));
            if v1alpha1 && !unchanged_claim {
                errs.extend(v1alpha1_scope(claim, &field));
            } else if !v1alpha1 {
                errs.extend(selector(claim, &field));
            }
        }
        let was = old.and_then(|o| o.pointer("/status/phase")).and_then(Value::as_str).unwrap_or_default();
        let phase = obj.pointer("/status/phase").and_then(Value::as_str).unwrap_or_default();
        match phase {
            "" if !was.is_empty() => errs.push(FieldError::forbidden("status.phase", format!("cannot transition from {was:?} to \"\""))),
            "" | "Binding" | "Bound" => {}
            other => errs.push(FieldError::not_supported("status.phase", other, &["", "Binding", "Bound"])),
        }
        errs
    }

    fn columns(&self) -> Vec<Column> {
        crd_columns(&[age_column(), crd_column("Ready", "string", "", ".status.conditions[?(@.type==\"Ready\")].status")])
    }

    fn row(&self, obj: &Value, _now: jiff::Timestamp) -> Row {
        cell::name_row(obj)
    }

    fn lists(&self) -> KindLists<'static> {
        CONDITION_LISTS
    }
}

/// A v1alpha2 claim's selector: `matchAll`, or labels and expressions, never both.
fn selector(claim: &Value, field: &str) -> Vec<FieldError> {
    let mut errs = Vec::new();
    if items(claim, "/verbs").is_empty() {
        errs.push(FieldError::required(format!("{field}.verbs"), "at least one verb is required"));
    }
    let Some(sel) = claim.get("selector").filter(|s| s.is_object()) else {
        errs.push(FieldError::required(format!("{field}.selector"), ""));
        return errs;
    };
    let labels = sel.get("matchLabels").and_then(Value::as_object).is_some_and(|m| !m.is_empty());
    let expressions = !items(sel, "/matchExpressions").is_empty();
    if sel["matchAll"] == Value::Bool(true) {
        if labels {
            errs.push(FieldError::invalid(format!("{field}.selector.matchLabels"), sel.clone(), "matchLabels cannot be used with matchAll"));
        }
        if expressions {
            errs.push(FieldError::invalid(format!("{field}.selector.matchExpressions"), sel.clone(), "matchExpressions cannot be used with matchAll"));
        }
    } else if !labels && !expressions {
        errs.push(FieldError::required(format!("{field}.selector"), "either one of matchAll, matchLabels, or matchExpressions must be set"));
    } else {
        errs.extend(crate::validation::validate_label_selector(sel, &format!("{field}.selector")));
    }
    errs
}

/// A v1alpha1 claim is either `all` or lists resource selectors (kcp's CEL rule).
fn v1alpha1_scope(claim: &Value, field: &str) -> Option<FieldError> {
    let all = claim["all"] == Value::Bool(true);
    let selected = !items(claim, "/resourceSelector").is_empty();
    (all == selected).then(|| FieldError::invalid(field.to_string(), "object", "either \"all\" or \"resourceSelector\" must be set"))
}
