use std::collections::BTreeSet;

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

fn set(reasons: &[&str]) -> BTreeSet<String> {
    reasons.iter().map(|r| r.to_string()).collect()
}

#[test]
fn the_binding_index_follows_each_binding_to_its_role_and_forgets_it() {
    let crb = |cluster: &str, name: &str| ObjectRef::new("rbac.authorization.k8s.io", "clusterrolebindings", cluster, "", name);
    let mut index = BindingIndex::default();
    assert_eq!(index.set(&crb("c1", "a"), Some("admin")), None);
    index.set(&crb("c1", "b"), Some("admin"));
    index.set(&crb("c2", "a"), Some("admin"));
    index.set(&crb("c1", "c"), Some("admins"));
    let admin = cluster_role("c1", "admin");
    assert_eq!(index.bindings_of(&admin), [crb("c1", "a"), crb("c1", "b")]);
    // A deleted binding reports the role it named, and leaves it.
    assert_eq!(index.set(&crb("c1", "a"), None), Some(admin.clone()));
    assert_eq!(index.bindings_of(&admin), [crb("c1", "b")]);
    index.set(&crb("c1", "b"), None);
    assert!(index.bindings_of(&admin).is_empty() && index.by_role.len() == 2 && index.role_of.len() == 2);
}

#[test]
fn reasons_come_from_use_on_types_and_bind_on_exports() {
    let rules = |r: Value| reasons_for(&role(r));
    assert_eq!(rules(json!([{"apiGroups": ["tenancy.kcp.io"], "resources": ["workspacetypes"], "verbs": ["use"]}])), set(&[WORKSPACE_TYPES]));
    assert_eq!(rules(json!([{"apiGroups": ["tenancy.kcp.io"], "resources": ["workspacetypes"], "verbs": ["initialize"]}])), set(&[WORKSPACE_TYPES]));
    assert_eq!(rules(json!([{"apiGroups": ["tenancy.kcp.io"], "resources": ["workspacetypes"], "verbs": ["terminate"]}])), set(&[WORKSPACE_TYPES]));
    assert_eq!(rules(json!([{"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]}])), set(&[API_EXPORTS, WORKSPACE_TYPES]));
    assert_eq!(rules(json!([{"apiGroups": ["apis.kcp.io"], "resources": ["apiexports"], "verbs": ["bind"]}])), set(&[API_EXPORTS]));
    assert_eq!(rules(json!([{"apiGroups": ["apis.kcp.io"], "resources": ["apiexports/content"], "verbs": ["get"]}])), set(&[API_EXPORTS]));
    assert!(rules(json!([{"apiGroups": ["tenancy.kcp.io"], "resources": ["workspacetypes"], "verbs": ["get", "list"]}])).is_empty());
    assert!(rules(json!([{"apiGroups": [""], "resources": ["workspacetypes"], "verbs": ["use"]}])).is_empty());
    assert!(rules(json!([{"apiGroups": ["apis.kcp.io"], "resources": ["apiexports"], "verbs": ["get"]}])).is_empty());
}

#[test]
fn marking_keeps_other_reasons() {
    let mut obj = json!({"metadata": {"annotations": {REPLICATE_ANNOTATION: "other"}}});
    assert!(mark(&mut obj, &set(&[WORKSPACE_TYPES])));
    assert_eq!(obj["metadata"]["annotations"][REPLICATE_ANNOTATION], "other,workspacetypes");
    assert!(!mark(&mut obj, &set(&[WORKSPACE_TYPES])));
    assert!(mark(&mut obj, &BTreeSet::new()));
    assert_eq!(obj["metadata"]["annotations"][REPLICATE_ANNOTATION], "other");
    let mut only = json!({"metadata": {"annotations": {REPLICATE_ANNOTATION: "workspacetypes"}}});
    assert!(mark(&mut only, &BTreeSet::new()));
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

    // A binding to the bootstrap cluster-admin (every workspace owner's) stays home.
    let admin_ref = ObjectRef::new("rbac.authorization.k8s.io", "clusterrolebindings", "root", "", "owner");
    let mut owner = binding("cluster-admin");
    owner["metadata"]["name"] = json!("owner");
    client.create(&admin_ref, owner).await.unwrap();
    r.reconcile(&admin_ref).await.unwrap();
    assert!(reasons(&client.get(&admin_ref).await.unwrap().unwrap()).is_empty());
}

#[tokio::test]
async fn a_maximal_permission_policy_travels_with_its_role() {
    let f = Fixture::new().await;
    let client = f.client(NAME);
    let role_ref = ObjectRef::new("rbac.authorization.k8s.io", "clusterroles", "root", "", "type-users");
    let binding_ref = ObjectRef::new("rbac.authorization.k8s.io", "clusterrolebindings", "root", "", "alice-uses");
    client.create(&role_ref, role(json!([{"apiGroups": ["wildwest.dev"], "resources": ["cowboys"], "verbs": ["get", "list"]}]))).await.unwrap();
    let mut policy = binding("type-users");
    policy["subjects"] = json!([{"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": "apis.kcp.io:binding:system:authenticated"}]);
    assert!(grants_to_bindings(&policy));
    client.create(&binding_ref, policy).await.unwrap();
    let r = ReplicateRbac { client: f.client(NAME) };
    r.reconcile(&binding_ref).await.unwrap();
    r.reconcile(&role_ref).await.unwrap();
    assert_eq!(reasons(&client.get(&binding_ref).await.unwrap().unwrap()), set(&[API_EXPORTS]));
    assert_eq!(reasons(&client.get(&role_ref).await.unwrap().unwrap()), set(&[API_EXPORTS]));

    // Once the binding is gone the role stays home again.
    client.delete(&binding_ref, None).await.unwrap();
    r.reconcile(&role_ref).await.unwrap();
    assert!(reasons(&client.get(&role_ref).await.unwrap().unwrap()).is_empty());
    assert!(!grants_to_bindings(&binding("x")));
}
