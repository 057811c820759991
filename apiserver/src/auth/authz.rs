//! The authorization chain: `system:masters`, then workspace access (verb `access` on `/`),
//! then the shard's bootstrap policy, then the RBAC of the logical cluster the request addresses.
//!
//! Each logical cluster's RBAC is read from storage once and compiled; a watch on the RBAC
//! prefix drops a cluster's compiled view whenever one of its roles or bindings changes (and
//! every view when the bootstrap policy changes, since bindings everywhere may name its
//! ClusterRoles). A ClusterRole in one logical cluster never grants anything in another: only
//! the bootstrap cluster's policy applies everywhere, as kcp's bootstrap policy authorizer does.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use futures::future::BoxFuture;
use futures::StreamExt;
use serde_json::{json, Value};

use crate::storage::{key, SharedStorage, StorageError, WatchFrom};
use apimachinery::auth::{Attributes, CompiledRbac, Decision, RbacObjects, UserInfo};
use apimachinery::status::ApiError;

/// Logical cluster whose ClusterRoles and ClusterRoleBindings apply to every logical cluster.
pub const BOOTSTRAP_CLUSTER: &str = "system:admin";

const RBAC_GROUP: &str = "rbac.authorization.k8s.io";

/// A further check a binary puts after the chain: a request the chain allows in a logical
/// cluster may still be refused (kcp's maximal permission policies of bound resources).
pub trait Limit: Send + Sync + 'static {
    /// Whether a request the chain allowed in `cluster` stays allowed.
    fn allows<'a>(&'a self, authz: &'a Authorizer, cluster: &'a str, attrs: &'a Attributes) -> BoxFuture<'a, Result<bool, ApiError>>;
}

/// What a decision carries when it allows: kube's reason, which SubjectAccessReviews show, or
/// only the verdict, which is all a request needs (composing the reason on every request was
/// 1 % of a create's CPU).
#[derive(Debug, Clone, Copy)]
enum Explain {
    Reason,
    Verdict,
}

impl Explain {
    /// An allowing decision, with `reason` when one is wanted.
    fn allow(self, reason: impl FnOnce() -> String) -> Decision {
        Decision::Allow(match self {
            Explain::Reason => reason(),
            Explain::Verdict => String::new(),
        })
    }

    fn decide(self, rbac: &CompiledRbac, attrs: &Attributes) -> Decision {
        match self {
            Explain::Reason => rbac.authorize(attrs),
            Explain::Verdict if rbac.allows(attrs) => Decision::Allow(String::new()),
            Explain::Verdict => Decision::NoOpinion,
        }
    }
}

/// Authorizes requests against cached, compiled per-cluster RBAC.
pub struct Authorizer {
    store: SharedStorage,
    /// Compiled views by cluster: the cluster's own RBAC, with the bootstrap ClusterRoles
    /// available to its bindings (for the bootstrap cluster: its policy alone).
    views: Mutex<HashMap<String, Arc<CompiledRbac>>>,
    /// The binary's limit, set once at start.
    limit: OnceLock<Arc<dyn Limit>>,
}

impl Authorizer {
    /// Creates the authorizer and starts the task that keeps its cache fresh.
    pub fn new(store: SharedStorage) -> Result<Arc<Authorizer>, StorageError> {
        let this = Arc::new(Authorizer { store: store.clone(), views: Mutex::new(HashMap::new()), limit: OnceLock::new() });
        let mut events = store.watch(&format!("{RBAC_GROUP}/"), WatchFrom::Now)?;
        let weak = Arc::downgrade(&this);
        tokio::spawn(async move {
            while let Some(ev) = events.next().await {
                let Some(this) = weak.upgrade() else { return };
                match ev {
                    Ok(ev) => match key::decode(&ev.key) {
                        Some((BOOTSTRAP_CLUSTER, _, _)) => this.lock().clear(),
                        Some((cluster, _, _)) => {
                            this.lock().remove(cluster);
                        }
                        None => {}
                    },
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

    /// Puts `limit` after the chain; a second call is ignored.
    pub fn set_limit(&self, limit: Arc<dyn Limit>) {
        let _ = self.limit.set(limit);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<CompiledRbac>>> {
        self.views.lock().unwrap_or_else(|e| e.into_inner())
    }

    async fn objects(&self, cluster: &str) -> Result<RbacObjects, ApiError> {
        let mut lists = Vec::with_capacity(4);
        for resource in ["roles", "clusterroles", "rolebindings", "clusterrolebindings"] {
            // An unreachable store is a 503 the client retries, like every other storage error.
            let page = self.store.list(&key::cluster_prefix(RBAC_GROUP, resource, cluster), None, 0, None).await?;
            lists.push(page.items.iter().filter_map(|s| serde_json::from_slice(&s.value).ok()).collect::<Vec<Value>>());
        }
        let mut it = lists.into_iter();
        Ok(RbacObjects {
            roles: it.next().unwrap_or_default(),
            cluster_roles: it.next().unwrap_or_default(),
            role_bindings: it.next().unwrap_or_default(),
            cluster_role_bindings: it.next().unwrap_or_default(),
        })
    }

    /// The compiled view of a cluster.
    async fn view(&self, cluster: &str) -> Result<Arc<CompiledRbac>, ApiError> {
        if let Some(v) = self.lock().get(cluster) {
            return Ok(v.clone());
        }
        let mut objs = self.objects(cluster).await?;
        if cluster != BOOTSTRAP_CLUSTER {
            objs = self.with_bootstrap_roles(objs).await?;
        }
        let compiled = Arc::new(CompiledRbac::new(&objs));
        self.lock().insert(cluster.to_string(), compiled.clone());
        Ok(compiled)
    }

    /// `objs` with the bootstrap ClusterRoles added, which its bindings may reference; its own
    /// ClusterRoles of the same name win.
    async fn with_bootstrap_roles(&self, mut objs: RbacObjects) -> Result<RbacObjects, ApiError> {
        let boot = self.objects(BOOTSTRAP_CLUSTER).await?;
        let local: Vec<Value> = objs.cluster_roles.iter().map(|r| r["metadata"]["name"].clone()).collect();
        objs.cluster_roles.extend(boot.cluster_roles.into_iter().filter(|r| !local.contains(&r["metadata"]["name"])));
        Ok(objs)
    }

    /// Decides against the RBAC of a logical cluster this shard does not hold (another shard's,
    /// as the cache replicates it): `system:masters`, the bootstrap policy, then `rbac`.
    pub async fn allows_elsewhere(&self, rbac: RbacObjects, attrs: &Attributes) -> Result<bool, ApiError> {
        if attrs.user.is_masters() || self.view(BOOTSTRAP_CLUSTER).await?.allows(attrs) {
            return Ok(true);
        }
        Ok(CompiledRbac::new(&self.with_bootstrap_roles(rbac).await?).allows(attrs))
    }

    /// The full decision, with the reason when allowed.
    pub async fn decide(&self, cluster: &str, attrs: &Attributes) -> Result<Decision, ApiError> {
        self.chain(cluster, attrs, Explain::Reason).await
    }

    /// True when the chain allows the request.
    pub async fn allows(&self, cluster: &str, attrs: &Attributes) -> Result<bool, ApiError> {
        Ok(matches!(self.chain(cluster, attrs, Explain::Verdict).await?, Decision::Allow(_)))
    }

    async fn chain(&self, cluster: &str, attrs: &Attributes, explain: Explain) -> Result<Decision, ApiError> {
        if attrs.user.is_masters() {
            return Ok(explain.allow(|| "allowed by system:masters".into()));
        }
        if !cluster.starts_with("system:") && !self.has_access(cluster, &attrs.user).await? {
            return Ok(Decision::NoOpinion);
        }
        let decision = self.decide_rbac(cluster, attrs, explain).await?;
        match (&decision, self.limit.get()) {
            (Decision::Allow(_), Some(limit)) if attrs.resource_request && !limit.allows(self, cluster, attrs).await? => Ok(Decision::NoOpinion),
            _ => Ok(decision),
        }
    }

    /// The bootstrap policy, then the RBAC of a logical cluster this shard holds, without the
    /// workspace access gate or the limit.
    pub async fn allows_by_rbac(&self, cluster: &str, attrs: &Attributes) -> Result<bool, ApiError> {
        Ok(matches!(self.decide_rbac(cluster, attrs, Explain::Verdict).await?, Decision::Allow(_)))
    }

    async fn decide_rbac(&self, cluster: &str, attrs: &Attributes, explain: Explain) -> Result<Decision, ApiError> {
        if let Decision::Allow(r) = explain.decide(&*self.view(BOOTSTRAP_CLUSTER).await?, attrs) {
            return Ok(explain.allow(|| format!("bootstrap policy: {r}")));
        }
        if cluster == BOOTSTRAP_CLUSTER {
            return Ok(Decision::NoOpinion);
        }
        Ok(explain.decide(&*self.view(cluster).await?, attrs))
    }

    /// Workspace access: verb `access` on `/` granted by the bootstrap policy or the cluster's
    /// own RBAC (cluster-admin implies it). Without it nothing in the cluster is allowed, not
    /// even discovery; access to a parent grants nothing in a child.
    async fn has_access(&self, cluster: &str, user: &UserInfo) -> Result<bool, ApiError> {
        // A workspace's own service accounts are governed by its RBAC alone.
        if apimachinery::auth::is_local_service_account(user, cluster) {
            return Ok(true);
        }
        let attrs = Attributes { user: user.clone(), verb: "access".into(), path: "/".into(), ..Default::default() };
        Ok(self.view(BOOTSTRAP_CLUSTER).await?.allows(&attrs) || self.view(cluster).await?.allows(&attrs))
    }

    /// Resource and non-resource rules a user holds in a namespace of a cluster.
    pub async fn rules_review(&self, cluster: &str, user: &UserInfo, namespace: &str) -> Result<(Vec<Value>, Vec<Value>), ApiError> {
        if user.is_masters() {
            return Ok((vec![json!({"verbs":["*"],"apiGroups":["*"],"resources":["*"]})], vec![json!({"verbs":["*"],"nonResourceURLs":["*"]})]));
        }
        // Without workspace access every rule below is gated off: all that is left is asking
        // about oneself, which is always possible.
        if !cluster.starts_with("system:") && !self.has_access(cluster, user).await? {
            return Ok((
                vec![
                    self_review_rule("authorization.k8s.io", &["selfsubjectaccessreviews", "selfsubjectrulesreviews"]),
                    self_review_rule("authentication.k8s.io", &["selfsubjectreviews"]),
                ],
                Vec::new(),
            ));
        }
        let (mut res, mut non) = self.view(BOOTSTRAP_CLUSTER).await?.rules_for(user, namespace);
        if cluster != BOOTSTRAP_CLUSTER {
            let (r2, n2) = self.view(cluster).await?.rules_for(user, namespace);
            res.extend(r2);
            non.extend(n2);
        }
        Ok((res, non))
    }

    /// Resource rules a user holds (for escalation checks).
    pub async fn rules_for(&self, cluster: &str, user: &UserInfo, namespace: &str) -> Result<Vec<Value>, ApiError> {
        Ok(self.rules_review(cluster, user, namespace).await?.0)
    }

    /// The rules of the role a binding references; a missing role is a 403, as in kube.
    pub async fn role_rules(&self, cluster: &str, namespace: &str, role_ref: &Value) -> Result<Vec<Value>, ApiError> {
        let rules =
            self.view(cluster).await?.role_ref_rules(role_ref, namespace).map_err(|e| ApiError::new(apimachinery::status::Reason::Forbidden, e.to_string()))?;
        Ok(rules.iter().map(apimachinery::auth::Rule::to_value).collect())
    }
}

/// The rule that lets anyone create their own reviews in `group`.
fn self_review_rule(group: &str, resources: &[&str]) -> Value {
    json!({"verbs": ["create"], "apiGroups": [group], "resources": resources})
}

#[cfg(all(test, feature = "etcd"))]
mod tests {
    use super::*;

    /// A decision that needs RBAC objects the store cannot read is a 503 with Retry-After, the
    /// answer a client retries, not a 500.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn rbac_that_cannot_be_read_is_a_retryable_503() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (mut etcd, store) = crate::storage::etcd::local_store(dir.path(), "/kcp-rs/authz/").await;
        let authorizer = Authorizer::new(store).expect("authorizer");
        let attrs = Attributes {
            user: UserInfo { name: "system:serviceaccount:default:robot".into(), ..Default::default() },
            verb: "create".into(),
            resource_request: true,
            api_version: "v1".into(),
            resource: "configmaps".into(),
            namespace: "default".into(),
            ..Default::default()
        };
        let decision = authorizer.decide("c1", &attrs).await;
        assert!(decision.is_ok(), "a readable store decides: {:?}", decision.err());

        etcd.stop();
        let refused = authorizer.decide("c2", &attrs).await.expect_err("nothing to decide with");
        assert_eq!(refused.code(), 503, "{refused:?}");
        assert!(refused.retry_after.is_some(), "{refused:?}");
    }
}
