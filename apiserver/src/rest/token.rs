//! `serviceaccounts/<name>/token`: TokenRequest, which `kubectl create token` sends. The token
//! names the service account's logical cluster and is only honoured there.

use serde_json::{json, Value};

use super::body::{self, Response};
use super::{cluster_of, decode, Api, ApiRequest, Resolved};
use apimachinery::auth::service_account::{AccountId, DEFAULT_EXPIRATION_SECONDS, MAX_EXPIRATION_SECONDS, MIN_EXPIRATION_SECONDS};
use apimachinery::auth::ServiceAccountRef;
use apimachinery::field::str_at;
use apimachinery::request::Verb;
use apimachinery::status::{ApiError, FieldError};

const GROUP: &str = "authentication.k8s.io";
const KIND: &str = "TokenRequest";

/// POST of a TokenRequest for an existing service account.
pub async fn request(api: &Api, req: &ApiRequest, r: &Resolved) -> Result<Response, ApiError> {
    if req.info.verb != Verb::Create {
        return Err(ApiError::method_not_allowed("the server does not allow this method on the requested resource"));
    }
    // Without a signing key the subresource is not served at all, as in kube.
    let sa_tokens = api.authn.service_accounts.as_ref().ok_or_else(ApiError::path_not_found)?;
    let cluster = cluster_of(req)?;
    let (namespace, name) = (&req.info.namespace, &req.info.name);
    let mut body = decode::body_value(req)?;
    decode::fill_type(&mut body, "authentication.k8s.io/v1", KIND);
    let (api_version, kind) = (str_at(&body, &["apiVersion"]), str_at(&body, &["kind"]));
    if (api_version, kind) != ("authentication.k8s.io/v1", KIND) {
        return Err(ApiError::bad_request(format!("the body must be an authentication.k8s.io/v1 TokenRequest, not {kind:?} of {api_version:?}")));
    }
    let spec = body.get("spec").cloned().unwrap_or_else(|| json!({}));
    let (expiration, audiences) = parse_spec(&spec).map_err(|errs| ApiError::invalid(GROUP, KIND, name, &errs))?;
    let (sa, _) = super::load::load(api, r, cluster, namespace, name).await?;
    let account = ServiceAccountRef {
        cluster: cluster.to_string(),
        namespace: namespace.clone(),
        account: AccountId { name: name.clone(), uid: str_at(&sa, &["metadata", "uid"]).to_string() },
    };
    let now = jiff::Timestamp::now();
    let token = sa_tokens.signer.issue(account, audiences.clone(), now.as_second(), expiration).map_err(ApiError::internal)?;
    let expires = jiff::Timestamp::from_second(now.as_second() + expiration).map_err(ApiError::internal)?;
    let audiences = if audiences.is_empty() { vec![sa_tokens.signer.issuer().to_string()] } else { audiences };
    let out = json!({
        "kind": KIND,
        "apiVersion": "authentication.k8s.io/v1",
        "metadata": {"name": name, "namespace": namespace, "creationTimestamp": super::object::now_rfc3339()},
        "spec": {"audiences": audiences, "expirationSeconds": expiration, "boundObjectRef": null},
        "status": {"token": token, "expirationTimestamp": expires.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()},
    });
    Ok(body::json(201, &out))
}

/// Lifetime and audiences of a TokenRequest spec, or kube's field errors.
fn parse_spec(spec: &Value) -> Result<(i64, Vec<String>), Vec<FieldError>> {
    let mut errs = Vec::new();
    let expiration = match spec.get("expirationSeconds") {
        None | Some(Value::Null) => DEFAULT_EXPIRATION_SECONDS,
        Some(v) => match v.as_i64() {
            Some(s) if s < MIN_EXPIRATION_SECONDS => {
                errs.push(FieldError::invalid("spec.expirationSeconds", s, "may not specify a duration less than 10 minutes"));
                0
            }
            Some(s) if s > MAX_EXPIRATION_SECONDS => {
                errs.push(FieldError::invalid("spec.expirationSeconds", s, "may not specify a duration larger than 2^32 seconds"));
                0
            }
            Some(s) => s,
            None => {
                errs.push(FieldError::type_invalid("spec.expirationSeconds", v.clone(), "must be an integer"));
                0
            }
        },
    };
    let mut audiences = Vec::new();
    for (i, a) in spec.get("audiences").and_then(Value::as_array).into_iter().flatten().enumerate() {
        match a.as_str() {
            Some(s) if !s.is_empty() => audiences.push(s.to_string()),
            _ => errs.push(FieldError::invalid(format!("spec.audiences[{i}]"), a.clone(), "must be a non-empty string")),
        }
    }
    if spec.get("boundObjectRef").is_some_and(|b| !b.is_null()) {
        errs.push(FieldError::forbidden("spec.boundObjectRef", "tokens bound to objects are not supported; the token is bound to the service account"));
    }
    if errs.is_empty() {
        Ok((expiration, audiences))
    } else {
        Err(errs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spec_defaults_and_limits() {
        assert_eq!(parse_spec(&json!({})).ok(), Some((3600, vec![])));
        assert_eq!(parse_spec(&json!({"expirationSeconds": 600, "audiences": ["a"]})).ok(), Some((600, vec!["a".to_string()])));
        let short = parse_spec(&json!({"expirationSeconds": 60})).err().unwrap_or_default();
        assert_eq!(short[0].to_string(), "spec.expirationSeconds: Invalid value: 60: may not specify a duration less than 10 minutes");
        assert!(parse_spec(&json!({"expirationSeconds": 1i64 << 33})).is_err());
        assert!(parse_spec(&json!({"audiences": [""]})).is_err());
        assert!(parse_spec(&json!({"boundObjectRef": {"kind": "Pod", "name": "p"}})).is_err());
        assert!(parse_spec(&json!({"boundObjectRef": null})).is_ok());
    }
}
