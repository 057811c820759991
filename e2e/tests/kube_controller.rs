//! A provider controller written with kube-rs (examples/cowboy-controller: kube's unmodified
//! client and controller runtime) against deploy/local/up.sh: given only the front-proxy's
//! merged apiexport URL and a token of the provider's service account, it sets status on
//! every cowboy of consumers on both shards, and keeps doing so while a shard is killed and
//! restarted; then the same binary does the job through each per-shard URL of the endpoint
//! slice, as kcp's controllers work.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use e2e::sharded::create_ready;
use e2e::{bin_dir, eventually, until_ok, Install};

use crate::apibinding::{binding, wait_binding, WOODY};
use crate::virtual_merged::{cowboys_exported_across_shards, PROVIDER};
const CONTENT: &str = "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata: {name: cowboy-controller}\nrules:\n- {apiGroups: [apis.kcp.io], resources: [apiexports/content], resourceNames: [cowboys], verbs: [get, list, watch, patch, update]}\n";

/// The controller, running until dropped, and the kubeconfig it reads.
struct Running {
    child: Child,
    _kubeconfig: tempfile::NamedTempFile,
}

impl Running {
    fn start(k: &Install, token: &str, server: &str) -> Running {
        let kubeconfig = k.kubeconfig_at(serde_json::json!({"token": token}), server);
        let child = Command::new(bin_dir().join("cowboy-controller"))
            .env("KUBECONFIG", kubeconfig.path())
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("cowboy-controller is built");
        Running { child, _kubeconfig: kubeconfig }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Waits until the cowboy `name` in `ws` has the status the controller gives its intent.
fn reconciled(k: &Install, ws: &str, name: &str, intent: &str) {
    eventually(&format!("{ws}/{name} reconciled"), Duration::from_secs(30), || {
        let result = k.kubectl_in(ws, &["get", "cowboy", name, "-o", "jsonpath={.status.result}"]);
        (result.stdout == format!("seen: {intent}")).then_some(())
    });
}

fn cowboy(name: &str, intent: &str) -> String {
    WOODY.replace("woody", name).replace("yeehaw", intent)
}

#[test]
fn a_kube_rs_controller_reconciles_every_consumer_through_one_url() {
    let (s, export_cluster) = cowboys_exported_across_shards();
    let k = &s.kcp;
    let consumers = [("root:west", Some("us")), ("root:east", Some("eu")), ("root:north", Some("eu"))];
    for (ws, region) in consumers {
        create_ready(k, "root", ws.trim_start_matches("root:"), region);
        k.kubectl_in_stdin(ws, &["create", "-f", "-"], &binding("cowboys", PROVIDER)).ok();
        wait_binding(k, ws, "cowboys", "");
        until_ok("cowboys are served", || k.kubectl_in_stdin(ws, &["apply", "-f", "-"], &cowboy("woody", "ride")));
    }
    k.kubectl_in(PROVIDER, &["create", "serviceaccount", "controller"]).ok();
    k.kubectl_in_stdin(PROVIDER, &["create", "-f", "-"], CONTENT).ok();
    k.kubectl_in(PROVIDER, &["create", "clusterrolebinding", "cowboy-controller", "--clusterrole=cowboy-controller", "--serviceaccount=default:controller"])
        .ok();
    let token = k.kubectl_in(PROVIDER, &["create", "token", "controller"]).ok().trim().to_string();

    // Through the front-proxy's merged view.
    let merged = format!("{}/services/apiexport/{export_cluster}/cowboys/clusters/*", k.server(""));
    let controller = Running::start(k, &token, &merged);
    for (ws, _) in consumers {
        reconciled(k, ws, "woody", "ride");
    }
    k.kubectl_in_stdin("root:east", &["apply", "-f", "-"], &cowboy("jessie", "rope")).ok();
    reconciled(k, "root:east", "jessie", "rope");

    // A shard killed and restarted: the other shard's cowboys keep being reconciled, and the
    // restarted one's too once it is back.
    s.kill("shard-2");
    k.kubectl_in_stdin("root:west", &["apply", "-f", "-"], &cowboy("buzz", "fly")).ok();
    reconciled(k, "root:west", "buzz", "fly");
    s.up_again();
    until_ok("shard-2 serves again", || k.kubectl_in_stdin("root:north", &["apply", "-f", "-"], &cowboy("rex", "roar")));
    reconciled(k, "root:north", "rex", "roar");
    k.kubectl_in("root:east", &["patch", "cowboy", "jessie", "--type=merge", "-p", r#"{"spec":{"intent":"lasso"}}"#]).ok();
    reconciled(k, "root:east", "jessie", "lasso");
    drop(controller);

    // Through each shard's own URL from the endpoint slice, one controller per shard.
    let urls = eventually("both shards in the endpoint slice", Duration::from_secs(20), || {
        let out = k.kubectl_in(PROVIDER, &["get", "apiexportendpointslice", "cowboys", "-o", "jsonpath={.status.endpoints[*].url}"]).stdout;
        let urls: Vec<String> = out.split_whitespace().map(String::from).collect();
        (urls.len() == 2).then_some(urls)
    });
    let per_shard: Vec<Running> = urls.iter().map(|url| Running::start(k, &token, &format!("{url}/clusters/*"))).collect();
    for (ws, _) in consumers {
        k.kubectl_in(ws, &["patch", "cowboy", "woody", "--type=merge", "-p", r#"{"spec":{"intent":"rest"}}"#]).ok();
        reconciled(k, ws, "woody", "rest");
    }
    drop(per_shard);
}
