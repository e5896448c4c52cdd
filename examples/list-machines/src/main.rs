//! The library in a few dozen lines: open the store and show the fleet — every machine with its
//! state, URL and Docker version — through machine-core's listing, which asks the machines
//! concurrently (a dead one never stalls the others) and turns a broken record into one row.
//!
//! `cargo run -p list-machines -- [STORE] [FILTER...]`, e.g. `-- ~/.local/share/machine state=Running`
//! (default store: machine's default; filters as `machine ls --filter`).

use machine_core::{Filter, ListOptions, Manager};
use std::time::Duration;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let location = args
        .next()
        .unwrap_or_else(machine_core::store::default_location);
    let manager = Manager::builder(machine_core::store::open(&location).await?).build();

    let mut opts = ListOptions::default();
    opts.filter = Filter::parse(&args.collect::<Vec<_>>())?;
    opts.timeout = Duration::from_secs(5);
    for row in manager.list(&opts).await? {
        let state = row.state.map(|s| s.to_string()).unwrap_or_default();
        println!(
            "{:<20} {:<10} {:<8} {:<28} {:<12} {}",
            row.name,
            row.driver,
            state,
            row.url.map(|u| u.to_string()).unwrap_or_default(),
            row.docker_version.unwrap_or_default(),
            row.error.map(|e| e.to_string()).unwrap_or_default(),
        );
    }
    Ok(())
}
