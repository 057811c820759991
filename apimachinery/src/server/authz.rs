//! The authorization chain: `system:masters`, then the shard's bootstrap policy, then the RBAC
//! of the logical cluster the request addresses.
//!
//! RBAC objects are read from storage per logical cluster and cached; a watch on the RBAC
//! prefix drops a cluster's entry whenever one of its roles or bindings changes. A ClusterRole
//! in one logical cluster never grants anything in another: only the bootstrap cluster's policy
//! applies everywhere, as kcp's bootstrap policy authorizer does.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use futures::StreamExt;
use serde_json::{json, Value};

use crate::auth::{self, Attributes, Decision, RbacObjects, UserInfo};
use crate::rest::admission::MASTERS_GROUP;
use crate::status::ApiError;
use crate::storage::{key, SharedStorage, StorageError, WatchFrom};

/// Logical cluster whose ClusterRoles and ClusterRoleBindings apply to every logical cluster.
pub const BOOTSTRAP_CLUSTER: &str = "system:admin";

const RBAC_GROUP: &str = "rbac.authorization.k8s.io";

/// Authorizes requests against cached per-cluster RBAC.
pub struct Authorizer {
    store: SharedStorage,
    cache: Mutex<HashMap<String, Arc<RbacObjects>>>,
}

impl Authorizer {
    /// Creates the authorizer and starts the task that keeps its cache fresh.
    pub fn new(store: SharedStorage) -> Result<Arc<Authorizer>, StorageError> {
        let this = Arc::new(Authorizer { store: store.clone(), cache: Mutex::new(HashMap::new()) });
        let mut events = store.watch(&format!("{RBAC_GROUP}/"), WatchFrom::Now)?;
        let weak = Arc::downgrade(&this);
        tokio::spawn(async move {
            while let Some(ev) = events.next().await {
                let Some(this) = weak.upgrade() else { return };
                match ev {
                    Ok(ev) => {
                        if let Some((cluster, _, _)) = key::decode(&ev.key) {
                            this.lock().remove(cluster);
                        }
                    }
                    // Missed events: forget everything and re-subscribe.
                    Err(_) => {
                        this.lock().clear();
                        match this.store.watch(&format!("{RBAC_GROUP}/"), WatchFrom::Now) {
                            Ok(s) => events = s,
                            Err(_) => return,
                        }
                    }
                }
            }
        });
        Ok(this)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<RbacObjects>>> {
        self.cache.lock().unwrap_or_else(|e| e.into_inner())
    }

    async fn objects(&self, cluster: &str) -> Result<Arc<RbacObjects>, ApiError> {
        if let Some(o) = self.lock().get(cluster) {
            return Ok(o.clone());
        }
        let mut lists = Vec::with_capacity(4);
        for resource in ["roles", "clusterroles", "rolebindings", "clusterrolebindings"] {
            let page = self
                .store
                .list(&key::cluster_prefix(RBAC_GROUP, resource, cluster), None, 0)
                .await
                .map_err(ApiError::internal)?;
            let items: Vec<Value> = page.items.iter().filter_map(|s| serde_json::from_slice(&s.value).ok()).collect();
            lists.push(items);
        }
        let mut it = lists.into_iter();
        let objs = Arc::new(RbacObjects {
            roles: it.next().unwrap_or_default(),
            cluster_roles: it.next().unwrap_or_default(),
            role_bindings: it.next().unwrap_or_default(),
            cluster_role_bindings: it.next().unwrap_or_default(),
        });
        self.lock().insert(cluster.to_string(), objs.clone());
        Ok(objs)
    }

    /// The local RBAC of a cluster, where role references may also name bootstrap ClusterRoles.
    async fn local_with_bootstrap_roles(&self, cluster: &str) -> Result<RbacObjects, ApiError> {
        let local = self.objects(cluster).await?;
        let boot = self.objects(BOOTSTRAP_CLUSTER).await?;
        let mut merged = (*local).clone();
        let local_names: Vec<String> =
            local.cluster_roles.iter().map(|r| r["metadata"]["name"].as_str().unwrap_or_default().to_string()).collect();
        merged.cluster_roles.extend(
            boot.cluster_roles.iter().filter(|r| !local_names.iter().any(|n| r["metadata"]["name"] == json!(n))).cloned(),
        );
        Ok(merged)
    }

    /// The full decision, with the reason when allowed.
    pub async fn decide(&self, cluster: &str, attrs: &Attributes) -> Result<Decision, ApiError> {
        if attrs.user.groups.iter().any(|g| g == MASTERS_GROUP) {
            return Ok(Decision::Allow("allowed by system:masters".into()));
        }
        let boot = self.objects(BOOTSTRAP_CLUSTER).await?;
        if let Decision::Allow(r) = auth::authorize(attrs, &boot) {
            return Ok(Decision::Allow(format!("bootstrap policy: {r}")));
        }
        if cluster == BOOTSTRAP_CLUSTER {
            return Ok(Decision::NoOpinion);
        }
        Ok(auth::authorize(attrs, &self.local_with_bootstrap_roles(cluster).await?))
    }

    /// True when the chain allows the request.
    pub async fn allows(&self, cluster: &str, attrs: &Attributes) -> Result<bool, ApiError> {
        Ok(matches!(self.decide(cluster, attrs).await?, Decision::Allow(_)))
    }

    /// Resource and non-resource rules a user holds in a namespace of a cluster.
    pub async fn rules_review(&self, cluster: &str, user: &UserInfo, namespace: &str) -> Result<(Vec<Value>, Vec<Value>), ApiError> {
        if user.groups.iter().any(|g| g == MASTERS_GROUP) {
            return Ok((
                vec![json!({"verbs":["*"],"apiGroups":["*"],"resources":["*"]})],
                vec![json!({"verbs":["*"],"nonResourceURLs":["*"]})],
            ));
        }
        let (mut res, mut non) = auth::rules_for(user, namespace, &*self.objects(BOOTSTRAP_CLUSTER).await?);
        if cluster != BOOTSTRAP_CLUSTER {
            let (r2, n2) = auth::rules_for(user, namespace, &self.local_with_bootstrap_roles(cluster).await?);
            res.extend(r2);
            non.extend(n2);
        }
        Ok((res, non))
    }

    /// Resource rules a user holds (for escalation checks).
    pub async fn rules_for(&self, cluster: &str, user: &UserInfo, namespace: &str) -> Result<Vec<Value>, ApiError> {
        Ok(self.rules_review(cluster, user, namespace).await?.0)
    }

    /// The rules of the role a binding references.
    pub async fn role_rules(&self, cluster: &str, namespace: &str, kind: &str, name: &str) -> Result<Vec<Value>, ApiError> {
        let objs = self.local_with_bootstrap_roles(cluster).await?;
        let list = if kind == "Role" { &objs.roles } else { &objs.cluster_roles };
        Ok(list
            .iter()
            .find(|r| r["metadata"]["name"] == json!(name) && (kind != "Role" || r["metadata"]["namespace"] == json!(namespace)))
            .and_then(|r| r["rules"].as_array().cloned())
            .unwrap_or_default())
    }
}
