//! Building blocks of kube's printers: columns with kube's descriptions and the cell values
//! they hold, for the per-kind strategies to compose.
//!
//! A printer row carries every cell (wide ones included: the server always sends them and
//! kubectl hides `priority > 0`) keyed by column name, so callers may pass any column list and
//! still get one cell per column. Descriptions come from the k8s-openapi schemas, which carry
//! kube's own field docs.

use super::{age, timestamp, Column};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use schemars::JsonSchema;
use serde_json::Value;

/// The description kube attaches to `T`'s `field` (its `SwaggerDoc`, same text as OpenAPI).
pub fn doc<T: JsonSchema>(field: &str) -> String {
    let schema = schemars::SchemaGenerator::default().into_root_schema_for::<T>();
    let pointer = format!("/properties/{field}/description");
    schema.pointer(&pointer).and_then(Value::as_str).unwrap_or_default().to_string()
}

/// A computed (non-JSONPath) column.
pub fn column(name: &str, type_: &str, description: String, priority: i32) -> Column {
    Column { name: name.to_string(), type_: type_.to_string(), format: String::new(), description, priority, json_path: String::new() }
}

/// kube's `Age` column of the built-in printers.
pub fn age_column() -> Column {
    column("Age", "string", doc::<ObjectMeta>("creationTimestamp"), 0)
}

/// A JSONPath column, as a CRD's `additionalPrinterColumns` declares one.
pub fn crd_column(name: &str, type_: &str, description: &str, json_path: &str) -> Column {
    Column { json_path: json_path.to_string(), ..column(name, type_, description.to_string(), 0) }
}

/// The string at `path`, or "" like Go's zero value.
pub fn text<'a>(obj: &'a Value, path: &[&str]) -> &'a str {
    path.iter().try_fold(obj, |v, key| v.get(*key)).and_then(Value::as_str).unwrap_or("")
}

/// How many entries the map or list at `key` has.
pub fn count(obj: &Value, key: &str) -> usize {
    match obj.get(key) {
        Some(Value::Object(m)) => m.len(),
        Some(Value::Array(a)) => a.len(),
        _ => 0,
    }
}

/// The `Age` cell of an object.
pub fn creation_age(obj: &Value, now: jiff::Timestamp) -> Value {
    Value::from(age(timestamp(obj, &["metadata", "creationTimestamp"]), now))
}

/// The `Name` cell of an object.
pub fn name_cell(obj: &Value) -> Value {
    Value::from(text(obj, &["metadata", "name"]))
}

/// kube's usual column set: `Name`, the kind's own columns, then `Age`.
pub fn columns_with_age(own: Vec<Column>) -> Vec<Column> {
    let mut columns = vec![super::name_column()];
    columns.extend(own);
    columns.push(age_column());
    columns
}

/// The row of [`columns_with_age`]: the `Name` and `Age` cells and the kind's own.
pub fn row_with_age(obj: &Value, now: jiff::Timestamp, own: Vec<(&'static str, Value)>) -> super::Row {
    let mut row = vec![("Name", name_cell(obj)), ("Age", creation_age(obj, now))];
    row.extend(own);
    row
}

/// The row of a kind whose other columns are all JSONPath columns.
pub fn name_row(obj: &Value) -> super::Row {
    vec![("Name", name_cell(obj))]
}
