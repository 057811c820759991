//! `kcp-bench`: throughput and latency of get/list/create/update/watch against a real
//! `kcp start` over TLS, plus memory and disk per stored object. Prints a Markdown report.
//!
//! Usage: `cargo run --release -p e2e --bin kcp-bench -- [objects] [workers]`, or
//! `... -- workspaces [flat] [fanout] [depth]`, `... -- cache [rate] [seconds]`, `... -- storage
//! [creates]` (sled and etcd side by side; needs etcd), or `... -- proxy` (the sharded topology of
//! deploy/local; build every binary in the same profile first).
//!
//! `... -- bindings [N] [MEMORY_N] [ROUNDS]` (defaults 200, 10000, 5; 0 skips a part): N
//! APIBindings created at 20/s and timed from the create to their `Ready` event, on one shard
//! and across the shards of deploy/local; requests/s on the bound resource against a local
//! CRD of the same schema in ROUNDS interleaved rounds; RSS, threads and open files of
//! `kcp start` after MEMORY_N workspaces and again after a binding in each.
//!
//! `... -- views [CONSUMERS] [BURST]` (defaults 1000, 4000): the apiexport view with consumers
//! on both shards of deploy/local, per-shard URL against the front-proxy's merged URL.
//!
//! `... -- fairness [--quiet-rate R] [SEATS...]` (defaults 25 and 8 400): quiet workspaces' latency alone and while one
//! workspace offers 100 times their load, with each `--max-requests-inflight`.

#[path = "bench/bindings.rs"]
mod bindings;
#[path = "bench/fairness.rs"]
mod fairness;
#[path = "bench/views.rs"]
mod views;

use std::time::{Duration, Instant};

use e2e::bench::{self, Samples, Target};
use e2e::Install;
use serde_json::json;

fn configmap(ns: &str, name: &str, value: usize) -> serde_json::Value {
    json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "namespace": ns}, "data": {"value": value.to_string(), "payload": "x".repeat(256)}})
}

fn row(name: &str, workers: usize, s: &mut Samples) {
    println!("| {name} | {workers} | {:.0} | {:.2} | {:.2} | {} |", s.rate(), s.quantile_ms(0.5), s.quantile_ms(0.99), s.errors);
}

/// Creates the workspaces `(parent path, name)` on `workers` connections, on a shard labelled
/// `region=<region>` when given; returns the samples.
async fn create_workspaces(target: &Target, items: Vec<(String, String)>, workers: usize, region: Option<&str>) -> Samples {
    let items = std::sync::Arc::new(items);
    let per = items.len().div_ceil(workers);
    let mut spec = json!({"type": {"name": "universal", "path": "root"}});
    if let Some(region) = region {
        spec["location"] = json!({"selector": {"matchLabels": {"region": region}}});
    }
    bench::run(target, workers, per, move |w, i| {
        let (parent, name) = &items[(w * per + i).min(items.len() - 1)];
        let body = json!({"apiVersion": "tenancy.kcp.io/v1alpha1", "kind": "Workspace", "metadata": {"name": name}, "spec": spec});
        ("POST".into(), format!("/clusters/{parent}/apis/tenancy.kcp.io/v1alpha1/workspaces"), Some(body))
    })
    .await
}

/// Counts Ready workspaces seen by a watch of `path`.
fn ready_count(target: &Target, path: &str) -> tokio::sync::watch::Receiver<usize> {
    bench::count_matching(target.clone(), path.to_string(), |w| w["status"]["phase"] == "Ready")
}

/// Waits until the count reaches `n`.
async fn reach(count: &mut tokio::sync::watch::Receiver<usize>, n: usize) {
    count.wait_for(|c| *c >= n).await.expect("watch of workspaces ended early");
}

/// Reads the counters that explain a workspace's cost from `/metrics`: the storage revision
/// (one per durable write), syncs (one per group commit) and reconciles per controller.
async fn work_counters(target: &Target) -> std::collections::BTreeMap<String, f64> {
    let (_, body) = bench::call(&mut target.connect().await, "GET", "/metrics", None).await;
    let mut out = std::collections::BTreeMap::new();
    for line in String::from_utf8_lossy(&body).lines() {
        let Some((series, value)) = line.rsplit_once(' ') else { continue };
        let Ok(value) = value.parse::<f64>() else { continue };
        let name = if series == "kcp_storage_revision" {
            "durable writes".to_string()
        } else if series == "kcp_storage_durable_syncs" {
            "durable syncs (group commits)".to_string()
        } else if let Some(labels) = series.strip_prefix("controller_runtime_reconcile_total{") {
            let controller = labels.split('"').nth(1).unwrap_or("?");
            format!("reconciles: {controller}")
        } else if let Some(labels) = series.strip_prefix("controller_runtime_reconcile_time_seconds_sum{") {
            let controller = labels.split('"').nth(1).unwrap_or("?");
            format!("reconcile ms: {controller}")
        } else {
            continue;
        };
        *out.entry(name).or_default() += value;
    }
    out
}

/// Every series of a `/metrics` scrape, as `name{labels}`.
async fn series(target: &Target) -> std::collections::BTreeSet<String> {
    let (_, body) = bench::call(&mut target.connect().await, "GET", "/metrics", None).await;
    let text = String::from_utf8_lossy(&body);
    text.lines().filter(|l| !l.starts_with('#')).filter_map(|l| l.rsplit_once(' ').map(|(series, _)| series.to_string())).collect()
}

/// The largest tree the workspace benchmark builds.
const MAX_TREE: usize = 10_000;

async fn workspaces(mut args: impl Iterator<Item = String>) {
    let flat: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(1000);
    let fanout: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(7);
    let depth: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(4);
    let install = Install::start();
    let target = Target::from_kubeconfig(&install.kubeconfig, "kcp-admin");
    // One wildcard watch (system:masters) counts every workspace that reaches Ready.
    let masters = Target::from_kubeconfig(&install.kubeconfig, "shard-admin");
    let mut ready = ready_count(&masters, "/clusters/*/apis/tenancy.kcp.io/v1alpha1/workspaces");
    let series_before = series(&masters).await;
    let flat_ws = "apiVersion: tenancy.kcp.io/v1alpha1\nkind: Workspace\nmetadata:\n  name: flat\nspec:\n  type:\n    name: universal\n";
    install.kubectl_stdin(&["create", "-f", "-"], Some(flat_ws)).ok();
    reach(&mut ready, 1).await;
    let rss_before = bench::rss_bytes(install.pid());
    let counters_before = work_counters(&masters).await;
    println!("## kcp-bench workspaces: {flat} flat, tree fan-out {fanout} depth {depth} (at most {MAX_TREE}), 16 connections, 2 shared cores\n");
    println!("| scenario | workspaces | created to Ready per s | create p50 ms | create p99 ms |");
    println!("|---|---|---|---|---|");
    let started = Instant::now();
    let items = (0..flat).map(|i| ("root:flat".to_string(), format!("w{i}"))).collect();
    let mut s = create_workspaces(&target, items, 16, None).await;
    reach(&mut ready, 1 + flat).await;
    let rate = flat as f64 / started.elapsed().as_secs_f64();
    println!("| flat, one parent | {flat} | {rate:.0} | {:.2} | {:.2} |", s.quantile_ms(0.5), s.quantile_ms(0.99));
    let rss_after = bench::rss_bytes(install.pid());
    // Controllers keep filling the new workspaces (e.g. namespace defaults) after they report
    // Ready; at rest, once no write or reconcile counter has moved for 3 s, RSS is what the
    // workspaces cost and the counters are all the work they took.
    let mut counters_after = work_counters(&masters).await;
    for _ in 0..20 {
        tokio::time::sleep(Duration::from_secs(3)).await;
        let now = work_counters(&masters).await;
        if std::mem::replace(&mut counters_after, now) == counters_after {
            break;
        }
    }
    let rss_rest = bench::rss_bytes(install.pid());
    let series_flat = series(&masters).await;

    install.kubectl_stdin(&["create", "-f", "-"], Some(&flat_ws.replace("name: flat", "name: tree"))).ok();
    reach(&mut ready, 2 + flat).await;
    let started = Instant::now();
    let mut level = vec!["root:tree".to_string()];
    let mut total = 0;
    let mut lat = Samples::default();
    for _ in 0..depth {
        // The last level is cut short so the tree stays within MAX_TREE workspaces.
        level.truncate((MAX_TREE - total) / fanout);
        if level.is_empty() {
            break;
        }
        let items: Vec<(String, String)> = level.iter().flat_map(|p| (0..fanout).map(move |i| (p.clone(), format!("n{i}")))).collect();
        let mut s = create_workspaces(&target, items.clone(), 16.min(items.len()), None).await;
        lat.latencies.append(&mut s.latencies);
        total += items.len();
        // Children can be created under a level only once it is scheduled; wait for Ready.
        reach(&mut ready, 2 + flat + total).await;
        level = items.into_iter().map(|(p, n)| format!("{p}:{n}")).collect();
    }
    let rate = total as f64 / started.elapsed().as_secs_f64();
    println!("| tree | {total} | {rate:.0} | {:.2} | {:.2} |", lat.quantile_ms(0.5), lat.quantile_ms(0.99));
    println!("\n| memory and deletion | value |\n|---|---|");
    println!("| RSS per empty workspace (flat run) | {:.1} KiB |", rss_after.saturating_sub(rss_before) as f64 / flat as f64 / 1024.0);
    println!("| the same, at rest | {:.1} KiB |", rss_rest.saturating_sub(rss_before) as f64 / flat as f64 / 1024.0);
    // Series must not grow with workspaces; those that appear with the first workspaces are the
    // first of their kind (a verb, a status code, a controller's outcome), constants of a
    // process that has worked.
    let series_after = series(&masters).await;
    let mut new: Vec<&str> = series_after.difference(&series_before).map(|s| s.split('{').next().unwrap_or(s)).collect();
    new.dedup();
    println!(
        "| `/metrics` series at 0, {} and {} workspaces | {}, {} and {} (new after 0: {}; after {}: {:?}) |",
        2 + flat,
        2 + flat + total,
        series_before.len(),
        series_flat.len(),
        series_after.len(),
        new.join(", "),
        2 + flat,
        series_after.difference(&series_flat).collect::<Vec<_>>()
    );
    let started = Instant::now();
    install.kubectl(&["delete", "workspace", "tree", "--timeout=600s"]).ok();
    println!("| delete the {total}-workspace tree | {:.1} s |", started.elapsed().as_secs_f64());
    println!("\n| work per flat workspace | count |\n|---|---|");
    for (name, after) in &counters_after {
        let before = counters_before.get(name).copied().unwrap_or(0.0);
        let scale = if name.starts_with("reconcile ms") { 1000.0 } else { 1.0 };
        println!("| {name} | {:.2} |", scale * (after - before) / flat as f64);
    }
}

/// `kcp-bench hop PORT UPSTREAM PKI_DIR`: a bare reverse-proxy hop that only forwards (TLS in,
/// pooled mutual TLS out as `admin`), the physical ceiling of one extra hop for `proxy`.
struct Hop {
    upstream: apiserver::client::Client,
    base: String,
}

impl apiserver::server::Serves for Hop {
    async fn answer(&self, req: apiserver::server::phase::Req) -> apiserver::rest::body::Response {
        use http_body_util::BodyExt;
        let (mut parts, body) = req.into_parts();
        let path = parts.uri.path_and_query().map(|p| p.as_str().to_string()).unwrap_or_default();
        parts.uri = format!("{}{path}", self.base).parse().expect("upstream URI");
        parts.headers.remove("host");
        parts.version = http::Version::HTTP_11;
        let body = body.map_err(apiserver::client::BoxError::from).boxed_unsync();
        match self.upstream.send(http::Request::from_parts(parts, body)).await {
            Ok(resp) => {
                let (parts, body) = resp.into_parts();
                let bytes = body.collect().await.map(|b| b.to_bytes()).unwrap_or_default();
                http::Response::from_parts(parts, apiserver::rest::body::full(bytes))
            }
            Err(e) => apiserver::rest::body::error(&apimachinery::status::ApiError::unavailable(e.to_string())),
        }
    }
}

async fn hop(mut args: impl Iterator<Item = String>) {
    let port: u16 = args.next().and_then(|a| a.parse().ok()).expect("port");
    let base = args.next().expect("upstream URL");
    let pki = std::path::PathBuf::from(args.next().expect("PKI dir"));
    let read = |f: &str| std::fs::read_to_string(pki.join(f)).expect("PKI file");
    let ca = read("server-ca.crt");
    let admin = apiserver::pki::CertPair { cert_pem: read("admin.crt"), key_pem: read("admin.key") };
    let upstream = apiserver::client::Client::new(&ca, Some(&admin)).expect("client");
    let serving = apiserver::pki::CertPair { cert_pem: read("front-proxy.crt"), key_pem: read("front-proxy.key") };
    let tls = std::sync::Arc::new(apiserver::pki::server_config(&serving, &[]).expect("TLS"));
    let peers = std::sync::Arc::new(apiserver::auth::authn::Peers::clients_only(&[read("client-ca.crt")]).expect("CA"));
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await.expect("bind");
    let (_never, shutdown) = tokio::sync::watch::channel(false);
    apiserver::server::serve(listener, tls, peers, std::sync::Arc::new(Hop { upstream, base }), Default::default(), shutdown).await;
}

/// `kcp-bench proxy`: GET and LIST through (a) a shard directly, (b) a bare forwarding hop,
/// (c) the front-proxy, saturated and at 1,000 req/s; and how fast routing follows workspace
/// creation and deletion. Runs the deploy/local topology.
async fn proxy() {
    let s = e2e::sharded::Sharded::up("");
    let k = &s.kcp;
    let ws = "apiVersion: tenancy.kcp.io/v1alpha1\nkind: Workspace\nmetadata:\n  name: bench\nspec:\n  location:\n    selector:\n      matchLabels:\n        region: us\n";
    e2e::eventually("shards registered", Duration::from_secs(10), || (k.kubectl(&["get", "shard", "root"]).code == 0).then_some(()));
    k.kubectl(&["label", "shard", "root", "region=us"]).ok();
    k.kubectl_stdin(&["create", "-f", "-"], Some(ws)).ok();
    let cluster = e2e::eventually("bench workspace Ready", Duration::from_secs(20), || {
        let out = k.kubectl(&["get", "ws", "bench", "-o", "jsonpath={.status.phase} {.spec.cluster}"]).stdout;
        out.strip_prefix("Ready ").map(String::from)
    });
    for i in 0..20 {
        k.kubectl_in("root:bench", &["create", "configmap", &format!("cm-{i}"), "--from-literal=k=v"]).ok();
    }
    let hop_port = std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("port");
    let mut hop = std::process::Command::new(std::env::current_exe().expect("exe"))
        .args(["hop", &hop_port.to_string(), &s.shard_url("root"), s.pki("").to_str().expect("utf-8")])
        .spawn()
        .expect("hop");
    let ca = std::fs::read_to_string(s.pki("server-ca.crt")).expect("CA");
    let admin = Some((std::fs::read_to_string(s.pki("admin.crt")).expect("cert"), std::fs::read_to_string(s.pki("admin.key")).expect("key")));
    let hop_url = format!("https://127.0.0.1:{hop_port}");
    e2e::eventually("hop listening", Duration::from_secs(10), || std::net::TcpStream::connect(("127.0.0.1", hop_port)).ok().map(drop));
    let by_name = format!("/clusters/{cluster}/api/v1/namespaces/default/configmaps");
    let by_path = "/clusters/root:bench/api/v1/namespaces/default/configmaps".to_string();
    let routes = [
        ("(a) shard directly", Target::new(&s.shard_url("root"), &ca, admin.clone()), by_name.clone()),
        ("(b) bare hop", Target::new(&hop_url, &ca, None), by_name),
        ("(c) front-proxy", Target::new(&s.proxy_url(), &ca, admin), by_path),
    ];
    println!("## kcp-bench proxy: GET one ConfigMap, LIST 20; client, proxies and shards on the same 2 cores\n");
    println!("| route | GET req/s (16 conns) | GET p50 ms | GET p99 ms | LIST req/s | at 1,000 req/s: p50 ms | p99 ms |");
    println!("|---|---|---|---|---|---|---|");
    let mut saturated = Vec::new();
    let mut paced_p50 = Vec::new();
    for (name, target, base) in &routes {
        let (b1, b2, b3) = (base.clone(), base.clone(), base.clone());
        let mut get = bench::run(target, 16, 1000, move |_, i| ("GET".into(), format!("{b1}/cm-{}", i % 20), None)).await;
        let list = bench::run(target, 16, 200, move |_, _| ("GET".into(), b2.clone(), None)).await;
        let mut paced = bench::run_paced(target, 8, 1000.0, Duration::from_secs(5), move |_, i| ("GET".into(), format!("{b3}/cm-{}", i % 20), None)).await;
        assert_eq!(get.errors + list.errors + paced.errors, 0, "{name}: requests failed");
        println!(
            "| {name} | {:.0} | {:.2} | {:.2} | {:.0} | {:.3} | {:.3} |",
            get.rate(),
            get.quantile_ms(0.5),
            get.quantile_ms(0.99),
            list.rate(),
            paced.quantile_ms(0.5),
            paced.quantile_ms(0.99)
        );
        saturated.push(get.rate());
        paced_p50.push(paced.quantile_ms(0.5));
    }
    println!("\n| ratio | value |\n|---|---|");
    println!("| saturated GET: (c) / (b) | {:.2} |", saturated[2] / saturated[1]);
    println!("| saturated GET: (b) / (a) | {:.2} |", saturated[1] / saturated[0]);
    println!("| p50 added by (c) over (a) at 1,000 req/s | {:.3} ms |", paced_p50[2] - paced_p50[0]);
    let _ = hop.kill();
    let _ = hop.wait();

    // Routing delay: from the API's answer to the first request the proxy routes (create), or
    // refuses (delete). Creation includes scheduling the workspace.
    let mut created = Samples::default();
    let mut deleted = Samples::default();
    for i in 0..20 {
        let name = format!("r{i}");
        let t = Instant::now();
        k.kubectl_stdin(&["create", "-f", "-"], Some(&ws.replace("name: bench", &format!("name: {name}")))).ok();
        let after_create = t.elapsed();
        e2e::eventually("routed", Duration::from_secs(10), || {
            (k.kubectl(&["get", "--raw", &format!("/clusters/root:{name}/version")]).code == 0).then_some(())
        });
        created.latencies.push(t.elapsed() - after_create);
        let t = Instant::now();
        k.kubectl(&["delete", "ws", &name, "--wait=false"]).ok();
        let after_delete = t.elapsed();
        e2e::eventually("unrouted", Duration::from_secs(10), || {
            (k.kubectl(&["get", "--raw", &format!("/clusters/root:{name}/version")]).code != 0).then_some(())
        });
        deleted.latencies.push(t.elapsed() - after_delete);
    }
    println!("| routing after create: p50 / p99 (includes one kubectl run, ~50 ms) | {:.0} / {:.0} ms |", created.quantile_ms(0.5), created.quantile_ms(0.99));
    println!("| routing stops after delete: p50 / p99 (same) | {:.0} / {:.0} ms |", deleted.quantile_ms(0.5), deleted.quantile_ms(0.99));
}

/// `kcp-bench cache [rate] [seconds]`: on the deploy/local topology, WorkspaceTypes created on the
/// root shard at a steady rate, and the time until each reaches a subscriber of a cache replica
/// (the REST view's watch, fed like every shard's reader): shard write → informer → publisher →
/// replica → reader.
async fn cache(mut args: impl Iterator<Item = String>) {
    let rate: f64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(1000.0);
    let seconds: u64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(5);
    let s = e2e::sharded::Sharded::up("");
    let read = |f: &str| std::fs::read_to_string(s.pki(f)).expect("PKI file");
    let ca = read("server-ca.crt");
    let writer = Target::new(&s.shard_url("root"), &ca, Some((read("shard-admin.crt"), read("shard-admin.key"))));
    let sent: std::sync::Arc<std::sync::Mutex<std::collections::HashMap<String, Instant>>> = Default::default();
    let arrived: std::sync::Arc<std::sync::Mutex<Vec<(String, Instant)>>> = Default::default();
    for replica in ["cache-1", "cache-2"] {
        let reader = Target::new(&s.cache_url(replica), &ca, Some((read("shard-client.crt"), read("shard-client.key"))));
        let arrived = arrived.clone();
        let mut conn = reader.connect().await;
        conn.ready().await.expect("ready");
        let req = http::Request::builder()
            .uri("/services/cache/shards/*/clusters/*/apis/tenancy.kcp.io/v1alpha1/workspacetypes?watch=true")
            .header("host", "localhost")
            .body(http_body_util::Full::new(bytes::Bytes::new()))
            .expect("watch request");
        let mut body = conn.send_request(req).await.expect("watch response").into_body();
        tokio::spawn(async move {
            use http_body_util::BodyExt;
            let mut lines = apiserver::client::JsonLines::default();
            while let Some(Ok(frame)) = body.frame().await {
                let Ok(data) = frame.into_data() else { continue };
                for ev in lines.feed(&data) {
                    if ev["type"] == "ADDED" {
                        let name = ev["object"]["metadata"]["name"].as_str().unwrap_or_default().to_string();
                        arrived.lock().expect("arrivals").push((name, Instant::now()));
                    }
                }
            }
        });
    }
    let workers = 16;
    let stamps = sent.clone();
    let mut writes = bench::run_paced(&writer, workers, rate, Duration::from_secs(seconds), move |w, i| {
        let name = format!("bench-{w}-{i}");
        let body = json!({"apiVersion": "tenancy.kcp.io/v1alpha1", "kind": "WorkspaceType", "metadata": {"name": name}});
        stamps.lock().expect("stamps").insert(name, Instant::now());
        ("POST".into(), "/clusters/root/apis/tenancy.kcp.io/v1alpha1/workspacetypes".into(), Some(body))
    })
    .await;
    let expected = writes.latencies.len() - writes.errors;
    let deadline = Instant::now() + Duration::from_secs(10);
    while arrived.lock().expect("arrivals").iter().filter(|(n, _)| n.starts_with("bench-")).count() < 2 * expected && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let sent = sent.lock().expect("stamps");
    let mut propagation = Samples::default();
    for (name, at) in arrived.lock().expect("arrivals").iter() {
        if let Some(start) = sent.get(name) {
            propagation.latencies.push(at.saturating_duration_since(*start));
        }
    }
    println!("## kcp-bench cache: {rate:.0} WorkspaceType creates/s for {seconds} s on the root shard, read from both replicas' watches\n");
    println!("| measure | value |\n|---|---|");
    println!("| writes acknowledged (errors) | {expected} ({}) |", writes.errors);
    println!("| create p50 / p99 | {:.2} / {:.2} ms |", writes.quantile_ms(0.5), writes.quantile_ms(0.99));
    println!("| deliveries seen (2 replicas) | {} of {} |", propagation.latencies.len(), 2 * expected);
    println!("| shard write → reader p50 / p99 | {:.2} / {:.2} ms |", propagation.quantile_ms(0.5), propagation.quantile_ms(0.99));
}

/// What the shard stored for one object: the object as served, less what serving adds to it (the
/// resourceVersion and the `kcp.io/cluster` annotation), so the store alone writes values of the
/// same size.
async fn stored_form(target: &Target, path: &str) -> bytes::Bytes {
    let (status, body) = bench::call(&mut target.connect().await, "GET", path, None).await;
    assert_eq!(status, 200, "reading back {path}");
    let mut object: serde_json::Value = serde_json::from_slice(&body).expect("JSON object");
    let metadata = object["metadata"].as_object_mut().expect("metadata");
    metadata.remove("resourceVersion");
    if let Some(annotations) = metadata.get_mut("annotations").and_then(|a| a.as_object_mut()) {
        annotations.remove("kcp.io/cluster");
        if annotations.is_empty() {
            metadata.remove("annotations");
        }
    }
    serde_json::to_vec(&object).expect("JSON").into()
}

/// Durable ConfigMap creates through a shard on sled, on a one-member and on a three-member
/// etcd, at 1, 8 and 64 connections, next to what the store alone sustains at the same
/// concurrency (the same backend and settings, written directly, values as large as the objects
/// the shard stored): the ratio is what the request path costs. CPU time per create of each
/// process shows where the two cores went.
async fn storage(mut args: impl Iterator<Item = String>) {
    use apiserver::storage::etcd::local::LocalEtcd;
    use apiserver::storage::etcd::{EtcdConfig, EtcdStorage};
    use apiserver::storage::sled::SledStorage;
    use apiserver::storage::SharedStorage;

    let creates: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(3000);
    println!("## kcp-bench storage: {creates} durable ConfigMap creates (~300 B) per row, client and server on the same 2 cores\n");
    println!("| backend | connections | shard creates/s | p50 ms | p99 ms | errors | store alone creates/s | store p50 ms | shard / store | CPU µs per create: shard + etcd + client | store alone: etcd + client |");
    println!("|---|---|---|---|---|---|---|---|---|---|---|");
    let mut value_sizes = std::collections::BTreeSet::new();
    for members in [0, 1, 3] {
        let dir = tempfile::tempdir().expect("temp dir");
        let etcd = if members == 0 { Vec::new() } else { LocalEtcd::cluster(dir.path(), members).expect("etcd (Debian package etcd-server)") };
        let servers: Vec<String> = etcd.iter().map(|m| m.url.clone()).collect();
        let joined = servers.join(",");
        let flags: Vec<&str> = if members == 0 { Vec::new() } else { vec!["--storage", "etcd", "--etcd-servers", &joined] };
        let install = Install::start_with(tempfile::tempdir().expect("temp dir"), &flags);
        let target = Target::from_kubeconfig(&install.kubeconfig, "kcp-admin");
        let store: SharedStorage = if members == 0 {
            std::sync::Arc::new(SledStorage::open(&dir.path().join("store-alone"), 10_000).expect("sled"))
        } else {
            let config = EtcdConfig {
                servers: servers.clone(),
                tls: None,
                prefix: "/kcp-rs-bench/store-alone/".into(),
                compaction_interval: None,
                window_capacity: 10_000,
                read_cache: Vec::new(),
            };
            std::sync::Arc::new(EtcdStorage::open(&config).await.expect("etcd store"))
        };
        let backend = match members {
            0 => "sled".to_string(),
            1 => "etcd, 1 member".to_string(),
            n => format!("etcd, {n} members"),
        };
        // CPU seconds so far of the shard, of the etcd members together and of this process
        // (the HTTP client in the shard's run, the store itself in the store's run).
        let cpu = || {
            let etcd: f64 = etcd.iter().map(|m| bench::cpu_seconds(m.pid())).sum();
            [bench::cpu_seconds(install.pid()), etcd, bench::cpu_seconds(std::process::id())]
        };
        let per_create = |before: [f64; 3], after: [f64; 3], n: usize| -> [f64; 3] { std::array::from_fn(|i| (after[i] - before[i]) * 1e6 / n as f64) };
        for clients in [1, 8, 64] {
            let ns = format!("bench-{clients}");
            install.kubectl(&["create", "namespace", &ns]).ok();
            let base = format!("/clusters/root/api/v1/namespaces/{ns}/configmaps");
            let first = format!("{base}/cm-0-0");
            let per = creates / clients;
            let at_start = cpu();
            let mut shard = bench::run(&target, clients, per, move |w, i| ("POST".into(), base.clone(), Some(configmap(&ns, &format!("cm-{w}-{i}"), i)))).await;
            let at_shard_end = cpu();
            let value = stored_form(&target, &first).await;
            value_sizes.insert(value.len());
            let mut alone = bench::store_creates(store.clone(), clients, per, value).await;
            let at_end = cpu();
            let (s, a) = (per_create(at_start, at_shard_end, per * clients), per_create(at_shard_end, at_end, per * clients));
            println!(
                "| {backend} | {clients} | {:.0} | {:.2} | {:.2} | {} | {:.0} | {:.2} | {:.2} | {:.0} + {:.0} + {:.0} | {:.0} + {:.0} |",
                shard.rate(),
                shard.quantile_ms(0.5),
                shard.quantile_ms(0.99),
                shard.errors + alone.errors,
                alone.rate(),
                alone.quantile_ms(0.5),
                shard.rate() / alone.rate().max(1e-9),
                s[0],
                s[1],
                s[2],
                a[1],
                a[2],
            );
        }
    }
    println!("\nThe store alone wrote values of {value_sizes:?} bytes, the size of what the shard stored.");
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let mut args = std::env::args().skip(1).peekable();
    match args.peek().map(String::as_str) {
        Some("hop") => {
            args.next();
            return hop(args).await;
        }
        Some("proxy") => return proxy().await,
        Some("cache") => {
            args.next();
            return cache(args).await;
        }
        Some("storage") => {
            args.next();
            return storage(args).await;
        }
        Some("bindings") => {
            args.next();
            return bindings::run(args).await;
        }
        Some("views") => {
            args.next();
            return views::run(args).await;
        }
        Some("fairness") => {
            args.next();
            return fairness::run(args).await;
        }
        _ => {}
    }
    if args.peek().map(String::as_str) == Some("workspaces") {
        args.next();
        return workspaces(args).await;
    }
    let objects: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(4000);
    let workers: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(16);
    let per = objects / workers;
    let install = Install::start();
    let target = Target::from_kubeconfig(&install.kubeconfig, "kcp-admin");
    install.kubectl(&["create", "namespace", "bench"]).ok();
    let base = "/clusters/root/api/v1/namespaces/bench/configmaps";
    let rss_before = bench::rss_bytes(install.pid());
    let disk_before = bench::dir_bytes(&install.root().join("data"));

    println!("## kcp-bench: {objects} ConfigMaps (~300 B each), {workers} connections, client and server on the same 2 cores\n");
    println!("| operation | connections | req/s | p50 ms | p99 ms | errors |");
    println!("|---|---|---|---|---|---|");
    let mut create = bench::run(&target, workers, per, move |w, i| ("POST".into(), base.into(), Some(configmap("bench", &format!("cm-{w}-{i}"), i)))).await;
    row("create", workers, &mut create);
    let rss_after = bench::rss_bytes(install.pid());
    let disk_after = bench::dir_bytes(&install.root().join("data"));

    let mut serial = bench::run(&target, 1, 500, move |_, i| ("POST".into(), base.into(), Some(configmap("bench", &format!("serial-{i}"), i)))).await;
    row("create (serial)", 1, &mut serial);
    let mut get = bench::run(&target, workers, per, move |w, i| ("GET".into(), format!("{base}/cm-{w}-{i}"), None)).await;
    row("get", workers, &mut get);
    let mut get1 = bench::run(&target, 1, 2000, move |_, i| ("GET".into(), format!("{base}/cm-0-{}", i % per), None)).await;
    row("get (serial)", 1, &mut get1);
    let mut list = bench::run(&target, workers, 100, move |_, _| ("GET".into(), format!("{base}?limit=100"), None)).await;
    row("list (limit=100)", workers, &mut list);
    let mut update =
        bench::run(&target, workers, per, move |w, i| ("PUT".into(), format!("{base}/cm-{w}-{i}"), Some(configmap("bench", &format!("cm-{w}-{i}"), i + 1))))
            .await;
    row("update", workers, &mut update);

    // Watch latency: time from a write's acknowledgement to the event arriving on a watch.
    let mut watch = Samples::default();
    {
        let mut conn = target.connect().await;
        let mut writer = target.connect().await;
        conn.ready().await.expect("ready");
        let req = http::Request::builder()
            .uri(format!("{base}?watch=true&resourceVersion={}", {
                let (_, b) = bench::call(&mut writer, "GET", &format!("{base}?limit=1"), None).await;
                let v: serde_json::Value = serde_json::from_slice(&b).expect("list");
                v["metadata"]["resourceVersion"].as_str().unwrap_or("0").to_string()
            }))
            .header("host", "localhost")
            .body(http_body_util::Full::new(bytes::Bytes::new()))
            .expect("watch request");
        let resp = conn.send_request(req).await.expect("watch response");
        let mut body = resp.into_body();
        use http_body_util::BodyExt;
        let started = Instant::now();
        for i in 0..300 {
            let t = Instant::now();
            let (status, _) = bench::call(&mut writer, "POST", base, Some(&configmap("bench", &format!("watched-{i}"), i))).await;
            if status >= 300 {
                watch.errors += 1;
                continue;
            }
            loop {
                let frame = tokio::time::timeout(Duration::from_secs(5), body.frame()).await;
                match frame {
                    Ok(Some(Ok(f))) if f.data_ref().is_some_and(|d| String::from_utf8_lossy(d).contains(&format!("watched-{i}\""))) => break,
                    Ok(Some(Ok(_))) => continue,
                    _ => {
                        watch.errors += 1;
                        break;
                    }
                }
            }
            watch.latencies.push(t.elapsed());
        }
        watch.elapsed = started.elapsed();
    }
    row("create → watch event", 1, &mut watch);

    let live = objects + 500 + 300;
    println!("\n| memory and disk | value |");
    println!("|---|---|");
    println!("| RSS growth per created object | {:.0} B |", (rss_after.saturating_sub(rss_before)) as f64 / objects as f64);
    println!("| disk growth per created object | {:.0} B |", (disk_after.saturating_sub(disk_before)) as f64 / objects as f64);
    // Many updates of the same objects: sled's known space amplification shows here.
    for _ in 0..3 {
        bench::run(&target, workers, per, move |w, i| ("PUT".into(), format!("{base}/cm-{w}-{i}"), Some(configmap("bench", &format!("cm-{w}-{i}"), i + 7))))
            .await;
    }
    let rss_final = bench::rss_bytes(install.pid());
    let disk_final = bench::dir_bytes(&install.root().join("data"));
    println!("| after 4 full update rounds: RSS per live object | {:.0} B |", rss_final as f64 / live as f64);
    println!("| after 4 full update rounds: disk per live object | {:.0} B |", disk_final as f64 / live as f64);
    println!("| server RSS total | {:.1} MiB |", rss_final as f64 / 1048576.0);
}
