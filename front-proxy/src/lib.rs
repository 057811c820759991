//! kcp-front-proxy: the single entry point of a sharded install. It authenticates callers,
//! resolves `/clusters/<workspace path>` to the shard hosting that workspace from an index of
//! Shards, Workspaces and LogicalClusters kept current by watches, and forwards the request
//! over mutual TLS with the caller's identity in `X-Remote-*` headers.

pub mod forward;
pub mod identity;
pub mod index;
pub mod oidc;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use apimachinery::auth::TokenVerifier;
use apiserver::client::{Client, Credentials};
use apiserver::pki::CertPair;
use apiserver::auth::authn::Peers;
use apiserver::server::connection::{parse_duration, DEFAULT_IDLE_TIMEOUT, DEFAULT_REQUEST_HEADER_TIMEOUT};
use apiserver::server::ConnectionLimits;

/// Command-line flags.
#[derive(Debug, Clone, clap::Parser)]
#[command(name = "kcp-front-proxy", about = "Authenticates callers and routes workspace paths to the shards hosting them")]
pub struct Flags {
    #[arg(long, default_value_t = IpAddr::V4(Ipv4Addr::UNSPECIFIED))]
    pub bind_address: IpAddr,
    #[arg(long, default_value_t = 6443)]
    pub secure_port: u16,
    /// Serving certificate and key.
    #[arg(long)]
    pub tls_cert_file: PathBuf,
    #[arg(long)]
    pub tls_private_key_file: PathBuf,
    /// CA of the client certificates users present.
    #[arg(long)]
    pub client_ca_file: PathBuf,
    /// Static bearer tokens (`token,user,uid,"group1,group2"`).
    #[arg(long)]
    pub token_auth_file: Option<PathBuf>,
    /// Public (or private) key verifying service-account tokens.
    #[arg(long)]
    pub service_account_key_file: Option<PathBuf>,
    #[arg(long, default_value = "https://kcp.default.svc")]
    pub service_account_issuer: String,
    /// Kubeconfig of the root shard, with a `system:masters` identity for the index's watches.
    #[arg(long)]
    pub root_kubeconfig: PathBuf,
    /// Client certificate and key (signed by the shards' request-header CA) used to forward.
    #[arg(long)]
    pub proxy_client_cert_file: PathBuf,
    #[arg(long)]
    pub proxy_client_key_file: PathBuf,
    /// Name of the root shard, which serves paths outside `/clusters/`.
    #[arg(long, default_value = "root")]
    pub root_shard_name: String,
    /// Groups removed from every authenticated identity (trailing `*`: prefix).
    #[arg(long, value_delimiter = ',', default_values_t = ["system:masters".to_string(), "system:kcp:logical-cluster-admin".to_string()])]
    pub authentication_drop_groups: Vec<String>,
    /// Groups kept even when a drop pattern matches.
    #[arg(long, value_delimiter = ',')]
    pub authentication_pass_on_groups: Vec<String>,
    /// OIDC issuer whose ID tokens authenticate users.
    #[arg(long)]
    pub oidc_issuer_url: Option<String>,
    /// Audience the tokens must carry.
    #[arg(long, default_value = "kcp")]
    pub oidc_client_id: String,
    #[arg(long, default_value = "sub")]
    pub oidc_username_claim: String,
    /// Prefix of OIDC usernames (default `<issuer>#` unless the claim is `email`; `-` for none).
    #[arg(long)]
    pub oidc_username_prefix: Option<String>,
    #[arg(long)]
    pub oidc_groups_claim: Option<String>,
    #[arg(long, default_value = "")]
    pub oidc_groups_prefix: String,
    /// The issuer's keys as a JWKS file; without it they are fetched from its `jwks_uri`.
    #[arg(long)]
    pub oidc_jwks_file: Option<PathBuf>,
    /// CA verifying the issuer's HTTPS endpoints.
    #[arg(long)]
    pub oidc_ca_file: Option<PathBuf>,
    /// Time a client has to send a request's headers (on a new connection, from accept: the
    /// TLS handshake counts) before the connection is closed; default 10s.
    #[arg(long, value_parser = parse_duration, value_name = "DURATION")]
    pub request_header_timeout: Option<Duration>,
    /// Time a connection with no request in flight stays open (watches are in flight for their
    /// whole life); default 30s.
    #[arg(long, value_parser = parse_duration, value_name = "DURATION")]
    pub idle_connection_timeout: Option<Duration>,
}

/// Why the proxy could not start.
#[derive(Debug, thiserror::Error)]
pub enum ProxyError {
    #[error("reading {path}")]
    Read { path: String, source: std::io::Error },
    #[error(transparent)]
    Client(#[from] apiserver::client::ClientError),
    #[error("TLS")]
    Tls(#[from] apiserver::pki::PkiError),
    #[error("authentication")]
    Auth(#[from] apimachinery::auth::AuthError),
    #[error("OIDC: {0}")]
    Oidc(String),
    #[error("OIDC issuer")]
    OidcKeys(#[from] oidc::KeySetError),
    #[error("listening on {addr}")]
    Bind { addr: SocketAddr, source: std::io::Error },
}

fn read(path: &Path) -> Result<String, ProxyError> {
    std::fs::read_to_string(path).map_err(|source| ProxyError::Read { path: path.display().to_string(), source })
}

/// The OIDC authenticator the flags describe, if any.
async fn oidc(flags: &Flags) -> Result<Option<oidc::Oidc>, ProxyError> {
    let Some(issuer) = flags.oidc_issuer_url.clone() else { return Ok(None) };
    let username_prefix = match flags.oidc_username_prefix.as_deref() {
        Some("-") => String::new(),
        Some(p) => p.to_string(),
        None if flags.oidc_username_claim == "email" => String::new(),
        None => format!("{issuer}#"),
    };
    let config = oidc::OidcConfig {
        issuer: issuer.clone(),
        client_id: flags.oidc_client_id.clone(),
        username_claim: flags.oidc_username_claim.clone(),
        username_prefix,
        groups_claim: flags.oidc_groups_claim.clone(),
        groups_prefix: flags.oidc_groups_prefix.clone(),
    };
    let keys = match (&flags.oidc_jwks_file, &flags.oidc_ca_file) {
        (Some(file), _) => oidc::Keys::Fixed(serde_json::from_str(&read(file)?).map_err(|e| ProxyError::Oidc(format!("{}: {e}", file.display())))?),
        (None, ca) => {
            let ca = ca.as_deref().map(read).transpose()?.ok_or_else(|| ProxyError::Oidc("--oidc-ca-file or --oidc-jwks-file is needed".into()))?;
            let client = Client::new(&ca, None)?;
            let url = oidc::discover_jwks_uri(&client, &issuer).await?;
            oidc::Keys::Fetched { client: Box::new(client), url, cached: std::sync::RwLock::new((jsonwebtoken::jwk::JwkSet { keys: Vec::new() }, None)) }
        }
    };
    Ok(Some(oidc::Oidc { config, keys }))
}

/// Runs the proxy until `shutdown` turns true.
pub async fn run(flags: Flags, shutdown: tokio::sync::watch::Receiver<bool>) -> Result<(), ProxyError> {
    let root = Credentials::from_kubeconfig(&flags.root_kubeconfig)?;
    let watcher = Client::new(&root.ca_pem, root.client.as_ref())?;
    let forwarding = CertPair { cert_pem: read(&flags.proxy_client_cert_file)?, key_pem: read(&flags.proxy_client_key_file)? };
    let upstream = Client::new(&root.ca_pem, Some(&forwarding))?;
    let index = Arc::new(index::Index::default());
    tokio::spawn(index.clone().run(watcher, root.base_url()));

    let authn = identity::Authenticators {
        tokens: flags.token_auth_file.as_deref().map(apiserver::auth::authn::load_token_file).transpose()?,
        oidc: oidc(&flags).await?,
        service_accounts: match &flags.service_account_key_file {
            Some(p) => Some(TokenVerifier::from_pem(&flags.service_account_issuer, &read(p)?)?),
            None => None,
        },
        groups: identity::GroupFilter { drop: flags.authentication_drop_groups.clone(), pass_on: flags.authentication_pass_on_groups.clone() },
    };
    let client_ca = read(&flags.client_ca_file)?;
    let metrics = Arc::new(apiserver::server::metrics::Metrics::default());
    for file in [&flags.tls_cert_file, &flags.client_ca_file, &flags.proxy_client_cert_file] {
        metrics.watch_certificate(file);
    }
    let proxy = Arc::new(forward::Proxy { metrics, index, authn, upstream, root_shard: flags.root_shard_name.clone() });

    let tls = Arc::new(apiserver::pki::server_config_from_files(&flags.tls_cert_file, &flags.tls_private_key_file, std::slice::from_ref(&client_ca))?);
    let peers = Arc::new(Peers::clients_only(&[client_ca])?);
    let addr = SocketAddr::new(flags.bind_address, flags.secure_port);
    let listener = tokio::net::TcpListener::bind(addr).await.map_err(|source| ProxyError::Bind { addr, source })?;
    let bound = listener.local_addr().map_err(|source| ProxyError::Bind { addr, source })?;
    tracing::info!(%bound, "front-proxy serving");
    eprintln!("kcp-front-proxy is serving at https://{bound}");
    let limits = ConnectionLimits {
        request_header_timeout: flags.request_header_timeout.unwrap_or(DEFAULT_REQUEST_HEADER_TIMEOUT),
        idle_timeout: flags.idle_connection_timeout.unwrap_or(DEFAULT_IDLE_TIMEOUT),
    };
    apiserver::server::serve(listener, tls, peers, proxy, limits, shutdown).await;
    Ok(())
}
