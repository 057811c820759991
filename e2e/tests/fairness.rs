//! Fairness between tenants: a workspace (or a provider through its APIExport's view) flooding a
//! shard gets 429s with `Retry-After` and a `TooManyRequests` Status, while a quiet workspace and
//! the system's own traffic are served. The flood writes (a write holds its seat while the disk
//! syncs); the others read. Behaviour only: latencies are `kcp-bench fairness`'s business.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use e2e::bench::{self, Target};
use e2e::sharded::create_ready;
use e2e::Install;

use crate::apibinding::{binding, schema, wait_binding, WOODY};

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

/// Three seats for the workspaces, one for the system; a flow may queue two requests.
const FEW_SEATS: [&str; 6] = ["--max-requests-inflight", "4", "--fairness-queue-length", "2", "--fairness-queue-wait", "60s"];

/// Sends `n` lists to `ws` one after the other and returns their status codes.
async fn sequential(target: &Target, ws: &str, n: usize) -> Vec<u16> {
    let mut conn = target.connect().await;
    let mut codes = Vec::with_capacity(n);
    for _ in 0..n {
        codes.push(bench::call(&mut conn, "GET", &list(ws), None).await.0);
    }
    codes
}

/// What a flood and the callers beside it were answered.
struct Answers {
    flood: Vec<u16>,
    /// The flood's first 429.
    rejected: Option<http::Response<Bytes>>,
    /// A tenant's lists in its own quiet workspace during the flood.
    quiet: Vec<u16>,
    /// `system:masters`' lists during the flood.
    system: Vec<u16>,
}

/// Floods `path` with creates of `object` from [`FLOOD`] connections of `tenant` until the
/// flood has overflowed at least once, while the tenant lists `root:quiet` and `system:masters`
/// lists `root:noisy`.
fn flood_beside(tenant: &Target, masters: &Target, path: String, object: serde_json::Value) -> Answers {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    runtime.block_on(async {
        let stop = Arc::new(AtomicBool::new(false));
        let rejected = Arc::new(Mutex::new(None));
        let flood: Vec<_> = (0..FLOOD)
            .map(|_| {
                let (tenant, stop, rejected, path, object) = (tenant.clone(), stop.clone(), rejected.clone(), path.clone(), object.clone());
                tokio::spawn(async move {
                    let mut conn = tenant.connect().await;
                    let mut codes = Vec::new();
                    while !stop.load(Ordering::Relaxed) {
                        let resp = bench::send(&mut conn, "POST", &path, Some(&object)).await;
                        if resp.status() == 429 {
                            rejected.lock().expect("lock").get_or_insert(resp.clone());
                        }
                        codes.push(resp.status().as_u16());
                    }
                    codes
                })
            })
            .collect();
        let (quiet, system) = tokio::join!(sequential(tenant, "root:quiet", QUIET), sequential(masters, "root:noisy", QUIET));
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
        Answers { flood: codes, rejected, quiet, system }
    })
}

impl Answers {
    /// The quiet callers were all served, the flood was served and refused, and its refusal is
    /// the 429 kubectl understands.
    fn assert_fair(self) {
        let Answers { flood, rejected, quiet, system } = self;
        assert!(quiet.iter().all(|c| *c == 200), "the quiet workspace was refused: {quiet:?}");
        assert!(system.iter().all(|c| *c == 200), "the system's reserved seats were taken: {system:?}");
        let others: Vec<u16> = flood.iter().copied().filter(|c| *c != 201 && *c != 429).collect();
        assert!(others.is_empty(), "the flood got other answers than 201 and 429: {others:?} of {}", flood.len());
        assert!(flood.contains(&201), "the flood was never served");
        let rejected = rejected.expect("the flood got no 429");
        assert_eq!(rejected.headers().get("retry-after").and_then(|v| v.to_str().ok()), Some("1"));
        let status: serde_json::Value = serde_json::from_slice(rejected.body()).expect("a JSON Status");
        assert_eq!((status["kind"].as_str(), status["reason"].as_str(), status["code"].as_i64()), (Some("Status"), Some("TooManyRequests"), Some(429)));
        assert_eq!(status["details"]["retryAfterSeconds"], 1);
    }
}

/// `kcp start` with `flags`, workspaces `root:noisy` and `root:quiet`, and clients as a tenant
/// (kcp-admin) and as `system:masters`.
fn noisy_and_quiet(flags: &[&str]) -> (Install, Target, Target) {
    let kcp = Install::start_with(tempfile::tempdir().expect("temp dir"), flags);
    create_ready(&kcp, "root", "noisy", None);
    create_ready(&kcp, "root", "quiet", None);
    let tenant = Target::from_kubeconfig(&kcp.kubeconfig, "kcp-admin");
    let masters = Target::from_kubeconfig(&kcp.kubeconfig, "shard-admin");
    (kcp, tenant, masters)
}

#[test]
fn a_flood_gets_429s_and_the_quiet_workspace_is_served() {
    let (kcp, tenant, masters) = noisy_and_quiet(&FEW_SEATS);
    flood_beside(&tenant, &masters, list("root:noisy"), configmap()).assert_fair();

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

#[test]
fn beside_others_a_flood_executes_only_its_share_of_many_seats() {
    // 80 seats for the workspaces, far more than the flood's connections, but one at a time
    // for a workspace while others are served.
    let flags = ["--max-requests-inflight", "100", "--fairness-flow-seats", "1", "--fairness-queue-length", "2", "--fairness-queue-wait", "60s"];
    let (_kcp, tenant, masters) = noisy_and_quiet(&flags);
    flood_beside(&tenant, &masters, list("root:noisy"), configmap()).assert_fair();
}

#[test]
fn a_provider_flooding_its_view_queues_behind_itself_and_view_watches_hold_no_seat() {
    let kcp = Install::start_with(tempfile::tempdir().expect("temp dir"), &FEW_SEATS);
    create_ready(&kcp, "root", "providers", None);
    let (_, export_cluster) = create_ready(&kcp, "root:providers", "cowboys", None);
    kcp.kubectl_in_stdin("root:providers:cowboys", &["apply", "-f", "-"], &schema("today")).ok();
    let (_, consumer) = create_ready(&kcp, "root", "noisy", None);
    create_ready(&kcp, "root", "quiet", None);
    kcp.kubectl_in_stdin("root:noisy", &["create", "-f", "-"], &binding("cowboys", "root:providers:cowboys")).ok();
    wait_binding(&kcp, "root:noisy", "cowboys", "");
    e2e::until_ok("cowboys are served", || kcp.kubectl_in_stdin("root:noisy", &["apply", "-f", "-"], WOODY));

    // More watches through the view than the workspaces have seats: were they seated, nothing
    // else would be served until they ended.
    let view = format!("/services/apiexport/{export_cluster}/cowboys");
    let all = format!("{}{view}/clusters/*", kcp.server(""));
    let watches: Vec<_> = (0..4).map(|_| kcp.background("", &["--server", &all, "get", "cowboys", "-A", "-w", "-o", "name"])).collect();
    for w in &watches {
        w.wait_for("the view's watch", |lines| lines.iter().any(|l| l.contains("woody")));
    }

    let tenant = Target::from_kubeconfig(&kcp.kubeconfig, "kcp-admin");
    let masters = Target::from_kubeconfig(&kcp.kubeconfig, "shard-admin");
    let cowboys = format!("{view}/clusters/{consumer}/apis/wildwest.dev/v1alpha1/namespaces/default/cowboys");
    let cowboy =
        serde_json::json!({"apiVersion": "wildwest.dev/v1alpha1", "kind": "Cowboy", "metadata": {"generateName": "flood-"}, "spec": {"intent": "stampede"}});
    flood_beside(&tenant, &masters, cowboys, cowboy).assert_fair();
    for mut w in watches {
        assert_eq!(w.exited(), None, "a watch through the view ended: {:?}", w.lines());
    }
}
