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
            let name = export["name"].as_str().unwrap_or_default();
            let path = match export["path"].as_str().filter(|p| !p.is_empty()) {
                Some(p) => p.to_string(),
                None => tenancy::path_of(&w.api.store, w.cluster).await,
            };
            let refused = || ApiError::new(Reason::Forbidden, format!("unable to create APIBinding: no permission to bind to export {path}:{name}"));
            let Some(found) = self.global.find(GROUP, "apiexports", &path, name).await? else { return Err(refused()) };
            if !self.global.may(w.api, &w.req.user, "bind", GROUP, "apiexports", &found).await? {
                return Err(refused());
            }
            Ok(())
        })
    }
}
