//! Who may use an export's view, in kcp's order: a request into one consumer needs that
//! consumer to be bound to the export (so the view never reaches a workspace that did not opt
//! in), then the caller needs the same verb on `apiexports/content` of the export in the
//! export's workspace. A wildcard request skips the first check: its results are limited to
//! bound consumers instead.

use apimachinery::auth::UserInfo;
use apimachinery::registry::crd::ExportRef;
use apimachinery::request::{ClusterTarget, RequestInfo};
use apimachinery::status::{ApiError, Reason};
use futures::future::BoxFuture;

/// The message kcp gives when the target consumer has no binding to the export.
pub const NO_BINDING: &str = "could not find suitable APIBinding in target logical cluster";

/// Whether a user holds a verb on an export's `apiexports/content`, in the export's workspace
/// (which may be on another shard); the shard implements it with its RBAC and cache.
pub trait ContentAccess: Send + Sync {
    /// Whether `user` may `verb` the content of `export`; an unknown export allows nothing.
    fn may<'a>(&'a self, user: &'a UserInfo, verb: &'a str, export: &'a ExportRef) -> BoxFuture<'a, Result<bool, ApiError>>;
}

/// Discovery shows an export's schema: anyone who may read its content in some way may see it.
const DISCOVERY_VERBS: [&str; 3] = ["get", "list", "watch"];

/// Allows the request, or says why not. `bound` tells whether a consumer is bound to the export.
pub async fn authorize(
    access: &dyn ContentAccess,
    bound: impl Fn(&str) -> bool,
    user: &UserInfo,
    export: &ExportRef,
    info: &RequestInfo,
) -> Result<(), ApiError> {
    if let ClusterTarget::Name(consumer) = &info.cluster {
        if !bound(consumer) {
            return Err(ApiError::new(Reason::Forbidden, NO_BINDING));
        }
    }
    let verbs: &[&str] = if info.is_resource_request { &[info.verb.as_str()] } else { &DISCOVERY_VERBS };
    for verb in verbs {
        if access.may(user, verb, export).await? {
            return Ok(());
        }
    }
    let why = format!("access to the content of APIExport {}:{} not granted", export.cluster, export.name);
    Err(apiserver::server::access::forbidden(user, info, &why))
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::Method;
    use std::sync::Mutex;

    /// Grants the listed verbs and records what it was asked.
    #[derive(Default)]
    struct Grants {
        verbs: Vec<&'static str>,
        asked: Mutex<Vec<String>>,
    }

    impl ContentAccess for Grants {
        fn may<'a>(&'a self, _user: &'a UserInfo, verb: &'a str, _export: &'a ExportRef) -> BoxFuture<'a, Result<bool, ApiError>> {
            self.asked.lock().unwrap().push(verb.to_string());
            Box::pin(async move { Ok(self.verbs.contains(&verb)) })
        }
    }

    fn info(method: Method, path: &str) -> RequestInfo {
        RequestInfo::parse(&method, path, None).expect("parses")
    }

    async fn decide(grants: &Grants, method: Method, path: &str) -> Result<(), ApiError> {
        let export = ExportRef { cluster: "p".into(), name: "cowboys".into() };
        let user = UserInfo { name: "sa".into(), ..Default::default() };
        authorize(grants, |c| c == "bound", &user, &export, &info(method, path)).await
    }

    const COWBOYS: &str = "/apis/wildwest.dev/v1alpha1/namespaces/default/cowboys";

    #[tokio::test]
    async fn an_unbound_consumer_is_refused_before_content_is_checked() {
        let grants = Grants { verbs: vec!["list"], ..Default::default() };
        let err = decide(&grants, Method::GET, &format!("/clusters/other{COWBOYS}")).await.unwrap_err();
        assert_eq!((err.code(), err.message.as_str()), (403, NO_BINDING));
        assert!(grants.asked.lock().unwrap().is_empty());
    }

    #[tokio::test]
    async fn content_verbs_are_checked_one_for_one() {
        let grants = Grants { verbs: vec!["list"], ..Default::default() };
        decide(&grants, Method::GET, &format!("/clusters/bound{COWBOYS}")).await.expect("list allowed");
        decide(&grants, Method::GET, &format!("/clusters/*{COWBOYS}")).await.expect("wildcard list allowed");
        let err = decide(&grants, Method::POST, &format!("/clusters/bound{COWBOYS}")).await.unwrap_err();
        assert_eq!(err.code(), 403);
        assert!(err.message.contains("cannot create resource \"cowboys\""), "{}", err.message);
        assert_eq!(*grants.asked.lock().unwrap(), ["list", "list", "create"]);
    }

    #[tokio::test]
    async fn discovery_needs_some_read_access() {
        let reader = Grants { verbs: vec!["watch"], ..Default::default() };
        decide(&reader, Method::GET, "/clusters/*/apis").await.expect("a watcher discovers");
        let nobody = Grants::default();
        assert_eq!(decide(&nobody, Method::GET, "/clusters/*/apis").await.unwrap_err().code(), 403);
    }
}
