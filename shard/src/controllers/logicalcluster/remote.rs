//! Creating and deleting a logical cluster on another shard, over the network as
//! `system:masters`.

use apiserver::client::{Client, ClientError};
use serde_json::Value;

use super::{NewCluster, CONTENT_FINALIZER};
use crate::tenancy::Holders;

/// How long scheduling waits for a remote logical cluster to become Ready before it reports
/// the phase it has.
const READY_WAIT: std::time::Duration = std::time::Duration::from_secs(5);

/// Why a call to another shard failed.
#[derive(Debug, thiserror::Error)]
pub enum RemoteError {
    /// The request could not be sent or its answer read.
    #[error(transparent)]
    Client(#[from] ClientError),
    /// The other shard answered with an error status.
    #[error("{url} answered {code}: {message}")]
    Refused {
        /// URL of the request.
        url: String,
        /// HTTP status code of the answer.
        code: u16,
        /// `message` of the Status the shard answered with.
        message: String,
    },
}

fn refused(url: &str, code: u16, answer: &Value) -> RemoteError {
    RemoteError::Refused { url: url.to_string(), code, message: answer["message"].as_str().unwrap_or_default().to_string() }
}

/// Creates the LogicalCluster (Initializing: the target shard's controller adds the `default`
/// namespace and marks it Ready) and the owner's admin binding on the shard at `base_url`;
/// returns the phase it reached. Existing objects are kept, so a retry is harmless.
pub async fn create_logical_cluster(client: &Client, base_url: &str, c: &NewCluster<'_>, holders: &Holders) -> Result<String, RemoteError> {
    let cluster_url = format!("{base_url}/clusters/{}", c.name);
    let lc_url = format!("{cluster_url}/apis/core.kcp.io/v1alpha1/logicalclusters");
    let mut lc = c.object(holders, "Initializing");
    // Deleting it makes that shard delete its content first (see the logicalcluster controller).
    let mut finalizers = apiserver::rest::object::finalizers(&lc);
    finalizers.push(CONTENT_FINALIZER.to_string());
    apiserver::rest::object::set_finalizers(&mut lc, finalizers);
    create(client, &lc_url, &lc).await?;
    if let Some(crb) = c.admin_binding() {
        create(client, &format!("{cluster_url}/apis/rbac.authorization.k8s.io/v1/clusterrolebindings"), &crb).await?;
    }
    let deadline = tokio::time::Instant::now() + READY_WAIT;
    loop {
        let (code, lc) = client.json("GET", &format!("{lc_url}/cluster"), None).await?;
        let phase = lc.pointer("/status/phase").and_then(Value::as_str).unwrap_or("Initializing").to_string();
        if code != 200 || phase == "Ready" || tokio::time::Instant::now() >= deadline {
            return Ok(phase);
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

async fn create(client: &Client, url: &str, obj: &Value) -> Result<(), RemoteError> {
    let (code, answer) = client.json("POST", url, Some(obj)).await?;
    match code {
        201 | 409 => Ok(()),
        other => Err(refused(url, other, &answer)),
    }
}

/// Asks the shard at `base_url` to delete a logical cluster (its content deleted by that
/// shard first); None once it is gone, else the LogicalCluster as it stands.
pub async fn delete_logical_cluster(client: &Client, base_url: &str, cluster: &str) -> Result<Option<Value>, RemoteError> {
    let url = format!("{base_url}/clusters/{cluster}/apis/core.kcp.io/v1alpha1/logicalclusters/cluster");
    let (code, answer) = client.json("DELETE", &url, None).await?;
    match code {
        404 => Ok(None),
        200 | 202 => Ok(Some(answer)),
        other => Err(refused(&url, other, &answer)),
    }
}

/// The LogicalCluster of a logical cluster on the shard at `base_url`; None when it does not
/// exist.
pub async fn logical_cluster(client: &Client, base_url: &str, cluster: &str) -> Result<Option<Value>, RemoteError> {
    let url = format!("{base_url}/clusters/{cluster}/apis/core.kcp.io/v1alpha1/logicalclusters/cluster");
    match client.json("GET", &url, None).await? {
        (200, lc) => Ok(Some(lc)),
        (404, _) => Ok(None),
        (code, answer) => Err(refused(&url, code, &answer)),
    }
}
