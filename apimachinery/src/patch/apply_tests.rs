use super::*;
use serde_json::json;

const T0: &str = "2026-01-01T00:00:00Z";
const T1: &str = "2026-01-01T00:01:00Z";

fn cm(data: Value) -> Value {
    json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "namespace": "default"}, "data": data})
}

fn managed(obj: &Value) -> Vec<(String, String, Value)> {
    obj.pointer("/metadata/managedFields")
        .and_then(Value::as_array)
        .map(|l| l.iter().map(|e| (str_field(e, "manager").to_string(), str_field(e, "operation").to_string(), e["fieldsV1"].clone())).collect())
        .unwrap_or_default()
}

fn ok(r: Result<Value, ApplyConflicts>) -> Value {
    r.unwrap_or_else(|e| panic!("unexpected conflict: {e}"))
}

#[test]
fn create_records_an_apply_entry() {
    let obj = ok(apply(None, &cm(json!({"x": "1"})), "kubectl", false, T0, &[]));
    assert_eq!(obj["data"], json!({"x": "1"}));
    assert_eq!(
        obj["metadata"]["managedFields"],
        json!([{"manager": "kubectl", "operation": "Apply", "apiVersion": "v1", "time": T0,
                "fieldsType": "FieldsV1", "fieldsV1": {"f:data": {"f:x": {}}}}])
    );
}

#[test]
fn reapply_updates_and_releases_fields() {
    let v1 = ok(apply(None, &cm(json!({"x": "1", "y": "1"})), "a", false, T0, &[]));
    let v2 = ok(apply(Some(&v1), &cm(json!({"y": "2", "z": "3"})), "a", false, T1, &[]));
    assert_eq!(v2["data"], json!({"y": "2", "z": "3"}), "x is pruned, y changes, z is added");
    assert_eq!(managed(&v2), [("a".into(), "Apply".into(), json!({"f:data": {"f:y": {}, "f:z": {}}}))]);
    assert_eq!(v2["metadata"]["managedFields"][0]["time"], json!(T1));
}

#[test]
fn shared_fields_survive_one_owner_leaving() {
    let v1 = ok(apply(None, &cm(json!({"x": "1"})), "a", false, T0, &[]));
    let v2 = ok(apply(Some(&v1), &cm(json!({"x": "1"})), "b", false, T0, &[]));
    assert_eq!(managed(&v2).len(), 2, "same value: shared ownership, no conflict");
    let mut without_data = cm(json!({}));
    without_data.as_object_mut().unwrap().shift_remove("data");
    let v3 = ok(apply(Some(&v2), &without_data, "a", false, T1, &[]));
    assert_eq!(v3["data"], json!({"x": "1"}), "b still owns x");
    assert_eq!(managed(&v3), [("b".into(), "Apply".into(), json!({"f:data": {"f:x": {}}}))]);
}

#[test]
fn conflicts_and_force() {
    let v1 = ok(apply(None, &cm(json!({"x": "1", "y": "1"})), "a", false, T0, &[]));
    let err = apply(Some(&v1), &cm(json!({"x": "2"})), "b", false, T1, &[]).unwrap_err();
    assert_eq!(err.to_string(), r#"Apply failed with 1 conflict: conflict with "a": .data.x"#);

    let v2 = ok(apply(Some(&v1), &cm(json!({"x": "2"})), "b", true, T1, &[]));
    assert_eq!(v2["data"], json!({"x": "2", "y": "1"}));
    assert_eq!(
        managed(&v2),
        [("a".into(), "Apply".into(), json!({"f:data": {"f:y": {}}})), ("b".into(), "Apply".into(), json!({"f:data": {"f:x": {}}})),],
        "force moves x to b"
    );
}

#[test]
fn update_then_apply_conflicts_with_kube_wording() {
    // kubectl apply (client-side) creates the object: an Update entry.
    let mut created = cm(json!({"key1": "value1"}));
    created["metadata"]["annotations"] = json!({"kubectl.kubernetes.io/last-applied-configuration": "{}\n"});
    track_update(None, &mut created, "kubectl-client-side-apply", T0, &[]);
    assert_eq!(
        managed(&created),
        [(
            "kubectl-client-side-apply".into(),
            "Update".into(),
            json!({"f:data": {".": {}, "f:key1": {}},
                   "f:metadata": {"f:annotations": {".": {}, "f:kubectl.kubernetes.io/last-applied-configuration": {}}}})
        )]
    );

    let err = apply(Some(&created), &cm(json!({"key1": "other"})), "kubectl", false, T1, &[]).unwrap_err();
    assert_eq!(err.to_string(), r#"Apply failed with 1 conflict: conflict with "kubectl-client-side-apply" using v1: .data.key1"#);
    let status = ApiError::from(err).to_status();
    assert_eq!(status["code"], json!(409));
    assert_eq!(status["reason"], json!("Conflict"));
    assert_eq!(
        status["details"],
        json!({"causes": [{"reason": "FieldManagerConflict", "message": "conflict with \"kubectl-client-side-apply\" using v1", "field": ".data.key1"}]})
    );

    // Applying the same value is no conflict.
    assert!(apply(Some(&created), &cm(json!({"key1": "value1"})), "kubectl", false, T1, &[]).is_ok());
}

#[test]
fn plural_conflicts_are_grouped_by_manager() {
    let mut obj = cm(json!({"a": "1", "b": "1"}));
    track_update(None, &mut obj, "m", T0, &[]);
    let obj = ok(apply(Some(&obj), &cm(json!({"c": "1"})), "z", false, T0, &[]));
    let err = apply(Some(&obj), &cm(json!({"a": "2", "b": "2", "c": "2"})), "kubectl", false, T1, &[]).unwrap_err();
    assert_eq!(err.to_string(), "Apply failed with 3 conflicts: conflicts with \"m\" using v1:\n- .data.a\n- .data.b\nconflicts with \"z\":\n- .data.c");
}

#[test]
fn updates_take_fields_from_other_managers() {
    let v1 = ok(apply(None, &cm(json!({"x": "1", "y": "1"})), "a", false, T0, &[]));
    let mut edited = v1.clone();
    edited["data"]["x"] = json!("edited");
    edited["metadata"]["labels"] = json!({"l": "v"});
    track_update(Some(&v1), &mut edited, "kubectl-edit", T1, &[]);
    assert_eq!(
        managed(&edited),
        [
            ("a".into(), "Apply".into(), json!({"f:data": {"f:y": {}}})),
            ("kubectl-edit".into(), "Update".into(), json!({"f:data": {"f:x": {}}, "f:metadata": {"f:labels": {".": {}, "f:l": {}}}})),
        ]
    );
    let err = apply(Some(&edited), &cm(json!({"x": "1", "y": "1"})), "a", false, T1, &[]).unwrap_err();
    assert_eq!(err.to_string(), r#"Apply failed with 1 conflict: conflict with "kubectl-edit" using v1: .data.x"#);

    // A removal drops the field from every set, and a no-op write adds no entry.
    let mut removed = edited.clone();
    removed["data"].as_object_mut().unwrap().shift_remove("y");
    track_update(Some(&edited), &mut removed, "kubectl-patch", T1, &[]);
    assert_eq!(managed(&removed), [("kubectl-edit".into(), "Update".into(), json!({"f:data": {"f:x": {}}, "f:metadata": {"f:labels": {".": {}, "f:l": {}}}}))]);
}

#[test]
fn system_fields_are_not_tracked_and_noops_keep_time() {
    let mut obj = cm(json!({"k": "v"}));
    obj["metadata"]["uid"] = json!("u");
    obj["metadata"]["resourceVersion"] = json!("1");
    track_update(None, &mut obj, "kubectl-create", T0, &[]);
    assert_eq!(managed(&obj)[0].2, json!({"f:data": {".": {}, "f:k": {}}}));

    let mut again = obj.clone();
    again["metadata"]["resourceVersion"] = json!("2");
    track_update(Some(&obj), &mut again, "kubectl-create", T1, &[]);
    assert_eq!(again["metadata"]["managedFields"][0]["time"], json!(T0));
}

#[test]
fn keyed_lists_are_owned_per_item() {
    let sa = |refs: Value| json!({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "s", "ownerReferences": refs}});
    let v1 = ok(apply(None, &sa(json!([{"uid": "1", "name": "a"}])), "m1", false, T0, &[]));
    let v2 = ok(apply(Some(&v1), &sa(json!([{"uid": "2", "name": "b"}])), "m2", false, T0, &[]));
    assert_eq!(v2["metadata"]["ownerReferences"], json!([{"uid": "1", "name": "a"}, {"uid": "2", "name": "b"}]));
    assert_eq!(managed(&v2)[1].2, json!({"f:metadata": {"f:ownerReferences": {"k:{\"uid\":\"2\"}": {".": {}, "f:name": {}, "f:uid": {}}}}}));
    let err = apply(Some(&v2), &sa(json!([{"uid": "1", "name": "changed"}])), "m2", false, T1, &[]).unwrap_err();
    assert_eq!(err.to_string(), "Apply failed with 1 conflict: conflict with \"m1\": .metadata.ownerReferences[uid=\"1\"].name");
}
