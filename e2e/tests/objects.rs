//! Everyday work on built-in objects: create, get in every output, apply, patch, replace, delete.

use e2e::Install;

fn manifest(value: &str) -> String {
    format!("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: web-config\n  namespace: default\n  labels:\n    app: web\ndata:\n  key1: {value}\n")
}

#[test]
fn apply_create_configure_unchanged() {
    let kcp = Install::start();
    let apply = |v: &str| kcp.kubectl_stdin(&["apply", "-f", "-"], Some(&manifest(v)));
    assert_eq!(apply("value1").ok().trim(), "configmap/web-config created");
    assert_eq!(apply("value1").ok().trim(), "configmap/web-config unchanged");
    assert_eq!(apply("value2").ok().trim(), "configmap/web-config configured");
    assert_eq!(kcp.kubectl(&["get", "cm", "web-config", "-o", "jsonpath={.data.key1}"]).ok(), "value2");
}

#[test]
fn get_outputs_and_selectors() {
    let kcp = Install::start();
    kcp.kubectl_stdin(&["apply", "-f", "-"], Some(&manifest("v"))).ok();
    kcp.kubectl(&["create", "configmap", "other", "--from-literal=a=1", "--from-literal=b=2"]).ok();
    let table = kcp.kubectl(&["get", "cm", "--show-labels"]);
    let lines: Vec<Vec<&str>> = table.ok().lines().map(|l| l.split_whitespace().collect()).collect();
    assert_eq!(lines[0], ["NAME", "DATA", "AGE", "LABELS"]);
    let row = |name: &str| lines.iter().find(|l| l[0] == name).cloned().unwrap_or_else(|| panic!("no row {name}: {lines:?}"));
    assert_eq!(row("other")[1], "2");
    assert_eq!(row("web-config")[3], "app=web");
    // Every namespace also carries the server's CA, as in Kubernetes.
    assert_eq!(row("kube-root-ca.crt")[1], "1");
    assert_eq!(kcp.kubectl(&["get", "cm", "-l", "app=web", "-o", "name"]).ok().trim(), "configmap/web-config");
    assert_eq!(kcp.kubectl(&["get", "cm", "-l", "app notin (web)", "-o", "name"]).ok().trim(), "configmap/kube-root-ca.crt\nconfigmap/other");
    assert_eq!(kcp.kubectl(&["get", "cm", "--field-selector", "metadata.name=other", "-o", "name"]).ok().trim(), "configmap/other");
    let bad = kcp.kubectl(&["get", "cm", "--field-selector", "spec.foo=bar"]);
    assert!(bad.fails().contains("field label not supported: spec.foo"), "{}", bad.stderr);
    let json = kcp.kubectl(&["get", "cm", "other", "-o", "json"]).json();
    assert_eq!(json["data"]["b"], "2");
    assert!(json["metadata"]["uid"].as_str().is_some_and(|u| !u.is_empty()));
    let yaml = kcp.kubectl(&["get", "cm", "other", "-o", "yaml"]);
    assert!(yaml.ok().contains("resourceVersion:"));
    let all = kcp.kubectl(&["get", "cm", "-A", "--no-headers"]);
    assert!(all.ok().lines().all(|l| l.starts_with("default ")), "{}", all.stdout);
}

#[test]
fn patch_label_annotate_replace_delete() {
    let kcp = Install::start();
    kcp.kubectl_stdin(&["apply", "-f", "-"], Some(&manifest("v"))).ok();
    kcp.kubectl(&["patch", "cm", "web-config", "-p", r#"{"data":{"k2":"v2"}}"#]).ok();
    kcp.kubectl(&["patch", "cm", "web-config", "--type", "merge", "-p", r#"{"data":{"k3":"v3"}}"#]).ok();
    kcp.kubectl(&["patch", "cm", "web-config", "--type", "json", "-p", r#"[{"op":"remove","path":"/data/k3"}]"#]).ok();
    assert_eq!(kcp.kubectl(&["label", "cm", "web-config", "tier=fe"]).ok().trim(), "configmap/web-config labeled");
    assert_eq!(kcp.kubectl(&["annotate", "cm", "web-config", "note=hi"]).ok().trim(), "configmap/web-config annotated");
    let obj = kcp.kubectl(&["get", "cm", "web-config", "-o", "json"]).json();
    assert_eq!(obj["data"], serde_json::json!({"k2": "v2", "key1": "v"}));
    assert_eq!(obj["metadata"]["labels"]["tier"], "fe");
    // A stale resourceVersion is refused and nothing changes.
    let stale = kcp.kubectl(&["get", "cm", "web-config", "-o", "yaml"]).ok().to_string();
    kcp.kubectl(&["label", "cm", "web-config", "x=y"]).ok();
    let conflict = kcp.kubectl_stdin(&["replace", "-f", "-"], Some(&stale.replace("key1: v", "key1: lost")));
    assert!(conflict.fails().contains("Error from server (Conflict)"), "{}", conflict.stderr);
    assert!(conflict.stderr.contains("the object has been modified; please apply your changes to the latest version and try again"));
    assert_eq!(kcp.kubectl(&["get", "cm", "web-config", "-o", "jsonpath={.data.key1}"]).ok(), "v");
    assert_eq!(kcp.kubectl(&["delete", "cm", "web-config"]).ok().trim(), "configmap \"web-config\" deleted");
    let gone = kcp.kubectl(&["get", "cm", "web-config"]);
    assert_eq!(gone.fails().trim(), "Error from server (NotFound): configmaps \"web-config\" not found");
}

#[test]
fn server_side_apply_conflicts() {
    let kcp = Install::start();
    let cm = |v: &str| format!("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: ssa\n  namespace: default\ndata:\n  x: \"{v}\"\n");
    assert_eq!(kcp.kubectl_stdin(&["apply", "--server-side", "-f", "-"], Some(&cm("1"))).ok().trim(), "configmap/ssa serverside-applied");
    let conflict = kcp.kubectl_stdin(&["apply", "--server-side", "--field-manager=other", "-f", "-"], Some(&cm("2")));
    assert!(conflict.fails().contains("Apply failed with 1 conflict: conflict with \"kubectl\": .data.x"), "{}", conflict.stderr);
    assert_eq!(kcp.kubectl(&["get", "cm", "ssa", "-o", "jsonpath={.data.x}"]).ok(), "1");
    kcp.kubectl_stdin(&["apply", "--server-side", "--field-manager=other", "--force-conflicts", "-f", "-"], Some(&cm("2"))).ok();
    let obj = kcp.kubectl(&["get", "cm", "ssa", "-o", "json", "--show-managed-fields"]).json();
    assert_eq!(obj["data"]["x"], "2");
    assert_eq!(obj["metadata"]["managedFields"][0]["manager"], "other");
}

#[test]
fn typed_generators_post_protobuf() {
    let kcp = Install::start();
    kcp.kubectl(&["create", "namespace", "team"]).ok();
    kcp.kubectl(&["-n", "team", "create", "secret", "generic", "s", "--from-literal=user=admin"]).ok();
    kcp.kubectl(&["-n", "team", "create", "serviceaccount", "robot"]).ok();
    kcp.kubectl(&["-n", "team", "create", "role", "reader", "--verb=get,list", "--resource=configmaps"]).ok();
    kcp.kubectl(&["-n", "team", "create", "rolebinding", "rb", "--role=reader", "--serviceaccount=team:robot"]).ok();
    kcp.kubectl(&["create", "clusterrole", "cr", "--verb=get", "--resource=namespaces"]).ok();
    let secret = kcp.kubectl(&["-n", "team", "get", "secret", "s", "-o", "json"]).json();
    assert_eq!(secret["data"]["user"], "YWRtaW4=");
    assert_eq!(secret["type"], "Opaque");
    let rb = kcp.kubectl(&["-n", "team", "get", "rolebinding", "rb", "-o", "wide", "--no-headers"]);
    assert!(rb.ok().contains("Role/reader") && rb.stdout.contains("team/robot"), "{}", rb.stdout);
    assert_eq!(kcp.kubectl(&["auth", "can-i", "create", "configmaps"]).ok().trim(), "yes");
    let who = kcp.kubectl(&["auth", "whoami", "-o", "jsonpath={.status.userInfo.username}"]);
    assert_eq!(who.ok(), "kcp-admin");
    let sa_can = kcp.kubectl(&["auth", "can-i", "list", "configmaps", "-n", "team", "--as", "system:serviceaccount:team:robot"]);
    assert_eq!(sa_can.ok().trim(), "yes");
    let sa_cannot = kcp.kubectl(&["auth", "can-i", "delete", "configmaps", "-n", "team", "--as", "system:serviceaccount:team:robot"]);
    assert_eq!(sa_cannot.stdout.trim(), "no");
}

#[test]
fn namespace_deletion_and_garbage_collection() {
    let kcp = Install::start();
    kcp.kubectl(&["create", "namespace", "doomed"]).ok();
    kcp.kubectl(&["-n", "doomed", "create", "configmap", "a"]).ok();
    kcp.kubectl(&["-n", "doomed", "create", "secret", "generic", "b", "--from-literal=x=y"]).ok();
    kcp.kubectl(&["delete", "namespace", "doomed", "--wait=true", "--timeout=30s"]).ok();
    assert!(kcp.kubectl(&["get", "namespace", "doomed"]).fails().contains("NotFound"));
    assert!(kcp.kubectl(&["-n", "doomed", "get", "cm,secrets", "-o", "name"]).stdout.trim().is_empty());
    let refused = kcp.kubectl(&["delete", "namespace", "default"]);
    assert!(refused.fails().contains("this namespace may not be deleted"), "{}", refused.stderr);

    for (policy, survives) in [("background", false), ("foreground", false), ("orphan", true)] {
        let owner = format!("owner-{policy}");
        let dep = format!("dep-{policy}");
        let uid = kcp.kubectl(&["create", "configmap", &owner, "-o", "jsonpath={.metadata.uid}"]).ok().to_string();
        let m = format!("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {dep}\n  namespace: default\n  ownerReferences:\n  - apiVersion: v1\n    kind: ConfigMap\n    name: {owner}\n    uid: {uid}\n");
        kcp.kubectl_stdin(&["create", "-f", "-"], Some(&m)).ok();
        kcp.kubectl(&["delete", "configmap", &owner, &format!("--cascade={policy}"), "--timeout=30s"]).ok();
        let found = e2e::eventually(&format!("{policy} cascade"), std::time::Duration::from_secs(10), || {
            let r = kcp.kubectl(&["get", "configmap", &dep, "-o", "json"]);
            match (r.code == 0, survives) {
                (false, false) => Some(None),
                (true, true) => {
                    let v: serde_json::Value = serde_json::from_str(&r.stdout).ok()?;
                    v["metadata"].get("ownerReferences").is_none().then_some(Some(v))
                }
                _ => None,
            }
        });
        assert_eq!(found.is_some(), survives, "{policy}");
    }
}

#[test]
fn finalizers_hold_deletion_until_removed() {
    let kcp = Install::start();
    let m = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: held\n  namespace: default\n  finalizers:\n  - example.com/hold\n";
    kcp.kubectl_stdin(&["create", "-f", "-"], Some(m)).ok();
    kcp.kubectl(&["delete", "configmap", "held", "--wait=false"]).ok();
    let obj = kcp.kubectl(&["get", "configmap", "held", "-o", "json"]).json();
    assert!(obj["metadata"]["deletionTimestamp"].is_string(), "{obj}");
    // No new finalizers while deleting; removing the last one lets the object go.
    let add = kcp.kubectl(&["patch", "configmap", "held", "--type", "json", "-p", r#"[{"op":"add","path":"/metadata/finalizers/-","value":"example.com/more"}]"#]);
    assert!(add.fails().contains("no new finalizers can be added if the object is being deleted"), "{}", add.stderr);
    kcp.kubectl(&["patch", "configmap", "held", "--type", "json", "-p", r#"[{"op":"remove","path":"/metadata/finalizers/0"}]"#]).ok();
    assert!(kcp.kubectl(&["get", "configmap", "held"]).fails().contains("NotFound"));
    // dryRun=All changes nothing.
    kcp.kubectl(&["create", "configmap", "dry", "--dry-run=server"]).ok();
    assert!(kcp.kubectl(&["get", "configmap", "dry"]).fails().contains("NotFound"));
}
