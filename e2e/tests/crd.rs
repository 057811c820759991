//! CustomResourceDefinitions: establishment, validation, pruning, defaulting, printing,
//! explain, and isolation between logical clusters.

use e2e::Install;

const CRD: &str = include_str!("testdata/widgets-crd.yaml");
const WIDGET: &str = include_str!("testdata/widget.yaml");

#[test]
fn crd_lifecycle() {
    let kcp = Install::start();
    kcp.kubectl_stdin(&["apply", "-f", "-"], Some(CRD)).ok();
    let met = kcp.kubectl(&["wait", "--for=condition=Established", "crd/widgets.example.com", "--timeout=30s"]);
    assert_eq!(met.ok().trim(), "customresourcedefinition.apiextensions.k8s.io/widgets.example.com condition met");
    assert_eq!(kcp.kubectl_stdin(&["apply", "-f", "-"], Some(WIDGET)).ok().trim(), "widget.example.com/w1 created");

    // Printer columns, with the defaulted field.
    let table = kcp.kubectl(&["get", "widgets"]);
    let lines: Vec<Vec<&str>> = table.ok().lines().map(|l| l.split_whitespace().collect()).collect();
    assert_eq!(lines[0], ["NAME", "SIZE", "REPLICAS", "AGE"]);
    assert_eq!(&lines[1][..3], ["w1", "small", "2"]);
    let obj = kcp.kubectl(&["get", "wd", "w1", "-o", "json"]).json();
    assert_eq!(obj["spec"]["color"], "blue");
    assert_eq!(obj["metadata"]["generation"], 1);

    // A bad object gets a 422 naming every field; nothing is stored.
    let bad = "apiVersion: example.com/v1\nkind: Widget\nmetadata:\n  name: bad\n  namespace: default\nspec:\n  size: huge\n  replicas: 0\n";
    let err = kcp.kubectl_stdin(&["apply", "-f", "-"], Some(bad));
    let msg = err.fails();
    assert!(msg.contains("The Widget \"bad\" is invalid"), "{msg}");
    assert!(msg.contains("spec.size: Unsupported value: \"huge\": supported values: \"small\", \"medium\", \"large\""), "{msg}");
    assert!(msg.contains("spec.replicas: Invalid value: 0: spec.replicas in body should be greater than or equal to 1"), "{msg}");
    assert!(kcp.kubectl(&["get", "wd", "bad"]).fails().contains("NotFound"));

    // Unknown fields: strict validation refuses, --validate=false prunes.
    let unknown = "apiVersion: example.com/v1\nkind: Widget\nmetadata:\n  name: w2\n  namespace: default\nspec:\n  size: small\n  bogus: 1\n";
    let strict = kcp.kubectl_stdin(&["apply", "-f", "-"], Some(unknown));
    assert!(strict.fails().contains("strict decoding error: unknown field \"spec.bogus\""), "{}", strict.stderr);
    kcp.kubectl_stdin(&["apply", "--validate=false", "-f", "-"], Some(unknown)).ok();
    let pruned = kcp.kubectl(&["get", "wd", "w2", "-o", "json"]).json();
    assert!(pruned["spec"].get("bogus").is_none(), "{pruned}");

    // Generation follows spec changes only; strategic merge patch is refused for CRDs.
    kcp.kubectl(&["patch", "wd", "w1", "--type", "merge", "-p", r#"{"spec":{"size":"large"}}"#]).ok();
    kcp.kubectl(&["label", "wd", "w1", "x=y"]).ok();
    assert_eq!(kcp.kubectl(&["get", "wd", "w1", "-o", "jsonpath={.metadata.generation}"]).ok(), "2");
    let smp = kcp.kubectl(&["patch", "wd", "w1", "-p", r#"{"spec":{"size":"small"}}"#]);
    assert!(smp.fails().contains("application/strategic-merge-patch+json is not supported"), "{}", smp.stderr);

    let explain = kcp.kubectl(&["explain", "widgets.spec"]);
    assert!(explain.ok().contains("What the widget should look like."), "{}", explain.stdout);
    assert!(explain.stdout.contains("size\t<string> -required-"), "{}", explain.stdout);

    // Another logical cluster sees neither the CRD nor its objects.
    kcp.logical_cluster("other");
    let missing = kcp.kubectl_in("other", &["get", "widgets"]);
    assert!(missing.fails().contains("the server doesn't have a resource type \"widgets\""), "{}", missing.stderr);
    assert!(kcp.kubectl_in("other", &["get", "crd", "-o", "name"]).ok().trim().is_empty());

    // Deleting the CRD deletes its objects.
    kcp.kubectl(&["delete", "crd", "widgets.example.com", "--timeout=30s"]).ok();
    e2e::eventually("the CRD to be gone", std::time::Duration::from_secs(10), || {
        kcp.kubectl(&["get", "crd", "widgets.example.com"]).code.ne(&0).then_some(())
    });
}

#[test]
fn several_versions_share_objects() {
    let kcp = Install::start();
    let crd = "apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata:\n  name: gadgets.example.com\nspec:\n  group: example.com\n  scope: Cluster\n  names:\n    kind: Gadget\n    plural: gadgets\n  versions:\n  - name: v1\n    served: true\n    storage: true\n    schema:\n      openAPIV3Schema:\n        type: object\n        x-kubernetes-preserve-unknown-fields: true\n  - name: v2\n    served: true\n    storage: false\n    schema:\n      openAPIV3Schema:\n        type: object\n        x-kubernetes-preserve-unknown-fields: true\n";
    kcp.kubectl_stdin(&["apply", "-f", "-"], Some(crd)).ok();
    kcp.kubectl(&["wait", "--for=condition=Established", "crd/gadgets.example.com", "--timeout=30s"]).ok();
    kcp.kubectl_stdin(&["create", "-f", "-"], Some("apiVersion: example.com/v1\nkind: Gadget\nmetadata:\n  name: g1\nspec:\n  anything: [1, 2]\n"))
        .ok();
    let v2 = kcp.kubectl(&["get", "--raw", "/clusters/root/apis/example.com/v2/gadgets/g1"]);
    let obj: serde_json::Value = serde_json::from_str(v2.ok()).expect("json");
    assert_eq!(obj["apiVersion"], "example.com/v2");
    assert_eq!(obj["spec"]["anything"], serde_json::json!([1, 2]));
}
