//! An exported API in use across shards, on deploy/local/up.sh, as a tenant meets it with
//! kubectl: a provider on the root shard exports cowboys, a consumer on shard-2 binds them and
//! works with them as if they were built in; a rival export of the same resource keeps its
//! own data; CRDs and bindings never serve the same resource; unbinding removes the objects.

use std::time::Duration;

use e2e::sharded::{create_ready, label_shards, Sharded};
use e2e::{eventually, until_ok, Install};

/// A schema of cowboys named `<prefix>.cowboys.wildwest.dev` and an export `cowboys` of it.
pub(crate) fn schema(prefix: &str) -> String {
    format!(
        r#"apiVersion: apis.kcp.io/v1alpha1
kind: APIResourceSchema
metadata:
  name: {prefix}.cowboys.wildwest.dev
spec:
  group: wildwest.dev
  names: {{plural: cowboys, singular: cowboy, kind: Cowboy, listKind: CowboyList}}
  scope: Namespaced
  versions:
  - name: v1alpha1
    served: true
    storage: true
    subresources: {{status: {{}}}}
    schema:
      type: object
      properties:
        spec:
          type: object
          description: What the cowboy wants.
          properties:
            intent: {{type: string, description: Where the cowboy rides.}}
            horses: {{type: integer, maximum: 10, default: 1}}
        status: {{type: object, properties: {{result: {{type: string}}}}}}
    additionalPrinterColumns:
    - {{name: Intent, type: string, jsonPath: .spec.intent}}
---
apiVersion: apis.kcp.io/v1alpha2
kind: APIExport
metadata:
  name: cowboys
spec:
  resources:
  - {{name: cowboys, group: wildwest.dev, schema: {prefix}.cowboys.wildwest.dev, storage: {{crd: {{}}}}}}
"#
    )
}

/// An APIBinding `name` to the export `cowboys` in the workspace at `path`.
pub(crate) fn binding(name: &str, path: &str) -> String {
    format!(
        "apiVersion: apis.kcp.io/v1alpha2\nkind: APIBinding\nmetadata:\n  name: {name}\nspec:\n  reference:\n    export: {{path: \"{path}\", name: cowboys}}\n"
    )
}

pub(crate) const WOODY: &str = "apiVersion: wildwest.dev/v1alpha1\nkind: Cowboy\nmetadata: {name: woody}\nspec: {intent: yeehaw}\n";

/// Waits until binding `name` in `ws` reports `reason` on InitialBindingCompleted (or is Ready
/// when `reason` is empty), and returns the binding.
pub(crate) fn wait_binding(k: &Install, ws: &str, name: &str, reason: &str) -> serde_json::Value {
    eventually(&format!("binding {ws}:{name} to say {reason:?}"), Duration::from_secs(20), || {
        let b = k.kubectl_in(ws, &["get", "apibinding", name, "-o", "json"]);
        if b.code != 0 {
            return None;
        }
        let b = b.json();
        let conditions = b["status"]["conditions"].as_array().cloned().unwrap_or_default();
        let initial = conditions.iter().find(|c| c["type"] == "InitialBindingCompleted")?;
        let done = if reason.is_empty() { initial["status"] == "True" } else { initial["reason"] == reason };
        done.then_some(b)
    })
}

#[test]
fn a_bound_api_works_like_a_built_in_one_across_shards() {
    let s = Sharded::up("");
    let k = &s.kcp;
    label_shards(&s);
    create_ready(k, "root", "providers", Some("us"));
    create_ready(k, "root:providers", "cowboys", Some("us"));
    create_ready(k, "root:providers", "rivals", Some("us"));
    let (consumer_shard, _) = create_ready(k, "root", "consumer", Some("eu"));
    assert_eq!(consumer_shard, "shard-2");
    k.kubectl_in_stdin("root:providers:cowboys", &["apply", "-f", "-"], &schema("today")).ok();
    k.kubectl_in_stdin("root:providers:rivals", &["apply", "-f", "-"], &schema("rival")).ok();

    // One replica down: binding across shards reads from the other.
    s.kill("cache-1");
    let bind = ["kcp", "bind", "apiexport", "root:providers:cowboys:cowboys", "-w", ":root:consumer"];
    let bound = eventually("kubectl kcp bind apiexport", Duration::from_secs(20), || Some(k.kubectl_plugin(&bind)).filter(|r| r.code == 0));
    assert_eq!(bound.stdout, "apibinding cowboys created. Waiting to successfully bind ...\ncowboys created and bound.\n");
    let bound = wait_binding(k, "root:consumer", "cowboys", "");
    assert_eq!(bound["status"]["phase"], "Bound");
    let identity = bound["status"]["boundResources"][0]["schema"]["identityHash"].as_str().expect("identity hash").to_string();
    assert_eq!(identity.len(), 64);
    // The export's endpoint slice (root shard) lists shard-2's virtual workspace, which hosts
    // a binding to it; unbinding below takes it out again.
    let export_cluster = bound["status"]["apiExportClusterName"].as_str().expect("export cluster").to_string();
    let endpoints =
        || k.kubectl_in("root:providers:cowboys", &["get", "apiexportendpointslice", "cowboys", "-o", "jsonpath={.status.endpoints[*].url}"]).stdout;
    let url = format!("{}/services/apiexport/{export_cluster}/cowboys", s.shard_url("shard-2"));
    eventually("shard-2 in the endpoint slice", Duration::from_secs(10), || (endpoints() == url).then_some(()));
    let ready = k.kubectl_in("root:consumer", &["get", "apibinding", "cowboys"]);
    assert!(ready.ok().lines().nth(1).is_some_and(|l| l.contains("True")), "READY column: {}", ready.stdout);

    // kubectl: apply, get with printer columns, patch, explain, a schema violation, watch.
    until_ok("cowboys are served", || k.kubectl_in_stdin("root:consumer", &["apply", "-f", "-"], WOODY));
    let table = k.kubectl_in("root:consumer", &["get", "cowboys"]);
    assert!(table.ok().starts_with("NAME") && table.stdout.contains("INTENT") && table.stdout.contains("yeehaw"), "{}", table.stdout);
    let woody = k.kubectl_in("root:consumer", &["get", "cowboy", "woody", "-o", "json"]).json();
    assert_eq!(woody["spec"]["horses"], 1, "defaulted from the schema");
    k.kubectl_in("root:consumer", &["patch", "cowboy", "woody", "--type=merge", "-p", r#"{"spec":{"intent":"ride"}}"#]).ok();
    let too_many = k.kubectl_in("root:consumer", &["patch", "cowboy", "woody", "--type=merge", "-p", r#"{"spec":{"horses":11}}"#]);
    assert!(too_many.fails().contains("spec.horses: Invalid value: 11"), "{}", too_many.stderr);
    let explain = k.kubectl_in("root:consumer", &["explain", "cowboy.spec"]);
    assert!(explain.ok().contains("Where the cowboy rides"), "{}", explain.stdout);
    let resources = k.kubectl_in("root:consumer", &["api-resources", "--api-group=wildwest.dev"]);
    assert!(resources.ok().contains("cowboys"), "{}", resources.stdout);
    let watch = k.kubectl_in("root:consumer", &["get", "cowboys", "-w", "--request-timeout=2s", "-o", "name"]);
    assert!(watch.stdout.contains("cowboy.wildwest.dev/woody"), "{}", watch.stdout);

    // The provider does not serve what it exports.
    let provider = k.kubectl_in("root:providers:cowboys", &["get", "cowboys"]);
    assert!(provider.fails().contains("the server doesn't have a resource type \"cowboys\""), "{}", provider.stderr);

    // A rival export of the same resource: its own data elsewhere, a conflict here. Its
    // maximal permission policy lets consumers read cowboys, and nothing more.
    k.kubectl_in("root:providers:rivals", &["patch", "apiexport", "cowboys", "--type=merge", "-p", r#"{"spec":{"maximalPermissionPolicy":{"local":{}}}}"#])
        .ok();
    // The provider does not serve cowboys, so kubectl cannot check the role's resource: YAML.
    let role = "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata: {name: cowboy-readers}\nrules:\n- {apiGroups: [wildwest.dev], resources: [cowboys], verbs: [get, list, watch]}\n";
    k.kubectl_in_stdin("root:providers:rivals", &["create", "-f", "-"], role).ok();
    let readers = "--group=apis.kcp.io:binding:system:authenticated";
    k.kubectl_in("root:providers:rivals", &["create", "clusterrolebinding", "cowboy-readers", "--clusterrole=cowboy-readers", readers]).ok();
    create_ready(k, "root", "other", Some("eu"));
    k.kubectl_in_stdin("root:other", &["create", "-f", "-"], &binding("cowboys", "root:providers:rivals")).ok();
    wait_binding(k, "root:other", "cowboys", "");
    until_ok("rival cowboys are readable under the policy", || k.kubectl_in("root:other", &["get", "cowboys"]));
    assert!(!k.kubectl_in("root:other", &["get", "cowboys"]).stdout.contains("woody"), "exports keep separate data");
    let limited = k.kubectl_in_stdin("root:other", &["create", "-f", "-"], WOODY);
    assert!(limited.fails().contains("Forbidden") && limited.stderr.contains("cannot create resource \"cowboys\""), "{}", limited.stderr);
    k.kubectl_in_stdin("root:consumer", &["create", "-f", "-"], &binding("rivals", "root:providers:rivals")).ok();
    let conflict = wait_binding(k, "root:consumer", "rivals", "NamingConflicts");
    assert_eq!(conflict["status"]["phase"], "Binding");

    // A CRD of a bound resource is refused, naming the binding.
    let crd = "apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata: {name: cowboys.wildwest.dev}\nspec:\n  group: wildwest.dev\n  scope: Namespaced\n  names: {plural: cowboys, kind: Cowboy}\n  versions: [{name: v1, served: true, storage: true, schema: {openAPIV3Schema: {type: object}}}]\n";
    let refused = k.kubectl_in_stdin("root:consumer", &["create", "-f", "-"], crd);
    assert!(refused.fails().contains("cannot create because resource is bound by APIBinding \"cowboys\""), "{}", refused.stderr);

    // Unbinding removes the objects; the rival binding then takes the resource over.
    let wildcard = format!("/clusters/*/apis/wildwest.dev/v1alpha1/cowboys:{identity}");
    let listed = s.kubectl_shard("shard-2", "shard-admin", "", &["get", "--raw", &wildcard]);
    assert!(listed.ok().contains("woody"), "system:masters lists an export's objects across workspaces: {}", listed.stdout);
    k.kubectl_in("root:consumer", &["delete", "apibinding", "cowboys"]).ok();
    eventually("the binding to be gone", Duration::from_secs(20), || {
        (k.kubectl_in("root:consumer", &["get", "apibinding", "cowboys"]).code != 0).then_some(())
    });
    wait_binding(k, "root:consumer", "rivals", "");
    eventually("shard-2 out of the endpoint slice", Duration::from_secs(10), || endpoints().is_empty().then_some(()));
    let rivals = k.kubectl_in("root:consumer", &["get", "cowboys", "-o", "name"]);
    assert_eq!(rivals.ok().trim(), "", "the old export's objects are gone, the rival's are empty");

    // An export made while no cache replica runs becomes bindable on shard-2 once one is back.
    s.kill("cache-2");
    create_ready(k, "root:providers", "late", Some("us"));
    k.kubectl_in_stdin("root:providers:late", &["apply", "-f", "-"], &schema("late")).ok();
    let early = k.kubectl_in_stdin("root:other", &["create", "-f", "-"], &binding("late", "root:providers:late"));
    assert!(early.fails().contains("the cache server is unreachable"), "{}", early.stderr);
    s.up_again();
    let back = std::time::Instant::now();
    until_ok("binding the late export", || k.kubectl_in_stdin("root:other", &["create", "-f", "-"], &binding("late", "root:providers:late")));
    eprintln!("bindable {:?} after the cache replicas were started again", back.elapsed());
}

#[test]
fn default_api_bindings_bind_a_new_workspace_before_it_is_ready() {
    let k = Install::start();
    create_ready(&k, "root", "providers", None);
    create_ready(&k, "root:providers", "cowboys", None);
    k.kubectl_in_stdin("root:providers:cowboys", &["apply", "-f", "-"], &schema("today")).ok();
    let ranch = "apiVersion: tenancy.kcp.io/v1alpha1\nkind: WorkspaceType\nmetadata: {name: ranch}\nspec:\n  defaultAPIBindings:\n  - {path: \"root:providers:cowboys\", export: cowboys}\n  - {path: \"root:providers:cowboys\", export: missing}\n";
    // Every default binding needs bind: one on a missing export is refused like a binding is.
    let refused = k.kubectl_in_stdin("root", &["create", "-f", "-"], ranch);
    assert!(refused.fails().contains("unable to create WorkspaceType: no permission to bind to export root:providers:cowboys:missing"), "{}", refused.stderr);
    k.kubectl_in_stdin("root", &["create", "-f", "-"], &ranch.replace("  - {path: \"root:providers:cowboys\", export: missing}\n", "")).ok();

    // The new workspace turns Ready bound: its cowboys are served the moment it is.
    let farm = "apiVersion: tenancy.kcp.io/v1alpha1\nkind: Workspace\nmetadata: {name: farm}\nspec: {type: {name: ranch, path: root}}\n";
    k.kubectl_in_stdin("root", &["create", "-f", "-"], farm).ok();
    eventually("farm to be Ready", Duration::from_secs(20), || {
        (k.kubectl_in("root", &["get", "workspace", "farm", "-o", "jsonpath={.status.phase}"]).stdout == "Ready").then_some(())
    });
    let binding = k.kubectl_in("root:farm", &["get", "apibinding", "cowboys", "-o", "json"]).json();
    assert_eq!(binding["status"]["phase"], "Bound");
    k.kubectl_in_stdin("root:farm", &["apply", "-f", "-"], WOODY).ok();
    assert!(k.kubectl_in("root:farm", &["get", "cowboys"]).ok().contains("woody"));
}

#[test]
fn accepted_claims_label_the_claimed_objects() {
    let k = Install::start();
    create_ready(&k, "root", "providers", None);
    create_ready(&k, "root:providers", "cowboys", None);
    create_ready(&k, "root", "consumer", None);
    let export = schema("today")
        .replace("spec:\n  resources:", "spec:\n  permissionClaims:\n  - {group: \"\", resource: configmaps, verbs: [get, list, watch]}\n  resources:");
    k.kubectl_in_stdin("root:providers:cowboys", &["apply", "-f", "-"], &export).ok();
    k.kubectl_in("root:consumer", &["create", "configmap", "before"]).ok();
    let bind = ["kcp", "bind", "apiexport", "root:providers:cowboys:cowboys", "-w", ":root:consumer", "--accept-permission-claim", "configmaps.core"];
    k.kubectl_plugin(&bind).ok();
    let binding = k.kubectl_in("root:consumer", &["get", "apibinding", "cowboys", "-o", "json"]).json();
    assert_eq!(binding["status"]["appliedPermissionClaims"][0]["resource"], "configmaps");
    let claimed = |name: &str| {
        let cm = k.kubectl_in("root:consumer", &["get", "configmap", name, "-o", "json"]).json();
        cm["metadata"]["labels"].as_object().is_some_and(|l| l.keys().any(|k| k.starts_with("claimed.internal.apis.kcp.io/")))
    };
    eventually("the existing configmap to be labelled", Duration::from_secs(10), || claimed("before").then_some(()));
    k.kubectl_in("root:consumer", &["create", "configmap", "after"]).ok();
    assert!(claimed("after"), "a new object is labelled as it is written");
}
