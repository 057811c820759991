//! get and list, with selectors, pagination and Table output.

use base64::Engine;
use serde_json::{json, Value};

use super::body::{self, Response, TABLE_CONTENT_TYPE};
use super::{cluster_of, object, ApiRequest, Api, Resolved};
use apimachinery::registry::{Strategy, StrategyRef};
use apimachinery::request::ClusterTarget;
use apimachinery::selector::{FieldSelector, LabelSelector};
use apimachinery::status::ApiError;
use apimachinery::table::{self, IncludeObject};

/// Label and field selectors of a list, watch or deletecollection.
pub struct Filter {
    label: LabelSelector,
    field: FieldSelector,
    strategy: StrategyRef,
}

impl Filter {
    /// Parses `labelSelector` and `fieldSelector`; unsupported field labels are a 400.
    pub fn from_request(req: &ApiRequest, r: &Resolved) -> Result<Filter, ApiError> {
        let ls = req.info.param("labelSelector").unwrap_or_default();
        let fs = req.info.param("fieldSelector").unwrap_or_default();
        let label = LabelSelector::parse(ls).map_err(|e| ApiError::bad_request(e.to_string()))?;
        let field = FieldSelector::parse(fs).map_err(|e| ApiError::bad_request(e.to_string()))?;
        let unset = serde_json::json!({});
        for f in field.requirements().iter().map(|r| r.field.as_str()) {
            if apimachinery::selector::field_value(&unset, f, |l| r.strategy.field_label(l)).is_none() {
                // kubectl adds the "Unable to find ... that match ..." context itself.
                return Err(ApiError::bad_request(format!("field label not supported: {f}")));
            }
        }
        Ok(Filter { label, field, strategy: r.strategy.clone() })
    }

    /// True when an object passes both selectors.
    pub fn matches(&self, obj: &Value) -> bool {
        let empty = serde_json::Map::new();
        let labels = obj.pointer("/metadata/labels").and_then(Value::as_object).unwrap_or(&empty);
        self.label.matches(labels)
            && self.field.matches(|f| apimachinery::selector::field_value(obj, f, |l| self.strategy.field_label(l)))
    }
}

/// GET of one object (or its status subresource).
pub async fn get(api: &Api, req: &ApiRequest, r: &Resolved) -> Result<Response, ApiError> {
    let cluster = cluster_of(req)?;
    let obj = load(api, r, cluster, &req.info.namespace, &req.info.name).await?.0;
    Ok(respond_object(req, r, 200, obj))
}

/// Reads one object and its revision, or 404 in kube's wording.
pub async fn load(api: &Api, r: &Resolved, cluster: &str, ns: &str, name: &str) -> Result<(Value, u64), ApiError> {
    let key = r.key(cluster, ns, name);
    match api.store.get(&key).await {
        Ok(stored) => Ok((r.present(&key, &stored.value, stored.revision)?, stored.revision)),
        Err(crate::storage::StorageError::NotFound { .. }) => Err(ApiError::not_found(&r.info.group, &r.info.plural, name)),
        Err(e) => Err(storage_error(e, r, name)),
    }
}

/// Maps a storage failure onto the Status a client expects.
pub fn storage_error(e: crate::storage::StorageError, r: &Resolved, name: &str) -> ApiError {
    use crate::storage::StorageError as S;
    match e {
        S::NotFound { .. } => ApiError::not_found(&r.info.group, &r.info.plural, name),
        S::AlreadyExists { .. } => ApiError::already_exists(&r.info.group, &r.info.plural, name),
        S::Conflict { .. } => ApiError::conflict(&r.info.group, &r.info.plural, name),
        S::Expired { requested, oldest } => ApiError::expired(requested, oldest),
        S::Unavailable(msg) => ApiError::internal(msg),
    }
}

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
        let t = render_table(&*r.strategy, std::slice::from_ref(&obj), include, &rv, None, true);
        return body::json_typed(code, &t, TABLE_CONTENT_TYPE);
    }
    body::json(code, &obj)
}

/// Renders objects as a `meta.k8s.io/v1` Table.
pub fn render_table(
    strategy: &dyn Strategy,
    objs: &[Value],
    include: IncludeObject,
    resource_version: &str,
    continue_token: Option<&str>,
    with_columns: bool,
) -> Value {
    let columns = strategy.columns();
    let now = jiff::Timestamp::now();
    let rows = objs
        .iter()
        .map(|o| (table::cells(&columns, &strategy.row(o, now), o, now), table::row_object(o, include)))
        .collect();
    let mut t = table::table(&columns, rows, resource_version, continue_token);
    if !with_columns {
        t["columnDefinitions"] = Value::Null;
    }
    t
}

/// Where the next page of a list starts.
#[derive(serde::Serialize, serde::Deserialize)]
struct ContinueToken {
    /// Last key returned.
    k: String,
    /// Revision of the first page.
    rv: u64,
}

fn decode_continue(token: &str) -> Result<ContinueToken, ApiError> {
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(token)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .ok_or_else(|| ApiError::bad_request("continue key is not valid: illegal base64 or JSON"))
}

fn encode_continue(t: &ContinueToken) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(serde_json::to_vec(t).unwrap_or_default())
}

/// One page of matching objects.
pub struct Listed {
    pub items: Vec<Value>,
    pub revision: u64,
    pub continue_token: Option<String>,
}

/// Lists objects under the request's scope, filtered, honouring `limit` and `continue`.
pub async fn collect(api: &Api, req: &ApiRequest, r: &Resolved, filter: &Filter) -> Result<Listed, ApiError> {
    let cluster = match &req.info.cluster {
        ClusterTarget::Name(c) => Some(c.as_str()),
        _ => None,
    };
    let prefix = r.prefix(cluster, &req.info.namespace);
    let limit: usize = match req.info.param("limit") {
        None | Some("") => 0,
        Some(l) => l.parse().map_err(|_| ApiError::bad_request(format!("invalid limit {l:?}")))?,
    };
    let (mut start, mut first_rv) = match req.info.param("continue") {
        Some(t) if !t.is_empty() => {
            let c = decode_continue(t)?;
            if !c.k.starts_with(&prefix) {
                return Err(ApiError::bad_request("continue key is not valid: it does not belong to this list"));
            }
            (Some(c.k), Some(c.rv))
        }
        _ => (None, None),
    };
    let mut items = Vec::new();
    loop {
        let want = if limit == 0 { 0 } else { (limit - items.len()).max(1) };
        let page = api.store.list(&prefix, start.as_deref(), want).await.map_err(|e| storage_error(e, r, ""))?;
        first_rv.get_or_insert(page.revision);
        for s in &page.items {
            let obj = r.present(&s.key, &s.value, s.revision)?;
            if filter.matches(&obj) {
                items.push(obj);
            }
        }
        match page.more_after {
            Some(last) if limit == 0 || items.len() < limit => start = Some(last),
            Some(last) => {
                let rv = first_rv.unwrap_or(page.revision);
                return Ok(Listed { items, revision: rv, continue_token: Some(encode_continue(&ContinueToken { k: last, rv })) });
            }
            None => return Ok(Listed { items, revision: first_rv.unwrap_or(page.revision), continue_token: None }),
        }
    }
}

/// LIST: a `<Kind>List` or a Table.
pub async fn list(api: &Api, req: &ApiRequest, r: &Resolved) -> Result<Response, ApiError> {
    let filter = Filter::from_request(req, r)?;
    let listed = collect(api, req, r, &filter).await?;
    let rv = listed.revision.to_string();
    if body::wants_table(req.header("accept")) {
        let include = include_object(req)?;
        let t = render_table(&*r.strategy, &listed.items, include, &rv, listed.continue_token.as_deref(), true);
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
