//! `kcp-bench fairness`: quiet workspaces' latency alone (the baseline), then while one noisy
//! workspace offers 100 times the load of each of them, for each seat count given. The quiet
//! workspaces list the ConfigMaps of their `default` namespace; the noisy one creates
//! ConfigMaps there (a write holds its seat while the disk syncs). All calls are made as the
//! same tenant (kcp-admin), so the workspace is the only thing telling the flows apart.

use std::time::Duration;

use e2e::bench::{self, Samples, Target};
use e2e::sharded::create_ready;
use e2e::Install;

/// Quiet workspaces.
const QUIET: usize = 4;
/// Requests per second each quiet workspace sends, unless `--quiet-rate` says otherwise.
const QUIET_RATE: f64 = 25.0;
/// How many times a quiet workspace's load the noisy one offers.
const NOISE: f64 = 100.0;
/// Length of each phase.
const PHASE: Duration = Duration::from_secs(15);

fn list(ws: &str) -> (String, String, Option<serde_json::Value>) {
    ("GET".into(), format!("/clusters/{ws}/api/v1/namespaces/default/configmaps"), None)
}

/// The quiet workspaces' requests over one phase, all together.
async fn quiet(target: &Target, rate: f64) -> Samples {
    let mut runs = tokio::task::JoinSet::new();
    for q in 0..QUIET {
        let target = target.clone();
        runs.spawn(async move { bench::run_paced(&target, 2, rate, PHASE, move |_, _| list(&format!("root:quiet{q}"))).await });
    }
    let mut all = Samples::default();
    while let Some(s) = runs.join_next().await {
        let s = s.expect("quiet workspace");
        all.latencies.extend(s.latencies);
        all.errors += s.errors;
        all.elapsed = all.elapsed.max(s.elapsed);
    }
    all
}

/// [`quiet`] on a runtime and a thread of its own. On the flood's runtime, a quiet request's
/// latency would include waiting behind the load generator's own tasks in this process; real
/// tenants' clients share no process with a flood.
async fn quiet_apart(target: &Target, rate: f64) -> Samples {
    let target = target.clone();
    let (tx, rx) = tokio::sync::oneshot::channel();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("quiet workspaces' runtime");
        let _ = tx.send(runtime.block_on(quiet(&target, rate)));
    });
    rx.await.expect("quiet workspaces")
}

/// One install with `seats` seats: baseline, then the flood; prints a row.
async fn measure(seats: &str, rate: f64) {
    let install = Install::start_with(tempfile::tempdir().expect("temp dir"), &["--max-requests-inflight", seats]);
    for q in 0..QUIET {
        create_ready(&install, "root", &format!("quiet{q}"), None);
    }
    create_ready(&install, "root", "noisy", None);
    let target = Target::from_kubeconfig(&install.kubeconfig, "kcp-admin");
    // Warm-up: connections, caches and the allocator settle before anything is measured.
    quiet_apart(&target, rate).await;
    let mut alone = quiet_apart(&target, rate).await;
    let noisy = bench::run_paced(&target, 64, rate * NOISE, PHASE, |_, _| {
        let (_, path, _) = list("root:noisy");
        ("POST".into(), path, Some(serde_json::json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"generateName": "noise-"}})))
    });
    let (mut flooded, noisy) = tokio::join!(quiet_apart(&target, rate), noisy);
    let ratio = flooded.quantile_ms(0.99) / alone.quantile_ms(0.99).max(1e-9);
    let seconds = noisy.elapsed.as_secs_f64().max(1e-9);
    println!(
        "| {seats} | {:.2} | {:.2} | {:.2} | {:.2} | {ratio:.2} | {} | {:.0} | {:.0} |",
        alone.quantile_ms(0.5),
        alone.quantile_ms(0.99),
        flooded.quantile_ms(0.5),
        flooded.quantile_ms(0.99),
        alone.errors + flooded.errors,
        (noisy.latencies.len() - noisy.errors) as f64 / seconds,
        noisy.errors as f64 / seconds,
    );
}

/// Runs the benchmark for each seat count in `args` (default 8, then the default 400), after
/// an optional `--quiet-rate R`.
pub async fn run(args: impl Iterator<Item = String>) {
    let mut args = args.peekable();
    let mut rate = QUIET_RATE;
    if args.peek().map(String::as_str) == Some("--quiet-rate") {
        args.next();
        rate = args.next().and_then(|r| r.parse().ok()).expect("--quiet-rate takes requests per second");
    }
    let mut seats: Vec<String> = args.collect();
    if seats.is_empty() {
        seats = vec!["8".into(), "400".into()];
    }
    println!(
        "## kcp-bench fairness: {QUIET} quiet workspaces at {rate} req/s each, one noisy workspace offering {} req/s ({NOISE}x), {}s phases\n",
        rate * NOISE,
        PHASE.as_secs()
    );
    println!("| --max-requests-inflight | quiet p50 alone ms | quiet p99 alone ms | quiet p50 flooded ms | quiet p99 flooded ms | p99 ratio | quiet errors | noisy served/s | noisy 429/s |");
    println!("|---|---|---|---|---|---|---|---|---|");
    for s in &seats {
        measure(s, rate).await;
    }
}
