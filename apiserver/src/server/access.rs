//! Authorization of every request: wildcards are for `system:masters` only, resource requests
//! need a logical cluster, and the authorizer chain must allow the verb. Whether the logical
//! cluster exists, and what a workspace path names, is the binary's phase before this one.

use std::sync::Arc;

use futures::future::BoxFuture;

use super::phase::{Outcome, Phase, Req};
use crate::auth::authz::Authorizer;
use apimachinery::auth::{Attributes, UserInfo};
use apimachinery::request::{ClusterTarget, RequestInfo, Verb};
use apimachinery::status::{ApiError, Reason};

/// The authorization phase.
pub struct Authorize {
    /// The authorizer chain (workspace access, bootstrap policy, the cluster's RBAC).
    pub authz: Arc<Authorizer>,
}

impl Phase for Authorize {
    fn run<'a>(&'a self, req: &'a mut Req) -> BoxFuture<'a, Result<Outcome, ApiError>> {
        Box::pin(async move {
            let (Some(info), Some(user)) = (req.extensions().get::<RequestInfo>(), req.extensions().get::<UserInfo>()) else {
                return Err(ApiError::internal("authorization ran before request parsing and authentication"));
            };
            let masters = user.is_masters();
            let cluster = match &info.cluster {
                ClusterTarget::Name(c) => c.as_str(),
                ClusterTarget::Wildcard if masters => return Ok(Outcome::Next),
                ClusterTarget::Wildcard => return Err(forbidden(user, info, "wildcard requests across logical clusters are restricted to system:masters")),
                ClusterTarget::None if info.is_resource_request => {
                    return Err(ApiError::new(
                        Reason::NotFound,
                        "the server could not find the requested resource: resource requests need a /clusters/<logical cluster> prefix",
                    ))
                }
                // Shard-level paths (/version, /metrics, discovery) follow the bootstrap policy.
                ClusterTarget::None => crate::auth::authz::BOOTSTRAP_CLUSTER,
            };
            // Asking about oneself is always possible; the answer applies the whole chain.
            if is_self_review(info) {
                return Ok(Outcome::Next);
            }
            if !self.authz.allows(cluster, &attributes(user, info)).await? {
                return Err(forbidden(user, info, ""));
            }
            Ok(Outcome::Next)
        })
    }
}

/// Creating a SelfSubjectAccessReview, SelfSubjectRulesReview or SelfSubjectReview.
fn is_self_review(info: &RequestInfo) -> bool {
    info.verb == Verb::Create
        && matches!(
            (info.api_group.as_str(), info.resource.as_str()),
            ("authorization.k8s.io", "selfsubjectaccessreviews" | "selfsubjectrulesreviews") | ("authentication.k8s.io", "selfsubjectreviews")
        )
}

/// Authorization attributes of a request.
pub fn attributes(user: &UserInfo, info: &RequestInfo) -> Attributes {
    Attributes {
        user: user.clone(),
        verb: info.verb.to_string(),
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

/// The 403 for `user`'s request, naming the cluster only as the caller wrote it.
pub fn forbidden(user: &UserInfo, info: &RequestInfo, why: &str) -> ApiError {
    if !info.is_resource_request {
        let verb = &info.verb;
        let mut msg = format!("forbidden: User \"{}\" cannot {verb} path \"{}\"", user.name, info.path);
        if !why.is_empty() {
            msg.push_str(": ");
            msg.push_str(why);
        }
        return ApiError::new(Reason::Forbidden, msg);
    }
    let scope = if info.namespace.is_empty() {
        match info.cluster_as_written.as_str() {
            "" => "at the cluster scope".to_string(),
            c => format!("at the cluster scope of workspace \"{c}\""),
        }
    } else {
        format!("in the namespace \"{}\"", info.namespace)
    };
    let resource = if info.subresource.is_empty() { info.resource.clone() } else { format!("{}/{}", info.resource, info.subresource) };
    ApiError::forbidden(&user.name, info.verb.as_str(), &resource, &info.api_group, &info.name, &scope, why)
}
