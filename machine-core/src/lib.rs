//! `machine-core`: create Docker hosts through drivers, provision Docker on them over SSH with
//! mutual TLS, and manage them — one machine or a fleet — from a program.
//!
//! A [`Manager`] holds a [`Store`] (where machine records live), the drivers, and where progress
//! [`Event`]s go; it is made once per program with [`Manager::builder`]. A [`Machine`] is one
//! machine's handle. Every long operation takes a [`CancellationToken`]: cancelling returns
//! once what was made is undone.
//!
//! ```no_run
//! use machine_core::{CancellationToken, CreateOptions, Events, ListOptions, Manager, RemoveOptions};
//!
//! # async fn demo() -> Result<(), machine_core::Error> {
//! // a folder, or etcd://HOST:PORT/PREFIX
//! let store = machine_core::store::open(&machine_core::store::default_location()).await?;
//! let manager = Manager::builder(store)
//!     .events(Events::new(|e| eprintln!("({}) {}", e.machine, e.message)))
//!     .build();
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
//! machine.remove(RemoveOptions::default(), &cancel).await?;
//! # Ok(()) }
//! ```
//!
//! Drivers are separate executables spoken to with [`driver_protocol`], or implemented in the
//! program itself and given to [`ManagerBuilder::driver`]. What this crate is not: a CLI (that
//! is `examples/machine`) or a driver.

#![deny(missing_docs)]

mod authorized_keys;
mod cert;
mod certificates;
pub mod config;
mod daemon;
pub mod docker_context;
mod docker_url;
mod download;
mod driver_host;
pub mod engine;
pub mod error;
pub mod events;
pub mod fleet;
pub mod import;
pub mod machine;
mod manager;
pub mod name;
mod provision;
mod shell;
mod ssh;
pub mod ssh_client;
mod sshkey;
pub mod store;
pub mod swarm;

pub use cert::{CertError, CertProblem, Pem};
pub use config::{MachineConfig, Phase};
pub use daemon::{DaemonError, DaemonVersion};
pub use docker_url::{DockerUrl, DockerUrlError};
pub use download::{DownloadError, DownloadRefusal};
pub use driver_host::DOCKER_MACHINE_BUILTINS;
pub use driver_protocol::calls::{Access, State};
pub use driver_protocol::{
    CancellationToken, Capabilities, Driver, DriverInfo, ErrorKind, OptionSpec, Options,
};
pub use error::{Error, Kind, MissingPart, Result};
pub use events::{Event, Events, Level, Step};
pub use fleet::{Action, Filter, FilterError, ListOptions, MachineRow, RowError};
pub use import::{ImportError, ImportOptions, ImportResult, Imported};
pub use machine::{
    CopyOptions, CopyPath, CreateHandle, CreateOptions, DockerEnv, HostKeyScan, Machine,
    RemoveOptions, SshCommandOptions, ToolError,
};
pub use manager::{Manager, ManagerBuilder, Timeouts};
pub use provision::ProvisionError;
/// Quotes a word for a POSIX shell, as every command the library sends to a host is quoted
/// (for programs that print commands for a user to paste).
pub use shell::quote as shell_quote;
pub use ssh::{Output as CommandOutput, SshError};
pub use sshkey::SshKeyError;
pub use store::{Blob, FileStore, MemoryStore, Store, StoreCerts, StoreError};
pub use swarm::{LeaveOptions, SwarmRole};

/// What this crate's own integration tests (`machine-core/tests`, the CLI's tests) reach that
/// is not the library's API: the SSH client, certificates, the daemon client and the
/// provisioner, tested there against real hosts and servers. Not for programs: it changes
/// without notice.
#[cfg(feature = "testing")]
#[doc(hidden)]
pub mod testing {
    /// The driver host, spoken to directly.
    pub mod driver_host {
        pub use crate::driver_host::{default_search_path, DriverHost, STDERR_LINE_MAX};
    }
    /// Making certificates.
    pub mod cert {
        pub use crate::cert::{
            new_ca, new_client, new_client_valid_for, new_server, new_server_valid_for,
        };
    }
    /// The Docker daemon's client.
    pub mod daemon {
        pub use crate::daemon::{Daemons, Route, SshVia};
    }
    /// The provisioner.
    pub mod provision {
        pub use crate::provision::{
            provision, unprovision, upgrade, DaemonSetup, ProvisionReport, ProvisionRequest,
            Unprovision,
        };
    }
    /// The SSH client.
    pub mod ssh {
        pub use crate::ssh::{
            fingerprint, known_hosts_line, scan_host_key, HostKeyCheck, Session, SshTarget,
        };
    }
    /// SSH keys.
    pub mod sshkey {
        pub use crate::sshkey::{generate, load_private};
    }
}
