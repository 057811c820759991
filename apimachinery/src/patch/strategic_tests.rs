use super::*;
use crate::patch::ListRule;
use serde_json::json;

const CORE: &str = "";
const RBAC: &str = "rbac.authorization.k8s.io";

/// The list rules these cases need: ServiceAccount's keyed `secrets`; every other list is atomic.
fn lists(group: &str, kind: &str) -> KindLists<'static> {
    const SECRETS: KindLists = &[("secrets", ListRule { smp: ListType::Map("name"), ssa: ListType::Map("name") })];
    if (group, kind) == (CORE, "ServiceAccount") {
        SECRETS
    } else {
        &[]
    }
}

#[test]
fn merges() {
    // (name, group, kind, original, patch, expected)
    let cases = [
        (
            "null deletes a key",
            CORE,
            "ConfigMap",
            json!({"data": {"a": "1", "b": "2"}}),
            json!({"data": {"b": null, "c": "3"}}),
            json!({"data": {"a": "1", "c": "3"}}),
        ),
        ("null for a missing key is ignored", CORE, "ConfigMap", json!({"data": {"a": "1"}}), json!({"data": {"zz": null}}), json!({"data": {"a": "1"}})),
        (
            "atomic list is replaced",
            RBAC,
            "Role",
            json!({"rules": [{"verbs": ["get"], "resources": ["pods"]}, {"verbs": ["list"]}]}),
            json!({"rules": [{"verbs": ["watch"]}]}),
            json!({"rules": [{"verbs": ["watch"]}]}),
        ),
        (
            "ownerReferences merge by uid",
            CORE,
            "ConfigMap",
            json!({"metadata": {"ownerReferences": [{"uid": "a", "name": "x"}, {"uid": "b", "name": "y"}]}}),
            json!({"metadata": {"ownerReferences": [{"uid": "b", "name": "z"}, {"uid": "c", "name": "w"}]}}),
            json!({"metadata": {"ownerReferences": [{"uid": "a", "name": "x"}, {"uid": "b", "name": "z"}, {"uid": "c", "name": "w"}]}}),
        ),
        (
            "finalizers merge as a set, patch order first",
            CORE,
            "Namespace",
            json!({"metadata": {"finalizers": ["a", "b"]}}),
            json!({"metadata": {"finalizers": ["c", "a"]}}),
            json!({"metadata": {"finalizers": ["c", "a", "b"]}}),
        ),
        (
            "$deleteFromPrimitiveList",
            CORE,
            "Secret",
            json!({"metadata": {"finalizers": ["a", "b", "c"]}}),
            json!({"metadata": {"$deleteFromPrimitiveList/finalizers": ["b", "zz"]}}),
            json!({"metadata": {"finalizers": ["a", "c"]}}),
        ),
        (
            "$patch: delete removes a keyed item",
            CORE,
            "ServiceAccount",
            json!({"secrets": [{"name": "s1"}, {"name": "s2"}]}),
            json!({"secrets": [{"$patch": "delete", "name": "s1"}]}),
            json!({"secrets": [{"name": "s2"}]}),
        ),
        (
            "$patch: replace replaces a keyed list",
            CORE,
            "ServiceAccount",
            json!({"secrets": [{"name": "s1"}, {"name": "s2"}]}),
            json!({"secrets": [{"name": "s3"}, {"$patch": "replace"}]}),
            json!({"secrets": [{"name": "s3"}]}),
        ),
        (
            "$patch: replace on a map",
            CORE,
            "ConfigMap",
            json!({"data": {"a": "1"}, "k": 1}),
            json!({"data": {"$patch": "replace", "b": "2"}}),
            json!({"data": {"b": "2"}, "k": 1}),
        ),
        (
            "$patch: delete on a map empties it",
            CORE,
            "ConfigMap",
            json!({"data": {"a": "1"}, "k": 1}),
            json!({"data": {"$patch": "delete"}}),
            json!({"data": {}, "k": 1}),
        ),
        (
            "keyed items merge field by field",
            CORE,
            "ServiceAccount",
            json!({"secrets": [{"name": "s1", "namespace": "a", "uid": "u"}]}),
            json!({"secrets": [{"name": "s1", "namespace": "b", "uid": null}]}),
            json!({"secrets": [{"name": "s1", "namespace": "b"}]}),
        ),
        (
            "$setElementOrder reorders a keyed list",
            CORE,
            "ServiceAccount",
            json!({"secrets": [{"name": "a"}, {"name": "b"}, {"name": "c"}]}),
            json!({"$setElementOrder/secrets": [{"name": "c"}, {"name": "a"}, {"name": "b"}], "secrets": [{"name": "a", "namespace": "x"}]}),
            json!({"secrets": [{"name": "c"}, {"name": "a", "namespace": "x"}, {"name": "b"}]}),
        ),
        (
            "kubectl apply style patch: add one, delete one",
            CORE,
            "ServiceAccount",
            json!({"metadata": {"name": "sa"}, "secrets": [{"name": "s1"}, {"name": "s2"}]}),
            json!({"metadata": {"labels": {"tier": "fe"}},
                "$setElementOrder/secrets": [{"name": "s1"}, {"name": "s3"}],
                "secrets": [{"name": "s3"}, {"$patch": "delete", "name": "s2"}]}),
            json!({"metadata": {"name": "sa", "labels": {"tier": "fe"}}, "secrets": [{"name": "s1"}, {"name": "s3"}]}),
        ),
        (
            "$setElementOrder for a primitive list",
            CORE,
            "ConfigMap",
            json!({"metadata": {"finalizers": ["a", "b"]}}),
            json!({"metadata": {"$setElementOrder/finalizers": ["b", "c", "a"], "finalizers": ["c"]}}),
            json!({"metadata": {"finalizers": ["b", "c", "a"]}}),
        ),
        (
            "$retainKeys clears unlisted keys",
            CORE,
            "LimitRange",
            json!({"spec": {"a": 1, "b": 2}}),
            json!({"spec": {"$retainKeys": ["a", "c"], "c": 3}}),
            json!({"spec": {"a": 1, "c": 3}}),
        ),
        (
            "directives never reach a new field",
            CORE,
            "ConfigMap",
            json!({}),
            json!({"metadata": {"$setElementOrder/finalizers": ["x"], "finalizers": ["x"], "labels": {"a": "1", "b": null}}}),
            json!({"metadata": {"finalizers": ["x"], "labels": {"a": "1"}}}),
        ),
        // Upstream puts patch items the live list does not know ahead of the live-only ones.
        (
            "new keyed item loses its nulls and goes first",
            CORE,
            "ServiceAccount",
            json!({"secrets": [{"name": "s1"}]}),
            json!({"secrets": [{"name": "s2", "namespace": null}]}),
            json!({"secrets": [{"name": "s2"}, {"name": "s1"}]}),
        ),
        ("a scalar replaces a map", CORE, "ConfigMap", json!({"data": {"a": "1"}}), json!({"data": "x"}), json!({"data": "x"})),
        (
            "CRD versions are atomic",
            "apiextensions.k8s.io",
            "CustomResourceDefinition",
            json!({"spec": {"versions": [{"name": "v1", "served": true}, {"name": "v2"}]}}),
            json!({"spec": {"versions": [{"name": "v1", "served": false}]}}),
            json!({"spec": {"versions": [{"name": "v1", "served": false}]}}),
        ),
        ("$patch: delete at the root", CORE, "ConfigMap", json!({"data": {"a": "1"}}), json!({"$patch": "delete"}), json!({})),
    ];
    for (name, group, kind, original, patch, want) in cases {
        match strategic_merge_patch(&original, &patch, lists(group, kind)) {
            Ok(got) => assert_eq!(got, want, "{name}"),
            Err(e) => panic!("{name}: {e}"),
        }
    }
}

#[test]
fn errors() {
    let sa = json!({"secrets": [{"name": "s1"}]});
    let bad = |m: &str| Err(PatchError::BadRequest(m.to_string()));
    let cases: [(&str, Value, Value, Result<(), PatchError>); 7] = [
        ("patch is not an object", sa.clone(), json!([1]), bad("invalid JSON document")),
        ("$retainKeys missing a patched key", json!({"spec": {}}), json!({"spec": {"$retainKeys": ["a"], "b": 1}}), bad("invalid patch format of retainKeys")),
        ("$retainKeys not a list", json!({"spec": {}}), json!({"spec": {"$retainKeys": "a"}}), bad("invalid patch format of retainKeys")),
        (
            "$patch: merge in a list",
            sa.clone(),
            json!({"secrets": [{"$patch": "merge"}]}),
            Err(PatchError::Unprocessable("merging lists cannot yet be specified in the patch".into())),
        ),
        ("unknown $patch on a map", sa.clone(), json!({"$patch": "frob"}), bad(r#"unknown patch type: frob in map: {"$patch":"frob"}"#)),
        (
            "keyed item without its key",
            sa.clone(),
            json!({"secrets": [{"namespace": "x"}]}),
            Err(PatchError::Unprocessable(r#"map: {"namespace":"x"} does not contain declared merge key: name"#.into())),
        ),
        ("$deleteFromPrimitiveList without a list name", sa.clone(), json!({"$deleteFromPrimitiveList": ["x"]}), bad("invalid patch format of primitive list")),
    ];
    for (name, original, patch, want) in cases {
        let got = strategic_merge_patch(&original, &patch, lists(CORE, "ServiceAccount")).map(|_| ());
        assert_eq!(got, want, "{name}");
    }
}

#[test]
fn set_element_order_must_cover_the_patch() {
    let original = json!({"secrets": [{"name": "a"}]});
    let patch = json!({"$setElementOrder/secrets": [{"name": "a"}], "secrets": [{"name": "b"}]});
    let err = strategic_merge_patch(&original, &patch, lists(CORE, "ServiceAccount")).unwrap_err();
    assert!(matches!(&err, PatchError::Unprocessable(m) if m.starts_with("The order in patch list:")), "{err}");
}
