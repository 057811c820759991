//! Server-side printing: the `meta.k8s.io/v1` `Table` that `kubectl get` asks for.
//!
//! kubectl prints Table cells verbatim (it never humanises dates), so the server must compute
//! what kube-apiserver computes: the cells each kind's strategy prints (built from [`cell`]),
//! JSONPath columns ([`jsonpath`]) and kube's `HumanDuration` ages. Columns and cells are separate calls
//! so a list computes its columns once and a watch can send one-row tables with the same code.

pub mod cell;
mod jsonpath;

use serde_json::{json, Value};

/// A printer column, as `additionalPrinterColumns` or a built-in type's `kubectl get` output.
#[derive(Debug, Clone, PartialEq)]
pub struct Column {
    /// Column header (`Age`, `Data`).
    pub name: String,
    /// `string`, `integer`, `number`, `boolean` or `date`.
    pub type_: String,
    /// Format hint for the type (`name` marks the name column); usually empty.
    pub format: String,
    /// What the column shows.
    pub description: String,
    /// 0 shows the column always; higher only with `-o wide`.
    pub priority: i32,
    /// JSONPath into the object (`.spec.size`); empty for computed built-in columns.
    pub json_path: String,
}

/// Printed cells keyed by column name; a kind's printer yields one per column it knows.
pub type Row = Vec<(&'static str, Value)>;

/// What each row's `object` carries (`?includeObject=`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum IncludeObject {
    /// No object (`null`).
    None,
    /// A `PartialObjectMetadata`: what `-A` and `--show-labels` read. kube's default.
    #[default]
    Metadata,
    /// The full object, which `--sort-by` needs.
    Object,
}

/// A Table request kube-apiserver would reject with 400.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TableError {
    /// `includeObject` is not `None`, `Metadata` or `Object`.
    #[error("unrecognized includeObject value: {0:?}")]
    IncludeObject(String),
}

impl IncludeObject {
    /// Reads the `includeObject` query parameter; absent or empty means `Metadata`.
    pub fn parse(value: Option<&str>) -> Result<Self, TableError> {
        match value.unwrap_or("") {
            "" | "Metadata" => Ok(IncludeObject::Metadata),
            "None" => Ok(IncludeObject::None),
            "Object" => Ok(IncludeObject::Object),
            other => Err(TableError::IncludeObject(other.to_string())),
        }
    }
}

/// The first column of every table: the object name, with kubectl's `name` format.
pub fn name_column() -> Column {
    Column {
        name: "Name".to_string(),
        type_: "string".to_string(),
        format: "name".to_string(),
        description: cell::doc::<k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta>("name"),
        priority: 0,
        json_path: String::new(),
    }
}

/// kube's default table convertor: `Name` and `Created At`.
pub fn default_columns() -> Vec<Column> {
    vec![name_column(), cell::column("Created At", "date", cell::doc::<k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta>("creationTimestamp"), 0)]
}

/// The row of [`default_columns`].
pub fn default_row(obj: &Value) -> Row {
    // The default convertor prints the timestamp itself; kubectl shows it raw.
    let created = timestamp(obj, &["metadata", "creationTimestamp"])
        .map(|t| t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string())
        .unwrap_or_else(|| "0001-01-01T00:00:00Z".to_string());
    vec![("Name", cell::name_cell(obj)), ("Created At", created.into())]
}

/// The columns of a CRD version: `Name`, then its `additionalPrinterColumns`, or an `Age`
/// column (date of `.metadata.creationTimestamp`) when it declares none, as apiextensions does.
pub fn crd_columns(additional: &[Column]) -> Vec<Column> {
    let mut columns = vec![name_column()];
    if additional.is_empty() {
        columns.push(Column {
            name: "Age".to_string(),
            type_: "date".to_string(),
            format: String::new(),
            description: cell::doc::<k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta>("creationTimestamp"),
            priority: 0,
            json_path: ".metadata.creationTimestamp".to_string(),
        });
    } else {
        columns.extend_from_slice(additional);
    }
    columns
}

/// One row's cells, one per column: JSONPath columns are evaluated (dates become ages), the
/// others take the printed `row`'s cell of the same name, or `null` if it has none.
pub fn cells(columns: &[Column], row: &[(&str, Value)], obj: &Value, now: jiff::Timestamp) -> Vec<Value> {
    columns
        .iter()
        .map(|c| {
            if c.json_path.is_empty() {
                row.iter().find(|(name, _)| *name == c.name).map_or(Value::Null, |(_, v)| v.clone())
            } else {
                jsonpath::first(&c.json_path, obj).map_or(Value::Null, |v| jsonpath::cell(&c.type_, v, now))
            }
        })
        .collect()
}

/// kube's `duration.HumanDuration` of `now - since`: `59s`, `5m30s`, `3h12m`, `2d3h`, `2y40d`.
pub fn human_age(since: jiff::Timestamp, now: jiff::Timestamp) -> String {
    let seconds = now.duration_since(since).as_secs();
    // Up to a second in the future is clock skew, not an error.
    if seconds < -1 {
        return "<invalid>".to_string();
    }
    if seconds < 0 {
        return "0s".to_string();
    }
    if seconds < 120 {
        return format!("{seconds}s");
    }
    let minutes = seconds / 60;
    if minutes < 10 {
        return match seconds % 60 {
            0 => format!("{minutes}m"),
            s => format!("{minutes}m{s}s"),
        };
    }
    if minutes < 180 {
        return format!("{minutes}m");
    }
    let hours = minutes / 60;
    let (days, years) = (hours / 24, hours / 24 / 365);
    match hours {
        h if h < 8 => match minutes % 60 {
            0 => format!("{h}h"),
            m => format!("{h}h{m}m"),
        },
        h if h < 48 => format!("{h}h"),
        h if h < 24 * 8 => match h % 24 {
            0 => format!("{days}d"),
            rem => format!("{days}d{rem}h"),
        },
        h if h < 24 * 365 * 2 => format!("{days}d"),
        h if h < 24 * 365 * 8 => match days % 365 {
            0 => format!("{years}y"),
            d => format!("{years}y{d}d"),
        },
        _ => format!("{years}y"),
    }
}

/// An age cell: `<unknown>` for a missing or zero timestamp, like kube's `translateTimestampSince`.
pub fn age(since: Option<jiff::Timestamp>, now: jiff::Timestamp) -> String {
    // Go's zero time.Time, which is what an unset timestamp decodes to.
    const ZERO_SECONDS: i64 = -62_135_596_800;
    match since.filter(|t| t.as_second() != ZERO_SECONDS) {
        Some(t) => human_age(t, now),
        None => "<unknown>".to_string(),
    }
}

/// The RFC 3339 timestamp at `path` in `obj`, if present and valid.
pub fn timestamp(obj: &Value, path: &[&str]) -> Option<jiff::Timestamp> {
    path.iter().try_fold(obj, |v, key| v.get(*key))?.as_str()?.parse().ok()
}

/// The row `object` for `include`; metadata drops `managedFields`, which nothing prints.
pub fn row_object(obj: &Value, include: IncludeObject) -> Value {
    match include {
        IncludeObject::None => Value::Null,
        IncludeObject::Object => obj.clone(),
        IncludeObject::Metadata => {
            let mut metadata = obj.get("metadata").cloned().unwrap_or_else(|| json!({}));
            if let Some(m) = metadata.as_object_mut() {
                m.remove("managedFields");
            }
            json!({"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": metadata})
        }
    }
}

/// A `Table` of `rows` (cells and row object each); a watch event sends a one-row table.
pub fn table(columns: &[Column], rows: Vec<(Vec<Value>, Value)>, resource_version: &str, continue_token: Option<&str>) -> Value {
    let mut metadata = json!({"resourceVersion": resource_version});
    if let Some(token) = continue_token.filter(|t| !t.is_empty()) {
        metadata["continue"] = json!(token);
    }
    let definitions: Vec<Value> =
        columns.iter().map(|c| json!({"name": c.name, "type": c.type_, "format": c.format, "description": c.description, "priority": c.priority})).collect();
    let rows: Vec<Value> = rows.into_iter().map(|(cells, object)| json!({"cells": cells, "object": object})).collect();
    json!({
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": metadata,
        "columnDefinitions": definitions,
        "rows": rows,
    })
}

#[cfg(test)]
mod tests;
