use serde_json::json;

use super::*;
use crate::controllers::testing::Fixture;

#[test]
fn one_url_per_shard_and_stage_the_type_holds() {
    let gated = json!({"spec": {"initializer": true}});
    let shards = ["https://b:6443/".to_string(), "https://a:6443".to_string(), String::new()];
    assert_eq!(
        virtual_workspaces(&gated, "root:gated", &shards),
        [
            json!({"url": "https://a:6443/services/initializingworkspaces/root:gated", "type": "initializing"}),
            json!({"url": "https://b:6443/services/initializingworkspaces/root:gated", "type": "initializing"})
        ]
    );
    let both = json!({"spec": {"initializer": true, "terminator": true}});
    assert_eq!(
        virtual_workspaces(&both, "root:both", &shards[..2]),
        [
            json!({"url": "https://a:6443/services/initializingworkspaces/root:both", "type": "initializing"}),
            json!({"url": "https://a:6443/services/terminatingworkspaces/root:both", "type": "terminating"}),
            json!({"url": "https://b:6443/services/initializingworkspaces/root:both", "type": "initializing"}),
            json!({"url": "https://b:6443/services/terminatingworkspaces/root:both", "type": "terminating"})
        ]
    );
    assert!(virtual_workspaces(&json!({"spec": {}}), "root:plain", &shards).is_empty());
}

#[tokio::test]
async fn a_type_publishes_its_initializing_view_and_drops_it_when_it_stops_initializing() {
    let f = Fixture::new().await;
    let r = ObjectRef::new(GROUP, "workspacetypes", "root", "", "gated");
    let def = json!({"apiVersion": "tenancy.kcp.io/v1alpha1", "kind": "WorkspaceType", "metadata": {"name": "gated"}, "spec": {"initializer": true}});
    f.admin().create(&r, def).await.expect("type");
    let c = WorkspaceTypeUrls::new(f.client(NAME), f.global.clone());
    assert_eq!(c.reconcile(&r).await.unwrap(), Action::Done);
    let t = f.get(&r.key()).await.unwrap();
    assert_eq!(
        t["status"]["virtualWorkspaces"],
        json!([{"url": "https://shard.example:6443/services/initializingworkspaces/root:gated", "type": "initializing"}])
    );

    super::super::update(&f.admin(), &r, Part::Main, |t| {
        t["spec"]["initializer"] = json!(false);
        true
    })
    .await
    .expect("stop initializing");
    c.reconcile(&r).await.unwrap();
    assert!(f.get(&r.key()).await.unwrap()["status"].get("virtualWorkspaces").is_none());
}
