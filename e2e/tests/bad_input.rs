//! Bad input gets the Kubernetes error a kubectl user expects, and nothing stored changes:
//! every test compares a snapshot of its namespace before and after.

use std::sync::OnceLock;

use e2e::{Install, Run};

fn kcp() -> &'static Install {
    static KCP: OnceLock<Install> = OnceLock::new();
    Install::shared(&KCP, |kcp| kcp.logical_cluster("second"))
}

/// A namespace with a few objects in `cluster`; returns a closure running kubectl in it.
fn seeded(cluster: &'static str, ns: &'static str) -> impl Fn(&[&str], Option<&str>) -> Run {
    let kcp = kcp();
    kcp.kubectl_in(cluster, &["create", "namespace", ns]).ok();
    let k = move |args: &[&str], stdin: Option<&str>| {
        let mut full = vec!["-n", ns];
        full.extend_from_slice(args);
        match stdin {
            Some(input) => kcp.kubectl_in_stdin(cluster, &full, input),
            None => kcp.kubectl_in(cluster, &full),
        }
    };
    k(&["create", "configmap", "keep", "--from-literal=a=1"], None).ok();
    k(&["create", "secret", "generic", "creds", "--from-literal=u=v"], None).ok();
    k(&["create", "serviceaccount", "robot"], None).ok();
    k
}

/// Everything stored in the namespace, as kubectl prints it.
fn snapshot(k: &impl Fn(&[&str], Option<&str>) -> Run) -> String {
    k(&["get", "configmaps,secrets,serviceaccounts,roles,leases", "-o", "json"], None).ok().to_string()
}

/// Writes `body` to a file named `name` (kubectl quotes file names in its errors).
fn file(dir: &tempfile::TempDir, name: &str, body: &str) -> String {
    let path = dir.path().join(name);
    std::fs::write(&path, body).expect("write manifest");
    path.to_str().expect("utf-8 path").to_string()
}

#[test]
fn malformed_yaml_and_json() {
    for cluster in ["root", "second"] {
        let k = seeded(cluster, "malformed");
        let before = snapshot(&k);
        let dir = tempfile::tempdir().expect("dir");
        let yaml = file(&dir, "bad.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n data: [\n");
        assert_eq!(
            k(&["apply", "-f", &yaml], None).fails(),
            format!("error: error parsing {yaml}: error converting YAML to JSON: yaml: line 4: did not find expected key\n")
        );
        let json = file(&dir, "bad.json", r#"{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"},}"#);
        assert_eq!(
            k(&["create", "-f", &json], None).fails(),
            format!("error: error parsing {json}: json: offset 69: invalid character '}}' looking for beginning of object key string\n")
        );
        // Past kubectl's own parser, straight to the API: the server answers 400.
        let truncated = file(&dir, "truncated.json", r#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"x""#);
        let path = format!("/clusters/{cluster}/api/v1/namespaces/malformed/configmaps");
        let raw = k(&["create", "--raw", &path, "-f", &truncated], None);
        assert!(raw.fails().starts_with("Error from server (BadRequest): "), "{}", raw.stderr);
        let not_object = file(&dir, "list.json", "[1, 2]");
        assert!(k(&["create", "--raw", &path, "-f", &not_object], None).fails().starts_with("Error from server (BadRequest): "));
        assert_eq!(snapshot(&k), before, "{cluster}: a refused write changed what is stored");
    }
}

#[test]
fn wrong_api_version_and_kind() {
    for cluster in ["root", "second"] {
        let k = seeded(cluster, "wrongversion");
        let before = snapshot(&k);
        let dir = tempfile::tempdir().expect("dir");
        let v9 = file(&dir, "v9.yaml", "apiVersion: v9\nkind: ConfigMap\nmetadata:\n  name: x\n");
        // With validation on (the default), kubectl finds no v9 schema in /openapi/v3 nor in
        // /openapi/v2 and skips client-side validation, as against kube-apiserver; either
        // way the kind does not map to a resource.
        let unmapped = format!("error: resource mapping not found for name: \"x\" namespace: \"\" from \"{v9}\": no matches for kind \"ConfigMap\" in version \"v9\"\nensure CRDs are installed first\n");
        assert_eq!(k(&["create", "-f", &v9], None).fails(), unmapped);
        assert_eq!(k(&["create", "--validate=false", "-f", &v9], None).fails(), unmapped);
        let path = format!("/clusters/{cluster}/api/v1/namespaces/wrongversion/configmaps");
        for (body, message) in [
            (
                r#"{"apiVersion":"v2","kind":"ConfigMap","metadata":{"name":"x"}}"#,
                "the API version in the data (v2) does not match the expected API version (v1)",
            ),
            (r#"{"apiVersion":"v1","kind":"Secret","metadata":{"name":"x"}}"#, "the kind in the data (Secret) does not match the expected kind (ConfigMap)"),
        ] {
            let raw = k(&["create", "--raw", &path, "-f", &file(&dir, "body.json", body)], None);
            assert_eq!(raw.fails(), format!("Error from server (BadRequest): {message}\n"));
        }
        assert_eq!(snapshot(&k), before, "{cluster}: a refused write changed what is stored");
    }
}

#[test]
fn invalid_names() {
    const SUBDOMAIN: &str = "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')";
    const LABEL: &str = "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')";
    for cluster in ["root", "second"] {
        let k = seeded(cluster, "names");
        let before = snapshot(&k);
        for kind in ["ConfigMap", "Secret", "ServiceAccount"] {
            let doc = format!("apiVersion: v1\nkind: {kind}\nmetadata:\n  name: Bad_Name\n");
            assert_eq!(
                k(&["create", "-f", "-"], Some(&doc)).fails(),
                format!("The {kind} \"Bad_Name\" is invalid: metadata.name: Invalid value: \"Bad_Name\": {SUBDOMAIN}\n"),
                "{cluster} {kind}"
            );
        }
        // The generators post protobuf; the same validation answers.
        assert_eq!(
            k(&["create", "configmap", "Bad_Name"], None).fails(),
            format!("error: failed to create configmap: ConfigMap \"Bad_Name\" is invalid: metadata.name: Invalid value: \"Bad_Name\": {SUBDOMAIN}\n")
        );
        // Namespaces are DNS-1123 labels: no dots.
        let ns = kcp().kubectl_in_stdin(cluster, &["create", "-f", "-"], "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: a.b\n");
        let bad = kcp().kubectl_in_stdin(cluster, &["create", "-f", "-"], "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: a_b\n");
        assert_eq!(bad.fails(), format!("The Namespace \"a_b\" is invalid: metadata.name: Invalid value: \"a_b\": {LABEL}\n"));
        // A valid subdomain that is not a label: kube says exactly why (IsDNS1123Label).
        assert_eq!(ns.fails(), "The Namespace \"a.b\" is invalid: metadata.name: Invalid value: \"a.b\": must not contain dots\n");
        assert!(kcp().kubectl_in(cluster, &["get", "namespace", "a.b"]).fails().contains("NotFound"));
        assert_eq!(snapshot(&k), before, "{cluster}: a refused write changed what is stored");
    }
}

#[test]
fn stale_resource_version_conflicts() {
    for cluster in ["root", "second"] {
        let k = seeded(cluster, "stale");
        let old = k(&["get", "configmap", "keep", "-o", "json"], None).json();
        k(&["label", "configmap", "keep", "touched=yes"], None).ok();
        let before = snapshot(&k);
        let mut edited = old.clone();
        edited["data"]["a"] = "lost".into();
        assert_eq!(
            k(&["replace", "-f", "-"], Some(&edited.to_string())).fails(),
            "Error from server (Conflict): error when replacing \"STDIN\": Operation cannot be fulfilled on configmaps \"keep\": the object has been modified; please apply your changes to the latest version and try again\n"
        );
        // A patch carrying the old resourceVersion is a precondition too.
        let rv = old["metadata"]["resourceVersion"].as_str().expect("resourceVersion");
        let patch = format!(r#"{{"metadata":{{"resourceVersion":"{rv}"}},"data":{{"a":"lost"}}}}"#);
        assert_eq!(
            k(&["patch", "configmap", "keep", "--type", "merge", "-p", &patch], None).fails(),
            "Error from server (Conflict): Operation cannot be fulfilled on configmaps \"keep\": the object has been modified; please apply your changes to the latest version and try again\n"
        );
        assert_eq!(snapshot(&k), before, "{cluster}: a refused write changed what is stored");
    }
}

#[test]
fn oversized_bodies() {
    for cluster in ["root", "second"] {
        let k = seeded(cluster, "sizes");
        let before = snapshot(&k);
        let dir = tempfile::tempdir().expect("dir");
        let doc = |n: usize| format!("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: big\ndata:\n  a: {}\n", "x".repeat(n));
        let huge = file(&dir, "huge.yaml", &doc(3 * 1024 * 1024 + 1));
        assert_eq!(
            k(&["create", "-f", &huge], None).fails(),
            format!("Error from server (RequestEntityTooLarge): error when creating \"{huge}\": Request entity too large: limit is 3145728\n")
        );
        assert!(k(&["apply", "-f", &huge], None).fails().contains("Request entity too large: limit is 3145728"));
        // Under the request limit but over a ConfigMap's 1 MiB.
        let large = file(&dir, "large.yaml", &doc(1100 * 1024));
        let err = k(&["create", "-f", &large], None);
        assert!(err.fails().starts_with("The ConfigMap \"big\" is invalid: "), "{}", err.stderr);
        assert!(err.stderr.contains("Too long: may not be more than 1048576 bytes"), "{}", err.stderr);
        assert_eq!(snapshot(&k), before, "{cluster}: a refused write changed what is stored");
    }
}

#[test]
fn unknown_logical_clusters_and_paths() {
    let kcp = kcp();
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
