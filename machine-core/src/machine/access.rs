//! Reaching a machine: how (the driver's `access` answer, checked), SSH with the recorded host
//! key, its Docker daemon over mutual TLS, and the files outside programs need.
//!
//! The recorded host key is the only one any path accepts after create: the built-in client
//! checks it, the known_hosts file for the system `ssh`, `scp`, `rsync` and `sshfs` holds only
//! it (at the address the driver reports now), and a changed key is
//! [`Error::HostKeyChanged`] until [`Machine::accept_host_key`] records the new one, which a
//! caller does after showing both fingerprints ([`Machine::scan_host_key`]).

use super::{hedged, Machine, HEDGE};
use crate::cert::Pem;
use crate::daemon::{DaemonError, DaemonVersion, Route, SshVia};
use crate::docker_url::{is_host, is_user, DockerUrl, DockerUrlError};
use crate::engine::Transport;
use crate::error::{Error, MissingPart, Result};
use crate::ssh::{self, HostKeyCheck, Session, SshError, SshTarget};
use crate::store::{Blob, ExportedFiles};
use driver_protocol::calls::{Access, SshEndpoint, State};
use driver_protocol::request::{GetAccess, GetState, Request};
use driver_protocol::CancellationToken;
use serde_json::Value;
use std::time::Duration;

/// The environment that points a docker client at a machine (`machine env`).
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct DockerEnv {
    /// DOCKER_TLS_VERIFY.
    pub tls_verify: bool,
    /// DOCKER_HOST.
    pub host: DockerUrl,
    /// The files the docker client uses: `files.dir` is DOCKER_CERT_PATH; `files.ca_cert`,
    /// `files.client_cert` and `files.client_key` are what its `--tlscacert`, `--tlscert` and
    /// `--tlskey` flags take.
    pub files: ExportedFiles,
    /// DOCKER_MACHINE_NAME.
    pub machine_name: String,
    /// The machine's IP address, where DOCKER_HOST points (for NO_PROXY).
    pub ip: String,
    /// SSH transport: the store-owned folder to put first on PATH. It holds an `ssh` wrapper
    /// that reaches DOCKER_HOST's alias (`ssh://machine-NAME`) with the machine's key and
    /// recorded host key only, and runs any other ssh untouched. `None` for TLS.
    pub ssh_bin: Option<std::path::PathBuf>,
}

/// The host key a machine's host presents, beside the one recorded for it
/// ([`Machine::scan_host_key`]).
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct HostKeyScan {
    /// Where it was read, `host:port`.
    pub addr: String,
    /// The recorded key (an OpenSSH public key line), if any.
    pub recorded: Option<String>,
    /// The key the host presents now.
    pub presented: String,
}

impl HostKeyScan {
    /// The SHA256 fingerprint of the recorded key (`None` when there is none or it is unreadable).
    pub fn recorded_fingerprint(&self) -> Option<String> {
        self.recorded
            .as_deref()
            .and_then(|k| ssh::fingerprint(k).ok())
    }

    /// The SHA256 fingerprint of the presented key.
    pub fn presented_fingerprint(&self) -> String {
        ssh::fingerprint(&self.presented).unwrap_or_default()
    }

    /// Whether the host presents the recorded key.
    pub fn matches(&self) -> bool {
        self.recorded_fingerprint() == Some(self.presented_fingerprint())
    }
}

/// What talking to the daemon needs from the store: the CA, the client certificate and its key.
pub(crate) const CLIENT_BLOBS: [Blob; 3] = [Blob::CaCert, Blob::ClientCert, Blob::ClientKey];

/// Checks a driver's `access` answer: addresses must parse, the URL must be `tcp://HOST:PORT`;
/// returns the URL.
pub(crate) fn check_access(a: &Access) -> std::result::Result<DockerUrl, String> {
    if !is_host(&a.ip) {
        return Err(format!(
            "the IP address {:?} is not an IP address or host name",
            a.ip
        ));
    }
    if let Some(ssh) = &a.ssh {
        if !is_host(&ssh.host) {
            return Err(format!(
                "the SSH host {:?} is not an IP address or host name",
                ssh.host
            ));
        }
        if ssh.port == 0 {
            return Err("the SSH port is 0".into());
        }
        if !is_user(&ssh.user) {
            return Err(format!("the SSH user {:?} is not a user name", ssh.user));
        }
    }
    let url: DockerUrl = a
        .docker_url
        .parse()
        .map_err(|e: DockerUrlError| e.to_string())?;
    if url.is_ssh() {
        return Err(format!(
            "the Docker URL {url} is not tcp://HOST:PORT (a driver reports where the daemon \
             listens over TLS; the SSH transport is reached at its SSH server)"
        ));
    }
    Ok(url)
}

/// How long `checked_url` waits for the daemon before asking the driver why it is silent.
const CHECK_PING: Duration = Duration::from_secs(3);

impl Machine {
    /// How to reach the machine, as its driver says (checked: a value that does not parse as
    /// what it claims to be is an [`Error::DriverAnswer`]).
    pub async fn access(&self) -> Result<Access> {
        self.access_within(self.inner.timeouts.query).await
    }

    pub(crate) async fn access_within(&self, timeout: Duration) -> Result<Access> {
        let a = self
            .driver()
            .await?
            .request::<GetAccess>(
                self.name(),
                &self.params(),
                timeout,
                &CancellationToken::new(),
            )
            .await?;
        self.tcp_url_of(&a)?;
        Ok(a)
    }

    /// The TCP Docker URL of a driver's `access` answer (where the daemon listens over TLS),
    /// checked with the rest of it.
    pub(crate) fn tcp_url_of(&self, a: &Access) -> Result<DockerUrl> {
        check_access(a).map_err(|reason| self.bad_access(reason))
    }

    fn bad_access(&self, reason: String) -> Error {
        Error::DriverAnswer {
            driver: self.config.driver.clone(),
            machine: self.config.name.clone(),
            call: GetAccess::METHOD.into(),
            reason,
        }
    }

    /// The daemon's URL for the machine's transport, from a driver's `access` answer: its
    /// `tcp://` URL (TLS), or `ssh://USER@HOST:PORT` of its SSH server (SSH).
    pub(crate) fn url_of(&self, a: &Access) -> Result<DockerUrl> {
        let tcp = self.tcp_url_of(a)?;
        match self.config.engine.transport {
            Transport::Ssh => {
                let s = self.ssh_of(a, "the SSH transport")?;
                DockerUrl::ssh(Some(&s.user), &s.host, Some(s.port))
                    .map_err(|e| self.bad_access(e.to_string()))
            }
            _ => Ok(tcp),
        }
    }

    /// The machine's IP address.
    pub async fn ip(&self) -> Result<String> {
        Ok(self.access().await?.ip)
    }

    /// The Docker URL, as its driver says: `tcp://192.0.2.10:2376` for the TLS transport,
    /// `ssh://USER@192.0.2.10:22` for the SSH transport.
    pub async fn url(&self) -> Result<DockerUrl> {
        let a = self.access().await?;
        self.url_of(&a)
    }

    /// The machine's state as its driver reports it, within `timeout`.
    pub async fn state_within(&self, timeout: Duration) -> Result<State> {
        let r = self
            .driver()
            .await?
            .request::<GetState>(
                self.name(),
                &self.params(),
                timeout,
                &CancellationToken::new(),
            )
            .await?;
        Ok(r.state)
    }

    /// The machine's state as its driver reports it.
    pub async fn state(&self) -> Result<State> {
        self.state_within(self.inner.timeouts.query).await
    }

    pub(super) async fn ssh_key_pem(&self) -> Result<String> {
        if let Some(pem) = &self.ssh_key_pem {
            return Ok(pem.clone());
        }
        let key = self
            .inner
            .store
            .read_blob(self.name(), Blob::SshKey)
            .await?
            .ok_or_else(|| self.missing(MissingPart::SshKey))?;
        String::from_utf8(key).map_err(|_| self.missing(MissingPart::SshKey))
    }

    pub(super) fn missing(&self, what: MissingPart) -> Error {
        Error::Missing {
            machine: self.config.name.clone(),
            what,
        }
    }

    /// The SSH server of `a`; a machine without one (Docker Machine's `none` driver: only its
    /// daemon is known) does not support what needs it.
    pub(crate) fn ssh_of<'a>(&self, a: &'a Access, operation: &str) -> Result<&'a SshEndpoint> {
        a.ssh.as_ref().ok_or_else(|| Error::NotSupported {
            driver: self.config.driver_alias.clone(),
            operation: format!("{operation} (its machines have no SSH, only a Docker daemon)"),
        })
    }

    pub(super) async fn target_at(&self, a: &Access) -> Result<SshTarget> {
        let ssh = self.ssh_of(a, "SSH")?;
        let pem = self.ssh_key_pem().await?;
        let label = format!("the key of machine {}", self.name());
        let key = crate::sshkey::parse_private(&pem, std::path::Path::new(&label))?;
        Ok(SshTarget::new(&ssh.host, ssh.port, &ssh.user, key, &label))
    }

    /// The recorded host key check. A machine without one (its create did not get that far)
    /// cannot be reached: there is no key to check.
    pub(super) fn host_key_check(&self) -> Result<HostKeyCheck> {
        match &self.config.ssh_host_key {
            Some(k) => Ok(HostKeyCheck::Expect(k.clone())),
            None => Err(self.missing(MissingPart::HostKey)),
        }
    }

    /// An SSH failure of this machine: a host key that is not the recorded one is
    /// [`Error::HostKeyChanged`].
    pub(super) fn ssh_failure(&self, e: SshError) -> Error {
        match e {
            SshError::HostKeyMismatch {
                addr,
                expected,
                actual,
            } => Error::HostKeyChanged {
                machine: self.name().to_string(),
                addr,
                recorded: expected,
                presented: actual,
            },
            e => Error::Ssh(e),
        }
    }

    /// An SSH session, checking the host key recorded at create.
    pub(crate) async fn session(&self) -> Result<Session> {
        let access = self.access().await?;
        self.ssh_of(&access, "SSH")?;
        let check = self.host_key_check()?;
        let target = self.target_at(&access).await?;
        Session::connect(&target, check, Duration::from_secs(20))
            .await
            .map_err(|e| self.ssh_failure(e))
    }

    /// The host key the machine's host presents now, beside the recorded one, read without
    /// logging in. Nothing is recorded: [`Machine::accept_host_key`] does that.
    pub async fn scan_host_key(&self) -> Result<HostKeyScan> {
        let a = self.access().await?;
        let s = self.ssh_of(&a, "host keys")?;
        let presented = ssh::scan_host_key(&s.host, s.port, Duration::from_secs(20)).await?;
        Ok(HostKeyScan {
            addr: ssh::addr(&s.host, s.port),
            recorded: self.config.ssh_host_key.clone(),
            presented,
        })
    }

    /// Records `key` (an OpenSSH public key line, as [`Machine::scan_host_key`] read it) as the
    /// machine's host key: from now on only it is accepted. The caller shows the fingerprints
    /// and asks first; this accepts exactly the key shown, not whatever the host presents now.
    pub async fn accept_host_key(&mut self, key: &str) -> Result<()> {
        ssh::fingerprint(key)?;
        let _lock = self.lock().await?;
        self.config.ssh_host_key = Some(key.trim().to_string());
        self.save().await?;
        // the SSH transport's wrapper and ssh config (what docker runs) take the new key at
        // once too (`ssh`, `scp` and the rest export it before every run)
        if self.config.engine.transport == Transport::Ssh {
            match self.access().await {
                Ok(access) => self.sync_ssh_client(&access).await,
                Err(e) => self.warn(
                    crate::events::Step::DockerContext,
                    format!("the ssh config of {} was not rewritten: {e}", self.name()),
                ),
            }
        }
        Ok(())
    }

    /// An SSH-transport machine's files for the system ssh (its ssh config, known_hosts and
    /// key: what `machine env`'s wrapper and a docker context reach it with) rewritten for
    /// `access`, where it is now, with the host key recorded now. A failure is a warning: the
    /// next `env` writes them again.
    pub(crate) async fn sync_ssh_client(&self, access: &Access) {
        if self.config.engine.transport != Transport::Ssh {
            return;
        }
        let written = async {
            let ssh = self.ssh_of(access, "the SSH transport")?;
            let files = self.files_at(Some(access)).await?;
            crate::ssh_client::write(&files, self.name(), ssh).map_err(|e| Error::SshClientFiles {
                machine: self.name().to_string(),
                source: e,
            })
        };
        if let Err(e) = written.await {
            self.warn(
                crate::events::Step::DockerContext,
                format!("the ssh config of {} was not rewritten: {e}", self.name()),
            );
        }
    }

    /// Checks, without logging in, that the host presents the recorded key: before the system
    /// `ssh`, `scp`, `rsync` or `sshfs` start (which check it again themselves), so that a
    /// changed key is this library's [`Error::HostKeyChanged`] and not their warning.
    pub async fn verify_host_key(&self) -> Result<()> {
        let recorded = self
            .config
            .ssh_host_key
            .as_deref()
            .ok_or_else(|| self.missing(MissingPart::HostKey))?;
        let recorded = ssh::fingerprint(recorded)?;
        let scan = self.scan_host_key().await?;
        if scan.presented_fingerprint() == recorded {
            return Ok(());
        }
        Err(Error::HostKeyChanged {
            machine: self.name().to_string(),
            addr: scan.addr.clone(),
            recorded,
            presented: scan.presented_fingerprint(),
        })
    }

    /// Runs a command on the machine over SSH (the recorded host key checked) with its streams
    /// connected to the given ones: `stdin` is sent as it is read (its end is the command's
    /// end of input), `stdout` and `stderr` get the output as it comes. Returns the command's
    /// exit status.
    pub async fn exec_io<I, O, E>(
        &self,
        command: &str,
        stdin: I,
        stdout: O,
        stderr: E,
    ) -> Result<u32>
    where
        I: tokio::io::AsyncRead + Unpin,
        O: tokio::io::AsyncWrite + Unpin,
        E: tokio::io::AsyncWrite + Unpin,
    {
        let session = self.session().await?;
        let status = session.exec_io(command, stdin, stdout, stderr).await?;
        session.close().await;
        Ok(status)
    }

    /// Runs a command on the machine over SSH (the recorded host key checked); its output once
    /// it ended.
    pub async fn exec(&self, command: &str) -> Result<ssh::Output> {
        let session = self.session().await?;
        let out = session.exec(command).await?;
        session.close().await;
        Ok(out)
    }

    /// Writes the files outside programs need (the docker client's certificates, the SSH key
    /// and a known_hosts file with the recorded host key) and says where they are.
    pub async fn files(&self) -> Result<ExportedFiles> {
        // the recorded key at the address the driver reports now; when the driver cannot say
        // (a VM already gone), an empty known_hosts, which trusts nothing, so the files a
        // record still has (certificates, for `inspect` and `rm`) are there all the same
        let access = match &self.config.ssh_host_key {
            Some(_) => match self.access().await {
                Ok(a) => Some(a),
                Err(e) => {
                    tracing::debug!(machine = %self.name(), error = %e, "known_hosts left empty");
                    None
                }
            },
            None => None,
        };
        self.files_at(access.as_ref()).await
    }

    /// [`Machine::files`], with known_hosts naming the SSH server of `access`.
    pub(super) async fn files_at(&self, access: Option<&Access>) -> Result<ExportedFiles> {
        let known_hosts = match (
            &self.config.ssh_host_key,
            access.and_then(|a| a.ssh.as_ref()),
        ) {
            (Some(key), Some(s)) => format!("{}\n", ssh::known_hosts_line(&s.host, s.port, key)),
            _ => String::new(),
        };
        Ok(self.inner.store.export(self.name(), &known_hosts).await?)
    }

    /// DOCKER_HOST and friends for this machine, once its daemon has answered (over mutual
    /// TLS with the recorded certificates, or over SSH with the recorded host key), so a
    /// stopped machine is [`Error::NotRunning`], and certificates the daemon refuses are
    /// [`Error::Daemon`].
    ///
    /// A machine whose daemon answers at its recorded address (with its own server certificate,
    /// or its recorded host key) needs no driver: the record keeps where it was last reached
    /// ([`crate::MachineConfig::last_access`]).
    pub async fn docker_env(&self) -> Result<DockerEnv> {
        let (access, url) = self.checked_access().await?;
        let files = self.files_at(Some(&access)).await?;
        Ok(match self.config.engine.transport {
            Transport::Ssh => {
                let ssh = self.ssh_of(&access, "the SSH transport")?;
                let client = crate::ssh_client::write(&files, self.name(), ssh).map_err(|e| {
                    Error::SshClientFiles {
                        machine: self.name().to_string(),
                        source: e,
                    }
                })?;
                let alias = crate::ssh_client::alias(self.name());
                DockerEnv {
                    tls_verify: false,
                    host: DockerUrl::ssh(None, &alias, None).expect("a machine's alias is a host"),
                    files,
                    machine_name: self.name().to_string(),
                    ip: access.ip,
                    ssh_bin: Some(client.bin_dir),
                }
            }
            _ => DockerEnv {
                tls_verify: true,
                files,
                host: url,
                machine_name: self.name().to_string(),
                ip: access.ip,
                ssh_bin: None,
            },
        })
    }

    /// The Docker URL, once the daemon there answered. When it does not, the driver's state
    /// says whether the machine is simply not running.
    pub async fn checked_url(&self) -> Result<DockerUrl> {
        Ok(self.checked_access().await?.1)
    }

    /// Where the machine is and its daemon, once that answered ([`Machine::checked_url`]).
    pub(crate) async fn checked_daemon(&self) -> Result<(Access, DaemonAt)> {
        let (a, _) = self.checked_access().await?;
        let daemon = self.daemon_at(&a).await?;
        Ok((a, daemon))
    }

    /// How to reach the machine, once its daemon answered: at its recorded address when the
    /// daemon there is this machine's, else where the driver says now (asked at once when the
    /// recorded address does not answer, or has not within [`HEDGE`]).
    async fn checked_access(&self) -> Result<(Access, DockerUrl)> {
        let recorded = async {
            let (a, url, _) = self.reach_recorded(None, CHECK_PING).await?;
            Some(Ok((a, url)))
        };
        let asked = async {
            let a = self.access().await?;
            let url = self.url_of(&a)?;
            match self.ping_docker_at(&a, CHECK_PING).await {
                Ok(_) => Ok((a, url)),
                Err(e) => match self.state().await {
                    Ok(state) if state != State::Running => Err(Error::NotRunning {
                        machine: self.name().to_string(),
                        state,
                    }),
                    _ => Err(e),
                },
            }
        };
        let settles = |r: &Result<_>| matches!(r, Ok(_) | Err(Error::NotRunning { .. }));
        hedged(recorded, asked, settles, HEDGE).await
    }

    /// The machine reached where it was last provisioned or booted
    /// ([`crate::MachineConfig::last_access`]) without asking its driver: that address, its
    /// Docker URL and the daemon's version, when the daemon there answers within `timeout`
    /// proving it is this machine's — over TLS by presenting the machine's own server
    /// certificate (`server_pem`, or the recorded one when not given; the CA alone does not
    /// prove it, as addresses are reused), over SSH by the recorded host key. `None` otherwise.
    pub(crate) async fn reach_recorded(
        &self,
        server_pem: Option<&str>,
        timeout: Duration,
    ) -> Option<(Access, DockerUrl, DaemonVersion)> {
        // what the store holds is checked as what a driver says is
        let a = self.config.last_access.as_ref()?;
        let url = self.url_of(a).ok()?;
        let v = match self.config.engine.transport {
            Transport::Ssh => {
                let daemon = self.daemon_at(a).await.ok()?;
                self.inner.daemons.ping(daemon.route(), timeout).await
            }
            _ => {
                let (ca, client, server) = match (server_pem, &self.client_pems) {
                    (Some(server), Some((ca, client))) => {
                        (ca.clone(), client.clone(), server.to_string())
                    }
                    _ => {
                        // one store round trip
                        let [ca, cert, key] = CLIENT_BLOBS;
                        let wanted = [ca, cert, key, Blob::ServerCert];
                        let mut blobs = self
                            .inner
                            .store
                            .read_blobs(self.name(), &wanted)
                            .await
                            .ok()?;
                        let server = String::from_utf8(blobs.pop()??).ok()?;
                        let (ca, client) = self.client_pems_from(blobs).ok()?;
                        (ca, client, server)
                    }
                };
                let route = Route::Tls {
                    url: &url,
                    ca_pem: &ca,
                    identity: &client,
                    pinned: Some(&server),
                };
                self.inner.daemons.ping(route, timeout).await
            }
        };
        if let Err(e) = &v {
            tracing::debug!(machine = %self.name(), error = %e, "not at its recorded address");
        }
        Some((a.clone(), url, v.ok()?))
    }

    /// The CA the daemon trusts and the client certificate, as recorded for this machine.
    pub(crate) async fn client_pems(&self) -> Result<(String, Pem)> {
        if let Some(p) = &self.client_pems {
            return Ok(p.clone());
        }
        let found = self
            .inner
            .store
            .read_blobs(self.name(), &CLIENT_BLOBS)
            .await?;
        self.client_pems_from(found)
    }

    /// The client certificates from the blobs [`CLIENT_BLOBS`] read.
    pub(crate) fn client_pems_from(&self, found: Vec<Option<Vec<u8>>>) -> Result<(String, Pem)> {
        let wanted = CLIENT_BLOBS;
        let mut texts = Vec::with_capacity(3);
        for (blob, data) in wanted.iter().zip(found) {
            let missing = || self.missing(MissingPart::Tls(*blob));
            let data = data.ok_or_else(missing)?;
            texts.push(String::from_utf8(data).map_err(|_| missing())?);
        }
        let [ca, cert, key]: [String; 3] = texts.try_into().expect("three blobs");
        Ok((ca, Pem { cert, key }))
    }

    /// The machine's daemon where `a` says it is, reached by the machine's transport: with the
    /// recorded client certificates, or over SSH with its key and recorded host key.
    pub(crate) async fn daemon_at(&self, a: &Access) -> Result<DaemonAt> {
        let url = self.url_of(a)?;
        Ok(match self.config.engine.transport {
            Transport::Ssh => DaemonAt::Ssh {
                target: self.target_at(a).await?,
                check: self.host_key_check()?,
                url,
            },
            _ => {
                let (ca, client) = self.client_pems().await?;
                DaemonAt::Tls { url, ca, client }
            }
        })
    }

    /// A daemon failure of this machine: over SSH, a host key that is not the recorded one is
    /// [`Error::HostKeyChanged`].
    pub(crate) fn daemon_failure(&self, e: DaemonError) -> Error {
        match e {
            DaemonError::Ssh { source, .. } => self.ssh_failure(source),
            e => Error::Daemon(e),
        }
    }

    /// Asks the daemon its version.
    pub async fn docker_version(&self) -> Result<DaemonVersion> {
        let daemon = self.daemon_at(&self.access().await?).await?;
        let v = self.inner.daemons.version(daemon.route()).await;
        v.map_err(|e| self.daemon_failure(e))
    }

    /// Pings the daemon where `a` says it is, within `timeout`: the engine version, at the
    /// least cost to the daemon.
    pub(crate) async fn ping_docker_at(
        &self,
        a: &Access,
        timeout: Duration,
    ) -> Result<DaemonVersion> {
        let daemon = self.daemon_at(a).await?;
        let v = self.inner.daemons.ping(daemon.route(), timeout).await;
        v.map_err(|e| self.daemon_failure(e))
    }

    /// The daemon's `/info` (labels, storage driver, swarm state, ...).
    pub async fn docker_info(&self) -> Result<Value> {
        let daemon = self.daemon_at(&self.access().await?).await?;
        let v = self.inner.daemons.info(daemon.route()).await;
        v.map_err(|e| self.daemon_failure(e))
    }

    /// `GET path` on the machine's daemon.
    pub(crate) async fn daemon_get(&self, daemon: &DaemonAt, path: &str) -> Result<Value> {
        let v = self.inner.daemons.get_json(daemon.route(), path).await;
        v.map_err(|e| self.daemon_failure(e))
    }

    /// `POST path` with `body` on the machine's daemon.
    pub(crate) async fn daemon_post(
        &self,
        daemon: &DaemonAt,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Value> {
        let v = self.inner.daemons.post(daemon.route(), path, body).await;
        v.map_err(|e| self.daemon_failure(e))
    }
}

/// A machine's daemon and what reaching it takes, by transport ([`Machine::daemon_at`]).
pub(crate) enum DaemonAt {
    /// Over mutual TLS.
    Tls {
        url: DockerUrl,
        ca: String,
        client: Pem,
    },
    /// Over SSH.
    Ssh {
        url: DockerUrl,
        target: SshTarget,
        check: HostKeyCheck,
    },
}

impl DaemonAt {
    /// How a request gets there (a new connection per request).
    pub(crate) fn route(&self) -> Route<'_> {
        match self {
            DaemonAt::Tls { url, ca, client } => Route::Tls {
                url,
                ca_pem: ca,
                identity: client,
                pinned: None,
            },
            DaemonAt::Ssh { url, target, check } => Route::Ssh {
                url,
                via: SshVia::Connect { target, check },
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use driver_protocol::calls::SshEndpoint;
    #[test]
    fn hostile_access_answers_are_refused() {
        let ok = Access::new("192.0.2.1", SshEndpoint::new("192.0.2.1", 22, "root"), 2376);
        check_access(&ok).unwrap();
        check_access(&Access::new(
            "fd00::1",
            SshEndpoint::new("host.example", 22, "ec2-user"),
            2376,
        ))
        .unwrap();
        for bad_ip in ["$(touch${IFS}pwned)", "a b", "", "x;y", "1.2.3.4\n"] {
            let a = Access::new(bad_ip, SshEndpoint::new("192.0.2.1", 22, "root"), 2376);
            assert!(check_access(&a).is_err(), "{bad_ip:?}");
        }
        let mut a = ok.clone();
        a.docker_url = "tcp://192.0.2.1:2376$(id)".into();
        assert!(check_access(&a).is_err());
        let mut a = ok.clone();
        a.ssh.as_mut().unwrap().user = "root;reboot".into();
        assert!(check_access(&a).is_err());
        // no SSH at all is a machine reached through its daemon only
        let a = Access::without_ssh("192.0.2.1", "tcp://192.0.2.1:2376");
        assert!(check_access(&a).is_ok());
    }
}
