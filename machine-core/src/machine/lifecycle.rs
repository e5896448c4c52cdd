//! The life of a created machine: start, stop, restart, kill, remove; provision again, upgrade
//! Docker, issue new certificates. Each takes a cancellation token.

use super::access::DaemonAt;
use super::Machine;
use crate::authorized_keys;
use crate::cert::{self, Pem};
use crate::certificates;
use crate::daemon::DaemonVersion;
use crate::daemon::{Route, SshVia};
use crate::engine::Transport;
use crate::error::{Error, Result};
use crate::events::{Level, Step};
use crate::provision::{self, ProvisionReport, ProvisionRequest};
use crate::ssh::Session;
use crate::store::{Blob, StoreCerts};
use driver_protocol::calls::{Access, ConfigResult, MachineParams};
use driver_protocol::request::{Kill, Remove, Request, Restart, Start, Stop};
use driver_protocol::{CancellationToken, ErrorKind};
use std::time::Duration;

/// What provisioning found: applied to the config by [`Machine::apply`].
pub(super) struct Provisioned {
    os: String,
    docker_version: String,
    /// Where the daemon answered with the new server certificate.
    access: Access,
    /// The login user in the docker group by our doing, after this provisioning.
    docker_group_user: Option<String>,
}

impl Machine {
    pub(super) fn apply(&mut self, p: Provisioned) {
        self.config.os = Some(p.os);
        self.config.docker_version = Some(p.docker_version);
        self.config.last_access = Some(p.access);
        self.config.docker_group_user = p.docker_group_user;
    }

    /// Runs lifecycle call `R` on the driver, keeping the config it may answer.
    async fn lifecycle<R>(
        &mut self,
        step: Step,
        allowed: bool,
        cancel: &CancellationToken,
    ) -> Result<()>
    where
        R: Request<Params = MachineParams, Result = ConfigResult>,
    {
        let method = R::METHOD;
        if !allowed {
            return Err(Error::NotSupported {
                driver: self.config.driver_alias.clone(),
                operation: method.to_string(),
            });
        }
        let _lock = self.lock().await?;
        self.emit(step, format!("{method}..."));
        let driver = self.driver().await?;
        let r = driver
            .request::<R>(
                self.name(),
                &self.params(),
                self.inner.timeouts.lifecycle,
                cancel,
            )
            .await
            .map_err(|e| self.cancel_kind(e, method))?;
        // a machine that is off may come back at another address: its driver says where
        // until its next boot records it again
        let forget =
            (method == Stop::METHOD || method == Kill::METHOD) && self.config.last_access.is_some();
        if forget {
            self.config.last_access = None;
        }
        let changed = !r.config.is_null();
        if changed {
            self.config.driver_config = r.config;
        }
        if forget || changed {
            self.save().await?;
        }
        Ok(())
    }

    async fn capabilities(&self) -> Result<driver_protocol::Capabilities> {
        Ok(self.driver().await?.info().capabilities)
    }

    /// Starts the machine; returns once its Docker daemon answers over TLS.
    pub async fn start(&mut self, cancel: &CancellationToken) -> Result<()> {
        let allowed = self.capabilities().await?.start;
        self.lifecycle::<Start>(Step::Start, allowed, cancel)
            .await?;
        self.after_boot(None, cancel).await
    }

    /// Stops the machine.
    pub async fn stop(&mut self, cancel: &CancellationToken) -> Result<()> {
        let allowed = self.capabilities().await?.stop;
        self.lifecycle::<Stop>(Step::Stop, allowed, cancel).await
    }

    /// Restarts the machine; returns once its Docker daemon answers again over TLS. A host the
    /// driver keeps ([`crate::Capabilities::keeps_host`]) and cannot restart itself is rebooted
    /// over SSH here, and is back once SSH answers from a new boot.
    pub async fn restart(&mut self, cancel: &CancellationToken) -> Result<()> {
        let caps = self.capabilities().await?;
        if caps.restart || !caps.keeps_host {
            self.lifecycle::<Restart>(Step::Restart, caps.restart, cancel)
                .await?;
            return self.after_boot(None, cancel).await;
        }
        let lock = self.lock().await?; // no rm while the host reboots
        self.emit(Step::Restart, "restart...");
        let access = self.access().await?;
        let target = self.target_at(&access).await?;
        let check = self.host_key_check()?;
        let session = Session::connect(&target, check.clone(), Duration::from_secs(20))
            .await
            .map_err(|e| self.ssh_failure(e))?;
        let booted = self
            .or_cancel(cancel, "restart", self.reboot(session, &target, check))
            .await?;
        drop(lock); // after_boot takes it where it writes
        self.after_boot(Some((access, booted)), cancel).await
    }

    /// Powers the machine off at once.
    pub async fn kill(&mut self, cancel: &CancellationToken) -> Result<()> {
        let allowed = self.capabilities().await?.kill;
        self.lifecycle::<Kill>(Step::Kill, allowed, cancel).await
    }

    /// After a boot: wait for SSH (with the recorded host key) unless `booted` is a session to
    /// the new boot already, issue a new server certificate if the IP changed, and wait for the
    /// daemon over TLS.
    async fn after_boot(
        &mut self,
        booted: Option<(Access, Session)>,
        cancel: &CancellationToken,
    ) -> Result<()> {
        let (access, session) = match booted {
            Some(b) => b,
            None => {
                self.emit(Step::WaitForSsh, "Waiting for SSH...");
                let access = self.access().await?;
                let target = self.target_at(&access).await?;
                let check = self.host_key_check()?;
                let session = self
                    .or_cancel(cancel, "start", async {
                        Session::wait(&target, check, self.inner.timeouts.ssh)
                            .await
                            .map_err(|e| self.ssh_failure(e))
                    })
                    .await?;
                (access, session)
            }
        };
        let server = self
            .inner
            .store
            .read_blob(self.name(), Blob::ServerCert)
            .await?
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_default();
        let tls = self.config.engine.transport == Transport::Tls;
        let result = if tls && !server.is_empty() && !cert::inspect(&server)?.covers(&access.ip) {
            self.emit(
                Step::Certificates,
                "The IP changed; regenerating the server certificate...",
            );
            let _lock = self.lock().await?;
            let certs = self.certs().await?;
            let p = self
                .or_cancel(cancel, "start", self.provision_over(&session, &certs))
                .await;
            match p {
                Ok(p) => {
                    self.apply(p);
                    self.save().await
                }
                Err(e) => Err(e),
            }
        } else {
            self.emit(Step::WaitForDocker, "Waiting for Docker...");
            let up = match self.daemon_at(&access).await {
                Ok(daemon) => {
                    let route = daemon.route_over(&session);
                    self.or_cancel(cancel, "start", self.wait_for_daemon(route))
                        .await
                }
                Err(e) => Err(e),
            };
            if up.is_ok() && self.config.last_access.as_ref() != Some(&access) {
                // the address it came back at is the one to try first from now on (a cache:
                // failing to record it fails nothing)
                if let Err(e) = self.remember_access(access.clone()).await {
                    tracing::warn!(machine = %self.name(), error = %e, "address not recorded");
                }
            }
            up.map(|_| ())
        };
        session.close().await;
        result?;
        self.sync_ssh_client(&access).await;
        self.sync_docker_context().await;
        Ok(())
    }

    async fn remember_access(&mut self, access: Access) -> Result<()> {
        let _lock = self.lock().await?;
        self.config.last_access = Some(access);
        self.save().await
    }

    /// Removes the machine: the driver destroys what it made (found by the creation id even
    /// when a create was interrupted before the driver reported it), then its record goes (and
    /// its own docker context, with [`crate::ManagerBuilder::docker_contexts`]). With
    /// [`RemoveOptions::force`], a driver failure does not stop the removal of the record.
    ///
    /// On a host that outlives its machine (a driver with the `keeps_host` capability: the
    /// generic driver's existing host), what we put there is taken back first, over one SSH
    /// connection: the daemon's TCP listener and TLS files and the machine's SSH key when
    /// create installed it. [`RemoveOptions::keep_on_host`] leaves all of it, as Docker Machine
    /// did (the driver's `remove` is called either way).
    pub async fn remove(mut self, opts: RemoveOptions, cancel: &CancellationToken) -> Result<()> {
        let RemoveOptions {
            force,
            keep_on_host,
        } = opts;
        let _lock = self.lock().await?;
        self.emit(Step::Remove, "Removing...");
        let result = if self.config.driver_config.is_null() {
            // the create stopped before the driver had a config: nothing was made
            Ok(())
        } else {
            match self.driver().await {
                Ok(driver) => {
                    let keeps_host = driver.info().capabilities.keeps_host;
                    let undone = if keeps_host && keep_on_host {
                        self.emit(
                            Step::Remove,
                            "Leaving the Docker daemon's configuration, TLS files and the machine's SSH key on the host",
                        );
                        Ok(())
                    } else if keeps_host {
                        self.or_cancel(cancel, "remove", self.unprovision()).await
                    } else {
                        Ok(())
                    };
                    // the driver's own `remove` runs either way: what it holds for the
                    // machine (a lease, a DNS name) is released
                    match undone {
                        Ok(()) => driver
                            .request::<Remove>(
                                self.name(),
                                &self.params(),
                                self.inner.timeouts.lifecycle,
                                cancel,
                            )
                            .await
                            .map(|_| ())
                            .map_err(|e| self.cancel_kind(e, "remove")),
                        Err(e) => Err(e),
                    }
                }
                Err(e) => Err(e),
            }
        };
        match result {
            Ok(()) => {}
            Err(e) if e.driver_kind() == Some(ErrorKind::NotFound) => {}
            Err(e @ Error::Cancelled { .. }) => return Err(e),
            Err(e) if force => {
                self.warn(Step::Remove, format!("removing the record despite: {e}"));
            }
            Err(e) => return Err(e),
        }
        self.inner.store.remove(self.name()).await?;
        self.remove_docker_context();
        Ok(())
    }

    /// Takes back what we put on a host the driver keeps, over one connection: what
    /// provisioning wrote (when it did: a machine imported from another tool's store and never
    /// provisioned here keeps its host as it was), then the machine's key from the login
    /// user's `authorized_keys` when create installed it.
    pub(super) async fn unprovision(&self) -> Result<()> {
        let provisioned =
            self.config.os.is_some() || self.config.phase != crate::config::Phase::Ready;
        let key_installed = self.config.installed_key();
        if !(provisioned || key_installed) || self.config.ssh_host_key.is_none() {
            return Ok(());
        }
        let session = self.session().await?;
        let r = self
            .unprovision_over(&session, provisioned, key_installed)
            .await;
        session.close().await;
        r
    }

    async fn unprovision_over(
        &self,
        session: &Session,
        provisioned: bool,
        key_installed: bool,
    ) -> Result<()> {
        // both are tried: a daemon configuration that cannot be taken back (no sudo) must not
        // leave the machine's key behind
        let daemon = if provisioned {
            let progress = self.progress();
            let what = provision::Unprovision {
                tls_port: (self.config.engine.transport == crate::engine::Transport::Tls)
                    .then_some(self.config.engine.port),
                docker_group_user: self.config.docker_group_user.clone(),
            };
            provision::unprovision(session, &what, &progress)
                .await
                .map_err(Error::from)
        } else {
            Ok(())
        };
        let key = if key_installed {
            self.remove_installed_key(session).await
        } else {
            Ok(())
        };
        daemon.and(key)
    }

    /// Takes the machine's key off the login user's `authorized_keys`.
    async fn remove_installed_key(&self, session: &Session) -> Result<()> {
        let pem = self.ssh_key_pem().await?;
        let label = format!("the key of machine {}", self.name());
        let key = crate::sshkey::parse_private(&pem, std::path::Path::new(&label))?;
        let public = key.public_key().to_openssh().unwrap_or_default();
        if let Some(data) = authorized_keys::key_data(&public) {
            self.emit(
                Step::Remove,
                "Removing the machine's SSH key from the host...",
            );
            session
                .exec_ok(&authorized_keys::remove_script(data))
                .await?;
        }
        Ok(())
    }

    /// The store's CA and client certificate.
    async fn certs(&self) -> Result<StoreCerts> {
        certificates::store_certs(&*self.inner.store, |what| {
            self.emit(Step::Certificates, what)
        })
        .await
    }

    /// Provisions the machine again: server certificate, engine configuration, restart.
    pub async fn provision(&mut self, cancel: &CancellationToken) -> Result<()> {
        let _lock = self.lock().await?;
        self.reprovision(cancel).await
    }

    /// Moves the machine to `transport` and provisions it for it: to SSH, the TCP port is
    /// closed and the certificates and daemon configuration leave the host; to TLS, they are
    /// set up as at create.
    pub async fn move_to(
        &mut self,
        transport: crate::engine::Transport,
        cancel: &CancellationToken,
    ) -> Result<()> {
        let _lock = self.lock().await?;
        let was = std::mem::replace(&mut self.config.engine.transport, transport);
        let moved = self.reprovision(cancel).await;
        if moved.is_err() {
            // the record keeps the transport it had: what `rm` takes back
            self.config.engine.transport = was;
        }
        moved
    }

    async fn reprovision(&mut self, cancel: &CancellationToken) -> Result<()> {
        let certs = self.certs().await?;
        let session = self.session().await?;
        let p = self
            .or_cancel(cancel, "provision", self.provision_over(&session, &certs))
            .await;
        session.close().await;
        let p = p?;
        let access = p.access.clone();
        self.apply(p);
        self.save().await?;
        self.sync_ssh_client(&access).await;
        self.sync_docker_context().await;
        Ok(())
    }

    /// Issues a new server certificate under the store's CA (moving the machine to it, if it
    /// trusted another: see [`crate::Manager::rotate_ca`]), installs it and restarts Docker.
    ///
    /// A machine on the SSH transport has no certificates: nothing is done (a CA rotation
    /// passes it by), and the event says so.
    pub async fn regenerate_certs(&mut self, cancel: &CancellationToken) -> Result<()> {
        if self.config.engine.transport == Transport::Ssh {
            self.emit(
                Step::Certificates,
                "The machine is reached over SSH: it has no certificates to issue",
            );
            return Ok(());
        }
        let _lock = self.lock().await?;
        self.reprovision(cancel).await
    }

    /// Upgrades Docker with the install method and URL the machine was created with; `version`
    /// pins a new version (kept for later upgrades).
    pub async fn upgrade(
        &mut self,
        version: Option<String>,
        cancel: &CancellationToken,
    ) -> Result<()> {
        let _lock = self.lock().await?;
        if version.is_some() {
            self.config.engine.version = version;
        }
        let tls = match self.config.engine.transport {
            Transport::Ssh => None,
            _ => Some((
                self.blob_text(Blob::CaCert).await?,
                Pem {
                    cert: self.blob_text(Blob::ServerCert).await?,
                    key: self.blob_text(Blob::ServerKey).await?,
                },
            )),
        };
        let access = self.access().await?;
        let daemon = self.daemon_at(&access).await?;
        let session = self.session().await?;
        let upgraded = self
            .or_cancel(cancel, "upgrade", async {
                let setup = match &tls {
                    Some((ca, server)) => provision::DaemonSetup::Tls {
                        ca_pem: ca,
                        server_cert_pem: &server.cert,
                        server_key_pem: &server.key,
                    },
                    None => provision::DaemonSetup::Ssh,
                };
                self.run_provisioner(&session, setup, true).await?;
                self.wait_for_daemon(daemon.route_over(&session)).await
            })
            .await;
        session.close().await;
        self.config.docker_version = Some(upgraded?.version);
        self.save().await
    }

    /// Provisions over an open session for the machine's transport: for TLS a new server
    /// certificate and the certificates the docker client uses; Docker; the daemon check (over
    /// this same session for SSH: a create logs in once).
    pub(super) async fn provision_over(
        &self,
        session: &Session,
        certs: &StoreCerts,
    ) -> Result<Provisioned> {
        let access = self.access().await?;
        if self.config.engine.transport == Transport::Ssh {
            let report = self
                .run_provisioner(session, provision::DaemonSetup::Ssh, false)
                .await?;
            let daemon = self.daemon_at(&access).await?;
            self.emit(
                Step::WaitForDocker,
                "Checking the Docker daemon over SSH...",
            );
            // a login keeps the groups it began with: a user just added to the docker group
            // reaches the socket from a new login only (else this one, so that a create on a
            // host that runs Docker logs in once)
            let route = match report.docker_group_user {
                Some(_) => daemon.route(),
                None => daemon.route_over(session),
            };
            let version = self.wait_for_daemon(route).await?;
            return Ok(Provisioned {
                os: report.os.pretty_name,
                docker_version: version.version,
                access,
                docker_group_user: report
                    .docker_group_user
                    .or(self.config.docker_group_user.clone()),
            });
        }
        let name = self.name();
        let store = &self.inner.store;
        self.emit(Step::Certificates, "Generating the server certificate...");
        let server = certificates::new_server_cert(
            &certs.ca,
            name,
            &access.ip,
            &self.config.engine.tls_san,
        )?;
        let setup = provision::DaemonSetup::Tls {
            ca_pem: &certs.ca.cert,
            server_cert_pem: &server.cert,
            server_key_pem: &server.key,
        };
        let report = self.run_provisioner(session, setup, false).await?;
        // recorded once the host has them: a provision that fails before (an unreachable host
        // during a CA rotation) leaves the machine working with what its record holds
        store
            .write_blob(name, Blob::ServerCert, server.cert.as_bytes())
            .await?;
        store
            .write_blob(name, Blob::ServerKey, server.key.as_bytes())
            .await?;
        store
            .write_blob(name, Blob::CaCert, certs.ca.cert.as_bytes())
            .await?;
        store
            .write_blob(name, Blob::ClientCert, certs.client.cert.as_bytes())
            .await?;
        store
            .write_blob(name, Blob::ClientKey, certs.client.key.as_bytes())
            .await?;
        self.emit(
            Step::WaitForDocker,
            "Checking the Docker daemon over TLS...",
        );
        let daemon = DaemonAt::Tls {
            url: self.url_of(&access)?,
            ca: certs.ca.cert.clone(),
            client: certs.client.clone(),
        };
        let version = self.wait_for_daemon(daemon.route()).await?;
        // a machine moved back from SSH: the login user leaves the docker group we put it in
        if self.config.docker_group_user.is_some() {
            let what = provision::Unprovision {
                tls_port: None,
                docker_group_user: self.config.docker_group_user.clone(),
            };
            provision::unprovision(session, &what, &self.progress()).await?;
        }
        Ok(Provisioned {
            os: report.os.pretty_name,
            docker_version: version.version,
            access,
            docker_group_user: None,
        })
    }

    /// Provisioning's progress, as the machine's events.
    fn progress(&self) -> impl Fn(Step, Level, &str) + Send + Sync {
        let events = self.inner.events.clone();
        let name = self.name().to_string();
        move |step: Step, level: Level, m: &str| {
            events.send(crate::events::Event::new(&name, step, m).at(level))
        }
    }

    /// Runs the provisioner (or, with `upgrade`, the engine upgrade) with this machine's
    /// engine options and certificates, reporting its progress as the machine's events.
    async fn run_provisioner(
        &self,
        session: &Session,
        daemon: provision::DaemonSetup<'_>,
        upgrade: bool,
    ) -> Result<ProvisionReport> {
        let progress = self.progress();
        let request = ProvisionRequest {
            machine_name: &self.config.name,
            driver_name: &self.config.driver,
            engine: &self.config.engine,
            daemon,
            progress: &progress,
        };
        Ok(if upgrade {
            provision::upgrade(session, &request).await?
        } else {
            provision::provision(session, &request).await?
        })
    }

    /// A blob as text (empty when missing).
    async fn blob_text(&self, blob: Blob) -> Result<String> {
        let b = self.inner.store.read_blob(self.name(), blob).await?;
        Ok(String::from_utf8_lossy(&b.unwrap_or_default()).into_owned())
    }

    async fn wait_for_daemon(&self, route: Route<'_>) -> Result<DaemonVersion> {
        let timeout = self.inner.timeouts.daemon;
        let v = self.inner.daemons.wait_ready(route, timeout).await;
        v.map_err(|e| self.daemon_failure(e))
    }

    /// With [`crate::ManagerBuilder::docker_contexts`]: the machine's own docker context, if it
    /// has one, brought in line with the machine as recorded now (a no-op when it is). A
    /// context that cannot be is a warning, never a failed operation.
    pub(crate) async fn sync_docker_context(&self) {
        let Some(dir) = &self.inner.docker else {
            return;
        };
        if let Err(e) = crate::docker_context::update(self, dir).await {
            self.warn(
                Step::DockerContext,
                format!("docker context \"{}\" not updated: {e}", self.name()),
            );
        }
    }

    /// With [`crate::ManagerBuilder::docker_contexts`]: the machine's own docker context goes
    /// (any other context of its name stays).
    fn remove_docker_context(&self) {
        let Some(dir) = &self.inner.docker else {
            return;
        };
        if let Err(e) = dir.remove(&self.config) {
            self.warn(
                Step::DockerContext,
                format!("docker context \"{}\" not removed: {e}", self.name()),
            );
        }
    }
}

/// How [`Machine::remove`] goes about it. The default removes everything, and stops at a
/// driver's failure.
///
/// ```
/// let mut opts = machine_core::RemoveOptions::default();
/// opts.force = true; // the record goes even when the driver fails
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct RemoveOptions {
    /// Remove the record (a broken one too) even when the driver fails to remove what it made.
    pub force: bool,
    /// On a host that outlives its machine (the generic driver's existing host), leave the
    /// daemon's TCP listener, its TLS files and the machine's SSH key, as Docker Machine did.
    pub keep_on_host: bool,
}

impl DaemonAt {
    /// How a request gets there over `session`, the machine's open SSH connection (for TLS,
    /// the daemon's own connection as always).
    pub(super) fn route_over<'a>(&'a self, session: &'a Session) -> Route<'a> {
        match self {
            DaemonAt::Ssh { url, .. } => Route::Ssh {
                url,
                via: SshVia::Session(session),
            },
            tls => tls.route(),
        }
    }
}
