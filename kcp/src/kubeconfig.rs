//! The admin kubeconfig `kcp start` writes: contexts `root` (current), `base` and
//! `system:admin`; users `kcp-admin` (group `system:kcp:admin`) and `shard-admin`
//! (`system:masters`).

use std::path::Path;

use apiserver::pki::CertPair;
use base64::Engine;
use serde_json::{json, Value};

/// What goes into the admin kubeconfig.
pub struct AdminKubeconfig<'a> {
    /// `https://host:port` without a path.
    pub server: String,
    /// PEM of the CA that verifies the server, embedded as `certificate-authority-data`.
    pub ca_pem: &'a str,
    /// Credentials of user `kcp-admin`, used by contexts `root` and `base`.
    pub kcp_admin: &'a CertPair,
    /// Credentials of user `shard-admin`, used by contexts `system:admin` and `shard-base`.
    pub shard_admin: &'a CertPair,
}

fn b64(s: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(s)
}

/// The kubeconfig document.
pub fn document(k: &AdminKubeconfig<'_>) -> Value {
    let cluster =
        |name: &str, path: &str| json!({"name": name, "cluster": {"server": format!("{}{path}", k.server), "certificate-authority-data": b64(k.ca_pem)}});
    let user =
        |name: &str, pair: &CertPair| json!({"name": name, "user": {"client-certificate-data": b64(&pair.cert_pem), "client-key-data": b64(&pair.key_pem)}});
    let context = |name: &str, cluster: &str, user: &str| json!({"name": name, "context": {"cluster": cluster, "user": user}});
    json!({
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [cluster("root", "/clusters/root"), cluster("base", ""), cluster("system:admin", "/clusters/system:admin")],
        "users": [user("kcp-admin", k.kcp_admin), user("shard-admin", k.shard_admin)],
        "contexts": [context("root", "root", "kcp-admin"), context("base", "base", "kcp-admin"),
                     context("system:admin", "system:admin", "shard-admin"), context("shard-base", "base", "shard-admin")],
        "current-context": "root",
        "preferences": {},
    })
}

/// Writes the kubeconfig (mode 0600: it holds private keys).
pub fn write(path: &Path, k: &AdminKubeconfig<'_>) -> Result<(), apiserver::pki::PkiError> {
    let text = serde_saphyr::to_string(&document(k)).map_err(|e| apiserver::pki::PkiError::Io { path: path.to_owned(), source: std::io::Error::other(e) })?;
    apiserver::pki::write_file(path, text.as_bytes(), 0o600)
}
