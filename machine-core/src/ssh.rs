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
//! Errors say what failed and what to check. File contents sent by [`Session::upload`] go
//! through the command's stdin, never its command line, and are never logged.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use russh::client::{Handle, Handler};
use russh::keys::{HashAlg, PrivateKey, PrivateKeyWithHashAlg, PublicKey, PublicKeyOrCertificate};
use russh::ChannelMsg;

use crate::sshkey::SshKeyError;

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

impl SshError {
    /// Whether [`Session::wait`] tries again after this error: the host is not (yet) answering.
    fn retryable(&self) -> bool {
        matches!(
            self,
            SshError::Unreachable { .. } | SshError::Timeout { .. } | SshError::Disconnected { .. }
        )
    }
}

/// Which host key the handler accepts.
#[derive(Clone)]
enum Accept {
    /// Any (recorded on first contact).
    Any,
    /// Exactly this one.
    Key(PublicKey),
    /// The one with this SHA256 fingerprint.
    Fingerprint(String),
    /// None: the key is only read ([`scan_host_key`]).
    Nothing,
}

impl Accept {
    fn from_check(check: &HostKeyCheck) -> Result<Accept, SshError> {
        Ok(match check {
            HostKeyCheck::Record => Accept::Any,
            HostKeyCheck::Fingerprint(fp) => Accept::Fingerprint(check_fingerprint(fp)?),
            HostKeyCheck::Expect(line) => Accept::Key(parse_key_line(line)?),
        })
    }

    fn accepts(&self, key: &PublicKey) -> bool {
        match self {
            Accept::Any => true,
            Accept::Key(expected) => expected.key_data() == key.key_data(),
            Accept::Fingerprint(fp) => key.fingerprint(HashAlg::Sha256).to_string() == *fp,
            Accept::Nothing => false,
        }
    }

    /// The fingerprint a mismatch names as expected.
    fn expected(&self) -> Option<String> {
        match self {
            Accept::Key(k) => Some(k.fingerprint(HashAlg::Sha256).to_string()),
            Accept::Fingerprint(fp) => Some(fp.clone()),
            Accept::Any | Accept::Nothing => None,
        }
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

    /// Runs `command` through the remote user's shell, with an empty stdin.
    pub async fn exec(&self, command: &str) -> Result<Output, SshError> {
        self.run(command, None).await
    }

    /// Runs `command`; a non-zero exit is a [`SshError::CommandFailed`] carrying the end of its
    /// stderr (or stdout when stderr is empty). Returns stdout.
    pub async fn exec_ok(&self, command: &str) -> Result<String, SshError> {
        let out = self.run(command, None).await?;
        check_ok(command, out)
    }

    /// Writes `contents` to `remote_path` with `mode`, atomically: through a temporary file in
    /// the same folder (created if missing), renamed into place. With `sudo`, as root via
    /// `sudo -n`. The contents travel over stdin, never on a command line.
    pub async fn upload(
        &self,
        remote_path: &str,
        contents: &[u8],
        mode: u32,
        sudo: bool,
    ) -> Result<(), SshError> {
        let script = format!(
            "set -e; d=$(dirname \"$1\"); mkdir -p \"$d\"; \
             t=$(mktemp \"$d/.machine-upload.XXXXXX\"); trap 'rm -f \"$t\"' EXIT; \
             cat > \"$t\"; chmod {mode:04o} \"$t\"; mv -f \"$t\" \"$1\"; trap - EXIT"
        );
        let command = format!(
            "{}sh -c {} sh {}",
            if sudo { "sudo -n " } else { "" },
            crate::shell::quote(&script),
            crate::shell::quote(remote_path)
        );
        let out = self.run(&command, Some(contents)).await?;
        let what = format!(
            "upload of {remote_path}{}",
            if sudo { " (with sudo)" } else { "" }
        );
        check_ok(&what, out).map(|_| ())
    }

    /// A session channel running `command`, split into its reading and writing halves.
    async fn open_exec(
        &self,
        command: &str,
    ) -> Result<
        (
            russh::ChannelReadHalf,
            russh::ChannelWriteHalf<russh::client::Msg>,
        ),
        SshError,
    > {
        let addr = self.target.addr();
        let lost = |e: russh::Error| match e {
            russh::Error::SendError | russh::Error::RecvError | russh::Error::Disconnect => {
                SshError::Disconnected {
                    addr: addr.clone(),
                    command: short(command),
                }
            }
            other => classify(other, &addr, "a command"),
        };
        let channel = self.handle.channel_open_session().await.map_err(lost)?;
        let (read, write) = channel.split();
        write.exec(true, command).await.map_err(lost)?;
        Ok((read, write))
    }

    /// Runs `command` with its streams connected to `stdin`, `stdout` and `stderr` as data
    /// comes (no terminal: for that, the system `ssh -t`). Returns the command's exit status
    /// (255 when a signal ended it) as soon as it ends, whether or not `stdin` was read to its
    /// end.
    pub async fn exec_io<I, O, E>(
        &self,
        command: &str,
        mut stdin: I,
        mut stdout: O,
        mut stderr: E,
    ) -> Result<u32, SshError>
    where
        I: tokio::io::AsyncRead + Unpin,
        O: tokio::io::AsyncWrite + Unpin,
        E: tokio::io::AsyncWrite + Unpin,
    {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let addr = self.target.addr();
        tracing::debug!(addr = %addr, command = %short(command), "ssh: exec with streams");
        let (mut read, write) = self.open_exec(command).await?;
        let send = async {
            let mut buf = vec![0u8; 32 * 1024];
            loop {
                match stdin.read(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => {
                        if write.data(&buf[..n]).await.is_err() {
                            break;
                        }
                    }
                }
            }
            let _ = write.eof().await;
            // nothing more to send: wait for the command to end
            std::future::pending::<()>().await
        };
        let local =
            |e: std::io::Error| SshError::Protocol(format!("writing the output of {addr}: {e}"));
        let receive = async {
            let mut status = None;
            while let Some(msg) = read.wait().await {
                match msg {
                    ChannelMsg::Data { data } => {
                        stdout.write_all(&data).await.map_err(local)?;
                        stdout.flush().await.map_err(local)?;
                    }
                    ChannelMsg::ExtendedData { data, ext: 1 } => {
                        stderr.write_all(&data).await.map_err(local)?;
                        stderr.flush().await.map_err(local)?;
                    }
                    ChannelMsg::ExitStatus { exit_status } => status = Some(exit_status),
                    ChannelMsg::ExitSignal { signal_name, .. } => {
                        let line = format!("killed by signal {signal_name:?}\n");
                        stderr.write_all(line.as_bytes()).await.map_err(local)?;
                        status = Some(255);
                    }
                    ChannelMsg::Close => break,
                    _ => {}
                }
            }
            status.ok_or_else(|| SshError::Disconnected {
                addr: addr.clone(),
                command: short(command),
            })
        };
        tokio::select! {
            status = receive => status,
            _ = send => unreachable!("sending never ends by itself"),
        }
    }

    /// Ends the connection politely.
    pub async fn close(self) {
        let _ = self
            .handle
            .disconnect(russh::Disconnect::ByApplication, "", "en")
            .await;
    }

    /// Runs `command` like [`Session::exec`], calling `on_line` with each line of its output
    /// (stdout and stderr) as it arrives.
    pub async fn exec_streaming(
        &self,
        command: &str,
        on_line: &(dyn Fn(&str) + Send + Sync),
    ) -> Result<Output, SshError> {
        self.run_with(command, None, Some(on_line)).await
    }

    async fn run(&self, command: &str, stdin: Option<&[u8]>) -> Result<Output, SshError> {
        self.run_with(command, stdin, None).await
    }

    async fn run_with(
        &self,
        command: &str,
        stdin: Option<&[u8]>,
        on_line: Option<&(dyn Fn(&str) + Send + Sync)>,
    ) -> Result<Output, SshError> {
        let addr = self.target.addr();
        tracing::debug!(addr = %addr, command = %short(command), "ssh: exec");
        let (mut read, write) = self.open_exec(command).await?;

        let send = async {
            if let Some(data) = stdin {
                write.data(data).await?;
            }
            write.eof().await
        };
        let receive = async {
            let mut stdout = Vec::new();
            let mut stderr = Vec::new();
            let mut status = None;
            let mut refused = false;
            let (mut out_line, mut err_line) = (Vec::new(), Vec::new());
            let emit = |pending: &mut Vec<u8>, data: &[u8]| {
                if let Some(f) = on_line {
                    pending.extend_from_slice(data);
                    while let Some(i) = pending.iter().position(|&b| b == b'\n') {
                        let line: Vec<u8> = pending.drain(..=i).collect();
                        f(String::from_utf8_lossy(&line).trim_end());
                    }
                }
            };
            while let Some(msg) = read.wait().await {
                match msg {
                    ChannelMsg::Data { data } => {
                        emit(&mut out_line, &data);
                        stdout.extend_from_slice(&data)
                    }
                    ChannelMsg::ExtendedData { data, ext: 1 } => {
                        emit(&mut err_line, &data);
                        stderr.extend_from_slice(&data)
                    }
                    ChannelMsg::ExitStatus { exit_status } => status = Some(exit_status),
                    ChannelMsg::ExitSignal {
                        signal_name,
                        error_message,
                        ..
                    } => {
                        stderr.extend_from_slice(
                            format!("killed by signal {signal_name:?} {error_message}").as_bytes(),
                        );
                        status = Some(255);
                    }
                    ChannelMsg::Failure => refused = true,
                    ChannelMsg::Close => break,
                    _ => {}
                }
            }
            if let Some(f) = on_line {
                for rest in [out_line, err_line] {
                    if !rest.is_empty() {
                        f(String::from_utf8_lossy(&rest).trim_end());
                    }
                }
            }
            (stdout, stderr, status, refused)
        };
        let (sent, (stdout, stderr, status, refused)) = tokio::join!(send, receive);
        if refused {
            return Err(SshError::Protocol(format!(
                "{addr} refused to run a command on a session channel"
            )));
        }
        let Some(status) = status else {
            return Err(SshError::Disconnected {
                addr: addr.clone(),
                command: short(command),
            });
        };
        if let Err(e) = sent {
            // The command finished before reading all of its stdin: report it through its status.
            tracing::debug!(addr = %addr, error = %e, "ssh: stdin not fully sent");
        }
        Ok(Output {
            status,
            stdout: String::from_utf8_lossy(&stdout).into_owned(),
            stderr: String::from_utf8_lossy(&stderr).into_owned(),
        })
    }
}

fn check_ok(command: &str, out: Output) -> Result<String, SshError> {
    if out.success() {
        return Ok(out.stdout);
    }
    let text = if out.stderr.trim().is_empty() {
        &out.stdout
    } else {
        &out.stderr
    };
    Err(SshError::CommandFailed {
        command: short(command),
        status: out.status,
        stderr: if text.trim().is_empty() {
            "(no output)".into()
        } else {
            tail(text, 20)
        },
    })
}

/// The last `n` lines of `text`, trimmed.
fn tail(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.trim().lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// A command shortened for messages.
fn short(command: &str) -> String {
    const MAX: usize = 200;
    if command.chars().count() <= MAX {
        command.to_string()
    } else {
        let s: String = command.chars().take(MAX).collect();
        format!("{s}...")
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

/// The host key `host:port` presents, as an OpenSSH public key line, read from the start of
/// the handshake (as `ssh-keyscan` does): nothing is authenticated and the connection is
/// dropped at once. The key is the one a [`Session`] to that host would check.
pub async fn scan_host_key(host: &str, port: u16, timeout: Duration) -> Result<String, SshError> {
    let address = addr(host, port);
    let tcp = tcp_connect(host, port, timeout).await?;
    let seen = Arc::new(Mutex::new(None));
    let handler = Client {
        accept: Accept::Nothing,
        seen: seen.clone(),
    };
    let handshake = russh::client::connect_stream(client_config(), tcp, handler);
    let result = tokio::time::timeout(timeout, handshake).await;
    let key = seen.lock().unwrap_or_else(|e| e.into_inner()).take();
    match (key, result) {
        (Some(key), _) => key.to_openssh().map_err(|e| {
            SshError::Protocol(format!("cannot encode the host key of {address}: {e}"))
        }),
        (None, Err(_)) => Err(SshError::Timeout {
            addr: address,
            what: "reading the host key".into(),
            after: timeout,
        }),
        (None, Ok(Err(e))) => Err(classify(e, &address, "reading the host key")),
        (None, Ok(Ok(_))) => Err(SshError::Protocol(format!(
            "{address} presented no host key"
        ))),
    }
}

/// `fp` if it is a SHA256 fingerprint as `ssh-keygen -l` shows it (`SHA256:` and the
/// unpadded base64 of 32 bytes).
pub fn check_fingerprint(fp: &str) -> Result<String, SshError> {
    let ok = fp.strip_prefix("SHA256:").is_some_and(|b64| {
        b64.len() == 43
            && b64
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '+' || c == '/')
    });
    if ok {
        Ok(fp.to_string())
    } else {
        Err(SshError::BadFingerprint { given: fp.into() })
    }
}

fn parse_key_line(line: &str) -> Result<PublicKey, SshError> {
    PublicKey::from_openssh(line.trim()).map_err(|e| SshError::BadHostKey {
        reason: e.to_string(),
    })
}

/// The SHA256 fingerprint (`SHA256:...`, as `ssh-keygen -l` shows it) of a public key line.
pub fn fingerprint(key_line: &str) -> Result<String, SshError> {
    Ok(parse_key_line(key_line)?
        .fingerprint(HashAlg::Sha256)
        .to_string())
}

/// A known_hosts line for the system `ssh`: `HOST KEYTYPE BASE64`, with `[HOST]:PORT` when the
/// port is not 22. The key line's comment, if any, is dropped.
pub fn known_hosts_line(host: &str, port: u16, key_line: &str) -> String {
    let key: Vec<&str> = key_line.split_whitespace().take(2).collect();
    let host = if port == 22 {
        host.to_string()
    } else {
        format!("[{host}]:{port}")
    };
    format!("{host} {}", key.join(" "))
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
    fn known_hosts_lines() {
        let key =
            "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJdD7y3aLq454yWBdwLWbieU1ebz9/cu7/QEXn9OIeZJ c";
        assert_eq!(
            known_hosts_line("10.0.0.1", 22, key),
            "10.0.0.1 ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJdD7y3aLq454yWBdwLWbieU1ebz9/cu7/QEXn9OIeZJ"
        );
        assert!(known_hosts_line("10.0.0.1", 2222, key).starts_with("[10.0.0.1]:2222 ssh-ed25519 "));
        assert!(fingerprint(key).unwrap().starts_with("SHA256:"));
        assert!(matches!(
            fingerprint("nonsense"),
            Err(SshError::BadHostKey { .. })
        ));
    }

    #[test]
    fn host_keys_are_accepted_only_as_asked() {
        let line =
            "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJdD7y3aLq454yWBdwLWbieU1ebz9/cu7/QEXn9OIeZJ c";
        let key = parse_key_line(line).unwrap();
        let other = parse_key_line(
            "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIAXajqrZJTwz1pY8eE2Gx/eCLAiJxdOCjtLYuEMz/55K",
        )
        .unwrap();
        let fp = fingerprint(line).unwrap();
        let pinned = Accept::from_check(&HostKeyCheck::Fingerprint(fp.clone())).unwrap();
        assert!(pinned.accepts(&key));
        assert!(!pinned.accepts(&other));
        assert_eq!(pinned.expected(), Some(fp));
        let recorded = Accept::from_check(&HostKeyCheck::Expect(line.into())).unwrap();
        assert!(recorded.accepts(&key) && !recorded.accepts(&other));
        assert!(Accept::from_check(&HostKeyCheck::Record)
            .unwrap()
            .accepts(&other));
        assert!(!Accept::Nothing.accepts(&key));
        for bad in [
            "",
            "SHA256:short",
            "MD5:aa:bb",
            "SHA256:$(touch${IFS}pwned)aaaaaaaaaaaaaaaaaaaaaaaaa",
        ] {
            assert!(matches!(
                Accept::from_check(&HostKeyCheck::Fingerprint(bad.into())),
                Err(SshError::BadFingerprint { .. })
            ));
        }
    }

    #[test]
    fn quoting_and_tails() {
        assert_eq!(tail("1\n2\n3\n", 2), "2\n3");
        assert_eq!(addr("fd00::1", 22), "[fd00::1]:22");
        let e = check_ok(
            "false",
            Output {
                status: 1,
                stdout: "out".into(),
                stderr: "  \n".into(),
            },
        )
        .unwrap_err();
        assert!(e.to_string().contains("out"), "{e}");
    }
}
