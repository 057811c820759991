//! A small HTTPS client for the plugin's few calls, with the kubeconfig's credentials.

use std::sync::Arc;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use serde_json::Value;

use super::config::Credentials;
use super::WsError;

/// Talks to one server (scheme, host and port of the kubeconfig's server URL).
pub struct Client {
    host: String,
    port: u16,
    tls: Arc<rustls::ClientConfig>,
    token: Option<String>,
}

impl Client {
    /// A client for `https://host:port` with the given credentials.
    pub fn new(base: &str, creds: &Credentials) -> Result<Client, WsError> {
        let hostport = base.strip_prefix("https://").ok_or_else(|| WsError::Config(format!("server {base:?} is not https")))?;
        let (host, port) = match hostport.rsplit_once(':') {
            Some((h, p)) => (h.trim_start_matches('[').trim_end_matches(']').to_string(), p.parse().map_err(|_| WsError::Config(format!("bad port in {base:?}")))?),
            None => (hostport.to_string(), 443),
        };
        let mut roots = rustls::RootCertStore::empty();
        for c in CertificateDer::pem_slice_iter(creds.ca.as_deref().unwrap_or_default()) {
            roots.add(c.map_err(|e| WsError::Config(format!("certificate authority: {e}")))?).map_err(|e| WsError::Config(e.to_string()))?;
        }
        let builder = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .map_err(|e| WsError::Config(e.to_string()))?
            .with_root_certificates(roots);
        let tls = match (&creds.client_cert, &creds.client_key) {
            (Some(cert), Some(key)) => {
                let certs = CertificateDer::pem_slice_iter(cert).collect::<Result<Vec<_>, _>>().map_err(|e| WsError::Config(format!("client certificate: {e}")))?;
                let key = PrivateKeyDer::from_pem_slice(key).map_err(|e| WsError::Config(format!("client key: {e}")))?;
                builder.with_client_auth_cert(certs, key).map_err(|e| WsError::Config(e.to_string()))?
            }
            _ => builder.with_no_client_auth(),
        };
        Ok(Client { host, port, tls: Arc::new(tls), token: creds.token.clone() })
    }

    /// Sends one request; returns the status and the JSON body (Null when not JSON).
    pub async fn call(&self, method: &str, path: &str, body: Option<&Value>) -> Result<(u16, Value), WsError> {
        let tcp = tokio::net::TcpStream::connect((self.host.as_str(), self.port)).await.map_err(|e| WsError::Server(e.to_string()))?;
        let name = ServerName::try_from(self.host.clone()).map_err(|e| WsError::Config(e.to_string()))?;
        let tls = tokio_rustls::TlsConnector::from(self.tls.clone()).connect(name, tcp).await.map_err(|e| WsError::Server(e.to_string()))?;
        let (mut send, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tls)).await.map_err(|e| WsError::Server(e.to_string()))?;
        tokio::spawn(conn);
        let mut req = http::Request::builder().method(method).uri(path).header("host", &self.host).header("accept", "application/json");
        if let Some(t) = &self.token {
            req = req.header("authorization", format!("Bearer {t}"));
        }
        let data = match body {
            Some(b) => {
                req = req.header("content-type", "application/json");
                Bytes::from(serde_json::to_vec(b).unwrap_or_default())
            }
            None => Bytes::new(),
        };
        let req = req.body(Full::new(data)).map_err(|e| WsError::Config(e.to_string()))?;
        let resp = send.send_request(req).await.map_err(|e| WsError::Server(e.to_string()))?;
        let status = resp.status().as_u16();
        let bytes = resp.into_body().collect().await.map_err(|e| WsError::Server(e.to_string()))?.to_bytes();
        Ok((status, serde_json::from_slice(&bytes).unwrap_or(Value::Null)))
    }
}
