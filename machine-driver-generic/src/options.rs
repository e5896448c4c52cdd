//! The generic driver's options and the config it keeps for each machine.

use driver_protocol::schema::OptionSpec;
use driver_protocol::DriverError;
use machine_core::ssh::SshTarget;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::path::{Path, PathBuf};

/// The file in the machine's folder holding the copy of the user's key, so the machine keeps
/// working when the original moves.
const KEY_COPY: &str = "id_generic";

pub fn schema() -> Vec<OptionSpec> {
    vec![
        OptionSpec::string("generic-ip-address", "IP address or host name of the host")
            .env("GENERIC_IP_ADDRESS"),
        OptionSpec::string(
            "generic-ssh-user",
            "SSH user (needs passwordless sudo unless root)",
        )
        .env("GENERIC_SSH_USER")
        .default("root"),
        OptionSpec::string(
            "generic-ssh-key",
            "SSH private key path (default: ~/.ssh/id_ed25519, else ~/.ssh/id_rsa)",
        )
        .env("GENERIC_SSH_KEY"),
        OptionSpec::int("generic-ssh-port", "SSH port")
            .env("GENERIC_SSH_PORT")
            .default(22),
        OptionSpec::int("generic-engine-port", "Docker engine port")
            .env("GENERIC_ENGINE_PORT")
            .default(2376),
    ]
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Config {
    pub ip: String,
    pub ssh_user: String,
    pub ssh_port: u16,
    /// The copy of the user's key in the machine's folder.
    pub ssh_key: PathBuf,
    pub engine_port: u16,
    /// The host key seen at create, checked by restart.
    #[serde(default)]
    pub host_key: Option<String>,
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

    pub fn target(&self) -> SshTarget {
        SshTarget {
            host: self.ip.clone(),
            port: self.ssh_port,
            user: self.ssh_user.clone(),
            key_path: self.ssh_key.clone(),
        }
    }
}

fn string<'a>(o: &'a Map<String, Value>, k: &str) -> Option<&'a str> {
    o.get(k).and_then(Value::as_str).filter(|s| !s.is_empty())
}

fn port(o: &Map<String, Value>, k: &str, default: u16) -> Result<u16, DriverError> {
    match o.get(k) {
        None | Some(Value::Null) => Ok(default),
        Some(v) => v
            .as_u64()
            .and_then(|n| u16::try_from(n).ok())
            .filter(|n| *n > 0)
            .ok_or_else(|| {
                DriverError::invalid_option(format!(
                    "--{k} must be a port number (1-65535), not {v}"
                ))
            }),
    }
}

/// Validates the user's options and copies their key into the machine's folder.
pub fn from_options(o: &Map<String, Value>, machine_dir: &Path) -> Result<Config, DriverError> {
    let ip = string(o, "generic-ip-address").ok_or_else(|| {
        DriverError::invalid_option(
            "--generic-ip-address is required: the IP address or host name of the host to use",
        )
    })?;
    if ip.chars().any(|c| c.is_whitespace() || c == '/') {
        return Err(DriverError::invalid_option(format!(
            "--generic-ip-address {ip:?} is not an IP address or host name"
        )));
    }
    let user = string(o, "generic-ssh-user").unwrap_or("root");
    let key = match string(o, "generic-ssh-key") {
        Some(k) => expand_home(k),
        None => default_key().ok_or_else(|| {
            DriverError::invalid_option(
                "no SSH key given and none found in ~/.ssh (id_ed25519, id_rsa): pass --generic-ssh-key PATH",
            )
        })?,
    };
    let data = std::fs::read(&key).map_err(|e| {
        DriverError::invalid_option(format!(
            "cannot read the SSH key {} ({e}): pass --generic-ssh-key with the path of an existing private key",
            key.display()
        ))
    })?;
    let copy = machine_dir.join(KEY_COPY);
    write_private(&copy, &data).map_err(|e| {
        DriverError::internal(format!(
            "cannot copy the SSH key to {}: {e}",
            copy.display()
        ))
    })?;
    Ok(Config {
        ip: ip.to_string(),
        ssh_user: user.to_string(),
        ssh_port: port(o, "generic-ssh-port", 22)?,
        ssh_key: copy,
        engine_port: port(o, "generic-engine-port", 2376)?,
        host_key: None,
    })
}

fn write_private(path: &Path, data: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)?;
    f.write_all(data)?;
    f.sync_all()
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
    use serde_json::json;

    fn opts(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn defaults_and_key_copy() {
        let dir = tempfile::tempdir().unwrap();
        let key = dir.path().join("key");
        std::fs::write(&key, "KEY").unwrap();
        let c = from_options(
            &opts(json!({"generic-ip-address": "192.0.2.4", "generic-ssh-key": key.to_str().unwrap()})),
            dir.path(),
        )
        .unwrap();
        assert_eq!(
            (c.ssh_user.as_str(), c.ssh_port, c.engine_port),
            ("root", 22, 2376)
        );
        assert_eq!(std::fs::read_to_string(&c.ssh_key).unwrap(), "KEY");
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&c.ssh_key).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }

    #[test]
    fn clear_errors() {
        let dir = tempfile::tempdir().unwrap();
        let e = from_options(&opts(json!({})), dir.path()).unwrap_err();
        assert!(
            e.message.contains("--generic-ip-address is required"),
            "{e}"
        );
        let e = from_options(
            &opts(
                json!({"generic-ip-address": "192.0.2.4", "generic-ssh-key": "/nonexistent/key"}),
            ),
            dir.path(),
        )
        .unwrap_err();
        assert!(
            e.message.contains("/nonexistent/key") && e.message.contains("--generic-ssh-key"),
            "{e}"
        );
        let key = dir.path().join("k");
        std::fs::write(&key, "K").unwrap();
        let e = from_options(
            &opts(json!({"generic-ip-address": "192.0.2.4", "generic-ssh-key": key.to_str().unwrap(), "generic-ssh-port": 70000})),
            dir.path(),
        )
        .unwrap_err();
        assert!(e.message.contains("--generic-ssh-port"), "{e}");
    }
}
