//! Discovery documents: aggregated (v2) and legacy, built from what a cluster serves.

use std::collections::BTreeMap;

use serde_json::{json, Value};

use apimachinery::registry::{builtin, ResourceInfo};

/// Content type kubectl requires for aggregated discovery.
pub const AGGREGATED_CONTENT_TYPE: &str = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList";

/// True when the client accepts aggregated discovery v2.
pub fn wants_aggregated(accept: &str) -> bool {
    accept.split(',').any(|p| {
        let params: Vec<&str> = p.split(';').map(str::trim).collect();
        params.contains(&"g=apidiscovery.k8s.io") && params.contains(&"v=v2") && params.contains(&"as=APIGroupDiscoveryList")
    })
}

/// Groups and their versions in discovery order (core first, then as served).
fn groups(served: &[ResourceInfo], core: bool) -> Vec<(String, Vec<String>)> {
    let mut out: Vec<(String, Vec<String>)> = Vec::new();
    for r in served.iter().filter(|r| r.group.is_empty() == core) {
        match out.iter_mut().find(|(g, _)| *g == r.group) {
            Some((_, vs)) if !vs.contains(&r.version) => vs.push(r.version.clone()),
            Some(_) => {}
            None => out.push((r.group.clone(), vec![r.version.clone()])),
        }
    }
    out
}

fn aggregated_resource(r: &ResourceInfo) -> Value {
    let gvk = json!({"group": r.group, "version": r.version, "kind": r.kind});
    let mut v = json!({
        "resource": r.plural,
        "responseKind": gvk,
        "scope": if r.namespaced { "Namespaced" } else { "Cluster" },
        "singularResource": r.singular,
        "verbs": r.verbs,
    });
    if !r.short_names.is_empty() {
        v["shortNames"] = json!(r.short_names);
    }
    if !r.categories.is_empty() {
        v["categories"] = json!(r.categories);
    }
    if !r.subresources.is_empty() {
        v["subresources"] = json!(r
            .subresources
            .iter()
            .map(|s| {
                let shape = builtin::subresource_shape(r, s);
                json!({"subresource": s, "responseKind": {"group": shape.group, "version": shape.version, "kind": shape.kind}, "verbs": shape.verbs})
            })
            .collect::<Vec<_>>());
    }
    v
}

/// `/api` or `/apis` as an aggregated `APIGroupDiscoveryList`.
pub fn aggregated(served: &[ResourceInfo], core: bool) -> Value {
    let items: Vec<Value> = groups(served, core)
        .into_iter()
        .map(|(g, versions)| {
            let versions: Vec<Value> = versions
                .iter()
                .map(|v| {
                    let resources: Vec<Value> = served.iter().filter(|r| r.group == g && &r.version == v).map(aggregated_resource).collect();
                    json!({"version": v, "resources": resources, "freshness": "Current"})
                })
                .collect();
            json!({"metadata": {"name": g, "creationTimestamp": null}, "versions": versions})
        })
        .collect();
    json!({"kind": "APIGroupDiscoveryList", "apiVersion": "apidiscovery.k8s.io/v2", "metadata": {}, "items": items})
}

/// Legacy `/api`.
pub fn api_versions() -> Value {
    json!({"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": ""}]})
}

fn group_doc(g: &str, versions: &[String]) -> Value {
    let vs: Vec<Value> = versions.iter().map(|v| json!({"groupVersion": format!("{g}/{v}"), "version": v})).collect();
    json!({"name": g, "versions": vs, "preferredVersion": vs.first().cloned().unwrap_or(Value::Null)})
}

/// Legacy `/apis`.
pub fn api_group_list(served: &[ResourceInfo]) -> Value {
    let groups: Vec<Value> = groups(served, false).iter().map(|(g, vs)| group_doc(g, vs)).collect();
    json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups})
}

/// Legacy `/apis/<group>`, if served.
pub fn api_group(served: &[ResourceInfo], group: &str) -> Option<Value> {
    groups(served, false).into_iter().find(|(g, _)| g == group).map(|(g, vs)| {
        let mut doc = group_doc(&g, &vs);
        doc["kind"] = json!("APIGroup");
        doc["apiVersion"] = json!("v1");
        doc
    })
}

/// Legacy `/api/v1` or `/apis/<group>/<version>`, if served.
pub fn resource_list(served: &[ResourceInfo], group: &str, version: &str) -> Option<Value> {
    let rs: Vec<&ResourceInfo> = served.iter().filter(|r| r.group == group && r.version == version).collect();
    if rs.is_empty() {
        return None;
    }
    let mut resources = Vec::new();
    for r in rs {
        let mut v = json!({"name": r.plural, "singularName": r.singular, "namespaced": r.namespaced,
                           "kind": r.kind, "verbs": r.verbs});
        if !r.short_names.is_empty() {
            v["shortNames"] = json!(r.short_names);
        }
        if !r.categories.is_empty() {
            v["categories"] = json!(r.categories);
        }
        resources.push(v);
        for s in &r.subresources {
            let shape = builtin::subresource_shape(r, s);
            let mut sub = json!({"name": format!("{}/{s}", r.plural), "singularName": "", "namespaced": r.namespaced,
                                 "kind": shape.kind, "verbs": shape.verbs});
            if shape.group != r.group {
                sub["group"] = json!(shape.group);
                sub["version"] = json!(shape.version);
            }
            resources.push(sub);
        }
    }
    let gv = if group.is_empty() { version.to_string() } else { format!("{group}/{version}") };
    Some(json!({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": gv, "resources": resources}))
}

/// Served group/versions as `(openapi path key, group, version)`.
pub fn group_versions(served: &[ResourceInfo]) -> Vec<(String, String)> {
    let mut set = BTreeMap::new();
    for r in served {
        set.insert((r.group.clone(), r.version.clone()), ());
    }
    set.into_keys().collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use apimachinery::registry::builtin::builtins;

    #[test]
    fn aggregated_core_and_groups() {
        let served: Vec<ResourceInfo> = builtins().iter().map(|b| b.info.clone()).collect();
        let core = aggregated(&served, true);
        assert_eq!(core["items"][0]["metadata"]["name"], "");
        let cm = core["items"][0]["versions"][0]["resources"]
            .as_array()
            .expect("resources")
            .iter()
            .find(|r| r["resource"] == "configmaps")
            .cloned()
            .expect("configmaps");
        assert_eq!(cm["responseKind"]["kind"], "ConfigMap");
        assert_eq!(cm["shortNames"][0], "cm");
        let apis = aggregated(&served, false);
        assert!(apis["items"].as_array().expect("items").iter().any(|g| g["metadata"]["name"] == "rbac.authorization.k8s.io"));
        assert!(wants_aggregated("application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json"));
        assert!(resource_list(&served, "", "v1").is_some());
        assert!(resource_list(&served, "nope.io", "v1").is_none());
    }
}
