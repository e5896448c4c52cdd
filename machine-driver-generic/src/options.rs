//! The generic driver's options (Docker Machine's flags, environment variables and defaults,
//! declared once) and the config it keeps for each machine.

use driver_protocol::{DriverError, DriverOptions};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// What the user gives: Docker Machine's `--generic-*` flags, typed (a program builds one and
/// passes `to_options()` as a create's driver options).
#[derive(Debug, Clone, PartialEq, DriverOptions)]
pub struct GenericOptions {
    /// IP address or host name of the host
    #[option(name = "generic-ip-address", env = "GENERIC_IP_ADDRESS")]
    #[option(docker_machine_field = "IPAddress")]
    pub ip: String,
    /// SSH user (needs passwordless sudo unless root)
    #[option(name = "generic-ssh-user", env = "GENERIC_SSH_USER", default = "root")]
    #[option(docker_machine_field = "SSHUser")]
    pub ssh_user: String,
    /// Your SSH private key file, used once to install the machine's own key (default:
    /// ~/.ssh/id_ed25519, else ~/.ssh/id_rsa, else ssh-agent; a key with a passphrase is used
    /// through ssh-agent)
    #[option(name = "generic-ssh-key", env = "GENERIC_SSH_KEY")]
    pub ssh_key: Option<String>,
    /// SSH port
    #[option(name = "generic-ssh-port", env = "GENERIC_SSH_PORT", default = 22)]
    #[option(docker_machine_field = "SSHPort")]
    pub ssh_port: u16,
    /// Docker engine port
    #[option(
        name = "generic-engine-port",
        env = "GENERIC_ENGINE_PORT",
        default = 2376
    )]
    #[option(docker_machine_field = "EnginePort")]
    pub engine_port: u16,
}

/// What the driver keeps for a machine.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Config {
    /// The host's address.
    pub ip: String,
    /// The login user.
    pub ssh_user: String,
    /// The SSH port.
    pub ssh_port: u16,
    /// The Docker daemon's port.
    pub engine_port: u16,
    /// The user's own key file, for create's first login only; `None`: the user's ssh-agent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_key: Option<PathBuf>,
}

impl Config {
    /// The options checked; the key file (given, or the first of ~/.ssh's usual ones) must
    /// exist. The library reads it, at create.
    pub fn new(o: GenericOptions) -> Result<Config, DriverError> {
        let user_key = match &o.ssh_key {
            Some(k) if !expand_home(k).is_file() => {
                return Err(DriverError::invalid_option(format!(
                    "--generic-ssh-key {k:?}: no such file"
                )))
            }
            Some(k) => Some(expand_home(k)),
            None => ["~/.ssh/id_ed25519", "~/.ssh/id_rsa"]
                .map(expand_home)
                .into_iter()
                .find(|p| p.is_file()),
        };
        Ok(Config {
            user_key,
            ..Config::existing_host(o)?
        })
    }

    /// Where a host already set up (by another tool) is and how to log in.
    pub fn existing_host(o: GenericOptions) -> Result<Config, DriverError> {
        let ip = o.ip;
        if ip.chars().any(|c| c.is_whitespace() || c == '/') || ip.starts_with('-') {
            return Err(DriverError::invalid_option(format!(
                "--generic-ip-address {ip:?} is not an IP address or host name"
            )));
        }
        Ok(Config {
            ip,
            ssh_user: o.ssh_user,
            ssh_port: o.ssh_port,
            engine_port: o.engine_port,
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
    use driver_protocol::{Capabilities, DriverInfo, Options};
    use serde_json::{json, Value};

    /// The options as the host sends them: the schema's defaults applied.
    fn opts(v: Value) -> Result<GenericOptions, DriverError> {
        let info = DriverInfo::new("generic", "0", Capabilities::none())
            .with_options(GenericOptions::schema());
        GenericOptions::from_options(
            &info.with_defaults(Options::from(v.as_object().unwrap().clone())),
        )
    }

    #[test]
    fn defaults_come_from_the_schema_and_the_key_is_a_path_only() {
        let dir = tempfile::tempdir().unwrap();
        let key = dir.path().join("key");
        std::fs::write(&key, "not read by the driver").unwrap();
        let c = Config::new(
            opts(json!({"generic-ip-address": "192.0.2.4", "generic-ssh-key": key.to_str().unwrap()}))
                .unwrap(),
        )
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
        let o = opts(
            json!({"generic-ip-address": "192.0.2.4", "generic-ssh-user": "nick", "generic-ssh-port": 2222}),
        );
        let c = Config::existing_host(o.unwrap()).unwrap();
        assert_eq!(
            (c.ip.as_str(), c.ssh_user.as_str(), c.ssh_port),
            ("192.0.2.4", "nick", 2222)
        );
        assert_eq!(c.user_key, None);
        for bad in ["a b", "-oProxyCommand=x", "a/b"] {
            let o = opts(json!({ "generic-ip-address": bad })).unwrap();
            assert!(Config::existing_host(o).is_err(), "{bad}");
        }
    }

    #[test]
    fn clear_errors() {
        let e = opts(json!({})).err().unwrap();
        assert!(
            e.message
                .contains("--generic-ip-address (or GENERIC_IP_ADDRESS) is required"),
            "{e}"
        );
        let o =
            opts(json!({"generic-ip-address": "192.0.2.4", "generic-ssh-key": "/nonexistent/key"}));
        let e = Config::new(o.unwrap()).unwrap_err();
        assert!(
            e.message.contains("/nonexistent/key") && e.message.contains("--generic-ssh-key"),
            "{e}"
        );
        let e = opts(json!({"generic-ip-address": "192.0.2.4", "generic-ssh-port": 70000}))
            .err()
            .unwrap();
        assert!(e.message.contains("--generic-ssh-port"), "{e}");
    }

    #[test]
    fn typed_options_built_by_a_program_reach_the_driver_as_they_were() {
        let typed = GenericOptions {
            ip: "192.0.2.4".into(),
            ssh_user: "nick".into(),
            ssh_key: None,
            ssh_port: 2222,
            engine_port: 2376,
        };
        let sent = typed.to_options();
        assert_eq!(
            sent.string("generic-ssh-user").unwrap().as_deref(),
            Some("nick")
        );
        assert_eq!(GenericOptions::from_options(&sent).unwrap(), typed);
    }

    #[test]
    fn the_schema_keeps_docker_machines_names() {
        let names: Vec<String> = GenericOptions::schema()
            .into_iter()
            .map(|o| o.name)
            .collect();
        assert_eq!(
            names,
            [
                "generic-ip-address",
                "generic-ssh-user",
                "generic-ssh-key",
                "generic-ssh-port",
                "generic-engine-port"
            ]
        );
        let port = &GenericOptions::schema()[3];
        assert_eq!(
            (port.env.as_deref(), port.default.clone()),
            (Some("GENERIC_SSH_PORT"), Some(json!(22)))
        );
        assert_eq!(port.docker_machine_field.as_deref(), Some("SSHPort"));
    }
}
