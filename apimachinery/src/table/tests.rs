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
fn crd_columns_and_cells() {
    let jp = |name: &str, type_: &str, path: &str| Column {
        name: name.into(),
        type_: type_.into(),
        format: String::new(),
        description: String::new(),
        priority: 0,
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
    assert_eq!(cells(&columns, &default_row(&obj), &obj, ts(NOW)), [json!("w1"), json!(3), json!("True"), json!("web"), Value::Null]);
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
