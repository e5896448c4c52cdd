//! An SSH client for provisioning: one authenticated connection ([`Session`]) to a machine, over
//! which any number of commands run, concurrently if wanted, and files are uploaded atomically.
//!
//! Built on russh and tokio. Authentication is by private key only (see [`crate::sshkey`]).
//! The server's host key is either recorded on first contact ([`HostKeyCheck::Record`], when a
//! machine is created), or must have a fingerprint given in advance ([`HostKeyCheck::Fingerprint`],
//! a create that pins it), or must match the recorded one ([`HostKeyCheck::Expect`]); a mismatch
//! is an error naming both fingerprints. [`scan_host_key`] reads the key a host presents without
//! logging in (for accepting a changed key after showing it). [`known_hosts_line`] turns a
//! recorded key into a line for the system `ssh` client, for interactive sessions.
//!
//! Running commands and uploading files is in `exec`; reading, pinning and checking host keys
//! in `host_key`. Errors say what failed and what to check. File contents sent by
//! [`Session::upload`] go through the command's stdin, never its command line, and are never
//! logged.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use russh::client::{Handle, Handler};
use russh::keys::{HashAlg, PrivateKey, PrivateKeyWithHashAlg, PublicKey, PublicKeyOrCertificate};
use russh::ChannelMsg;

use crate::sshkey::SshKeyError;

mod exec;
mod host_key;

use host_key::Accept;
pub use host_key::{check_fingerprint, fingerprint, known_hosts_line, scan_host_key};

/// How to authenticate.
#[derive(Clone)]
#[non_exhaustive]
pub enum SshAuth {
    /// With this private key.
    Key(Arc<PrivateKey>),
    /// With the keys the user's ssh-agent holds (`SSH_AUTH_SOCK`), tried in turn; the agent
    /// signs, so passphrase-protected keys work and no key leaves the agent.
    Agent,
}

/// Where and as whom to connect, and how to authenticate.
#[derive(Clone)]
pub struct SshTarget {
    /// Host name or IP address.
    pub host: String,
    /// SSH port.
    pub port: u16,
    /// Login user.
    pub user: String,
    /// The key, or the agent.
    pub auth: SshAuth,
    /// Where the key came from, for messages (a path, "the machine's key", "ssh-agent").
    pub key_label: String,
}

impl std::fmt::Debug for SshTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "SshTarget({}@{} with {})",
            self.user,
            self.addr(),
            self.key_label
        )
    }
}

impl SshTarget {
    /// `user@host:port` with `key`.
    pub fn new(host: &str, port: u16, user: &str, key: PrivateKey, key_label: &str) -> Self {
        SshTarget {
            host: host.into(),
            port,
            user: user.into(),
            auth: SshAuth::Key(Arc::new(key)),
            key_label: key_label.into(),
        }
    }

    /// `user@host:port`, authenticating with the keys of the user's ssh-agent.
    pub fn with_agent(host: &str, port: u16, user: &str) -> Self {
        SshTarget {
            host: host.into(),
            port,
            user: user.into(),
            auth: SshAuth::Agent,
            key_label: "the keys in ssh-agent".into(),
        }
    }

    /// `host:port`, or `[host]:port` for an IPv6 address.
    pub fn addr(&self) -> String {
        addr(&self.host, self.port)
    }
}

/// How to treat the server's host key.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum HostKeyCheck {
    /// Accept any key and report it ([`Session::host_key`]): the first connection to a new machine.
    Record,
    /// Accept the key whose SHA256 fingerprint is this (`SHA256:...`, as `ssh-keygen -l` shows
    /// it) and report it: the first connection to a new machine whose key the user knows.
    Fingerprint(String),
    /// The key must be this OpenSSH public key line (`ssh-ed25519 AAAA...`, comment optional).
    Expect(String),
}

/// The result of a remote command. Output is decoded as UTF-8, lossily.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Output {
    /// The exit status (0 is success).
    pub status: u32,
    /// What it printed on stdout.
    pub stdout: String,
    /// What it printed on stderr.
    pub stderr: String,
}

impl Output {
    /// A successful command that printed `stdout`.
    pub fn ok(stdout: impl Into<String>) -> Output {
        Output {
            status: 0,
            stdout: stdout.into(),
            stderr: String::new(),
        }
    }

    /// A failed command with `status` that printed `stderr`.
    pub fn failed(status: u32, stderr: impl Into<String>) -> Output {
        Output {
            status,
            stdout: String::new(),
            stderr: stderr.into(),
        }
    }

    /// Whether the command exited with status 0.
    pub fn success(&self) -> bool {
        self.status == 0
    }
}

/// What went wrong talking SSH: the facts (address, user, fingerprints); what to do about it is
/// the caller's to say.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SshError {
    /// The TCP connection to sshd could not be made.
    #[error("cannot reach {addr}: {reason}")]
    Unreachable {
        /// The `host:port` address.
        addr: String,
        /// The connection error.
        reason: String,
    },
    /// The host did not accept the key for the user.
    #[error("the host refused public key authentication with {key} for user {user}")]
    AuthFailed {
        /// The login user.
        user: String,
        /// Which key was refused (its label).
        key: String,
    },
    /// The host presented another host key than the one expected (recorded, or pinned).
    #[error("the SSH host key of {addr} is not the expected one: expected {expected}, presented {actual}")]
    HostKeyMismatch {
        /// The `host:port` address.
        addr: String,
        /// SHA-256 fingerprint of the expected host key.
        expected: String,
        /// SHA-256 fingerprint of the key the host presented.
        actual: String,
    },
    /// An SSH operation did not finish in time.
    #[error("{what} on {addr} did not finish within {}s", after.as_secs())]
    Timeout {
        /// The `host:port` address.
        addr: String,
        /// What was being done.
        what: String,
        /// How long was waited.
        after: Duration,
    },
    /// A remote command exited with a non-zero status.
    #[error("`{command}` failed with exit status {status}: {stderr}")]
    CommandFailed {
        /// The command (shortened).
        command: String,
        /// Its exit status.
        status: u32,
        /// The end of its stderr (or stdout when stderr was empty).
        stderr: String,
    },
    /// The connection closed while a command was running.
    #[error("the connection to {addr} closed while `{command}` was running")]
    Disconnected {
        /// The `host:port` address.
        addr: String,
        /// The command that was running (shortened).
        command: String,
    },
    /// A command's output (collected whole) went past `OUTPUT_MAX` (64 MiB): it was read no further
    /// and the command's channel closed.
    #[error(
        "`{command}` on {addr} wrote more than {limit} bytes to its {stream} (the most kept of a \
         command's output): read no further"
    )]
    OutputTooLarge {
        /// The `host:port` address.
        addr: String,
        /// The command (shortened).
        command: String,
        /// `stdout` or `stderr`.
        stream: &'static str,
        /// The bound (`OUTPUT_MAX`).
        limit: usize,
    },
    /// A host key fingerprint given to check against is not one.
    #[error("{given:?} is not a SHA256 host key fingerprint (SHA256: and 43 base64 characters, as `ssh-keygen -lf KEY.pub` shows it)")]
    BadFingerprint {
        /// What was given.
        given: String,
    },
    /// The recorded host key could not be parsed.
    #[error("the recorded SSH host key is not an OpenSSH public key line ({reason})")]
    BadHostKey {
        /// Why it could not be parsed.
        reason: String,
    },
    /// The ssh-agent could not be used.
    #[error("ssh-agent: {reason}")]
    Agent {
        /// What went wrong.
        reason: String,
    },
    /// The SSH key file could not be used.
    #[error(transparent)]
    Key(#[from] SshKeyError),
    /// Any other SSH protocol failure.
    #[error("SSH protocol error: {0}")]
    Protocol(String),
}

/// The most of a command's stdout, and of its stderr, kept when its output is collected whole
/// ([`Session::exec`]; streamed output, [`Session::exec_io`], is not collected): 64 MiB. A line
/// passed to a streaming callback is cut at [`LINE_MAX`].
pub const OUTPUT_MAX: usize = 64 * 1024 * 1024;
/// The longest line given to [`Session::exec_streaming`]'s callback; the rest of it is dropped.
pub const LINE_MAX: usize = 64 * 1024;

impl SshError {
    /// Whether [`Session::wait`] tries again after this error: the host is not (yet) answering.
    pub(crate) fn retryable(&self) -> bool {
        matches!(
            self,
            SshError::Unreachable { .. } | SshError::Timeout { .. } | SshError::Disconnected { .. }
        )
    }
}

/// The russh event handler: checks (or records) the server's host key.
struct Client {
    accept: Accept,
    seen: Arc<Mutex<Option<PublicKey>>>,
}

impl Handler for Client {
    type Error = russh::Error;

    async fn check_server_key(
        &mut self,
        server_public_key: &PublicKeyOrCertificate,
    ) -> Result<bool, Self::Error> {
        let key = server_public_key.public_key();
        let ok = self.accept.accepts(&key);
        *self.seen.lock().unwrap_or_else(|e| e.into_inner()) = Some(key);
        Ok(ok)
    }
}

/// The RSA signature hash the server prefers, for an RSA key.
async fn rsa_hash(
    handle: &mut Handle<Client>,
    is_rsa: bool,
    addr: &str,
) -> Result<Option<HashAlg>, SshError> {
    if !is_rsa {
        return Ok(None);
    }
    Ok(handle
        .best_supported_rsa_hash()
        .await
        .map_err(|e| classify(e, addr, "the SSH handshake"))?
        .flatten()
        .or(Some(HashAlg::Sha512)))
}

/// Tries each key the ssh-agent holds until one is accepted.
async fn agent_auth(
    handle: &mut Handle<Client>,
    user: &str,
    addr: &str,
) -> Result<russh::client::AuthResult, SshError> {
    use russh::keys::agent::client::AgentClient;
    use russh::keys::agent::AgentIdentity;
    let agent_error = |reason: String| SshError::Agent { reason };
    let mut agent = AgentClient::connect_env()
        .await
        .map_err(|e| agent_error(e.to_string()))?;
    let identities = agent
        .request_identities()
        .await
        .map_err(|e| agent_error(e.to_string()))?;
    let mut last = None;
    for identity in identities {
        let AgentIdentity::PublicKey { key, .. } = identity else {
            continue;
        };
        let hash = rsa_hash(handle, key.algorithm().is_rsa(), addr).await?;
        match handle
            .authenticate_publickey_with(user.to_string(), key, hash, &mut agent)
            .await
        {
            Ok(r) if r.success() => return Ok(r),
            Ok(r) => last = Some(r),
            Err(e) => return Err(agent_error(e.to_string())),
        }
    }
    last.ok_or_else(|| agent_error("the agent holds no keys".into()))
}

/// One authenticated SSH connection. Commands may run concurrently over it (`&self` methods).
pub struct Session {
    handle: Handle<Client>,
    target: SshTarget,
    host_key: String,
}

/// How long a connection may stay silent before keepalives declare it dead.
const KEEPALIVE: Duration = Duration::from_secs(15);

impl Session {
    /// Connects, checks the host key and authenticates with the target's key, all within
    /// `timeout`.
    pub async fn connect(
        target: &SshTarget,
        check: HostKeyCheck,
        timeout: Duration,
    ) -> Result<Session, SshError> {
        let started = Instant::now();
        let addr = target.addr();
        let accept = Accept::from_check(&check)?;
        let tcp = tcp_connect(&target.host, target.port, timeout).await?;
        let seen = Arc::new(Mutex::new(None));
        let handler = Client {
            accept: accept.clone(),
            seen: seen.clone(),
        };
        let remaining = timeout.saturating_sub(started.elapsed());
        let handshake = async {
            let mut handle = russh::client::connect_stream(client_config(), tcp, handler)
                .await
                .map_err(|e| classify(e, &addr, "the SSH handshake"))?;
            let auth = match &target.auth {
                SshAuth::Key(key) => {
                    let hash = rsa_hash(&mut handle, key.algorithm().is_rsa(), &addr).await?;
                    handle
                        .authenticate_publickey(
                            target.user.clone(),
                            PrivateKeyWithHashAlg::new(key.clone(), hash),
                        )
                        .await
                        .map_err(|e| classify(e, &addr, "authentication"))?
                }
                SshAuth::Agent => agent_auth(&mut handle, &target.user, &addr).await?,
            };
            if !auth.success() {
                return Err(SshError::AuthFailed {
                    user: target.user.clone(),
                    key: target.key_label.clone(),
                });
            }
            Ok(handle)
        };
        let result = match tokio::time::timeout(remaining, handshake).await {
            Ok(r) => r,
            Err(_) => Err(SshError::Timeout {
                addr: addr.clone(),
                what: "the SSH handshake and authentication".into(),
                after: timeout,
            }),
        };
        let seen_key = seen.lock().unwrap_or_else(|e| e.into_inner()).clone();
        let handle = match result {
            Ok(h) => h,
            Err(e) => {
                // A rejected host key surfaces from russh as a generic error: report it properly.
                if let (Some(expected), Some(actual)) = (accept.expected(), &seen_key) {
                    if !accept.accepts(actual) {
                        return Err(SshError::HostKeyMismatch {
                            addr,
                            expected,
                            actual: actual.fingerprint(HashAlg::Sha256).to_string(),
                        });
                    }
                }
                return Err(e);
            }
        };
        let host_key = seen_key
            .ok_or_else(|| SshError::Protocol("the server sent no host key".into()))?
            .to_openssh()
            .map_err(|e| SshError::Protocol(format!("cannot encode the server's host key: {e}")))?;
        tracing::debug!(
            addr = %addr,
            user = %target.user,
            elapsed_ms = started.elapsed().as_millis() as u64,
            "ssh: connected"
        );
        Ok(Session {
            handle,
            target: target.clone(),
            host_key,
        })
    }

    /// Retries [`Session::connect`] until SSH answers or `overall` passes. Refused, reset and
    /// silent connections and servers not ready for the handshake are retried; authentication
    /// failures, host key mismatches and key file problems are not.
    pub async fn wait(
        target: &SshTarget,
        check: HostKeyCheck,
        overall: Duration,
    ) -> Result<Session, SshError> {
        let deadline = Instant::now() + overall;
        let mut attempts = 0u32;
        loop {
            attempts += 1;
            let remaining = deadline.saturating_duration_since(Instant::now());
            let per_try = remaining
                .min(Duration::from_secs(15))
                .max(Duration::from_millis(100));
            match Session::connect(target, check.clone(), per_try).await {
                Ok(s) => return Ok(s),
                Err(e) if e.retryable() => {
                    let left = deadline.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        return Err(SshError::Timeout {
                            addr: target.addr(),
                            what: format!("waiting for SSH ({attempts} attempts; last: {e})"),
                            after: overall,
                        });
                    }
                    tracing::debug!(addr = %target.addr(), error = %e, "ssh: not ready yet");
                    tokio::time::sleep(left.min(Duration::from_millis(500))).await;
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// The server's host key as an OpenSSH public key line (`ssh-ed25519 AAAA...`).
    pub fn host_key(&self) -> &str {
        &self.host_key
    }

    /// Where this session is connected.
    pub fn target(&self) -> &SshTarget {
        &self.target
    }

    /// Ends the connection politely.
    /// A stream to the unix socket `path` on the host, opened as the login user (OpenSSH's
    /// `direct-streamlocal@openssh.com` channel): how the SSH transport reaches dockerd.
    pub async fn open_socket(
        &self,
        path: &str,
    ) -> Result<russh::ChannelStream<russh::client::Msg>, russh::Error> {
        let channel = self.handle.channel_open_direct_streamlocal(path).await?;
        Ok(channel.into_stream())
    }

    /// Ends the connection.
    pub async fn close(self) {
        let _ = self
            .handle
            .disconnect(russh::Disconnect::ByApplication, "", "en")
            .await;
    }
}

/// `host:port`, or `[host]:port` for an IPv6 address.
pub(crate) fn addr(host: &str, port: u16) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

fn io_reason(e: &std::io::Error) -> String {
    use std::io::ErrorKind as K;
    match e.kind() {
        K::ConnectionRefused => "connection refused".into(),
        K::ConnectionReset => "connection reset".into(),
        K::ConnectionAborted => "connection aborted".into(),
        K::TimedOut => "connection timed out".into(),
        K::UnexpectedEof | K::BrokenPipe => "the connection closed during the SSH handshake".into(),
        _ => e.to_string(),
    }
}

/// Maps a russh error to what a user can act on.
fn classify(e: russh::Error, addr: &str, during: &str) -> SshError {
    use russh::Error as E;
    match e {
        E::IO(io) => SshError::Unreachable {
            addr: addr.into(),
            reason: io_reason(&io),
        },
        E::HUP | E::Disconnect | E::SendError | E::RecvError => SshError::Unreachable {
            addr: addr.into(),
            reason: format!("the server closed the connection during {during}"),
        },
        E::ConnectionTimeout | E::KeepaliveTimeout | E::InactivityTimeout | E::Elapsed(_) => {
            SshError::Timeout {
                addr: addr.into(),
                what: during.into(),
                after: KEEPALIVE * 3,
            }
        }
        other => SshError::Protocol(format!("{during} with {addr} failed: {other}")),
    }
}

/// The client settings of every connection.
fn client_config() -> Arc<russh::client::Config> {
    Arc::new(russh::client::Config {
        keepalive_interval: Some(KEEPALIVE),
        keepalive_max: 3,
        nodelay: true,
        ..Default::default()
    })
}

/// The TCP connection to `host:port`, within `timeout`.
async fn tcp_connect(
    host: &str,
    port: u16,
    timeout: Duration,
) -> Result<tokio::net::TcpStream, SshError> {
    let unreachable = |reason| SshError::Unreachable {
        addr: addr(host, port),
        reason,
    };
    let tcp =
        match tokio::time::timeout(timeout, tokio::net::TcpStream::connect((host, port))).await {
            Err(_) => {
                return Err(unreachable(format!(
                    "no answer within {}s",
                    timeout.as_secs_f32()
                )))
            }
            Ok(Err(e)) => return Err(unreachable(io_reason(&e))),
            Ok(Ok(s)) => s,
        };
    let _ = tcp.set_nodelay(true);
    Ok(tcp)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_send_sync<T: Send + Sync>() {}

    #[test]
    fn session_is_send_and_sync() {
        assert_send_sync::<Session>();
        assert_send_sync::<SshError>();
    }

    #[test]
    fn ipv6_addresses_are_bracketed() {
        assert_eq!(addr("fd00::1", 22), "[fd00::1]:22");
        assert_eq!(addr("10.0.0.1", 22), "10.0.0.1:22");
    }
}
