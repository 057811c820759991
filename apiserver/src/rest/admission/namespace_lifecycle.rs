//! NamespaceLifecycle: no new content in a namespace that is being deleted.

use futures::future::BoxFuture;
use serde_json::Value;

use super::super::load::load;
use super::super::{object, AdmissionPlugin, Resolved, Write};
use apimachinery::registry::builtin;
use apimachinery::status::{ApiError, Reason};

/// Refuses creates in a terminating (or missing) namespace.
pub struct NamespaceLifecycle;

impl AdmissionPlugin for NamespaceLifecycle {
    fn admit<'a>(&'a self, w: Write<'a>, _obj: &'a mut Value) -> BoxFuture<'a, Result<(), ApiError>> {
        Box::pin(async move {
            if w.old.is_some() || !w.resource.info.namespaced {
                return Ok(());
            }
            let Some(ns) = builtin::find("", "v1", "namespaces").map(Resolved::builtin) else { return Ok(()) };
            let namespace = &w.req.info.namespace;
            let (obj, _) = load(w.api, &ns, w.cluster, "", namespace).await?;
            if object::is_deleting(&obj) {
                return Err(ApiError::new(Reason::Forbidden, format!("unable to create new content in namespace {namespace} because it is being terminated")));
            }
            Ok(())
        })
    }
}
