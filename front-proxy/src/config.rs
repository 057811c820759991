//! Front-proxy configuration: a YAML file (`--config`) and flags, flags winning, resolved into
//! one validated value before anything starts, so that a bad configuration is told apart
//! (exit 64) from a proxy that failed while running (exit 1).

use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;
use std::time::Duration;

use apiserver::audit::{AuditConfig, AuditFlags};
pub use apiserver::config::ConfigError;
use apiserver::config::{deserialize_duration, parse_duration};
use apiserver::server::ConnectionLimits;
use serde::Deserialize;

use crate::identity::GroupFilter;
use crate::oidc::OidcConfig;

/// The YAML config file: the flags' names in camelCase; unknown keys are refused.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ProxyFile {
    /// As `--bind-address`.
    pub bind_address: Option<IpAddr>,
    /// As `--secure-port`.
    pub secure_port: Option<u16>,
    /// As `--tls-cert-file`.
    pub tls_cert_file: Option<PathBuf>,
    /// As `--tls-private-key-file`.
    pub tls_private_key_file: Option<PathBuf>,
    /// As `--client-ca-file`.
    pub client_ca_file: Option<PathBuf>,
    /// As `--token-auth-file`.
    pub token_auth_file: Option<PathBuf>,
    /// As `--service-account-key-file`.
    pub service_account_key_file: Option<PathBuf>,
    /// As `--service-account-issuer`.
    pub service_account_issuer: Option<String>,
    /// As `--root-kubeconfig`.
    pub root_kubeconfig: Option<PathBuf>,
    /// As `--proxy-client-cert-file`.
    pub proxy_client_cert_file: Option<PathBuf>,
    /// As `--proxy-client-key-file`.
    pub proxy_client_key_file: Option<PathBuf>,
    /// As `--root-shard-name`.
    pub root_shard_name: Option<String>,
    /// As `--authentication-drop-groups`.
    pub authentication_drop_groups: Option<Vec<String>>,
    /// As `--authentication-pass-on-groups`.
    pub authentication_pass_on_groups: Option<Vec<String>>,
    /// As `--oidc-issuer-url`.
    pub oidc_issuer_url: Option<String>,
    /// As `--oidc-client-id`.
    pub oidc_client_id: Option<String>,
    /// As `--oidc-username-claim`.
    pub oidc_username_claim: Option<String>,
    /// As `--oidc-username-prefix`.
    pub oidc_username_prefix: Option<String>,
    /// As `--oidc-groups-claim`.
    pub oidc_groups_claim: Option<String>,
    /// As `--oidc-groups-prefix`.
    pub oidc_groups_prefix: Option<String>,
    /// As `--oidc-jwks-file`.
    pub oidc_jwks_file: Option<PathBuf>,
    /// As `--oidc-ca-file`.
    pub oidc_ca_file: Option<PathBuf>,
    #[serde(default, deserialize_with = "deserialize_duration")]
    /// As `--request-header-timeout`.
    pub request_header_timeout: Option<Duration>,
    #[serde(default, deserialize_with = "deserialize_duration")]
    /// As `--idle-connection-timeout`.
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

impl ProxyFile {
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

/// Command-line flags, named as kcp's. None is required here: the file may supply it.
#[derive(Debug, Default, Clone, clap::Args)]
pub struct ProxyFlags {
    /// YAML config file (camelCase keys named after these flags); flags override its settings.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Address to listen on; default 0.0.0.0.
    #[arg(long)]
    pub bind_address: Option<IpAddr>,
    /// HTTPS port (0 picks a free port); default 6443.
    #[arg(long)]
    pub secure_port: Option<u16>,
    /// Serving certificate (PEM); required.
    #[arg(long)]
    pub tls_cert_file: Option<PathBuf>,
    /// Serving private key (PEM); required.
    #[arg(long)]
    pub tls_private_key_file: Option<PathBuf>,
    /// CA of the client certificates users present; required.
    #[arg(long)]
    pub client_ca_file: Option<PathBuf>,
    /// Static bearer tokens: CSV lines `token,user,uid,"group1,group2"`.
    #[arg(long)]
    pub token_auth_file: Option<PathBuf>,
    /// Public (or private) key verifying service-account tokens.
    #[arg(long)]
    pub service_account_key_file: Option<PathBuf>,
    /// `iss` service-account tokens must carry; default `https://kcp.default.svc`.
    #[arg(long)]
    pub service_account_issuer: Option<String>,
    /// Kubeconfig of the root shard, with a `system:masters` identity for the routing index's
    /// watches; required.
    #[arg(long)]
    pub root_kubeconfig: Option<PathBuf>,
    /// Client certificate (signed by the shards' request-header CA) the proxy forwards with;
    /// required.
    #[arg(long)]
    pub proxy_client_cert_file: Option<PathBuf>,
    /// Private key of `--proxy-client-cert-file`; required.
    #[arg(long)]
    pub proxy_client_key_file: Option<PathBuf>,
    /// Name of the root shard, which serves paths outside `/clusters/`; default `root`.
    #[arg(long)]
    pub root_shard_name: Option<String>,
    /// Groups removed from every authenticated identity (trailing `*`: prefix); default
    /// `system:masters,system:kcp:logical-cluster-admin`.
    #[arg(long, value_delimiter = ',')]
    pub authentication_drop_groups: Option<Vec<String>>,
    /// Groups kept even when a drop pattern matches.
    #[arg(long, value_delimiter = ',')]
    pub authentication_pass_on_groups: Option<Vec<String>>,
    /// OIDC issuer whose ID tokens authenticate users.
    #[arg(long)]
    pub oidc_issuer_url: Option<String>,
    /// Audience the OIDC tokens must carry; default `kcp`.
    #[arg(long)]
    pub oidc_client_id: Option<String>,
    /// Claim holding the username; default `sub`.
    #[arg(long)]
    pub oidc_username_claim: Option<String>,
    /// Prefix of OIDC usernames (default `<issuer>#` unless the claim is `email`; `-` for none).
    #[arg(long)]
    pub oidc_username_prefix: Option<String>,
    /// Claim holding the groups (none by default).
    #[arg(long)]
    pub oidc_groups_claim: Option<String>,
    /// Prefix of OIDC groups; default none.
    #[arg(long)]
    pub oidc_groups_prefix: Option<String>,
    /// The issuer's keys as a JWKS file; without it they are fetched from its `jwks_uri`.
    #[arg(long)]
    pub oidc_jwks_file: Option<PathBuf>,
    /// CA verifying the issuer's HTTPS endpoints (needed unless `--oidc-jwks-file` is given).
    #[arg(long)]
    pub oidc_ca_file: Option<PathBuf>,
    /// Time a client has to send a request's headers (on a new connection, from accept: the
    /// TLS handshake counts) before the connection is closed; default `10s`.
    #[arg(long, value_parser = parse_duration, value_name = "DURATION")]
    pub request_header_timeout: Option<Duration>,
    /// Time a connection with no request in flight stays open (watches are in flight for their
    /// whole life); default `30s`.
    #[arg(long, value_parser = parse_duration, value_name = "DURATION")]
    pub idle_connection_timeout: Option<Duration>,
    /// The audit log of requests as they reach the proxy (metadata and answers; the shards
    /// record request bodies); the seal key defaults to `audit-signing.key` beside the log.
    #[command(flatten)]
    pub audit: AuditFlags,
}

/// Where the keys verifying OIDC tokens come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OidcKeySource {
    /// A JWKS file, read once at start.
    JwksFile(PathBuf),
    /// The issuer's `jwks_uri`, reached over HTTPS verified with this CA.
    Discovered {
        /// CA of the issuer's endpoints.
        ca_file: PathBuf,
    },
}

/// OIDC authentication, when an issuer is configured.
#[derive(Debug, Clone)]
pub struct OidcSettings {
    /// How tokens map to users.
    pub config: OidcConfig,
    /// Where the verification keys come from.
    pub keys: OidcKeySource,
}

/// The resolved configuration of the front-proxy.
#[derive(Debug, Clone)]
pub struct ProxyConfig {
    /// Address to listen on.
    pub bind_address: IpAddr,
    /// HTTPS port (0 picks a free port).
    pub secure_port: u16,
    /// Serving certificate.
    pub tls_cert_file: PathBuf,
    /// Serving private key.
    pub tls_private_key_file: PathBuf,
    /// CA of users' client certificates.
    pub client_ca_file: PathBuf,
    /// Static bearer tokens.
    pub token_auth_file: Option<PathBuf>,
    /// Key verifying service-account tokens.
    pub service_account_key_file: Option<PathBuf>,
    /// `iss` of service-account tokens.
    pub service_account_issuer: String,
    /// Kubeconfig of the root shard, for the routing index.
    pub root_kubeconfig: PathBuf,
    /// Client certificate the proxy forwards with.
    pub proxy_client_cert_file: PathBuf,
    /// Its private key.
    pub proxy_client_key_file: PathBuf,
    /// Shard serving paths outside `/clusters/`.
    pub root_shard_name: String,
    /// Groups no identity carries through the proxy.
    pub groups: GroupFilter,
    /// OIDC authentication, if configured.
    pub oidc: Option<OidcSettings>,
    /// Connection timeouts.
    pub connection_limits: ConnectionLimits,
    /// The audit log, when auditing is on.
    pub audit: Option<AuditConfig>,
}

impl ProxyConfig {
    /// Merges file and flags (flags win), applies defaults and checks what must be given.
    pub fn resolve(file: ProxyFile, flags: ProxyFlags) -> Result<ProxyConfig, ConfigError> {
        let defaults = GroupFilter::default();
        let oidc = resolve_oidc(&file, &flags)?;
        let audit = flags.audit.clone().or(file.audit()).resolve(|log| log.with_file_name("audit-signing.key"))?;
        Ok(ProxyConfig {
            audit,
            bind_address: flags.bind_address.or(file.bind_address).unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED)),
            secure_port: flags.secure_port.or(file.secure_port).unwrap_or(6443),
            tls_cert_file: flags.tls_cert_file.or(file.tls_cert_file).ok_or(ConfigError::Missing("--tls-cert-file"))?,
            tls_private_key_file: flags.tls_private_key_file.or(file.tls_private_key_file).ok_or(ConfigError::Missing("--tls-private-key-file"))?,
            client_ca_file: flags.client_ca_file.or(file.client_ca_file).ok_or(ConfigError::Missing("--client-ca-file"))?,
            token_auth_file: flags.token_auth_file.or(file.token_auth_file),
            service_account_key_file: flags.service_account_key_file.or(file.service_account_key_file),
            service_account_issuer: flags.service_account_issuer.or(file.service_account_issuer).unwrap_or_else(|| "https://kcp.default.svc".into()),
            root_kubeconfig: flags.root_kubeconfig.or(file.root_kubeconfig).ok_or(ConfigError::Missing("--root-kubeconfig"))?,
            proxy_client_cert_file: flags.proxy_client_cert_file.or(file.proxy_client_cert_file).ok_or(ConfigError::Missing("--proxy-client-cert-file"))?,
            proxy_client_key_file: flags.proxy_client_key_file.or(file.proxy_client_key_file).ok_or(ConfigError::Missing("--proxy-client-key-file"))?,
            root_shard_name: flags.root_shard_name.or(file.root_shard_name).unwrap_or_else(|| "root".into()),
            groups: GroupFilter {
                drop: flags.authentication_drop_groups.or(file.authentication_drop_groups).unwrap_or(defaults.drop),
                pass_on: flags.authentication_pass_on_groups.or(file.authentication_pass_on_groups).unwrap_or(defaults.pass_on),
            },
            connection_limits: ConnectionLimits::or_defaults(
                flags.request_header_timeout.or(file.request_header_timeout),
                flags.idle_connection_timeout.or(file.idle_connection_timeout),
            ),
            oidc,
        })
    }
}

/// OIDC settings, whose defaults depend on one another (the username prefix on the issuer and
/// the claim) and which need a way to the issuer's keys.
fn resolve_oidc(file: &ProxyFile, flags: &ProxyFlags) -> Result<Option<OidcSettings>, ConfigError> {
    let pick = |flag: &Option<String>, key: &Option<String>| flag.clone().or_else(|| key.clone());
    let Some(issuer) = pick(&flags.oidc_issuer_url, &file.oidc_issuer_url) else { return Ok(None) };
    let username_claim = pick(&flags.oidc_username_claim, &file.oidc_username_claim).unwrap_or_else(|| "sub".into());
    let username_prefix = match pick(&flags.oidc_username_prefix, &file.oidc_username_prefix).as_deref() {
        Some("-") => String::new(),
        Some(p) => p.to_string(),
        None if username_claim == "email" => String::new(),
        None => format!("{issuer}#"),
    };
    let keys = match (flags.oidc_jwks_file.clone().or_else(|| file.oidc_jwks_file.clone()), flags.oidc_ca_file.clone().or_else(|| file.oidc_ca_file.clone())) {
        (Some(jwks), _) => OidcKeySource::JwksFile(jwks),
        (None, Some(ca_file)) => OidcKeySource::Discovered { ca_file },
        (None, None) => return Err(ConfigError::Missing("--oidc-ca-file or --oidc-jwks-file (with --oidc-issuer-url)")),
    };
    let config = OidcConfig {
        client_id: pick(&flags.oidc_client_id, &file.oidc_client_id).unwrap_or_else(|| "kcp".into()),
        username_claim,
        username_prefix,
        groups_claim: pick(&flags.oidc_groups_claim, &file.oidc_groups_claim),
        groups_prefix: pick(&flags.oidc_groups_prefix, &file.oidc_groups_prefix).unwrap_or_default(),
        issuer,
    };
    Ok(Some(OidcSettings { config, keys }))
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use apiserver::server::connection::DEFAULT_REQUEST_HEADER_TIMEOUT;

    use super::*;

    const REQUIRED: &str = "tlsCertFile: /pki/proxy.crt\ntlsPrivateKeyFile: /pki/proxy.key\nclientCaFile: /pki/client-ca.crt\n\
        rootKubeconfig: /root.kubeconfig\nproxyClientCertFile: /pki/client.crt\nproxyClientKeyFile: /pki/client.key\n";

    fn file(text: &str) -> Result<ProxyFile, ConfigError> {
        apiserver::config::parse(text, Path::new("proxy.yaml"))
    }

    #[test]
    fn a_file_alone_configures_the_proxy() {
        let text = format!("{REQUIRED}bindAddress: 127.0.0.1\nsecurePort: 7443\nauthenticationDropGroups: [\"system:*\"]\nidleConnectionTimeout: 1m\n");
        let cfg = ProxyConfig::resolve(file(&text).expect("parses"), ProxyFlags::default()).expect("resolves");
        assert_eq!(cfg.bind_address, IpAddr::V4(Ipv4Addr::LOCALHOST));
        assert_eq!(cfg.secure_port, 7443);
        assert_eq!(cfg.root_kubeconfig, PathBuf::from("/root.kubeconfig"));
        assert_eq!(cfg.proxy_client_key_file, PathBuf::from("/pki/client.key"));
        assert_eq!(cfg.groups.drop, ["system:*"]);
        assert_eq!(cfg.connection_limits, ConnectionLimits { request_header_timeout: DEFAULT_REQUEST_HEADER_TIMEOUT, idle_timeout: Duration::from_secs(60) });
        assert_eq!(cfg.root_shard_name, "root");
        assert_eq!(cfg.service_account_issuer, "https://kcp.default.svc");
        assert!(cfg.oidc.is_none() && cfg.token_auth_file.is_none());
    }

    #[test]
    fn flags_override_the_file() {
        let flags = ProxyFlags {
            secure_port: Some(8443),
            tls_cert_file: Some("/other.crt".into()),
            request_header_timeout: Some(Duration::from_secs(2)),
            ..Default::default()
        };
        let cfg = ProxyConfig::resolve(file(&format!("{REQUIRED}securePort: 7443\n")).expect("parses"), flags).expect("resolves");
        assert_eq!(cfg.secure_port, 8443);
        assert_eq!(cfg.tls_cert_file, PathBuf::from("/other.crt"));
        assert_eq!(cfg.tls_private_key_file, PathBuf::from("/pki/proxy.key"));
        assert_eq!(cfg.connection_limits.request_header_timeout, Duration::from_secs(2));
        assert_eq!(cfg.groups.drop, GroupFilter::default().drop);
    }

    #[test]
    fn a_missing_required_setting_names_its_flag() {
        for (key, flag) in [
            ("tlsCertFile", "--tls-cert-file"),
            ("tlsPrivateKeyFile", "--tls-private-key-file"),
            ("clientCaFile", "--client-ca-file"),
            ("rootKubeconfig", "--root-kubeconfig"),
            ("proxyClientCertFile", "--proxy-client-cert-file"),
            ("proxyClientKeyFile", "--proxy-client-key-file"),
        ] {
            let text: String = REQUIRED.lines().filter(|l| !l.starts_with(key)).map(|l| format!("{l}\n")).collect();
            let e = ProxyConfig::resolve(file(&text).expect("parses"), ProxyFlags::default()).expect_err(key);
            assert_eq!(e.to_string(), format!("missing required setting {flag}"));
        }
        assert!(matches!(ProxyConfig::resolve(ProxyFile::default(), ProxyFlags::default()), Err(ConfigError::Missing(_))));
    }

    #[test]
    fn unknown_keys_and_bad_values_are_refused() {
        for bad in ["securePort: [1]\n", "tlsCertFlie: /x\n", "idleConnectionTimeout: 0s\n", "requestHeaderTimeout: soon\n"] {
            let e = file(&format!("{REQUIRED}{bad}")).expect_err(bad);
            assert!(e.to_string().starts_with("parsing config file proxy.yaml: "), "{e}");
        }
    }

    #[test]
    fn oidc_defaults_follow_the_issuer_and_need_keys() {
        let oidc = "oidcIssuerUrl: https://issuer\n";
        let e = ProxyConfig::resolve(file(&format!("{REQUIRED}{oidc}")).expect("parses"), ProxyFlags::default()).expect_err("no keys");
        assert!(e.to_string().contains("--oidc-ca-file"), "{e}");
        let flags = ProxyFlags { oidc_ca_file: Some("/ca.crt".into()), ..Default::default() };
        let settings = ProxyConfig::resolve(file(&format!("{REQUIRED}{oidc}")).expect("parses"), flags).expect("resolves").oidc.expect("oidc");
        assert_eq!(settings.keys, OidcKeySource::Discovered { ca_file: "/ca.crt".into() });
        assert_eq!((settings.config.client_id.as_str(), settings.config.username_prefix.as_str()), ("kcp", "https://issuer#"));
        let text = format!("{REQUIRED}{oidc}oidcJwksFile: /jwks.json\noidcUsernameClaim: email\n");
        let settings = ProxyConfig::resolve(file(&text).expect("parses"), ProxyFlags::default()).expect("resolves").oidc.expect("oidc");
        assert_eq!(settings.keys, OidcKeySource::JwksFile("/jwks.json".into()));
        assert_eq!(settings.config.username_prefix, "");
    }
}
