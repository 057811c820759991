//! `kcp-bench bindings`: what an APIBinding costs. A provider exports `cowboys.wildwest.dev`
//! and consumer workspaces bind it, one binding per workspace (an export's group/resource can
//! be bound once per workspace, so that is the shape many bindings take). Measured: the time
//! from creating a binding to its `Ready` condition, on one shard and across shards; the
//! server's memory, threads and open files per binding; and requests/s on the bound resource
//! against a local CRD of the same schema in the same process.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use e2e::bench::{self, Samples, Target};
use e2e::sharded::{create_ready, label_shards, Sharded};
use e2e::Install;
use serde_json::{json, Value};

use super::{create_workspaces, reach};

/// Connections for the bulk phases and the request rounds.
pub(super) const WORKERS: usize = 16;

/// Objects in each namespace the request rounds read.
const OBJECTS: usize = 100;

/// The schema both sides serve: the apibinding e2e test's cowboys, with defaulting, a maximum,
/// a status subresource and a printer column.
fn version() -> Value {
    json!({
        "name": "v1alpha1", "served": true, "storage": true, "subresources": {"status": {}},
        "additionalPrinterColumns": [{"name": "Intent", "type": "string", "jsonPath": ".spec.intent"}],
    })
}

fn open_api() -> Value {
    json!({"type": "object", "properties": {
        "spec": {"type": "object", "properties": {"intent": {"type": "string"}, "horses": {"type": "integer", "maximum": 10, "default": 1}}},
        "status": {"type": "object", "properties": {"result": {"type": "string"}}},
    }})
}

/// The APIResourceSchema and the APIExport of the provider.
fn export() -> [Value; 2] {
    let mut version = version();
    version["schema"] = open_api();
    [
        json!({"apiVersion": "apis.kcp.io/v1alpha1", "kind": "APIResourceSchema", "metadata": {"name": "bench.cowboys.wildwest.dev"},
               "spec": {"group": "wildwest.dev", "scope": "Namespaced", "versions": [version],
                        "names": {"plural": "cowboys", "singular": "cowboy", "kind": "Cowboy", "listKind": "CowboyList"}}}),
        json!({"apiVersion": "apis.kcp.io/v1alpha2", "kind": "APIExport", "metadata": {"name": "cowboys"},
               "spec": {"resources": [{"name": "cowboys", "group": "wildwest.dev", "schema": "bench.cowboys.wildwest.dev", "storage": {"crd": {}}}]}}),
    ]
}

/// The local CRD compared with the bound resource: the same schema as `widgets`.
fn crd() -> Value {
    let mut version = version();
    version["schema"] = json!({"openAPIV3Schema": open_api()});
    json!({"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition", "metadata": {"name": "widgets.wildwest.dev"},
           "spec": {"group": "wildwest.dev", "scope": "Namespaced", "versions": [version],
                    "names": {"plural": "widgets", "singular": "widget", "kind": "Widget", "listKind": "WidgetList"}}})
}

/// An object of either side.
fn object(kind: &str, namespace: &str, name: &str, horses: usize) -> Value {
    json!({"apiVersion": "wildwest.dev/v1alpha1", "kind": kind, "metadata": {"name": name, "namespace": namespace},
           "spec": {"intent": "ride", "horses": horses % 10}})
}

pub(super) fn binding(name: &str) -> Value {
    json!({"apiVersion": "apis.kcp.io/v1alpha2", "kind": "APIBinding", "metadata": {"name": name},
           "spec": {"reference": {"export": {"path": "root:provider", "name": "cowboys"}}}})
}

pub(super) fn bindings_path(workspace: &str) -> String {
    format!("/clusters/{workspace}/apis/apis.kcp.io/v1alpha2/apibindings")
}

/// Whether `name` is `<prefix><number>`: one of a run's workspaces or bindings.
pub(super) fn numbered(name: &str, prefix: &str) -> bool {
    name.strip_prefix(prefix).is_some_and(|rest| rest.parse::<usize>().is_ok())
}

/// Sends a request until it is answered with success (or 409 for a create that went through
/// before), while what it needs (routing, discovery) is still on its way.
async fn until_ok(target: &Target, method: &str, path: &str, body: Option<&Value>) {
    let mut conn = target.connect().await;
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (status, answer) = bench::call(&mut conn, method, path, body).await;
        if status < 300 || status == 409 && method == "POST" {
            return;
        }
        assert!(Instant::now() < deadline, "{method} {path}: {status} {}", String::from_utf8_lossy(&answer));
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Whether a binding's `Ready` condition is True.
fn is_ready(binding: &Value) -> bool {
    binding["status"]["conditions"].as_array().is_some_and(|cs| cs.iter().any(|c| c["type"] == "Ready" && c["status"] == "True"))
}

/// Where a benchmark runs: kubectl for the setup, and the connections of the measurements.
pub(super) struct Place<'a> {
    kubectl: &'a Install,
    /// Writes by workspace path, as kcp-admin.
    pub(super) api: Target,
    /// system:masters on the shard holding the Workspace objects (children of root).
    root_shard: Target,
    /// system:masters on the shard holding the consumers' logical clusters.
    pub(super) consumer_shard: Target,
    /// Shard labels placing the provider and the consumers (none on one shard).
    regions: Option<(&'static str, &'static str)>,
}

impl Place<'_> {
    /// Creates `root:provider` with the export, and waits until the export has its identity.
    pub(super) fn provide(&self) {
        create_ready(self.kubectl, "root", "provider", self.regions.map(|r| r.0));
        for doc in export() {
            self.kubectl.kubectl_in_stdin("root:provider", &["create", "-f", "-"], &doc.to_string()).ok();
        }
        e2e::eventually("the export's identity", Duration::from_secs(20), || {
            let hash = self.kubectl.kubectl_in("root:provider", &["get", "apiexport", "cowboys", "-o", "jsonpath={.status.identityHash}"]).stdout;
            (!hash.is_empty()).then_some(())
        });
    }

    /// Creates the workspaces `root:<prefix><i>` for i in 0..n (n rounded up to a multiple of
    /// the connections) and waits until they are Ready; returns how long that took.
    pub(super) async fn consumers(&self, prefix: &str, n: usize) -> Duration {
        let owned = prefix.to_string();
        let mut ready = bench::count_matching(self.root_shard.clone(), "/clusters/root/apis/tenancy.kcp.io/v1alpha1/workspaces".into(), move |w| {
            w["status"]["phase"] == "Ready" && w["metadata"]["name"].as_str().is_some_and(|name| numbered(name, &owned))
        });
        // Every connection creates as many (create_workspaces would repeat the last one).
        let n = n.div_ceil(WORKERS) * WORKERS;
        let started = Instant::now();
        let items = (0..n).map(|i| ("root".to_string(), format!("{prefix}{i}"))).collect();
        let created = create_workspaces(&self.api, items, WORKERS, self.regions.map(|r| r.1)).await;
        assert_eq!(created.errors, 0, "workspaces refused");
        reach(&mut ready, n).await;
        started.elapsed()
    }

    /// A watch recording when each binding of the consumers' shard whose name passes `named`
    /// turns Ready.
    pub(super) fn watch_ready(&self, named: impl Fn(&str) -> bool + Send + 'static) -> (bench::Matches, tokio::sync::watch::Receiver<usize>) {
        let path = "/clusters/*/apis/apis.kcp.io/v1alpha2/apibindings".to_string();
        bench::first_matches(self.consumer_shard.clone(), path, move |b| is_ready(b) && b["metadata"]["name"].as_str().is_some_and(&named))
    }

    /// Binds `root:<prefix>warm` once, so the shared bound CRD exists and the export is known
    /// on the consumers' shard before anything is timed.
    async fn warm_up(&self, prefix: &str) {
        let name = format!("{prefix}warm");
        let watched = name.clone();
        let (_, mut ready) = self.watch_ready(move |n| n == watched);
        create_ready(self.kubectl, "root", &name, self.regions.map(|r| r.1));
        until_ok(&self.api, "POST", &bindings_path(&format!("root:{name}")), Some(&binding(&name))).await;
        tokio::time::timeout(Duration::from_secs(30), ready.wait_for(|c| *c >= 1)).await.expect("warm-up binding Ready").expect("watch");
    }

    /// Binds each of `root:<prefix><i>` for i in 0..n at `rate` per second on 4 connections,
    /// and returns the time from each create being sent to its Ready event arriving.
    async fn time_bindings(&self, prefix: &str, n: usize, rate: f64) -> Samples {
        let (owned, warm) = (prefix.to_string(), format!("{prefix}warm"));
        let (ready_at, mut ready) = self.watch_ready(move |name| numbered(name, &owned) || name == warm);
        // The warm-up binding arrives with the watch's initial state: from then on the watch
        // is open, and no Ready event can be late for having come before it.
        tokio::time::timeout(Duration::from_secs(30), ready.wait_for(|c| *c >= 1)).await.expect("watch open").expect("watch");
        let sent: Arc<Mutex<HashMap<String, Instant>>> = Default::default();
        let stamps = sent.clone();
        let (workers, owned) = (4, prefix.to_string());
        let per = n / workers;
        let created = bench::run_paced(&self.api, workers, rate, Duration::from_secs_f64((per * workers) as f64 / rate), move |w, i| {
            let name = format!("{owned}{}", w * per + i);
            stamps.lock().expect("stamps").insert(name.clone(), Instant::now());
            ("POST".into(), bindings_path(&format!("root:{name}")), Some(binding(&name)))
        })
        .await;
        assert_eq!(created.errors, 0, "bindings refused");
        let expected = 1 + created.latencies.len();
        tokio::time::timeout(Duration::from_secs(60), ready.wait_for(|c| *c >= expected)).await.expect("bindings Ready").expect("watch");
        let sent = sent.lock().expect("stamps");
        let mut samples = Samples { elapsed: created.elapsed, ..Samples::default() };
        for (name, at) in ready_at.lock().expect("matches").values() {
            if let Some(start) = sent.get(name) {
                samples.latencies.push(at.saturating_duration_since(*start));
            }
        }
        samples
    }
}

/// The place of a `kcp start` install.
fn single(install: &Install) -> Place<'_> {
    Place {
        kubectl: install,
        api: Target::from_kubeconfig(&install.kubeconfig, "kcp-admin"),
        root_shard: Target::from_kubeconfig(&install.kubeconfig, "shard-admin"),
        consumer_shard: Target::from_kubeconfig(&install.kubeconfig, "shard-admin"),
        regions: None,
    }
}

/// The place of the deploy/local topology: provider on the root shard, consumers on shard-2,
/// writes through the front-proxy.
fn sharded(s: &Sharded) -> Place<'_> {
    label_shards(s);
    sharded_to(s, "eu")
}

/// The deploy/local topology (shards labelled) with the provider on the root shard and
/// consumers on the shard labelled `region`.
pub(super) fn sharded_to<'a>(s: &'a Sharded, region: &'static str) -> Place<'a> {
    let read = |f: &str| std::fs::read_to_string(s.pki(f)).expect("PKI file");
    let ca = read("server-ca.crt");
    let masters = Some((read("shard-admin.crt"), read("shard-admin.key")));
    Place {
        kubectl: &s.kcp,
        api: Target::new(&s.proxy_url(), &ca, Some((read("admin.crt"), read("admin.key")))),
        root_shard: Target::new(&s.shard_url("root"), &ca, masters.clone()),
        consumer_shard: Target::new(&s.shard_url(if region == "us" { "root" } else { "shard-2" }), &ca, masters),
        regions: Some(("us", region)),
    }
}

/// Latency rows: created → Ready over `n` bindings at 20 per second.
async fn latency(place: &Place<'_>, n: usize) -> Samples {
    place.provide();
    place.consumers("c", n).await;
    place.warm_up("c").await;
    place.time_bindings("c", n, 20.0).await
}

/// Requests/s on cowboys bound in `root:c0` against widgets of a CRD in `root:local`, in
/// `rounds` rounds alternating which side goes first.
async fn requests(place: &Place<'_>, rounds: usize) {
    let k = place.kubectl;
    create_ready(k, "root", "local", None);
    k.kubectl_in_stdin("root:local", &["create", "-f", "-"], &crd().to_string()).ok();
    k.kubectl_in("root:local", &["wait", "--for=condition=Established", "crd/widgets.wildwest.dev", "--timeout=30s"]).ok();
    // Reads go to namespace default, creates to namespace bench, so lists keep their length.
    let sides = [
        ("Cowboy", "/clusters/root:c0/apis/wildwest.dev/v1alpha1/namespaces/{ns}/cowboys"),
        ("Widget", "/clusters/root:local/apis/wildwest.dev/v1alpha1/namespaces/{ns}/widgets"),
    ];
    for (workspace, (kind, base)) in ["root:c0", "root:local"].into_iter().zip(sides) {
        k.kubectl_in(workspace, &["create", "namespace", "bench"]).ok();
        let (kind, base) = (kind.to_string(), base.replace("{ns}", "default"));
        until_ok(&place.api, "GET", &base, None).await;
        let per = OBJECTS / 4;
        let made =
            bench::run(&place.api, 4, per, move |w, i| ("POST".into(), base.clone(), Some(object(&kind, "default", &format!("o-{}", w * per + i), i)))).await;
        assert_eq!(made.errors, 0, "objects refused");
    }
    let ops = ["GET", "LIST", "CREATE"];
    let mut totals: HashMap<(usize, usize), Samples> = HashMap::new();
    let mut ratios: HashMap<usize, Vec<f64>> = HashMap::new();
    for round in 0..rounds {
        for (o, op) in ops.iter().enumerate() {
            let mut rates = [0.0; 2];
            for s in [round % 2, 1 - round % 2] {
                let (kind, reads, writes) = (sides[s].0.to_string(), sides[s].1.replace("{ns}", "default"), sides[s].1.replace("{ns}", "bench"));
                let samples = match *op {
                    "GET" => bench::run(&place.api, WORKERS, 300, move |_, i| ("GET".into(), format!("{reads}/o-{}", i % OBJECTS), None)).await,
                    "LIST" => bench::run(&place.api, WORKERS, 20, move |_, _| ("GET".into(), reads.clone(), None)).await,
                    _ => {
                        bench::run(&place.api, WORKERS, 30, move |w, i| {
                            ("POST".into(), writes.clone(), Some(object(&kind, "bench", &format!("r{round}-{w}-{i}"), i)))
                        })
                        .await
                    }
                };
                rates[s] = samples.rate();
                let total = totals.entry((o, s)).or_default();
                total.latencies.extend(samples.latencies);
                total.elapsed += samples.elapsed;
                total.errors += samples.errors;
            }
            ratios.entry(o).or_default().push(rates[0] / rates[1]);
        }
    }
    println!("\n| {WORKERS} connections, {rounds} interleaved rounds | bound req/s | CRD req/s | ratio | ratio per round, min–max | bound p50 / p99 ms | CRD p50 / p99 ms | errors |");
    println!("|---|---|---|---|---|---|---|---|");
    for (o, op) in ops.iter().enumerate() {
        let label = if *op == "LIST" { format!("LIST ({OBJECTS} objects)") } else { op.to_string() };
        let mut bound = totals.remove(&(o, 0)).unwrap_or_default();
        let mut local = totals.remove(&(o, 1)).unwrap_or_default();
        let rs = &ratios[&o];
        let (min, max) = rs.iter().fold((f64::MAX, 0.0f64), |(lo, hi), r| (lo.min(*r), hi.max(*r)));
        println!(
            "| {label} | {:.0} | {:.0} | {:.2} | {min:.2}–{max:.2} | {:.2} / {:.2} | {:.2} / {:.2} | {} |",
            bound.rate(),
            local.rate(),
            bound.rate() / local.rate(),
            bound.quantile_ms(0.5),
            bound.quantile_ms(0.99),
            local.quantile_ms(0.5),
            local.quantile_ms(0.99),
            bound.errors + local.errors
        );
    }
}

/// The server's footprint after a few quiet seconds: (RSS bytes, threads, open files).
async fn footprint(pid: u32) -> (u64, u64, usize) {
    tokio::time::sleep(Duration::from_secs(5)).await;
    (bench::rss_bytes(pid), bench::threads(pid), bench::open_files(pid))
}

/// Memory, threads and open files per binding: `n` workspaces, then one binding in each.
async fn memory(n: usize) {
    let install = Install::start();
    let place = single(&install);
    place.provide();
    place.warm_up("m").await;
    let start = footprint(install.pid()).await;
    let ws_time = place.consumers("m", n).await;
    let workspaces = footprint(install.pid()).await;
    let (_, mut ready) = place.watch_ready(|name| numbered(name, "m"));
    let started = Instant::now();
    let per = n / WORKERS;
    let created = bench::run(&place.api, WORKERS, per, move |w, i| {
        let name = format!("m{}", w * per + i);
        ("POST".into(), bindings_path(&format!("root:{name}")), Some(binding(&name)))
    })
    .await;
    assert_eq!(created.errors, 0, "bindings refused");
    let bound_n = per * WORKERS;
    tokio::time::timeout(Duration::from_secs(600), ready.wait_for(|c| *c >= bound_n)).await.expect("bindings Ready").expect("watch");
    let bind_time = started.elapsed();
    let bound = footprint(install.pid()).await;
    let kib = |from: u64, to: u64, per: usize| (to as f64 - from as f64) / per as f64 / 1024.0;
    println!("\n| {n} workspaces, then a binding in {bound_n} of them, one shard | value |\n|---|---|");
    println!("| workspaces created to Ready | {:.0} /s ({:.1} s) |", n as f64 / ws_time.as_secs_f64(), ws_time.as_secs_f64());
    println!("| bindings created to Ready ({WORKERS} connections) | {:.0} /s ({:.1} s) |", bound_n as f64 / bind_time.as_secs_f64(), bind_time.as_secs_f64());
    println!(
        "| RSS: start / after workspaces / after bindings | {:.1} / {:.1} / {:.1} MiB |",
        start.0 as f64 / 1048576.0,
        workspaces.0 as f64 / 1048576.0,
        bound.0 as f64 / 1048576.0
    );
    println!("| RSS per workspace | {:.1} KiB |", kib(start.0, workspaces.0, n));
    println!("| RSS per binding (after bindings − after workspaces) | {:.1} KiB |", kib(workspaces.0, bound.0, bound_n));
    println!("| threads: start / after workspaces / after bindings | {} / {} / {} |", start.1, workspaces.1, bound.1);
    println!("| open files: start / after workspaces / after bindings | {} / {} / {} |", start.2, workspaces.2, bound.2);
}

/// `kcp-bench bindings [N] [MEMORY_N] [ROUNDS]`; a count of 0 skips its part.
pub async fn run(mut args: impl Iterator<Item = String>) {
    let n: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(200);
    let memory_n: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(10_000);
    let rounds: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(5);
    println!("## kcp-bench bindings: {n} bindings created at 20/s, timed to Ready; {memory_n} bindings for memory; {rounds} request rounds\n");
    if n > 0 || rounds > 0 {
        let install = Install::start();
        let place = single(&install);
        let mut same = latency(&place, n.max(4)).await;
        let s = Sharded::up("");
        let mut cross = latency(&sharded(&s), n.max(4)).await;
        drop(s);
        println!("| binding created → Ready (watch event) | bindings | p50 ms | p90 ms | p99 ms | max ms |\n|---|---|---|---|---|---|");
        for (label, samples) in [("same shard (`kcp start`)", &mut same), ("across shards (deploy/local: provider on root, consumers on shard-2)", &mut cross)]
        {
            println!(
                "| {label} | {} | {:.1} | {:.1} | {:.1} | {:.1} |",
                samples.latencies.len(),
                samples.quantile_ms(0.5),
                samples.quantile_ms(0.9),
                samples.quantile_ms(0.99),
                samples.quantile_ms(1.0)
            );
        }
        if rounds > 0 {
            requests(&place, rounds).await;
        }
    }
    if memory_n > 0 {
        memory(memory_n).await;
    }
}
