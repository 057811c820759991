//! Home workspaces: `GET /clusters/root/apis/tenancy.kcp.io/v1alpha1/workspaces/~` creates the
//! caller's home workspace on first use and returns it; it is then reachable as
//! `/clusters/user:<name>`. A home is a parent-less logical cluster whose name is derived from
//! the user name, so no index is needed to find it.

use std::sync::Arc;
use std::time::Duration;

use apimachinery::auth::MASTERS_GROUP;
use apimachinery::auth::{Attributes, UserInfo};
use apimachinery::request::{home_cluster_name, valid_cluster_name, ClusterTarget, RequestInfo, Verb, HOME_ROOT};
use apimachinery::status::{ApiError, Reason};
use apiserver::rest::client::SystemClient;
use apiserver::rest::{body, object, Api};
use apiserver::server::phase::{Outcome, Phase, Req};
use futures::future::BoxFuture;
use serde_json::{json, Value};

use crate::bootstrap::{HOME_TYPE, ROOT_CLUSTER};
use crate::controllers::logicalcluster::{create_logical_cluster, NewCluster};
use crate::global::Global;
use crate::tenancy;

/// How long a first request waits for the new home to become Ready before answering 429.
const READY_WAIT: Duration = Duration::from_secs(2);

/// The request phase serving `workspaces/~` in `root`.
pub struct HomeWorkspaces {
    /// The shard's API: its storage, authorizer, and a client acting as `system:masters`.
    pub api: Arc<Api>,
    /// Where clients reach this shard; home URLs start with it.
    pub base_url: String,
}

impl Phase for HomeWorkspaces {
    fn run<'a>(&'a self, req: &'a mut Req) -> BoxFuture<'a, Result<Outcome, ApiError>> {
        Box::pin(async move {
            let (Some(info), Some(user)) = (req.extensions().get::<RequestInfo>(), req.extensions().get::<UserInfo>()) else {
                return Ok(Outcome::Next);
            };
            if !is_home_request(info) {
                return Ok(Outcome::Next);
            }
            let home = self.home(user).await?;
            Ok(Outcome::Respond(body::json(200, &home)))
        })
    }
}

fn is_home_request(info: &RequestInfo) -> bool {
    info.cluster == ClusterTarget::Name(ROOT_CLUSTER.to_string())
        && info.verb == Verb::Get
        && info.api_group == "tenancy.kcp.io"
        && info.resource == "workspaces"
        && info.name == "~"
        && info.subresource.is_empty()
}

impl HomeWorkspaces {
    /// The caller's home as a Workspace, created if missing; 429 while it initializes.
    async fn home(&self, user: &UserInfo) -> Result<Value, ApiError> {
        if user.name.starts_with("system:") || !valid_cluster_name(&user.name) || user.name.contains(':') {
            return Err(ApiError::new(
                Reason::Forbidden,
                format!("workspaces.tenancy.kcp.io \"~\" is forbidden: user {:?} cannot have a home workspace: home workspaces are for users whose names are valid workspace names and do not start with \"system:\"", user.name),
            ));
        }
        let cluster = home_cluster_name(&user.name);
        let path = format!("{HOME_ROOT}:{}", user.name);
        if tenancy::logical_cluster(&self.api.store, &cluster).await.is_none() {
            self.create(user, &cluster, &path).await?;
        }
        let deadline = tokio::time::Instant::now() + READY_WAIT;
        loop {
            let lc = tenancy::logical_cluster(&self.api.store, &cluster).await.ok_or_else(|| ApiError::internal("home logical cluster vanished"))?;
            if lc.pointer("/status/phase") == Some(&json!("Ready")) {
                return Ok(self.workspace(&lc, &cluster, &path));
            }
            if tokio::time::Instant::now() >= deadline {
                let mut e = ApiError::too_many_requests(1);
                e.message = "Creating the home workspace".into();
                return Err(e);
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    async fn create(&self, user: &UserInfo, cluster: &str, path: &str) -> Result<(), ApiError> {
        let attrs = Attributes {
            user: user.clone(),
            verb: "create".into(),
            resource_request: true,
            api_group: "tenancy.kcp.io".into(),
            api_version: "v1alpha1".into(),
            resource: "workspaces".into(),
            name: "~".into(),
            ..Default::default()
        };
        if !self.api.authz.allows(ROOT_CLUSTER, &attrs).await? {
            return Err(ApiError::forbidden(
                &user.name,
                "create",
                "workspaces",
                "tenancy.kcp.io",
                "~",
                "at the cluster scope",
                "workspace access not permitted",
            ));
        }
        let owner = json!({"username": user.name, "uid": user.uid, "groups": user.groups}).to_string();
        let type_ref = format!("{ROOT_CLUSTER}:{HOME_TYPE}");
        tracing::info!(user = %user.name, %cluster, "creating home workspace");
        // Granting the owner cluster-admin in the new cluster is reserved to system:masters.
        let client = SystemClient::new(self.api.clone(), "home-workspaces", &[MASTERS_GROUP]);
        create_logical_cluster(
            &client,
            &Global::local(self.api.store.clone()),
            NewCluster { name: cluster, path, type_ref: &type_ref, owner: Some(&owner), spec_owner: Value::Null },
        )
        .await
    }

    /// The Workspace shape of a home, as kcp presents it.
    fn workspace(&self, lc: &Value, cluster: &str, path: &str) -> Value {
        json!({
            "apiVersion": "tenancy.kcp.io/v1alpha1",
            "kind": "Workspace",
            "metadata": {"name": "cluster", "uid": object::meta_str(lc, "uid"), "creationTimestamp": object::meta_str(lc, "creationTimestamp")},
            "spec": {"type": {"name": HOME_TYPE, "path": ROOT_CLUSTER}, "cluster": cluster, "URL": format!("{}/clusters/{path}", self.base_url)},
            "status": {"phase": lc.pointer("/status/phase").cloned().unwrap_or(Value::Null)},
        })
    }
}
