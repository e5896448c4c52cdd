//! `machine-core`: create Docker hosts through drivers, provision Docker on them over SSH with
//! mutual TLS, and manage them from one workstation — the library behind the `machine` CLI.
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
