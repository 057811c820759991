//! `v1` ServiceAccount, with its `token` subresource (TokenRequest).

use k8s_openapi::api::core::v1 as api;
use serde_json::{json, Value};

use crate::patch::{KindLists, ListRule, ListType};
use crate::protobuf::{self, Fields};
use crate::registry::strategy::{Definition, Strategy};
use crate::registry::ResourceInfo;
use crate::table::cell::{column, columns_with_age, count, doc, row_with_age};
use crate::table::{Column, Row};

const DEFINITION: Definition =
    Definition { short_names: &["sa"], subresources: &["token"], ..Definition::stored("", "v1", "ServiceAccount", "serviceaccounts", true) };

/// The ServiceAccount strategy.
pub struct ServiceAccount;

impl Strategy for ServiceAccount {
    fn info(&self) -> ResourceInfo {
        DEFINITION.info()
    }

    fn columns(&self) -> Vec<Column> {
        columns_with_age(vec![column("Secrets", "string", doc::<api::ServiceAccount>("secrets"), 0)])
    }

    fn row(&self, obj: &Value, now: jiff::Timestamp) -> Row {
        row_with_age(obj, now, vec![("Secrets", json!(count(obj, "secrets")))])
    }

    fn lists(&self) -> KindLists<'static> {
        &[("secrets", ListRule { smp: ListType::Map("name"), ssa: ListType::Map("name") })]
    }

    fn decode_protobuf(&self, raw: &[u8]) -> Option<Fields> {
        Some(protobuf::message(DEFINITION.kind, raw, protobuf::core::service_account))
    }
}
