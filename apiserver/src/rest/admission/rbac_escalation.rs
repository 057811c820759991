//! RBAC escalation prevention: you may only grant what you hold, unless you may `escalate`
//! (roles) or `bind` (bindings).

use futures::future::BoxFuture;
use serde_json::Value;

use super::super::{object, AdmissionPlugin, Api, ApiRequest, Write};
use apimachinery::auth::{self, Attributes};
use apimachinery::field::str_at;
use apimachinery::registry::rbac;
use apimachinery::status::ApiError;

/// Refuses roles and bindings that grant more than their writer holds; `system:masters` may.
pub struct RbacEscalation;

impl AdmissionPlugin for RbacEscalation {
    fn admit<'a>(&'a self, w: Write<'a>, obj: &'a mut Value) -> BoxFuture<'a, Result<(), ApiError>> {
        Box::pin(async move {
            if w.resource.info.group != rbac::GROUP || w.by_masters() {
                return Ok(());
            }
            check_escalation(w.api, w.req, w.cluster, &w.resource.info.kind, obj, w.old).await
        })
    }
}

async fn check_escalation(api: &Api, req: &ApiRequest, cluster: &str, kind: &str, obj: &Value, old: Option<&Value>) -> Result<(), ApiError> {
    let ns = req.info.namespace.as_str();
    let allowed = |verb: &str, resource: &str, name: &str| Attributes {
        user: req.user.clone(),
        verb: verb.into(),
        resource_request: true,
        api_group: "rbac.authorization.k8s.io".into(),
        api_version: "v1".into(),
        resource: resource.into(),
        subresource: String::new(),
        namespace: ns.into(),
        name: name.into(),
        path: String::new(),
    };
    // Whether the write sets, keeps or drops an aggregation rule.
    let mut aggregating = false;
    let requested: Vec<Value> = match kind {
        "Role" | "ClusterRole" => {
            let plural = if kind == "Role" { "roles" } else { "clusterroles" };
            if api.authz.allows(cluster, &allowed("escalate", plural, object::meta_str(obj, "name"))).await? {
                return Ok(());
            }
            aggregating = kind == "ClusterRole" && (auth::has_aggregation_rule(obj) || old.is_some_and(auth::has_aggregation_rule));
            obj.get("rules").and_then(Value::as_array).cloned().unwrap_or_default()
        }
        "RoleBinding" | "ClusterRoleBinding" => {
            let ref_kind = str_at(obj, &["roleRef", "kind"]);
            let ref_name = str_at(obj, &["roleRef", "name"]);
            let plural = if ref_kind == "Role" { "roles" } else { "clusterroles" };
            if api.authz.allows(cluster, &allowed("bind", plural, ref_name)).await? {
                return Ok(());
            }
            api.authz.role_rules(cluster, ns, &obj["roleRef"]).await?
        }
        _ => return Ok(()),
    };
    let held = api.authz.rules_for(cluster, &req.user, ns).await?;
    let name = object::meta_str(obj, "name");
    let plural = format!("{}s", kind.to_ascii_lowercase());
    if let Err(missing) = auth::covers(&held, &requested) {
        return Err(ApiError::forbidden_because(rbac::GROUP, &plural, name, &auth::escalation_message(&req.user, &missing)));
    }
    // An aggregation rule can gather any permission of the workspace: writing a role that has
    // (or had) one takes every permission, as in kube.
    let everything: Vec<Value> = auth::full_authority().iter().map(auth::Rule::to_value).collect();
    if aggregating && auth::covers(&held, &everything).is_err() {
        return Err(ApiError::forbidden_because(rbac::GROUP, &plural, name, auth::AGGREGATION_REFUSED));
    }
    Ok(())
}
