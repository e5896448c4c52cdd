//! How a bridge learns its plugin: it starts the plugin once, for its flags (the driver's
//! options), its name, and the fields of its config that hold credentials.

use super::{base_config, config_raw, private_dir, set_config_raw, sink, Bridge, Storage};
use crate::flags;
use crate::plugin::{Plugin, PluginSpec, QUERY_TIMEOUT, SDK_ENV};
use driver_protocol::{Capabilities, DriverInfo, Options};
use serde_json::Value as Json;
use std::path::PathBuf;

impl Bridge {
    /// Starts the plugin once to learn its flags (the options) and the fields of its config
    /// that hold credentials. `storage`: the folder for the plugin's files (`None`: a private
    /// temporary folder removed when the bridge exits).
    pub async fn discover(
        name: &str,
        spec: PluginSpec,
        storage: Option<PathBuf>,
    ) -> Result<Bridge, String> {
        let storage = match storage {
            Some(dir) => {
                private_dir(&dir).map_err(|e| {
                    format!("cannot make the plugins' folder {}: {e}", dir.display())
                })?;
                Storage::Dir(dir)
            }
            None => Storage::Temp(
                tempfile::Builder::new()
                    .prefix("machine-plugin-")
                    .tempdir()
                    .map_err(|e| format!("cannot make a temporary folder: {e}"))?,
            ),
        };
        let mut p = Plugin::start(&spec, &[], sink(None))
            .await
            .map_err(|e| e.to_string())?;
        let learned = async {
            let options = flags::options(&p.call_unit("GetCreateFlags").await?)
                .map_err(|e| format!("{}: {e}", spec.path.display()))?;
            let driver_name = p.call_unit("DriverName").await?.as_str().to_string();
            let base = base_config("", storage.path());
            set_config_raw(&mut p, &base).await?;
            let fields = config_raw(&mut p).await?;
            let mut secret = credential_keys(&fields);
            for key in fields_of_secret_flags(&mut p, &options).await {
                if !secret.contains(&key) {
                    secret.push(key);
                }
            }
            Ok::<_, Box<dyn std::error::Error>>((options, driver_name, secret))
        }
        .await;
        p.close().await;
        let (options, driver_name, secret_config) = learned.map_err(|e| e.to_string())?;
        let info = DriverInfo::new(
            name,
            &format!(
                "Docker Machine plugin {} ({})",
                crate::shown(&driver_name),
                spec.path.display()
            ),
            Capabilities::all(),
        )
        .with_options(options)
        .with_env(SDK_ENV)
        .with_secret_config(secret_config);
        Ok(Bridge {
            spec,
            info,
            storage,
            checked: Default::default(),
        })
    }
}

/// The config keys (at any depth) where the plugin keeps the values of its secret flags:
/// every text flag is given a marker of its own, and the keys that then hold a secret flag's
/// marker are secret whatever they are called (`Client.ApiKey` filled from `softlayer-api-key`).
/// Best effort: a plugin that refuses the markers tells nothing.
async fn fields_of_secret_flags(
    p: &mut Plugin,
    options: &[driver_protocol::OptionSpec],
) -> Vec<String> {
    use driver_protocol::OptionType;
    let marker = |i: usize| format!("machine-bridge-marker-{i}-x");
    let mut given = Options::new();
    let mut secret_markers = Vec::new();
    for (i, o) in options.iter().enumerate() {
        match o.kind {
            OptionType::String => given.insert(o.name.clone(), marker(i)),
            OptionType::StringList => given.insert(o.name.clone(), vec![marker(i)]),
            _ => continue,
        }
        if o.secret {
            secret_markers.push(marker(i));
        }
    }
    if secret_markers.is_empty() {
        return Vec::new();
    }
    let (ty, arg) = flags::rpc_flags(options, &given, "*rpcdriver.RPCFlags");
    if p.call("SetConfigFromFlags", &ty, &arg, QUERY_TIMEOUT)
        .await
        .is_err()
    {
        return Vec::new();
    }
    let Ok(config) = config_raw(p).await else {
        return Vec::new();
    };
    let mut keys = Vec::new();
    fn walk(v: &Json, key: Option<&str>, markers: &[String], keys: &mut Vec<String>) {
        match v {
            Json::Object(map) => map
                .iter()
                .for_each(|(k, v)| walk(v, Some(k), markers, keys)),
            Json::Array(items) => items.iter().for_each(|i| walk(i, key, markers, keys)),
            Json::String(s) => {
                if let Some(k) = key {
                    if markers.iter().any(|m| s.contains(m.as_str()))
                        && !keys.iter().any(|x| x == k)
                    {
                        keys.push(k.to_string());
                    }
                }
            }
            _ => {}
        }
    }
    walk(&config, None, &secret_markers, &mut keys);
    keys
}

/// The keys of `config`, at any depth, that hold credentials.
fn credential_keys(config: &Json) -> Vec<String> {
    let mut keys = Vec::new();
    fn walk(v: &Json, keys: &mut Vec<String>) {
        match v {
            Json::Object(map) => {
                for (k, v) in map {
                    if flags::is_credential(k) && !keys.contains(k) {
                        keys.push(k.clone());
                    }
                    walk(v, keys);
                }
            }
            Json::Array(items) => items.iter().for_each(|i| walk(i, keys)),
            _ => {}
        }
    }
    walk(config, &mut keys);
    keys
}
