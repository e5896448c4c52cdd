//! A machine's configuration: what the store keeps about it besides its keys and certificates.

use crate::engine::EngineOptions;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The configuration format this library writes. Version 1 (the first releases) is read and
/// upgraded by the store.
pub const CONFIG_VERSION: u32 = 2;

/// How far `create` got. A machine that is not `Ready` is shown with an error by `ls` and can
/// always be removed with `rm`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Phase {
    /// `create` is running, or was interrupted (the process died or the future was dropped).
    Creating,
    /// Created and provisioned.
    Ready,
    /// `create` failed and undoing it failed too.
    Failed,
}

/// A machine's configuration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct MachineConfig {
    /// The format version ([`CONFIG_VERSION`]).
    pub config_version: u32,
    /// The machine's name (also its host name).
    pub name: String,
    /// Recorded before the driver's create is called; what the driver makes is tagged with it,
    /// so an interrupted create can be undone. Also tells a re-created machine of the same
    /// name from the one a handle was loaded for.
    #[serde(default)]
    pub creation_id: String,
    /// The driver's canonical name (its executable is `machine-driver-DRIVER`).
    pub driver: String,
    /// The driver name as the user typed it (e.g. `vmwarevsphere`), shown by `ls`.
    pub driver_alias: String,
    /// The driver's own configuration: opaque here, passed back on every driver call.
    pub driver_config: Value,
    /// Keys of `driver_config` holding secrets (the driver's secret options): never shown.
    #[serde(default)]
    pub secret_keys: Vec<String>,
    /// How Docker is installed and configured.
    pub engine: EngineOptions,
    /// The SSH host key recorded at create (OpenSSH public key line); checked on every connect.
    #[serde(default)]
    pub ssh_host_key: Option<String>,
    /// Create installs (or installed) the machine's SSH key in the login user's
    /// `authorized_keys` of a host the driver keeps; recorded before the install, so `rm` takes
    /// it off again even after a create killed half-way.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub installs_key: bool,
    /// The login user provisioning added to the host's `docker` group (the SSH transport's
    /// access to the daemon's socket), so that `rm`, or a move back to TLS, takes it out again.
    /// `None` when it added nobody (the login is root, or was a member already).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub docker_group_user: Option<String>,
    /// How far `create` got.
    pub phase: Phase,
    /// Why create failed, when it did.
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
    /// Where the driver last said the machine is (as of its last provision or boot): a cache,
    /// trusted only once the daemon there proves it is this machine's by presenting the
    /// machine's own server certificate (see [`crate::Machine::docker_env`]).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "cached"
    )]
    pub last_access: Option<driver_protocol::calls::Access>,
    /// Fields this version does not know (written by a later release of the same config
    /// version, or by another tool): kept as they are and written back on save.
    #[serde(flatten)]
    pub extra: serde_json::Map<String, Value>,
}

impl MachineConfig {
    /// A new machine's configuration, in phase `Creating`, with a fresh creation id.
    pub fn new(name: &str, driver: &str, driver_alias: &str, engine: EngineOptions) -> Self {
        MachineConfig {
            config_version: CONFIG_VERSION,
            name: name.into(),
            creation_id: new_creation_id(),
            driver: driver.into(),
            driver_alias: driver_alias.into(),
            driver_config: Value::Null,
            secret_keys: Vec::new(),
            engine,
            ssh_host_key: None,
            installs_key: false,
            docker_group_user: None,
            phase: Phase::Creating,
            last_error: None,
            created_at: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0),
            docker_version: None,
            os: None,
            last_access: None,
            extra: serde_json::Map::new(),
        }
    }

    /// Whether the machine's key was (or may have been) installed on its host by create:
    /// [`MachineConfig::installs_key`], or, for records of the previous release, its generic
    /// driver's `installed_key` (the driver did the installing then).
    pub fn installed_key(&self) -> bool {
        self.installs_key || self.driver_config.get("installed_key") == Some(&Value::Bool(true))
    }

    /// The driver config with every secret replaced by `"<hidden>"` and the credentials of URLs
    /// hidden (`https://user:token@host` becomes `https://***@host`): what may be shown.
    pub fn redacted_driver_config(&self) -> Value {
        let mut v = self.driver_config.clone();
        redact(&mut v, &self.secret_keys);
        v
    }
}

/// A cached value that does not parse (another tool's, a hand edit) is as good as none: it
/// never makes the record unreadable.
fn cached<'de, D, T>(d: D) -> Result<Option<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: serde::de::DeserializeOwned,
{
    Ok(serde_json::from_value(Value::deserialize(d)?).ok())
}

/// 128 random bits as hex: unique per create.
fn new_creation_id() -> String {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).expect("the OS random source works");
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Replaces the values of `keys`, at any depth of `v`, by `"<hidden>"`.
pub(crate) fn redact(v: &mut Value, keys: &[String]) {
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
        Value::String(s) => {
            if let std::borrow::Cow::Owned(hidden) = crate::download::redact(s) {
                *s = hidden;
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_recorded_address_that_does_not_parse_is_none() {
        let mut v = serde_json::to_value(MachineConfig::new(
            "m",
            "generic",
            "generic",
            Default::default(),
        ))
        .unwrap();
        for junk in [json!("tcp://1.2.3.4:2376"), json!({"ip": 7}), json!(null)] {
            v["last_access"] = junk.clone();
            let c: MachineConfig = serde_json::from_value(v.clone()).unwrap();
            assert_eq!(c.last_access, None, "{junk}");
        }
        v["last_access"] = json!({"ip": "192.0.2.1", "docker_url": "tcp://192.0.2.1:2376",
            "ssh": {"host": "192.0.2.1", "port": 22, "user": "root"}});
        let c: MachineConfig = serde_json::from_value(v.clone()).unwrap();
        assert_eq!(c.last_access.unwrap().docker_url, "tcp://192.0.2.1:2376");
    }

    #[test]
    fn secrets_are_hidden_at_any_depth() {
        let mut c = MachineConfig::new("m", "vsphere", "vsphere", Default::default());
        c.driver_config = json!({"vmwarevsphere-password": "hunter2", "nested": {"vmwarevsphere-password": "x"}, "user": "root", "iso": ["https://nick:tok@h.example/a.iso"]});
        c.secret_keys = vec!["vmwarevsphere-password".into()];
        let shown = c.redacted_driver_config().to_string();
        assert!(
            !shown.contains("hunter2") && !shown.contains("\"x\""),
            "{shown}"
        );
        assert!(shown.contains("root"));
        assert!(shown.contains("https://***@h.example/a.iso"), "{shown}");
    }

    #[test]
    fn unknown_fields_survive_a_round_trip() {
        let mut v =
            serde_json::to_value(MachineConfig::new("m", "d", "d", Default::default())).unwrap();
        v["shiny_new_field"] = json!({"keep": ["me"]});
        let c: MachineConfig = serde_json::from_value(v).unwrap();
        assert_eq!(c.extra["shiny_new_field"], json!({"keep": ["me"]}));
        let again = serde_json::to_value(&c).unwrap();
        assert_eq!(again["shiny_new_field"], json!({"keep": ["me"]}));
        assert_eq!(again["name"], "m");
    }

    #[test]
    fn creation_ids_differ() {
        let a = MachineConfig::new("m", "d", "d", Default::default());
        let b = MachineConfig::new("m", "d", "d", Default::default());
        assert_eq!(a.creation_id.len(), 32);
        assert_ne!(a.creation_id, b.creation_id);
    }
}
