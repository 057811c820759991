use serde_json::{json, Value};

use super::*;
use crate::registry::builtin::{builtins, find};
use crate::registry::Strategy;

fn export_v2() -> Value {
    json!({
        "apiVersion": "apis.kcp.io/v1alpha2", "kind": "APIExport",
        "metadata": {"name": "widgets", "annotations": {"owner": "team-a"}},
        "spec": {
            "resources": [
                {"name": "widgets", "group": "example.io", "schema": "v1.widgets.example.io", "storage": {"crd": {}}},
                {"name": "configmaps", "group": "", "schema": "v2.configmaps.core", "storage": {"crd": {}}},
                {"name": "things", "group": "example.io", "schema": "v1.things.example.io",
                 "storage": {"virtual": {"reference": {"apiGroup": "cache.kcp.io", "kind": "X", "name": "x"}, "identityHash": "abc"}}},
            ],
            "identity": {"secretRef": {"namespace": "kcp-system", "name": "widgets"}},
            "maximalPermissionPolicy": {"local": {}},
            "permissionClaims": [
                {"group": "", "resource": "secrets", "verbs": ["*"]},
                {"group": "", "resource": "configmaps", "verbs": ["get", "list"], "identityHash": ""},
                {"group": "", "resource": "events", "verbs": ["*"], "defaultSelector": {"matchLabels": {"a": "b"}}},
            ],
        },
        "status": {"identityHash": "h", "conditions": [{"type": "IdentityValid", "status": "True"}], "virtualWorkspaces": [{"url": "https://x"}]},
    })
}

fn export_v1() -> Value {
    json!({
        "apiVersion": "apis.kcp.io/v1alpha1", "kind": "APIExport",
        "metadata": {"name": "widgets"},
        "spec": {
            "latestResourceSchemas": ["today.widgets.example.io", "v1.configmaps.core"],
            "permissionClaims": [
                {"group": "", "resource": "secrets", "all": true},
                {"group": "", "resource": "configmaps", "resourceSelector": [{"namespace": "default", "name": "cm"}]},
            ],
        },
    })
}

fn binding_v2() -> Value {
    json!({
        "apiVersion": "apis.kcp.io/v1alpha2", "kind": "APIBinding",
        "metadata": {"name": "widgets"},
        "spec": {
            "reference": {"export": {"path": "root:provider", "name": "widgets"}},
            "permissionClaims": [
                {"group": "", "resource": "secrets", "verbs": ["*"], "selector": {"matchAll": true}, "state": "Accepted"},
                {"group": "", "resource": "configmaps", "verbs": ["get"], "selector": {"matchLabels": {"team": "a"}}, "state": "Rejected"},
            ],
        },
        "status": {
            "phase": "Bound", "apiExportClusterName": "abc",
            "boundResources": [{"group": "example.io", "resource": "widgets", "schema": {"name": "v1.widgets.example.io", "UID": "u", "identityHash": "h"}}],
            "exportPermissionClaims": [{"group": "", "resource": "configmaps", "verbs": ["get"]}, {"group": "", "resource": "secrets", "verbs": ["*"]}],
            "appliedPermissionClaims": [{"group": "", "resource": "configmaps", "verbs": ["get"], "selector": {"matchExpressions": [{"key": "k", "operator": "Exists"}]}}],
        },
    })
}

fn binding_v1() -> Value {
    json!({
        "apiVersion": "apis.kcp.io/v1alpha1", "kind": "APIBinding",
        "metadata": {"name": "widgets"},
        "spec": {
            "reference": {"export": {"name": "widgets"}},
            "permissionClaims": [
                {"group": "", "resource": "secrets", "all": true, "state": "Accepted"},
                {"group": "", "resource": "configmaps", "resourceSelector": [{"name": "cm"}], "state": "Accepted"},
            ],
        },
        "status": {"exportPermissionClaims": [{"group": "", "resource": "secrets", "all": true}],
                   "appliedPermissionClaims": [{"group": "", "resource": "configmaps", "resourceSelector": [{"name": "cm"}]}]},
    })
}

fn there_and_back(s: &dyn Strategy, obj: &Value, via: &str) -> (Value, Value) {
    let home = version_of(obj).to_string();
    let converted = s.convert(obj.clone(), via).expect("converts");
    (converted.clone(), s.convert(converted, &home).expect("converts back"))
}

#[test]
fn export_v1alpha2_survives_v1alpha1() {
    let (v1, back) = there_and_back(&APIExport, &export_v2(), "v1alpha1");
    assert_eq!(v1["apiVersion"], "apis.kcp.io/v1alpha1");
    assert_eq!(v1["spec"]["latestResourceSchemas"], json!(["v1.widgets.example.io", "v2.configmaps.core"]));
    assert!(v1["spec"].get("resources").is_none());
    let kept: Value = serde_json::from_str(v1["metadata"]["annotations"][apiexport::RESOURCE_SCHEMAS_ANNOTATION].as_str().expect("annotation")).expect("json");
    assert_eq!(kept[0]["name"], "things");
    assert_eq!(v1["spec"]["permissionClaims"][1], json!({"group": "", "resource": "configmaps", "identityHash": ""}));
    assert_eq!(v1["status"]["virtualWorkspaces"], json!([{"url": "https://x"}]));
    // The virtual resource comes back after the CRD-stored ones, as in kcp.
    let mut want = export_v2();
    let resources = want["spec"]["resources"].as_array_mut().expect("resources");
    let virt = resources.remove(2);
    resources.push(virt);
    assert_eq!(back, want);
}

#[test]
fn export_v1alpha1_survives_v1alpha2() {
    let (v2, back) = there_and_back(&APIExport, &export_v1(), "v1alpha2");
    assert_eq!(
        v2["spec"]["resources"],
        json!([
            {"name": "widgets", "group": "example.io", "schema": "today.widgets.example.io", "storage": {"crd": {}}},
            {"name": "configmaps", "group": "", "schema": "v1.configmaps.core", "storage": {"crd": {}}},
        ])
    );
    assert_eq!(v2["spec"]["permissionClaims"][0]["verbs"], json!(["*"]));
    assert!(v2["metadata"]["annotations"]["apis.v1alpha2.kcp.io/v1alpha1-permission-claims"].is_string());
    assert!(APIExport.validate(&v2, None).is_empty(), "{:?}", APIExport.validate(&v2, None));
    assert_eq!(back, export_v1());
}

#[test]
fn export_v1alpha1_edit_keeps_v1alpha2_fields() {
    let mut v1 = APIExport.convert(export_v2(), "v1alpha1").expect("converts");
    v1["metadata"]["labels"] = json!({"edited": "yes"});
    let v2 = APIExport.convert(v1, "v1alpha2").expect("converts");
    assert_eq!(v2["spec"]["permissionClaims"][1]["verbs"], json!(["get", "list"]));
    assert_eq!(v2["spec"]["permissionClaims"][2]["defaultSelector"], json!({"matchLabels": {"a": "b"}}));
    assert_eq!(v2["metadata"]["labels"]["edited"], "yes");
    assert_eq!(v2["metadata"]["annotations"], json!({"owner": "team-a"}));
}

#[test]
fn export_bad_schema_names() {
    let bad = json!({"apiVersion": "apis.kcp.io/v1alpha1", "spec": {"latestResourceSchemas": ["widgets"]}});
    assert!(APIExport.convert(bad.clone(), "v1alpha2").is_err());
    assert_eq!(APIExport.validate(&bad, None)[0].field, "spec.latestResourceSchemas");
    let mut v2 = export_v2();
    v2["spec"]["resources"][0]["schema"] = json!("v1.gadgets.example.io");
    v2["spec"]["resources"][1]["storage"] = json!({});
    let errs: Vec<String> = APIExport.validate(&v2, None).iter().map(|e| e.field.clone()).collect();
    assert_eq!(errs, ["spec.resources[0].schema", "spec.resources[1].storage"]);
}

#[test]
fn export_identity_is_immutable_once_set() {
    let old = export_v2();
    let mut new = old.clone();
    new["spec"]["identity"]["secretRef"]["name"] = json!("other");
    assert_eq!(APIExport.validate(&new, Some(&old))[0].field, "spec.identity.secretRef");
    let mut unset = old.clone();
    unset["spec"].as_object_mut().expect("spec").remove("identity");
    assert!(APIExport.validate(&old, Some(&unset)).is_empty());
}

#[test]
fn binding_v1alpha2_survives_v1alpha1() {
    let (v1, back) = there_and_back(&APIBinding, &binding_v2(), "v1alpha1");
    assert_eq!(v1["spec"]["permissionClaims"][0], json!({"group": "", "resource": "secrets", "state": "Accepted", "all": true}));
    assert_eq!(v1["spec"]["permissionClaims"][1], json!({"group": "", "resource": "configmaps", "state": "Rejected"}));
    let annotations = v1["metadata"]["annotations"].as_object().expect("annotations");
    for key in [
        "apis.v1alpha2.kcp.io/acceptable-permission-claims",
        "apis.v1alpha2.kcp.io/status-export-permission-claims",
        "apis.v1alpha2.kcp.io/status-applied-permission-claims",
    ] {
        assert!(annotations.contains_key(key), "{key}");
    }
    assert_eq!(back, binding_v2());
}

#[test]
fn binding_v1alpha1_survives_v1alpha2() {
    let (v2, back) = there_and_back(&APIBinding, &binding_v1(), "v1alpha2");
    assert_eq!(
        v2["spec"]["permissionClaims"][0],
        json!({"group": "", "resource": "secrets", "state": "Accepted", "verbs": ["*"], "selector": {"matchAll": true}})
    );
    assert!(APIBinding.validate(&v2, None).is_empty(), "{:?}", APIBinding.validate(&v2, None));
    assert_eq!(back, binding_v1());
}

#[test]
fn binding_rules() {
    let old = binding_v2();
    let mut moved = old.clone();
    moved["spec"]["reference"]["export"]["name"] = json!("gadgets");
    let errs = APIBinding.validate(&moved, Some(&old));
    assert_eq!(errs.len(), 1);
    assert_eq!(errs[0].to_string(), "spec.reference: Invalid value: \"object\": APIExport reference must not be changed");
    let mut bad = binding_v2();
    bad["spec"]["reference"]["export"] = json!({"path": "Root"});
    bad["spec"]["permissionClaims"][0]["state"] = json!("Maybe");
    bad["spec"]["permissionClaims"][1]["selector"] = json!({"matchAll": true, "matchLabels": {"a": "b"}});
    let fields: Vec<String> = APIBinding.validate(&bad, None).iter().map(|e| e.field.clone()).collect();
    assert_eq!(
        fields,
        ["spec.reference.export.name", "spec.reference.export.path", "spec.permissionClaims[0].state", "spec.permissionClaims[1].selector.matchLabels"]
    );
    let mut unbound = old.clone();
    unbound["status"]["phase"] = json!("");
    assert_eq!(APIBinding.validate(&unbound, Some(&old))[0].field, "status.phase");
    let mut neither = binding_v1();
    neither["spec"]["permissionClaims"][0]["all"] = json!(false);
    assert_eq!(APIBinding.validate(&neither, None)[0].field, "spec.permissionClaims[0]");
    let mut junk = binding_v2();
    junk["metadata"]["annotations"] = json!({"apis.v1alpha2.kcp.io/v1alpha1-permission-claims": "{"});
    assert_eq!(APIBinding.validate(&junk, None)[0].field, "metadata.annotations[apis.v1alpha2.kcp.io/v1alpha1-permission-claims]");
    let read = APIBinding.convert(binding_v2(), "v1alpha1").expect("converts");
    assert!(APIBinding.validate(&read, Some(&read)).is_empty());
}

fn schema() -> Value {
    json!({
        "apiVersion": "apis.kcp.io/v1alpha1", "kind": "APIResourceSchema",
        "metadata": {"name": "today.widgets.example.io"},
        "spec": {"group": "example.io", "names": {"plural": "widgets", "singular": "widget", "kind": "Widget"}, "scope": "Namespaced",
                 "versions": [{"name": "v1", "served": true, "storage": true, "schema": {"type": "object", "properties": {"spec": {"type": "object"}}}}]},
    })
}

#[test]
fn resource_schema_rules() {
    assert!(APIResourceSchema.validate(&schema(), None).is_empty(), "{:?}", APIResourceSchema.validate(&schema(), None));
    let mut core = schema();
    core["metadata"]["name"] = json!("v1.widgets.core");
    core["spec"]["group"] = json!("");
    assert!(APIResourceSchema.validate(&core, None).is_empty());
    for (pointer, value, field) in [
        ("/metadata/name", json!("widgets.example.io"), "metadata.name"),
        ("/metadata/name", json!("today.gadgets.example.io"), "metadata.name"),
        ("/spec/scope", json!("Global"), "spec.scope"),
        ("/spec/versions/0/storage", json!(false), "spec.versions"),
        ("/spec/versions/0/name", json!("version1"), "spec.versions[0].name"),
        ("/spec/names/kind", json!(""), "spec.names.kind"),
    ] {
        let mut bad = schema();
        *bad.pointer_mut(pointer).expect("pointer") = value;
        let errs = APIResourceSchema.validate(&bad, None);
        assert_eq!(errs.first().map(|e| e.field.as_str()), Some(field), "{pointer}: {errs:?}");
    }
    let mut changed = schema();
    changed["spec"]["scope"] = json!("Cluster");
    assert_eq!(APIResourceSchema.validate(&changed, Some(&schema()))[0].to_string(), "spec: Invalid value: \"object\": field is immutable");
    let mut relabelled = schema();
    relabelled["metadata"]["labels"] = json!({"a": "b"});
    assert!(APIResourceSchema.validate(&relabelled, Some(&schema())).is_empty());
}

#[test]
fn endpoint_slice_export_is_immutable() {
    let old = json!({"spec": {"export": {"path": "root:org", "name": "widgets"}}});
    assert!(APIExportEndpointSlice.validate(&old, None).is_empty());
    let moved = json!({"spec": {"export": {"path": "root:org", "name": "gadgets"}, "partition": "p"}});
    assert_eq!(APIExportEndpointSlice.validate(&moved, Some(&old))[0].field, "spec.export");
    assert_eq!(APIExportEndpointSlice.validate(&json!({"spec": {}}), None)[0].field, "spec.export");
}

#[test]
fn served_at_both_versions_v1alpha2_first() {
    let versions: Vec<&str> = builtins().iter().filter(|b| b.info.plural == "apiexports").map(|b| b.info.version.as_str()).collect();
    assert_eq!(versions, ["v1alpha2", "v1alpha1"]);
    assert_eq!(find(GROUP, "v1alpha1", "apibindings").and_then(|b| b.converted_from.as_deref()), Some("v1alpha2"));
    assert!(find(GROUP, "v1alpha2", "apiresourceschemas").is_none());
    let schema = crate::openapi::builtin_schema(GROUP, "v1alpha2", "APIExport").expect("schema");
    assert!(schema["properties"]["spec"]["properties"]["resources"]["items"]["properties"]["storage"].is_object());
}
