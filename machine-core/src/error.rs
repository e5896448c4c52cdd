//! The library's error type: every variant says what failed and, where it can, what to do.
//!
//! Each domain module has its own error type (ssh, cert, provision, ...) that converts into
//! [`Error`] with `?`.

use std::path::PathBuf;

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
    #[error("invalid file {path}: {message}")]
    InvalidFile { path: PathBuf, message: String },
    #[error("machine \"{0}\" does not exist: `machine ls` lists the machines, `machine create` adds one")]
    NotFound(String),
    #[error("machine \"{0}\" already exists: pick another name, or remove it first with `machine rm {0}`")]
    AlreadyExists(String),
    #[error("invalid machine name \"{0}\": use letters, digits, dots and dashes, starting with a letter or digit (a host name, at most 63 characters)")]
    InvalidName(String),
    #[error("{driver} driver does not support {operation}")]
    NotSupported { driver: String, operation: String },
    #[error("driver \"{driver}\" not found: no executable machine-driver-{driver} next to {exe_dir} or on PATH{hint}")]
    DriverNotFound {
        driver: String,
        exe_dir: String,
        hint: String,
    },
    #[error("{driver} driver, machine \"{machine}\", {call}: {message}")]
    Driver {
        driver: String,
        machine: String,
        call: String,
        kind: driver_protocol::ErrorKind,
        message: String,
    },
    #[error("the {driver} driver exited during {call} for machine \"{machine}\"{detail}")]
    DriverCrashed {
        driver: String,
        machine: String,
        call: String,
        detail: String,
    },
    #[error(
        "the {driver} driver did not answer {call} for machine \"{machine}\" within {seconds}s"
    )]
    DriverTimeout {
        driver: String,
        machine: String,
        call: String,
        seconds: u64,
    },
    #[error("{source}{}", kept_hint(*.kept, .machine))]
    CreateFailed {
        machine: String,
        /// Whether the machine's folder was kept because cleaning up failed too.
        kept: bool,
        source: Box<Error>,
    },
    #[error("{0}")]
    Other(String),
    // domain errors (one line per module, added by the module's author)
    #[error(transparent)]
    Provision(#[from] crate::provision::ProvisionError),
    #[error(transparent)]
    Ssh(#[from] crate::ssh::SshError),
    #[error(transparent)]
    SshKey(#[from] crate::sshkey::SshKeyError),
    #[error(transparent)]
    Cert(#[from] crate::cert::CertError),
    #[error(transparent)]
    Daemon(#[from] crate::daemon::DaemonError),
}

fn kept_hint(kept: bool, machine: &str) -> String {
    if kept {
        format!("\n(the machine was kept: `machine rm -f {machine}` removes it)")
    } else {
        String::new()
    }
}

impl Error {
    /// Wraps an I/O error with what was being done, e.g. "reading /x/config.json".
    pub fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        Error::Io {
            context: context.into(),
            source,
        }
    }
}
