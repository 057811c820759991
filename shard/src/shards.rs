//! Shards: the Shard objects in `root` saying where logical clusters can live, this shard's
//! registration among them, and the choice of a shard for a new workspace.

use apimachinery::selector::LabelSelector;
use apimachinery::status::{ApiError, FieldError, Reason};
use apiserver::client::Client;
use apiserver::rest::{object, AdmissionPlugin, Write};
use apiserver::storage::{Key, SharedStorage, StorageError};
use futures::future::BoxFuture;
use serde_json::{json, Value};

use crate::bootstrap::{self, ROOT_CLUSTER};
use crate::global::Global;

/// Annotation on a Workspace: the shard chosen for its logical cluster when it was created.
pub const SHARD_ANNOTATION: &str = "internal.tenancy.kcp.io/shard";
/// The shard recorded on a Workspace, if one was chosen.
pub fn recorded(ws: &Value) -> Option<&str> {
    ws.pointer("/metadata/annotations").and_then(|a| a.get(SHARD_ANNOTATION)).and_then(Value::as_str)
}

/// Annotation on a Shard that takes it out of scheduling.
pub const UNSCHEDULABLE_ANNOTATION: &str = "experimental.core.kcp.io/unschedulable";

/// A shard as scheduling sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shard {
    /// Name of the Shard object, the shard's name.
    pub name: String,
    /// Where other components reach the shard (`spec.baseURL`).
    pub base_url: String,
    /// Where clients reach its workspaces (`baseURL` unless set).
    pub external_url: String,
}

impl Shard {
    fn from_object(obj: &Value) -> Shard {
        let text = |p: &str| obj.pointer(p).and_then(Value::as_str).unwrap_or_default().to_string();
        let (base_url, external) = (text("/spec/baseURL"), text("/spec/externalURL"));
        Shard { name: object::meta_str(obj, "name").to_string(), external_url: if external.is_empty() { base_url.clone() } else { external }, base_url }
    }
}

fn shard_key(name: &str) -> String {
    Key { group: "core.kcp.io", resource: "shards", cluster: ROOT_CLUSTER, namespace: "", name }.encode()
}

/// The URLs a shard announces in its Shard object.
#[derive(Debug, Clone)]
pub struct Urls {
    /// `spec.baseURL`: where other components reach the shard.
    pub base: String,
    /// `spec.externalURL`: where clients reach its workspaces.
    pub external: String,
    /// `spec.virtualWorkspaceURL`: where its virtual workspaces (`/services/...`) are served.
    pub virtual_workspaces: String,
}

impl Urls {
    fn spec(&self) -> Value {
        json!({"baseURL": self.base, "externalURL": self.external, "virtualWorkspaceURL": self.virtual_workspaces})
    }
}

/// Creates or refreshes this shard's Shard object in `root` (on this, the root shard), keeping
/// labels and annotations an administrator added.
pub async fn register(store: &SharedStorage, name: &str, urls: &Urls) -> Result<(), StorageError> {
    let spec = urls.spec();
    let obj = bootstrap::new_object("core.kcp.io/v1alpha1", "Shard", name, "", json!({"spec": spec.clone()}));
    bootstrap::ensure(store, Key { group: "core.kcp.io", resource: "shards", cluster: ROOT_CLUSTER, namespace: "", name }, obj).await?;
    bootstrap::update(store, &shard_key(name), |s| {
        if s["spec"] == spec {
            return false;
        }
        s["spec"] = spec.clone();
        true
    })
    .await
}

/// Creates or refreshes this shard's Shard object on the root shard over the network, retrying
/// until the root shard answers.
pub async fn register_remote(client: Client, root_url: String, name: String, urls: Urls) {
    let url = format!("{root_url}/clusters/{ROOT_CLUSTER}/apis/core.kcp.io/v1alpha1/shards");
    loop {
        match register_remote_once(&client, &url, &name, &urls).await {
            Ok(()) => {
                tracing::info!(shard = %name, "registered with the root shard");
                return;
            }
            Err(e) => tracing::warn!(shard = %name, error = %apiserver::process::report(&e), "registering with the root shard failed; retrying"),
        }
        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    }
}

/// Why registering with the root shard failed this time.
#[derive(Debug, thiserror::Error)]
enum RegisterError {
    /// The root shard could not be reached or its answer read.
    #[error(transparent)]
    Client(#[from] apiserver::client::ClientError),
    /// The root shard refused.
    #[error("root shard answered {code}: {message}")]
    Refused { code: u16, message: String },
}

async fn register_remote_once(client: &Client, url: &str, name: &str, urls: &Urls) -> Result<(), RegisterError> {
    let (code, mut existing) = client.json("GET", &format!("{url}/{name}"), None).await?;
    let (code, answer) = match code {
        404 => {
            let obj = json!({"apiVersion": "core.kcp.io/v1alpha1", "kind": "Shard", "metadata": {"name": name}, "spec": urls.spec()});
            client.json("POST", url, Some(&obj)).await?
        }
        200 if existing["spec"] == urls.spec() => return Ok(()),
        200 => {
            existing["spec"] = urls.spec();
            client.json("PUT", &format!("{url}/{name}"), Some(&existing)).await?
        }
        other => (other, existing),
    };
    match code {
        200 | 201 => Ok(()),
        code => Err(RegisterError::Refused { code, message: answer["message"].as_str().unwrap_or_default().to_string() }),
    }
}

/// The Shard named `name`, if it exists.
pub async fn get(global: &Global, name: &str) -> Result<Option<Shard>, ApiError> {
    Ok(global.shards().await?.iter().find(|s| object::meta_str(s, "name") == name).map(Shard::from_object))
}

/// A schedulable shard whose labels match `selector` (absent: any shard), picked at random so
/// new workspaces spread over the shards; None when no shard qualifies.
pub async fn choose(global: &Global, selector: Option<&Value>) -> Result<Option<Shard>, ApiError> {
    // An invalid selector (admission refuses them) selects nothing rather than everything.
    let selector = match selector {
        Some(s) => LabelSelector::from_json(s).or_else(|_| LabelSelector::from_json(&Value::Null)).unwrap_or_default(),
        None => LabelSelector::default(),
    };
    let empty = serde_json::Map::new();
    let candidates: Vec<Value> = global
        .shards()
        .await?
        .into_iter()
        .filter(|s| s.pointer("/metadata/annotations").and_then(|a| a.get(UNSCHEDULABLE_ANNOTATION)).is_none())
        .filter(|s| !object::is_deleting(s))
        .filter(|s| selector.matches(s.pointer("/metadata/labels").and_then(Value::as_object).unwrap_or(&empty)))
        .collect();
    if candidates.is_empty() {
        return Ok(None);
    }
    let pick = (apimachinery::uid::new_v4().as_u128() % candidates.len() as u128) as usize;
    Ok(Some(Shard::from_object(&candidates[pick])))
}

/// What is wrong with a Workspace's `spec.location.selector`, if anything.
pub fn selector_error(ws: &Value) -> Option<FieldError> {
    let s = ws.pointer("/spec/location/selector").filter(|s| !s.is_null())?;
    LabelSelector::from_json(s).err().map(|e| FieldError::invalid("spec.location.selector", s.clone(), e.to_string()))
}

/// Admission of Shards: they live in `root` only, and their URLs default to `baseURL`.
pub struct ShardAdmission;

impl AdmissionPlugin for ShardAdmission {
    fn admit<'a>(&'a self, w: Write<'a>, obj: &'a mut Value) -> BoxFuture<'a, Result<(), ApiError>> {
        Box::pin(async move {
            if !w.is("core.kcp.io", "Shard") || w.req.info.subresource == "status" {
                return Ok(());
            }
            if w.cluster != ROOT_CLUSTER {
                return Err(ApiError::new(
                    Reason::Forbidden,
                    format!("shards.core.kcp.io {:?} is forbidden: shards can only be defined in the root workspace", object::meta_str(obj, "name")),
                ));
            }
            let base = obj.pointer("/spec/baseURL").cloned().unwrap_or(Value::Null);
            for field in ["externalURL", "virtualWorkspaceURL"] {
                if obj["spec"].get(field).is_none_or(|v| v.is_null() || v == "") {
                    obj["spec"][field] = base.clone();
                }
            }
            Ok(())
        })
    }
}
