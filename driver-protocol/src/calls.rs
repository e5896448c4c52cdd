//! The methods a host calls on a driver, with their parameters and results.
//!
//! Every call after `initialize` names the machine and carries the driver's config: the opaque
//! JSON the driver returned from `set_config` (and possibly updated since), which the host stores.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// Handshake. Params: [`crate::schema::InitializeParams`]; result: [`crate::DriverInfo`].
pub const INITIALIZE: &str = "initialize";
/// Turn the user's option values into the driver's config. Params: [`SetConfigParams`]; result: [`ConfigResult`].
pub const SET_CONFIG: &str = "set_config";
/// Check that create can work before anything is made. Params: [`MachineParams`]; result: null.
pub const PRE_CREATE_CHECK: &str = "pre_create_check";
/// Make the host (or VM). Params: [`CreateParams`]; result: [`ConfigResult`].
pub const CREATE: &str = "create";
/// Destroy what create made. Params: [`MachineParams`]; result: [`ConfigResult`].
pub const REMOVE: &str = "remove";
pub const START: &str = "start";
pub const STOP: &str = "stop";
pub const RESTART: &str = "restart";
pub const KILL: &str = "kill";
/// Params: [`MachineParams`]; result: [`StateResult`].
pub const STATE: &str = "state";
/// Params: [`MachineParams`]; result: [`IpResult`].
pub const IP: &str = "ip";
/// How to reach the host over SSH. Params: [`MachineParams`]; result: [`SshDetails`].
pub const SSH: &str = "ssh";
/// The Docker URL. Params: [`MachineParams`]; result: [`UrlResult`].
pub const URL: &str = "url";
/// Notification, driver to host: a line of progress for the user. Params: [`Progress`].
pub const PROGRESS: &str = "progress";

/// Parameters of `set_config`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SetConfigParams {
    pub machine: String,
    /// Option values by option name, typed as the schema says. Options the user did not give
    /// are absent; the driver applies its defaults.
    pub options: Map<String, Value>,
    /// The machine's folder in the store, where the driver may keep files (e.g. a copied key).
    pub machine_dir: String,
}

/// Parameters of every call that acts on an existing machine.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MachineParams {
    pub machine: String,
    pub config: Value,
}

/// Parameters of `create`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CreateParams {
    pub machine: String,
    pub config: Value,
    /// The machine's SSH public key (OpenSSH format), for drivers that make new hosts and must
    /// install it (e.g. through cloud-init). Drivers of existing hosts ignore it.
    pub ssh_public_key: String,
}

/// A result that may carry an updated config (e.g. the VM's id after create).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct ConfigResult {
    #[serde(default)]
    pub config: Value,
}

/// The state of a machine, with Docker Machine's words.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum State {
    Running,
    Paused,
    Saved,
    Stopped,
    Stopping,
    Starting,
    Error,
    Timeout,
    None,
}

impl std::fmt::Display for State {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let s = match self {
            State::Running => "Running",
            State::Paused => "Paused",
            State::Saved => "Saved",
            State::Stopped => "Stopped",
            State::Stopping => "Stopping",
            State::Starting => "Starting",
            State::Error => "Error",
            State::Timeout => "Timeout",
            State::None => "",
        };
        f.write_str(s)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StateResult {
    pub state: State,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IpResult {
    pub ip: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UrlResult {
    pub url: String,
}

/// How the host reaches the machine over SSH.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SshDetails {
    pub host: String,
    pub port: u16,
    pub user: String,
    /// The private key to use. `None`: the machine's own key, which the host made at create.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_path: Option<String>,
}

/// A progress line from the driver.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Progress {
    pub machine: String,
    pub message: String,
}
