//! Who may bind an APIExport, on deploy/local/up.sh: `bind` in the export's workspace decides,
//! evaluated on the consumer's shard from the replicated RBAC; a refusal reads the same whether
//! the export exists or not; a workspace's service accounts are granted through its group,
//! which no credential can claim for itself.

use base64::Engine;
use e2e::sharded::{create_ready, label_shards, Sharded};
use e2e::until_ok;

const EXPORT: &str = "apiVersion: apis.kcp.io/v1alpha2\nkind: APIExport\nmetadata:\n  name: cowboys\nspec: {}\n";

fn binding(name: &str, export: &str) -> String {
    format!("apiVersion: apis.kcp.io/v1alpha2\nkind: APIBinding\nmetadata:\n  name: {name}\nspec:\n  reference:\n    export:\n      path: root:prov\n      name: {export}\n")
}

#[test]
fn binding_needs_bind_in_the_exports_workspace_across_shards() {
    let s = Sharded::up("alice-token,alice,1,\"dev\"\nbob-token,bob,2,\"dev\"\n");
    let k = &s.kcp;
    label_shards(&s);
    let (prov_shard, _) = create_ready(k, "root", "prov", Some("us"));
    assert_eq!(prov_shard, "root");
    let (cons_shard, cons_cluster) = create_ready(k, "root", "cons", Some("eu"));
    assert_eq!(cons_shard, "shard-2");
    create_ready(k, "root", "other", Some("eu"));
    k.kubectl_in_stdin("root:prov", &["create", "-f", "-"], EXPORT).ok();
    for user in ["alice", "bob"] {
        k.kubectl_in("root:cons", &["create", "clusterrolebinding", &format!("{user}-admin"), "--clusterrole=cluster-admin", &format!("--user={user}")]).ok();
    }

    // Without bind: 403, worded exactly as for an export that does not exist.
    let refused = k.kubectl_token_stdin("alice-token", "root:cons", &["create", "-f", "-"], &binding("b1", "cowboys"));
    assert!(refused.fails().contains("unable to create APIBinding: no permission to bind to export root:prov:cowboys"), "{}", refused.stderr);
    let missing = k.kubectl_token_stdin("alice-token", "root:cons", &["create", "-f", "-"], &binding("b1", "nothing"));
    assert!(missing.fails().contains("unable to create APIBinding: no permission to bind to export root:prov:nothing"), "{}", missing.stderr);
    assert_eq!(refused.stderr.replace("cowboys", "X"), missing.stderr.replace("nothing", "X"), "a refusal tells nothing about what exists");

    // A grant in the provider's workspace (root shard) reaches shard-2 through the cache.
    let role = "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata:\n  name: bind-cowboys\nrules:\n- apiGroups: [apis.kcp.io]\n  resources: [apiexports]\n  resourceNames: [cowboys]\n  verbs: [bind]\n";
    k.kubectl_in_stdin("root:prov", &["create", "-f", "-"], role).ok();
    k.kubectl_in("root:prov", &["create", "clusterrolebinding", "alice-binds", "--clusterrole=bind-cowboys", "--user=alice"]).ok();
    until_ok("alice binds once granted", || k.kubectl_token_stdin("alice-token", "root:cons", &["create", "-f", "-"], &binding("b1", "cowboys")));
    let bob = k.kubectl_token_stdin("bob-token", "root:cons", &["create", "-f", "-"], &binding("b2", "cowboys"));
    assert!(bob.fails().contains("no permission to bind"), "{}", bob.stderr);

    // The consumer workspace's group admits its own service accounts, and no other workspace's.
    let group = format!("system:cluster:{cons_cluster}");
    k.kubectl_in("root:prov", &["create", "clusterrolebinding", "cons-binds", "--clusterrole=bind-cowboys", &format!("--group={group}")]).ok();
    let robot_token = |ws: &str| {
        k.kubectl_in(ws, &["create", "serviceaccount", "robot"]).ok();
        k.kubectl_in(ws, &["create", "clusterrolebinding", "robot-admin", "--clusterrole=cluster-admin", "--serviceaccount=default:robot"]).ok();
        k.kubectl_in(ws, &["create", "token", "robot"]).ok().trim().to_string()
    };
    let own = robot_token("root:cons");
    until_ok("the consumer's service account binds", || k.kubectl_token_stdin(&own, "root:cons", &["create", "-f", "-"], &binding("b3", "cowboys")));
    let stranger = robot_token("root:other");
    let refused = k.kubectl_token_stdin(&stranger, "root:other", &["create", "-f", "-"], &binding("b4", "cowboys"));
    assert!(refused.fails().contains("no permission to bind"), "{}", refused.stderr);

    // A certificate claiming the workspace's group gains nothing (admin in root:cons, no bind).
    let ca = apiserver::pki::read_pair(&s.pki(""), "client-ca").expect("client CA");
    let claim = apiserver::pki::new_client_cert(&ca, "mallory", &[group]).expect("certificate");
    k.kubectl_in("root:cons", &["create", "clusterrolebinding", "mallory-admin", "--clusterrole=cluster-admin", "--user=mallory"]).ok();
    let b64 = |pem: &str| base64::engine::general_purpose::STANDARD.encode(pem);
    let user = serde_json::json!({"client-certificate-data": b64(&claim.cert_pem), "client-key-data": b64(&claim.key_pem)});
    let forged = k.kubectl_as_stdin(user, "root:cons", &["create", "-f", "-"], Some(&binding("b5", "cowboys")));
    assert!(forged.fails().contains("no permission to bind"), "{}", forged.stderr);
}
