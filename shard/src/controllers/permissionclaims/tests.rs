use apimachinery::registry::crd::CrdIndex;
use serde_json::json;

use super::*;
use crate::claims::label_key;
use crate::controllers::apibinding::{self, ApiBindings};
use crate::controllers::testing::Fixture;

/// Feeds the claim index and scope from a stored binding, as the controller's watch does.
async fn observe(f: &Fixture, c: &ClaimLabeller, r: &ObjectRef) {
    let b = f.get(&r.key()).await.expect("binding");
    let (claims, resources) = claims_of(&b);
    f.indexes.claims.set(&r.cluster, &r.name, claims);
    track(&mut c.scope.lock().unwrap(), &r.key(), resources);
}

#[tokio::test]
async fn claimed_objects_are_labelled_while_the_claim_is_accepted() {
    let f = Fixture::new().await;
    f.provider("cowboys").await;
    let export = ObjectRef::new("apis.kcp.io", "apiexports", "p", "", "cowboys");
    super::super::update(&f.admin(), &export, Part::Main, |e| {
        e["spec"]["permissionClaims"] = json!([{"group": "", "resource": "configmaps", "verbs": ["get", "list"]}]);
        true
    })
    .await
    .unwrap();
    let cm = |name: &str, labels: Value| json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "labels": labels}});
    let web = ObjectRef::new("", "configmaps", "c", "default-ns", "web");
    f.admin().create(&web, cm("web", json!({"app": "web"}))).await.unwrap();
    let db = ObjectRef::new("", "configmaps", "c", "default-ns", "db");
    f.admin().create(&db, cm("db", json!({"app": "db"}))).await.unwrap();

    let claim =
        |state: &str| json!([{"group": "", "resource": "configmaps", "verbs": ["get", "list"], "selector": {"matchLabels": {"app": "web"}}, "state": state}]);
    let binding = ObjectRef::new("apis.kcp.io", "apibindings", "c", "", "cowboys");
    let obj = json!({"apiVersion": "apis.kcp.io/v1alpha2", "kind": "APIBinding", "metadata": {"name": "cowboys"},
        "spec": {"reference": {"export": {"path": "p", "name": "cowboys"}}, "permissionClaims": claim("Accepted")}});
    f.admin().create(&binding, obj).await.unwrap();
    let bindings = ApiBindings::new(f.client(apibinding::NAME), f.global.clone(), Arc::new(CrdIndex::default()));
    bindings.reconcile(&binding).await.unwrap();

    let c = ClaimLabeller::new(f.client(NAME), f.indexes.claims.clone());
    observe(&f, &c, &binding).await;
    c.reconcile(&binding).await.unwrap();
    let key = label_key("p", "cowboys");
    let label = |r: &ObjectRef| {
        let r = r.clone();
        let f = &f;
        let key = key.clone();
        async move { f.get(&r.key()).await.unwrap()["metadata"]["labels"].get(&key).cloned() }
    };
    assert!(label(&web).await.is_some(), "selected by the claim");
    assert!(label(&db).await.is_none(), "not selected");
    // Objects written later are labelled by admission, and a forged label does not stick.
    let later = ObjectRef::new("", "configmaps", "c", "default-ns", "later");
    f.admin().create(&later, cm("later", json!({"app": "web"}))).await.unwrap();
    assert!(label(&later).await.is_some());
    let forged = ObjectRef::new("", "configmaps", "c", "default-ns", "forged");
    f.admin().create(&forged, cm("forged", json!({"app": "db", key.clone(): "x"}))).await.unwrap();
    assert!(label(&forged).await.is_none());

    // Rejecting the claim takes the labels away.
    super::super::update(&f.admin(), &binding, Part::Main, |b| {
        b["spec"]["permissionClaims"] = claim("Rejected");
        true
    })
    .await
    .unwrap();
    bindings.reconcile(&binding).await.unwrap();
    observe(&f, &c, &binding).await;
    c.reconcile(&binding).await.unwrap();
    assert!(label(&web).await.is_none());
    assert!(label(&later).await.is_none());
}
