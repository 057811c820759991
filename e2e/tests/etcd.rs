//! Shards on etcd: `kcp start --storage etcd` behaves for kubectl as on sled, a new root
//! directory with the same etcd serves every object, a sled shard migrates into etcd, and
//! `deploy/local/up.sh --etcd` rides out etcd member and shard crashes.

use std::time::Duration;

use apiserver::storage::etcd::local::LocalEtcd;
use e2e::sharded::{create_ready, raw_get, Sharded};
use e2e::{eventually, until_ok, Install};

fn start_on(etcd: &LocalEtcd) -> Install {
    Install::start_with(tempfile::tempdir().expect("dir"), &["--storage", "etcd", "--etcd-servers", &etcd.url, "--etcd-compaction-interval", "1m"])
}

fn events(lines: &[String]) -> Vec<(String, String)> {
    lines
        .iter()
        .filter_map(|l| {
            let mut cells = l.split_whitespace();
            Some((cells.next()?.to_owned(), cells.next()?.to_owned()))
        })
        .filter(|(event, name)| event != "EVENT" && name != "kube-root-ca.crt")
        .collect()
}

#[test]
fn kubectl_works_on_etcd_and_a_fresh_root_directory_keeps_every_object() {
    let etcd_dir = tempfile::tempdir().expect("etcd dir");
    let etcd = LocalEtcd::start(etcd_dir.path()).unwrap_or_else(|e| panic!("this test needs a real etcd: {e}"));
    let kcp = start_on(&etcd);

    kcp.kubectl(&["create", "namespace", "stored"]).ok();
    // The namespace's CA ConfigMap makes the initial list non-empty, so its printing shows the
    // watch has begun.
    eventually("kube-root-ca.crt in the new namespace", Duration::from_secs(20), || {
        (kcp.kubectl(&["-n", "stored", "get", "configmap", "kube-root-ca.crt"]).code == 0).then_some(())
    });
    let watch = kcp.background("root", &["-n", "stored", "get", "configmaps", "-w", "--output-watch-events"]);
    watch.wait_for("the initial list", |l| l.iter().any(|l| l.contains("kube-root-ca.crt")));
    kcp.kubectl(&["-n", "stored", "create", "configmap", "kept", "--from-literal=a=1"]).ok();
    kcp.kubectl(&["-n", "stored", "create", "configmap", "dropped"]).ok();
    kcp.kubectl(&["-n", "stored", "label", "configmap", "kept", "step=two"]).ok();
    assert_eq!(kcp.kubectl(&["-n", "stored", "get", "configmap", "kept", "-o", "jsonpath={.data.a} {.metadata.labels.step}"]).ok(), "1 two");
    kcp.kubectl(&["-n", "stored", "delete", "configmap", "dropped"]).ok();
    assert_eq!(kcp.kubectl(&["-n", "stored", "get", "configmaps", "-o", "name"]).ok().trim(), "configmap/kept\nconfigmap/kube-root-ca.crt");
    // Pages of a chunked list come from one etcd revision.
    let chunked = kcp.kubectl(&["-n", "stored", "get", "configmaps", "--chunk-size=1", "-o", "name"]);
    assert_eq!(chunked.ok().trim(), "configmap/kept\nconfigmap/kube-root-ca.crt");
    watch.wait_for("the DELETED event", |l| events(l).contains(&("DELETED".into(), "dropped".into())));
    let expected = [("ADDED", "kept"), ("ADDED", "dropped"), ("MODIFIED", "kept"), ("DELETED", "dropped")].map(|(e, n)| (e.to_owned(), n.to_owned()));
    assert_eq!(events(&watch.stop()), expected, "watch events in order, each once");

    let workspace = "apiVersion: tenancy.kcp.io/v1alpha1\nkind: Workspace\nmetadata:\n  name: team\n";
    kcp.kubectl_stdin(&["create", "-f", "-"], Some(workspace)).ok();
    let ready = || (kcp.kubectl(&["get", "workspace", "team", "-o", "jsonpath={.status.phase}"]).stdout == "Ready").then_some(());
    eventually("workspace team Ready", Duration::from_secs(20), ready);
    kcp.kubectl_in("root:team", &["create", "configmap", "inside"]).ok();

    // A new machine: nothing of the old root directory (certificates, keys, kubeconfig) is kept,
    // only the etcd flags.
    assert_eq!(kcp.stop(), Some(0), "kcp did not exit cleanly on SIGTERM");
    let kcp = start_on(&etcd);
    assert_eq!(kcp.kubectl(&["-n", "stored", "get", "configmap", "kept", "-o", "jsonpath={.data.a} {.metadata.labels.step}"]).ok(), "1 two");
    assert_eq!(kcp.kubectl(&["get", "workspace", "team", "-o", "jsonpath={.status.phase}"]).ok(), "Ready");
    assert_eq!(kcp.kubectl_in("root:team", &["get", "configmap", "inside", "-o", "name"]).ok().trim(), "configmap/inside");
    kcp.kubectl_in("root:team", &["create", "configmap", "after-restart"]).ok();
    assert!(kcp.kubectl(&["-n", "stored", "get", "configmap", "dropped"]).fails().contains("not found"));
}

#[test]
fn a_sled_shard_migrated_to_etcd_serves_every_workspace_and_object() {
    let kcp = Install::start();
    let workspace = "apiVersion: tenancy.kcp.io/v1alpha1\nkind: Workspace\nmetadata:\n  name: moved\n";
    kcp.kubectl_stdin(&["create", "-f", "-"], Some(workspace)).ok();
    let ready = || (kcp.kubectl(&["get", "workspace", "moved", "-o", "jsonpath={.status.phase}"]).stdout == "Ready").then_some(());
    eventually("workspace moved Ready", Duration::from_secs(20), ready);
    kcp.kubectl_in("root:moved", &["create", "configmap", "inside", "--from-literal=k=v"]).ok();
    kcp.kubectl(&["create", "namespace", "ns-moved"]).ok();
    let dir = kcp.stop_keep();

    let etcd_dir = tempfile::tempdir().expect("etcd dir");
    let etcd = LocalEtcd::start(etcd_dir.path()).unwrap_or_else(|e| panic!("this test needs a real etcd: {e}"));
    let from = format!("sled:{}", dir.path().join("kcp").join("data").display());
    let to = format!("etcd:{}", etcd.url);
    let out = std::process::Command::new(e2e::bin_dir().join("kcp")).args(["storage", "migrate", "--from", &from, "--to", &to]).output().expect("kcp runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success() && stdout.starts_with("copied "), "{stdout}{}", String::from_utf8_lossy(&out.stderr));

    let kcp = start_on(&etcd);
    assert_eq!(kcp.kubectl(&["get", "workspace", "moved", "-o", "jsonpath={.status.phase}"]).ok(), "Ready");
    assert_eq!(kcp.kubectl_in("root:moved", &["get", "configmap", "inside", "-o", "jsonpath={.data.k}"]).ok(), "v");
    assert_eq!(kcp.kubectl(&["get", "namespace", "ns-moved", "-o", "name"]).ok().trim(), "namespace/ns-moved");
}

#[test]
fn the_sharded_install_on_three_etcd_members_rides_out_member_loss_lost_quorum_and_shard_crashes() {
    let s = Sharded::up_on_etcd("");
    let kcp = &s.kcp;
    create_ready(kcp, "root", "on-etcd", None);
    kcp.kubectl_in("root:on-etcd", &["create", "configmap", "before"]).ok();

    // The shards reach etcd-0 first; with it gone they fail over. A write in flight may get a
    // 503 with Retry-After; apply is idempotent, so retrying it is safe.
    s.kill("etcd-0");
    let during = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: during\n  namespace: default\ndata:\n  k: v\n";
    until_ok("a write with one etcd member down", || kcp.kubectl_in_stdin("root:on-etcd", &["apply", "-f", "-"], during));
    assert_eq!(kcp.kubectl_in("root:on-etcd", &["get", "configmap", "during", "-o", "jsonpath={.data.k}"]).ok(), "v");

    // Without a majority, requests are refused as retryable (503), not failed (500) or hung,
    // and the shard reports itself not ready.
    s.kill("etcd-1");
    let root_pid = s.pid("root");
    let (status, body) = raw_get(&s, &s.shard_url("root"), "/clusters/root/api/v1/namespaces/default/configmaps", Some("shard-admin"), &[]);
    assert_eq!(status, 503, "{body}");
    assert!(body.contains("\"reason\":\"ServiceUnavailable\""), "{body}");
    assert_ne!(raw_get(&s, &s.shard_url("root"), "/readyz", None, &[]).0, 200, "/readyz passes without etcd quorum");

    // Members back: the same shard process serves again.
    s.up_again();
    until_ok("a write once etcd has its majority back", || kcp.kubectl_in_stdin("root:on-etcd", &["apply", "-f", "-"], &during.replace("k: v", "k: back")));
    assert_eq!(s.pid("root"), root_pid, "the shard was not restarted");

    // A shard killed and restarted serves everything from etcd.
    s.kill("root");
    s.up_again();
    let names = kcp.kubectl_in("root:on-etcd", &["get", "configmaps", "-o", "name"]);
    assert_eq!(names.ok().trim(), "configmap/before\nconfigmap/during\nconfigmap/kube-root-ca.crt");
    assert_eq!(kcp.kubectl_in("root:on-etcd", &["get", "configmap", "during", "-o", "jsonpath={.data.k}"]).ok(), "back");
    create_ready(kcp, "root", "after-restart", None);
}
