//! The monitoring of `deploy/`, run for real: Debian's Prometheus scrapes every component of the
//! `deploy/local` install over mutual TLS with `deploy/prometheus/prometheus.yml`, evaluates
//! `deploy/prometheus/alerts.yml`, answers every query of the `deploy/grafana` dashboards with
//! data, and fires the shard-down alert once a shard is killed.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use e2e::eventually;
use e2e::sharded::{create_ready, raw_get, Sharded};
use serde_json::Value;

fn deploy(file: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../deploy").join(file)
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// `text` with `from` replaced by `to`, which must occur in it: a test that silently stopped
/// rewriting would scrape the wrong ports.
fn replaced(text: &str, from: &str, to: &str) -> String {
    assert!(text.contains(from), "{from:?} not found in\n{text}");
    text.replace(from, to)
}

/// The `host:port` of a URL.
fn address(url: &str) -> String {
    url.trim_start_matches("https://").to_string()
}

/// A background process, killed when dropped.
struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Prometheus running in the background; killed when dropped.
struct Prometheus {
    _process: Killed,
    url: String,
}

impl Prometheus {
    fn start(config: &Path, data: &Path) -> Prometheus {
        let port = std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("free port").port();
        let log = std::fs::File::create(data.with_extension("log")).expect("log file");
        let child = Command::new("prometheus")
            .arg(format!("--config.file={}", config.display()))
            .arg(format!("--storage.tsdb.path={}", data.display()))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("prometheus runs (Debian package prometheus; scripts/test.sh installs it)");
        Prometheus { _process: Killed(child), url: format!("http://127.0.0.1:{port}") }
    }

    /// GETs an API path with URL-encoded parameters; None until Prometheus answers.
    fn get(&self, path: &str, params: &[(&str, &str)]) -> Option<Value> {
        let mut curl = Command::new("curl");
        curl.args(["-sS", "--max-time", "10", "-G", &format!("{}{path}", self.url)]);
        for (k, v) in params {
            curl.arg("--data-urlencode").arg(format!("{k}={v}"));
        }
        let out = curl.output().expect("curl runs");
        serde_json::from_slice(&out.stdout).ok()
    }

    /// The result of an instant query; panics on a query Prometheus refuses.
    fn query(&self, expr: &str) -> Vec<Value> {
        let answer = eventually("Prometheus to answer", Duration::from_secs(10), || self.get("/api/v1/query", &[("query", expr)]));
        assert_eq!(answer["status"], "success", "{expr}: {answer}");
        answer["data"]["result"].as_array().cloned().unwrap_or_default()
    }
}

/// Every query of every dashboard in `deploy/grafana`, with its dashboard and panel.
fn dashboard_queries() -> Vec<(String, String)> {
    let mut queries = Vec::new();
    let mut files: Vec<PathBuf> = std::fs::read_dir(deploy("grafana")).expect("deploy/grafana").map(|e| e.expect("entry").path()).collect();
    files.sort();
    for file in files.iter().filter(|f| f.extension().is_some_and(|e| e == "json")) {
        let dashboard: Value = serde_json::from_str(&read(file)).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        for panel in dashboard["panels"].as_array().expect("panels") {
            for target in panel["targets"].as_array().expect("targets") {
                let expr = target["expr"].as_str().expect("expr").to_string();
                queries.push((format!("{} / {}", dashboard["title"], panel["title"]), expr));
            }
        }
    }
    assert!(files.len() >= 4 && queries.len() >= 30, "{} dashboards, {} queries", files.len(), queries.len());
    queries
}

#[test]
fn prometheus_scrapes_the_install_answers_every_dashboard_and_fires_shard_down() {
    let rules = deploy("prometheus/alerts.yml");
    let checked = Command::new("promtool").arg("check").arg("rules").arg(&rules).output().expect("promtool runs");
    assert!(checked.status.success(), "{}{}", String::from_utf8_lossy(&checked.stdout), String::from_utf8_lossy(&checked.stderr));

    let s = Sharded::up("");
    // A workspace scheduled while everything is scraped: the scheduling and sync histograms move.
    create_ready(&s.kcp, "root", "monitored", None);
    // And a watch through the proxy, as controllers hold: the open-watch panels have one.
    let watch = Command::new("kubectl")
        .arg("--kubeconfig")
        .arg(s.kcp.dir().join("admin.kubeconfig"))
        .args(["get", "configmaps", "--watch"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("kubectl runs");
    let _watch = Killed(watch);

    // The real configuration, with this install's ports and a one-second rhythm; the rules keep
    // their expressions but fire as soon as they hold.
    let dir = s.kcp.dir();
    let mut config = read(&deploy("prometheus/prometheus.yml"));
    for (default, url) in [
        ("6443", s.proxy_url()),
        ("6444", s.shard_url("root")),
        ("6445", s.shard_url("shard-2")),
        ("6446", s.cache_url("cache-1")),
        ("6447", s.cache_url("cache-2")),
    ] {
        config = replaced(&config, &format!("127.0.0.1:{default}"), &address(&url));
    }
    config = replaced(&config, "scrape_interval: 15s", "scrape_interval: 1s");
    config = replaced(&config, "evaluation_interval: 15s", "evaluation_interval: 1s");
    std::fs::write(dir.join("prometheus.yml"), config).expect("config");
    let immediate: String = read(&rules)
        .lines()
        .map(|l| if l.trim_start().starts_with("for: ") { format!("{}for: 0s\n", &l[..l.find("for:").unwrap_or(0)]) } else { format!("{l}\n") })
        .collect();
    std::fs::write(dir.join("alerts.yml"), immediate).expect("rules");
    let checked = Command::new("promtool").arg("check").arg("config").arg(dir.join("prometheus.yml")).output().expect("promtool runs");
    assert!(checked.status.success(), "{}{}", String::from_utf8_lossy(&checked.stdout), String::from_utf8_lossy(&checked.stderr));

    let prometheus = Prometheus::start(&dir.join("prometheus.yml"), &dir.join("tsdb"));
    eventually("all five targets up", Duration::from_secs(30), || {
        let targets = prometheus.get("/api/v1/targets", &[("state", "active")])?;
        let active = targets["data"]["activeTargets"].as_array()?.clone();
        (active.len() == 5 && active.iter().all(|t| t["health"] == "up")).then_some(())
    });
    // Prometheus asks for OpenMetrics; anyone else gets the Prometheus text format.
    for server in [s.proxy_url(), s.shard_url("root"), s.cache_url("cache-1")] {
        let (code, openmetrics) = raw_get(&s, &server, "/metrics", Some("shard-admin"), &[("accept", "application/openmetrics-text;version=1.0.0")]);
        assert!(code == 200 && openmetrics.ends_with("# EOF\n"), "{server}: {code}");
        let (code, text) = raw_get(&s, &server, "/metrics", Some("shard-admin"), &[("accept", "text/plain")]);
        assert!(code == 200 && !text.contains("# EOF") && text.contains("# TYPE apiserver_request_total counter"), "{server}: {code}");
    }

    // Rates need two samples of each series in their window.
    let queries = dashboard_queries();
    eventually("every dashboard query to return data", Duration::from_secs(30), || {
        let empty: Vec<&(String, String)> = queries.iter().filter(|(_, expr)| prometheus.query(expr).is_empty()).collect();
        if !empty.is_empty() {
            eprintln!("still empty: {empty:#?}");
        }
        empty.is_empty().then_some(())
    });

    eventually("every alert rule evaluated without error", Duration::from_secs(10), || {
        let groups = prometheus.get("/api/v1/rules", &[])?;
        let rules: Vec<Value> = groups["data"]["groups"].as_array()?.iter().flat_map(|g| g["rules"].as_array().cloned().unwrap_or_default()).collect();
        assert!(rules.len() >= 7, "{groups}");
        for rule in &rules {
            assert!(rule["health"] != "err", "{rule}");
            prometheus.query(rule["query"].as_str().expect("rule query"));
        }
        rules.iter().all(|r| r["health"] == "ok").then_some(())
    });
    let firing = |alert: &str| -> Vec<Value> {
        let alerts = prometheus.get("/api/v1/alerts", &[]).unwrap_or_default();
        alerts["data"]["alerts"].as_array().into_iter().flatten().filter(|a| a["labels"]["alertname"] == alert && a["state"] == "firing").cloned().collect()
    };
    assert!(firing("KcpShardDown").is_empty(), "no shard is down yet");

    s.kill("shard-2");
    let down = eventually("KcpShardDown to fire", Duration::from_secs(30), || Some(firing("KcpShardDown")).filter(|a| !a.is_empty()));
    assert_eq!(down.len(), 1, "{down:?}");
    assert_eq!(down[0]["labels"]["shard"], "shard-2", "{down:?}");
}
