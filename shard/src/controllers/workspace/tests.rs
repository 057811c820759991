use apiserver::rest::object;
use serde_json::json;

use super::*;
use crate::controllers::logicalcluster::LogicalClusters;
use crate::controllers::namespace::NamespaceDeletion;
use crate::controllers::testing::{Fixture, SHARD};
use crate::tenancy::WORKSPACE_FINALIZER;

fn workspaces(f: &Fixture) -> Workspaces {
    let placement = Placement { shard: SHARD.into(), global: f.global.clone(), others: None };
    Workspaces { client: f.client(NAME), crds: f.crds.clone(), placement, census: Default::default() }
}

async fn create(f: &Fixture, cluster: &str, name: &str, spec: Value) -> ObjectRef {
    let r = ObjectRef::new("tenancy.kcp.io", "workspaces", cluster, "", name);
    let ws = json!({"apiVersion": "tenancy.kcp.io/v1alpha1", "kind": "Workspace", "metadata": {"name": name}, "spec": spec});
    f.client("test").create(&r, ws).await.unwrap();
    r
}

fn lc_key(cluster: &str) -> String {
    ObjectRef::new("core.kcp.io", "logicalclusters", cluster, "", "cluster").key()
}

#[tokio::test]
async fn scheduling_creates_the_logical_cluster_and_mirrors_its_phase() {
    let f = Fixture::new().await;
    let w = workspaces(&f);
    let r = create(&f, "root", "org", json!({})).await;
    assert_eq!(w.reconcile(&r).await.unwrap(), Action::Done);

    let ws = f.get(&r.key()).await.unwrap();
    let cluster = cluster_of(&ws).to_string();
    assert_eq!(cluster, apimachinery::request::workspace_cluster_name(object::meta_str(&ws, "uid")));
    assert_eq!(ws["spec"]["URL"], format!("https://shard.example:6443/clusters/root:org"));
    assert_eq!(ws["status"]["phase"], "Ready");
    assert!(ws["status"]["conditions"].as_array().unwrap().iter().any(|c| c["type"] == "WorkspaceScheduled" && c["status"] == "True"));
    let lc = f.get(&lc_key(&cluster)).await.expect("logical cluster created");
    assert_eq!(lc["metadata"]["annotations"]["kcp.io/path"], "root:org");
    assert_eq!(lc["spec"]["owner"]["uid"], ws["metadata"]["uid"]);
    // The creator (here the test's identity) administers the new workspace.
    assert!(f.get(&format!("rbac.authorization.k8s.io/clusterrolebindings/{cluster}//workspace-admin")).await.is_some());

    // The logical cluster's phase is mirrored onto the Workspace.
    let mut lc = f.client("test").get(&ObjectRef::from_key(&lc_key(&cluster)).unwrap()).await.unwrap().unwrap();
    lc["status"]["phase"] = json!("Initializing");
    f.client("test").update_status(&ObjectRef::from_key(&lc_key(&cluster)).unwrap(), lc).await.unwrap();
    assert_eq!(w.reconcile(&r).await.unwrap(), Action::Done);
    assert_eq!(f.get(&r.key()).await.unwrap()["status"]["phase"], "Initializing");
    // Re-running after placement creates nothing new.
    assert_eq!(cluster_of(&f.get(&r.key()).await.unwrap()), cluster);
}

#[tokio::test]
async fn a_workspace_no_shard_can_take_waits_and_says_why() {
    let f = Fixture::new().await;
    let w = workspaces(&f);
    let r = create(&f, "root", "org", json!({"location": {"selector": {"matchLabels": {"region": "nowhere"}}}})).await;
    assert_eq!(w.reconcile(&r).await.unwrap(), Action::RequeueAfter(Duration::from_secs(2)));
    let ws = f.get(&r.key()).await.unwrap();
    assert_eq!(cluster_of(&ws), "");
    let cond = ws["status"]["conditions"].as_array().unwrap().iter().find(|c| c["type"] == "WorkspaceScheduled").cloned().unwrap();
    assert_eq!((cond["status"].as_str(), cond["reason"].as_str()), (Some("False"), Some("Unschedulable")));
}

#[tokio::test]
async fn deletion_takes_children_first_then_content_then_releases_the_workspace() {
    let f = Fixture::new().await;
    let w = workspaces(&f);
    let lcs = LogicalClusters { client: f.client(crate::controllers::logicalcluster::NAME), crds: f.crds.clone() };
    let namespaces = NamespaceDeletion { client: f.client(crate::controllers::namespace::NAME), crds: f.crds.clone() };
    let parent = create(&f, "root", "org", json!({})).await;
    w.reconcile(&parent).await.unwrap();
    let cluster = cluster_of(&f.get(&parent.key()).await.unwrap()).to_string();
    let child = create(&f, &cluster, "team", json!({})).await;
    w.reconcile(&child).await.unwrap();
    let child_cluster = cluster_of(&f.get(&child.key()).await.unwrap()).to_string();
    let cm = ObjectRef::new("", "configmaps", &cluster, "default", "cm");
    f.client("test").create(&cm, json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cm"}})).await.unwrap();
    assert!(object::finalizers(&f.get(&parent.key()).await.unwrap()).iter().any(|x| x == WORKSPACE_FINALIZER));

    f.client("test").delete(&parent, None).await.unwrap();
    // Waiting for children is woken by their going; the delay is only a safety net.
    assert_eq!(w.reconcile(&parent).await.unwrap(), Action::RequeueAfter(super::super::RETRY * 4));
    assert!(object::is_deleting(&f.get(&child.key()).await.unwrap()), "the child is being deleted");
    assert!(!object::is_deleting(&f.get(&cm.key()).await.unwrap()), "content waits for the children");

    // Drive every controller involved until the parent is released.
    let default = |c: &str| ObjectRef::new("", "namespaces", c, "", "default");
    for _ in 0..10 {
        w.reconcile(&child).await.unwrap();
        namespaces.reconcile(&default(&child_cluster)).await.unwrap();
        namespaces.reconcile(&default(&cluster)).await.unwrap();
        lcs.reconcile(&ObjectRef::from_key(&lc_key(&cluster)).unwrap()).await.unwrap();
        if w.reconcile(&parent).await.unwrap() == Action::Done {
            break;
        }
    }
    for gone in [child.key(), lc_key(&child_cluster), cm.key(), lc_key(&cluster), parent.key()] {
        assert!(f.get(&gone).await.is_none(), "{gone} is gone");
    }
}
