//! The export's APIBindings in its view, read-only: the provider sees which consumers bound
//! it and what they accepted, as kcp serves them, and nothing of other exports' bindings.

use std::sync::Arc;

use apimachinery::auth::UserInfo;
use apimachinery::registry::crd::ExportRef;
use apimachinery::registry::ResourceInfo;
use apimachinery::request::{ClusterTarget, RequestInfo, Verb};
use apimachinery::status::ApiError;
use apiserver::rest::body::Response;
use apiserver::rest::{Api, Visible};
use apiserver::server::phase::Req;
use serde_json::Value;

const GROUP: &str = "apis.kcp.io";

/// APIBindings at every version the shard serves them.
pub fn infos() -> Vec<ResourceInfo> {
    apimachinery::registry::builtin::builtins().iter().filter(|b| b.info.group == GROUP && b.info.plural == "apibindings").map(|b| b.info.clone()).collect()
}

/// Whether a binding (as served) is bound to `export`.
fn binds(binding: &Value, export: &ExportRef) -> bool {
    binding.pointer("/status/apiExportClusterName").and_then(Value::as_str) == Some(export.cluster.as_str())
        && binding.pointer("/spec/reference/export/name").and_then(Value::as_str) == Some(export.name.as_str())
}

/// Serves get, list and watch of the export's bindings; anything else is refused.
pub async fn serve(api: &Api, req: &mut Req, user: UserInfo, export: ExportRef, info: RequestInfo) -> Result<Response, ApiError> {
    if !matches!(info.verb, Verb::Get | Verb::List | Verb::Watch) || !info.subresource.is_empty() {
        return Err(ApiError::method_not_allowed(format!(
            "the server does not allow this method on the requested resource: {} of APIBindings through an export's view",
            info.verb
        )));
    }
    if let (ClusterTarget::Name(_), Verb::Get) = (&info.cluster, &info.verb) {
        // One binding: only one of this export's is there.
        let found =
            crate::read_object(api, &user, &info).await.filter(|b| binds(b, &export)).ok_or_else(|| ApiError::not_found(GROUP, "apibindings", &info.name))?;
        return Ok(apiserver::rest::body::json(200, &found));
    }
    let visible: Visible = Arc::new(move |b: &Value| binds(b, &export));
    crate::handle(api, req, user, info, Some(visible), None).await
}
