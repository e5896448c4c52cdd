//! Docker Machine's store, read as Docker Machine 0.16 writes it, and never written to.
//!
//! `DIR/machines/NAME/config.json` holds one machine (`ConfigVersion` 3): `DriverName`, the
//! driver's own fields under `Driver` (Go's field names: `IPAddress`, `SSHUser`, `SSHPort`,
//! `SSHKeyPath`, `StorePath`, and per driver `EnginePort` or vSphere's `IP` (vCenter), `Port`,
//! `Username`, `Password`, ...), and `HostOptions` with `EngineOptions` (the `--engine-*` flags)
//! and `AuthOptions` (where the CA, the client certificate and the server certificate are).
//! The CA and client certificate are the store's (`DIR/certs/`); the server certificate and the
//! SSH key are in the machine's folder. Paths are absolute as Docker Machine recorded them;
//! those under the store it recorded (`Driver.StorePath`) are read under `DIR` instead, so a
//! store that was copied or moved is read where it is now.

use crate::engine::{EngineOptions, InstallMethod};
use driver_protocol::{OptionSpec, OptionType, Options};
use serde::Deserialize;
use serde_json::{Map, Value};
use std::path::{Path, PathBuf};

/// The `ConfigVersion` this reads (Docker Machine 0.6 to 0.16).
pub const CONFIG_VERSION: u64 = 3;

/// Why one machine of the store cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ReadError {
    /// A file is missing or cannot be read (a machine Docker Machine did not finish writing).
    #[error("{}: {reason}", .path.display())]
    File {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// `config.json` is of another version.
    #[error("config.json has ConfigVersion {found}; import reads Docker Machine's version {CONFIG_VERSION}")]
    ConfigVersion {
        /// The version found (`None`: no `ConfigVersion` at all).
        found: String,
    },
    /// The machine's driver has no counterpart here.
    #[error("its driver \"{driver}\" is not installed here: import brings machines of installed drivers (machine-driver-{driver}, or Docker Machine's plugin docker-machine-driver-{driver}; Docker Machine's built-in drivers such as amazonec2 through the binary MACHINE_DOCKER_MACHINE_BIN names)")]
    UnsupportedDriver {
        /// Docker Machine's driver name.
        driver: String,
    },
}

/// One machine of a Docker Machine store, read and mapped to what this library needs.
#[derive(Debug, Clone)]
pub struct DockerMachineHost {
    /// The machine's name (its folder's).
    pub name: String,
    /// Docker Machine's driver name (`generic`, `vmwarevsphere`): our drivers answer to it.
    pub driver: String,
    /// Docker Machine's driver config (`IPAddress`, `CPU`, ...); [`options_from`] turns it
    /// into the options of the driver that declares those fields.
    pub driver_fields: Map<String, Value>,
    /// The `--engine-*` choices recorded.
    pub engine: EngineOptions,
    /// The machine's SSH private key.
    pub ssh_key: Vec<u8>,
    /// The CA its daemon trusts.
    pub ca_cert: Vec<u8>,
    /// The client certificate signed by that CA, and its key.
    pub client_cert: Vec<u8>,
    /// The client key.
    pub client_key: Vec<u8>,
    /// The daemon's server certificate and key, when the store still has them.
    pub server: Option<(Vec<u8>, Vec<u8>)>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct HostFile {
    driver_name: Option<String>,
    #[serde(default)]
    driver: Map<String, Value>,
    host_options: Option<HostOptions>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase")]
struct HostOptions {
    engine_options: Option<DmEngineOptions>,
    auth_options: Option<AuthOptions>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase")]
struct DmEngineOptions {
    arbitrary_flags: Option<Vec<String>>,
    env: Option<Vec<String>>,
    insecure_registry: Option<Vec<String>>,
    labels: Option<Vec<String>>,
    registry_mirror: Option<Vec<String>>,
    storage_driver: Option<String>,
    #[serde(rename = "InstallURL")]
    install_url: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase")]
struct AuthOptions {
    ca_cert_path: Option<String>,
    client_cert_path: Option<String>,
    client_key_path: Option<String>,
    server_cert_path: Option<String>,
    server_key_path: Option<String>,
    #[serde(rename = "ServerCertSANs")]
    server_cert_sans: Option<Vec<String>>,
}

/// The names of the machines in the store (its `machines/` folders), sorted.
pub fn machine_names(store: &Path) -> std::io::Result<Vec<String>> {
    let mut names = Vec::new();
    for entry in std::fs::read_dir(store.join("machines"))? {
        let entry = entry?;
        if entry.file_type()?.is_dir() {
            names.push(entry.file_name().to_string_lossy().into_owned());
        }
    }
    names.sort();
    Ok(names)
}

/// The driver Docker Machine recorded for machine `name`, when its config.json says.
pub async fn driver_of(store: &Path, name: &str) -> Option<String> {
    let path = store.join("machines").join(name).join("config.json");
    let raw: Value = serde_json::from_slice(&tokio::fs::read(path).await.ok()?).ok()?;
    raw.get("DriverName")?.as_str().map(str::to_string)
}

/// Reads machine `name` of the store at `store`: its config, its keys and certificates.
pub async fn read(store: &Path, name: &str) -> Result<DockerMachineHost, ReadError> {
    let config_path = store.join("machines").join(name).join("config.json");
    let text = read_file(&config_path).await?;
    let bad = |reason: String| ReadError::File {
        path: config_path.clone(),
        reason,
    };
    let raw: Value = serde_json::from_slice(&text)
        .map_err(|e| bad(format!("not valid JSON ({e}); was it written to the end?")))?;
    let version = raw.get("ConfigVersion").cloned();
    if version.as_ref().and_then(Value::as_u64) != Some(CONFIG_VERSION) {
        return Err(ReadError::ConfigVersion {
            found: version.map_or_else(|| "none".into(), |v| v.to_string()),
        });
    }
    let host: HostFile = serde_json::from_value(raw)
        .map_err(|e| bad(format!("not Docker Machine's format: {e}")))?;
    let driver = host
        .driver_name
        .filter(|d| !d.is_empty())
        .ok_or_else(|| bad("no DriverName".into()))?;
    let d = &host.driver;
    let opts = host.host_options.unwrap_or_default();
    let auth = opts.auth_options.unwrap_or_default();
    let recorded_root = str_field(d, "StorePath");
    let place = |recorded: Option<String>, what: &str| -> Result<PathBuf, ReadError> {
        match recorded.filter(|p| !p.is_empty()) {
            Some(p) => Ok(rebase(Path::new(&p), recorded_root.as_deref(), store)),
            None => Err(bad(format!("no {what} recorded"))),
        }
    };
    let ssh_key_path = place(
        str_field(d, "SSHKeyPath"),
        "SSHKeyPath (the machine's SSH key)",
    )?;
    let ca_path = place(auth.ca_cert_path, "HostOptions.AuthOptions.CaCertPath")?;
    let cert_path = place(
        auth.client_cert_path,
        "HostOptions.AuthOptions.ClientCertPath",
    )?;
    let key_path = place(
        auth.client_key_path,
        "HostOptions.AuthOptions.ClientKeyPath",
    )?;
    let server = match (
        auth.server_cert_path.filter(|p| !p.is_empty()),
        auth.server_key_path.filter(|p| !p.is_empty()),
    ) {
        (Some(c), Some(k)) => {
            let c = rebase(Path::new(&c), recorded_root.as_deref(), store);
            let k = rebase(Path::new(&k), recorded_root.as_deref(), store);
            match (tokio::fs::read(&c).await, tokio::fs::read(&k).await) {
                (Ok(c), Ok(k)) => Some((c, k)),
                _ => None,
            }
        }
        _ => None,
    };
    let mut engine = engine_options(opts.engine_options.unwrap_or_default());
    engine.tls_san = auth.server_cert_sans.unwrap_or_default();
    Ok(DockerMachineHost {
        name: name.to_string(),
        driver,
        driver_fields: d.clone(),
        engine,
        ssh_key: read_file(&ssh_key_path).await?,
        ca_cert: read_file(&ca_path).await?,
        client_cert: read_file(&cert_path).await?,
        client_key: read_file(&key_path).await?,
        server,
    })
}

async fn read_file(path: &Path) -> Result<Vec<u8>, ReadError> {
    let file_error = |reason: String| ReadError::File {
        path: path.to_path_buf(),
        reason,
    };
    match tokio::fs::read(path).await {
        Ok(b) if b.is_empty() => Err(file_error("empty".into())),
        Ok(b) => Ok(b),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(file_error("missing".into())),
        Err(e) => Err(file_error(e.to_string())),
    }
}

/// `path` under `now` when it was under the store root Docker Machine recorded.
fn rebase(path: &Path, recorded_root: Option<&str>, now: &Path) -> PathBuf {
    match recorded_root
        .filter(|r| !r.is_empty())
        .and_then(|r| path.strip_prefix(r).ok())
    {
        Some(rest) => now.join(rest),
        None => path.to_path_buf(),
    }
}

fn str_field(d: &Map<String, Value>, key: &str) -> Option<String> {
    d.get(key)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

fn int_field(d: &Map<String, Value>, key: &str) -> Option<i64> {
    d.get(key).and_then(Value::as_i64).filter(|n| *n != 0)
}

/// The options of a driver whose schema names the Docker Machine field of each option
/// ([`OptionSpec::docker_machine_field`]), read from Docker Machine's driver config `d`: the
/// driver is the one place that knows the mapping. A list option also takes a single value,
/// and the singular field name older Docker Machine versions wrote (`Network` for `Networks`).
pub fn options_from(d: &Map<String, Value>, schema: &[OptionSpec]) -> Options {
    let mut o = Options::new();
    for spec in schema {
        let Some(field) = spec.docker_machine_field.as_deref() else {
            continue;
        };
        match spec.kind {
            OptionType::StringList => {
                let mut values = strings(d.get(field));
                if values.is_empty() {
                    let singular = field.strip_suffix('s').unwrap_or(field);
                    values.extend(str_field(d, field).or_else(|| str_field(d, singular)));
                }
                if !values.is_empty() {
                    o.insert(&spec.name, values);
                }
            }
            OptionType::Int => {
                if let Some(n) = int_field(d, field) {
                    o.insert(&spec.name, n);
                }
            }
            OptionType::Bool => {
                if let Some(b) = d.get(field).and_then(Value::as_bool) {
                    o.insert(&spec.name, b);
                }
            }
            _ => match d.get(field) {
                Some(Value::String(s)) if !s.is_empty() => o.insert(&spec.name, s.clone()),
                Some(Value::Number(n)) => o.insert(&spec.name, n.to_string()),
                _ => {}
            },
        }
    }
    o
}

fn strings(v: Option<&Value>) -> Vec<String> {
    v.and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .filter(|s| !s.is_empty())
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

fn engine_options(e: DmEngineOptions) -> EngineOptions {
    let mut engine = EngineOptions::default();
    if let Some(url) = e.install_url.filter(|u| !u.is_empty()) {
        engine.install_method = InstallMethod::Script { url };
    }
    engine.opts = e.arbitrary_flags.unwrap_or_default();
    engine.env = e.env.unwrap_or_default();
    engine.labels = e.labels.unwrap_or_default();
    engine.insecure_registries = e.insecure_registry.unwrap_or_default();
    engine.registry_mirrors = e.registry_mirror.unwrap_or_default();
    engine.storage_driver = e.storage_driver.filter(|s| !s.is_empty());
    engine
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_under_the_recorded_store_are_read_where_the_store_is_now() {
        let now = Path::new("/tmp/copy");
        assert_eq!(
            rebase(
                Path::new("/home/u/.docker/machine/certs/ca.pem"),
                Some("/home/u/.docker/machine"),
                now
            ),
            Path::new("/tmp/copy/certs/ca.pem")
        );
        assert_eq!(
            rebase(
                Path::new("/elsewhere/ca.pem"),
                Some("/home/u/.docker/machine"),
                now
            ),
            Path::new("/elsewhere/ca.pem")
        );
        assert_eq!(
            rebase(Path::new("/a/ca.pem"), None, now),
            Path::new("/a/ca.pem")
        );
    }

    #[test]
    fn fields_become_the_options_the_driver_declares_for_them() {
        let schema = [
            OptionSpec::string("x-vcenter", "").docker_machine_field("IP"),
            OptionSpec::int("x-port", "").docker_machine_field("Port"),
            OptionSpec::string("x-password", "").docker_machine_field("Password"),
            OptionSpec::list("x-network", "").docker_machine_field("Networks"),
            OptionSpec::int("x-cpu", "").docker_machine_field("CPU"),
            OptionSpec::int("x-disk", "").docker_machine_field("DiskSize"),
            OptionSpec::list("x-cfgparam", "").docker_machine_field("CfgParams"),
            OptionSpec::string("x-undeclared", ""),
        ];
        let d = serde_json::json!({
            "IP": "vc.example", "Port": 443, "Password": "s3cret",
            "Network": "VM Network", "Networks": null, "CPU": 4,
            "DiskSize": 0, "CfgParams": ["a=b"], "Undeclared": "x"
        });
        let o = options_from(d.as_object().unwrap(), &schema);
        assert_eq!(o.get("x-vcenter").unwrap(), "vc.example");
        assert_eq!(o.get("x-port").unwrap(), 443);
        assert_eq!(o.get("x-password").unwrap(), "s3cret");
        // the singular field of older versions fills the list
        assert_eq!(
            o.get("x-network").unwrap(),
            &serde_json::json!(["VM Network"])
        );
        assert_eq!(o.get("x-cpu").unwrap(), 4);
        // a zero Go left unset is no choice: the driver's default applies
        assert!(!o.contains("x-disk"));
        assert_eq!(o.get("x-cfgparam").unwrap(), &serde_json::json!(["a=b"]));
        assert!(!o.contains("x-undeclared"));
    }
}
