//! kcp-shard: the API server of one shard. It serves `/clusters/<logical cluster>/...` for
//! every logical cluster it hosts and runs the controllers that keep them consistent.

pub mod binding;
pub mod bootstrap;
pub mod cache_view;
pub mod claims;
pub mod cluster_gate;
pub mod config;
pub mod controllers;
pub mod crd_lock;
pub mod global;
pub mod home;
pub mod inactive;
pub mod max_permission;
pub mod object_limit;
pub mod quota;
pub mod replication;
pub mod resource_locks;
pub mod shards;
pub mod tenancy;
pub mod view_access;

use std::net::SocketAddr;
use std::sync::Arc;

use apimachinery::auth::TokenSigner;
use apimachinery::registry::crd::CrdIndex;
use apiserver::audit::Auditor;
use apiserver::auth::authn::{Authenticator, Peers, ServiceAccountTokens};
use apiserver::auth::authz::Authorizer;
use apiserver::pki::ClientCertAuthority;
use apiserver::rest::{admission, Api, Limits};
use apiserver::server::metrics::Metrics;
use apiserver::server::{BinaryPhases, Handler};
use apiserver::storage::etcd::EtcdStorage;
use apiserver::storage::sled::SledStorage;
use apiserver::storage::SharedStorage;

pub use config::{ConfigError, ShardConfig, ShardFile, ShardFlags, StorageConfig};

/// Why a shard could not start or stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum ShardError {
    /// The configuration is missing a setting or could not be read.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The storage could not be opened or written.
    #[error("storage")]
    Storage(#[from] apiserver::storage::StorageError),
    /// The etcd cluster could not be reached or the etcd settings are unusable.
    #[error("etcd storage")]
    Etcd(#[from] apiserver::storage::etcd::OpenError),
    /// Certificates or keys could not be loaded, generated or written.
    #[error("TLS")]
    Tls(#[from] apiserver::pki::PkiError),
    /// A file named in the configuration could not be read.
    #[error("reading {path}")]
    Io {
        /// The file.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The static token file is malformed.
    #[error("authentication")]
    Tokens(#[from] apimachinery::auth::AuthError),
    /// The root shard kubeconfig could not be loaded or used.
    #[error(transparent)]
    Client(#[from] apiserver::client::ClientError),
    /// The cache replicas' credentials could not be turned into a client.
    #[error("cache client")]
    Cache(#[from] cache_server::client::ClientError),
    /// The audit log could not be opened, or its seal key loaded.
    #[error(transparent)]
    Audit(#[from] apiserver::audit::AuditError),
    /// The secure port could not be bound.
    #[error("listening on {addr}")]
    Bind {
        /// Address and port asked for.
        addr: SocketAddr,
        /// The I/O error.
        source: std::io::Error,
    },
}

fn read(path: &std::path::Path) -> Result<String, ShardError> {
    std::fs::read_to_string(path).map_err(|source| ShardError::Io { path: path.display().to_string(), source })
}

/// The service-account signer, generating its key (owner-only) on first start.
fn signing_key(path: &std::path::Path, issuer: &str) -> Result<TokenSigner, ShardError> {
    if !path.exists() {
        let pem = TokenSigner::generate_key_pem()?;
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|source| ShardError::Io { path: dir.display().to_string(), source })?;
        }
        apiserver::pki::write_file(path, pem.as_bytes(), 0o600)?;
        tracing::info!(path = %path.display(), "generated the service-account signing key");
    }
    Ok(TokenSigner::from_pem(issuer, &read(path)?)?)
}

/// Opens the configured backend.
async fn open_storage(config: &ShardConfig) -> Result<SharedStorage, ShardError> {
    Ok(match &config.storage {
        StorageConfig::Sled { dir } => {
            std::fs::create_dir_all(dir).map_err(|source| ShardError::Io { path: dir.display().to_string(), source })?;
            Arc::new(SledStorage::open(dir, config.watch_cache_size)?)
        }
        StorageConfig::Etcd(etcd) => Arc::new(EtcdStorage::open_patiently(etcd, ETCD_STARTUP_PATIENCE).await?),
    })
}

/// Runs a shard until `shutdown` turns true. `on_listening` is told the bound address once the
/// shard accepts connections (useful with port 0).
pub async fn run(config: ShardConfig, shutdown: tokio::sync::watch::Receiver<bool>, on_listening: impl FnOnce(SocketAddr)) -> Result<(), ShardError> {
    let store = open_storage(&config).await?;
    let hosts_root = config.shard_name == bootstrap::ROOT_CLUSTER;
    bootstrap::run(&store, bootstrap::Scope { hosts_root, home_workspaces: config.enable_home_workspaces }).await?;
    // The credentials that reach the root shard reach every shard (system:masters).
    let shards_client = match &config.root_shard_kubeconfig_file {
        Some(path) => {
            let creds = apiserver::client::Credentials::from_kubeconfig(path)?;
            Some((apiserver::client::Client::new(&creds.ca_pem, creds.client.as_ref())?, creds.base_url()))
        }
        None => None,
    };
    // One list and watch of the store feeds the controllers and the cache publisher.
    let informers = apiserver::controller::Informers::new(store.clone());
    let cache = connect_cache(&config, &store, &informers)?;
    let global = Arc::new(global::Global { store: store.clone(), cache: Some(cache.subscriber.clone()) });

    let addr = SocketAddr::new(config.bind_address, config.secure_port);
    let listener = tokio::net::TcpListener::bind(addr).await.map_err(|source| ShardError::Bind { addr, source })?;
    let bound = listener.local_addr().map_err(|source| ShardError::Bind { addr, source })?;
    let base_url = config.shard_base_url.clone().unwrap_or_else(|| {
        let host = if bound.ip().is_unspecified() { "127.0.0.1".to_string() } else { bound.ip().to_string() };
        let host = if host.contains(':') { format!("[{host}]") } else { host };
        format!("https://{host}:{}", bound.port())
    });
    let external_url = config.shard_external_url.clone().unwrap_or_else(|| base_url.clone());
    let urls = shards::Urls {
        base: base_url.clone(),
        external: external_url.clone(),
        virtual_workspaces: config.shard_virtual_workspace_url.clone().unwrap_or_else(|| base_url.clone()),
    };
    match (&shards_client, hosts_root) {
        (_, true) => shards::register(&store, &config.shard_name, &urls).await?,
        (Some((client, root_url)), false) => {
            tokio::spawn(shards::register_remote(client.clone(), root_url.clone(), config.shard_name.clone(), urls.clone()));
        }
        (None, false) => return Err(ConfigError::Missing("--root-shard-kubeconfig-file (required for shards other than root)").into()),
    }

    let crds = Arc::new(CrdIndex::default());
    let indexes = Indexes { objects: Arc::new(object_limit::ObjectCounts::new(config.logical_cluster_total_object_limit)), ..Indexes::default() };
    let root_ca = match &config.root_ca_file {
        Some(path) => Some(Arc::from(read(path)?.as_str())),
        None => None,
    };
    let tokens = match &config.token_auth_file {
        Some(p) => Some(apiserver::auth::authn::load_token_file(p)?),
        None => None,
    };
    let api = Arc::new(Api {
        store: store.clone(),
        crds,
        authz: Authorizer::new(store.clone())?,
        authn: Arc::new(Authenticator {
            tokens,
            service_accounts: Some(ServiceAccountTokens {
                signer: signing_key(&config.service_account_signing_key_file, &config.service_account_issuer)?,
                store: store.clone(),
            }),
        }),
        limits: Limits::default(),
        plugins: admission_plugins(&global, &indexes),
        shutdown: shutdown.clone(),
        inactive: inactive::follow(store.clone())?,
        served: Default::default(),
    });
    let policies = max_permission::MaximalPermissionPolicy::start(api.crds.clone(), global.clone());
    api.authz.set_limit(policies.clone());
    let controller_metrics = controllers::ShardMetrics::default();
    let placement =
        controllers::workspace::Placement { shard: config.shard_name.clone(), global: global.clone(), others: shards_client.as_ref().map(|(c, _)| c.clone()) };
    let readiness = apiserver::server::probes::Readiness::default();
    tokio::spawn(follow_cache(cache.subscriber.clone(), readiness.gate("cache")));
    let launch = controllers::Launcher { informers: &informers, metrics: &controller_metrics, readiness: &readiness, event_ttl: config.event_ttl };
    controllers::start(&api, &launch, placement, root_ca, &urls, &indexes);
    // Every follower has subscribed: the feed can list and watch.
    tokio::spawn(informers.run());
    let mut phases = BinaryPhases::default();
    if config.enable_home_workspaces && hosts_root {
        phases.extra.0.push(Arc::new(home::HomeWorkspaces { api: api.clone(), base_url: external_url.clone() }));
    }
    // After home workspaces (which answer `~` themselves), before the authorizer.
    phases.extra.0.push(Arc::new(cluster_gate::ClusterGate { authz: api.authz.clone(), store: api.store.clone() }));
    phases.resolver = Some(Arc::new(cluster_gate::PathResolver(api.store.clone())));
    if let Some(replica) = cache.embedded {
        phases.views.0.push(Arc::new(cache_view::CacheView { replica, shutdown: shutdown.clone() }));
    }
    // The virtual workspaces authorize their requests themselves.
    let view_access = Arc::new(view_access::ViewAccess { api: api.clone(), global: global.clone() });
    let export_claims = Arc::new(view_access::ExportClaims {
        global: global.clone(),
        index: indexes.claims.clone(),
        crds: api.crds.clone(),
        policies,
        authz: api.authz.clone(),
    });
    phases.views.0.push(Arc::new(virtual_workspaces::apiexport::ApiExportView { api: api.clone(), access: view_access.clone(), claims: export_claims }));
    phases.views.0.push(Arc::new(virtual_workspaces::lifecycle::LifecycleView { api: api.clone(), access: view_access }));
    let schemas = Arc::new(view_access::BindingSchemas { store: api.store.clone(), global: global.clone() });
    phases.views.0.push(Arc::new(virtual_workspaces::apiresourceschema::ApiResourceSchemaView { api: api.clone(), schemas }));
    let mut metrics = Metrics::default();
    metrics.register_storage(&*api.store);
    controller_metrics.register(&mut metrics);
    let auditor = config.audit.clone().map(|audit| Auditor::start(audit, Some(config.shard_name.clone()))).transpose()?;
    if let Some(auditor) = &auditor {
        auditor.register(metrics.registry_mut());
    }
    let fairness = apiserver::server::fairness::FairQueue::new(&config.fairness);
    fairness.register(metrics.registry_mut());
    let metrics = Arc::new(metrics);
    let mut handler = Handler::new(api, metrics.clone(), fairness, phases, readiness);
    handler.audit = auditor.clone();
    let handler = Arc::new(handler);
    let client_ca = read(&config.client_ca_file)?;
    let proxy_ca = match &config.requestheader_client_ca_file {
        Some(p) => Some(read(p)?),
        None => None,
    };
    for file in std::iter::once(&config.tls_cert_file).chain([&config.client_ca_file]).chain(&config.requestheader_client_ca_file) {
        metrics.watch_certificate(file);
    }
    let hinted: Vec<String> = std::iter::once(client_ca.clone()).chain(proxy_ca.clone()).collect();
    let tls = Arc::new(apiserver::pki::server_config_from_files(&config.tls_cert_file, &config.tls_private_key_file, &hinted)?);
    let peers = Arc::new(Peers {
        clients: ClientCertAuthority::new(&[client_ca])?,
        proxies: proxy_ca.map(|ca| ClientCertAuthority::new(&[ca])).transpose()?,
        proxy_names: config.requestheader_allowed_names.clone(),
    });
    tracing::info!(%bound, "serving");
    on_listening(bound);
    apiserver::server::serve(listener, tls, peers, handler, config.connection_limits, shutdown).await;
    if let Some(auditor) = auditor {
        auditor.close().await;
    }
    tracing::info!("stopped");
    Ok(())
}

/// This shard's link to the cache: the reader its cross-shard lookups use, and the replica it
/// runs itself when no cache server is configured.
struct CacheLink {
    subscriber: Arc<cache_server::client::Subscriber>,
    embedded: Option<cache_server::Replica>,
}

/// Connects to the cache replicas of the configuration (or starts one in this process), starts
/// publishing this shard's replicated objects (as `informers` report them) to all of them and
/// reading from one.
fn connect_cache(config: &ShardConfig, store: &SharedStorage, informers: &apiserver::controller::Informers) -> Result<CacheLink, ShardError> {
    use cache_server::client::{Publisher, Subscriber, Target};
    let (targets, embedded) = match &config.cache_kubeconfig {
        None if config.cache_server_urls.is_empty() => {
            let replica = cache_server::Replica::new(EMBEDDED_CACHE_HISTORY, Arc::default());
            (vec![Target::Local(replica.clone())], Some(replica))
        }
        None => return Err(ConfigError::Missing("--cache-kubeconfig (with --cache-server-url)").into()),
        Some(path) => {
            let creds = apiserver::client::Credentials::from_kubeconfig(path)?;
            let identity = creds.client.as_ref().ok_or(ConfigError::Missing("a client certificate in --cache-kubeconfig"))?;
            let urls = if config.cache_server_urls.is_empty() { vec![creds.base_url()] } else { config.cache_server_urls.clone() };
            let targets = urls.iter().map(|url| Target::remote(url.clone(), &creds.ca_pem, identity)).collect::<Result<Vec<_>, _>>()?;
            (targets, None)
        }
    };
    let publisher = Publisher::start(config.shard_name.clone(), targets.clone());
    let sink = replication::publisher::PublisherSink::new(publisher, store.current_revision());
    tokio::spawn(replication::follow(informers, store.clone(), Arc::new(sink)));
    let subscriber = Arc::new(Subscriber::start(targets, cache_server::store::Filter::default()));
    Ok(CacheLink { subscriber, embedded })
}

/// How long a starting shard waits for etcd to answer before it gives up: long enough for
/// members started alongside it to elect a leader, short enough that a wrong address fails.
const ETCD_STARTUP_PATIENCE: std::time::Duration = std::time::Duration::from_secs(60);

/// Changes kept by an embedded cache for readers to resume from.
const EMBEDDED_CACHE_HISTORY: usize = 10_000;

/// Keeps `/readyz`'s `cache` check in step with whether a replica is reachable.
async fn follow_cache(subscriber: Arc<cache_server::client::Subscriber>, gate: apiserver::server::probes::Gate) {
    let mut connected = subscriber.connected();
    loop {
        let now = *connected.borrow_and_update();
        gate.set(now);
        if connected.changed().await.is_err() {
            return;
        }
    }
}

/// What admission reads and the informers keep current, shared by plugins and controllers.
#[derive(Default)]
pub struct Indexes {
    /// The accepted permission claims of every binding.
    pub claims: Arc<claims::ClaimIndex>,
    /// The namespaces that have ResourceQuotas.
    pub quotas: Arc<quota::QuotaIndex>,
    /// Object counts and limits of every logical cluster.
    pub objects: Arc<object_limit::ObjectCounts>,
}

/// Every admission plugin of the shard in order: the built-in ones, then the shard's own.
pub(crate) fn admission_plugins(global: &Arc<global::Global>, indexes: &Indexes) -> Vec<Arc<dyn apiserver::rest::AdmissionPlugin>> {
    admission::plugins(vec![
        Arc::new(tenancy::WorkspaceAdmission { global: global.clone() }),
        Arc::new(tenancy::LogicalClusterAdmission),
        Arc::new(binding::BindingAdmission { global: global.clone() }),
        Arc::new(crd_lock::CrdLockAdmission),
        Arc::new(claims::ClaimLabelAdmission { index: indexes.claims.clone() }),
        Arc::new(object_limit::ObjectLimitAdmission { counts: indexes.objects.clone() }),
        Arc::new(shards::ShardAdmission),
        // Last: nothing refuses a create after its quotas were charged.
        Arc::new(quota::QuotaAdmission::new(indexes.quotas.clone())),
    ])
}
