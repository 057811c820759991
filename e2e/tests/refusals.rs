//! What a refused request tells: nothing. Probes compare the answers for a workspace that exists
//! but is closed to the caller with those for one that does not exist, on a sharded install,
//! through the front-proxy and straight at the shards, as anonymous, as a stranger and as a
//! service account of another workspace.

use std::time::Duration;

use e2e::sharded::{raw_get, Sharded};
use e2e::{eventually, Install};

/// Creates a workspace (on shard-2 when `region` is `eu`) and waits until it is Ready; returns
/// its logical cluster.
fn ready_workspace(k: &Install, parent: &str, name: &str, region: &str) -> String {
    let ws = format!("apiVersion: tenancy.kcp.io/v1alpha1\nkind: Workspace\nmetadata:\n  name: {name}\nspec:\n  location:\n    selector:\n      matchLabels:\n        region: {region}\n");
    k.kubectl_in_stdin(parent, &["create", "-f", "-"], &ws).ok();
    eventually(&format!("{parent}:{name} Ready"), Duration::from_secs(30), || {
        let ws: serde_json::Value = serde_json::from_str(&k.kubectl_in(parent, &["get", "workspace", name, "-o", "json"]).stdout).ok()?;
        (ws["status"]["phase"] == "Ready").then(|| ws["spec"]["cluster"].as_str().unwrap_or_default().to_string())
    })
}

/// The answer with the cluster as written replaced, so that two probes can be compared.
fn normalized((code, body): (u16, String), written: &str) -> (u16, String) {
    (code, body.replace(written, "<workspace>"))
}

#[test]
fn refusals_are_the_same_for_existing_and_missing_workspaces() {
    let s = Sharded::up("bob-token,bob,2,dev\n");
    let k = &s.kcp;
    eventually("both shards registered", Duration::from_secs(10), || {
        let names = k.kubectl(&["get", "shards", "-o", "name"]).stdout;
        (names.contains("shard.core.kcp.io/root") && names.contains("shard.core.kcp.io/shard-2")).then_some(())
    });
    k.kubectl(&["label", "shard", "root", "region=us"]).ok();
    k.kubectl(&["label", "shard", "shard-2", "region=eu"]).ok();
    // The closed workspace lives on shard-2, so through the proxy its refusal and a missing
    // path's come from different processes.
    let closed = ready_workspace(k, "root", "closed", "eu");
    k.kubectl_in("root:closed", &["create", "secret", "generic", "s", "--from-literal=k=v"]).ok();
    ready_workspace(k, "root", "other", "us");
    k.kubectl_in("root:other", &["create", "serviceaccount", "robot"]).ok();
    let robot = k.kubectl_in("root:other", &["create", "token", "robot"]).ok().trim().to_string();
    let robot_auth = format!("Bearer {robot}");

    let callers: [(&str, Vec<(&str, &str)>); 3] = [
        ("anonymous", vec![]),
        ("stranger", vec![("authorization", "Bearer bob-token")]),
        ("service account of root:other", vec![("authorization", robot_auth.as_str())]),
    ];
    // (existing, missing) as the caller writes them.
    let targets = [("root:closed", "root:absent"), (closed.as_str(), "zzzzzzzzzzzzzzzz")];
    let suffixes = ["/api/v1/secrets", "/api/v1/namespaces/default/secrets/s", "/apis/rbac.authorization.k8s.io/v1/clusterroles", "/api"];
    let servers = [("front-proxy", s.proxy_url()), ("root shard", s.shard_url("root")), ("shard-2", s.shard_url("shard-2"))];
    let mut compared = 0;
    for (server_name, server) in &servers {
        for (who, headers) in &callers {
            // Shards know no static tokens: the stranger probes go through the proxy only.
            if *who == "stranger" && *server_name != "front-proxy" {
                continue;
            }
            for (existing, missing) in targets {
                for suffix in suffixes {
                    let probe = |cluster: &str| normalized(raw_get(&s, server, &format!("/clusters/{cluster}{suffix}"), None, headers), cluster);
                    let (there, absent) = (probe(existing), probe(missing));
                    assert!(matches!(there.0, 401 | 403), "{who} at {server_name}: {existing}{suffix} answered {there:?}");
                    assert_eq!(there, absent, "{who} at {server_name}: {existing}{suffix} vs {missing}{suffix}");
                    if *who == "anonymous" {
                        assert_eq!(there.0, 401, "anonymous at {server_name}: {there:?}");
                    }
                    assert!(!there.1.contains(&closed) || existing == closed, "the logical cluster's name leaked: {there:?}");
                    compared += 1;
                }
            }
        }
    }
    assert_eq!(compared, 56);
}

#[test]
fn impersonation_through_the_proxy_is_decided_by_the_target_workspace() {
    let s = Sharded::up("bob-token,bob,2,dev\n");
    let k = &s.kcp;
    eventually("the root shard registered", Duration::from_secs(10), || k.kubectl(&["get", "shards", "-o", "name"]).stdout.contains("root").then_some(()));
    k.kubectl_stdin(&["create", "-f", "-"], Some("apiVersion: tenancy.kcp.io/v1alpha1\nkind: Workspace\nmetadata:\n  name: team\n")).ok();
    eventually("root:team Ready", Duration::from_secs(30), || {
        (k.kubectl(&["get", "workspace", "team", "-o", "jsonpath={.status.phase}"]).stdout == "Ready").then_some(())
    });
    k.kubectl_in("root:team", &["create", "configmap", "c", "--from-literal=a=b"]).ok();

    // An administrator acting as bob gets exactly bob's rights: none yet. (A refused discovery
    // reads as "unknown" in kubectl, so refusals are asked for directly.)
    let list = "/clusters/root:team/api/v1/namespaces/default/configmaps";
    let refused = k.kubectl(&["--as", "bob", "get", "--raw", list]);
    assert!(refused.fails().contains("User \"bob\" cannot list resource \"configmaps\""), "{}", refused.stderr);
    assert_eq!(k.kubectl_in("root:team", &["--as", "bob", "auth", "can-i", "list", "configmaps"]).stdout.trim(), "no");
    k.kubectl_in("root:team", &["create", "clusterrolebinding", "bob-access", "--clusterrole=system:kcp:workspace:access", "--user=bob"]).ok();
    k.kubectl_in("root:team", &["create", "clusterrolebinding", "bob-view", "--clusterrole=view", "--user=bob"]).ok();
    eventually("bob's grant to apply", Duration::from_secs(10), || {
        (k.kubectl_in("root:team", &["--as", "bob", "get", "configmaps", "-o", "name"]).stdout.lines().any(|l| l == "configmap/c")).then_some(())
    });
    let write = k.kubectl_in("root:team", &["--as", "bob", "create", "configmap", "nope"]);
    assert!(write.fails().contains("User \"bob\" cannot create"), "{}", write.stderr);

    // Privileged groups stay out of reach of anyone but system:masters.
    let masters = k.kubectl(&["--as", "bob", "--as-group", "system:masters", "get", "--raw", list]);
    assert!(masters.fails().contains("only system:masters may impersonate privileged groups"), "{}", masters.stderr);
    // bob may not impersonate anyone: the workspace's RBAC does not let him.
    let by_bob = k.kubectl_token("bob-token", "root", &["--as", "kcp-admin", "get", "--raw", list]);
    assert!(by_bob.fails().contains("cannot impersonate resource \"users\""), "{}", by_bob.stderr);
}
