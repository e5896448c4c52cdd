//! The library in a few lines: open the store, and for every machine print its state and the
//! Docker version its daemon reports over mutual TLS.
//!
//! `cargo run -p list-machines -- [STORE]` (default: machine's default store).

use machine_core::machine::Manager;
use machine_core::{Events, Store};

#[tokio::main]
async fn main() -> Result<(), machine_core::Error> {
    let path = std::env::args()
        .nth(1)
        .map(Into::into)
        .unwrap_or_else(Store::default_path);
    let manager = Manager::new(Store::open(path)?, Events::none());
    for name in manager.names()? {
        let machine = match manager.load(&name) {
            Ok(m) => m,
            Err(e) => {
                println!("{name}: {e}");
                continue;
            }
        };
        let state = machine.state().await?;
        let docker = match machine.docker_version().await {
            Ok(v) => v.version,
            Err(e) => format!("unknown ({e})"),
        };
        println!("{name}: {state}, Docker {docker}");
    }
    Ok(())
}
