//! CustomResourceDefinitions: establishment, validation, pruning, defaulting, printing,
//! and isolation between logical clusters. One install: the widgets CRD in `root`, a second
//! logical cluster `second`; each test uses namespaces of its own.

use std::sync::OnceLock;
use std::time::Duration;

use e2e::{eventually, Install, Run};

const CRD: &str = include_str!("testdata/widgets-crd.yaml");
const WIDGET: &str = include_str!("testdata/widget.yaml");

fn kcp() -> &'static Install {
    static KCP: OnceLock<Install> = OnceLock::new();
    Install::shared(&KCP, |kcp| {
        kcp.logical_cluster("second");
        assert_eq!(kcp.kubectl_stdin(&["apply", "-f", "-"], Some(CRD)).ok(), "customresourcedefinition.apiextensions.k8s.io/widgets.example.com created\n");
        let met = kcp.kubectl(&["wait", "--for=condition=Established", "crd/widgets.example.com", "--timeout=30s"]);
        assert_eq!(met.ok(), "customresourcedefinition.apiextensions.k8s.io/widgets.example.com condition met\n");
    })
}

/// kubectl in namespace `ns` of `root`, created on first use.
fn in_ns(ns: &str) -> impl Fn(&[&str], Option<&str>) -> Run + '_ {
    let kcp = kcp();
    let exists = kcp.kubectl(&["get", "namespace", ns]).code == 0;
    if !exists {
        kcp.kubectl(&["create", "namespace", ns]).ok();
    }
    move |args: &[&str], stdin: Option<&str>| {
        let mut full = vec!["-n", ns];
        full.extend_from_slice(args);
        kcp.kubectl_stdin(&full, stdin)
    }
}

fn widget(name: &str, spec: &str) -> String {
    format!("apiVersion: example.com/v1\nkind: Widget\nmetadata:\n  name: {name}\nspec:\n{spec}")
}

#[test]
fn conditions_and_printer_columns() {
    let kcp = kcp();
    let crd = kcp.kubectl(&["get", "crd", "widgets.example.com", "-o", "json"]).json();
    let conditions: Vec<(&str, &str)> =
        crd["status"]["conditions"].as_array().into_iter().flatten().filter_map(|c| Some((c["type"].as_str()?, c["status"].as_str()?))).collect();
    assert!(conditions.contains(&("Established", "True")) && conditions.contains(&("NamesAccepted", "True")), "{conditions:?}");
    assert_eq!(crd["status"]["acceptedNames"]["kind"], "Widget");

    let k = in_ns("printing");
    assert_eq!(k(&["apply", "-f", "-"], Some(&WIDGET.replace("namespace: default", "namespace: printing"))).ok(), "widget.example.com/w1 created\n");
    k(&["create", "-f", "-"], Some(&widget("w2", "  size: large\n"))).ok();
    let table = k(&["get", "widgets"], None);
    let rows: Vec<Vec<&str>> = table.ok().lines().map(|l| l.split_whitespace().collect()).collect();
    assert_eq!(rows.len(), 3, "{}", table.stdout);
    assert_eq!(rows[0], ["NAME", "SIZE", "REPLICAS", "AGE"]);
    assert_eq!(&rows[1][..3], ["w1", "small", "2"]);
    assert_eq!(&rows[2][..3], ["w2", "large", "1"]);
    // Age is humanised on the server (kubectl prints date cells verbatim).
    for row in &rows[1..] {
        assert!(row[3].ends_with('s') || row[3].ends_with('m'), "age cell {:?}", row[3]);
    }
    // Short name, category, -o name, label selectors and -A all work for CRDs.
    assert_eq!(k(&["get", "wd", "-o", "name"], None).ok(), "widget.example.com/w1\nwidget.example.com/w2\n");
    assert_eq!(k(&["get", "all", "-o", "name"], None).ok(), "widget.example.com/w1\nwidget.example.com/w2\n");
    assert_eq!(k(&["get", "widgets", "--field-selector", "metadata.name=w2", "-o", "name"], None).ok(), "widget.example.com/w2\n");
    k(&["label", "wd", "w2", "big=yes"], None).ok();
    assert_eq!(k(&["get", "widgets", "-l", "big", "-o", "name"], None).ok(), "widget.example.com/w2\n");
    let all = kcp.kubectl(&["get", "widgets", "-A", "--show-labels", "-l", "big"]);
    let rows: Vec<Vec<&str>> = all.ok().lines().map(|l| l.split_whitespace().collect()).collect();
    assert_eq!(rows[0], ["NAMESPACE", "NAME", "SIZE", "REPLICAS", "AGE", "LABELS"]);
    assert_eq!(rows[1].iter().enumerate().filter(|(i, _)| *i != 4).map(|(_, c)| *c).collect::<Vec<_>>(), ["printing", "w2", "large", "1", "big=yes"]);
}

#[test]
fn invalid_instances_get_422_naming_fields() {
    let k = in_ns("validation");
    let bad = widget("bad", "  size: huge\n  replicas: 0\n  color: 5\n");
    assert_eq!(
        k(&["apply", "-f", "-"], Some(&bad)).fails(),
        "The Widget \"bad\" is invalid: \n\
         * spec.color: Invalid value: \"integer\": spec.color in body must be of type string: \"integer\"\n\
         * spec.replicas: Invalid value: 0: spec.replicas in body should be greater than or equal to 1\n\
         * spec.size: Unsupported value: \"huge\": supported values: \"small\", \"medium\", \"large\"\n"
    );
    let missing = widget("bad", "  replicas: 11\n");
    assert_eq!(
        k(&["create", "-f", "-"], Some(&missing)).fails(),
        "The Widget \"bad\" is invalid: \n\
         * spec.replicas: Invalid value: 11: spec.replicas in body should be less than or equal to 10\n\
         * spec.size: Required value\n"
    );
    assert_eq!(k(&["get", "wd", "bad"], None).fails(), "Error from server (NotFound): widgets.example.com \"bad\" not found\n");
    // Updates are validated too, and leave the stored object alone.
    k(&["create", "-f", "-"], Some(&widget("good", "  size: small\n"))).ok();
    let patch = k(&["patch", "wd", "good", "--type", "merge", "-p", r#"{"spec":{"size":"giant"}}"#], None);
    assert_eq!(patch.fails(), "The Widget \"good\" is invalid: spec.size: Unsupported value: \"giant\": supported values: \"small\", \"medium\", \"large\"\n");
    assert_eq!(k(&["get", "wd", "good", "-o", "jsonpath={.spec.size}"], None).ok(), "small");
    // Strategic merge patch is refused for CRDs (kubectl names the alternative).
    let smp = k(&["patch", "wd", "good", "-p", r#"{"spec":{"size":"large"}}"#], None);
    assert!(smp.fails().starts_with("error: application/strategic-merge-patch+json is not supported by example.com/v1, Kind=Widget: "), "{}", smp.stderr);
}

#[test]
fn unknown_fields_are_refused_when_strict_and_pruned_otherwise() {
    let k = in_ns("pruning");
    let unknown = "apiVersion: example.com/v1\nkind: Widget\nmetadata:\n  name: w\nspec:\n  size: small\n  bogus: 1\ntop: 2\n";
    let strict = k(&["apply", "--validate=strict", "-f", "-"], Some(unknown));
    assert_eq!(
        strict.fails(),
        "Error from server (BadRequest): error when creating \"STDIN\": Widget in version \"v1\" cannot be handled as a Widget: strict decoding error: unknown field \"spec.bogus\", unknown field \"top\"\n"
    );
    assert!(k(&["get", "wd", "w"], None).fails().contains("NotFound"));
    let warn = k(&["apply", "--validate=warn", "-f", "-"], Some(unknown));
    assert_eq!(warn.ok(), "widget.example.com/w created\n");
    assert_eq!(warn.stderr, "Warning: unknown field \"spec.bogus\"\nWarning: unknown field \"top\"\n");
    let pruned = k(&["get", "wd", "w", "-o", "json"], None).json();
    assert!(pruned["spec"].get("bogus").is_none() && pruned.get("top").is_none(), "{pruned}");
    k(&["create", "--validate=false", "-f", "-"], Some(&unknown.replace("name: w", "name: w2"))).ok();
    let pruned = k(&["get", "wd", "w2", "-o", "json"], None).json();
    assert_eq!(pruned["spec"], serde_json::json!({"color": "blue", "replicas": 1, "size": "small"}));
}

#[test]
fn defaults_and_generation() {
    let k = in_ns("defaults");
    k(&["create", "-f", "-"], Some(&widget("d", "  size: medium\n"))).ok();
    let obj = k(&["get", "wd", "d", "-o", "json"], None).json();
    assert_eq!(obj["spec"], serde_json::json!({"color": "blue", "replicas": 1, "size": "medium"}));
    assert_eq!(obj["metadata"]["generation"], 1);
    // Generation follows spec changes only.
    k(&["label", "wd", "d", "x=y"], None).ok();
    assert_eq!(k(&["get", "wd", "d", "-o", "jsonpath={.metadata.generation}"], None).ok(), "1");
    k(&["patch", "wd", "d", "--type", "merge", "-p", r#"{"spec":{"replicas":3}}"#], None).ok();
    assert_eq!(k(&["get", "wd", "d", "-o", "jsonpath={.metadata.generation} {.spec.replicas}"], None).ok(), "2 3");
    // Removing a defaulted field brings the default back.
    k(&["patch", "wd", "d", "--type", "json", "-p", r#"[{"op":"remove","path":"/spec/color"}]"#], None).ok();
    assert_eq!(k(&["get", "wd", "d", "-o", "jsonpath={.spec.color}"], None).ok(), "blue");
    // The status subresource: the main resource ignores status, /status ignores spec.
    k(&["patch", "wd", "d", "--type", "merge", "-p", r#"{"status":{"ready":true}}"#], None).ok();
    assert_eq!(k(&["get", "wd", "d", "-o", "jsonpath={.status}"], None).ok(), "");
    k(&["patch", "wd", "d", "--subresource=status", "--type", "merge", "-p", r#"{"status":{"ready":true},"spec":{"replicas":9}}"#], None).ok();
    assert_eq!(k(&["get", "wd", "d", "-o", "jsonpath={.status.ready} {.spec.replicas}"], None).ok(), "true 3");
}

#[test]
fn crd_and_objects_are_invisible_in_the_other_cluster() {
    let kcp = kcp();
    let k = in_ns("isolation");
    k(&["create", "-f", "-"], Some(&widget("mine", "  size: small\n"))).ok();
    // kubectl names the resource without its group.
    for (args, shown) in [(&["get", "widgets"][..], "widgets"), (&["get", "widgets.example.com", "-A"], "widgets"), (&["get", "wd", "mine"], "wd")] {
        let want = format!("error: the server doesn't have a resource type \"{shown}\"\n");
        assert_eq!(kcp.kubectl_in("second", args).fails(), want, "{args:?}");
    }
    let raw = kcp.kubectl_in("second", &["get", "--raw", "/clusters/second/apis/example.com/v1/namespaces/isolation/widgets/mine"]);
    assert_eq!(raw.fails(), "Error from server (NotFound): the server could not find the requested resource\n");
    let crds = kcp.kubectl_in("second", &["get", "crd"]);
    assert_eq!((crds.ok(), crds.stderr.as_str()), ("", "No resources found\n"));
    assert_eq!(
        kcp.kubectl_in("second", &["get", "crd", "widgets.example.com"]).fails(),
        "Error from server (NotFound): customresourcedefinitions.apiextensions.k8s.io \"widgets.example.com\" not found\n"
    );

    // The same CRD name in the second cluster is a different API: its own schema and columns.
    let other = CRD.replace("enum: [small, medium, large]", "enum: [tiny]").replace("name: Size", "name: Dimension");
    kcp.kubectl_in_stdin("second", &["apply", "-f", "-"], &other).ok();
    kcp.kubectl_in("second", &["wait", "--for=condition=Established", "crd/widgets.example.com", "--timeout=30s"]).ok();
    kcp.kubectl_in("second", &["create", "namespace", "isolation"]).ok();
    let tiny = widget("tiny", "  size: tiny\n");
    kcp.kubectl_in_stdin("second", &["-n", "isolation", "create", "-f", "-"], &tiny).ok();
    assert_eq!(
        kcp.kubectl_in("second", &["-n", "isolation", "get", "widgets", "-o", "name"]).ok(),
        "widget.example.com/tiny\n",
        "the second cluster sees only its own widgets"
    );
    let header = kcp.kubectl_in("second", &["-n", "isolation", "get", "widgets"]);
    assert_eq!(header.ok().lines().next().map(|l| l.split_whitespace().collect::<Vec<_>>()), Some(vec!["NAME", "DIMENSION", "REPLICAS", "AGE"]));
    assert!(k(&["create", "-f", "-"], Some(&tiny)).fails().contains("spec.size: Unsupported value: \"tiny\""));
    assert_eq!(k(&["get", "widgets", "-o", "name"], None).ok(), "widget.example.com/mine\n");
}

#[test]
fn deleting_a_crd_deletes_its_objects() {
    let kcp = kcp();
    let crd = "apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata:\n  name: gizmos.example.org\nspec:\n  group: example.org\n  scope: Namespaced\n  names:\n    kind: Gizmo\n    plural: gizmos\n  versions:\n  - name: v1\n    served: true\n    storage: true\n    schema:\n      openAPIV3Schema:\n        type: object\n        x-kubernetes-preserve-unknown-fields: true\n";
    kcp.kubectl_stdin(&["apply", "-f", "-"], Some(crd)).ok();
    kcp.kubectl(&["wait", "--for=condition=Established", "crd/gizmos.example.org", "--timeout=30s"]).ok();
    let k = in_ns("gizmos");
    k(&["create", "-f", "-"], Some("apiVersion: example.org/v1\nkind: Gizmo\nmetadata:\n  name: g1\nspec:\n  any: [1, 2]\n")).ok();
    assert_eq!(
        kcp.kubectl(&["delete", "crd", "gizmos.example.org", "--timeout=60s"]).ok(),
        "customresourcedefinition.apiextensions.k8s.io \"gizmos.example.org\" deleted\n"
    );
    // A client that discovers afresh no longer finds the type. (One whose discovery cache still
    // lists it gets the list's 404 instead, for as long as its cache is fresh: kubectl's doing.)
    let fresh_cache = tempfile::tempdir().expect("temp dir");
    let fresh_cache = fresh_cache.path().to_str().expect("utf-8 path");
    eventually("gizmos to leave discovery", Duration::from_secs(20), || {
        (k(&["get", "gizmos", "--cache-dir", fresh_cache], None).stderr == "error: the server doesn't have a resource type \"gizmos\"\n").then_some(())
    });
    // Re-creating the CRD does not bring the old objects back.
    kcp.kubectl_stdin(&["apply", "-f", "-"], Some(crd)).ok();
    kcp.kubectl(&["wait", "--for=condition=Established", "crd/gizmos.example.org", "--timeout=30s"]).ok();
    let none = eventually("gizmos to be served again", Duration::from_secs(20), || {
        let r = k(&["get", "gizmos"], None);
        (r.code == 0).then_some(r)
    });
    assert_eq!((none.stdout.as_str(), none.stderr.as_str()), ("", "No resources found in gizmos namespace.\n"));
}

#[test]
fn several_versions_share_objects() {
    let kcp = kcp();
    let crd = "apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata:\n  name: gadgets.example.com\nspec:\n  group: example.com\n  scope: Cluster\n  names:\n    kind: Gadget\n    plural: gadgets\n  versions:\n  - name: v1\n    served: true\n    storage: true\n    schema:\n      openAPIV3Schema:\n        type: object\n        x-kubernetes-preserve-unknown-fields: true\n  - name: v2\n    served: true\n    storage: false\n    schema:\n      openAPIV3Schema:\n        type: object\n        x-kubernetes-preserve-unknown-fields: true\n";
    kcp.kubectl_stdin(&["apply", "-f", "-"], Some(crd)).ok();
    kcp.kubectl(&["wait", "--for=condition=Established", "crd/gadgets.example.com", "--timeout=30s"]).ok();
    kcp.kubectl_stdin(&["create", "-f", "-"], Some("apiVersion: example.com/v1\nkind: Gadget\nmetadata:\n  name: g1\nspec:\n  anything: [1, 2]\n")).ok();
    let v2 = kcp.kubectl(&["get", "--raw", "/clusters/root/apis/example.com/v2/gadgets/g1"]);
    let obj: serde_json::Value = serde_json::from_str(v2.ok()).expect("json");
    assert_eq!(obj["apiVersion"], "example.com/v2");
    assert_eq!(obj["spec"]["anything"], serde_json::json!([1, 2]));
}
