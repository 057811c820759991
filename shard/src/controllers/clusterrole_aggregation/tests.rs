use super::*;
use crate::controllers::testing::Fixture;
use serde_json::json;

fn role(name: &str, labels: Value, rules: Value) -> Value {
    json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "metadata": {"name": name, "labels": labels}, "rules": rules})
}

fn cr(cluster: &str, name: &str) -> ObjectRef {
    ObjectRef::new(rbac::GROUP, "clusterroles", cluster, "", name)
}

#[tokio::test]
async fn an_aggregated_role_gathers_the_rules_of_the_roles_it_selects_in_its_cluster() {
    let f = Fixture::new().await;
    f.namespace("c1", "default").await;
    f.namespace("c2", "default").await;
    let admin = f.admin();
    let read = json!({"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get"]});
    let write = json!({"apiGroups": [""], "resources": ["secrets"], "verbs": ["create"]});
    let label = json!({"example.com/aggregate-to-ops": "true"});
    admin.create(&cr("c1", "b-reader"), role("b-reader", label.clone(), json!([read]))).await.unwrap();
    admin.create(&cr("c1", "a-writer"), role("a-writer", label.clone(), json!([write, read]))).await.unwrap();
    admin.create(&cr("c1", "other"), role("other", json!({}), json!([{"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]}]))).await.unwrap();
    admin.create(&cr("c2", "elsewhere"), role("elsewhere", label.clone(), json!([{"apiGroups": [""], "resources": ["pods"], "verbs": ["*"]}]))).await.unwrap();
    let mut ops = role("ops", json!({}), json!([]));
    ops["aggregationRule"] = json!({"clusterRoleSelectors": [{"matchLabels": label}]});
    admin.create(&cr("c1", "ops"), ops).await.unwrap();

    let c = Aggregation::new(f.client(NAME));
    assert_eq!(c.reconcile(&cr("c1", "ops")).await.unwrap(), Action::Done);
    assert_eq!(f.get(&cr("c1", "ops").key()).await.unwrap()["rules"], json!([write, read]), "name order, each rule once, this cluster only");

    admin.delete(&cr("c1", "a-writer"), None).await.unwrap();
    c.reconcile(&cr("c1", "ops")).await.unwrap();
    assert_eq!(f.get(&cr("c1", "ops").key()).await.unwrap()["rules"], json!([read]));
}
