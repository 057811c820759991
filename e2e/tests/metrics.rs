//! Metrics that stay small: the series a shard exports do not grow with its workspaces, and
//! per-workspace figures come from `/debug/workspaces/top` instead.

use std::collections::BTreeSet;
use std::time::Duration;

use e2e::sharded::{create_ready, workspace};
use e2e::{eventually, Install};

/// Workspaces created after the first scrape.
const MORE: usize = 49;

/// Every series of a scrape: `name{labels}` without the value.
fn series(kcp: &Install) -> BTreeSet<String> {
    let text = kcp.kubectl(&["get", "--raw", "/metrics"]).ok().to_string();
    text.lines().filter(|l| !l.starts_with('#') && !l.is_empty()).filter_map(|l| l.rsplit_once(' ').map(|(s, _)| s.to_string())).collect()
}

/// The requests every workspace of the test gets.
fn traffic(kcp: &Install, ws: &str) {
    kcp.kubectl_in(ws, &["create", "configmap", "c"]).ok();
    kcp.kubectl_in(ws, &["get", "configmaps"]).ok();
    kcp.kubectl_in(ws, &["get", "configmap", "nothere"]).fails();
}

#[test]
fn series_do_not_grow_with_workspaces() {
    let kcp = Install::start();
    // Two creations from files: the second revalidates kubectl's cached OpenAPI (a 304), as
    // every later one does.
    create_ready(&kcp, "root", "w0", None);
    create_ready(&kcp, "root", "warm", None);
    kcp.kubectl(&["get", "workspaces", "-o", "json"]).ok();
    // Twice: the second round revalidates what kubectl cached in the first (304s), as the
    // rounds in the other workspaces do.
    traffic(&kcp, "root:w0");
    kcp.kubectl_in("root:w0", &["delete", "configmap", "c"]).ok();
    traffic(&kcp, "root:w0");
    let before = series(&kcp);

    let docs: Vec<String> = (1..=MORE).map(|i| workspace(&format!("w{i}"), None)).collect();
    kcp.kubectl_stdin(&["create", "-f", "-"], Some(&docs.join("---\n"))).ok();
    eventually("every workspace Ready", Duration::from_secs(120), || {
        let list = kcp.kubectl(&["get", "workspaces", "-o", "json"]).json();
        let ready = list["items"].as_array().map_or(0, |items| items.iter().filter(|w| w["status"]["phase"] == "Ready").count());
        (ready == MORE + 2).then_some(())
    });
    for i in 1..=MORE {
        traffic(&kcp, &format!("root:w{i}"));
    }
    let after = series(&kcp);

    // How a controller's reconciles ended (success, requeue, error) is a per-process constant:
    // at most three series per controller, whichever have happened so far.
    let grown: Vec<&String> = after.difference(&before).filter(|s| !s.starts_with("controller_runtime_reconcile_total{")).collect();
    assert!(grown.is_empty(), "{} series at 2 workspaces, {} at {}; new: {grown:#?}", before.len(), after.len(), MORE + 2);
    assert!(!after.iter().any(|s| s.contains("root:w") || s.contains("cluster=")), "no series names a workspace");
    for series in [
        "apiserver_current_inflight_requests",
        r#"kcp_workspaces{phase="Ready"}"#,
        r#"kcp_workspace_phase_oldest_seconds{phase="Initializing"}"#,
        "kcp_workspace_scheduling_duration_seconds_count",
        "kcp_storage_sync_duration_seconds_count",
        "process_resident_memory_bytes",
    ] {
        assert!(after.contains(series), "{series} missing from {after:#?}");
    }

    // Per-workspace figures on demand, for system:masters only.
    let top = kcp.kubectl(&["--context", "system:admin", "get", "--raw", "/debug/workspaces/top?n=5"]).json();
    let busiest = top["byRequestRate"].as_array().expect("byRequestRate");
    assert!(!busiest.is_empty() && busiest.len() <= 5, "{top}");
    assert!(busiest.iter().all(|e| e["requestsPerSecond"].as_f64().is_some_and(|r| r > 0.0)), "{top}");
    let biggest = top["byObjectCount"].as_array().expect("byObjectCount");
    assert_eq!(biggest.len(), 5, "{top}");
    assert!(biggest.iter().any(|e| e["path"].as_str().is_some_and(|p| p.starts_with("root"))), "{top}");
    let refused = kcp.kubectl(&["get", "--raw", "/debug/workspaces/top"]);
    assert!(refused.fails().contains(r#"forbidden: User "kcp-admin" cannot get path "/debug/workspaces/top""#), "{}", refused.stderr);
}
