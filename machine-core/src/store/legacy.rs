//! Reading records written by earlier versions of this library (config version 1).
//!
//! Version 1 differed in two ways: there was no creation id, and the generic driver kept a copy
//! of the user's SSH key in the machine's folder (`driver_config.ssh_key`, a path) and used it
//! instead of the machine's own key, with its own copy of the host key
//! (`driver_config.host_key`). The upgrade makes that copy the machine's SSH key and drops both
//! fields, so the machine goes on working with the key its host accepts.

use super::StoreError;
use crate::config::{MachineConfig, CONFIG_VERSION};
use serde_json::Value;

/// The `config_version` of a stored config, if it has one.
pub(super) fn version_of(v: &Value) -> Option<u32> {
    v.get("config_version")
        .and_then(Value::as_u64)
        .and_then(|n| u32::try_from(n).ok())
}

/// A version 1 config made current.
pub(super) struct Upgraded {
    pub config: MachineConfig,
    /// The file holding the key the host accepts, to become the machine's SSH key.
    pub ssh_key_file: Option<String>,
}

pub(super) fn upgrade_v1(name: &str, mut v: Value) -> Result<Upgraded, StoreError> {
    let corrupt = |reason: String| StoreError::Corrupt {
        machine: name.into(),
        what: "config.json".into(),
        reason,
    };
    let obj = v
        .as_object_mut()
        .ok_or_else(|| corrupt("not a JSON object".into()))?;
    let mut ssh_key_file = None;
    if obj.get("driver").and_then(Value::as_str) == Some("generic") {
        if let Some(dc) = obj.get_mut("driver_config").and_then(Value::as_object_mut) {
            ssh_key_file = dc
                .remove("ssh_key")
                .and_then(|k| k.as_str().map(str::to_string));
            dc.remove("host_key");
        }
    }
    // deterministic, so that concurrent readers upgrading at once agree
    let created = obj.get("created_at").and_then(Value::as_u64).unwrap_or(0);
    obj.insert(
        "creation_id".into(),
        Value::String(format!("v1-{name}-{created}")),
    );
    obj.insert("config_version".into(), Value::from(CONFIG_VERSION));
    let config = serde_json::from_value(v).map_err(|e| corrupt(e.to_string()))?;
    Ok(Upgraded {
        config,
        ssh_key_file,
    })
}
