use serde_json::json;

use super::*;
use crate::controllers::testing::Fixture;

fn role(rules: Value) -> Value {
    json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "metadata": {"name": "type-users"}, "rules": rules})
}

fn binding(role: &str) -> Value {
    json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding", "metadata": {"name": "alice-uses"},
           "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": role},
           "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": "alice"}]})
}

#[test]
fn only_use_on_workspace_types_counts() {
    assert!(grants_type_use(&role(json!([{"apiGroups": ["tenancy.kcp.io"], "resources": ["workspacetypes"], "verbs": ["use"]}]))));
    assert!(grants_type_use(&role(json!([{"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]}]))));
    assert!(!grants_type_use(&role(json!([{"apiGroups": ["tenancy.kcp.io"], "resources": ["workspacetypes"], "verbs": ["get", "list"]}]))));
    assert!(!grants_type_use(&role(json!([{"apiGroups": [""], "resources": ["workspacetypes"], "verbs": ["use"]}]))));
}

#[test]
fn marking_keeps_other_reasons() {
    let mut obj = json!({"metadata": {"annotations": {REPLICATE_ANNOTATION: "apiexports"}}});
    assert!(mark(&mut obj, true));
    assert_eq!(obj["metadata"]["annotations"][REPLICATE_ANNOTATION], "apiexports,workspacetypes");
    assert!(!mark(&mut obj, true));
    assert!(mark(&mut obj, false));
    assert_eq!(obj["metadata"]["annotations"][REPLICATE_ANNOTATION], "apiexports");
    let mut only = json!({"metadata": {"annotations": {REPLICATE_ANNOTATION: "workspacetypes"}}});
    assert!(mark(&mut only, false));
    assert!(only["metadata"]["annotations"].get(REPLICATE_ANNOTATION).is_none());
}

#[tokio::test]
async fn roles_granting_use_and_their_bindings_are_marked_then_unmarked() {
    let f = Fixture::new().await;
    let client = f.client(NAME);
    let role_ref = ObjectRef::new("rbac.authorization.k8s.io", "clusterroles", "root", "", "type-users");
    let binding_ref = ObjectRef::new("rbac.authorization.k8s.io", "clusterrolebindings", "root", "", "alice-uses");
    client.create(&role_ref, role(json!([{"apiGroups": ["tenancy.kcp.io"], "resources": ["workspacetypes"], "verbs": ["use"]}]))).await.unwrap();
    client.create(&binding_ref, binding("type-users")).await.unwrap();
    let r = ReplicateRbac { client: f.client(NAME) };
    r.reconcile(&role_ref).await.unwrap();
    r.reconcile(&binding_ref).await.unwrap();
    assert!(reasons(&client.get(&role_ref).await.unwrap().unwrap()).contains(WORKSPACE_TYPES));
    assert!(reasons(&client.get(&binding_ref).await.unwrap().unwrap()).contains(WORKSPACE_TYPES));

    // The role stops granting use: both lose the mark.
    super::super::update(&client, &role_ref, Part::Main, |o| {
        o["rules"] = json!([{"apiGroups": ["tenancy.kcp.io"], "resources": ["workspacetypes"], "verbs": ["get"]}]);
        true
    })
    .await
    .unwrap();
    r.reconcile(&role_ref).await.unwrap();
    r.reconcile(&binding_ref).await.unwrap();
    assert!(reasons(&client.get(&role_ref).await.unwrap().unwrap()).is_empty());
    assert!(reasons(&client.get(&binding_ref).await.unwrap().unwrap()).is_empty());

    // A binding to the bootstrap cluster-admin (every workspace owner's) is marked too.
    let admin_ref = ObjectRef::new("rbac.authorization.k8s.io", "clusterrolebindings", "root", "", "owner");
    let mut owner = binding("cluster-admin");
    owner["metadata"]["name"] = json!("owner");
    client.create(&admin_ref, owner).await.unwrap();
    r.reconcile(&admin_ref).await.unwrap();
    assert!(reasons(&client.get(&admin_ref).await.unwrap().unwrap()).contains(WORKSPACE_TYPES));
}
