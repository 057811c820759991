//! The lifecycle views' URLs:
//! `/services/initializingworkspaces/<initializer>/clusters/<logical cluster | *>/<API path>`
//! and the same below `/services/terminatingworkspaces/<terminator>/`, where the holder is the
//! WorkspaceType that holds workspaces, as `<type path>:<name>`.

use apimachinery::registry::kcpcore::logicalcluster::Hook;
use apimachinery::request::{valid_cluster_name, RequestInfo};
use apimachinery::status::ApiError;
use http::Method;

/// Where a hook's view is served; a WorkspaceType publishes a shard's `virtualWorkspaceURL`
/// followed by this and its own name.
pub fn prefix(hook: Hook) -> &'static str {
    match hook {
        Hook::Initializer => "/services/initializingworkspaces/",
        Hook::Terminator => "/services/terminatingworkspaces/",
    }
}

/// The `type` a WorkspaceType's `status.virtualWorkspaces` entry gives a hook's view (kcp's).
pub fn kind(hook: Hook) -> &'static str {
    match hook {
        Hook::Initializer => "initializing",
        Hook::Terminator => "terminating",
    }
}

/// A request to one holder's view.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// Which stage the view serves.
    pub hook: Hook,
    /// The initializer or terminator, `<type path>:<name>`.
    pub holder: String,
    /// The request below it: logical cluster (or `*`), API path, verb and query.
    pub info: RequestInfo,
}

/// Parses a path under either view's prefix; None for other paths.
pub fn parse(method: &Method, path: &str, query: Option<&str>) -> Option<Result<Target, ApiError>> {
    let (hook, rest) = [Hook::Initializer, Hook::Terminator].into_iter().find_map(|h| Some((h, path.strip_prefix(prefix(h))?)))?;
    Some(match rest.split_once('/') {
        Some((holder, below)) if valid_cluster_name(holder) && holder.contains(':') => {
            crate::parse_below(method, below, query).map(|info| Target { hook, holder: holder.to_string(), info })
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
        assert_eq!((t.hook, t.holder.as_str()), (Hook::Initializer, "root:org:gated"));
        assert_eq!((t.info.cluster, t.info.verb), (ClusterTarget::Wildcard, Verb::Watch));
        let t =
            parse(&Method::PATCH, "/services/terminatingworkspaces/root:cleanup/clusters/2x9kq/apis/core.kcp.io/v1alpha1/logicalclusters/cluster/status", None)
                .expect("under the prefix")
                .expect("parses");
        assert_eq!((t.hook, t.holder.as_str()), (Hook::Terminator, "root:cleanup"));
        assert_eq!((t.info.cluster, t.info.subresource.as_str()), (ClusterTarget::Name("2x9kq".into()), "status"));
    }

    #[test]
    fn malformed_paths_are_not_found() {
        assert!(parse(&Method::GET, "/services/apiexport/root/x/clusters/*/api", None).is_none());
        for bad in [
            "/services/initializingworkspaces/gated/clusters/*/api",
            "/services/initializingworkspaces/root:Gated/clusters/*/api",
            "/services/initializingworkspaces/root:gated/api/v1",
            "/services/terminatingworkspaces/root:gated",
            "/services/terminatingworkspaces/root:gated/clusters/root:org/api",
        ] {
            assert_eq!(parse(&Method::GET, bad, None).expect("under the prefix").expect_err(bad).code(), 404, "{bad}");
        }
    }
}
