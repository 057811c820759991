use serde_json::json;

use super::*;
use crate::controllers::testing::Fixture;
use apimachinery::meta::StoredMeta;

/// Rebuilds the index from storage, as a fresh informer would.
async fn reindex(f: &Fixture, gc: &GarbageCollector) {
    let page = f.store.list("", None, 0, None).await.unwrap();
    let mut idx = Index::default();
    for s in page.items {
        idx.present(&s.key, &StoredMeta::parse(&s.value).unwrap(), s.revision);
    }
    *gc.index() = idx;
}

async fn config_map(f: &Fixture, name: &str, owners: &[&Value]) -> ObjectRef {
    let r = ObjectRef::new("", "configmaps", "c1", "team", name);
    let refs: Vec<Value> =
        owners.iter().map(|o| json!({"apiVersion": "v1", "kind": "ConfigMap", "name": o["metadata"]["name"], "uid": o["metadata"]["uid"]})).collect();
    let mut obj = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}});
    if !refs.is_empty() {
        obj["metadata"]["ownerReferences"] = json!(refs);
    }
    f.client("test").create(&r, obj).await.unwrap();
    r
}

async fn setup() -> (Fixture, GarbageCollector) {
    let f = Fixture::new().await;
    f.namespace("c1", "team").await;
    let gc = GarbageCollector::new(f.client(NAME), f.indexes.objects.clone());
    (f, gc)
}

#[tokio::test]
async fn a_dependent_goes_with_its_last_owner() {
    let (f, gc) = setup().await;
    let a = config_map(&f, "a", &[]).await;
    let b = config_map(&f, "b", &[]).await;
    let (av, bv) = (f.get(&a.key()).await.unwrap(), f.get(&b.key()).await.unwrap());
    let dep = config_map(&f, "dep", &[&av, &bv]).await;
    reindex(&f, &gc).await;
    assert_eq!(gc.reconcile(&dep).await.unwrap(), Action::Done, "both owners alive: nothing to do");

    f.client("test").delete(&a, None).await.unwrap();
    reindex(&f, &gc).await;
    gc.reconcile(&dep).await.unwrap();
    let refs = f.get(&dep.key()).await.unwrap()["metadata"]["ownerReferences"].clone();
    assert_eq!(refs.as_array().map(Vec::len), Some(1), "the gone owner's reference is dropped");
    assert_eq!(refs[0]["uid"], bv["metadata"]["uid"]);

    f.client("test").delete(&b, None).await.unwrap();
    reindex(&f, &gc).await;
    gc.reconcile(&dep).await.unwrap();
    assert!(f.get(&dep.key()).await.is_none(), "no owner left");
}

#[tokio::test]
async fn a_foreground_owner_waits_for_its_dependents() {
    let (f, gc) = setup().await;
    let owner = config_map(&f, "owner", &[]).await;
    let ov = f.get(&owner.key()).await.unwrap();
    let dep = config_map(&f, "dep", &[&ov]).await;
    f.client("test").delete(&owner, Some("Foreground")).await.unwrap();
    reindex(&f, &gc).await;
    gc.reconcile(&owner).await.unwrap();
    // Foreground all the way down: the dependent first waits for its own (none) dependents.
    assert!(object::is_deleting(&f.get(&dep.key()).await.unwrap()));
    reindex(&f, &gc).await;
    gc.reconcile(&dep).await.unwrap();
    assert!(f.get(&dep.key()).await.is_none(), "the dependent is gone");
    assert!(f.get(&owner.key()).await.is_some(), "the owner waits for the index to see that");
    reindex(&f, &gc).await;
    gc.reconcile(&owner).await.unwrap();
    assert!(f.get(&owner.key()).await.is_none());
}

#[tokio::test]
async fn an_orphaning_owner_releases_its_dependents() {
    let (f, gc) = setup().await;
    let owner = config_map(&f, "owner", &[]).await;
    let ov = f.get(&owner.key()).await.unwrap();
    let dep = config_map(&f, "dep", &[&ov]).await;
    f.client("test").delete(&owner, Some("Orphan")).await.unwrap();
    reindex(&f, &gc).await;
    gc.reconcile(&owner).await.unwrap();
    assert!(f.get(&owner.key()).await.is_none());
    let kept = f.get(&dep.key()).await.expect("the dependent stays");
    assert!(kept["metadata"].get("ownerReferences").is_none());
}

#[tokio::test]
async fn an_owner_the_index_has_not_seen_yet_is_not_taken_for_gone() {
    let (f, gc) = setup().await;
    reindex(&f, &gc).await;
    let owner = config_map(&f, "owner", &[]).await;
    let ov = f.get(&owner.key()).await.unwrap();
    let dep = config_map(&f, "dep", &[&ov]).await;
    assert_eq!(gc.reconcile(&dep).await.unwrap(), Action::RequeueAfter(CATCH_UP));
    assert!(f.get(&dep.key()).await.is_some());
}

/// The index answers for the shared informer which keys a relist no longer finds, so it must
/// hold every key of the shard, not only those with owners.
#[tokio::test]
async fn the_index_holds_every_key_of_a_bootstrapped_shard() {
    let f = Fixture::new().await;
    f.namespace("c1", "team").await;
    let page = f.store.list("", None, 0, None).await.unwrap();
    let mut idx = Index::default();
    for s in &page.items {
        idx.present(&s.key, &StoredMeta::parse(&s.value).unwrap(), s.revision);
    }
    let held: std::collections::HashSet<String> = idx.vanished(&std::collections::HashSet::new()).into_iter().collect();
    let not_held: Vec<&String> = page.items.iter().map(|s| &s.key).filter(|k| !held.contains(*k)).collect();
    assert!(not_held.is_empty(), "{} of {} keys not held: {not_held:?}", not_held.len(), page.items.len());
}
