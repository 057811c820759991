//! Per-kind behaviour across the built-in strategies, table by table: what each kind prints,
//! validates, selects and merges, checked through the strategy the registry hands out.

use serde_json::{json, Value};

use super::builtin::by_kind;
use super::{core, Column, ResourceInfo, Strategy};
use crate::patch::{ListRule, ListType};
use crate::selector::field_value;
use crate::table::{cells, row_object, table, IncludeObject};
use crate::validation::NameRule;

fn ts(s: &str) -> jiff::Timestamp {
    s.parse().expect("valid timestamp")
}

const NOW: &str = "2024-06-01T12:00:00Z";

/// A kind that keeps every default of the trait, as an unknown kind would be treated.
struct Plain;

impl Strategy for Plain {
    fn info(&self) -> ResourceInfo {
        super::Definition::stored("example.com", "v1", "Widget", "widgets", true).info()
    }
}

/// The strategy of a built-in kind, or the trait's defaults for other groups.
fn strategy(group: &str, kind: &str) -> &'static dyn Strategy {
    let api_version = match group {
        "" => "v1".to_string(),
        g if g.ends_with("kcp.io") => format!("{g}/v1alpha1"),
        g => format!("{g}/v1"),
    };
    by_kind(&api_version, kind).unwrap_or(&Plain)
}

fn columns(group: &str, kind: &str) -> Vec<Column> {
    strategy(group, kind).columns()
}

/// A column's name, type, format and priority.
type Shape<'a> = (&'a str, &'a str, &'a str, i32);

fn shape(columns: &[Column]) -> Vec<Shape<'_>> {
    columns.iter().map(|c| (c.name.as_str(), c.type_.as_str(), c.format.as_str(), c.priority)).collect()
}

#[test]
fn builtin_column_sets() {
    let name = ("Name", "string", "name", 0);
    let age = ("Age", "string", "", 0);
    let s = |n| (n, "string", "", 0);
    let wide = |n| (n, "string", "", 1);
    let cases: Vec<(&str, &str, Vec<Shape>)> = vec![
        ("", "Namespace", vec![name, s("Status"), age]),
        ("", "ConfigMap", vec![name, s("Data"), age]),
        ("", "Secret", vec![name, s("Type"), s("Data"), age]),
        ("", "ServiceAccount", vec![name, s("Secrets"), age]),
        ("", "ResourceQuota", vec![name, age, s("Request"), s("Limit")]),
        ("coordination.k8s.io", "Lease", vec![name, s("Holder"), age]),
        ("rbac.authorization.k8s.io", "RoleBinding", vec![name, s("Role"), age, wide("Users"), wide("Groups"), wide("ServiceAccounts")]),
        ("rbac.authorization.k8s.io", "ClusterRoleBinding", vec![name, s("Role"), age, wide("Users"), wide("Groups"), wide("ServiceAccounts")]),
        (
            "",
            "Event",
            vec![
                s("Last Seen"),
                s("Type"),
                s("Reason"),
                s("Object"),
                wide("Subobject"),
                wide("Source"),
                s("Message"),
                wide("First Seen"),
                wide("Count"),
                ("Name", "string", "name", 1),
            ],
        ),
        ("core.kcp.io", "LogicalCluster", vec![name, s("Phase"), s("URL"), ("Age", "date", "", 0)]),
        ("", "LimitRange", vec![name, ("Created At", "date", "", 0)]),
        ("rbac.authorization.k8s.io", "Role", vec![name, ("Created At", "date", "", 0)]),
        ("rbac.authorization.k8s.io", "ClusterRole", vec![name, ("Created At", "date", "", 0)]),
        ("apiextensions.k8s.io", "CustomResourceDefinition", vec![name, ("Created At", "date", "", 0)]),
    ];
    for (group, kind, want) in cases {
        assert_eq!(shape(&columns(group, kind)), want, "{kind}");
    }
    let events = columns("events.k8s.io", "Event");
    assert_eq!(shape(&events), shape(&columns("", "Event")));
}

#[test]
fn column_descriptions_are_kube_docs() {
    let ns = columns("", "Namespace");
    assert!(ns[0].description.starts_with("Name must be unique within a namespace."), "{}", ns[0].description);
    assert_eq!(ns[1].description, "The status of the namespace");
    assert!(ns[2].description.starts_with("CreationTimestamp is a timestamp representing"));
    let secret = columns("", "Secret");
    assert!(secret[1].description.starts_with("Used to facilitate programmatic handling of secret data."));
    let lease = columns("coordination.k8s.io", "Lease");
    assert!(lease[1].description.contains("holderIdentity contains the identity of the holder"), "{}", lease[1].description);
    let rb = columns("rbac.authorization.k8s.io", "RoleBinding");
    assert!(rb[1].description.starts_with("RoleRef can reference a Role"), "{}", rb[1].description);
    assert_eq!(rb[3].description, "Users in the roleBinding");
    for c in columns("", "Event") {
        assert!(!c.description.is_empty(), "{}", c.name);
    }
}

fn row(group: &str, kind: &str, obj: Value) -> Vec<Value> {
    let s = strategy(group, kind);
    cells(&s.columns(), &s.row(&obj, ts(NOW)), &obj, ts(NOW))
}

#[test]
fn builtin_cells() {
    let meta = json!({"name": "x", "namespace": "ns", "creationTimestamp": "2024-06-01T11:55:00Z"});
    let cases: Vec<(&str, &str, Value, Value)> = vec![
        ("", "Namespace", json!({"metadata": meta, "status": {"phase": "Active"}}), json!(["x", "Active", "5m"])),
        ("", "ConfigMap", json!({"metadata": meta, "data": {"a": "1"}, "binaryData": {"b": "aGk="}}), json!(["x", 2, "5m"])),
        ("", "ConfigMap", json!({"metadata": {"name": "y"}}), json!(["y", 0, "<unknown>"])),
        ("", "Secret", json!({"metadata": meta, "type": "Opaque", "data": {"k": "dg=="}}), json!(["x", "Opaque", 1, "5m"])),
        ("", "ServiceAccount", json!({"metadata": meta, "secrets": [{"name": "t"}]}), json!(["x", 1, "5m"])),
        ("coordination.k8s.io", "Lease", json!({"metadata": meta, "spec": {"holderIdentity": "node-1"}}), json!(["x", "node-1", "5m"])),
        ("coordination.k8s.io", "Lease", json!({"metadata": meta, "spec": {}}), json!(["x", "", "5m"])),
        (
            "rbac.authorization.k8s.io",
            "RoleBinding",
            json!({"metadata": meta,
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "view"},
            "subjects": [{"kind": "User", "name": "alice"}, {"kind": "User", "name": "bob"},
                         {"kind": "Group", "name": "devs"}, {"kind": "ServiceAccount", "namespace": "ns", "name": "sa"}]}),
            json!(["x", "ClusterRole/view", "5m", "alice, bob", "devs", "ns/sa"]),
        ),
        (
            "",
            "ResourceQuota",
            json!({"metadata": meta, "status": {
            "hard": {"pods": "10", "limits.cpu": "2", "requests.cpu": "1"},
            "used": {"pods": "3", "requests.cpu": "500m"}}}),
            json!(["x", "5m", "pods: 3/10, requests.cpu: 500m/1", "limits.cpu: 0/2"]),
        ),
        ("", "LimitRange", json!({"metadata": meta}), json!(["x", "2024-06-01T11:55:00Z"])),
        ("example.com", "Widget", json!({"metadata": {"name": "w", "creationTimestamp": "2024-06-01T11:55:00.5Z"}}), json!(["w", "2024-06-01T11:55:00Z"])),
        (
            "core.kcp.io",
            "LogicalCluster",
            json!({"metadata": {"name": "cluster", "creationTimestamp": "2024-05-30T09:00:00Z"},
            "status": {"phase": "Ready", "URL": "https://h/clusters/abc"}}),
            json!(["cluster", "Ready", "https://h/clusters/abc", "2d3h"]),
        ),
        ("core.kcp.io", "LogicalCluster", json!({"metadata": {"name": "cluster"}}), json!(["cluster", null, null, null])),
    ];
    for (group, kind, obj, want) in cases {
        assert_eq!(Value::Array(row(group, kind, obj)), want, "{kind}");
    }
}

#[test]
fn event_cells() {
    let core = json!({
        "metadata": {"name": "p.1", "namespace": "ns"},
        "involvedObject": {"kind": "Pod", "name": "p", "fieldPath": "spec.containers{c}"},
        "reason": "Started", "type": "Normal", "message": " Started container \n",
        "source": {"component": "kubelet", "host": "node-1"},
        "firstTimestamp": "2024-06-01T11:00:00Z", "lastTimestamp": "2024-06-01T11:58:00Z", "count": 3,
    });
    assert_eq!(
        Value::Array(row("", "Event", core)),
        json!(["2m", "Normal", "Started", "pod/p", "spec.containers{c}", "kubelet, node-1", "Started container", "60m", 3, "p.1"])
    );
    let new_api = json!({
        "metadata": {"name": "e"}, "eventTime": "2024-06-01T11:59:30.000000Z",
        "regarding": {"kind": "Node"}, "reason": "Boot", "type": "Warning", "note": "up",
        "reportingController": "ctl", "reportingInstance": "i-1",
    });
    assert_eq!(Value::Array(row("events.k8s.io", "Event", new_api)), json!(["30s", "Warning", "Boot", "node", "", "ctl, i-1", "up", "30s", 1, "e"]));
    let series = json!({"metadata": {"name": "s"}, "eventTime": "2024-06-01T10:00:00.000000Z",
        "series": {"count": 7, "lastObservedTime": "2024-06-01T11:59:00.000000Z"}});
    let cells = row("events.k8s.io", "Event", series);
    assert_eq!((&cells[0], &cells[7], &cells[8]), (&json!("60s"), &json!("120m"), &json!(7)));
}

#[test]
fn table_shape() {
    let columns = columns("", "ConfigMap");
    let obj = json!({"metadata": {"name": "c", "creationTimestamp": "2024-06-01T11:59:00Z"}, "data": {}});
    let row_cells = cells(&columns, &core::ConfigMap.row(&obj, ts(NOW)), &obj, ts(NOW));
    let t = table(&columns, vec![(row_cells, row_object(&obj, IncludeObject::Metadata))], "109", Some("tok"));
    assert_eq!(t["kind"], "Table");
    assert_eq!(t["apiVersion"], "meta.k8s.io/v1");
    assert_eq!(t["metadata"], json!({"resourceVersion": "109", "continue": "tok"}));
    let first = &t["columnDefinitions"][0];
    assert_eq!((&first["name"], &first["type"], &first["format"], &first["priority"]), (&json!("Name"), &json!("string"), &json!("name"), &json!(0)));
    assert_eq!(
        t["columnDefinitions"][1].as_object().map(|o| o.keys().cloned().collect::<Vec<_>>()),
        Some(vec!["name".into(), "type".into(), "format".into(), "description".into(), "priority".into()])
    );
    assert_eq!(t["rows"][0]["cells"], json!(["c", 0, "60s"]));
    assert_eq!(t["rows"][0]["object"]["metadata"]["name"], "c");

    let empty = table(&columns, Vec::new(), "5", Some(""));
    assert_eq!(empty["metadata"], json!({"resourceVersion": "5"}));
    assert_eq!(empty["rows"], json!([]));
    assert_eq!(empty["columnDefinitions"].as_array().map(Vec::len), Some(3));
}

#[test]
fn validation_by_kind() {
    let bad_rule = json!({"rules": [{"apiGroups": [""], "resources": ["pods"]}]});
    let cases: Vec<(&str, &str, Value, usize)> = vec![
        ("rbac.authorization.k8s.io", "Role", bad_rule.clone(), 1),
        ("example.com", "Role", bad_rule, 0),
        ("", "ConfigMap", json!({"data": {"a/b": ""}}), 1),
        ("", "Secret", json!({"type": "kubernetes.io/tls"}), 2),
        ("coordination.k8s.io", "Lease", json!({"spec": {"leaseDurationSeconds": -1}}), 1),
        ("", "ServiceAccount", json!({"secrets": [{}]}), 0),
        ("", "Namespace", json!({"spec": {"finalizers": ["kubernetes"]}}), 0),
    ];
    for (group, kind, obj, want) in cases {
        assert_eq!(strategy(group, kind).validate(&obj, None).len(), want, "{group}/{kind}");
    }
}

#[test]
fn name_rules_by_kind() {
    assert_eq!(strategy("", "Namespace").name_rule(), NameRule::Label);
    assert_eq!(strategy("rbac.authorization.k8s.io", "ClusterRole").name_rule(), NameRule::PathSegment);
    assert_eq!(strategy("tenancy.kcp.io", "Workspace").name_rule(), NameRule::Label);
    assert_eq!(strategy("", "ConfigMap").name_rule(), NameRule::Subdomain);
    assert_eq!(strategy("example.com", "Widget").name_rule(), NameRule::Subdomain);
}

#[test]
fn list_rules_follow_upstream_tags() {
    let rule = |group: &str, kind: &str, path: &str| strategy(group, kind).lists().iter().find(|(p, _)| *p == path).map(|(_, r)| *r);
    let keyed = |k| Some(ListRule { smp: ListType::Map(k), ssa: ListType::Map(k) });
    assert_eq!(rule("", "ServiceAccount", "secrets"), keyed("name"));
    assert_eq!(rule("", "ServiceAccount", "imagePullSecrets"), None);
    assert_eq!(rule("", "Namespace", "status.conditions"), keyed("type"));
    assert_eq!(
        rule("apiextensions.k8s.io", "CustomResourceDefinition", "status.conditions"),
        Some(ListRule { smp: ListType::Atomic, ssa: ListType::Map("type") })
    );
    assert_eq!(rule("apiextensions.k8s.io", "CustomResourceDefinition", "spec.versions"), None);
    // The same path on another kind does not inherit the rule.
    assert_eq!(rule("", "ConfigMap", "secrets"), None);
    assert_eq!(rule("example.com", "Widget", "status.conditions"), None);
}

#[test]
fn supported_field_labels() {
    let event = json!({"metadata": {"name": "e", "namespace": "ns"}, "reason": "Started", "type": "Normal",
        "involvedObject": {"kind": "Pod", "name": "p"}, "source": {"component": "kubelet"},
        "reportingComponent": "kubelet"});
    let new_event = json!({"metadata": {"name": "e"}, "regarding": {"uid": "u1"}, "reportingController": "c"});
    let secret = json!({"type": "Opaque"});
    let namespace = json!({"status": {"phase": "Active"}});
    let widget = json!({"metadata": {"name": "w"}});
    let cases: Vec<(&str, &str, &Value, &str, Option<&str>)> = vec![
        ("", "Event", &event, "metadata.name", Some("e")),
        ("", "Event", &event, "metadata.namespace", Some("ns")),
        ("", "Event", &event, "involvedObject.kind", Some("Pod")),
        ("", "Event", &event, "involvedObject.uid", Some("")),
        ("", "Event", &event, "involvedObject.bogus", None),
        ("", "Event", &event, "source", Some("kubelet")),
        ("", "Event", &event, "reportingComponent", Some("kubelet")),
        ("", "Event", &event, "regarding.kind", None),
        ("events.k8s.io", "Event", &new_event, "regarding.uid", Some("u1")),
        ("events.k8s.io", "Event", &new_event, "reportingController", Some("c")),
        ("events.k8s.io", "Event", &new_event, "source", None),
        ("", "Secret", &secret, "type", Some("Opaque")),
        ("", "Namespace", &namespace, "status.phase", Some("Active")),
        ("", "ConfigMap", &widget, "type", None),
        ("example.com", "Widget", &widget, "metadata.name", Some("w")),
        ("example.com", "Widget", &widget, "spec.foo", None),
    ];
    for (group, kind, obj, field, want) in cases {
        let s = strategy(group, kind);
        assert_eq!(field_value(obj, field, |f| s.field_label(f)).as_deref(), want, "{kind} {field}");
    }
}
