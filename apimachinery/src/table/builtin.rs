//! Column sets and rows of the built-in kinds, as kube-apiserver's printers produce them.
//!
//! Each `*_row` mirrors one of kube's `print*` functions and yields every cell (wide ones
//! included: the server always sends them and kubectl hides `priority > 0`). Rows are keyed by
//! column name so callers may pass any column list and still get one cell per column.
//! Descriptions come from the k8s-openapi schemas, which carry kube's own field docs.

use super::{age, crd_columns, name_column, timestamp};
use crate::registry::Column;
use k8s_openapi::api::coordination::v1::LeaseSpec;
use k8s_openapi::api::core::v1::{ConfigMap, Event, ObjectReference, Secret, ServiceAccount};
use k8s_openapi::api::rbac::v1::RoleBinding;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use schemars::JsonSchema;
use serde_json::{json, Value};

/// Which kube printer handles a kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Printer {
    Namespace,
    ConfigMap,
    Secret,
    ServiceAccount,
    /// `events_api` is `events.k8s.io`, printed through the same core printer after conversion.
    Event { events_api: bool },
    ResourceQuota,
    RoleBinding,
    ClusterRoleBinding,
    Lease,
    LogicalCluster,
    Shard,
    Workspace,
    /// Name and `Created At`, kube's default table convertor.
    Default,
}

impl Printer {
    pub(super) fn of(group: &str, kind: &str) -> Self {
        match (group, kind) {
            ("", "Namespace") => Printer::Namespace,
            ("", "ConfigMap") => Printer::ConfigMap,
            ("", "Secret") => Printer::Secret,
            ("", "ServiceAccount") => Printer::ServiceAccount,
            ("", "Event") => Printer::Event { events_api: false },
            ("events.k8s.io", "Event") => Printer::Event { events_api: true },
            ("", "ResourceQuota") => Printer::ResourceQuota,
            ("rbac.authorization.k8s.io", "RoleBinding") => Printer::RoleBinding,
            ("rbac.authorization.k8s.io", "ClusterRoleBinding") => Printer::ClusterRoleBinding,
            ("coordination.k8s.io", "Lease") => Printer::Lease,
            ("core.kcp.io", "LogicalCluster") => Printer::LogicalCluster,
            ("core.kcp.io", "Shard") => Printer::Shard,
            ("tenancy.kcp.io", "Workspace") => Printer::Workspace,
            _ => Printer::Default,
        }
    }
}

/// The description kube attaches to `T`'s `field` (its `SwaggerDoc`, same text as OpenAPI).
pub(super) fn doc<T: JsonSchema>(field: &str) -> String {
    let schema = schemars::SchemaGenerator::default().into_root_schema_for::<T>();
    let pointer = format!("/properties/{field}/description");
    schema.pointer(&pointer).and_then(Value::as_str).unwrap_or_default().to_string()
}

fn column(name: &str, type_: &str, description: String, priority: i32) -> Column {
    Column {
        name: name.to_string(),
        type_: type_.to_string(),
        format: String::new(),
        description,
        priority,
        json_path: String::new(),
    }
}

fn age_column() -> Column {
    column("Age", "string", doc::<ObjectMeta>("creationTimestamp"), 0)
}

fn binding_columns(what: &str) -> Vec<Column> {
    vec![
        name_column(),
        column("Role", "string", doc::<RoleBinding>("roleRef"), 0),
        age_column(),
        column("Users", "string", format!("Users in the {what}"), 1),
        column("Groups", "string", format!("Groups in the {what}"), 1),
        column("ServiceAccounts", "string", format!("ServiceAccounts in the {what}"), 1),
    ]
}

fn crd_column(name: &str, type_: &str, description: &str, json_path: &str) -> Column {
    Column { json_path: json_path.to_string(), ..column(name, type_, description.to_string(), 0) }
}

/// The columns kube-apiserver sends for a built-in kind (kube 1.32).
pub(super) fn columns(printer: Printer) -> Vec<Column> {
    match printer {
        Printer::Namespace => {
            vec![name_column(), column("Status", "string", "The status of the namespace".into(), 0), age_column()]
        }
        Printer::ConfigMap => vec![name_column(), column("Data", "string", doc::<ConfigMap>("data"), 0), age_column()],
        Printer::Secret => vec![
            name_column(),
            column("Type", "string", doc::<Secret>("type"), 0),
            column("Data", "string", doc::<Secret>("data"), 0),
            age_column(),
        ],
        Printer::ServiceAccount => {
            vec![name_column(), column("Secrets", "string", doc::<ServiceAccount>("secrets"), 0), age_column()]
        }
        Printer::Event { .. } => vec![
            column("Last Seen", "string", doc::<Event>("lastTimestamp"), 0),
            column("Type", "string", doc::<Event>("type"), 0),
            column("Reason", "string", doc::<Event>("reason"), 0),
            column("Object", "string", doc::<Event>("involvedObject"), 0),
            column("Subobject", "string", doc::<ObjectReference>("fieldPath"), 1),
            column("Source", "string", doc::<Event>("source"), 1),
            column("Message", "string", doc::<Event>("message"), 0),
            column("First Seen", "string", doc::<Event>("firstTimestamp"), 1),
            column("Count", "string", doc::<Event>("count"), 1),
            Column { priority: 1, ..name_column() },
        ],
        // kube 1.32 order; Age moved last only in 1.33.
        Printer::ResourceQuota => vec![
            name_column(),
            age_column(),
            column("Request", "string", "Request represents a minimum amount of cpu/memory that a container may consume.".into(), 0),
            column("Limit", "string", "Limits control the maximum amount of cpu/memory that a container may use independent of contention on the node.".into(), 0),
        ],
        Printer::RoleBinding => binding_columns("roleBinding"),
        Printer::ClusterRoleBinding => binding_columns("clusterRoleBinding"),
        Printer::Lease => vec![name_column(), column("Holder", "string", doc::<LeaseSpec>("holderIdentity"), 0), age_column()],
        // kcp's CRD for LogicalCluster declares these printer columns.
        Printer::LogicalCluster => crd_columns(&[
            crd_column("Phase", "string", "The current phase (e.g. Scheduling, Initializing, Ready, Deleting)", ".status.phase"),
            crd_column("URL", "string", "URL to access the logical cluster", ".status.URL"),
            crd_column("Age", "date", "", ".metadata.creationTimestamp"),
        ]),
        // kcp's CRD for Shard declares these printer columns.
        Printer::Shard => crd_columns(&[
            crd_column("Region", "string", "The region this shard is in", ".metadata.labels.region"),
            crd_column("URL", "string", "Type URL to directly connect to the shard", ".spec.baseURL"),
            crd_column("External URL", "string", "The URL clients use to reach workspaces on this shard", ".spec.externalURL"),
            crd_column("Age", "date", "", ".metadata.creationTimestamp"),
        ]),
        // kcp's Workspace columns, evaluated by JSONPath like a CRD's.
        Printer::Workspace => crd_columns(&[
            crd_column("Type", "string", "Type of the workspace", ".spec.type.name"),
            crd_column("Phase", "string", "The current phase (e.g. Scheduling, Initializing, Ready)", ".status.phase"),
            crd_column("URL", "string", "URL to access the workspace", ".spec.URL"),
            crd_column("Age", "date", "", ".metadata.creationTimestamp"),
        ]),
        Printer::Default => vec![name_column(), column("Created At", "date", doc::<ObjectMeta>("creationTimestamp"), 0)],
    }
}

fn text<'a>(obj: &'a Value, path: &[&str]) -> &'a str {
    path.iter().try_fold(obj, |v, key| v.get(*key)).and_then(Value::as_str).unwrap_or("")
}

fn count(obj: &Value, key: &str) -> usize {
    match obj.get(key) {
        Some(Value::Object(m)) => m.len(),
        Some(Value::Array(a)) => a.len(),
        _ => 0,
    }
}

fn creation_age(obj: &Value, now: jiff::Timestamp) -> Value {
    Value::from(age(timestamp(obj, &["metadata", "creationTimestamp"]), now))
}

/// Every cell kube prints for `obj`, keyed by column name.
pub(super) fn row(printer: Printer, obj: &Value, now: jiff::Timestamp) -> Vec<(&'static str, Value)> {
    let name = Value::from(text(obj, &["metadata", "name"]));
    match printer {
        Printer::Namespace => vec![
            ("Name", name),
            ("Status", text(obj, &["status", "phase"]).into()),
            ("Age", creation_age(obj, now)),
        ],
        Printer::ConfigMap => vec![
            ("Name", name),
            ("Data", json!(count(obj, "data") + count(obj, "binaryData"))),
            ("Age", creation_age(obj, now)),
        ],
        Printer::Secret => vec![
            ("Name", name),
            ("Type", text(obj, &["type"]).into()),
            ("Data", json!(count(obj, "data"))),
            ("Age", creation_age(obj, now)),
        ],
        Printer::ServiceAccount => {
            vec![("Name", name), ("Secrets", json!(count(obj, "secrets"))), ("Age", creation_age(obj, now))]
        }
        Printer::Event { events_api } => event_row(obj, events_api, name, now),
        Printer::ResourceQuota => {
            let (request, limit) = quota_usage(obj);
            vec![("Name", name), ("Age", creation_age(obj, now)), ("Request", request.into()), ("Limit", limit.into())]
        }
        Printer::RoleBinding | Printer::ClusterRoleBinding => {
            let role = format!("{}/{}", text(obj, &["roleRef", "kind"]), text(obj, &["roleRef", "name"]));
            let (users, groups, sas) = subjects(obj);
            vec![
                ("Name", name),
                ("Role", role.into()),
                ("Age", creation_age(obj, now)),
                ("Users", users.into()),
                ("Groups", groups.into()),
                ("ServiceAccounts", sas.into()),
            ]
        }
        Printer::Lease => vec![
            ("Name", name),
            ("Holder", text(obj, &["spec", "holderIdentity"]).into()),
            ("Age", creation_age(obj, now)),
        ],
        // Its other columns are JSONPath columns, evaluated by the caller.
        Printer::LogicalCluster | Printer::Shard | Printer::Workspace => vec![("Name", name)],
        Printer::Default => {
            // The default convertor prints the timestamp itself; kubectl shows it raw.
            let created = timestamp(obj, &["metadata", "creationTimestamp"])
                .map(|t| t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string())
                .unwrap_or_else(|| "0001-01-01T00:00:00Z".to_string());
            vec![("Name", name), ("Created At", created.into())]
        }
    }
}

/// kube's `printEvent`, reading `events.k8s.io` field names when `events_api` is set.
fn event_row(obj: &Value, events_api: bool, name: Value, now: jiff::Timestamp) -> Vec<(&'static str, Value)> {
    let [regarding, note, source, first, last, count_key] = if events_api {
        ["regarding", "note", "deprecatedSource", "deprecatedFirstTimestamp", "deprecatedLastTimestamp", "deprecatedCount"]
    } else {
        ["involvedObject", "message", "source", "firstTimestamp", "lastTimestamp", "count"]
    };
    let first_seen = match timestamp(obj, &[first]) {
        Some(t) => age(Some(t), now),
        None => age(timestamp(obj, &["eventTime"]), now),
    };
    let mut last_seen = match timestamp(obj, &[last]) {
        Some(t) => age(Some(t), now),
        None => first_seen.clone(),
    };
    let mut count = obj.get(count_key).and_then(Value::as_i64).unwrap_or(0);
    if let Some(series) = obj.get("series").filter(|s| s.is_object()) {
        last_seen = age(timestamp(series, &["lastObservedTime"]), now);
        count = series.get("count").and_then(Value::as_i64).unwrap_or(0);
    } else if count == 0 {
        // Singleton events of the new API carry no count.
        count = 1;
    }
    let kind = text(obj, &[regarding, "kind"]).to_lowercase();
    let target = match text(obj, &[regarding, "name"]) {
        "" => kind,
        n => format!("{kind}/{n}"),
    };
    let component = Some(text(obj, &[source, "component"])).filter(|s| !s.is_empty()).unwrap_or(text(obj, &["reportingController"]));
    let host = Some(text(obj, &[source, "host"])).filter(|s| !s.is_empty()).unwrap_or(text(obj, &["reportingInstance"]));
    let source = if host.is_empty() { component.to_string() } else { format!("{component}, {host}") };
    vec![
        ("Last Seen", last_seen.into()),
        ("Type", text(obj, &["type"]).into()),
        ("Reason", text(obj, &["reason"]).into()),
        ("Object", target.into()),
        ("Subobject", text(obj, &[regarding, "fieldPath"]).into()),
        ("Source", source.into()),
        ("Message", text(obj, &[note]).trim().into()),
        ("First Seen", first_seen.into()),
        ("Count", count.into()),
        ("Name", name),
    ]
}

/// `resource: used/hard` lists, split into requests and `limits.*`, sorted by resource name.
fn quota_usage(obj: &Value) -> (String, String) {
    let quantity = |path: &[&str]| match path.iter().try_fold(obj, |v, k| v.get(*k)) {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Number(n)) => n.to_string(),
        _ => "0".to_string(),
    };
    let empty = serde_json::Map::new();
    let hard = obj.get("status").and_then(|s| s.get("hard")).and_then(Value::as_object).unwrap_or(&empty);
    let mut names: Vec<&String> = hard.keys().collect();
    names.sort();
    let (mut requests, mut limits) = (Vec::new(), Vec::new());
    for resource in names {
        let entry = format!(
            "{resource}: {}/{}",
            quantity(&["status", "used", resource]),
            quantity(&["status", "hard", resource])
        );
        let is_limit = resource.split_once('.').is_some_and(|(head, _)| head == "limits");
        if is_limit { limits.push(entry) } else { requests.push(entry) }
    }
    (requests.join(", "), limits.join(", "))
}

/// kube's `SubjectsStrings`: users, groups and `namespace/name` service accounts.
fn subjects(obj: &Value) -> (String, String, String) {
    let (mut users, mut groups, mut sas) = (Vec::new(), Vec::new(), Vec::new());
    for subject in obj.get("subjects").and_then(Value::as_array).into_iter().flatten() {
        let name = text(subject, &["name"]);
        match text(subject, &["kind"]) {
            "User" => users.push(name.to_string()),
            "Group" => groups.push(name.to_string()),
            "ServiceAccount" => sas.push(format!("{}/{name}", text(subject, &["namespace"]))),
            _ => {}
        }
    }
    (users.join(", "), groups.join(", "), sas.join(", "))
}
