//! `machine-driver-generic`: the driver for an existing host reached over SSH.
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

use async_trait::async_trait;
use driver_protocol::calls::*;
use driver_protocol::{serve, Capabilities, Context, Driver, DriverError, DriverInfo};
use options::Config;

struct Generic;

#[async_trait]
impl Driver for Generic {
    fn info(&self) -> DriverInfo {
        let (name, caps) = ("generic", Capabilities::none().with_keeps_host(true));
        DriverInfo::new(name, env!("CARGO_PKG_VERSION"), caps, options::schema())
    }

    async fn set_config(
        &self,
        _: &Context,
        p: SetConfigParams,
    ) -> Result<ConfigResult, DriverError> {
        ConfigResult::of(&Config::from_options(&p.options)?)
    }

    /// A host another tool provisioned: where it is and how to log in; no key of the user's
    /// (the library logs in with the key the machine came with).
    async fn adopt(&self, _: &Context, p: SetConfigParams) -> Result<ConfigResult, DriverError> {
        ConfigResult::of(&Config::existing_host(&p.options)?)
    }

    /// Nothing to make: the library logs in once with the user's key (or agent), installs the
    /// machine's own key and provisions over that one connection.
    async fn create(&self, _: &Context, p: CreateParams) -> Result<CreateResult, DriverError> {
        let mut config: Config = p.config_as()?;
        let key_path = config.user_key.take().map(|k| k.display().to_string());
        Ok(CreateResult::of(&config)?.with_bootstrap(Bootstrap::new(key_path)))
    }

    /// As Docker Machine: running when the SSH port answers, with one more try before
    /// "Stopped" (a dropped packet is not a stopped host); at most 2 s, so `ls -t 3` can say it.
    async fn state(&self, _: &Context, p: MachineParams) -> Result<State, DriverError> {
        let c: Config = p.config_as()?;
        for _ in 0..2 {
            let connect = tokio::net::TcpStream::connect((c.ip.as_str(), c.ssh_port));
            if let Ok(Ok(_)) =
                tokio::time::timeout(std::time::Duration::from_secs(1), connect).await
            {
                return Ok(State::Running);
            }
        }
        Ok(State::Stopped)
    }

    async fn access(&self, _: &Context, p: MachineParams) -> Result<Access, DriverError> {
        let c: Config = p.config_as()?;
        let ssh = SshEndpoint::new(&c.ip, c.ssh_port, &c.ssh_user);
        Ok(Access::new(&c.ip, ssh, c.engine_port))
    }
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    serve(Generic).await
}
