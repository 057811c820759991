//! The cache server as shards and readers meet it: two real `kcp-cache-server` replicas with a
//! PKI from the real `kcp pki init`, fed by the client library's publisher, read through the
//! REST view (kubectl included) and the failing-over subscriber.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use apiserver::client::Client;
use apiserver::pki::{self, CertPair};
use bytes::Bytes;
use cache_server::client::{Publisher, Subscriber, Target};
use cache_server::store::{Filter, Key};
use e2e::{bin_dir, eventually};
use serde_json::{json, Value};

/// One replica process on a fixed loopback port (kept across restarts).
struct Replica {
    child: Option<Child>,
    port: u16,
    pki: PathBuf,
    log: PathBuf,
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("free port")
}

impl Replica {
    fn start(pki: &Path, log: PathBuf) -> Replica {
        let mut replica = Replica { child: None, port: free_port(), pki: pki.to_path_buf(), log };
        replica.restart();
        replica
    }

    fn url(&self) -> String {
        format!("https://127.0.0.1:{}", self.port)
    }

    /// Starts the process (again, empty) and waits until it answers `/readyz`.
    fn restart(&mut self) {
        let log = std::fs::OpenOptions::new().create(true).append(true).open(&self.log).expect("log file");
        let child = Command::new(bin_dir().join("kcp-cache-server"))
            .args(["--bind-address", "127.0.0.1", "--secure-port", &self.port.to_string()])
            .arg("--tls-cert-file")
            .arg(self.pki.join("cache-server.crt"))
            .arg("--tls-private-key-file")
            .arg(self.pki.join("cache-server.key"))
            .arg("--client-ca-file")
            .arg(self.pki.join("client-ca.crt"))
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start kcp-cache-server (build the binaries first: cargo build --bins)");
        self.child = Some(child);
        let ca = read(&self.pki.join("server-ca.crt"));
        let url = format!("{}/readyz", self.url());
        eventually("the cache server's /readyz", Duration::from_secs(20), || (get(&ca, None, &url).0 == 200).then_some(()));
    }

    /// Freezes the process (SIGSTOP): connections stay open, nothing answers, as with a dead host.
    fn freeze(&self) {
        let pid = self.child.as_ref().map(Child::id).expect("running");
        assert!(Command::new("kill").args(["-STOP", &pid.to_string()]).status().expect("kill runs").success());
    }

    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Replica {
    fn drop(&mut self) {
        self.kill();
    }
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
}

fn pair(pki: &Path, stem: &str) -> CertPair {
    pki::read_pair(pki, stem).expect("PKI pair")
}

fn runtime() -> &'static tokio::runtime::Runtime {
    static RT: std::sync::OnceLock<tokio::runtime::Runtime> = std::sync::OnceLock::new();
    RT.get_or_init(|| tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime"))
}

/// One request over real TLS: (status, JSON body or null).
fn request(ca: &str, identity: Option<&CertPair>, method: &str, url: &str) -> (u16, Value) {
    let client = Client::new(ca, identity).expect("client");
    runtime().block_on(client.json(method, url, None)).unwrap_or((0, Value::Null))
}

fn get(ca: &str, identity: Option<&CertPair>, url: &str) -> (u16, Value) {
    request(ca, identity, "GET", url)
}

fn export(name: &str, rv: u64) -> (Key, Bytes) {
    let key = Key { group: "apis.kcp.io".into(), resource: "apiexports".into(), cluster: "c1".into(), namespace: String::new(), name: name.into() };
    let object = json!({
        "apiVersion": "apis.kcp.io/v1alpha2",
        "kind": "APIExport",
        "metadata": {"name": name, "uid": format!("uid-{name}"), "resourceVersion": rv.to_string()},
    });
    (key, Bytes::from(serde_json::to_vec(&object).expect("JSON")))
}

fn pki_init(dir: &Path) -> PathBuf {
    let pki = dir.join("pki");
    let out = Command::new(bin_dir().join("kcp")).args(["pki", "init", "--dir"]).arg(&pki).output().expect("kcp pki init runs");
    assert!(out.status.success(), "kcp pki init: {}", String::from_utf8_lossy(&out.stderr));
    pki
}

/// Opens a REST watch; its events arrive on the returned channel, one JSON value a line.
fn watch(ca: &str, identity: &CertPair, url: &str) -> tokio::sync::mpsc::UnboundedReceiver<Value> {
    use http_body_util::BodyExt;
    let client = Client::new(ca, Some(identity)).expect("client");
    let req = http::Request::builder().uri(format!("{url}?watch=true")).body(apiserver::client::body(Bytes::new())).expect("request");
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    runtime().spawn(async move {
        let mut body = client.send(req).await.expect("watch answered").into_body();
        let mut pending = Vec::new();
        while let Some(Ok(frame)) = body.frame().await {
            pending.extend_from_slice(frame.data_ref().map(|d| d.as_ref()).unwrap_or_default());
            while let Some(end) = pending.iter().position(|b| *b == b'\n') {
                let line: Vec<u8> = pending.drain(..=end).collect();
                let _ = tx.send(serde_json::from_slice(&line).expect("a JSON watch event"));
            }
        }
    });
    rx
}

/// The next watch event as (type, name), within five seconds.
fn next_event(events: &mut tokio::sync::mpsc::UnboundedReceiver<Value>) -> (String, String) {
    let event = runtime().block_on(tokio::time::timeout(Duration::from_secs(5), events.recv())).expect("a watch event in time").expect("the watch is open");
    (event["type"].as_str().unwrap_or_default().to_string(), event["object"]["metadata"]["name"].as_str().unwrap_or_default().to_string())
}

/// Waits up to a second for the subscriber to be connected and hold the APIExport `name`.
fn sees_within_a_second(subscriber: &Subscriber, name: &str) {
    let mut connected = subscriber.connected();
    runtime().block_on(async {
        tokio::time::timeout(Duration::from_secs(1), async {
            while subscriber.get("apis.kcp.io", "apiexports", "c1", "", name).is_none() || !subscriber.is_connected() {
                let _ = tokio::time::timeout(Duration::from_millis(10), connected.changed()).await;
            }
        })
        .await
        .unwrap_or_else(|_| panic!("the subscriber did not fail over and see {name} within 1s (connected: {})", subscriber.is_connected()))
    });
}

const VIEW: &str = "/services/cache/shards/*/clusters/c1/apis/apis.kcp.io/v1alpha2/apiexports";

#[test]
fn cache_server_end_to_end() {
    let dir = tempfile::tempdir().expect("temp dir");
    let pki = pki_init(dir.path());
    let ca = read(&pki.join("server-ca.crt"));
    let shard = pair(&pki, "shard-client");
    let mut replicas = [Replica::start(&pki, dir.path().join("cache-0.log")), Replica::start(&pki, dir.path().join("cache-1.log"))];
    let targets: Vec<Target> = replicas.iter().map(|r| Target::remote(r.url(), &ca, &shard).expect("target")).collect();

    let _rt = runtime().enter();
    let publisher = Publisher::start("shard-1", targets.clone());
    publisher.reset(5, [export("a", 3), export("b", 5)]);
    let subscriber = Subscriber::start(targets.clone(), Filter::default());

    // Both replicas are filled and serve the REST view with the origin kept.
    for replica in &replicas {
        let url = format!("{}{VIEW}/a", replica.url());
        let (code, object) = eventually("the published object", Duration::from_secs(5), || Some(get(&ca, Some(&shard), &url)).filter(|(c, _)| *c == 200));
        assert_eq!(code, 200);
        let annotations = &object["metadata"]["annotations"];
        assert_eq!((&annotations["kcp.io/cluster"], &annotations["kcp.io/shard"]), (&json!("c1"), &json!("shard-1")));
        assert_eq!(annotations["cache.kcp.io/original-resource-version"], "3");
        assert_eq!(object["metadata"]["uid"], "uid-a");
    }
    let base = replicas[0].url();
    let (code, list) = get(&ca, Some(&shard), &format!("{base}{VIEW}"));
    assert_eq!((code, list["kind"].as_str(), list["items"].as_array().map(Vec::len)), (200, Some("APIExportList"), Some(2)));

    // Read-only, and only for system:masters client certificates of the shards' client CA.
    let (code, status) = request(&ca, Some(&shard), "PUT", &format!("{base}{VIEW}/a"));
    assert_eq!((code, status["kind"].as_str(), status["reason"].as_str()), (405, Some("Status"), Some("MethodNotAllowed")));
    assert_eq!(get(&ca, Some(&shard), &format!("{base}/services/cache/nothing")).0, 404);
    assert_eq!(get(&ca, None, &format!("{base}{VIEW}")).0, 401);
    let foreign_ca = pki::new_ca("someone else's CA").expect("CA");
    let foreign = pki::new_client_cert(&foreign_ca, "intruder", &["system:masters".into()]).expect("cert");
    assert_eq!(get(&ca, Some(&foreign), &format!("{base}{VIEW}")).0, 401);
    let (code, status) = get(&ca, Some(&pair(&pki, "admin")), &format!("{base}{VIEW}"));
    assert_eq!((code, status["reason"].as_str()), (403, Some("Forbidden")));
    assert_eq!(get(&ca, None, &format!("{base}/metrics")).0, 401);
    let metrics = runtime().block_on(async {
        let client = Client::new(&ca, Some(&shard)).expect("client");
        let req = http::Request::builder().uri(format!("{base}/metrics")).body(apiserver::client::body(Bytes::new())).expect("request");
        let body = http_body_util::BodyExt::collect(client.send(req).await.expect("metrics").into_body()).await.expect("body").to_bytes();
        String::from_utf8_lossy(&body).into_owned()
    });
    assert!(metrics.contains(r#"kcp_cache_objects{group="apis.kcp.io",resource="apiexports"} 2"#), "{metrics}");
    assert!(metrics.contains(r#"kcp_cache_shard_revision{shard="shard-1"} 5"#), "{metrics}");
    // The request series of every component, the REST view labelled as a shard labels it.
    for series in [
        r#"apiserver_request_total{verb="list",group="apis.kcp.io",resource="apiexports",code="200"}"#,
        r#"apiserver_request_total{verb="update",group="apis.kcp.io",resource="apiexports",code="405"}"#,
        r#"apiserver_longrunning_requests{verb="subscribe",group="",resource=""} 1"#,
        r#"apiserver_longrunning_requests{verb="publish",group="",resource=""} 1"#,
        "apiserver_current_inflight_requests 1",
    ] {
        assert!(metrics.contains(series), "no {series} in {metrics}");
    }
    for probe in ["/healthz", "/livez", "/readyz"] {
        assert_eq!(get(&ca, None, &format!("{base}{probe}")).0, 200, "{probe}");
    }

    // kubectl with the shard's client certificate reads the view.
    let kubeconfig = dir.path().join("cache.kubeconfig");
    let config = json!({
        "apiVersion": "v1", "kind": "Config", "current-context": "cache",
        "clusters": [{"name": "cache", "cluster": {"server": base, "certificate-authority": pki.join("server-ca.crt")}}],
        "users": [{"name": "shard", "user": {"client-certificate": pki.join("shard-client.crt"), "client-key": pki.join("shard-client.key")}}],
        "contexts": [{"name": "cache", "context": {"cluster": "cache", "user": "shard"}}],
    });
    std::fs::write(&kubeconfig, serde_json::to_vec(&config).expect("JSON")).expect("kubeconfig");
    let out = Command::new("kubectl").arg("--kubeconfig").arg(&kubeconfig).args(["get", "--raw", &format!("{VIEW}/b")]).output().expect("kubectl runs");
    assert!(out.status.success(), "kubectl get --raw: {}", String::from_utf8_lossy(&out.stderr));
    let object: Value = serde_json::from_slice(&out.stdout).expect("kubectl printed JSON");
    assert_eq!(object["metadata"]["name"], "b");

    // A REST watch on the second replica: what exists, then what changes.
    let mut events = watch(&ca, &shard, &format!("{}{VIEW}", replicas[1].url()));
    assert_eq!(next_event(&mut events), ("ADDED".into(), "a".into()));
    assert_eq!(next_event(&mut events), ("ADDED".into(), "b".into()));

    // The subscriber reads from the first replica; killing it moves it to the second within a second.
    eventually("the subscriber", Duration::from_secs(5), || subscriber.get("apis.kcp.io", "apiexports", "c1", "", "b").map(|_| ()));
    replicas[0].kill();
    let killed = Instant::now();
    let (key, json) = export("c", 6);
    publisher.upsert(6, key, json);
    sees_within_a_second(&subscriber, "c");
    let failover = killed.elapsed();
    assert_eq!(next_event(&mut events), ("ADDED".into(), "c".into()));

    // A replica that comes back empty is refilled by the publisher within a second.
    replicas[0].restart();
    let back = Instant::now();
    let url = format!("{}{VIEW}/c", replicas[0].url());
    eventually("the restarted replica to be refilled", Duration::from_secs(1), || (get(&ca, Some(&shard), &url).0 == 200).then_some(()));
    let refill = back.elapsed();
    let (_, list) = get(&ca, Some(&shard), &format!("{}{VIEW}", replicas[0].url()));
    assert_eq!(list["items"].as_array().map(Vec::len), Some(3), "the whole set is back");

    // A replica that stops answering without closing its connections is left within a second too.
    replicas[1].freeze();
    let frozen = Instant::now();
    let (key, json) = export("d", 7);
    publisher.upsert(7, key, json);
    sees_within_a_second(&subscriber, "d");
    eprintln!("failover took {failover:?} (killed), {:?} (frozen); refill took {refill:?}", frozen.elapsed());
}
