//! Converters for the review kinds of `authorization.k8s.io/v1` and `authentication.k8s.io/v1`
//! (`auth can-i`, `auth can-i --list`, `auth whoami`, token review and `create token`). They are
//! never stored: the server reads the spec and answers with a status. The three access reviews
//! share their attributes and status, so only their specs differ.

use std::collections::BTreeMap;

use k8s_pb::api::authentication::v1::{SelfSubjectReview, TokenRequest, TokenRequestSpec, TokenRequestStatus, TokenReview, UserInfo};
use k8s_pb::api::authorization::v1::{
    LocalSubjectAccessReview, NonResourceAttributes, ResourceAttributes, SelfSubjectAccessReview, SelfSubjectRulesReview, SubjectAccessReview,
    SubjectAccessReviewSpec, SubjectAccessReviewStatus, SubjectRulesReviewStatus,
};
use k8s_pb::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use super::json::{all, requirement, Obj};

pub(crate) fn self_subject_access_review(r: SelfSubjectAccessReview) -> Obj {
    let spec = r.spec.map(|s| attributes(s.resource_attributes, s.non_resource_attributes));
    access_review(r.metadata, spec, r.status)
}

pub(crate) fn subject_access_review(r: SubjectAccessReview) -> Obj {
    access_review(r.metadata, r.spec.map(subject_access_review_spec), r.status)
}

pub(crate) fn local_subject_access_review(r: LocalSubjectAccessReview) -> Obj {
    access_review(r.metadata, r.spec.map(subject_access_review_spec), r.status)
}

fn access_review(meta: Option<ObjectMeta>, spec: Option<Obj>, status: Option<SubjectAccessReviewStatus>) -> Obj {
    let status = status
        .map(|s| Obj::default().always("allowed", s.allowed).omit("denied", s.denied).omit("reason", s.reason).omit("evaluationError", s.evaluation_error));
    Obj::object(meta).always("spec", spec).omit("status", status)
}

fn subject_access_review_spec(s: SubjectAccessReviewSpec) -> Obj {
    attributes(s.resource_attributes, s.non_resource_attributes)
        .omit("user", s.user)
        .omit("groups", s.groups)
        .omit("extra", extra(s.extra, |e| e.items))
        .omit("uid", s.uid)
}

fn attributes(resource: Option<ResourceAttributes>, non_resource: Option<NonResourceAttributes>) -> Obj {
    Obj::default()
        .keep("resourceAttributes", resource.map(resource_attributes))
        .keep("nonResourceAttributes", non_resource.map(|n| Obj::default().omit("path", n.path).omit("verb", n.verb)))
}

fn resource_attributes(a: ResourceAttributes) -> Obj {
    let fields = a.field_selector.map(|f| {
        let reqs = all(f.requirements, |r| requirement("key", r.key, r.operator, r.values));
        selector_attributes(f.raw_selector, reqs)
    });
    let labels = a.label_selector.map(|l| {
        let reqs = all(l.requirements, |r| requirement("key", r.key, r.operator, r.values));
        selector_attributes(l.raw_selector, reqs)
    });
    Obj::default()
        .omit("namespace", a.namespace)
        .omit("verb", a.verb)
        .omit("group", a.group)
        .omit("version", a.version)
        .omit("resource", a.resource)
        .omit("subresource", a.subresource)
        .omit("name", a.name)
        .keep("fieldSelector", fields)
        .keep("labelSelector", labels)
}

/// Field and label selector attributes differ only in their requirement message type.
fn selector_attributes(raw: Option<String>, requirements: Vec<Obj>) -> Obj {
    Obj::default().omit("rawSelector", raw).omit("requirements", requirements)
}

pub(crate) fn self_subject_rules_review(r: SelfSubjectRulesReview) -> Obj {
    let spec = r.spec.map(|s| Obj::default().omit("namespace", s.namespace));
    Obj::object(r.metadata).always("spec", spec).omit("status", r.status.map(rules_status))
}

fn rules_status(s: SubjectRulesReviewStatus) -> Obj {
    let resource_rules = all(s.resource_rules, |r| {
        Obj::default().always("verbs", r.verbs).omit("apiGroups", r.api_groups).omit("resources", r.resources).omit("resourceNames", r.resource_names)
    });
    let non_resource_rules = all(s.non_resource_rules, |r| Obj::default().always("verbs", r.verbs).omit("nonResourceURLs", r.non_resource_ur_ls));
    Obj::default()
        .always("resourceRules", resource_rules)
        .always("nonResourceRules", non_resource_rules)
        .always("incomplete", s.incomplete)
        .omit("evaluationError", s.evaluation_error)
}

pub(crate) fn self_subject_review(r: SelfSubjectReview) -> Obj {
    let status = r.status.map(|s| Obj::default().omit("userInfo", s.user_info.map(user_info)));
    Obj::object(r.metadata).omit("status", status)
}

fn user_info(u: UserInfo) -> Obj {
    Obj::default().omit("username", u.username).omit("uid", u.uid).omit("groups", u.groups).omit("extra", extra(u.extra, |e| e.items))
}

/// `map[string]ExtraValue`; each API group has its own ExtraValue message around a string list.
fn extra<E>(map: BTreeMap<String, E>, items: fn(E) -> Vec<String>) -> BTreeMap<String, Vec<String>> {
    map.into_iter().map(|(k, v)| (k, items(v))).collect()
}

pub(crate) fn token_review(r: TokenReview) -> Obj {
    let spec = r.spec.map(|s| Obj::default().omit("token", s.token).omit("audiences", s.audiences));
    let status = r.status.map(|s| {
        Obj::default().omit("authenticated", s.authenticated).omit("user", s.user.map(user_info)).omit("audiences", s.audiences).omit("error", s.error)
    });
    Obj::object(r.metadata).always("spec", spec).omit("status", status)
}

pub(crate) fn token_request(r: TokenRequest) -> Obj {
    Obj::object(r.metadata).always("spec", r.spec.map(token_request_spec)).omit("status", r.status.map(token_request_status))
}

fn token_request_spec(s: TokenRequestSpec) -> Obj {
    let bound = s.bound_object_ref.map(|b| Obj::default().omit("kind", b.kind).omit("apiVersion", b.api_version).omit("name", b.name).omit("uid", b.u_id));
    Obj::default().always("audiences", s.audiences).keep("expirationSeconds", s.expiration_seconds).keep("boundObjectRef", bound)
}

fn token_request_status(s: TokenRequestStatus) -> Obj {
    Obj::default().always("token", s.token).always("expirationTimestamp", s.expiration_timestamp)
}
