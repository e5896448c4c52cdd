//! What a driver says about itself in the `initialize` handshake: identity, capabilities, options.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The type of an option's value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum OptionType {
    String,
    Int,
    Bool,
    /// A repeatable flag: each use adds one string.
    StringList,
}

/// One option a driver accepts, e.g. `generic-ip-address`.
///
/// On the command line it is `--NAME` (plus `--ALIAS` for each alias); its environment variable,
/// when set, is read when the flag is absent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OptionSpec {
    /// Flag name without dashes, e.g. `generic-ssh-user`.
    pub name: String,
    #[serde(rename = "type")]
    pub kind: OptionType,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default: Option<Value>,
    /// Environment variable that sets it, e.g. `GENERIC_SSH_USER`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub env: Option<String>,
    pub help: String,
    /// A password or key: never printed, logged, or shown by `inspect`.
    #[serde(default)]
    pub secret: bool,
    /// Other accepted flag names, e.g. `vmwarevsphere-iso-url`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub aliases: Vec<String>,
}

impl OptionSpec {
    pub fn new(name: &str, kind: OptionType, help: &str) -> Self {
        OptionSpec {
            name: name.into(),
            kind,
            default: None,
            env: None,
            help: help.into(),
            secret: false,
            aliases: Vec::new(),
        }
    }
    pub fn string(name: &str, help: &str) -> Self {
        Self::new(name, OptionType::String, help)
    }
    pub fn int(name: &str, help: &str) -> Self {
        Self::new(name, OptionType::Int, help)
    }
    pub fn bool(name: &str, help: &str) -> Self {
        Self::new(name, OptionType::Bool, help)
    }
    pub fn list(name: &str, help: &str) -> Self {
        Self::new(name, OptionType::StringList, help)
    }
    pub fn default(mut self, v: impl Into<Value>) -> Self {
        self.default = Some(v.into());
        self
    }
    pub fn env(mut self, var: &str) -> Self {
        self.env = Some(var.into());
        self
    }
    pub fn secret(mut self) -> Self {
        self.secret = true;
        self
    }
    pub fn alias(mut self, alias: &str) -> Self {
        self.aliases.push(alias.into());
        self
    }
}

/// Which lifecycle calls the driver implements. The host refuses the others with a clear
/// "DRIVER driver does not support OPERATION" before calling.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Capabilities {
    pub start: bool,
    pub stop: bool,
    pub restart: bool,
    pub kill: bool,
}

/// Sent by the host in `initialize`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InitializeParams {
    pub protocol_version: u32,
    /// The host program, e.g. `machine 0.1.0`.
    pub host: String,
}

/// The driver's answer to `initialize`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DriverInfo {
    pub name: String,
    pub version: String,
    pub protocol_version: u32,
    pub capabilities: Capabilities,
    pub options: Vec<OptionSpec>,
    /// Other names users may type for this driver (e.g. `vmwarevsphere`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub aliases: Vec<String>,
}

impl DriverInfo {
    pub fn new(
        name: &str,
        version: &str,
        capabilities: Capabilities,
        options: Vec<OptionSpec>,
    ) -> Self {
        DriverInfo {
            name: name.into(),
            version: version.into(),
            protocol_version: crate::PROTOCOL_VERSION,
            capabilities,
            options,
            aliases: Vec::new(),
        }
    }
    /// The spec of option `name`, found by its name or an alias.
    pub fn option(&self, name: &str) -> Option<&OptionSpec> {
        self.options
            .iter()
            .find(|o| o.name == name || o.aliases.iter().any(|a| a == name))
    }
}
