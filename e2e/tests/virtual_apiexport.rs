//! The apiexport virtual workspace on `kcp start`, as a provider's controller meets it with
//! kubectl: one URL lists and watches the export's objects in every bound consumer, writes
//! land in the consumer, and only callers granted `apiexports/content` get in.

use std::time::Duration;

use e2e::sharded::create_ready;
use e2e::{eventually, until_ok, Install};

use crate::apibinding::{binding, schema, wait_binding, WOODY};

const PROVIDER: &str = "root:providers:cowboys";

#[test]
fn a_provider_sees_and_writes_its_api_in_every_bound_consumer() {
    let k = Install::start();
    create_ready(&k, "root", "providers", None);
    let (_, export_cluster) = create_ready(&k, "root:providers", "cowboys", None);
    k.kubectl_in_stdin(PROVIDER, &["apply", "-f", "-"], &schema("today")).ok();
    let mut consumers = Vec::new();
    for ws in ["c1", "c2", "unbound"] {
        consumers.push(create_ready(&k, "root", ws, None).1);
    }
    for ws in ["root:c1", "root:c2"] {
        k.kubectl_in_stdin(ws, &["create", "-f", "-"], &binding("cowboys", PROVIDER)).ok();
        wait_binding(&k, ws, "cowboys", "");
        until_ok("cowboys are served", || k.kubectl_in_stdin(ws, &["apply", "-f", "-"], WOODY));
    }
    // `get --raw` takes paths from the host, without the server URL's path.
    let view_path = format!("/services/apiexport/{export_cluster}/cowboys");
    let view = format!("{}{view_path}", k.server(""));
    let all = format!("{view}/clusters/*");

    // One list across both consumers, each object naming its workspace's logical cluster.
    let listed = k.kubectl(&["--server", &all, "get", "cowboys", "-A", "-o", "json"]).json();
    let mut clusters: Vec<&str> =
        listed["items"].as_array().expect("items").iter().filter_map(|c| c["metadata"]["annotations"]["kcp.io/cluster"].as_str()).collect();
    clusters.sort();
    let mut bound = vec![consumers[0].as_str(), consumers[1].as_str()];
    bound.sort();
    assert_eq!(clusters, bound, "{listed}");

    // A watch sees a cowboy created later in either consumer.
    let watch = k.background("", &["--server", &all, "get", "cowboys", "-A", "-w", "-o", "name"]);
    watch.wait_for("the existing cowboys", |lines| lines.len() >= 2);
    k.kubectl_in_stdin("root:c2", &["create", "-f", "-"], &WOODY.replace("woody", "jessie")).ok();
    watch.wait_for("the new cowboy", |lines| lines.iter().any(|l| l.contains("jessie")));
    watch.stop();

    // Writes inside one consumer go through its REST handlers: defaulting, status, and kubectl
    // in the consumer sees them.
    let c1 = format!("{view}/clusters/{}", consumers[0]);
    k.kubectl_stdin(&["--server", &c1, "create", "-f", "-"], Some(&WOODY.replace("woody", "buzz"))).ok();
    k.kubectl(&["--server", &c1, "patch", "cowboy", "buzz", "--subresource=status", "--type=merge", "-p", r#"{"status":{"result":"roped"}}"#]).ok();
    let buzz = k.kubectl_in("root:c1", &["get", "cowboy", "buzz", "-o", "json"]).json();
    assert_eq!((buzz["spec"]["horses"].as_i64(), buzz["status"]["result"].as_str()), (Some(1), Some("roped")), "{buzz}");
    let outside = k.kubectl(&["get", "--raw", &format!("{view_path}/clusters/{}/api/v1/namespaces/default/configmaps", consumers[0])]);
    assert!(outside.fails().contains("NotFound"), "only the export's resources: {}", outside.stderr);

    // The export's bindings, read-only.
    let bindings = k.kubectl(&["--server", &all, "get", "apibindings", "-A", "-o", "json"]).json();
    assert_eq!(bindings["items"].as_array().map(Vec::len), Some(2), "the two consumers' bindings: {bindings}");
    assert_eq!(k.kubectl(&["--server", &c1, "get", "apibinding", "cowboys", "-o", "jsonpath={.status.phase}"]).ok(), "Bound");
    let write = k.kubectl(&["--server", &c1, "delete", "apibinding", "cowboys"]);
    assert!(write.fails().contains("MethodNotAllowed") || write.stderr.contains("not allow"), "{}", write.stderr);

    // An inactive consumer is closed through the view too.
    k.kubectl_in("root:c1", &["annotate", "logicalcluster", "cluster", "core.kcp.io/inactive=true"]).ok();
    let closed = k.kubectl(&["--server", &c1, "get", "cowboys", "-A"]);
    assert!(closed.fails().contains("the logical cluster is inactive"), "{}", closed.stderr);
    let masters = ["--context", "system:admin", "--server", &k.server("root:c1")];
    k.kubectl(&[&masters[..], &["annotate", "logicalcluster", "cluster", "core.kcp.io/inactive-"]].concat()).ok();

    // A consumer without a binding is refused, whoever asks.
    let unbound = format!("{view_path}/clusters/{}/apis/wildwest.dev/v1alpha1/namespaces/default/cowboys", consumers[2]);
    let refused = k.kubectl(&["get", "--raw", &unbound]);
    assert!(refused.fails().contains("could not find suitable APIBinding in target logical cluster"), "{}", refused.stderr);

    // A service account of the provider needs the verb on apiexports/content, verb by verb.
    k.kubectl_in(PROVIDER, &["create", "serviceaccount", "robot"]).ok();
    let token = k.kubectl_in(PROVIDER, &["create", "token", "robot"]).ok().trim().to_string();
    let list = ["--server", all.as_str(), "get", "cowboys", "-A", "-o", "name"];
    let raw_list = format!("{view_path}/clusters/*/apis/wildwest.dev/v1alpha1/cowboys");
    let denied = k.kubectl_token(&token, "", &["get", "--raw", &raw_list]);
    assert!(denied.fails().contains("cannot list resource \"cowboys\""), "{}", denied.stderr);
    assert!(k.kubectl_token(&token, "", &list).fails().contains("Forbidden"), "kubectl's discovery is refused too");
    let role = "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata: {name: cowboy-lister}\nrules:\n- {apiGroups: [apis.kcp.io], resources: [apiexports/content], resourceNames: [cowboys], verbs: [list]}\n";
    k.kubectl_in_stdin(PROVIDER, &["create", "-f", "-"], role).ok();
    k.kubectl_in(PROVIDER, &["create", "clusterrolebinding", "robot-lists", "--clusterrole=cowboy-lister", "--serviceaccount=default:robot"]).ok();
    let names = eventually("the robot lists once granted", Duration::from_secs(10), || Some(k.kubectl_token(&token, "", &list)).filter(|r| r.code == 0));
    assert_eq!(names.stdout.lines().count(), 4, "woody twice, jessie, buzz: {}", names.stdout);
    let create = ["--server", c1.as_str(), "create", "-f", "-"];
    let no_create = k.kubectl_token_stdin(&token, "", &create, &WOODY.replace("woody", "slinky"));
    assert!(no_create.fails().contains("cannot create resource \"cowboys\""), "{}", no_create.stderr);
}

#[test]
fn claimed_configmaps_are_seen_only_while_the_consumer_accepts_the_claim() {
    let k = Install::start();
    create_ready(&k, "root", "providers", None);
    let (_, export_cluster) = create_ready(&k, "root:providers", "cowboys", None);
    let consumer = create_ready(&k, "root", "c1", None).1;
    let export = schema("today")
        .replace("spec:\n  resources:", "spec:\n  permissionClaims:\n  - {group: \"\", resource: configmaps, verbs: [get, list, watch]}\n  resources:");
    k.kubectl_in_stdin(PROVIDER, &["apply", "-f", "-"], &export).ok();
    k.kubectl_in_stdin("root:c1", &["create", "-f", "-"], &binding("cowboys", PROVIDER)).ok();
    wait_binding(&k, "root:c1", "cowboys", "");
    k.kubectl_in("root:c1", &["create", "configmap", "settings", "--from-literal=k=v"]).ok();
    let view = format!("{}/services/apiexport/{export_cluster}/cowboys/clusters", k.server(""));
    let all = format!("{view}/*");
    let one = format!("{view}/{consumer}");
    let listed = || k.kubectl(&["--server", &all, "get", "configmaps", "-A", "-o", "name"]).ok().trim().to_string();

    // Claimed but not accepted: served, and empty; the consumer's objects stay out of reach.
    assert_eq!(listed(), "");
    let refused = k.kubectl(&["--server", &one, "get", "configmap", "settings"]);
    assert!(refused.fails().contains("no accepted permission claim"), "{}", refused.stderr);

    // Accepted (binding verbs get and list only): visible, readable, nothing more.
    let accept = |state: &str| {
        let patch = format!(
            r#"{{"spec":{{"permissionClaims":[{{"group":"","resource":"configmaps","verbs":["get","list"],"selector":{{"matchAll":true}},"state":"{state}"}}]}}}}"#
        );
        k.kubectl_in("root:c1", &["patch", "apibinding", "cowboys", "--type=merge", "-p", &patch]).ok();
    };
    accept("Accepted");
    // Every ConfigMap of the consumer: the claim selects all (its kube-root-ca.crt too).
    eventually("the accepted claim to show the configmap", Duration::from_secs(10), || listed().lines().any(|l| l == "configmap/settings").then_some(()));
    assert_eq!(k.kubectl(&["--server", &one, "get", "configmap", "settings", "-o", "jsonpath={.data.k}"]).ok(), "v");
    // The binding did not grant watch: a watch across consumers leaves this one out.
    let raw = format!("/services/apiexport/{export_cluster}/cowboys/clusters/*/api/v1/configmaps?watch=true&timeoutSeconds=1");
    let watched = k.kubectl(&["get", "--raw", &raw]);
    assert!(!watched.stdout.contains("\"settings\""), "{}", watched.stdout);
    let deleted = k.kubectl(&["--server", &one, "delete", "configmap", "settings"]);
    assert!(deleted.fails().contains("Forbidden"), "{}", deleted.stderr);

    // Rejected: gone again.
    accept("Rejected");
    eventually("the rejected claim to hide the configmap", Duration::from_secs(10), || listed().is_empty().then_some(()));
    assert_eq!(k.kubectl_in("root:c1", &["get", "configmap", "settings", "-o", "jsonpath={.data.k}"]).ok(), "v", "the consumer keeps it");

    // The schemas behind the consumer's bindings, read-only, for whoever may read its bindings.
    let schemas = format!("/services/apiresourceschema/{consumer}/clusters/*/apis/apis.kcp.io/v1alpha1/apiresourceschemas");
    let listed = k.kubectl(&["get", "--raw", &schemas]).json();
    assert_eq!(listed["items"][0]["metadata"]["name"], "today.cowboys.wildwest.dev", "{listed}");
    let one = k.kubectl(&["get", "--raw", &format!("{schemas}/today.cowboys.wildwest.dev")]).json();
    assert_eq!(one["spec"]["group"], "wildwest.dev");
    assert!(k.kubectl(&["get", "--raw", &format!("{schemas}/nope")]).fails().contains("NotFound"));
    k.kubectl_in(PROVIDER, &["create", "serviceaccount", "outsider"]).ok();
    let token = k.kubectl_in(PROVIDER, &["create", "token", "outsider"]).ok().trim().to_string();
    let refused = k.kubectl_token(&token, "", &["get", "--raw", &schemas]);
    assert!(refused.fails().contains("Forbidden"), "{}", refused.stderr);
}

#[test]
fn claims_on_another_exports_resources_follow_its_maximal_permission_policy() {
    let k = Install::start();
    create_ready(&k, "root", "providers", None);
    create_ready(&k, "root:providers", "cowboys", None);
    let (_, law_cluster) = create_ready(&k, "root:providers", "law", None);
    let consumer = create_ready(&k, "root", "c1", None).1;
    k.kubectl_in_stdin(PROVIDER, &["apply", "-f", "-"], &schema("today")).ok();
    k.kubectl_in(PROVIDER, &["patch", "apiexport", "cowboys", "--type=merge", "-p", r#"{"spec":{"maximalPermissionPolicy":{"local":{}}}}"#]).ok();
    let identity = eventually("the export's identity", Duration::from_secs(10), || {
        let id = k.kubectl_in(PROVIDER, &["get", "apiexport", "cowboys", "-o", "jsonpath={.status.identityHash}"]).stdout;
        (!id.trim().is_empty()).then(|| id.trim().to_string())
    });
    // The sheriffs' export serves nothing of its own and claims the cowboys of its consumers.
    let sheriffs = format!(
        "apiVersion: apis.kcp.io/v1alpha2\nkind: APIExport\nmetadata:\n  name: sheriffs\nspec:\n  permissionClaims:\n  - {{group: wildwest.dev, resource: cowboys, identityHash: {identity}, verbs: [get, list, watch]}}\n"
    );
    k.kubectl_in_stdin("root:providers:law", &["create", "-f", "-"], &sheriffs).ok();
    // The policy allows the admin everything on cowboys, and no one else anything.
    let all = "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata: {name: all-cowboys}\nrules:\n- {apiGroups: [wildwest.dev], resources: [cowboys], verbs: [\"*\"]}\n";
    k.kubectl_in_stdin(PROVIDER, &["create", "-f", "-"], all).ok();
    k.kubectl_in(PROVIDER, &["create", "clusterrolebinding", "admins", "--clusterrole=all-cowboys", "--user=apis.kcp.io:binding:kcp-admin"]).ok();
    k.kubectl_in_stdin("root:c1", &["create", "-f", "-"], &binding("cowboys", PROVIDER)).ok();
    wait_binding(&k, "root:c1", "cowboys", "");
    until_ok("cowboys are served", || k.kubectl_in_stdin("root:c1", &["apply", "-f", "-"], WOODY));
    let accepted = format!(
        "apiVersion: apis.kcp.io/v1alpha2\nkind: APIBinding\nmetadata:\n  name: sheriffs\nspec:\n  reference:\n    export: {{path: \"root:providers:law\", name: sheriffs}}\n  permissionClaims:\n  - {{group: wildwest.dev, resource: cowboys, identityHash: {identity}, verbs: [get, list, watch], selector: {{matchAll: true}}, state: Accepted}}\n"
    );
    k.kubectl_in_stdin("root:c1", &["create", "-f", "-"], &accepted).ok();
    wait_binding(&k, "root:c1", "sheriffs", "");

    // The sheriffs' controller may read its export's content.
    k.kubectl_in("root:providers:law", &["create", "serviceaccount", "sheriff"]).ok();
    let role = "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata: {name: sheriffs-content}\nrules:\n- {apiGroups: [apis.kcp.io], resources: [apiexports/content], resourceNames: [sheriffs], verbs: [get, list, watch]}\n";
    k.kubectl_in_stdin("root:providers:law", &["create", "-f", "-"], role).ok();
    k.kubectl_in("root:providers:law", &["create", "clusterrolebinding", "sheriff", "--clusterrole=sheriffs-content", "--serviceaccount=default:sheriff"]).ok();
    let token = k.kubectl_in("root:providers:law", &["create", "token", "sheriff"]).ok().trim().to_string();
    let view = format!("{}/services/apiexport/{law_cluster}/sheriffs/clusters", k.server(""));
    let as_sheriff = |cluster: &str, args: &[&str]| k.kubectl_token(&token, "", &[&["--server", &format!("{view}/{cluster}")], args].concat());

    // The cowboys' export limits what anyone does with its resources: nothing granted to the
    // sheriff yet.
    eventually("the content grant to apply, and the policy to refuse", Duration::from_secs(10), || {
        as_sheriff("*", &["get", "cowboys", "-A"]).stderr.contains("maximal permission policy").then_some(())
    });
    let refused = as_sheriff(&consumer, &["get", "cowboy", "woody"]);
    assert!(refused.fails().contains("maximal permission policy"), "{}", refused.stderr);

    // Its workspace grants reading them to every authenticated caller, as seen by the policy.
    let read = "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata: {name: read-cowboys}\nrules:\n- {apiGroups: [wildwest.dev], resources: [cowboys], verbs: [get, list, watch]}\n";
    k.kubectl_in_stdin(PROVIDER, &["create", "-f", "-"], read).ok();
    k.kubectl_in(PROVIDER, &["create", "clusterrolebinding", "read-cowboys", "--clusterrole=read-cowboys", "--group=apis.kcp.io:binding:system:authenticated"])
        .ok();
    let listed = eventually("the claimed cowboys to be listed", Duration::from_secs(10), || {
        let r = as_sheriff("*", &["get", "cowboys", "-A", "-o", "json"]);
        (r.code == 0).then(|| r.json())
    });
    let items = listed["items"].as_array().expect("items");
    assert_eq!(items.len(), 1, "{listed}");
    assert_eq!(
        (items[0]["metadata"]["name"].as_str(), items[0]["metadata"]["annotations"]["kcp.io/cluster"].as_str()),
        (Some("woody"), Some(consumer.as_str()))
    );
    assert_eq!(as_sheriff(&consumer, &["get", "cowboy", "woody", "-o", "jsonpath={.spec.intent}"]).ok(), "yeehaw");
    // The claim grants reading only.
    let write = as_sheriff(&consumer, &["delete", "cowboy", "woody"]);
    assert!(write.fails().contains("Forbidden"), "{}", write.stderr);
}
