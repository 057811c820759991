//! Replication benchmark against real `kcp-cache-server` processes on loopback:
//! propagation latency (publisher write → subscriber) at 1,000 writes/s with two replicas,
//! fan-out throughput to ten subscribers, memory per cached object at 100,000 objects, and
//! subscriber failover time. Run with `cargo bench -p cache-server --bench replication`.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use apiserver::client::Client;
use apiserver::pki::{self, CertPair};
use bytes::Bytes;
use cache_server::client::{Publisher, Subscriber, Target, Update};
use cache_server::store::{Filter, Key};

const SHARD: &str = "bench";

/// One replica process.
struct Server {
    child: Child,
    port: u16,
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("free port")
}

fn spawn(dir: &Path, port: u16) -> Child {
    Command::new(env!("CARGO_BIN_EXE_kcp-cache-server"))
        .args(["--bind-address", "127.0.0.1", "--secure-port", &port.to_string()])
        .arg("--tls-cert-file")
        .arg(dir.join("serving.crt"))
        .arg("--tls-private-key-file")
        .arg(dir.join("serving.key"))
        .arg("--client-ca-file")
        .arg(dir.join("client-ca.crt"))
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start kcp-cache-server")
}

impl Server {
    async fn start(dir: &Path, probe: &Client) -> Server {
        let port = free_port();
        let server = Server { child: spawn(dir, port), port };
        server.ready(probe).await;
        server
    }

    fn url(&self) -> String {
        format!("https://127.0.0.1:{}", self.port)
    }

    async fn ready(&self, probe: &Client) {
        let url = format!("{}/readyz", self.url());
        while !matches!(probe.json("GET", &url, None).await, Ok((200, _))) {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    async fn restart(&mut self, dir: &Path, probe: &Client) {
        self.child = spawn(dir, self.port);
        self.ready(probe).await;
    }

    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Freezes the process: its connections stay open but nothing answers, as with a dead host.
    fn freeze(&self) {
        let _ = Command::new("kill").args(["-STOP", &self.child.id().to_string()]).status();
    }

    /// Resident set size in bytes.
    fn rss(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).unwrap_or_default();
        let kib = status.lines().find_map(|l| l.strip_prefix("VmRSS:")).and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok());
        kib.unwrap_or(0) * 1024
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
    }
}

fn now_micros() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_micros() as u64).unwrap_or(0)
}

fn key(cluster: usize, name: usize) -> Key {
    Key {
        group: "apis.kcp.io".into(),
        resource: "apiexports".into(),
        cluster: format!("2x9kq{cluster:011}"),
        namespace: String::new(),
        name: format!("export-{name}"),
    }
}

/// An APIExport about as large as real ones (~700 bytes of JSON).
fn object(key: &Key, revision: u64) -> Bytes {
    let json = serde_json::json!({
        "apiVersion": "apis.kcp.io/v1alpha2",
        "kind": "APIExport",
        "metadata": {
            "name": key.name,
            "uid": format!("0b6a0c5e-8f4e-4d2a-9c1b-{revision:012}"),
            "resourceVersion": revision.to_string(),
            "generation": 1,
            "creationTimestamp": "2026-12-04T07:00:00Z",
            "annotations": {"kcp.io/cluster": key.cluster, "kcp.io/path": "root:org:team"},
        },
        "spec": {
            "resources": [
                {"group": "widgets.example.com", "name": "widgets", "schema": "v260101-6d4b.widgets.widgets.example.com", "storage": {"crd": {}}},
                {"group": "widgets.example.com", "name": "gadgets", "schema": "v260101-6d4b.gadgets.widgets.example.com", "storage": {"crd": {}}},
            ],
            "permissionClaims": [{"group": "", "resource": "configmaps", "verbs": ["get", "list", "watch"]}],
        },
        "status": {"conditions": [{"type": "IdentityValid", "status": "True", "lastTransitionTime": "2026-12-04T07:00:00Z"}], "identityHash": "5f3d2c1b0a99887766554433221100ffeeddccbbaa99887766554433221100ff"},
    });
    Bytes::from(serde_json::to_vec(&json).unwrap_or_default())
}

fn percentile(sorted: &[u64], p: f64) -> f64 {
    let at = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted.get(at).copied().unwrap_or(0) as f64 / 1000.0
}

async fn until(what: &str, limit: Duration, mut check: impl FnMut() -> bool) -> Duration {
    let started = Instant::now();
    while !check() {
        assert!(started.elapsed() < limit, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_micros(200)).await;
    }
    started.elapsed()
}

fn at(subscriber: &Subscriber, revision: u64) -> bool {
    subscriber.is_connected() && subscriber.revisions().get(SHARD).is_some_and(|r| *r >= revision)
}

#[tokio::main]
async fn main() {
    let dir = tempfile::tempdir().expect("temp dir");
    let server_ca = pki::new_ca("bench server CA").expect("CA");
    let client_ca = pki::new_ca("bench client CA").expect("CA");
    let serving = pki::new_serving_cert(&server_ca, "kcp-cache-server", &["localhost".into()], &["127.0.0.1".parse().expect("IP")]).expect("cert");
    let identity: CertPair = pki::new_client_cert(&client_ca, "bench", &["system:masters".into()]).expect("cert");
    pki::write_pair(dir.path(), "serving", &serving).expect("write");
    pki::write_pair(dir.path(), "client-ca", &client_ca).expect("write");
    let probe = Client::new(&server_ca.cert_pem, None).expect("client");

    let mut replicas = [Server::start(dir.path(), &probe).await, Server::start(dir.path(), &probe).await];
    let targets: Vec<Target> = replicas.iter().map(|r| Target::remote(r.url(), &server_ca.cert_pem, &identity).expect("target")).collect();
    let publisher = Publisher::start(SHARD, targets.clone());
    let mut revision = 1;
    publisher.reset(revision, []);

    // Latency at 1,000 writes/s.
    let writes = 5_000;
    let subscriber = Subscriber::start(targets.clone(), Filter::default());
    until("the subscriber", Duration::from_secs(10), || at(&subscriber, revision)).await;
    let mut updates = subscriber.updates();
    let collector = tokio::spawn(async move {
        let mut latencies = Vec::with_capacity(writes);
        while latencies.len() < writes {
            match updates.recv().await {
                Ok(Update::Changed(c)) => latencies.push(now_micros().saturating_sub(c.published_unix_micros)),
                Ok(Update::Replaced { .. }) => {}
                Err(e) => panic!("updates: {e}"),
            }
        }
        latencies
    });
    let mut tick = tokio::time::interval(Duration::from_millis(1));
    let started = Instant::now();
    for i in 0..writes {
        tick.tick().await;
        revision += 1;
        let k = key(i % 100, i % 1000);
        publisher.upsert(revision, k.clone(), object(&k, revision));
    }
    let rate = writes as f64 / started.elapsed().as_secs_f64();
    let mut latencies = tokio::time::timeout(Duration::from_secs(30), collector).await.expect("all writes arrive").expect("collector");
    latencies.sort_unstable();
    println!(
        "latency: {writes} writes at {rate:.0}/s, 2 replicas: p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        percentile(&latencies, 0.5),
        percentile(&latencies, 0.99),
        percentile(&latencies, 1.0)
    );
    drop(subscriber);

    // Fan-out: ten subscribers, five on each replica, and a burst of writes.
    let subscribers: Vec<Subscriber> = (0..10)
        .map(|i| {
            let mut order = targets.clone();
            order.rotate_left(i % 2);
            Subscriber::start(order, Filter::default())
        })
        .collect();
    until("ten subscribers", Duration::from_secs(10), || subscribers.iter().all(|s| at(s, revision))).await;
    let burst = 20_000;
    let started = Instant::now();
    for i in 0..burst {
        revision += 1;
        let k = key(i % 100, i % 1000);
        publisher.upsert(revision, k.clone(), object(&k, revision));
        if i % 1000 == 0 {
            tokio::task::yield_now().await;
        }
    }
    let wrote = started.elapsed();
    let elapsed = until("the burst to fan out", Duration::from_secs(60), || subscribers.iter().all(|s| at(s, revision))).await + wrote;
    let delivered = burst * subscribers.len();
    println!(
        "fan-out: {burst} writes to 10 subscribers over 2 replicas in {:.0} ms: {:.0} objects/s delivered",
        elapsed.as_secs_f64() * 1000.0,
        delivered as f64 / elapsed.as_secs_f64()
    );
    drop(subscribers);

    // Failover: the subscriber reads from the first replica, which is killed (its
    // connections reset) or frozen (only keepalive notices).
    for frozen in [false, true] {
        let mut failovers = Vec::new();
        let mut refills = Vec::new();
        for _ in 0..5 {
            let subscriber = Subscriber::start(targets.clone(), Filter::default());
            until("the subscriber", Duration::from_secs(10), || at(&subscriber, revision)).await;
            if frozen {
                replicas[0].freeze();
            } else {
                replicas[0].kill();
            }
            let failed = Instant::now();
            revision += 1;
            let k = key(0, 0);
            publisher.upsert(revision, k.clone(), object(&k, revision));
            until("failover", Duration::from_secs(10), || at(&subscriber, revision)).await;
            failovers.push(failed.elapsed());
            replicas[0].kill();
            replicas[0].restart(dir.path(), &probe).await;
            let back = Instant::now();
            until("refill", Duration::from_secs(10), || publisher.acknowledged().first().is_some_and(|r| *r >= revision)).await;
            refills.push(back.elapsed());
        }
        let ms = |d: &Vec<Duration>| d.iter().map(|d| format!("{:.1}", d.as_secs_f64() * 1000.0)).collect::<Vec<_>>().join(", ");
        let how = if frozen { "frozen (SIGSTOP)" } else { "killed" };
        println!("failover, replica {how} → subscriber current via the other replica, ms: {}", ms(&failovers));
        println!("refill, restarted empty replica listening → snapshot acknowledged, ms: {}", ms(&refills));
    }
    drop(publisher);

    // Memory: a fresh replica before and after 100,000 objects of one resource.
    let objects = 100_000;
    let replica = Server::start(dir.path(), &probe).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let before = replica.rss();
    let keys: Vec<Key> = (0..objects).map(|i| key(i % 1000, i)).collect();
    let set: Vec<(Key, Bytes)> = keys.iter().map(|k| (k.clone(), object(k, 1))).collect();
    let payload: usize = set.iter().map(|(_, json)| json.len()).sum();
    let loader = Publisher::start("memory", vec![Target::remote(replica.url(), &server_ca.cert_pem, &identity).expect("target")]);
    loader.reset(1, set);
    until("100,000 objects", Duration::from_secs(60), || loader.acknowledged() == [1]).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let after = replica.rss();
    println!(
        "memory: {objects} objects ({} bytes of JSON each on average): RSS {} MiB → {} MiB, {} bytes per object",
        payload / objects,
        before >> 20,
        after >> 20,
        after.saturating_sub(before) / objects as u64
    );
    // Every object replaced once by a change, in batches the publisher's feed takes whole.
    let mut revision = 1;
    for batch in keys.chunks(10_000) {
        for k in batch {
            revision += 1;
            loader.upsert(revision, k.clone(), object(k, revision));
        }
        until("a batch of changes", Duration::from_secs(60), || loader.acknowledged() == [revision]).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let churned = replica.rss();
    println!("memory after replacing every object once: RSS {} MiB, {} bytes per object", churned >> 20, churned.saturating_sub(before) / objects as u64);
}
