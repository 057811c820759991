//! `kcp pki init`: the certificates and keys of a whole sharded install, in one directory.
//!
//! Three CAs keep the trust decisions apart: the server CA signs every serving certificate;
//! the client CA signs the identities users and components present; the request-header CA
//! signs only the front-proxy's client certificate, the one credential shards accept identity
//! headers from. A fourth, the etcd CA, signs etcd's serving certificate and the one client
//! certificate etcd accepts (the shards'), so no user identity can reach the store directly.

use std::net::IpAddr;
use std::path::{Path, PathBuf};

use apimachinery::auth::TokenSigner;
use apiserver::pki::{self, CertPair, PkiError};

/// Flags of `kcp pki init`.
#[derive(Debug, Clone, clap::Args)]
pub struct InitFlags {
    /// Directory to write into (created if missing).
    #[arg(long)]
    pub dir: PathBuf,
    /// DNS names and IPs every serving certificate is valid for.
    #[arg(long = "host", default_values_t = ["localhost".to_string(), "127.0.0.1".to_string()])]
    pub hosts: Vec<String>,
    /// Shards to issue serving certificates for (`shard-<name>.crt`).
    #[arg(long = "shard", default_values_t = ["root".to_string()])]
    pub shards: Vec<String>,
    /// Overwrite existing files.
    #[arg(long)]
    pub force: bool,
}

/// Why `kcp pki` failed.
#[derive(Debug, thiserror::Error)]
pub enum PkiCommandError {
    /// A certificate could not be issued, read or written.
    #[error(transparent)]
    Pki(#[from] PkiError),
    /// `init` would overwrite this file and `--force` was not given.
    #[error("{0} already exists; use --force to overwrite the PKI")]
    Exists(PathBuf),
    /// The service-account signing key could not be generated.
    #[error("service-account key")]
    ServiceAccount(#[from] apimachinery::auth::AuthError),
    /// `rotate` was asked for a CA, a key or an unknown file stem.
    #[error("{0:?} is not a leaf certificate of this PKI (CAs and keys are not rotated)")]
    NotLeaf(String),
    /// The PKI directory could not be created.
    #[error("creating {path}")]
    Io {
        /// The directory.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
}

/// What `init` writes, by file stem.
fn plan(flags: &InitFlags) -> Vec<String> {
    let mut stems: Vec<String> = [
        "server-ca",
        "client-ca",
        "requestheader-ca",
        "front-proxy",
        "cache-server",
        "virtual-workspaces",
        "admin",
        "shard-admin",
        "shard-client",
        "front-proxy-client",
        "etcd-ca",
        "etcd-server",
        "etcd-client",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    stems.extend(flags.shards.iter().map(|s| format!("shard-{s}")));
    stems
}

/// Writes the PKI; refuses to overwrite anything without `--force`. Returns the files written.
pub fn init(flags: &InitFlags) -> Result<Vec<PathBuf>, PkiCommandError> {
    let dir = &flags.dir;
    let stems = plan(flags);
    let mut files: Vec<PathBuf> = stems.iter().flat_map(|s| [dir.join(format!("{s}.crt")), dir.join(format!("{s}.key"))]).collect();
    files.extend([dir.join("service-account.key"), dir.join("service-account.pub")]);
    if !flags.force {
        if let Some(existing) = files.iter().find(|f| f.exists()) {
            return Err(PkiCommandError::Exists(existing.clone()));
        }
    }
    std::fs::create_dir_all(dir).map_err(|source| PkiCommandError::Io { path: dir.clone(), source })?;
    let (dns, ips): (Vec<String>, Vec<IpAddr>) = {
        let mut dns = Vec::new();
        let mut ips = Vec::new();
        for h in &flags.hosts {
            match h.parse::<IpAddr>() {
                Ok(ip) => ips.push(ip),
                Err(_) => dns.push(h.clone()),
            }
        }
        (dns, ips)
    };
    let server_ca = pki::new_ca("kcp-rs server CA")?;
    let client_ca = pki::new_ca("kcp-rs client CA")?;
    let requestheader_ca = pki::new_ca("kcp-rs request-header CA")?;
    let etcd_ca = pki::new_ca("kcp-rs etcd CA")?;
    let serving = |cn: &str| pki::new_serving_cert(&server_ca, cn, &dns, &ips);
    let mut pairs: Vec<(String, CertPair)> = vec![
        ("front-proxy".into(), serving("kcp-front-proxy")?),
        ("cache-server".into(), serving("kcp-cache-server")?),
        ("virtual-workspaces".into(), serving("kcp-virtual-workspaces")?),
        ("admin".into(), pki::new_client_cert(&client_ca, "kcp-admin", &[shard::bootstrap::KCP_ADMIN_GROUP.into()])?),
        ("shard-admin".into(), pki::new_client_cert(&client_ca, "shard-admin", &["system:masters".into()])?),
        ("shard-client".into(), pki::new_client_cert(&client_ca, "system:kcp:shard", &["system:masters".into()])?),
        ("front-proxy-client".into(), pki::new_client_cert(&requestheader_ca, "kcp-front-proxy", &[])?),
        ("etcd-server".into(), pki::new_serving_cert(&etcd_ca, "etcd", &dns, &ips)?),
        ("etcd-client".into(), pki::new_client_cert(&etcd_ca, "kcp-rs shard", &[])?),
    ];
    for shard in &flags.shards {
        pairs.push((format!("shard-{shard}"), serving(&format!("kcp-shard {shard}"))?));
    }
    pairs.extend([
        ("server-ca".into(), server_ca),
        ("client-ca".into(), client_ca),
        ("requestheader-ca".into(), requestheader_ca),
        ("etcd-ca".into(), etcd_ca),
    ]);
    for (stem, pair) in &pairs {
        pki::write_pair(dir, stem, pair)?;
    }
    let sa_key = TokenSigner::generate_key_pem()?;
    pki::write_file(&dir.join("service-account.key"), sa_key.as_bytes(), 0o600)?;
    pki::write_file(&dir.join("service-account.pub"), pki::public_key_pem(&sa_key)?.as_bytes(), 0o644)?;
    Ok(files)
}

/// Flags of `kcp pki rotate`.
#[derive(Debug, Clone, clap::Args)]
pub struct RotateFlags {
    /// The PKI directory written by `kcp pki init`.
    #[arg(long)]
    pub dir: PathBuf,
    /// The certificate to re-issue, by file stem (`front-proxy`, `shard-root`, `admin`, ...).
    #[arg(long)]
    pub cert: String,
}

/// The CA that signs a leaf, by the leaf's file stem, and whether the leaf serves (or is a
/// client identity).
fn issuer_of(stem: &str) -> Option<(&'static str, bool)> {
    match stem {
        "admin" | "shard-admin" | "shard-client" => Some(("client-ca", false)),
        "front-proxy-client" => Some(("requestheader-ca", false)),
        "etcd-server" => Some(("etcd-ca", true)),
        "etcd-client" => Some(("etcd-ca", false)),
        "front-proxy" | "cache-server" | "virtual-workspaces" => Some(("server-ca", true)),
        s if s.starts_with("shard-") => Some(("server-ca", true)),
        _ => None,
    }
}

/// Re-issues one leaf certificate with a new key: same subject, names and usage, same CA.
/// Components serving it pick the new pair up without a restart.
pub fn rotate(flags: &RotateFlags) -> Result<PathBuf, PkiCommandError> {
    let stem = flags.cert.as_str();
    let (ca_stem, serving) = issuer_of(stem).ok_or_else(|| PkiCommandError::NotLeaf(stem.to_string()))?;
    let ca = pki::read_pair(&flags.dir, ca_stem)?;
    let old = pki::read_pair(&flags.dir, stem)?;
    let holder = pki::holder_of(&old.cert_pem)?;
    let fresh =
        if serving { pki::new_serving_cert(&ca, &holder.cn, &holder.dns, &holder.ips)? } else { pki::new_client_cert(&ca, &holder.cn, &holder.groups)? };
    pki::write_pair(&flags.dir, stem, &fresh)?;
    Ok(flags.dir.join(format!("{stem}.crt")))
}

/// Prints what `init` wrote.
pub fn summary(dir: &Path, files: &[PathBuf]) -> String {
    format!("wrote {} files to {}: server, client, request-header and etcd CAs; serving certificates; admin, shard-admin, shard-client, front-proxy-client and etcd-client identities; the service-account key pair", files.len(), dir.display())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn init_writes_everything_once() {
        let dir = tempfile::tempdir().expect("dir");
        let flags = InitFlags {
            dir: dir.path().join("pki"),
            hosts: vec!["localhost".into(), "127.0.0.1".into()],
            shards: vec!["root".into(), "s2".into()],
            force: false,
        };
        let files = init(&flags).expect("init");
        for f in &files {
            let mode = std::fs::metadata(f).expect("file").permissions().mode() & 0o777;
            let want = if f.extension().is_some_and(|e| e == "key") { 0o600 } else { 0o644 };
            assert_eq!(mode, want, "{}", f.display());
        }
        let read = |f: &str| std::fs::read_to_string(flags.dir.join(f)).expect("file");
        assert_eq!(pki::subject_of(&pem_der(&read("admin.crt"))).expect("subject"), ("kcp-admin".to_string(), vec!["system:kcp:admin".to_string()]));
        let proxy_ca = pki::ClientCertAuthority::new(&[read("requestheader-ca.crt")]).expect("CA");
        let client_ca = pki::ClientCertAuthority::new(&[read("client-ca.crt")]).expect("CA");
        let chain = |f: &str| vec![rustls_pki_types::CertificateDer::from(pem_der(&read(f)))];
        assert!(proxy_ca.verify(&chain("front-proxy-client.crt")));
        assert!(!client_ca.verify(&chain("front-proxy-client.crt")), "the proxy identity is no user");
        assert!(client_ca.verify(&chain("shard-client.crt")));
        let etcd_ca = pki::ClientCertAuthority::new(&[read("etcd-ca.crt")]).expect("CA");
        assert!(etcd_ca.verify(&chain("etcd-client.crt")));
        assert!(!etcd_ca.verify(&chain("admin.crt")), "users cannot reach etcd");
        assert!(flags.dir.join("shard-s2.crt").exists());
        TokenSigner::from_pem("i", &read("service-account.key")).expect("signing key");
        apimachinery::auth::TokenVerifier::from_pem("i", &read("service-account.pub")).expect("public key");
        assert!(matches!(init(&flags), Err(PkiCommandError::Exists(_))));
        init(&InitFlags { force: true, ..flags }).expect("forced");
    }

    #[test]
    fn rotation_keeps_who_and_where() {
        let dir = tempfile::tempdir().expect("dir");
        let flags = InitFlags { dir: dir.path().to_path_buf(), hosts: vec!["localhost".into(), "10.1.2.3".into()], shards: vec!["root".into()], force: false };
        init(&flags).expect("init");
        for stem in ["front-proxy", "admin", "front-proxy-client", "etcd-server", "etcd-client"] {
            let before = pki::read_pair(dir.path(), stem).expect("pair");
            rotate(&RotateFlags { dir: dir.path().to_path_buf(), cert: stem.into() }).expect("rotate");
            let after = pki::read_pair(dir.path(), stem).expect("pair");
            assert_ne!(before.key_pem, after.key_pem, "{stem}: new key");
            assert_eq!(pki::holder_of(&before.cert_pem).expect("old"), pki::holder_of(&after.cert_pem).expect("new"), "{stem}");
        }
        let proxy = pki::holder_of(&pki::read_pair(dir.path(), "front-proxy").expect("pair").cert_pem).expect("holder");
        assert_eq!((proxy.dns, proxy.ips), (vec!["localhost".to_string()], vec!["10.1.2.3".parse::<IpAddr>().expect("ip")]));
        assert!(matches!(rotate(&RotateFlags { dir: dir.path().to_path_buf(), cert: "server-ca".into() }), Err(PkiCommandError::NotLeaf(_))));
    }

    fn pem_der(pem: &str) -> Vec<u8> {
        use base64::Engine;
        let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
        base64::engine::general_purpose::STANDARD.decode(body).expect("base64")
    }
}
