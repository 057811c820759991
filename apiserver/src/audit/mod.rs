//! The audit log: one Kubernetes `audit.k8s.io/v1` Event per request, at the level the policy
//! chooses, written as hash-chained JSON lines by a thread of its own.
//!
//! A request is followed by a [`Trail`] in its extensions: authentication records who called
//! (and whom they impersonate), the phase that ends the request records what it addressed by
//! then (the workspace path resolved to a logical cluster), the endpoint records the body.
//! When the answer is ready, [`Auditor::finish`] asks the [`policy`] for the level, builds the
//! [`event`], and queues it for the [`writer`], which links it into the [`chain`]. Watches
//! get one event, at `ResponseStarted` (their end is not recorded); every other request one at
//! `ResponseComplete`. Requests whose path does not parse (400 before anything else) are not
//! audited.

pub mod chain;
pub mod event;
pub mod policy;
pub mod verify;
pub mod writer;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body::Body as _;
use http_body_util::BodyExt;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::registry::Registry;
use serde_json::Value;
use tokio::sync::mpsc;

use crate::auth::authn::TrustedProxy;
use crate::config::ConfigError;
use crate::rest::body::{self, Response};
use crate::server::phase::Req;
use apimachinery::auth::UserInfo;
use apimachinery::request::{ClusterTarget, RequestInfo, Verb};
use event::{Event, ObjectRef, ResponseStatus, CLUSTER_ANNOTATION, SHARD_ANNOTATION, WORKSPACE_ANNOTATION};
use policy::{Level, Policy, Stage, Subject};

/// Header carrying the audit id: answered on every audited response, and passed from the
/// front-proxy to the shard so both events of one request share it.
pub const AUDIT_ID_HEADER: &str = "audit-id";

/// How long a request waits for room in a full queue before its event is dropped (and counted
/// in `apiserver_audit_error_total`).
const MAX_WAIT: Duration = Duration::from_secs(1);

/// Default rotation size, as kube-apiserver's (lumberjack's) for `--audit-log-maxsize 0`.
const DEFAULT_MAX_MB: u64 = 100;

/// The audit flags, named as kube-apiserver's (plus the seal key's).
#[derive(Debug, Default, Clone, clap::Args)]
pub struct AuditFlags {
    /// Audit log file: JSON lines, hash-chained, sealed at rotation and shutdown; needs
    /// --audit-policy-file.
    #[arg(long)]
    pub audit_log_path: Option<PathBuf>,
    /// Audit policy (an audit.k8s.io/v1 Policy in YAML); without one nothing is audited.
    #[arg(long)]
    pub audit_policy_file: Option<PathBuf>,
    /// Size in megabytes past which the audit log is rotated; default (and 0) 100.
    #[arg(long)]
    pub audit_log_maxsize: Option<u64>,
    /// Rotated audit log files kept; default 0, which keeps all.
    #[arg(long)]
    pub audit_log_maxbackup: Option<usize>,
    /// Ed25519 key (PKCS#8 PEM) that signs the log's seals; generated on first use (mode 0600,
    /// public half beside it as `<file>.pub`, which `kcp audit verify --key` takes).
    #[arg(long)]
    pub audit_signing_key_file: Option<PathBuf>,
}

/// A resolved audit configuration.
#[derive(Debug, Clone)]
pub struct AuditConfig {
    /// The current log file.
    pub log_path: PathBuf,
    /// The parsed policy.
    pub policy: Policy,
    /// Rotation size in bytes.
    pub max_bytes: u64,
    /// Rotated files kept (0: all).
    pub max_backups: usize,
    /// The seal key.
    pub signing_key_file: PathBuf,
}

impl AuditFlags {
    /// These flags over the config file's settings.
    pub fn or(self, file: AuditFlags) -> AuditFlags {
        AuditFlags {
            audit_log_path: self.audit_log_path.or(file.audit_log_path),
            audit_policy_file: self.audit_policy_file.or(file.audit_policy_file),
            audit_log_maxsize: self.audit_log_maxsize.or(file.audit_log_maxsize),
            audit_log_maxbackup: self.audit_log_maxbackup.or(file.audit_log_maxbackup),
            audit_signing_key_file: self.audit_signing_key_file.or(file.audit_signing_key_file),
        }
    }

    /// The configuration, reading the policy; `None` when auditing is off. `default_key` places
    /// the seal key when no file is named (given the log path).
    pub fn resolve(self, default_key: impl FnOnce(&Path) -> PathBuf) -> Result<Option<AuditConfig>, ConfigError> {
        let (log_path, policy_file) = match (self.audit_log_path, self.audit_policy_file) {
            (None, None) => return Ok(None),
            (Some(_), None) => return Err(ConfigError::Missing("--audit-policy-file (with --audit-log-path)")),
            (None, Some(_)) => return Err(ConfigError::Missing("--audit-log-path (with --audit-policy-file)")),
            (Some(log), Some(policy)) => (log, policy),
        };
        if log_path.as_os_str() == "-" {
            return Err(ConfigError::Invalid { setting: "--audit-log-path", message: "standard output cannot be hash-chained and sealed; name a file".into() });
        }
        let text = std::fs::read_to_string(&policy_file).map_err(|source| ConfigError::Read { path: policy_file.clone(), source })?;
        let policy =
            Policy::parse(&text).map_err(|e| ConfigError::Invalid { setting: "--audit-policy-file", message: format!("{}: {e}", policy_file.display()) })?;
        let mb = self.audit_log_maxsize.filter(|m| *m > 0).unwrap_or(DEFAULT_MAX_MB);
        Ok(Some(AuditConfig {
            signing_key_file: self.audit_signing_key_file.unwrap_or_else(|| default_key(&log_path)),
            max_bytes: mb.saturating_mul(1024 * 1024),
            max_backups: self.audit_log_maxbackup.unwrap_or(0),
            log_path,
            policy,
        }))
    }
}

/// Why auditing could not start.
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    /// The seal key.
    #[error(transparent)]
    Key(#[from] chain::KeyError),
    /// The log file.
    #[error(transparent)]
    Open(#[from] writer::OpenError),
    /// The writer thread.
    #[error("starting the audit writer")]
    Thread(#[source] std::io::Error),
}

/// Decides and records the audit events of one process.
pub struct Auditor {
    policy: Policy,
    tx: mpsc::Sender<writer::Msg>,
    /// Names this process's shard in every event (the front-proxy names the target's instead).
    shard: Option<String>,
    events: Counter,
    lost: Counter,
    waited: Counter,
}

impl Auditor {
    /// Opens the log (continuing its chain) and starts the writer.
    pub fn start(config: AuditConfig, shard: Option<String>) -> Result<Arc<Auditor>, AuditError> {
        let key = chain::SealKey::load_or_generate(&config.signing_key_file)?;
        let lost = Counter::default();
        let target = writer::Target { path: config.log_path, max_bytes: config.max_bytes, max_backups: config.max_backups, key };
        let w = writer::Writer::open(target, lost.clone())?;
        let (tx, rx) = mpsc::channel(writer::QUEUE);
        std::thread::Builder::new().name("audit-writer".into()).spawn(move || w.run(rx)).map_err(AuditError::Thread)?;
        Ok(Arc::new(Auditor { policy: config.policy, tx, shard, events: Counter::default(), lost, waited: Counter::default() }))
    }

    /// Adds the audit metrics.
    pub fn register(&self, registry: &mut Registry) {
        registry.register("apiserver_audit_event", "Audit events generated and sent to the audit log writer", self.events.clone());
        registry.register("apiserver_audit_error", "Audit events lost: the queue stayed full for a second, or the write failed", self.lost.clone());
        registry.register("kcp_audit_queue_full", "Requests that had to wait for room in the audit queue", self.waited.clone());
    }

    /// Seals the log and stops the writer; events after this are lost (and counted).
    pub async fn close(&self) {
        let (done, sealed) = tokio::sync::oneshot::channel();
        if self.tx.send(writer::Msg::Close(done)).await.is_ok() {
            let _ = sealed.await;
        }
    }

    /// Records the event of a request whose answer is `response` (collecting a whole body
    /// when the event needs it) and returns the answer.
    pub async fn finish(&self, received: Received, trail: &Trail, response: Response) -> Response {
        let seen = std::mem::take(&mut *trail.0.lock().unwrap_or_else(|e| e.into_inner()));
        let info = seen.info.unwrap_or(received.info);
        let stage = if info.verb == Verb::Watch { Stage::ResponseStarted } else { Stage::ResponseComplete };
        let level = self.policy.level(&Subject { user: seen.user.as_ref(), info: &info }, stage);
        if level == Level::None {
            return response;
        }
        let code = response.status().as_u16();
        let whole = stage == Stage::ResponseComplete && response.body().size_hint().exact().is_some();
        let (response, answer) = if whole && (level == Level::RequestResponse || code >= 400) {
            let (parts, b) = response.into_parts();
            let bytes = b.collect().await.map(|c| c.to_bytes()).unwrap_or_else(|never| match never {});
            let json = decode(&parts.headers, &bytes);
            (http::Response::from_parts(parts, body::full(bytes)), json)
        } else {
            (response, None)
        };
        let mut annotations = seen.annotations;
        if let ClusterTarget::Name(c) = &info.cluster {
            annotations.entry(WORKSPACE_ANNOTATION.into()).or_insert_with(|| info.cluster_as_written.clone());
            if !info.cluster_is_path() {
                annotations.entry(CLUSTER_ANNOTATION.into()).or_insert_with(|| c.clone());
            }
        }
        if let Some(shard) = &self.shard {
            annotations.entry(SHARD_ANNOTATION.into()).or_insert_with(|| shard.clone());
        }
        let event = Event {
            kind: "Event".into(),
            api_version: "audit.k8s.io/v1".into(),
            level,
            audit_id: received.audit_id,
            stage,
            request_uri: received.uri,
            verb: info.verb.to_string(),
            user: seen.user.unwrap_or_default(),
            impersonated_user: seen.impersonated,
            source_ips: received.source_ips,
            user_agent: received.user_agent,
            object_ref: ObjectRef::of(&info),
            response_status: Some(ResponseStatus::of(code, answer.as_ref())),
            request_object: if level >= Level::Request { seen.body.and_then(|(headers, b)| decode(&headers, &b)) } else { None },
            response_object: if level == Level::RequestResponse { answer } else { None },
            request_received_timestamp: event::timestamp(received.at),
            stage_timestamp: event::timestamp(jiff::Timestamp::now()),
            annotations,
        };
        self.record(event).await;
        response
    }

    /// Queues an event, waiting up to [`MAX_WAIT`] for room rather than dropping it at once.
    async fn record(&self, event: Event) {
        let msg = match self.tx.try_send(writer::Msg::Event(Box::new(event))) {
            Ok(()) => {
                self.events.inc();
                return;
            }
            Err(mpsc::error::TrySendError::Full(msg)) => msg,
            Err(mpsc::error::TrySendError::Closed(_)) => {
                self.lost.inc();
                return;
            }
        };
        self.waited.inc();
        match tokio::time::timeout(MAX_WAIT, self.tx.send(msg)).await {
            Ok(Ok(())) => self.events.inc(),
            _ => {
                tracing::warn!("the audit log writer is behind: an event was dropped");
                self.lost.inc()
            }
        };
    }
}

/// A body as JSON, whatever the encoding its content type names; `None` when it is not an
/// object encoding (events then record no object).
fn decode(headers: &http::HeaderMap, bytes: &[u8]) -> Option<Value> {
    let ct = headers.get(http::header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or_default();
    crate::rest::decode::decode(ct, bytes).ok()
}

/// The address a connection came from, put on each of its requests by the server.
#[derive(Debug, Clone, Copy)]
pub struct ClientAddr(pub std::net::SocketAddr);

/// What is known of a request when it arrives.
pub struct Received {
    /// Its id (the request id of the logs).
    pub audit_id: String,
    /// When it arrived.
    pub at: jiff::Timestamp,
    /// Path and query.
    pub uri: String,
    /// `User-Agent`.
    pub user_agent: String,
    /// Client addresses: a trusted proxy's `X-Forwarded-For`, then the connection's peer.
    pub source_ips: Vec<String>,
    /// What it addresses, as parsed.
    pub info: RequestInfo,
}

impl Received {
    /// Reads what an event needs from the request's head.
    pub fn of(req: &Req, audit_id: &str, info: &RequestInfo) -> Received {
        let headers = req.headers();
        let mut source_ips: Vec<String> = Vec::new();
        if req.extensions().get::<TrustedProxy>().is_some() {
            let forwarded = headers.get_all("x-forwarded-for").iter().filter_map(|v| v.to_str().ok()).flat_map(|v| v.split(','));
            source_ips.extend(forwarded.map(|ip| ip.trim().to_string()).filter(|ip| !ip.is_empty()));
        }
        source_ips.extend(req.extensions().get::<ClientAddr>().map(|a| a.0.ip().to_string()));
        Received {
            audit_id: audit_id.to_string(),
            at: jiff::Timestamp::now(),
            uri: req.uri().path_and_query().map(|p| p.to_string()).unwrap_or_default(),
            user_agent: headers.get(http::header::USER_AGENT).and_then(|v| v.to_str().ok()).unwrap_or_default().to_string(),
            source_ips,
            info: info.clone(),
        }
    }
}

/// What the audit of one request learns on its way through the stack (see the module doc).
#[derive(Clone, Default)]
pub struct Trail(Arc<Mutex<Seen>>);

#[derive(Default)]
struct Seen {
    info: Option<RequestInfo>,
    user: Option<UserInfo>,
    impersonated: Option<UserInfo>,
    /// The body and its headers (for the content type).
    body: Option<(http::HeaderMap, Bytes)>,
    annotations: BTreeMap<String, String>,
}

impl Trail {
    fn with(&self, f: impl FnOnce(&mut Seen)) {
        f(&mut self.0.lock().unwrap_or_else(|e| e.into_inner()));
    }

    /// Records what an audited request addresses as it stands when its answer is decided.
    pub fn observe(req: &Req) {
        if let (Some(trail), Some(info)) = (req.extensions().get::<Trail>(), req.extensions().get::<RequestInfo>()) {
            trail.with(|s| s.info = Some(info.clone()));
        }
    }

    /// Records who authenticated.
    pub fn identify(&self, user: &UserInfo) {
        self.with(|s| s.user = Some(user.clone()));
    }

    /// Records whom the caller acts as.
    pub fn impersonate(&self, user: &UserInfo) {
        self.with(|s| s.impersonated = Some(user.clone()));
    }

    /// Records an audited request's body (the level decides later whether it is written).
    pub fn request_body(req: &http::request::Parts, bytes: &Bytes) {
        if let Some(trail) = req.extensions.get::<Trail>() {
            let ct = req.headers.get(http::header::CONTENT_TYPE).cloned();
            trail.with(|s| s.body = Some((ct.into_iter().map(|v| (http::header::CONTENT_TYPE, v)).collect(), bytes.clone())));
        }
    }

    /// Sets an annotation of the event (the front-proxy's route).
    pub fn annotate(&self, key: &str, value: &str) {
        self.with(|s| drop(s.annotations.insert(key.to_string(), value.to_string())));
    }
}

#[cfg(test)]
pub(crate) mod testing {
    use super::*;

    /// An event as a shard would record a ConfigMap's creation.
    pub fn event(name: &str) -> Event {
        Event {
            kind: "Event".into(),
            api_version: "audit.k8s.io/v1".into(),
            level: Level::Metadata,
            audit_id: format!("id-{name}"),
            stage: Stage::ResponseComplete,
            request_uri: format!("/clusters/root/api/v1/namespaces/default/configmaps/{name}"),
            verb: "create".into(),
            user: UserInfo { name: "alice".into(), ..Default::default() },
            impersonated_user: None,
            source_ips: vec!["127.0.0.1".into()],
            user_agent: String::new(),
            object_ref: None,
            response_status: Some(ResponseStatus { code: 201, ..Default::default() }),
            request_object: None,
            response_object: None,
            request_received_timestamp: "2026-01-02T03:04:05.000000Z".into(),
            stage_timestamp: "2026-01-02T03:04:05.000100Z".into(),
            annotations: BTreeMap::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;

    const POLICY: &str = "apiVersion: audit.k8s.io/v1\nkind: Policy\nrules:\n- level: None\n  nonResourceURLs: [\"/healthz\"]\n- level: RequestResponse\n";

    fn auditor(dir: &Path) -> Arc<Auditor> {
        let config = AuditConfig {
            log_path: dir.join("audit.log"),
            policy: Policy::parse(POLICY).expect("policy"),
            max_bytes: 1 << 20,
            max_backups: 0,
            signing_key_file: dir.join("audit.key"),
        };
        Auditor::start(config, Some("root".into())).expect("starts")
    }

    fn request(method: &str, path: &str, body: &str) -> (Received, Trail) {
        let mut req: Req = http::Request::builder()
            .method(method)
            .uri(path)
            .header("user-agent", "kubectl/v1.32")
            .body(http_body_util::Full::new(Bytes::new()).map_err(|e| match e {}).boxed_unsync())
            .expect("request");
        req.extensions_mut().insert(ClientAddr("10.0.0.1:5000".parse().expect("addr")));
        let info = RequestInfo::parse(req.method(), req.uri().path(), req.uri().query()).expect("parses");
        let trail = Trail::default();
        req.extensions_mut().insert(trail.clone());
        req.extensions_mut().insert(info.clone());
        let received = Received::of(&req, "abc", &info);
        trail.identify(&UserInfo { name: "alice".into(), ..Default::default() });
        trail.impersonate(&UserInfo { name: "bob".into(), ..Default::default() });
        Trail::observe(&req);
        let (parts, _) = req.into_parts();
        Trail::request_body(&parts, &Bytes::from(body.to_string()));
        (received, trail)
    }

    async fn lines(dir: &Path) -> Vec<Value> {
        std::fs::read_to_string(dir.join("audit.log")).expect("log").lines().map(|l| serde_json::from_str(l).expect("JSON")).collect()
    }

    #[tokio::test]
    async fn events_record_who_what_and_the_answer() {
        let dir = tempfile::tempdir().expect("dir");
        let auditor = auditor(dir.path());
        let (received, trail) = request("POST", "/clusters/root:org/api/v1/namespaces/d/configmaps", r#"{"data":{"k":"v"}}"#);
        let answer = body::json(201, &serde_json::json!({"kind": "ConfigMap", "data": {"k": "v"}}));
        let answer = auditor.finish(received, &trail, answer).await;
        assert_eq!(answer.into_body().collect().await.expect("body").to_bytes(), r#"{"kind":"ConfigMap","data":{"k":"v"}}"#, "the answer is intact");
        let (received, trail) = request("POST", "/clusters/root/api/v1/namespaces/d/secrets", r#"{"data":{"password":"aHVudGVyMg=="}}"#);
        auditor.finish(received, &trail, body::error(&apimachinery::status::ApiError::new(apimachinery::status::Reason::Forbidden, "no"))).await;
        let (received, trail) = request("GET", "/healthz", "");
        auditor.finish(received, &trail, body::json(200, &Value::Null)).await;
        auditor.close().await;
        let events = lines(dir.path()).await;
        assert_eq!(events.len(), 3, "two events and a seal: {events:?}");
        let e = &events[0];
        assert_eq!((e["verb"].as_str(), e["level"].as_str(), e["stage"].as_str()), (Some("create"), Some("RequestResponse"), Some("ResponseComplete")));
        assert_eq!((e["user"]["username"].as_str(), e["impersonatedUser"]["username"].as_str()), (Some("alice"), Some("bob")));
        assert_eq!(e["objectRef"], serde_json::json!({"resource": "configmaps", "namespace": "d", "apiVersion": "v1"}));
        assert_eq!(e["requestObject"]["data"]["k"], "v");
        assert_eq!(e["responseObject"]["kind"], "ConfigMap");
        assert_eq!((e["sourceIPs"][0].as_str(), e["userAgent"].as_str(), e["auditID"].as_str()), (Some("10.0.0.1"), Some("kubectl/v1.32"), Some("abc")));
        assert_eq!(e["annotations"]["tenancy.kcp.io/workspace"], "root:org");
        assert_eq!(e["annotations"]["kcp.io/shard"], "root");
        assert!(e["annotations"].get("kcp.io/cluster").is_none(), "a path that was never resolved names no cluster");
        let secret = &events[1];
        assert_eq!((secret["level"].as_str(), secret["responseStatus"]["code"].as_u64()), (Some("Metadata"), Some(403)));
        assert_eq!(secret["responseStatus"]["message"], "no");
        assert_eq!(secret["annotations"]["kcp.io/cluster"], "root");
        assert!(!events.iter().any(|e| e.to_string().contains("aHVudGVyMg==")), "secret data is never written");
        assert_eq!(events[2]["kind"], "Seal");
        assert!(verify::verify(&[("audit.log".into(), std::fs::read_to_string(dir.path().join("audit.log")).expect("log"))], None).intact());
    }

    #[test]
    fn flags_resolve_with_kube_defaults() {
        let dir = tempfile::tempdir().expect("dir");
        assert!(AuditFlags::default().resolve(|_| PathBuf::new()).expect("off").is_none());
        let log_only = AuditFlags { audit_log_path: Some("/a.log".into()), ..Default::default() };
        assert!(matches!(log_only.clone().resolve(|_| PathBuf::new()), Err(ConfigError::Missing(_))));
        let policy = dir.path().join("policy.yaml");
        std::fs::write(&policy, POLICY).expect("policy");
        let file = AuditFlags { audit_policy_file: Some(policy.clone()), audit_log_maxsize: Some(5), ..Default::default() };
        let config = log_only.or(file).resolve(|log| log.with_extension("key")).expect("resolves").expect("on");
        assert_eq!((config.max_bytes, config.max_backups, config.signing_key_file), (5 << 20, 0, PathBuf::from("/a.key")));
        std::fs::write(&policy, "apiVersion: v1\nkind: Policy\n").expect("policy");
        let bad = AuditFlags { audit_log_path: Some("/a.log".into()), audit_policy_file: Some(policy), ..Default::default() };
        assert!(matches!(bad.resolve(|_| PathBuf::new()), Err(ConfigError::Invalid { setting: "--audit-policy-file", .. })));
    }
}
