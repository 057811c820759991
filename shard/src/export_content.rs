//! The shard's answer to the apiexport virtual workspace's content check: verbs on
//! `apiexports/content` are granted by the RBAC of the export's workspace, read locally or,
//! for an export on another shard, from the cache.

use std::sync::Arc;

use apimachinery::auth::UserInfo;
use apimachinery::registry::crd::ExportRef;
use apimachinery::status::ApiError;
use apiserver::rest::Api;
use futures::future::BoxFuture;
use virtual_workspaces::apiexport::authz::ContentAccess;

use crate::global::Global;

/// Content access to exports, judged where each export lives.
pub struct ExportContent {
    /// The shard's authorizer.
    pub api: Arc<Api>,
    /// Where exports and their workspaces' RBAC are found.
    pub global: Arc<Global>,
}

impl ContentAccess for ExportContent {
    fn may<'a>(&'a self, user: &'a UserInfo, verb: &'a str, export: &'a ExportRef) -> BoxFuture<'a, Result<bool, ApiError>> {
        Box::pin(async move {
            match self.global.find("apis.kcp.io", "apiexports", &export.cluster, &export.name).await? {
                Some(found) => self.global.may(&self.api, user, verb, "apis.kcp.io", "apiexports/content", &found).await,
                None => Ok(false),
            }
        })
    }
}
