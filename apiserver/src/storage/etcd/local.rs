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

/// A member listens before it has elected itself leader; it logs when it can serve.
fn ready(log: &Path) -> bool {
    std::fs::read_to_string(log).is_ok_and(|text| text.contains("ready to serve client requests"))
}

/// A free loopback port (the kernel's choice; released before etcd binds it).
fn free_port() -> std::io::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// A running single-member etcd; stopped (killed) on drop.
pub struct LocalEtcd {
    child: Child,
    /// The client URL (`http://127.0.0.1:<port>`).
    pub url: String,
}

impl LocalEtcd {
    /// Starts a member keeping its data in `dir/data` and its log in `dir/etcd.log`, and waits
    /// until its client port accepts connections.
    pub fn start(dir: &Path) -> Result<LocalEtcd, LocalEtcdError> {
        let binary = binary()?;
        let (client, peer) = (free_port()?, free_port()?);
        let url = format!("http://127.0.0.1:{client}");
        let peer_url = format!("http://127.0.0.1:{peer}");
        let log_path = dir.join("etcd.log");
        let log = std::fs::File::create(&log_path)?;
        let child = Command::new(binary)
            .arg("--name=local")
            .arg(format!("--data-dir={}", dir.join("data").display()))
            .arg(format!("--listen-client-urls={url}"))
            .arg(format!("--advertise-client-urls={url}"))
            .arg(format!("--listen-peer-urls={peer_url}"))
            .arg(format!("--initial-advertise-peer-urls={peer_url}"))
            .arg(format!("--initial-cluster=local={peer_url}"))
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()?;
        let mut etcd = LocalEtcd { child, url };
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if std::net::TcpStream::connect(("127.0.0.1", client)).is_ok() && ready(&log_path) {
                return Ok(etcd);
            }
            if Instant::now() > deadline || etcd.child.try_wait()?.is_some() {
                let text = std::fs::read_to_string(&log_path).unwrap_or_default();
                let tail = text.lines().rev().take(20).collect::<Vec<_>>().into_iter().rev().collect::<Vec<_>>().join("\n");
                return Err(LocalEtcdError::NotReady { log: log_path, tail });
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for LocalEtcd {
    fn drop(&mut self) {
        // Our own child, by its handle; waiting reaps it and frees the ports.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
