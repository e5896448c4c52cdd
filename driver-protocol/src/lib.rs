//! The protocol between `machine-core` and its drivers, and an SDK that makes writing a driver easy.
//!
//! A driver is a separate executable, `machine-driver-NAME`, that the host launches and talks to
//! with JSON-RPC 2.0 over the driver's stdin and stdout, one JSON message per line. Its stderr is
//! its log. Any language that can print a line of JSON can be a driver; this crate is what a Rust
//! driver uses.
//!
//! The conversation:
//! 1. The host calls [`request::Initialize`]; the driver answers with its name, version, protocol
//!    version, [`schema::Capabilities`] and its option schema ([`schema::OptionSpec`]). If the
//!    driver declared environment variables that are set, the host sends their values
//!    ([`notification::Environment`]).
//! 2. The host calls the lifecycle methods in [`request`], one type per call naming its method,
//!    params and result ([`Client::request`]). Every call carries the machine name and the
//!    driver's own config (opaque JSON the host stores for it), so the driver keeps no state
//!    between calls and one process serves any number of machines, concurrently.
//! 3. While working, a driver sends [`notification::Progress`] that the host shows, and
//!    [`notification::Made`] as soon as something exists that must be undone if the call is
//!    cancelled or fails.
//! 4. The host may cancel a call with [`notification::Cancel`]; the driver stops, undoes what it
//!    made and answers (with [`ErrorKind::Cancelled`]).
//!
//! Errors are JSON-RPC errors whose `data` holds a machine-readable [`ErrorKind`].
//!
//! What this crate is not: it knows nothing of Docker, SSH or provisioning, and no key, password
//! or certificate of the host's crosses it. A driver that keeps an existing host says so
//! ([`Capabilities::keeps_host`]) and the host does what needs SSH there itself.
//!
//! Writing a driver takes two types — its options, declared once with
//! `#[derive(DriverOptions)]` (the schema and the parsing come from it), and what it keeps per
//! machine — a type implementing [`Driver`], and one call to [`serve`]. Everything a driver
//! needs is re-exported here (`async_trait` too): depend on this crate alone.
//! ```no_run
//! use driver_protocol::calls::{Access, SshEndpoint, State};
//! use driver_protocol::*;
//! use serde::{Deserialize, Serialize};
//!
//! #[derive(DriverOptions)]
//! struct MineOptions {
//!     /// Address of the host
//!     #[option(name = "mine-ip", env = "MINE_IP")]
//!     ip: String,
//!     /// SSH port
//!     #[option(name = "mine-ssh-port", default = 22)]
//!     port: u16, // the default is applied by the host
//! }
//!
//! #[derive(Serialize, Deserialize)]
//! struct MineConfig {
//!     ip: String,
//!     port: u16,
//! }
//!
//! struct Mine;
//! #[async_trait]
//! impl Driver for Mine {
//!     type Options = MineOptions;
//!     type Config = MineConfig;
//!     fn info(&self) -> DriverInfo {
//!         DriverInfo::new("mine", env!("CARGO_PKG_VERSION"), Capabilities::none())
//!     }
//!     async fn set_config(&self, _: &Context, o: MineOptions, _: &Setup) -> Result<MineConfig, DriverError> {
//!         Ok(MineConfig { ip: o.ip, port: o.port })
//!     }
//!     async fn state(&self, _: &Context, _: Machine<MineConfig>) -> Result<State, DriverError> {
//!         Ok(State::Running)
//!     }
//!     async fn access(&self, _: &Context, m: Machine<MineConfig>) -> Result<Access, DriverError> {
//!         let c = m.config;
//!         Ok(Access::new(&c.ip, SshEndpoint::new(&c.ip, c.port, "root"), 2376))
//!     }
//!     // every other call has a default: "not supported", or a no-op where that is right
//! }
//! # async fn run() { serve(Mine).await.unwrap(); }
//! ```

#![deny(missing_docs)]

pub mod calls;
pub mod chatter;
pub mod client;
pub mod error;
pub mod framing;
pub mod launch;
pub mod message;
pub mod notification;
pub mod options;
pub mod request;
pub mod schema;
pub mod sdk;

pub use async_trait::async_trait;
pub use client::{Client, ClientError, Notification as ClientNotification};
pub use driver_protocol_derive::DriverOptions;
pub use error::{DriverError, ErrorKind};
pub use options::{DriverOptions, Options, Secret};
pub use request::Request;
pub use schema::{Capabilities, DriverInfo, OptionSpec, OptionType};
pub use sdk::{serve, serve_io, Context, Created, Driver, DynDriver, Machine, Setup};
pub use tokio_util::sync::CancellationToken;

#[doc(hidden)]
/// What `#[derive(DriverOptions)]` expands to uses; not an API.
pub mod __private {
    pub use serde_json;
}

/// The protocol version this crate speaks. Host and driver refuse each other when they differ.
///
/// Version 3 keeps version 2's method names; what changed is what crosses: no SSH credentials
/// for drivers (the `ssh` capability is gone; `keeps_host` has the host reboot and clean up an
/// existing host itself), and declared environment
/// variables arrive in `$/environment` instead of by restarting the driver.
/// Version 2: `access` replaces `ip`, `ssh` and `url`; a creation id; `made` and `$/cancel`.
pub const PROTOCOL_VERSION: u32 = 3;

/// The environment variable the host sets when it launches a driver, with [`PLUGIN_COOKIE_VALUE`].
/// A driver started by hand, without it, explains that it is a plugin and exits.
pub const PLUGIN_COOKIE_KEY: &str = "MACHINE_DRIVER_PLUGIN";
/// The value of [`PLUGIN_COOKIE_KEY`].
pub const PLUGIN_COOKIE_VALUE: &str = "2b1f8c1e-machine-driver-v1";
