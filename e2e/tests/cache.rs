//! The replicated cache as users of deploy/local/up.sh meet it: workspace types of any
//! workspace usable from the other shard, `use` decided by replicated RBAC, a read-only view
//! into each replica, and replicas that die and come back empty without anyone noticing.

use std::time::{Duration, Instant};

use e2e::sharded::{create_ready, label_shards, raw_request, Sharded};
use e2e::{eventually, until_ok};
use serde_json::Value;

const TYPES: &str = "/services/cache/shards/*/clusters/*/apis/tenancy.kcp.io/v1alpha1/workspacetypes";

fn workspace_type(name: &str) -> String {
    format!("apiVersion: tenancy.kcp.io/v1alpha1\nkind: WorkspaceType\nmetadata:\n  name: {name}\n")
}

/// A Workspace of type `name` in workspace `path`.
fn typed_workspace(name: &str, type_name: &str, type_path: &str) -> String {
    format!("apiVersion: tenancy.kcp.io/v1alpha1\nkind: Workspace\nmetadata:\n  name: {name}\nspec:\n  type:\n    name: {type_name}\n    path: {type_path}\n")
}

/// Names (`<cluster>|<name>`) and shard annotations of the items of a cache list.
fn listed(body: &str) -> Vec<(String, String, String)> {
    let list: Value = serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {body}"));
    let items = list["items"].as_array().cloned().unwrap_or_default();
    items
        .iter()
        .map(|i| {
            let a = &i["metadata"]["annotations"];
            let s = |v: &Value| v.as_str().unwrap_or_default().to_string();
            (s(&a["kcp.io/cluster"]), s(&i["metadata"]["name"]), s(&a["kcp.io/shard"]))
        })
        .collect()
}

#[test]
fn workspace_types_and_their_rbac_reach_every_shard() {
    let s = Sharded::up("alice-token,alice,1,\"dev\"\nbob-token,bob,2,\"dev\"\n");
    let k = &s.kcp;
    label_shards(&s);
    // root:org on the root shard holds a type; root:org:team, a parent on shard-2, uses it.
    let (org_shard, org_cluster) = create_ready(k, "root", "org", Some("us"));
    assert_eq!(org_shard, "root");
    let (team_shard, team_cluster) = create_ready(k, "root:org", "team", Some("eu"));
    assert_eq!(team_shard, "shard-2");
    k.kubectl_in_stdin("root:org", &["create", "-f", "-"], &workspace_type("widget")).ok();
    k.kubectl_in_stdin("root:org:team", &["create", "-f", "-"], &workspace_type("gadget")).ok();
    for user in ["alice", "bob"] {
        k.kubectl_in("root:org:team", &["create", "clusterrolebinding", &format!("{user}-admin"), "--clusterrole=cluster-admin", &format!("--user={user}")])
            .ok();
    }

    // The type reaches shard-2 through the cache, and the admin may use it: admitted there.
    until_ok("root:org:widget usable on shard-2", || k.kubectl_in_stdin("root:org:team", &["create", "-f", "-"], &typed_workspace("w1", "widget", "root:org")));
    // Nobody granted alice `use`: 403, the same as bob gets.
    let refused = k.kubectl_token_stdin("alice-token", "root:org:team", &["create", "-f", "-"], &typed_workspace("w2", "widget", "root:org"));
    assert!(refused.fails().contains("may not use workspace type root:org:widget"), "{}", refused.stderr);
    // A ClusterRole and binding in root:org grant it to alice, and to her only.
    let role = "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata:\n  name: widget-users\nrules:\n- apiGroups: [tenancy.kcp.io]\n  resources: [workspacetypes]\n  resourceNames: [widget]\n  verbs: [use]\n";
    k.kubectl_in_stdin("root:org", &["create", "-f", "-"], role).ok();
    k.kubectl_in("root:org", &["create", "clusterrolebinding", "alice-widgets", "--clusterrole=widget-users", "--user=alice"]).ok();
    eventually("alice may use widget", Duration::from_secs(10), || {
        (k.kubectl_token_stdin("alice-token", "root:org:team", &["create", "-f", "-"], &typed_workspace("w2", "widget", "root:org")).code == 0).then_some(())
    });
    let refused = k.kubectl_token_stdin("bob-token", "root:org:team", &["create", "-f", "-"], &typed_workspace("w3", "widget", "root:org"));
    assert!(refused.fails().contains("Forbidden"), "{}", refused.stderr);
    // A type that exists nowhere is named as such.
    let missing = k.kubectl_in_stdin("root:org:team", &["create", "-f", "-"], &typed_workspace("w4", "nothing", "root:org"));
    assert!(missing.fails().contains("workspace type root:org:nothing does not exist"), "{}", missing.stderr);

    // Each replica holds the types of both shards, marked with their shard.
    for replica in ["cache-1", "cache-2"] {
        let types = listed(s.kubectl_cache(replica, "shard-client", &["get", "--raw", TYPES]).ok());
        assert!(types.contains(&(org_cluster.clone(), "widget".into(), "root".into())), "{replica}: {types:?}");
        assert!(types.contains(&(team_cluster.clone(), "gadget".into(), "shard-2".into())), "{replica}: {types:?}");
        assert!(types.contains(&("root".into(), "universal".into(), "root".into())), "{replica}: {types:?}");
        let rbac = listed(
            s.kubectl_cache(replica, "shard-client", &["get", "--raw", "/services/cache/shards/*/clusters/*/apis/rbac.authorization.k8s.io/v1/clusterroles"])
                .ok(),
        );
        assert!(rbac.contains(&(org_cluster.clone(), "widget-users".into(), "root".into())), "{replica}: {rbac:?}");
        // Never a Secret, never a system cluster.
        let secrets = listed(s.kubectl_cache(replica, "shard-client", &["get", "--raw", "/services/cache/shards/*/clusters/*/api/v1/secrets"]).ok());
        assert!(secrets.is_empty(), "{secrets:?}");
        assert!(types.iter().chain(&rbac).all(|(c, _, _)| !c.starts_with("system:")), "{types:?} {rbac:?}");
    }
    // Read-only, mutual TLS, system:masters only.
    let (code, body) = raw_request(&s, "PUT", &s.cache_url("cache-1"), TYPES, Some("shard-client"), &[]);
    assert_eq!(code, 405, "{body}");
    let (code, body) = raw_request(&s, "GET", &s.cache_url("cache-1"), TYPES, None, &[("authorization", "Bearer alice-token")]);
    assert_eq!(code, 401, "{body}");
    let (code, body) = raw_request(&s, "GET", &s.cache_url("cache-1"), TYPES, Some("admin"), &[]);
    assert_eq!(code, 403, "{body}");
    let (code, _) = raw_request(&s, "GET", &s.cache_url("cache-1"), "/readyz", None, &[]);
    assert_eq!(code, 200);

    // One replica dies during a stream of creations: none fails.
    let started = Instant::now();
    let mut n = 0;
    while started.elapsed() < Duration::from_secs(4) {
        if n == 3 {
            s.kill("cache-1");
        }
        k.kubectl_in_stdin("root:org:team", &["create", "-f", "-"], &typed_workspace(&format!("during{n}"), "widget", "root:org")).ok();
        n += 1;
    }
    // Both die: what was seen keeps working; a type never seen fails clearly, and retryably.
    s.kill("cache-2");
    k.kubectl_in_stdin("root:org:team", &["create", "-f", "-"], &typed_workspace("after", "widget", "root:org")).ok();
    k.kubectl_in("root:org:team", &["get", "workspaces"]).ok();
    k.kubectl_in_stdin("root:org", &["create", "-f", "-"], &workspace_type("sprocket")).ok();
    let blind = k.kubectl_in_stdin("root:org:team", &["create", "-f", "-"], &typed_workspace("blind", "sprocket", "root:org"));
    assert!(blind.fails().contains("cache server is unreachable"), "{}", blind.stderr);
    // Replicas come back empty; the shards refill them, and the new type is usable at once.
    s.up_again();
    let back = Instant::now();
    eventually("sprocket usable from shard-2", Duration::from_secs(5), || {
        (k.kubectl_in_stdin("root:org:team", &["create", "-f", "-"], &typed_workspace("blind", "sprocket", "root:org")).code == 0).then_some(())
    });
    eprintln!("usable {:?} after both replicas answered /readyz again", back.elapsed());
    assert!(back.elapsed() < Duration::from_secs(2), "took {:?}", back.elapsed());
    // Each restarted replica holds both shards' objects again (shards reconnect within 0.5 s).
    for replica in ["cache-1", "cache-2"] {
        eventually(&format!("{replica} refilled by both shards"), Duration::from_secs(3), || {
            let types = listed(s.kubectl_cache(replica, "shard-client", &["get", "--raw", TYPES]).ok());
            let has = |cluster: &str, name: &str| types.iter().any(|(c, n, _)| c == cluster && n == name);
            (has(&org_cluster, "sprocket") && has(&team_cluster, "gadget")).then_some(())
        });
    }
}
