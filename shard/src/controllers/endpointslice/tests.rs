use serde_json::json;

use super::*;
use crate::controllers::apibinding::{self, ApiBindings};
use crate::controllers::testing::Fixture;

#[test]
fn endpoints_gain_and_lose_one_url() {
    let one = json!([{"url": "https://a/services/apiexport/p/x"}]);
    assert_eq!(endpoints_with(&one, "https://a/services/apiexport/p/x", true), None);
    assert_eq!(endpoints_with(&Value::Null, "https://b", false), None);
    assert_eq!(endpoints_with(&one, "https://b", true), Some(vec![one[0].clone(), json!({"url": "https://b"})]));
    assert_eq!(endpoints_with(&one, "https://a/services/apiexport/p/x", false), Some(vec![]));
}

#[tokio::test]
async fn a_shard_lists_itself_while_a_binding_is_bound_here() {
    let f = Fixture::new().await;
    f.provider("cowboys").await;
    // The export's default slice, made by the export controller.
    let slice = ObjectRef::new(GROUP, "apiexportendpointslices", "p", "", "cowboys");
    let binding = ObjectRef::new(GROUP, "apibindings", "c", "", "cowboys");
    let obj = json!({"apiVersion": "apis.kcp.io/v1alpha2", "kind": "APIBinding", "metadata": {"name": "cowboys"}, "spec": {"reference": {"export": {"path": "p", "name": "cowboys"}}}});
    f.admin().create(&binding, obj).await.unwrap();
    ApiBindings::new(f.client(apibinding::NAME), f.global.clone(), f.crds.clone()).reconcile(&binding).await.unwrap();

    let c = EndpointSliceUrls::new(f.client(NAME), f.global.clone(), None, "https://shard.example:6443/".into(), "https://proxy.example".into());
    let export = ObjectRef::new(GROUP, "apiexports", "p", "", "cowboys");
    let stored = f.get(&binding.key()).await.unwrap();
    c.bound.lock().unwrap().insert(binding.key(), export_of(&stored).expect("bound"));
    assert_eq!(c.reconcile(&export).await.unwrap(), Action::Done);
    let url = "https://shard.example:6443/services/apiexport/p/cowboys";
    let listed = f.get(&slice.key()).await.unwrap();
    assert_eq!(listed["status"]["endpoints"], json!([{"url": url}]));
    assert_eq!(listed["metadata"]["annotations"][MERGED_URL_ANNOTATION], "https://proxy.example/services/apiexport/p/cowboys");

    c.bound.lock().unwrap().clear();
    assert_eq!(c.reconcile(&export).await.unwrap(), Action::Done);
    assert_eq!(f.get(&slice.key()).await.unwrap()["status"]["endpoints"], json!([]));
}
