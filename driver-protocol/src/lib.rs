//! The protocol between `machine-core` and its drivers, and an SDK that makes writing a driver easy.
//!
//! A driver is a separate executable, `machine-driver-NAME`, that the host launches and talks to
//! with JSON-RPC 2.0 over the driver's stdin and stdout, one JSON message per line. Its stderr is
//! its log. Any language that can print a line of JSON can be a driver; this crate is what a Rust
//! driver uses.
//!
//! The conversation:
//! 1. The host calls [`calls::INITIALIZE`]; the driver answers with its name, version, protocol
//!    version, [`schema::Capabilities`] and its option schema ([`schema::OptionSpec`]).
//! 2. The host calls the lifecycle methods in [`calls`]. Every call carries the machine name and
//!    the driver's own config (opaque JSON the host stores for it), so the driver keeps no state
//!    between calls and one process serves any number of machines, concurrently.
//! 3. While working, a driver sends [`calls::PROGRESS`] notifications that the host shows.
//!
//! Errors are JSON-RPC errors whose `data` holds a machine-readable [`ErrorKind`].
//!
//! What this crate is not: it knows nothing of Docker, SSH or provisioning. It moves typed
//! messages between a host and a driver, and nothing else.
//!
//! Writing a driver takes a type implementing [`Driver`] and one call to [`serve`]:
//! ```no_run
//! use driver_protocol::{serve, Driver, DriverInfo, Context, DriverError, calls::*, schema::*};
//! struct Mine;
//! #[async_trait::async_trait]
//! impl Driver for Mine {
//!     fn info(&self) -> DriverInfo {
//!         DriverInfo::new("mine", env!("CARGO_PKG_VERSION"), Capabilities::default(), vec![])
//!     }
//!     async fn set_config(&self, _cx: &Context, p: SetConfigParams) -> Result<ConfigResult, DriverError> {
//!         Ok(ConfigResult { config: serde_json::json!({}) })
//!     }
//!     async fn state(&self, _cx: &Context, p: MachineParams) -> Result<StateResult, DriverError> {
//!         Ok(StateResult { state: State::Running })
//!     }
//!     async fn ip(&self, _cx: &Context, p: MachineParams) -> Result<IpResult, DriverError> {
//!         Ok(IpResult { ip: "192.0.2.10".into() })
//!     }
//!     async fn ssh(&self, _cx: &Context, p: MachineParams) -> Result<SshDetails, DriverError> {
//!         Ok(SshDetails { host: "192.0.2.10".into(), port: 22, user: "root".into(), key_path: None })
//!     }
//!     // every other call has a default: "not supported", or a no-op where that is right
//! }
//! # async fn run() { serve(Mine).await.unwrap(); }
//! ```

pub mod calls;
pub mod client;
pub mod error;
pub mod framing;
pub mod message;
pub mod schema;
pub mod sdk;

pub use client::{Client, ClientError, Notification as ClientNotification};
pub use error::{DriverError, ErrorKind};
pub use schema::DriverInfo;
pub use sdk::{serve, serve_io, Context, Driver};

/// The protocol version this crate speaks. A host refuses a driver whose major version differs.
pub const PROTOCOL_VERSION: u32 = 1;

/// The environment variable the host sets when it launches a driver, with [`PLUGIN_COOKIE_VALUE`].
/// A driver started by hand, without it, explains that it is a plugin and exits.
pub const PLUGIN_COOKIE_KEY: &str = "MACHINE_DRIVER_PLUGIN";
/// The value of [`PLUGIN_COOKIE_KEY`].
pub const PLUGIN_COOKIE_VALUE: &str = "2b1f8c1e-machine-driver-v1";
