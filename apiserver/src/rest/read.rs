//! get and list, with selectors, pagination and Table output.

use serde_json::json;

use super::body::{self, Response, TABLE_CONTENT_TYPE};
use super::load::{collect, collect_with, load, Filter, Listed};
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
    let table = body::wants_table(req.header("accept"));
    if !table && filter.keeps_everything() {
        // Nothing needs the objects as trees: copy them from storage as they are served.
        // The items go into one buffer as they are read, comma-separated.
        let mut items = Vec::new();
        let listed = collect_with(api, req, r, |stored| {
            if !items.is_empty() {
                items.push(b',');
            }
            r.present_encoded(&api.served, stored, &mut items).map(Some)
        })
        .await?;
        let mut out = serde_json::to_vec(&list_head(r, &listed)).map_err(ApiError::internal)?;
        out.pop();
        out.reserve(items.len() + 12);
        out.extend_from_slice(b",\"items\":[");
        out.extend_from_slice(&items);
        out.extend_from_slice(b"]}");
        return Ok(body::json_bytes(200, out, "application/json"));
    }
    let listed = collect(api, req, r, &filter).await?;
    if table {
        let include = include_object(req)?;
        let t = render_table(r, &listed.items, include, &listed.revision.to_string(), listed.continue_token.as_deref(), true);
        return Ok(body::json_typed(200, &t, TABLE_CONTENT_TYPE));
    }
    let mut list = list_head(r, &listed);
    list["items"] = json!(listed.items);
    Ok(body::json(200, &list))
}

/// A `<Kind>List` without its items: kind, apiVersion, and metadata with the revision and
/// the next page's token.
fn list_head<T>(r: &Resolved, listed: &Listed<T>) -> serde_json::Value {
    let mut meta = json!({"resourceVersion": listed.revision.to_string()});
    if let Some(c) = &listed.continue_token {
        meta["continue"] = json!(c);
    }
    json!({"kind": r.info.list_kind, "apiVersion": r.info.api_version(), "metadata": meta})
}
