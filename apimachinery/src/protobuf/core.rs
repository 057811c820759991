//! Converters for the core `v1` kinds and `coordination.k8s.io/v1` Lease: stored objects whose
//! shape is metadata plus data or spec/status, one function per kind.

use k8s_pb::api::coordination::v1::Lease;
use k8s_pb::api::core::v1::{
    ConfigMap, Event, LimitRange, LimitRangeItem, LocalObjectReference, Namespace, NamespaceCondition, ObjectReference, ResourceQuota, ResourceQuotaSpec,
    ResourceQuotaStatus, Secret, ServiceAccount,
};

use super::json::{all, byte_map, requirement, Obj};

pub(crate) fn namespace(ns: Namespace) -> Obj {
    let spec = ns.spec.map(|s| Obj::default().omit("finalizers", s.finalizers));
    let status = ns.status.map(|s| Obj::default().omit("phase", s.phase).omit("conditions", all(s.conditions, namespace_condition)));
    Obj::object(ns.metadata).omit("spec", spec).omit("status", status)
}

fn namespace_condition(c: NamespaceCondition) -> Obj {
    Obj::default()
        .always("type", c.r#type)
        .always("status", c.status)
        .omit("lastTransitionTime", c.last_transition_time)
        .omit("reason", c.reason)
        .omit("message", c.message)
}

pub(crate) fn config_map(cm: ConfigMap) -> Obj {
    Obj::object(cm.metadata).keep("immutable", cm.immutable).omit("data", cm.data).omit("binaryData", byte_map(cm.binary_data))
}

pub(crate) fn secret(s: Secret) -> Obj {
    Obj::object(s.metadata).keep("immutable", s.immutable).omit("data", byte_map(s.data)).omit("stringData", s.string_data).omit("type", s.r#type)
}

pub(crate) fn service_account(sa: ServiceAccount) -> Obj {
    Obj::object(sa.metadata)
        .omit("secrets", all(sa.secrets, object_reference))
        .omit("imagePullSecrets", all(sa.image_pull_secrets, local_object_reference))
        .keep("automountServiceAccountToken", sa.automount_service_account_token)
}

fn object_reference(r: ObjectReference) -> Obj {
    Obj::default()
        .omit("kind", r.kind)
        .omit("namespace", r.namespace)
        .omit("name", r.name)
        .omit("uid", r.uid)
        .omit("apiVersion", r.api_version)
        .omit("resourceVersion", r.resource_version)
        .omit("fieldPath", r.field_path)
}

fn local_object_reference(r: LocalObjectReference) -> Obj {
    Obj::default().omit("name", r.name)
}

pub(crate) fn resource_quota(q: ResourceQuota) -> Obj {
    Obj::object(q.metadata).omit("spec", q.spec.map(resource_quota_spec)).omit("status", q.status.map(resource_quota_status))
}

fn resource_quota_spec(s: ResourceQuotaSpec) -> Obj {
    let selector = s.scope_selector.map(|sel| {
        let expressions = all(sel.match_expressions, |r| requirement("scopeName", r.scope_name, r.operator, r.values));
        Obj::default().omit("matchExpressions", expressions)
    });
    Obj::default().omit("hard", s.hard).omit("scopes", s.scopes).keep("scopeSelector", selector)
}

fn resource_quota_status(s: ResourceQuotaStatus) -> Obj {
    Obj::default().omit("hard", s.hard).omit("used", s.used)
}

pub(crate) fn limit_range(lr: LimitRange) -> Obj {
    let spec = lr.spec.map(|s| Obj::default().always("limits", all(s.limits, limit_range_item)));
    Obj::object(lr.metadata).omit("spec", spec)
}

fn limit_range_item(i: LimitRangeItem) -> Obj {
    Obj::default()
        .always("type", i.r#type)
        .omit("max", i.max)
        .omit("min", i.min)
        .omit("default", i.default)
        .omit("defaultRequest", i.default_request)
        .omit("maxLimitRequestRatio", i.max_limit_request_ratio)
}

pub(crate) fn event(e: Event) -> Obj {
    let source = e.source.map(|s| Obj::default().omit("component", s.component).omit("host", s.host));
    let series = e.series.map(|s| Obj::default().omit("count", s.count).omit("lastObservedTime", s.last_observed_time));
    Obj::object(e.metadata)
        .always("involvedObject", e.involved_object.map(object_reference))
        .omit("reason", e.reason)
        .omit("message", e.message)
        .omit("source", source)
        .omit("firstTimestamp", e.first_timestamp)
        .omit("lastTimestamp", e.last_timestamp)
        .omit("count", e.count)
        .omit("type", e.r#type)
        .omit("eventTime", e.event_time)
        .keep("series", series)
        .omit("action", e.action)
        .keep("related", e.related.map(object_reference))
        .always("reportingComponent", e.reporting_component)
        .always("reportingInstance", e.reporting_instance)
}

/// Every LeaseSpec field is a pointer in Go, so whatever was sent is shown.
pub(crate) fn lease(l: Lease) -> Obj {
    let spec = l.spec.map(|s| {
        Obj::default()
            .keep("holderIdentity", s.holder_identity)
            .keep("leaseDurationSeconds", s.lease_duration_seconds)
            .keep("acquireTime", s.acquire_time)
            .keep("renewTime", s.renew_time)
            .keep("leaseTransitions", s.lease_transitions)
            .keep("strategy", s.strategy)
            .keep("preferredHolder", s.preferred_holder)
    });
    Obj::object(l.metadata).omit("spec", spec)
}
