//! CRD establishment and cleanup.
//!
//! A new CRD gets `NamesAccepted` and `Established` (or `NamesAccepted=False` with the
//! conflicting name) and is fed into the [`CrdIndex`] that serves it; a deleted CRD first loses
//! every object of its resource, then its cleanup finalizer.

use std::sync::Arc;

use apimachinery::registry::crd::{self, CrdIndex, CLEANUP_FINALIZER};
use apiserver::rest::object;
use apiserver::storage::{key, SharedStorage};
use serde_json::{json, Value};

use super::{run_informer, update, Change, RETRY};

/// Storage prefix of every CRD on the shard.
pub const PREFIX: &str = "apiextensions.k8s.io/customresourcedefinitions/";

/// Runs the CRD controller forever.
pub async fn run(store: SharedStorage, index: Arc<CrdIndex>) {
    run_informer(store.clone(), PREFIX.to_string(), move |change| {
        let (store, index) = (store.clone(), index.clone());
        async move {
            match change {
                Change::Gone(s) => {
                    if let Some((cluster, _, name)) = key::decode(&s.key) {
                        index.remove(cluster, name);
                    }
                }
                Change::Present(s) => {
                    let Some((cluster, _, _)) = key::decode(&s.key) else { return };
                    let Ok(obj) = serde_json::from_slice::<Value>(&s.value) else { return };
                    index.upsert(cluster, obj.clone());
                    if object::is_deleting(&obj) {
                        let (store, cluster, key) = (store.clone(), cluster.to_string(), s.key.clone());
                        tokio::spawn(async move { cleanup(&store, &cluster, &key, &obj).await });
                    } else if !crd::has_condition(&obj, "Established") {
                        let conflict = name_conflict(&index, cluster, &obj);
                        if let Err(e) = update(&store, &s.key, |o| establish(o, conflict.as_deref())).await {
                            tracing::warn!(key = %s.key, error = %e, "establishing CRD failed");
                        }
                    }
                }
            }
        }
    })
    .await;
}

/// Another CRD of the same group in the cluster already uses this kind or a short name.
fn name_conflict(index: &CrdIndex, cluster: &str, crd: &Value) -> Option<String> {
    let group = &crd["spec"]["group"];
    let name = &crd["metadata"]["name"];
    let kind = &crd["spec"]["names"]["kind"];
    let shorts: Vec<&Value> = crd["spec"]["names"]["shortNames"].as_array().map(|a| a.iter().collect()).unwrap_or_default();
    for other in index.crds(cluster) {
        if &other["metadata"]["name"] == name || &other["spec"]["group"] != group || !crd::has_condition(&other, "Established") {
            continue;
        }
        if &other["spec"]["names"]["kind"] == kind {
            return Some(format!("{kind} is already in use"));
        }
        if let Some(theirs) = other["spec"]["names"]["shortNames"].as_array() {
            if let Some(s) = shorts.iter().find(|s| theirs.contains(s)) {
                return Some(format!("short name {s} is already in use"));
            }
        }
    }
    None
}

fn condition(type_: &str, status: &str, reason: &str, message: &str) -> Value {
    json!({"type": type_, "status": status, "lastTransitionTime": object::now_rfc3339(), "reason": reason, "message": message})
}

/// Sets the status of a CRD that has not been established yet.
fn establish(crd: &mut Value, conflict: Option<&str>) -> bool {
    if crd::has_condition(crd, "Established") || object::is_deleting(crd) {
        return false;
    }
    let conditions = match conflict {
        Some(msg) => {
            if crd.pointer("/status/conditions/0/message").and_then(Value::as_str) == Some(msg) {
                return false;
            }
            vec![
                condition("NamesAccepted", "False", "MultipleNameConflicts", msg),
                condition("Established", "False", "NotAccepted", "not all names are accepted"),
            ]
        }
        None => vec![
            condition("NamesAccepted", "True", "NoConflicts", "no conflicts found"),
            condition("Established", "True", "InitialNamesAccepted", "the initial names have been accepted"),
        ],
    };
    let names = &crd["spec"]["names"];
    let kind = names["kind"].as_str().unwrap_or_default();
    let mut accepted = names.clone();
    if accepted.get("singular").and_then(Value::as_str).unwrap_or_default().is_empty() {
        accepted["singular"] = json!(kind.to_ascii_lowercase());
    }
    if accepted.get("listKind").and_then(Value::as_str).unwrap_or_default().is_empty() {
        accepted["listKind"] = json!(format!("{kind}List"));
    }
    let stored: Vec<Value> = crd["spec"]["versions"]
        .as_array()
        .map(|vs| vs.iter().filter(|v| v["storage"] == json!(true)).map(|v| v["name"].clone()).collect())
        .unwrap_or_default();
    crd["status"] = json!({"conditions": conditions, "acceptedNames": accepted, "storedVersions": stored});
    true
}

/// Deletes every object of a deleted CRD, then releases the CRD.
async fn cleanup(store: &SharedStorage, cluster: &str, crd_key: &str, crd: &Value) {
    let group = crd["spec"]["group"].as_str().unwrap_or_default();
    let plural = crd["spec"]["names"]["plural"].as_str().unwrap_or_default();
    if group.is_empty() || plural.is_empty() {
        return;
    }
    let prefix = key::cluster_prefix(group, plural, cluster);
    loop {
        match store.list(&prefix, None, 0).await {
            Ok(page) if page.items.is_empty() => break,
            Ok(page) => {
                for item in page.items {
                    if let Err(e) = super::delete(store, &item.key, None).await {
                        tracing::warn!(key = %item.key, error = %e, "deleting custom object failed");
                    }
                }
            }
            Err(e) => tracing::warn!(error = %e, "listing custom objects failed"),
        }
        tokio::time::sleep(RETRY / 5).await;
    }
    if let Err(e) = super::remove_finalizer(store, crd_key, CLEANUP_FINALIZER).await {
        tracing::warn!(key = %crd_key, error = %e, "releasing CRD failed");
    }
}
