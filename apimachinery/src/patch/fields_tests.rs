use super::*;
use crate::patch::ListRule;
use serde_json::json;

const CM: Lists = Lists { kind: &[] };
const SA: Lists = Lists { kind: &[("secrets", ListRule { smp: ListType::Map("name"), ssa: ListType::Map("name") })] };

#[test]
fn field_set_of_an_applied_config() {
    let cases = [
        (CM, json!({"data": {"x": "1"}, "metadata": {"labels": {"a": "b"}}}), json!({"f:data": {"f:x": {}}, "f:metadata": {"f:labels": {"f:a": {}}}})),
        (CM, json!({"metadata": {"finalizers": ["a/b"], "annotations": {}}}), json!({"f:metadata": {"f:annotations": {}, "f:finalizers": {"v:\"a/b\"": {}}}})),
        (
            SA,
            json!({"secrets": [{"name": "s", "namespace": "n"}], "imagePullSecrets": [{"name": "p"}]}),
            json!({"f:imagePullSecrets": {}, "f:secrets": {"k:{\"name\":\"s\"}": {".": {}, "f:name": {}, "f:namespace": {}}}}),
        ),
        // an unkeyable item makes the list atomic
        (SA, json!({"secrets": [{"namespace": "n"}]}), json!({"f:secrets": {}})),
    ];
    for (lists, v, want) in cases {
        let set = lists.field_set(&v);
        assert_eq!(set.to_fields_v1(), want, "{v}");
        assert_eq!(FieldSet::from_fields_v1(&want), set, "round trip of {want}");
    }
}

#[test]
fn compare_reports_changes_and_new_containers() {
    let old = json!({"data": {"a": "1", "b": "2"}, "metadata": {"name": "x"}});
    let new = json!({"data": {"a": "9", "c": "3"}, "metadata": {"name": "x", "labels": {"l": "v"}}});
    let (changed, removed) = CM.compare(&old, &new);
    assert_eq!(changed.to_fields_v1(), json!({"f:data": {"f:a": {}, "f:c": {}}, "f:metadata": {"f:labels": {".": {}, "f:l": {}}}}));
    assert_eq!(removed.to_fields_v1(), json!({"f:data": {"f:b": {}}}));
}

#[test]
fn compare_of_equal_objects_and_lists_finds_nothing() {
    let sa = json!({"metadata": {"name": "x", "labels": {}}, "secrets": [{"name": "a"}, {"name": "b"}], "x": [1, 1]});
    let (changed, removed) = SA.compare(&sa, &sa.clone());
    assert!(changed.is_empty() && removed.is_empty());
    let mut other = sa.clone();
    other["secrets"][1]["extra"] = json!(true);
    let (changed, removed) = SA.compare(&sa, &other);
    assert_eq!(changed.to_fields_v1(), json!({"f:secrets": {"k:{\"name\":\"b\"}": {"f:extra": {}}}}));
    assert!(removed.is_empty());
}

#[test]
fn set_operations_and_paths() {
    let f = |s: &str| PathElement::Field(s.into());
    let a = FieldSet::from_paths(&[&[f("data"), f("a")], &[f("data"), f("b")], &[f("spec")]]);
    let b = FieldSet::from_paths(&[&[f("data"), f("b")], &[f("kind")]]);
    let shown = |s: FieldSet| s.paths().iter().map(|p| display_path(p)).collect::<Vec<_>>();
    assert_eq!(shown(a.difference(&b)), [".data.a", ".spec"]);
    assert_eq!(shown(a.intersection(&b)), [".data.b"]);
    assert_eq!(shown(a.union(&b)), [".data.a", ".data.b", ".kind", ".spec"]);
}

#[test]
fn display_matches_kube() {
    let key = PathElement::decode(r#"k:{"uid":"u1"}"#).unwrap();
    let value = PathElement::decode(r#"v:"x""#).unwrap();
    let path = [PathElement::Field("metadata".into()), PathElement::Field("ownerReferences".into()), key];
    assert_eq!(display_path(&path), r#".metadata.ownerReferences[uid="u1"]"#);
    assert_eq!(value.display(), r#"[="x"]"#);
}

#[test]
fn merge_and_remove() {
    let live = json!({"metadata": {"finalizers": ["a"], "ownerReferences": [{"uid": "1", "name": "x"}]}, "rules": [1, 2]});
    let config = json!({"metadata": {"finalizers": ["b", "a"], "ownerReferences": [{"uid": "2"}, {"uid": "1", "kind": "K"}]}, "rules": [3]});
    let mut merged = CM.merge(&live, &config);
    assert_eq!(
        merged,
        json!({"metadata": {"finalizers": ["a", "b"], "ownerReferences": [{"uid": "1", "name": "x", "kind": "K"}, {"uid": "2"}]}, "rules": [3]})
    );
    for p in CM.field_set(&json!({"metadata": {"finalizers": ["a"], "ownerReferences": [{"uid": "2"}]}})).paths() {
        remove_path(&mut merged, &p);
    }
    assert_eq!(merged, json!({"metadata": {"finalizers": ["b"], "ownerReferences": [{"uid": "1", "name": "x", "kind": "K"}]}, "rules": [3]}));
}
