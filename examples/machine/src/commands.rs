//! The simple commands: one machine in, a line or a JSON document out; and the lifecycle
//! commands that act on several machines at once.

use crate::template;
use crate::App;
use machine_core::engine::{EngineOptions, Transport};
use machine_core::{Action, DockerUrl, Machine, RemoveOptions, RowError, State};
use serde_json::{json, Value};
use std::io::Write;
use std::process::ExitCode;
use std::time::Duration;

type CmdResult = Result<ExitCode, Box<dyn std::error::Error>>;

/// Docker Machine's default machine name when none is given.
pub const DEFAULT_NAME: &str = "default";

/// How many machines one command works on at once.
const CONCURRENCY: usize = 16;

/// How long `status` waits for each answer (the daemon's, then the driver's).
const STATUS_TIMEOUT: Duration = Duration::from_secs(10);

pub(crate) fn names_or_default(names: Vec<String>) -> Vec<String> {
    if names.is_empty() {
        vec![DEFAULT_NAME.to_string()]
    } else {
        names
    }
}

pub async fn status(app: &App, name: &str, format: Option<&str>) -> CmdResult {
    // as `ls` asks: a daemon that answers over TLS is Running, else the driver says
    let row = app.manager.status(name, STATUS_TIMEOUT).await?;
    let state = match (row.state, &row.error) {
        (
            Some(State::Error | State::Timeout) | None,
            Some(e @ (RowError::Driver(_) | RowError::StateTimeout(_))),
        ) => return Err(format!("Error getting state for host {name}: {e}").into()),
        (Some(state), _) => state,
        (None, _) => return Err(format!("Error getting state for host {name}: unknown").into()),
    };
    let v = json!({"Name": name, "State": state.to_string()});
    match format.filter(|f| !f.is_empty()) {
        None => println!("{state}"),
        Some("json") => println!("{v}"),
        Some(f) => println!("{}", template::render(f, &v)?),
    }
    Ok(ExitCode::SUCCESS)
}

pub async fn url(app: &App, name: &str) -> CmdResult {
    let m = app.manager.load(name).await?;
    println!("{}", m.url().await?);
    Ok(ExitCode::SUCCESS)
}

pub async fn ip(app: &App, names: Vec<String>) -> CmdResult {
    let mut failed = false;
    for name in names_or_default(names) {
        match async { app.manager.load(&name).await?.ip().await }.await {
            Ok(ip) => println!("{ip}"),
            Err(e) => {
                eprintln!(
                    "Error getting IP address of {name}: {}",
                    crate::terminal::block(&e.to_string())
                );
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

pub async fn version(app: &App, name: Option<&str>) -> CmdResult {
    match name {
        None => println!(
            "{} version {}",
            crate::program_name(),
            env!("CARGO_PKG_VERSION")
        ),
        Some(name) => {
            let m = app.manager.load(name).await?;
            // the daemon's own words
            println!(
                "{}",
                crate::terminal::line(&m.docker_version().await?.version)
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The machine DOCKER_HOST points at.
pub async fn active(app: &App, timeout: u64) -> CmdResult {
    let Some(host) = std::env::var("DOCKER_HOST").ok().filter(|h| !h.is_empty()) else {
        return Err("No active host found (DOCKER_HOST is not set)".into());
    };
    let timeout = std::time::Duration::from_secs(timeout);
    // a DOCKER_HOST that is no machine's kind of URL (unix://...) is no machine's
    if let Ok(url) = host.parse::<DockerUrl>() {
        if let Some(name) = app.manager.active(&url, timeout).await? {
            println!("{name}");
            return Ok(ExitCode::SUCCESS);
        }
    }
    Err(format!("No active host found (no machine has the URL {host})").into())
}

/// The machine as JSON, in Docker Machine's shape where scripts read it
/// (`.Driver.IPAddress`, `.DriverName`, `.HostOptions.EngineOptions`, ...). Secrets are hidden.
pub async fn inspect_value(app: &App, m: &Machine) -> Result<Value, machine_core::Error> {
    let c = m.config();
    let files = m.files().await?;
    let dir = &files.dir;
    let mut driver = match c.redacted_driver_config() {
        Value::Object(map) => map,
        _ => Default::default(),
    };
    // the driver's fields under Docker Machine's names too (`.Driver.CPU`), from the
    // redacted config, so a secret stays hidden under either name
    if let Ok(info) = app.manager.driver_info(&c.driver).await {
        for o in &info.options {
            let (Some(field), Some(v)) = (&o.docker_machine_field, driver.get(&o.name).cloned())
            else {
                continue;
            };
            driver.entry(field.clone()).or_insert(v);
        }
    }
    driver.insert("MachineName".into(), json!(c.name));
    driver.insert("StorePath".into(), json!(dir.display().to_string()));
    driver.insert(
        "SSHKeyPath".into(),
        json!(files.ssh_key.display().to_string()),
    );
    if let Ok(a) = m.access().await {
        driver.insert("IPAddress".into(), json!(a.ip));
        if let Some(ssh) = &a.ssh {
            driver.insert("SSHUser".into(), json!(ssh.user));
            driver.insert("SSHPort".into(), json!(ssh.port));
        }
        if let Ok(url) = a.docker_url.parse::<DockerUrl>() {
            driver.entry("EnginePort").or_insert(json!(url.port()));
        }
    }
    let file = |f: &std::path::Path| f.display().to_string();
    Ok(json!({
        "ConfigVersion": c.config_version,
        "Name": c.name,
        "DriverName": c.driver_alias,
        "Driver": Value::Object(driver),
        "HostOptions": {
            "EngineOptions": engine_options(&c.engine),
            "AuthOptions": {
                "ServerCertSANs": c.engine.tls_san,
                "CertDir": dir.display().to_string(),
                "StorePath": dir.display().to_string(),
                "CaCertPath": file(&files.ca_cert),
                "ClientCertPath": file(&files.client_cert),
                "ClientKeyPath": file(&files.client_key),
            }
        },
        "DockerVersion": c.docker_version,
        "OS": c.os,
        "Phase": c.phase,
        "LastError": c.last_error,
        "SSHHostKey": c.ssh_host_key,
        "CreatedAt": c.created_at,
    }))
}

/// The engine options under Docker Machine's names (`.HostOptions.EngineOptions.Labels`, ...),
/// plus what it did not have: the install method, the pinned version and the transport (`tls`,
/// `ssh`: `.HostOptions.EngineOptions.Transport`).
fn engine_options(e: &EngineOptions) -> Value {
    let (method, url) = (
        e.install_method.name(),
        e.install_method.shown_url().unwrap_or_default(),
    );
    json!({
        "ArbitraryFlags": e.opts,
        "Env": e.env,
        "InsecureRegistry": e.insecure_registries,
        "Labels": e.labels,
        "RegistryMirror": e.registry_mirrors,
        "StorageDriver": e.storage_driver.clone().unwrap_or_default(),
        "TlsVerify": e.transport == Transport::Tls,
        "Transport": e.transport.name(),
        "InstallURL": url,
        "InstallMethod": method,
        "Version": e.version,
        "Port": e.port,
    })
}

pub async fn inspect(app: &App, name: &str, format: Option<&str>) -> CmdResult {
    let m = app.manager.load(name).await?;
    let mut v = inspect_value(app, &m).await?;
    match format.filter(|f| !f.is_empty()) {
        None | Some("json") => println!("{}", serde_json::to_string_pretty(&v)?),
        Some(f) => {
            // a template shows the driver's and the host's values as text
            crate::terminal::values(&mut v);
            println!("{}", template::render(f, &v)?)
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// "Starting", "Stopping", ...: what `action` is doing, as Docker Machine printed it.
fn doing(action: &Action) -> &'static str {
    match action {
        Action::Start => "Starting",
        Action::Stop => "Stopping",
        Action::Restart => "Restarting",
        Action::Kill => "Killing",
        Action::Provision => "Provisioning",
        Action::Upgrade { .. } => "Upgrading Docker on",
        Action::RegenerateCerts => "Regenerating TLS certificates of",
        _ => "Working on",
    }
}

/// "was started", ...: what `action` did.
fn done(action: &Action) -> &'static str {
    match action {
        Action::Start => "was started",
        Action::Stop => "was stopped",
        Action::Restart => "was restarted",
        Action::Kill => "was killed",
        Action::Provision => "was provisioned",
        Action::Upgrade { .. } => "was upgraded",
        Action::RegenerateCerts => "has new TLS certificates",
        _ => "is done",
    }
}

/// Runs `action` on every named machine through the library (concurrently); fails if any
/// failed.
pub async fn each(app: &App, names: Vec<String>, action: Action) -> CmdResult {
    let names = names_or_default(names);
    for name in &names {
        println!("{} \"{name}\"...", doing(&action));
    }
    let cancel = app.cancel_on_signals();
    let mut failed = false;
    for (name, result) in app.manager.act(&names, &action, CONCURRENCY, &cancel).await {
        match result {
            Ok(()) => println!("Machine \"{name}\" {}.", done(&action)),
            Err(e) => {
                eprintln!(
                    "{}",
                    crate::hints::render(&e).replacen("Error: ", &format!("Error: {name}: "), 1)
                );
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

/// Asks on the terminal; without one (a script, CI) there is nobody to ask, and that is an
/// error naming the flag that answers yes, never a silent "no".
pub(crate) fn confirm(question: &str, yes_flag: &str) -> Result<bool, Box<dyn std::error::Error>> {
    use std::io::IsTerminal;
    if !std::io::stdin().is_terminal() {
        let first = question.lines().next().unwrap_or(question);
        return Err(format!(
            "{first}: there is no terminal to confirm on; pass {yes_flag} to go ahead without asking"
        )
        .into());
    }
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
    if client_certs {
        // a new CA for some machines would cut off all the others
        return Err(
            "--client-certs would give the store a new CA that the other machines do \
                    not trust: `machine rotate-ca` moves every machine to a new CA"
                .into(),
        );
    }
    if !force
        && !confirm(
            "Regenerate TLS machine certs?  Warning: this is irreversible.",
            "-f",
        )?
    {
        return Ok(ExitCode::SUCCESS);
    }
    each(app, names, Action::RegenerateCerts).await
}

/// Rotates the store's CA over the whole fleet; fails if a machine could not be moved.
pub async fn rotate_ca(app: &App, force: bool) -> CmdResult {
    if !force
        && !confirm(
            "Replace the store's CA and move every machine to the new one (Docker restarts on each)?",
            "-f",
        )?
    {
        return Ok(ExitCode::SUCCESS);
    }
    println!("Making a new CA and client certificate...");
    let cancel = app.cancel_on_signals();
    let results = app.manager.rotate_ca(CONCURRENCY, &cancel).await?;
    let mut left = Vec::new();
    for (name, result) in results {
        match result {
            Ok(()) => println!("Machine \"{name}\" trusts the new CA."),
            Err(e) => {
                eprintln!(
                    "{}",
                    crate::hints::render(&e).replacen("Error: ", &format!("Error: {name}: "), 1)
                );
                left.push(name);
            }
        }
    }
    if left.is_empty() {
        println!("Every machine trusts the new CA; the old one is retired.");
        return Ok(ExitCode::SUCCESS);
    }
    eprintln!(
        "Not rotated: {}. They keep working under the old CA; `machine provision NAME` moves each \
         to the new CA once it can be reached.",
        left.join(", ")
    );
    Ok(ExitCode::FAILURE)
}

pub async fn rm(app: &App, opts: RemoveOptions, yes: bool, names: Vec<String>) -> CmdResult {
    // as in Docker Machine, -f also means yes
    if !(yes || opts.force) {
        let question = format!(
            "About to remove {}\nWARNING: This action will delete both local reference and remote instance.\nAre you sure?",
            names.join(", ")
        );
        if !confirm(&question, "-y")? {
            return Ok(ExitCode::SUCCESS);
        }
    }
    let cancel = app.cancel_on_signals();
    let mut failed = false;
    let action = Action::Remove(opts);
    for (name, result) in app.manager.act(&names, &action, CONCURRENCY, &cancel).await {
        match result {
            Ok(()) => println!("Successfully removed {name}"),
            Err(e) => {
                let mut msg = format!(
                    "Error removing host \"{name}\": {}",
                    crate::terminal::block(&e.to_string())
                );
                if e.is_broken_record() {
                    msg.push_str(&format!("\n(`machine rm -f {name}` removes it anyway)"));
                } else if let Some(h) = crate::hints::hint(&e) {
                    msg.push_str(&format!("\n({h})"));
                }
                eprintln!("{msg}");
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
