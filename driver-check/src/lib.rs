//! `driver-check`: a conformance kit for driver authors (the `machine-driver-check` binary, and
//! this library, which machine-core's and the drivers' tests use).
//!
//! It starts any driver executable as the host does (`machine-core/src/driver_host.rs`), runs it
//! through the driver contract of protocol version [`driver_protocol::PROTOCOL_VERSION`] and
//! reports one [`Check`] per rule: the handshake, the option schema, nothing but protocol messages
//! on stdout, JSON-RPC errors for an unknown method and for malformed params, prompt answers
//! about a machine that was never made, and — given options that make a real machine — the
//! lifecycle (create, access, state, stop/start/restart/kill as declared, remove twice), a
//! cancelled create and two creates at once, each within its [`Bounds`]. The list of checks and
//! what each does: [`checks`].
//!
//! ```no_run
//! # async fn example() {
//! let kit = driver_check::Kit::new("target/debug/machine-driver-generic")
//!     .option("generic-ip-address", "192.0.2.10")
//!     .option("generic-ssh-user", "nick");
//! let report = driver_check::run(&kit).await;
//! print!("{report}");
//! assert!(report.passed());
//! # }
//! ```

#![deny(missing_docs)]

pub mod checks;
pub mod options;
pub mod process;
pub mod report;
pub mod rules;

pub use checks::CHECKS;
pub use report::{Check, Outcome, Report};

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

/// How long the driver may take. A call that takes longer fails its check (and `bounds`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bounds {
    /// `initialize`, from the start of the process (default 10 s).
    pub handshake: Duration,
    /// `state`, `access`, `set_config` and the protocol checks' calls (default 30 s).
    pub call: Duration,
    /// A create's answer after `$/cancel` (default 30 s).
    pub cancel: Duration,
    /// `pre_create_check`, `create`, `start`, `stop`, `restart`, `kill` and `remove`: no rule
    /// of the protocol bounds them, but the kit never waits forever (default 10 minutes).
    pub operation: Duration,
}

impl Default for Bounds {
    fn default() -> Bounds {
        Bounds {
            handshake: Duration::from_secs(10),
            call: Duration::from_secs(30),
            cancel: Duration::from_secs(30),
            operation: Duration::from_secs(600),
        }
    }
}

impl Bounds {
    /// Every bound the same (short ones make tests of broken drivers quick).
    pub fn all(d: Duration) -> Bounds {
        Bounds {
            handshake: d,
            call: d,
            cancel: d,
            operation: d,
        }
    }
}

/// What to check: a driver executable, the options that make a machine with it, and bounds.
#[derive(Debug, Clone)]
pub struct Kit {
    /// The driver executable (started directly, as the host starts `machine-driver-NAME`).
    pub executable: PathBuf,
    /// Arguments it is started with (none for a `machine-driver-NAME`; the plugin for
    /// `machine-plugin-bridge`).
    pub args: Vec<std::ffi::OsString>,
    /// Option values as `(NAME, VALUE)` text, typed as the driver's schema says once the
    /// handshake told it (a string-list option may come several times). Secret options are not
    /// taken from here: they come from their environment variables.
    pub options: Vec<(String, String)>,
    /// Environment variables looked up before the process's own: where secret options (the
    /// schema's `env`) and the variables the driver declares for `$/environment` are read.
    /// The driver itself starts with the host's minimal environment, not with these.
    pub env: BTreeMap<String, String>,
    /// Whether to make machines (the lifecycle, cancel and concurrent checks); `false` is
    /// `--no-create`.
    pub create: bool,
    /// The time limits.
    pub bounds: Bounds,
}

impl Kit {
    /// Checks `executable` with no options, creating machines if `set_config` accepts that.
    pub fn new(executable: impl Into<PathBuf>) -> Kit {
        Kit {
            executable: executable.into(),
            args: Vec::new(),
            options: Vec::new(),
            env: BTreeMap::new(),
            create: true,
            bounds: Bounds::default(),
        }
    }

    /// With option `name` set to `value` (text, typed as the schema says).
    pub fn option(mut self, name: &str, value: &str) -> Kit {
        self.options.push((name.to_string(), value.to_string()));
        self
    }

    /// With environment variable `var` set to `value` for the kit's lookups (a secret option's
    /// variable, say), whatever the process's environment holds.
    pub fn env(mut self, var: &str, value: &str) -> Kit {
        self.env.insert(var.to_string(), value.to_string());
        self
    }

    /// Makes no machine: the lifecycle checks are skipped (`--no-create`).
    pub fn no_create(mut self) -> Kit {
        self.create = false;
        self
    }

    /// With these bounds.
    pub fn bounds(mut self, bounds: Bounds) -> Kit {
        self.bounds = bounds;
        self
    }

    /// The value of `var`: [`Kit::env`] first, then the process's environment.
    pub fn lookup_env(&self, var: &str) -> Option<String> {
        self.env
            .get(var)
            .cloned()
            .or_else(|| std::env::var(var).ok())
    }
}

/// Runs the driver through every check and reports. Never panics on a broken driver and never
/// waits longer than the bounds allow; the driver (and its process group) is gone when it
/// returns.
pub async fn run(kit: &Kit) -> Report {
    checks::run(kit).await
}

/// [`run`] on a runtime of its own, for callers that have none (synchronous tests).
pub fn run_blocking(kit: &Kit) -> Report {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a tokio runtime")
        .block_on(run(kit))
}
