//! Reading objects out of storage for a request: one object, or a filtered, paginated
//! collection. What is done with them (JSON, Table, watch events) is the caller's business.

use base64::Engine;
use serde_json::Value;

use super::{Api, ApiRequest, Resolved, Visible};
use crate::storage::Stored;

use apimachinery::registry::StrategyRef;
use apimachinery::request::ClusterTarget;
use apimachinery::selector::{FieldSelector, LabelSelector};
use apimachinery::status::ApiError;

/// Label and field selectors of a list, watch or deletecollection.
pub struct Filter {
    label: LabelSelector,
    field: FieldSelector,
    strategy: StrategyRef,
    visible: Option<Visible>,
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
        Ok(Filter { label, field, strategy: r.strategy.clone(), visible: req.visible.clone() })
    }

    /// True when every object passes: no selector and no per-object visibility.
    pub fn keeps_everything(&self) -> bool {
        self.visible.is_none() && self.label.is_empty() && self.field.is_empty()
    }

    /// True when an object passes both selectors and the reader may see it.
    pub fn matches(&self, obj: &Value) -> bool {
        if self.visible.as_ref().is_some_and(|visible| !visible(obj)) {
            return false;
        }
        let empty = serde_json::Map::new();
        let labels = obj.pointer("/metadata/labels").and_then(Value::as_object).unwrap_or(&empty);
        self.label.matches(labels) && self.field.matches(|f| apimachinery::selector::field_value(obj, f, |l| self.strategy.field_label(l)))
    }
}

/// Reads one object and its revision, or 404 in kube's wording.
pub async fn load(api: &Api, r: &Resolved, cluster: &str, ns: &str, name: &str) -> Result<(Value, u64), ApiError> {
    let key = r.key(cluster, ns, name);
    match api.store.get(&key).await {
        Ok(stored) => Ok((r.present(&key, &stored.value, stored.revision)?, stored.revision)),
        Err(crate::storage::StorageError::NotFound { .. }) => Err(ApiError::not_found(&r.info.group, &r.info.plural, name)),
        Err(e) => Err(e.into()),
    }
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
pub struct Listed<T = Value> {
    /// The objects of the page, as served.
    pub items: Vec<T>,
    /// Storage revision the list is consistent at, its `resourceVersion`.
    pub revision: u64,
    /// Token for the next page (`metadata.continue`); `None` on the last page.
    pub continue_token: Option<String>,
}

/// Lists objects under the request's scope, filtered, honouring `limit` and `continue`.
pub async fn collect(api: &Api, req: &ApiRequest, r: &Resolved, filter: &Filter) -> Result<Listed, ApiError> {
    collect_with(api, req, r, |stored| {
        let obj = r.present(&stored.key, &stored.value, stored.revision)?;
        Ok(filter.matches(&obj).then_some(obj))
    })
    .await
}

/// Lists stored objects under the request's scope, honouring `limit` and `continue`; `keep`
/// turns each into an item, or drops it with `None`.
pub async fn collect_with<T>(
    api: &Api,
    req: &ApiRequest,
    r: &Resolved,
    mut keep: impl FnMut(&Stored) -> Result<Option<T>, ApiError>,
) -> Result<Listed<T>, ApiError> {
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
        let page = api.store.list(&prefix, start.as_deref(), want, first_rv).await?;
        first_rv.get_or_insert(page.revision);
        for stored in &page.items {
            items.extend(keep(stored)?);
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
