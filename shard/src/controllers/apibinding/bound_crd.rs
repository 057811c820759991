//! The CRD a bound APIResourceSchema is served from: one per schema in
//! [`BOUND_CRDS_CLUSTER`], named by the schema's UID, shared by every binding to it on the shard.
//!
//! It is written straight to storage, already established: it is generated from a schema
//! that validation admitted, its name is not a CRD name, and names in that cluster never
//! conflict, since each binding's own workspace is where conflicts are decided.

use apimachinery::registry::crd::BOUND_CRDS_CLUSTER;
use apiserver::rest::object;
use apiserver::storage::{Key, Storage, StorageError};
use serde_json::{json, Value};

/// Annotation on a bound CRD naming the schema it was made from (`<cluster>:<name>`).
pub const SCHEMA_ANNOTATION: &str = "apis.kcp.io/schema";

/// The storage key of the bound CRD `name`.
pub fn key(name: &str) -> String {
    Key { group: "apiextensions.k8s.io", resource: "customresourcedefinitions", cluster: BOUND_CRDS_CLUSTER, namespace: "", name }.encode()
}

/// The CRD serving `schema` (an APIResourceSchema from logical cluster `cluster`).
pub fn from_schema(schema: &Value, cluster: &str) -> Value {
    let spec = &schema["spec"];
    let versions: Vec<Value> = spec["versions"]
        .as_array()
        .map(|vs| {
            vs.iter()
                .map(|v| {
                    let mut out = json!({
                        "name": v["name"],
                        "served": v["served"].as_bool().unwrap_or(true),
                        "storage": v["storage"].as_bool().unwrap_or(false),
                        "schema": {"openAPIV3Schema": v.get("schema").cloned().unwrap_or_else(|| json!({"type": "object"}))},
                    });
                    for field in ["subresources", "additionalPrinterColumns", "deprecated", "deprecationWarning"] {
                        if let Some(x) = v.get(field).filter(|x| !x.is_null()) {
                            out[field] = x.clone();
                        }
                    }
                    out
                })
                .collect()
        })
        .unwrap_or_default();
    let names = &spec["names"];
    let kind = names["kind"].as_str().unwrap_or_default();
    let mut accepted = names.clone();
    if accepted["singular"].as_str().unwrap_or_default().is_empty() {
        accepted["singular"] = json!(kind.to_ascii_lowercase());
    }
    if accepted["listKind"].as_str().unwrap_or_default().is_empty() {
        accepted["listKind"] = json!(format!("{kind}List"));
    }
    let stored: Vec<Value> = versions.iter().filter(|v| v["storage"] == json!(true)).map(|v| v["name"].clone()).collect();
    let now = object::now_rfc3339();
    let established = |type_: &str, reason: &str| json!({"type": type_, "status": "True", "lastTransitionTime": now, "reason": reason, "message": ""});
    json!({
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {
            "name": object::meta_str(schema, "uid"),
            "uid": apimachinery::uid::new_v4().to_string(),
            "creationTimestamp": now,
            "generation": 1,
            "annotations": {SCHEMA_ANNOTATION: format!("{cluster}:{}", object::meta_str(schema, "name"))},
        },
        "spec": {"group": spec["group"], "names": accepted, "scope": spec["scope"], "versions": versions},
        "status": {
            "conditions": [established("NamesAccepted", "NoConflicts"), established("Established", "InitialNamesAccepted")],
            "acceptedNames": accepted,
            "storedVersions": stored,
        },
    })
}

/// Stores the bound CRD of `schema` unless it exists; returns its storage versions.
pub async fn ensure(store: &dyn Storage, schema: &Value, cluster: &str) -> Result<Vec<String>, StorageError> {
    let name = object::meta_str(schema, "uid");
    let crd = match store.get(&key(name)).await {
        Ok(stored) => serde_json::from_slice(&stored.value).unwrap_or(Value::Null),
        Err(StorageError::NotFound { .. }) => {
            let crd = from_schema(schema, cluster);
            match store.create(&key(name), object::to_stored(&crd)).await {
                Ok(_) | Err(StorageError::AlreadyExists { .. }) => crd,
                Err(e) => return Err(e),
            }
        }
        Err(e) => return Err(e),
    };
    Ok(crd
        .pointer("/status/storedVersions")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(|v| v.as_str().map(String::from)).collect())
        .unwrap_or_default())
}
