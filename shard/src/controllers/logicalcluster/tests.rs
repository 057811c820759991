use apimachinery::status::Reason;
use serde_json::json;

use super::*;
use crate::controllers::namespace::NamespaceDeletion;
use crate::controllers::testing::Fixture;
use crate::controllers::workspace;
use crate::tenancy::Holders;
use apimachinery::registry::kcpcore::logicalcluster::{Hook, TERMINATOR_FINALIZER};

fn lc_ref(cluster: &str) -> ObjectRef {
    ObjectRef::new("core.kcp.io", "logicalclusters", cluster, "", "cluster")
}

fn new_cluster<'a>(name: &'a str, owner: Option<&'a str>) -> NewCluster<'a> {
    NewCluster { name, path: "root:team", type_ref: "root:universal", owner, spec_owner: Value::Null }
}

async fn phase(f: &Fixture, cluster: &str) -> Value {
    f.get(&lc_ref(cluster).key()).await.expect("logical cluster")["status"]["phase"].clone()
}

#[tokio::test]
async fn creating_a_logical_cluster_makes_what_a_workspace_needs() {
    let f = Fixture::new().await;
    let owner = r#"{"username":"alice"}"#;
    create_logical_cluster(&f.client(workspace::NAME), &f.global, new_cluster("lc1", Some(owner))).await.unwrap();
    assert!(f.get("core/namespaces/lc1//default").await.is_some());
    let crb = f.get("rbac.authorization.k8s.io/clusterrolebindings/lc1//workspace-admin").await.unwrap();
    assert_eq!(crb["subjects"][0]["name"], "alice");
    // No initializers on the type: Ready at once.
    assert_eq!(phase(&f, "lc1").await, "Ready");
    assert_eq!(f.get(&lc_ref("lc1").key()).await.unwrap()["metadata"]["annotations"]["kcp.io/path"], "root:team");
}

#[tokio::test]
async fn granting_cluster_admin_goes_through_escalation_checks() {
    let f = Fixture::new().await;
    // A controller that holds nothing may not grant cluster-admin: admission runs for it too.
    let err = create_logical_cluster(&f.client(NAME), &f.global, new_cluster("lc1", Some(r#"{"username":"alice"}"#))).await.unwrap_err();
    assert_eq!(err.reason, Reason::Forbidden, "{err}");
    assert!(f.get(&lc_ref("lc1").key()).await.is_none(), "the LogicalCluster comes last");
}

#[tokio::test]
async fn a_new_logical_cluster_is_ready_once_no_initializers_are_left() {
    let f = Fixture::new().await;
    let r = LogicalClusters { client: f.client(NAME), crds: f.crds.clone() };
    let mut lc = new_cluster("lc2", None).object(&Holders { initializers: vec!["root:pending".to_string()], ..Default::default() }, "Initializing");
    f.client("test").create(&lc_ref("lc2"), lc.clone()).await.unwrap();
    assert_eq!(r.reconcile(&lc_ref("lc2")).await.unwrap(), apiserver::controller::Action::Done);
    assert!(f.get("core/namespaces/lc2//default").await.is_some(), "default namespace first");
    assert_eq!(phase(&f, "lc2").await, "Initializing", "held by its initializer");

    lc = f.client("test").get(&lc_ref("lc2")).await.unwrap().unwrap();
    lc["status"]["initializers"] = json!([]);
    f.client("test").update_status(&lc_ref("lc2"), lc).await.unwrap();
    r.reconcile(&lc_ref("lc2")).await.unwrap();
    assert_eq!(phase(&f, "lc2").await, "Ready");
}

#[tokio::test]
async fn a_deleted_logical_cluster_loses_its_content_before_its_finalizer() {
    let f = Fixture::new().await;
    let r = LogicalClusters { client: f.client(NAME), crds: f.crds.clone() };
    let namespaces = NamespaceDeletion { client: f.client(crate::controllers::namespace::NAME), crds: f.crds.clone() };
    let mut lc = new_cluster("lc3", None).object(&Holders::default(), "Ready");
    lc["metadata"]["finalizers"] = json!([CONTENT_FINALIZER]);
    f.client("test").create(&lc_ref("lc3"), lc).await.unwrap();
    let team = f.namespace("lc3", "team").await;
    let default = f.namespace("lc3", "default").await;
    let cm = ObjectRef::new("", "configmaps", "lc3", "team", "cm");
    f.client("test").create(&cm, json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cm"}})).await.unwrap();

    f.client("test").delete(&lc_ref("lc3"), None).await.unwrap();
    assert_eq!(r.reconcile(&lc_ref("lc3")).await.unwrap(), apiserver::controller::Action::RequeueAfter(DELETE_PASS));
    assert_eq!(phase(&f, "lc3").await, "Deleting");
    // Namespaces are finalized by their own controller; the logical cluster waits for them.
    for _ in 0..5 {
        namespaces.reconcile(&team).await.unwrap();
        namespaces.reconcile(&default).await.unwrap();
        if r.reconcile(&lc_ref("lc3")).await.unwrap() == apiserver::controller::Action::Done {
            break;
        }
    }
    assert!(f.get(&cm.key()).await.is_none());
    assert!(f.get(&default.key()).await.is_none(), "even default goes with its logical cluster");
    assert!(f.get(&lc_ref("lc3").key()).await.is_none(), "released once empty");
}

#[tokio::test]
async fn terminators_hold_a_deleted_logical_cluster_with_its_content() {
    let f = Fixture::new().await;
    let holders = Holders { terminators: vec!["root:cleanup".to_string()], ..Default::default() };
    let lc = new_cluster("lc4", None).object(&holders, "Ready");
    assert_eq!(lc["metadata"]["finalizers"], json!([TERMINATOR_FINALIZER]));
    f.client("test").create(&lc_ref("lc4"), lc).await.unwrap();
    let cm = ObjectRef::new("", "configmaps", "lc4", "default", "cm");
    f.namespace("lc4", "default").await;
    f.client("test").create(&cm, json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cm"}})).await.unwrap();

    // Deleting its workspace marks it deleted, and the content stays for the terminator.
    let client = f.client(workspace::NAME);
    assert_eq!(delete_content(&client, &f.crds, "lc4", true).await.unwrap(), Progress::Terminating);
    let held = f.get(&lc_ref("lc4").key()).await.expect("held by the terminators' finalizer");
    assert_eq!(held["status"]["phase"], "Terminating");
    assert!(Hook::Terminator.holds(&held, "root:cleanup"), "{held}");
    assert_eq!(delete_content(&client, &f.crds, "lc4", true).await.unwrap(), Progress::Terminating);
    assert!(f.get(&cm.key()).await.is_some(), "content waits for the terminator");

    // The terminator done, the content goes, then the LogicalCluster.
    let mut lc = f.client("test").get(&lc_ref("lc4")).await.unwrap().unwrap();
    lc["status"]["terminators"] = json!([]);
    f.client("test").update_status(&lc_ref("lc4"), lc).await.unwrap();
    let namespaces = NamespaceDeletion { client: f.client(crate::controllers::namespace::NAME), crds: f.crds.clone() };
    let default = ObjectRef::new("", "namespaces", "lc4", "", "default");
    for _ in 0..5 {
        if delete_content(&client, &f.crds, "lc4", true).await.unwrap() == Progress::Done {
            break;
        }
        namespaces.reconcile(&default).await.unwrap();
    }
    assert!(f.get(&cm.key()).await.is_none());
    assert!(f.get(&lc_ref("lc4").key()).await.is_none(), "gone once empty");
}
