//! A machine's record as etcd keeps it: one JSON value holding the config (its secret options
//! sealed) and every blob (base64; secrets sealed), so a machine changes in one write.

use super::key::{is_sealed, StoreKey};
use crate::cert::Pem;
use crate::config::MachineConfig;
use crate::store::{legacy, Blob, StoreCerts, StoreError};
use base64::Engine;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

#[derive(Serialize, Deserialize)]
pub(super) struct Record {
    config: Value,
    /// Blob name → base64, or a sealed value for secrets.
    #[serde(default)]
    blobs: BTreeMap<String, String>,
}

fn missing(machine: &str, what: &str) -> StoreError {
    StoreError::KeyMissing {
        machine: machine.into(),
        what: what.into(),
    }
}

fn mismatch(machine: &str, what: &str) -> StoreError {
    StoreError::KeyMismatch {
        machine: machine.into(),
        what: what.into(),
    }
}

/// Seals (or opens, `seal == false`) every value under one of `keys`, at any depth.
fn walk(
    v: &mut Value,
    keys: &[String],
    f: &mut dyn FnMut(&str, &mut Value) -> Result<(), StoreError>,
) -> Result<(), StoreError> {
    match v {
        Value::Object(map) => {
            for (k, val) in map.iter_mut() {
                if keys.iter().any(|s| s == k) {
                    f(k, val)?;
                } else {
                    walk(val, keys, f)?;
                }
            }
        }
        Value::Array(items) => {
            for i in items {
                walk(i, keys, f)?;
            }
        }
        _ => {}
    }
    Ok(())
}

/// A config written by a later release of this library is [`StoreError::NewerVersion`].
fn newer_check(name: &str, config: &Value) -> Result<(), StoreError> {
    match legacy::version_of(config) {
        Some(found) if found > crate::config::CONFIG_VERSION => Err(StoreError::NewerVersion {
            machine: name.into(),
            found,
            supported: crate::config::CONFIG_VERSION,
        }),
        _ => Ok(()),
    }
}

impl Record {
    pub(super) fn new(
        config: &MachineConfig,
        key: Option<&StoreKey>,
    ) -> Result<Record, StoreError> {
        let mut r = Record {
            config: Value::Null,
            blobs: BTreeMap::new(),
        };
        r.set_config(config, key)?;
        Ok(r)
    }

    pub(super) fn parse(name: &str, data: &[u8]) -> Result<Record, StoreError> {
        serde_json::from_slice(data).map_err(|e| StoreError::Corrupt {
            machine: name.into(),
            what: "its etcd record".into(),
            reason: e.to_string(),
        })
    }

    pub(super) fn to_bytes(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("a record serializes")
    }

    pub(super) fn set_config(
        &mut self,
        config: &MachineConfig,
        key: Option<&StoreKey>,
    ) -> Result<(), StoreError> {
        let name = &config.name;
        // a record a later release wrote is read by nobody here, and so overwritten by nobody
        newer_check(name, &self.config)?;
        let mut v = serde_json::to_value(config).expect("a config serializes");
        if let Some(dc) = v.get_mut("driver_config") {
            walk(dc, &config.secret_keys, &mut |k, val| {
                let key = key.ok_or_else(|| missing(name, k))?;
                let plain = serde_json::to_vec(val).expect("JSON serializes");
                *val = Value::String(key.seal(&format!("{name}/config/{k}"), &plain));
                Ok(())
            })?;
        }
        self.config = v;
        Ok(())
    }

    /// The config, its sealed options opened with `key` ([`StoreError::KeyMissing`] without).
    pub(super) fn config(
        &self,
        name: &str,
        key: Option<&StoreKey>,
    ) -> Result<MachineConfig, StoreError> {
        self.open_config(name, key, false)
    }

    /// The config with its sealed options withheld (`null`): what shows without the key.
    pub(super) fn public_config(&self, name: &str) -> Result<MachineConfig, StoreError> {
        self.open_config(name, None, true)
    }

    fn open_config(
        &self,
        name: &str,
        key: Option<&StoreKey>,
        withhold: bool,
    ) -> Result<MachineConfig, StoreError> {
        let corrupt = |reason: String| StoreError::Corrupt {
            machine: name.into(),
            what: "its etcd record".into(),
            reason,
        };
        newer_check(name, &self.config)?;
        // before its secrets, sealed under the name it records, are opened
        crate::store::check_recorded_name(name, &self.config, || "its etcd record".into())?;
        let mut v = self.config.clone();
        let secret_keys: Vec<String> = v
            .get("secret_keys")
            .and_then(|s| serde_json::from_value(s.clone()).ok())
            .unwrap_or_default();
        if let Some(dc) = v.get_mut("driver_config") {
            walk(dc, &secret_keys, &mut |k, val| {
                let Some(sealed) = val.as_str().filter(|s| is_sealed(s)) else {
                    return Ok(());
                };
                if withhold {
                    *val = Value::Null;
                    return Ok(());
                }
                let key = key.ok_or_else(|| missing(name, k))?;
                let plain = key
                    .open(&format!("{name}/config/{k}"), sealed)
                    .ok_or_else(|| mismatch(name, k))?;
                *val = serde_json::from_slice(&plain).map_err(|e| corrupt(e.to_string()))?;
                Ok(())
            })?;
        }
        serde_json::from_value(v).map_err(|e| corrupt(e.to_string()))
    }

    pub(super) fn blob(
        &self,
        name: &str,
        blob: Blob,
        key: Option<&StoreKey>,
    ) -> Result<Option<Vec<u8>>, StoreError> {
        let Some(text) = self.blobs.get(blob.name()) else {
            return Ok(None);
        };
        open_value(
            name,
            &format!("{name}/{}", blob.name()),
            blob.name(),
            text,
            key,
        )
        .map(Some)
    }

    pub(super) fn set_blob(
        &mut self,
        name: &str,
        blob: Blob,
        data: &[u8],
        key: Option<&StoreKey>,
    ) -> Result<(), StoreError> {
        let text = seal_value(
            name,
            &format!("{name}/{}", blob.name()),
            blob.name(),
            data,
            blob.is_secret(),
            key,
        )?;
        self.blobs.insert(blob.name().to_string(), text);
        Ok(())
    }
}

fn seal_value(
    machine: &str,
    place: &str,
    what: &str,
    data: &[u8],
    secret: bool,
    key: Option<&StoreKey>,
) -> Result<String, StoreError> {
    if !secret {
        return Ok(B64.encode(data));
    }
    let key = key.ok_or_else(|| missing(machine, what))?;
    Ok(key.seal(place, data))
}

fn open_value(
    machine: &str,
    place: &str,
    what: &str,
    text: &str,
    key: Option<&StoreKey>,
) -> Result<Vec<u8>, StoreError> {
    if is_sealed(text) {
        let key = key.ok_or_else(|| missing(machine, what))?;
        return key.open(place, text).ok_or_else(|| mismatch(machine, what));
    }
    B64.decode(text).map_err(|e| StoreError::Corrupt {
        machine: machine.into(),
        what: what.into(),
        reason: e.to_string(),
    })
}

/// The store's certificates, as etcd keeps them (the two private keys sealed).
#[derive(Serialize, Deserialize)]
struct CertsRecord {
    ca_cert: String,
    ca_key: String,
    cert: String,
    key: String,
}

const CERTS: &str = "store certificates";

pub(super) fn store_certs_bytes(
    certs: &StoreCerts,
    key: Option<&StoreKey>,
) -> Result<Vec<u8>, StoreError> {
    let r = CertsRecord {
        ca_cert: seal_value(
            "",
            "certs/ca-cert",
            "ca-cert",
            certs.ca.cert.as_bytes(),
            false,
            key,
        )?,
        ca_key: seal_value(
            "",
            "certs/ca-key",
            "the store's CA key",
            certs.ca.key.as_bytes(),
            true,
            key,
        )?,
        cert: seal_value(
            "",
            "certs/cert",
            "cert",
            certs.client.cert.as_bytes(),
            false,
            key,
        )?,
        key: seal_value(
            "",
            "certs/key",
            "the store's client key",
            certs.client.key.as_bytes(),
            true,
            key,
        )?,
    };
    Ok(serde_json::to_vec(&r).expect("certificates serialize"))
}

pub(super) fn read_store_certs(
    data: &[u8],
    key: Option<&StoreKey>,
) -> Result<StoreCerts, StoreError> {
    let corrupt = |reason: String| StoreError::Corrupt {
        machine: String::new(),
        what: CERTS.into(),
        reason,
    };
    let r: CertsRecord = serde_json::from_slice(data).map_err(|e| corrupt(e.to_string()))?;
    let text = |place: &str, what: &str, t: &str| -> Result<String, StoreError> {
        String::from_utf8(open_value("", place, what, t, key)?)
            .map_err(|_| corrupt(format!("{what} is not UTF-8 text")))
    };
    Ok(StoreCerts {
        ca: Pem {
            cert: text("certs/ca-cert", "ca-cert", &r.ca_cert)?,
            key: text("certs/ca-key", "the store's CA key", &r.ca_key)?,
        },
        client: Pem {
            cert: text("certs/cert", "cert", &r.cert)?,
            key: text("certs/key", "the store's client key", &r.key)?,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> StoreKey {
        StoreKey::from_base64(&B64.encode([7u8; 32]), "test").unwrap()
    }

    #[test]
    fn secrets_are_sealed_and_the_rest_reads_without_the_key() {
        let mut c = MachineConfig::new("m", "vsphere", "vmwarevsphere", Default::default());
        c.driver_config = serde_json::json!({"vmwarevsphere-password": "hunter2", "vcenter": "vc"});
        c.secret_keys = vec!["vmwarevsphere-password".into()];
        let k = key();
        let mut r = Record::new(&c, Some(&k)).unwrap();
        r.set_blob(
            "m",
            Blob::SshKey,
            b"-----BEGIN OPENSSH PRIVATE KEY-----",
            Some(&k),
        )
        .unwrap();
        r.set_blob("m", Blob::CaCert, b"-----BEGIN CERTIFICATE-----", Some(&k))
            .unwrap();
        let stored = String::from_utf8(r.to_bytes()).unwrap();
        assert!(
            !stored.contains("hunter2") && !stored.contains("PRIVATE KEY"),
            "{stored}"
        );
        let r = Record::parse("m", stored.as_bytes()).unwrap();
        assert_eq!(r.config("m", Some(&k)).unwrap(), c);
        assert!(matches!(
            r.config("m", None),
            Err(StoreError::KeyMissing { .. })
        ));
        assert!(matches!(
            r.blob("m", Blob::SshKey, None),
            Err(StoreError::KeyMissing { .. })
        ));
        assert_eq!(
            r.blob("m", Blob::CaCert, None).unwrap().unwrap(),
            b"-----BEGIN CERTIFICATE-----"
        );
        // a record moved to another name does not open
        assert!(matches!(
            Record::parse("m2", stored.replace("\"m\"", "\"m2\"").as_bytes())
                .unwrap()
                .blob("m2", Blob::SshKey, Some(&k)),
            Err(StoreError::KeyMismatch { .. })
        ));
        // without secret options the config reads without the key
        let plain = Record::new(
            &MachineConfig::new("g", "generic", "generic", Default::default()),
            None,
        )
        .unwrap();
        assert!(plain.config("g", None).is_ok());
    }
}
