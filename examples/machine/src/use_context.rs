//! Docker contexts from the command line: `create` makes one named after the machine (unless
//! `--no-docker-context`), and `machine use NAME` makes it the docker client's current context.
//! Keeping it in line afterwards (another workstation's new certificates, a new address after
//! `start`, its removal with `rm`) is the library's, asked for when the manager is made
//! (`ManagerBuilder::docker_contexts`). The work is the library's; this says what happened.

use crate::App;
use machine_core::docker_context;
use machine_core::{Error, Machine};
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

fn warn(name: &str, what: &str, e: &Error) {
    let advice = crate::hints::hint(e)
        .map(|h| format!(" ({h})"))
        .unwrap_or_default();
    eprintln!(
        "Warning: docker context \"{name}\" not {what}: {}{}",
        crate::terminal::block(&e.to_string()),
        crate::terminal::line(&advice)
    );
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
