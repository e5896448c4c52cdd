//! `machine-core`: create Docker hosts through drivers, provision Docker on them over SSH with
//! mutual TLS, and manage them — one machine or a fleet — from a program.
//!
//! A [`Manager`] holds a [`Store`] (where machine records live), the drivers, and where progress
//! [`Event`]s go; a [`Machine`] is one machine's handle. Every long operation takes a
//! [`CancellationToken`]: cancelling returns once what was made is undone.
//!
//! ```no_run
//! use machine_core::{CancellationToken, CreateOptions, ListOptions, Manager, Events};
//!
//! # async fn demo() -> Result<(), machine_core::Error> {
//! // a folder, or etcd://HOST:PORT/PREFIX
//! let store = machine_core::store::open(&machine_core::store::default_location()).await?;
//! let events = Events::new(|e| eprintln!("({}) {}", e.machine, e.message));
//! let manager = Manager::new(store, events);
//!
//! let mut opts = CreateOptions::new("generic");
//! opts.driver_options.insert("generic-ip-address", "192.0.2.10");
//! opts.driver_options.insert("generic-ssh-user", "nick");
//! opts.engine.version = Some("27.3.1".into()); // any install method can pin a version
//! let cancel = CancellationToken::new(); // cancel() from elsewhere undoes the create
//! let machine = manager.create("web1", opts, &cancel).await?;
//! println!("{} runs Docker {}", machine.url().await?, machine.docker_version().await?.version);
//! print!("{}", machine.exec("uptime").await?.stdout); // the recorded host key is checked
//!
//! for row in manager.list(&ListOptions::default()).await? {
//!     println!("{} {:?} {:?}", row.name, row.state, row.docker_version);
//! }
//! machine.remove(false, false, &cancel).await?;
//! # Ok(()) }
//! ```
//!
//! Drivers are separate executables spoken to with [`driver_protocol`], or registered
//! in-process with [`DriverHost::register`]; see [`driver_host`]. What this crate is not: a CLI
//! (that is `examples/machine`) or a driver.

#![deny(missing_docs)]

pub mod authorized_keys;
pub mod cert;
mod certificates;
pub mod config;
pub mod daemon;
pub mod docker_context;
pub mod download;
pub mod driver_host;
pub mod engine;
pub mod error;
pub mod events;
pub mod fleet;
pub mod import;
pub mod machine;
mod manager;
pub mod name;
pub mod provision;
pub mod shell;
pub mod ssh;
pub mod sshkey;
pub mod store;
pub mod swarm;

pub use config::{MachineConfig, Phase};
pub use driver_host::DriverHost;
pub use driver_protocol::calls::{Access, State};
pub use driver_protocol::{
    CancellationToken, Capabilities, Driver, DriverInfo, ErrorKind, OptionSpec, Options,
};
pub use error::{Error, Result};
pub use events::{Event, Events, Level, Step};
pub use fleet::{Action, Filter, FilterError, ListOptions, MachineRow, RowError};
pub use import::{ImportError, ImportOptions, ImportResult, Imported};
pub use machine::{CreateOptions, DockerEnv, HostKeyScan, Machine};
pub use manager::{Manager, Timeouts};
pub use store::{Blob, FileStore, MemoryStore, Store, StoreCerts, StoreError};
