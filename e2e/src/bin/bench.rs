//! `kcp-bench`: throughput and latency of get/list/create/update/watch against a real
//! `kcp start` over TLS, plus memory and disk per stored object. Prints a Markdown report.
//!
//! Usage: `cargo run --release -p e2e --bin kcp-bench -- [objects] [workers]`, or
//! `... -- workspaces [flat] [fanout] [depth]` (build `kcp` in the same profile first).

use std::time::{Duration, Instant};

use e2e::bench::{self, Samples, Target};
use e2e::Install;
use serde_json::json;

fn configmap(ns: &str, name: &str, value: usize) -> serde_json::Value {
    json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "namespace": ns}, "data": {"value": value.to_string(), "payload": "x".repeat(256)}})
}

fn row(name: &str, workers: usize, s: &mut Samples) {
    println!(
        "| {name} | {workers} | {:.0} | {:.2} | {:.2} | {} |",
        s.rate(),
        s.quantile_ms(0.5),
        s.quantile_ms(0.99),
        s.errors
    );
}

/// Creates workspaces named `w<i>` under `parent` on `workers` connections; returns the samples.
async fn create_workspaces(target: &Target, parent: &str, names: Vec<String>, workers: usize) -> Samples {
    let names = std::sync::Arc::new(names);
    let per = names.len().div_ceil(workers);
    let parent = parent.to_string();
    let all = names.clone();
    bench::run(target, workers, per, move |w, i| {
        let idx = (w * per + i).min(all.len() - 1);
        let body = json!({"apiVersion": "tenancy.kcp.io/v1alpha1", "kind": "Workspace", "metadata": {"name": all[idx]}, "spec": {"type": {"name": "universal", "path": "root"}}});
        ("POST".into(), format!("/clusters/{parent}/apis/tenancy.kcp.io/v1alpha1/workspaces"), Some(body))
    })
    .await
}

/// Waits until every workspace in `parent` is Ready; returns how many there are.
async fn wait_ready(target: &Target, parent: &str, expect: usize) -> usize {
    let mut conn = target.connect().await;
    loop {
        let (_, b) = bench::call(&mut conn, "GET", &format!("/clusters/{parent}/apis/tenancy.kcp.io/v1alpha1/workspaces"), None).await;
        let v: serde_json::Value = serde_json::from_slice(&b).unwrap_or_default();
        let items = v["items"].as_array().cloned().unwrap_or_default();
        let ready = items.iter().filter(|w| w["status"]["phase"] == "Ready").count();
        if ready >= expect {
            return ready;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// `kcp-bench workspaces FLAT FANOUT DEPTH`: workspaces created to Ready per second, flat and
/// as a tree, RSS per empty workspace, and the time to delete the tree.
async fn workspaces(mut args: impl Iterator<Item = String>) {
    let flat: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(1000);
    let fanout: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(7);
    let depth: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(4);
    let install = Install::start();
    let target = Target::from_kubeconfig(&install.kubeconfig, "kcp-admin");
    let flat_ws = "apiVersion: tenancy.kcp.io/v1alpha1\nkind: Workspace\nmetadata:\n  name: flat\nspec:\n  type:\n    name: universal\n";
    install.kubectl_stdin(&["create", "-f", "-"], Some(flat_ws)).ok();
    wait_ready(&target, "root", 1).await;
    let rss_before = bench::rss_bytes(install.pid());
    println!("## kcp-bench workspaces: {flat} flat, tree fan-out {fanout} depth {depth}, 16 connections, 2 shared cores\n");
    println!("| scenario | workspaces | created to Ready per s | create p50 ms | create p99 ms |");
    println!("|---|---|---|---|---|");
    let started = Instant::now();
    let mut s = create_workspaces(&target, "root:flat", (0..flat).map(|i| format!("w{i}")).collect(), 16).await;
    wait_ready(&target, "root:flat", flat).await;
    let rate = flat as f64 / started.elapsed().as_secs_f64();
    println!("| flat, one parent | {flat} | {rate:.0} | {:.2} | {:.2} |", s.quantile_ms(0.5), s.quantile_ms(0.99));
    let rss_after = bench::rss_bytes(install.pid());

    install.kubectl_stdin(&["create", "-f", "-"], Some(&flat_ws.replace("name: flat", "name: tree"))).ok();
    wait_ready(&target, "root", 2).await;
    let started = Instant::now();
    let mut level = vec!["root:tree".to_string()];
    let mut total = 0;
    let mut lat = Samples::default();
    for _ in 0..depth {
        let mut next = Vec::new();
        for parent in &level {
            let names: Vec<String> = (0..fanout).map(|i| format!("n{i}")).collect();
            let mut s = create_workspaces(&target, parent, names, fanout.min(16)).await;
            lat.latencies.append(&mut s.latencies);
            next.extend((0..fanout).map(|i| format!("{parent}:n{i}")));
        }
        for parent in &level {
            wait_ready(&target, parent, fanout).await;
        }
        total += next.len();
        level = next;
    }
    let rate = total as f64 / started.elapsed().as_secs_f64();
    println!("| tree | {total} | {rate:.0} | {:.2} | {:.2} |", lat.quantile_ms(0.5), lat.quantile_ms(0.99));
    println!("\n| memory and deletion | value |\n|---|---|");
    println!("| RSS per empty workspace (flat run) | {:.1} KiB |", rss_after.saturating_sub(rss_before) as f64 / flat as f64 / 1024.0);
    let started = Instant::now();
    install.kubectl(&["delete", "workspace", "tree", "--timeout=600s"]).ok();
    println!("| delete the {total}-workspace tree | {:.1} s |", started.elapsed().as_secs_f64());
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let mut args = std::env::args().skip(1).peekable();
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
    let mut create = bench::run(&target, workers, per, move |w, i| {
        ("POST".into(), base.into(), Some(configmap("bench", &format!("cm-{w}-{i}"), i)))
    })
    .await;
    row("create", workers, &mut create);
    let rss_after = bench::rss_bytes(install.pid());
    let disk_after = bench::dir_bytes(&install.root().join("data"));

    let mut serial = bench::run(&target, 1, 500, move |_, i| ("POST".into(), base.into(), Some(configmap("bench", &format!("serial-{i}"), i)))).await;
    row("create (serial)", 1, &mut serial);
    let mut get = bench::run(&target, workers, per, move |w, i| ("GET".into(), format!("{base}/cm-{w}-{i}"), None)).await;
    row("get", workers, &mut get);
    let mut get1 = bench::run(&target, 1, 2000, move |_, i| ("GET".into(), format!("{base}/cm-0-{}", i % per), None)).await;
    row("get (serial)", 1, &mut get1);
    let mut list = bench::run(&target, workers, 20, move |_, _| ("GET".into(), format!("{base}?limit=100"), None)).await;
    row("list (limit=100)", workers, &mut list);
    let mut update = bench::run(&target, workers, per, move |w, i| {
        ("PUT".into(), format!("{base}/cm-{w}-{i}"), Some(configmap("bench", &format!("cm-{w}-{i}"), i + 1)))
    })
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
        bench::run(&target, workers, per, move |w, i| {
            ("PUT".into(), format!("{base}/cm-{w}-{i}"), Some(configmap("bench", &format!("cm-{w}-{i}"), i + 7)))
        })
        .await;
    }
    let rss_final = bench::rss_bytes(install.pid());
    let disk_final = bench::dir_bytes(&install.root().join("data"));
    println!("| after 4 full update rounds: RSS per live object | {:.0} B |", rss_final as f64 / live as f64);
    println!("| after 4 full update rounds: disk per live object | {:.0} B |", disk_final as f64 / live as f64);
    println!("| server RSS total | {:.1} MiB |", rss_final as f64 / 1048576.0);
}
