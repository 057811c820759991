//! SchemaInUse: an APIResourceSchema an APIExport of its workspace offers cannot be deleted,
//! since the export (and every binding to it) would lose the definition of what it serves.

use futures::future::BoxFuture;
use serde_json::Value;

use super::super::{object, AdmissionPlugin, Write};
use crate::storage::key::cluster_prefix;
use apimachinery::registry::apis::GROUP;
use apimachinery::status::ApiError;

/// Refuses to delete an APIResourceSchema named in `spec.resources[].schema` of an APIExport.
pub struct SchemaInUse;

impl AdmissionPlugin for SchemaInUse {
    fn admit<'a>(&'a self, _w: Write<'a>, _obj: &'a mut Value) -> BoxFuture<'a, Result<(), ApiError>> {
        Box::pin(async { Ok(()) })
    }

    fn admit_delete<'a>(&'a self, w: Write<'a>, obj: &'a Value) -> BoxFuture<'a, Result<(), ApiError>> {
        Box::pin(async move {
            if !w.is(GROUP, "APIResourceSchema") {
                return Ok(());
            }
            let name = object::meta_str(obj, "name");
            // Exports are stored at v1alpha2, whose resources name their schemas.
            let exports = w.api.store.list(&cluster_prefix(GROUP, "apiexports", w.cluster), None, 0, None).await?;
            let users: Vec<String> = exports
                .items
                .iter()
                .filter_map(|s| serde_json::from_slice::<Value>(&s.value).ok())
                .filter(|e| e.pointer("/spec/resources").and_then(Value::as_array).is_some_and(|rs| rs.iter().any(|r| r["schema"] == name)))
                .map(|e| object::meta_str(&e, "name").to_string())
                .collect();
            if users.is_empty() {
                return Ok(());
            }
            Err(ApiError::conflict_msg(GROUP, "apiresourceschemas", name, &format!("APIResourceSchema is in use by APIExport(s) {}", users.join(", "))))
        })
    }
}
