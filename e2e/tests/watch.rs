//! `kubectl get -w` sees adds, updates and deletes in order.

use std::sync::OnceLock;

use e2e::Install;

fn kcp() -> &'static Install {
    static KCP: OnceLock<Install> = OnceLock::new();
    Install::shared(&KCP, |kcp| kcp.logical_cluster("second"))
}

/// (event, name) of each printed `--output-watch-events` row.
fn events(lines: &[String]) -> Vec<(String, String)> {
    lines
        .iter()
        .skip(1)
        .filter_map(|l| {
            let mut cells = l.split_whitespace();
            Some((cells.next()?.to_string(), cells.next()?.to_string()))
        })
        .collect()
}

#[test]
fn watch_sees_changes_in_order() {
    let kcp = kcp();
    for (cluster, other) in [("root", "second"), ("second", "root")] {
        let ns = format!("watch-{cluster}");
        kcp.kubectl_in(cluster, &["create", "namespace", &ns]).ok();
        kcp.kubectl_in(other, &["create", "namespace", &ns]).ok();
        kcp.kubectl_in(cluster, &["-n", &ns, "create", "configmap", "before"]).ok();
        let watch = kcp.background(cluster, &["-n", &ns, "get", "configmaps", "-w", "--output-watch-events"]);
        // The initial list is printed before the watch starts from its resourceVersion, so every
        // change made after this point is delivered.
        watch.wait_for("the initial list", |l| events(l).contains(&("ADDED".into(), "before".into())));
        // The same namespace in the other logical cluster is a different namespace.
        kcp.kubectl_in(other, &["-n", &ns, "create", "configmap", "foreign"]).ok();
        kcp.kubectl_in(cluster, &["-n", &ns, "create", "configmap", "w1", "--from-literal=a=1"]).ok();
        kcp.kubectl_in(cluster, &["-n", &ns, "label", "configmap", "w1", "step=two"]).ok();
        kcp.kubectl_in(cluster, &["-n", &ns, "patch", "configmap", "w1", "--type", "merge", "-p", r#"{"data":{"b":"2"}}"#]).ok();
        kcp.kubectl_in(cluster, &["-n", &ns, "delete", "configmap", "w1"]).ok();
        watch.wait_for("the DELETED event", |l| events(l).contains(&("DELETED".into(), "w1".into())));
        let lines = watch.stop();
        assert_eq!(lines[0].split_whitespace().collect::<Vec<_>>(), ["EVENT", "NAME", "DATA", "AGE"], "{lines:?}");
        // The namespace's kube-root-ca.crt is listed too; this test follows its own objects.
        let seen: Vec<(String, String)> = events(&lines).into_iter().filter(|(_, n)| n != "kube-root-ca.crt").collect();
        let expected: Vec<(String, String)> = [("ADDED", "before"), ("ADDED", "w1"), ("MODIFIED", "w1"), ("MODIFIED", "w1"), ("DELETED", "w1")]
            .iter()
            .map(|(e, n)| (e.to_string(), n.to_string()))
            .collect();
        assert_eq!(seen, expected, "{cluster}: {lines:?}");
        // The DATA column follows the object: 1 key when added, 2 after the patch.
        let data: Vec<&str> = lines.iter().skip(1).filter(|l| !l.contains("kube-root-ca.crt")).filter_map(|l| l.split_whitespace().nth(2)).collect();
        assert_eq!(data, ["0", "1", "1", "2", "2"], "{lines:?}");
    }
}

#[test]
fn watch_one_object_by_name() {
    let kcp = kcp();
    kcp.kubectl_in("second", &["create", "namespace", "watch-one"]).ok();
    let k = |args: &[&str]| {
        let mut full = vec!["-n", "watch-one"];
        full.extend_from_slice(args);
        kcp.kubectl_in("second", &full)
    };
    k(&["create", "configmap", "target"]).ok();
    k(&["create", "configmap", "bystander"]).ok();
    let watch = kcp.background("second", &["-n", "watch-one", "get", "configmap", "target", "-w", "-o", "name"]);
    watch.wait_for("the object itself", |l| l.iter().any(|l| l == "configmap/target"));
    k(&["label", "configmap", "bystander", "x=1"]).ok();
    k(&["label", "configmap", "target", "x=1"]).ok();
    k(&["delete", "configmap", "target"]).ok();
    watch.wait_for("two more events for target", |l| l.len() >= 3);
    let lines = watch.stop();
    assert_eq!(lines, ["configmap/target", "configmap/target", "configmap/target"]);
}

#[test]
fn watch_from_a_compacted_revision_is_gone() {
    let dir = tempfile::tempdir().expect("dir");
    let kcp = Install::start_with(dir, &["--watch-cache-size", "5"]);
    for i in 0..10 {
        kcp.kubectl(&["create", "configmap", &format!("c{i}")]).ok();
    }
    let out = kcp.kubectl(&["get", "--raw", "/clusters/root/api/v1/namespaces/default/configmaps?watch=true&resourceVersion=1&timeoutSeconds=2"]);
    let first: serde_json::Value = serde_json::from_str(out.ok().lines().next().expect("one event")).expect("json event");
    assert_eq!(first["type"], "ERROR");
    assert_eq!(first["object"]["code"], 410);
    assert_eq!(first["object"]["reason"], "Expired");
}
