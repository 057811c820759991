//! The shard's answers to the virtual workspaces' questions: verbs on an export's
//! `apiexports/content`, and on a WorkspaceType (`initialize`, `terminate`), are granted by the RBAC of the
//! workspace holding the export or type, read locally or, when it is on another shard, from
//! the cache; what consumers granted through permission claims; and which schemas a
//! consumer's bindings serve.

use std::sync::Arc;

use apimachinery::auth::Attributes;
use apimachinery::auth::UserInfo;
use apimachinery::registry::crd::{CrdIndex, ExportRef};
use apimachinery::registry::kcpcore::logicalcluster::Hook;
use apimachinery::status::ApiError;
use apiserver::rest::Api;
use apiserver::storage::{key, SharedStorage};
use futures::future::BoxFuture;
use serde_json::Value;
use virtual_workspaces::apiexport::authz::ContentAccess;
use virtual_workspaces::apiexport::claims::{Claimed, Claims};
use virtual_workspaces::apiresourceschema::BoundSchemas;
use virtual_workspaces::lifecycle::TypeAccess;

use crate::claims::{label_key, label_value, ClaimIndex};
use crate::global::Global;
use crate::max_permission::MaximalPermissionPolicy;
use apiserver::auth::authz::Authorizer;

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

    fn permissions<'a>(&'a self, hook: Hook, type_ref: &'a str) -> BoxFuture<'a, Result<Option<Vec<Value>>, ApiError>> {
        Box::pin(async move {
            let Some((path, name)) = type_ref.rsplit_once(':') else { return Ok(None) };
            let Some(found) = self.global.workspace_type(path, name).await? else { return Ok(None) };
            let rules = found.object.get("spec").and_then(|s| s.get(hook.permissions_field())).and_then(Value::as_array);
            Ok(rules.filter(|rules| !rules.is_empty()).cloned())
        })
    }
}

/// The permission claims of exports, from the export (what it claims) and the shard's claim
/// index (what each consumer accepted); another export's resources are limited by that
/// export's maximal permission policy.
pub struct ExportClaims {
    /// Where exports are found.
    pub global: Arc<Global>,
    /// The accepted claims of the shard's bindings.
    pub index: Arc<ClaimIndex>,
    /// What each binding serves, which names the export behind an identity.
    pub crds: Arc<CrdIndex>,
    /// The exports' maximal permission policies, judged by the shard's authorizer.
    pub policies: Arc<MaximalPermissionPolicy>,
    /// The shard's authorizer.
    pub authz: Arc<Authorizer>,
}

impl Claims for ExportClaims {
    fn claimed<'a>(&'a self, export: &'a ExportRef) -> BoxFuture<'a, Result<Vec<Claimed>, ApiError>> {
        Box::pin(async move {
            let Some(found) = self.global.find("apis.kcp.io", "apiexports", &export.cluster, &export.name).await? else { return Ok(Vec::new()) };
            let claims = found.object.pointer("/spec/permissionClaims").and_then(Value::as_array).cloned().unwrap_or_default();
            let text = |c: &Value, f: &str| c[f].as_str().unwrap_or_default().to_string();
            Ok(claims.iter().map(|c| Claimed { group: text(c, "group"), resource: text(c, "resource"), identity: text(c, "identityHash") }).collect())
        })
    }

    fn grants(&self, consumer: &str, export: &ExportRef, claimed: &Claimed, verb: &str) -> bool {
        let key = label_key(&export.cluster, &export.name);
        let identity = Some(claimed.identity.as_str()).filter(|i| !i.is_empty());
        self.index.on(consumer, &claimed.group, &claimed.resource, identity).iter().any(|c| c.key == key && c.grants(verb))
    }

    fn covers(&self, export: &ExportRef, claimed: &Claimed, obj: &Value) -> bool {
        let key = label_key(&export.cluster, &export.name);
        let labels = obj.pointer("/metadata/labels").and_then(|l| l.get(&key)).and_then(Value::as_str);
        labels == Some(label_value(&claimed.group, &claimed.resource, &claimed.identity).as_str())
    }

    fn permitted<'a>(&'a self, claimed: &'a Claimed, attrs: &'a Attributes) -> BoxFuture<'a, Result<bool, ApiError>> {
        Box::pin(async move {
            if claimed.identity.is_empty() {
                return Ok(true);
            }
            // No binding here serves it: nothing can be reached to limit.
            let Some((serving, _)) = self.crds.with_identity(&claimed.group, &claimed.resource, &claimed.identity) else { return Ok(true) };
            self.policies.permits(&self.authz, &serving, attrs).await
        })
    }
}

/// The APIResourceSchemas behind a consumer's bindings, read where each export lives.
pub struct BindingSchemas {
    /// Where the consumer's bindings are.
    pub store: SharedStorage,
    /// Where the providers' schemas are found.
    pub global: Arc<Global>,
}

impl BoundSchemas for BindingSchemas {
    fn of<'a>(&'a self, consumer: &'a str) -> BoxFuture<'a, Result<Vec<Value>, ApiError>> {
        Box::pin(async move {
            let page = self.store.list(&key::cluster_prefix("apis.kcp.io", "apibindings", consumer), None, 0, None).await?;
            let mut seen = std::collections::HashSet::new();
            let mut out = Vec::new();
            for item in page.items {
                let binding: Value = serde_json::from_slice(&item.value).unwrap_or(Value::Null);
                if binding.pointer("/status/phase").and_then(Value::as_str) != Some("Bound") {
                    continue;
                }
                let export_cluster = binding.pointer("/status/apiExportClusterName").and_then(Value::as_str).unwrap_or_default().to_string();
                let resources = binding.pointer("/status/boundResources").and_then(Value::as_array).cloned().unwrap_or_default();
                for name in resources.iter().filter_map(|r| r.pointer("/schema/name").and_then(Value::as_str)) {
                    if !seen.insert((export_cluster.clone(), name.to_string())) {
                        continue;
                    }
                    if let Some(found) = self.global.find("apis.kcp.io", "apiresourceschemas", &export_cluster, name).await? {
                        out.push(found.object);
                    }
                }
            }
            Ok(out)
        })
    }
}
