//! What a shard needs to know about `root` to admit and schedule workspaces: the workspace
//! types, the shards, and whether a user may `use` a type. The root shard reads its own
//! storage; every other shard asks the root shard, as `system:masters`.

use apimachinery::auth::{Attributes, UserInfo};
use apimachinery::status::ApiError;
use apiserver::client::Client;
use apiserver::rest::Api;
use apiserver::storage::{key, Key, SharedStorage};
use serde_json::{json, Value};

use crate::bootstrap::ROOT_CLUSTER;

/// The source of `root`'s tenancy data.
pub enum RootView {
    /// This shard hosts `root`.
    Local(SharedStorage),
    /// The root shard at `url`, reached with `client`.
    Remote {
        /// Client authenticating as `system:masters` on the root shard.
        client: Box<Client>,
        /// Base URL of the root shard, without a `/clusters/` path.
        url: String,
    },
}

impl RootView {
    fn root_url(url: &str, rest: &str) -> String {
        format!("{url}/clusters/{ROOT_CLUSTER}{rest}")
    }

    /// A WorkspaceType of `root`.
    pub async fn workspace_type(&self, name: &str) -> Option<Value> {
        match self {
            RootView::Local(store) => {
                let stored =
                    store.get(&Key { group: "tenancy.kcp.io", resource: "workspacetypes", cluster: ROOT_CLUSTER, namespace: "", name }.encode()).await.ok()?;
                serde_json::from_slice(&stored.value).ok()
            }
            RootView::Remote { client, url } => {
                let (code, obj) = client.json("GET", &Self::root_url(url, &format!("/apis/tenancy.kcp.io/v1alpha1/workspacetypes/{name}")), None).await.ok()?;
                (code == 200).then_some(obj)
            }
        }
    }

    /// Every Shard object.
    pub async fn shards(&self) -> Result<Vec<Value>, String> {
        match self {
            RootView::Local(store) => {
                let page = store.list(&key::cluster_prefix("core.kcp.io", "shards", ROOT_CLUSTER), None, 0).await.map_err(|e| e.to_string())?;
                Ok(page.items.iter().filter_map(|s| serde_json::from_slice(&s.value).ok()).collect())
            }
            RootView::Remote { client, url } => {
                let (code, list) = client.json("GET", &Self::root_url(url, "/apis/core.kcp.io/v1alpha1/shards"), None).await.map_err(|e| e.to_string())?;
                match code {
                    200 => Ok(list["items"].as_array().cloned().unwrap_or_default()),
                    other => Err(format!("listing shards on the root shard answered {other}")),
                }
            }
        }
    }

    /// Whether `user` may `use` workspace type `name` (RBAC of `root`).
    pub async fn may_use(&self, api: &Api, user: &UserInfo, name: &str) -> Result<bool, ApiError> {
        let attrs = Attributes {
            user: user.clone(),
            verb: "use".into(),
            resource_request: true,
            api_group: "tenancy.kcp.io".into(),
            api_version: "v1alpha1".into(),
            resource: "workspacetypes".into(),
            name: name.to_string(),
            ..Default::default()
        };
        match self {
            RootView::Local(_) => api.authz.allows(ROOT_CLUSTER, &attrs).await,
            RootView::Remote { client, url } => {
                let review = json!({
                    "apiVersion": "authorization.k8s.io/v1", "kind": "SubjectAccessReview",
                    "spec": {"user": user.name, "uid": user.uid, "groups": user.groups, "extra": user.extra,
                             "resourceAttributes": {"verb": "use", "group": "tenancy.kcp.io", "version": "v1alpha1", "resource": "workspacetypes", "name": name}},
                });
                let sar = Self::root_url(url, "/apis/authorization.k8s.io/v1/subjectaccessreviews");
                let (code, answer) =
                    client.json("POST", &sar, Some(&review)).await.map_err(|e| ApiError::unavailable(format!("asking the root shard: {e}")))?;
                if code != 201 {
                    return Err(ApiError::unavailable(format!("asking the root shard whether {:?} may use type {name}: answered {code}", user.name)));
                }
                Ok(answer.pointer("/status/allowed") == Some(&json!(true)))
            }
        }
    }
}
