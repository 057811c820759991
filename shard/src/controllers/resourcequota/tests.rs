use super::*;
use crate::controllers::testing::Fixture;
use apiserver::rest::client::ObjectRef;

fn config_map(name: &str) -> Value {
    json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": {"k": "v"}})
}

fn cm(name: &str) -> ObjectRef {
    ObjectRef::new("", "configmaps", "c1", "team", name)
}

async fn quota(f: &Fixture, hard: Value) -> (QuotaStatus, ObjectRef) {
    let r = ObjectRef::new("", "resourcequotas", "c1", "team", "q");
    let obj = json!({"apiVersion": "v1", "kind": "ResourceQuota", "metadata": {"name": "q"}, "spec": {"hard": hard}});
    f.client("test").create(&r, obj).await.expect("quota");
    (QuotaStatus { client: f.client(NAME), index: f.indexes.quotas.clone() }, r)
}

#[tokio::test]
async fn status_acknowledges_the_limits_and_counts_what_is_stored() {
    let f = Fixture::new().await;
    f.namespace("c1", "team").await;
    let client = f.client("test");
    for name in ["a", "b"] {
        client.create(&cm(name), config_map(name)).await.unwrap();
    }
    let (c, r) = quota(&f, json!({"configmaps": "5", "count/secrets": "1", "requests.cpu": "2"})).await;
    assert_eq!(c.reconcile(&r).await.unwrap(), Action::RequeueAfter(RESYNC));
    let status = &f.get(&r.key()).await.unwrap()["status"];
    assert_eq!(status["hard"], json!({"configmaps": "5", "count/secrets": "1", "requests.cpu": "2"}));
    assert_eq!(status["used"], json!({"configmaps": "2", "count/secrets": "0", "requests.cpu": "0"}));
}

#[tokio::test]
async fn creates_are_charged_until_the_limit_and_a_delete_gives_the_slot_back() {
    let f = Fixture::new().await;
    f.namespace("c1", "team").await;
    let client = f.client("test");
    let (c, r) = quota(&f, json!({"count/configmaps": "2"})).await;
    // Not acknowledged yet: the quota restricts nothing, as in kube.
    client.create(&cm("a"), config_map("a")).await.unwrap();
    c.reconcile(&r).await.unwrap();
    assert_eq!(f.get(&r.key()).await.unwrap()["status"]["used"], json!({"count/configmaps": "1"}));

    client.create(&cm("b"), config_map("b")).await.unwrap();
    assert_eq!(f.get(&r.key()).await.unwrap()["status"]["used"], json!({"count/configmaps": "2"}), "charged by admission");
    let refused = client.create(&cm("c"), config_map("c")).await.unwrap_err();
    assert_eq!((refused.code(), refused.reason), (403, Reason::Forbidden));
    assert_eq!(
        refused.message,
        r#"configmaps "c" is forbidden: exceeded quota: q, requested: count/configmaps=1, used: count/configmaps=2, limited: count/configmaps=2"#
    );
    assert!(f.get(&cm("c").key()).await.is_none(), "nothing stored");
    // A duplicate is refused by the store, and not charged.
    let dup = client.create(&cm("b"), config_map("b")).await.unwrap_err();
    assert_eq!(dup.reason, Reason::Forbidden, "the quota is full either way");

    client.delete(&cm("a"), None).await.unwrap();
    c.reconcile(&r).await.unwrap();
    assert_eq!(f.get(&r.key()).await.unwrap()["status"]["used"], json!({"count/configmaps": "1"}));
    client.create(&cm("c"), config_map("c")).await.unwrap();
}

#[tokio::test]
async fn a_duplicate_name_is_not_charged() {
    let f = Fixture::new().await;
    f.namespace("c1", "team").await;
    let client = f.client("test");
    client.create(&cm("a"), config_map("a")).await.unwrap();
    let (c, r) = quota(&f, json!({"configmaps": "3"})).await;
    c.reconcile(&r).await.unwrap();
    let dup = client.create(&cm("a"), config_map("a")).await.unwrap_err();
    assert_eq!(dup.reason, Reason::AlreadyExists);
    assert_eq!(f.get(&r.key()).await.unwrap()["status"]["used"], json!({"configmaps": "1"}));
}

#[tokio::test]
async fn other_namespaces_and_unrestricted_resources_pass() {
    let f = Fixture::new().await;
    f.namespace("c1", "team").await;
    f.namespace("c1", "other").await;
    let client = f.client("test");
    let (c, r) = quota(&f, json!({"configmaps": "0"})).await;
    c.reconcile(&r).await.unwrap();
    assert_eq!(client.create(&cm("a"), config_map("a")).await.unwrap_err().reason, Reason::Forbidden);
    client.create(&ObjectRef::new("", "configmaps", "c1", "other", "a"), config_map("a")).await.expect("another namespace");
    let secret = json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"}});
    client.create(&ObjectRef::new("", "secrets", "c1", "team", "s"), secret).await.expect("not restricted");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn racing_creates_never_share_the_last_slots() {
    let f = Fixture::new().await;
    f.namespace("c1", "team").await;
    let (c, r) = quota(&f, json!({"configmaps": "3"})).await;
    c.reconcile(&r).await.unwrap();
    let creates = (0..12).map(|i| {
        let client = f.client("test");
        tokio::spawn(async move { client.create(&cm(&format!("x{i}")), config_map(&format!("x{i}"))).await })
    });
    let mut admitted = 0;
    for create in creates.collect::<Vec<_>>() {
        match create.await.unwrap() {
            Ok(_) => admitted += 1,
            Err(e) => assert_eq!(e.reason, Reason::Forbidden, "{e:?}"),
        }
    }
    assert_eq!(admitted, 3);
    let stored = f.store.list(&key::namespace_prefix("", "configmaps", "c1", "team"), None, 0, None).await.unwrap().items.len();
    assert_eq!(stored, 3);
    assert_eq!(f.get(&r.key()).await.unwrap()["status"]["used"], json!({"configmaps": "3"}));
}

#[tokio::test]
async fn a_resource_served_from_another_groups_objects_is_counted_where_they_are_stored() {
    let f = Fixture::new().await;
    f.namespace("c1", "team").await;
    let event = json!({"apiVersion": "v1", "kind": "Event", "metadata": {"name": "e"}, "involvedObject": {"kind": "ConfigMap", "name": "a", "namespace": "team"}, "reason": "R"});
    f.client("test").create(&ObjectRef::new("", "events", "c1", "team", "e"), event).await.unwrap();
    let (c, r) = quota(&f, json!({"count/events.events.k8s.io": "5"})).await;
    c.reconcile(&r).await.unwrap();
    assert_eq!(f.get(&r.key()).await.unwrap()["status"]["used"], json!({"count/events.events.k8s.io": "1"}), "events.k8s.io Events are core Events");
}
