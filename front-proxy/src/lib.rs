//! kcp-front-proxy: the single entry point of a sharded install. It authenticates callers,
//! resolves `/clusters/<workspace path>` to the shard hosting that workspace from an index of
//! Shards, Workspaces and LogicalClusters kept current by watches, and forwards the request
//! over mutual TLS with the caller's identity in `X-Remote-*` headers.

pub mod config;
pub mod forward;
pub mod identity;
pub mod index;
pub mod merged;
pub mod oidc;
pub mod phase;

pub use config::{ConfigError, ProxyConfig, ProxyFile, ProxyFlags};

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use apimachinery::auth::TokenVerifier;
use apiserver::audit::Auditor;
use apiserver::auth::authn::Peers;
use apiserver::client::{Client, Credentials};
use apiserver::pki::CertPair;
use apiserver::server::computed::ComputedGauges;
use apiserver::server::metrics::Metrics;

/// Why the proxy could not start.
#[derive(Debug, thiserror::Error)]
pub enum ProxyError {
    /// A file the configuration names cannot be read.
    #[error("reading {path}")]
    Read {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// The root shard's kubeconfig or a client built from it.
    #[error(transparent)]
    Client(#[from] apiserver::client::ClientError),
    /// Serving or client certificates.
    #[error("TLS")]
    Tls(#[from] apiserver::pki::PkiError),
    /// A token file or service-account key.
    #[error("authentication")]
    Auth(#[from] apimachinery::auth::AuthError),
    /// The OIDC key file.
    #[error("OIDC: {0}")]
    Oidc(String),
    /// The OIDC issuer's discovery document.
    #[error("OIDC issuer")]
    OidcKeys(#[from] oidc::KeySetError),
    /// The audit log could not be opened, or its seal key loaded.
    #[error(transparent)]
    Audit(#[from] apiserver::audit::AuditError),
    /// The listen address.
    #[error("listening on {addr}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
}

fn read(path: &Path) -> Result<String, ProxyError> {
    std::fs::read_to_string(path).map_err(|source| ProxyError::Read { path: path.display().to_string(), source })
}

/// The OIDC authenticator, its keys loaded or their endpoint discovered.
async fn oidc(settings: Option<&config::OidcSettings>) -> Result<Option<oidc::Oidc>, ProxyError> {
    let Some(settings) = settings else { return Ok(None) };
    let keys = match &settings.keys {
        config::OidcKeySource::JwksFile(file) => {
            oidc::Keys::Fixed(serde_json::from_str(&read(file)?).map_err(|e| ProxyError::Oidc(format!("{}: {e}", file.display())))?)
        }
        config::OidcKeySource::Discovered { ca_file } => {
            let client = Client::new(&read(ca_file)?, None)?;
            let url = oidc::discover_jwks_uri(&client, &settings.config.issuer).await?;
            oidc::Keys::Fetched { client: Box::new(client), url, cached: std::sync::RwLock::new((jsonwebtoken::jwk::JwkSet { keys: Vec::new() }, None)) }
        }
    };
    Ok(Some(oidc::Oidc { config: settings.config.clone(), keys }))
}

/// Exports the routing index's size and lag, read at every scrape.
fn register_index(index: &Arc<index::Index>, metrics: &mut Metrics) {
    let (sizes, lags) = (index.clone(), index.clone());
    metrics.register_computed(ComputedGauges::new("kcp_front_proxy_index_entries", "Entries of the routing index, by kind", "kind", move || sizes.entries()));
    metrics.register_computed(ComputedGauges::new(
        "kcp_front_proxy_index_lag_seconds",
        "Seconds since the routing index last heard from a shard's watches",
        "shard",
        move || lags.lag(),
    ));
}

/// Runs the proxy until `shutdown` turns true.
pub async fn run(config: ProxyConfig, shutdown: tokio::sync::watch::Receiver<bool>) -> Result<(), ProxyError> {
    let root = Credentials::from_kubeconfig(&config.root_kubeconfig)?;
    let watcher = Client::new(&root.ca_pem, root.client.as_ref())?;
    let forwarding = CertPair { cert_pem: read(&config.proxy_client_cert_file)?, key_pem: read(&config.proxy_client_key_file)? };
    let upstream = Client::new(&root.ca_pem, Some(&forwarding))?;
    let index = Arc::new(index::Index::default());
    tokio::spawn(index.clone().run(watcher, root.base_url()));

    let authn = identity::Authenticators {
        tokens: config.token_auth_file.as_deref().map(apiserver::auth::authn::load_token_file).transpose()?,
        oidc: oidc(config.oidc.as_ref()).await?,
        service_accounts: match &config.service_account_key_file {
            Some(p) => Some(TokenVerifier::from_pem(&config.service_account_issuer, &read(p)?)?),
            None => None,
        },
        groups: config.groups.clone(),
    };
    let client_ca = read(&config.client_ca_file)?;
    let mut metrics = Metrics::default();
    register_index(&index, &mut metrics);
    let audit = config.audit.clone().map(|audit| Auditor::start(audit, None)).transpose()?;
    if let Some(auditor) = &audit {
        auditor.register(metrics.registry_mut());
    }
    let metrics = Arc::new(metrics);
    for file in [&config.tls_cert_file, &config.client_ca_file, &config.proxy_client_cert_file] {
        metrics.watch_certificate(file);
    }
    let proxy = Arc::new(forward::Proxy { metrics, index, authn, upstream, root_shard: config.root_shard_name.clone(), audit: audit.clone() });

    let tls = Arc::new(apiserver::pki::server_config_from_files(&config.tls_cert_file, &config.tls_private_key_file, std::slice::from_ref(&client_ca))?);
    let peers = Arc::new(Peers::clients_only(&[client_ca])?);
    let addr = SocketAddr::new(config.bind_address, config.secure_port);
    let listener = tokio::net::TcpListener::bind(addr).await.map_err(|source| ProxyError::Bind { addr, source })?;
    let bound = listener.local_addr().map_err(|source| ProxyError::Bind { addr, source })?;
    tracing::info!(%bound, "front-proxy serving");
    eprintln!("kcp-front-proxy is serving at https://{bound}");
    apiserver::server::serve(listener, tls, peers, proxy, config.connection_limits, shutdown).await;
    if let Some(auditor) = audit {
        auditor.close().await;
    }
    Ok(())
}
