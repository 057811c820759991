//! `kcp-bench`: throughput and latency of get/list/create/update/watch against a real
//! `kcp start` over TLS, plus memory and disk per stored object. Prints a Markdown report.
//!
//! Usage: `cargo run --release -p e2e --bin kcp-bench -- [objects] [workers]`
//! (build `kcp` in the same profile first).

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

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let mut args = std::env::args().skip(1);
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
