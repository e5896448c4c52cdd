//! The parameters and results of the calls in [`crate::request`] and the notifications in
//! [`crate::notification`].
//!
//! Nothing here is a secret of the host's: no SSH key, certificate or password of the library's
//! crosses the protocol. What a driver needs done on a host over SSH (a reboot, undoing the
//! provisioning) it declares ([`crate::Capabilities::keeps_host`]), and the host does it.

use crate::message::Id;
use crate::options::Options;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Parameters of `set_config`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct SetConfigParams {
    /// The machine's name.
    pub machine: String,
    /// Option values by option name, typed as the schema says, with the schema's defaults
    /// already applied by the host.
    pub options: Options,
    /// The user allows downloads (an ISO, a cloud-init file) over plain http. Without it a
    /// driver fetches https URLs only and follows no redirect to http.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub allow_http_downloads: bool,
    /// For `adopt` by `machine import`: the driver config Docker Machine recorded for the
    /// machine (its `config.json`'s `Driver`), for drivers whose config is Docker Machine's
    /// own (a bridged Docker Machine plugin takes it back with `SetConfigRaw`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub docker_machine_config: Option<Value>,
}

impl SetConfigParams {
    /// Parameters for `machine` with these options (https downloads only).
    pub fn new(machine: &str, options: Options) -> Self {
        SetConfigParams {
            machine: machine.into(),
            options,
            allow_http_downloads: false,
            docker_machine_config: None,
        }
    }

    /// The same, with the driver config Docker Machine recorded (for `adopt`).
    pub fn docker_machine_config(mut self, config: Value) -> Self {
        self.docker_machine_config = Some(config);
        self
    }

    /// The same, allowing downloads over plain http when `allow`.
    pub fn allow_http_downloads(mut self, allow: bool) -> Self {
        self.allow_http_downloads = allow;
        self
    }
}

/// Parameters of every call that acts on an existing machine.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct MachineParams {
    /// The machine's name.
    pub machine: String,
    /// The driver's config for this machine.
    pub config: Value,
    /// The id the host recorded before it called `create`; what the driver made carries it
    /// (for vSphere, in the VM's extraConfig), so `remove` finds leftovers of a create that died
    /// before reporting them.
    #[serde(default)]
    pub creation_id: String,
}

impl MachineParams {
    /// Parameters for `machine` with its driver config.
    pub fn new(machine: &str, config: Value) -> Self {
        MachineParams {
            machine: machine.into(),
            config,
            creation_id: String::new(),
        }
    }
}

/// Parameters of `create`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct CreateParams {
    /// The machine's name.
    pub machine: String,
    /// The driver's config from `set_config`.
    pub config: Value,
    /// Tag what is made with this id (see [`MachineParams::creation_id`]).
    pub creation_id: String,
    /// The machine's SSH public key (OpenSSH format): drivers install it on the host (cloud-init
    /// for a new VM; `authorized_keys` over the user's own key for an existing host).
    pub ssh_public_key: String,
}

impl CreateParams {
    /// Parameters for creating `machine`.
    pub fn new(machine: &str, config: Value, creation_id: &str, ssh_public_key: &str) -> Self {
        CreateParams {
            machine: machine.into(),
            config,
            creation_id: creation_id.into(),
            ssh_public_key: ssh_public_key.into(),
        }
    }
}

/// A result that may carry an updated config. `null` keeps the config as it was.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[non_exhaustive]
pub struct ConfigResult {
    /// The updated config, or `null`.
    #[serde(default)]
    pub config: Value,
}

impl ConfigResult {
    /// A result carrying `config`.
    pub fn new(config: Value) -> Self {
        ConfigResult { config }
    }
    /// A result that leaves the config as it was.
    pub fn unchanged() -> Self {
        ConfigResult::default()
    }
}

/// The result of `create`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[non_exhaustive]
pub struct CreateResult {
    /// The config that finds what was made.
    #[serde(default)]
    pub config: Value,
    /// Set when the host does not accept the machine's key yet (an existing host): the host
    /// logs in this once with the user's own credentials, installs the machine's key in the
    /// login user's `authorized_keys` and provisions over that same connection.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bootstrap: Option<Bootstrap>,
}

impl CreateResult {
    /// A result carrying `config`.
    pub fn new(config: Value) -> Self {
        CreateResult {
            config,
            bootstrap: None,
        }
    }
}

/// The user's credentials for the first login to an existing host.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Bootstrap {
    /// The user's private key file; `None`: the keys of the user's ssh-agent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_path: Option<String>,
}

impl Bootstrap {
    /// Log in with the key at `key_path`, or (`None`) through the user's ssh-agent.
    pub fn new(key_path: Option<String>) -> Self {
        Bootstrap { key_path }
    }
}

/// The state of a machine, with Docker Machine's words.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[non_exhaustive]
pub enum State {
    /// Up.
    Running,
    /// Paused (suspended in memory).
    Paused,
    /// Saved (suspended to disk).
    Saved,
    /// Powered off.
    Stopped,
    /// Shutting down.
    Stopping,
    /// Booting.
    Starting,
    /// The state could not be determined because something failed.
    Error,
    /// The state could not be determined in time.
    Timeout,
    /// No state (Docker Machine's empty state).
    None,
}

impl State {
    /// Every state, for parsing and listing.
    pub const ALL: [State; 9] = [
        State::Running,
        State::Paused,
        State::Saved,
        State::Stopped,
        State::Stopping,
        State::Starting,
        State::Error,
        State::Timeout,
        State::None,
    ];

    /// Docker Machine's word for the state (`""` for [`State::None`]).
    pub fn as_str(self) -> &'static str {
        match self {
            State::Running => "Running",
            State::Paused => "Paused",
            State::Saved => "Saved",
            State::Stopped => "Stopped",
            State::Stopping => "Stopping",
            State::Starting => "Starting",
            State::Error => "Error",
            State::Timeout => "Timeout",
            State::None => "",
        }
    }
}

impl std::fmt::Display for State {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for State {
    type Err = String;
    /// Case-insensitive: `running`, `Stopped`, ...
    fn from_str(s: &str) -> Result<State, String> {
        State::ALL
            .into_iter()
            .find(|st| !st.as_str().is_empty() && st.as_str().eq_ignore_ascii_case(s))
            .ok_or_else(|| format!("unknown state {s:?}"))
    }
}

/// The result of `state`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct StateResult {
    /// The machine's state.
    pub state: State,
}

impl StateResult {
    /// A result saying `state`.
    pub fn new(state: State) -> Self {
        StateResult { state }
    }
}

/// Where the machine's SSH server is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct SshEndpoint {
    /// Host name or IP address.
    pub host: String,
    /// Port.
    pub port: u16,
    /// The user to log in as (with the machine's own key).
    pub user: String,
}

impl SshEndpoint {
    /// `user@host:port`.
    pub fn new(host: &str, port: u16, user: &str) -> Self {
        SshEndpoint {
            host: host.into(),
            port,
            user: user.into(),
        }
    }
}

/// The result of `access`: everything the host needs to reach the machine.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Access {
    /// The machine's IP address (or host name).
    pub ip: String,
    /// Its SSH server; `None` for a machine reached only through its daemon (Docker Machine's
    /// `none` driver: a daemon set up by hand, registered by its URL), which the host then
    /// neither provisions nor logs in to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ssh: Option<SshEndpoint>,
    /// Its Docker daemon, `tcp://HOST:PORT`.
    pub docker_url: String,
}

impl Access {
    /// Access at `ip` with SSH at `ssh`, Docker on `docker_port` of the same address.
    pub fn new(ip: &str, ssh: SshEndpoint, docker_port: u16) -> Self {
        Access {
            ip: ip.into(),
            ssh: Some(ssh),
            docker_url: format!("tcp://{}:{docker_port}", bracket_ipv6(ip)),
        }
    }

    /// Access to a machine without SSH: only its daemon at `docker_url`.
    pub fn without_ssh(ip: &str, docker_url: &str) -> Self {
        Access {
            ip: ip.into(),
            ssh: None,
            docker_url: docker_url.into(),
        }
    }
}

/// `[::1]` for IPv6 addresses, unchanged otherwise: the host part of a URL.
pub fn bracket_ipv6(ip: &str) -> String {
    if ip.contains(':') && !ip.starts_with('[') {
        format!("[{ip}]")
    } else {
        ip.to_string()
    }
}

/// Progress from the driver, while a call runs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ProgressParams {
    /// The machine the call is about.
    pub machine: String,
    /// What the driver is doing, for programs to match on (e.g. `clone`, `upload-iso`,
    /// `wait-ip`); free-form, stable per driver.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub step: Option<String>,
    /// A line for the user.
    pub message: String,
    /// Units done so far (bytes uploaded, ...), with [`ProgressParams::total`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub done: Option<u64>,
    /// Units in all.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total: Option<u64>,
}

impl ProgressParams {
    /// A plain progress line about `machine`.
    pub fn new(machine: &str, message: impl Into<String>) -> Self {
        ProgressParams {
            machine: machine.into(),
            step: None,
            message: message.into(),
            done: None,
            total: None,
        }
    }
}

/// Parameters of the `made` notification.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct MadeParams {
    /// The machine being created.
    pub machine: String,
    /// The config that finds what exists so far.
    pub config: Value,
}

impl MadeParams {
    /// `machine` now has what `config` finds.
    pub fn new(machine: &str, config: Value) -> Self {
        MadeParams {
            machine: machine.into(),
            config,
        }
    }
}

/// Parameters of the `$/cancel` notification.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct CancelParams {
    /// The id of the request to cancel.
    pub id: Id,
}

impl CancelParams {
    /// Cancels request `id`.
    pub fn new(id: Id) -> Self {
        CancelParams { id }
    }
}

/// Parameters of the `$/environment` notification.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[non_exhaustive]
pub struct EnvironmentParams {
    /// Variable name to value, for the declared variables that are set.
    pub vars: std::collections::BTreeMap<String, String>,
}

impl EnvironmentParams {
    /// These variables.
    pub fn new(vars: std::collections::BTreeMap<String, String>) -> Self {
        EnvironmentParams { vars }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_parse_case_insensitively() {
        assert_eq!("running".parse::<State>(), Ok(State::Running));
        assert_eq!("Stopped".parse::<State>(), Ok(State::Stopped));
        assert!("".parse::<State>().is_err());
        assert!("sleeping".parse::<State>().is_err());
    }

    #[test]
    fn access_brackets_ipv6() {
        let a = Access::new("fd00::1", SshEndpoint::new("fd00::1", 22, "root"), 2376);
        assert_eq!(a.docker_url, "tcp://[fd00::1]:2376");
    }
}
