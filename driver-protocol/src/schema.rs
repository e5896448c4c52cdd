//! What a driver says about itself in the `initialize` handshake: identity, capabilities, options.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The type of an option's value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum OptionType {
    /// Text.
    String,
    /// A whole number.
    Int,
    /// A flag without a value.
    Bool,
    /// A repeatable flag: each use adds one string.
    StringList,
}

/// One option a driver accepts, e.g. `generic-ip-address`.
///
/// On the command line it is `--NAME` (plus `--ALIAS` for each alias); its environment variable,
/// when set, is read when the flag is absent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct OptionSpec {
    /// Flag name without dashes, e.g. `generic-ssh-user`.
    pub name: String,
    /// The type of its value.
    #[serde(rename = "type")]
    pub kind: OptionType,
    /// The value when the user gives none; applied by the host before `set_config`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default: Option<Value>,
    /// Environment variable that sets it, e.g. `GENERIC_SSH_USER`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub env: Option<String>,
    /// One line for `--help`.
    pub help: String,
    /// A password or key: never printed, logged, or shown by `inspect`.
    #[serde(default)]
    pub secret: bool,
    /// Other accepted flag names, e.g. `vmwarevsphere-iso-url`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub aliases: Vec<String>,
    /// The field of Docker Machine's driver config that held this option (`CPU` for
    /// `vmwarevsphere-cpu-count`): `inspect` shows the value under that name too
    /// (`.Driver.CPU`), and `import` reads the option from it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub docker_machine_field: Option<String>,
}

impl OptionSpec {
    /// An option of type `kind`.
    pub fn new(name: &str, kind: OptionType, help: &str) -> Self {
        OptionSpec {
            name: name.into(),
            kind,
            default: None,
            env: None,
            help: help.into(),
            secret: false,
            aliases: Vec::new(),
            docker_machine_field: None,
        }
    }
    /// A string option.
    pub fn string(name: &str, help: &str) -> Self {
        Self::new(name, OptionType::String, help)
    }
    /// An integer option.
    pub fn int(name: &str, help: &str) -> Self {
        Self::new(name, OptionType::Int, help)
    }
    /// A flag.
    pub fn bool(name: &str, help: &str) -> Self {
        Self::new(name, OptionType::Bool, help)
    }
    /// A repeatable string option.
    pub fn list(name: &str, help: &str) -> Self {
        Self::new(name, OptionType::StringList, help)
    }
    /// Its default value.
    pub fn default(mut self, v: impl Into<Value>) -> Self {
        self.default = Some(v.into());
        self
    }
    /// The environment variable that sets it.
    pub fn env(mut self, var: &str) -> Self {
        self.env = Some(var.into());
        self
    }
    /// Marks it secret: never printed, logged or shown.
    pub fn secret(mut self) -> Self {
        self.secret = true;
        self
    }
    /// Another accepted flag name.
    pub fn alias(mut self, alias: &str) -> Self {
        self.aliases.push(alias.into());
        self
    }
    /// Whether the option's name says it holds a secret's content — a password, token,
    /// secret or key — but not a reference to one (a `-file`, `-path`, `-dir`, `-url`,
    /// `-name` or `-id`, or a key whose help speaks of a file or path), nor a number or a
    /// flag. The conformance kit expects such options to be marked secret; the plugin bridge
    /// marks them.
    pub fn looks_secret(&self) -> bool {
        if !matches!(self.kind, OptionType::String | OptionType::StringList) {
            return false;
        }
        let name = self.name.to_ascii_lowercase();
        let parts: Vec<&str> = name.split('-').collect();
        if parts
            .iter()
            .any(|p| matches!(*p, "file" | "path" | "dir" | "url" | "name" | "id"))
        {
            return false;
        }
        let content = [
            "password",
            "passwd",
            "token",
            "secret",
            "api-key",
            "access-key",
            "private-key",
        ];
        if content.iter().any(|c| name.contains(c)) {
            return true;
        }
        if parts.contains(&"key") {
            let help = self.help.to_ascii_lowercase();
            return !(help.contains("file") || help.contains("path"));
        }
        false
    }

    /// The field of Docker Machine's driver config that held it.
    pub fn docker_machine_field(mut self, field: &str) -> Self {
        self.docker_machine_field = Some(field.into());
        self
    }
}

/// Which lifecycle calls the driver implements. The host refuses the others with a clear
/// "DRIVER driver does not support OPERATION" before calling.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Capabilities {
    /// `start` works.
    #[serde(default)]
    pub start: bool,
    /// `stop` works.
    #[serde(default)]
    pub stop: bool,
    /// `restart` works.
    #[serde(default)]
    pub restart: bool,
    /// `kill` works.
    #[serde(default)]
    pub kill: bool,
    /// The machine is a host that exists apart from the driver (an existing server: the driver
    /// neither makes nor destroys it). The host then does over its own SSH connection what a
    /// VM driver does through its API: `restart` reboots the host (unless the driver declares
    /// `restart` itself) and waits for its new boot, and `remove` takes back what the host put
    /// there (the daemon's TCP listener and TLS files, and the machine's SSH key if the host
    /// installed it) before calling the driver's `remove`. The driver never sees a key.
    #[serde(default)]
    pub keeps_host: bool,
}

impl Capabilities {
    /// No lifecycle calls besides create and remove.
    pub fn none() -> Capabilities {
        Capabilities::default()
    }
    /// Every lifecycle call.
    pub fn all() -> Capabilities {
        Capabilities {
            start: true,
            stop: true,
            restart: true,
            kill: true,
            keeps_host: false,
        }
    }
    /// With `restart` set as given.
    pub fn with_restart(mut self, yes: bool) -> Capabilities {
        self.restart = yes;
        self
    }
    /// With `keeps_host` set as given.
    pub fn with_keeps_host(mut self, yes: bool) -> Capabilities {
        self.keeps_host = yes;
        self
    }
}

/// Sent by the host in `initialize`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct InitializeParams {
    /// The protocol version the host speaks ([`crate::PROTOCOL_VERSION`]).
    pub protocol_version: u32,
    /// The host program, e.g. `machine 0.1.0`.
    pub host: String,
}

/// The driver's answer to `initialize`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct DriverInfo {
    /// The driver's name (`machine-driver-NAME`).
    pub name: String,
    /// The driver's own version.
    pub version: String,
    /// The protocol version it speaks.
    pub protocol_version: u32,
    /// Which lifecycle calls it implements.
    pub capabilities: Capabilities,
    /// The options it accepts.
    pub options: Vec<OptionSpec>,
    /// Other names users may type for this driver (e.g. `vmwarevsphere`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub aliases: Vec<String>,
    /// Environment variables the driver reads itself (e.g. a cloud SDK's `AWS_PROFILE`). A host
    /// starts drivers with a minimal environment (PATH, HOME, locale, proxies, TMPDIR) and sends
    /// the values of these that are set in the `$/environment` notification right after the
    /// handshake ([`crate::Context::env`] reads them). Options' variables are read by the host.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub env: Vec<String>,
    /// Keys of the driver's config (at any depth) that hold credentials besides its secret
    /// options — e.g. a bridged Docker Machine driver's `SecretKey`. The host seals them where
    /// the store encrypts secrets and never shows them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub secret_config: Vec<String>,
}

impl InitializeParams {
    /// The handshake of host program `host` speaking this crate's protocol version.
    pub fn new(host: &str) -> Self {
        InitializeParams {
            protocol_version: crate::PROTOCOL_VERSION,
            host: host.into(),
        }
    }
}

impl DriverInfo {
    /// Info for driver `name`, speaking this crate's protocol version. A driver built with the
    /// SDK gets its options from its [`crate::Driver::Options`].
    pub fn new(name: &str, version: &str, capabilities: Capabilities) -> Self {
        DriverInfo {
            name: name.into(),
            version: version.into(),
            protocol_version: crate::PROTOCOL_VERSION,
            capabilities,
            options: Vec::new(),
            aliases: Vec::new(),
            env: Vec::new(),
            secret_config: Vec::new(),
        }
    }

    /// With these config keys holding credentials ([`DriverInfo::secret_config`]).
    pub fn with_secret_config(mut self, keys: Vec<String>) -> Self {
        self.secret_config = keys;
        self
    }

    /// With these options.
    pub fn with_options(mut self, options: Vec<OptionSpec>) -> Self {
        self.options = options;
        self
    }
    /// The spec of option `name`, found by its name or an alias.
    pub fn option(&self, name: &str) -> Option<&OptionSpec> {
        self.options
            .iter()
            .find(|o| o.name == name || o.aliases.iter().any(|a| a == name))
    }

    /// With these aliases (other names users may type for the driver).
    pub fn with_aliases(mut self, aliases: &[&str]) -> Self {
        self.aliases = aliases.iter().map(|a| a.to_string()).collect();
        self
    }

    /// With these environment variables, which the driver reads itself.
    pub fn with_env(mut self, vars: &[&str]) -> Self {
        self.env = vars.iter().map(|v| v.to_string()).collect();
        self
    }

    /// `given` plus the declared default of every option the user did not give: the one place
    /// defaults are applied.
    pub fn with_defaults(&self, mut given: crate::Options) -> crate::Options {
        for o in &self.options {
            if let (false, Some(d)) = (given.contains(&o.name), &o.default) {
                given.insert(o.name.clone(), d.clone());
            }
        }
        given
    }

    /// The keys never shown: the secret options' names and aliases, and the config keys
    /// holding credentials.
    pub fn secret_keys(&self) -> Vec<String> {
        self.options
            .iter()
            .filter(|o| o.secret)
            .flat_map(|o| std::iter::once(&o.name).chain(&o.aliases).cloned())
            .chain(self.secret_config.iter().cloned())
            .collect()
    }

    /// `given` with every option named by an alias renamed to the option's own name (the one
    /// the driver reads); an option given both ways, or not the driver's at all, is an error
    /// naming it.
    pub fn canonical(&self, given: crate::Options) -> Result<crate::Options, String> {
        let mut out = crate::Options::new();
        for (k, v) in given.as_map() {
            let spec = self.option(k).ok_or_else(|| k.clone())?;
            if out.contains(&spec.name) {
                return Err(format!("{k} (given also as {})", spec.name));
            }
            out.insert(spec.name.clone(), v.clone());
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_fill_only_what_is_missing() {
        let info = DriverInfo::new("t", "1", Capabilities::none()).with_options(vec![
            OptionSpec::int("t-port", "port").default(22),
            OptionSpec::string("t-user", "user").default("root"),
            OptionSpec::string("t-ip", "ip"),
        ]);
        let mut given = crate::Options::new();
        given.insert("t-user", "nick");
        let o = info.with_defaults(given);
        assert_eq!(o.port("t-port").unwrap(), 22);
        assert_eq!(o.string("t-user").unwrap().as_deref(), Some("nick"));
        assert!(!o.contains("t-ip"));
    }
}
