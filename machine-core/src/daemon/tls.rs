//! The TLS transport: HTTPS to `tcp://HOST:PORT` with the store's CA as the only root and its
//! client certificate as the identity; a pinned server certificate, when given, is the only one
//! accepted.

use std::time::Duration;

use super::{chain_of, Answer, Bounded, DaemonError};
use crate::cert::Pem;
use crate::docker_url::DockerUrl;
use hyper::http;

/// `method path` on the daemon at `url` with client `http`.
pub(super) async fn exchange(
    http: &reqwest::Client,
    url: &DockerUrl,
    pinned: Option<&str>,
    method: http::Method,
    path: &str,
    body: Option<&serde_json::Value>,
    timeout: Duration,
) -> Result<Answer, DaemonError> {
    let pinned = pinned.map(|pem| pinned_der(url, pem)).transpose()?;
    let mut req = http
        .request(method, format!("{}{path}", url.https_base()))
        .timeout(timeout);
    if let Some(b) = body {
        req = req.json(b);
    }
    let mut resp = req.send().await.map_err(|e| send_error(url, &e))?;
    if let Some(pinned) = pinned {
        let presented = resp
            .extensions()
            .get::<reqwest::tls::TlsInfo>()
            .and_then(|i| i.peer_certificate());
        if presented != Some(&pinned[..]) {
            return Err(DaemonError::Tls {
                url: url.to_string(),
                reason: "the daemon there presents another certificate than the machine's own"
                    .into(),
            });
        }
    }
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let mut body = Bounded::new(url, path, resp.content_length())?;
    while let Some(chunk) = resp.chunk().await.map_err(|e| body.broken(&e))? {
        body.push(&chunk)?;
    }
    Ok(Answer::new(status, &headers, body.body))
}

/// The DER of the pinned server certificate.
fn pinned_der(url: &DockerUrl, pem: &str) -> Result<Vec<u8>, DaemonError> {
    use rustls::pki_types::pem::PemObject;
    rustls::pki_types::CertificateDer::from_pem_slice(pem.as_bytes())
        .map(|c| c.to_vec())
        .map_err(|e| DaemonError::BadTls {
            url: url.to_string(),
            reason: format!("the recorded server certificate: {e}"),
        })
}

/// A client trusting only `ca_pem` and presenting `identity`; no connection kept, no TLS
/// session resumed.
pub(super) fn new_client(
    url: &DockerUrl,
    ca_pem: &str,
    identity: &Pem,
) -> Result<reqwest::Client, DaemonError> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let bad = |reason: String| DaemonError::BadTls {
        url: url.to_string(),
        reason,
    };
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(ca_pem.as_bytes()) {
        let cert = cert.map_err(|e| bad(format!("CA certificate: {e}")))?;
        roots
            .add(cert)
            .map_err(|e| bad(format!("CA certificate: {e}")))?;
    }
    if roots.is_empty() {
        return Err(bad("CA certificate: no certificate in it".into()));
    }
    let chain = CertificateDer::pem_slice_iter(identity.cert.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|_| bad("client certificate or key is not valid PEM".into()))?;
    let key = PrivateKeyDer::from_pem_slice(identity.key.as_bytes())
        .map_err(|_| bad("client certificate or key is not valid PEM".into()))?;
    let mut config = rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| bad(e.to_string()))?
    .with_root_certificates(roots)
    .with_client_auth_cert(chain, key)
    .map_err(|e| bad(format!("client certificate: {e}")))?;
    config.resumption = rustls::client::Resumption::disabled();
    reqwest::Client::builder()
        .use_preconfigured_tls(config)
        .https_only(true)
        .no_proxy()
        .pool_max_idle_per_host(0)
        .tls_info(true)
        .connect_timeout(Duration::from_secs(10))
        .build()
        .map_err(|e| bad(chain_of(&e)))
}

/// A failed request as a daemon error: TLS trouble apart from an unreachable daemon.
fn send_error(url: &DockerUrl, e: &reqwest::Error) -> DaemonError {
    let reason = chain_of(e);
    let lower = reason.to_ascii_lowercase();
    let url = url.to_string();
    if lower.contains("certificate")
        || lower.contains("tls")
        || lower.contains("handshake")
        || lower.contains("alert")
    {
        DaemonError::Tls { url, reason }
    } else {
        DaemonError::Unreachable { url, reason }
    }
}
