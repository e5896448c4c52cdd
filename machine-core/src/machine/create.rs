//! Creating a machine, and undoing a create that failed or was cancelled.
//!
//! The order matters for what can be undone: the record (with a creation id) is in the store
//! before the driver is asked to make anything, and the driver reports what it made as soon as
//! it exists (`made`), which is stored at once. So whatever point a create stops at — an
//! error, a cancellation, a killed process — `rm` (or the rollback here) finds what was made.

use super::Machine;
use crate::certificates;
use crate::driver_host::DriverConn;
use crate::engine::EngineOptions;
use crate::error::{Error, Result};
use crate::events::Step;
use crate::manager::Manager;
use crate::name::validate_name;
use crate::ssh::{self, HostKeyCheck, Session, SshTarget};
use crate::sshkey;
use crate::store::{Blob, StoreCerts};
use driver_protocol::calls::{Access, Bootstrap, CreateParams, SetConfigParams};
use driver_protocol::request::{Create, PreCreateCheck, Remove, SetConfig};
use driver_protocol::{CancellationToken, ErrorKind, Options};
use std::time::Duration;

/// What `create` needs besides the name.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct CreateOptions {
    /// The driver name as the user typed it (`generic`, `vsphere`, `vmwarevsphere`, ...).
    pub driver: String,
    /// The driver's options the user gave, by option name (`generic-ip-address`), typed as the
    /// driver's schema says. Options not given get the schema's defaults.
    pub driver_options: Options,
    /// How Docker is installed and configured.
    pub engine: EngineOptions,
    /// The SHA256 fingerprint (`SHA256:...`) the host's SSH host key must have: when set, a
    /// host presenting another key fails the create before anything is installed on it. When
    /// not, the key the host presents at the first login is recorded.
    pub ssh_host_key_fingerprint: Option<String>,
}

impl CreateOptions {
    /// Options for a machine of `driver` with default engine options.
    pub fn new(driver: &str) -> CreateOptions {
        CreateOptions {
            driver: driver.into(),
            driver_options: Options::new(),
            engine: EngineOptions::default(),
            ssh_host_key_fingerprint: None,
        }
    }
}

/// A create running in a task of its own ([`Manager::start_create`]): its own events, its own
/// cancel, its result.
///
/// ```no_run
/// # async fn demo(manager: machine_core::Manager) -> machine_core::Result<()> {
/// let mut web1 = manager.start_create("web1", machine_core::CreateOptions::new("generic"));
/// while let Some(e) = web1.next_event().await {
///     println!("{:?} {}", e.step, e.message); // web1's only, however many creates run
/// }
/// let machine = web1.finish().await?; // web1.cancel() would have undone it
/// # Ok(()) }
/// ```
pub struct CreateHandle {
    name: String,
    events: tokio::sync::mpsc::UnboundedReceiver<crate::Event>,
    cancel: CancellationToken,
    task: tokio::task::JoinHandle<Result<Machine>>,
}

impl CreateHandle {
    /// The machine being created.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The next progress event of this create; `None` once it has finished and every event
    /// has been read. (The manager's own event sink gets them too.)
    pub async fn next_event(&mut self) -> Option<crate::Event> {
        self.events.recv().await
    }

    /// Cancels the create: it stops and undoes what it made; [`CreateHandle::finish`] then
    /// answers [`Error::Cancelled`].
    pub fn cancel(&self) {
        self.cancel.cancel();
    }

    /// Waits for the create to end: the machine, or why not (as [`Manager::create`]).
    pub async fn finish(self) -> Result<Machine> {
        match self.task.await {
            Ok(r) => r,
            // the task panicked: nothing to recover, say so
            Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
            // the runtime is shutting down: the create stopped where it was; `rm` finishes it
            Err(_) => Err(Error::Cancelled {
                machine: self.name,
                operation: "create".into(),
                undone: false,
            }),
        }
    }
}

impl Manager {
    /// Starts creating machine `name` in a task of its own and returns at once: the handle
    /// gives this create's events (no matching on machine names), cancels it, and waits for
    /// its result. Dropping the handle does not stop the create; [`CreateHandle::cancel`] does.
    pub fn start_create(&self, name: &str, opts: CreateOptions) -> CreateHandle {
        let cancel = CancellationToken::new();
        let (watch, events) = self.inner.events.watch(name);
        let (manager, n, c) = (self.clone(), name.to_string(), cancel.clone());
        let task = tokio::spawn(async move {
            let r = manager.create(&n, opts, &c).await;
            drop(watch); // the handle's events end once it has read these
            r
        });
        CreateHandle {
            name: name.to_string(),
            events,
            cancel,
            task,
        }
    }

    /// Creates a machine: the driver makes the host, then Docker is provisioned on it over SSH
    /// and checked over mutual TLS.
    ///
    /// On failure what was made is removed again ([`Error::CreateFailed`]); when `cancel` fires
    /// the driver is told, and the call returns once what was made is removed
    /// ([`Error::Cancelled`]). When even removing fails, the machine is kept (phase `Failed`)
    /// for `rm` to finish. A create whose future is dropped leaves its record in phase
    /// `Creating` (shown as interrupted), which `rm` removes with what was made.
    pub async fn create(
        &self,
        name: &str,
        opts: CreateOptions,
        cancel: &CancellationToken,
    ) -> Result<Machine> {
        validate_name(name)?;
        let host_key = match &opts.ssh_host_key_fingerprint {
            Some(fp) => HostKeyCheck::Fingerprint(ssh::check_fingerprint(fp)?),
            None => HostKeyCheck::Record,
        };
        if let Some(url) = opts.engine.install_method.url() {
            crate::download::check("install script", url, opts.engine.allow_http_downloads)?;
        }
        // an unknown driver fails before anything is written
        let driver = self.inner.drivers.get(&opts.driver).await?;
        let info = driver.info().clone();
        // a misspelt option (`generic-ssh-prot`) is an error, not silently dropped; one given by
        // an alias (`vmwarevsphere-iso-url`) is the option's own name from here on
        let given = info
            .canonical(opts.driver_options)
            .map_err(|option| Error::UnknownOption {
                driver: opts.driver.clone(),
                option,
                known: info.options.iter().map(|o| o.name.clone()).collect(),
            })?;
        let options = info.with_defaults(given);
        let mut config =
            crate::config::MachineConfig::new(name, &info.name, &opts.driver, opts.engine);
        config.secret_keys = info.secret_keys();
        let _lock = self.inner.store.create(&config).await?;
        let mut machine = self.handle(config);
        if let Err(e) = machine.check_steps(&driver, options, cancel).await {
            return Err(machine.nothing_made(e).await);
        }
        match machine.create_steps(&driver, host_key, cancel).await {
            Ok(()) => Ok(machine),
            Err(e) => Err(machine.undo_create(&driver, e).await),
        }
    }
}

impl Machine {
    /// The driver refused the options (set_config) or its pre-create check failed: nothing
    /// was made yet.
    fn check_failed(&self, e: Error) -> Error {
        match self.cancel_kind(e, "create") {
            e @ Error::Cancelled { .. } => e,
            e => Error::PreCreateCheck {
                driver: self.config.driver.clone(),
                source: Box::new(e),
            },
        }
    }

    /// `set_config` and the pre-create check: the driver makes nothing yet.
    async fn check_steps(
        &mut self,
        driver: &DriverConn,
        options: Options,
        cancel: &CancellationToken,
    ) -> Result<()> {
        let name = self.config.name.clone();
        let t = self.inner.timeouts.clone();
        self.emit(Step::Check, "Running pre-create checks...");
        let set = SetConfigParams::new(&name, options)
            .allow_http_downloads(self.config.engine.allow_http_downloads);
        let r = driver
            .request::<SetConfig>(&name, &set, t.query, cancel)
            .await
            .map_err(|e| self.check_failed(e))?;
        self.config.driver_config = r.config;
        self.save().await?;
        driver
            .request::<PreCreateCheck>(&name, &self.params(), t.query, cancel)
            .await
            .map_err(|e| self.check_failed(e))?;
        Ok(())
    }

    /// The rest of a create: the SSH key, the driver's create, SSH, provisioning.
    async fn create_steps(
        &mut self,
        driver: &DriverConn,
        host_key: HostKeyCheck,
        cancel: &CancellationToken,
    ) -> Result<()> {
        let name = self.config.name.clone();
        let t = self.inner.timeouts.clone();

        self.emit(Step::SshKey, "Creating SSH key...");
        let key = sshkey::generate(&format!("machine-{name}"))?;
        self.inner
            .store
            .write_blob(&name, Blob::SshKey, key.private.as_bytes())
            .await?;
        let certs = certificates::store_certs(&*self.inner.store, |what| {
            self.emit(Step::Certificates, what)
        })
        .await?;
        if cancel.is_cancelled() {
            return Err(self.cancelled("create"));
        }

        self.emit(Step::CreateHost, "Creating machine...");
        let p = CreateParams::new(
            &name,
            self.config.driver_config.clone(),
            &self.config.creation_id,
            &key.public,
        );
        let mut made = driver.watch_made(&name);
        let call = driver.request::<Create>(&name, &p, t.lifecycle, cancel);
        tokio::pin!(call);
        let created = loop {
            tokio::select! {
                r = &mut call => break r,
                Some(config) = made.rx.recv() => {
                    // what exists now is findable from the store, whatever happens next
                    self.config.driver_config = config;
                    self.save().await?;
                }
            }
        };
        // a `made` sent just before the answer is here already (the client hands notifications
        // over as it reads them): store the last one too
        let mut last = None;
        while let Ok(config) = made.rx.try_recv() {
            last = Some(config);
        }
        if let Some(config) = last {
            self.config.driver_config = config;
            self.save().await?;
        }
        drop(made);
        let created = created.map_err(|e| self.cancel_kind(e, "create"))?;
        if !created.config.is_null() {
            self.config.driver_config = created.config;
        }
        self.save().await?;

        let access = self.access().await?;
        if access.ssh.is_none() {
            return self.register_daemon(&access, &certs).await;
        }
        self.emit(Step::WaitForSsh, "Waiting for SSH...");
        let session = match created.bootstrap {
            // an existing host: the user's credentials this once, to install the machine's key
            Some(b) => {
                let session = self
                    .or_cancel(cancel, "create", bootstrap_login(&access, &b, host_key))
                    .await?;
                // recorded before the key goes on: `rm` takes back what may be there
                self.config.ssh_host_key = Some(session.host_key().to_string());
                self.config.installs_key = true;
                if let Err(e) = self.save().await {
                    session.close().await;
                    return Err(e);
                }
                self.emit(
                    Step::SshKey,
                    "Installing the machine's SSH key on the host...",
                );
                let install = crate::authorized_keys::install_script(&key.public);
                let installed = self
                    .or_cancel(cancel, "create", async {
                        Ok(session.exec_ok(&install).await?)
                    })
                    .await;
                if let Err(e) = installed {
                    session.close().await;
                    return Err(e);
                }
                session
            }
            None => {
                let target = self.target_at(&access).await?;
                self.or_cancel(cancel, "create", wait_for_login(&target, host_key, t.ssh))
                    .await?
            }
        };
        self.config.ssh_host_key = Some(session.host_key().to_string());
        self.config.engine.port = self.tcp_url_of(&access)?.port();
        self.save().await?;

        let provisioned = self
            .or_cancel(cancel, "create", self.provision_over(&session, &certs))
            .await;
        session.close().await;
        self.apply(provisioned?);
        self.config.phase = crate::config::Phase::Ready;
        self.save().await?;
        self.sync_ssh_client(&access).await;
        self.emit(Step::Done, "Docker is up and running!");
        Ok(())
    }

    /// A machine without SSH (Docker Machine's `none` driver: a daemon set up by hand,
    /// registered by its URL) is not provisioned, as Docker Machine did not: it is reached with
    /// the store's client certificate, which its daemon must trust.
    async fn register_daemon(&mut self, access: &Access, certs: &StoreCerts) -> Result<()> {
        let name = self.config.name.clone();
        let url = self.url_of(access)?;
        let store = &self.inner.store;
        for (blob, pem) in [
            (Blob::CaCert, &certs.ca.cert),
            (Blob::ClientCert, &certs.client.cert),
            (Blob::ClientKey, &certs.client.key),
        ] {
            store.write_blob(&name, blob, pem.as_bytes()).await?;
        }
        self.config.engine.port = url.port();
        self.config.phase = crate::config::Phase::Ready;
        self.save().await?;
        self.emit(
            Step::Done,
            format!(
                "Registered the Docker daemon at {url}: the driver gives no SSH, so it is not \
                 provisioned (it must trust this store's CA and client certificate)"
            ),
        );
        Ok(())
    }

    /// A create that stopped before the driver made anything (its options refused, its
    /// pre-create check failed, or cancelled then): only the record goes, nothing is undone.
    async fn nothing_made(&self, cause: Error) -> Error {
        let name = &self.config.name;
        if let Err(e) = self.inner.store.remove(name).await {
            tracing::warn!("removing {name} from the store after its pre-create check: {e}");
        }
        match cause {
            Error::Cancelled {
                machine, operation, ..
            } => Error::Cancelled {
                machine,
                operation,
                undone: true,
            },
            e => e,
        }
    }

    /// Removes what a failed or cancelled create made; returns the error to report.
    async fn undo_create(&mut self, driver: &DriverConn, cause: Error) -> Error {
        let name = self.config.name.clone();
        let cancelled = matches!(cause, Error::Cancelled { .. });
        self.warn(
            Step::Rollback,
            if cancelled {
                "Create cancelled; removing what was made..."
            } else {
                "Create failed; removing what was made..."
            },
        );
        // the latest config, with whatever the driver reported as made
        if let Ok(c) = self.inner.store.read_config(&name).await {
            self.config.driver_config = c.driver_config;
        }
        let removed = if self.config.driver_config.is_null() {
            Ok(())
        } else {
            // a host the driver keeps: what we put there goes first (key, daemon configuration)
            let undone = if driver.info().capabilities.keeps_host {
                self.unprovision().await
            } else {
                Ok(())
            };
            // a driver stopped (its call timed out) or crashed is started again for the undo
            let restarted;
            let driver = if driver.is_closed() {
                match self.driver().await {
                    Ok(d) => {
                        restarted = d;
                        &*restarted
                    }
                    Err(_) => driver,
                }
            } else {
                driver
            };
            match undone {
                Ok(()) => match driver
                    .request::<Remove>(
                        &name,
                        &self.params(),
                        self.inner.timeouts.lifecycle,
                        &CancellationToken::new(),
                    )
                    .await
                {
                    Err(e) if e.driver_kind() == Some(ErrorKind::NotFound) => Ok(()),
                    other => other.map(|_| ()),
                },
                Err(e) => Err(e),
            }
        };
        let kept = match removed {
            Ok(()) => match self.inner.store.remove(&name).await {
                Ok(()) => false,
                Err(e) => {
                    tracing::warn!("removing {name} from the store after its create: {e}");
                    true
                }
            },
            Err(cleanup) => {
                tracing::warn!("undoing the create of {name}: {cleanup}");
                self.config.phase = crate::config::Phase::Failed;
                self.config.last_error = Some(cause.to_string());
                let _ = self.save().await;
                true
            }
        };
        if !kept {
            self.warn(Step::Rollback, "Removed what was made.");
        }
        if cancelled {
            Error::Cancelled {
                machine: name,
                operation: "create".into(),
                undone: !kept,
            }
        } else {
            Error::CreateFailed {
                machine: name,
                kept,
                source: Box::new(cause),
            }
        }
    }
}

/// How long the first login to an existing host may take: it should be up already.
const BOOTSTRAP_SSH_WAIT: Duration = Duration::from_secs(20);

/// The first login to an existing host, with the user's key or ssh-agent, recording its host
/// key (checked first when pinned). A key protected by a passphrase is used through the
/// user's ssh-agent, which holds it unlocked (as the system ssh would use it). A refused login
/// is not retried: the user's key will not become right.
async fn bootstrap_login(
    access: &Access,
    b: &Bootstrap,
    host_key: HostKeyCheck,
) -> Result<Session> {
    let a = access.ssh.as_ref().expect("checked by the caller");
    let agent = std::env::var_os("SSH_AUTH_SOCK").is_some_and(|s| !s.is_empty());
    let target = match &b.key_path {
        Some(path) => match user_key(std::path::Path::new(path)) {
            Ok(key) => SshTarget::new(&a.host, a.port, &a.user, key, path),
            Err(sshkey::SshKeyError::Encrypted { .. }) if agent => {
                SshTarget::with_agent(&a.host, a.port, &a.user)
            }
            Err(e) => return Err(e.into()),
        },
        None => SshTarget::with_agent(&a.host, a.port, &a.user),
    };
    Ok(Session::wait(&target, host_key, BOOTSTRAP_SSH_WAIT).await?)
}

/// The largest user key file read: keys are a few KiB at most.
const USER_KEY_MAX: u64 = 64 * 1024;

/// The user's key at `path`, a path a driver named: read only when it is a regular file of a
/// key's size (never a device, a pipe or a folder: a driver cannot make us read those).
fn user_key(
    path: &std::path::Path,
) -> std::result::Result<russh::keys::PrivateKey, sshkey::SshKeyError> {
    match std::fs::metadata(path) {
        Ok(m) if !m.is_file() || m.len() > USER_KEY_MAX => Err(sshkey::SshKeyError::Invalid {
            path: path.into(),
            reason: format!("not a key file (a regular file of at most {USER_KEY_MAX} bytes)"),
        }),
        _ => sshkey::load_private(path),
    }
}

/// Waits until a new host accepts the machine's key. A new VM's sshd often answers before
/// cloud-init has installed the key, so refused logins are retried too, until `overall` passes.
async fn wait_for_login(
    target: &SshTarget,
    check: HostKeyCheck,
    overall: Duration,
) -> Result<Session> {
    let deadline = tokio::time::Instant::now() + overall;
    loop {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        match Session::wait(target, check.clone(), left).await {
            Ok(s) => return Ok(s),
            Err(ssh::SshError::AuthFailed { .. }) if !left.is_zero() => {
                tokio::time::sleep(Duration::from_secs(2).min(left)).await;
            }
            Err(ssh::SshError::AuthFailed { user, .. }) => {
                return Err(Error::KeyRefused {
                    host: target.host.clone(),
                    port: target.port,
                    user,
                    seconds: overall.as_secs(),
                })
            }
            Err(e) => return Err(e.into()),
        }
    }
}
