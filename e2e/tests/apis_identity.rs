//! APIExport identities, default endpoint slices and the schema deletion guard, with the real
//! kubectl: the shard's apiexport controller and its admission.

use std::time::Duration;

use base64::Engine;
use serde_json::Value;

use super::apis::{get_json, SCHEMA};
use e2e::{eventually, Install};

/// An export of the schema named `name`, with `metadata` and `spec` lines added.
fn export(name: &str, metadata: &str, spec: &str) -> String {
    format!(
        "apiVersion: apis.kcp.io/v1alpha2\nkind: APIExport\nmetadata:\n  name: {name}\n{metadata}spec:\n  resources:\n  - {{name: widgets, group: example.io, schema: today.widgets.example.io, storage: {{crd: {{}}}}}}\n{spec}"
    )
}

fn condition(export: &Value, type_: &str) -> Value {
    export["status"]["conditions"].as_array().and_then(|cs| cs.iter().find(|c| c["type"] == type_)).cloned().unwrap_or(Value::Null)
}

/// The export once its `IdentityValid` condition is `status`.
fn identity_settled(kcp: &Install, name: &str, status: &str) -> Value {
    eventually(&format!("IdentityValid={status} on {name}"), Duration::from_secs(10), || {
        let e = get_json(kcp, &["apiexport", name]);
        (condition(&e, "IdentityValid")["status"] == status).then_some(e)
    })
}

#[test]
fn an_export_gets_an_identity_and_a_default_endpoint_slice() {
    let kcp = Install::start();
    kcp.kubectl_stdin(&["create", "-f", "-"], Some(SCHEMA)).ok();
    kcp.kubectl_stdin(&["create", "-f", "-"], Some(&export("gadgets", "", ""))).ok();
    let e = identity_settled(&kcp, "gadgets", "True");
    assert_eq!(e["spec"]["identity"]["secretRef"]["namespace"], "kcp-system");
    assert_eq!(e["spec"]["identity"]["secretRef"]["name"], "gadgets");
    assert_eq!(condition(&e, "VirtualWorkspaceURLsReady")["status"], "True");

    let key = kcp.kubectl(&["get", "secret", "-n", "kcp-system", "gadgets", "-o", "jsonpath={.data.key}"]);
    let key = base64::engine::general_purpose::STANDARD.decode(key.ok().trim()).expect("base64 key");
    assert_eq!(key.len(), 32, "256 bits");
    assert_eq!(e["status"]["identityHash"], sha256(&key).as_str());

    let slice = eventually("the default endpoint slice", Duration::from_secs(10), || {
        let run = kcp.kubectl(&["get", "apiexportendpointslice", "gadgets", "-o", "json"]);
        (run.code == 0).then(|| run.json())
    });
    assert_eq!(slice["spec"]["export"]["path"], "root");
    assert_eq!(slice["spec"]["export"]["name"], "gadgets");

    // Another export gets its own identity.
    kcp.kubectl_stdin(&["create", "-f", "-"], Some(&export("more-gadgets", "", ""))).ok();
    let other = identity_settled(&kcp, "more-gadgets", "True");
    assert_ne!(other["status"]["identityHash"], e["status"]["identityHash"]);
}

#[test]
fn skipped_slices_and_missing_secrets() {
    let kcp = Install::start();
    let annotated = export("quiet", "  annotations: {apiexports.apis.kcp.io/skip-endpointslice: \"true\"}\n", "");
    kcp.kubectl_stdin(&["create", "-f", "-"], Some(&annotated)).ok();
    identity_settled(&kcp, "quiet", "True");
    let lost = export("lost", "", "  identity:\n    secretRef: {namespace: kcp-system, name: nowhere}\n");
    kcp.kubectl_stdin(&["create", "-f", "-"], Some(&lost)).ok();
    let e = identity_settled(&kcp, "lost", "False");
    let c = condition(&e, "IdentityValid");
    assert_eq!(c["reason"], "IdentityVerificationFailed");
    assert!(c["message"].as_str().is_some_and(|m| m.contains("kcp-system/nowhere not found")), "{c}");
    assert!(e["status"].get("identityHash").is_none());
    // By now the controller has passed over "quiet" too, which has no slice.
    let slices = kcp.kubectl(&["get", "apiexportendpointslices", "-o", "name"]);
    assert_eq!(slices.ok().trim(), "apiexportendpointslice.apis.kcp.io/lost");

    // The secret appearing makes the identity valid.
    kcp.kubectl(&["create", "secret", "generic", "-n", "kcp-system", "nowhere", "--from-literal=key=shh"]).ok();
    let e = identity_settled(&kcp, "lost", "True");
    assert_eq!(e["status"]["identityHash"], sha256(b"shh").as_str());
}

/// Lowercase hex sha256, computed here rather than by the server.
fn sha256(bytes: &[u8]) -> String {
    ring::digest::digest(&ring::digest::SHA256, bytes).as_ref().iter().map(|b| format!("{b:02x}")).collect()
}

#[test]
fn a_schema_in_use_cannot_be_deleted() {
    let kcp = Install::start();
    kcp.kubectl_stdin(&["create", "-f", "-"], Some(SCHEMA)).ok();
    kcp.kubectl_stdin(&["create", "-f", "-"], Some(&export("gadgets", "", ""))).ok();
    let refused = kcp.kubectl(&["delete", "apiresourceschema", "today.widgets.example.io"]);
    let err = refused.fails();
    assert!(err.contains("Conflict") && err.contains("in use by APIExport(s) gadgets"), "{err}");
    kcp.kubectl(&["get", "apiresourceschema", "today.widgets.example.io"]).ok();

    kcp.kubectl(&["patch", "apiexport", "gadgets", "--type=json", "-p", r#"[{"op": "remove", "path": "/spec/resources"}]"#]).ok();
    kcp.kubectl(&["delete", "apiresourceschema", "today.widgets.example.io"]).ok();
}
