//! `machine-core`: create Docker hosts through drivers, provision Docker on them over SSH with
//! mutual TLS, and manage them from one workstation — the library behind the `machine` CLI.
//!
//! A [`machine::Manager`] holds a [`Store`] and the running drivers; a [`machine::Machine`] is
//! one machine's handle:
//!
//! ```no_run
//! use machine_core::machine::{CreateOptions, Manager};
//! use machine_core::{Events, Store};
//!
//! # async fn demo() -> Result<(), machine_core::Error> {
//! let store = Store::open(Store::default_path())?;
//! let manager = Manager::new(store, Events::new(|e| println!("({}) {}", e.machine, e.message)));
//! let mut opts = CreateOptions::new("generic");
//! opts.driver_options.insert("generic-ip-address".into(), "192.0.2.10".into());
//! opts.driver_options.insert("generic-ssh-user".into(), "nick".into());
//! opts.engine.version = Some("20.10.24".into()); // any install method can pin a version
//! let mut machine = manager.create("web1", opts).await?;
//! println!("{} runs Docker {}", machine.url().await?, machine.docker_version().await?.version);
//! let out = machine.exec("uptime").await?; // over SSH, the recorded host key checked
//! print!("{}", out.stdout);
//! machine.restart().await?; // returns once Docker answers again over TLS
//! machine.remove(false).await?;
//! # Ok(()) }
//! ```
//!
//! Drivers are separate executables spoken to with [`driver_protocol`]; see [`driver_host`].
//! What this crate is not: a CLI (that is `examples/machine`) or a driver.

pub mod cert;
pub mod config;
pub mod daemon;
pub mod driver_host;
pub mod engine;
pub mod error;
pub mod events;
pub mod machine;
pub mod provision;
pub mod ssh;
pub mod sshkey;
pub mod store;

pub use error::{Error, Result};
pub use events::{Event, Events};
pub use store::Store;
