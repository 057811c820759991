//! Long-lived service-account tokens, as kube's token controller makes them: a Secret of type
//! `kubernetes.io/service-account-token` naming a service account in annotation
//! `kubernetes.io/service-account.name` gets `data.token`, a token bound to that Secret
//! (deleting the Secret revokes it), `data.namespace`, `data["ca.crt"]` when the shard
//! publishes a CA, and annotation `kubernetes.io/service-account.uid`. A Secret naming an
//! account that does not exist (or another incarnation of it) is deleted, and so are an
//! account's token Secrets when it goes, as kube does.

#[cfg(test)]
mod tests;

use std::sync::Arc;

use apimachinery::auth::service_account::{AccountId, MAX_EXPIRATION_SECONDS};
use apimachinery::auth::ServiceAccountRef;
use apimachinery::field::str_at;
use apiserver::controller::{Action, Change, Controller, Informers, Reconcile};
use apiserver::rest::client::{ObjectRef, SystemClient};
use apiserver::rest::object;
use apiserver::storage::key;
use base64::Engine;
use serde_json::{json, Value};

use super::{update, Error, Part};

/// The controller's name (metrics, logs, identity).
pub const NAME: &str = "serviceaccount-token-secrets";

/// The Secret type that asks for a token.
pub const TYPE: &str = "kubernetes.io/service-account-token";

/// Annotation naming the service account.
pub const ACCOUNT_NAME: &str = "kubernetes.io/service-account.name";

/// Annotation holding the service account's uid once the token is made.
pub const ACCOUNT_UID: &str = "kubernetes.io/service-account.uid";

/// Fills token Secrets.
pub struct TokenSecrets {
    /// Reads accounts and writes Secrets as the controller.
    pub client: SystemClient,
    /// CA certificate (PEM) put beside the token; `None` leaves it out.
    pub ca_pem: Option<Arc<str>>,
}

/// Whether a stored Secret asks for a token it does not have yet.
fn wants_token(secret: &Value) -> bool {
    str_at(secret, &["type"]) == TYPE && str_at(secret, &["data", "token"]).is_empty() && !object::is_deleting(secret)
}

/// The controller, fed by every Secret of the shard (keyed by Secret) and by deleted service
/// accounts (keyed by account).
pub fn controller(reconciler: TokenSecrets, informers: &Informers) -> Controller<TokenSecrets> {
    Controller::new(NAME, reconciler)
        .workers(2)
        .watches(informers, key::resource_prefix("", "secrets"), |change: &Change| match change {
            Change::Present(s) if serde_json::from_slice(&s.value).is_ok_and(|v| wants_token(&v)) => ObjectRef::from_key(&s.key),
            _ => None,
        })
        .watches(informers, key::resource_prefix("", "serviceaccounts"), |change: &Change| match change {
            Change::Gone(k) => ObjectRef::from_key(k),
            Change::Present(_) => None,
        })
}

impl TokenSecrets {
    /// Deletes the token Secrets of a service account that is gone.
    async fn forget(&self, account: &ObjectRef) -> Result<Action, Error> {
        if self.client.get(account).await?.is_some() {
            return Ok(Action::Done);
        }
        let prefix = key::namespace_prefix("", "secrets", &account.cluster, &account.namespace);
        for item in self.client.api().store.list(&prefix, None, 0, None).await?.items {
            let Ok(secret) = serde_json::from_slice::<Value>(&item.value) else { continue };
            let names_it = str_at(&secret, &["type"]) == TYPE && str_at(&secret, &["metadata", "annotations", ACCOUNT_NAME]) == account.name;
            if let Some(r) = ObjectRef::from_key(&item.key).filter(|_| names_it) {
                self.client.delete(&r, None).await?;
            }
        }
        Ok(Action::Done)
    }
}

impl Reconcile for TokenSecrets {
    type Key = ObjectRef;
    type Error = Error;

    async fn reconcile(&self, r: &ObjectRef) -> Result<Action, Error> {
        if r.resource == "serviceaccounts" {
            return self.forget(r).await;
        }
        let Some(secret) = self.client.get(r).await? else { return Ok(Action::Done) };
        let Some(signer) = self.client.api().authn.service_accounts.as_ref().map(|s| &s.signer) else { return Ok(Action::Done) };
        if !wants_token(&secret) {
            return Ok(Action::Done);
        }
        let name = str_at(&secret, &["metadata", "annotations", ACCOUNT_NAME]).to_string();
        let account = ObjectRef::new("", "serviceaccounts", &r.cluster, &r.namespace, &name);
        let expected_uid = str_at(&secret, &["metadata", "annotations", ACCOUNT_UID]);
        let uid = match self.client.get(&account).await? {
            Some(sa) if expected_uid.is_empty() || expected_uid == str_at(&sa, &["metadata", "uid"]) => str_at(&sa, &["metadata", "uid"]).to_string(),
            _ => {
                tracing::info!(secret = %r, account = %name, "deleting a token Secret whose service account does not exist");
                self.client.delete(r, None).await?;
                return Ok(Action::Done);
            }
        };
        let bound = ServiceAccountRef {
            cluster: r.cluster.clone(),
            namespace: r.namespace.clone(),
            account: AccountId { name, uid: uid.clone() },
            secret: Some(AccountId { name: r.name.clone(), uid: str_at(&secret, &["metadata", "uid"]).to_string() }),
        };
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64);
        let token = signer.issue(bound, Vec::new(), now, MAX_EXPIRATION_SECONDS).map_err(apimachinery::status::ApiError::internal)?;
        let b64 = |text: &str| json!(base64::engine::general_purpose::STANDARD.encode(text));
        update(&self.client, r, Part::Main, |s| {
            if !wants_token(s) {
                return false;
            }
            s["metadata"]["annotations"][ACCOUNT_UID] = json!(uid);
            s["data"]["token"] = b64(&token);
            s["data"]["namespace"] = b64(&r.namespace);
            if let Some(ca) = &self.ca_pem {
                s["data"]["ca.crt"] = b64(ca);
            }
            true
        })
        .await?;
        Ok(Action::Done)
    }
}
