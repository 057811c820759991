//! Test fixtures for controllers: a real sled store in a temporary directory with the shard's
//! bootstrap content, and the REST handlers (admission plugins included) over it.

use std::sync::Arc;

use apimachinery::auth::TokenSigner;
use apimachinery::registry::crd::CrdIndex;
use apiserver::auth::authn::{Authenticator, ServiceAccountTokens};
use apiserver::auth::authz::Authorizer;
use apiserver::rest::client::{ObjectRef, SystemClient};
use apiserver::rest::{Api, Limits};
use apiserver::storage::sled::SledStorage;
use apiserver::storage::SharedStorage;
use serde_json::{json, Value};

use crate::global::Global;
use crate::{bootstrap, shards, tenancy};

/// This shard's name in fixtures.
pub const SHARD: &str = "root";

/// A bootstrapped root shard whose store lives as long as the fixture.
pub struct Fixture {
    pub store: SharedStorage,
    pub crds: Arc<CrdIndex>,
    pub indexes: crate::Indexes,
    pub api: Arc<Api>,
    pub global: Arc<Global>,
    _shutdown: tokio::sync::watch::Sender<bool>,
    _dir: tempfile::TempDir,
}

impl Fixture {
    /// A root shard with its bootstrap content and its own Shard object.
    pub async fn new() -> Fixture {
        let dir = tempfile::tempdir().expect("temporary directory");
        let store: SharedStorage = Arc::new(SledStorage::open(dir.path(), 1000).expect("open sled"));
        bootstrap::run(&store, bootstrap::Scope { hosts_root: true, home_workspaces: false }).await.expect("bootstrap");
        let url = "https://shard.example:6443".to_string();
        shards::register(&store, SHARD, &shards::Urls { base: url.clone(), external: url.clone(), virtual_workspaces: url }).await.expect("register");
        let global = Arc::new(Global::local(store.clone()));
        let crds = Arc::new(CrdIndex::default());
        let indexes = crate::Indexes::default();
        let (tx, shutdown) = tokio::sync::watch::channel(false);
        let api = Arc::new(Api {
            store: store.clone(),
            crds: crds.clone(),
            authz: Authorizer::new(store.clone()).expect("authorizer"),
            authn: Arc::new(Authenticator {
                tokens: None,
                service_accounts: Some(ServiceAccountTokens {
                    signer: TokenSigner::from_pem("https://kcp.test", &TokenSigner::generate_key_pem().expect("key")).expect("signer"),
                    store: store.clone(),
                }),
            }),
            limits: Limits::default(),
            plugins: crate::admission_plugins(&global, &indexes),
            shutdown,
            inactive: crate::inactive::follow(store.clone()).expect("inactive"),
            served: Default::default(),
        });
        Fixture { store, crds, indexes, api, global, _shutdown: tx, _dir: dir }
    }

    /// The client a controller named `name` writes with.
    pub fn client(&self, name: &str) -> SystemClient {
        super::client(self.api.clone(), name)
    }

    /// The object at `key`, if any.
    pub async fn get(&self, key: &str) -> Option<Value> {
        let s = self.store.get(key).await.ok()?;
        Some(serde_json::from_slice(&s.value).expect("stored JSON"))
    }

    /// Creates a logical cluster (Ready, no owner) and namespace `name` in it.
    pub async fn namespace(&self, cluster: &str, name: &str) -> ObjectRef {
        if tenancy::logical_cluster(&self.store, cluster).await.is_none() {
            bootstrap::ensure_logical_cluster(&self.store, cluster).await.expect("logical cluster");
        }
        let r = ObjectRef::new("", "namespaces", cluster, "", name);
        self.client("test").create(&r, json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})).await.expect("namespace");
        r
    }

    /// A client that may do anything (admission's `bind` check is tested with its plugin).
    pub fn admin(&self) -> SystemClient {
        SystemClient::new(self.api.clone(), "test", &[apimachinery::auth::MASTERS_GROUP])
    }

    /// Provider cluster `p` exporting `cowboys.wildwest.dev` as export `name` (with its own
    /// identity), and consumer cluster `c` with namespace `default-ns`; returns the identity hash.
    pub async fn provider(&self, name: &str) -> String {
        use apiserver::controller::Reconcile;
        for cluster in ["p", "c"] {
            if tenancy::logical_cluster(&self.store, cluster).await.is_none() {
                self.namespace(cluster, "default-ns").await;
            }
        }
        let schema = format!("{name}.cowboys.wildwest.dev");
        let client = self.admin();
        let s = ObjectRef::new("apis.kcp.io", "apiresourceschemas", "p", "", &schema);
        let schema_obj = json!({"apiVersion": "apis.kcp.io/v1alpha1", "kind": "APIResourceSchema", "metadata": {"name": schema},
            "spec": {"group": "wildwest.dev", "scope": "Namespaced", "names": {"plural": "cowboys", "singular": "cowboy", "kind": "Cowboy", "listKind": "CowboyList"},
              "versions": [{"name": "v1", "served": true, "storage": true, "schema": {"type": "object"}}]}});
        client.create(&s, schema_obj).await.expect("schema");
        let e = ObjectRef::new("apis.kcp.io", "apiexports", "p", "", name);
        let export = json!({"apiVersion": "apis.kcp.io/v1alpha2", "kind": "APIExport", "metadata": {"name": name},
            "spec": {"resources": [{"name": "cowboys", "group": "wildwest.dev", "schema": schema, "storage": {"crd": {}}}]}});
        client.create(&e, export).await.expect("export");
        let exports = super::apiexport::ApiExports { client: self.client(super::apiexport::NAME) };
        exports.reconcile(&e).await.expect("identity");
        exports.reconcile(&e).await.expect("identity hash");
        self.get(&e.key()).await.expect("export")["status"]["identityHash"].as_str().expect("identity hash").to_string()
    }
}
