//! Rendering objects for a response: the object itself, or kube's Table when asked for.

use serde_json::Value;

use super::body::{self, Response, TABLE_CONTENT_TYPE};
use super::{object, ApiRequest, Resolved};
use apimachinery::registry::Strategy;
use apimachinery::status::ApiError;
use apimachinery::table::{self, IncludeObject};

/// The `includeObject` parameter; an unknown value is a 400.
pub fn include_object(req: &ApiRequest) -> Result<IncludeObject, ApiError> {
    IncludeObject::parse(req.info.param("includeObject")).map_err(|e| ApiError::bad_request(e.to_string()))
}

/// An object response: a one-row Table when asked for, the object otherwise (an unknown
/// `includeObject` falls back to metadata here; lists and watches reject it).
pub fn respond_object(req: &ApiRequest, r: &Resolved, code: u16, obj: Value) -> Response {
    if body::wants_table(req.header("accept")) {
        let include = include_object(req).unwrap_or(IncludeObject::Metadata);
        let rv = object::meta_str(&obj, "resourceVersion").to_string();
        let t = render_table(r, std::slice::from_ref(&obj), include, &rv, None, true);
        return body::json_typed(code, &t, TABLE_CONTENT_TYPE);
    }
    body::json(code, &obj)
}

/// Renders objects of `r` as a `meta.k8s.io/v1` Table, with the columns of the version served.
pub fn render_table(r: &Resolved, objs: &[Value], include: IncludeObject, resource_version: &str, continue_token: Option<&str>, with_columns: bool) -> Value {
    let strategy: &dyn Strategy = &*r.strategy;
    let columns = strategy.columns_at(&r.info.version);
    let now = jiff::Timestamp::now();
    let rows = objs.iter().map(|o| (table::cells(&columns, &strategy.row(o, now), o, now), table::row_object(o, include))).collect();
    let mut t = table::table(&columns, rows, resource_version, continue_token);
    if !with_columns {
        t["columnDefinitions"] = Value::Null;
    }
    t
}
