//! `machine create`: the common engine flags plus the flags of the chosen driver, which the
//! driver itself declares in its handshake (name, type, default, environment variable).

use crate::App;
use clap::{Arg, ArgAction, ArgMatches, Command};
use driver_protocol::schema::{OptionSpec, OptionType};
use driver_protocol::DriverInfo;
use machine_core::engine::{EngineOptions, InstallMethod, DEFAULT_INSTALL_URL};
use machine_core::CreateOptions;
use serde_json::{Map, Value};
use std::process::ExitCode;

/// The value of `-d/--driver` in raw arguments, else `$MACHINE_DRIVER`.
fn driver_name(args: &[String]) -> Option<String> {
    let mut it = args.iter();
    while let Some(a) = it.next() {
        if a == "-d" || a == "--driver" {
            return it.next().cloned();
        }
        if let Some(v) = a
            .strip_prefix("--driver=")
            .or_else(|| a.strip_prefix("-d="))
        {
            return Some(v.to_string());
        }
        if let Some(v) = a
            .strip_prefix("-d")
            .filter(|v| !v.is_empty() && !v.starts_with('-'))
        {
            return Some(v.to_string());
        }
    }
    std::env::var("MACHINE_DRIVER")
        .ok()
        .filter(|d| !d.is_empty())
}

fn engine_flags(cmd: Command) -> Command {
    let list = |name: &'static str, help: &'static str| {
        Arg::new(name)
            .long(name)
            .action(ArgAction::Append)
            .value_name("VALUE")
            .help(help)
    };
    cmd.arg(
        Arg::new("engine-install-url")
            .long("engine-install-url")
            .env("MACHINE_DOCKER_INSTALL_URL")
            .value_name("URL")
            .help(format!("Install Docker with the script at this URL [default: {DEFAULT_INSTALL_URL}]")),
    )
    .arg(
        Arg::new("engine-install-method")
            .long("engine-install-method")
            .env("MACHINE_DOCKER_INSTALL_METHOD")
            .value_parser(["script", "packages"])
            .value_name("METHOD")
            .help("How to install Docker: `script` (the install URL) or `packages` (the distribution's packages) [default: script]"),
    )
    .arg(
        Arg::new("engine-version")
            .long("engine-version")
            .env("MACHINE_DOCKER_VERSION")
            .value_name("VERSION")
            .help("Docker version to install (default: the newest the method offers)"),
    )
    .arg(
        Arg::new("engine-transport")
            .long("engine-transport")
            .value_parser(["tls", "ssh"])
            .value_name("TRANSPORT")
            .help("How the docker client reaches the daemon: tls (TCP port 2376, mutual TLS) or ssh (the daemon's socket over SSH, no port, no certificates) [default: tls]"),
    )
    .arg(
        Arg::new("allow-http-downloads")
            .long("allow-http-downloads")
            .env("MACHINE_ALLOW_HTTP_DOWNLOADS")
            .action(ArgAction::SetTrue)
            .value_parser(clap::builder::BoolishValueParser::new())
            .help("Allow the install script (and a driver's ISO or cloud-init file) over plain http; without it downloads are https only, redirects included"),
    )
    .arg(list("engine-opt", "Extra dockerd flag, KEY=VALUE or KEY (repeatable)"))
    .arg(list("engine-insecure-registry", "Insecure registry to allow (repeatable)"))
    .arg(list("engine-registry-mirror", "Registry mirror (repeatable)"))
    .arg(list("engine-label", "Daemon label KEY=VALUE (repeatable)"))
    .arg(list("engine-env", "Daemon environment variable K=V (repeatable)"))
    .arg(
        Arg::new("engine-storage-driver")
            .long("engine-storage-driver")
            .value_name("DRIVER")
            .help("Storage driver (default: the daemon's choice)"),
    )
    .arg(list("tls-san", "Extra name or address in the server certificate (repeatable)"))
    .arg(
        Arg::new("no-docker-context")
            .long("no-docker-context")
            .action(ArgAction::SetTrue)
            .help("Make no docker context named after the machine (`machine use NAME` makes it later)"),
    )
    .arg(
        Arg::new("ssh-host-key-fingerprint")
            .long("ssh-host-key-fingerprint")
            .value_name("SHA256:...")
            .help("The host's SSH host key fingerprint, as `ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub` shows it on the host: create fails before installing anything if the host presents another key (else the key it presents at the first login is recorded)"),
    )
    .args(swarm_flags())
}

/// Docker Machine's classic-Swarm flags (with whether each takes a value): accepted so old
/// scripts parse, refused with one message when used.
const SWARM_FLAGS: [(&str, bool); 10] = [
    ("swarm", false),
    ("swarm-master", false),
    ("swarm-experimental", false),
    ("swarm-image", true),
    ("swarm-discovery", true),
    ("swarm-strategy", true),
    ("swarm-host", true),
    ("swarm-addr", true),
    ("swarm-opt", true),
    ("swarm-join-opt", true),
];

fn swarm_flags() -> impl Iterator<Item = Arg> {
    SWARM_FLAGS.iter().map(|&(name, value)| {
        let arg = Arg::new(name).long(name).hide(true);
        match value {
            true => arg.action(ArgAction::Append),
            false => arg.action(ArgAction::SetTrue),
        }
    })
}

fn driver_flag(o: &OptionSpec) -> Arg {
    let mut help = o.help.clone();
    if let Some(d) = &o.default {
        let shown = match d {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        if !shown.is_empty() && !o.secret {
            help.push_str(&format!(" [default: {shown}]"));
        }
    }
    let id: &'static str = Box::leak(o.name.clone().into_boxed_str());
    let mut arg = Arg::new(id).long(id).help(help);
    for alias in &o.aliases {
        arg = arg.alias(Box::leak(alias.clone().into_boxed_str()) as &'static str);
    }
    if let Some(env) = &o.env {
        arg = arg.env(Box::leak(env.clone().into_boxed_str()) as &'static str);
    }
    if o.secret {
        arg = arg.hide_env_values(true);
    }
    match o.kind {
        OptionType::Bool => arg
            .action(ArgAction::SetTrue)
            .value_parser(clap::builder::BoolishValueParser::new()),
        OptionType::StringList => arg.action(ArgAction::Append).value_name("VALUE"),
        OptionType::Int => arg.value_name("N").value_parser(clap::value_parser!(i64)),
        _ => arg.value_name("VALUE"),
    }
}

fn command(info: Option<&DriverInfo>, installed: &[String]) -> Command {
    let drivers = if installed.is_empty() {
        "none found".to_string()
    } else {
        installed.join(", ")
    };
    let mut cmd = Command::new("machine create")
        .about(
            "Create a machine: make the host with a driver, then install and secure Docker on it",
        )
        .override_usage("machine create -d DRIVER [FLAGS] NAME")
        .arg(
            Arg::new("driver")
                .short('d')
                .long("driver")
                .env("MACHINE_DRIVER")
                .value_name("DRIVER")
                .help(format!(
                    "Driver to create the machine with (installed: {drivers})"
                )),
        )
        .arg(
            Arg::new("name")
                .value_name("NAME")
                .help("The machine's name, also its host name"),
        );
    cmd = engine_flags(cmd);
    if let Some(info) = info {
        for o in &info.options {
            cmd = cmd.arg(driver_flag(o));
        }
    }
    cmd
}

/// The driver options the user gave (flag or environment variable), typed as the schema says.
fn driver_options(info: &DriverInfo, m: &ArgMatches) -> Map<String, Value> {
    let mut out = Map::new();
    for o in &info.options {
        let given = matches!(
            m.value_source(&o.name),
            Some(clap::parser::ValueSource::CommandLine | clap::parser::ValueSource::EnvVariable)
        );
        if !given {
            continue;
        }
        let v = match o.kind {
            OptionType::Bool => Value::Bool(m.get_flag(&o.name)),
            OptionType::Int => m
                .get_one::<i64>(&o.name)
                .map(|n| Value::from(*n))
                .unwrap_or(Value::Null),

            // a list from the environment is comma-separated, as Docker Machine read it
            // (`VSPHERE_NETWORK=a,b`); on the command line the flag is repeated
            OptionType::StringList => {
                let from_env =
                    m.value_source(&o.name) == Some(clap::parser::ValueSource::EnvVariable);
                Value::Array(
                    m.get_many::<String>(&o.name)
                        .into_iter()
                        .flatten()
                        .flat_map(|v| match from_env {
                            true => v
                                .split(',')
                                .map(str::trim)
                                .filter(|p| !p.is_empty())
                                .collect(),
                            false => vec![v.as_str()],
                        })
                        .map(|s| Value::String(s.to_string()))
                        .collect(),
                )
            }
            _ => m
                .get_one::<String>(&o.name)
                .map(|s| Value::String(s.clone()))
                .unwrap_or(Value::Null),
        };
        out.insert(o.name.clone(), v);
    }
    out
}

fn strings(m: &ArgMatches, id: &str) -> Vec<String> {
    m.get_many::<String>(id)
        .map(|v| v.cloned().collect())
        .unwrap_or_default()
}

fn engine_options(m: &ArgMatches) -> EngineOptions {
    let url = m.get_one::<String>("engine-install-url").cloned();
    let method = match m
        .get_one::<String>("engine-install-method")
        .map(String::as_str)
    {
        Some("packages") => InstallMethod::Packages,
        _ => InstallMethod::Script {
            url: url.unwrap_or_else(|| DEFAULT_INSTALL_URL.to_string()),
        },
    };
    let mut e = EngineOptions::default();
    e.install_method = method;
    e.version = m.get_one::<String>("engine-version").cloned();
    if let Some(t) = m.get_one::<String>("engine-transport") {
        // the parser took only tls or ssh
        e.transport = t.parse().expect("tls or ssh");
    }
    e.opts = strings(m, "engine-opt");
    e.env = strings(m, "engine-env");
    e.labels = strings(m, "engine-label");
    e.insecure_registries = strings(m, "engine-insecure-registry");
    e.registry_mirrors = strings(m, "engine-registry-mirror");
    e.storage_driver = m.get_one::<String>("engine-storage-driver").cloned();
    e.tls_san = strings(m, "tls-san");
    e.allow_http_downloads = m.get_flag("allow-http-downloads");
    e
}

pub async fn run(app: &App, args: Vec<String>) -> Result<ExitCode, Box<dyn std::error::Error>> {
    let installed = app.manager.installed_drivers();
    let wants_help = args.iter().any(|a| a == "-h" || a == "--help");
    let info = match driver_name(&args) {
        Some(d) => Some(app.manager.driver_info(&d).await?),
        None if wants_help => None,
        None => {
            return Err(format!(
                "no driver given: pass -d/--driver DRIVER (installed: {})",
                installed.join(", ")
            )
            .into())
        }
    };
    let mut cmd = command(info.as_ref(), &installed);
    let m = match cmd
        .clone()
        .try_get_matches_from(std::iter::once("machine create".to_string()).chain(args))
    {
        Ok(m) => m,
        Err(e) => {
            e.print()?;
            return Ok(if e.use_stderr() {
                ExitCode::from(2)
            } else {
                ExitCode::SUCCESS
            });
        }
    };
    let (Some(info), Some(driver)) = (info, m.get_one::<String>("driver")) else {
        cmd.print_help()?;
        return Ok(ExitCode::SUCCESS);
    };
    let Some(name) = m.get_one::<String>("name") else {
        return Err("no machine name given: `machine create -d DRIVER [FLAGS] NAME`".into());
    };
    if SWARM_FLAGS
        .iter()
        .any(|(f, _)| m.value_source(f) == Some(clap::parser::ValueSource::CommandLine))
    {
        return Err(crate::hints::SWARM_CLASSIC.into());
    }
    let mut opts = CreateOptions::new(driver);
    opts.driver_options = driver_options(&info, &m).into();
    opts.engine = engine_options(&m);
    opts.ssh_host_key_fingerprint = m.get_one::<String>("ssh-host-key-fingerprint").cloned();
    let cancel = app.cancel_on_signals();
    let machine = app.manager.create(name, opts, &cancel).await;
    if let Err(machine_core::Error::Cancelled { undone: true, .. }) = &machine {
        app.display
            .note(&format!("Cancelled: removed what was made for {name}."));
    }
    let machine = machine?;
    if !m.get_flag("no-docker-context") {
        crate::use_context::after_create(app, &machine).await;
    }
    println!(
        "To see how to connect your Docker Client to the Docker Engine running on this machine, run: machine env {}",
        machine.name()
    );
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn finds_the_driver_in_every_spelling() {
        assert_eq!(
            driver_name(&s(&["-d", "generic", "x"])).as_deref(),
            Some("generic")
        );
        assert_eq!(
            driver_name(&s(&["--driver=vsphere", "x"])).as_deref(),
            Some("vsphere")
        );
        assert_eq!(
            driver_name(&s(&["x", "--driver", "a"])).as_deref(),
            Some("a")
        );
        assert_eq!(driver_name(&s(&["-dgeneric"])).as_deref(), Some("generic"));
    }

    #[test]
    fn driver_flags_are_typed_and_read_from_env() {
        let info = DriverInfo::new("t", "1", Default::default()).with_options(vec![
            OptionSpec::string("t-ip", "ip").env("MACHINE_TEST_T_IP"),
            OptionSpec::int("t-port", "port").default(22),
            OptionSpec::list("t-net", "net"),
            OptionSpec::bool("t-insecure", "insecure"),
            OptionSpec::string("t-iso", "iso").alias("t-iso-url"),
        ]);
        std::env::set_var("MACHINE_TEST_T_IP", "192.0.2.9");
        let m = command(Some(&info), &[])
            .try_get_matches_from(s(&[
                "machine create",
                "-d",
                "t",
                "--t-port",
                "2222",
                "--t-net",
                "a",
                "--t-net",
                "b",
                "--t-insecure",
                "--t-iso-url",
                "file:///x.iso",
                "--engine-label",
                "env=prod",
                "n1",
            ]))
            .unwrap();
        let o = driver_options(&info, &m);
        assert_eq!(o["t-ip"], "192.0.2.9");
        assert_eq!(o["t-port"], 2222);
        assert_eq!(o["t-net"], serde_json::json!(["a", "b"]));
        assert_eq!(o["t-insecure"], true);
        assert_eq!(o["t-iso"], "file:///x.iso");
        assert_eq!(engine_options(&m).labels, vec!["env=prod"]);
        assert!(command(Some(&info), &[])
            .try_get_matches_from(s(&["machine create", "--t-port", "many", "n"]))
            .is_err());
    }

    #[test]
    fn the_engine_transport_is_tls_or_ssh() {
        use machine_core::engine::Transport;
        let parse = |args: &[&str]| command(None, &[]).try_get_matches_from(s(args));
        let m = parse(&["machine create", "--engine-transport", "ssh", "n"]).unwrap();
        assert_eq!(engine_options(&m).transport, Transport::Ssh);
        let m = parse(&["machine create", "--engine-transport", "tls", "n"]).unwrap();
        assert_eq!(engine_options(&m).transport, Transport::Tls);
        let m = parse(&["machine create", "n"]).unwrap();
        assert_eq!(engine_options(&m).transport, Transport::Tls);
        let err = parse(&["machine create", "--engine-transport", "http", "n"])
            .unwrap_err()
            .to_string();
        assert!(err.contains("tls") && err.contains("ssh"), "{err}");
    }

    #[test]
    fn lists_from_the_environment_split_on_commas_and_booleans_take_1_and_0() {
        let info = DriverInfo::new("t", "1", Default::default()).with_options(vec![
            OptionSpec::list("e-net", "net").env("MACHINE_TEST_E_NET"),
            OptionSpec::bool("e-on", "on").env("MACHINE_TEST_E_ON"),
            OptionSpec::bool("e-off", "off").env("MACHINE_TEST_E_OFF"),
            OptionSpec::bool("e-bad", "bad").env("MACHINE_TEST_E_BAD"),
        ]);
        std::env::set_var("MACHINE_TEST_E_NET", "VM Network, second");
        std::env::set_var("MACHINE_TEST_E_ON", "1");
        std::env::set_var("MACHINE_TEST_E_OFF", "0");
        let m = command(Some(&info), &[])
            .try_get_matches_from(s(&["machine create", "-d", "t", "n"]))
            .unwrap();
        let o = driver_options(&info, &m);
        assert_eq!(o["e-net"], serde_json::json!(["VM Network", "second"]));
        assert_eq!(o["e-on"], true);
        assert_eq!(o["e-off"], false);
        // on the command line a value is never split
        let m = command(Some(&info), &[])
            .try_get_matches_from(s(&["machine create", "--e-net", "a,b", "n"]))
            .unwrap();
        assert_eq!(
            driver_options(&info, &m)["e-net"],
            serde_json::json!(["a,b"])
        );
        // a word that is not a boolean is refused, not taken as true
        std::env::set_var("MACHINE_TEST_E_BAD", "maybe");
        assert!(command(Some(&info), &[])
            .try_get_matches_from(s(&["machine create", "n"]))
            .is_err());
    }
}
