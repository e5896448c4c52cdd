//! `machine`: Docker Machine's command line on top of `machine-core`.
//!
//! Commands and flags follow Docker Machine's (`create -d generic --generic-ip-address ...`,
//! `ls`, `env`, `ssh`, ...), so its users' scripts and habits carry over. Drivers are separate
//! executables (`machine-driver-NAME`) found next to this program or on PATH; `create` reads
//! the chosen driver's flags from the driver itself.

mod cancel;
mod commands;
mod completion;
mod create;
mod docker_flags;
mod hints;
mod host_key;
mod import;
mod ls;
mod progress;
mod remote;
mod shell_env;
mod ssh_transport;
mod store_cmd;
mod swarm;
mod template;
mod terminal;
mod use_context;

use clap::builder::BoolishValueParser;
use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};
use completion::machine_names;
use machine_core::docker_context::DockerConfigDir;
use machine_core::{Manager, StoreCerts};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "machine",
    version,
    disable_version_flag = true,
    about = "Create Docker hosts, install Docker on them, and manage them from here",
    after_help = "Run `machine create -d DRIVER --help` for a driver's flags."
)]
pub struct Cli {
    /// Where machines are stored: a folder, or etcd://HOST:PORT[,HOST:PORT...]/PREFIX
    /// [default: $XDG_DATA_HOME/machine or ~/.local/share/machine]
    #[arg(short = 's', long, env = "MACHINE_STORAGE_PATH", global = true)]
    storage_path: Option<String>,
    /// Print debug logs (never secrets) to stderr
    #[arg(short = 'D', long, env = "MACHINE_DEBUG", global = true, value_parser = BoolishValueParser::new())]
    debug: bool,
    /// Accepted for Docker Machine compatibility: the built-in SSH client is always used for
    /// commands, the system `ssh` for interactive sessions
    #[arg(long, env = "MACHINE_NATIVE_SSH", global = true, hide = true, value_parser = BoolishValueParser::new())]
    native_ssh: bool,
    /// CA certificate for the store (with --tls-ca-key, --tls-client-cert, --tls-client-key:
    /// the store uses this CA and client certificate instead of making its own)
    #[arg(long, env = "MACHINE_TLS_CA_CERT", global = true, value_name = "FILE")]
    tls_ca_cert: Option<PathBuf>,
    /// Private key of the CA given with --tls-ca-cert
    #[arg(long, env = "MACHINE_TLS_CA_KEY", global = true, value_name = "FILE")]
    tls_ca_key: Option<PathBuf>,
    /// Client certificate signed by that CA
    #[arg(
        long,
        env = "MACHINE_TLS_CLIENT_CERT",
        global = true,
        value_name = "FILE"
    )]
    tls_client_cert: Option<PathBuf>,
    /// Private key of the client certificate
    #[arg(
        long,
        env = "MACHINE_TLS_CLIENT_KEY",
        global = true,
        value_name = "FILE"
    )]
    tls_client_key: Option<PathBuf>,
    /// Docker Machine's crash-report token (GitLab Runner passes it): accepted, ignored;
    /// nothing is ever reported anywhere
    #[arg(long, global = true, hide = true, value_name = "TOKEN")]
    bugsnag_api_token: Option<String>,
    /// Print the version
    #[arg(short = 'v', long, action = clap::ArgAction::Version)]
    version: Option<bool>,
    #[command(subcommand)]
    command: Cmd,
}

impl Cli {
    /// The store's CA and client certificate the user gave, if any: all four files or none.
    fn given_certs(&self) -> Result<Option<StoreCerts>, String> {
        let files = [
            ("--tls-ca-cert", &self.tls_ca_cert),
            ("--tls-ca-key", &self.tls_ca_key),
            ("--tls-client-cert", &self.tls_client_cert),
            ("--tls-client-key", &self.tls_client_key),
        ];
        if files.iter().all(|(_, f)| f.is_none()) {
            return Ok(None);
        }
        let mut texts = Vec::new();
        for (flag, file) in files {
            let file = file.as_ref().ok_or_else(|| {
                format!("{flag} is missing: give all four --tls-* files, or none")
            })?;
            texts.push(
                std::fs::read_to_string(file)
                    .map_err(|e| format!("cannot read {flag} {}: {e}", file.display()))?,
            );
        }
        Ok(Some(StoreCerts::from_pems(
            texts.try_into().expect("four files"),
        )))
    }
}

#[derive(Subcommand)]
enum Cmd {
    /// Print which machine is active (the one DOCKER_HOST points at)
    Active {
        /// Seconds to wait for each machine's state
        #[arg(short = 't', long, default_value_t = 10)]
        timeout: u64,
    },
    /// Print the connection flags for the docker client (--tlsverify ... -H=...), for
    /// `docker $(machine config NAME) CMD`
    Config {
        #[arg(default_value = "default", add = machine_names())]
        name: String,
        /// Docker Machine's classic-Swarm flag: refused
        #[arg(long, hide = true)]
        swarm: bool,
    },
    /// Create a machine: `machine create -d DRIVER [flags] NAME`
    #[command(disable_help_flag = true)]
    Create {
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// Print the commands that point the docker client at a machine
    Env(shell_env::EnvArgs),
    /// Trust a machine's new SSH host key after seeing its fingerprint: `machine host-key accept NAME`
    #[command(subcommand)]
    HostKey(host_key::HostKeyCmd),
    /// Print a machine's details as JSON
    Inspect {
        #[arg(default_value = "default", add = machine_names())]
        name: String,
        /// Go-template format, e.g. '{{.Driver.IPAddress}}' or '{{json .HostOptions}}'; 'json'
        /// prints the whole JSON (the default)
        #[arg(short = 'f', long)]
        format: Option<String>,
    },
    /// Bring machines of a Docker Machine store under management (it is only read)
    Import(import::ImportArgs),
    /// Print machines' IP addresses
    Ip {
        #[arg(default_value = "default", add = machine_names())]
        names: Vec<String>,
    },
    /// Power machines off at once
    Kill {
        #[arg(add = machine_names())]
        names: Vec<String>,
    },
    /// List machines
    Ls(ls::LsArgs),
    /// Mount a machine folder here with sshfs: `machine mount NAME:/path /local/dir`
    Mount {
        /// Unmount
        #[arg(short = 'u', long)]
        unmount: bool,
        source: String,
        target: PathBuf,
    },
    /// Provision Docker on machines again
    Provision {
        /// Move the machines to this engine transport and provision them for it: tls (TCP
        /// port 2376, mutual TLS) or ssh (the daemon's socket over SSH: the port closed, the
        /// certificates gone from the host)
        #[arg(long, value_name = "TRANSPORT", value_parser = ["tls", "ssh"])]
        engine_transport: Option<String>,
        #[arg(add = machine_names())]
        names: Vec<String>,
    },
    /// Issue new TLS certificates for machines and restart their Docker
    RegenerateCerts {
        /// Do not ask for confirmation
        #[arg(short = 'f', long)]
        force: bool,
        /// Refused: a new CA for some machines cuts off the others (use `rotate-ca`)
        #[arg(long)]
        client_certs: bool,
        #[arg(add = machine_names())]
        names: Vec<String>,
    },
    /// Replace the store's CA and move every machine to it; machines that cannot be reached
    /// keep working under the old CA and are listed
    RotateCa {
        /// Do not ask for confirmation
        #[arg(short = 'f', long)]
        force: bool,
    },
    /// Restart machines
    Restart {
        #[arg(add = machine_names())]
        names: Vec<String>,
    },
    /// Remove machines (and what their drivers made)
    Rm {
        /// Remove the local machine even if the driver fails to remove the host (implies -y)
        #[arg(short = 'f', long)]
        force: bool,
        /// Do not ask for confirmation
        #[arg(short = 'y')]
        yes: bool,
        /// On a host that outlives its machine (generic), leave the Docker daemon's TCP port,
        /// its TLS files and the machine's SSH key in place, as Docker Machine did
        #[arg(long)]
        keep_on_host: bool,
        #[arg(required = true, add = machine_names())]
        names: Vec<String>,
    },
    /// Copy files to, from or between machines: `machine scp [-r] [-d] SRC DEST` (NAME:path)
    Scp(remote::ScpArgs),
    /// Log into a machine, or run a command on it (stdin passed, output as it comes)
    Ssh {
        /// Give the command a terminal (the system ssh's -t), for interactive commands
        #[arg(short = 't')]
        tty: bool,
        #[arg(add = machine_names())]
        name: String,
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        command: Vec<String>,
    },
    /// Start machines
    Start {
        #[arg(add = machine_names())]
        names: Vec<String>,
    },
    /// Print a machine's state
    Status {
        #[arg(default_value = "default", add = machine_names())]
        name: String,
        /// 'json' for {"Name": ..., "State": ...}, or a Go template over those fields
        #[arg(short = 'f', long)]
        format: Option<String>,
    },
    /// Stop machines
    Stop {
        #[arg(add = machine_names())]
        names: Vec<String>,
    },
    /// Work on a whole store: `machine store migrate FROM TO`
    #[command(subcommand)]
    Store(store_cmd::StoreCmd),
    /// Swarm mode across machines: init, join, leave
    #[command(subcommand)]
    Swarm(swarm::SwarmCmd),
    /// Upgrade Docker on machines (with the install method they were created with)
    Upgrade {
        /// Install this Docker version instead (kept for later upgrades)
        #[arg(long, env = "MACHINE_DOCKER_VERSION")]
        engine_version: Option<String>,
        #[arg(add = machine_names())]
        names: Vec<String>,
    },
    /// Print the line that lets your ssh config reach this store's machines as
    /// machine-NAME (what docker contexts of SSH-transport machines need); --add puts it at
    /// the top of ~/.ssh/config
    SshConfig {
        /// Add the line at the top of your ~/.ssh/config (nothing else in it changes)
        #[arg(long)]
        add: bool,
    },
    /// Print a machine's Docker URL
    Url {
        #[arg(default_value = "default", add = machine_names())]
        name: String,
    },
    /// Print this program's version, or a machine's Docker version
    Version {
        #[arg(add = machine_names())]
        name: Option<String>,
    },
    /// Make the docker client use a machine (its docker context) until told otherwise
    Use {
        #[arg(add = machine_names())]
        name: Option<String>,
        /// Go back to the docker client's default context
        #[arg(short = 'u', long)]
        unset: bool,
    },
    /// Print the shell completion script (bash, zsh, fish): `source <(machine completion bash)`
    Completion { shell: completion::Shell },
    /// Write the man pages (machine.1, machine-create.1, ...) into a folder
    Manpages { dir: PathBuf },
}

/// What every command gets: the library's manager, and the progress display.
pub struct App {
    /// The library's manager; it keeps the machines' docker contexts in `docker` in line.
    pub manager: Manager,
    pub display: progress::Display,
    /// The docker client's configuration folder, where machines' docker contexts go.
    pub docker: DockerConfigDir,
}

impl App {
    /// A token that Ctrl-C or SIGTERM cancels.
    pub fn cancel_on_signals(&self) -> machine_core::CancellationToken {
        cancel::on_signals(self.display.clone())
    }
}

fn init_logging(debug: bool) {
    let filter = if debug { "debug" } else { "warn" };
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("MACHINE_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(filter)),
        )
        .with_writer(std::io::stderr)
        .with_target(false)
        .init();
}

/// The name this program was run as: `docker-machine` through the link the install script
/// makes for tools that run Docker Machine's binary, else `machine`.
pub fn program_name() -> &'static str {
    let argv0 = std::env::args_os().next().unwrap_or_default();
    match std::path::Path::new(&argv0).file_name() {
        Some(n) if n == "docker-machine" => "docker-machine",
        _ => "machine",
    }
}

/// The command line's definition, named as the program was run.
pub fn command() -> clap::Command {
    Cli::command().name(program_name()).bin_name(program_name())
}

fn main() -> ExitCode {
    completion::answer_shell();
    quiet_on_closed_stdout();
    let cli = match Cli::from_arg_matches(&command().get_matches()) {
        Ok(cli) => cli,
        Err(e) => e.format(&mut command()).exit(),
    };
    init_logging(cli.debug);
    let runtime = tokio::runtime::Runtime::new().expect("a tokio runtime");
    match runtime.block_on(run(cli)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("{}", hints::render(&*e));
            hints::exit_code(&*e)
        }
    }
}

/// `machine ls | head -1`: when the reader of stdout goes away, exit quietly (as a program
/// killed by SIGPIPE does, status 141) instead of panicking with a backtrace.
fn quiet_on_closed_stdout() {
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let message = info
            .payload()
            .downcast_ref::<String>()
            .map(String::as_str)
            .unwrap_or_default();
        if message.starts_with("failed printing to stdout") && message.contains("Broken pipe") {
            std::process::exit(141);
        }
        default_hook(info)
    }));
}

async fn run(cli: Cli) -> Result<ExitCode, Box<dyn std::error::Error>> {
    // what describes the program itself needs no store
    match &cli.command {
        Cmd::Completion { shell } => return completion::print(*shell),
        Cmd::Manpages { dir } => return completion::manpages(dir),
        _ => {}
    }
    if let Cmd::Store(cmd) = cli.command {
        return store_cmd::run(cmd).await;
    }
    let storage = cli
        .storage_path
        .clone()
        .unwrap_or_else(machine_core::store::default_location);
    let store = machine_core::store::open(&storage)
        .await
        .map_err(machine_core::Error::from)?;
    let display = progress::Display::new(cli.debug);
    let docker = DockerConfigDir::from_env();
    let mut builder = Manager::builder(store)
        .events(display.events())
        .docker_contexts(docker.clone());
    // Docker Machine's plugins keep their files in the store's folder (a shared store's
    // machines: in this user's state folder); Docker Machine's own binary, when named, serves
    // its built-in drivers (amazonec2, ...)
    builder = builder.plugin_storage(match machine_core::store::Location::parse(&storage) {
        Ok(machine_core::store::Location::Folder(dir)) => dir.join("plugins"),
        _ => local_state_dir().join("plugins"),
    });
    if let Some(bin) = std::env::var_os("MACHINE_DOCKER_MACHINE_BIN").filter(|b| !b.is_empty()) {
        builder = builder.docker_machine_bin(bin);
    }
    let manager = builder.build();
    let app = App {
        manager,
        display,
        docker,
    };
    if let Some(certs) = cli.given_certs()? {
        app.manager.import_store_certs(&certs).await?;
    }
    let code = dispatch(&app, cli.command).await;
    app.display.finish();
    code
}

/// This user's own folder for what a shared store does not hold: `$XDG_STATE_HOME/machine`,
/// else `~/.local/state/machine`.
fn local_state_dir() -> std::path::PathBuf {
    match std::env::var_os("XDG_STATE_HOME").filter(|p| !p.is_empty()) {
        Some(dir) => std::path::PathBuf::from(dir).join("machine"),
        None => std::path::PathBuf::from(std::env::var_os("HOME").unwrap_or_else(|| "/".into()))
            .join(".local/state/machine"),
    }
}

async fn dispatch(app: &App, command: Cmd) -> Result<ExitCode, Box<dyn std::error::Error>> {
    use commands::*;
    use machine_core::Action;
    match command {
        Cmd::Active { timeout } => active(app, timeout).await,
        Cmd::Config { swarm: true, .. } => Err(hints::SWARM_CLASSIC.into()),
        Cmd::Config { name, .. } => docker_flags::run(app, &name).await,
        Cmd::Create { args } => create::run(app, args).await,
        Cmd::Env(args) => shell_env::run(app, args).await,
        Cmd::HostKey(cmd) => host_key::run(app, cmd).await,
        Cmd::Inspect { name, format } => inspect(app, &name, format.as_deref()).await,
        Cmd::Import(args) => import::run(app, args).await,
        Cmd::Ip { names } => ip(app, names).await,
        Cmd::Kill { names } => each(app, names, Action::Kill).await,
        Cmd::Ls(args) => ls::run(app, args).await,
        Cmd::Mount {
            unmount,
            source,
            target,
        } => remote::mount(app, unmount, &source, &target).await,
        Cmd::Provision {
            engine_transport: None,
            names,
        } => each(app, names, Action::Provision).await,
        Cmd::Provision {
            engine_transport: Some(t),
            names,
        } => ssh_transport::provision_to(app, &t, names).await,
        Cmd::SshConfig { add } => ssh_transport::ssh_config(app, add),
        Cmd::RegenerateCerts {
            force,
            client_certs,
            names,
        } => regenerate_certs(app, force, client_certs, names).await,
        Cmd::Restart { names } => each(app, names, Action::Restart).await,
        Cmd::RotateCa { force } => rotate_ca(app, force).await,
        Cmd::Rm {
            force,
            yes,
            keep_on_host,
            names,
        } => {
            let mut opts = machine_core::RemoveOptions::default();
            opts.force = force;
            opts.keep_on_host = keep_on_host;
            rm(app, opts, yes, names).await
        }
        Cmd::Scp(args) => remote::scp(app, args).await,
        Cmd::Ssh { tty, name, command } => remote::ssh(app, &name, tty, command).await,
        Cmd::Start { names } => each(app, names, Action::Start).await,
        Cmd::Status { name, format } => status(app, &name, format.as_deref()).await,
        Cmd::Stop { names } => each(app, names, Action::Stop).await,
        Cmd::Swarm(cmd) => swarm::run(app, cmd).await,
        Cmd::Upgrade {
            engine_version,
            names,
        } => {
            each(
                app,
                names,
                Action::Upgrade {
                    version: engine_version,
                },
            )
            .await
        }
        Cmd::Url { name } => url(app, &name).await,
        Cmd::Version { name } => version(app, name.as_deref()).await,
        Cmd::Use { name, unset } => use_context::run(app, name.as_deref(), unset).await,
        Cmd::Completion { .. } | Cmd::Manpages { .. } | Cmd::Store(_) => {
            unreachable!("answered by run")
        }
    }
}
