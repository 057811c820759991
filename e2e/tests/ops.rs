//! Health, metrics and graceful shutdown.

use e2e::Install;

#[test]
fn health_and_metrics() {
    let kcp = Install::start();
    let ready = kcp.kubectl(&["get", "--raw", "/readyz?verbose"]);
    assert!(ready.ok().contains("[+]storage ok"), "{}", ready.stdout);
    assert!(ready.stdout.contains("readyz check passed"));
    assert_eq!(kcp.kubectl(&["get", "--raw", "/livez"]).ok(), "ok");
    kcp.kubectl(&["get", "configmaps"]).ok();
    let metrics = kcp.kubectl(&["get", "--raw", "/metrics"]);
    let text = metrics.ok();
    assert!(text.contains("apiserver_request_total{verb=\"list\",group=\"\",resource=\"configmaps\",code=\"200\"}"), "{text}");
    assert!(text.contains("apiserver_request_duration_seconds_bucket"));
    assert!(text.contains("apiserver_storage_size_bytes"));
}

#[test]
fn sigterm_drains_and_exits_cleanly() {
    let kcp = Install::start();
    kcp.kubectl(&["create", "configmap", "a"]).ok();
    assert_eq!(kcp.stop(), Some(0));
}
