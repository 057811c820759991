//! The merged apiexport view on deploy/local/up.sh: one front-proxy URL lists and watches an
//! export's objects in consumers on both shards, a watch resumes from the merged
//! resourceVersion without gaps or repeats and keeps going while a shard is down, and writes
//! through it land in the right consumer with the right precondition.

use e2e::sharded::{create_ready, label_shards, Sharded};
use e2e::until_ok;

use crate::apibinding::{binding, schema, wait_binding, WOODY};

pub(crate) const PROVIDER: &str = "root:providers:cowboys";

/// The sharded install with shards labelled, and the cowboys export in `PROVIDER` on the root
/// shard; returns the install and the export's logical cluster.
pub(crate) fn cowboys_exported_across_shards() -> (Sharded, String) {
    let s = Sharded::up("");
    let k = &s.kcp;
    label_shards(&s);
    create_ready(k, "root", "providers", Some("us"));
    let (_, export_cluster) = create_ready(k, "root:providers", "cowboys", Some("us"));
    k.kubectl_in_stdin(PROVIDER, &["apply", "-f", "-"], &schema("today")).ok();
    (s, export_cluster)
}

#[test]
fn one_url_serves_an_export_across_shards() {
    let (s, export_cluster) = cowboys_exported_across_shards();
    let k = &s.kcp;
    let (_, us) = create_ready(k, "root", "west", Some("us"));
    let (shard, eu) = create_ready(k, "root", "east", Some("eu"));
    assert_eq!(shard, "shard-2");
    for ws in ["root:west", "root:east"] {
        k.kubectl_in_stdin(ws, &["create", "-f", "-"], &binding("cowboys", PROVIDER)).ok();
        wait_binding(k, ws, "cowboys", "");
        until_ok("cowboys are served", || k.kubectl_in_stdin(ws, &["apply", "-f", "-"], WOODY));
    }
    let view_path = format!("/services/apiexport/{export_cluster}/cowboys/clusters/*/apis/wildwest.dev/v1alpha1/cowboys");
    let all = format!("{}/services/apiexport/{export_cluster}/cowboys/clusters/*", k.server(""));

    // One list across both shards, each object naming its consumer.
    let listed = k.kubectl(&["--server", &all, "get", "cowboys", "-A", "-o", "json"]).json();
    let mut clusters: Vec<&str> =
        listed["items"].as_array().expect("items").iter().filter_map(|c| c["metadata"]["annotations"]["kcp.io/cluster"].as_str()).collect();
    clusters.sort();
    let mut expected = vec![us.as_str(), eu.as_str()];
    expected.sort();
    assert_eq!(clusters, expected, "{listed}");
    let table = k.kubectl(&["--server", &all, "get", "cowboys", "-A"]);
    assert_eq!(table.ok().lines().count(), 3, "a header and a row per consumer: {}", table.stdout);
    // Pages run through the shards: one object per page, then no more.
    let first = k.kubectl(&["get", "--raw", &format!("{view_path}?limit=1")]).json();
    assert_eq!(first["items"].as_array().map(Vec::len), Some(1), "{first}");
    let token = first["metadata"]["continue"].as_str().expect("a continue token");
    let second = k.kubectl(&["get", "--raw", &format!("{view_path}?limit=1&continue={token}")]).json();
    assert_eq!(second["items"].as_array().map(Vec::len), Some(1), "{second}");
    assert_ne!(first["items"][0]["metadata"]["annotations"], second["items"][0]["metadata"]["annotations"]);

    // A watch from the list's resourceVersion sees only what comes after, from either shard,
    // and goes on while one shard is down.
    // (kubectl's `-o json` rebuilds lists without their resourceVersion: ask raw.)
    let raw = k.kubectl(&["get", "--raw", &view_path]).json();
    let rv = raw["metadata"]["resourceVersion"].as_str().expect("merged resourceVersion").to_string();
    assert!(rv.starts_with('m'), "{rv}");
    let watch = k.background("", &["get", "--raw", &format!("{view_path}?watch=true&resourceVersion={rv}")]);
    k.kubectl_in_stdin("root:east", &["create", "-f", "-"], &WOODY.replace("woody", "jessie")).ok();
    k.kubectl_in_stdin("root:west", &["create", "-f", "-"], &WOODY.replace("woody", "buzz")).ok();
    watch.wait_for("events from both shards", |lines| lines.iter().any(|l| l.contains("\"jessie\"")) && lines.iter().any(|l| l.contains("\"buzz\"")));
    s.kill("shard-2");
    k.kubectl_in_stdin("root:west", &["create", "-f", "-"], &WOODY.replace("woody", "rex")).ok();
    watch.wait_for("the other shard's events while one is down", |lines| lines.iter().any(|l| l.contains("\"rex\"")));
    s.up_again();
    until_ok("shard-2 serves again", || k.kubectl_in_stdin("root:east", &["create", "-f", "-"], &WOODY.replace("woody", "bullseye")));
    watch.wait_for("the restarted shard's events", |lines| lines.iter().any(|l| l.contains("\"bullseye\"")));
    let events = watch.stop();
    assert!(!events.iter().any(|l| l.contains("\"woody\"")), "nothing from before the resourceVersion: {events:?}");
    for name in ["jessie", "buzz", "rex", "bullseye"] {
        assert_eq!(events.iter().filter(|l| l.contains(&format!("\"name\":\"{name}\""))).count(), 1, "{name} exactly once: {events:?}");
    }

    // Resuming from the last event's resourceVersion delivers nothing old.
    let last: serde_json::Value = serde_json::from_str(events.last().expect("events")).expect("event JSON");
    let resume = last["object"]["metadata"]["resourceVersion"].as_str().expect("resourceVersion").to_string();
    let resumed = k.background("", &["get", "--raw", &format!("{view_path}?watch=true&resourceVersion={resume}")]);
    k.kubectl_in_stdin("root:east", &["create", "-f", "-"], &WOODY.replace("woody", "hamm")).ok();
    resumed.wait_for("the next event", |lines| lines.iter().any(|l| l.contains("\"hamm\"")));
    let after = resumed.stop();
    assert_eq!(after.len(), 1, "only the new cowboy: {after:?}");

    // A revision that is not the merged view's is gone, as a compacted one.
    let stale = k.kubectl(&["get", "--raw", &format!("{view_path}?resourceVersion=12")]);
    assert!(stale.fails().contains("too old resource version"), "{}", stale.stderr);

    // An object read through the merged view is written back with its merged resourceVersion:
    // the proxy sends it to its consumer's shard with that shard's revision.
    let event: serde_json::Value = serde_json::from_str(&after[0]).expect("event JSON");
    let mut hamm = event["object"].clone();
    hamm["spec"]["intent"] = serde_json::json!("pet");
    let consumer = format!("{}/services/apiexport/{export_cluster}/cowboys/clusters/{eu}", k.server(""));
    k.kubectl_stdin(&["--server", &consumer, "replace", "-f", "-"], Some(&hamm.to_string())).ok();
    assert_eq!(k.kubectl_in("root:east", &["get", "cowboy", "hamm", "-o", "jsonpath={.spec.intent}"]).ok(), "pet");
    let conflict = k.kubectl_stdin(&["--server", &consumer, "replace", "-f", "-"], Some(&hamm.to_string()));
    assert!(conflict.fails().contains("the object has been modified"), "a stale merged resourceVersion conflicts: {}", conflict.stderr);
}

#[test]
fn a_shard_without_consumers_adds_nothing_to_the_merged_view() {
    let (s, export_cluster) = cowboys_exported_across_shards();
    let k = &s.kcp;
    // The only consumer is on the root shard: shard-2 has no binding to the export, and its
    // own view of it serves nothing.
    create_ready(k, "root", "west", Some("us"));
    k.kubectl_in_stdin("root:west", &["create", "-f", "-"], &binding("cowboys", PROVIDER)).ok();
    wait_binding(k, "root:west", "cowboys", "");
    until_ok("cowboys are served", || k.kubectl_in_stdin("root:west", &["apply", "-f", "-"], WOODY));
    let all = format!("{}/services/apiexport/{export_cluster}/cowboys/clusters/*", k.server(""));
    let watch = k.background("", &["--server", &all, "get", "cowboys", "-A", "-w", "--output-watch-events", "--no-headers"]);
    assert_eq!(k.kubectl(&["--server", &all, "get", "cowboys", "-A", "-o", "name"]).ok().trim(), "cowboy.wildwest.dev/woody");
    watch.wait_for("the existing cowboy", |lines| lines.iter().any(|l| l.starts_with("ADDED") && l.contains("woody")));
    k.kubectl_in_stdin("root:west", &["create", "-f", "-"], &WOODY.replace("woody", "buzz")).ok();
    watch.wait_for("the new cowboy", |lines| lines.iter().any(|l| l.starts_with("ADDED") && l.contains("buzz")));

    // A consumer binding on shard-2 later joins the running watch.
    let (shard, _) = create_ready(k, "root", "east", Some("eu"));
    assert_eq!(shard, "shard-2");
    k.kubectl_in_stdin("root:east", &["create", "-f", "-"], &binding("cowboys", PROVIDER)).ok();
    wait_binding(k, "root:east", "cowboys", "");
    until_ok("cowboys are served", || k.kubectl_in_stdin("root:east", &["apply", "-f", "-"], &WOODY.replace("woody", "jessie")));
    watch.wait_for("the other shard's cowboy", |lines| lines.iter().any(|l| l.starts_with("ADDED") && l.contains("jessie")));
    watch.stop();
    // A path no shard serves is still not found.
    let missing = k.kubectl(&["get", "--raw", &format!("/services/apiexport/{export_cluster}/cowboys/clusters/*/apis/wildwest.dev/v1alpha1/horses")]);
    assert!(missing.fails().contains("NotFound"), "{}", missing.stderr);
}
