//! cowboy-controller: a provider's controller for the `cowboys` export, written with kube-rs's
//! unmodified client and controller runtime, as for any Kubernetes cluster. Given a kubeconfig
//! whose server is an apiexport view across consumers (`.../services/apiexport/<export
//! cluster>/<export>/clusters/*`: the front-proxy's merged URL, or one shard's from the
//! endpoint slice), it watches every Cowboy of every consumer workspace and records in
//! `status.result` that it saw the cowboy's intent. Writes go to the consumer the cowboy lives
//! in (its `kcp.io/cluster` annotation), at `.../clusters/<consumer>`.
//!
//! One thing a controller across workspaces must do that a single-cluster one need not:
//! cowboys of two consumers may share namespace and name, and kube-runtime keys its cache and
//! its queue by namespace and name. The watch stream therefore qualifies each object's
//! namespace with its consumer (`<consumer>/<namespace>`, which no real namespace can be)
//! before the controller's reflector sees it, and the reconciler reads the consumer back.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::{StreamExt, TryStreamExt};
use kube::api::{Api, ApiResource, DynamicObject, GroupVersionKind, Patch, PatchParams};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::reflector::store::Writer;
use kube::runtime::{watcher, WatchStreamExt};
use kube::{Client, Config, ResourceExt};
use serde_json::json;

/// The annotation naming the consumer workspace of an object served by a view.
const CLUSTER_ANNOTATION: &str = "kcp.io/cluster";

/// Why a cowboy could not be reconciled.
#[derive(Debug, thiserror::Error)]
enum Error {
    /// The view did not say which consumer the cowboy lives in.
    #[error("cowboy {0} carries no {CLUSTER_ANNOTATION} annotation")]
    NoCluster(String),
    /// The kubeconfig's server is not a view across consumers.
    #[error("the server {0} is not an apiexport view across consumers (…/clusters/*)")]
    NotAView(String),
    /// The API answered with an error.
    #[error(transparent)]
    Kube(#[from] kube::Error),
}

/// What every reconcile shares: the view's configuration and one client per consumer.
struct Context {
    config: Config,
    resource: ApiResource,
    clients: Mutex<HashMap<String, Client>>,
}

impl Context {
    /// A client for one consumer of the view: the same server, `/clusters/<consumer>` instead
    /// of `/clusters/*`.
    fn client_for(&self, cluster: &str) -> Result<Client, Error> {
        let mut clients = self.clients.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(c) = clients.get(cluster) {
            return Ok(c.clone());
        }
        let all = self.config.cluster_url.to_string();
        let base = all.trim_end_matches('/').strip_suffix("/clusters/*").or_else(|| all.trim_end_matches('/').strip_suffix("/clusters/%2A"));
        let base = base.ok_or_else(|| Error::NotAView(all.clone()))?;
        let mut config = self.config.clone();
        config.cluster_url = format!("{base}/clusters/{cluster}").parse().map_err(|_| Error::NotAView(all.clone()))?;
        let client = Client::try_from(config)?;
        clients.insert(cluster.to_string(), client.clone());
        Ok(client)
    }
}

/// The status a cowboy should have.
fn wanted(cowboy: &DynamicObject) -> String {
    format!("seen: {}", cowboy.data["spec"]["intent"].as_str().unwrap_or_default())
}

/// Gives an object the namespace `<consumer>/<namespace>`, so objects of different consumers
/// never share a key in the controller's cache and queue.
fn qualify(obj: &mut DynamicObject) {
    if let Some(cluster) = obj.annotations().get(CLUSTER_ANNOTATION).cloned() {
        obj.metadata.namespace = Some(format!("{cluster}/{}", obj.metadata.namespace.as_deref().unwrap_or_default()));
    }
}

async fn reconcile(cowboy: Arc<DynamicObject>, ctx: Arc<Context>) -> Result<Action, Error> {
    let result = wanted(&cowboy);
    if cowboy.data["status"]["result"] == result.as_str() {
        return Ok(Action::await_change());
    }
    let name = cowboy.name_any();
    let qualified = cowboy.namespace().unwrap_or_default();
    let (cluster, namespace) = qualified.split_once('/').ok_or_else(|| Error::NoCluster(name.clone()))?;
    let api: Api<DynamicObject> = Api::namespaced_with(ctx.client_for(cluster)?, namespace, &ctx.resource);
    api.patch_status(&name, &PatchParams::default(), &Patch::Merge(json!({"status": {"result": result}}))).await?;
    tracing::info!(%cluster, %namespace, %name, %result, "status set");
    Ok(Action::await_change())
}

fn error_policy(_cowboy: Arc<DynamicObject>, error: &Error, _ctx: Arc<Context>) -> Action {
    tracing::warn!(%error, "reconcile failed; retrying");
    Action::requeue(Duration::from_secs(1))
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()))
        .init();
    let config = Config::infer().await?;
    let resource = ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk("wildwest.dev", "v1alpha1", "Cowboy"), "cowboys");
    let cowboys: Api<DynamicObject> = Api::all_with(Client::try_from(config.clone())?, &resource);
    let ctx = Arc::new(Context { config, resource: resource.clone(), clients: Mutex::default() });
    tracing::info!("watching cowboys in every consumer");
    let writer = Writer::new(resource.clone());
    let reader = writer.as_reader();
    let stream = watcher(cowboys, watcher::Config::default()).map_ok(|event| event.modify(qualify)).reflect(writer).applied_objects();
    Controller::for_stream_with(stream, reader, resource)
        .run(reconcile, error_policy, ctx)
        .for_each(|outcome| async move {
            if let Err(error) = outcome {
                tracing::debug!(%error, "reconcile");
            }
        })
        .await;
    Ok(())
}
