//! `coordination.k8s.io/v1` Lease.

use k8s_openapi::api::coordination::v1::LeaseSpec;
use serde_json::Value;

use crate::protobuf::{self, Fields};
use crate::registry::strategy::{Definition, Strategy};
use crate::registry::ResourceInfo;
use crate::status::FieldError;
use crate::table::cell::{column, columns_with_age, doc, row_with_age, text};
use crate::table::{Column, Row};
use crate::validation;

const DEFINITION: Definition = Definition::stored("coordination.k8s.io", "v1", "Lease", "leases", true);

/// The Lease strategy.
pub struct Lease;

impl Strategy for Lease {
    fn info(&self) -> ResourceInfo {
        DEFINITION.info()
    }

    fn validate(&self, obj: &Value, _old: Option<&Value>) -> Vec<FieldError> {
        validation::core::lease(obj)
    }

    fn columns(&self) -> Vec<Column> {
        columns_with_age(vec![column("Holder", "string", doc::<LeaseSpec>("holderIdentity"), 0)])
    }

    fn row(&self, obj: &Value, now: jiff::Timestamp) -> Row {
        row_with_age(obj, now, vec![("Holder", text(obj, &["spec", "holderIdentity"]).into())])
    }

    fn decode_protobuf(&self, raw: &[u8]) -> Option<Fields> {
        Some(protobuf::message(DEFINITION.kind, raw, protobuf::core::lease))
    }
}
