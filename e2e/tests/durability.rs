//! A shard killed with SIGKILL during a stream of creates keeps every acknowledged write.

use std::process::{Command, Stdio};
use std::time::Duration;

use e2e::{eventually, Install};

#[test]
fn sigkill_loses_no_acknowledged_write() {
    let kcp = Install::start();
    // Creates run in a background shell; each attempt is recorded before kubectl starts, each
    // success only after kubectl returned.
    let acked = tempfile::NamedTempFile::new().expect("ack file");
    let attempted = tempfile::NamedTempFile::new().expect("attempt file");
    let script = format!(
        "i=0; while true; do i=$((i+1)); echo c$i >> {tried}; kubectl --kubeconfig {kc} create configmap c$i --request-timeout=5s >/dev/null 2>&1 && echo c$i >> {ack}; done",
        kc = kcp.kubeconfig.display(),
        tried = attempted.path().display(),
        ack = acked.path().display()
    );
    let mut writer = Command::new("sh").args(["-c", &script]).stdout(Stdio::null()).stderr(Stdio::null()).spawn().expect("writer");
    eventually("some acknowledged creates", Duration::from_secs(60), || {
        let n = std::fs::read_to_string(acked.path()).unwrap_or_default().lines().count();
        (n >= 20).then_some(())
    });
    let dir = kcp.kill();
    let _ = writer.kill();
    let _ = writer.wait();
    let acknowledged: Vec<String> = std::fs::read_to_string(acked.path()).expect("acks").lines().map(String::from).collect();
    let kcp = Install::start_in(dir);
    let stored = kcp.kubectl(&["get", "configmaps", "-o", "name"]);
    // Every namespace also holds the server's CA ConfigMap; the rest are the loop's creates.
    let names: Vec<&str> = stored.ok().lines().map(|l| l.trim_start_matches("configmap/")).filter(|n| *n != "kube-root-ca.crt").collect();
    for name in &acknowledged {
        assert!(names.contains(&name.as_str()), "acknowledged {name} was lost after SIGKILL");
    }
    // Nothing else appeared. Beyond the acknowledged ones, only creates that were attempted may
    // be there: the one in flight at the kill, or one whose client timed out under load.
    let attempts = std::fs::read_to_string(attempted.path()).expect("attempts");
    for name in &names {
        assert!(attempts.lines().any(|a| a == *name), "{name} was stored but never attempted");
    }
    // Every stored object is whole, and the restarted shard takes writes again.
    let list = kcp.kubectl(&["get", "configmaps", "-o", "json"]).json();
    assert_eq!(list["items"].as_array().map(Vec::len), Some(names.len() + 1), "the loop's objects plus kube-root-ca.crt");
    assert_eq!(kcp.kubectl(&["create", "configmap", "after-restart"]).ok(), "configmap/after-restart created\n");
}
