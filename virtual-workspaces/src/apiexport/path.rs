//! The apiexport virtual workspace's URLs:
//! `/services/apiexport/<export logical cluster>/<export name>/clusters/<consumer | *>/<API path>`.
//! Everything after the export is an ordinary cluster-prefixed Kubernetes path, parsed by
//! [`RequestInfo::parse`] like any other request.

use apimachinery::registry::crd::ExportRef;
use apimachinery::request::{valid_cluster_name, RequestInfo};
use apimachinery::status::ApiError;
use http::Method;

/// Where the view is served; an export's endpoint slice URL is a shard's
/// `virtualWorkspaceURL` followed by this, the export's logical cluster and its name.
pub const PREFIX: &str = "/services/apiexport/";

/// A request to one export's view.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// The export whose view is asked for.
    pub export: ExportRef,
    /// The request below the export: consumer (or `*`), API path, verb and query.
    pub info: RequestInfo,
}

/// Parses a path under [`PREFIX`]; None for other paths. The export's cluster must be a
/// logical cluster name and the consumer a name or `*`: workspace paths are not resolved here,
/// since the view only knows the logical clusters of its shard.
pub fn parse(method: &Method, path: &str, query: Option<&str>) -> Option<Result<Target, ApiError>> {
    let rest = path.strip_prefix(PREFIX)?;
    Some(parse_below(method, rest, query))
}

fn parse_below(method: &Method, rest: &str, query: Option<&str>) -> Result<Target, ApiError> {
    let mut parts = rest.splitn(3, '/');
    let (cluster, name, below) = match (parts.next(), parts.next(), parts.next()) {
        (Some(c), Some(n), Some(below)) => (c, n, below),
        _ => return Err(ApiError::path_not_found()),
    };
    if !valid_cluster_name(cluster) || cluster.contains(':') || !valid_export_name(name) {
        return Err(ApiError::path_not_found());
    }
    let info = crate::parse_below(method, below, query)?;
    Ok(Target { export: ExportRef { cluster: cluster.into(), name: name.into() }, info })
}

/// An object name as Kubernetes allows for exports: a DNS subdomain.
fn valid_export_name(name: &str) -> bool {
    !name.is_empty() && name.len() <= 253 && name.split('.').all(|label| valid_cluster_name(label) && !label.contains(':'))
}

#[cfg(test)]
mod tests {
    use super::*;
    use apimachinery::request::{ClusterTarget, Verb};

    fn target(method: Method, path: &str, query: Option<&str>) -> Target {
        parse(&method, path, query).expect("under the prefix").expect("parses")
    }

    #[test]
    fn wildcard_list_and_watch() {
        let t = target(Method::GET, "/services/apiexport/2x9kq/cowboys/clusters/*/apis/wildwest.dev/v1alpha1/cowboys", None);
        assert_eq!(t.export, ExportRef { cluster: "2x9kq".into(), name: "cowboys".into() });
        assert_eq!((t.info.cluster, t.info.verb, t.info.resource.as_str()), (ClusterTarget::Wildcard, Verb::List, "cowboys"));
        let w = target(Method::GET, "/services/apiexport/root/cowboys/clusters/*/apis/wildwest.dev/v1alpha1/cowboys", Some("watch=true"));
        assert_eq!(w.info.verb, Verb::Watch);
    }

    #[test]
    fn one_consumer_object_and_status() {
        let t = target(Method::PUT, "/services/apiexport/root/cowboys/clusters/c1/apis/wildwest.dev/v1alpha1/namespaces/default/cowboys/bob/status", None);
        assert_eq!(t.info.cluster, ClusterTarget::Name("c1".into()));
        assert_eq!((t.info.namespace.as_str(), t.info.name.as_str(), t.info.subresource.as_str()), ("default", "bob", "status"));
        assert_eq!(t.info.verb, Verb::Update);
    }

    #[test]
    fn discovery_is_not_a_resource_request() {
        let t = target(Method::GET, "/services/apiexport/root/cowboys/clusters/*/apis", None);
        assert!(!t.info.is_resource_request);
        assert_eq!(t.info.path, "/apis");
    }

    #[test]
    fn malformed_or_foreign_paths() {
        assert!(parse(&Method::GET, "/services/cache/shards/x", None).is_none());
        assert!(parse(&Method::GET, "/clusters/root/api", None).is_none());
        for bad in [
            "/services/apiexport/root/cowboys",
            "/services/apiexport/root/cowboys/api/v1",
            "/services/apiexport/Root/cowboys/clusters/*/api",
            "/services/apiexport/root:org/cowboys/clusters/*/api",
            "/services/apiexport/root/cow..boys/clusters/*/api",
            "/services/apiexport/root/cowboys/clusters/root:org/api",
        ] {
            let err = parse(&Method::GET, bad, None).expect("under the prefix").expect_err(bad);
            assert_eq!(err.code(), 404, "{bad}");
        }
        let err = parse(&Method::GET, "/services/apiexport/root/cowboys/clusters/NOPE/api", None).unwrap().expect_err("bad consumer");
        assert_eq!(err.code(), 400);
    }
}
