//! Parses a request path once into [`RequestInfo`]: which logical cluster, which API, which verb.
//!
//! Everything downstream (authorization, routing, storage keys) reads this value and never the
//! raw path again. The cluster segment is validated here, so a path can never smuggle `/` or
//! other separators into a storage key.

use std::collections::HashMap;

use http::Method;

use crate::status::ApiError;

/// What a request does, in the words authorization, admission and metrics use.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Verb {
    /// Read one object (or a non-resource GET).
    Get,
    /// Read a collection.
    List,
    /// Follow changes.
    Watch,
    /// POST of a new object.
    Create,
    /// PUT of a whole object.
    Update,
    /// PATCH of an object (or a non-resource PATCH).
    Patch,
    /// DELETE of one object (or a non-resource DELETE).
    Delete,
    /// DELETE of a collection.
    DeleteCollection,
    /// A non-resource request's other method, lower-cased (`post`, `put`, `head`); empty for a
    /// resource request whose method no verb maps to.
    Other(String),
}

impl Verb {
    /// The verb as RBAC rules and kube's metrics spell it.
    pub fn as_str(&self) -> &str {
        match self {
            Verb::Get => "get",
            Verb::List => "list",
            Verb::Watch => "watch",
            Verb::Create => "create",
            Verb::Update => "update",
            Verb::Patch => "patch",
            Verb::Delete => "delete",
            Verb::DeleteCollection => "deletecollection",
            Verb::Other(method) => method,
        }
    }

    /// The verb of a non-resource request: its method, lower-cased.
    fn of_method(method: &Method) -> Verb {
        match *method {
            Method::GET => Verb::Get,
            Method::PATCH => Verb::Patch,
            Method::DELETE => Verb::Delete,
            _ => Verb::Other(method.as_str().to_ascii_lowercase()),
        }
    }
}

impl std::fmt::Display for Verb {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Which logical clusters a request addresses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClusterTarget {
    /// No `/clusters/` prefix.
    None,
    /// `/clusters/*`: every logical cluster of this shard.
    Wildcard,
    /// One logical cluster by name.
    Name(String),
}

/// Where a request is going, parsed from method, path and query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestInfo {
    /// The logical cluster(s) addressed by the `/clusters/<c>` prefix, if any.
    pub cluster: ClusterTarget,
    /// The cluster as the caller wrote it (a workspace path or a logical cluster name), for
    /// messages: refusals must never reveal what a path resolves to.
    pub cluster_as_written: String,
    /// Path with the `/clusters/<c>` prefix removed.
    pub path: String,
    /// Whether the path names an API resource (`/api/v1/pods`), not discovery or `/healthz`.
    pub is_resource_request: bool,
    /// Kubernetes verb: get, list, watch, create, update, patch, delete, deletecollection, or
    /// for non-resource requests the lower-cased HTTP method.
    pub verb: Verb,
    /// `api` for the core group, `apis` for named groups; empty for non-API paths.
    pub api_prefix: String,
    /// API group, e.g. `apps`; empty for the core group.
    pub api_group: String,
    /// API version, e.g. `v1`.
    pub api_version: String,
    /// Namespace from `namespaces/<ns>/...`; empty for cluster-scoped requests.
    pub namespace: String,
    /// Resource, plural and lower-case, e.g. `configmaps`.
    pub resource: String,
    /// Subresource, e.g. `status` or `scale`; empty for the main resource.
    pub subresource: String,
    /// Object name; empty for collection requests.
    pub name: String,
    /// Decoded query parameters; a repeated key keeps its last value.
    pub query: HashMap<String, String>,
}

/// Regex-equivalent check of a logical cluster name or path segment: `[a-z0-9]([a-z0-9-]*[a-z0-9])?`
/// joined by `:`, at most 63 characters a segment.
pub fn valid_cluster_name(name: &str) -> bool {
    !name.is_empty()
        && name.split(':').all(|seg| {
            let b = seg.as_bytes();
            !b.is_empty()
                && b.len() <= 63
                && b.iter().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
                && b[0] != b'-'
                && b[b.len() - 1] != b'-'
        })
}

/// Where kcp serves views computed from many logical clusters (virtual workspaces, the cache):
/// a path below it is the view's own, not the API of the caller's cluster.
pub const SERVICES_PREFIX: &str = "/services/";

/// First segment of home workspace paths: `user:<name>` is the home of user `<name>`.
pub const HOME_ROOT: &str = "user";

/// The logical cluster of a user's home workspace: 13 base36 characters of a hash of the user
/// name, so every shard and proxy finds it without a lookup, and it can never collide with the
/// 16-character names of other workspaces.
pub fn home_cluster_name(user: &str) -> String {
    hashed_name(user.as_bytes(), 13)
}

/// A workspace path as callers write it (`root:org:team`, `user:alice:dev`, or a bare logical
/// cluster name), split into the logical cluster a walk starts from and the Workspace names to
/// follow from there. The shard and the front-proxy both resolve paths through it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkspacePath<'a> {
    start: String,
    children: Vec<&'a str>,
}

impl<'a> WorkspacePath<'a> {
    /// Splits `path`; `None` for `user` without a user name (no such home).
    pub fn parse(path: &'a str) -> Option<WorkspacePath<'a>> {
        let mut segments = path.split(':');
        let first = segments.next()?;
        let start = if first == HOME_ROOT { home_cluster_name(segments.next()?) } else { first.to_string() };
        Some(WorkspacePath { start, children: segments.collect() })
    }

    /// The logical cluster the walk starts from: the first segment, or a user's home.
    pub fn start(&self) -> &str {
        &self.start
    }

    /// The Workspace names to follow, outermost first.
    pub fn children(&self) -> &[&'a str] {
        &self.children
    }
}

/// The logical cluster of a Workspace: 16 base36 characters (82 bits) of a hash of its uid.
/// The uid is random and never reused, so the name is too; and because it is derived, a
/// scheduler that crashes half-way picks the same name again without having to record it.
pub fn workspace_cluster_name(workspace_uid: &str) -> String {
    hashed_name(workspace_uid.as_bytes(), 16)
}

fn hashed_name(input: &[u8], chars: usize) -> String {
    let digest = ring::digest::digest(&ring::digest::SHA256, input);
    let mut n = u128::from_be_bytes(digest.as_ref()[..16].try_into().unwrap_or_default());
    let mut out = vec![b'0'; chars];
    for slot in out.iter_mut().rev() {
        *slot = char::from_digit((n % 36) as u32, 36).unwrap_or('0') as u8;
        n /= 36;
    }
    String::from_utf8(out).unwrap_or_default()
}

/// Decodes the query string into a map; repeated keys keep the last value.
pub fn parse_query(query: Option<&str>) -> HashMap<String, String> {
    let mut out = HashMap::new();
    for pair in query.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        out.insert(percent_decode(k), percent_decode(v));
    }
    out
}

/// Decodes `%XX` escapes and `+` (as space) in a query component.
pub fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).ok().and_then(|h| u8::from_str_radix(h, 16).ok());
                match hex {
                    Some(b) => {
                        out.push(b);
                        i += 3;
                    }
                    None => {
                        out.push(b'%');
                        i += 1;
                    }
                }
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

impl RequestInfo {
    /// Parses method, path and query. Fails with 400 for malformed cluster names.
    pub fn parse(method: &Method, path: &str, query: Option<&str>) -> Result<RequestInfo, ApiError> {
        let query = parse_query(query);
        let (cluster, rest) = match path.strip_prefix("/clusters/") {
            Some(after) => {
                let (c, rest) = match after.find('/') {
                    Some(i) => (&after[..i], &after[i..]),
                    None => (after, "/"),
                };
                let c = percent_decode(c);
                let target = if c == "*" {
                    ClusterTarget::Wildcard
                } else if valid_cluster_name(&c) {
                    ClusterTarget::Name(c)
                } else {
                    return Err(ApiError::bad_request(format!(
                        "invalid cluster: {c:?} does not match the regex [a-z0-9]([a-z0-9-]{{0,61}}[a-z0-9])?(:[a-z0-9]([a-z0-9-]{{0,61}}[a-z0-9])?)*"
                    )));
                };
                (target, rest.to_string())
            }
            None => (ClusterTarget::None, path.to_string()),
        };
        let cluster_as_written = match &cluster {
            ClusterTarget::Name(c) => c.clone(),
            _ => String::new(),
        };
        let mut info = RequestInfo {
            cluster,
            cluster_as_written,
            path: rest.clone(),
            is_resource_request: false,
            verb: Verb::of_method(method),
            api_prefix: String::new(),
            api_group: String::new(),
            api_version: String::new(),
            namespace: String::new(),
            resource: String::new(),
            subresource: String::new(),
            name: String::new(),
            query,
        };
        let segs: Vec<&str> = rest.trim_matches('/').split('/').filter(|s| !s.is_empty()).collect();
        let mut parts: &[&str] = &segs;
        match parts.first() {
            Some(&"api") => {
                info.api_prefix = "api".into();
                parts = &parts[1..];
            }
            Some(&"apis") => {
                info.api_prefix = "apis".into();
                parts = &parts[1..];
                match parts.first() {
                    Some(g) => {
                        info.api_group = (*g).to_string();
                        parts = &parts[1..];
                    }
                    None => return Ok(info),
                }
            }
            _ => return Ok(info),
        }
        match parts.first() {
            Some(v) => {
                info.api_version = (*v).to_string();
                parts = &parts[1..];
            }
            None => return Ok(info),
        }
        if parts.is_empty() {
            return Ok(info);
        }
        info.is_resource_request = true;
        let mut legacy_watch = false;
        if parts[0] == "watch" {
            legacy_watch = true;
            parts = &parts[1..];
        }
        // `namespaces/<ns>/<resource>...` addresses a namespaced resource, except the namespace
        // object itself and its subresources (`namespaces/<ns>/status`, `finalize`).
        if parts.first() == Some(&"namespaces") && parts.len() >= 3 && !matches!(parts[2], "status" | "finalize") {
            info.namespace = parts[1].to_string();
            parts = &parts[2..];
        }
        info.resource = parts.first().map(|s| s.to_string()).unwrap_or_default();
        info.name = parts.get(1).map(|s| s.to_string()).unwrap_or_default();
        info.subresource = parts.get(2).map(|s| s.to_string()).unwrap_or_default();
        if parts.len() > 3 || [&info.resource, &info.name, &info.subresource].iter().any(|s| !safe_segment(s)) {
            return Err(ApiError::path_not_found());
        }
        let watch = legacy_watch || info.flag("watch");
        info.verb = match *method {
            Method::GET | Method::HEAD if watch => Verb::Watch,
            Method::GET | Method::HEAD if info.name.is_empty() => Verb::List,
            Method::GET | Method::HEAD => Verb::Get,
            Method::POST => Verb::Create,
            Method::PUT => Verb::Update,
            Method::PATCH => Verb::Patch,
            Method::DELETE if info.name.is_empty() => Verb::DeleteCollection,
            Method::DELETE => Verb::Delete,
            _ => Verb::Other(String::new()),
        };
        Ok(info)
    }

    /// The logical cluster name, if exactly one is addressed.
    pub fn cluster_name(&self) -> Option<&str> {
        match &self.cluster {
            ClusterTarget::Name(n) => Some(n),
            _ => None,
        }
    }

    /// True when the addressed cluster is a workspace path (`root:org`), which must be resolved
    /// to a logical cluster name before anything reads storage. `system:` names are names.
    pub fn cluster_is_path(&self) -> bool {
        self.cluster_name().is_some_and(|c| c.contains(':') && !c.starts_with("system:"))
    }

    /// A query parameter, if present.
    pub fn param(&self, key: &str) -> Option<&str> {
        self.query.get(key).map(String::as_str)
    }

    /// A boolean query parameter, true for what Go's `strconv.ParseBool` reads as true: the
    /// Python client sends `watch=True`.
    pub fn flag(&self, key: &str) -> bool {
        matches!(self.param(key), Some("1" | "t" | "T" | "true" | "TRUE" | "True"))
    }
}

/// Path segments that can safely become part of a storage key.
fn safe_segment(s: &str) -> bool {
    !s.contains(['/', '\0']) && s != "." && s != ".."
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn workspace_paths_start_at_root_or_a_home() {
        let p = WorkspacePath::parse("root:org:team").expect("path");
        assert_eq!((p.start(), p.children()), ("root", &["org", "team"][..]));
        let h = WorkspacePath::parse("user:alice:dev").expect("home path");
        assert_eq!((h.start(), h.children()), (home_cluster_name("alice").as_str(), &["dev"][..]));
        assert_eq!(WorkspacePath::parse("user"), None);
        let bare = WorkspacePath::parse("2x9kqbmpcs1mfqdc").expect("name");
        assert!(bare.children().is_empty());
    }

    #[test]
    fn home_cluster_names_are_stable_and_distinct() {
        let a = home_cluster_name("alice");
        assert_eq!(a, home_cluster_name("alice"));
        assert_ne!(a, home_cluster_name("bob"));
        assert_eq!(a.len(), 13);
        assert!(valid_cluster_name(&a), "{a}");
        let w = workspace_cluster_name("0b5a2cbb-54f5-4a69-9d4e-2d0d3f1f9f4e");
        assert_eq!(w.len(), 16);
        assert!(w.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit()), "{w}");
        assert_ne!(w, workspace_cluster_name("another uid"));
    }

    fn parse(m: Method, p: &str, q: Option<&str>) -> RequestInfo {
        RequestInfo::parse(&m, p, q).expect("parses")
    }

    #[test]
    fn resource_paths() {
        let i = parse(Method::GET, "/clusters/root/api/v1/namespaces/default/configmaps/x", None);
        assert_eq!(i.cluster, ClusterTarget::Name("root".into()));
        assert_eq!((i.verb.as_str(), i.namespace.as_str(), i.resource.as_str(), i.name.as_str()), ("get", "default", "configmaps", "x"));
        let i = parse(Method::GET, "/clusters/root/api/v1/namespaces/default", None);
        assert_eq!((i.resource.as_str(), i.name.as_str(), i.namespace.as_str()), ("namespaces", "default", ""));
        let i = parse(Method::PUT, "/clusters/a:b/api/v1/namespaces/x/status", None);
        assert_eq!((i.resource.as_str(), i.name.as_str(), i.subresource.as_str()), ("namespaces", "x", "status"));
        let i = parse(Method::GET, "/clusters/*/apis/rbac.authorization.k8s.io/v1/roles", Some("watch=true"));
        assert_eq!(i.cluster, ClusterTarget::Wildcard);
        assert_eq!((i.verb.as_str(), i.api_group.as_str()), ("watch", "rbac.authorization.k8s.io"));
        let i = parse(Method::GET, "/clusters/root/api/v1/watch/namespaces/d/configmaps", None);
        assert_eq!((i.verb.as_str(), i.namespace.as_str()), ("watch", "d"));
        let i = parse(Method::DELETE, "/api/v1/namespaces/d/configmaps", None);
        assert_eq!(i.verb, Verb::DeleteCollection);
        let i = parse(Method::PATCH, "/clusters/root/apis/example.com/v1/namespaces/d/widgets/w/status", None);
        assert_eq!(i.subresource, "status");
    }

    #[test]
    fn non_resource_paths() {
        let i = parse(Method::GET, "/clusters/root/apis", None);
        assert!(!i.is_resource_request);
        assert_eq!(i.path, "/apis");
        let i = parse(Method::GET, "/version", Some("timeout=32s"));
        assert!(!i.is_resource_request);
        assert_eq!(i.cluster, ClusterTarget::None);
    }

    #[test]
    fn bad_cluster_names_are_rejected() {
        for bad in ["/clusters/Root/api", "/clusters/root::x/api", "/clusters/a%2Fb/api", &format!("/clusters/{}/api", "a".repeat(64))] {
            assert!(RequestInfo::parse(&Method::GET, bad, None).is_err(), "{bad}");
        }
        assert!(RequestInfo::parse(&Method::GET, "/clusters/root/api/v1/namespaces/a/configmaps/x/y/z", None).is_err());
    }

    #[test]
    fn query_decoding() {
        let q = parse_query(Some("labelSelector=app%3Dx%2Ctier+in+(a)&limit=5&flag"));
        assert_eq!(q["labelSelector"], "app=x,tier in (a)");
        assert_eq!(q["limit"], "5");
        assert_eq!(q["flag"], "");
    }

    #[test]
    fn boolean_parameters_read_like_go() {
        for (query, watch) in
            [("watch=true", true), ("watch=True", true), ("watch=1", true), ("watch=false", false), ("watch=False", false), ("watch=yes", false)]
        {
            let i = parse(Method::GET, "/clusters/root/api/v1/configmaps", Some(query));
            assert_eq!(i.verb == Verb::Watch, watch, "{query}");
        }
    }
}
