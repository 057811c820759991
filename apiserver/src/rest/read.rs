//! get and list, with selectors, pagination and Table output.

use serde_json::json;

use super::body::{self, Response, TABLE_CONTENT_TYPE};
use super::load::{collect, load, Filter};
use super::render::{include_object, render_table, respond_object};
use super::{cluster_of, Api, ApiRequest, Resolved};
use apimachinery::status::ApiError;

/// GET of one object (or its status subresource).
pub async fn get(api: &Api, req: &ApiRequest, r: &Resolved) -> Result<Response, ApiError> {
    let cluster = cluster_of(req)?;
    let obj = load(api, r, cluster, &req.info.namespace, &req.info.name).await?.0;
    Ok(respond_object(req, r, 200, obj))
}

/// LIST: a `<Kind>List` or a Table.
pub async fn list(api: &Api, req: &ApiRequest, r: &Resolved) -> Result<Response, ApiError> {
    let filter = Filter::from_request(req, r)?;
    let listed = collect(api, req, r, &filter).await?;
    let rv = listed.revision.to_string();
    if body::wants_table(req.header("accept")) {
        let include = include_object(req)?;
        let t = render_table(r, &listed.items, include, &rv, listed.continue_token.as_deref(), true);
        return Ok(body::json_typed(200, &t, TABLE_CONTENT_TYPE));
    }
    let mut meta = json!({"resourceVersion": rv});
    if let Some(c) = &listed.continue_token {
        meta["continue"] = json!(c);
    }
    let list = json!({
        "kind": r.info.list_kind,
        "apiVersion": r.info.api_version(),
        "metadata": meta,
        "items": listed.items,
    });
    Ok(body::json(200, &list))
}
