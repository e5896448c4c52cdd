//! The generic driver's options and the config it keeps for each machine.

use driver_protocol::schema::OptionSpec;
use driver_protocol::{DriverError, Options};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::path::{Path, PathBuf};

/// The options, with Docker Machine's names, environment variables and defaults (applied by the
/// host: the code below never repeats them).
pub fn schema() -> Vec<OptionSpec> {
    vec![
        OptionSpec::string("generic-ip-address", "IP address or host name of the host")
            .docker_machine_field("IPAddress")
            .env("GENERIC_IP_ADDRESS"),
        OptionSpec::string(
            "generic-ssh-user",
            "SSH user (needs passwordless sudo unless root)",
        )
        .docker_machine_field("SSHUser")
        .env("GENERIC_SSH_USER")
        .default("root"),
        OptionSpec::string(
            "generic-ssh-key",
            "Your SSH private key, used once to install the machine's own key \
             (default: ~/.ssh/id_ed25519, else ~/.ssh/id_rsa, else ssh-agent; a key with a \
             passphrase is used through ssh-agent)",
        )
        .env("GENERIC_SSH_KEY"),
        OptionSpec::int("generic-ssh-port", "SSH port")
            .docker_machine_field("SSHPort")
            .env("GENERIC_SSH_PORT")
            .default(22),
        OptionSpec::int("generic-engine-port", "Docker engine port")
            .docker_machine_field("EnginePort")
            .env("GENERIC_ENGINE_PORT")
            .default(2376),
    ]
}

/// What the driver keeps for a machine.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Config {
    pub ip: String,
    pub ssh_user: String,
    pub ssh_port: u16,
    pub engine_port: u16,
    /// The user's own key, used by create only (to install the machine's key); `None`: the
    /// keys of the user's ssh-agent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_key: Option<PathBuf>,
    /// Whether create installed the machine's own key on the host (and so `remove` takes it
    /// off). Machines created by earlier versions used the user's key, which stays.
    #[serde(default)]
    pub installed_key: bool,
}

impl Config {
    pub fn from_value(v: &Value) -> Result<Config, DriverError> {
        serde_json::from_value(v.clone()).map_err(|e| {
            DriverError::internal(format!("the stored generic config is invalid: {e}"))
        })
    }

    pub fn to_value(&self) -> Value {
        serde_json::to_value(self).expect("config serializes")
    }
}

/// Validates the user's options; the user's key must be a readable private key.
pub fn from_options(o: &Options) -> Result<Config, DriverError> {
    let host = existing_host(o)?;
    let key = match o.string("generic-ssh-key")? {
        Some(k) => Some(expand_home(&k)),
        None => default_key(),
    };
    let user_key = match key {
        Some(key) => usable_key(key)?,
        None if agent_available() => None,
        None => {
            return Err(DriverError::invalid_option(
                "no SSH key given, none found in ~/.ssh (id_ed25519, id_rsa) and no ssh-agent \
                 (SSH_AUTH_SOCK): pass --generic-ssh-key PATH",
            ))
        }
    };
    Ok(Config { user_key, ..host })
}

/// The config of a host already set up (by another tool): where it is and how to log in; no
/// user key, no key installed by this driver.
pub fn existing_host(o: &Options) -> Result<Config, DriverError> {
    let ip = o.required_string(
        "generic-ip-address",
        "the IP address or host name of the host to use",
    )?;
    if ip.chars().any(|c| c.is_whitespace() || c == '/') {
        return Err(DriverError::invalid_option(format!(
            "--generic-ip-address {ip:?} is not an IP address or host name"
        )));
    }
    Ok(Config {
        ip,
        ssh_user: o.required_string("generic-ssh-user", "the user to log in as")?,
        ssh_port: o.port("generic-ssh-port")?,
        engine_port: o.port("generic-engine-port")?,
        user_key: None,
        installed_key: false,
    })
}

/// Whether the user runs an ssh-agent.
pub fn agent_available() -> bool {
    std::env::var_os("SSH_AUTH_SOCK").is_some_and(|s| !s.is_empty())
}

/// `Some(key)` when the key file can be used as it is; `None` (the agent) when it is protected
/// by a passphrase and an ssh-agent runs, which holds it unlocked (as the system ssh would use
/// it); an error otherwise.
fn usable_key(key: PathBuf) -> Result<Option<PathBuf>, DriverError> {
    use machine_core::sshkey::{load_private, SshKeyError};
    match load_private(&key) {
        Ok(_) => Ok(Some(key)),
        Err(SshKeyError::Encrypted { .. }) if agent_available() => Ok(None),
        Err(e @ SshKeyError::Encrypted { .. }) => Err(DriverError::invalid_option(format!(
            "--generic-ssh-key: {e}: add it to your ssh-agent (ssh-add), or use a key without \
             a passphrase"
        ))),
        Err(e) => Err(DriverError::invalid_option(format!(
            "--generic-ssh-key: {e}"
        ))),
    }
}

fn expand_home(p: &str) -> PathBuf {
    match (p.strip_prefix("~/"), std::env::var_os("HOME")) {
        (Some(rest), Some(home)) => Path::new(&home).join(rest),
        _ => PathBuf::from(p),
    }
}

fn default_key() -> Option<PathBuf> {
    let home = std::env::var_os("HOME")?;
    ["id_ed25519", "id_rsa"]
        .iter()
        .map(|k| Path::new(&home).join(".ssh").join(k))
        .find(|p| p.is_file())
}

#[cfg(test)]
mod tests {
    use super::*;
    use driver_protocol::{Capabilities, DriverInfo};
    use serde_json::json;

    fn opts(v: Value) -> Options {
        let info = DriverInfo::new("generic", "0", Capabilities::none(), schema());
        info.with_defaults(Options::from(v.as_object().unwrap().clone()))
    }

    fn key(dir: &Path) -> PathBuf {
        let k = machine_core::sshkey::generate("t").unwrap();
        let path = dir.join("key");
        std::fs::write(&path, k.private).unwrap();
        path
    }

    #[test]
    fn defaults_come_from_the_schema_and_no_key_is_copied() {
        let dir = tempfile::tempdir().unwrap();
        let key = key(dir.path());
        let c = from_options(&opts(
            json!({"generic-ip-address": "192.0.2.4", "generic-ssh-key": key.to_str().unwrap()}),
        ))
        .unwrap();
        assert_eq!(
            (c.ssh_user.as_str(), c.ssh_port, c.engine_port),
            ("root", 22, 2376)
        );
        assert_eq!(c.user_key.as_deref(), Some(key.as_path()));
        // nothing was written next to the key
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn an_existing_host_needs_no_key_of_the_users() {
        let c = existing_host(&opts(
            json!({"generic-ip-address": "192.0.2.4", "generic-ssh-user": "nick", "generic-ssh-port": 2222}),
        ))
        .unwrap();
        assert_eq!(
            (c.ip.as_str(), c.ssh_user.as_str(), c.ssh_port),
            ("192.0.2.4", "nick", 2222)
        );
        assert_eq!((c.user_key, c.installed_key), (None, false));
        assert!(existing_host(&opts(json!({"generic-ip-address": "a b"}))).is_err());
    }

    #[test]
    fn clear_errors() {
        let e = from_options(&opts(json!({}))).unwrap_err();
        assert!(
            e.message.contains("--generic-ip-address is required"),
            "{e}"
        );
        let e = from_options(&opts(
            json!({"generic-ip-address": "192.0.2.4", "generic-ssh-key": "/nonexistent/key"}),
        ))
        .unwrap_err();
        assert!(
            e.message.contains("/nonexistent/key") && e.message.contains("--generic-ssh-key"),
            "{e}"
        );
        let dir = tempfile::tempdir().unwrap();
        let key = key(dir.path());
        let e = from_options(&opts(
            json!({"generic-ip-address": "192.0.2.4", "generic-ssh-key": key.to_str().unwrap(), "generic-ssh-port": 70000}),
        ))
        .unwrap_err();
        assert!(e.message.contains("--generic-ssh-port"), "{e}");
    }
}
