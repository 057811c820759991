use super::*;
use crate::controllers::testing::Fixture;
use apiserver::storage::Stored;
use serde_json::json;

#[tokio::test]
async fn an_event_goes_once_its_ttl_has_passed_since_its_last_write() {
    let f = Fixture::new().await;
    f.namespace("c1", "default").await;
    let r = ObjectRef::new("", "events", "c1", "default", "e1");
    let event = json!({"apiVersion": "v1", "kind": "Event", "metadata": {"name": "e1"}, "involvedObject": {"kind": "ConfigMap", "name": "x"}, "reason": "R"});
    f.client("test").create(&r, event).await.unwrap();
    let stored = f.store.get(&r.key()).await.unwrap();
    let c = EventTtl::new(f.client(NAME), Duration::from_millis(200));
    let seen = |s: &Stored| note(&c.written, &Change::Present(s.clone()));
    assert_eq!(seen(&stored), Some(r.clone()));
    assert!(matches!(c.reconcile(&r).await.unwrap(), Action::RequeueAfter(d) if d <= Duration::from_millis(200)));

    // Written again after the note: the stale revision keeps it.
    tokio::time::sleep(Duration::from_millis(250)).await;
    let newer = f.store.update(&r.key(), stored.revision, stored.value.clone()).await.unwrap();
    assert_eq!(c.reconcile(&r).await.unwrap(), Action::Done);
    assert!(f.get(&r.key()).await.is_some(), "written again meanwhile");

    // The informer reports that write; its TTL runs from there.
    seen(&Stored { revision: newer, ..stored });
    assert!(matches!(c.reconcile(&r).await.unwrap(), Action::RequeueAfter(_)));
    tokio::time::sleep(Duration::from_millis(250)).await;
    assert_eq!(c.reconcile(&r).await.unwrap(), Action::Done);
    assert!(f.get(&r.key()).await.is_none(), "expired");
    assert_eq!(note(&c.written, &Change::Gone(r.key())), None);
    assert!(c.written.lock().unwrap().is_empty());
}
