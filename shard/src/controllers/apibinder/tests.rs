use apiserver::storage::Key;
use serde_json::json;

use super::*;
use crate::controllers::apibinding::{self, ApiBindings};
use crate::controllers::testing::Fixture;

#[tokio::test]
async fn a_new_workspace_is_bound_to_its_types_exports_before_it_is_ready() {
    let f = Fixture::new().await;
    f.provider("cowboys").await;
    let t = ObjectRef::new("tenancy.kcp.io", "workspacetypes", "root", "", "ranch");
    let ranch = json!({"apiVersion": "tenancy.kcp.io/v1alpha1", "kind": "WorkspaceType", "metadata": {"name": "ranch"},
        "spec": {"defaultAPIBindings": [{"path": "p", "export": "cowboys"}]}});
    f.admin().create(&t, ranch).await.expect("type");
    let initializers = tenancy::holders_of(&f.global, "root:ranch").await.unwrap().initializers;
    assert_eq!(initializers, vec![API_BINDINGS_INITIALIZER.to_string()]);

    // A logical cluster of that type, as the workspace controller makes it.
    let lc = json!({"apiVersion": "core.kcp.io/v1alpha1", "kind": "LogicalCluster",
        "metadata": {"name": "cluster", "annotations": {tenancy::TYPE_ANNOTATION: "root:ranch"}},
        "spec": {"initializers": initializers}, "status": {"phase": "Initializing", "initializers": initializers}});
    f.store.create(&Key::logical_cluster("w").encode(), apiserver::rest::object::to_stored(&lc)).await.unwrap();
    let r = ObjectRef::new("core.kcp.io", "logicalclusters", "w", "", "cluster");
    let binder = ApiBinder { client: f.client(NAME), global: f.global.clone() };
    assert_eq!(binder.reconcile(&r).await.unwrap(), Action::RequeueAfter(RETRY), "waits for the binding");
    let binding = ObjectRef::new("apis.kcp.io", "apibindings", "w", "", "cowboys");
    assert_eq!(f.get(&binding.key()).await.expect("binding")["spec"]["reference"]["export"], json!({"path": "p", "name": "cowboys"}));

    let bindings = ApiBindings::new(f.client(apibinding::NAME), f.global.clone(), f.crds.clone());
    bindings.reconcile(&binding).await.unwrap();
    assert_eq!(binder.reconcile(&r).await.unwrap(), Action::Done);
    let lc = f.get(&r.key()).await.unwrap();
    assert_eq!(lc["status"]["initializers"], json!([]));
    assert_eq!(lc["spec"]["initializers"], json!([API_BINDINGS_INITIALIZER]), "spec keeps what the workspace started with");
}

#[tokio::test]
async fn default_bindings_need_bind_on_each_export() {
    let f = Fixture::new().await;
    f.provider("cowboys").await;
    let stranger = SystemClient::new(f.api.clone(), "stranger", &[]);
    let t = ObjectRef::new("tenancy.kcp.io", "workspacetypes", "c", "", "ranch");
    for export in ["cowboys", "missing"] {
        let ranch = json!({"apiVersion": "tenancy.kcp.io/v1alpha1", "kind": "WorkspaceType", "metadata": {"name": "ranch"},
            "spec": {"defaultAPIBindings": [{"path": "p", "export": export}]}});
        let err = stranger.create(&t, ranch).await.unwrap_err();
        assert_eq!(err.message, format!("unable to create WorkspaceType: no permission to bind to export p:{export}"));
    }
}

#[test]
fn binding_names_are_the_exports_unless_two_share_one() {
    let defaults = vec![("a".to_string(), "x".to_string()), ("b".to_string(), "x".to_string()), ("b".to_string(), "y".to_string())];
    assert_eq!((0..3).map(|i| binding_name(&defaults, i)).collect::<Vec<_>>(), ["x-0", "x-1", "y"]);
}
