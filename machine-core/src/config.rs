//! A machine's stored configuration (`machines/NAME/config.json`).

use crate::engine::EngineOptions;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The file name of a machine's configuration in its folder.
pub const CONFIG_FILE: &str = "config.json";
/// The configuration format this library writes.
pub const CONFIG_VERSION: u32 = 1;

/// How far `create` got. A machine that is not `Ready` is shown with an error by `ls` and can
/// always be removed with `rm`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    Creating,
    Ready,
    Failed,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MachineConfig {
    pub config_version: u32,
    pub name: String,
    /// The driver's canonical name (its executable is `machine-driver-DRIVER`).
    pub driver: String,
    /// The driver name as the user typed it (e.g. `vmwarevsphere`), shown by `ls`.
    pub driver_alias: String,
    /// The driver's own configuration: opaque here, passed back on every driver call.
    pub driver_config: Value,
    /// Keys of `driver_config` holding secrets (the driver's secret options): never shown.
    #[serde(default)]
    pub secret_keys: Vec<String>,
    pub engine: EngineOptions,
    /// The SSH host key recorded at create (OpenSSH public key line); checked on every connect.
    #[serde(default)]
    pub ssh_host_key: Option<String>,
    pub phase: Phase,
    #[serde(default)]
    pub last_error: Option<String>,
    /// Seconds since the Unix epoch.
    pub created_at: u64,
    /// The Docker version installed by the last provision or upgrade.
    #[serde(default)]
    pub docker_version: Option<String>,
    /// The host's operating system (PRETTY_NAME), as detected at provision.
    #[serde(default)]
    pub os: Option<String>,
}

impl MachineConfig {
    /// The driver config with every secret replaced by `"<hidden>"`: what may be shown.
    pub fn redacted_driver_config(&self) -> Value {
        let mut v = self.driver_config.clone();
        redact(&mut v, &self.secret_keys);
        v
    }
}

fn redact(v: &mut Value, keys: &[String]) {
    match v {
        Value::Object(map) => {
            for (k, val) in map.iter_mut() {
                if keys.iter().any(|s| s == k) {
                    *val = Value::String("<hidden>".into());
                } else {
                    redact(val, keys);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|i| redact(i, keys)),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn secrets_are_hidden_at_any_depth() {
        let c = MachineConfig {
            config_version: CONFIG_VERSION,
            name: "m".into(),
            driver: "vsphere".into(),
            driver_alias: "vsphere".into(),
            driver_config: json!({"vmwarevsphere-password": "hunter2", "nested": {"vmwarevsphere-password": "x"}, "user": "root"}),
            secret_keys: vec!["vmwarevsphere-password".into()],
            engine: Default::default(),
            ssh_host_key: None,
            phase: Phase::Ready,
            last_error: None,
            created_at: 0,
            docker_version: None,
            os: None,
        };
        let shown = c.redacted_driver_config().to_string();
        assert!(
            !shown.contains("hunter2") && !shown.contains("\"x\""),
            "{shown}"
        );
        assert!(shown.contains("root"));
    }
}
