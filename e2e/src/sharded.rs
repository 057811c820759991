//! The multi-process topology of `deploy/local/up.sh`: two cache replicas, a root shard, a second
//! shard and the front-proxy, each a real process on loopback, driven through the proxy with kubectl.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::Command;

use std::time::Duration;

use crate::{bin_dir, eventually, Install, Run};

/// A sharded install; `down.sh` stops it when dropped.
pub struct Sharded {
    /// kubectl through the front-proxy, as kcp-admin.
    pub kcp: Install,
    /// Proxy, root shard, shard-2, cache-1, cache-2.
    ports: [u16; 5],
    proxy_args: String,
    /// With `up.sh --etcd`: the client ports, then the peer ports, of the three members.
    etcd_ports: Option<[u16; 6]>,
}

/// `N` distinct free ports: every listener stays open until all are picked, so the kernel
/// cannot hand one port out twice.
fn free_ports<const N: usize>() -> [u16; N] {
    let listeners: [TcpListener; N] = std::array::from_fn(|_| TcpListener::bind("127.0.0.1:0").expect("free port"));
    std::array::from_fn(|i| listeners[i].local_addr().expect("bound port").port())
}

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).parent().expect("repo root").to_path_buf()
}

impl Sharded {
    /// Runs `up.sh` with the front-proxy accepting the static tokens of `token_lines`.
    pub fn up(token_lines: &str) -> Sharded {
        Self::up_with(token_lines, |_| String::new())
    }

    /// Like [`Sharded::up`], with extra front-proxy flags made from the install's directory.
    pub fn up_with(token_lines: &str, proxy_args: impl FnOnce(&std::path::Path) -> String) -> Sharded {
        Self::start(token_lines, proxy_args, false)
    }

    /// Runs `up.sh --etcd`: both shards on a three-member etcd cluster (members `etcd-0`..`etcd-2`).
    pub fn up_on_etcd(token_lines: &str) -> Sharded {
        Self::start(token_lines, |_| String::new(), true)
    }

    fn start(token_lines: &str, proxy_args: impl FnOnce(&std::path::Path) -> String, on_etcd: bool) -> Sharded {
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::write(dir.path().join("tokens.csv"), token_lines).expect("token file");
        let extra = proxy_args(dir.path());
        let kubeconfig = dir.path().join("admin.kubeconfig");
        let ports: [u16; 11] = free_ports();
        let sharded = Sharded {
            kcp: Install::attached(dir, kubeconfig),
            ports: std::array::from_fn(|i| ports[i]),
            proxy_args: extra,
            etcd_ports: on_etcd.then(|| std::array::from_fn(|i| ports[5 + i])),
        };
        sharded.up_again();
        sharded
    }

    /// Runs `up.sh` again: starts whatever of the install is not running.
    #[track_caller]
    pub fn up_again(&self) {
        let mut up = Command::new(repo().join("deploy/local/up.sh"));
        if let Some(ports) = self.etcd_ports {
            let list = |ports: &[u16]| ports.iter().map(u16::to_string).collect::<Vec<_>>().join(",");
            up.arg("--etcd").env("ETCD_CLIENT_PORTS", list(&ports[..3])).env("ETCD_PEER_PORTS", list(&ports[3..]));
        }
        let out = up
            .arg(self.kcp.dir())
            .env("KCP_BIN_DIR", bin_dir())
            .env("PROXY_PORT", self.ports[0].to_string())
            .env("ROOT_PORT", self.ports[1].to_string())
            .env("SHARD2_PORT", self.ports[2].to_string())
            .env("CACHE1_PORT", self.ports[3].to_string())
            .env("CACHE2_PORT", self.ports[4].to_string())
            .env("TOKEN_AUTH_FILE", self.kcp.dir().join("tokens.csv"))
            .env("FRONT_PROXY_EXTRA_ARGS", &self.proxy_args)
            .output()
            .expect("up.sh runs");
        assert!(out.status.success(), "up.sh failed:\n{}\n{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    }

    /// The pid of a component (`root`, `shard-2`, `front-proxy`, `cache-1`, `cache-2`, and
    /// `etcd-0`..`etcd-2` on etcd).
    pub fn pid(&self, component: &str) -> u32 {
        std::fs::read_to_string(self.kcp.dir().join("run").join(format!("{component}.pid"))).ok().and_then(|p| p.trim().parse().ok()).unwrap_or(0)
    }

    /// Kills a component with SIGKILL.
    pub fn kill(&self, component: &str) {
        let pid = self.pid(component);
        let _ = Command::new("kill").args(["-KILL", &pid.to_string()]).status();
        crate::eventually(&format!("{component} to die"), std::time::Duration::from_secs(10), || {
            (!std::path::Path::new(&format!("/proc/{pid}")).exists()).then_some(())
        });
    }

    /// A file of the install's PKI.
    pub fn pki(&self, file: &str) -> PathBuf {
        self.kcp.dir().join("pki").join(file)
    }

    /// The URL of a shard, bypassing the proxy.
    pub fn shard_url(&self, shard: &str) -> String {
        let port = if shard == "root" { self.ports[1] } else { self.ports[2] };
        format!("https://127.0.0.1:{port}")
    }

    /// The URL of cache replica `cache-1` or `cache-2`.
    pub fn cache_url(&self, replica: &str) -> String {
        let port = if replica == "cache-1" { self.ports[3] } else { self.ports[4] };
        format!("https://127.0.0.1:{port}")
    }

    /// The URL of the front-proxy.
    pub fn proxy_url(&self) -> String {
        format!("https://127.0.0.1:{}", self.ports[0])
    }

    /// kubectl straight to a shard with a client certificate of the PKI (`shard-admin`, `admin`).
    pub fn kubectl_shard(&self, shard: &str, cert: &str, cluster: &str, args: &[&str]) -> Run {
        self.kubectl_at(&format!("{}/clusters/{cluster}", self.shard_url(shard)), cert, cluster, args)
    }

    /// kubectl straight to a cache replica with a client certificate of the PKI (`shard-client`).
    pub fn kubectl_cache(&self, replica: &str, cert: &str, args: &[&str]) -> Run {
        self.kubectl_at(&self.cache_url(replica), cert, "", args)
    }

    fn kubectl_at(&self, server: &str, cert: &str, cluster: &str, args: &[&str]) -> Run {
        let user = serde_json::json!({
            "client-certificate": self.pki(&format!("{cert}.crt")),
            "client-key": self.pki(&format!("{cert}.key")),
        });
        let mut full = vec!["--server".to_string(), server.to_string()];
        full.extend(args.iter().map(|a| a.to_string()));
        let refs: Vec<&str> = full.iter().map(String::as_str).collect();
        self.kcp.kubectl_as(user, cluster, &refs)
    }
}

/// A Workspace manifest, placed by shard label `region` when given.
pub fn workspace(name: &str, region: Option<&str>) -> String {
    let location = region.map(|r| format!("spec:\n  location:\n    selector:\n      matchLabels:\n        region: {r}\n")).unwrap_or_default();
    format!("apiVersion: tenancy.kcp.io/v1alpha1\nkind: Workspace\nmetadata:\n  name: {name}\n{location}")
}

/// Creates a workspace in `parent` and waits until it is Ready; returns (shard, logical cluster).
pub fn create_ready(k: &Install, parent: &str, name: &str, region: Option<&str>) -> (String, String) {
    k.kubectl_in_stdin(parent, &["create", "-f", "-"], &workspace(name, region)).ok();
    eventually(&format!("workspace {parent}:{name} Ready"), Duration::from_secs(20), || {
        let ws = k.kubectl_in(parent, &["get", "workspace", name, "-o", "json"]);
        let ws: serde_json::Value = serde_json::from_str(&ws.stdout).ok()?;
        (ws["status"]["phase"] == "Ready").then(|| {
            let shard = ws["metadata"]["annotations"]["internal.tenancy.kcp.io/shard"].as_str().unwrap_or_default().to_string();
            (shard, ws["spec"]["cluster"].as_str().unwrap_or_default().to_string())
        })
    })
}

/// Labels the shards so selectors can place workspaces: root is `us`, shard-2 is `eu`.
pub fn label_shards(s: &Sharded) {
    eventually("both shards registered", Duration::from_secs(10), || {
        let names = s.kcp.kubectl(&["get", "shards", "-o", "name"]).stdout;
        (names.contains("shard.core.kcp.io/root") && names.contains("shard.core.kcp.io/shard-2")).then_some(())
    });
    s.kcp.kubectl(&["label", "shard", "root", "region=us"]).ok();
    s.kcp.kubectl(&["label", "shard", "shard-2", "region=eu"]).ok();
}

/// A GET with chosen headers, for what kubectl cannot send: `server` is `https://host:port`,
/// `identity` a client certificate stem of the PKI. Returns (status, body).
pub fn raw_get(s: &Sharded, server: &str, path: &str, identity: Option<&str>, headers: &[(&str, &str)]) -> (u16, String) {
    raw_request(s, "GET", server, path, identity, headers)
}

/// [`raw_get`] with any method (and an empty body).
pub fn raw_request(s: &Sharded, method: &str, server: &str, path: &str, identity: Option<&str>, headers: &[(&str, &str)]) -> (u16, String) {
    let read = |f: PathBuf| std::fs::read_to_string(f).expect("PKI file");
    let ca = read(s.pki("server-ca.crt"));
    let id = identity.map(|stem| (read(s.pki(&format!("{stem}.crt"))), read(s.pki(&format!("{stem}.key")))));
    let target = crate::bench::Target::new(server, &ca, id);
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    runtime.block_on(async move {
        let mut conn = target.connect().await;
        let mut req = http::Request::builder().method(method).uri(path).header("host", "localhost");
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let req = req.body(http_body_util::Full::new(bytes::Bytes::new())).expect("request");
        conn.ready().await.expect("ready");
        let resp = conn.send_request(req).await.expect("response");
        let status = resp.status().as_u16();
        use http_body_util::BodyExt;
        let body = resp.into_body().collect().await.map(|b| b.to_bytes()).unwrap_or_default();
        (status, String::from_utf8_lossy(&body).into_owned())
    })
}

/// The certificate (DER) a server presents on a fresh TLS connection.
pub fn presented_certificate(s: &Sharded, server: &str) -> Vec<u8> {
    let ca = std::fs::read_to_string(s.pki("server-ca.crt")).expect("CA");
    let target = crate::bench::Target::new(server, &ca, None);
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    runtime.block_on(async move {
        let tcp = tokio::net::TcpStream::connect((target.host.as_str(), target.port)).await.expect("connect");
        let name = rustls_pki_types::ServerName::try_from(target.host.clone()).expect("server name");
        let tls = tokio_rustls::TlsConnector::from(target.tls.clone()).connect(name, tcp).await.expect("TLS");
        tls.get_ref().1.peer_certificates().and_then(|c| c.first()).map(|c| c.to_vec()).expect("server certificate")
    })
}

impl Drop for Sharded {
    fn drop(&mut self) {
        let _ = Command::new(repo().join("deploy/local/down.sh")).arg(self.kcp.dir()).output();
    }
}
