//! A single-member etcd on loopback in a directory of the caller's, for tests and local
//! installs: the real server, not a stand-in, so the backend is tested against what it runs on.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Where Debian's `etcd-server` package puts the binary, when it is not on `PATH`.
const DEBIAN_BINARY: &str = "/usr/bin/etcd";

/// How long a fresh member may take to answer.
const START_TIMEOUT: Duration = Duration::from_secs(30);

/// Why a local etcd could not be started.
#[derive(Debug, thiserror::Error)]
pub enum LocalEtcdError {
    /// No `etcd` binary was found.
    #[error("no etcd binary on PATH or at {DEBIAN_BINARY}: install Debian's `etcd-server` package (apt-get install etcd-server) or put etcd 3.4+ on PATH")]
    Missing,
    /// Spawning or preparing the process failed.
    #[error("starting etcd")]
    Io(#[from] std::io::Error),
    /// The process exited or did not listen in time.
    #[error("etcd did not come up within {START_TIMEOUT:?}; its log ({log}) ends with:\n{tail}")]
    NotReady {
        /// The member's log file.
        log: PathBuf,
        /// The last lines of that log.
        tail: String,
    },
}

/// The `etcd` binary: `PATH` first, then Debian's location.
fn binary() -> Result<PathBuf, LocalEtcdError> {
    let on_path = std::env::var_os("PATH").into_iter().flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>()).map(|dir| dir.join("etcd"));
    on_path.chain(std::iter::once(PathBuf::from(DEBIAN_BINARY))).find(|p| p.is_file()).ok_or(LocalEtcdError::Missing)
}

/// What a member logs once it can serve (it listens before it has elected itself leader).
const READY_LINE: &str = "ready to serve client requests";

/// A free loopback port (the kernel's choice; released before etcd binds it).
fn free_port() -> std::io::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// Serving certificate and key of a member's client port, and the CA its clients' certificates
/// must chain to.
#[derive(Debug, Clone)]
pub struct LocalEtcdTls {
    /// Serving certificate (PEM), valid for 127.0.0.1.
    pub cert_file: PathBuf,
    /// Its private key (PEM).
    pub key_file: PathBuf,
    /// CA of the client certificates etcd accepts.
    pub client_ca_file: PathBuf,
}

/// A running single-member etcd; stopped (killed) on drop.
pub struct LocalEtcd {
    child: Child,
    /// The client URL (`http://127.0.0.1:<port>`, `https://` with TLS).
    pub url: String,
    binary: PathBuf,
    args: Vec<String>,
    client_port: u16,
    log: PathBuf,
}

impl LocalEtcd {
    /// Starts a member keeping its data in `dir/data` and its log in `dir/etcd.log`, and waits
    /// until it serves clients.
    pub fn start(dir: &Path) -> Result<LocalEtcd, LocalEtcdError> {
        Self::launch(dir, None)
    }

    /// [`LocalEtcd::start`] with the client port on TLS, requiring client certificates.
    pub fn start_tls(dir: &Path, tls: &LocalEtcdTls) -> Result<LocalEtcd, LocalEtcdError> {
        Self::launch(dir, Some(tls))
    }

    fn launch(dir: &Path, tls: Option<&LocalEtcdTls>) -> Result<LocalEtcd, LocalEtcdError> {
        let binary = binary()?;
        let (client_port, peer_port) = (free_port()?, free_port()?);
        let scheme = if tls.is_some() { "https" } else { "http" };
        let url = format!("{scheme}://127.0.0.1:{client_port}");
        let peer_url = format!("http://127.0.0.1:{peer_port}");
        let mut args = vec![
            "--name=local".to_owned(),
            format!("--data-dir={}", dir.join("data").display()),
            format!("--listen-client-urls={url}"),
            format!("--advertise-client-urls={url}"),
            format!("--listen-peer-urls={peer_url}"),
            format!("--initial-advertise-peer-urls={peer_url}"),
            format!("--initial-cluster=local={peer_url}"),
        ];
        if let Some(tls) = tls {
            args.push(format!("--cert-file={}", tls.cert_file.display()));
            args.push(format!("--key-file={}", tls.key_file.display()));
            args.push(format!("--trusted-ca-file={}", tls.client_ca_file.display()));
            args.push("--client-cert-auth".to_owned());
        }
        let log = dir.join("etcd.log");
        let child = spawn(&binary, &args, &log)?;
        let mut etcd = LocalEtcd { child, url, binary, args, client_port, log };
        etcd.wait_ready()?;
        Ok(etcd)
    }

    /// Kills the member (SIGKILL, as a crash would) and starts it again on the same data and
    /// ports; returns once it serves again.
    pub fn restart(&mut self) -> Result<(), LocalEtcdError> {
        self.stop();
        self.child = spawn(&self.binary, &self.args, &self.log)?;
        self.wait_ready()
    }

    /// Kills the member and waits for it to be gone.
    pub fn stop(&mut self) {
        // Our own child, by its handle; waiting reaps it and frees the ports.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    fn wait_ready(&mut self) -> Result<(), LocalEtcdError> {
        let deadline = Instant::now() + START_TIMEOUT;
        let logged_before = std::fs::read_to_string(&self.log).map_or(0, |text| text.matches(READY_LINE).count());
        loop {
            let logged = std::fs::read_to_string(&self.log).map_or(0, |text| text.matches(READY_LINE).count());
            if logged > logged_before && std::net::TcpStream::connect(("127.0.0.1", self.client_port)).is_ok() {
                return Ok(());
            }
            if Instant::now() > deadline || self.child.try_wait()?.is_some() {
                let text = std::fs::read_to_string(&self.log).unwrap_or_default();
                let tail = text.lines().rev().take(20).collect::<Vec<_>>().into_iter().rev().collect::<Vec<_>>().join("\n");
                return Err(LocalEtcdError::NotReady { log: self.log.clone(), tail });
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// Starts the process, appending its output to `log` (a restart keeps the earlier lines).
fn spawn(binary: &Path, args: &[String], log: &Path) -> std::io::Result<Child> {
    let log = std::fs::OpenOptions::new().create(true).append(true).open(log)?;
    Command::new(binary).args(args).stdin(Stdio::null()).stdout(log.try_clone()?).stderr(log).spawn()
}

impl Drop for LocalEtcd {
    fn drop(&mut self) {
        self.stop();
    }
}
