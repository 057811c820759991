//! Calling other kcp components over mutual TLS: credentials from a kubeconfig, a pooled HTTPS
//! client, and list-then-watch of a collection (what an informer does, over the network).

use std::path::Path;
use std::time::Duration;

use base64::Engine;
use bytes::Bytes;
use http_body_util::{combinators::UnsyncBoxBody, BodyExt, Full};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde_json::Value;

use crate::pki::{CertPair, PkiError};

/// Error type of request bodies sent by [`Client`].
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;
/// Body of requests sent by [`Client`]: whole or streamed (the front-proxy forwards bodies).
pub type ClientBody = UnsyncBoxBody<Bytes, BoxError>;

/// Failures calling another component.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The kubeconfig could not be read, parsed or used.
    #[error("reading kubeconfig {path}: {detail}")]
    Kubeconfig {
        /// Path of the kubeconfig; empty when the fault is in credentials already loaded.
        path: String,
        /// What is wrong with it.
        detail: String,
    },
    /// The credentials' certificates could not be turned into a TLS client config.
    #[error(transparent)]
    Tls(#[from] PkiError),
    /// A request failed to send, timed out, or got an answer that could not be used.
    #[error("request to {url}: {detail}")]
    Request {
        /// URL of the request.
        url: String,
        /// Why it failed, with the error's causes.
        detail: String,
    },
}

/// Where a component is and how to prove who we are to it.
#[derive(Clone)]
pub struct Credentials {
    /// Server URL, possibly with a `/clusters/<x>` path.
    pub server: String,
    /// CA certificate(s) verifying the server.
    pub ca_pem: String,
    /// Client certificate and key, when the kubeconfig user has one.
    pub client: Option<CertPair>,
    /// Bearer token, when the kubeconfig user has one.
    pub token: Option<String>,
}

impl Credentials {
    /// Reads the current context of a kubeconfig file: see [`Credentials::from_document`].
    pub fn from_kubeconfig(path: &Path) -> Result<Credentials, ClientError> {
        let text = std::fs::read_to_string(path).map_err(|e| ClientError::Kubeconfig { path: path.display().to_string(), detail: e.to_string() })?;
        let doc: Value = serde_saphyr::from_str(&text).map_err(|e| ClientError::Kubeconfig { path: path.display().to_string(), detail: e.to_string() })?;
        Self::from_document(&doc, path)
    }

    /// The current context of a parsed kubeconfig read from `path`: server, CA, and client
    /// certificate or token; certificate material inline (`*-data`) or as file paths relative
    /// to the kubeconfig.
    pub fn from_document(doc: &Value, path: &Path) -> Result<Credentials, ClientError> {
        let bad = |detail: String| ClientError::Kubeconfig { path: path.display().to_string(), detail };
        let current = doc["current-context"].as_str().unwrap_or_default();
        let named = |list: &str, name: &str| doc[list].as_array().and_then(|l| l.iter().find(|i| i["name"] == name).cloned());
        let context = named("contexts", current).ok_or_else(|| bad(format!("context {current:?} not found")))?;
        let cluster_name = context["context"]["cluster"].as_str().unwrap_or_default();
        let user_name = context["context"]["user"].as_str().unwrap_or_default();
        let cluster = named("clusters", cluster_name).ok_or_else(|| bad(format!("cluster {cluster_name:?} not found")))?;
        let user = named("users", user_name).map(|u| u["user"].clone()).unwrap_or(Value::Null);
        let dir = path.parent().unwrap_or(Path::new("."));
        let read = |section: &Value, field: &str| -> Result<Option<String>, ClientError> {
            if let Some(data) = section[format!("{field}-data")].as_str() {
                let raw = base64::engine::general_purpose::STANDARD.decode(data).map_err(|e| bad(format!("{field}-data: {e}")))?;
                return String::from_utf8(raw).map(Some).map_err(|e| bad(format!("{field}-data: {e}")));
            }
            match section[field].as_str() {
                Some(file) => std::fs::read_to_string(dir.join(file)).map(Some).map_err(|e| bad(format!("{field} {file}: {e}"))),
                None => Ok(None),
            }
        };
        let server = cluster["cluster"]["server"].as_str().ok_or_else(|| bad("cluster has no server".into()))?.to_string();
        let ca_pem = read(&cluster["cluster"], "certificate-authority")?.ok_or_else(|| bad("cluster has no certificate authority".into()))?;
        let client = match (read(&user, "client-certificate")?, read(&user, "client-key")?) {
            (Some(cert_pem), Some(key_pem)) => Some(CertPair { cert_pem, key_pem }),
            _ => None,
        };
        Ok(Credentials { server, ca_pem, client, token: user["token"].as_str().map(String::from) })
    }

    /// `scheme://host:port` of the server, without any path.
    pub fn base_url(&self) -> String {
        base_of(&self.server)
    }
}

/// `scheme://host:port` of a URL.
pub fn base_of(url: &str) -> String {
    let after_scheme = url.find("://").map(|i| i + 3).unwrap_or(0);
    match url[after_scheme..].find('/') {
        Some(i) => url[..after_scheme + i].to_string(),
        None => url.to_string(),
    }
}

/// A whole request body.
pub fn body(bytes: impl Into<Bytes>) -> ClientBody {
    Full::new(bytes.into()).map_err(|never| match never {}).boxed_unsync()
}

/// A pooled HTTPS client that verifies servers with one CA and presents one client certificate
/// (and, when given, a bearer token).
#[derive(Clone)]
pub struct Client {
    inner: hyper_util::client::legacy::Client<hyper_rustls::HttpsConnector<HttpConnector>, ClientBody>,
    token: Option<http::HeaderValue>,
}

impl Client {
    /// A client for servers signed by `ca_pem`, presenting `identity`.
    pub fn new(ca_pem: &str, identity: Option<&CertPair>) -> Result<Client, ClientError> {
        let tls = crate::pki::client_config(ca_pem, identity)?;
        let mut http = HttpConnector::new();
        http.enforce_http(false);
        http.set_nodelay(true);
        http.set_connect_timeout(Some(Duration::from_secs(2)));
        let https = hyper_rustls::HttpsConnectorBuilder::new().with_tls_config(tls).https_only().enable_http1().wrap_connector(http);
        let inner = hyper_util::client::legacy::Client::builder(TokioExecutor::new())
            // Below the servers' default idle timeout: the pool, not the server, retires an idle
            // connection, so no request races a server-side close.
            .pool_idle_timeout(Duration::from_secs(20))
            .pool_max_idle_per_host(64)
            .build(https);
        Ok(Client { inner, token: None })
    }

    /// A client with everything `creds` holds: CA, client certificate, token.
    pub fn for_credentials(creds: &Credentials) -> Result<Client, ClientError> {
        let mut client = Client::new(&creds.ca_pem, creds.client.as_ref())?;
        if let Some(t) = &creds.token {
            let value = http::HeaderValue::from_str(&format!("Bearer {t}"))
                .map_err(|e| ClientError::Kubeconfig { path: String::new(), detail: format!("token: {e}") })?;
            client.token = Some(value);
        }
        Ok(client)
    }

    /// Sends a request; the response body streams.
    pub async fn send(&self, mut req: http::Request<ClientBody>) -> Result<http::Response<hyper::body::Incoming>, ClientError> {
        let url = req.uri().to_string();
        if let Some(t) = &self.token {
            req.headers_mut().entry(http::header::AUTHORIZATION).or_insert_with(|| t.clone());
        }
        self.inner.request(req).await.map_err(|e| ClientError::Request { url, detail: crate::process::report(&e) })
    }

    /// Sends a JSON request and reads the whole JSON answer: (status, body).
    pub async fn json(&self, method: &str, url: &str, payload: Option<&Value>) -> Result<(u16, Value), ClientError> {
        let failed = |detail: String| ClientError::Request { url: url.to_string(), detail };
        let data = payload.map(|p| serde_json::to_vec(p).unwrap_or_default()).unwrap_or_default();
        let req = http::Request::builder()
            .method(method)
            .uri(url)
            .header(http::header::CONTENT_TYPE, "application/json")
            .header(http::header::ACCEPT, "application/json")
            .body(body(data))
            .map_err(|e| failed(e.to_string()))?;
        let resp = tokio::time::timeout(Duration::from_secs(30), self.send(req)).await.map_err(|_| failed("timed out".into()))??;
        let status = resp.status().as_u16();
        let bytes = resp.into_body().collect().await.map_err(|e| failed(e.to_string()))?.to_bytes();
        Ok((status, serde_json::from_slice(&bytes).unwrap_or(Value::Null)))
    }

    /// Lists `collection_url` and watches it from the list's revision, forever: `on_list`
    /// gets every item of each (re-)list, `on_event` every later event as (type, object),
    /// bookmarks included (they say the watch is current up to their resource version).
    /// Errors and ended watches lead to a fresh list a second later.
    pub async fn list_watch(&self, collection_url: &str, mut on_list: impl FnMut(Vec<Value>), mut on_event: impl FnMut(&str, Value)) {
        loop {
            if let Err(e) = self.list_watch_once(collection_url, &mut on_list, &mut on_event).await {
                tracing::debug!(url = %collection_url, error = %e, "list/watch failed; retrying");
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    }

    async fn list_watch_once(&self, url: &str, on_list: &mut impl FnMut(Vec<Value>), on_event: &mut impl FnMut(&str, Value)) -> Result<(), ClientError> {
        let failed = |detail: String| ClientError::Request { url: url.to_string(), detail };
        let (code, list) = self.json("GET", url, None).await?;
        if code != 200 {
            return Err(failed(format!("list answered {code}: {}", list["message"].as_str().unwrap_or_default())));
        }
        let rv = list["metadata"]["resourceVersion"].as_str().unwrap_or("0").to_string();
        on_list(list["items"].as_array().cloned().unwrap_or_default());
        let sep = if url.contains('?') { '&' } else { '?' };
        let watch_url = format!("{url}{sep}watch=true&allowWatchBookmarks=true&resourceVersion={rv}");
        let req = http::Request::builder().uri(&watch_url).body(body(Bytes::new())).map_err(|e| failed(e.to_string()))?;
        let resp = self.send(req).await?;
        if resp.status() != http::StatusCode::OK {
            return Err(failed(format!("watch answered {}", resp.status())));
        }
        let mut stream = resp.into_body();
        let mut lines = JsonLines::default();
        while let Some(frame) = stream.frame().await {
            let Ok(data) = frame.map_err(|e| failed(e.to_string()))?.into_data() else { continue };
            for ev in lines.feed(&data) {
                match ev["type"].as_str().unwrap_or_default() {
                    "ERROR" => return Err(failed(format!("watch error: {}", ev["object"]["message"]))),
                    kind => on_event(kind, ev["object"].clone()),
                }
            }
        }
        Ok(())
    }
}

/// Splits a streamed body into the JSON values of its lines: a watch's events.
#[derive(Debug, Default)]
pub struct JsonLines {
    buf: Vec<u8>,
}

impl JsonLines {
    /// Takes the next chunk; returns the values of the lines it completes (lines that are not
    /// JSON are skipped).
    pub fn feed(&mut self, data: &[u8]) -> Vec<Value> {
        self.buf.extend_from_slice(data);
        let mut out = Vec::new();
        while let Some(nl) = self.buf.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = self.buf.drain(..=nl).collect();
            out.extend(serde_json::from_slice::<Value>(&line).ok());
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_lines_across_chunks() {
        let mut lines = JsonLines::default();
        assert!(lines.feed(b"{\"type\":\"ADD").is_empty());
        let done = lines.feed(b"ED\"}\nnot json\n{\"a\":1}\n{");
        assert_eq!(done, [serde_json::json!({"type": "ADDED"}), serde_json::json!({"a": 1})]);
    }

    #[test]
    fn base_urls() {
        assert_eq!(base_of("https://h:1/clusters/root"), "https://h:1");
        assert_eq!(base_of("https://h:1"), "https://h:1");
    }

    #[test]
    fn kubeconfig_with_inline_data() {
        let dir = tempfile::tempdir().expect("dir");
        let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
        let text = format!(
            "apiVersion: v1\nkind: Config\ncurrent-context: c\nclusters:\n- name: k\n  cluster:\n    server: https://h:6443/clusters/root\n    certificate-authority-data: {}\nusers:\n- name: u\n  user:\n    client-certificate-data: {}\n    client-key: key.pem\ncontexts:\n- name: c\n  context:\n    cluster: k\n    user: u\n",
            b64("CA"),
            b64("CERT")
        );
        std::fs::write(dir.path().join("kc"), text).expect("write");
        std::fs::write(dir.path().join("key.pem"), "KEY").expect("write");
        let c = Credentials::from_kubeconfig(&dir.path().join("kc")).expect("parses");
        assert_eq!(c.token, None);
        assert_eq!((c.server.as_str(), c.ca_pem.as_str(), c.base_url().as_str()), ("https://h:6443/clusters/root", "CA", "https://h:6443"));
        let client = c.client.expect("client cert");
        assert_eq!((client.cert_pem.as_str(), client.key_pem.as_str()), ("CERT", "KEY"));
    }
}
