//! The store: where machines live, as records, not paths.
//!
//! A machine's record is its [`MachineConfig`] plus named [`Blob`]s (its SSH key, its
//! certificates). The store also holds the store-wide CA and client certificate
//! ([`StoreCerts`]), and locks one machine at a time across processes. The interface is async and
//! asks nothing a key-value store with transactions and leases cannot give (an etcd store can
//! implement it); [`FileStore`] is the embedded default, [`MemoryStore`] serves tests.
//!
//! Only this module knows where and how things are kept. Files that outside programs need on
//! disk (DOCKER_CERT_PATH for the docker client; an identity and known_hosts for the system ssh,
//! scp, rsync, sshfs) are written by the store into a folder it owns ([`Store::export`]).
//!
//! Guarantees every implementation gives:
//! - [`Store::create`] is atomic: of two creates of one name exactly one succeeds, and the
//!   winner holds the machine's lock from the start;
//! - updates are atomic: a crash leaves the old or the new config or blob, never a torn one;
//! - one unreadable record never breaks listing the others ([`Store::names`] lists names only);
//! - a [`MachineLock`] is for one incarnation of a machine: a process that waited for the lock
//!   of a machine that was removed (and perhaps created again) meanwhile gets
//!   [`StoreError::NotFound`], never the new machine's lock.

#[cfg(feature = "etcd")]
pub mod etcd;
mod file;
mod legacy;
mod location;
mod memory;
mod migrate;

#[cfg(feature = "etcd")]
pub use etcd::EtcdStore;
pub use file::FileStore;
pub use location::Location;
pub use memory::MemoryStore;
pub use migrate::{migrate, Migration};

use crate::cert::Pem;
use crate::config::MachineConfig;
use async_trait::async_trait;
use std::path::PathBuf;

/// A named piece of a machine's record besides its config.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum Blob {
    /// The machine's own SSH private key (OpenSSH PEM). Secret.
    SshKey,
    /// The CA certificate the machine's daemon trusts (a copy of the store's CA at provision).
    CaCert,
    /// The client certificate signed by that CA.
    ClientCert,
    /// Its private key. Secret.
    ClientKey,
    /// The daemon's server certificate.
    ServerCert,
    /// Its private key. Secret.
    ServerKey,
}

impl Blob {
    /// Every blob.
    pub const ALL: [Blob; 6] = [
        Blob::SshKey,
        Blob::CaCert,
        Blob::ClientCert,
        Blob::ClientKey,
        Blob::ServerCert,
        Blob::ServerKey,
    ];

    /// Whether the blob is a secret (readable by the owner only, encrypted where the store can).
    pub fn is_secret(self) -> bool {
        matches!(self, Blob::SshKey | Blob::ClientKey | Blob::ServerKey)
    }

    /// A name for messages (`ssh-key`, `server-cert`, ...).
    pub fn name(self) -> &'static str {
        match self {
            Blob::SshKey => "ssh-key",
            Blob::CaCert => "ca-cert",
            Blob::ClientCert => "client-cert",
            Blob::ClientKey => "client-key",
            Blob::ServerCert => "server-cert",
            Blob::ServerKey => "server-key",
        }
    }
}

/// The store-wide CA and the client certificate it signed.
#[derive(Debug, Clone, PartialEq)]
pub struct StoreCerts {
    /// The CA (certificate and key).
    pub ca: Pem,
    /// The client certificate and key.
    pub client: Pem,
}

impl StoreCerts {
    /// From the four PEM texts, in the order Docker Machine's files list them: the CA
    /// certificate, the CA key, the client certificate, the client key.
    pub fn from_pems([ca_cert, ca_key, cert, key]: [String; 4]) -> StoreCerts {
        StoreCerts {
            ca: Pem {
                cert: ca_cert,
                key: ca_key,
            },
            client: Pem { cert, key },
        }
    }
}

/// The files an outside program needs, written by the store into a folder it owns.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ExportedFiles {
    /// The folder (DOCKER_CERT_PATH): holds `ca.pem`, `cert.pem`, `key.pem`.
    pub dir: PathBuf,
    /// The CA certificate.
    pub ca_cert: PathBuf,
    /// The client certificate.
    pub client_cert: PathBuf,
    /// The client key.
    pub client_key: PathBuf,
    /// The machine's SSH private key (0600), for `ssh -i`.
    pub ssh_key: PathBuf,
    /// A known_hosts file holding the machine's recorded host key.
    pub known_hosts: PathBuf,
}

/// What went wrong in the store.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// No machine of that name.
    #[error("Docker machine \"{0}\" does not exist")]
    NotFound(String),
    /// A machine of that name exists.
    #[error("Docker machine \"{0}\" already exists")]
    AlreadyExists(String),
    /// A record (or part of one) cannot be read.
    #[error("the record of machine \"{machine}\" is broken: {what} ({reason})")]
    Corrupt {
        /// The machine.
        machine: String,
        /// What is broken (a file, a key).
        what: String,
        /// Why.
        reason: String,
    },
    /// A record stored under one name that records another: a machine's folder (or etcd key)
    /// copied or renamed by hand. Refused, so that nothing done under the name it is stored
    /// under (`rm -f` of the copy included) reaches the machine it records.
    #[error(
        "the record stored as \"{stored_as}\" ({what}) is machine \"{recorded}\"'s, copied or \
         renamed by hand: it is not used, so that nothing done to \"{stored_as}\" reaches \
         \"{recorded}\""
    )]
    Misfiled {
        /// The name it is stored under (its folder, its etcd key).
        stored_as: String,
        /// The name its config records.
        recorded: String,
        /// Where it is (a file, an etcd key).
        what: String,
    },
    /// The record was written by a newer version of this library.
    #[error("the record of machine \"{machine}\" has config version {found}; this program reads up to {supported}")]
    NewerVersion {
        /// The machine.
        machine: String,
        /// The version found.
        found: u32,
        /// The newest version this library reads.
        supported: u32,
    },
    /// A store folder or secret file that others may read or write, or that another user owns:
    /// whoever can write there can plant a CA the machines will trust, whoever can read it holds
    /// root on every machine. Refused, as OpenSSH refuses such keys.
    #[error(
        "{} is {}: the store must be yours and private",
        .path.display(),
        unsafe_reason(*.mode, *.owner, *.user)
    )]
    UnsafePermissions {
        /// The folder or file.
        path: PathBuf,
        /// Its permission bits (e.g. `0o755`).
        mode: u32,
        /// The user id that owns it.
        owner: u32,
        /// The user id of this process.
        user: u32,
        /// Whether it is a folder (else a file).
        dir: bool,
    },
    /// A store folder (the store itself, its `certs` or `machines`) or key file that is a
    /// symbolic link: the store's folders and keys are checked where they are, and a link can
    /// be pointed elsewhere once checked. Refused; the fix is to use (or move into the link's
    /// place) what it points to.
    #[error(
        "{} is a symbolic link {}: the store's folders and keys must not be links (a link can \
         be pointed elsewhere once checked)",
        .path.display(),
        match .target {
            Some(t) => format!("to {}", t.display()),
            None => "to nothing (what it pointed to is gone)".to_string(),
        }
    )]
    Symlink {
        /// The link.
        path: PathBuf,
        /// What it leads to, as a real path (`None` when the link is broken).
        target: Option<PathBuf>,
        /// Whether the link is the store's own folder (else a folder or key inside it).
        store_root: bool,
    },
    /// A storage path this program cannot use (an unknown scheme, a malformed etcd URL).
    #[error("invalid storage path {location:?}: {reason}")]
    BadLocation {
        /// The storage path as given.
        location: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The store cannot be opened (unreachable, refused, misconfigured).
    #[error("cannot open the store {location}: {reason}")]
    Unusable {
        /// Where the store is.
        location: String,
        /// Why.
        reason: String,
    },
    /// A request to a remote store failed.
    #[error("{op} {location}: {reason}")]
    Backend {
        /// What was being done.
        op: &'static str,
        /// Where the store is.
        location: String,
        /// Why.
        reason: String,
    },
    /// A lock this process held ended before a write it guarded (etcd: no member renewed its
    /// lease in time, and another process may hold the lock now); nothing was written.
    #[error("the lock on {what} ended before this write (its lease was not renewed in time; another process may hold it now): nothing was written, run the command again")]
    LockLost {
        /// What the lock guarded (`machine "web1"`, `the store's certificates`).
        what: String,
    },
    /// A secret is sealed in the store and no store key was given.
    #[error("machine \"{machine}\": {what} is encrypted in the store and no store key was given (MACHINE_STORE_KEY or MACHINE_STORE_KEY_FILE)")]
    KeyMissing {
        /// The machine (empty for the store's own certificates).
        machine: String,
        /// Which secret.
        what: String,
    },
    /// A secret does not open with the store key given.
    #[error("machine \"{machine}\": {what} does not decrypt with the store key given (another team's key?)")]
    KeyMismatch {
        /// The machine (empty for the store's own certificates).
        machine: String,
        /// Which secret.
        what: String,
    },
    /// The storage itself failed.
    #[error("{op} {path}: {source}")]
    Io {
        /// What was being done (`reading`, `creating`, ...).
        op: &'static str,
        /// Where.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
}

/// Refuses the record stored as `stored_as` (at `what`) whose config, `config` as JSON,
/// records another name ([`StoreError::Misfiled`]); a config without a name is left for its
/// parsing to refuse. Every store checks this before anything else of the record is used.
pub(crate) fn check_recorded_name(
    stored_as: &str,
    config: &serde_json::Value,
    what: impl FnOnce() -> String,
) -> Result<(), StoreError> {
    match config.get("name").and_then(serde_json::Value::as_str) {
        Some(recorded) if recorded != stored_as => Err(StoreError::Misfiled {
            stored_as: stored_as.to_string(),
            recorded: recorded.to_string(),
            what: what(),
        }),
        _ => Ok(()),
    }
}

fn unsafe_reason(mode: u32, owner: u32, user: u32) -> String {
    if owner != user {
        format!("owned by user id {owner}, not by you (user id {user})")
    } else {
        format!("accessible to others (mode {:04o})", mode & 0o7777)
    }
}

/// One machine's config and the blobs asked for (`None` for each it lacks), or why its record
/// cannot be read: an entry of [`Store::read_records`].
pub type RecordRead = Result<(MachineConfig, Vec<Option<Vec<u8>>>), StoreError>;

/// How many records a store reads in one round trip at most ([`Store::read_records`] takes
/// more, in several): etcd refuses transactions of more than 128 operations by default.
pub const RECORDS_PER_READ: usize = 100;

/// A held lock on one machine (or on the store's certificates); released when dropped.
pub trait LockGuard: Send + Sync {}

/// A held lock.
pub type MachineLock = Box<dyn LockGuard>;

/// Storage of machine records. See the module documentation for the guarantees.
#[async_trait]
pub trait Store: Send + Sync {
    /// Where the store is, for messages (`/home/nick/.local/share/machine`, `memory`).
    fn location(&self) -> String;

    /// The local folder [`Store::export`] writes under: each machine's files in
    /// `machines/NAME`, beside what the system `ssh` needs to reach them
    /// ([`crate::ssh_client`]: `ssh_config`, `bin/ssh`).
    fn export_root(&self) -> PathBuf;

    /// The names of all machines, sorted. Reads no record.
    async fn names(&self) -> Result<Vec<String>, StoreError>;

    /// Whether a machine of that name exists (its record may still be broken).
    async fn exists(&self, name: &str) -> Result<bool, StoreError>;

    /// Creates the record of a new machine and returns its lock, held.
    /// [`StoreError::AlreadyExists`] if the name is taken.
    async fn create(&self, config: &MachineConfig) -> Result<MachineLock, StoreError>;

    /// Reads a machine's config.
    async fn read_config(&self, name: &str) -> Result<MachineConfig, StoreError>;

    /// Reads a machine's config with the options sealed under the store key withheld (each
    /// `null`): what can be shown of a machine when [`Store::read_config`] says
    /// [`StoreError::KeyMissing`]. Not for acting on the machine (its driver would miss those
    /// options). A store that seals nothing gives the whole config.
    async fn read_public_config(&self, name: &str) -> Result<MachineConfig, StoreError> {
        self.read_config(name).await
    }

    /// Replaces a machine's config (atomically). The machine must exist.
    async fn write_config(&self, config: &MachineConfig) -> Result<(), StoreError>;

    /// Reads a blob; `None` if the machine has none of that name.
    async fn read_blob(&self, name: &str, blob: Blob) -> Result<Option<Vec<u8>>, StoreError>;

    /// Reads several blobs at once (one round trip where the store can); `None` for each the
    /// machine lacks.
    async fn read_blobs(
        &self,
        name: &str,
        blobs: &[Blob],
    ) -> Result<Vec<Option<Vec<u8>>>, StoreError> {
        let mut out = Vec::with_capacity(blobs.len());
        for b in blobs {
            out.push(self.read_blob(name, *b).await?);
        }
        Ok(out)
    }

    /// Reads a machine's config and several of its blobs at once (one round trip where the
    /// store can): what a listing needs of each machine.
    async fn read_record(
        &self,
        name: &str,
        blobs: &[Blob],
    ) -> Result<(MachineConfig, Vec<Option<Vec<u8>>>), StoreError> {
        let config = self.read_config(name).await?;
        Ok((config, self.read_blobs(name, blobs).await?))
    }

    /// Reads several machines' records at once, as a listing does: for each of `names`, in
    /// order, its config and the given blobs, or why that record cannot be read (one broken or
    /// vanished record never fails the others). One round trip where the store can (etcd: one
    /// transaction per [`RECORDS_PER_READ`] names). Errs only when the store itself fails.
    /// The default reads one record after another: a store whose reads wait on the network
    /// should override it with one round trip (or concurrent reads) per page.
    async fn read_records(
        &self,
        names: &[String],
        blobs: &[Blob],
    ) -> Result<Vec<RecordRead>, StoreError> {
        let mut out = Vec::with_capacity(names.len());
        for name in names {
            out.push(self.read_record(name, blobs).await);
        }
        Ok(out)
    }

    /// Replaces a blob (atomically).
    async fn write_blob(&self, name: &str, blob: Blob, data: &[u8]) -> Result<(), StoreError>;

    /// Deletes a machine's record and everything in it. Missing is not an error.
    async fn remove(&self, name: &str) -> Result<(), StoreError>;

    /// Waits for, then holds, the machine's lock. Other processes working on the same machine
    /// wait; other machines are not affected. [`StoreError::NotFound`] if the machine does not
    /// exist, or was removed while this call waited.
    async fn lock(&self, name: &str) -> Result<MachineLock, StoreError>;

    /// The store's CA and client certificate, if it has them yet.
    async fn read_store_certs(&self) -> Result<Option<StoreCerts>, StoreError>;

    /// Replaces the store's CA and client certificate.
    async fn write_store_certs(&self, certs: &StoreCerts) -> Result<(), StoreError>;

    /// Holds the store-wide lock that guards the CA and client certificate.
    async fn lock_store_certs(&self) -> Result<MachineLock, StoreError>;

    /// Writes the files outside programs need for this machine into a folder the store owns,
    /// with `known_hosts` as the known_hosts file's content, and says where they are.
    async fn export(&self, name: &str, known_hosts: &str) -> Result<ExportedFiles, StoreError>;
}

/// The default storage path: `$MACHINE_STORAGE_PATH` (a folder or an `etcd://` URL, see
/// [`Location`]), else `$XDG_DATA_HOME/machine`, else `~/.local/share/machine`.
///
/// Deliberately not Docker Machine's `~/.docker/machine`: its machines keep working with
/// `docker-machine`, and ours never overwrite them.
pub fn default_location() -> String {
    if let Some(p) = std::env::var_os("MACHINE_STORAGE_PATH").filter(|p| !p.is_empty()) {
        return p.to_string_lossy().into_owned();
    }
    let dir = match std::env::var_os("XDG_DATA_HOME").filter(|p| !p.is_empty()) {
        Some(p) => PathBuf::from(p).join("machine"),
        None => {
            let home = std::env::var_os("HOME").unwrap_or_else(|| "/".into());
            std::path::Path::new(&home).join(".local/share/machine")
        }
    };
    dir.to_string_lossy().into_owned()
}

/// Opens the store at `location` (see [`Location`]): a folder, or an etcd cluster configured
/// from the environment (`etcd::EtcdOptions::from_env`, with the `etcd` feature).
pub async fn open(location: &str) -> Result<std::sync::Arc<dyn Store>, StoreError> {
    match Location::parse(location)? {
        Location::Folder(path) => Ok(std::sync::Arc::new(FileStore::open(path)?)),
        #[cfg(feature = "etcd")]
        Location::Etcd { endpoints, prefix } => {
            let opts = etcd::EtcdOptions::from_env(endpoints, prefix)?;
            Ok(std::sync::Arc::new(EtcdStore::connect(opts).await?))
        }
        #[cfg(not(feature = "etcd"))]
        Location::Etcd { .. } => Err(StoreError::Unusable {
            location: location.to_string(),
            reason: "this build has no etcd store (it was built without the `etcd` feature)".into(),
        }),
    }
}

#[cfg(test)]
pub(crate) mod contract;
