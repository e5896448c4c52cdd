//! The Machine API: create a host through its driver, provision Docker on it, and manage it.
//!
//! [`Manager`] is the entry point (a store plus the running drivers); [`Machine`] is one
//! machine's handle. Every operation that changes a machine holds its lock in the store, so two
//! processes never work on the same machine at once.

use crate::cert::{self, Pem};
use crate::config::{MachineConfig, Phase, CONFIG_FILE, CONFIG_VERSION};
use crate::daemon::{self, DaemonVersion};
use crate::driver_host::{DriverHost, DriverProcess};
use crate::engine::EngineOptions;
use crate::error::{Error, Result};
use crate::events::Events;
use crate::provision::{self, ProvisionReport, ProvisionRequest};
use crate::ssh::{self, HostKeyCheck, Session, SshTarget};
use crate::sshkey;
use crate::store::{validate_name, LockGuard, Store};
use driver_protocol::calls::{self, *};
use driver_protocol::{DriverInfo, ErrorKind};
use serde_json::{Map, Value};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The machine's own SSH key, made at create, in its folder.
pub const SSH_KEY_FILE: &str = "id_ed25519";
/// The recorded host key in OpenSSH known_hosts form, for the system `ssh`.
pub const KNOWN_HOSTS_FILE: &str = "known_hosts";
const ORG: &str = "machine";

/// How long things may take.
#[derive(Debug, Clone)]
pub struct Timeouts {
    /// Quick driver queries: state, ip, url, ssh details.
    pub query: Duration,
    /// Lifecycle calls: create, start, stop, restart, kill, remove.
    pub lifecycle: Duration,
    /// Waiting for SSH on a new or rebooted host.
    pub ssh: Duration,
    /// Waiting for the Docker daemon to answer over TLS.
    pub daemon: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            query: Duration::from_secs(60),
            lifecycle: Duration::from_secs(30 * 60),
            ssh: Duration::from_secs(5 * 60),
            daemon: Duration::from_secs(120),
        }
    }
}

/// What `create` needs besides the name.
#[derive(Debug, Clone)]
pub struct CreateOptions {
    /// The driver name as the user typed it (`generic`, `vsphere`, `vmwarevsphere`, ...).
    pub driver: String,
    /// The driver's options the user gave, by option name (`generic-ip-address`), typed as the
    /// driver's schema says. Options not given are absent; the driver applies its defaults.
    pub driver_options: Map<String, Value>,
    pub engine: EngineOptions,
}

impl CreateOptions {
    pub fn new(driver: &str) -> CreateOptions {
        CreateOptions {
            driver: driver.into(),
            driver_options: Map::new(),
            engine: EngineOptions::default(),
        }
    }
}

/// The environment that points a docker client at a machine (`machine env`).
#[derive(Debug, Clone, PartialEq)]
pub struct DockerEnv {
    pub tls_verify: bool,
    pub host: String,
    pub cert_path: PathBuf,
    pub machine_name: String,
}

struct Inner {
    store: Store,
    drivers: DriverHost,
    events: Events,
    timeouts: Timeouts,
}

/// A store and the drivers that serve its machines.
#[derive(Clone)]
pub struct Manager {
    inner: Arc<Inner>,
}

impl Manager {
    /// Drivers are looked for next to the running program, then on PATH.
    pub fn new(store: Store, events: Events) -> Manager {
        let drivers = DriverHost::new(events.clone());
        Manager::with_drivers(store, drivers, events, Timeouts::default())
    }

    pub fn with_drivers(
        store: Store,
        drivers: DriverHost,
        events: Events,
        timeouts: Timeouts,
    ) -> Manager {
        Manager {
            inner: Arc::new(Inner {
                store,
                drivers,
                events,
                timeouts,
            }),
        }
    }

    pub fn store(&self) -> &Store {
        &self.inner.store
    }

    pub fn drivers(&self) -> &DriverHost {
        &self.inner.drivers
    }

    /// The driver's name, version, capabilities and options (starts it if needed).
    pub async fn driver_info(&self, driver: &str) -> Result<DriverInfo> {
        Ok(self.inner.drivers.get(driver).await?.info().clone())
    }

    /// Names of all machines in the store, sorted.
    pub fn names(&self) -> Result<Vec<String>> {
        self.inner.store.list()
    }

    /// Makes `ca` and `client` the store's CA and client certificate, instead of ones made on
    /// first use (Docker Machine's `--tls-ca-cert`, `--tls-ca-key`, `--tls-client-cert`,
    /// `--tls-client-key`). A store whose machines already trust another CA is left alone.
    pub async fn import_store_certs(&self, ca: &Pem, client: &Pem) -> Result<()> {
        if !cert::signed_by(&client.cert, &ca.cert)? {
            return Err(Error::Other(
                "the client certificate is not signed by the CA certificate given with it".into(),
            ));
        }
        let store = &self.inner.store;
        let _lock = store.lock_certs().await?;
        match store.read_string(None, "ca.pem")? {
            Some(existing) if existing.trim() != ca.cert.trim() => Err(Error::Other(format!(
                "the store already has another CA ({}), which its machines trust: use another \
                 --storage-path for machines under this CA",
                store.path_of(None, "ca.pem").display()
            ))),
            _ => write_store_certs(store, ca, client),
        }
    }

    /// Loads a machine's handle.
    pub fn load(&self, name: &str) -> Result<Machine> {
        validate_name(name)?;
        let config: MachineConfig = self
            .inner
            .store
            .read_json(Some(name), CONFIG_FILE)?
            .ok_or_else(|| {
                if self.inner.store.exists(name) {
                    Error::InvalidFile {
                        path: self.inner.store.path_of(Some(name), CONFIG_FILE),
                        message: "missing: the machine folder has no configuration \
                                  (`machine rm -f NAME` removes it)"
                            .into(),
                    }
                } else {
                    Error::NotFound(name.to_string())
                }
            })?;
        Ok(Machine {
            inner: self.inner.clone(),
            config,
        })
    }

    /// Creates a machine: the driver makes the host, then Docker is provisioned on it over SSH
    /// and checked over mutual TLS. On failure, what was made is removed again; when even that
    /// fails the machine is kept (phase `Failed`) so that `rm -f` can finish the job.
    pub async fn create(&self, name: &str, opts: CreateOptions) -> Result<Machine> {
        validate_name(name)?;
        let store = &self.inner.store;
        // an unknown driver fails before anything is written
        let driver = self.inner.drivers.get(&opts.driver).await?;
        store.create_machine(name)?;
        let _lock = store.lock(name).await?;
        let info = driver.info().clone();
        let mut machine = Machine {
            inner: self.inner.clone(),
            config: MachineConfig {
                config_version: CONFIG_VERSION,
                name: name.to_string(),
                driver: info.name.clone(),
                driver_alias: opts.driver.clone(),
                driver_config: Value::Null,
                secret_keys: info
                    .options
                    .iter()
                    .filter(|o| o.secret)
                    .map(|o| o.name.clone())
                    .collect(),
                engine: opts.engine.clone(),
                ssh_host_key: None,
                phase: Phase::Creating,
                last_error: None,
                created_at: SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .map(|d| d.as_secs())
                    .unwrap_or(0),
                docker_version: None,
                os: None,
            },
        };
        if let Err(e) = machine.save() {
            let _ = store.remove_machine(name);
            return Err(e);
        }
        match machine.create_steps(&driver, opts.driver_options).await {
            Ok(()) => Ok(machine),
            Err(e) => Err(machine.clean_up_failed_create(&driver, e).await),
        }
    }
}

/// One machine.
pub struct Machine {
    inner: Arc<Inner>,
    config: MachineConfig,
}

impl Machine {
    pub fn name(&self) -> &str {
        &self.config.name
    }

    pub fn config(&self) -> &MachineConfig {
        &self.config
    }

    /// The folder holding this machine's files (DOCKER_CERT_PATH).
    pub fn dir(&self) -> PathBuf {
        self.inner.store.machine_dir(self.name())
    }

    fn events(&self) -> &Events {
        &self.inner.events
    }

    fn progress(&self, message: &str) {
        self.events().emit(&self.config.name, message);
    }

    /// Holds the machine's lock and reads its configuration again: another process may have
    /// changed it (or removed the machine) while this one waited.
    async fn lock(&mut self) -> Result<Box<dyn LockGuard>> {
        let guard = self.inner.store.lock(self.name()).await?;
        self.config = self
            .inner
            .store
            .read_json(Some(self.name()), CONFIG_FILE)?
            .ok_or_else(|| Error::NotFound(self.config.name.clone()))?;
        Ok(guard)
    }

    fn save(&self) -> Result<()> {
        self.inner
            .store
            .write_json(Some(&self.config.name), CONFIG_FILE, &self.config)
    }

    async fn driver(&self) -> Result<Arc<DriverProcess>> {
        self.inner.drivers.get(&self.config.driver).await
    }

    fn params(&self) -> MachineParams {
        MachineParams {
            machine: self.config.name.clone(),
            config: self.config.driver_config.clone(),
        }
    }

    async fn query<R: serde::de::DeserializeOwned>(&self, method: &str) -> Result<R> {
        self.driver()
            .await?
            .call(
                &self.config.name,
                method,
                &self.params(),
                self.inner.timeouts.query,
            )
            .await
    }

    async fn create_steps(
        &mut self,
        driver: &DriverProcess,
        options: Map<String, Value>,
    ) -> Result<()> {
        let name = self.config.name.clone();
        let t = self.inner.timeouts.clone();
        let set = SetConfigParams {
            machine: name.clone(),
            options,
            machine_dir: self.dir().display().to_string(),
        };
        let r: ConfigResult = driver.call(&name, calls::SET_CONFIG, &set, t.query).await?;
        self.config.driver_config = r.config;
        self.save()?;
        driver
            .call::<_, Value>(&name, calls::PRE_CREATE_CHECK, &self.params(), t.query)
            .await?;

        self.progress("Creating SSH key...");
        let key = sshkey::generate(&format!("machine-{name}"))?;
        let store = &self.inner.store;
        store.write_file(Some(&name), SSH_KEY_FILE, key.private.as_bytes(), true)?;
        store.write_file(
            Some(&name),
            &format!("{SSH_KEY_FILE}.pub"),
            format!("{}\n", key.public).as_bytes(),
            false,
        )?;
        let public_key = key.public;
        let (ca, client) = self.store_certs().await?;

        self.progress("Creating machine...");
        let create = CreateParams {
            machine: name.clone(),
            config: self.config.driver_config.clone(),
            ssh_public_key: public_key,
        };
        let r: ConfigResult = driver
            .call(&name, calls::CREATE, &create, t.lifecycle)
            .await?;
        if !r.config.is_null() {
            self.config.driver_config = r.config;
        }
        self.save()?;

        self.progress("Waiting for SSH...");
        let target = self.ssh_target().await?;
        let session = wait_for_login(&target, t.ssh).await?;
        self.record_host_key(&target, session.host_key())?;

        let url: UrlResult = self.query(calls::URL).await?;
        if let Some(port) = url_port(&url.url) {
            self.config.engine.port = port;
        }
        self.provision_over(&session, &ca, &client, true).await?;
        session.close().await;
        self.config.phase = Phase::Ready;
        self.save()?;
        self.progress("Docker is up and running!");
        Ok(())
    }

    async fn clean_up_failed_create(&mut self, driver: &DriverProcess, cause: Error) -> Error {
        let name = self.config.name.clone();
        self.progress("Create failed; removing what was made...");
        let removed = if self.config.driver_config.is_null() {
            Ok(())
        } else {
            match driver
                .call::<_, ConfigResult>(
                    &name,
                    calls::REMOVE,
                    &self.params(),
                    self.inner.timeouts.lifecycle,
                )
                .await
            {
                Err(Error::Driver {
                    kind: ErrorKind::NotFound,
                    ..
                }) => Ok(()),
                other => other.map(|_| ()),
            }
        };
        let kept = match removed.and_then(|_| self.inner.store.remove_machine(&name)) {
            Ok(()) => false,
            Err(cleanup) => {
                tracing::warn!("cleaning up after the failed create of {name}: {cleanup}");
                self.config.phase = Phase::Failed;
                self.config.last_error = Some(cause.to_string());
                let _ = self.save();
                true
            }
        };
        Error::CreateFailed {
            machine: name,
            kept,
            source: Box::new(cause),
        }
    }

    /// The store's CA and client certificate, made on first use.
    async fn store_certs(&self) -> Result<(Pem, Pem)> {
        let store = &self.inner.store;
        let _lock = store.lock_certs().await?;
        let read = |file: &str| store.read_string(None, file);
        if let (Some(cert), Some(key), Some(ccert), Some(ckey)) = (
            read("ca.pem")?,
            read("ca-key.pem")?,
            read("cert.pem")?,
            read("key.pem")?,
        ) {
            return Ok((
                Pem { cert, key },
                Pem {
                    cert: ccert,
                    key: ckey,
                },
            ));
        }
        self.progress("Creating CA and client certificates...");
        let (ca, client) = new_store_certs()?;
        write_store_certs(store, &ca, &client)?;
        Ok((ca, client))
    }

    /// Provisions over an open session: server certificate, Docker, daemon check.
    async fn provision_over(
        &mut self,
        session: &Session,
        ca: &Pem,
        client: &Pem,
        new_server_cert: bool,
    ) -> Result<()> {
        let name = self.config.name.clone();
        let store = &self.inner.store;
        let ip: IpResult = self.query(calls::IP).await?;
        let server = match (
            new_server_cert,
            store.read_string(Some(&name), "server.pem")?,
            store.read_string(Some(&name), "server-key.pem")?,
        ) {
            (false, Some(cert), Some(key)) => Pem { cert, key },
            _ => {
                self.progress("Generating the server certificate...");
                let mut sans = vec![ip.ip.clone(), name.clone(), "localhost".to_string()];
                sans.extend(self.config.engine.tls_san.iter().cloned());
                let server = cert::new_server(ca, ORG, &sans)?;
                store.write_file(Some(&name), "server.pem", server.cert.as_bytes(), false)?;
                store.write_file(Some(&name), "server-key.pem", server.key.as_bytes(), true)?;
                server
            }
        };
        // the files DOCKER_CERT_PATH points at
        store.write_file(Some(&name), "ca.pem", ca.cert.as_bytes(), false)?;
        store.write_file(Some(&name), "cert.pem", client.cert.as_bytes(), false)?;
        store.write_file(Some(&name), "key.pem", client.key.as_bytes(), true)?;

        let report = self.run_provisioner(session, ca, &server, false).await?;
        self.config.os = Some(report.os.pretty_name.clone());
        self.progress("Checking the Docker daemon over TLS...");
        let version = self.wait_for_daemon(ca, client).await?;
        self.config.docker_version = Some(version.version);
        self.save()
    }

    /// Runs the provisioner (or, with `upgrade`, the engine upgrade) with this machine's
    /// engine options and certificates, reporting its progress as the machine's.
    async fn run_provisioner(
        &self,
        session: &Session,
        ca: &Pem,
        server: &Pem,
        upgrade: bool,
    ) -> Result<ProvisionReport> {
        let events = self.events().clone();
        let name = self.config.name.clone();
        let progress = move |m: &str| events.emit(&name, m);
        let request = ProvisionRequest {
            machine_name: &self.config.name,
            driver_name: &self.config.driver,
            engine: &self.config.engine,
            ca_pem: &ca.cert,
            server_cert_pem: &server.cert,
            server_key_pem: &server.key,
            progress: &progress,
        };
        Ok(if upgrade {
            provision::upgrade(session, &request).await?
        } else {
            provision::provision(session, &request).await?
        })
    }

    async fn wait_for_daemon(&self, ca: &Pem, client: &Pem) -> Result<DaemonVersion> {
        let url: UrlResult = self.query(calls::URL).await?;
        Ok(daemon::wait_ready(&url.url, &ca.cert, client, self.inner.timeouts.daemon).await?)
    }

    fn record_host_key(&mut self, target: &SshTarget, key: &str) -> Result<()> {
        self.config.ssh_host_key = Some(key.to_string());
        let line = ssh::known_hosts_line(&target.host, target.port, key);
        self.inner.store.write_file(
            Some(&self.config.name),
            KNOWN_HOSTS_FILE,
            format!("{line}\n").as_bytes(),
            false,
        )?;
        self.save()
    }

    /// How to reach the machine over SSH (the driver says where; the key is the machine's own
    /// unless the driver names one, as the generic driver does with the user's key).
    pub async fn ssh_target(&self) -> Result<SshTarget> {
        let d: SshDetails = self.query(calls::SSH).await?;
        Ok(SshTarget {
            host: d.host,
            port: d.port,
            user: d.user,
            key_path: d
                .key_path
                .map(PathBuf::from)
                .unwrap_or_else(|| self.inner.store.path_of(Some(self.name()), SSH_KEY_FILE)),
        })
    }

    /// An SSH session, checking the host key recorded at create.
    pub async fn session(&self) -> Result<Session> {
        let target = self.ssh_target().await?;
        let check = match &self.config.ssh_host_key {
            Some(k) => HostKeyCheck::Expect(k.clone()),
            None => HostKeyCheck::Record,
        };
        Ok(Session::connect(&target, check, Duration::from_secs(20)).await?)
    }

    /// Runs a command on the machine over SSH.
    pub async fn exec(&self, command: &str) -> Result<ssh::Output> {
        let session = self.session().await?;
        let out = session.exec(command).await?;
        session.close().await;
        Ok(out)
    }

    /// The path of the known_hosts file holding the recorded host key (for the system `ssh`).
    pub fn known_hosts_path(&self) -> PathBuf {
        self.inner
            .store
            .path_of(Some(self.name()), KNOWN_HOSTS_FILE)
    }

    /// The machine's state as its driver reports it, within `timeout`.
    pub async fn state_within(&self, timeout: Duration) -> Result<State> {
        let r: StateResult = self
            .driver()
            .await?
            .call(&self.config.name, calls::STATE, &self.params(), timeout)
            .await?;
        Ok(r.state)
    }

    pub async fn state(&self) -> Result<State> {
        self.state_within(self.inner.timeouts.query).await
    }

    pub async fn ip(&self) -> Result<String> {
        Ok(self.query::<IpResult>(calls::IP).await?.ip)
    }

    /// The Docker URL, e.g. `tcp://192.0.2.10:2376`.
    pub async fn url(&self) -> Result<String> {
        Ok(self.query::<UrlResult>(calls::URL).await?.url)
    }

    /// DOCKER_HOST and friends for this machine.
    pub async fn docker_env(&self) -> Result<DockerEnv> {
        Ok(DockerEnv {
            tls_verify: true,
            host: self.url().await?,
            cert_path: self.dir(),
            machine_name: self.name().to_string(),
        })
    }

    fn client_pems(&self) -> Result<(Pem, Pem)> {
        let store = &self.inner.store;
        let name = self.name();
        let read = |file: &str| -> Result<String> {
            store
                .read_string(Some(name), file)?
                .ok_or_else(|| Error::InvalidFile {
                    path: store.path_of(Some(name), file),
                    message: format!(
                        "missing: `machine regenerate-certs --client-certs {name}` issues new certificates"
                    ),
                })
        };
        Ok((
            Pem {
                cert: read("ca.pem")?,
                key: String::new(),
            },
            Pem {
                cert: read("cert.pem")?,
                key: read("key.pem")?,
            },
        ))
    }

    /// Asks the daemon its version over mutual TLS.
    pub async fn docker_version(&self) -> Result<DaemonVersion> {
        let (ca, client) = self.client_pems()?;
        Ok(daemon::version(&self.url().await?, &ca.cert, &client).await?)
    }

    /// The daemon's `/info` (labels, storage driver, ...), over mutual TLS.
    pub async fn docker_info(&self) -> Result<Value> {
        let (ca, client) = self.client_pems()?;
        Ok(daemon::info(&self.url().await?, &ca.cert, &client).await?)
    }

    async fn lifecycle(&mut self, method: &str, allowed: bool) -> Result<()> {
        if !allowed {
            return Err(Error::NotSupported {
                driver: self.config.driver_alias.clone(),
                operation: method.to_string(),
            });
        }
        let _lock = self.lock().await?;
        let r: ConfigResult = self
            .driver()
            .await?
            .call(
                &self.config.name,
                method,
                &self.params(),
                self.inner.timeouts.lifecycle,
            )
            .await?;
        if !r.config.is_null() {
            self.config.driver_config = r.config;
            self.save()?;
        }
        Ok(())
    }

    async fn capabilities(&self) -> Result<driver_protocol::schema::Capabilities> {
        Ok(self.driver().await?.info().capabilities)
    }

    pub async fn start(&mut self) -> Result<()> {
        let allowed = self.capabilities().await?.start;
        self.lifecycle(calls::START, allowed).await?;
        self.after_boot().await
    }

    pub async fn stop(&mut self) -> Result<()> {
        let allowed = self.capabilities().await?.stop;
        self.lifecycle(calls::STOP, allowed).await
    }

    /// Restarts the machine and returns once its Docker daemon answers again.
    pub async fn restart(&mut self) -> Result<()> {
        let allowed = self.capabilities().await?.restart;
        self.lifecycle(calls::RESTART, allowed).await?;
        self.after_boot().await
    }

    pub async fn kill(&mut self) -> Result<()> {
        let allowed = self.capabilities().await?.kill;
        self.lifecycle(calls::KILL, allowed).await
    }

    /// After a boot: wait for SSH, re-issue the server certificate if the IP changed, and wait
    /// for the daemon over TLS.
    async fn after_boot(&mut self) -> Result<()> {
        self.progress("Waiting for SSH...");
        let target = self.ssh_target().await?;
        let check = match &self.config.ssh_host_key {
            Some(k) => HostKeyCheck::Expect(k.clone()),
            None => HostKeyCheck::Record,
        };
        let session = Session::wait(&target, check, self.inner.timeouts.ssh).await?;
        let (ca, client) = self.client_pems()?;
        let server = self
            .inner
            .store
            .read_string(Some(self.name()), "server.pem")?
            .unwrap_or_default();
        let ip = self.ip().await?;
        if !server.is_empty() && !cert::inspect(&server)?.covers(&ip) {
            self.progress("The IP changed; regenerating the server certificate...");
            let _lock = self.lock().await?;
            let (ca, client) = self.store_certs().await?;
            self.provision_over(&session, &ca, &client, true).await?;
        } else {
            self.progress("Waiting for Docker...");
            self.wait_for_daemon(&ca, &client).await?;
        }
        session.close().await;
        Ok(())
    }

    /// Removes the machine: the driver destroys what it made, then its folder goes. With
    /// `force`, a driver failure does not stop the removal of the folder.
    pub async fn remove(mut self, force: bool) -> Result<()> {
        let _lock = self.lock().await?;
        let result = match self.driver().await {
            Ok(driver) => driver
                .call::<_, ConfigResult>(
                    &self.config.name,
                    calls::REMOVE,
                    &self.params(),
                    self.inner.timeouts.lifecycle,
                )
                .await
                .map(|_| ()),
            Err(e) => Err(e),
        };
        match result {
            Ok(()) => {}
            Err(Error::Driver {
                kind: ErrorKind::NotFound,
                ..
            }) => {}
            Err(e) if force => {
                tracing::warn!("removing {} despite: {e}", self.name());
            }
            Err(e) => return Err(e),
        }
        self.inner.store.remove_machine(self.name())
    }

    /// Provisions the machine again: server certificate, engine configuration, restart.
    pub async fn provision(&mut self) -> Result<()> {
        let _lock = self.lock().await?;
        let (ca, client) = self.store_certs().await?;
        let session = self.session().await?;
        self.provision_over(&session, &ca, &client, true).await?;
        session.close().await;
        Ok(())
    }

    /// Issues a new server certificate (and, with `client_certs`, a new store CA and client
    /// certificate first), installs it and restarts Docker.
    pub async fn regenerate_certs(&mut self, client_certs: bool) -> Result<()> {
        let _lock = self.lock().await?;
        if client_certs {
            let _certs = self.inner.store.lock_certs().await?;
            self.progress("Regenerating the CA and client certificates...");
            let (ca, client) = new_store_certs()?;
            write_store_certs(&self.inner.store, &ca, &client)?;
        }
        let (ca, client) = self.store_certs().await?;
        let session = self.session().await?;
        self.provision_over(&session, &ca, &client, true).await?;
        session.close().await;
        Ok(())
    }

    /// Upgrades Docker with the install method and URL the machine was created with; `version`
    /// pins a new version (kept for later upgrades).
    pub async fn upgrade(&mut self, version: Option<String>) -> Result<()> {
        let _lock = self.lock().await?;
        if version.is_some() {
            self.config.engine.version = version;
        }
        let (ca, client) = self.store_certs().await?;
        let server = Pem {
            cert: self
                .inner
                .store
                .read_string(Some(self.name()), "server.pem")?
                .unwrap_or_default(),
            key: self
                .inner
                .store
                .read_string(Some(self.name()), "server-key.pem")?
                .unwrap_or_default(),
        };
        let session = self.session().await?;
        self.run_provisioner(&session, &ca, &server, true).await?;
        session.close().await;
        let version = self.wait_for_daemon(&ca, &client).await?;
        self.config.docker_version = Some(version.version);
        self.save()
    }
}

/// Waits until a new host accepts the machine's key. A new VM's sshd often answers before
/// cloud-init has installed the key, so refused logins are retried too, until `overall` passes.
async fn wait_for_login(target: &SshTarget, overall: Duration) -> Result<Session> {
    let deadline = tokio::time::Instant::now() + overall;
    loop {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        match Session::wait(target, HostKeyCheck::Record, left).await {
            Ok(s) => return Ok(s),
            Err(ssh::SshError::AuthFailed { .. }) if !left.is_zero() => {
                tokio::time::sleep(Duration::from_secs(2).min(left)).await;
            }
            Err(ssh::SshError::AuthFailed { user, key }) => {
                return Err(Error::Other(format!(
                    "{}:{} answers SSH but refused the key {} for user {user} for {}s: \
                     the host did not install the machine's key (for a VM: is cloud-init with \
                     the VMware guestinfo data source in the image?)",
                    target.host,
                    target.port,
                    key.display(),
                    overall.as_secs()
                )))
            }
            Err(e) => return Err(e.into()),
        }
    }
}

fn new_store_certs() -> Result<(Pem, Pem)> {
    let ca = cert::new_ca(ORG)?;
    let client = cert::new_client(&ca, ORG)?;
    Ok((ca, client))
}

fn write_store_certs(store: &Store, ca: &Pem, client: &Pem) -> Result<()> {
    store.write_file(None, "ca.pem", ca.cert.as_bytes(), false)?;
    store.write_file(None, "ca-key.pem", ca.key.as_bytes(), true)?;
    store.write_file(None, "cert.pem", client.cert.as_bytes(), false)?;
    store.write_file(None, "key.pem", client.key.as_bytes(), true)
}

/// The port of a `tcp://host:port` URL.
fn url_port(url: &str) -> Option<u16> {
    url.rsplit_once(':')
        .and_then(|(_, p)| p.trim_end_matches('/').parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports_of_urls() {
        assert_eq!(url_port("tcp://192.0.2.1:2376"), Some(2376));
        assert_eq!(url_port("tcp://[::1]:3000"), Some(3000));
        assert_eq!(url_port("tcp://host"), None);
    }
}
