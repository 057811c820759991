//! `kubectl get -w` sees adds, updates and deletes in order.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use e2e::{eventually, Install};

#[test]
fn watch_sees_changes_in_order() {
    let kcp = Install::start();
    kcp.kubectl(&["create", "configmap", "before"]).ok();
    let cache = tempfile::tempdir().expect("cache");
    let mut child = Command::new("kubectl")
        .arg("--kubeconfig")
        .arg(&kcp.kubeconfig)
        .arg("--cache-dir")
        .arg(cache.path())
        .args(["get", "configmaps", "-w", "--output-watch-events"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("kubectl");
    let out = child.stdout.take().expect("stdout");
    let lines = Arc::new(Mutex::new(Vec::<String>::new()));
    let sink = lines.clone();
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines().map_while(Result::ok) {
            sink.lock().expect("lines").push(line);
        }
    });
    let seen = |name: &str, event: &str| lines.lock().expect("lines").iter().any(|l| l.split_whitespace().take(2).eq([event, name]));
    // The initial list is printed before the watch starts from its resourceVersion, so every
    // change made after this point is delivered.
    eventually("the initial list", Duration::from_secs(10), || seen("before", "ADDED").then_some(()));
    kcp.kubectl(&["create", "configmap", "w1"]).ok();
    kcp.kubectl(&["label", "configmap", "w1", "step=two"]).ok();
    kcp.kubectl(&["delete", "configmap", "w1"]).ok();
    eventually("the DELETED event", Duration::from_secs(10), || seen("w1", "DELETED").then_some(()));
    let _ = child.kill();
    let _ = child.wait();
    let all = lines.lock().expect("lines").clone();
    let w1: Vec<&str> = all.iter().filter(|l| l.split_whitespace().nth(1) == Some("w1")).filter_map(|l| l.split_whitespace().next()).collect();
    assert_eq!(w1, ["ADDED", "MODIFIED", "DELETED"], "{all:?}");
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
