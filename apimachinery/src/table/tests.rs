use super::*;
use serde_json::json;

fn ts(s: &str) -> jiff::Timestamp {
    s.parse().expect("valid timestamp")
}

const NOW: &str = "2024-06-01T12:00:00Z";

#[test]
fn human_age_matches_kube() {
    let now = ts(NOW);
    let cases: &[(i64, &str)] = &[
        (0, "0s"),
        (-1, "0s"),
        (-2, "<invalid>"),
        (59, "59s"),
        (119, "119s"),
        (120, "2m"),
        (300, "5m"),
        (330, "5m30s"),
        (599, "9m59s"),
        (600, "10m"),
        (179 * 60 + 59, "179m"),
        (3 * 3600, "3h"),
        (3 * 3600 + 12 * 60, "3h12m"),
        (8 * 3600 + 59 * 60, "8h"),
        (47 * 3600, "47h"),
        (48 * 3600, "2d"),
        (51 * 3600, "2d3h"),
        (8 * 86400 + 3600, "8d"),
        (729 * 86400, "729d"),
        (730 * 86400, "2y"),
        (770 * 86400, "2y40d"),
        (8 * 365 * 86400, "8y"),
    ];
    for (secs, want) in cases {
        let since = now - jiff::SignedDuration::from_secs(*secs);
        assert_eq!(human_age(since, now), *want, "{secs}s");
    }
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
        ("rbac.authorization.k8s.io", "RoleBinding",
            vec![name, s("Role"), age, wide("Users"), wide("Groups"), wide("ServiceAccounts")]),
        ("rbac.authorization.k8s.io", "ClusterRoleBinding",
            vec![name, s("Role"), age, wide("Users"), wide("Groups"), wide("ServiceAccounts")]),
        ("", "Event", vec![s("Last Seen"), s("Type"), s("Reason"), s("Object"), wide("Subobject"), wide("Source"),
            s("Message"), wide("First Seen"), wide("Count"), ("Name", "string", "name", 1)]),
        ("core.kcp.io", "LogicalCluster", vec![name, s("Phase"), s("URL"), ("Age", "date", "", 0)]),
        ("", "LimitRange", vec![name, ("Created At", "date", "", 0)]),
        ("rbac.authorization.k8s.io", "Role", vec![name, ("Created At", "date", "", 0)]),
        ("rbac.authorization.k8s.io", "ClusterRole", vec![name, ("Created At", "date", "", 0)]),
        ("apiextensions.k8s.io", "CustomResourceDefinition", vec![name, ("Created At", "date", "", 0)]),
    ];
    for (group, kind, want) in cases {
        assert_eq!(shape(&builtin_columns(group, kind)), want, "{kind}");
    }
    let events = builtin_columns("events.k8s.io", "Event");
    assert_eq!(shape(&events), shape(&builtin_columns("", "Event")));
}

#[test]
fn column_descriptions_are_kube_docs() {
    let ns = builtin_columns("", "Namespace");
    assert!(ns[0].description.starts_with("Name must be unique within a namespace."), "{}", ns[0].description);
    assert_eq!(ns[1].description, "The status of the namespace");
    assert!(ns[2].description.starts_with("CreationTimestamp is a timestamp representing"));
    let secret = builtin_columns("", "Secret");
    assert!(secret[1].description.starts_with("Used to facilitate programmatic handling of secret data."));
    let lease = builtin_columns("coordination.k8s.io", "Lease");
    assert!(lease[1].description.contains("holderIdentity contains the identity of the holder"), "{}", lease[1].description);
    let rb = builtin_columns("rbac.authorization.k8s.io", "RoleBinding");
    assert!(rb[1].description.starts_with("RoleRef can reference a Role"), "{}", rb[1].description);
    assert_eq!(rb[3].description, "Users in the roleBinding");
    for c in builtin_columns("", "Event") {
        assert!(!c.description.is_empty(), "{}", c.name);
    }
}

fn row(group: &str, kind: &str, obj: Value) -> Vec<Value> {
    cells(group, kind, &builtin_columns(group, kind), &obj, ts(NOW))
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
        ("rbac.authorization.k8s.io", "RoleBinding", json!({"metadata": meta,
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "view"},
            "subjects": [{"kind": "User", "name": "alice"}, {"kind": "User", "name": "bob"},
                         {"kind": "Group", "name": "devs"}, {"kind": "ServiceAccount", "namespace": "ns", "name": "sa"}]}),
            json!(["x", "ClusterRole/view", "5m", "alice, bob", "devs", "ns/sa"])),
        ("", "ResourceQuota", json!({"metadata": meta, "status": {
            "hard": {"pods": "10", "limits.cpu": "2", "requests.cpu": "1"},
            "used": {"pods": "3", "requests.cpu": "500m"}}}),
            json!(["x", "5m", "pods: 3/10, requests.cpu: 500m/1", "limits.cpu: 0/2"])),
        ("", "LimitRange", json!({"metadata": meta}), json!(["x", "2024-06-01T11:55:00Z"])),
        ("example.com", "Widget", json!({"metadata": {"name": "w", "creationTimestamp": "2024-06-01T11:55:00.5Z"}}),
            json!(["w", "2024-06-01T11:55:00Z"])),
        ("core.kcp.io", "LogicalCluster", json!({"metadata": {"name": "cluster", "creationTimestamp": "2024-05-30T09:00:00Z"},
            "status": {"phase": "Ready", "URL": "https://h/clusters/abc"}}),
            json!(["cluster", "Ready", "https://h/clusters/abc", "2d3h"])),
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
    assert_eq!(
        Value::Array(row("events.k8s.io", "Event", new_api)),
        json!(["30s", "Warning", "Boot", "node", "", "ctl, i-1", "up", "30s", 1, "e"])
    );
    let series = json!({"metadata": {"name": "s"}, "eventTime": "2024-06-01T10:00:00.000000Z",
        "series": {"count": 7, "lastObservedTime": "2024-06-01T11:59:00.000000Z"}});
    let cells = row("events.k8s.io", "Event", series);
    assert_eq!((&cells[0], &cells[7], &cells[8]), (&json!("60s"), &json!("120m"), &json!(7)));
}

#[test]
fn crd_columns_and_cells() {
    let jp = |name: &str, type_: &str, path: &str| Column {
        name: name.into(), type_: type_.into(), format: String::new(), description: String::new(), priority: 0,
        json_path: path.into(),
    };
    let defaulted = crd_columns(&[]);
    assert_eq!(shape(&defaulted), [("Name", "string", "name", 0), ("Age", "date", "", 0)]);
    assert_eq!(defaulted[1].json_path, ".metadata.creationTimestamp");

    let columns = crd_columns(&[
        jp("Size", "integer", ".spec.size"),
        jp("Ready", "string", ".status.conditions[?(@.type==\"Ready\")].status"),
        jp("App", "string", ".metadata.labels.app"),
        jp("Missing", "string", ".spec.nope"),
    ]);
    let obj = json!({"metadata": {"name": "w1", "labels": {"app": "web"}}, "spec": {"size": 3},
        "status": {"conditions": [{"type": "Ready", "status": "True"}]}});
    assert_eq!(cells("example.com", "Widget", &columns, &obj, ts(NOW)), [json!("w1"), json!(3), json!("True"), json!("web"), Value::Null]);
}

#[test]
fn include_object() {
    let cases = [
        (None, Ok(IncludeObject::Metadata)),
        (Some(""), Ok(IncludeObject::Metadata)),
        (Some("Metadata"), Ok(IncludeObject::Metadata)),
        (Some("None"), Ok(IncludeObject::None)),
        (Some("Object"), Ok(IncludeObject::Object)),
        (Some("All"), Err(TableError::IncludeObject("All".into()))),
    ];
    for (input, want) in cases {
        assert_eq!(IncludeObject::parse(input), want, "{input:?}");
    }
    assert_eq!(TableError::IncludeObject("All".into()).to_string(), "unrecognized includeObject value: \"All\"");

    let obj = json!({"kind": "ConfigMap", "apiVersion": "v1", "data": {"a": "b"},
        "metadata": {"name": "c", "labels": {"x": "y"}, "managedFields": [{"manager": "kubectl"}]}});
    assert_eq!(row_object(&obj, IncludeObject::None), Value::Null);
    assert_eq!(row_object(&obj, IncludeObject::Object), obj);
    assert_eq!(
        row_object(&obj, IncludeObject::Metadata),
        json!({"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": {"name": "c", "labels": {"x": "y"}}})
    );
}

#[test]
fn table_shape() {
    let columns = builtin_columns("", "ConfigMap");
    let obj = json!({"metadata": {"name": "c", "creationTimestamp": "2024-06-01T11:59:00Z"}, "data": {}});
    let row_cells = cells("", "ConfigMap", &columns, &obj, ts(NOW));
    let t = table(&columns, vec![(row_cells, row_object(&obj, IncludeObject::Metadata))], "109", Some("tok"));
    assert_eq!(t["kind"], "Table");
    assert_eq!(t["apiVersion"], "meta.k8s.io/v1");
    assert_eq!(t["metadata"], json!({"resourceVersion": "109", "continue": "tok"}));
    let first = &t["columnDefinitions"][0];
    assert_eq!((&first["name"], &first["type"], &first["format"], &first["priority"]), (&json!("Name"), &json!("string"), &json!("name"), &json!(0)));
    assert_eq!(t["columnDefinitions"][1].as_object().map(|o| o.keys().cloned().collect::<Vec<_>>()),
        Some(vec!["name".into(), "type".into(), "format".into(), "description".into(), "priority".into()]));
    assert_eq!(t["rows"][0]["cells"], json!(["c", 0, "60s"]));
    assert_eq!(t["rows"][0]["object"]["metadata"]["name"], "c");

    let empty = table(&columns, Vec::new(), "5", Some(""));
    assert_eq!(empty["metadata"], json!({"resourceVersion": "5"}));
    assert_eq!(empty["rows"], json!([]));
    assert_eq!(empty["columnDefinitions"].as_array().map(Vec::len), Some(3));
}
