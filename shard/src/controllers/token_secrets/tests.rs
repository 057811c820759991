use super::*;
use crate::controllers::testing::Fixture;

async fn setup(f: &Fixture, account: &str) -> (TokenSecrets, ObjectRef) {
    f.namespace("c1", "team").await;
    let client = f.client("test");
    let sa = json!({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "robot"}});
    client.create(&ObjectRef::new("", "serviceaccounts", "c1", "team", "robot"), sa).await.unwrap();
    let r = ObjectRef::new("", "secrets", "c1", "team", "robot-token");
    let secret = json!({"apiVersion": "v1", "kind": "Secret", "type": TYPE, "metadata": {"name": "robot-token", "annotations": {ACCOUNT_NAME: account}}});
    client.create(&r, secret).await.unwrap();
    (TokenSecrets { client: f.client(NAME), ca_pem: Some(Arc::from("PEM")) }, r)
}

fn decoded(secret: &Value, field: &str) -> String {
    let raw = base64::engine::general_purpose::STANDARD.decode(str_at(secret, &["data", field])).unwrap();
    String::from_utf8(raw).unwrap()
}

#[tokio::test]
async fn a_token_secret_gets_a_token_that_lives_as_long_as_the_secret() {
    let f = Fixture::new().await;
    let (c, r) = setup(&f, "robot").await;
    assert_eq!(c.reconcile(&r).await.unwrap(), Action::Done);
    let secret = f.get(&r.key()).await.unwrap();
    let sa = f.get("core/serviceaccounts/c1/team/robot").await.unwrap();
    assert_eq!(secret["metadata"]["annotations"][ACCOUNT_UID], sa["metadata"]["uid"]);
    assert_eq!((decoded(&secret, "namespace"), decoded(&secret, "ca.crt")), ("team".into(), "PEM".into()));
    let token = decoded(&secret, "token");
    let user = f.api.authn.authenticate_token(&token, &[]).await.unwrap().expect("the token authenticates");
    assert_eq!(user.name, "system:serviceaccount:team:robot");
    assert_eq!(c.reconcile(&r).await.unwrap(), Action::Done);
    assert_eq!(decoded(&f.get(&r.key()).await.unwrap(), "token"), token, "made once");

    f.client("test").delete(&r, None).await.unwrap();
    assert_eq!(f.api.authn.authenticate_token(&token, &[]).await.unwrap(), None, "deleting the Secret revokes it");
}

#[tokio::test]
async fn an_accounts_token_secrets_go_with_it() {
    let f = Fixture::new().await;
    let (c, r) = setup(&f, "robot").await;
    let client = f.client("test");
    let other = ObjectRef::new("", "secrets", "c1", "team", "plain");
    client.create(&other, json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "plain"}})).await.unwrap();
    let account = ObjectRef::new("", "serviceaccounts", "c1", "team", "robot");
    assert_eq!(c.reconcile(&account).await.unwrap(), Action::Done);
    assert!(f.get(&r.key()).await.is_some(), "the account still exists");
    client.delete(&account, None).await.unwrap();
    assert_eq!(c.reconcile(&account).await.unwrap(), Action::Done);
    assert!(f.get(&r.key()).await.is_none());
    assert!(f.get(&other.key()).await.is_some(), "other Secrets stay");
}

#[tokio::test]
async fn a_secret_for_an_account_that_does_not_exist_is_deleted() {
    let f = Fixture::new().await;
    let (c, r) = setup(&f, "nobody").await;
    assert_eq!(c.reconcile(&r).await.unwrap(), Action::Done);
    assert!(f.get(&r.key()).await.is_none());
}
