//! Resources served from CustomResourceDefinitions, per logical cluster.
//!
//! A CRD becomes servable once its `Established` condition is true; the index is fed from the
//! store's CRD watch, so every request sees CRDs of its own logical cluster only.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use serde_json::Value;

use super::builtin::Backing;
use super::{Column, ResourceInfo, Strategy};
use crate::status::FieldError;

/// Finalizer that holds a CRD until all its objects are deleted.
pub const CLEANUP_FINALIZER: &str = "customresourcecleanup.apiextensions.k8s.io";

/// True when the CRD's status has condition `type` set to `True`.
pub fn has_condition(crd: &Value, type_: &str) -> bool {
    crd.pointer("/status/conditions").and_then(Value::as_array).is_some_and(|cs| cs.iter().any(|c| c["type"] == type_ && c["status"] == "True"))
}

/// The resources one CRD serves, one per served version, in the CRD's version order.
pub fn resources_of(crd: &Value) -> Vec<ResourceInfo> {
    let spec = &crd["spec"];
    let names = &spec["names"];
    let s = |v: &Value| v.as_str().unwrap_or_default().to_string();
    let strings = |v: &Value| -> Vec<String> { v.as_array().map(|a| a.iter().filter_map(|x| x.as_str().map(String::from)).collect()).unwrap_or_default() };
    let kind = s(&names["kind"]);
    let plural = s(&names["plural"]);
    let singular = match names["singular"].as_str() {
        Some(x) if !x.is_empty() => x.to_string(),
        _ => kind.to_ascii_lowercase(),
    };
    let list_kind = match names["listKind"].as_str() {
        Some(x) if !x.is_empty() => x.to_string(),
        _ => format!("{kind}List"),
    };
    let versions = spec["versions"].as_array().cloned().unwrap_or_default();
    versions
        .iter()
        .filter(|v| v["served"].as_bool().unwrap_or(false))
        .map(|v| ResourceInfo {
            group: s(&spec["group"]),
            version: s(&v["name"]),
            kind: kind.clone(),
            list_kind: list_kind.clone(),
            plural: plural.clone(),
            singular: singular.clone(),
            namespaced: spec["scope"] == "Namespaced",
            short_names: strings(&names["shortNames"]),
            categories: strings(&names["categories"]),
            verbs: ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"].iter().map(|x| x.to_string()).collect(),
            subresources: if v.pointer("/subresources/status").is_some() { vec!["status".into()] } else { vec![] },
            columns: columns_of(v),
            schema: v.pointer("/schema/openAPIV3Schema").cloned(),
            custom: true,
            backing: Backing::Stored,
            identity: None,
        })
        .collect()
}

fn columns_of(version: &Value) -> Vec<Column> {
    let cols = version["additionalPrinterColumns"].as_array().cloned().unwrap_or_default();
    let mut out: Vec<Column> = cols
        .iter()
        .map(|c| Column {
            name: c["name"].as_str().unwrap_or_default().to_string(),
            type_: c["type"].as_str().unwrap_or("string").to_string(),
            format: c["format"].as_str().unwrap_or_default().to_string(),
            description: c["description"].as_str().unwrap_or_default().to_string(),
            priority: c["priority"].as_i64().unwrap_or(0) as i32,
            json_path: c["jsonPath"].as_str().unwrap_or_default().to_string(),
        })
        .collect();
    // Like kube-apiserver: without explicit columns a CRD prints its age.
    if out.is_empty() {
        out.push(Column {
            name: "Age".into(),
            type_: "date".into(),
            format: String::new(),
            description: "CreationTimestamp is a timestamp representing the server time when this object was created.".into(),
            priority: 0,
            json_path: ".metadata.creationTimestamp".into(),
        });
    }
    out
}

/// The strategy of every custom resource: its CRD version's schema defaults and validates it,
/// its printer columns are JSONPath columns, and strategic merge patch is refused.
#[derive(Debug)]
pub struct CustomResource {
    info: ResourceInfo,
}

impl CustomResource {
    /// The strategy of one served CRD version.
    pub fn new(info: ResourceInfo) -> Self {
        CustomResource { info }
    }
}

impl Strategy for CustomResource {
    fn info(&self) -> ResourceInfo {
        self.info.clone()
    }

    fn tracks_generation(&self) -> bool {
        true
    }

    // Schema errors come before metadata ones, so they are reported here rather than in validate.
    fn prepare(&self, obj: &mut Value, _old: Option<&Value>) -> Vec<FieldError> {
        let Some(schema) = &self.info.schema else { return Vec::new() };
        crate::schema::default(schema, obj);
        crate::schema::validate(schema, obj)
    }

    fn columns(&self) -> Vec<Column> {
        let mut columns = vec![Column {
            name: "Name".into(),
            type_: "string".into(),
            format: "name".into(),
            description: "Name must be unique within a namespace. More info: https://kubernetes.io/docs/concepts/overview/working-with-objects/names#names"
                .into(),
            priority: 0,
            json_path: ".metadata.name".into(),
        }];
        columns.extend(self.info.columns.iter().cloned());
        columns
    }

    fn strategic_merge(&self) -> bool {
        false
    }
}

/// The logical cluster holding one CRD per bound APIResourceSchema (named by the schema's
/// UID), from which every binding to it serves the resource, as in kcp.
pub const BOUND_CRDS_CLUSTER: &str = "system:bound-crds";

/// One resource an APIBinding serves in its cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BoundResource {
    /// Name of the CRD in [`BOUND_CRDS_CLUSTER`] that describes it.
    pub crd: String,
    /// The export's identity hash, under which its objects are stored.
    pub identity: String,
    /// The export it is bound from, so the export's virtual workspace finds its consumers.
    pub export: ExportRef,
}

/// An APIExport by logical cluster and name, as a binding's status resolves it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct ExportRef {
    /// The logical cluster holding the export.
    pub cluster: String,
    /// The export's name.
    pub name: String,
}

/// CRDs per logical cluster, keyed by CRD name, and the resources APIBindings serve.
#[derive(Default)]
pub struct CrdIndex {
    by_cluster: RwLock<HashMap<String, HashMap<String, Arc<Value>>>>,
    /// Per cluster, per binding name: what it serves.
    bindings: RwLock<HashMap<String, HashMap<String, Vec<BoundResource>>>>,
    /// Per cluster, per bound binding's name: its export, also when the export serves no
    /// resource of its own (it may only claim others').
    exports: RwLock<HashMap<String, HashMap<String, ExportRef>>>,
}

/// Sets or (None) removes `name`'s entry in `cluster` of a per-cluster map, dropping clusters
/// left empty.
fn set_entry<T>(map: &RwLock<HashMap<String, HashMap<String, T>>>, cluster: &str, name: &str, value: Option<T>) {
    let mut map = map.write().unwrap_or_else(|e| e.into_inner());
    match value {
        Some(v) => {
            map.entry(cluster.to_string()).or_default().insert(name.to_string(), v);
        }
        None => {
            if let Some(m) = map.get_mut(cluster) {
                m.remove(name);
                if m.is_empty() {
                    map.remove(cluster);
                }
            }
        }
    }
}

impl CrdIndex {
    /// Records the current state of a CRD (servable or not).
    pub fn upsert(&self, cluster: &str, crd: Value) {
        let name = crd.pointer("/metadata/name").and_then(Value::as_str).unwrap_or_default().to_string();
        let mut map = self.by_cluster.write().unwrap_or_else(|e| e.into_inner());
        map.entry(cluster.to_string()).or_default().insert(name, Arc::new(crd));
    }

    /// Forgets a deleted CRD.
    pub fn remove(&self, cluster: &str, name: &str) {
        let mut map = self.by_cluster.write().unwrap_or_else(|e| e.into_inner());
        if let Some(m) = map.get_mut(cluster) {
            m.remove(name);
            if m.is_empty() {
                map.remove(cluster);
            }
        }
    }

    /// All CRDs known in a cluster (servable or not).
    pub fn crds(&self, cluster: &str) -> Vec<Arc<Value>> {
        let map = self.by_cluster.read().unwrap_or_else(|e| e.into_inner());
        map.get(cluster).map(|m| m.values().cloned().collect()).unwrap_or_default()
    }

    /// Records binding `name` of `cluster`: the export it is bound to (None while it is not,
    /// or once it is gone) and what it serves.
    pub fn bind(&self, cluster: &str, name: &str, export: Option<ExportRef>, resources: Vec<BoundResource>) {
        set_entry(&self.bindings, cluster, name, Some(resources).filter(|r| !r.is_empty()));
        set_entry(&self.exports, cluster, name, export);
    }

    /// Whether a binding in `cluster` is bound to `export`. Reads one small map only, so a
    /// watch may ask it for every event.
    pub fn bound_to(&self, cluster: &str, export: &ExportRef) -> bool {
        let map = self.exports.read().unwrap_or_else(|e| e.into_inner());
        map.get(cluster).is_some_and(|m| m.values().any(|e| e == export))
    }

    /// The resources `export` serves in the clusters bound to it on this shard, each named with
    /// its identity; only established bound CRDs count. Empty when nothing here binds it.
    pub fn exported(&self, export: &ExportRef) -> Vec<ResourceInfo> {
        let mut refs: Vec<BoundResource> = {
            let map = self.bindings.read().unwrap_or_else(|e| e.into_inner());
            map.values().flat_map(|m| m.values().flatten()).filter(|r| &r.export == export).cloned().collect()
        };
        refs.sort_by(|a, b| (&a.crd, &a.identity).cmp(&(&b.crd, &b.identity)));
        refs.dedup();
        let crds = self.bound_crds(refs.iter().map(|r| r.crd.as_str()));
        let mut out: Vec<ResourceInfo> = refs
            .into_iter()
            .zip(crds)
            .filter_map(|(r, crd)| {
                let crd = crd.filter(|c| has_condition(c, "Established"))?;
                Some(resources_of(&crd).into_iter().map(move |info| ResourceInfo { identity: Some(r.identity.clone()), ..info }))
            })
            .flatten()
            .collect();
        out.sort_by(|a, b| (&a.group, &a.plural, &a.version).cmp(&(&b.group, &b.plural, &b.version)));
        out.dedup_by(|a, b| (&a.group, &a.plural, &a.version) == (&b.group, &b.plural, &b.version));
        out
    }

    /// The export serving `group`/`plural` under `identity` to some binding on this shard, and
    /// the resource (each version) as bound; None when nothing here binds it (established).
    pub fn with_identity(&self, group: &str, plural: &str, identity: &str) -> Option<(ExportRef, Vec<ResourceInfo>)> {
        let candidates: Vec<BoundResource> = {
            let map = self.bindings.read().unwrap_or_else(|e| e.into_inner());
            map.values().flat_map(|m| m.values().flatten()).filter(|r| r.identity == identity).cloned().collect()
        };
        let crds = self.bound_crds(candidates.iter().map(|r| r.crd.as_str()));
        candidates.into_iter().zip(crds).find_map(|(r, crd)| {
            let crd = crd.filter(|c| has_condition(c, "Established") && c["spec"]["group"] == group && c["spec"]["names"]["plural"] == plural)?;
            let infos = resources_of(&crd).into_iter().map(|info| ResourceInfo { identity: Some(identity.to_string()), ..info }).collect();
            Some((r.export, infos))
        })
    }

    /// The bound CRDs named, in order (None for one not known yet). Only those are taken, not
    /// the shard's whole map of them: requests to bound resources ask for them.
    fn bound_crds<'a>(&self, names: impl Iterator<Item = &'a str>) -> Vec<Option<Arc<Value>>> {
        let map = self.by_cluster.read().unwrap_or_else(|e| e.into_inner());
        let bound = map.get(BOUND_CRDS_CLUSTER);
        names.map(|name| bound.and_then(|m| m.get(name)).cloned()).collect()
    }

    /// Each resource a binding in `cluster` serves: the binding's name, and the bound CRD
    /// describing it (None while not known yet).
    fn bound_refs(&self, cluster: &str) -> Vec<(String, BoundResource, Option<Arc<Value>>)> {
        let refs: Vec<(String, BoundResource)> = {
            let map = self.bindings.read().unwrap_or_else(|e| e.into_inner());
            map.get(cluster).map(|m| m.iter().flat_map(|(b, rs)| rs.iter().map(|r| (b.clone(), r.clone()))).collect()).unwrap_or_default()
        };
        // Most clusters bind nothing: they never touch the bound CRDs' lock.
        if refs.is_empty() {
            return Vec::new();
        }
        let crds = self.bound_crds(refs.iter().map(|(_, r)| r.crd.as_str()));
        refs.into_iter().zip(crds).map(|((binding, r), crd)| (binding, r, crd)).collect()
    }

    /// The resources bindings serve in a cluster, whatever the state of their CRDs, each with
    /// the binding that serves it.
    fn bound(&self, cluster: &str) -> Vec<(String, ResourceInfo, bool)> {
        self.bound_refs(cluster)
            .into_iter()
            .filter_map(|(binding, r, crd)| {
                let crd = crd?;
                let established = has_condition(&crd, "Established");
                Some(
                    resources_of(&crd).into_iter().map(move |info| (binding.clone(), ResourceInfo { identity: Some(r.identity.clone()), ..info }, established)),
                )
            })
            .flatten()
            .collect()
    }

    /// The export whose binding serves `group`/`plural` in a cluster, if one does.
    /// Authorization asks it of every request, so it reads the CRDs' names without describing
    /// their resources.
    pub fn export_of(&self, cluster: &str, group: &str, plural: &str) -> Option<ExportRef> {
        self.bound_refs(cluster)
            .into_iter()
            .find(|(_, _, crd)| crd.as_ref().is_some_and(|c| c["spec"]["group"] == group && c["spec"]["names"]["plural"] == plural))
            .map(|(_, r, _)| r.export)
    }

    /// Resources served in a cluster by its established CRDs and by its bindings.
    pub fn served(&self, cluster: &str) -> Vec<ResourceInfo> {
        let mut out: Vec<ResourceInfo> = self
            .crds(cluster)
            .iter()
            .filter(|c| has_condition(c, "Established") && c.pointer("/metadata/deletionTimestamp").is_none())
            .flat_map(|c| resources_of(c))
            .chain(self.bound(cluster).into_iter().filter(|(_, _, established)| *established).map(|(_, r, _)| r))
            .collect();
        out.sort_by(|a, b| (&a.group, &a.plural).cmp(&(&b.group, &b.plural)));
        out
    }

    /// Every resource whose objects a cluster may hold beyond the built-ins: those of its CRDs
    /// in any state (being deleted, not yet established) and those of its bindings.
    pub fn stored(&self, cluster: &str) -> Vec<ResourceInfo> {
        let crds = self.crds(cluster);
        crds.iter().flat_map(|c| resources_of(c)).chain(self.bound(cluster).into_iter().map(|(_, r, _)| r)).collect()
    }

    /// The served CRD resource at `group/version/plural` in a cluster.
    pub fn find(&self, cluster: &str, group: &str, version: &str, plural: &str) -> Option<ResourceInfo> {
        self.served(cluster).into_iter().find(|r| r.group == group && r.version == version && r.plural == plural)
    }

    /// The resource a wildcard request names, served in some cluster: a CRD's by its plural, a
    /// bound one by `<plural>:<identity hash>`. Only what can match is looked at, so the cost
    /// does not grow with the number of clusters that serve nothing of the kind.
    pub fn find_anywhere(&self, group: &str, version: &str, resource: &str) -> Option<ResourceInfo> {
        let matches = |r: &ResourceInfo| r.group == group && r.version == version && r.storage_resource() == resource;
        if let Some((plural, identity)) = resource.split_once(':') {
            return self.with_identity(group, plural, identity)?.1.into_iter().find(matches);
        }
        let candidates: Vec<Arc<Value>> = {
            let map = self.by_cluster.read().unwrap_or_else(|e| e.into_inner());
            map.iter()
                .filter(|(c, _)| c.as_str() != BOUND_CRDS_CLUSTER)
                .flat_map(|(_, m)| m.values())
                .filter(|c| c["spec"]["group"] == group && c["spec"]["names"]["plural"] == resource)
                .filter(|c| has_condition(c, "Established") && c.pointer("/metadata/deletionTimestamp").is_none())
                .cloned()
                .collect()
        };
        candidates.iter().flat_map(|c| resources_of(c)).find(matches)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn widget_crd() -> Value {
        json!({"metadata":{"name":"widgets.example.com"},
            "spec":{"group":"example.com","scope":"Namespaced",
              "names":{"kind":"Widget","plural":"widgets","shortNames":["wd"]},
              "versions":[{"name":"v1","served":true,"storage":true,
                 "schema":{"openAPIV3Schema":{"type":"object"}},
                 "subresources":{"status":{}},
                 "additionalPrinterColumns":[{"name":"Size","type":"string","jsonPath":".spec.size"}]},
                 {"name":"v2","served":false,"storage":false}]},
            "status":{"conditions":[{"type":"Established","status":"True"}]}})
    }

    #[test]
    fn served_versions_only_and_per_cluster() {
        let idx = CrdIndex::default();
        idx.upsert("a", widget_crd());
        let served = idx.served("a");
        assert_eq!(served.len(), 1);
        assert_eq!(served[0].list_kind, "WidgetList");
        assert_eq!(served[0].subresources, vec!["status".to_string()]);
        assert_eq!(served[0].columns[0].json_path, ".spec.size");
        assert!(idx.served("b").is_empty());
        assert!(idx.find("a", "example.com", "v1", "widgets").is_some());
        idx.remove("a", "widgets.example.com");
        assert!(idx.served("a").is_empty());
    }

    #[test]
    fn exports_know_their_consumers() {
        let idx = CrdIndex::default();
        idx.upsert(BOUND_CRDS_CLUSTER, widget_crd());
        let export = ExportRef { cluster: "p".into(), name: "widgets".into() };
        let other = ExportRef { cluster: "q".into(), name: "widgets".into() };
        let bound = |export: &ExportRef| vec![BoundResource { crd: "widgets.example.com".into(), identity: "abc".into(), export: export.clone() }];
        idx.bind("c1", "w", Some(export.clone()), bound(&export));
        idx.bind("c2", "w", Some(export.clone()), bound(&export));
        idx.bind("c3", "w", Some(other.clone()), bound(&other));
        assert!(idx.bound_to("c1", &export) && idx.bound_to("c2", &export));
        assert!(!idx.bound_to("c3", &export) && !idx.bound_to("c4", &export));
        let served = idx.exported(&export);
        assert_eq!(served.len(), 1, "one resource however many consumers");
        assert_eq!(served[0].storage_resource(), "widgets:abc");
        idx.bind("c1", "w", None, Vec::new());
        idx.bind("c2", "w", None, Vec::new());
        assert!(!idx.bound_to("c1", &export));
        assert!(idx.exported(&export).is_empty());
    }

    #[test]
    fn wildcard_requests_find_crds_and_bound_resources_by_identity() {
        let idx = CrdIndex::default();
        idx.upsert("a", widget_crd());
        assert!(idx.find_anywhere("example.com", "v1", "widgets").is_some_and(|r| r.identity.is_none()));
        let mut bound = widget_crd();
        bound["metadata"]["name"] = json!("schema-uid");
        idx.upsert(BOUND_CRDS_CLUSTER, bound);
        assert!(idx.find_anywhere("example.com", "v1", "widgets:abc").is_none(), "nothing bound yet");
        idx.bind("c", "b", Some(ExportRef::default()), vec![BoundResource { crd: "schema-uid".into(), identity: "abc".into(), export: ExportRef::default() }]);
        let found = idx.find_anywhere("example.com", "v1", "widgets:abc").expect("bound in c");
        assert_eq!(found.storage_resource(), "widgets:abc");
        assert!(idx.find_anywhere("example.com", "v1", "widgets:other").is_none());
        assert!(idx.find_anywhere("example.com", "v2", "widgets").is_none(), "v2 is not served");
    }
}
