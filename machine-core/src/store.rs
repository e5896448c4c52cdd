//! The store: where machines live. One folder per machine plus the store's CA and client
//! certificates, laid out as Docker Machine did so that tools written for it find their files:
//!
//! ```text
//! STORE/certs/{ca.pem,ca-key.pem,cert.pem,key.pem}         the store's CA and client certificate
//! STORE/machines/NAME/config.json                            the machine (see [`crate::config`])
//! STORE/machines/NAME/{ca.pem,cert.pem,key.pem}              what DOCKER_CERT_PATH points at
//! STORE/machines/NAME/{server.pem,server-key.pem,id_ed25519,id_ed25519.pub,known_hosts}
//! ```
//!
//! All file access of the library goes through [`Backend`], so a shared backend (etcd, for teams)
//! can replace [`FileBackend`] without touching the rest. Guarantees of the file backend:
//! - writes are atomic (temporary file, fsync, rename, fsync of the folder): a crash leaves the old
//!   or the new content, never a torn file;
//! - processes are serialized per machine by an advisory file lock ([`Store::lock`]);
//! - the store is 0700 and secrets (private keys, configs that may hold passwords) are 0600;
//! - one unreadable machine folder never breaks listing the others.

use crate::error::{Error, Result};
use serde::{de::DeserializeOwned, Serialize};
use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The folder of the store's own certificates.
pub const CERTS: &str = "certs";
const MACHINES: &str = "machines";
const LOCK_FILE: &str = ".lock";

/// A held per-machine lock; released when dropped.
pub trait LockGuard: Send {}

/// Storage primitives. `machine: None` addresses the store-wide folder ([`CERTS`]).
pub trait Backend: Send + Sync {
    /// The local folder holding `machine`'s files (what DOCKER_CERT_PATH and ssh -i point into).
    fn machine_dir(&self, machine: &str) -> PathBuf;
    /// The local folder of the store-wide certificates.
    fn certs_dir(&self) -> PathBuf;
    /// Names of all machine folders, sorted.
    fn list(&self) -> Result<Vec<String>>;
    /// Makes the machine's folder; fails with [`Error::AlreadyExists`] if it exists.
    fn create_machine(&self, machine: &str) -> Result<()>;
    /// Deletes the machine's folder and everything in it. Missing is not an error.
    fn remove_machine(&self, machine: &str) -> Result<()>;
    fn exists(&self, machine: &str) -> bool;
    /// Reads a file; `Ok(None)` if it does not exist.
    fn read(&self, machine: Option<&str>, file: &str) -> Result<Option<Vec<u8>>>;
    /// Writes a file atomically; `secret` files are readable by the owner only.
    fn write(&self, machine: Option<&str>, file: &str, data: &[u8], secret: bool) -> Result<()>;
    /// Blocks until this process holds the machine's lock (`None`: the store-wide lock that
    /// guards the CA and client certificates).
    fn lock(&self, machine: Option<&str>) -> Result<Box<dyn LockGuard>>;
}

/// A store on the local file system.
pub struct FileBackend {
    root: PathBuf,
}

impl FileBackend {
    /// Opens (creating if needed, mode 0700) the store at `root`.
    pub fn open(root: impl Into<PathBuf>) -> Result<FileBackend> {
        let root = root.into();
        for dir in [root.clone(), root.join(MACHINES), root.join(CERTS)] {
            fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(&dir)
                .map_err(|e| {
                    Error::io(format!("creating the store folder {}", dir.display()), e)
                })?;
        }
        Ok(FileBackend { root })
    }

    fn dir(&self, machine: Option<&str>) -> PathBuf {
        match machine {
            Some(m) => self.machine_dir(m),
            None => self.certs_dir(),
        }
    }
}

struct FileLock(#[allow(dead_code)] File);
impl LockGuard for FileLock {}

impl Backend for FileBackend {
    fn machine_dir(&self, machine: &str) -> PathBuf {
        self.root.join(MACHINES).join(machine)
    }

    fn certs_dir(&self) -> PathBuf {
        self.root.join(CERTS)
    }

    fn list(&self) -> Result<Vec<String>> {
        let dir = self.root.join(MACHINES);
        let entries =
            fs::read_dir(&dir).map_err(|e| Error::io(format!("listing {}", dir.display()), e))?;
        let mut names: Vec<String> = entries
            .filter_map(|e| e.ok())
            .filter(|e| e.file_type().map(|t| t.is_dir()).unwrap_or(false))
            .filter_map(|e| e.file_name().into_string().ok())
            .filter(|n| !n.starts_with('.'))
            .collect();
        names.sort();
        Ok(names)
    }

    fn create_machine(&self, machine: &str) -> Result<()> {
        let dir = self.machine_dir(machine);
        match fs::DirBuilder::new().mode(0o700).create(&dir) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                Err(Error::AlreadyExists(machine.to_string()))
            }
            Err(e) => Err(Error::io(format!("creating {}", dir.display()), e)),
        }
    }

    fn remove_machine(&self, machine: &str) -> Result<()> {
        let dir = self.machine_dir(machine);
        match fs::remove_dir_all(&dir) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(Error::io(format!("removing {}", dir.display()), e)),
        }
    }

    fn exists(&self, machine: &str) -> bool {
        self.machine_dir(machine).is_dir()
    }

    fn read(&self, machine: Option<&str>, file: &str) -> Result<Option<Vec<u8>>> {
        let path = self.dir(machine).join(file);
        match fs::read(&path) {
            Ok(data) => Ok(Some(data)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(Error::io(format!("reading {}", path.display()), e)),
        }
    }

    fn write(&self, machine: Option<&str>, file: &str, data: &[u8], secret: bool) -> Result<()> {
        let dir = self.dir(machine);
        let path = dir.join(file);
        let ctx = |what: &str| format!("{what} {}", path.display());
        let mode = if secret { 0o600 } else { 0o644 };
        let mut tmp = tempfile::Builder::new()
            .prefix(&format!(".{file}."))
            .permissions(fs::Permissions::from_mode(mode))
            .tempfile_in(&dir)
            .map_err(|e| Error::io(ctx("creating a temporary file for"), e))?;
        tmp.write_all(data)
            .and_then(|_| tmp.as_file().sync_all())
            .map_err(|e| Error::io(ctx("writing"), e))?;
        tmp.persist(&path)
            .map_err(|e| Error::io(ctx("replacing"), e.error))?;
        // make the rename itself durable
        File::open(&dir)
            .and_then(|d| d.sync_all())
            .map_err(|e| Error::io(format!("syncing {}", dir.display()), e))
    }

    fn lock(&self, machine: Option<&str>) -> Result<Box<dyn LockGuard>> {
        let path = self.dir(machine).join(LOCK_FILE);
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .mode(0o600)
            .open(&path)
            .map_err(|e| Error::io(format!("opening the lock {}", path.display()), e))?;
        file.lock()
            .map_err(|e| Error::io(format!("locking {}", path.display()), e))?;
        Ok(Box::new(FileLock(file)))
    }
}

/// The store handle the rest of the library uses: typed reads and writes over a [`Backend`].
#[derive(Clone)]
pub struct Store {
    backend: Arc<dyn Backend>,
}

impl Store {
    /// Opens the file store at `root`, creating it (0700) if needed.
    pub fn open(root: impl Into<PathBuf>) -> Result<Store> {
        Ok(Store::with_backend(Arc::new(FileBackend::open(root)?)))
    }

    pub fn with_backend(backend: Arc<dyn Backend>) -> Store {
        Store { backend }
    }

    /// `$MACHINE_STORAGE_PATH`, else `$XDG_DATA_HOME/machine`, else `~/.local/share/machine`.
    ///
    /// Deliberately not Docker Machine's `~/.docker/machine`: its machines keep working with
    /// `docker-machine`, and ours never overwrite them.
    pub fn default_path() -> PathBuf {
        if let Some(p) = std::env::var_os("MACHINE_STORAGE_PATH").filter(|p| !p.is_empty()) {
            return PathBuf::from(p);
        }
        if let Some(p) = std::env::var_os("XDG_DATA_HOME").filter(|p| !p.is_empty()) {
            return PathBuf::from(p).join("machine");
        }
        let home = std::env::var_os("HOME").unwrap_or_else(|| "/".into());
        Path::new(&home).join(".local/share/machine")
    }

    pub fn backend(&self) -> &dyn Backend {
        &*self.backend
    }

    pub fn machine_dir(&self, machine: &str) -> PathBuf {
        self.backend.machine_dir(machine)
    }

    pub fn certs_dir(&self) -> PathBuf {
        self.backend.certs_dir()
    }

    pub fn list(&self) -> Result<Vec<String>> {
        self.backend.list()
    }

    pub fn exists(&self, machine: &str) -> bool {
        self.backend.exists(machine)
    }

    /// Reads and parses a JSON file; `Ok(None)` if absent, an [`Error::InvalidFile`] naming
    /// the file if it does not parse.
    pub fn read_json<T: DeserializeOwned>(
        &self,
        machine: Option<&str>,
        file: &str,
    ) -> Result<Option<T>> {
        match self.backend.read(machine, file)? {
            None => Ok(None),
            Some(data) => serde_json::from_slice(&data)
                .map(Some)
                .map_err(|e| Error::InvalidFile {
                    path: self.path_of(machine, file),
                    message: e.to_string(),
                }),
        }
    }

    /// Writes JSON atomically, owner-only (configs may hold driver secrets).
    pub fn write_json<T: Serialize>(
        &self,
        machine: Option<&str>,
        file: &str,
        value: &T,
    ) -> Result<()> {
        let data = serde_json::to_vec_pretty(value)
            .map_err(|e| Error::Other(format!("serializing {file}: {e}")))?;
        self.backend.write(machine, file, &data, true)
    }

    pub fn read_string(&self, machine: Option<&str>, file: &str) -> Result<Option<String>> {
        match self.backend.read(machine, file)? {
            None => Ok(None),
            Some(data) => String::from_utf8(data)
                .map(Some)
                .map_err(|_| Error::InvalidFile {
                    path: self.path_of(machine, file),
                    message: "not UTF-8 text".into(),
                }),
        }
    }

    pub fn write_file(
        &self,
        machine: Option<&str>,
        file: &str,
        data: &[u8],
        secret: bool,
    ) -> Result<()> {
        self.backend.write(machine, file, data, secret)
    }

    /// The local path of a file (for the docker client, ssh -i, ...).
    pub fn path_of(&self, machine: Option<&str>, file: &str) -> PathBuf {
        match machine {
            Some(m) => self.machine_dir(m).join(file),
            None => self.certs_dir().join(file),
        }
    }

    pub fn create_machine(&self, machine: &str) -> Result<()> {
        validate_name(machine)?;
        self.backend.create_machine(machine)
    }

    pub fn remove_machine(&self, machine: &str) -> Result<()> {
        self.backend.remove_machine(machine)
    }

    /// Waits for, then holds, the machine's lock (released when the guard drops). Other
    /// processes working on the same machine wait; other machines are not affected.
    pub async fn lock(&self, machine: &str) -> Result<Box<dyn LockGuard>> {
        self.lock_dir(Some(machine.to_string())).await
    }

    /// Holds the store-wide lock that guards the CA and client certificates.
    pub async fn lock_certs(&self) -> Result<Box<dyn LockGuard>> {
        self.lock_dir(None).await
    }

    async fn lock_dir(&self, machine: Option<String>) -> Result<Box<dyn LockGuard>> {
        let backend = self.backend.clone();
        tokio::task::spawn_blocking(move || backend.lock(machine.as_deref()))
            .await
            .map_err(|e| Error::Other(format!("lock task failed: {e}")))?
    }
}

/// Machine names are host names: letters, digits, dots and dashes, starting with a letter or
/// digit, at most 63 characters (Docker Machine's rule, plus the length a hostname allows).
pub fn validate_name(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 63
        && name
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphanumeric())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.');
    if ok {
        Ok(())
    } else {
        Err(Error::InvalidName(name.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::MetadataExt;

    #[test]
    fn names() {
        for good in ["a", "web-1", "db.prod", "X9"] {
            validate_name(good).unwrap();
        }
        for bad in [
            "",
            "-a",
            ".a",
            "a_b",
            "a b",
            "a/b",
            "..",
            &"a".repeat(64),
            "ü",
        ] {
            assert!(validate_name(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn layout_permissions_and_atomic_writes() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("store");
        let store = Store::open(&root).unwrap();
        assert_eq!(fs::metadata(&root).unwrap().mode() & 0o777, 0o700);
        store.create_machine("m1").unwrap();
        assert!(matches!(
            store.create_machine("m1"),
            Err(Error::AlreadyExists(_))
        ));
        assert!(matches!(
            store.create_machine("bad name"),
            Err(Error::InvalidName(_))
        ));
        store
            .write_file(Some("m1"), "key.pem", b"secret", true)
            .unwrap();
        store
            .write_file(Some("m1"), "ca.pem", b"public", false)
            .unwrap();
        let key = root.join("machines/m1/key.pem");
        assert_eq!(fs::metadata(&key).unwrap().mode() & 0o777, 0o600);
        assert_eq!(
            fs::metadata(root.join("machines/m1/ca.pem"))
                .unwrap()
                .mode()
                & 0o777,
            0o644
        );
        store
            .write_file(Some("m1"), "key.pem", b"new", true)
            .unwrap();
        assert_eq!(fs::read(&key).unwrap(), b"new");
        // no temporary files are left behind
        let names: Vec<_> = fs::read_dir(root.join("machines/m1"))
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        assert!(
            names.iter().all(|n| !n.starts_with(".key.pem")),
            "{names:?}"
        );
        store
            .write_json(None, "x.json", &serde_json::json!({"a": 1}))
            .unwrap();
        assert_eq!(
            store
                .read_json::<serde_json::Value>(None, "x.json")
                .unwrap()
                .unwrap()["a"],
            1
        );
        assert!(store
            .read_json::<serde_json::Value>(None, "nope.json")
            .unwrap()
            .is_none());
        assert_eq!(store.list().unwrap(), vec!["m1"]);
        store.remove_machine("m1").unwrap();
        store.remove_machine("m1").unwrap();
        assert!(store.list().unwrap().is_empty());
    }

    #[test]
    fn a_corrupt_file_names_itself() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        store.create_machine("m").unwrap();
        store
            .write_file(Some("m"), "config.json", b"{not json", true)
            .unwrap();
        let err = store
            .read_json::<serde_json::Value>(Some("m"), "config.json")
            .unwrap_err();
        assert!(err.to_string().contains("machines/m/config.json"), "{err}");
    }

    #[tokio::test]
    async fn locks_serialize_processes_per_machine() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        store.create_machine("m").unwrap();
        store.create_machine("other").unwrap();
        let held = store.lock("m").await.unwrap();
        // another machine is not blocked
        let _other = store.lock("other").await.unwrap();
        // the same machine is blocked until the first guard drops (flock is per open file)
        let s2 = store.clone();
        let waiter = tokio::spawn(async move { s2.lock("m").await.map(|_| ()) });
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        assert!(!waiter.is_finished());
        drop(held);
        tokio::time::timeout(std::time::Duration::from_secs(5), waiter)
            .await
            .unwrap()
            .unwrap()
            .unwrap();
    }
}
