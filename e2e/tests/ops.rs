//! Health, metrics and graceful shutdown.

use std::time::Duration;

use e2e::sharded::{raw_get, Sharded};
use e2e::{eventually, Install};

#[test]
fn health_and_metrics() {
    let kcp = Install::start();
    assert_eq!(
        kcp.kubectl(&["get", "--raw", "/readyz?verbose"]).ok(),
        concat!(
            "[+]ping ok\n[+]storage ok\n[+]shutdown ok\n[+]cache ok\n",
            "[+]controller/crd ok\n[+]controller/namespace ok\n[+]controller/garbage-collector ok\n",
            "[+]controller/logicalcluster ok\n[+]controller/workspace ok\n[+]controller/replicate-rbac ok\n",
            "[+]controller/namespace-defaults ok\n[+]controller/apiexport ok\n[+]controller/apibinding ok\n[+]controller/apibinder ok\n[+]controller/apiexportendpointslice-urls ok\n[+]controller/workspacetype-urls ok\n[+]controller/permissionclaim-labels ok\n[+]controller/resourcequota ok\n[+]controller/serviceaccount-token-secrets ok\n[+]controller/clusterrole-aggregation ok\n[+]controller/event-ttl ok\n",
            "readyz check passed\n"
        )
    );
    assert_eq!(kcp.kubectl(&["get", "--raw", "/livez"]).ok(), "ok");
    assert_eq!(kcp.kubectl(&["get", "--raw", "/healthz"]).ok(), "ok");
    kcp.kubectl(&["get", "configmaps"]).ok();
    kcp.kubectl(&["create", "configmap", "counted"]).ok();
    assert!(kcp.kubectl(&["get", "configmap", "nothere"]).fails().contains("NotFound"));
    let metrics = kcp.kubectl(&["get", "--raw", "/metrics"]);
    let text = metrics.ok();
    for series in [
        "apiserver_request_total{verb=\"list\",group=\"\",resource=\"configmaps\",code=\"200\"}",
        "apiserver_request_total{verb=\"create\",group=\"\",resource=\"configmaps\",code=\"201\"}",
        "apiserver_request_total{verb=\"get\",group=\"\",resource=\"configmaps\",code=\"404\"}",
        "# TYPE apiserver_request_duration_seconds histogram",
        "apiserver_request_duration_seconds_bucket{",
        "apiserver_request_duration_seconds_count{",
        "apiserver_storage_size_bytes",
        // The shard's controllers, by controller name only.
        "workqueue_depth{controller=\"workspace\"}",
        "controller_runtime_reconcile_total{controller=\"namespace-defaults\",result=\"success\"}",
        "controller_runtime_reconcile_time_seconds_count{controller=\"namespace-defaults\"}",
    ] {
        assert!(text.contains(series), "no {series} in /metrics:\n{text}");
    }
}

#[test]
fn sigterm_ends_open_watches_and_exits_cleanly() {
    let kcp = Install::start();
    kcp.kubectl(&["create", "configmap", "a"]).ok();
    let mut watch = kcp.background("root", &["get", "configmaps", "-w"]);
    watch.wait_for("the watch's initial list", |l| l.iter().any(|l| l.starts_with("a ")));
    kcp.signal("TERM");
    // The server ends the watch stream cleanly, so `get -w` returns 0 on its own.
    let code = eventually("kubectl get -w to end", Duration::from_secs(30), || watch.exited());
    assert_eq!(code, 0, "{:?}", watch.lines());
    assert_eq!(kcp.stop(), Some(0));
}

#[test]
fn sigterm_keeps_acknowledged_state() {
    let kcp = Install::start();
    kcp.logical_cluster("second");
    kcp.kubectl(&["create", "configmap", "kept"]).ok();
    kcp.kubectl_in("second", &["create", "configmap", "kept-too"]).ok();
    let dir = kcp.stop_keep();
    let kcp = Install::start_in(dir);
    assert_eq!(kcp.kubectl(&["get", "configmap", "kept", "-o", "name"]).ok(), "configmap/kept\n");
    assert_eq!(kcp.kubectl_in("second", &["get", "configmap", "kept-too", "-o", "name"]).ok(), "configmap/kept-too\n");
    assert!(kcp.kubectl_in("second", &["get", "configmap", "kept"]).fails().contains("NotFound"));
}

/// A start gives the bootstrap roles back the rules they lack (what an older release's store
/// holds), as kube-apiserver reconciles its default roles; a role pinned with
/// `rbac.authorization.kubernetes.io/autoupdate: "false"` stays as its owner left it.
#[test]
fn a_start_gives_bootstrap_roles_back_the_rules_they_lack() {
    let kcp = Install::start();
    let rules = |kcp: &Install, role: &str| kcp.kubectl_in("system:admin", &["get", "clusterrole", role, "-o", "json"]).json()["rules"].clone();
    let edit = rules(&kcp, "edit");
    assert_eq!(edit.as_array().map(Vec::len), Some(2), "edit writes, and reads what view reads: {edit}");
    kcp.kubectl_in("system:admin", &["patch", "clusterrole", "edit", "--type=json", "-p", r#"[{"op":"remove","path":"/rules/1"}]"#]).ok();
    let pinned = r#"[{"apiGroups":[""],"resources":["configmaps"],"verbs":["get"]}]"#;
    kcp.kubectl_in(
        "system:admin",
        &["patch", "clusterrole", "view", "--type=json", "-p", &format!(r#"[{{"op":"replace","path":"/rules","value":{pinned}}}]"#)],
    )
    .ok();
    kcp.kubectl_in("system:admin", &["annotate", "clusterrole", "view", "rbac.authorization.kubernetes.io/autoupdate=false"]).ok();
    assert_eq!(rules(&kcp, "edit").as_array().map(Vec::len), Some(1));
    let kcp = Install::start_in(kcp.stop_keep());
    assert_eq!(rules(&kcp, "edit"), edit);
    assert_eq!(rules(&kcp, "view"), serde_json::from_str::<serde_json::Value>(pinned).expect("json"));
}

#[test]
fn a_bad_configuration_exits_64() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("bad.yaml");
    std::fs::write(&config, "securePort: [not a port]\n").expect("config");
    let root = ["--root-directory".to_string(), dir.path().join("root").display().to_string()];
    for (binary, args) in [("kcp", vec!["start"]), ("kcp-shard", vec![]), ("kcp-front-proxy", vec![])] {
        // The front-proxy keeps no state: it has no root directory.
        let root: &[String] = if binary == "kcp-front-proxy" { &[] } else { &root };
        let out = std::process::Command::new(e2e::bin_dir().join(binary))
            .args(&args)
            .args(root)
            .args(["--config", &config.display().to_string()])
            .output()
            .expect("runs");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(64), "{binary}: {stderr}");
        assert!(stderr.contains("bad.yaml"), "{binary} names the file: {stderr}");
    }
    // Without a file, what has no default must come as a flag; the message names it.
    let out = std::process::Command::new(e2e::bin_dir().join("kcp-front-proxy")).output().expect("runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(64), "{stderr}");
    assert!(stderr.contains("missing required setting --tls-cert-file"), "{stderr}");
}

/// Stops the front-proxy this test started, and only it.
struct Child(std::process::Child);

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn the_front_proxy_starts_from_a_config_file_alone() {
    let s = Sharded::up("");
    let dir = s.kcp.dir();
    let pki = |f: &str| s.pki(f).display().to_string();
    // The settings deploy/local/up.sh passes as flags, as keys of the file.
    let config = format!(
        "bindAddress: 127.0.0.1\nsecurePort: 0\ntlsCertFile: {}\ntlsPrivateKeyFile: {}\nclientCaFile: {}\n\
         serviceAccountKeyFile: {}\nrootKubeconfig: {}\nproxyClientCertFile: {}\nproxyClientKeyFile: {}\n\
         requestHeaderTimeout: 5s\nidleConnectionTimeout: 1m\n",
        pki("front-proxy.crt"),
        pki("front-proxy.key"),
        pki("client-ca.crt"),
        pki("service-account.pub"),
        dir.join("root-shard.kubeconfig").display(),
        pki("front-proxy-client.crt"),
        pki("front-proxy-client.key"),
    );
    let path = dir.join("proxy.yaml");
    std::fs::write(&path, config).expect("config file");
    let log = dir.join("logs").join("proxy-from-file.log");
    let stderr = std::fs::File::create(&log).expect("log file");
    let _proxy = Child(
        std::process::Command::new(e2e::bin_dir().join("kcp-front-proxy"))
            .args(["--config", &path.display().to_string()])
            .stderr(stderr)
            .spawn()
            .expect("starts"),
    );
    let url = eventually("the proxy to serve", Duration::from_secs(30), || {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        text.lines().find_map(|l| l.strip_prefix("kcp-front-proxy is serving at ")).map(|u| u.trim().replace("0.0.0.0", "127.0.0.1"))
    });
    eventually("the routing index to sync", Duration::from_secs(30), || (raw_get(&s, &url, "/readyz", None, &[]).0 == 200).then_some(()));
    let (code, body) = raw_get(&s, &url, "/clusters/root/api/v1/namespaces", Some("admin"), &[]);
    assert_eq!(code, 200, "{body}");
    assert!(body.contains("NamespaceList"), "{body}");
    // The proxy labels its request series as the shards do.
    let (code, metrics) = raw_get(&s, &url, "/metrics", Some("admin"), &[]);
    assert_eq!(code, 200, "{metrics}");
    assert!(metrics.contains(r#"apiserver_request_total{verb="list",group="",resource="namespaces",code="200"}"#), "{metrics}");
    assert!(!metrics.contains("apiserver_storage_size_bytes"), "the proxy stores nothing");
    // Anonymous callers are refused as through the proxy up.sh started with flags.
    assert_eq!(raw_get(&s, &url, "/clusters/root/api/v1/namespaces", None, &[]), raw_get(&s, &s.proxy_url(), "/clusters/root/api/v1/namespaces", None, &[]));
}

#[test]
fn events_expire_after_the_event_ttl() {
    let kcp = Install::start_with(tempfile::tempdir().expect("temp dir"), &["--event-ttl=2s"]);
    let core = "apiVersion: v1\nkind: Event\nmetadata:\n  name: old-news\ninvolvedObject:\n  kind: ConfigMap\n  name: x\nreason: Test\n";
    let events_v1 = "apiVersion: events.k8s.io/v1\nkind: Event\nmetadata:\n  name: newer-news\neventTime: 2026-12-05T00:00:00.000000Z\nreportingController: example.com/test\nreportingInstance: one\naction: Test\nreason: Test\nregarding:\n  kind: ConfigMap\n  name: x\ntype: Normal\n";
    for manifest in [core, events_v1] {
        kcp.kubectl_stdin(&["-n", "default", "create", "-f", "-"], Some(manifest)).ok();
    }
    kcp.kubectl(&["create", "configmap", "stays"]).ok();
    // Both APIs serve the same Events, as in kube.
    let events = |api: &str| kcp.kubectl(&["-n", "default", "get", api, "-o", "name"]).ok().to_string();
    assert_eq!(events("events.v1."), "event/newer-news\nevent/old-news\n");
    assert_eq!(events("events.v1.events.k8s.io"), "event.events.k8s.io/newer-news\nevent.events.k8s.io/old-news\n");
    let note = kcp.kubectl(&["-n", "default", "get", "events.v1.events.k8s.io", "old-news", "-o", "jsonpath={.regarding.name}"]);
    assert_eq!(note.ok(), "x", "involvedObject is served as regarding");
    eventually("both events expired", Duration::from_secs(15), || (events("events.v1.") + &events("events.v1.events.k8s.io")).is_empty().then_some(()));
    assert_eq!(kcp.kubectl(&["get", "configmap", "stays", "-o", "name"]).ok(), "configmap/stays\n", "only events expire");
}
