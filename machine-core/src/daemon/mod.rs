//! Talks to a machine's Docker daemon from the workstation, the way the `docker` client does,
//! over either engine transport ([`Route`]):
//! - TLS (`tls.rs`): HTTPS to `tcp://HOST:PORT`, the store's CA the only trusted root and the
//!   store's client certificate the identity; an IP address host is checked against the server
//!   certificate's IP SANs, and a pinned server certificate proves the daemon is one machine's.
//! - SSH (`ssh.rs`): HTTP over the daemon's unix socket, reached through an SSH channel
//!   (`direct-streamlocal`) of a connection that checked the machine's recorded host key and
//!   logged in with its key. That host key is the proof the daemon is the machine's.
//!
//! Used to check that a provisioned daemon answers ([`Daemons::wait_ready`]), to read its
//! version and info, and for the swarm calls. [`Daemons`] keeps the HTTPS clients: one per
//! manager. An answer is read up to [`ANSWER_MAX`] bytes and no further
//! ([`DaemonError::TooLarge`]): what answers at a machine's address cannot make the
//! workstation's memory grow without end.

mod ssh;
mod tls;

use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::cert::Pem;
use crate::docker_url::DockerUrl;
use crate::ssh::{HostKeyCheck, Session, SshError, SshTarget};
use hyper::http;

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
    /// The SSH connection the daemon is reached through failed (its host key not the
    /// recorded one, the login refused, the host unreachable, or the socket not open to the
    /// login user).
    #[error("Docker on {url}: {source}")]
    Ssh {
        /// The daemon URL (`ssh://USER@HOST:PORT`).
        url: String,
        /// What went wrong over SSH.
        #[source]
        source: SshError,
    },
    /// The daemon did not become ready before the timeout.
    #[error("Docker on {url} did not answer within {}s (last error: {last})", after.as_secs())]
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
            DaemonError::Ssh { source, .. } => source.to_string(),
            other => other.to_string(),
        }
    }
}

/// How long one request may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// The most of a daemon's answer that is read, in bytes (16 MiB: `/info` and `/version` are a
/// few KiB).
pub const ANSWER_MAX: usize = 16 * 1024 * 1024;

/// Where a daemon is and how it is reached.
#[derive(Clone, Copy)]
pub enum Route<'a> {
    /// Over mutual TLS at `url` (`tcp://`), trusting only `ca_pem` and presenting `identity`;
    /// with `pinned`, answered only by the daemon that presents exactly that server
    /// certificate (one machine's own: the CA alone does not prove which machine answers, as
    /// it signs every machine of a store and addresses are reused).
    Tls {
        /// `tcp://HOST:PORT`.
        url: &'a DockerUrl,
        /// The CA the daemon's certificate must chain to.
        ca_pem: &'a str,
        /// The client certificate and key.
        identity: &'a Pem,
        /// The one server certificate accepted, when given.
        pinned: Option<&'a str>,
    },
    /// Through the daemon's unix socket over SSH: `url` is `ssh://USER@HOST:PORT`, `via` the
    /// connection.
    Ssh {
        /// `ssh://USER@HOST:PORT`, for messages.
        url: &'a DockerUrl,
        /// The connection to use or make.
        via: SshVia<'a>,
    },
}

/// The SSH connection a [`Route::Ssh`] goes through.
#[derive(Clone, Copy)]
pub enum SshVia<'a> {
    /// A new connection per request, checking the host key with `check`.
    Connect {
        /// The host, user and key.
        target: &'a SshTarget,
        /// The recorded host key.
        check: &'a HostKeyCheck,
    },
    /// An open session (provisioning's, so that a create logs in once).
    Session(&'a Session),
}

impl Route<'_> {
    fn url(&self) -> &DockerUrl {
        match self {
            Route::Tls { url, .. } | Route::Ssh { url, .. } => url,
        }
    }
}

/// A daemon's answer: status, the headers a ping reads, the body (at most [`ANSWER_MAX`]).
struct Answer {
    status: u16,
    server: String,
    api_version: String,
    os_type: String,
    body: Vec<u8>,
}

impl Answer {
    /// The three headers a ping reads, from `headers`.
    fn new(status: u16, headers: &http::HeaderMap, body: Vec<u8>) -> Answer {
        let header = |name: &str| {
            headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_string()
        };
        Answer {
            status,
            server: header("Server"),
            api_version: header("Api-Version"),
            os_type: header("Ostype"),
            body,
        }
    }
}

/// HTTPS clients for daemons, one per (CA, client certificate): building one parses and checks
/// the certificates, which `ls` over a fleet would otherwise do for every row. A client never
/// keeps a connection (each request is its own connection and TLS handshake) and never resumes
/// a TLS session, so no two machines share either, even when they share a CA. A manager holds
/// one, for its machines. The SSH route keeps no connection (a new one per request, or the
/// caller's session), but it keeps at most `ssh::LOGINS_PER_HOST` logins in progress to
/// one SSH server at a time: sshd drops handshakes past its `MaxStartups` (10 by default),
/// and a listing of many machines of one host would otherwise fill its queue.
#[derive(Default)]
pub struct Daemons {
    clients: Mutex<Vec<((String, String), reqwest::Client)>>,
    logins: ssh::Logins,
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
        let c = tls::new_client(url, ca_pem, identity)?;
        let mut cache = self.clients.lock().unwrap();
        if cache.len() >= CLIENTS_KEPT {
            cache.remove(0);
        }
        cache.push((key, c.clone()));
        Ok(c)
    }

    /// One request and its answer, by `route`, within `timeout`.
    async fn exchange(
        &self,
        route: Route<'_>,
        method: http::Method,
        path: &str,
        body: Option<&serde_json::Value>,
        timeout: Duration,
    ) -> Result<Answer, DaemonError> {
        match route {
            Route::Tls {
                url,
                ca_pem,
                identity,
                pinned,
            } => {
                let http = self.client(url, ca_pem, identity)?;
                tls::exchange(&http, url, pinned, method, path, body, timeout).await
            }
            Route::Ssh { url, via } => {
                let logins = &self.logins;
                ssh::exchange(logins, url, via, method, path, body, timeout).await
            }
        }
    }

    /// `method path` with a JSON `body` (or none): the answer's JSON (`null` when it is empty).
    async fn request(
        &self,
        route: Route<'_>,
        method: http::Method,
        path: &str,
        body: Option<&serde_json::Value>,
        timeout: Duration,
    ) -> Result<serde_json::Value, DaemonError> {
        let url = route.url();
        let answer = self.exchange(route, method, path, body, timeout).await?;
        if !(200..300).contains(&answer.status) {
            let text = String::from_utf8_lossy(&answer.body);
            return Err(DaemonError::Http {
                url: url.to_string(),
                path: path.to_string(),
                status: answer.status,
                body: text.chars().take(500).collect(),
            });
        }
        if answer.body.iter().all(u8::is_ascii_whitespace) {
            return Ok(serde_json::Value::Null);
        }
        serde_json::from_slice(&answer.body).map_err(|e| DaemonError::BadResponse {
            url: url.to_string(),
            path: path.to_string(),
            reason: format!("not JSON: {e}"),
        })
    }

    /// `GET path`: the answer's JSON.
    pub async fn get_json(
        &self,
        route: Route<'_>,
        path: &str,
    ) -> Result<serde_json::Value, DaemonError> {
        self.request(route, http::Method::GET, path, None, REQUEST_TIMEOUT)
            .await
    }

    /// `POST path` with a JSON `body` (or none); the answer's JSON (`null` when the answer is
    /// empty).
    pub async fn post(
        &self,
        route: Route<'_>,
        path: &str,
        body: Option<&serde_json::Value>,
    ) -> Result<serde_json::Value, DaemonError> {
        self.request(route, http::Method::POST, path, body, REQUEST_TIMEOUT)
            .await
    }

    /// `GET /version`.
    pub async fn version(&self, route: Route<'_>) -> Result<DaemonVersion, DaemonError> {
        self.version_within(route, REQUEST_TIMEOUT).await
    }

    /// `GET /version`, within `timeout` (connecting included).
    pub async fn version_within(
        &self,
        route: Route<'_>,
        timeout: Duration,
    ) -> Result<DaemonVersion, DaemonError> {
        let url = route.url();
        let v = self
            .request(route, http::Method::GET, "/version", None, timeout)
            .await?;
        serde_json::from_value(v).map_err(|e| DaemonError::BadResponse {
            url: url.to_string(),
            path: "/version".into(),
            reason: e.to_string(),
        })
    }

    /// `GET /_ping`: the cheapest authenticated request a daemon answers (no component versions
    /// are gathered for it), with the engine version from its `Server: Docker/VERSION (OS)`
    /// header — what a listing of many machines asks, within `timeout`.
    pub async fn ping(
        &self,
        route: Route<'_>,
        timeout: Duration,
    ) -> Result<DaemonVersion, DaemonError> {
        let url = route.url();
        let answer = self
            .exchange(route, http::Method::GET, "/_ping", None, timeout)
            .await?;
        if !(200..300).contains(&answer.status) {
            return Err(DaemonError::Http {
                url: url.to_string(),
                path: "/_ping".into(),
                status: answer.status,
                body: String::new(),
            });
        }
        // Server: Docker/20.10.24+dfsg1 (linux)
        let version = answer
            .server
            .strip_prefix("Docker/")
            .and_then(|v| v.split_whitespace().next())
            .filter(|v| !v.is_empty())
            .ok_or_else(|| DaemonError::BadResponse {
                url: url.to_string(),
                path: "/_ping".into(),
                reason: format!("no Docker version in its Server header {:?}", answer.server),
            })?;
        Ok(DaemonVersion {
            version: version.to_string(),
            api_version: answer.api_version,
            os: answer.os_type,
            arch: String::new(),
        })
    }

    /// `GET /info`: the daemon's labels, storage driver, counts and the rest, as JSON.
    pub async fn info(&self, route: Route<'_>) -> Result<serde_json::Value, DaemonError> {
        self.get_json(route, "/info").await
    }

    /// Polls `GET /version` until the daemon answers, or `timeout` passes. Every failure
    /// (refused connection, TLS error while an old daemon is still up, ...) is retried;
    /// unusable TLS material, a changed host key and a refused login are not.
    pub async fn wait_ready(
        &self,
        route: Route<'_>,
        timeout: Duration,
    ) -> Result<DaemonVersion, DaemonError> {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let per_try = left.clamp(Duration::from_millis(500), Duration::from_secs(10));
            match self.version_within(route, per_try).await {
                Ok(v) => return Ok(v),
                Err(e @ DaemonError::BadTls { .. }) => return Err(e),
                Err(DaemonError::Ssh { url, source }) if !source.retryable() => {
                    return Err(DaemonError::Ssh { url, source })
                }
                Err(e) => {
                    let left = deadline.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        return Err(DaemonError::NotReady {
                            url: route.url().to_string(),
                            after: timeout,
                            last: e.short(),
                        });
                    }
                    tracing::debug!(url = %route.url(), error = %e, "docker: not ready yet");
                    tokio::time::sleep(left.min(Duration::from_millis(100))).await;
                }
            }
        }
    }
}

/// An answer's body as it arrives, refused past [`ANSWER_MAX`] bytes.
struct Bounded<'a> {
    url: &'a DockerUrl,
    path: &'a str,
    body: Vec<u8>,
}

impl<'a> Bounded<'a> {
    /// A body of announced `length` (if any).
    fn new(url: &'a DockerUrl, path: &'a str, length: Option<u64>) -> Result<Self, DaemonError> {
        let b = Bounded {
            url,
            path,
            body: Vec::new(),
        };
        if length.is_some_and(|n| n > ANSWER_MAX as u64) {
            return Err(b.too_large());
        }
        Ok(b)
    }

    fn push(&mut self, chunk: &[u8]) -> Result<(), DaemonError> {
        if self.body.len() + chunk.len() > ANSWER_MAX {
            return Err(self.too_large());
        }
        self.body.extend_from_slice(chunk);
        Ok(())
    }

    /// The read failed half-way.
    fn broken(&self, e: &dyn std::error::Error) -> DaemonError {
        DaemonError::Unreachable {
            url: self.url.to_string(),
            reason: chain_of(e),
        }
    }

    fn too_large(&self) -> DaemonError {
        DaemonError::TooLarge {
            url: self.url.to_string(),
            path: self.path.to_string(),
            limit: ANSWER_MAX,
        }
    }
}

/// An error and its causes, joined: an HTTP client's own message alone rarely says what
/// happened.
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

#[cfg(test)]
mod tests {
    use super::*;

    fn tls<'a>(url: &'a DockerUrl, ca_pem: &'a str, identity: &'a Pem) -> Route<'a> {
        Route::Tls {
            url,
            ca_pem,
            identity,
            pinned: None,
        }
    }

    #[tokio::test]
    async fn bad_tls_material_is_not_retried() {
        let client = Pem {
            cert: "nope".into(),
            key: "nope".into(),
        };
        let started = Instant::now();
        let url = "tcp://127.0.0.1:9".parse().unwrap();
        let e = Daemons::default()
            .wait_ready(tls(&url, "nope", &client), Duration::from_secs(20))
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
            .wait_ready(tls(&url, &ca.cert, &client), Duration::from_secs(2))
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
