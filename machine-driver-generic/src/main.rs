//! `machine-driver-generic`: the driver for an existing host reached over SSH.
//!
//! Nothing is created or destroyed: `create` checks that the host answers SSH with the given user
//! and key (recording its host key), and the host's Docker is then provisioned as for every
//! driver. The host cannot be started, stopped or killed from here, and says so; `restart`
//! reboots it over SSH (`sudo shutdown -r now`, as Docker Machine did) and returns once SSH and
//! the Docker port answer again.
//!
//! Options (Docker Machine's flags and environment variables): `--generic-ip-address`,
//! `--generic-ssh-user` (root), `--generic-ssh-key`, `--generic-ssh-port` (22),
//! `--generic-engine-port` (2376).

mod options;
mod reboot;

use async_trait::async_trait;
use driver_protocol::calls::*;
use driver_protocol::schema::Capabilities;
use driver_protocol::{serve, Context, Driver, DriverError, DriverInfo};
use machine_core::ssh::{HostKeyCheck, Session, SshError};
use options::Config;
use std::time::Duration;

/// How long create waits for SSH on a host that should already be up.
const CREATE_SSH_WAIT: Duration = Duration::from_secs(20);

struct Generic;

#[async_trait]
impl Driver for Generic {
    fn info(&self) -> DriverInfo {
        DriverInfo::new(
            "generic",
            env!("CARGO_PKG_VERSION"),
            Capabilities {
                restart: true,
                ..Default::default()
            },
            options::schema(),
        )
    }

    async fn set_config(
        &self,
        _cx: &Context,
        p: SetConfigParams,
    ) -> Result<ConfigResult, DriverError> {
        let config = options::from_options(&p.options, std::path::Path::new(&p.machine_dir))?;
        Ok(ConfigResult {
            config: config.to_value(),
        })
    }

    async fn pre_create_check(&self, _cx: &Context, p: MachineParams) -> Result<(), DriverError> {
        let config = Config::from_value(&p.config)?;
        machine_core::sshkey::load_private(&config.ssh_key)
            .map(|_| ())
            .map_err(|e| DriverError::invalid_option(e.to_string()))
    }

    async fn create(&self, cx: &Context, p: CreateParams) -> Result<ConfigResult, DriverError> {
        let mut config = Config::from_value(&p.config)?;
        cx.progress(format!(
            "Checking SSH to {}@{}:{}...",
            config.ssh_user, config.ip, config.ssh_port
        ));
        let session = Session::wait(&config.target(), HostKeyCheck::Record, CREATE_SSH_WAIT)
            .await
            .map_err(ssh_error)?;
        config.host_key = Some(session.host_key().to_string());
        session.close().await;
        Ok(ConfigResult {
            config: config.to_value(),
        })
    }

    async fn restart(&self, cx: &Context, p: MachineParams) -> Result<ConfigResult, DriverError> {
        let config = Config::from_value(&p.config)?;
        reboot::reboot(cx, &config).await?;
        Ok(ConfigResult { config: p.config })
    }

    async fn state(&self, _cx: &Context, p: MachineParams) -> Result<StateResult, DriverError> {
        let config = Config::from_value(&p.config)?;
        // as Docker Machine: the host is running when its SSH port answers; one more try
        // before "Stopped", so that a dropped packet on a busy network is not a stopped host
        let mut state = State::Stopped;
        for wait in [Duration::from_secs(3), Duration::from_secs(4)] {
            if reboot::port_open(&config.ip, config.ssh_port, wait).await {
                state = State::Running;
                break;
            }
        }
        Ok(StateResult { state })
    }

    async fn ip(&self, _cx: &Context, p: MachineParams) -> Result<IpResult, DriverError> {
        Ok(IpResult {
            ip: Config::from_value(&p.config)?.ip,
        })
    }

    async fn ssh(&self, _cx: &Context, p: MachineParams) -> Result<SshDetails, DriverError> {
        let config = Config::from_value(&p.config)?;
        Ok(SshDetails {
            host: config.ip,
            port: config.ssh_port,
            user: config.ssh_user,
            key_path: Some(config.ssh_key.display().to_string()),
        })
    }

    async fn url(&self, _cx: &Context, p: MachineParams) -> Result<UrlResult, DriverError> {
        let config = Config::from_value(&p.config)?;
        Ok(UrlResult {
            url: format!(
                "tcp://{}:{}",
                driver_protocol::sdk::bracket_ipv6(&config.ip),
                config.engine_port
            ),
        })
    }
}

/// Maps SSH failures to the protocol's error kinds, keeping the SSH client's explanation.
pub(crate) fn ssh_error(e: SshError) -> DriverError {
    let kind = match &e {
        SshError::Unreachable { .. } => driver_protocol::ErrorKind::Unreachable,
        SshError::AuthFailed { .. } => driver_protocol::ErrorKind::AuthFailed,
        SshError::Timeout { .. } => driver_protocol::ErrorKind::Timeout,
        SshError::Key(_) => driver_protocol::ErrorKind::InvalidOption,
        _ => driver_protocol::ErrorKind::Internal,
    };
    DriverError::new(kind, e.to_string())
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    serve(Generic).await
}
