//! `/healthz`, `/livez` and `/readyz` (with `?verbose`), answered before authentication so
//! probes need no credentials.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use futures::future::BoxFuture;

use super::phase::{Outcome, Phase, Req};
use crate::rest::body;
use crate::storage::SharedStorage;
use apimachinery::request::{ClusterTarget, RequestInfo};
use apimachinery::status::ApiError;

/// The probe phase.
pub struct Probes {
    /// Checked with a one-item list: a store that cannot list is not ready.
    pub store: SharedStorage,
    /// True once shutdown began: a draining server takes no new traffic.
    pub shutdown: tokio::sync::watch::Receiver<bool>,
    /// The gates the binary registered (controllers whose caches must sync first).
    pub readiness: Readiness,
}

/// What `/readyz` waits for besides storage and shutdown: named gates, each opened once by
/// whatever it stands for (a controller whose caches have synced, say), so that a process is
/// not sent traffic it would answer from half-loaded state.
#[derive(Clone, Default)]
pub struct Readiness {
    gates: Arc<Mutex<Vec<NamedGate>>>,
}

/// A gate's name and whether it is open.
type NamedGate = (String, Arc<AtomicBool>);

/// One readiness condition, closed until [`Gate::open`].
#[derive(Clone)]
pub struct Gate(Arc<AtomicBool>);

impl Gate {
    /// Marks the condition met, for good.
    pub fn open(&self) {
        self.0.store(true, Ordering::Release);
    }

    /// Marks the condition met or not, for one that comes and goes (a reachable dependency).
    pub fn set(&self, met: bool) {
        self.0.store(met, Ordering::Release);
    }
}

impl Readiness {
    /// Registers a closed gate that `/readyz` lists as `name`.
    pub fn gate(&self, name: impl Into<String>) -> Gate {
        let flag = Arc::new(AtomicBool::new(false));
        self.gates.lock().unwrap_or_else(|e| e.into_inner()).push((name.into(), flag.clone()));
        Gate(flag)
    }

    /// Every gate with whether it is open, in registration order.
    fn checks(&self) -> Vec<(String, bool)> {
        self.gates.lock().unwrap_or_else(|e| e.into_inner()).iter().map(|(n, f)| (n.clone(), f.load(Ordering::Acquire))).collect()
    }
}

impl Phase for Probes {
    fn run<'a>(&'a self, req: &'a mut Req) -> BoxFuture<'a, Result<Outcome, ApiError>> {
        Box::pin(async move {
            let Some(info) = req.extensions().get::<RequestInfo>() else { return Ok(Outcome::Next) };
            if info.cluster != ClusterTarget::None {
                return Ok(Outcome::Next);
            }
            let name = match info.path.as_str() {
                "/healthz" => "healthz",
                "/livez" => "livez",
                "/readyz" => "readyz",
                _ => return Ok(Outcome::Next),
            };
            let storage_ok = self.store.list("\u{1}probe/", None, 1, None).await.is_ok();
            let mut checks = vec![("ping".to_string(), true), ("storage".to_string(), storage_ok), ("shutdown".to_string(), !*self.shutdown.borrow())];
            // Liveness is about the process; only readiness waits for what is still loading.
            if name == "readyz" {
                checks.extend(self.readiness.checks());
            }
            let checks: Vec<(&str, bool)> = checks.iter().map(|(n, ok)| (n.as_str(), *ok)).collect();
            Ok(Outcome::Respond(render(name, &checks, info.query.contains_key("verbose"))))
        })
    }
}

/// The probe response: `ok`, or kube's verbose `[+]check ok` list.
pub fn render(name: &str, checks: &[(&str, bool)], verbose: bool) -> body::Response {
    let ok = checks.iter().all(|(_, ok)| *ok);
    let text = if verbose {
        let mut s: String = checks.iter().map(|(n, ok)| format!("[{}]{n} {}\n", if *ok { "+" } else { "-" }, if *ok { "ok" } else { "failed" })).collect();
        s.push_str(&format!("{name} check {}\n", if ok { "passed" } else { "failed" }));
        s
    } else if ok {
        "ok".to_string()
    } else {
        format!("{name} check failed")
    };
    http::Response::builder()
        .status(if ok { 200 } else { 500 })
        .header("content-type", "text/plain; charset=utf-8")
        .body(body::full(text))
        .unwrap_or_else(|_| http::Response::new(body::full(Bytes::new())))
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;

    async fn text(r: body::Response) -> (u16, String) {
        let code = r.status().as_u16();
        let b = r.into_body().collect().await.expect("body").to_bytes();
        (code, String::from_utf8_lossy(&b).into_owned())
    }

    #[test]
    fn gates_stay_closed_until_opened() {
        let readiness = Readiness::default();
        let crd = readiness.gate("controller/crd");
        readiness.gate("controller/gc").open();
        assert_eq!(readiness.checks(), [("controller/crd".to_string(), false), ("controller/gc".to_string(), true)]);
        crd.open();
        assert!(readiness.checks().iter().all(|(_, ok)| *ok));
    }

    #[tokio::test]
    async fn probe_texts() {
        assert_eq!(text(render("livez", &[("ping", true)], false)).await, (200, "ok".into()));
        let (code, t) = text(render("readyz", &[("ping", true), ("storage", false)], true)).await;
        assert_eq!(code, 500);
        assert_eq!(t, "[+]ping ok\n[-]storage failed\nreadyz check failed\n");
    }
}
