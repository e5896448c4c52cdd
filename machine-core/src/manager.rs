//! [`Manager`]: a store, the drivers that serve its machines, and where events go. The entry
//! point of the library: create machines, load them, list and act on the fleet. Made with
//! [`Manager::builder`].

use crate::certificates;
use crate::config::MachineConfig;
use crate::daemon::Daemons;
use crate::docker_context::DockerConfigDir;
use crate::driver_host::{DriverHost, PluginSettings};
use crate::error::Result;
use crate::events::Events;
use crate::machine::Machine;
use crate::name::validate_name;
use crate::store::{Store, StoreCerts};
use driver_protocol::{Driver, DriverInfo};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// How long things may take. The defaults are what the `machine` CLI uses.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Timeouts {
    /// Quick driver queries: state, access. Default: 60 s.
    pub query: Duration,
    /// Lifecycle calls: create, start, stop, restart, kill, remove. Default: 30 minutes (a
    /// create may upload an ISO).
    pub lifecycle: Duration,
    /// Waiting for SSH on a new or rebooted host. Default: 5 minutes.
    pub ssh: Duration,
    /// Waiting for the Docker daemon to answer over TLS after it was (re)configured or its
    /// machine booted. Default: 120 s.
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

pub(crate) struct Inner {
    pub(crate) store: Arc<dyn Store>,
    pub(crate) drivers: DriverHost,
    pub(crate) events: Events,
    pub(crate) timeouts: Timeouts,
    /// The HTTP clients of this manager's daemons.
    pub(crate) daemons: Daemons,
    /// Where the docker contexts kept in line with the machines are, if anywhere.
    pub(crate) docker: Option<DockerConfigDir>,
}

/// A store and the drivers that serve its machines. Cheap to clone; share one per program.
///
/// ```no_run
/// use machine_core::{Events, Manager, Timeouts};
/// use machine_core::docker_context::DockerConfigDir;
///
/// # async fn demo() -> Result<(), machine_core::Error> {
/// let store = machine_core::store::open(&machine_core::store::default_location()).await?;
/// let mut timeouts = Timeouts::default();
/// timeouts.lifecycle = std::time::Duration::from_secs(600);
/// let manager = Manager::builder(store)
///     .events(Events::new(|e| eprintln!("({}) {}", e.machine, e.message)))
///     .driver_dir("/opt/our-drivers") // searched before the folders searched by default
///     .docker_contexts(DockerConfigDir::from_env())
///     .timeouts(timeouts)
///     .build();
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Manager {
    pub(crate) inner: Arc<Inner>,
}

/// An in-process driver, registered once the driver host exists.
type Registration = Box<dyn FnOnce(&DriverHost) + Send>;

/// How a [`Manager`] is made: [`Manager::builder`], then what differs from the defaults, then
/// [`ManagerBuilder::build`].
#[must_use = "a builder does nothing until build() is called"]
pub struct ManagerBuilder {
    store: Arc<dyn Store>,
    events: Events,
    /// The in-process drivers, registered when the driver host is made.
    drivers: Vec<Registration>,
    driver_dirs: Vec<PathBuf>,
    default_search: bool,
    timeouts: Timeouts,
    docker: Option<DockerConfigDir>,
    plugins: PluginSettings,
}

impl ManagerBuilder {
    /// Where progress events of every operation go (default: nowhere, [`Events::none`]).
    pub fn events(mut self, events: Events) -> Self {
        self.events = events;
        self
    }

    /// A driver implemented in this program (the [`Driver`] trait; no executable, spoken to over
    /// in-memory pipes), under its name and aliases. It wins over an executable of the same
    /// name.
    pub fn driver<D: Driver>(mut self, driver: D) -> Self {
        self.drivers
            .push(Box::new(move |host: &DriverHost| host.register(driver)));
        self
    }

    /// A folder of driver executables (`machine-driver-NAME`), searched before the default
    /// folders (next to the running program, then the absolute folders of `PATH`). Folders
    /// added first are searched first.
    pub fn driver_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.driver_dirs.push(dir.into());
        self
    }

    /// Searches only the folders given with [`ManagerBuilder::driver_dir`] (and the in-process
    /// drivers): not next to the running program, not `PATH`. For tests and programs that ship
    /// their own drivers.
    pub fn no_default_driver_search(mut self) -> Self {
        self.default_search = false;
        self
    }

    /// A `docker-machine` binary whose built-in drivers (`amazonec2`, `digitalocean`, ...)
    /// are run through `machine-plugin-bridge` (default: none; `docker-machine-driver-NAME`
    /// plugins on the driver search path are run without it).
    pub fn docker_machine_bin(mut self, bin: impl Into<PathBuf>) -> Self {
        self.plugins.docker_machine_bin = Some(bin.into());
        self
    }

    /// The folder Docker Machine's plugins keep their files in (their `StorePath`; default: a
    /// private temporary folder for each command, removed after it).
    pub fn plugin_storage(mut self, dir: impl Into<PathBuf>) -> Self {
        self.plugins.storage = Some(dir.into());
        self
    }

    /// How long things may take (default: [`Timeouts::default`]).
    pub fn timeouts(mut self, timeouts: Timeouts) -> Self {
        self.timeouts = timeouts;
        self
    }

    /// Keeps the docker contexts in `dir` in line with the machines (default: contexts are
    /// never touched). A machine's own context, once a program made one
    /// ([`crate::docker_context::register`]), is brought up to date whenever the machine is
    /// loaded (another workstation sharing the store may have rotated its certificates) and
    /// after start, restart, provision and new certificates (its address or certificates may
    /// have changed), and goes when the machine is removed. Contexts this library did not make
    /// for the machine are never touched. A context that cannot be kept in line fails nothing:
    /// it is a warning event ([`crate::Step::DockerContext`]).
    pub fn docker_contexts(mut self, dir: DockerConfigDir) -> Self {
        self.docker = Some(dir);
        self
    }

    /// The manager.
    pub fn build(self) -> Manager {
        let mut search = self.driver_dirs;
        if self.default_search {
            search.extend(crate::driver_host::default_search_path());
        }
        let drivers =
            DriverHost::with_search_path(search, self.events.clone()).with_plugins(self.plugins);
        for register in self.drivers {
            register(&drivers);
        }
        Manager {
            inner: Arc::new(Inner {
                store: self.store,
                drivers,
                events: self.events,
                timeouts: self.timeouts,
                daemons: Daemons::default(),
                docker: self.docker,
            }),
        }
    }
}

impl Manager {
    /// A manager over `store` (see [`crate::store::open`]; [`crate::MemoryStore`] for tests):
    /// with nothing else set, drivers are looked for next to the running program, then on
    /// `PATH`, events go nowhere, the timeouts are [`Timeouts::default`] and docker contexts are
    /// not touched.
    pub fn builder(store: Arc<dyn Store>) -> ManagerBuilder {
        ManagerBuilder {
            store,
            events: Events::none(),
            drivers: Vec::new(),
            driver_dirs: Vec::new(),
            default_search: true,
            timeouts: Timeouts::default(),
            docker: None,
            plugins: PluginSettings::default(),
        }
    }

    /// The store.
    pub fn store(&self) -> &dyn Store {
        &*self.inner.store
    }

    /// Every installed driver by name: the in-process ones, then the executables found
    /// (nothing is run to know them), sorted.
    pub fn installed_drivers(&self) -> Vec<String> {
        self.inner.drivers.installed()
    }

    /// The driver's name, version, capabilities and options (starts it if needed).
    pub async fn driver_info(&self, driver: &str) -> Result<DriverInfo> {
        Ok(self.inner.drivers.get(driver).await?.info().clone())
    }

    /// Names of all machines in the store, in Docker Machine's order (natural and
    /// case-insensitive: `web2` before `web10`, see [`crate::name::natural_cmp`]). Reads no
    /// record.
    pub async fn names(&self) -> Result<Vec<String>> {
        let mut names = self.inner.store.names().await?;
        names.sort_by(|a, b| crate::name::natural_cmp(a, b));
        Ok(names)
    }

    /// Loads a machine's handle. With [`ManagerBuilder::docker_contexts`], the machine's own
    /// docker context is brought in line with its record first.
    pub async fn load(&self, name: &str) -> Result<Machine> {
        let m = self.load_record(name).await?;
        m.sync_docker_context().await;
        Ok(m)
    }

    /// Loads a machine's handle, its docker context left as it is.
    pub(crate) async fn load_record(&self, name: &str) -> Result<Machine> {
        validate_name(name)?;
        let config = self.inner.store.read_config(name).await?;
        Ok(self.handle(config))
    }

    pub(crate) fn handle(&self, config: MachineConfig) -> Machine {
        Machine {
            inner: self.inner.clone(),
            config,
            client_pems: None,
            ssh_key_pem: None,
        }
    }

    /// Makes `certs` the store's CA and client certificate, instead of ones made on first use
    /// (Docker Machine's `--tls-ca-cert`, `--tls-ca-key`, `--tls-client-cert`,
    /// `--tls-client-key`). A store whose machines already trust another CA is left alone
    /// ([`crate::Error::StoreCa`]).
    pub async fn import_store_certs(&self, certs: &StoreCerts) -> Result<()> {
        certificates::import_store_certs(&*self.inner.store, certs).await
    }
}
