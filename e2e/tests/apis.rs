//! apis.kcp.io: publishing and binding APIs with the real kubectl — the four kinds, their
//! printer columns, APIExport/APIBinding at both served versions without losing a field, and
//! the immutability rules.

use serde_json::{json, Value};

use e2e::{Install, Run};

/// A schema of `widgets.example.io`, shared with the identity tests.
pub(crate) const SCHEMA: &str = r#"
apiVersion: apis.kcp.io/v1alpha1
kind: APIResourceSchema
metadata:
  name: today.widgets.example.io
spec:
  group: example.io
  names: {plural: widgets, singular: widget, kind: Widget, listKind: WidgetList}
  scope: Namespaced
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      type: object
      properties:
        spec: {type: object, properties: {size: {type: integer}}}
    additionalPrinterColumns:
    - {name: Size, type: integer, jsonPath: .spec.size}
"#;

const EXPORT: &str = r#"
apiVersion: apis.kcp.io/v1alpha2
kind: APIExport
metadata:
  name: widgets
spec:
  resources:
  - {name: widgets, group: example.io, schema: today.widgets.example.io, storage: {crd: {}}}
  identity:
    secretRef: {namespace: kcp-system, name: widgets-identity}
  maximalPermissionPolicy:
    local: {}
  permissionClaims:
  - {group: "", resource: configmaps, verbs: [get, list]}
  - {group: "", resource: secrets, verbs: ["*"]}
"#;

const BINDING: &str = r#"
apiVersion: apis.kcp.io/v1alpha2
kind: APIBinding
metadata:
  name: widgets
spec:
  reference:
    export: {path: root, name: widgets}
  permissionClaims:
  - {group: "", resource: configmaps, verbs: [get, list], selector: {matchLabels: {team: a}}, state: Accepted}
  - {group: "", resource: secrets, verbs: ["*"], selector: {matchAll: true}, state: Rejected}
"#;

const SLICE: &str = r#"
apiVersion: apis.kcp.io/v1alpha1
kind: APIExportEndpointSlice
metadata:
  name: widgets
spec:
  export: {path: root, name: widgets}
"#;

fn create(kcp: &Install, yaml: &str) {
    kcp.kubectl_stdin(&["create", "-f", "-"], Some(yaml)).ok();
}

/// `kubectl get <args> -o json`, parsed.
pub(crate) fn get_json(kcp: &Install, args: &[&str]) -> Value {
    let mut full = vec!["get"];
    full.extend_from_slice(args);
    full.extend_from_slice(&["-o", "json"]);
    kcp.kubectl(&full).json()
}

/// The header line of `kubectl get <resource>`.
fn header(kcp: &Install, resource: &str) -> Vec<String> {
    let run = kcp.kubectl(&["get", resource]);
    run.ok().lines().next().unwrap_or_default().split_whitespace().map(String::from).collect()
}

#[track_caller]
fn invalid(run: Run, message: &str) {
    let err = run.fails();
    assert!(err.contains("is invalid") && err.contains(message), "{err}");
}

#[test]
fn the_four_kinds_are_served_and_printed_like_kcp() {
    let kcp = Install::start();
    create(&kcp, SCHEMA);
    // Created through apply too (before the export, whose default slice it then is), and
    // applied again unchanged.
    kcp.kubectl_stdin(&["apply", "-f", "-"], Some(SLICE)).ok();
    assert!(kcp.kubectl_stdin(&["apply", "-f", "-"], Some(SLICE)).ok().contains("unchanged"));
    create(&kcp, EXPORT);
    create(&kcp, BINDING);

    assert_eq!(header(&kcp, "apiresourceschemas"), ["NAME", "AGE"]);
    assert_eq!(header(&kcp, "apiexports"), ["NAME", "AGE"]);
    assert_eq!(header(&kcp, "apiexports.v1alpha1.apis.kcp.io"), ["NAME", "AGE", "READY"]);
    assert_eq!(header(&kcp, "apibindings"), ["NAME", "AGE", "READY"]);
    assert_eq!(header(&kcp, "apiexportendpointslices"), ["NAME", "EXPORT", "PARTITION", "AGE"]);
    let row = kcp.kubectl(&["get", "apiexportendpointslices", "widgets", "--no-headers"]);
    assert_eq!(row.ok().split_whitespace().take(2).collect::<Vec<_>>(), ["widgets", "widgets"]);
    let all = kcp.kubectl(&["get", "kcp", "-o", "name"]);
    for name in ["apiexport.apis.kcp.io/widgets", "apibinding.apis.kcp.io/widgets", "apiresourceschema.apis.kcp.io/today.widgets.example.io"] {
        assert!(all.ok().contains(name), "{}", all.stdout);
    }

    let mut names: Vec<String> = kcp.kubectl(&["api-resources", "--api-group=apis.kcp.io", "-o", "name"]).ok().lines().map(String::from).collect();
    names.sort();
    assert_eq!(names, ["apibindings.apis.kcp.io", "apiexportendpointslices.apis.kcp.io", "apiexports.apis.kcp.io", "apiresourceschemas.apis.kcp.io"]);
    let groups = kcp.kubectl(&["get", "--raw", "/clusters/root/apis/apis.kcp.io"]).json();
    assert_eq!(groups["preferredVersion"]["version"], "v1alpha2");
    assert_eq!(get_json(&kcp, &["apiexport", "widgets"])["apiVersion"], "apis.kcp.io/v1alpha2");

    let explained = kcp.kubectl(&["explain", "apiexport.spec.resources"]);
    assert!(explained.ok().contains("schema") && explained.stdout.contains("storage"), "{}", explained.stdout);
    let old = kcp.kubectl(&["explain", "--api-version=apis.kcp.io/v1alpha1", "apiexport.spec"]);
    assert!(old.ok().contains("latestResourceSchemas"), "{}", old.stdout);
    // Unknown fields are pruned by the kind's schema.
    let mut extra = get_json(&kcp, &["apiexportendpointslice", "widgets"]);
    extra["spec"]["bogus"] = json!(1);
    kcp.kubectl_stdin(&["replace", "--validate=false", "-f", "-"], Some(&extra.to_string())).ok();
    assert!(get_json(&kcp, &["apiexportendpointslice", "widgets"])["spec"].get("bogus").is_none());
}

#[test]
fn exports_and_bindings_round_trip_through_v1alpha1() {
    let kcp = Install::start();
    create(&kcp, SCHEMA);
    create(&kcp, EXPORT);
    create(&kcp, BINDING);

    let mut v1 = get_json(&kcp, &["apiexports.v1alpha1.apis.kcp.io", "widgets"]);
    assert_eq!(v1["apiVersion"], "apis.kcp.io/v1alpha1");
    assert_eq!(v1["spec"]["latestResourceSchemas"], json!(["today.widgets.example.io"]));
    assert_eq!(v1["spec"]["permissionClaims"][0], json!({"group": "", "resource": "configmaps"}));
    assert!(v1["metadata"]["annotations"]["apis.v1alpha2.kcp.io/permission-claims"].is_string(), "{v1}");
    // Written back at v1alpha1 with a new schema and a label.
    v1["spec"]["latestResourceSchemas"] = json!(["today.widgets.example.io", "today.gadgets.example.io"]);
    v1["metadata"]["labels"] = json!({"edited": "v1alpha1"});
    kcp.kubectl_stdin(&["replace", "-f", "-"], Some(&v1.to_string())).ok();

    let v2 = get_json(&kcp, &["apiexports.v1alpha2.apis.kcp.io", "widgets"]);
    assert_eq!(v2["apiVersion"], "apis.kcp.io/v1alpha2");
    assert_eq!(
        v2["spec"]["resources"],
        json!([
            {"name": "widgets", "group": "example.io", "schema": "today.widgets.example.io", "storage": {"crd": {}}},
            {"name": "gadgets", "group": "example.io", "schema": "today.gadgets.example.io", "storage": {"crd": {}}},
        ])
    );
    assert_eq!(
        v2["spec"]["permissionClaims"],
        json!([{"group": "", "resource": "configmaps", "verbs": ["get", "list"]}, {"group": "", "resource": "secrets", "verbs": ["*"]}])
    );
    assert_eq!(v2["spec"]["identity"], json!({"secretRef": {"namespace": "kcp-system", "name": "widgets-identity"}}));
    assert_eq!(v2["spec"]["maximalPermissionPolicy"], json!({"local": {}}));
    assert_eq!(v2["metadata"]["labels"], json!({"edited": "v1alpha1"}));
    let annotations = v2["metadata"]["annotations"].as_object().cloned().unwrap_or_default();
    assert!(annotations.keys().all(|k| !k.starts_with("apis.v1alpha2.kcp.io/")), "{annotations:?}");

    let mut b1 = get_json(&kcp, &["apibindings.v1alpha1.apis.kcp.io", "widgets"]);
    assert_eq!(b1["spec"]["permissionClaims"][1], json!({"group": "", "resource": "secrets", "all": true, "state": "Rejected"}));
    b1["spec"]["permissionClaims"][1]["state"] = json!("Accepted");
    kcp.kubectl_stdin(&["replace", "-f", "-"], Some(&b1.to_string())).ok();
    let b2 = get_json(&kcp, &["apibindings.v1alpha2.apis.kcp.io", "widgets"]);
    assert_eq!(
        b2["spec"]["permissionClaims"],
        json!([
            {"group": "", "resource": "configmaps", "verbs": ["get", "list"], "selector": {"matchLabels": {"team": "a"}}, "state": "Accepted"},
            {"group": "", "resource": "secrets", "verbs": ["*"], "selector": {"matchAll": true}, "state": "Accepted"},
        ])
    );
    assert_eq!(b2["spec"]["reference"], json!({"export": {"path": "root", "name": "widgets"}}));

    // A v1alpha1 object created at v1alpha1 reads back the same after storage at v1alpha2 (it
    // names its identity, which the controller would otherwise add).
    let legacy = json!({"apiVersion": "apis.kcp.io/v1alpha1", "kind": "APIExport", "metadata": {"name": "legacy"},
        "spec": {"latestResourceSchemas": ["today.widgets.example.io"], "identity": {"secretRef": {"namespace": "kcp-system", "name": "legacy"}},
                 "permissionClaims": [{"group": "", "resource": "configmaps", "resourceSelector": [{"namespace": "default", "name": "cm"}]}]}});
    create(&kcp, &legacy.to_string());
    let read = get_json(&kcp, &["apiexports.v1alpha1.apis.kcp.io", "legacy"]);
    assert_eq!(read["spec"], legacy["spec"]);
    // Server-side apply at v1alpha1 stores at v1alpha2 as well.
    let applied = r#"{"apiVersion": "apis.kcp.io/v1alpha1", "kind": "APIBinding", "metadata": {"name": "legacy"},
        "spec": {"reference": {"export": {"name": "legacy"}}, "permissionClaims": [{"group": "", "resource": "configmaps", "all": true, "state": "Accepted"}]}}"#;
    kcp.kubectl_stdin(&["apply", "--server-side", "-f", "-"], Some(applied)).ok();
    let stored = get_json(&kcp, &["apibindings.v1alpha2.apis.kcp.io", "legacy"]);
    assert_eq!(
        stored["spec"]["permissionClaims"],
        json!([{"group": "", "resource": "configmaps", "verbs": ["*"], "selector": {"matchAll": true}, "state": "Accepted"}])
    );
}

#[test]
fn specs_that_must_not_change_are_refused() {
    let kcp = Install::start();
    create(&kcp, SCHEMA);
    // Before the export, whose controller would otherwise create its default slice.
    create(&kcp, SLICE);
    create(&kcp, EXPORT);
    create(&kcp, BINDING);
    let merge = |resource: &str, patch: &str| kcp.kubectl(&["patch", resource, "--type=merge", "-p", patch]);
    invalid(merge("apiresourceschema/today.widgets.example.io", r#"{"spec":{"scope":"Cluster"}}"#), "spec: Invalid value: \"object\": field is immutable");
    merge("apiresourceschema/today.widgets.example.io", r#"{"metadata":{"labels":{"a":"b"}}}"#).ok();
    invalid(merge("apibinding/widgets", r#"{"spec":{"reference":{"export":{"name":"gadgets"}}}}"#), "APIExport reference must not be changed");
    invalid(merge("apiexportendpointslice/widgets", r#"{"spec":{"export":{"path":"root:org"}}}"#), "APIExport reference must not be changed");
    invalid(merge("apiexport/widgets", r#"{"spec":{"identity":{"secretRef":{"name":"other"}}}}"#), "spec.identity.secretRef");

    let misnamed = SCHEMA.replace("today.widgets.example.io", "today.gadgets.example.io");
    invalid(kcp.kubectl_stdin(&["create", "-f", "-"], Some(&misnamed)), "metadata.name");
    let wrong_schema =
        EXPORT.replace("name: widgets\nspec", "name: other\nspec").replace("schema: today.widgets.example.io", "schema: today.gadgets.example.io");
    invalid(kcp.kubectl_stdin(&["create", "-f", "-"], Some(&wrong_schema)), "spec.resources[0].schema");
    // Stored, an annotation v1alpha1 reads could not parse would break every such read.
    let unreadable = EXPORT.replace("name: widgets\nspec", "name: junk\n  annotations: {apis.v1alpha2.kcp.io/v1alpha1-permission-claims: \"{\"}\nspec");
    invalid(kcp.kubectl_stdin(&["create", "-f", "-"], Some(&unreadable)), "must hold a JSON list");
}
