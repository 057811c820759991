//! LogicalClusterName: the LogicalCluster of a logical cluster is its singleton `cluster`.

use futures::future::BoxFuture;
use serde_json::Value;

use super::super::{object, AdmissionPlugin, Write};
use apimachinery::registry::kcpcore;
use apimachinery::status::{ApiError, FieldError};

/// Refuses a LogicalCluster named anything but `cluster`.
pub struct LogicalClusterName;

impl AdmissionPlugin for LogicalClusterName {
    fn admit<'a>(&'a self, w: Write<'a>, obj: &'a mut Value) -> BoxFuture<'a, Result<(), ApiError>> {
        Box::pin(async move {
            let name = object::meta_str(obj, "name");
            if !w.is(kcpcore::GROUP, "LogicalCluster") || name == "cluster" {
                return Ok(());
            }
            Err(ApiError::invalid(
                kcpcore::GROUP,
                "LogicalCluster",
                name,
                &[FieldError::invalid("metadata.name", name, "the LogicalCluster of a logical cluster must be named \"cluster\"")],
            ))
        })
    }
}
