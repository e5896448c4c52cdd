//! The library's error type. Every variant carries the facts (names, paths, kinds), not advice:
//! what to do next is the caller's to word (the CLI does), by matching variants and kinds, never
//! message text. Each domain has its own error type ([`crate::SshError`], [`crate::CertError`],
//! [`crate::ProvisionError`], [`crate::StoreError`], ...) that converts into [`Error`] with `?`.

use crate::store::{Blob, StoreError};
use driver_protocol::calls::State;
use driver_protocol::ErrorKind;
use std::path::PathBuf;

/// The library's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What went wrong.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The name is not a valid machine name (see [`crate::name::validate_name`]).
    #[error("invalid machine name \"{0}\": use letters, digits, dots and dashes, starting and ending each part with a letter or digit, at most 63 characters")]
    InvalidName(String),
    /// No machine of that name.
    #[error("Docker machine \"{0}\" does not exist")]
    NotFound(String),
    /// A machine of that name exists.
    #[error("Docker machine \"{0}\" already exists")]
    AlreadyExists(String),
    /// The store failed, or holds a broken record.
    #[error(transparent)]
    Store(StoreError),
    /// The driver cannot do this operation.
    #[error("{driver} driver does not support {operation}")]
    NotSupported {
        /// The driver, as the user named it.
        driver: String,
        /// The operation (`stop`, ...).
        operation: String,
    },
    /// No executable for the driver, and no installed driver declares the name as an alias.
    #[error("driver \"{driver}\" not found: no executable machine-driver-{driver} (nor Docker Machine's docker-machine-driver-{driver}) in {}", .searched.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", "))]
    DriverNotFound {
        /// The name asked for.
        driver: String,
        /// The folders searched, in order.
        searched: Vec<PathBuf>,
        /// The drivers that are installed.
        installed: Vec<String>,
    },
    /// The driver executable could not be started.
    #[error("cannot start the driver {path}: {source}")]
    DriverStart {
        /// The executable.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The driver speaks another protocol version.
    #[error(
        "the {driver} driver speaks protocol version {}, this library speaks {host_version}: \
         install a release of the driver made for protocol version {host_version} (a Rust driver: \
         one built with this release's driver-protocol crate), or a release of machine that \
         speaks the driver's version",
        driver_version.map_or("unknown".to_string(), |v| v.to_string())
    )]
    DriverVersion {
        /// The driver.
        driver: String,
        /// Its protocol version, when it said which.
        driver_version: Option<u32>,
        /// This library's ([`driver_protocol::PROTOCOL_VERSION`]).
        host_version: u32,
    },
    /// An option the driver does not have (a misspelt name): nothing was made.
    #[error(
        "the {driver} driver has no option {option:?}; its options: {}",
        .known.join(", ")
    )]
    UnknownOption {
        /// The driver.
        driver: String,
        /// The option given.
        option: String,
        /// The driver's options.
        known: Vec<String>,
    },
    /// The driver answered a call with an error.
    #[error("{driver} driver, machine \"{machine}\", {call}: {message}")]
    Driver {
        /// The driver.
        driver: String,
        /// The machine.
        machine: String,
        /// The call.
        call: String,
        /// What kind of failure the driver reported.
        kind: ErrorKind,
        /// The driver's message.
        message: String,
    },
    /// The driver process ended during a call (it is started again for the next call).
    #[error("the {driver} driver exited during {call} for machine \"{machine}\"{}{}", .status.as_ref().map(|s| format!(" ({s})")).unwrap_or_default(), if .stderr_tail.is_empty() { String::new() } else { format!(":\n  {}", .stderr_tail.join("\n  ")) })]
    DriverCrashed {
        /// The driver.
        driver: String,
        /// The machine.
        machine: String,
        /// The call.
        call: String,
        /// How the process ended, when known.
        status: Option<String>,
        /// The last lines it logged.
        stderr_tail: Vec<String>,
    },
    /// The driver did not answer in time.
    #[error(
        "the {driver} driver did not answer {call} for machine \"{machine}\" within {seconds}s"
    )]
    DriverTimeout {
        /// The driver.
        driver: String,
        /// The machine.
        machine: String,
        /// The call.
        call: String,
        /// The time allowed.
        seconds: u64,
    },
    /// A call to the driver is over the protocol's frame limit: it was not sent (the driver
    /// would have skipped it).
    #[error(
        "the {call} call for machine \"{machine}\" is {size} bytes, over the driver protocol's \
         limit of {limit} bytes, so it was not sent to the {driver} driver: the options given, or \
         the machine's driver config, hold too much"
    )]
    DriverRequestTooLarge {
        /// The driver.
        driver: String,
        /// The machine.
        machine: String,
        /// The call.
        call: String,
        /// The call's size, in bytes.
        size: usize,
        /// The limit ([`driver_protocol::framing::MAX_FRAME`]).
        limit: usize,
    },
    /// The driver's answer does not fit the protocol, or holds a value that is not what it
    /// claims to be (an IP address that does not parse, ...).
    #[error(
        "the {driver} driver gave an invalid answer to {call} for machine \"{machine}\": {reason}"
    )]
    DriverAnswer {
        /// The driver.
        driver: String,
        /// The machine.
        machine: String,
        /// The call.
        call: String,
        /// What is wrong with it.
        reason: String,
    },
    /// `create` failed; what it made was removed, or (`kept`) removing it failed too and the
    /// machine is kept, phase `Failed`, for `rm` to finish.
    #[error("{source}")]
    CreateFailed {
        /// The machine.
        machine: String,
        /// Whether the machine was kept.
        kept: bool,
        /// Why create failed.
        source: Box<Error>,
    },
    /// The machine is not running, so its daemon cannot be reached.
    #[error("machine \"{machine}\" is not running (its state is {state})")]
    NotRunning {
        /// The machine.
        machine: String,
        /// Its state, as its driver reports it.
        state: State,
    },
    /// A swarm step was refused before anything changed.
    #[error("swarm: machine \"{machine}\": {reason}")]
    Swarm {
        /// The machine.
        machine: String,
        /// Why.
        reason: String,
    },
    /// The driver's pre-create check refused the machine's options (nothing was made).
    #[error("Error with pre-create check: {source}")]
    PreCreateCheck {
        /// The driver.
        driver: String,
        /// Why the driver refused.
        source: Box<Error>,
    },
    /// A host rebooted over SSH (`restart` of a kept host) did not come back in time.
    #[error(
        "machine \"{machine}\" did not come back within {seconds}s of its reboot (SSH at {addr})"
    )]
    RebootTimeout {
        /// The machine.
        machine: String,
        /// Where SSH was tried, `host:port`.
        addr: String,
        /// The time allowed.
        seconds: u64,
    },
    /// The operation was cancelled; `undone` says whether what it had made was removed.
    #[error("{operation} of machine \"{machine}\" was cancelled")]
    Cancelled {
        /// The machine.
        machine: String,
        /// The operation.
        operation: String,
        /// For create: whether what was made is gone (else `rm` removes it).
        undone: bool,
    },
    /// The machine's record lacks something the operation needs (a certificate, its SSH key,
    /// its host key).
    #[error("machine \"{machine}\" has no {what} in the store")]
    Missing {
        /// The machine.
        machine: String,
        /// What is missing.
        what: MissingPart,
    },
    /// The store's CA and the given client certificate do not belong together, or the store
    /// already trusts another CA.
    #[error("{0}")]
    StoreCa(StoreCaError),
    /// The machine's host presents another SSH host key than the one recorded for it.
    #[error("the SSH host key of machine \"{machine}\" ({addr}) has changed: recorded {recorded}, presented {presented}")]
    HostKeyChanged {
        /// The machine.
        machine: String,
        /// The `host:port` address.
        addr: String,
        /// SHA256 fingerprint of the recorded key.
        recorded: String,
        /// SHA256 fingerprint of the key the host presented.
        presented: String,
    },
    /// The host answers SSH but keeps refusing the machine's key.
    #[error(
        "{host}:{port} answers SSH but refused the machine's key for user {user} for {seconds}s"
    )]
    KeyRefused {
        /// The host.
        host: String,
        /// Its SSH port.
        port: u16,
        /// The user.
        user: String,
        /// How long it was tried.
        seconds: u64,
    },
    /// There is no Docker Machine store to import from.
    #[error("no Docker Machine store at {}: {reason}", .path.display())]
    NoDockerMachineStore {
        /// Where it was looked for.
        path: PathBuf,
        /// What is missing.
        reason: String,
    },
    /// A provisioning step failed.
    #[error(transparent)]
    Provision(#[from] crate::provision::ProvisionError),
    /// A download URL is refused (plain http without the permission, or not a URL).
    #[error(transparent)]
    Download(#[from] crate::download::DownloadError),
    /// SSH failed.
    #[error(transparent)]
    Ssh(#[from] crate::ssh::SshError),
    /// An SSH key could not be read or made.
    #[error(transparent)]
    SshKey(#[from] crate::sshkey::SshKeyError),
    /// A certificate could not be made or read.
    #[error(transparent)]
    Cert(#[from] crate::cert::CertError),
    /// The Docker daemon failed to answer over TLS.
    #[error(transparent)]
    Daemon(#[from] crate::daemon::DaemonError),
    /// The files the system `ssh` needs to reach an SSH-transport machine (its ssh config, the
    /// wrapper) could not be written.
    #[error("cannot write the ssh client files of machine {machine}: {source}")]
    SshClientFiles {
        /// The machine.
        machine: String,
        /// What failed.
        #[source]
        source: std::io::Error,
    },
    /// A docker context could not be written, or is not the machine's.
    #[error(transparent)]
    DockerContext(#[from] crate::docker_context::ContextError),
    /// The command line of a system tool (`ssh`, `scp`, `rsync`, `sshfs`) for a machine could
    /// not be made.
    #[error(transparent)]
    Tool(#[from] crate::machine::ToolError),
}

/// What a machine's record lacks ([`Error::Missing`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum MissingPart {
    /// The machine's own SSH private key (absent, or not a key).
    SshKey,
    /// The SSH host key recorded at create: without it the host cannot be checked, so it is
    /// not reached.
    HostKey,
    /// A file of the docker client's TLS identity: [`Blob::CaCert`], [`Blob::ClientCert`] or
    /// [`Blob::ClientKey`].
    Tls(Blob),
}

impl std::fmt::Display for MissingPart {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            MissingPart::SshKey => f.write_str("usable SSH key"),
            MissingPart::HostKey => f.write_str("recorded SSH host key"),
            MissingPart::Tls(blob) => write!(f, "usable TLS file {}", blob.name()),
        }
    }
}

/// Why store certificates given by the user were refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum StoreCaError {
    /// The client certificate is not signed by the CA given with it.
    #[error("the client certificate is not signed by the CA certificate given with it")]
    ClientNotSignedByCa,
    /// A private key does not belong to the certificate given with it.
    #[error("the {which} key does not belong to the {which} certificate given with it")]
    KeyMismatch {
        /// `CA` or `client`.
        which: &'static str,
    },
    /// The store already has another CA, which its machines trust.
    #[error("the store at {store} already has another CA, which its machines trust")]
    OtherCa {
        /// Where the store is.
        store: String,
    },
}

impl From<StoreError> for Error {
    fn from(e: StoreError) -> Error {
        match e {
            StoreError::NotFound(n) => Error::NotFound(n),
            StoreError::AlreadyExists(n) => Error::AlreadyExists(n),
            other => Error::Store(other),
        }
    }
}

/// What went wrong, flat: one value a program branches on, whichever layer failed (the driver,
/// SSH, the daemon, the store) and however it was wrapped (a failed create's cause is its kind).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Kind {
    /// Bad input: a machine name, an option (misspelt, or refused by the driver), a URL.
    InvalidInput,
    /// No such machine (or the driver's machine is gone).
    NotFound,
    /// A machine of that name exists.
    AlreadyExists,
    /// The driver cannot do this.
    NotSupported,
    /// The operation was cancelled (by the caller or, answering a cancel, by the driver).
    Cancelled,
    /// A host, daemon or API could not be reached.
    Unreachable,
    /// Credentials were refused.
    AuthFailed,
    /// Something did not happen in time.
    Timeout,
    /// The host presented another SSH host key than the recorded one.
    HostKeyChanged,
    /// The driver is missing, crashed, of another version, or answered nonsense.
    DriverBroken,
    /// The store could not be read or written.
    Store,
    /// Anything else (provisioning, certificates, ...).
    Other,
}

impl Error {
    /// The flat kind of this error, seen through [`Error::CreateFailed`] and
    /// [`Error::PreCreateCheck`]; a driver's answer of kind `cancelled` is [`Kind::Cancelled`]
    /// like [`Error::Cancelled`].
    pub fn kind(&self) -> Kind {
        use crate::daemon::DaemonError as D;
        use crate::ssh::SshError as S;
        match self {
            Error::CreateFailed { source, .. } | Error::PreCreateCheck { source, .. } => {
                source.kind()
            }
            Error::InvalidName(_)
            | Error::UnknownOption { .. }
            | Error::Tool(_)
            | Error::DriverRequestTooLarge { .. } => Kind::InvalidInput,
            Error::NotFound(_) => Kind::NotFound,
            Error::AlreadyExists(_) => Kind::AlreadyExists,
            Error::NotSupported { .. } => Kind::NotSupported,
            Error::Cancelled { .. } => Kind::Cancelled,
            Error::Driver { kind, .. } => match kind {
                ErrorKind::NotSupported => Kind::NotSupported,
                ErrorKind::NotFound => Kind::NotFound,
                ErrorKind::InvalidOption => Kind::InvalidInput,
                ErrorKind::Unreachable => Kind::Unreachable,
                ErrorKind::AuthFailed => Kind::AuthFailed,
                ErrorKind::Timeout => Kind::Timeout,
                ErrorKind::AlreadyExists => Kind::AlreadyExists,
                ErrorKind::Cancelled => Kind::Cancelled,
                ErrorKind::Protocol => Kind::DriverBroken,
                _ => Kind::Other,
            },
            Error::DriverNotFound { .. }
            | Error::DriverStart { .. }
            | Error::DriverVersion { .. }
            | Error::DriverCrashed { .. }
            | Error::DriverAnswer { .. } => Kind::DriverBroken,
            Error::DriverTimeout { .. } | Error::RebootTimeout { .. } => Kind::Timeout,
            Error::HostKeyChanged { .. } => Kind::HostKeyChanged,
            Error::KeyRefused { .. } => Kind::AuthFailed,
            Error::Ssh(S::Unreachable { .. }) => Kind::Unreachable,
            Error::Ssh(S::AuthFailed { .. }) => Kind::AuthFailed,
            Error::Ssh(S::HostKeyMismatch { .. }) => Kind::HostKeyChanged,
            Error::Ssh(S::Timeout { .. }) => Kind::Timeout,
            Error::Daemon(D::Unreachable { .. }) => Kind::Unreachable,
            Error::Store(_) | Error::NoDockerMachineStore { .. } => Kind::Store,
            _ => Kind::Other,
        }
    }

    /// The kind a driver reported, when this is a driver's error.
    pub fn driver_kind(&self) -> Option<ErrorKind> {
        match self {
            Error::Driver { kind, .. } => Some(*kind),
            Error::CreateFailed { source, .. } | Error::PreCreateCheck { source, .. } => {
                source.driver_kind()
            }
            _ => None,
        }
    }

    /// Whether the driver's pre-create check failed (Docker Machine exits with status 3 then).
    pub fn is_pre_create_check(&self) -> bool {
        match self {
            Error::PreCreateCheck { .. } | Error::UnknownOption { .. } => true,
            Error::CreateFailed { source, .. } => source.is_pre_create_check(),
            _ => false,
        }
    }

    /// Whether the machine's record is there but cannot be read.
    pub fn is_broken_record(&self) -> bool {
        matches!(
            self,
            Error::Store(
                StoreError::Corrupt { .. }
                    | StoreError::NewerVersion { .. }
                    | StoreError::Misfiled { .. }
            )
        )
    }
}
