use std::collections::BTreeMap;

use k8s_pb::api::authentication::v1 as authn;
use k8s_pb::api::authorization::v1 as authz;
use k8s_pb::api::coordination::v1 as coordination;
use k8s_pb::api::core::v1 as corev1;
use k8s_pb::api::rbac::v1 as rbacv1;
use k8s_pb::apimachinery::pkg::api::resource::Quantity;
use k8s_pb::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta, OwnerReference, Time};
use k8s_pb::apimachinery::pkg::runtime::{TypeMeta, Unknown};
use prost::Message;
use serde_json::{json, Value};

use super::decode_protobuf as decode;
use crate::protobuf::{is_protobuf, ProtoError, MAGIC};
use crate::status::ApiError;

fn s(v: &str) -> Option<String> {
    Some(v.to_owned())
}

fn strings(v: &[&str]) -> Vec<String> {
    v.iter().map(|x| (*x).to_owned()).collect()
}

/// Wraps a message the way kubectl does: magic, then an Unknown with empty encoding and type.
fn envelope(api_version: &str, kind: &str, message: &impl Message) -> Vec<u8> {
    let unknown = Unknown {
        type_meta: Some(TypeMeta { api_version: s(api_version), kind: s(kind) }),
        raw: Some(message.encode_to_vec()),
        content_encoding: s(""),
        content_type: s(""),
    };
    let mut body = MAGIC.to_vec();
    body.extend(unknown.encode_to_vec());
    body
}

fn roundtrip(api_version: &str, kind: &str, message: &impl Message) -> Value {
    match decode(&envelope(api_version, kind, message)) {
        Ok(v) => v,
        Err(e) => panic!("decoding {kind}: {e}"),
    }
}

/// ObjectMeta as Go's proto2 marshaller sends it for an object with only a name: every value
/// field present and empty, the zero creationTimestamp as an empty message.
fn proto2_meta(name: &str) -> ObjectMeta {
    ObjectMeta {
        name: s(name),
        generate_name: s(""),
        namespace: s(""),
        self_link: s(""),
        uid: s(""),
        resource_version: s(""),
        generation: Some(0),
        creation_timestamp: Some(Time::default()),
        ..Default::default()
    }
}

#[test]
fn decodes_the_namespace_body_kubectl_sends() {
    // The exact bytes of `kubectl create namespace foo` (kubectl-wire.md §5.2).
    let mut body = b"k8s\0\x0a\x0f\x0a\x02v1\x12\x09Namespace\x12\x1b".to_vec();
    body.extend(b"\x0a\x13\x0a\x03foo\x12\x00\x1a\x00\x22\x00\x2a\x00\x32\x00\x38\x00\x42\x00");
    body.extend(b"\x12\x00\x1a\x02\x0a\x00");
    body.extend(b"\x1a\x00\x22\x00");
    let got = decode(&body).expect("kubectl's namespace body decodes");
    assert_eq!(got, json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "foo"}}));
    let keys: Vec<&str> = got.as_object().map(|o| o.keys().map(String::as_str).collect()).unwrap_or_default();
    assert_eq!(keys, ["apiVersion", "kind", "metadata"]);
}

#[test]
fn object_meta_drops_proto2_zero_values_and_keeps_set_ones() {
    let owner =
        OwnerReference { api_version: s("v1"), kind: s("ConfigMap"), name: s("owner"), uid: s("u-1"), controller: Some(false), block_owner_deletion: None };
    let cases: Vec<(&str, ObjectMeta, Value)> = vec![
        ("every field sent empty", proto2_meta("a"), json!({"name": "a"})),
        ("nothing sent", ObjectMeta::default(), json!({})),
        (
            "maps, lists and times",
            ObjectMeta {
                namespace: s("default"),
                generation: Some(3),
                creation_timestamp: Some(Time { seconds: Some(1_795_158_331), nanos: Some(5) }),
                deletion_grace_period_seconds: Some(0),
                labels: BTreeMap::from([("app".into(), "web".into())]),
                annotations: BTreeMap::from([("note".into(), "".into())]),
                owner_references: vec![owner],
                finalizers: strings(&["kubernetes"]),
                ..proto2_meta("b")
            },
            json!({
                "name": "b", "namespace": "default", "generation": 3,
                "creationTimestamp": "2026-11-20T07:05:31Z",
                "deletionGracePeriodSeconds": 0,
                "labels": {"app": "web"}, "annotations": {"note": ""},
                "ownerReferences": [{"apiVersion": "v1", "kind": "ConfigMap", "name": "owner", "uid": "u-1", "controller": false}],
                "finalizers": ["kubernetes"],
            }),
        ),
        (
            "the epoch is a real time",
            ObjectMeta { creation_timestamp: Some(Time { seconds: Some(0), nanos: Some(0) }), ..Default::default() },
            json!({"creationTimestamp": "1970-01-01T00:00:00Z"}),
        ),
    ];
    for (name, meta, want) in cases {
        let ns = corev1::Namespace { metadata: Some(meta), ..Default::default() };
        assert_eq!(roundtrip("v1", "Namespace", &ns)["metadata"], want, "{name}");
    }
}

#[test]
fn secret_and_config_map_data() {
    let secret = corev1::Secret {
        metadata: Some(proto2_meta("creds")),
        immutable: Some(false),
        data: BTreeMap::from([("password".into(), b"s3cr\xffet".to_vec()), ("empty".into(), vec![])]),
        string_data: BTreeMap::new(),
        r#type: s("Opaque"),
    };
    assert_eq!(
        roundtrip("v1", "Secret", &secret),
        json!({
            "apiVersion": "v1", "kind": "Secret", "metadata": {"name": "creds"},
            "immutable": false, "data": {"empty": "", "password": "czNjcv9ldA=="}, "type": "Opaque",
        })
    );
    let config_map = corev1::ConfigMap {
        metadata: Some(proto2_meta("cfg")),
        immutable: None,
        data: BTreeMap::from([("k".into(), "v".into())]),
        binary_data: BTreeMap::from([("b".into(), vec![0, 1])]),
    };
    assert_eq!(
        roundtrip("v1", "ConfigMap", &config_map),
        json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cfg"}, "data": {"k": "v"}, "binaryData": {"b": "AAE="}})
    );
}

#[test]
fn service_account_quota_and_limit_range() {
    let sa = corev1::ServiceAccount {
        metadata: Some(proto2_meta("bot")),
        secrets: vec![],
        image_pull_secrets: vec![corev1::LocalObjectReference { name: s("pull") }],
        automount_service_account_token: None,
    };
    assert_eq!(roundtrip("v1", "ServiceAccount", &sa)["imagePullSecrets"], json!([{"name": "pull"}]));

    let quantity = |q: &str| Quantity { string: s(q) };
    let quota = corev1::ResourceQuota {
        metadata: Some(proto2_meta("q")),
        spec: Some(corev1::ResourceQuotaSpec {
            hard: BTreeMap::from([("pods".into(), quantity("10")), ("requests.cpu".into(), quantity("500m"))]),
            scopes: vec![],
            scope_selector: None,
        }),
        status: Some(corev1::ResourceQuotaStatus::default()),
    };
    let got = roundtrip("v1", "ResourceQuota", &quota);
    assert_eq!(got["spec"], json!({"hard": {"pods": "10", "requests.cpu": "500m"}}));
    assert!(got.get("status").is_none(), "an empty status is omitted: {got}");

    let limits = corev1::LimitRange {
        metadata: Some(proto2_meta("lr")),
        spec: Some(corev1::LimitRangeSpec {
            limits: vec![corev1::LimitRangeItem { r#type: s("Container"), max: BTreeMap::from([("memory".into(), quantity("1Gi"))]), ..Default::default() }],
        }),
    };
    assert_eq!(roundtrip("v1", "LimitRange", &limits)["spec"], json!({"limits": [{"type": "Container", "max": {"memory": "1Gi"}}]}));
}

#[test]
fn event_times_and_required_fields() {
    let event = corev1::Event {
        metadata: Some(proto2_meta("e")),
        involved_object: Some(corev1::ObjectReference { kind: s("Pod"), name: s("p1"), namespace: s(""), ..Default::default() }),
        reason: s("Started"),
        first_timestamp: Some(Time::default()),
        count: Some(0),
        event_time: Some(MicroTime { seconds: Some(1_795_158_331), nanos: Some(123_456_789) }),
        reporting_component: s(""),
        ..Default::default()
    };
    assert_eq!(
        roundtrip("v1", "Event", &event),
        json!({
            "apiVersion": "v1", "kind": "Event", "metadata": {"name": "e"},
            "involvedObject": {"kind": "Pod", "name": "p1"}, "reason": "Started",
            "eventTime": "2026-11-20T07:05:31.123456Z", "reportingComponent": "", "reportingInstance": "",
        })
    );
}

#[test]
fn lease_keeps_pointer_fields_even_when_zero() {
    let lease = coordination::Lease {
        metadata: Some(proto2_meta("l")),
        spec: Some(coordination::LeaseSpec {
            holder_identity: s(""),
            lease_duration_seconds: Some(0),
            renew_time: Some(MicroTime { seconds: Some(60), nanos: None }),
            ..Default::default()
        }),
    };
    assert_eq!(
        roundtrip("coordination.k8s.io/v1", "Lease", &lease)["spec"],
        json!({"holderIdentity": "", "leaseDurationSeconds": 0, "renewTime": "1970-01-01T00:01:00.000000Z"})
    );
}

#[test]
fn rbac_kinds() {
    let rule = rbacv1::PolicyRule {
        verbs: strings(&["get", "list"]),
        api_groups: strings(&[""]),
        resources: strings(&["configmaps"]),
        resource_names: vec![],
        non_resource_ur_ls: vec![],
    };
    let role = rbacv1::Role { metadata: Some(proto2_meta("reader")), rules: vec![rule] };
    assert_eq!(
        roundtrip("rbac.authorization.k8s.io/v1", "Role", &role),
        json!({
            "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role", "metadata": {"name": "reader"},
            "rules": [{"verbs": ["get", "list"], "apiGroups": [""], "resources": ["configmaps"]}],
        })
    );
    let empty_role = rbacv1::ClusterRole { metadata: Some(proto2_meta("none")), ..Default::default() };
    assert_eq!(roundtrip("rbac.authorization.k8s.io/v1", "ClusterRole", &empty_role)["rules"], json!([]));

    let binding = rbacv1::ClusterRoleBinding {
        metadata: Some(proto2_meta("admins")),
        subjects: vec![
            rbacv1::Subject { kind: s("User"), api_group: s("rbac.authorization.k8s.io"), name: s("alice"), namespace: s("") },
            rbacv1::Subject { kind: s("ServiceAccount"), api_group: s(""), name: s("bot"), namespace: s("default") },
        ],
        role_ref: Some(rbacv1::RoleRef { api_group: s("rbac.authorization.k8s.io"), kind: s("ClusterRole"), name: s("admin") }),
    };
    assert_eq!(
        roundtrip("rbac.authorization.k8s.io/v1", "ClusterRoleBinding", &binding),
        json!({
            "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding", "metadata": {"name": "admins"},
            "subjects": [
                {"kind": "User", "apiGroup": "rbac.authorization.k8s.io", "name": "alice"},
                {"kind": "ServiceAccount", "name": "bot", "namespace": "default"},
            ],
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "admin"},
        })
    );
}

#[test]
fn self_subject_access_review_as_can_i_sends_it() {
    let attrs = authz::ResourceAttributes {
        namespace: s("default"),
        verb: s("create"),
        group: s(""),
        version: s(""),
        resource: s("configmaps"),
        subresource: s(""),
        name: s(""),
        field_selector: None,
        label_selector: None,
    };
    let review = authz::SelfSubjectAccessReview {
        metadata: Some(ObjectMeta { creation_timestamp: Some(Time::default()), ..Default::default() }),
        spec: Some(authz::SelfSubjectAccessReviewSpec { resource_attributes: Some(attrs), non_resource_attributes: None }),
        status: Some(authz::SubjectAccessReviewStatus { allowed: Some(false), denied: None, reason: s(""), evaluation_error: s("") }),
    };
    let got = roundtrip("authorization.k8s.io/v1", "SelfSubjectAccessReview", &review);
    assert_eq!(got["spec"], json!({"resourceAttributes": {"namespace": "default", "verb": "create", "resource": "configmaps"}}));
    assert_eq!(got["metadata"], json!({}));
    assert_eq!(got["status"], json!({"allowed": false}));

    let non_resource = authz::SelfSubjectAccessReview {
        spec: Some(authz::SelfSubjectAccessReviewSpec {
            resource_attributes: None,
            non_resource_attributes: Some(authz::NonResourceAttributes { path: s("/healthz"), verb: s("get") }),
        }),
        ..Default::default()
    };
    assert_eq!(
        roundtrip("authorization.k8s.io/v1", "SelfSubjectAccessReview", &non_resource)["spec"],
        json!({"nonResourceAttributes": {"path": "/healthz", "verb": "get"}})
    );
}

#[test]
fn subject_access_reviews_carry_user_and_selectors() {
    let spec = authz::SubjectAccessReviewSpec {
        resource_attributes: Some(authz::ResourceAttributes {
            verb: s("list"),
            resource: s("pods"),
            label_selector: Some(authz::LabelSelectorAttributes { raw_selector: s("app=web"), requirements: vec![] }),
            ..Default::default()
        }),
        non_resource_attributes: None,
        user: s("alice"),
        groups: strings(&["devs"]),
        extra: BTreeMap::from([("scopes".into(), authz::ExtraValue { items: strings(&["a", "b"]) })]),
        uid: s(""),
    };
    let want = json!({
        "resourceAttributes": {"verb": "list", "resource": "pods", "labelSelector": {"rawSelector": "app=web"}},
        "user": "alice", "groups": ["devs"], "extra": {"scopes": ["a", "b"]},
    });
    let cluster = authz::SubjectAccessReview { spec: Some(spec.clone()), ..Default::default() };
    assert_eq!(roundtrip("authorization.k8s.io/v1", "SubjectAccessReview", &cluster)["spec"], want);
    let local = authz::LocalSubjectAccessReview { spec: Some(spec), ..Default::default() };
    assert_eq!(roundtrip("authorization.k8s.io/v1", "LocalSubjectAccessReview", &local)["spec"], want);
}

#[test]
fn rules_and_identity_reviews() {
    let rules = authz::SelfSubjectRulesReview {
        metadata: Some(ObjectMeta::default()),
        spec: Some(authz::SelfSubjectRulesReviewSpec { namespace: s("default") }),
        status: None,
    };
    assert_eq!(
        roundtrip("authorization.k8s.io/v1", "SelfSubjectRulesReview", &rules),
        json!({"apiVersion": "authorization.k8s.io/v1", "kind": "SelfSubjectRulesReview", "metadata": {}, "spec": {"namespace": "default"}})
    );

    let whoami = authn::SelfSubjectReview {
        metadata: Some(ObjectMeta { creation_timestamp: Some(Time::default()), ..Default::default() }),
        status: Some(authn::SelfSubjectReviewStatus { user_info: Some(authn::UserInfo { username: s(""), uid: s(""), ..Default::default() }) }),
    };
    assert_eq!(
        roundtrip("authentication.k8s.io/v1", "SelfSubjectReview", &whoami),
        json!({"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview", "metadata": {}})
    );

    let token_review = authn::TokenReview {
        spec: Some(authn::TokenReviewSpec { token: s("abc"), audiences: vec![] }),
        status: Some(authn::TokenReviewStatus { authenticated: Some(false), ..Default::default() }),
        ..Default::default()
    };
    let got = roundtrip("authentication.k8s.io/v1", "TokenReview", &token_review);
    assert_eq!(got["spec"], json!({"token": "abc"}));
    assert!(got.get("status").is_none(), "{got}");
}

#[test]
fn token_request_as_create_token_sends_it() {
    let request = authn::TokenRequest {
        metadata: Some(proto2_meta("")),
        spec: Some(authn::TokenRequestSpec { audiences: vec![], expiration_seconds: Some(3600), bound_object_ref: None }),
        status: Some(authn::TokenRequestStatus { token: s(""), expiration_timestamp: Some(Time::default()) }),
    };
    assert_eq!(
        roundtrip("authentication.k8s.io/v1", "TokenRequest", &request),
        json!({
            "apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest", "metadata": {},
            "spec": {"audiences": [], "expirationSeconds": 3600},
            "status": {"token": "", "expirationTimestamp": null},
        })
    );
}

#[test]
fn rejects_bad_envelopes() {
    let ns = corev1::Namespace { metadata: Some(proto2_meta("x")), ..Default::default() };
    let good = envelope("v1", "Namespace", &ns);
    let mut gzipped = Unknown::decode(&good[4..]).expect("our own envelope decodes");
    gzipped.content_encoding = s("gzip");
    let mut missing_kind = gzipped.clone();
    missing_kind.content_encoding = None;
    missing_kind.type_meta = None;
    let rewrap = |u: &Unknown| [MAGIC.as_slice(), &u.encode_to_vec()].concat();
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("json body", br#"{"kind":"Namespace"}"#.to_vec(), "does not appear to be a protobuf message"),
        ("empty body", vec![], "expected prefix [107 56 115 0]"),
        ("truncated envelope", good[..good.len() - 3].to_vec(), "unable to decode protobuf envelope"),
        ("content encoding", rewrap(&gzipped), "unsupported protobuf content encoding \"gzip\""),
        ("no kind", rewrap(&missing_kind), "Object 'Kind' is missing"),
        ("message is not a namespace", envelope("v1", "Namespace", &Unknown { raw: Some(vec![0xff; 3]), ..Default::default() }), "unable to decode Namespace"),
        (
            "time out of range",
            envelope(
                "v1",
                "Namespace",
                &corev1::Namespace {
                    metadata: Some(ObjectMeta { creation_timestamp: Some(Time { seconds: Some(i64::MAX), nanos: None }), ..Default::default() }),
                    ..Default::default()
                },
            ),
            "invalid time",
        ),
    ];
    for (name, body, want) in cases {
        match decode(&body) {
            Err(ProtoError::Malformed(msg)) => assert!(msg.contains(want), "{name}: {msg}"),
            other => panic!("{name}: expected Malformed, got {other:?}"),
        }
        let err = ApiError::from(decode(&body).expect_err(name));
        assert_eq!(err.code(), 400, "{name}");
    }
}

#[test]
fn unknown_kinds_are_unsupported_media() {
    for (api_version, kind) in [("apps/v1", "Deployment"), ("v1", "Pod"), ("rbac.authorization.k8s.io/v1beta1", "Role")] {
        let body = envelope(api_version, kind, &corev1::Namespace::default());
        match decode(&body) {
            Err(ProtoError::UnsupportedKind { api_version: a, kind: k }) => {
                assert_eq!((a.as_str(), k.as_str()), (api_version, kind))
            }
            other => panic!("{kind}: expected UnsupportedKind, got {other:?}"),
        }
        let err = ApiError::from(decode(&body).expect_err(kind));
        assert_eq!(err.code(), 415);
        assert!(err.message.contains(&format!("{api_version}, Kind={kind}")), "{}", err.message);
    }
}

#[test]
fn recognises_the_protobuf_media_type() {
    for (content_type, want) in [
        ("application/vnd.kubernetes.protobuf", true),
        ("Application/VND.Kubernetes.Protobuf; charset=utf-8", true),
        (" application/vnd.kubernetes.protobuf ;x=y", true),
        ("application/json", false),
        ("application/vnd.kubernetes.protobuf+json", false),
        ("", false),
    ] {
        assert_eq!(is_protobuf(content_type), want, "{content_type:?}");
    }
}
