//! etcd on loopback in a directory of the caller's (one member, or a cluster of several), for
//! tests and local installs: the real server, not a stand-in, so the backend is tested against
//! what it runs on, member crashes included.

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

/// `count` distinct free loopback ports (the kernel's choice; all held until every one is
/// picked so none repeats, then released for etcd to bind).
fn free_ports(count: usize) -> std::io::Result<Vec<u16>> {
    let listeners = (0..count).map(|_| std::net::TcpListener::bind("127.0.0.1:0")).collect::<std::io::Result<Vec<_>>>()?;
    listeners.iter().map(|l| Ok(l.local_addr()?.port())).collect()
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

/// A running etcd member; stopped (killed) on drop.
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
    /// Starts a single member keeping its data in `dir/data` and its log in `dir/etcd.log`, and
    /// waits until it serves clients.
    pub fn start(dir: &Path) -> Result<LocalEtcd, LocalEtcdError> {
        Self::single(dir, None)
    }

    /// [`LocalEtcd::start`] with the client port on TLS, requiring client certificates.
    pub fn start_tls(dir: &Path, tls: &LocalEtcdTls) -> Result<LocalEtcd, LocalEtcdError> {
        Self::single(dir, Some(tls))
    }

    /// Starts a cluster of `size` members, member `i` in `dir/member-<i>`, and waits until every
    /// one serves clients (which needs an elected leader).
    pub fn cluster(dir: &Path, size: usize) -> Result<Vec<LocalEtcd>, LocalEtcdError> {
        let dirs: Vec<PathBuf> = (0..size).map(|i| dir.join(format!("member-{i}"))).collect();
        for dir in &dirs {
            std::fs::create_dir_all(dir)?;
        }
        Self::launch(&dirs, None)
    }

    fn single(dir: &Path, tls: Option<&LocalEtcdTls>) -> Result<LocalEtcd, LocalEtcdError> {
        // One directory in, one member out.
        Ok(Self::launch(&[dir.to_owned()], tls)?.remove(0))
    }

    fn launch(dirs: &[PathBuf], tls: Option<&LocalEtcdTls>) -> Result<Vec<LocalEtcd>, LocalEtcdError> {
        let binary = binary()?;
        let ports = free_ports(2 * dirs.len())?;
        let (client_ports, peer_ports) = ports.split_at(dirs.len());
        let scheme = if tls.is_some() { "https" } else { "http" };
        let initial_cluster = peer_ports.iter().enumerate().map(|(i, port)| format!("m{i}=http://127.0.0.1:{port}")).collect::<Vec<_>>().join(",");
        let mut members = Vec::with_capacity(dirs.len());
        for (i, dir) in dirs.iter().enumerate() {
            let url = format!("{scheme}://127.0.0.1:{}", client_ports[i]);
            let peer_url = format!("http://127.0.0.1:{}", peer_ports[i]);
            let mut args = vec![
                format!("--name=m{i}"),
                format!("--data-dir={}", dir.join("data").display()),
                format!("--listen-client-urls={url}"),
                format!("--advertise-client-urls={url}"),
                format!("--listen-peer-urls={peer_url}"),
                format!("--initial-advertise-peer-urls={peer_url}"),
                format!("--initial-cluster={initial_cluster}"),
            ];
            if let Some(tls) = tls {
                args.push(format!("--cert-file={}", tls.cert_file.display()));
                args.push(format!("--key-file={}", tls.key_file.display()));
                args.push(format!("--trusted-ca-file={}", tls.client_ca_file.display()));
                args.push("--client-cert-auth".to_owned());
            }
            let log = dir.join("etcd.log");
            // Members already started are killed by their drop if a later one fails.
            let child = spawn(&binary, &args, &log)?;
            members.push(LocalEtcd { child, url, binary: binary.clone(), args, client_port: client_ports[i], log });
        }
        // All are running before any is waited for: none can serve before a majority is up.
        for member in &mut members {
            member.wait_ready(0)?;
        }
        Ok(members)
    }

    /// The member's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Kills the member (SIGKILL, as a crash would) and starts it again on the same data and
    /// ports; returns once it serves again.
    pub fn restart(&mut self) -> Result<(), LocalEtcdError> {
        self.stop();
        let logged_before = self.ready_lines();
        self.child = spawn(&self.binary, &self.args, &self.log)?;
        self.wait_ready(logged_before)
    }

    /// Kills the member and waits for it to be gone.
    pub fn stop(&mut self) {
        // Our own child, by its handle; waiting reaps it and frees the ports.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// How often the member has logged that it serves (its log survives restarts).
    fn ready_lines(&self) -> usize {
        std::fs::read_to_string(&self.log).map_or(0, |text| text.matches(READY_LINE).count())
    }

    /// Waits until the member logs readiness once more than `logged_before` times and accepts
    /// connections.
    fn wait_ready(&mut self, logged_before: usize) -> Result<(), LocalEtcdError> {
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if self.ready_lines() > logged_before && std::net::TcpStream::connect(("127.0.0.1", self.client_port)).is_ok() {
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
