//! The SSH transport's commands: `provision --engine-transport tls|ssh` (moving machines from
//! one transport to the other) and `ssh-config [--add]` (the `Include` line that lets the
//! user's own ssh, and so docker contexts of SSH-transport machines, reach `machine-NAME`).

use crate::App;
use machine_core::engine::Transport;
use machine_core::ssh_client;
use std::process::ExitCode;

type CmdResult = Result<ExitCode, Box<dyn std::error::Error>>;

/// `provision --engine-transport T NAME...`: each machine moved to `T` and provisioned for it,
/// one after the other; fails if any failed.
pub async fn provision_to(app: &App, transport: &str, names: Vec<String>) -> CmdResult {
    let transport: Transport = transport.parse()?;
    let cancel = app.cancel_on_signals();
    let mut failed = false;
    for name in crate::commands::names_or_default(names) {
        println!("Provisioning \"{name}\" for the {transport} engine transport...");
        let moved = async {
            let mut m = app.manager.load(&name).await?;
            m.move_to(transport, &cancel).await
        }
        .await;
        match moved {
            Ok(()) => {
                println!("Machine \"{name}\" was provisioned (engine transport {transport}).")
            }
            Err(e) => {
                eprintln!(
                    "{}",
                    crate::hints::render(&e).replacen("Error: ", &format!("Error: {name}: "), 1)
                );
                failed = true;
            }
        }
        if cancel.is_cancelled() {
            break;
        }
    }
    Ok(if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

/// `ssh-config`: prints the Include line (stdout) and what it is for (stderr); with `add`, puts
/// it at the top of the user's ssh config.
pub fn ssh_config(app: &App, add: bool) -> CmdResult {
    let root = app.manager.store().export_root();
    if add {
        let done = ssh_client::add_include(&root)?;
        println!("{}", done.line);
        if done.added {
            eprintln!(
                "Added the line above at the top of {}.",
                done.config.display()
            );
        } else {
            eprintln!(
                "{} already holds the line above; nothing changed.",
                done.config.display()
            );
        }
    } else {
        println!("{}", ssh_client::include_line(&root)?);
        eprintln!(
            "# With this line at the top of ~/.ssh/config (`machine ssh-config --add` puts it \
             there), `ssh machine-NAME` and the docker context of a machine of the ssh engine \
             transport reach it with its own key and recorded host key only."
        );
    }
    Ok(ExitCode::SUCCESS)
}
