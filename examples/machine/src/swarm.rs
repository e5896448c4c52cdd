//! `machine swarm init|join|leave`: swarm mode across machines, through the library's
//! [`machine_core::Manager::swarm_init`] and friends.

use crate::App;
use clap::Subcommand;
use machine_core::{LeaveOptions, SwarmRole};
use std::process::ExitCode;

#[derive(Subcommand)]
pub enum SwarmCmd {
    /// Start a swarm with MANAGER as its first manager
    Init {
        /// The machine that becomes the manager
        manager: String,
    },
    /// Join machines to the swarm MANAGER manages
    Join {
        /// A manager of the swarm
        manager: String,
        /// The machines that join
        #[arg(required = true)]
        workers: Vec<String>,
        /// Join them as managers, not workers
        #[arg(long = "manager")]
        manager_role: bool,
    },
    /// Take a machine out of its swarm
    Leave {
        name: String,
        /// Also when it is the last manager (the swarm ends)
        #[arg(short = 'f', long)]
        force: bool,
    },
}

pub async fn run(app: &App, cmd: SwarmCmd) -> Result<ExitCode, Box<dyn std::error::Error>> {
    match cmd {
        SwarmCmd::Init { manager } => {
            let id = app.manager.swarm_init(&manager).await?;
            println!("Swarm initialized: \"{manager}\" is its manager (node {id}).");
            println!("Join machines to it with: machine swarm join {manager} NAME...");
        }
        SwarmCmd::Join {
            manager,
            workers,
            manager_role,
        } => {
            let mut failed = false;
            let role = if manager_role {
                SwarmRole::Manager
            } else {
                SwarmRole::Worker
            };
            for w in &workers {
                match app.manager.swarm_join(&manager, w, role).await {
                    Ok(()) => println!(
                        "\"{w}\" joined {manager}'s swarm as a {}.",
                        if manager_role { "manager" } else { "worker" }
                    ),
                    Err(e) => {
                        eprintln!(
                            "{}",
                            crate::hints::render(&e).replacen(
                                "Error: ",
                                &format!("Error: {w}: "),
                                1
                            )
                        );
                        failed = true;
                    }
                }
            }
            if failed {
                return Ok(ExitCode::FAILURE);
            }
        }
        SwarmCmd::Leave { name, force } => {
            let mut opts = LeaveOptions::default();
            opts.force = force;
            app.manager.swarm_leave(&name, &opts).await?;
            println!("\"{name}\" left its swarm.");
        }
    }
    Ok(ExitCode::SUCCESS)
}
