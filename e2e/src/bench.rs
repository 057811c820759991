//! Load generation over TLS with the admin client certificate, for `kcp-bench`.
//!
//! Each worker keeps one HTTP/1.1 keep-alive connection, so the numbers measure the server's
//! request path, not TLS handshakes.

use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use serde_json::Value;

/// Connection details read from an admin kubeconfig.
#[derive(Clone)]
pub struct Target {
    /// Server host name or IP, also the TLS server name.
    pub host: String,
    /// Server port.
    pub port: u16,
    /// Client config trusting the server's CA and presenting the user's certificate, if any.
    pub tls: Arc<rustls::ClientConfig>,
}

fn b64(v: &Value) -> Vec<u8> {
    base64::engine::general_purpose::STANDARD.decode(v.as_str().unwrap_or_default()).unwrap_or_default()
}

impl Target {
    /// Reads the server URL, CA and a user's client certificate from a kubeconfig.
    pub fn from_kubeconfig(path: &std::path::Path, user: &str) -> Target {
        let text = std::fs::read_to_string(path).expect("kubeconfig");
        let doc: Value = serde_saphyr::from_str(&text).expect("kubeconfig YAML");
        let cluster = doc["clusters"].as_array().and_then(|c| c.iter().find(|c| c["name"] == "base")).expect("base cluster");
        let server = cluster["cluster"]["server"].as_str().expect("server");
        let u = doc["users"].as_array().and_then(|u| u.iter().find(|u| u["name"] == user)).expect("user");
        let pem = |v: &Value| String::from_utf8(b64(v)).expect("PEM");
        let identity = (pem(&u["user"]["client-certificate-data"]), pem(&u["user"]["client-key-data"]));
        Target::new(server, &pem(&cluster["cluster"]["certificate-authority-data"]), Some(identity))
    }

    /// A target at `https://host:port`, verified with `ca_pem`, presenting `identity`
    /// (certificate and key PEM) when given.
    pub fn new(server: &str, ca_pem: &str, identity: Option<(String, String)>) -> Target {
        let hostport = server.trim_start_matches("https://");
        let (host, port) = hostport.rsplit_once(':').expect("host:port");
        let mut roots = rustls::RootCertStore::empty();
        for c in CertificateDer::pem_slice_iter(ca_pem.as_bytes()) {
            roots.add(c.expect("CA cert")).expect("CA added");
        }
        let builder = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .expect("protocol versions")
            .with_root_certificates(roots);
        let tls = match identity {
            Some((cert, key)) => {
                let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(cert.as_bytes()).map(|c| c.expect("client cert")).collect();
                builder.with_client_auth_cert(certs, PrivateKeyDer::from_pem_slice(key.as_bytes()).expect("client key")).expect("client auth")
            }
            None => builder.with_no_client_auth(),
        };
        Target { host: host.to_string(), port: port.parse().expect("port"), tls: Arc::new(tls) }
    }

    /// Opens one keep-alive HTTP/1.1 connection.
    pub async fn connect(&self) -> SendRequest<Full<Bytes>> {
        let tcp = tokio::net::TcpStream::connect((self.host.as_str(), self.port)).await.expect("connect");
        tcp.set_nodelay(true).expect("nodelay");
        let name = ServerName::try_from(self.host.clone()).expect("server name");
        let tls = tokio_rustls::TlsConnector::from(self.tls.clone()).connect(name, tcp).await.expect("TLS");
        let (send, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tls)).await.expect("HTTP handshake");
        tokio::spawn(conn);
        send
    }
}

/// Sends one request and returns (status, body).
pub async fn call(conn: &mut SendRequest<Full<Bytes>>, method: &str, path: &str, body: Option<&Value>) -> (u16, Bytes) {
    let resp = send(conn, method, path, body).await;
    (resp.status().as_u16(), resp.into_body())
}

/// How long a 429 answer asks the client to wait.
fn retry_after(resp: &http::Response<Bytes>) -> Option<Duration> {
    if resp.status() != http::StatusCode::TOO_MANY_REQUESTS {
        return None;
    }
    let seconds = resp.headers().get(http::header::RETRY_AFTER)?.to_str().ok()?.parse().ok()?;
    Some(Duration::from_secs(seconds))
}

/// Sends one request and returns the whole response, headers included.
pub async fn send(conn: &mut SendRequest<Full<Bytes>>, method: &str, path: &str, body: Option<&Value>) -> http::Response<Bytes> {
    let mut req = http::Request::builder().method(method).uri(path).header("host", "localhost");
    let data = match body {
        Some(b) => {
            req = req.header("content-type", "application/json");
            Bytes::from(serde_json::to_vec(b).expect("json"))
        }
        None => Bytes::new(),
    };
    conn.ready().await.expect("connection ready");
    let resp = conn.send_request(req.body(Full::new(data)).expect("request")).await.expect("response");
    let (parts, body) = resp.into_parts();
    let bytes = body.collect().await.expect("body").to_bytes();
    http::Response::from_parts(parts, bytes)
}

/// When each object (by uid) first satisfied a watch's condition, with its name: see
/// [`first_matches`].
pub type Matches = Arc<std::sync::Mutex<std::collections::HashMap<String, (String, Instant)>>>;

/// Watches `path` from the current state and publishes how many distinct objects (by uid)
/// have satisfied `done` so far; a watch costs the server nothing per check, unlike listing
/// thousands of objects over and over.
pub fn count_matching(target: Target, path: String, done: impl Fn(&Value) -> bool + Send + 'static) -> tokio::sync::watch::Receiver<usize> {
    first_matches(target, path, done).1
}

/// [`count_matching`], also recording the name of each object and the moment its event arrived
/// (for latencies measured from the client's own clock). A `path` naming a `resourceVersion`
/// watches from there instead of from the current state.
pub fn first_matches(target: Target, path: String, done: impl Fn(&Value) -> bool + Send + 'static) -> (Matches, tokio::sync::watch::Receiver<usize>) {
    let (tx, rx) = tokio::sync::watch::channel(0);
    let matches = Matches::default();
    let seen = matches.clone();
    tokio::spawn(async move {
        let mut conn = target.connect().await;
        let sep = if path.contains('?') { '&' } else { '?' };
        let from = if path.contains("resourceVersion=") { "" } else { "&resourceVersion=0" };
        let req = http::Request::builder()
            .uri(format!("{path}{sep}watch=true{from}&timeoutSeconds=3600"))
            .header("host", "localhost")
            .body(Full::new(Bytes::new()))
            .expect("request");
        conn.ready().await.expect("connection ready");
        let mut body = conn.send_request(req).await.expect("watch response").into_body();
        let mut lines = apiserver::client::JsonLines::default();
        while let Some(frame) = body.frame().await {
            // A server going away ends the watch (at the end of a run, the install stops).
            let Ok(Ok(data)) = frame.map(|f| f.into_data()) else { break };
            for ev in lines.feed(&data) {
                if ev["type"] != "BOOKMARK" && done(&ev["object"]) {
                    let meta = &ev["object"]["metadata"];
                    let uid = meta["uid"].as_str().unwrap_or_default().to_string();
                    let mut seen = seen.lock().expect("matches");
                    seen.entry(uid).or_insert_with(|| (meta["name"].as_str().unwrap_or_default().to_string(), Instant::now()));
                    tx.send_replace(seen.len());
                }
            }
        }
    });
    (matches, rx)
}

/// Latency samples of one workload.
#[derive(Default)]
pub struct Samples {
    /// Latency of every request, in no particular order.
    pub latencies: Vec<Duration>,
    /// Wall-clock time of the whole run, all workers together.
    pub elapsed: Duration,
    /// Requests answered with a status of 300 or more.
    pub errors: usize,
}

impl Samples {
    /// Requests per second over the run.
    pub fn rate(&self) -> f64 {
        self.latencies.len() as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    /// The q-quantile latency in milliseconds.
    pub fn quantile_ms(&mut self, q: f64) -> f64 {
        if self.latencies.is_empty() {
            return 0.0;
        }
        self.latencies.sort();
        let i = ((self.latencies.len() as f64 - 1.0) * q).round() as usize;
        self.latencies[i].as_secs_f64() * 1e3
    }
}

/// Runs `per_worker` requests on each of `workers` connections as fast as they are answered;
/// `make` builds request i of a worker as (method, path, body).
pub async fn run<F>(target: &Target, workers: usize, per_worker: usize, make: F) -> Samples
where
    F: Fn(usize, usize) -> (String, String, Option<Value>) + Send + Sync + 'static,
{
    drive(target, workers, per_worker, None, make).await
}

/// Sends `rate` requests per second for `duration`, spread over `workers` connections on a
/// fixed schedule. Latency is measured from the moment each request is sent: the rate is far
/// below saturation, so no request waits behind another, and timing from the slot would add
/// the timer's millisecond granularity to every sample.
pub async fn run_paced<F>(target: &Target, workers: usize, rate: f64, duration: Duration, make: F) -> Samples
where
    F: Fn(usize, usize) -> (String, String, Option<Value>) + Send + Sync + 'static,
{
    let per_worker = (rate * duration.as_secs_f64() / workers as f64) as usize;
    drive(target, workers, per_worker, Some(Duration::from_secs_f64(workers as f64 / rate)), make).await
}

/// The workers of [`run`] and [`run_paced`]: each sends its requests back to back, or one
/// every `interval` (workers staggered across it).
async fn drive<F>(target: &Target, workers: usize, per_worker: usize, interval: Option<Duration>, make: F) -> Samples
where
    F: Fn(usize, usize) -> (String, String, Option<Value>) + Send + Sync + 'static,
{
    let make = Arc::new(make);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for w in 0..workers {
        let (target, make) = (target.clone(), make.clone());
        tasks.push(tokio::spawn(async move {
            let mut conn = target.connect().await;
            let first = Instant::now() + interval.map_or(Duration::ZERO, |i| i.mul_f64(w as f64 / workers as f64));
            let mut lat = Vec::with_capacity(per_worker);
            let mut errors = 0;
            for i in 0..per_worker {
                if let Some(interval) = interval {
                    tokio::time::sleep_until((first + interval * i as u32).into()).await;
                }
                let (m, p, b) = make(w, i);
                let sent = Instant::now();
                let resp = send(&mut conn, &m, &p, b.as_ref()).await;
                lat.push(sent.elapsed());
                if resp.status().as_u16() >= 300 {
                    errors += 1;
                }
                // As client-go does: a 429 holds this client back for the Retry-After it names.
                if let Some(wait) = retry_after(&resp) {
                    tokio::time::sleep(wait).await;
                }
            }
            (lat, errors)
        }));
    }
    gather(tasks, started).await
}

/// Joins workers that each return (latencies, errors) into the samples of a run begun at
/// `started`.
async fn gather(tasks: Vec<tokio::task::JoinHandle<(Vec<Duration>, usize)>>, started: Instant) -> Samples {
    let mut s = Samples::default();
    for t in tasks {
        let (lat, errors) = t.await.expect("worker");
        s.latencies.extend(lat);
        s.errors += errors;
    }
    s.elapsed = started.elapsed();
    s
}

/// Resident set size of a process in bytes, from /proc.
pub fn rss_bytes(pid: u32) -> u64 {
    proc_status(pid, "VmRSS:") * 1024
}

/// CPU time (user and system) a process has used so far, in seconds, from /proc; 0 when unknown.
pub fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // The command name may hold spaces; the fields after it are plain numbers, utime and stime
    // being the 12th and 13th after the closing parenthesis.
    let fields: Vec<&str> = stat.rsplit_once(')').map_or("", |(_, rest)| rest).split_whitespace().collect();
    let ticks = |i: usize| fields.get(i).and_then(|f| f.parse::<u64>().ok()).unwrap_or(0);
    // USER_HZ is 100 on every Linux the project supports.
    (ticks(11) + ticks(12)) as f64 / 100.0
}

/// The number of threads of a process, from /proc.
pub fn threads(pid: u32) -> u64 {
    proc_status(pid, "Threads:")
}

/// The number of file descriptors a process holds open (sockets included), from /proc.
pub fn open_files(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd")).map_or(0, |d| d.count())
}

/// The number of a `/proc/<pid>/status` line (`VmRSS:` is in KiB); 0 when unknown.
fn proc_status(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status.lines().find(|l| l.starts_with(field)).and_then(|l| l.split_whitespace().nth(1)).and_then(|n| n.parse::<u64>().ok()).unwrap_or(0)
}

/// Total size of the files under a directory.
pub fn dir_bytes(dir: &std::path::Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else { return 0 };
    entries
        .flatten()
        .map(|e| match e.metadata() {
            Ok(m) if m.is_dir() => dir_bytes(&e.path()),
            Ok(m) => m.len(),
            Err(_) => 0,
        })
        .sum()
}

/// Runs `per_worker` creates of `value` on each of `workers` tasks straight against a store,
/// without the server: what the backend alone sustains at that concurrency.
pub async fn store_creates(store: Arc<dyn apiserver::storage::Storage>, workers: usize, per_worker: usize, value: Bytes) -> Samples {
    let started = Instant::now();
    let tasks: Vec<_> = (0..workers)
        .map(|w| {
            let (store, value) = (Arc::clone(&store), value.clone());
            tokio::spawn(async move {
                let mut lat = Vec::with_capacity(per_worker);
                let mut errors = 0;
                for i in 0..per_worker {
                    let sent = Instant::now();
                    if store.create(&format!("core/configmaps/bench/w{workers}/{w}-{i}"), value.clone()).await.is_err() {
                        errors += 1;
                    }
                    lat.push(sent.elapsed());
                }
                (lat, errors)
            })
        })
        .collect();
    gather(tasks, started).await
}
