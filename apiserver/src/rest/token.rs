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
    let (expiration, audiences, bound) = parse_spec(&spec).map_err(|errs| ApiError::invalid(GROUP, KIND, name, &errs))?;
    let (sa, _) = super::load::load(api, r, cluster, namespace, name).await?;
    let secret = match bound {
        Some(bound) => Some(bound_secret(api, cluster, namespace, bound).await?),
        None => None,
    };
    let bound_ref = secret.as_ref().map(|s| json!({"kind": "Secret", "apiVersion": "v1", "name": s.name, "uid": s.uid}));
    let account = ServiceAccountRef {
        cluster: cluster.to_string(),
        namespace: namespace.clone(),
        account: AccountId { name: name.clone(), uid: str_at(&sa, &["metadata", "uid"]).to_string() },
        secret,
    };
    let now = jiff::Timestamp::now();
    let token = sa_tokens.signer.issue(account, audiences.clone(), now.as_second(), expiration).map_err(ApiError::internal)?;
    let expires = jiff::Timestamp::from_second(now.as_second() + expiration).map_err(ApiError::internal)?;
    let audiences = if audiences.is_empty() { vec![sa_tokens.signer.issuer().to_string()] } else { audiences };
    let out = json!({
        "kind": KIND,
        "apiVersion": "authentication.k8s.io/v1",
        "metadata": {"name": name, "namespace": namespace, "creationTimestamp": super::object::now_rfc3339()},
        "spec": {"audiences": audiences, "expirationSeconds": expiration, "boundObjectRef": bound_ref},
        "status": {"token": token, "expirationTimestamp": expires.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()},
    });
    Ok(body::json(201, &out))
}

/// The Secret a token is to be bound to (its name, and the uid the request expects if any), as
/// it stands: it must exist, in the service account's namespace.
async fn bound_secret(api: &Api, cluster: &str, namespace: &str, (name, uid): (String, String)) -> Result<AccountId, ApiError> {
    let target = apimachinery::request::ClusterTarget::Name(cluster.to_string());
    let secrets = api.resolve(&target, "", "v1", "secrets").ok_or_else(ApiError::path_not_found)?;
    let (secret, _) = super::load::load(api, &secrets, cluster, namespace, &name).await?;
    let found = str_at(&secret, &["metadata", "uid"]);
    if !uid.is_empty() && uid != found {
        let why =
            format!("the UID in the bound object reference ({uid}) does not match the UID in record. The object might have been deleted and then recreated");
        return Err(ApiError::conflict_msg("", "secrets", &name, &why));
    }
    Ok(AccountId { name, uid: found.to_string() })
}

/// What a TokenRequest spec asks for: lifetime, audiences, and the Secret (name, uid) to bind
/// the token to; or kube's field errors. Secrets are the only objects a token binds to here:
/// no pods or nodes run in a workspace.
type TokenSpec = (i64, Vec<String>, Option<(String, String)>);

/// Reads a TokenRequest spec.
fn parse_spec(spec: &Value) -> Result<TokenSpec, Vec<FieldError>> {
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
    let mut bound = None;
    if let Some(b) = spec.get("boundObjectRef").filter(|b| !b.is_null()) {
        let field = |f: &str| str_at(b, &[f]).to_string();
        match (field("kind").as_str(), field("apiVersion").as_str()) {
            ("Secret", "v1" | "") if !field("name").is_empty() => bound = Some((field("name"), field("uid"))),
            ("Secret", "v1" | "") => errs.push(FieldError::required("spec.boundObjectRef.name", "")),
            ("Secret", other) => errs.push(FieldError::not_supported("spec.boundObjectRef.apiVersion", other, &["v1"])),
            (other, _) => errs.push(FieldError::not_supported("spec.boundObjectRef.kind", other, &["Secret"])),
        }
    }
    if errs.is_empty() {
        Ok((expiration, audiences, bound))
    } else {
        Err(errs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spec_defaults_and_limits() {
        assert_eq!(parse_spec(&json!({})).ok(), Some((3600, vec![], None)));
        assert_eq!(parse_spec(&json!({"expirationSeconds": 600, "audiences": ["a"]})).ok(), Some((600, vec!["a".to_string()], None)));
        let short = parse_spec(&json!({"expirationSeconds": 60})).err().unwrap_or_default();
        assert_eq!(short[0].to_string(), "spec.expirationSeconds: Invalid value: 60: may not specify a duration less than 10 minutes");
        assert!(parse_spec(&json!({"expirationSeconds": 1i64 << 33})).is_err());
        assert!(parse_spec(&json!({"audiences": [""]})).is_err());
        let pod = parse_spec(&json!({"boundObjectRef": {"kind": "Pod", "name": "p"}})).err().unwrap_or_default();
        assert_eq!(pod[0].to_string(), "spec.boundObjectRef.kind: Unsupported value: \"Pod\": supported values: \"Secret\"");
        assert!(parse_spec(&json!({"boundObjectRef": {"kind": "Secret"}})).is_err(), "no name");
        let secret = json!({"boundObjectRef": {"kind": "Secret", "apiVersion": "v1", "name": "s", "uid": "u"}});
        assert_eq!(parse_spec(&secret).ok(), Some((3600, vec![], Some(("s".into(), "u".into())))));
        assert!(parse_spec(&json!({"boundObjectRef": null})).is_ok());
    }
}
