//! `machine-plugin-bridge`: serves a Docker Machine driver plugin as a machine driver.
//!
//! ```text
//! machine-plugin-bridge [--name NAME] [--storage-path DIR] PLUGIN
//! machine-plugin-bridge [--name NAME] [--storage-path DIR] --builtin DRIVER DOCKER_MACHINE_BIN
//! ```
//!
//! machine's driver host starts it for a `docker-machine-driver-NAME` it finds (and for
//! Docker Machine's built-in drivers, served by the binary `MACHINE_DOCKER_MACHINE_BIN`
//! names); `machine-driver-check machine-plugin-bridge PLUGIN` checks a plugin through it.

use machine_plugin_bridge::plugin::PluginSpec;
use machine_plugin_bridge::Bridge;
use std::path::PathBuf;

const USAGE: &str = "usage: machine-plugin-bridge [--name NAME] [--storage-path DIR] \
                     [--builtin DRIVER] PLUGIN_EXECUTABLE";

fn parse() -> Result<(String, PluginSpec, Option<PathBuf>), String> {
    let mut args = std::env::args_os().skip(1);
    let (mut name, mut storage, mut builtin, mut plugin) = (None, None, None, None);
    while let Some(a) = args.next() {
        let mut value = |flag: &str| {
            args.next()
                .ok_or_else(|| format!("{flag} needs a value\n{USAGE}"))
        };
        match a.to_str() {
            Some("--name") => name = Some(value("--name")?.to_string_lossy().into_owned()),
            Some("--storage-path") => storage = Some(PathBuf::from(value("--storage-path")?)),
            Some("--builtin") => builtin = Some(value("--builtin")?.to_string_lossy().into_owned()),
            Some(flag) if flag.starts_with('-') => {
                return Err(format!("unknown flag {flag}\n{USAGE}"))
            }
            _ if plugin.is_none() => plugin = Some(PathBuf::from(a)),
            _ => return Err(USAGE.into()),
        }
    }
    let path = plugin.ok_or(USAGE)?;
    let name = match (name, &builtin) {
        (Some(n), _) => n,
        (None, Some(b)) => b.clone(),
        (None, None) => path
            .file_name()
            .and_then(|f| f.to_str())
            .and_then(|f| f.strip_prefix("docker-machine-driver-"))
            .ok_or("--name is needed for a plugin not named docker-machine-driver-NAME")?
            .to_string(),
    };
    Ok((name, PluginSpec { path, builtin }, storage))
}

#[tokio::main]
async fn main() {
    let (name, spec, storage) = match parse() {
        Ok(x) => x,
        Err(e) => {
            eprintln!("machine-plugin-bridge: {e}");
            std::process::exit(2);
        }
    };
    let bridge = match Bridge::discover(&name, spec, storage).await {
        Ok(b) => b,
        Err(e) => {
            eprintln!("machine-plugin-bridge: {e}");
            std::process::exit(1);
        }
    };
    if let Err(e) = driver_protocol::serve(bridge).await {
        eprintln!("machine-plugin-bridge: {e}");
        std::process::exit(1);
    }
}
