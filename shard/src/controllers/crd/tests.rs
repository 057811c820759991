use serde_json::json;

use super::*;
use crate::controllers::testing::Fixture;

fn crd_object(kind: &str, plural: &str, short: &str) -> Value {
    json!({
        "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": format!("{plural}.example.com")},
        "spec": {"group": "example.com", "scope": "Namespaced",
            "names": {"kind": kind, "plural": plural, "shortNames": [short]},
            "versions": [{"name": "v1", "served": true, "storage": true, "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}}}]},
    })
}

/// Creates a CRD and feeds it to the index, as the informer would.
async fn create(f: &Fixture, c: &Crds, obj: Value) -> ObjectRef {
    let r = ObjectRef::new("apiextensions.k8s.io", "customresourcedefinitions", "c1", "", obj["metadata"]["name"].as_str().unwrap());
    f.client("test").create(&r, obj).await.unwrap();
    reindex(f, c, &r).await;
    r
}

async fn reindex(f: &Fixture, c: &Crds, r: &ObjectRef) {
    match f.get(&r.key()).await {
        Some(obj) => c.index.upsert(&r.cluster, obj),
        None => c.index.remove(&r.cluster, &r.name),
    }
}

fn condition<'a>(crd: &'a Value, type_: &str) -> &'a Value {
    crd["status"]["conditions"].as_array().unwrap().iter().find(|c| c["type"] == type_).unwrap()
}

#[tokio::test]
async fn a_new_crd_is_established_with_its_accepted_names() {
    let f = Fixture::new().await;
    let c = Crds { client: f.client(NAME), index: f.crds.clone() };
    let r = create(&f, &c, crd_object("Widget", "widgets", "wd")).await;
    assert_eq!(c.reconcile(&r).await.unwrap(), Action::Done);
    let crd = f.get(&r.key()).await.unwrap();
    assert_eq!(condition(&crd, "Established")["status"], "True");
    assert_eq!(crd["status"]["acceptedNames"]["listKind"], "WidgetList");
    assert_eq!(crd["status"]["storedVersions"], json!(["v1"]));
}

#[tokio::test]
async fn a_crd_whose_names_are_taken_is_not_established() {
    let f = Fixture::new().await;
    let c = Crds { client: f.client(NAME), index: f.crds.clone() };
    let first = create(&f, &c, crd_object("Widget", "widgets", "wd")).await;
    c.reconcile(&first).await.unwrap();
    reindex(&f, &c, &first).await;
    let second = create(&f, &c, crd_object("Gadget", "gadgets", "wd")).await;
    c.reconcile(&second).await.unwrap();
    let crd = f.get(&second.key()).await.unwrap();
    assert_eq!(condition(&crd, "NamesAccepted")["message"], "short name \"wd\" is already in use");
    assert_eq!(condition(&crd, "Established")["status"], "False");
}

#[tokio::test]
async fn a_deleted_crd_loses_its_objects_then_its_finalizer() {
    let f = Fixture::new().await;
    let c = Crds { client: f.client(NAME), index: f.crds.clone() };
    let r = create(&f, &c, crd_object("Widget", "widgets", "wd")).await;
    c.reconcile(&r).await.unwrap();
    reindex(&f, &c, &r).await;
    f.namespace("c1", "team").await;
    let widget = ObjectRef::new("example.com", "widgets", "c1", "team", "w1");
    f.client("test").create(&widget, json!({"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w1"}})).await.unwrap();

    f.client("test").delete(&r, None).await.unwrap();
    reindex(&f, &c, &r).await;
    // The widget goes at once, so the CRD is released in the same pass.
    assert_eq!(c.reconcile(&r).await.unwrap(), Action::Done);
    assert!(f.get(&widget.key()).await.is_none());
    assert!(f.get(&r.key()).await.is_none(), "released after its objects");
}
