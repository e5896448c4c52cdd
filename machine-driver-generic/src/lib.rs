//! `machine-driver-generic`: the driver for an existing host reached over SSH — the binary
//! `machine-driver-generic`, and this library, for programs that register the driver
//! in-process (`ManagerBuilder::driver(Generic)`) or build its options typed
//! ([`GenericOptions`], then `DriverOptions::to_options` into `CreateOptions::driver_options`).
//!
//! Nothing is created or destroyed, and this driver never opens an SSH connection nor sees a
//! key: it says where the host is and that it keeps the host (`keeps_host`). `create` names the
//! user's own key file (or none: the user's ssh-agent) for the library's one first login, in
//! which the library installs the machine's key and provisions. The library also reboots the
//! host for `restart` and takes back what it put there on `remove`. The host cannot be started,
//! stopped or killed from here, and says so.
//!
//! Options (Docker Machine's flags and environment variables): `--generic-ip-address`,
//! `--generic-ssh-user` (root), `--generic-ssh-key`, `--generic-ssh-port` (22),
//! `--generic-engine-port` (2376).

mod options;

use driver_protocol::calls::{Access, Bootstrap, SshEndpoint, State};
use driver_protocol::{async_trait, Capabilities, Context, Created, Driver, DriverInfo};
use driver_protocol::{DriverError as Error, Machine, Setup};
pub use options::{Config, GenericOptions};
use std::time::Duration;

/// The driver.
pub struct Generic;

#[async_trait]
impl Driver for Generic {
    type Options = GenericOptions;
    type Config = Config;

    fn info(&self) -> DriverInfo {
        let caps = Capabilities::none().with_keeps_host(true);
        DriverInfo::new("generic", env!("CARGO_PKG_VERSION"), caps)
    }

    async fn set_config(&self, _: &Context, o: GenericOptions, _: &Setup) -> Result<Config, Error> {
        Config::new(o)
    }

    /// A host another tool provisioned: where it is and how to log in; no key of the user's
    /// (the library logs in with the key the machine came with).
    async fn adopt(&self, _: &Context, o: GenericOptions, _: &Setup) -> Result<Config, Error> {
        Config::existing_host(o)
    }

    /// Nothing to make: the library logs in once with the user's key (or agent), installs the
    /// machine's own key and provisions over that one connection.
    async fn create(
        &self,
        _: &Context,
        m: Machine<Config>,
        _: &str,
    ) -> Result<Created<Config>, Error> {
        let mut config = m.config;
        let key_path = config.user_key.take().map(|k| k.display().to_string());
        Ok(Created::new(config).with_bootstrap(Bootstrap::new(key_path)))
    }

    /// As Docker Machine: running when the SSH port answers, with one more try before
    /// "Stopped" (a dropped packet is not a stopped host); at most 2 s once tried, so `ls -t 3`
    /// can say it. At most [`PROBES_PER_HOST`] probes of one address are in flight: a listing of
    /// many machines of one host must not fill its sshd's queue and then read the connections
    /// it dropped as a stopped host (a probe waiting its turn is a slow answer, not "Stopped").
    async fn state(&self, _: &Context, m: Machine<Config>) -> Result<State, Error> {
        let c = m.config;
        let _turn = probe_turn(&c.ip, c.ssh_port).await;
        for _ in 0..2 {
            let connect = tokio::net::TcpStream::connect((c.ip.as_str(), c.ssh_port));
            if let Ok(Ok(_)) = tokio::time::timeout(Duration::from_secs(1), connect).await {
                return Ok(State::Running);
            }
        }
        Ok(State::Stopped)
    }

    async fn access(&self, _: &Context, m: Machine<Config>) -> Result<Access, Error> {
        let c = m.config;
        let ssh = SshEndpoint::new(&c.ip, c.ssh_port, &c.ssh_user);
        Ok(Access::new(&c.ip, ssh, c.engine_port))
    }
}

/// At most this many state probes of one address at once.
pub const PROBES_PER_HOST: usize = 8;

/// Waits for a turn to probe `ip:port`.
async fn probe_turn(ip: &str, port: u16) -> tokio::sync::OwnedSemaphorePermit {
    use std::collections::HashMap;
    use std::sync::{Arc, Mutex, OnceLock};
    use tokio::sync::Semaphore;
    type Hosts = HashMap<(String, u16), Arc<Semaphore>>;
    static PROBES: OnceLock<Mutex<Hosts>> = OnceLock::new();
    let host = {
        let mut probes = PROBES
            .get_or_init(Default::default)
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        probes.retain(|_, s| Arc::strong_count(s) > 1);
        probes
            .entry((ip.to_string(), port))
            .or_insert_with(|| Arc::new(Semaphore::new(PROBES_PER_HOST)))
            .clone()
    };
    host.acquire_owned().await.expect("never closed")
}
