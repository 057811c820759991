//! `/healthz`, `/livez` and `/readyz` (with `?verbose`), answered before authentication so
//! probes need no credentials.

use std::sync::Arc;

use bytes::Bytes;
use futures::future::BoxFuture;

use super::phase::{Outcome, Phase, Req};
use apimachinery::request::{ClusterTarget, RequestInfo};
use crate::rest::body;
use crate::rest::Api;
use apimachinery::status::ApiError;

/// The probe phase.
pub struct Probes {
    pub api: Arc<Api>,
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
            let storage_ok = self.api.store.list("\u{1}probe/", None, 1).await.is_ok();
            let checks = [("ping", true), ("storage", storage_ok), ("shutdown", !*self.api.shutdown.borrow())];
            Ok(Outcome::Respond(render(name, &checks, info.query.contains_key("verbose"))))
        })
    }
}

/// The probe response: `ok`, or kube's verbose `[+]check ok` list.
pub fn render(name: &str, checks: &[(&str, bool)], verbose: bool) -> body::Response {
    let ok = checks.iter().all(|(_, ok)| *ok);
    let text = if verbose {
        let mut s: String = checks
            .iter()
            .map(|(n, ok)| format!("[{}]{n} {}\n", if *ok { "+" } else { "-" }, if *ok { "ok" } else { "failed" }))
            .collect();
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

    #[tokio::test]
    async fn probe_texts() {
        assert_eq!(text(render("livez", &[("ping", true)], false)).await, (200, "ok".into()));
        let (code, t) = text(render("readyz", &[("ping", true), ("storage", false)], true)).await;
        assert_eq!(code, 500);
        assert_eq!(t, "[+]ping ok\n[-]storage failed\nreadyz check failed\n");
    }
}
