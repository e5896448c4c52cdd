//! The simple commands: one machine in, a line or a JSON document out; and the lifecycle
//! commands that act on several machines at once.

use crate::template;
use crate::App;
use machine_core::engine::{EngineOptions, InstallMethod};
use machine_core::machine::Machine;
use serde_json::{json, Value};
use std::io::Write;
use std::process::ExitCode;

type CmdResult = Result<ExitCode, Box<dyn std::error::Error>>;

/// Docker Machine's default machine name when none is given.
pub const DEFAULT_NAME: &str = "default";

fn names_or_default(names: Vec<String>) -> Vec<String> {
    if names.is_empty() {
        vec![DEFAULT_NAME.to_string()]
    } else {
        names
    }
}

pub async fn status(app: &App, name: &str) -> CmdResult {
    let m = app.manager.load(name)?;
    println!("{}", m.state().await?);
    Ok(ExitCode::SUCCESS)
}

pub async fn url(app: &App, name: &str) -> CmdResult {
    let m = app.manager.load(name)?;
    println!("{}", m.url().await?);
    Ok(ExitCode::SUCCESS)
}

pub async fn ip(app: &App, names: Vec<String>) -> CmdResult {
    let mut failed = false;
    for name in names_or_default(names) {
        match async { app.manager.load(&name)?.ip().await }.await {
            Ok(ip) => println!("{ip}"),
            Err(e) => {
                eprintln!("Error getting IP address of {name}: {e}");
                failed = true;
            }
        }
    }
    Ok(if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

pub async fn config(app: &App, name: &str) -> CmdResult {
    let m = app.manager.load(name)?;
    let dir = m.dir();
    println!(
        "--tlsverify\n--tlscacert=\"{}\"\n--tlscert=\"{}\"\n--tlskey=\"{}\"\n-H={}",
        dir.join("ca.pem").display(),
        dir.join("cert.pem").display(),
        dir.join("key.pem").display(),
        m.url().await?
    );
    Ok(ExitCode::SUCCESS)
}

pub async fn version(app: &App, name: Option<&str>) -> CmdResult {
    match name {
        None => println!("machine version {}", env!("CARGO_PKG_VERSION")),
        Some(name) => {
            let m = app.manager.load(name)?;
            println!("{}", m.docker_version().await?.version);
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The machine DOCKER_HOST points at.
pub async fn active(app: &App, timeout: u64) -> CmdResult {
    let Some(host) = std::env::var("DOCKER_HOST").ok().filter(|h| !h.is_empty()) else {
        return Err("No active host found (DOCKER_HOST is not set)".into());
    };
    for name in app.manager.names()? {
        let Ok(m) = app.manager.load(&name) else {
            continue;
        };
        let url = tokio::time::timeout(std::time::Duration::from_secs(timeout), m.url()).await;
        if let Ok(Ok(url)) = url {
            if url == host {
                println!("{name}");
                return Ok(ExitCode::SUCCESS);
            }
        }
    }
    Err(format!("No active host found (no machine has the URL {host})").into())
}

/// The machine as JSON, in Docker Machine's shape where scripts read it
/// (`.Driver.IPAddress`, `.DriverName`, `.HostOptions.EngineOptions`, ...). Secrets are hidden.
pub async fn inspect_value(m: &Machine) -> Value {
    let c = m.config();
    let dir = m.dir();
    let mut driver = match c.redacted_driver_config() {
        Value::Object(map) => map,
        _ => Default::default(),
    };
    driver.insert("MachineName".into(), json!(c.name));
    driver.insert("StorePath".into(), json!(dir.display().to_string()));
    if let Ok(ip) = m.ip().await {
        driver.insert("IPAddress".into(), json!(ip));
    }
    if let Ok(t) = m.ssh_target().await {
        driver.insert("SSHUser".into(), json!(t.user));
        driver.insert("SSHPort".into(), json!(t.port));
        driver.insert("SSHKeyPath".into(), json!(t.key_path.display().to_string()));
    }
    let file = |f: &str| dir.join(f).display().to_string();
    json!({
        "ConfigVersion": c.config_version,
        "Name": c.name,
        "DriverName": c.driver_alias,
        "Driver": Value::Object(driver),
        "HostOptions": {
            "EngineOptions": engine_options(&c.engine),
            "AuthOptions": {
                "ServerCertSANs": c.engine.tls_san,
                "CertDir": dir.display().to_string(),
                "CaCertPath": file("ca.pem"),
                "ClientCertPath": file("cert.pem"),
                "ClientKeyPath": file("key.pem"),
                "ServerCertPath": file("server.pem"),
                "ServerKeyPath": file("server-key.pem"),
            }
        },
        "DockerVersion": c.docker_version,
        "OS": c.os,
        "Phase": c.phase,
        "LastError": c.last_error,
        "SSHHostKey": c.ssh_host_key,
        "CreatedAt": c.created_at,
    })
}

/// The engine options under Docker Machine's names (`.HostOptions.EngineOptions.Labels`, ...),
/// plus what it did not have: the install method and the pinned version.
fn engine_options(e: &EngineOptions) -> Value {
    let (method, url) = match &e.install_method {
        InstallMethod::Script { url } => ("script", url.as_str()),
        InstallMethod::Packages => ("packages", ""),
    };
    json!({
        "ArbitraryFlags": e.opts,
        "Env": e.env,
        "InsecureRegistry": e.insecure_registries,
        "Labels": e.labels,
        "RegistryMirror": e.registry_mirrors,
        "StorageDriver": e.storage_driver.clone().unwrap_or_default(),
        "TlsVerify": true,
        "InstallURL": url,
        "InstallMethod": method,
        "Version": e.version,
        "Port": e.port,
    })
}

pub async fn inspect(app: &App, name: &str, format: Option<&str>) -> CmdResult {
    let m = app.manager.load(name)?;
    let v = inspect_value(&m).await;
    match format {
        Some(f) => println!("{}", template::render(f, &v)?),
        None => println!("{}", serde_json::to_string_pretty(&v)?),
    }
    Ok(ExitCode::SUCCESS)
}

/// A lifecycle operation on several machines.
#[derive(Clone)]
pub enum Op {
    Start,
    Stop,
    Restart,
    Kill,
    Provision,
    Upgrade(Option<String>),
    RegenerateCerts { client_certs: bool },
}

impl Op {
    fn doing(&self) -> &'static str {
        match self {
            Op::Start => "Starting",
            Op::Stop => "Stopping",
            Op::Restart => "Restarting",
            Op::Kill => "Killing",
            Op::Provision => "Provisioning",
            Op::Upgrade(_) => "Upgrading Docker on",
            Op::RegenerateCerts { .. } => "Regenerating TLS certificates of",
        }
    }
    fn done(&self) -> &'static str {
        match self {
            Op::Start => "was started",
            Op::Stop => "was stopped",
            Op::Restart => "was restarted",
            Op::Kill => "was killed",
            Op::Provision => "was provisioned",
            Op::Upgrade(_) => "was upgraded",
            Op::RegenerateCerts { .. } => "has new TLS certificates",
        }
    }
}

/// Runs `op` on every named machine concurrently; fails if any failed.
pub async fn each(app: &App, names: Vec<String>, op: Op) -> CmdResult {
    let names = names_or_default(names);
    let mut tasks = tokio::task::JoinSet::new();
    for name in names {
        let manager = app.manager.clone();
        let op = op.clone();
        tasks.spawn(async move {
            println!("{} \"{name}\"...", op.doing());
            let result = async {
                let mut m = manager.load(&name)?;
                match &op {
                    Op::Start => m.start().await,
                    Op::Stop => m.stop().await,
                    Op::Restart => m.restart().await,
                    Op::Kill => m.kill().await,
                    Op::Provision => m.provision().await,
                    Op::Upgrade(v) => m.upgrade(v.clone()).await,
                    Op::RegenerateCerts { client_certs } => m.regenerate_certs(*client_certs).await,
                }
            }
            .await;
            (name, op, result)
        });
    }
    let mut failed = false;
    while let Some(joined) = tasks.join_next().await {
        let (name, op, result) = joined?;
        match result {
            Ok(()) => println!("Machine \"{name}\" {}.", op.done()),
            Err(e) => {
                eprintln!("Error: {name}: {e}");
                failed = true;
            }
        }
    }
    Ok(if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

fn confirm(question: &str) -> std::io::Result<bool> {
    print!("{question} (y/n): ");
    std::io::stdout().flush()?;
    let mut answer = String::new();
    std::io::stdin().read_line(&mut answer)?;
    Ok(matches!(answer.trim(), "y" | "Y" | "yes"))
}

pub async fn regenerate_certs(
    app: &App,
    force: bool,
    client_certs: bool,
    names: Vec<String>,
) -> CmdResult {
    if !force && !confirm("Regenerate TLS machine certs?  Warning: this is irreversible.")? {
        return Ok(ExitCode::SUCCESS);
    }
    each(app, names, Op::RegenerateCerts { client_certs }).await
}

pub async fn rm(app: &App, force: bool, yes: bool, names: Vec<String>) -> CmdResult {
    if !yes {
        println!("About to remove {}", names.join(", "));
        println!("WARNING: This action will delete both local reference and remote instance.");
        if !confirm("Are you sure?")? {
            return Ok(ExitCode::SUCCESS);
        }
    }
    let mut failed = false;
    for name in names {
        let result = match app.manager.load(&name) {
            Ok(m) => m.remove(force).await,
            // a folder whose config cannot be read is removed as it is, with -f
            Err(e @ machine_core::Error::InvalidFile { .. }) => {
                if force {
                    app.manager.store().remove_machine(&name)
                } else {
                    Err(machine_core::Error::Other(format!(
                        "{e}\n(`machine rm -f {name}` removes it anyway)"
                    )))
                }
            }
            Err(e) => Err(e),
        };
        match result {
            Ok(()) => println!("Successfully removed {name}"),
            Err(e) => {
                eprintln!("Error removing host \"{name}\": {e}");
                failed = true;
            }
        }
    }
    Ok(if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}
