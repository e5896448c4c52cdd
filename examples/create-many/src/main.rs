//! The library as an autoscaler uses it: many machines created at once through one `Manager`,
//! each a task of its own, all cancelled together by Ctrl-C (every create then removes what it
//! made). No create waits on another: each takes only its own machine's lock.
//!
//! `cargo run -p create-many -- [--packages] STORE SSH_USER SSH_KEY NAME=IP...` creates one
//! machine per `NAME=IP` with the generic driver (Docker from get.docker.com, or with
//! `--packages` the distribution's packages), then prints each machine's time and URL or error,
//! and the wall time. Exit status 1 when any create failed.

use machine_core::engine::InstallMethod;
use machine_core::{CancellationToken, CreateOptions, Manager};
use std::process::ExitCode;
use std::time::Instant;

const USAGE: &str = "usage: create-many [--packages] STORE SSH_USER SSH_KEY NAME=IP...";

#[tokio::main]
async fn main() -> Result<ExitCode, Box<dyn std::error::Error>> {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let packages = args.first().is_some_and(|a| a == "--packages");
    if packages {
        args.remove(0);
    }
    let [store, user, key, hosts @ ..] = args.as_slice() else {
        return Err(USAGE.into());
    };
    if hosts.is_empty() {
        return Err(USAGE.into());
    }
    let manager = Manager::builder(machine_core::store::open(store).await?).build();
    let cancel = CancellationToken::new();
    let on_ctrl_c = cancel.clone();
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            on_ctrl_c.cancel();
        }
    });

    let start = Instant::now();
    let mut tasks = Vec::new();
    for host in hosts {
        let (name, ip) = host
            .split_once('=')
            .ok_or_else(|| format!("{host:?} is not NAME=IP\n{USAGE}"))?;
        let mut opts = CreateOptions::new("generic");
        opts.driver_options.insert("generic-ip-address", ip);
        opts.driver_options
            .insert("generic-ssh-user", user.as_str());
        opts.driver_options.insert("generic-ssh-key", key.as_str());
        if packages {
            opts.engine.install_method = InstallMethod::Packages;
        }
        let (manager, cancel, name) = (manager.clone(), cancel.clone(), name.to_string());
        tasks.push(tokio::spawn(async move {
            let t = Instant::now();
            let result = match manager.create(&name, opts, &cancel).await {
                Ok(m) => m.url().await,
                Err(e) => Err(e),
            };
            (name, t.elapsed(), result)
        }));
    }
    let mut failed = 0;
    for task in tasks {
        let (name, took, result) = task.await?;
        match result {
            Ok(url) => println!("{name:<20} {:>6.2} s  {url}", took.as_secs_f64()),
            Err(e) => {
                failed += 1;
                println!("{name:<20} {:>6.2} s  failed: {e}", took.as_secs_f64());
            }
        }
    }
    println!(
        "{} of {} created in {:.2} s",
        hosts.len() - failed,
        hosts.len(),
        start.elapsed().as_secs_f64()
    );
    Ok(if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
