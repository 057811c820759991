use apimachinery::registry::crd::BOUND_CRDS_CLUSTER;
use serde_json::{json, Value};

use super::*;
use crate::controllers::testing::Fixture;

async fn binding(f: &Fixture, name: &str, export: &str) -> ObjectRef {
    let r = ObjectRef::new(GROUP, "apibindings", "c", "", name);
    let obj = json!({"apiVersion": "apis.kcp.io/v1alpha2", "kind": "APIBinding", "metadata": {"name": name},
        "spec": {"reference": {"export": {"path": "p", "name": export}}}});
    f.admin().create(&r, obj).await.expect("binding");
    r
}

fn controller(f: &Fixture) -> ApiBindings {
    ApiBindings::new(f.client(NAME), f.global.clone(), f.crds.clone())
}

/// Feeds the index as the informers would.
async fn observe(f: &Fixture, r: &ObjectRef) {
    let b = f.get(&r.key()).await.unwrap_or(Value::Null);
    let (export, resources) = served(&b);
    f.crds.bind(&r.cluster, &r.name, export, resources.clone());
    for res in resources {
        let crd = f.get(&bound_crd::key(&res.crd)).await.expect("bound CRD");
        f.crds.upsert(BOUND_CRDS_CLUSTER, crd);
    }
}

fn condition<'a>(obj: &'a Value, type_: &str) -> &'a Value {
    obj["status"]["conditions"].as_array().and_then(|cs| cs.iter().find(|c| c["type"] == type_)).unwrap_or(&Value::Null)
}

#[tokio::test]
async fn a_binding_serves_the_exports_resources_under_its_identity() {
    let f = Fixture::new().await;
    let identity = f.provider("cowboys").await;
    let r = binding(&f, "cowboys", "cowboys").await;
    assert_eq!(controller(&f).reconcile(&r).await.unwrap(), Action::Done);
    let b = f.get(&r.key()).await.unwrap();
    assert_eq!(b["status"]["phase"], "Bound");
    assert_eq!(b["status"]["apiExportClusterName"], "p");
    assert_eq!(b["status"]["boundResources"][0]["schema"]["identityHash"], json!(identity));
    assert_eq!(b["status"]["boundResources"][0]["storageVersions"], json!(["v1"]));
    for c in [status::API_EXPORT_VALID, status::INITIAL_BINDING_COMPLETED, status::BINDING_UP_TO_DATE, status::READY] {
        assert_eq!(condition(&b, c)["status"], "True", "{c}");
    }
    assert!(object::finalizers(&b).contains(&FINALIZER.to_string()));
    let lc = f.get(&apiserver::storage::Key::logical_cluster("c").encode()).await.unwrap();
    assert_eq!(resource_locks::table_of(&lc)["cowboys.wildwest.dev"].binding, "cowboys");

    observe(&f, &r).await;
    let served = f.api.crds.served("c");
    let cowboys = served.iter().find(|i| i.plural == "cowboys").expect("served in the consumer");
    assert_eq!(cowboys.storage_resource(), format!("cowboys:{identity}"));
    assert!(f.api.crds.served("p").is_empty(), "the provider does not serve what it exports");
}

#[tokio::test]
async fn a_missing_export_is_reported_and_retried() {
    let f = Fixture::new().await;
    f.provider("cowboys").await;
    let r = binding(&f, "b", "cowboys").await;
    f.store.delete(&ObjectRef::new(GROUP, "apiexports", "p", "", "cowboys").key(), None).await.expect("export gone");
    assert_eq!(controller(&f).reconcile(&r).await.unwrap(), Action::RequeueAfter(RECHECK));
    let b = f.get(&r.key()).await.unwrap();
    assert_eq!(b["status"]["phase"], "Binding");
    assert_eq!(condition(&b, status::API_EXPORT_VALID)["reason"], "APIExportNotFound");
    assert_eq!(condition(&b, status::API_EXPORT_VALID)["message"], "APIExport p:cowboys not found");
    assert_eq!(condition(&b, status::READY)["status"], "False");
}

#[tokio::test]
async fn a_second_export_of_the_same_resource_is_a_naming_conflict() {
    let f = Fixture::new().await;
    f.provider("cowboys").await;
    f.provider("rivals").await;
    let first = binding(&f, "cowboys", "cowboys").await;
    let second = binding(&f, "rivals", "rivals").await;
    let c = controller(&f);
    assert_eq!(c.reconcile(&first).await.unwrap(), Action::Done);
    assert_eq!(c.reconcile(&second).await.unwrap(), Action::RequeueAfter(RECHECK));
    let b = f.get(&second.key()).await.unwrap();
    assert_eq!(b["status"]["phase"], "Binding");
    assert_eq!(condition(&b, status::INITIAL_BINDING_COMPLETED)["reason"], "NamingConflicts");
    assert_eq!(
        condition(&b, status::INITIAL_BINDING_COMPLETED)["message"],
        "Unable to bind APIs: cowboys.wildwest.dev is already served by APIBinding \"cowboys\""
    );
}

#[tokio::test]
async fn a_crd_and_a_binding_never_serve_the_same_resource() {
    let f = Fixture::new().await;
    f.provider("cowboys").await;
    let crd = |name: &str| {
        json!({"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition", "metadata": {"name": name},
        "spec": {"group": "wildwest.dev", "scope": "Namespaced", "names": {"plural": "cowboys", "kind": "Cowboy"},
          "versions": [{"name": "v1", "served": true, "storage": true, "schema": {"openAPIV3Schema": {"type": "object"}}}]}})
    };
    // A binding first: the CRD is refused, naming it.
    let r = binding(&f, "cowboys", "cowboys").await;
    controller(&f).reconcile(&r).await.unwrap();
    let at = ObjectRef::new("apiextensions.k8s.io", "customresourcedefinitions", "c", "", "cowboys.wildwest.dev");
    let err = f.admin().create(&at, crd("cowboys.wildwest.dev")).await.unwrap_err();
    assert_eq!(err.reason, apimachinery::status::Reason::Forbidden);
    assert!(err.message.contains("cannot create because resource is bound by APIBinding \"cowboys\""), "{}", err.message);

    // A CRD first (in another consumer): the binding reports the conflict and serves nothing.
    f.namespace("d", "default-ns").await;
    let at = ObjectRef::new("apiextensions.k8s.io", "customresourcedefinitions", "d", "", "cowboys.wildwest.dev");
    let stored = f.admin().create(&at, crd("cowboys.wildwest.dev")).await.expect("crd");
    f.crds.upsert("d", stored);
    let b = ObjectRef::new(GROUP, "apibindings", "d", "", "cowboys");
    let obj = json!({"apiVersion": "apis.kcp.io/v1alpha2", "kind": "APIBinding", "metadata": {"name": "cowboys"},
        "spec": {"reference": {"export": {"path": "p", "name": "cowboys"}}}});
    f.admin().create(&b, obj).await.unwrap();
    assert_eq!(controller(&f).reconcile(&b).await.unwrap(), Action::RequeueAfter(RECHECK));
    let obj = f.get(&b.key()).await.unwrap();
    assert_eq!(condition(&obj, status::INITIAL_BINDING_COMPLETED)["reason"], "NamingConflicts");
    assert!(condition(&obj, status::INITIAL_BINDING_COMPLETED)["message"].as_str().unwrap().contains("CustomResourceDefinition \"cowboys.wildwest.dev\""));
    assert!(obj["status"]["boundResources"].is_null());
}

#[tokio::test]
async fn deleting_a_binding_deletes_its_objects_unless_another_adopts_them() {
    let f = Fixture::new().await;
    let identity = f.provider("cowboys").await;
    let c = controller(&f);
    let first = binding(&f, "first", "cowboys").await;
    c.reconcile(&first).await.unwrap();
    observe(&f, &first).await;
    let cowboy = ObjectRef::new("wildwest.dev", &format!("cowboys:{identity}"), "c", "default-ns", "woody");
    // A finalizer holds it once deleted, so the binding's deletion has to wait for it.
    let held = json!({"apiVersion": "wildwest.dev/v1", "kind": "Cowboy", "metadata": {"name": "woody", "finalizers": ["example.com/hold"]}});
    f.admin().create(&cowboy, held).await.expect("cowboy");

    // A second binding to the same export waits for the lock, and adopts the objects.
    let second = binding(&f, "second", "cowboys").await;
    assert_eq!(c.reconcile(&second).await.unwrap(), Action::RequeueAfter(RECHECK));
    f.admin().delete(&first, None).await.unwrap();
    assert_eq!(c.reconcile(&first).await.unwrap(), Action::Done);
    assert!(f.get(&first.key()).await.is_none(), "the finalizer is released");
    assert!(f.get(&cowboy.key()).await.is_some(), "adopted objects stay");
    observe(&f, &first).await;
    assert_eq!(c.reconcile(&second).await.unwrap(), Action::Done);
    observe(&f, &second).await;

    // The last binding takes its objects with it.
    f.admin().delete(&second, None).await.unwrap();
    assert_eq!(c.reconcile(&second).await.unwrap(), Action::RequeueAfter(DELETE_PASS), "objects are held");
    let b = f.get(&second.key()).await.unwrap();
    assert_eq!(condition(&b, status::BINDING_RESOURCE_DELETE_SUCCESS)["status"], "False");
    crate::controllers::remove_finalizer(&f.admin(), &cowboy, "example.com/hold").await.unwrap();
    assert_eq!(c.reconcile(&second).await.unwrap(), Action::Done);
    assert!(f.get(&cowboy.key()).await.is_none());
    assert!(f.get(&second.key()).await.is_none());
    let lc = f.get(&apiserver::storage::Key::logical_cluster("c").encode()).await.unwrap();
    assert!(resource_locks::table_of(&lc).is_empty(), "the lock is released");
}

#[tokio::test]
async fn only_the_controller_says_what_a_binding_serves() {
    let f = Fixture::new().await;
    f.provider("cowboys").await;
    let r = binding(&f, "cowboys", "cowboys").await;
    let user = SystemClient::new(f.api.clone(), "someone", &[]);
    let mut obj = f.get(&r.key()).await.unwrap();
    obj["status"] =
        json!({"boundResources": [{"group": "wildwest.dev", "resource": "cowboys", "schema": {"name": "x", "UID": "u", "identityHash": "forged"}}]});
    let err = user.update_status(&r, obj).await.unwrap_err();
    assert_eq!(err.reason, apimachinery::status::Reason::Forbidden);
}

#[test]
fn once_bound_a_binding_stays_initially_bound() {
    let mut b = json!({"spec": {}, "status": {}});
    let bound = Outcome::Bound { export_cluster: "p".into(), resources: vec![], export_claims: json!([]) };
    assert!(status::apply(&mut b, &bound));
    assert!(!status::apply(&mut b, &bound), "a second pass changes nothing");
    assert!(status::apply(&mut b, &Outcome::ExportNotFound("p:x".into())));
    assert_eq!(condition(&b, status::INITIAL_BINDING_COMPLETED)["status"], "True");
    assert_eq!(condition(&b, status::READY)["status"], "True");
    assert_eq!(condition(&b, status::BINDING_UP_TO_DATE)["reason"], "APIExportNotFound");
    assert_eq!(b["status"]["phase"], "Bound");
}

#[test]
fn claims_the_export_does_not_make_are_invalid() {
    let claim = |resource: &str, state: &str| json!({"group": "", "resource": resource, "state": state, "verbs": ["get"], "selector": {"matchAll": true}});
    let mut b = json!({"spec": {"permissionClaims": [claim("configmaps", "Accepted"), claim("secrets", "Rejected"), claim("pods", "Accepted")]}});
    let export_claims = json!([{"group": "", "resource": "configmaps", "verbs": ["get"]}, {"group": "", "resource": "secrets", "verbs": ["get"]}]);
    status::apply(&mut b, &Outcome::Bound { export_cluster: "p".into(), resources: vec![], export_claims });
    assert_eq!(b["status"]["appliedPermissionClaims"], json!([claim("configmaps", "Accepted")]));
    assert_eq!(condition(&b, status::PERMISSION_CLAIMS_VALID)["status"], "False");
    assert!(condition(&b, status::PERMISSION_CLAIMS_VALID)["message"].as_str().unwrap().contains("pods"));
}

#[tokio::test]
async fn an_export_arriving_in_the_cache_wakes_the_waiting_bindings() {
    use apiserver::controller::queue::WorkQueue;
    use cache_server::client::Update;
    use cache_server::store::{Change as CacheChange, Key};
    let (tx, rx) = tokio::sync::broadcast::channel(8);
    let queue: Arc<WorkQueue<ObjectRef>> = Arc::default();
    let waiting: Waiting = Arc::default();
    let r = ObjectRef::new(GROUP, "apibindings", "c", "", "cowboys");
    waiting.lock().unwrap().insert(r.clone());
    let task = tokio::spawn(crate::controllers::wake_on_cache(rx, GROUP, queue.clone(), waiting));
    let change = |group: &str| {
        let key = Key { group: group.into(), resource: "x".into(), cluster: "p".into(), namespace: String::new(), name: "n".into() };
        Update::Changed(Arc::new(CacheChange { shard: "s".into(), revision: 1, key, json: None, published_unix_micros: 0 }))
    };
    tx.send(change("rbac.authorization.k8s.io")).unwrap();
    tx.send(change(GROUP)).unwrap();
    let woken = tokio::time::timeout(std::time::Duration::from_secs(5), queue.next()).await.expect("woken");
    assert_eq!(woken, Some(r));
    drop(tx);
    task.await.unwrap();
}
