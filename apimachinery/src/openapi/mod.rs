//! `/openapi/v3`: the index and one document per group-version, for kubectl's server-side field
//! validation and `kubectl explain`.
//!
//! Built-in schemas are generated from k8s-openapi (its schemars output, named like upstream's
//! definitions); CRD schemas come from their `openAPIV3Schema`. PATCH operations carry the GVK
//! and the `fieldValidation` parameter, which is what tells kubectl to let the server validate.
//! Strategic merge patch is deliberately not advertised (kubectl then uses its compiled-in types).
//!
//! [`v2`] derives the Swagger 2.0 document from these group-version documents, [`gnostic`]
//! encodes it as the protobuf kubectl asks for, and [`cache`] keeps both per set of served
//! resources (so per logical cluster, rebuilt when its CRDs change) with their ETags.

mod apis;
pub mod cache;
pub mod gnostic;
pub mod v2;

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, LazyLock, Mutex};

use k8s_openapi::api::{
    authentication::v1 as authn, authorization::v1 as authz, coordination::v1 as coord, core::v1 as core, events::v1 as events, rbac::v1 as rbac,
};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1 as apiext;
use schemars::JsonSchema;
use serde_json::{json, Map, Value};

use crate::registry::ResourceInfo;

const OBJECT_META: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta";
/// Prefix of v3 schema references.
pub const REF_PREFIX: &str = "#/components/schemas/";
/// How deep `builtin_schema` inlines references before treating the rest as free-form.
const INLINE_DEPTH: usize = 10;

/// (group, version, kind).
type Gvk = (String, String, String);

struct Builtins {
    defs: Map<String, Value>,
    /// GVK → definition name.
    kinds: HashMap<Gvk, String>,
}

fn add<T: JsonSchema>(gen: &mut schemars::SchemaGenerator, kinds: &mut HashMap<Gvk, String>, g: &str, v: &str, k: &str) {
    gen.subschema_for::<T>();
    kinds.insert((g.into(), v.into(), k.into()), T::schema_name().into_owned());
}

/// Reshapes generated schemas the way upstream documents look.
fn tidy(v: &mut Value) {
    match v {
        Value::Object(m) => {
            // A `properties` map holds field names, not schema keywords (JSONSchemaProps has a
            // field called `$ref`): only its values are schemas.
            if let Some(Value::Object(props)) = m.get_mut("properties") {
                props.values_mut().for_each(tidy);
            }
            if m.contains_key("$ref") && m.len() > 1 {
                let r = m.remove("$ref").unwrap_or_default();
                m.insert("allOf".into(), json!([{"$ref": r}]));
            }
            let free_form = m.get("type") == Some(&json!("object")) && !m.contains_key("properties") && !m.contains_key("additionalProperties");
            if free_form {
                m.insert("x-kubernetes-preserve-unknown-fields".into(), json!(true));
            }
            m.iter_mut().filter(|(k, _)| *k != "properties").for_each(|(_, v)| tidy(v));
        }
        Value::Array(a) => a.iter_mut().for_each(tidy),
        _ => {}
    }
}

/// Schema of a kcp kind: typed metadata, free-form spec and status (admission and the
/// controllers own the detailed rules).
fn kcp_kind_schema(description: &str) -> Value {
    json!({
        "description": description,
        "type": "object",
        "properties": {
            "apiVersion": {"type": "string", "description": "APIVersion defines the versioned schema of this representation of an object."},
            "kind": {"type": "string", "description": "Kind is a string value representing the REST resource this object represents."},
            "metadata": {"$ref": format!("{REF_PREFIX}{OBJECT_META}"), "description": "Standard object's metadata."},
            "spec": {"type": "object", "description": "Spec holds the desired state.", "x-kubernetes-preserve-unknown-fields": true},
            "status": {"type": "object", "description": "Status holds the observed state.", "x-kubernetes-preserve-unknown-fields": true}
        }
    })
}

static BUILTINS: LazyLock<Builtins> = LazyLock::new(|| {
    let mut gen = schemars::generate::SchemaSettings::openapi3().into_generator();
    let mut kinds = HashMap::new();
    let k = &mut kinds;
    add::<core::Namespace>(&mut gen, k, "", "v1", "Namespace");
    add::<core::ConfigMap>(&mut gen, k, "", "v1", "ConfigMap");
    add::<core::Secret>(&mut gen, k, "", "v1", "Secret");
    add::<core::ServiceAccount>(&mut gen, k, "", "v1", "ServiceAccount");
    add::<core::Event>(&mut gen, k, "", "v1", "Event");
    add::<core::ResourceQuota>(&mut gen, k, "", "v1", "ResourceQuota");
    add::<core::LimitRange>(&mut gen, k, "", "v1", "LimitRange");
    add::<rbac::Role>(&mut gen, k, "rbac.authorization.k8s.io", "v1", "Role");
    add::<rbac::ClusterRole>(&mut gen, k, "rbac.authorization.k8s.io", "v1", "ClusterRole");
    add::<rbac::RoleBinding>(&mut gen, k, "rbac.authorization.k8s.io", "v1", "RoleBinding");
    add::<rbac::ClusterRoleBinding>(&mut gen, k, "rbac.authorization.k8s.io", "v1", "ClusterRoleBinding");
    add::<apiext::CustomResourceDefinition>(&mut gen, k, "apiextensions.k8s.io", "v1", "CustomResourceDefinition");
    add::<coord::Lease>(&mut gen, k, "coordination.k8s.io", "v1", "Lease");
    add::<events::Event>(&mut gen, k, "events.k8s.io", "v1", "Event");
    add::<authz::SelfSubjectAccessReview>(&mut gen, k, "authorization.k8s.io", "v1", "SelfSubjectAccessReview");
    add::<authz::SubjectAccessReview>(&mut gen, k, "authorization.k8s.io", "v1", "SubjectAccessReview");
    add::<authz::LocalSubjectAccessReview>(&mut gen, k, "authorization.k8s.io", "v1", "LocalSubjectAccessReview");
    add::<authz::SelfSubjectRulesReview>(&mut gen, k, "authorization.k8s.io", "v1", "SelfSubjectRulesReview");
    add::<authn::SelfSubjectReview>(&mut gen, k, "authentication.k8s.io", "v1", "SelfSubjectReview");
    add::<authn::TokenReview>(&mut gen, k, "authentication.k8s.io", "v1", "TokenReview");
    let mut defs = gen.take_definitions(true);
    for (group, kind, description) in [
        ("core.kcp.io", "LogicalCluster", "LogicalCluster describes a logical cluster: the singleton named \"cluster\" that makes a logical cluster exist."),
        ("core.kcp.io", "Shard", "Shard describes a shard: a kcp-shard process hosting logical clusters, with the URLs at which it is reached."),
        ("tenancy.kcp.io", "Workspace", "Workspace defines a generic Kubernetes-cluster-like endpoint, with standard Kubernetes discovery, OpenAPI and resource API endpoints, backed by a logical cluster."),
        ("tenancy.kcp.io", "WorkspaceType", "WorkspaceType specifies behaviour of workspaces of this type: allowed parents and children and the default child type."),
    ] {
        let reversed: Vec<&str> = group.split('.').rev().collect();
        let name = format!("{}.v1alpha1.{kind}", reversed.join("."));
        defs.insert(name.clone(), kcp_kind_schema(description));
        kinds.insert((group.into(), "v1alpha1".into(), kind.into()), name);
    }
    for (version, kind, schema) in apis::definitions() {
        let name = format!("io.kcp.apis.{version}.{kind}");
        defs.insert(name.clone(), schema);
        kinds.insert(("apis.kcp.io".into(), version.into(), kind.into()), name);
    }
    for v in defs.values_mut() {
        tidy(v);
    }
    for ((g, v, k), name) in &kinds {
        if let Some(Value::Object(d)) = defs.get_mut(name) {
            d.insert("x-kubernetes-group-version-kind".into(), json!([{"group": g, "kind": k, "version": v}]));
            if let Some(Value::Array(req)) = d.get_mut("required") {
                req.retain(|r| r != "metadata");
            }
        }
    }
    Builtins { defs, kinds }
});

/// The definition a `$ref` names.
pub(crate) fn ref_name(v: &Value) -> Option<&str> {
    v.get("$ref").and_then(Value::as_str).and_then(|r| r.strip_prefix(REF_PREFIX))
}

/// The named definitions of the built-in kinds (`$ref`s intact) and the name of `kind`'s own,
/// for walks that report Go type names: `io.k8s.api.core.v1.ConfigMap` is Go's `v1.ConfigMap`.
pub(crate) fn builtin_definition(group: &str, version: &str, kind: &str) -> Option<(&'static Map<String, Value>, &'static str)> {
    let name = BUILTINS.kinds.get(&(group.to_string(), version.to_string(), kind.to_string()))?;
    Some((&BUILTINS.defs, name.as_str()))
}

/// Inlines `$ref`s; `chain` holds the definitions being inlined, so a recursive type (such as
/// JSONSchemaProps) becomes free-form at its first repetition instead of growing without bound.
fn inline(v: &Value, chain: &mut Vec<String>) -> Value {
    match v {
        Value::Object(m) => {
            let target = ref_name(v)
                .map(String::from)
                .or_else(|| m.get("allOf").and_then(Value::as_array).filter(|a| a.len() == 1).and_then(|a| ref_name(&a[0]).map(String::from)));
            if let Some(name) = target {
                if chain.len() >= INLINE_DEPTH || chain.contains(&name) {
                    return json!({"x-kubernetes-preserve-unknown-fields": true});
                }
                chain.push(name.clone());
                let mut base = BUILTINS.defs.get(&name).map(|d| inline(d, chain)).unwrap_or_else(|| json!({}));
                chain.pop();
                for (k, val) in m.iter().filter(|(k, _)| *k != "$ref" && *k != "allOf") {
                    base[k.as_str()] = inline(val, chain);
                }
                return base;
            }
            Value::Object(
                m.iter()
                    .map(|(k, val)| {
                        let inlined = match (k.as_str(), val) {
                            ("properties", Value::Object(props)) => Value::Object(props.iter().map(|(pk, pv)| (pk.clone(), inline(pv, chain))).collect()),
                            _ => inline(val, chain),
                        };
                        (k.clone(), inlined)
                    })
                    .collect(),
            )
        }
        Value::Array(a) => Value::Array(a.iter().map(|x| inline(x, chain)).collect()),
        other => other.clone(),
    }
}

/// The self-contained schema of a built-in kind (references inlined), for pruning unknown
/// fields.
pub fn builtin_schema(group: &str, version: &str, kind: &str) -> Option<Arc<Value>> {
    // Shared, not cloned: it is consulted on every write and a deep copy of an inlined
    // schema costs more than the rest of the write's validation.
    static CACHE: LazyLock<Mutex<HashMap<Gvk, Option<Arc<Value>>>>> = LazyLock::new(Default::default);
    let key = (group.to_string(), version.to_string(), kind.to_string());
    if let Some(hit) = CACHE.lock().unwrap_or_else(|e| e.into_inner()).get(&key) {
        return hit.clone();
    }
    let schema = BUILTINS.kinds.get(&key).and_then(|n| BUILTINS.defs.get(n)).map(|d| Arc::new(inline(d, &mut Vec::new())));
    CACHE.lock().unwrap_or_else(|e| e.into_inner()).insert(key, schema.clone());
    schema
}

/// Collects every definition reachable from `roots`.
fn closure(roots: impl IntoIterator<Item = String>, defs: &Map<String, Value>) -> BTreeSet<String> {
    fn refs(v: &Value, out: &mut Vec<String>) {
        match v {
            Value::Object(m) => {
                if let Some(n) = ref_name(v) {
                    out.push(n.to_string());
                }
                m.values().for_each(|x| refs(x, out));
            }
            Value::Array(a) => a.iter().for_each(|x| refs(x, out)),
            _ => {}
        }
    }
    let mut seen = BTreeSet::new();
    let mut todo: Vec<String> = roots.into_iter().collect();
    while let Some(n) = todo.pop() {
        if seen.insert(n.clone()) {
            if let Some(d) = defs.get(&n) {
                refs(d, &mut todo);
            }
        }
    }
    seen
}

fn crd_def_name(r: &ResourceInfo) -> String {
    let reversed: Vec<&str> = r.group.split('.').rev().collect();
    format!("{}.{}.{}", reversed.join("."), r.version, r.kind)
}

fn crd_schema(r: &ResourceInfo) -> Value {
    let mut s = r.schema.clone().unwrap_or_else(|| json!({"type": "object", "x-kubernetes-preserve-unknown-fields": true}));
    if !s["properties"].is_object() {
        s["properties"] = json!({});
    }
    s["properties"]["apiVersion"] = json!({"type": "string", "description": "APIVersion defines the versioned schema of this representation of an object."});
    s["properties"]["kind"] = json!({"type": "string", "description": "Kind is a string value representing the REST resource this object represents."});
    s["properties"]["metadata"] = json!({"allOf": [{"$ref": format!("{REF_PREFIX}{OBJECT_META}")}], "description": "Standard object's metadata."});
    s["x-kubernetes-group-version-kind"] = json!([{"group": r.group, "kind": r.kind, "version": r.version}]);
    s
}

fn gv_prefix(group: &str, version: &str) -> String {
    if group.is_empty() {
        format!("/api/{version}")
    } else {
        format!("/apis/{group}/{version}")
    }
}

fn operations(r: &ResourceInfo, def: &str) -> (String, Value, String, Value) {
    let gvk = json!({"group": r.group, "version": r.version, "kind": r.kind});
    let schema_ref = json!({"$ref": format!("{REF_PREFIX}{def}")});
    let ok = json!({"200": {"description": "OK", "content": {"application/json": {"schema": schema_ref}}}});
    let q = |name: &str, desc: &str| json!({"name": name, "in": "query", "description": desc, "schema": {"type": "string", "uniqueItems": true}});
    let write_params = vec![
        q("dryRun", "When present, indicates that modifications should not be persisted."),
        q("fieldManager", "fieldManager is a name associated with the actor or entity that is making these changes."),
        q("fieldValidation", "fieldValidation instructs the server on how to handle objects in the request containing unknown or duplicate fields. Valid values are: Ignore, Warn (default), Strict."),
    ];
    let mut patch_params = write_params.clone();
    patch_params.push(json!({"name": "force", "in": "query", "description": "Force is going to \"force\" Apply requests.", "schema": {"type": "boolean", "uniqueItems": true}}));
    let body = |types: &[&str]| {
        let content: Map<String, Value> = types.iter().map(|t| (t.to_string(), json!({"schema": {"type": "object"}}))).collect();
        json!({"content": content, "required": true})
    };
    let base = gv_prefix(&r.group, &r.version);
    let coll = if r.namespaced { format!("{base}/namespaces/{{namespace}}/{}", r.plural) } else { format!("{base}/{}", r.plural) };
    let item = format!("{coll}/{{name}}");
    let op = |verb: &str, id: &str, extra: Value| {
        let mut o = json!({"operationId": format!("{id}{}", r.kind), "x-kubernetes-action": verb, "x-kubernetes-group-version-kind": gvk, "responses": ok});
        if let Value::Object(e) = extra {
            for (k, v) in e {
                o[k] = v;
            }
        }
        o
    };
    let path_param =
        |name: &str, desc: &str| json!({"name": name, "in": "path", "required": true, "description": desc, "schema": {"type": "string", "uniqueItems": true}});
    let mut scope = vec![];
    if r.namespaced {
        scope.push(path_param("namespace", "object name and auth scope, such as for teams and projects"));
    }
    let mut named = vec![path_param("name", &format!("name of the {}", r.kind))];
    named.extend(scope.iter().cloned());
    let collection = json!({
        "parameters": scope,
        "get": op("list", "list", json!({})),
        "post": op("post", "create", json!({"parameters": write_params, "requestBody": body(&["application/json", "application/yaml"])})),
    });
    let single = json!({
        "parameters": named,
        "get": op("get", "read", json!({})),
        "put": op("put", "replace", json!({"parameters": write_params, "requestBody": body(&["application/json", "application/yaml"])})),
        "patch": op("patch", "patch", json!({"parameters": patch_params, "requestBody": body(&["application/json-patch+json", "application/merge-patch+json", "application/apply-patch+yaml"])})),
        "delete": op("delete", "delete", json!({})),
    });
    (coll, collection, item, single)
}

/// The OpenAPI v3 document of one group-version as served in a cluster.
pub fn group_version_document(group: &str, version: &str, served: &[ResourceInfo]) -> Value {
    let mut paths = Map::new();
    let mut schemas = Map::new();
    let mut roots = vec![OBJECT_META.to_string()];
    for r in served.iter().filter(|r| r.group == group && r.version == version) {
        let def = if r.custom {
            let name = crd_def_name(r);
            schemas.insert(name.clone(), crd_schema(r));
            name
        } else {
            match BUILTINS.kinds.get(&(r.group.clone(), r.version.clone(), r.kind.clone())) {
                Some(n) => {
                    roots.push(n.clone());
                    n.clone()
                }
                None => continue,
            }
        };
        let (coll, c, item, i) = operations(r, &def);
        paths.insert(coll, c);
        paths.insert(item, i);
    }
    for name in closure(roots, &BUILTINS.defs) {
        if let Some(d) = BUILTINS.defs.get(&name) {
            schemas.insert(name, d.clone());
        }
    }
    let title = if group.is_empty() { format!("Kubernetes {version}") } else { format!("{group} {version}") };
    json!({"openapi": "3.0.0", "info": {"title": title, "version": "v1.32.0"}, "paths": paths, "components": {"schemas": schemas}})
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::builtin::builtins;

    fn served() -> Vec<ResourceInfo> {
        builtins().iter().map(|b| b.info.clone()).collect()
    }

    #[test]
    fn builtin_kinds_have_schemas() {
        for b in builtins() {
            let s = builtin_schema(&b.info.group, &b.info.version, &b.info.kind);
            assert!(s.is_some(), "{}", b.info.kind);
        }
        let cm = builtin_schema("", "v1", "ConfigMap").expect("configmap");
        assert!(cm["properties"]["metadata"]["properties"]["labels"].is_object());
        assert!(cm["description"].as_str().is_some_and(|d| d.contains("ConfigMap")));
    }

    #[test]
    fn gv_document_declares_field_validation() {
        let doc = group_version_document("", "v1", &served());
        let patch = &doc["paths"]["/api/v1/namespaces/{namespace}/configmaps/{name}"]["patch"];
        assert_eq!(patch["x-kubernetes-group-version-kind"]["kind"], "ConfigMap");
        assert!(patch["parameters"].as_array().expect("params").iter().any(|p| p["name"] == "fieldValidation"));
        assert!(patch["requestBody"]["content"].get("application/strategic-merge-patch+json").is_none());
        let cm = &doc["components"]["schemas"]["io.k8s.api.core.v1.ConfigMap"];
        assert_eq!(cm["x-kubernetes-group-version-kind"][0]["kind"], "ConfigMap");
        assert!(doc["components"]["schemas"][OBJECT_META].is_object());
        assert!(doc["paths"]["/api/v1/namespaces/{name}"]["patch"].is_object());
    }
}
