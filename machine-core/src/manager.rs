//! [`Manager`]: a store, the drivers that serve its machines, and where events go. The entry
//! point of the library: create machines, load them, list and act on the fleet.

use crate::certificates;
use crate::config::MachineConfig;
use crate::driver_host::DriverHost;
use crate::error::Result;
use crate::events::Events;
use crate::machine::Machine;
use crate::name::validate_name;
use crate::store::{Store, StoreCerts};
use driver_protocol::DriverInfo;
use std::sync::Arc;
use std::time::Duration;

/// How long things may take.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Timeouts {
    /// Quick driver queries: state, access.
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

pub(crate) struct Inner {
    pub(crate) store: Arc<dyn Store>,
    pub(crate) drivers: DriverHost,
    pub(crate) events: Events,
    pub(crate) timeouts: Timeouts,
}

/// A store and the drivers that serve its machines. Cheap to clone; share one per program.
#[derive(Clone)]
pub struct Manager {
    pub(crate) inner: Arc<Inner>,
}

impl Manager {
    /// A manager over `store`; drivers are looked for next to the running program, then on
    /// PATH; events go to `events`.
    pub fn new(store: Arc<dyn Store>, events: Events) -> Manager {
        let drivers = DriverHost::new(events.clone());
        Manager::with_drivers(store, drivers, events, Timeouts::default())
    }

    /// A manager with its own driver host (e.g. one with in-process drivers registered) and
    /// timeouts.
    pub fn with_drivers(
        store: Arc<dyn Store>,
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

    /// The store.
    pub fn store(&self) -> &dyn Store {
        &*self.inner.store
    }

    /// The drivers.
    pub fn drivers(&self) -> &DriverHost {
        &self.inner.drivers
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

    /// Loads a machine's handle.
    pub async fn load(&self, name: &str) -> Result<Machine> {
        validate_name(name)?;
        let config = self.inner.store.read_config(name).await?;
        Ok(self.handle(config))
    }

    pub(crate) fn handle(&self, config: MachineConfig) -> Machine {
        Machine {
            inner: self.inner.clone(),
            config,
            client_pems: None,
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
