//! Bad input gets the Kubernetes error a kubectl user expects, and nothing stored changes.

use e2e::Install;

fn raw_create(kcp: &Install, body: &str) -> e2e::Run {
    let dir = tempfile::tempdir().expect("dir");
    let f = dir.path().join("body");
    std::fs::write(&f, body).expect("body");
    kcp.kubectl(&["create", "--raw", "/clusters/root/api/v1/namespaces/default/configmaps", "-f", f.to_str().expect("utf-8")])
}

#[test]
fn malformed_and_mismatched_bodies() {
    let kcp = Install::start();
    kcp.kubectl(&["create", "configmap", "keep", "--from-literal=a=1"]).ok();
    let cases = [
        (r#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"x""#, "Error from server (BadRequest): error decoding request body"),
        (r#"{"apiVersion":"v2","kind":"ConfigMap","metadata":{"name":"x"}}"#, "the API version in the data (v2) does not match the expected API version (v1)"),
        (r#"{"apiVersion":"v1","kind":"Secret","metadata":{"name":"x"}}"#, "the kind in the data (Secret) does not match the expected kind (ConfigMap)"),
        (r#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"Bad_Name"}}"#, "metadata.name: Invalid value: \"Bad_Name\": a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters"),
        (r#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"keep"}}"#, "Error from server (AlreadyExists): configmaps \"keep\" already exists"),
        (r#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"k","namespace":"other"}}"#, "the namespace of the provided object does not match the namespace sent on the request"),
    ];
    for (body, want) in cases {
        let r = raw_create(&kcp, body);
        assert!(r.fails().contains(want), "{body}: {}", r.stderr);
    }
    let names = kcp.kubectl(&["get", "configmaps", "-o", "name"]);
    assert_eq!(names.ok().trim(), "configmap/keep\nconfigmap/kube-root-ca.crt");
    assert_eq!(kcp.kubectl(&["get", "cm", "keep", "-o", "jsonpath={.data.a}"]).ok(), "1");

    // Malformed YAML is caught by kubectl itself; through the API it is a 400 too.
    let bad_yaml = kcp.kubectl_stdin(&["apply", "-f", "-"], Some("apiVersion: v1\nkind: ConfigMap\nmetadata: [\n"));
    assert!(bad_yaml.fails().contains("error converting YAML to JSON"), "{}", bad_yaml.stderr);
}

#[test]
fn size_limits() {
    let kcp = Install::start();
    let body = |n: usize| format!(r#"{{"apiVersion":"v1","kind":"ConfigMap","metadata":{{"name":"big"}},"data":{{"a":"{}"}}}}"#, "x".repeat(n));
    let huge = raw_create(&kcp, &body(4 * 1024 * 1024));
    assert!(huge.fails().contains("RequestEntityTooLarge"), "{}", huge.stderr);
    let large = raw_create(&kcp, &body(1100 * 1024));
    assert!(large.fails().contains("Too long: may not be more than 1048576 bytes"), "{}", large.stderr);
    assert!(kcp.kubectl(&["get", "cm", "big"]).fails().contains("NotFound"));
}

#[test]
fn unknown_logical_clusters_and_paths() {
    let kcp = Install::start();
    let missing = kcp.kubectl_in("nope", &["get", "configmaps"]);
    assert!(missing.fails().contains("Forbidden"), "{}", missing.stderr);
    let bad = kcp.kubectl(&["get", "--raw", "/clusters/Root:X/api/v1/namespaces"]);
    assert!(bad.fails().contains("BadRequest"), "{}", bad.stderr);
    let wildcard = kcp.kubectl(&["get", "--raw", "/clusters/*/api/v1/configmaps"]);
    assert!(wildcard.fails().contains("Forbidden"), "{}", wildcard.stderr);
    let masters = kcp.kubectl(&["--context", "system:admin", "get", "--raw", "/clusters/*/api/v1/namespaces"]);
    let list: serde_json::Value = serde_json::from_str(masters.ok()).expect("list");
    assert!(list["items"].as_array().is_some_and(|i| i.len() >= 2), "{list}");
}
