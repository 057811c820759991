//! The shard's answers to the virtual workspaces' permission checks: verbs on an export's
//! `apiexports/content`, and on a WorkspaceType (`initialize`), are granted by the RBAC of the
//! workspace holding the export or type, read locally or, when it is on another shard, from
//! the cache.

use std::sync::Arc;

use apimachinery::auth::UserInfo;
use apimachinery::registry::crd::ExportRef;
use apimachinery::status::ApiError;
use apiserver::rest::Api;
use futures::future::BoxFuture;
use virtual_workspaces::apiexport::authz::ContentAccess;
use virtual_workspaces::initializing::TypeAccess;

use crate::global::Global;

/// Permission checks of the virtual workspaces, judged where each object lives.
pub struct ViewAccess {
    /// The shard's authorizer.
    pub api: Arc<Api>,
    /// Where exports, types and their workspaces' RBAC are found.
    pub global: Arc<Global>,
}

impl ViewAccess {
    /// Whether `user` may `verb` the cluster-scoped `resource` (`apiexports/content`,
    /// `workspacetypes`) named `name` in the workspace at `path`; nothing is allowed on an
    /// object that does not exist.
    async fn may(&self, user: &UserInfo, verb: &str, group: &str, resource: &str, path: &str, name: &str) -> Result<bool, ApiError> {
        let plural = resource.split('/').next().unwrap_or(resource);
        match self.global.find(group, plural, path, name).await? {
            Some(found) => self.global.may(&self.api, user, verb, group, resource, &found).await,
            None => Ok(false),
        }
    }
}

impl ContentAccess for ViewAccess {
    fn may<'a>(&'a self, user: &'a UserInfo, verb: &'a str, export: &'a ExportRef) -> BoxFuture<'a, Result<bool, ApiError>> {
        Box::pin(self.may(user, verb, "apis.kcp.io", "apiexports/content", &export.cluster, &export.name))
    }
}

impl TypeAccess for ViewAccess {
    fn may<'a>(&'a self, user: &'a UserInfo, verb: &'a str, type_ref: &'a str) -> BoxFuture<'a, Result<bool, ApiError>> {
        Box::pin(async move {
            let Some((path, name)) = type_ref.rsplit_once(':') else { return Ok(false) };
            self.may(user, verb, "tenancy.kcp.io", "workspacetypes", path, name).await
        })
    }
}
