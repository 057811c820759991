//! Shard configuration: a YAML file and flags, flags winning, resolved into one validated value.

use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;
use std::time::Duration;

use apiserver::audit::{AuditConfig, AuditFlags};
pub use apiserver::config::ConfigError;
use apiserver::config::{deserialize_duration, parse_duration};
use apiserver::server::fairness::{FairnessConfig, FairnessFlags, DEFAULT_MAX_REQUESTS_INFLIGHT};
use apiserver::server::ConnectionLimits;
use apiserver::storage::etcd::{default_prefix, EtcdConfig, EtcdTls, DEFAULT_COMPACTION_INTERVAL};
use serde::Deserialize;

/// The YAML config file (camelCase keys, unknown keys rejected).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ShardFile {
    /// Directory for state (storage) and generated files; `.kcp` by default.
    pub root_directory: Option<PathBuf>,
    /// Address to listen on; all interfaces by default.
    pub bind_address: Option<IpAddr>,
    /// HTTPS port (0 picks a free port); 6443 by default.
    pub secure_port: Option<u16>,
    /// Serving certificate (PEM); required here or as a flag.
    pub tls_cert_file: Option<PathBuf>,
    /// Serving private key (PEM); required here or as a flag.
    pub tls_private_key_file: Option<PathBuf>,
    /// CA bundle that client certificates must chain to; required here or as a flag.
    pub client_ca_file: Option<PathBuf>,
    /// Static token file: CSV lines `token,user,uid,"group1,group2"`.
    pub token_auth_file: Option<PathBuf>,
    /// Seats for concurrent non-watch requests, split between system and workspace traffic;
    /// 400 by default.
    pub max_requests_inflight: Option<usize>,
    /// As `--fairness-system-share`.
    pub fairness_system_share: Option<u8>,
    /// As `--fairness-queue-length`.
    pub fairness_queue_length: Option<usize>,
    /// As `--fairness-queue-wait`.
    #[serde(default, deserialize_with = "deserialize_duration")]
    pub fairness_queue_wait: Option<Duration>,
    /// As `--fairness-flow-seats`.
    pub fairness_flow_seats: Option<usize>,
    /// Recent events kept for watches to resume from; 10000 by default.
    pub watch_cache_size: Option<usize>,
    /// As `--logical-cluster-total-object-limit`.
    pub logical_cluster_total_object_limit: Option<i64>,
    /// As `--event-ttl` (`1h`).
    #[serde(default, deserialize_with = "deserialize_duration")]
    pub event_ttl: Option<Duration>,
    /// URL clients use to reach this shard (workspace URLs start with it).
    pub shard_external_url: Option<String>,
    /// CA certificate published as ConfigMap `kube-root-ca.crt` in every namespace.
    pub root_ca_file: Option<PathBuf>,
    /// PKCS#8 PEM ECDSA P-256 key signing service-account tokens.
    pub service_account_signing_key_file: Option<PathBuf>,
    /// `iss` of service-account tokens, and the audience they get by default.
    pub service_account_issuer: Option<String>,
    /// Name of this shard's Shard object in `root`.
    pub shard_name: Option<String>,
    /// CA of the front-proxy's client certificate, trusted for `X-Remote-*` identity headers.
    pub requestheader_client_ca_file: Option<PathBuf>,
    /// Kubeconfig reaching the root shard with a `system:masters` identity.
    pub root_shard_kubeconfig_file: Option<PathBuf>,
    /// URLs of the cache server replicas.
    pub cache_server_urls: Option<Vec<String>>,
    /// Kubeconfig with the client certificate and CA that reach the cache replicas.
    pub cache_kubeconfig: Option<PathBuf>,
    /// URL other components reach this shard at.
    pub shard_base_url: Option<String>,
    /// URL of this shard's virtual workspaces.
    pub shard_virtual_workspace_url: Option<String>,
    /// Whether home workspaces (`workspaces/~`) are served; true by default.
    pub enable_home_workspaces: Option<bool>,
    /// Common names the request-header certificate may have; any it signs when unset.
    pub requestheader_allowed_names: Option<Vec<String>>,
    /// Time a client has to send a request's headers (`10s`); `requestHeaderTimeout` in the file.
    #[serde(default, deserialize_with = "deserialize_duration")]
    pub request_header_timeout: Option<Duration>,
    /// Storage backend: `sled` (default) or `etcd`.
    pub storage: Option<StorageKind>,
    /// Client URLs of the etcd members.
    pub etcd_servers: Option<Vec<String>>,
    /// Client certificate presented to etcd (PEM).
    pub etcd_certfile: Option<PathBuf>,
    /// Private key of the etcd client certificate (PEM).
    pub etcd_keyfile: Option<PathBuf>,
    /// CA bundle that signed the etcd members' certificates.
    pub etcd_cafile: Option<PathBuf>,
    /// Prefix of this shard's keys in etcd; `/kcp-rs/<shard name>/` by default.
    pub etcd_prefix: Option<String>,
    /// How often etcd's history is compacted (`5m` by default).
    #[serde(default, deserialize_with = "deserialize_duration")]
    pub etcd_compaction_interval: Option<Duration>,
    /// Time a connection with no request in flight stays open (`30s`); `idleConnectionTimeout` in the file.
    #[serde(default, deserialize_with = "deserialize_duration")]
    pub idle_connection_timeout: Option<Duration>,
    /// As `--audit-log-path`.
    pub audit_log_path: Option<PathBuf>,
    /// As `--audit-policy-file`.
    pub audit_policy_file: Option<PathBuf>,
    /// As `--audit-log-maxsize`.
    pub audit_log_maxsize: Option<u64>,
    /// As `--audit-log-maxbackup`.
    pub audit_log_maxbackup: Option<usize>,
    /// As `--audit-signing-key-file`.
    pub audit_signing_key_file: Option<PathBuf>,
}

impl ShardFile {
    /// Reads a config file.
    pub fn load(path: &std::path::Path) -> Result<ShardFile, ConfigError> {
        apiserver::config::load(Some(path))
    }

    /// The file's fairness settings, shaped as the flags they stand for.
    fn fairness(&self) -> FairnessFlags {
        FairnessFlags {
            fairness_system_share: self.fairness_system_share,
            fairness_queue_length: self.fairness_queue_length,
            fairness_queue_wait: self.fairness_queue_wait,
            fairness_flow_seats: self.fairness_flow_seats,
        }
    }

    /// The file's audit settings, shaped as the flags they stand for.
    fn audit(&self) -> AuditFlags {
        AuditFlags {
            audit_log_path: self.audit_log_path.clone(),
            audit_policy_file: self.audit_policy_file.clone(),
            audit_log_maxsize: self.audit_log_maxsize,
            audit_log_maxbackup: self.audit_log_maxbackup,
            audit_signing_key_file: self.audit_signing_key_file.clone(),
        }
    }
}

/// Command-line flags of a shard, named as kcp's.
#[derive(Debug, Default, Clone, clap::Args)]
pub struct ShardFlags {
    /// YAML config file; flags override its settings.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Directory for state (storage) and generated files.
    #[arg(long)]
    pub root_directory: Option<PathBuf>,
    /// Address to listen on.
    #[arg(long)]
    pub bind_address: Option<IpAddr>,
    /// HTTPS port (0 picks a free port).
    #[arg(long)]
    pub secure_port: Option<u16>,
    /// Serving certificate (PEM).
    #[arg(long)]
    pub tls_cert_file: Option<PathBuf>,
    /// Serving private key (PEM).
    #[arg(long)]
    pub tls_private_key_file: Option<PathBuf>,
    /// CA bundle that client certificates must chain to.
    #[arg(long)]
    pub client_ca_file: Option<PathBuf>,
    /// Static token file: CSV lines `token,user,uid,"group1,group2"`.
    #[arg(long)]
    pub token_auth_file: Option<PathBuf>,
    /// Seats for concurrent non-watch requests, split between system and workspace traffic
    /// (--fairness-system-share); beyond them requests queue per workspace.
    #[arg(long)]
    pub max_requests_inflight: Option<usize>,
    /// Fair queuing of requests per workspace.
    #[command(flatten)]
    pub fairness: FairnessFlags,
    /// Recent events kept for watches to resume from.
    #[arg(long)]
    pub watch_cache_size: Option<usize>,
    /// Objects a logical cluster may hold (Events aside) unless its LogicalCluster's
    /// `core.kcp.io/max-total-objects` annotation says otherwise; not applied to `root` and
    /// `system:*`. 0 (the default): no limit.
    #[arg(long)]
    pub logical_cluster_total_object_limit: Option<i64>,
    /// How long an Event lives after its last write; default `1h`, as kube-apiserver's.
    #[arg(long, value_parser = parse_duration, value_name = "DURATION")]
    pub event_ttl: Option<Duration>,
    /// URL clients use to reach this shard (workspace URLs start with it); default
    /// `https://<bound address>`.
    #[arg(long)]
    pub shard_external_url: Option<String>,
    /// CA certificate clients use to verify this server, published as ConfigMap
    /// `kube-root-ca.crt` in every namespace.
    #[arg(long)]
    pub root_ca_file: Option<PathBuf>,
    /// PKCS#8 PEM ECDSA P-256 key signing service-account tokens; shards of one install share
    /// it. Default `<root>/service-account.key`, generated on first start.
    #[arg(long)]
    pub service_account_signing_key_file: Option<PathBuf>,
    /// `iss` of service-account tokens, and the audience they get by default.
    #[arg(long)]
    pub service_account_issuer: Option<String>,
    /// Name of this shard's Shard object in `root` (default `root`).
    #[arg(long)]
    pub shard_name: Option<String>,
    /// CA of the front-proxy's client certificate: only connections presenting a certificate
    /// from it may pass identities in `X-Remote-*` headers.
    #[arg(long)]
    pub requestheader_client_ca_file: Option<PathBuf>,
    /// Common names the request-header certificate may have (default: any it signs).
    #[arg(long, value_delimiter = ',')]
    pub requestheader_allowed_names: Option<Vec<String>>,
    /// Kubeconfig reaching the root shard with a `system:masters` identity; the same
    /// credentials reach every other shard. Shards other than `root` register through it.
    #[arg(long)]
    pub root_shard_kubeconfig_file: Option<PathBuf>,
    /// URL of a cache server replica; repeat it (or separate with commas) for each replica.
    /// Every replica gets this shard's replicated objects; cross-shard lookups read from one
    /// that answers. Without it the shard runs a cache in its own process.
    #[arg(long = "cache-server-url", value_delimiter = ',', value_name = "URL")]
    pub cache_server_urls: Option<Vec<String>>,
    /// Kubeconfig whose client certificate (system:masters) and CA reach the cache replicas;
    /// its server is used when no --cache-server-url is given.
    #[arg(long)]
    pub cache_kubeconfig: Option<PathBuf>,
    /// URL other components reach this shard at (default `https://<bound address>`).
    #[arg(long)]
    pub shard_base_url: Option<String>,
    /// URL of this shard's virtual workspaces (default the base URL).
    #[arg(long)]
    pub shard_virtual_workspace_url: Option<String>,
    /// Serve home workspaces (`workspaces/~`, `user:<name>`); default true.
    #[arg(long, action = clap::ArgAction::Set)]
    pub enable_home_workspaces: Option<bool>,
    /// Time a client has to send a request's headers (on a new connection, from accept: the
    /// TLS handshake counts) before the connection is closed; default `10s`.
    #[arg(long, value_parser = parse_duration, value_name = "DURATION")]
    pub request_header_timeout: Option<Duration>,
    /// Time a connection with no request in flight stays open (watches are in flight for their
    /// whole life); default `30s`.
    #[arg(long, value_parser = parse_duration, value_name = "DURATION")]
    pub idle_connection_timeout: Option<Duration>,
    /// Storage backend: `sled` keeps objects under <root-directory>/data on this machine;
    /// `etcd` keeps them in an etcd cluster (--etcd-servers), nothing on local disk.
    #[arg(long, value_enum)]
    pub storage: Option<StorageKind>,
    /// Client URLs of the etcd members, comma-separated (`https://a:2379,https://b:2379`).
    #[arg(long, value_delimiter = ',', value_name = "URLS")]
    pub etcd_servers: Option<Vec<String>>,
    /// Client certificate presented to etcd (PEM).
    #[arg(long)]
    pub etcd_certfile: Option<PathBuf>,
    /// Private key of the etcd client certificate (PEM).
    #[arg(long)]
    pub etcd_keyfile: Option<PathBuf>,
    /// CA bundle that signed the etcd members' certificates; required for https:// servers.
    #[arg(long)]
    pub etcd_cafile: Option<PathBuf>,
    /// Prefix of this shard's keys in etcd, so shards can share a cluster; default
    /// `/kcp-rs/<shard name>/`.
    #[arg(long)]
    pub etcd_prefix: Option<String>,
    /// How often etcd's history is compacted (each pass keeps one interval of it); default `5m`.
    #[arg(long, value_parser = parse_duration, value_name = "DURATION")]
    pub etcd_compaction_interval: Option<Duration>,
    /// The audit log; the seal key defaults to `<root-directory>/audit-signing.key`.
    #[command(flatten)]
    pub audit: AuditFlags,
}

/// Which storage backend a shard uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum StorageKind {
    /// The embedded store on local disk.
    Sled,
    /// An etcd cluster.
    Etcd,
}

/// Where a shard keeps its objects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StorageConfig {
    /// sled in this directory.
    Sled {
        /// The database directory.
        dir: PathBuf,
    },
    /// An etcd cluster.
    Etcd(EtcdConfig),
}

/// Resolves the storage settings; etcd settings without `--storage etcd` are refused rather
/// than silently ignored.
fn resolve_storage(
    file: &ShardFile,
    flags: &ShardFlags,
    root_directory: &std::path::Path,
    shard_name: &str,
    window_capacity: usize,
) -> Result<StorageConfig, ConfigError> {
    let kind = flags.storage.or(file.storage).unwrap_or(StorageKind::Sled);
    let servers: Vec<String> =
        flags.etcd_servers.clone().or_else(|| file.etcd_servers.clone()).unwrap_or_default().into_iter().filter(|s| !s.is_empty()).collect();
    let cert = flags.etcd_certfile.clone().or_else(|| file.etcd_certfile.clone());
    let key = flags.etcd_keyfile.clone().or_else(|| file.etcd_keyfile.clone());
    let ca = flags.etcd_cafile.clone().or_else(|| file.etcd_cafile.clone());
    let prefix = flags.etcd_prefix.clone().or_else(|| file.etcd_prefix.clone());
    let interval = flags.etcd_compaction_interval.or(file.etcd_compaction_interval);
    if kind == StorageKind::Sled {
        let etcd_settings = !servers.is_empty() || cert.is_some() || key.is_some() || ca.is_some() || prefix.is_some() || interval.is_some();
        if etcd_settings {
            return Err(ConfigError::Invalid { setting: "--storage", message: "etcd settings were given but the storage is sled; add --storage etcd".into() });
        }
        return Ok(StorageConfig::Sled { dir: root_directory.join("data") });
    }
    if servers.is_empty() {
        return Err(ConfigError::Missing("--etcd-servers (required with --storage etcd)"));
    }
    let client = match (cert, key) {
        (Some(cert), Some(key)) => Some((cert, key)),
        (None, None) => None,
        _ => return Err(ConfigError::Invalid { setting: "--etcd-certfile", message: "--etcd-certfile and --etcd-keyfile go together".into() }),
    };
    let tls = match (ca, client) {
        (Some(ca_file), client) => Some(EtcdTls { ca_file, client }),
        (None, None) => None,
        (None, Some(_)) => return Err(ConfigError::Missing("--etcd-cafile (required with an etcd client certificate)")),
    };
    let prefix = prefix.unwrap_or_else(|| default_prefix(shard_name));
    if !prefix.ends_with('/') {
        return Err(ConfigError::Invalid { setting: "--etcd-prefix", message: format!("{prefix:?} must end with '/' so that shards never share keys") });
    }
    let compaction_interval = Some(interval.unwrap_or(DEFAULT_COMPACTION_INTERVAL));
    Ok(StorageConfig::Etcd(EtcdConfig { servers, tls, prefix, compaction_interval, window_capacity, read_cache: read_on_every_request() }))
}

/// What a shard reads on nearly every request: the logical cluster it goes to, its namespace,
/// the workspaces its path walks, and the service account a token names. On etcd these stay
/// in memory.
fn read_on_every_request() -> Vec<String> {
    use apiserver::storage::key::resource_prefix;
    [("core.kcp.io", "logicalclusters"), ("", "namespaces"), ("tenancy.kcp.io", "workspaces"), ("", "serviceaccounts")]
        .into_iter()
        .map(|(group, resource)| resource_prefix(group, resource))
        .collect()
}

/// The resolved configuration of one shard.
#[derive(Debug, Clone)]
pub struct ShardConfig {
    /// Directory for state (storage) and generated files.
    pub root_directory: PathBuf,
    /// Address the shard listens on.
    pub bind_address: IpAddr,
    /// HTTPS port; 0 picks a free port.
    pub secure_port: u16,
    /// Serving certificate (PEM).
    pub tls_cert_file: PathBuf,
    /// Serving private key (PEM).
    pub tls_private_key_file: PathBuf,
    /// CA bundle that client certificates must chain to.
    pub client_ca_file: PathBuf,
    /// Static token file, if tokens are accepted from one.
    pub token_auth_file: Option<PathBuf>,
    /// Seats and queues of concurrent non-watch requests.
    pub fairness: FairnessConfig,
    /// Recent events kept for watches to resume from.
    pub watch_cache_size: usize,
    /// Objects a logical cluster may hold by default; ≤ 0: no limit.
    pub logical_cluster_total_object_limit: i64,
    /// How long an Event lives after its last write.
    pub event_ttl: Duration,
    /// URL clients use to reach this shard (workspace URLs start with it); the base URL when unset.
    pub shard_external_url: Option<String>,
    /// CA certificate published as ConfigMap `kube-root-ca.crt`; none published when unset.
    pub root_ca_file: Option<PathBuf>,
    /// Key signing service-account tokens, generated on first start if absent.
    pub service_account_signing_key_file: PathBuf,
    /// `iss` of service-account tokens (`https://kcp.default.svc` by default).
    pub service_account_issuer: String,
    /// Name of this shard's Shard object in `root`.
    pub shard_name: String,
    /// CA trusted to vouch for `X-Remote-*` identity headers; none is trusted when unset.
    pub requestheader_client_ca_file: Option<PathBuf>,
    /// Kubeconfig reaching the root shard; shards other than `root` register through it.
    pub root_shard_kubeconfig_file: Option<PathBuf>,
    /// Cache server replicas; empty: a cache runs inside the shard process.
    pub cache_server_urls: Vec<String>,
    /// Credentials (and, without URLs, the address) of the cache replicas.
    pub cache_kubeconfig: Option<PathBuf>,
    /// URL other components reach this shard at; `https://<bound address>` when unset.
    pub shard_base_url: Option<String>,
    /// URL of this shard's virtual workspaces; the base URL when unset.
    pub shard_virtual_workspace_url: Option<String>,
    /// Whether home workspaces (`workspaces/~`, `user:<name>`) are served.
    pub enable_home_workspaces: bool,
    /// Common names the request-header certificate may have; empty allows any it signs.
    pub requestheader_allowed_names: Vec<String>,
    /// How long connections may take to send headers and stay idle.
    pub connection_limits: ConnectionLimits,
    /// Where objects are stored.
    pub storage: StorageConfig,
    /// The audit log, when auditing is on.
    pub audit: Option<AuditConfig>,
}

impl ShardConfig {
    /// Merges file and flags (flags win) and applies defaults.
    pub fn resolve(file: ShardFile, flags: ShardFlags) -> Result<ShardConfig, ConfigError> {
        let root_directory = flags.root_directory.clone().or(file.root_directory.clone()).unwrap_or_else(|| PathBuf::from(".kcp"));
        let shard_name = flags.shard_name.clone().or(file.shard_name.clone()).unwrap_or_else(|| "root".into());
        let watch_cache_size = flags.watch_cache_size.or(file.watch_cache_size).unwrap_or(10_000);
        let storage = resolve_storage(&file, &flags, &root_directory, &shard_name, watch_cache_size)?;
        let audit = flags.audit.clone().or(file.audit()).resolve(|_| root_directory.join("audit-signing.key"))?;
        let max_inflight = flags.max_requests_inflight.or(file.max_requests_inflight).unwrap_or(DEFAULT_MAX_REQUESTS_INFLIGHT);
        let fairness = flags.fairness.clone().or(file.fairness()).resolve(max_inflight)?;
        Ok(ShardConfig {
            audit,
            fairness,
            storage,
            shard_name,
            watch_cache_size,
            logical_cluster_total_object_limit: flags.logical_cluster_total_object_limit.or(file.logical_cluster_total_object_limit).unwrap_or(0),
            event_ttl: flags.event_ttl.or(file.event_ttl).unwrap_or(crate::controllers::event_ttl::DEFAULT_TTL),
            service_account_signing_key_file: flags
                .service_account_signing_key_file
                .or(file.service_account_signing_key_file)
                .unwrap_or_else(|| root_directory.join("service-account.key")),
            service_account_issuer: flags.service_account_issuer.or(file.service_account_issuer).unwrap_or_else(|| "https://kcp.default.svc".into()),
            requestheader_client_ca_file: flags.requestheader_client_ca_file.or(file.requestheader_client_ca_file),
            root_shard_kubeconfig_file: flags.root_shard_kubeconfig_file.or(file.root_shard_kubeconfig_file),
            cache_server_urls: flags.cache_server_urls.or(file.cache_server_urls).unwrap_or_default().into_iter().filter(|u| !u.is_empty()).collect(),
            cache_kubeconfig: flags.cache_kubeconfig.or(file.cache_kubeconfig),
            shard_base_url: flags.shard_base_url.or(file.shard_base_url),
            shard_virtual_workspace_url: flags.shard_virtual_workspace_url.or(file.shard_virtual_workspace_url),
            enable_home_workspaces: flags.enable_home_workspaces.or(file.enable_home_workspaces).unwrap_or(true),
            requestheader_allowed_names: flags.requestheader_allowed_names.or(file.requestheader_allowed_names).unwrap_or_default(),
            connection_limits: ConnectionLimits::or_defaults(
                flags.request_header_timeout.or(file.request_header_timeout),
                flags.idle_connection_timeout.or(file.idle_connection_timeout),
            ),
            root_directory,
            bind_address: flags.bind_address.or(file.bind_address).unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED)),
            secure_port: flags.secure_port.or(file.secure_port).unwrap_or(6443),
            tls_cert_file: flags.tls_cert_file.or(file.tls_cert_file).ok_or(ConfigError::Missing("--tls-cert-file"))?,
            tls_private_key_file: flags.tls_private_key_file.or(file.tls_private_key_file).ok_or(ConfigError::Missing("--tls-private-key-file"))?,
            client_ca_file: flags.client_ca_file.or(file.client_ca_file).ok_or(ConfigError::Missing("--client-ca-file"))?,
            token_auth_file: flags.token_auth_file.or(file.token_auth_file),
            shard_external_url: flags.shard_external_url.or(file.shard_external_url),
            root_ca_file: flags.root_ca_file.or(file.root_ca_file),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_win_over_file() {
        let file: ShardFile =
            serde_saphyr::from_str("securePort: 7000\nrootDirectory: /a\ntlsCertFile: c\ntlsPrivateKeyFile: k\nclientCaFile: ca\n").expect("parses");
        let flags = ShardFlags { secure_port: Some(8000), ..Default::default() };
        let cfg = ShardConfig::resolve(file, flags).expect("resolves");
        assert_eq!(cfg.secure_port, 8000);
        assert_eq!(cfg.root_directory, PathBuf::from("/a"));
        assert!(serde_saphyr::from_str::<ShardFile>("bogus: 1\n").is_err());
    }

    #[test]
    fn fairness_from_file_and_flags() {
        let file: ShardFile = serde_saphyr::from_str(
            "maxRequestsInflight: 10\nfairnessSystemShare: 30\nfairnessQueueLength: 4\nfairnessQueueWait: 2s\nfairnessFlowSeats: 3\ntlsCertFile: c\ntlsPrivateKeyFile: k\nclientCaFile: ca\n",
        )
        .expect("parses");
        let flags = ShardFlags { fairness: FairnessFlags { fairness_queue_length: Some(6), ..Default::default() }, ..Default::default() };
        let fairness = ShardConfig::resolve(file, flags).expect("resolves").fairness;
        assert_eq!((fairness.system.seats, fairness.workspaces.seats, fairness.workspaces.queue_length), (3, 7, 6));
        assert_eq!(fairness.queue_wait, Duration::from_secs(2));
        assert_eq!(fairness.workspaces.flow_seats, 3);
    }

    #[test]
    fn connection_limits_from_file_and_flags() {
        let file: ShardFile =
            serde_saphyr::from_str("requestHeaderTimeout: 2s\nidleConnectionTimeout: 1m\ntlsCertFile: c\ntlsPrivateKeyFile: k\nclientCaFile: ca\n")
                .expect("parses");
        let flags = ShardFlags { idle_connection_timeout: Some(Duration::from_secs(5)), ..Default::default() };
        let limits = ShardConfig::resolve(file, flags).expect("resolves").connection_limits;
        assert_eq!(limits, ConnectionLimits { request_header_timeout: Duration::from_secs(2), idle_timeout: Duration::from_secs(5) });
        assert!(serde_saphyr::from_str::<ShardFile>("requestHeaderTimeout: 0s\n").is_err());
        let none: ShardFile = serde_saphyr::from_str("tlsCertFile: c\ntlsPrivateKeyFile: k\nclientCaFile: ca\n").expect("parses");
        assert_eq!(ShardConfig::resolve(none, ShardFlags::default()).expect("resolves").connection_limits, ConnectionLimits::default());
    }

    fn tls_flags() -> ShardFlags {
        ShardFlags { tls_cert_file: Some("c".into()), tls_private_key_file: Some("k".into()), client_ca_file: Some("ca".into()), ..Default::default() }
    }

    #[test]
    fn sled_is_the_default_and_refuses_etcd_settings() {
        let cfg = ShardConfig::resolve(ShardFile::default(), ShardFlags { root_directory: Some("/r".into()), ..tls_flags() }).expect("resolves");
        assert_eq!(cfg.storage, StorageConfig::Sled { dir: PathBuf::from("/r/data") });
        let stray = ShardFlags { etcd_servers: Some(vec!["http://a:2379".into()]), ..tls_flags() };
        assert!(matches!(ShardConfig::resolve(ShardFile::default(), stray), Err(ConfigError::Invalid { setting: "--storage", .. })));
    }

    #[test]
    fn etcd_from_file_and_flags_with_defaults() {
        let file: ShardFile = serde_saphyr::from_str(
            "storage: etcd\netcdServers: [\"https://a:2379\", \"https://b:2379\"]\netcdCafile: ca.pem\netcdCertfile: c.pem\netcdKeyfile: k.pem\netcdCompactionInterval: 1m\n",
        )
        .expect("parses");
        let flags = ShardFlags { shard_name: Some("s1".into()), ..tls_flags() };
        let StorageConfig::Etcd(etcd) = ShardConfig::resolve(file, flags).expect("resolves").storage else { panic!("expected etcd storage") };
        assert_eq!(etcd.servers, ["https://a:2379", "https://b:2379"]);
        assert_eq!(etcd.prefix, "/kcp-rs/s1/");
        assert_eq!(etcd.compaction_interval, Some(Duration::from_secs(60)));
        assert_eq!(etcd.window_capacity, 10_000);
        assert!(etcd.read_cache.contains(&"core.kcp.io/logicalclusters/".to_string()));
        assert_eq!(etcd.tls, Some(EtcdTls { ca_file: "ca.pem".into(), client: Some(("c.pem".into(), "k.pem".into())) }));

        let plain = ShardFlags { storage: Some(StorageKind::Etcd), etcd_servers: Some(vec!["http://127.0.0.1:2379".into()]), ..tls_flags() };
        let StorageConfig::Etcd(etcd) = ShardConfig::resolve(ShardFile::default(), plain).expect("resolves").storage else { panic!("expected etcd storage") };
        assert_eq!((etcd.tls, etcd.prefix.as_str(), etcd.compaction_interval), (None, "/kcp-rs/root/", Some(DEFAULT_COMPACTION_INTERVAL)));
    }

    #[test]
    fn etcd_settings_that_cannot_work_are_refused() {
        let etcd = |f: ShardFlags| ShardConfig::resolve(ShardFile::default(), ShardFlags { storage: Some(StorageKind::Etcd), ..f });
        assert!(matches!(etcd(tls_flags()), Err(ConfigError::Missing(_))));
        let servers = || ShardFlags { etcd_servers: Some(vec!["https://a:2379".into()]), ..tls_flags() };
        assert!(matches!(etcd(ShardFlags { etcd_certfile: Some("c".into()), ..servers() }), Err(ConfigError::Invalid { .. })));
        assert!(matches!(etcd(ShardFlags { etcd_certfile: Some("c".into()), etcd_keyfile: Some("k".into()), ..servers() }), Err(ConfigError::Missing(_))));
        assert!(matches!(etcd(ShardFlags { etcd_prefix: Some("/shared".into()), ..servers() }), Err(ConfigError::Invalid { setting: "--etcd-prefix", .. })));
    }
}
