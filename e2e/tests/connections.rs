//! Connections at their edges, on a shard (`kcp start`) and through the front-proxy: HTTP/2
//! streams that end cleanly (HEAD, answers given before the body was read) as curl sees them,
//! and connections that keep the server waiting (half-sent headers, idleness) closed within the
//! configured limits while real requests and watches carry on.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use e2e::bench::Target;
use e2e::sharded::Sharded;
use e2e::Install;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Short limits, so the test waits seconds rather than the defaults.
const HEADER_TIMEOUT: Duration = Duration::from_secs(2);
const IDLE_TIMEOUT: Duration = Duration::from_secs(4);
const LIMIT_FLAGS: [&str; 4] = ["--request-header-timeout", "2s", "--idle-connection-timeout", "4s"];
/// Scheduling and TLS slack on a busy 2-core machine; a correctness bound, not a speed claim.
const SLACK: Duration = Duration::from_secs(5);

/// Runs curl; returns its exit code and what `-w` printed.
fn curl(args: &[&str]) -> (i32, String) {
    let out = Command::new("curl")
        .args(["-sS", "-o", "/dev/null", "-w", "%{http_code} %{http_version}"])
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("curl on PATH");
    (out.status.code().unwrap_or(-1), format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)))
}

/// A file of `n` bytes of filler, for uploads.
fn upload(dir: &Path, n: usize) -> String {
    let path = dir.join(format!("upload-{n}"));
    std::fs::write(&path, vec![b'a'; n]).expect("upload file");
    path.display().to_string()
}

/// Asserts that over HTTP/2 a HEAD gets its headers and an unauthenticated 1 MiB POST its 401,
/// both with curl exiting 0 (before the fix: exit 92, PROTOCOL_ERROR / framing-layer error).
#[track_caller]
fn http2_ends_cleanly(server: &str, ca: &Path, cert: (&Path, &Path), body: &str) {
    let (ca, cert, key) = (ca.to_str().expect("utf-8"), cert.0.to_str().expect("utf-8"), cert.1.to_str().expect("utf-8"));
    let head = curl(&["--http2", "--cacert", ca, "--cert", cert, "--key", key, "-I", &format!("{server}/clusters/root/api/v1/namespaces")]);
    assert_eq!(head, (0, "200 2".to_string()), "HEAD over HTTP/2 at {server}");
    let (body, url) = (format!("@{body}"), format!("{server}/clusters/root/api/v1/namespaces/default/configmaps"));
    for _ in 0..3 {
        let post = curl(&["--http2", "--cacert", ca, "-X", "POST", "-H", "Content-Type: application/json", "--data-binary", &body, &url]);
        assert_eq!(post, (0, "401 2".to_string()), "unauthenticated POST at {server}");
    }
}

/// Opens `n` TLS connections that each send half a request (HTTP/1.1), or with `h2` the
/// connection preface and nothing else; returns how long each took to be closed by the server
/// (None: still open after `wait`).
fn stalled_connections(target: &Target, n: usize, h2: bool, wait: Duration) -> Vec<Option<Duration>> {
    let mut tls = (*target.tls).clone();
    tls.alpn_protocols = vec![if h2 { b"h2".to_vec() } else { b"http/1.1".to_vec() }];
    let tls = Arc::new(tls);
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    runtime.block_on(async {
        let mut tasks = tokio::task::JoinSet::new();
        for _ in 0..n {
            let (host, port, tls) = (target.host.clone(), target.port, tls.clone());
            tasks.spawn(async move {
                // The server's clock starts at accept, so never before this one.
                let connecting = std::time::Instant::now();
                let tcp = tokio::net::TcpStream::connect((host.as_str(), port)).await.expect("connect");
                let name = rustls_pki_types::ServerName::try_from(host).expect("server name");
                let mut conn = tokio_rustls::TlsConnector::from(tls).connect(name, tcp).await.expect("TLS");
                let half: &[u8] = if h2 { b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" } else { b"GET /clusters/root/api HT" };
                conn.write_all(half).await.expect("half a request");
                let mut buf = [0u8; 1024];
                tokio::time::timeout(wait, async {
                    // Whatever the server says (HTTP/2 SETTINGS), the connection must end.
                    while matches!(conn.read(&mut buf).await, Ok(n) if n > 0) {}
                })
                .await
                .ok()
                .map(|()| connecting.elapsed())
            });
        }
        tasks.join_all().await
    })
}

/// Makes one HTTP/2 request on a fresh connection, then leaves it idle; returns how long after
/// the answer the server closed it (None: still open after `wait`).
fn idle_http2_connection(target: &Target, wait: Duration) -> Option<Duration> {
    let mut tls = (*target.tls).clone();
    tls.alpn_protocols = vec![b"h2".to_vec()];
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    runtime.block_on(async {
        let tcp = tokio::net::TcpStream::connect((target.host.as_str(), target.port)).await.expect("connect");
        let name = rustls_pki_types::ServerName::try_from(target.host.clone()).expect("server name");
        let io = tokio_rustls::TlsConnector::from(Arc::new(tls)).connect(name, tcp).await.expect("TLS");
        let (mut send, conn) =
            hyper::client::conn::http2::handshake(hyper_util::rt::TokioExecutor::new(), hyper_util::rt::TokioIo::new(io)).await.expect("HTTP/2 handshake");
        let conn = tokio::spawn(conn);
        let req = http::Request::builder()
            .uri(format!("https://{}:{}/readyz", target.host, target.port))
            .body(http_body_util::Empty::<bytes::Bytes>::new())
            .expect("request");
        let resp = send.send_request(req).await.expect("answer");
        assert_eq!(resp.status(), 200);
        drop(resp);
        let answered = std::time::Instant::now();
        tokio::time::timeout(wait, conn).await.ok().map(|_| answered.elapsed())
    })
}

/// Stalled connections are closed within the header timeout and an idle HTTP/2 one within the
/// idle timeout, while `served` keeps succeeding and `watch` (started before) stays open.
#[track_caller]
fn stalled_and_idle_connections_close(target: &Target, served: impl Fn() -> bool, watch: &mut e2e::Background) {
    let (stalled, requests) = std::thread::scope(|s| {
        let http1 = s.spawn(|| stalled_connections(target, 40, false, HEADER_TIMEOUT + SLACK));
        let http2 = s.spawn(|| stalled_connections(target, 10, true, HEADER_TIMEOUT + SLACK));
        // Meanwhile the server goes on serving.
        let requests: Vec<bool> = (0..5).map(|_| served()).collect();
        let mut stalled = http1.join().expect("HTTP/1.1 connections");
        stalled.extend(http2.join().expect("HTTP/2 connections"));
        (stalled, requests)
    });
    assert!(stalled.iter().all(Option::is_some), "connections with half-sent headers still open after {:?}: {stalled:?}", HEADER_TIMEOUT + SLACK);
    assert!(stalled.iter().flatten().all(|t| *t >= HEADER_TIMEOUT), "closed before the header timeout: {stalled:?}");
    assert!(requests.iter().all(|ok| *ok), "requests failed while stalled connections were open: {requests:?}");
    let idle = idle_http2_connection(target, IDLE_TIMEOUT + SLACK);
    assert!(
        idle.is_some_and(|t| t >= IDLE_TIMEOUT - Duration::from_millis(100)),
        "idle HTTP/2 connection closed after {idle:?}, expected the idle timeout {IDLE_TIMEOUT:?}"
    );
    assert_eq!(watch.exited(), None, "a watch is in flight: no connection limit applies to it");
}

fn certs(root: &Path) -> (PathBuf, PathBuf, PathBuf) {
    (root.join("ca.crt"), root.join("kcp-admin.crt"), root.join("kcp-admin.key"))
}

#[test]
fn kcp_start_ends_streams_cleanly_and_closes_stalled_connections() {
    let dir = tempfile::tempdir().expect("dir");
    let kcp = Install::start_with(dir, &LIMIT_FLAGS);
    let (ca, cert, key) = certs(&kcp.root().join("certs"));
    let server = kcp.server("");
    let files = tempfile::tempdir().expect("dir");
    http2_ends_cleanly(&server, &ca, (&cert, &key), &upload(files.path(), 1024 * 1024));

    let mut watch = kcp.background("root", &["get", "configmaps", "--watch", "-o", "name"]);
    watch.wait_for("the watch to start", |lines| !lines.is_empty());
    let target = Target::new(&server, &std::fs::read_to_string(&ca).expect("CA"), None);
    stalled_and_idle_connections_close(&target, || kcp.kubectl(&["get", "namespace", "default"]).code == 0, &mut watch);
    kcp.kubectl(&["create", "configmap", "after-idle"]).ok();
    watch.wait_for("the watch to outlive the idle timeout", |lines| lines.iter().any(|l| l == "configmap/after-idle"));
}

#[test]
fn front_proxy_ends_streams_cleanly_and_closes_stalled_connections() {
    let s = Sharded::up_with("alice-token,alice,1,\"dev\"\n", |_| LIMIT_FLAGS.join(" "));
    let (ca, cert, key) = (s.pki("server-ca.crt"), s.pki("admin.crt"), s.pki("admin.key"));
    let files = tempfile::tempdir().expect("dir");
    let body = upload(files.path(), 1024 * 1024);
    http2_ends_cleanly(&s.proxy_url(), &ca, (&cert, &key), &body);
    http2_ends_cleanly(&s.shard_url("root"), &ca, (&cert, &key), &body);

    // A shard that refuses a forwarded upload before reading it: its 403 reaches the client,
    // never a 503 for a connection the shard closed under the proxy's writes. Near the largest
    // accepted body, so the proxy is still writing when the answer comes.
    let body = upload(files.path(), 3 * 1024 * 1024 - 4096);
    let url = format!("{}/clusters/root/api/v1/namespaces/default/configmaps", s.proxy_url());
    let ca = ca.to_str().expect("utf-8");
    for version in ["--http2", "--http1.1"] {
        for _ in 0..3 {
            let refused = curl(&[
                version,
                "--cacert",
                ca,
                "-H",
                "Authorization: Bearer alice-token",
                "-X",
                "POST",
                "-H",
                "Content-Type: application/json",
                "--data-binary",
                &format!("@{body}"),
                &url,
            ]);
            assert_eq!(refused.0, 0, "{version}: {refused:?}");
            assert!(refused.1.starts_with("403 "), "{version}: {refused:?}");
        }
    }

    let mut watch = s.kcp.background("root", &["get", "configmaps", "--watch", "-o", "name"]);
    watch.wait_for("the watch to start", |lines| !lines.is_empty());
    let target = Target::new(&s.proxy_url(), &std::fs::read_to_string(ca).expect("CA"), None);
    stalled_and_idle_connections_close(&target, || s.kcp.kubectl(&["get", "namespace", "default"]).code == 0, &mut watch);
    s.kcp.kubectl(&["create", "configmap", "after-idle"]).ok();
    watch.wait_for("the watch through the proxy to outlive the idle timeout", |lines| lines.iter().any(|l| l == "configmap/after-idle"));
}
