//! The request path of a shard, in the order a request travels:
//! request id → in-flight limit (429) → path parsing (400) → health probes → authentication
//! (401) → body limit (413) → logical cluster and authorization checks (403/404) → discovery,
//! OpenAPI or the REST handlers. Every error becomes a `Status` in exactly one place (`finish`).

use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use http_body_util::{BodyExt, Limited};
use serde_json::json;
use tokio::sync::Semaphore;
use tracing::Instrument;

use super::discovery;
use super::metrics::{LatencyLabels, Metrics, RequestLabels};
use crate::auth::{Attributes, UserInfo};
use crate::registry::builtin;
use crate::request::{ClusterTarget, RequestInfo};
use crate::rest::admission::MASTERS_GROUP;
use crate::rest::body::{self, Response};
use crate::rest::{Api, ApiRequest};
use crate::status::ApiError;
use crate::storage::key::Key;

/// The Kubernetes version reported at `/version`; kubectl's dispatcher picks its client by it.
pub const KUBE_MINOR: &str = "32";

/// Everything the request path needs.
pub struct Handler {
    pub api: Arc<Api>,
    pub metrics: Arc<Metrics>,
    inflight: Semaphore,
}

/// How long clients are told to wait after a 429.
const RETRY_AFTER_SECS: u32 = 1;

impl Handler {
    /// A handler admitting at most `max_inflight` concurrent short requests.
    pub fn new(api: Arc<Api>, metrics: Arc<Metrics>, max_inflight: usize) -> Handler {
        Handler { api, metrics, inflight: Semaphore::new(max_inflight) }
    }

    /// Serves one request; `peer` is the verified client certificate's (CN, O).
    pub async fn call<B>(&self, req: http::Request<B>, peer: Option<(String, Vec<String>)>) -> Response
    where
        B: http_body::Body<Data = Bytes> + Send + 'static,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let started = Instant::now();
        let request_id = uuid::Uuid::new_v4().simple().to_string();
        let span = tracing::info_span!("request", id = %&request_id[..12], method = %req.method(), path = %req.uri().path(), cluster = tracing::field::Empty, user = tracing::field::Empty);
        let (method, path) = (req.method().clone(), req.uri().path().to_string());
        let mut labels = LatencyLabels { verb: method.as_str().to_ascii_lowercase(), group: String::new(), resource: String::new() };
        let result = async {
            let info = RequestInfo::parse(&method, &path, req.uri().query())?;
            labels = LatencyLabels { verb: info.verb.clone(), group: info.api_group.clone(), resource: info.resource.clone() };
            if let Some(c) = info.cluster_name() {
                tracing::Span::current().record("cluster", c);
            }
            if let Some(probe) = self.probe(&info).await {
                return Ok(probe);
            }
            // Watches are long-running and do not count against the in-flight limit.
            let _permit = if info.verb == "watch" {
                None
            } else {
                Some(self.inflight.try_acquire().map_err(|_| ApiError::too_many_requests(RETRY_AFTER_SECS))?)
            };
            self.metrics.inflight.inc();
            let out = self.authorized(req, info, peer).await;
            self.metrics.inflight.dec();
            out
        }
        .instrument(span.clone())
        .await;
        let response = match result {
            Ok(r) => r,
            Err(e) => {
                if e.code() >= 500 {
                    span.in_scope(|| tracing::error!(error = %e.message, "request failed"));
                }
                body::error(&e)
            }
        };
        let code = response.status().as_u16();
        span.in_scope(|| tracing::debug!(code, elapsed_ms = started.elapsed().as_secs_f64() * 1e3, "done"));
        self.metrics
            .requests
            .get_or_create(&RequestLabels { verb: labels.verb.clone(), group: labels.group.clone(), resource: labels.resource.clone(), code: code.to_string() })
            .inc();
        self.metrics.duration.get_or_create(&labels).observe(started.elapsed().as_secs_f64());
        response
    }

    /// Liveness and readiness probes, served without authentication.
    async fn probe(&self, info: &RequestInfo) -> Option<Response> {
        if info.cluster != ClusterTarget::None {
            return None;
        }
        let name = match info.path.as_str() {
            "/healthz" => "healthz",
            "/livez" => "livez",
            "/readyz" => "readyz",
            _ => return None,
        };
        let storage_ok = self.api.store.list("\u{1}probe/", None, 1).await.is_ok();
        let checks = [("ping", true), ("storage", storage_ok), ("shutdown", !*self.api.shutdown.borrow())];
        let ok = checks.iter().all(|(_, ok)| *ok);
        let text = if info.query.contains_key("verbose") {
            let mut s: String = checks.iter().map(|(n, ok)| format!("[{}]{n} {}\n", if *ok { "+" } else { "-" }, if *ok { "ok" } else { "failed" })).collect();
            s.push_str(&format!("{name} check {}\n", if ok { "passed" } else { "failed" }));
            s
        } else if ok {
            "ok".to_string()
        } else {
            format!("{name} check failed")
        };
        Some(
            http::Response::builder()
                .status(if ok { 200 } else { 500 })
                .header("content-type", "text/plain; charset=utf-8")
                .body(body::full(text))
                .unwrap_or_else(|_| http::Response::new(body::full(Bytes::new()))),
        )
    }

    async fn authorized<B>(&self, req: http::Request<B>, info: RequestInfo, peer: Option<(String, Vec<String>)>) -> Result<Response, ApiError>
    where
        B: http_body::Body<Data = Bytes> + Send + 'static,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let authorization = req.headers().get(http::header::AUTHORIZATION).and_then(|v| v.to_str().ok());
        let user = self.api.authn.authenticate(authorization, peer.as_ref()).ok_or_else(ApiError::unauthorized)?;
        let authz_cluster = info.cluster_name().unwrap_or(super::authz::BOOTSTRAP_CLUSTER).to_string();
        let user = self.impersonate(user, req.headers(), &authz_cluster).await?;
        tracing::Span::current().record("user", user.name.as_str());
        let (parts, body) = req.into_parts();
        let limit = self.api.limits.max_body_bytes;
        if parts.headers.get(http::header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<usize>().ok()).is_some_and(|n| n > limit) {
            return Err(ApiError::too_large(limit));
        }
        let body = Limited::new(body, limit).collect().await.map_err(|_| ApiError::too_large(limit))?.to_bytes();
        let cluster = match &info.cluster {
            ClusterTarget::Name(c) => c.clone(),
            ClusterTarget::Wildcard => {
                if !user.groups.iter().any(|g| g == MASTERS_GROUP) {
                    return Err(forbidden(&user, &info, "wildcard requests across logical clusters are restricted to system:masters"));
                }
                String::new()
            }
            ClusterTarget::None => String::new(),
        };
        if !cluster.is_empty() {
            self.check_cluster(&cluster, &user, &info).await?;
            let attrs = attributes(&user, &info);
            if !self.api.authz.allows(&cluster, &attrs).await? {
                return Err(forbidden(&user, &info, ""));
            }
        } else if info.cluster == ClusterTarget::None {
            if info.is_resource_request {
                return Err(ApiError::new(
                    crate::status::Reason::NotFound,
                    "the server could not find the requested resource: resource requests need a /clusters/<logical cluster> prefix",
                ));
            }
            // Shard-level paths (/version, /metrics, discovery) follow the bootstrap policy.
            if !self.api.authz.allows(super::authz::BOOTSTRAP_CLUSTER, &attributes(&user, &info)).await? {
                return Err(forbidden(&user, &info, ""));
            }
        }
        if !info.is_resource_request {
            return self.non_resource(&info, &cluster, &parts.headers);
        }
        let req = ApiRequest { info, user, method: parts.method, headers: parts.headers, body };
        self.api.handle(req).await
    }

    /// Applies `Impersonate-User`/`Impersonate-Group` headers when RBAC grants `impersonate` on
    /// every requested identity; the request then runs as the impersonated user.
    async fn impersonate(&self, user: UserInfo, headers: &http::HeaderMap, cluster: &str) -> Result<UserInfo, ApiError> {
        let Some(target) = headers.get("impersonate-user").and_then(|v| v.to_str().ok()) else {
            if headers.contains_key("impersonate-group") {
                return Err(ApiError::new(crate::status::Reason::BadRequest, "requested Impersonate-Group without Impersonate-User"));
            }
            return Ok(user);
        };
        let groups: Vec<String> = headers.get_all("impersonate-group").iter().filter_map(|v| v.to_str().ok().map(String::from)).collect();
        let mut checks: Vec<(String, String, String)> = Vec::new();
        match target.strip_prefix("system:serviceaccount:").and_then(|r| r.split_once(':')) {
            Some((ns, name)) => checks.push(("serviceaccounts".into(), ns.into(), name.into())),
            None => checks.push(("users".into(), String::new(), target.into())),
        }
        checks.extend(groups.iter().map(|g| ("groups".to_string(), String::new(), g.clone())));
        for (resource, namespace, name) in checks {
            let attrs = Attributes {
                user: user.clone(),
                verb: "impersonate".into(),
                resource_request: true,
                resource: resource.clone(),
                namespace,
                name: name.clone(),
                ..Default::default()
            };
            if !self.api.authz.allows(cluster, &attrs).await? {
                return Err(ApiError::new(
                    crate::status::Reason::Forbidden,
                    format!("{resource} \"{name}\" is forbidden: User \"{}\" cannot impersonate resource \"{resource}\" in API group \"\" at the cluster scope", user.name),
                ));
            }
        }
        Ok(UserInfo { name: target.to_string(), uid: String::new(), groups, extra: Default::default() }.authenticated())
    }

    /// 404 for logical clusters that do not exist, except creating their LogicalCluster.
    async fn check_cluster(&self, cluster: &str, user: &UserInfo, info: &RequestInfo) -> Result<(), ApiError> {
        let key = Key { group: "core.kcp.io", resource: "logicalclusters", cluster, namespace: "", name: "cluster" }.encode();
        if self.api.store.get(&key).await.is_ok() {
            return Ok(());
        }
        let masters = user.groups.iter().any(|g| g == MASTERS_GROUP);
        let creating_cluster = info.verb == "create" && info.api_group == "core.kcp.io" && info.resource == "logicalclusters";
        // Discovery and OpenAPI let kubectl validate the LogicalCluster it is about to create.
        if masters && (creating_cluster || !info.is_resource_request) {
            return Ok(());
        }
        if masters {
            return Err(ApiError::new(crate::status::Reason::NotFound, format!("logical cluster {cluster:?} not found")));
        }
        // Without privileges, a missing cluster looks exactly like one you may not access.
        Err(forbidden(user, info, ""))
    }

    fn non_resource(&self, info: &RequestInfo, cluster: &str, headers: &http::HeaderMap) -> Result<Response, ApiError> {
        let accept = headers.get(http::header::ACCEPT).and_then(|v| v.to_str().ok()).unwrap_or_default();
        let served = if cluster.is_empty() {
            builtin::builtins().iter().map(|b| b.info.clone()).collect()
        } else {
            self.api.served(cluster)
        };
        let segs: Vec<&str> = info.path.trim_matches('/').split('/').filter(|s| !s.is_empty()).collect();
        let prefix = if cluster.is_empty() { String::new() } else { format!("/clusters/{cluster}") };
        let doc = match segs.as_slice() {
            ["version"] => json!({"major": "1", "minor": KUBE_MINOR, "gitVersion": format!("v1.{KUBE_MINOR}.0+kcp-rs-{}", env!("CARGO_PKG_VERSION")),
                "gitCommit": "", "gitTreeState": "clean", "buildDate": "", "goVersion": "", "compiler": "rustc",
                "platform": format!("{}/{}", std::env::consts::OS, if cfg!(target_arch = "x86_64") { "amd64" } else { std::env::consts::ARCH })}),
            ["api"] if discovery::wants_aggregated(accept) => {
                return Ok(body::json_typed(200, &discovery::aggregated(&served, true), discovery::AGGREGATED_CONTENT_TYPE))
            }
            ["apis"] if discovery::wants_aggregated(accept) => {
                return Ok(body::json_typed(200, &discovery::aggregated(&served, false), discovery::AGGREGATED_CONTENT_TYPE))
            }
            ["api"] => discovery::api_versions(),
            ["apis"] => discovery::api_group_list(&served),
            ["api", v] => discovery::resource_list(&served, "", v).ok_or_else(ApiError::path_not_found)?,
            ["apis", g] => discovery::api_group(&served, g).ok_or_else(ApiError::path_not_found)?,
            ["apis", g, v] => discovery::resource_list(&served, g, v).ok_or_else(ApiError::path_not_found)?,
            ["openapi", "v3"] => crate::openapi::index(&served, &prefix),
            ["openapi", "v3", "api", v] => gv_doc(&served, "", v)?,
            ["openapi", "v3", "apis", g, v] => gv_doc(&served, g, v)?,
            ["metrics"] if cluster.is_empty() => {
                self.metrics.storage_bytes.set(self.api.store.size_on_disk() as i64);
                self.metrics.storage_revision.set(self.api.store.current_revision() as i64);
                return Ok(http::Response::builder()
                    .status(200)
                    .header("content-type", "text/plain; version=0.0.4; charset=utf-8")
                    .body(body::full(self.metrics.render()))
                    .unwrap_or_else(|_| http::Response::new(body::full(Bytes::new()))));
            }
            _ => return Err(ApiError::path_not_found()),
        };
        Ok(body::json(200, &doc))
    }
}

fn gv_doc(served: &[crate::registry::ResourceInfo], group: &str, version: &str) -> Result<serde_json::Value, ApiError> {
    if !served.iter().any(|r| r.group == group && r.version == version) {
        return Err(ApiError::path_not_found());
    }
    Ok(crate::openapi::group_version_document(group, version, served))
}

/// Authorization attributes of a request.
pub fn attributes(user: &UserInfo, info: &RequestInfo) -> Attributes {
    Attributes {
        user: user.clone(),
        verb: info.verb.clone(),
        resource_request: info.is_resource_request,
        api_group: info.api_group.clone(),
        api_version: info.api_version.clone(),
        resource: info.resource.clone(),
        subresource: info.subresource.clone(),
        namespace: info.namespace.clone(),
        name: info.name.clone(),
        path: info.path.clone(),
    }
}

fn forbidden(user: &UserInfo, info: &RequestInfo, why: &str) -> ApiError {
    if !info.is_resource_request {
        let verb = info.verb.clone();
        let mut msg = format!("forbidden: User \"{}\" cannot {verb} path \"{}\"", user.name, info.path);
        if !why.is_empty() {
            msg.push_str(": ");
            msg.push_str(why);
        }
        return ApiError::new(crate::status::Reason::Forbidden, msg);
    }
    let scope = if info.namespace.is_empty() {
        match info.cluster_name() {
            Some(c) => format!("at the cluster scope of logical cluster \"{c}\""),
            None => "at the cluster scope".to_string(),
        }
    } else {
        format!("in the namespace \"{}\"", info.namespace)
    };
    let resource = if info.subresource.is_empty() { info.resource.clone() } else { format!("{}/{}", info.resource, info.subresource) };
    ApiError::forbidden(&user.name, &info.verb, &resource, &info.api_group, &info.name, &scope, why)
}

