//! `machine host-key accept NAME`: the one way to trust another SSH host key for a machine
//! (its host was reinstalled, or its keys regenerated), or a first one for a machine that has
//! none recorded. Shows the recorded and the presented fingerprints, asks, then records
//! exactly the key it showed.

use crate::App;
use clap::Subcommand;
use std::process::ExitCode;

#[derive(Subcommand)]
pub enum HostKeyCmd {
    /// Show the SSH host key the machine's host presents beside the recorded one, and record
    /// it once confirmed
    Accept {
        /// Do not ask for confirmation
        #[arg(short = 'y', long)]
        yes: bool,
        #[arg(add = crate::completion::machine_names())]
        name: String,
    },
}

pub async fn run(app: &App, cmd: HostKeyCmd) -> Result<ExitCode, Box<dyn std::error::Error>> {
    let HostKeyCmd::Accept { yes, name } = cmd;
    let mut m = app.manager.load(&name).await?;
    let scan = m.scan_host_key().await?;
    let presented = scan.presented_fingerprint();
    match scan.recorded_fingerprint() {
        Some(recorded) if scan.matches() => {
            println!(
                "{name} ({}) presents its recorded SSH host key {recorded}: nothing to change",
                scan.addr
            );
            return Ok(ExitCode::SUCCESS);
        }
        Some(recorded) => println!(
            "The SSH host key of {name} ({}) has changed.\n  recorded:  {recorded}\n  \
             presented: {presented}\nAccept it only if you know why it changed (the host was \
             reinstalled, its keys regenerated): compare with `ssh-keygen -lf \
             /etc/ssh/ssh_host_ed25519_key.pub` on the host's console. Otherwise someone may \
             be intercepting the connection.",
            scan.addr
        ),
        None => println!(
            "{name} ({}) has no recorded SSH host key.\n  presented: {presented}\nCompare with \
             `ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub` on the host's console.",
            scan.addr
        ),
    }
    if !yes && !crate::commands::confirm(&format!("Record {presented} for {name}?"), "-y")? {
        println!("Nothing changed.");
        return Ok(ExitCode::FAILURE);
    }
    m.accept_host_key(&scan.presented).await?;
    println!("Recorded {presented}: {name} is reached with this key only from now on.");
    Ok(ExitCode::SUCCESS)
}
