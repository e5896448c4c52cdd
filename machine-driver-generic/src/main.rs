//! `machine-driver-generic`: the driver for an existing host reached over SSH.
//!
//! Nothing is created or destroyed. `create` tells the library to log in once with the user's own
//! key (or the keys of the user's ssh-agent, which also serves passphrase-protected keys), to
//! install the machine's key in the login user's `authorized_keys` (as ssh-copy-id does) and to
//! provision over that same connection: one SSH login per create. From then on the library
//! reaches the host with the machine's key only, and `remove` takes that key off the
//! host again (the host survives its machine: the `keeps_host` capability has the library take
//! back the daemon's TCP listener and TLS files first). The host cannot be started, stopped or killed from here, and says so; `restart`
//! reboots it over SSH (`sudo shutdown -r now`, as Docker Machine did) and returns once the host
//! runs a new boot. The SSH access for remove and restart comes from the library (the `ssh`
//! capability), never from the user's environment.
//!
//! Options (Docker Machine's flags and environment variables): `--generic-ip-address`,
//! `--generic-ssh-user` (root), `--generic-ssh-key`, `--generic-ssh-port` (22),
//! `--generic-engine-port` (2376).

mod options;
mod reboot;

use async_trait::async_trait;
use driver_protocol::calls::*;
use driver_protocol::{serve, Capabilities, Context, Driver, DriverError, DriverInfo};
use machine_core::authorized_keys;
use machine_core::ssh::{HostKeyCheck, Session, SshError, SshTarget};
use options::Config;
use std::time::Duration;

struct Generic;

/// The SSH target the library gave, with the machine's key.
fn machine_target(creds: &SshCredentials) -> Result<SshTarget, DriverError> {
    let label = "the machine's key";
    let key = machine_core::sshkey::parse_private(&creds.private_key, std::path::Path::new(label))
        .map_err(|e| DriverError::internal(format!("the machine's SSH key is unusable: {e}")))?;
    Ok(SshTarget::new(
        &creds.host,
        creds.port,
        &creds.user,
        key,
        label,
    ))
}

fn need_ssh(p: &MachineParams, what: &str) -> Result<SshCredentials, DriverError> {
    p.ssh.clone().ok_or_else(|| {
        DriverError::invalid_option(format!(
            "{what} needs SSH access to the host, which the machine does not have yet (no recorded host key)"
        ))
    })
}

#[async_trait]
impl Driver for Generic {
    fn info(&self) -> DriverInfo {
        DriverInfo::new(
            "generic",
            env!("CARGO_PKG_VERSION"),
            Capabilities::none()
                .with_restart(true)
                .with_ssh(true)
                .with_keeps_host(true),
            options::schema(),
        )
        // the user's ssh-agent, used when no key file is given
        .with_env(&["SSH_AUTH_SOCK"])
    }

    async fn set_config(
        &self,
        _cx: &Context,
        p: SetConfigParams,
    ) -> Result<ConfigResult, DriverError> {
        Ok(ConfigResult::new(
            options::from_options(&p.options)?.to_value(),
        ))
    }

    /// A host another tool provisioned: its address and login, nothing else. No key of the
    /// user's is needed (the library logs in with the key the machine came with), and `remove`
    /// leaves that key on the host: this driver did not install it.
    async fn adopt(&self, _cx: &Context, p: SetConfigParams) -> Result<ConfigResult, DriverError> {
        Ok(ConfigResult::new(
            options::existing_host(&p.options)?.to_value(),
        ))
    }

    async fn create(&self, _cx: &Context, p: CreateParams) -> Result<CreateResult, DriverError> {
        // Nothing to make. The host logs in once with your key (or agent), installs the
        // machine's own key and provisions over that one connection.
        let mut config = Config::from_value(&p.config)?;
        let key_path = config.user_key.take().map(|k| k.display().to_string());
        config.installed_key = true;
        let mut result = CreateResult::new(config.to_value());
        result.bootstrap = Some(Bootstrap::new(key_path));
        Ok(result)
    }

    async fn remove(&self, cx: &Context, p: MachineParams) -> Result<ConfigResult, DriverError> {
        // only a key this driver installed is taken off (never the user's own key, which
        // machines of earlier versions used); no SSH access: create never got that far
        let installed = Config::from_value(&p.config).is_ok_and(|c| c.installed_key);
        let (true, Some(creds)) = (installed, p.ssh.clone()) else {
            return Ok(ConfigResult::unchanged());
        };
        let target = machine_target(&creds)?;
        let machine_core::ssh::SshAuth::Key(key) = &target.auth else {
            return Ok(ConfigResult::unchanged());
        };
        let public = key
            .public_key()
            .to_openssh()
            .map_err(|e| DriverError::internal(e.to_string()))?;
        let Some(data) = authorized_keys::key_data(&public) else {
            return Ok(ConfigResult::unchanged());
        };
        cx.progress_step(
            "remove-key",
            "Removing the machine's SSH key from the host...",
            None,
        );
        let session = Session::connect(
            &target,
            HostKeyCheck::Expect(creds.host_key.clone()),
            Duration::from_secs(20),
        )
        .await
        .map_err(ssh_error)?;
        let r = session
            .exec_ok(&authorized_keys::remove_script(data))
            .await
            .map_err(ssh_error);
        session.close().await;
        r?;
        Ok(ConfigResult::unchanged())
    }

    async fn restart(&self, cx: &Context, p: MachineParams) -> Result<ConfigResult, DriverError> {
        let creds = need_ssh(&p, "restart")?;
        reboot::reboot(cx, &machine_target(&creds)?, &creds.host_key).await?;
        Ok(ConfigResult::unchanged())
    }

    async fn state(&self, _cx: &Context, p: MachineParams) -> Result<StateResult, DriverError> {
        let config = Config::from_value(&p.config)?;
        // as Docker Machine: the host is running when its SSH port answers; one more try
        // before "Stopped", so that a dropped packet on a busy network is not a stopped host.
        // At most 2 s in all: `ls -t 3` must be able to say Stopped.
        let mut state = State::Stopped;
        for wait in [Duration::from_secs(1), Duration::from_secs(1)] {
            if reboot::port_open(&config.ip, config.ssh_port, wait).await {
                state = State::Running;
                break;
            }
        }
        Ok(StateResult::new(state))
    }

    async fn access(&self, _cx: &Context, p: MachineParams) -> Result<Access, DriverError> {
        let c = Config::from_value(&p.config)?;
        Ok(Access::new(
            &c.ip,
            SshEndpoint::new(&c.ip, c.ssh_port, &c.ssh_user),
            c.engine_port,
        ))
    }
}

/// Maps SSH failures to the protocol's error kinds, keeping the SSH client's explanation.
pub(crate) fn ssh_error(e: SshError) -> DriverError {
    let kind = match &e {
        SshError::Unreachable { .. } => driver_protocol::ErrorKind::Unreachable,
        SshError::AuthFailed { .. } => driver_protocol::ErrorKind::AuthFailed,
        SshError::Timeout { .. } => driver_protocol::ErrorKind::Timeout,
        SshError::Key(_) | SshError::Agent { .. } => driver_protocol::ErrorKind::InvalidOption,
        _ => driver_protocol::ErrorKind::Internal,
    };
    DriverError::new(kind, e.to_string())
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    serve(Generic).await
}
