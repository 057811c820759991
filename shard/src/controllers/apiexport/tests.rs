use base64::Engine;
use serde_json::{json, Value};

use super::*;
use crate::controllers::testing::Fixture;

/// A shard with cluster `c1` and its namespace `default-ns`.
async fn fixture() -> Fixture {
    let f = Fixture::new().await;
    f.namespace("c1", "default-ns").await;
    f
}

fn slice_key(name: &str) -> String {
    ObjectRef::new(GROUP, "apiexportendpointslices", "c1", "", name).key()
}

async fn export(f: &Fixture, cluster: &str, name: &str, extra: Value) -> ObjectRef {
    let r = export_ref(cluster, name);
    let mut obj = json!({"apiVersion": "apis.kcp.io/v1alpha2", "kind": "APIExport", "metadata": {"name": name}, "spec": {}});
    if let (Some(o), Some(e)) = (obj.as_object_mut(), extra.as_object()) {
        o.extend(e.clone());
    }
    f.client("test").create(&r, obj).await.expect("export");
    r
}

fn condition<'a>(obj: &'a Value, type_: &str) -> &'a Value {
    obj["status"]["conditions"].as_array().and_then(|cs| cs.iter().find(|c| c["type"] == type_)).unwrap_or(&Value::Null)
}

#[tokio::test]
async fn an_export_gets_an_identity_and_an_endpoint_slice() {
    let f = fixture().await;
    let r = export(&f, "c1", "widgets", json!({})).await;
    let c = ApiExports { client: f.client(NAME) };
    assert_eq!(c.reconcile(&r).await.unwrap(), Action::Done);
    let obj = f.get(&r.key()).await.unwrap();
    assert_eq!(obj["spec"]["identity"]["secretRef"], json!({"namespace": "kcp-system", "name": "widgets"}));
    assert_eq!(c.reconcile(&r).await.unwrap(), Action::Done);

    let secret = f.get("core/secrets/c1/kcp-system/widgets").await.expect("identity secret");
    let key = base64::engine::general_purpose::STANDARD.decode(secret["data"]["key"].as_str().unwrap()).unwrap();
    assert_eq!(key.len(), 32);
    let obj = f.get(&r.key()).await.unwrap();
    let hash = obj["status"]["identityHash"].as_str().unwrap();
    assert_eq!(hash, sha256_hex(&key));
    assert_eq!(hash.len(), 64);
    assert_eq!(condition(&obj, IDENTITY_VALID)["status"], "True");
    assert_eq!(condition(&obj, VIRTUAL_WORKSPACE_URLS_READY)["status"], "True");

    let slice = f.get(&slice_key("widgets")).await.expect("endpoint slice");
    assert_eq!(slice["spec"]["export"], json!({"path": "c1", "name": "widgets"}));
}

#[tokio::test]
async fn identities_differ_and_a_users_slice_stays() {
    let f = fixture().await;
    let a = export(&f, "c1", "a", json!({})).await;
    let b = export(&f, "c1", "b", json!({})).await;
    let user_slice = json!({"apiVersion": "apis.kcp.io/v1alpha1", "kind": "APIExportEndpointSlice", "metadata": {"name": "b"},
        "spec": {"export": {"path": "elsewhere", "name": "b"}}});
    f.client("test").create(&ObjectRef::new(GROUP, "apiexportendpointslices", "c1", "", "b"), user_slice).await.unwrap();
    let c = ApiExports { client: f.client(NAME) };
    for r in [&a, &b, &a, &b] {
        c.reconcile(r).await.unwrap();
    }
    let hash = |o: Value| o["status"]["identityHash"].as_str().unwrap().to_string();
    assert_ne!(hash(f.get(&a.key()).await.unwrap()), hash(f.get(&b.key()).await.unwrap()));
    assert_eq!(f.get(&slice_key("b")).await.unwrap()["spec"]["export"]["path"], "elsewhere");
}

#[tokio::test]
async fn the_skip_annotation_means_no_slice() {
    let f = fixture().await;
    let r = export(&f, "c1", "quiet", json!({"metadata": {"name": "quiet", "annotations": {SKIP_ENDPOINT_SLICE_ANNOTATION: "true"}}})).await;
    let c = ApiExports { client: f.client(NAME) };
    c.reconcile(&r).await.unwrap();
    c.reconcile(&r).await.unwrap();
    assert!(f.get(&r.key()).await.unwrap()["status"]["identityHash"].is_string());
    assert!(f.get(&slice_key("quiet")).await.is_none());
}

#[tokio::test]
async fn a_missing_or_keyless_secret_is_an_invalid_identity_until_it_appears() {
    let f = fixture().await;
    let r = export(&f, "c1", "lost", json!({"spec": {"identity": {"secretRef": {"namespace": "default-ns", "name": "shared"}}}})).await;
    let c = ApiExports { client: f.client(NAME) };
    assert_eq!(c.reconcile(&r).await.unwrap(), Action::RequeueAfter(RECHECK));
    let obj = f.get(&r.key()).await.unwrap();
    let cond = condition(&obj, IDENTITY_VALID);
    assert_eq!((cond["status"].as_str(), cond["reason"].as_str()), (Some("False"), Some(IDENTITY_VERIFICATION_FAILED)));
    assert!(cond["message"].as_str().unwrap().contains("default-ns/shared not found"), "{cond}");
    assert!(obj["status"].get("identityHash").is_none());
    let since = cond["lastTransitionTime"].clone();

    let secret = ObjectRef::new("", "secrets", "c1", "default-ns", "shared");
    let body = |data: Value| json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "shared", "namespace": "default-ns"}, "data": data});
    f.client("test").create(&secret, body(json!({"other": "eA=="}))).await.unwrap();
    c.reconcile(&r).await.unwrap();
    let obj = f.get(&r.key()).await.unwrap();
    assert!(condition(&obj, IDENTITY_VALID)["message"].as_str().unwrap().contains("no \"key\""));
    // Still False: the transition time stays.
    assert_eq!(condition(&obj, IDENTITY_VALID)["lastTransitionTime"], since);

    let mut s = f.get(&secret.key()).await.unwrap();
    s["data"] = json!({"key": "c2VjcmV0"});
    f.client("test").update(&secret, s).await.unwrap();
    assert_eq!(c.reconcile(&r).await.unwrap(), Action::Done);
    let obj = f.get(&r.key()).await.unwrap();
    assert_eq!(obj["status"]["identityHash"], sha256_hex(b"secret"));
    assert_eq!(condition(&obj, IDENTITY_VALID)["status"], "True");
    assert!(f.get("core/secrets/c1/kcp-system/lost").await.is_none(), "no identity is generated for an export that names one");
}

#[tokio::test]
async fn a_secret_that_cannot_be_created_is_a_failed_generation() {
    let f = fixture().await;
    // A terminating kcp-system (no namespace controller runs here to finish it) takes no secrets.
    let ns = f.namespace("c1", IDENTITY_NAMESPACE).await;
    f.client("test").delete(&ns, None).await.unwrap();
    let r = export(&f, "c1", "stuck", json!({})).await;
    let c = ApiExports { client: f.client(NAME) };
    assert!(c.reconcile(&r).await.is_err());
    let obj = f.get(&r.key()).await.unwrap();
    assert_eq!(condition(&obj, IDENTITY_VALID)["reason"], IDENTITY_GENERATION_FAILED);
    assert!(obj["spec"].get("identity").is_none());
}

#[tokio::test]
async fn exports_in_system_clusters_are_left_alone() {
    let f = Fixture::new().await;
    let c = ApiExports { client: f.client(NAME) };
    assert_eq!(c.reconcile(&export_ref("system:admin", "x")).await.unwrap(), Action::Done);
}

#[test]
fn a_transition_time_changes_only_when_the_status_flips() {
    let mut cs = vec![json!({"type": "T", "status": "True", "lastTransitionTime": "then"})];
    set_condition(&mut cs, "T", "True", "", "");
    assert_eq!(cs[0]["lastTransitionTime"], "then");
    set_condition(&mut cs, "T", "False", "R", "m");
    assert_ne!(cs[0]["lastTransitionTime"], "then");
    assert_eq!((cs[0]["reason"].as_str(), cs[0]["message"].as_str()), (Some("R"), Some("m")));
}

#[test]
fn a_changed_key_does_not_replace_a_recorded_hash() {
    let mut obj = json!({"status": {"identityHash": "old"}});
    assert!(set_status(&mut obj, &Ok("new".into())));
    assert_eq!(obj["status"]["identityHash"], "old");
    assert_eq!(condition(&obj, IDENTITY_VALID)["status"], "False");
    assert_eq!(condition(&obj, IDENTITY_VALID)["reason"], IDENTITY_VERIFICATION_FAILED);
    assert!(!set_status(&mut obj, &Ok("new".into())), "a second pass writes nothing");
}

#[tokio::test]
async fn a_schema_an_export_offers_cannot_be_deleted() {
    let f = fixture().await;
    let schema = ObjectRef::new(GROUP, "apiresourceschemas", "c1", "", "v1.widgets.example.io");
    let body = json!({"apiVersion": "apis.kcp.io/v1alpha1", "kind": "APIResourceSchema", "metadata": {"name": "v1.widgets.example.io"},
        "spec": {"group": "example.io", "names": {"plural": "widgets", "singular": "widget", "kind": "Widget", "listKind": "WidgetList"}, "scope": "Namespaced",
            "versions": [{"name": "v1", "served": true, "storage": true, "schema": {"type": "object"}}]}});
    let client = f.client("test");
    client.create(&schema, body).await.expect("schema");
    let resources = json!([{"group": "example.io", "name": "widgets", "schema": "v1.widgets.example.io", "storage": {"crd": {}}}]);
    let r = export(&f, "c1", "widgets", json!({"spec": {"resources": resources}})).await;
    let refused = client.delete(&schema, None).await.expect_err("in use");
    assert_eq!(refused.reason, apimachinery::status::Reason::Conflict);
    assert!(refused.message.contains("in use by APIExport(s) widgets"), "{}", refused.message);
    // Refused means kept.
    assert!(f.get(&schema.key()).await.is_some());

    let mut obj = f.get(&r.key()).await.unwrap();
    obj["spec"]["resources"] = json!([]);
    client.update(&r, obj).await.unwrap();
    client.delete(&schema, None).await.expect("no longer in use");
    assert!(f.get(&schema.key()).await.is_none());
}

#[tokio::test]
async fn exports_may_share_one_identity() {
    let f = fixture().await;
    let secret = json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "shared", "namespace": "default-ns"}, "data": {"key": "c2hhcmVk"}});
    f.client("test").create(&ObjectRef::new("", "secrets", "c1", "default-ns", "shared"), secret).await.unwrap();
    let named = json!({"spec": {"identity": {"secretRef": {"namespace": "default-ns", "name": "shared"}}}});
    let a = export(&f, "c1", "a", named.clone()).await;
    let b = export(&f, "c1", "b", named).await;
    let c = ApiExports { client: f.client(NAME) };
    for r in [&a, &b] {
        assert_eq!(c.reconcile(r).await.unwrap(), Action::Done);
        assert_eq!(f.get(&r.key()).await.unwrap()["status"]["identityHash"], sha256_hex(b"shared"));
    }
}
