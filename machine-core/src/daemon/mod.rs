//! Talks to a machine's Docker daemon from the workstation, over mutual TLS, the way the `docker`
//! client does: the store's CA is the only trusted root, and the store's client certificate is
//! the identity. Used to check that a provisioned daemon answers ([`Daemons::wait_ready`]) and
//! to read its version and info.
//!
//! A daemon is reached at a [`DockerUrl`]; an IP address host is checked against the server
//! certificate's IP SANs. [`Daemons`] keeps the HTTP clients: one per manager. An answer is read
//! up to [`ANSWER_MAX`] bytes and no further ([`DaemonError::TooLarge`]): what answers at a
//! machine's address cannot make the workstation's memory grow without end.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::cert::Pem;
use crate::docker_url::DockerUrl;

/// What `GET /version` says about a daemon.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[non_exhaustive]
pub struct DaemonVersion {
    /// The Docker Engine version.
    #[serde(rename = "Version")]
    pub version: String,
    /// The Engine API version it speaks.
    #[serde(rename = "ApiVersion")]
    pub api_version: String,
    /// The daemon's operating system.
    #[serde(rename = "Os")]
    pub os: String,
    /// The daemon's CPU architecture.
    #[serde(rename = "Arch")]
    pub arch: String,
}

/// What went wrong talking to a daemon: the facts; what to do about it is the caller's to say.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DaemonError {
    /// The CA or client certificate could not be loaded into a TLS client.
    #[error("the TLS material for {url} is unusable ({reason})")]
    BadTls {
        /// The daemon URL.
        url: String,
        /// What is wrong with the TLS material.
        reason: String,
    },
    /// The TLS handshake with the daemon failed.
    #[error("TLS with Docker on {url} failed: {reason}")]
    Tls {
        /// The daemon URL.
        url: String,
        /// The TLS error and its causes.
        reason: String,
    },
    /// The daemon could not be connected to.
    #[error("cannot reach Docker on {url}: {reason}")]
    Unreachable {
        /// The daemon URL.
        url: String,
        /// The connection error and its causes.
        reason: String,
    },
    /// The daemon answered with a non-success HTTP status.
    #[error("Docker on {url} answered {path} with HTTP {status}: {body}")]
    Http {
        /// The daemon URL.
        url: String,
        /// The API path requested.
        path: String,
        /// The HTTP status code.
        status: u16,
        /// The start of the response body.
        body: String,
    },
    /// The daemon's answer could not be decoded.
    #[error("Docker on {url} sent an unexpected answer to {path}: {reason}")]
    BadResponse {
        /// The daemon URL.
        url: String,
        /// The API path requested.
        path: String,
        /// Why the answer could not be decoded.
        reason: String,
    },
    /// The daemon's answer is longer than `ANSWER_MAX` (16 MiB): it was read no further.
    #[error(
        "Docker on {url} answered {path} with more than {limit} bytes (the most read of a \
         daemon's answer): what answers there is no Docker daemon, or not one to trust"
    )]
    TooLarge {
        /// The daemon URL.
        url: String,
        /// The API path requested.
        path: String,
        /// The bound (`ANSWER_MAX`).
        limit: usize,
    },
    /// The daemon did not become ready before the timeout.
    #[error("Docker on {url} did not answer over TLS within {}s (last error: {last})", after.as_secs())]
    NotReady {
        /// The daemon URL.
        url: String,
        /// How long it was waited for.
        after: Duration,
        /// The last error seen while waiting.
        last: String,
    },
}

impl DaemonError {
    fn short(&self) -> String {
        match self {
            DaemonError::Unreachable { reason, .. } | DaemonError::Tls { reason, .. } => {
                reason.clone()
            }
            other => other.to_string(),
        }
    }
}

/// How long one request may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// The most of a daemon's answer that is read, in bytes (16 MiB: `/info` and `/version` are a
/// few KiB).
pub const ANSWER_MAX: usize = 16 * 1024 * 1024;

/// HTTP clients for daemons, one per (CA, client certificate): building one parses and checks
/// the certificates, which `ls` over a fleet would otherwise do for every row. A client never
/// keeps a connection (each request is its own connection and TLS handshake) and never resumes
/// a TLS session, so no two machines share either, even when they share a CA. A manager holds
/// one, for its machines.
#[derive(Default)]
pub struct Daemons {
    clients: Mutex<Vec<((String, String), reqwest::Client)>>,
}

/// At most this many clients are kept (one per CA and client certificate in use).
const CLIENTS_KEPT: usize = 16;

impl std::fmt::Debug for Daemons {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let n = self.clients.lock().unwrap().len();
        write!(f, "Daemons({n} clients)")
    }
}

impl Daemons {
    /// The client for (`ca_pem`, `identity`), made on first use.
    fn client(
        &self,
        url: &DockerUrl,
        ca_pem: &str,
        identity: &Pem,
    ) -> Result<reqwest::Client, DaemonError> {
        let key = (ca_pem.to_string(), identity.cert.clone());
        if let Some((_, c)) = self.clients.lock().unwrap().iter().find(|(k, _)| *k == key) {
            return Ok(c.clone());
        }
        let c = new_client(url, ca_pem, identity)?;
        let mut cache = self.clients.lock().unwrap();
        if cache.len() >= CLIENTS_KEPT {
            cache.remove(0);
        }
        cache.push((key, c.clone()));
        Ok(c)
    }

    /// `GET path` on the daemon at `url`, over mutual TLS: the answer's JSON.
    pub async fn get_json(
        &self,
        url: &DockerUrl,
        ca_pem: &str,
        identity: &Pem,
        path: &str,
    ) -> Result<serde_json::Value, DaemonError> {
        self.get(url, ca_pem, identity, path, REQUEST_TIMEOUT).await
    }

    /// `POST path` with a JSON `body` (or none) on the daemon at `url`, over mutual TLS; the
    /// answer's JSON (`null` when the answer is empty).
    pub async fn post(
        &self,
        url: &DockerUrl,
        ca_pem: &str,
        identity: &Pem,
        path: &str,
        body: Option<&serde_json::Value>,
    ) -> Result<serde_json::Value, DaemonError> {
        let method = reqwest::Method::POST;
        self.request(url, ca_pem, identity, method, path, body, REQUEST_TIMEOUT)
            .await
    }

    async fn get(
        &self,
        url: &DockerUrl,
        ca_pem: &str,
        identity: &Pem,
        path: &str,
        timeout: Duration,
    ) -> Result<serde_json::Value, DaemonError> {
        let method = reqwest::Method::GET;
        self.request(url, ca_pem, identity, method, path, None, timeout)
            .await
    }

    #[allow(clippy::too_many_arguments)]
    async fn request(
        &self,
        url: &DockerUrl,
        ca_pem: &str,
        identity: &Pem,
        method: reqwest::Method,
        path: &str,
        body: Option<&serde_json::Value>,
        timeout: Duration,
    ) -> Result<serde_json::Value, DaemonError> {
        let http = self.client(url, ca_pem, identity)?;
        let mut req = http
            .request(method, format!("{}{path}", url.https_base()))
            .timeout(timeout);
        if let Some(b) = body {
            req = req.json(b);
        }
        let resp = req.send().await.map_err(|e| send_error(url, &e))?;
        let status = resp.status();
        let body = read_bounded(resp, url, path).await?;
        if !status.is_success() {
            let text = String::from_utf8_lossy(&body);
            return Err(DaemonError::Http {
                url: url.to_string(),
                path: path.to_string(),
                status: status.as_u16(),
                body: text.chars().take(500).collect(),
            });
        }
        if body.iter().all(u8::is_ascii_whitespace) {
            return Ok(serde_json::Value::Null);
        }
        serde_json::from_slice(&body).map_err(|e| DaemonError::BadResponse {
            url: url.to_string(),
            path: path.to_string(),
            reason: format!("not JSON: {e}"),
        })
    }

    /// `GET /version` on the daemon at `url`, trusting only `ca_pem` and presenting `client` as
    /// the identity.
    pub async fn version(
        &self,
        url: &DockerUrl,
        ca_pem: &str,
        client: &Pem,
    ) -> Result<DaemonVersion, DaemonError> {
        self.version_within(url, ca_pem, client, REQUEST_TIMEOUT)
            .await
    }

    /// `GET /version`, within `timeout` (connecting included).
    pub async fn version_within(
        &self,
        url: &DockerUrl,
        ca_pem: &str,
        client: &Pem,
        timeout: Duration,
    ) -> Result<DaemonVersion, DaemonError> {
        let v = self.get(url, ca_pem, client, "/version", timeout).await?;
        serde_json::from_value(v).map_err(|e| DaemonError::BadResponse {
            url: url.to_string(),
            path: "/version".into(),
            reason: e.to_string(),
        })
    }

    /// `GET /_ping`: the cheapest authenticated request a daemon answers (no component versions
    /// are gathered for it), with the engine version from its `Server: Docker/VERSION (OS)`
    /// header — what a listing of many machines asks, within `timeout`.
    pub async fn ping_within(
        &self,
        url: &DockerUrl,
        ca_pem: &str,
        identity: &Pem,
        timeout: Duration,
    ) -> Result<DaemonVersion, DaemonError> {
        self.ping(url, ca_pem, identity, None, timeout).await
    }

    /// [`Daemons::ping_within`], answered only by the daemon that presents exactly
    /// `server_cert_pem`: one machine's own server certificate, so that the answer proves the
    /// address is still that machine's (the CA alone does not: it signs every machine of a
    /// store, and addresses are reused). Any other daemon is a [`DaemonError::Tls`].
    pub async fn ping_pinned(
        &self,
        url: &DockerUrl,
        ca_pem: &str,
        identity: &Pem,
        server_cert_pem: &str,
        timeout: Duration,
    ) -> Result<DaemonVersion, DaemonError> {
        use rustls::pki_types::pem::PemObject;
        let pinned = rustls::pki_types::CertificateDer::from_pem_slice(server_cert_pem.as_bytes())
            .map_err(|e| DaemonError::BadTls {
                url: url.to_string(),
                reason: format!("the recorded server certificate: {e}"),
            })?;
        self.ping(url, ca_pem, identity, Some(&pinned), timeout)
            .await
    }

    async fn ping(
        &self,
        url: &DockerUrl,
        ca_pem: &str,
        identity: &Pem,
        pinned: Option<&[u8]>,
        timeout: Duration,
    ) -> Result<DaemonVersion, DaemonError> {
        let http = self.client(url, ca_pem, identity)?;
        let resp = http
            .get(format!("{}/_ping", url.https_base()))
            .timeout(timeout)
            .send()
            .await
            .map_err(|e| send_error(url, &e))?;
        if let Some(pinned) = pinned {
            let presented = resp
                .extensions()
                .get::<reqwest::tls::TlsInfo>()
                .and_then(|i| i.peer_certificate());
            if presented != Some(pinned) {
                return Err(DaemonError::Tls {
                    url: url.to_string(),
                    reason: "the daemon there presents another certificate than the machine's own"
                        .into(),
                });
            }
        }
        let bad = |reason: &str| DaemonError::BadResponse {
            url: url.to_string(),
            path: "/_ping".into(),
            reason: reason.to_string(),
        };
        if !resp.status().is_success() {
            return Err(DaemonError::Http {
                url: url.to_string(),
                path: "/_ping".into(),
                status: resp.status().as_u16(),
                body: String::new(),
            });
        }
        let header = |name: &str| {
            resp.headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_string()
        };
        // Server: Docker/20.10.24+dfsg1 (linux)
        let server = header("Server");
        let version = server
            .strip_prefix("Docker/")
            .and_then(|v| v.split_whitespace().next())
            .filter(|v| !v.is_empty())
            .ok_or_else(|| {
                bad(&format!(
                    "no Docker version in its Server header {server:?}"
                ))
            })?;
        Ok(DaemonVersion {
            version: version.to_string(),
            api_version: header("Api-Version"),
            os: header("Ostype"),
            arch: String::new(),
        })
    }

    /// `GET /info` on the daemon: its labels, storage driver, counts and the rest, as JSON.
    pub async fn info(
        &self,
        url: &DockerUrl,
        ca_pem: &str,
        client: &Pem,
    ) -> Result<serde_json::Value, DaemonError> {
        self.get(url, ca_pem, client, "/info", REQUEST_TIMEOUT)
            .await
    }

    /// Polls `GET /version` until the daemon answers over TLS, or `timeout` passes. Every
    /// failure (refused connection, TLS error while an old daemon is still up, ...) is retried;
    /// unusable TLS material is not.
    pub async fn wait_ready(
        &self,
        url: &DockerUrl,
        ca_pem: &str,
        client: &Pem,
        timeout: Duration,
    ) -> Result<DaemonVersion, DaemonError> {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let per_try = left.clamp(Duration::from_millis(500), Duration::from_secs(10));
            match self.version_within(url, ca_pem, client, per_try).await {
                Ok(v) => return Ok(v),
                Err(e @ DaemonError::BadTls { .. }) => return Err(e),
                Err(e) => {
                    let left = deadline.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        return Err(DaemonError::NotReady {
                            url: url.to_string(),
                            after: timeout,
                            last: e.short(),
                        });
                    }
                    tracing::debug!(%url, error = %e, "docker: not ready yet");
                    tokio::time::sleep(left.min(Duration::from_millis(100))).await;
                }
            }
        }
    }
}

/// The body of `resp`, read up to [`ANSWER_MAX`] bytes.
async fn read_bounded(
    mut resp: reqwest::Response,
    url: &DockerUrl,
    path: &str,
) -> Result<Vec<u8>, DaemonError> {
    let too_large = || DaemonError::TooLarge {
        url: url.to_string(),
        path: path.to_string(),
        limit: ANSWER_MAX,
    };
    if resp.content_length().is_some_and(|n| n > ANSWER_MAX as u64) {
        return Err(too_large());
    }
    let mut body = Vec::new();
    while let Some(chunk) = resp.chunk().await.map_err(|e| DaemonError::Unreachable {
        url: url.to_string(),
        reason: chain_of(&e),
    })? {
        if body.len() + chunk.len() > ANSWER_MAX {
            return Err(too_large());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

fn new_client(
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

/// An error and its causes, joined: reqwest's own message alone rarely says what happened.
fn chain_of(e: &dyn std::error::Error) -> String {
    let mut parts = vec![e.to_string()];
    let mut cur = e.source();
    while let Some(s) = cur {
        let text = s.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        cur = s.source();
    }
    parts.join(": ")
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

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn bad_tls_material_is_not_retried() {
        let client = Pem {
            cert: "nope".into(),
            key: "nope".into(),
        };
        let started = Instant::now();
        let url = "tcp://127.0.0.1:9".parse().unwrap();
        let e = Daemons::default()
            .wait_ready(&url, "nope", &client, Duration::from_secs(20))
            .await
            .unwrap_err();
        assert!(matches!(e, DaemonError::BadTls { .. }), "{e}");
        assert!(started.elapsed() < Duration::from_secs(5));
        assert!(!e.to_string().contains("PRIVATE"));
    }

    #[tokio::test]
    async fn refused_port_times_out_naming_the_last_error() {
        let ca = crate::cert::new_ca("t").unwrap();
        let client = crate::cert::new_client(&ca, "t").unwrap();
        let closed = machine_testsupport::ClosedPort::new();
        let port = closed.port();
        let url = DockerUrl::new("127.0.0.1", port).unwrap();
        let e = Daemons::default()
            .wait_ready(&url, &ca.cert, &client, Duration::from_secs(2))
            .await
            .unwrap_err();
        assert!(matches!(e, DaemonError::NotReady { .. }), "{e}");
        assert!(e.to_string().contains("refused"), "{e}");
    }

    #[test]
    fn a_client_is_made_once_per_ca_and_identity() {
        let ca = crate::cert::new_ca("t").unwrap();
        let client = crate::cert::new_client(&ca, "t").unwrap();
        let url = DockerUrl::new("127.0.0.1", 1).unwrap();
        let daemons = Daemons::default();
        for _ in 0..3 {
            daemons.client(&url, &ca.cert, &client).unwrap();
        }
        assert_eq!(daemons.clients.lock().unwrap().len(), 1);
        // another manager keeps its own
        assert_eq!(Daemons::default().clients.lock().unwrap().len(), 0);
    }
}
