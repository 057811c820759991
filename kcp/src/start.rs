//! `kcp start`: certificates on first start, the admin kubeconfig, then the shard.

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};

use apiserver::pki::{self, CertPair, PkiError};
use shard::{ShardConfig, ShardFile, ShardFlags};

use crate::kubeconfig::{self, AdminKubeconfig};

/// Flags of `kcp start` (kcp's names).
#[derive(Debug, Clone, clap::Args)]
pub struct StartFlags {
    /// The shard's own flags; certificate paths default to the generated ones.
    #[command(flatten)]
    pub shard: ShardFlags,
    /// Extra DNS names or IPs for the serving certificate.
    #[arg(long = "tls-sans", value_delimiter = ',')]
    pub tls_sans: Vec<String>,
    /// Where to write the admin kubeconfig (default `<root-directory>/admin.kubeconfig`).
    #[arg(long)]
    pub kubeconfig_path: Option<PathBuf>,
}

/// Why `kcp start` failed.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// A certificate or the admin kubeconfig could not be generated, read or written.
    #[error(transparent)]
    Pki(#[from] PkiError),
    /// The shard failed to start or stopped with an error.
    #[error(transparent)]
    Shard(#[from] shard::ShardError),
    /// The shard's config file or flags are invalid.
    #[error(transparent)]
    Config(#[from] shard::ConfigError),
    /// A directory under the root directory could not be created.
    #[error("writing {path}")]
    Write {
        /// The directory.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
}

/// File stems of the generated certificates under `<root>/certs`.
const SERVER_CA: &str = "ca";
const CLIENT_CA: &str = "client-ca";
const SERVING: &str = "apiserver";
const KCP_ADMIN: &str = "kcp-admin";
const SHARD_ADMIN: &str = "shard-admin";

fn host_names(extra: &[String]) -> (Vec<String>, Vec<IpAddr>) {
    let mut dns = vec!["localhost".to_string()];
    if let Ok(h) = std::fs::read_to_string("/etc/hostname") {
        let h = h.trim();
        if !h.is_empty() {
            dns.push(h.to_string());
        }
    }
    let mut ips: Vec<IpAddr> = vec!["127.0.0.1".parse().expect("literal IP"), "::1".parse().expect("literal IP")];
    for s in extra {
        match s.parse::<IpAddr>() {
            Ok(ip) => ips.push(ip),
            Err(_) => dns.push(s.clone()),
        }
    }
    (dns, ips)
}

/// Certificates of a single-process install, generated once and reused.
pub struct Pki {
    /// The CA that signed the serving certificate; clients verify the shard with it.
    pub server_ca: CertPair,
    /// Client certificate of `kcp-admin`, in group `system:kcp:admin`.
    pub kcp_admin: CertPair,
    /// Client certificate of `shard-admin`, in group `system:masters`.
    pub shard_admin: CertPair,
}

/// Creates whatever certificates are missing under `dir`.
pub fn ensure_pki(dir: &Path, sans: &[String]) -> Result<Pki, PkiError> {
    let server_ca = pki::ensure_pair(dir, SERVER_CA, || pki::new_ca("kcp-rs server CA"))?;
    let client_ca = pki::ensure_pair(dir, CLIENT_CA, || pki::new_ca("kcp-rs client CA"))?;
    let (dns, ips) = host_names(sans);
    pki::ensure_pair(dir, SERVING, || pki::new_serving_cert(&server_ca, "kcp-rs apiserver", &dns, &ips))?;
    let kcp_admin = pki::ensure_pair(dir, KCP_ADMIN, || pki::new_client_cert(&client_ca, "kcp-admin", &[shard::bootstrap::KCP_ADMIN_GROUP.into()]))?;
    let shard_admin = pki::ensure_pair(dir, SHARD_ADMIN, || pki::new_client_cert(&client_ca, "shard-admin", &["system:masters".into()]))?;
    Ok(Pki { server_ca, kcp_admin, shard_admin })
}

/// Runs `kcp start` until SIGTERM.
pub async fn run(flags: StartFlags) -> Result<(), StartError> {
    let file = match &flags.shard.config {
        Some(p) => ShardFile::load(p)?,
        None => ShardFile::default(),
    };
    let root = flags.shard.root_directory.clone().or(file.root_directory.clone()).unwrap_or_else(|| PathBuf::from(".kcp"));
    let certs = root.join("certs");
    std::fs::create_dir_all(&certs).map_err(|source| StartError::Write { path: certs.clone(), source })?;
    let pki = ensure_pki(&certs, &flags.tls_sans)?;
    let mut shard_flags = flags.shard.clone();
    shard_flags.root_directory = Some(root.clone());
    shard_flags.tls_cert_file.get_or_insert(certs.join(format!("{SERVING}.crt")));
    shard_flags.tls_private_key_file.get_or_insert(certs.join(format!("{SERVING}.key")));
    shard_flags.client_ca_file.get_or_insert(certs.join(format!("{CLIENT_CA}.crt")));
    shard_flags.root_ca_file.get_or_insert(certs.join(format!("{SERVER_CA}.crt")));
    let config = ShardConfig::resolve(file, shard_flags)?;
    let kubeconfig_path = flags.kubeconfig_path.clone().unwrap_or_else(|| root.join("admin.kubeconfig"));
    let mut write_error = None;
    let on_listening = |addr: SocketAddr| {
        let host = if addr.ip().is_unspecified() { "127.0.0.1".to_string() } else { addr.ip().to_string() };
        let host = if host.contains(':') { format!("[{host}]") } else { host };
        let kc = AdminKubeconfig {
            server: format!("https://{host}:{}", addr.port()),
            ca_pem: &pki.server_ca.cert_pem,
            kcp_admin: &pki.kcp_admin,
            shard_admin: &pki.shard_admin,
        };
        match kubeconfig::write(&kubeconfig_path, &kc) {
            Ok(()) => {
                eprintln!("kcp is serving at https://{host}:{}", addr.port());
                eprintln!("admin kubeconfig: {}", kubeconfig_path.display());
                eprintln!("  export KUBECONFIG={}", kubeconfig_path.display());
            }
            Err(e) => write_error = Some(StartError::Pki(e)),
        }
    };
    shard::run(config, apiserver::process::shutdown_on_signals(), on_listening).await?;
    match write_error {
        Some(e) => Err(e),
        None => Ok(()),
    }
}
