//! Fairness between tenants: a workspace flooding a shard gets 429s with `Retry-After` and a
//! `TooManyRequests` Status, while a quiet workspace and the system's own traffic are served.
//! The flood writes (a write holds its seat while the disk syncs); the others read.
//! Behaviour only: latencies are `kcp-bench fairness`'s business.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use e2e::bench::{self, Target};
use e2e::sharded::create_ready;
use e2e::Install;

/// Connections the noisy workspace floods with, far more than its seats and queue hold.
const FLOOD: usize = 24;
/// Requests the quiet workspace and the administrator each send during the flood.
const QUIET: usize = 40;

fn list(ws: &str) -> String {
    format!("/clusters/{ws}/api/v1/namespaces/default/configmaps")
}

/// A ConfigMap with a generated name: writes wait for the disk while they hold their seat, so
/// a flood of them fills the seats and the queue.
fn configmap() -> serde_json::Value {
    serde_json::json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"generateName": "flood-"}, "data": {"k": "v"}})
}

/// Sends `n` lists to `ws` one after the other and returns their status codes.
async fn sequential(target: &Target, ws: &str, n: usize) -> Vec<u16> {
    let mut conn = target.connect().await;
    let mut codes = Vec::with_capacity(n);
    for _ in 0..n {
        codes.push(bench::call(&mut conn, "GET", &list(ws), None).await.0);
    }
    codes
}

#[test]
fn a_flood_gets_429s_and_the_quiet_workspace_is_served() {
    // Three seats for the workspaces, one for the system; a workspace may queue two requests.
    let kcp = Install::start_with(
        tempfile::tempdir().expect("temp dir"),
        &["--max-requests-inflight", "4", "--fairness-queue-length", "2", "--fairness-queue-wait", "60s"],
    );
    create_ready(&kcp, "root", "noisy", None);
    create_ready(&kcp, "root", "quiet", None);
    let tenant = Target::from_kubeconfig(&kcp.kubeconfig, "kcp-admin");
    let masters = Target::from_kubeconfig(&kcp.kubeconfig, "shard-admin");

    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let (flood_codes, rejected, quiet_codes, system_codes) = runtime.block_on(async {
        let stop = Arc::new(AtomicBool::new(false));
        let rejected = Arc::new(Mutex::new(None));
        let flood: Vec<_> = (0..FLOOD)
            .map(|_| {
                let (tenant, stop, rejected) = (tenant.clone(), stop.clone(), rejected.clone());
                tokio::spawn(async move {
                    let mut conn = tenant.connect().await;
                    let mut codes = Vec::new();
                    while !stop.load(Ordering::Relaxed) {
                        let resp = bench::send(&mut conn, "POST", &list("root:noisy"), Some(&configmap())).await;
                        if resp.status() == 429 {
                            rejected.lock().expect("lock").get_or_insert(resp.clone());
                        }
                        codes.push(resp.status().as_u16());
                    }
                    codes
                })
            })
            .collect();
        let (quiet, system) = tokio::join!(sequential(&tenant, "root:quiet", QUIET), sequential(&masters, "root:noisy", QUIET));
        // Keep flooding until the flood has overflowed at least once.
        for _ in 0..600 {
            if rejected.lock().expect("lock").is_some() {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        stop.store(true, Ordering::Relaxed);
        let mut codes = Vec::new();
        for f in flood {
            codes.extend(f.await.expect("flood worker"));
        }
        let rejected = rejected.lock().expect("lock").take();
        (codes, rejected, quiet, system)
    });

    assert!(quiet_codes.iter().all(|c| *c == 200), "the quiet workspace was refused: {quiet_codes:?}");
    assert!(system_codes.iter().all(|c| *c == 200), "the system's reserved seats were taken: {system_codes:?}");
    assert!(flood_codes.iter().all(|c| *c == 201 || *c == 429), "the flood got other answers than 201 and 429");
    assert!(flood_codes.contains(&201), "the flood was never served");
    let rejected = rejected.expect("the flood got no 429");
    assert_eq!(rejected.headers().get("retry-after").and_then(|v| v.to_str().ok()), Some("1"));
    let status: serde_json::Value = serde_json::from_slice(rejected.body()).expect("a JSON Status");
    assert_eq!((status["kind"].as_str(), status["reason"].as_str(), status["code"].as_i64()), (Some("Status"), Some("TooManyRequests"), Some(429)));
    assert_eq!(status["details"]["retryAfterSeconds"], 1);

    // The rejections are counted by priority level and reason, never by workspace.
    let metrics = kcp.kubectl(&["get", "--raw", "/metrics"]).ok().to_string();
    let rejections: Vec<&str> = metrics.lines().filter(|l| l.starts_with("apiserver_flowcontrol_rejected_requests_total")).collect();
    assert!(
        rejections.iter().any(|l| l.starts_with(r#"apiserver_flowcontrol_rejected_requests_total{priority_level="workspaces",reason="queue-full"}"#)),
        "{rejections:?}"
    );
    assert!(!metrics.contains("noisy"), "a series names the workspace");
    // kubectl waits as told and retries, so a tenant's kubectl still gets its answer.
    kcp.kubectl_in("root:noisy", &["get", "configmaps"]).ok();
}
