//! Review resources answered from the request itself: access reviews, rules reviews, whoami and
//! token reviews. Nothing is stored; the response is the request with `status` filled in.

use serde_json::{json, Value};

use super::body::{self, Response};
use super::{cluster_of, decode, Api, ApiRequest, Resolved};
use apimachinery::auth::{self, UserInfo};
use apimachinery::status::ApiError;

/// POST of a review kind.
pub async fn create(api: &Api, req: &ApiRequest, r: &Resolved) -> Result<Response, ApiError> {
    let cluster = cluster_of(req)?;
    let mut obj = decode::body_value(req)?;
    decode::default_type(&mut obj, &r.info);
    decode::check_object(&obj, r, &req.info.namespace, "")?;
    let spec = obj.get("spec").cloned().unwrap_or_else(|| json!({}));
    let status = match r.info.kind.as_str() {
        "SelfSubjectAccessReview" => access(api, r, cluster, &spec, req.user.clone()).await?,
        "SubjectAccessReview" | "LocalSubjectAccessReview" => {
            let user = auth::user_from_review_spec(&spec).map_err(|e| review_error(r, e))?;
            let ns_in_spec = spec.pointer("/resourceAttributes/namespace").and_then(Value::as_str).unwrap_or_default();
            if r.info.kind == "LocalSubjectAccessReview" && ns_in_spec != req.info.namespace {
                return Err(ApiError::bad_request(format!("spec.resourceAttributes.namespace must match namespace: {}", req.info.namespace)));
            }
            access(api, r, cluster, &spec, user).await?
        }
        "SelfSubjectRulesReview" => {
            let ns = spec["namespace"].as_str().unwrap_or_default();
            let (resource_rules, non_resource_rules) = api.authz.rules_review(cluster, &req.user, ns).await?;
            json!({"resourceRules": resource_rules, "nonResourceRules": non_resource_rules, "incomplete": false})
        }
        "SelfSubjectReview" => json!({"userInfo": req.user}),
        "TokenReview" => {
            let token = spec["token"].as_str().unwrap_or_default();
            let audiences: Vec<String> = spec["audiences"].as_array().into_iter().flatten().filter_map(|a| a.as_str().map(String::from)).collect();
            match api.authn.authenticate_token(token, &audiences).await? {
                Some(user) => json!({"authenticated": true, "user": user, "audiences": reviewed_audiences(api, audiences)}),
                None => json!({"authenticated": false, "error": "invalid bearer token"}),
            }
        }
        other => return Err(ApiError::internal(format!("no review handler for {other}"))),
    };
    obj["status"] = status;
    if obj.get("metadata").is_none() {
        obj["metadata"] = json!({});
    }
    Ok(body::json(201, &obj))
}

/// The audiences a TokenReview answers for: those asked about, or the API server's own.
fn reviewed_audiences(api: &Api, asked: Vec<String>) -> Vec<String> {
    match (&api.authn.service_accounts, asked.is_empty()) {
        (Some(sa), true) => vec![sa.signer.issuer().to_string()],
        _ => asked,
    }
}

/// A review spec that fails validation is a 422 naming the fields.
fn review_error(r: &Resolved, e: auth::AuthError) -> ApiError {
    match e {
        auth::AuthError::InvalidReview(errs) => ApiError::invalid(&r.info.group, &r.info.kind, "", &errs),
        other => ApiError::bad_request(other.to_string()),
    }
}

async fn access(api: &Api, r: &Resolved, cluster: &str, spec: &Value, user: UserInfo) -> Result<Value, ApiError> {
    let attrs = auth::attributes_from_review(spec, user).map_err(|e| review_error(r, e))?;
    let decision = api.authz.decide(cluster, &attrs).await?;
    Ok(match decision {
        auth::Decision::Allow(reason) => json!({"allowed": true, "reason": reason}),
        auth::Decision::NoOpinion => json!({"allowed": false}),
    })
}
