//! The generic driver's options and the config it keeps for each machine.

use driver_protocol::schema::OptionSpec;
use driver_protocol::{DriverError, Options};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

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
            "Your SSH private key file, used once to install the machine's own key (default: \
             ~/.ssh/id_ed25519, else ~/.ssh/id_rsa, else ssh-agent; a key with a passphrase is \
             used through ssh-agent)",
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
    /// The user's own key file, for create's first login only; `None`: the user's ssh-agent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_key: Option<PathBuf>,
}

impl Config {
    /// The user's options checked; the key file (given, or the first of ~/.ssh's usual ones)
    /// must exist. The library reads it, at create.
    pub fn from_options(o: &Options) -> Result<Config, DriverError> {
        let host = Config::existing_host(o)?;
        let user_key = match o.string("generic-ssh-key")? {
            Some(k) if !expand_home(&k).is_file() => {
                return Err(DriverError::invalid_option(format!(
                    "--generic-ssh-key {k:?}: no such file"
                )))
            }
            Some(k) => Some(expand_home(&k)),
            None => ["~/.ssh/id_ed25519", "~/.ssh/id_rsa"]
                .map(expand_home)
                .into_iter()
                .find(|p| p.is_file()),
        };
        Ok(Config { user_key, ..host })
    }

    /// Where a host already set up (by another tool) is and how to log in.
    pub fn existing_host(o: &Options) -> Result<Config, DriverError> {
        let ip = o.required_string(
            "generic-ip-address",
            "the IP address or host name of the host",
        )?;
        if ip.chars().any(|c| c.is_whitespace() || c == '/') || ip.starts_with('-') {
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
        })
    }
}

fn expand_home(p: &str) -> PathBuf {
    let home = std::env::var_os("HOME").map(PathBuf::from);
    match (p.strip_prefix("~/"), home) {
        (Some(rest), Some(home)) => home.join(rest),
        _ => PathBuf::from(p),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use driver_protocol::{Capabilities, DriverInfo};
    use serde_json::{json, Value};

    fn opts(v: Value) -> Options {
        let info = DriverInfo::new("generic", "0", Capabilities::none(), schema());
        info.with_defaults(Options::from(v.as_object().unwrap().clone()))
    }

    #[test]
    fn defaults_come_from_the_schema_and_the_key_is_a_path_only() {
        let dir = tempfile::tempdir().unwrap();
        let key = dir.path().join("key");
        std::fs::write(&key, "not read by the driver").unwrap();
        let c = Config::from_options(&opts(
            json!({"generic-ip-address": "192.0.2.4", "generic-ssh-key": key.to_str().unwrap()}),
        ))
        .unwrap();
        assert_eq!(
            (c.ssh_user.as_str(), c.ssh_port, c.engine_port),
            ("root", 22, 2376)
        );
        assert_eq!(c.user_key.as_deref(), Some(key.as_path()));
        assert!(!serde_json::to_string(&c)
            .unwrap()
            .contains("not read by the driver"));
    }

    #[test]
    fn an_existing_host_needs_no_key_of_the_users() {
        let c = Config::existing_host(&opts(
            json!({"generic-ip-address": "192.0.2.4", "generic-ssh-user": "nick", "generic-ssh-port": 2222}),
        ))
        .unwrap();
        assert_eq!(
            (c.ip.as_str(), c.ssh_user.as_str(), c.ssh_port),
            ("192.0.2.4", "nick", 2222)
        );
        assert_eq!(c.user_key, None);
        for bad in ["a b", "-oProxyCommand=x", "a/b"] {
            assert!(Config::existing_host(&opts(json!({ "generic-ip-address": bad }))).is_err());
        }
    }

    #[test]
    fn clear_errors() {
        let e = Config::from_options(&opts(json!({}))).unwrap_err();
        assert!(
            e.message.contains("--generic-ip-address is required"),
            "{e}"
        );
        let e = Config::from_options(&opts(
            json!({"generic-ip-address": "192.0.2.4", "generic-ssh-key": "/nonexistent/key"}),
        ))
        .unwrap_err();
        assert!(
            e.message.contains("/nonexistent/key") && e.message.contains("--generic-ssh-key"),
            "{e}"
        );
        let e = Config::existing_host(&opts(
            json!({"generic-ip-address": "192.0.2.4", "generic-ssh-port": 70000}),
        ))
        .unwrap_err();
        assert!(e.message.contains("--generic-ssh-port"), "{e}");
    }
}
