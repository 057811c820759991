//! Admission of APIBindings: binding to an APIExport takes verb `bind` on it in the export's
//! workspace, wherever that workspace lives. A missing export and a forbidden one are refused
//! alike, so a refusal tells nothing about what exists.

use std::sync::Arc;

use apimachinery::status::{ApiError, Reason};
use apiserver::rest::client::CONTROLLER_USER_PREFIX;
use apiserver::rest::{AdmissionPlugin, Write};
use futures::future::BoxFuture;
use serde_json::Value;

use crate::global::Global;
use crate::tenancy;

/// The API group of APIExports and APIBindings.
const GROUP: &str = "apis.kcp.io";

/// Checks `bind` for every new APIBinding.
pub struct BindingAdmission {
    /// Where exports and the RBAC of their workspaces are read from.
    pub global: Arc<Global>,
}

impl AdmissionPlugin for BindingAdmission {
    fn admit<'a>(&'a self, w: Write<'a>, obj: &'a mut Value) -> BoxFuture<'a, Result<(), ApiError>> {
        Box::pin(async move {
            if w.is("tenancy.kcp.io", "WorkspaceType") {
                return self.admit_default_bindings(w, obj).await;
            }
            if !w.is(GROUP, "APIBinding") {
                return Ok(());
            }
            // What a binding serves is the binding controller's word: storage identities must
            // not be chosen by whoever may write a status.
            if let Some(old) = w.old {
                let controller = format!("{CONTROLLER_USER_PREFIX}{}", crate::controllers::apibinding::NAME);
                if obj.pointer("/status/boundResources") != old.pointer("/status/boundResources") && w.req.user.name != controller && !w.by_masters() {
                    let name = apiserver::rest::object::meta_str(obj, "name");
                    return Err(ApiError::new(
                        Reason::Forbidden,
                        format!("apibindings.apis.kcp.io {name:?} is forbidden: status.boundResources is set by the APIBinding controller only"),
                    ));
                }
                // The reference is immutable (the strategy refuses changes), so creation is
                // the one moment to check it.
                return Ok(());
            }
            let export = &obj["spec"]["reference"]["export"];
            let (path, name) = (export["path"].as_str().unwrap_or_default(), export["name"].as_str().unwrap_or_default());
            self.check_bind(w, path, name, "APIBinding").await
        })
    }
}

impl BindingAdmission {
    /// A WorkspaceType's default bindings are made for whoever writes the type, so each new
    /// one needs `bind` on its export, as a binding of one's own would.
    async fn admit_default_bindings(&self, w: Write<'_>, obj: &Value) -> Result<(), ApiError> {
        let before = w.old.map(tenancy::default_bindings_of).unwrap_or_default();
        for (path, name) in tenancy::default_bindings_of(obj) {
            if !before.contains(&(path.clone(), name.clone())) {
                self.check_bind(w, &path, &name, "WorkspaceType").await?;
            }
        }
        Ok(())
    }

    /// Whether the writer may `bind` export `path:name` (an empty path: the written workspace);
    /// a refusal reads the same whether the export exists or not.
    async fn check_bind(&self, w: Write<'_>, path: &str, name: &str, kind: &str) -> Result<(), ApiError> {
        let path = match path {
            "" => tenancy::path_of(&w.api.store, w.cluster).await,
            p => p.to_string(),
        };
        let refused = || ApiError::new(Reason::Forbidden, format!("unable to create {kind}: no permission to bind to export {path}:{name}"));
        let Some(found) = self.global.find(GROUP, "apiexports", &path, name).await? else { return Err(refused()) };
        if !self.global.may(w.api, &w.req.user, "bind", GROUP, "apiexports", &found).await? {
            return Err(refused());
        }
        Ok(())
    }
}
