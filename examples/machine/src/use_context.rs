//! Docker contexts from the command line: `create` makes one named after the machine (unless
//! `--no-docker-context`), `start`, `restart`, `provision` and `regenerate-certs` bring it up to
//! date, `rm` removes it, and `machine use NAME` makes it the docker client's current context.
//! The work is the library's (`machine_core::docker_context`); this says what happened.

use crate::App;
use machine_core::docker_context;
use machine_core::{Error, Machine, MachineConfig};
use std::process::ExitCode;

/// After a create: the machine's context, or a warning saying why there is none. A create
/// never fails for want of a context.
pub async fn after_create(app: &App, machine: &Machine) {
    let name = machine.name();
    match docker_context::register(machine, &app.docker).await {
        Ok(()) => println!(
            "Docker context \"{name}\" made: `docker --context {name} ...` reaches this machine, `machine use {name}` makes it the default."
        ),
        Err(e) => warn(name, "made", &e),
    }
}

/// After an operation that may have changed the machine's address or certificates: its own
/// context, if it has one, is brought up to date.
pub async fn refresh(app: &App, name: &str) {
    match app.manager.load(name).await {
        Ok(m) => keep_current(app, &m).await,
        Err(e) => warn(name, "updated", &e),
    }
}

/// The machine's own context, if it has one here, brought in line with the store (a no-op when
/// it already is): another workstation sharing the store may have rotated its certificates.
/// A stale context is a warning, never a failed command.
pub async fn keep_current(app: &App, machine: &Machine) {
    if let Err(e) = docker_context::update(machine, &app.docker).await {
        warn(machine.name(), "updated", &e);
    }
}

/// After `rm`: the machine's own context goes (another context of that name stays).
pub fn after_remove(app: &App, config: &MachineConfig) {
    if let Err(e) = docker_context::remove(config, &app.docker) {
        warn(&config.name, "removed", &Error::from(e));
    }
}

fn warn(name: &str, what: &str, e: &Error) {
    let advice = crate::hints::hint(e)
        .map(|h| format!(" ({h})"))
        .unwrap_or_default();
    eprintln!("Warning: docker context \"{name}\" not {what}: {e}{advice}");
}

/// `machine use NAME`: make (or bring up to date) the machine's context and make it the docker
/// client's current one; `machine use -u`: back to the docker client's default.
pub async fn run(
    app: &App,
    name: Option<&str>,
    unset: bool,
) -> Result<ExitCode, Box<dyn std::error::Error>> {
    match (name, unset) {
        (Some(_), true) => Err("give a machine name or -u/--unset, not both".into()),
        (None, false) => Err(
            "no machine name given: `machine use NAME`, or `machine use -u` for the docker client's default".into(),
        ),
        (None, true) => {
            app.docker.use_context(None).map_err(Error::from)?;
            println!("The docker client uses its default context again.");
            overridden();
            Ok(ExitCode::SUCCESS)
        }
        (Some(name), false) => {
            let machine = app.manager.load(name).await?;
            docker_context::register(&machine, &app.docker).await?;
            app.docker.use_context(Some(name)).map_err(Error::from)?;
            println!("The docker client now uses machine \"{name}\" (docker context \"{name}\").");
            overridden();
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// The docker client prefers DOCKER_HOST and DOCKER_CONTEXT to its current context: say so when
/// they are set.
fn overridden() {
    for var in ["DOCKER_HOST", "DOCKER_CONTEXT"] {
        if std::env::var_os(var).is_some_and(|v| !v.is_empty()) {
            eprintln!(
                "Note: {var} is set in this shell and takes precedence over the current context (`eval \"$(machine env -u)\"` unsets it)."
            );
        }
    }
}
