//! Decodes the protobuf bodies kubectl 1.32's typed commands send (`create namespace|configmap|
//! secret|…`, `auth can-i`, `auth whoami`) into the JSON the rest of the server works with.
//!
//! The body is the 4-byte magic `k8s\0` followed by a `runtime.Unknown` whose `raw` holds the
//! typed message. kubectl's proto2 encoding sets every optional field, so empty strings, zeros
//! and empty collections are dropped here: the JSON looks as if the client had sent JSON.

use std::collections::BTreeMap;

use base64::Engine;
use k8s_pb::api::{authentication::v1 as authn, authorization::v1 as authz, coordination::v1 as coord, core::v1 as core, rbac::v1 as rbac};
use k8s_pb::apimachinery::pkg::apis::meta::v1 as meta;
use prost::Message;
use serde_json::{json, Map, Value};

const MAGIC: &[u8] = b"k8s\0";

/// Why a protobuf body could not be decoded.
#[derive(Debug, thiserror::Error)]
pub enum ProtoError {
    #[error("the protobuf body of kind {kind:?} in {api_version:?} is not supported by this server; send it as application/json")]
    UnsupportedKind { api_version: String, kind: String },
    #[error("malformed protobuf body: {0}")]
    Malformed(String),
}

/// True for `application/vnd.kubernetes.protobuf` (with or without parameters).
pub fn is_protobuf(content_type: &str) -> bool {
    content_type.split(';').next().is_some_and(|m| m.trim().eq_ignore_ascii_case("application/vnd.kubernetes.protobuf"))
}

/// A JSON object builder that skips empty values, as JSON clients leave them out.
#[derive(Default)]
struct Obj(Map<String, Value>);

impl Obj {
    fn set(mut self, key: &str, v: Value) -> Self {
        let empty = match &v {
            Value::Null => true,
            Value::String(s) => s.is_empty(),
            Value::Array(a) => a.is_empty(),
            Value::Object(o) => o.is_empty(),
            _ => false,
        };
        if !empty {
            self.0.insert(key.to_string(), v);
        }
        self
    }
    fn s(self, key: &str, v: &Option<String>) -> Self {
        self.set(key, json!(v.clone().unwrap_or_default()))
    }
    fn done(self) -> Value {
        Value::Object(self.0)
    }
}

fn strs(v: &[String]) -> Value {
    json!(v)
}

fn time(t: &Option<meta::Time>) -> Value {
    match t.as_ref().and_then(|t| t.seconds).filter(|s| *s > 0) {
        Some(secs) => jiff::Timestamp::from_second(secs).map(|t| json!(t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string())).unwrap_or(Value::Null),
        None => Value::Null,
    }
}

fn object_meta(m: &Option<meta::ObjectMeta>) -> Value {
    let Some(m) = m else { return json!({}) };
    let owners: Vec<Value> = m
        .owner_references
        .iter()
        .map(|o| {
            let mut r = Obj::default().s("apiVersion", &o.api_version).s("kind", &o.kind).s("name", &o.name).s("uid", &o.uid);
            if let Some(c) = o.controller {
                r = r.set("controller", json!(c));
            }
            if let Some(b) = o.block_owner_deletion {
                r = r.set("blockOwnerDeletion", json!(b));
            }
            r.done()
        })
        .collect();
    Obj::default()
        .s("name", &m.name)
        .s("generateName", &m.generate_name)
        .s("namespace", &m.namespace)
        .s("resourceVersion", &m.resource_version)
        .s("uid", &m.uid)
        .set("creationTimestamp", time(&m.creation_timestamp))
        .set("labels", json!(m.labels))
        .set("annotations", json!(m.annotations))
        .set("finalizers", strs(&m.finalizers))
        .set("ownerReferences", json!(owners))
        .done()
}

fn head(api_version: &str, kind: &str, m: &Option<meta::ObjectMeta>) -> Obj {
    Obj::default().set("apiVersion", json!(api_version)).set("kind", json!(kind)).set("metadata", object_meta(m))
}

fn b64_map(m: &BTreeMap<String, Vec<u8>>) -> Value {
    let e = base64::engine::general_purpose::STANDARD;
    Value::Object(m.iter().map(|(k, v)| (k.clone(), json!(e.encode(v)))).collect())
}

fn quantities(m: &BTreeMap<String, k8s_pb::apimachinery::pkg::api::resource::Quantity>) -> Value {
    Value::Object(m.iter().map(|(k, q)| (k.clone(), json!(q.string.clone().unwrap_or_default()))).collect())
}

fn rules(rs: &[rbac::PolicyRule]) -> Value {
    Value::Array(
        rs.iter()
            .map(|r| {
                Obj::default()
                    .set("verbs", strs(&r.verbs))
                    .set("apiGroups", strs(&r.api_groups))
                    .set("resources", strs(&r.resources))
                    .set("resourceNames", strs(&r.resource_names))
                    .set("nonResourceURLs", strs(&r.non_resource_ur_ls))
                    .done()
            })
            .collect(),
    )
}

fn binding(api_version: &str, kind: &str, m: &Option<meta::ObjectMeta>, subjects: &[rbac::Subject], role_ref: &Option<rbac::RoleRef>) -> Value {
    let subjects: Vec<Value> = subjects
        .iter()
        .map(|s| Obj::default().s("kind", &s.kind).s("apiGroup", &s.api_group).s("name", &s.name).s("namespace", &s.namespace).done())
        .collect();
    let role_ref = role_ref.as_ref().map(|r| Obj::default().s("apiGroup", &r.api_group).s("kind", &r.kind).s("name", &r.name).done());
    head(api_version, kind, m).set("subjects", json!(subjects)).set("roleRef", role_ref.unwrap_or(Value::Null)).done()
}

fn resource_attributes(a: &Option<authz::ResourceAttributes>) -> Value {
    a.as_ref().map_or(Value::Null, |a| {
        Obj::default()
            .s("namespace", &a.namespace)
            .s("verb", &a.verb)
            .s("group", &a.group)
            .s("version", &a.version)
            .s("resource", &a.resource)
            .s("subresource", &a.subresource)
            .s("name", &a.name)
            .done()
    })
}

fn non_resource_attributes(a: &Option<authz::NonResourceAttributes>) -> Value {
    a.as_ref().map_or(Value::Null, |a| Obj::default().s("path", &a.path).s("verb", &a.verb).done())
}

fn msg<M: Message + Default>(raw: &[u8]) -> Result<M, ProtoError> {
    M::decode(raw).map_err(|e| ProtoError::Malformed(e.to_string()))
}

/// Decodes a kubectl protobuf body into Kubernetes JSON.
pub fn decode(body: &[u8]) -> Result<Value, ProtoError> {
    let rest = body.strip_prefix(MAGIC).ok_or_else(|| ProtoError::Malformed("missing the k8s\\0 prefix".into()))?;
    let unknown = k8s_pb::apimachinery::pkg::runtime::Unknown::decode(rest).map_err(|e| ProtoError::Malformed(e.to_string()))?;
    let tm = unknown.type_meta.unwrap_or_default();
    let (av, kind) = (tm.api_version.unwrap_or_default(), tm.kind.unwrap_or_default());
    let raw = unknown.raw.unwrap_or_default();
    let out = match (av.as_str(), kind.as_str()) {
        ("v1", "Namespace") => {
            let m: core::Namespace = msg(&raw)?;
            let spec = m.spec.map(|s| Obj::default().set("finalizers", strs(&s.finalizers)).done());
            head(&av, &kind, &m.metadata).set("spec", spec.unwrap_or(Value::Null)).done()
        }
        ("v1", "ConfigMap") => {
            let m: core::ConfigMap = msg(&raw)?;
            head(&av, &kind, &m.metadata).set("data", json!(m.data)).set("binaryData", b64_map(&m.binary_data)).set("immutable", json!(m.immutable)).done()
        }
        ("v1", "Secret") => {
            let m: core::Secret = msg(&raw)?;
            head(&av, &kind, &m.metadata)
                .set("data", b64_map(&m.data))
                .set("stringData", json!(m.string_data))
                .s("type", &m.r#type)
                .set("immutable", json!(m.immutable))
                .done()
        }
        ("v1", "ServiceAccount") => {
            let m: core::ServiceAccount = msg(&raw)?;
            let secrets: Vec<Value> = m.secrets.iter().map(|s| Obj::default().s("name", &s.name).s("namespace", &s.namespace).done()).collect();
            let pulls: Vec<Value> = m.image_pull_secrets.iter().map(|s| Obj::default().s("name", &s.name).done()).collect();
            head(&av, &kind, &m.metadata)
                .set("secrets", json!(secrets))
                .set("imagePullSecrets", json!(pulls))
                .set("automountServiceAccountToken", json!(m.automount_service_account_token))
                .done()
        }
        ("v1", "ResourceQuota") => {
            let m: core::ResourceQuota = msg(&raw)?;
            let spec = m.spec.map(|s| Obj::default().set("hard", quantities(&s.hard)).set("scopes", strs(&s.scopes)).done());
            head(&av, &kind, &m.metadata).set("spec", spec.unwrap_or(Value::Null)).done()
        }
        ("rbac.authorization.k8s.io/v1", "Role") => {
            let m: rbac::Role = msg(&raw)?;
            head(&av, &kind, &m.metadata).set("rules", rules(&m.rules)).done()
        }
        ("rbac.authorization.k8s.io/v1", "ClusterRole") => {
            let m: rbac::ClusterRole = msg(&raw)?;
            let agg = m.aggregation_rule.map(|a| {
                let sels: Vec<Value> = a
                    .cluster_role_selectors
                    .iter()
                    .map(|s| Obj::default().set("matchLabels", json!(s.match_labels)).done())
                    .collect();
                Obj::default().set("clusterRoleSelectors", json!(sels)).done()
            });
            head(&av, &kind, &m.metadata).set("rules", rules(&m.rules)).set("aggregationRule", agg.unwrap_or(Value::Null)).done()
        }
        ("rbac.authorization.k8s.io/v1", "RoleBinding") => {
            let m: rbac::RoleBinding = msg(&raw)?;
            binding(&av, &kind, &m.metadata, &m.subjects, &m.role_ref)
        }
        ("rbac.authorization.k8s.io/v1", "ClusterRoleBinding") => {
            let m: rbac::ClusterRoleBinding = msg(&raw)?;
            binding(&av, &kind, &m.metadata, &m.subjects, &m.role_ref)
        }
        ("coordination.k8s.io/v1", "Lease") => {
            let m: coord::Lease = msg(&raw)?;
            let spec = m.spec.map(|s| {
                Obj::default().s("holderIdentity", &s.holder_identity).set("leaseDurationSeconds", json!(s.lease_duration_seconds)).done()
            });
            head(&av, &kind, &m.metadata).set("spec", spec.unwrap_or(Value::Null)).done()
        }
        ("authorization.k8s.io/v1", "SelfSubjectAccessReview") => {
            let m: authz::SelfSubjectAccessReview = msg(&raw)?;
            let spec = m.spec.unwrap_or_default();
            let spec = Obj::default()
                .set("resourceAttributes", resource_attributes(&spec.resource_attributes))
                .set("nonResourceAttributes", non_resource_attributes(&spec.non_resource_attributes))
                .done();
            head(&av, &kind, &m.metadata).set("spec", spec).done()
        }
        ("authorization.k8s.io/v1", "SubjectAccessReview" | "LocalSubjectAccessReview") => {
            let (metadata, spec) = if kind == "SubjectAccessReview" {
                let m: authz::SubjectAccessReview = msg(&raw)?;
                (m.metadata, m.spec)
            } else {
                let m: authz::LocalSubjectAccessReview = msg(&raw)?;
                (m.metadata, m.spec)
            };
            let spec = spec.unwrap_or_default();
            let extra: BTreeMap<&String, &Vec<String>> = spec.extra.iter().map(|(k, v)| (k, &v.items)).collect();
            let spec = Obj::default()
                .set("resourceAttributes", resource_attributes(&spec.resource_attributes))
                .set("nonResourceAttributes", non_resource_attributes(&spec.non_resource_attributes))
                .s("user", &spec.user)
                .set("groups", strs(&spec.groups))
                .set("extra", json!(extra))
                .s("uid", &spec.uid)
                .done();
            head(&av, &kind, &metadata).set("spec", spec).done()
        }
        ("authorization.k8s.io/v1", "SelfSubjectRulesReview") => {
            let m: authz::SelfSubjectRulesReview = msg(&raw)?;
            let spec = Obj::default().s("namespace", &m.spec.unwrap_or_default().namespace).done();
            head(&av, &kind, &m.metadata).set("spec", spec).done()
        }
        ("authentication.k8s.io/v1", "SelfSubjectReview") => {
            let m: authn::SelfSubjectReview = msg(&raw)?;
            head(&av, &kind, &m.metadata).done()
        }
        ("authentication.k8s.io/v1", "TokenReview") => {
            let m: authn::TokenReview = msg(&raw)?;
            let spec = m.spec.unwrap_or_default();
            let spec = Obj::default().s("token", &spec.token).set("audiences", strs(&spec.audiences)).done();
            head(&av, &kind, &m.metadata).set("spec", spec).done()
        }
        _ => return Err(ProtoError::UnsupportedKind { api_version: av, kind }),
    };
    let mut out = out;
    if out.get("metadata").is_none() {
        out["metadata"] = json!({});
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn envelope(api_version: &str, kind: &str, raw: Vec<u8>) -> Vec<u8> {
        let u = k8s_pb::apimachinery::pkg::runtime::Unknown {
            type_meta: Some(k8s_pb::apimachinery::pkg::runtime::TypeMeta { api_version: Some(api_version.into()), kind: Some(kind.into()) }),
            raw: Some(raw),
            content_encoding: Some(String::new()),
            content_type: Some(String::new()),
        };
        let mut out = MAGIC.to_vec();
        out.extend(u.encode_to_vec());
        out
    }

    fn meta(name: &str) -> Option<meta::ObjectMeta> {
        Some(meta::ObjectMeta {
            name: Some(name.into()),
            generate_name: Some(String::new()),
            namespace: Some(String::new()),
            generation: Some(0),
            creation_timestamp: Some(meta::Time { seconds: Some(0), nanos: Some(0) }),
            ..Default::default()
        })
    }

    #[test]
    fn namespace_drops_proto2_defaults() {
        let ns = core::Namespace { metadata: meta("foo"), spec: Some(core::NamespaceSpec { finalizers: vec![] }), status: None };
        let v = decode(&envelope("v1", "Namespace", ns.encode_to_vec())).expect("decodes");
        assert_eq!(v, json!({"apiVersion":"v1","kind":"Namespace","metadata":{"name":"foo"}}));
    }

    #[test]
    fn secret_bytes_become_base64() {
        let mut data = BTreeMap::new();
        data.insert("k".to_string(), b"hi".to_vec());
        let s = core::Secret { metadata: meta("s"), data, r#type: Some("Opaque".into()), ..Default::default() };
        let v = decode(&envelope("v1", "Secret", s.encode_to_vec())).expect("decodes");
        assert_eq!(v["data"]["k"], "aGk=");
        assert_eq!(v["type"], "Opaque");
    }

    #[test]
    fn access_review_shape() {
        let r = authz::SelfSubjectAccessReview {
            metadata: meta(""),
            spec: Some(authz::SelfSubjectAccessReviewSpec {
                resource_attributes: Some(authz::ResourceAttributes {
                    namespace: Some("default".into()),
                    verb: Some("create".into()),
                    group: Some(String::new()),
                    version: Some(String::new()),
                    resource: Some("configmaps".into()),
                    subresource: Some(String::new()),
                    name: Some(String::new()),
                    ..Default::default()
                }),
                non_resource_attributes: None,
            }),
            status: None,
        };
        let v = decode(&envelope("authorization.k8s.io/v1", "SelfSubjectAccessReview", r.encode_to_vec())).expect("decodes");
        assert_eq!(v["spec"], json!({"resourceAttributes":{"namespace":"default","verb":"create","resource":"configmaps"}}));
    }

    #[test]
    fn errors() {
        assert!(matches!(decode(b"nope"), Err(ProtoError::Malformed(_))));
        assert!(matches!(decode(&envelope("apps/v1", "Deployment", vec![])), Err(ProtoError::UnsupportedKind { .. })));
        assert!(is_protobuf("application/vnd.kubernetes.protobuf"));
        assert!(!is_protobuf("application/json"));
    }
}
