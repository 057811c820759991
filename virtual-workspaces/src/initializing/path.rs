//! The initializingworkspaces virtual workspace's URLs:
//! `/services/initializingworkspaces/<initializer>/clusters/<logical cluster | *>/<API path>`,
//! where the initializer is the WorkspaceType that holds workspaces, as `<type path>:<name>`.

use apimachinery::request::{valid_cluster_name, RequestInfo};
use apimachinery::status::ApiError;
use http::Method;

/// Where the view is served; a WorkspaceType publishes a shard's `virtualWorkspaceURL`
/// followed by this and its initializer.
pub const PREFIX: &str = "/services/initializingworkspaces/";

/// A request to one initializer's view.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// The initializer, `<type path>:<name>`.
    pub initializer: String,
    /// The request below it: logical cluster (or `*`), API path, verb and query.
    pub info: RequestInfo,
}

/// Parses a path under [`PREFIX`]; None for other paths.
pub fn parse(method: &Method, path: &str, query: Option<&str>) -> Option<Result<Target, ApiError>> {
    let rest = path.strip_prefix(PREFIX)?;
    Some(match rest.split_once('/') {
        Some((initializer, below)) if valid_cluster_name(initializer) && initializer.contains(':') => {
            crate::parse_below(method, below, query).map(|info| Target { initializer: initializer.to_string(), info })
        }
        _ => Err(ApiError::path_not_found()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use apimachinery::request::{ClusterTarget, Verb};

    #[test]
    fn wildcard_list_and_one_cluster() {
        let t = parse(&Method::GET, "/services/initializingworkspaces/root:org:gated/clusters/*/apis/core.kcp.io/v1alpha1/logicalclusters", Some("watch=1"))
            .expect("under the prefix")
            .expect("parses");
        assert_eq!(t.initializer, "root:org:gated");
        assert_eq!((t.info.cluster, t.info.verb), (ClusterTarget::Wildcard, Verb::Watch));
        let t =
            parse(&Method::PATCH, "/services/initializingworkspaces/root:gated/clusters/2x9kq/apis/core.kcp.io/v1alpha1/logicalclusters/cluster/status", None)
                .expect("under the prefix")
                .expect("parses");
        assert_eq!((t.info.cluster, t.info.subresource.as_str()), (ClusterTarget::Name("2x9kq".into()), "status"));
    }

    #[test]
    fn malformed_paths_are_not_found() {
        assert!(parse(&Method::GET, "/services/apiexport/root/x/clusters/*/api", None).is_none());
        for bad in [
            "/services/initializingworkspaces/gated/clusters/*/api",
            "/services/initializingworkspaces/root:Gated/clusters/*/api",
            "/services/initializingworkspaces/root:gated/api/v1",
            "/services/initializingworkspaces/root:gated",
            "/services/initializingworkspaces/root:gated/clusters/root:org/api",
        ] {
            assert_eq!(parse(&Method::GET, bad, None).expect("under the prefix").expect_err(bad).code(), 404, "{bad}");
        }
    }
}
