//! The SSH transport: HTTP/1.1 over the daemon's unix socket, through a `direct-streamlocal`
//! channel of an SSH connection that checked the machine's recorded host key and logged in with
//! the machine's key — as the docker client's `ssh://` does with `docker system dial-stdio`,
//! without needing the docker CLI on the host. The socket is opened as the login user, who
//! needs access to it (root, or a member of its group).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use super::{chain_of, Answer, Bounded, DaemonError, SshVia};
use crate::docker_url::DockerUrl;
use crate::engine::DOCKER_SOCKET;
use crate::ssh::Session;
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::http;
use tokio::sync::Semaphore;

/// At most this many logins to one SSH server are in progress at once (from one manager):
/// under sshd's default `MaxStartups` (10), past which it drops handshakes.
pub(super) const LOGINS_PER_HOST: usize = 8;

/// The logins in progress, per SSH server (`host:port`).
#[derive(Default)]
pub(super) struct Logins {
    servers: std::sync::Mutex<HashMap<String, Arc<Semaphore>>>,
}

impl Logins {
    /// Waits for a turn to log in to `addr`; the turn ends when the permit drops.
    async fn turn(&self, addr: String) -> tokio::sync::OwnedSemaphorePermit {
        let server = {
            let mut servers = self.servers.lock().unwrap_or_else(|e| e.into_inner());
            // servers nobody is logging in to are forgotten
            servers.retain(|_, s| Arc::strong_count(s) > 1);
            servers
                .entry(addr)
                .or_insert_with(|| Arc::new(Semaphore::new(LOGINS_PER_HOST)))
                .clone()
        };
        server.acquire_owned().await.expect("never closed")
    }
}

/// `method path` on the daemon behind `via`, within `timeout` (connecting, and waiting for a
/// turn to log in, included).
pub(super) async fn exchange(
    logins: &Logins,
    url: &DockerUrl,
    via: SshVia<'_>,
    method: http::Method,
    path: &str,
    body: Option<&serde_json::Value>,
    timeout: Duration,
) -> Result<Answer, DaemonError> {
    let exchange = async {
        match via {
            SshVia::Session(session) => over(session, url, method, path, body).await,
            SshVia::Connect { target, check } => {
                let turn = logins.turn(target.addr()).await;
                let session = Session::connect(target, check.clone(), timeout)
                    .await
                    .map_err(|source| DaemonError::Ssh {
                        url: url.to_string(),
                        source,
                    })?;
                drop(turn);
                let answer = over(&session, url, method, path, body).await;
                session.close().await;
                answer
            }
        }
    };
    tokio::time::timeout(timeout, exchange)
        .await
        .unwrap_or_else(|_| {
            Err(DaemonError::Unreachable {
                url: url.to_string(),
                reason: format!("no answer to {path} within {}s", timeout.as_secs_f32()),
            })
        })
}

/// The exchange over an open session.
async fn over(
    session: &Session,
    url: &DockerUrl,
    method: http::Method,
    path: &str,
    body: Option<&serde_json::Value>,
) -> Result<Answer, DaemonError> {
    let unreachable = |reason: String| DaemonError::Unreachable {
        url: url.to_string(),
        reason,
    };
    let stream = session.open_socket(DOCKER_SOCKET).await.map_err(|e| {
        unreachable(format!(
            "the host refused to open {DOCKER_SOCKET} ({e}): Docker is not running there, or \
             the login user may not use its socket (provision the machine again)"
        ))
    })?;
    let (mut sender, conn) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
            .await
            .map_err(|e| unreachable(chain_of(&e)))?;
    let connection = tokio::spawn(async move {
        if let Err(e) = conn.await {
            tracing::debug!(error = %e, "docker over ssh: the connection ended");
        }
    });
    let answer = async {
        let payload = match body {
            Some(b) => Bytes::from(serde_json::to_vec(b).expect("JSON values serialize")),
            None => Bytes::new(),
        };
        let mut req = http::Request::builder()
            .method(method)
            .uri(path)
            .header(http::header::HOST, "docker");
        if body.is_some() {
            req = req.header(http::header::CONTENT_TYPE, "application/json");
        }
        let req = req
            .body(Full::new(payload))
            .map_err(|e| DaemonError::BadResponse {
                url: url.to_string(),
                path: path.to_string(),
                reason: format!("the request cannot be made: {e}"),
            })?;
        let resp = sender
            .send_request(req)
            .await
            .map_err(|e| unreachable(chain_of(&e)))?;
        let (parts, mut incoming) = resp.into_parts();
        let length = parts
            .headers
            .get(http::header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok()?.parse().ok());
        let mut bounded = Bounded::new(url, path, length)?;
        while let Some(frame) = incoming.frame().await {
            let frame = frame.map_err(|e| bounded.broken(&e))?;
            if let Some(data) = frame.data_ref() {
                bounded.push(data)?;
            }
        }
        Ok(Answer::new(
            parts.status.as_u16(),
            &parts.headers,
            bounded.body,
        ))
    }
    .await;
    connection.abort();
    answer
}
