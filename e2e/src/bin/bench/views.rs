//! `kcp-bench views`: the apiexport view of one export whose consumers are spread over two
//! shards (deploy/local), read per shard and through the front-proxy's merged URL. Measured:
//! the latency from a consumer's write to the provider's watch event (p50/p99), on the URL of
//! the writer's shard and on the merged URL; the events per second a burst of writes in every
//! consumer delivers through the merged URL; and the memory one more provider watch costs the
//! proxy and the shards, with few and with many consumers (kcp's view costs one storage watch
//! per shard and resource, whatever the number of consumers; so must ours).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use e2e::bench::{self, Samples, Target};
use e2e::sharded::{label_shards, Sharded};
use serde_json::json;

use super::bindings::{self, Place};

/// Provider watches opened for each memory reading.
const WATCHES: usize = 100;

/// Creates `count` consumers `root:<prefix><i>` through `place` and binds each to the export;
/// returns their workspace paths once every binding is Ready.
async fn bind(place: &Place<'_>, prefix: &str, count: usize) -> Vec<String> {
    place.consumers(prefix, count).await;
    let owned = prefix.to_string();
    let (_, mut ready) = place.watch_ready(move |name| bindings::numbered(name, &owned));
    let n = count.div_ceil(bindings::WORKERS) * bindings::WORKERS;
    let per = n / bindings::WORKERS;
    let owned = prefix.to_string();
    let created = bench::run(&place.api, bindings::WORKERS, per, move |w, i| {
        let name = format!("{owned}{}", w * per + i);
        ("POST".into(), bindings::bindings_path(&format!("root:{name}")), Some(bindings::binding(&name)))
    })
    .await;
    assert_eq!(created.errors, 0, "bindings refused");
    tokio::time::timeout(Duration::from_secs(600), ready.wait_for(|c| *c >= n)).await.expect("bindings Ready").expect("watch");
    (0..n).map(|i| format!("root:{prefix}{i}")).collect()
}

/// RSS of the proxy and both shards.
fn rss(s: &Sharded) -> [u64; 3] {
    ["front-proxy", "root", "shard-2"].map(|c| bench::rss_bytes(s.pid(c)))
}

/// KiB each of [`WATCHES`] more provider watches of the merged URL costs the proxy and each
/// shard once open: watches from the current resourceVersion, as an informer's after its list,
/// so the figure is what a watch keeps, not the objects its first list carried.
async fn watch_memory(s: &Sharded, proxy: &Target, merged: &str) -> [f64; 3] {
    let mut conn = proxy.connect().await;
    let (status, list) = bench::call(&mut conn, "GET", merged, None).await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&list));
    let list: serde_json::Value = serde_json::from_slice(&list).expect("list JSON");
    let from = format!("{merged}?resourceVersion={}", list["metadata"]["resourceVersion"].as_str().expect("resourceVersion"));
    tokio::time::sleep(Duration::from_secs(3)).await;
    let before = rss(s);
    let opened: Vec<_> = (0..WATCHES).map(|_| bench::count_matching(proxy.clone(), from.clone(), |_| true)).collect();
    tokio::time::sleep(Duration::from_secs(5)).await;
    drop(opened);
    let after = rss(s);
    std::array::from_fn(|i| (after[i] as f64 - before[i] as f64) / WATCHES as f64 / 1024.0)
}

/// Creates cowboys named `<tag>-<k>` in `consumers` (round robin) on `workers` connections,
/// at `rate` per second (unpaced when None); returns when each was sent.
async fn write(place: &Place<'_>, consumers: &[String], tag: &str, total: usize, rate: Option<f64>) -> (HashMap<String, Instant>, Samples) {
    let sent: Arc<Mutex<HashMap<String, Instant>>> = Default::default();
    let stamps = sent.clone();
    let (consumers, tag) = (Arc::new(consumers.to_vec()), tag.to_string());
    let workers = 8;
    let per = total / workers;
    let make = move |w: usize, i: usize| {
        let k = w * per + i;
        let name = format!("{tag}-{k}");
        stamps.lock().expect("stamps").insert(name.clone(), Instant::now());
        let ws = &consumers[k % consumers.len()];
        let body = json!({"apiVersion": "wildwest.dev/v1alpha1", "kind": "Cowboy", "metadata": {"name": name}, "spec": {"intent": "ride"}});
        ("POST".to_string(), format!("/clusters/{ws}/apis/wildwest.dev/v1alpha1/namespaces/default/cowboys"), Some(body))
    };
    let samples = match rate {
        Some(rate) => bench::run_paced(&place.api, workers, rate, Duration::from_secs_f64((per * workers) as f64 / rate), make).await,
        None => bench::run(&place.api, workers, per, make).await,
    };
    assert_eq!(samples.errors, 0, "cowboys refused");
    let sent = sent.lock().expect("stamps").clone();
    (sent, samples)
}

/// Watch arrival minus send time for every object of `sent` that `matches` saw.
fn delays(sent: &HashMap<String, Instant>, matches: &bench::Matches) -> Samples {
    let mut samples = Samples::default();
    for (name, at) in matches.lock().expect("matches").values() {
        if let Some(start) = sent.get(name) {
            samples.latencies.push(at.saturating_duration_since(*start));
        }
    }
    samples
}

/// `kcp-bench views [CONSUMERS] [BURST]`.
pub async fn run(mut args: impl Iterator<Item = String>) {
    let n: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(1000);
    let burst: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(4000);
    println!("## kcp-bench views: {n} consumers over two shards, a burst of {burst} writes\n");
    let s = Sharded::up("");
    label_shards(&s);
    let west = bindings::sharded_to(&s, "us");
    let east = bindings::sharded_to(&s, "eu");
    west.provide();
    let export_cluster = s.kcp.kubectl(&["get", "workspace", "provider", "-o", "jsonpath={.spec.cluster}"]).ok().trim().to_string();
    let path = format!("/services/apiexport/{export_cluster}/cowboys/clusters/*/apis/wildwest.dev/v1alpha1/cowboys");

    // Memory of a provider watch with few consumers, then with many.
    let few = (n / 10).max(2) / 2;
    let mut consumers = bind(&west, "fw", few).await;
    consumers.extend(bind(&east, "fe", few).await);
    write(&west, &consumers, "seed", consumers.len(), None).await;
    let few_n = consumers.len();
    let at_few = watch_memory(&s, &west.api, &path).await;
    let mut east_many = bind(&east, "me", (n - few_n) / 2).await;
    consumers.extend(bind(&west, "mw", (n - few_n) / 2).await);
    consumers.extend(east_many.iter().cloned());
    write(&west, &consumers, "seed2", consumers.len(), None).await;
    let at_many = watch_memory(&s, &west.api, &path).await;
    println!("| provider watch of the merged URL | consumers | proxy KiB/watch | root shard KiB/watch | shard-2 KiB/watch |\n|---|---|---|---|---|");
    for (label, count, kib) in [("few consumers", few_n, at_few), ("many consumers", consumers.len(), at_many)] {
        println!("| {label} | {count} | {:.1} | {:.1} | {:.1} |", kib[0], kib[1], kib[2]);
    }

    // Latency from a write in a shard-2 consumer to the provider's event, per URL.
    let (on_merged, _) = bench::first_matches(west.api.clone(), path.clone(), |c| c["metadata"]["name"].as_str().is_some_and(|n| n.starts_with("lat-")));
    let (on_shard, _) =
        bench::first_matches(east.consumer_shard.clone(), path.clone(), |c| c["metadata"]["name"].as_str().is_some_and(|n| n.starts_with("lat-")));
    tokio::time::sleep(Duration::from_secs(2)).await;
    east_many.truncate(100);
    let (sent, _) = write(&east, &east_many, "lat", 1000, Some(100.0)).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let mut merged = delays(&sent, &on_merged);
    let mut shard = delays(&sent, &on_shard);
    println!("\n| write in a consumer on shard-2 → provider's watch event, 100 writes/s | events | p50 ms | p99 ms | max ms |\n|---|---|---|---|---|");
    for (label, s) in [("per-shard URL (shard-2's view)", &mut shard), ("merged URL (front-proxy)", &mut merged)] {
        println!("| {label} | {} | {:.2} | {:.2} | {:.2} |", s.latencies.len(), s.quantile_ms(0.5), s.quantile_ms(0.99), s.quantile_ms(1.0));
    }

    // Events per second through the merged URL: a burst of writes in every consumer.
    let (seen, mut count) = bench::first_matches(west.api.clone(), path.clone(), |c| c["metadata"]["name"].as_str().is_some_and(|n| n.starts_with("burst-")));
    tokio::time::sleep(Duration::from_secs(2)).await;
    let started = Instant::now();
    let (sent, written) = write(&west, &consumers, "burst", burst, None).await;
    let expected = written.latencies.len();
    let delivered = tokio::time::timeout(Duration::from_secs(300), count.wait_for(|c| *c >= expected)).await.is_ok();
    let elapsed = started.elapsed();
    let mut lag = delays(&sent, &seen);
    println!("\n| burst of {expected} creates in {} consumers on both shards, 8 connections | value |\n|---|---|", consumers.len());
    println!("| writes acknowledged per s | {:.0} |", written.rate());
    println!("| events delivered by the merged URL | {} of {expected}{} |", lag.latencies.len(), if delivered { "" } else { " (timed out)" });
    println!("| events per s through the merged URL (first write → last event) | {:.0} |", lag.latencies.len() as f64 / elapsed.as_secs_f64());
    println!("| write → event p50 / p99 ms | {:.1} / {:.1} |", lag.quantile_ms(0.5), lag.quantile_ms(0.99));
}
