//! Permission claims in a consumer workspace: the objects an export's accepted claims cover
//! carry the label `claimed.internal.apis.kcp.io/<export hash>` (kcp's key), which the
//! export's virtual workspace selects on. Admission sets or removes the label on every write,
//! so no writer can claim an object for an export or hide one from it; the labeller
//! controller brings existing objects in line when claims change.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use apimachinery::field;
use apimachinery::selector::LabelSelector;
use apimachinery::status::ApiError;
use apiserver::rest::{object, AdmissionPlugin, Write};
use futures::future::BoxFuture;
use serde_json::{json, Value};

/// Prefix of the claim labels (kcp's).
pub const LABEL_PREFIX: &str = "claimed.internal.apis.kcp.io/";

/// One accepted claim of a binding, as the labels speak it.
#[derive(Debug, Clone, PartialEq)]
pub struct Claim {
    /// API group of the claimed resource.
    pub group: String,
    /// Plural resource name.
    pub resource: String,
    /// Identity hash of the export serving the resource; empty for built-ins.
    pub identity: String,
    /// The claim's `selector` (`matchAll`, or labels and expressions).
    pub selector: Value,
    /// The label key: the export's.
    pub key: String,
    /// The label value: the claim's.
    pub value: String,
    /// The verbs both the binding and the export grant (`*`: all).
    pub verbs: Vec<String>,
}

impl Claim {
    /// An accepted claim `claim` of a binding to export `name` in logical cluster `cluster`,
    /// whose export offers `offered` (its `permissionClaims`, as the binding's status copies them).
    pub fn new(cluster: &str, name: &str, claim: &Value, offered: &[Value]) -> Claim {
        let s = |f: &str| claim[f].as_str().unwrap_or_default().to_string();
        let (group, resource, identity) = (s("group"), s("resource"), s("identityHash"));
        let verbs_of = |c: &Value| c["verbs"].as_array().map(|v| v.iter().filter_map(Value::as_str).map(String::from).collect::<Vec<_>>()).unwrap_or_default();
        let export_verbs = offered.iter().find(|o| o["group"] == claim["group"] && o["resource"] == claim["resource"]).map(verbs_of).unwrap_or_default();
        let verbs = intersect(&verbs_of(claim), &export_verbs);
        Claim {
            key: label_key(cluster, name),
            value: label_value(&group, &resource, &identity),
            group,
            resource,
            identity,
            selector: claim["selector"].clone(),
            verbs,
        }
    }

    /// Whether the claim grants `verb`.
    pub fn grants(&self, verb: &str) -> bool {
        self.verbs.iter().any(|v| v == verb || v == "*")
    }

    /// Whether the claim covers an object with these labels (the claim's label aside).
    pub fn selects(&self, obj: &Value) -> bool {
        if self.selector["matchAll"] == json!(true) {
            return true;
        }
        let labels = field::at(obj, &["metadata", "labels"]).and_then(Value::as_object).cloned().unwrap_or_default();
        LabelSelector::from_json(&self.selector).is_ok_and(|s| !s.is_empty() && s.matches(&labels))
    }

    /// Whether the claim is on `group`/`resource` served from export identity `identity`.
    pub fn is_on(&self, group: &str, resource: &str, identity: Option<&str>) -> bool {
        self.group == group && self.resource == resource && self.identity == identity.unwrap_or_default()
    }
}

/// The verbs two grants share, `*` standing for every verb.
fn intersect(a: &[String], b: &[String]) -> Vec<String> {
    let all = |l: &[String]| l.iter().any(|v| v == "*");
    match (all(a), all(b)) {
        (true, _) => b.to_vec(),
        (_, true) => a.to_vec(),
        _ => a.iter().filter(|v| b.contains(v)).cloned().collect(),
    }
}

/// The label value marking objects of `group`/`resource` (served under `identity`) claimed.
pub fn label_value(group: &str, resource: &str, identity: &str) -> String {
    base62(&digest(format!("{group}/{resource}/{identity}").as_bytes()))
}

/// The label key of export `name` in logical cluster `cluster`.
pub fn label_key(cluster: &str, name: &str) -> String {
    format!("{LABEL_PREFIX}{}", base62(&digest(format!("{cluster}:{name}").as_bytes())))
}

/// 224 bits of sha256: a label name part stays within 63 characters in base 62.
fn digest(bytes: &[u8]) -> [u8; 28] {
    let full = ring::digest::digest(&ring::digest::SHA256, bytes);
    let mut out = [0u8; 28];
    out.copy_from_slice(&full.as_ref()[..28]);
    out
}

/// Big-endian bytes as a base-62 number (0-9, a-z, A-Z).
fn base62(bytes: &[u8]) -> String {
    const DIGITS: &[u8] = b"0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
    let mut n: Vec<u8> = bytes.to_vec();
    let mut out = Vec::new();
    while n.iter().any(|b| *b != 0) {
        let mut rem = 0u32;
        for b in n.iter_mut() {
            let cur = (rem << 8) | u32::from(*b);
            *b = (cur / 62) as u8;
            rem = cur % 62;
        }
        out.push(DIGITS[rem as usize]);
    }
    if out.is_empty() {
        out.push(b'0');
    }
    out.reverse();
    String::from_utf8(out).unwrap_or_default()
}

/// The accepted claims of every binding, per logical cluster.
#[derive(Default)]
pub struct ClaimIndex {
    by_cluster: RwLock<HashMap<String, HashMap<String, Vec<Claim>>>>,
}

impl ClaimIndex {
    /// Records binding `name`'s accepted claims in `cluster`; none forgets it.
    pub fn set(&self, cluster: &str, name: &str, claims: Vec<Claim>) {
        let mut map = self.by_cluster.write().unwrap_or_else(|e| e.into_inner());
        if claims.is_empty() {
            if let Some(m) = map.get_mut(cluster) {
                m.remove(name);
                if m.is_empty() {
                    map.remove(cluster);
                }
            }
        } else {
            map.entry(cluster.to_string()).or_default().insert(name.to_string(), claims);
        }
    }

    /// The accepted claims binding `name` of `cluster` applies.
    pub fn on_binding(&self, cluster: &str, name: &str) -> Vec<Claim> {
        let map = self.by_cluster.read().unwrap_or_else(|e| e.into_inner());
        map.get(cluster).and_then(|m| m.get(name)).cloned().unwrap_or_default()
    }

    /// The accepted claims of `cluster` on one resource.
    pub fn on(&self, cluster: &str, group: &str, resource: &str, identity: Option<&str>) -> Vec<Claim> {
        let map = self.by_cluster.read().unwrap_or_else(|e| e.into_inner());
        map.get(cluster).map(|m| m.values().flatten().filter(|c| c.is_on(group, resource, identity)).cloned().collect()).unwrap_or_default()
    }
}

/// Sets the labels of the claims that select `obj` and removes every other claim label; true
/// when the labels changed.
pub fn relabel(obj: &mut Value, claims: &[Claim]) -> bool {
    let before = field::at(obj, &["metadata", "labels"]).cloned();
    let wanted: Vec<(&str, &str)> = claims.iter().filter(|c| c.selects(obj)).map(|c| (c.key.as_str(), c.value.as_str())).collect();
    let labels = object::meta_mut(obj).entry("labels").or_insert_with(|| json!({}));
    if let Some(labels) = labels.as_object_mut() {
        labels.retain(|k, _| !k.starts_with(LABEL_PREFIX));
        for (k, v) in wanted {
            labels.insert(k.to_string(), json!(v));
        }
        if labels.is_empty() && before.is_none() {
            object::meta_mut(obj).remove("labels");
        }
    }
    field::at(obj, &["metadata", "labels"]).cloned() != before
}

/// Keeps claim labels true to the claims on every write.
pub struct ClaimLabelAdmission {
    /// The claims of every workspace on this shard.
    pub index: Arc<ClaimIndex>,
}

impl AdmissionPlugin for ClaimLabelAdmission {
    fn admit<'a>(&'a self, w: Write<'a>, obj: &'a mut Value) -> BoxFuture<'a, Result<(), ApiError>> {
        Box::pin(async move {
            let info = &w.resource.info;
            let claims = self.index.on(w.cluster, &info.group, &info.plural, info.identity.as_deref());
            let labelled = field::at(obj, &["metadata", "labels"]).and_then(Value::as_object).is_some_and(|l| l.keys().any(|k| k.starts_with(LABEL_PREFIX)));
            if !claims.is_empty() || labelled {
                relabel(obj, &claims);
            }
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claim(selector: Value) -> Claim {
        Claim::new("p", "cowboys", &json!({"group": "", "resource": "configmaps", "selector": selector, "state": "Accepted", "verbs": ["get"]}), &[])
    }

    #[test]
    fn keys_fit_a_label_name_and_differ_per_export() {
        let key = label_key("p", "cowboys");
        assert!(key.starts_with(LABEL_PREFIX));
        assert!(key.len() - LABEL_PREFIX.len() <= 63);
        assert_ne!(key, label_key("p", "rivals"));
        assert_eq!(base62(&[0, 61]), "Z");
        assert_eq!(base62(&[0, 62]), "10");
    }

    #[test]
    fn labels_follow_the_selector_and_cannot_be_forged() {
        let all = claim(json!({"matchAll": true}));
        let some = claim(json!({"matchLabels": {"app": "web"}}));
        let mut obj = json!({"metadata": {"name": "x", "labels": {"app": "db", "claimed.internal.apis.kcp.io/forged": "1"}}});
        assert!(relabel(&mut obj, std::slice::from_ref(&some)));
        assert_eq!(obj["metadata"]["labels"], json!({"app": "db"}));
        assert!(relabel(&mut obj, std::slice::from_ref(&all)));
        assert_eq!(obj["metadata"]["labels"][&all.key], json!(all.value));
        assert!(!relabel(&mut obj, &[all]), "already labelled");
    }

    #[test]
    fn the_index_answers_per_resource_and_identity() {
        let idx = ClaimIndex::default();
        idx.set("c", "b", vec![claim(json!({"matchAll": true}))]);
        assert_eq!(idx.on("c", "", "configmaps", None).len(), 1);
        assert!(idx.on("c", "", "configmaps", Some("abc")).is_empty());
        assert!(idx.on("d", "", "configmaps", None).is_empty());
        idx.set("c", "b", vec![]);
        assert!(idx.on("c", "", "configmaps", None).is_empty());
    }

    #[test]
    fn a_claim_grants_what_the_binding_and_the_export_share() {
        let offered = [json!({"group": "", "resource": "configmaps", "verbs": ["get", "list", "watch"]})];
        let c = Claim::new("p", "cowboys", &json!({"group": "", "resource": "configmaps", "verbs": ["get", "delete"]}), &offered);
        assert!(c.grants("get") && !c.grants("delete") && !c.grants("list"));
        let all = Claim::new("p", "cowboys", &json!({"group": "", "resource": "configmaps", "verbs": ["*"]}), &offered);
        assert!(all.grants("watch") && !all.grants("create"));
        assert!(!Claim::new("p", "cowboys", &json!({"group": "", "resource": "configmaps", "verbs": ["get"]}), &[]).grants("get"));
    }
}
