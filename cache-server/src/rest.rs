//! The read-only REST view: `/services/cache/shards/{shard|*}/clusters/{cluster|*}/api(s)/…`
//! answering get, list and watch in Kubernetes shapes, so `kubectl get --raw` can read it.
//!
//! Objects are served as their shard published them plus where they came from: annotations
//! `kcp.io/cluster` and `kcp.io/shard`, and their shard's resourceVersion moved to
//! `cache.kcp.io/original-resource-version` (a cache has no resourceVersion of its own to offer).

use std::collections::BTreeMap;
use std::convert::Infallible;

use apimachinery::request::{parse_query, percent_decode};
use apimachinery::status::{ApiError, Reason};
use apiserver::rest::body;
use bytes::Bytes;
use futures::StreamExt;
use http_body_util::{BodyExt, StreamBody};
use proto::cache as pb;
use proto::cache::subscribe_event::Kind as Delivered;
use serde_json::{json, Value};
use tokio_stream::wrappers::ReceiverStream;

use crate::replica::{valid_shard_name, Replica};
use crate::store::{Filter, Key};

/// Where the view's URLs start.
pub const PREFIX: &str = "/services/cache";
/// Annotation naming the object's logical cluster.
pub const CLUSTER_ANNOTATION: &str = "kcp.io/cluster";
/// Annotation naming the shard that published the object.
pub const SHARD_ANNOTATION: &str = "kcp.io/shard";
/// Annotation keeping the object's resourceVersion in its shard.
pub const ORIGINAL_RV_ANNOTATION: &str = "cache.kcp.io/original-resource-version";

/// What a view URL addresses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// One shard, or all (`*`).
    pub shard: Option<String>,
    /// One logical cluster, or all (`*`).
    pub cluster: Option<String>,
    /// API group (empty: core).
    pub group: String,
    /// API version, only echoed in list answers.
    pub version: String,
    /// Namespace, for namespaced URLs.
    pub namespace: Option<String>,
    /// Resource (plural).
    pub resource: String,
    /// Object name, for single-object URLs.
    pub name: Option<String>,
}

fn wildcard(segment: &str) -> Option<String> {
    (segment != "*").then(|| segment.to_string())
}

/// Parses a view path; `Ok(None)` when the path is not one of the view's.
pub fn parse(path: &str) -> Result<Option<Target>, ApiError> {
    let Some(rest) = path.strip_prefix(PREFIX) else { return Ok(None) };
    // kubectl escapes `*` as `%2A`.
    let decoded: Vec<String> = rest.trim_start_matches('/').split('/').filter(|s| !s.is_empty()).map(percent_decode).collect();
    let segments: Vec<&str> = decoded.iter().map(String::as_str).collect();
    let ["shards", shard, "clusters", cluster, api @ ..] = segments.as_slice() else { return Ok(None) };
    if *shard != "*" && !valid_shard_name(shard) {
        return Err(ApiError::bad_request(format!("invalid shard name {shard:?}")));
    }
    let (group, version, tail) = match api {
        ["api", version, tail @ ..] => ("", *version, tail),
        ["apis", group, version, tail @ ..] => (*group, *version, tail),
        _ => return Ok(None),
    };
    let (namespace, resource, name) = match tail {
        [resource] => (None, *resource, None),
        ["namespaces", ns, resource] => (Some(*ns), *resource, None),
        ["namespaces", ns, resource, name] => (Some(*ns), *resource, Some(*name)),
        [resource, name] => (None, *resource, Some(*name)),
        _ => return Ok(None),
    };
    Ok(Some(Target {
        shard: wildcard(shard),
        cluster: wildcard(cluster),
        group: group.to_string(),
        version: version.to_string(),
        namespace: namespace.map(String::from),
        resource: resource.to_string(),
        name: name.map(String::from),
    }))
}

impl Target {
    fn filter(&self) -> Filter {
        Filter { group: Some(self.group.clone()), resource: Some(self.resource.clone()), shard: self.shard.clone(), cluster: self.cluster.clone() }
    }

    /// Whether the URL's namespace and name admit this object (the filter did the rest).
    fn admits(&self, key: &Key) -> bool {
        self.namespace.as_deref().is_none_or(|ns| ns == key.namespace) && self.name.as_deref().is_none_or(|n| n == key.name)
    }

    fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.clone()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }
}

/// The object as the view serves it (see the module doc); `None` when its JSON is not an object.
pub fn present(shard: &str, key: &Key, json: &[u8]) -> Option<Value> {
    let mut object: Value = serde_json::from_slice(json).ok()?;
    let metadata = object.as_object_mut()?.entry("metadata").or_insert_with(|| json!({})).as_object_mut()?;
    let original_rv = metadata.remove("resourceVersion");
    let annotations = metadata.entry("annotations").or_insert_with(|| json!({})).as_object_mut()?;
    annotations.insert(CLUSTER_ANNOTATION.into(), key.cluster.clone().into());
    annotations.insert(SHARD_ANNOTATION.into(), shard.into());
    if let Some(rv) = original_rv {
        annotations.insert(ORIGINAL_RV_ANNOTATION.into(), rv);
    }
    Some(object)
}

fn method_not_allowed(method: &http::Method) -> ApiError {
    ApiError::new(Reason::MethodNotAllowed, format!("the cache server is read-only: {method} is not allowed"))
}

fn wants_watch(query: Option<&str>) -> bool {
    parse_query(query).get("watch").is_some_and(|w| w == "true" || w == "1")
}

/// Answers one view request (authorized already).
pub fn answer(replica: &Replica, method: &http::Method, uri: &http::Uri, shutdown: tokio::sync::watch::Receiver<bool>) -> body::Response {
    let target = match parse(uri.path()) {
        Ok(Some(target)) => target,
        Ok(None) => return body::error(&ApiError::path_not_found()),
        Err(e) => return body::error(&e),
    };
    if method != http::Method::GET && method != http::Method::HEAD {
        return body::error(&method_not_allowed(method));
    }
    if wants_watch(uri.query()) {
        return watch(replica, target, shutdown);
    }
    match &target.name {
        Some(name) => get(replica, &target, name),
        None => list(replica, &target),
    }
}

fn get(replica: &Replica, target: &Target, name: &str) -> body::Response {
    let Some(cluster) = &target.cluster else {
        return body::error(&ApiError::bad_request("getting an object by name needs a logical cluster, not *"));
    };
    let key = Key {
        group: target.group.clone(),
        resource: target.resource.clone(),
        cluster: cluster.clone(),
        namespace: target.namespace.clone().unwrap_or_default(),
        name: name.to_string(),
    };
    let found = replica.store().find(target.shard.as_deref(), &key);
    match found.and_then(|(shard, json)| present(&shard, &key, &json)) {
        Some(object) => body::json(200, &object),
        None => body::error(&ApiError::not_found(&target.group, &target.resource, name)),
    }
}

fn list(replica: &Replica, target: &Target) -> body::Response {
    let objects = replica.store().list(&target.filter());
    let items: Vec<Value> = objects.iter().filter(|(_, k, _)| target.admits(k)).filter_map(|(shard, key, json)| present(shard, key, json)).collect();
    let kind = items.first().and_then(|o| o.get("kind")).and_then(Value::as_str).map_or_else(|| "List".to_string(), |k| format!("{k}List"));
    body::json(200, &json!({"kind": kind, "apiVersion": target.api_version(), "metadata": {}, "items": items}))
}

/// A Kubernetes JSON watch: ADDED for what exists now, then every change. A shard that
/// publishes a new snapshot is compared with what this watch has sent, so its deletions show.
fn watch(replica: &Replica, target: Target, mut shutdown: tokio::sync::watch::Receiver<bool>) -> body::Response {
    let mut events = replica.subscribe(pb::SubscribeRequest { filter: Some(target.filter().to_wire()), resume: Default::default() });
    let (tx, rx) = tokio::sync::mpsc::channel::<Bytes>(64);
    tokio::spawn(async move {
        let mut sent: BTreeMap<(String, Key), Bytes> = BTreeMap::new();
        let mut staged: BTreeMap<String, Vec<pb::Object>> = BTreeMap::new();
        loop {
            let event = tokio::select! {
                event = events.next() => event,
                _ = shutdown.wait_for(|stop| *stop) => return,
                _ = tx.closed() => return,
            };
            let Some(Ok(pb::SubscribeEvent { kind: Some(kind) })) = event else { return };
            let lines = match kind {
                Delivered::Snapshot(chunk) => {
                    let objects = staged.entry(chunk.shard.clone()).or_default();
                    if chunk.first {
                        objects.clear();
                    }
                    objects.extend(chunk.objects);
                    if !chunk.last {
                        continue;
                    }
                    let objects = staged.remove(&chunk.shard).unwrap_or_default();
                    resync(&target, &chunk.shard, objects, &mut sent)
                }
                Delivered::Change(change) => {
                    let key = Key::from_wire(change.key.as_ref());
                    if !target.admits(&key) {
                        continue;
                    }
                    let slot = (change.shard.clone(), key);
                    let existed = if change.deleted { sent.remove(&slot) } else { sent.insert(slot.clone(), change.json.clone()) };
                    let json = if change.deleted { existed.clone().unwrap_or_default() } else { change.json };
                    match (change.deleted, existed.is_some()) {
                        (true, false) => continue,
                        (true, true) => line("DELETED", &slot.0, &slot.1, &json).into_iter().collect(),
                        (false, true) => line("MODIFIED", &slot.0, &slot.1, &json).into_iter().collect(),
                        (false, false) => line("ADDED", &slot.0, &slot.1, &json).into_iter().collect(),
                    }
                }
                Delivered::Synced(_) => continue,
            };
            for l in lines {
                if tx.send(l).await.is_err() {
                    return;
                }
            }
        }
    });
    let stream = ReceiverStream::new(rx).map(|b| Ok::<_, Infallible>(http_body::Frame::data(b)));
    http::Response::builder()
        .status(200)
        .header(http::header::CONTENT_TYPE, "application/json")
        .body(StreamBody::new(stream).boxed_unsync())
        .unwrap_or_else(|_| http::Response::new(body::full(Bytes::new())))
}

/// The watch events that turn what was sent for `shard` into its new `objects`.
fn resync(target: &Target, shard: &str, objects: Vec<pb::Object>, sent: &mut BTreeMap<(String, Key), Bytes>) -> Vec<Bytes> {
    let fresh: BTreeMap<(String, Key), Bytes> =
        objects.into_iter().map(|o| ((shard.to_string(), Key::from_wire(o.key.as_ref())), o.json)).filter(|((_, k), _)| target.admits(k)).collect();
    let gone: Vec<(String, Key)> = sent.keys().filter(|slot| slot.0 == shard && !fresh.contains_key(*slot)).cloned().collect();
    let mut lines = Vec::new();
    for slot in gone {
        if let Some(json) = sent.remove(&slot) {
            lines.extend(line("DELETED", &slot.0, &slot.1, &json));
        }
    }
    for (slot, json) in fresh {
        let kind = match sent.insert(slot.clone(), json.clone()) {
            None => "ADDED",
            Some(old) if old != json => "MODIFIED",
            Some(_) => continue,
        };
        lines.extend(line(kind, &slot.0, &slot.1, &json));
    }
    lines
}

fn line(kind: &str, shard: &str, key: &Key, json: &[u8]) -> Option<Bytes> {
    let object = present(shard, key, json)?;
    let mut bytes = serde_json::to_vec(&json!({"type": kind, "object": object})).ok()?;
    bytes.push(b'\n');
    Some(Bytes::from(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(path: &str) -> Target {
        parse(path).expect("valid").expect("a view path")
    }

    #[test]
    fn parses_view_urls() {
        let t = target("/services/cache/shards/*/clusters/root/apis/apis.kcp.io/v1alpha2/apiexports/foo");
        assert_eq!(
            (t.shard, t.cluster.as_deref(), t.group.as_str(), t.resource.as_str(), t.name.as_deref()),
            (None, Some("root"), "apis.kcp.io", "apiexports", Some("foo"))
        );
        let t = target("/services/cache/shards/s1/clusters/%2A/api/v1/namespaces/default/configmaps");
        assert_eq!((t.shard.as_deref(), t.cluster, t.group.as_str(), t.namespace.as_deref(), t.name), (Some("s1"), None, "", Some("default"), None));
        let t = target("/services/cache/shards/s1/clusters/c/api/v1/namespaces/default");
        assert_eq!((t.resource.as_str(), t.name.as_deref(), t.namespace), ("namespaces", Some("default"), None));
        assert_eq!(parse("/services/cache/shards/s1/clusters/c/apis/g/v1/namespaces/n/r/name/status").unwrap(), None);
        assert_eq!(parse("/api/v1/configmaps").unwrap(), None);
        assert_eq!(parse("/services/cache/shards/BAD/clusters/c/api/v1/x").unwrap_err().code(), 400);
    }

    #[test]
    fn presents_origin_annotations() {
        let key = Key { cluster: "root".into(), ..Key::default() };
        let object = present("s1", &key, br#"{"kind":"Shard","metadata":{"name":"x","uid":"u-1","resourceVersion":"17"}}"#).unwrap();
        assert_eq!(object["metadata"]["uid"], "u-1");
        assert_eq!(object["metadata"].get("resourceVersion"), None);
        let annotations = &object["metadata"]["annotations"];
        assert_eq!(
            (&annotations[CLUSTER_ANNOTATION], &annotations[SHARD_ANNOTATION], &annotations[ORIGINAL_RV_ANNOTATION]),
            (&json!("root"), &json!("s1"), &json!("17"))
        );
        assert_eq!(present("s1", &key, b"[1]"), None);
    }

    #[test]
    fn resync_reports_additions_changes_and_deletions() {
        let t = target("/services/cache/shards/*/clusters/*/apis/g/v1/r");
        let key = |n: &str| Key { group: "g".into(), resource: "r".into(), cluster: "c".into(), namespace: String::new(), name: n.into() };
        let object = |n: &str, v: &str| pb::Object { key: Some(key(n).to_wire()), json: Bytes::from(format!(r#"{{"metadata":{{"name":"{n}"}},"v":"{v}"}}"#)) };
        let mut sent = BTreeMap::new();
        let types =
            |lines: Vec<Bytes>| lines.iter().map(|l| serde_json::from_slice::<Value>(l).unwrap()["type"].as_str().unwrap().to_string()).collect::<Vec<_>>();
        assert_eq!(types(resync(&t, "s", vec![object("a", "1"), object("b", "1")], &mut sent)), ["ADDED", "ADDED"]);
        assert_eq!(types(resync(&t, "s", vec![object("b", "2"), object("c", "1")], &mut sent)), ["DELETED", "MODIFIED", "ADDED"]);
        assert!(resync(&t, "s", vec![object("b", "2"), object("c", "1")], &mut sent).is_empty());
    }
}
