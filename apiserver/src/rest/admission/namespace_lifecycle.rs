//! NamespaceLifecycle: no new content in a namespace that is being deleted.

use futures::future::BoxFuture;
use serde_json::Value;

use super::super::{object, AdmissionPlugin, Write};
use crate::storage::{Key, StorageError};
use apimachinery::status::ApiError;

/// Whether a stored namespace has been marked for deletion. Every namespaced create asks, so
/// only the namespace's metadata is parsed.
fn terminating(stored: &[u8]) -> Result<bool, serde_json::Error> {
    Ok(apimachinery::meta::StoredMeta::parse(stored)?.deleting())
}

/// Refuses creates in a terminating (or missing) namespace.
pub struct NamespaceLifecycle;

impl AdmissionPlugin for NamespaceLifecycle {
    fn admit<'a>(&'a self, w: Write<'a>, obj: &'a mut Value) -> BoxFuture<'a, Result<(), ApiError>> {
        Box::pin(async move {
            if w.old.is_some() || !w.resource.info.namespaced {
                return Ok(());
            }
            let namespace = &w.req.info.namespace;
            let key = Key { group: "", resource: "namespaces", cluster: w.cluster, namespace: "", name: namespace };
            let stored = match w.api.store.get(&key.encode()).await {
                Ok(stored) => stored,
                Err(StorageError::NotFound { .. }) => return Err(ApiError::not_found("", "namespaces", namespace)),
                Err(e) => return Err(e.into()),
            };
            if terminating(&stored.value).map_err(ApiError::internal)? {
                let info = &w.resource.info;
                let why = format!("unable to create new content in namespace {namespace} because it is being terminated");
                return Err(ApiError::forbidden_because(&info.group, &info.plural, object::meta_str(obj, "name"), &why));
            }
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::terminating;

    #[test]
    fn only_a_set_deletion_timestamp_means_terminating() {
        let deleting = br#"{"kind":"Namespace","metadata":{"name":"a","deletionTimestamp":"2026-12-04T17:00:00Z","finalizers":["x"]},"spec":{"finalizers":["kubernetes"]}}"#;
        assert!(terminating(deleting).expect("parse"));
        assert!(!terminating(br#"{"metadata":{"name":"a","deletionTimestamp":null}}"#).expect("parse"));
        assert!(!terminating(br#"{"metadata":{"name":"a","labels":{"x":"y"}},"status":{"phase":"Active"}}"#).expect("parse"));
        assert!(terminating(b"not json").is_err());
    }
}
