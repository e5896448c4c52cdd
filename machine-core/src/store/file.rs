//! The file store: the embedded default, on the local file system, laid out as Docker Machine
//! did so that tools written for it find their files:
//!
//! ```text
//! STORE/certs/{ca.pem,ca-key.pem,cert.pem,key.pem}     the store's CA and client certificate
//! STORE/machines/NAME/config.json                        the machine's config
//! STORE/machines/NAME/{ca.pem,cert.pem,key.pem}          what DOCKER_CERT_PATH points at
//! STORE/machines/NAME/{server.pem,server-key.pem}        the daemon's certificate
//! STORE/machines/NAME/{id_ed25519,known_hosts}           for the system ssh
//! ```
//!
//! - writes are atomic (temporary file, fsync, rename, fsync of the folder);
//! - a new machine's folder is made complete under a temporary name and renamed into place, so
//!   of two creates exactly one wins and nobody sees a half-made folder;
//! - processes are serialized per machine by an advisory lock on `NAME/.lock`; a lock taken on a
//!   folder that was removed meanwhile is detected (the lock file is not the one at the path);
//! - the store is 0700 and secrets are 0600.

use super::{
    legacy, Blob, ExportedFiles, LockGuard, MachineLock, RecordRead, Store, StoreCerts, StoreError,
};
use crate::config::MachineConfig;
use async_trait::async_trait;
use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

const CERTS: &str = "certs";
const MACHINES: &str = "machines";
const LOCK_FILE: &str = ".lock";
const CONFIG_FILE: &str = "config.json";
const KNOWN_HOSTS: &str = "known_hosts";
/// Store certificate files: CA cert, CA key, client cert, client key.
const STORE_CERT_FILES: [&str; 4] = ["ca.pem", "ca-key.pem", "cert.pem", "key.pem"];

/// The file in a machine's folder that holds `blob`.
fn blob_file(blob: Blob) -> &'static str {
    match blob {
        Blob::SshKey => "id_ed25519",
        Blob::CaCert => "ca.pem",
        Blob::ClientCert => "cert.pem",
        Blob::ClientKey => "key.pem",
        Blob::ServerCert => "server.pem",
        Blob::ServerKey => "server-key.pem",
    }
}

/// A store in a folder of the local file system.
#[derive(Debug, Clone)]
pub struct FileStore {
    root: PathBuf,
}

fn io<'a>(op: &'static str, path: &'a Path) -> impl FnOnce(std::io::Error) -> StoreError + 'a {
    move |source| StoreError::Io {
        op,
        path: path.to_path_buf(),
        source,
    }
}

impl FileStore {
    /// Opens (creating if needed, mode 0700) the store at `root`. A store folder, its `certs`
    /// and `machines` folders, or the private keys in `certs` that another user owns or that
    /// others may access are refused ([`StoreError::UnsafePermissions`]), as OpenSSH refuses
    /// such keys: whoever can write there can plant a CA the machines trust.
    ///
    /// The store folder, those two folders and those keys must not be symbolic links
    /// ([`StoreError::Symlink`]); a link higher up the store's path (a home folder on another
    /// disk) is followed.
    pub fn open(root: impl Into<PathBuf>) -> Result<FileStore, StoreError> {
        let root = root.into();
        for dir in [root.clone(), root.join(MACHINES), root.join(CERTS)] {
            refuse_link(&dir, dir == root)?;
            fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(&dir)
                .map_err(io("creating the store folder", &dir))?;
            check_private(&dir, true)?;
        }
        for file in ["ca-key.pem", "key.pem"] {
            let path = root.join(CERTS).join(file);
            refuse_link(&path, false)?;
            if path.exists() {
                check_private(&path, false)?;
            }
        }
        Ok(FileStore { root })
    }

    /// The store's folder.
    pub fn root(&self) -> &Path {
        &self.root
    }

    fn machine_dir(&self, name: &str) -> PathBuf {
        self.root.join(MACHINES).join(name)
    }

    fn existing_machine_dir(&self, name: &str) -> Result<PathBuf, StoreError> {
        let dir = self.machine_dir(name);
        if dir.is_dir() {
            Ok(dir)
        } else {
            Err(StoreError::NotFound(name.to_string()))
        }
    }

    async fn blocking<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(FileStore) -> Result<T, StoreError> + Send + 'static,
    {
        let me = self.clone();
        tokio::task::spawn_blocking(move || f(me))
            .await
            .unwrap_or_else(|e| std::panic::resume_unwind(e.into_panic()))
    }

    fn read_record_sync(&self, name: &str, blobs: &[Blob]) -> RecordRead {
        let config = self.read_config_sync(name)?;
        let dir = self.existing_machine_dir(name)?;
        let data = blobs
            .iter()
            .map(|b| Self::read_file(&dir.join(blob_file(*b))))
            .collect::<Result<_, _>>()?;
        Ok((config, data))
    }

    fn read_config_sync(&self, name: &str) -> Result<MachineConfig, StoreError> {
        let dir = self.existing_machine_dir(name)?;
        let path = dir.join(CONFIG_FILE);
        let data = match fs::read(&path) {
            Ok(d) => d,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(StoreError::Corrupt {
                    machine: name.into(),
                    what: path.display().to_string(),
                    reason: "missing".into(),
                })
            }
            Err(e) => return Err(io("reading", &path)(e)),
        };
        let corrupt = |reason: String| StoreError::Corrupt {
            machine: name.into(),
            what: path.display().to_string(),
            reason,
        };
        let value: serde_json::Value =
            serde_json::from_slice(&data).map_err(|e| corrupt(e.to_string()))?;
        // before anything (a version 1 upgrade included) is written from it
        super::check_recorded_name(name, &value, || path.display().to_string())?;
        match legacy::version_of(&value) {
            Some(v) if v > crate::config::CONFIG_VERSION => Err(StoreError::NewerVersion {
                machine: name.into(),
                found: v,
                supported: crate::config::CONFIG_VERSION,
            }),
            Some(1) => self.upgrade_v1(name, &dir, value).map_err(|e| match e {
                StoreError::Corrupt { reason, .. } => corrupt(reason),
                other => other,
            }),
            _ => serde_json::from_value(value).map_err(|e| corrupt(e.to_string())),
        }
    }

    /// Upgrades a record written by version 1 in place: see [`legacy`].
    fn upgrade_v1(
        &self,
        name: &str,
        dir: &Path,
        value: serde_json::Value,
    ) -> Result<MachineConfig, StoreError> {
        let upgraded = legacy::upgrade_v1(name, value)?;
        if let Some(key_path) = upgraded.ssh_key_file {
            // the v1 generic driver kept a copy of the user's key, which the host accepts
            let key_path = PathBuf::from(key_path);
            if key_path.starts_with(dir) && key_path.is_file() {
                let key = fs::read(&key_path).map_err(io("reading", &key_path))?;
                self.write_file(dir, blob_file(Blob::SshKey), &key, true)?;
            }
        }
        self.write_config_in(dir, &upgraded.config)?;
        Ok(upgraded.config)
    }

    fn write_config_in(&self, dir: &Path, config: &MachineConfig) -> Result<(), StoreError> {
        let data = serde_json::to_vec_pretty(config).expect("a config serializes");
        self.write_file(dir, CONFIG_FILE, &data, true)
    }

    /// Writes `dir/file` atomically; `secret` files are readable by the owner only.
    fn write_file(
        &self,
        dir: &Path,
        file: &str,
        data: &[u8],
        secret: bool,
    ) -> Result<(), StoreError> {
        let path = dir.join(file);
        let mode = if secret { 0o600 } else { 0o644 };
        let mut tmp = tempfile::Builder::new()
            .prefix(&format!(".{file}."))
            .permissions(fs::Permissions::from_mode(mode))
            .tempfile_in(dir)
            .map_err(io("creating a temporary file for", &path))?;
        tmp.write_all(data)
            .and_then(|_| tmp.as_file().sync_all())
            .map_err(io("writing", &path))?;
        tmp.persist(&path)
            .map_err(|e| io("replacing", &path)(e.error))?;
        File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(io("syncing", dir))
    }

    fn read_file(path: &Path) -> Result<Option<Vec<u8>>, StoreError> {
        match fs::read(path) {
            Ok(d) => Ok(Some(d)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io("reading", path)(e)),
        }
    }

    fn create_sync(&self, config: &MachineConfig) -> Result<MachineLock, StoreError> {
        let name = &config.name;
        let dir = self.machine_dir(name);
        if dir.exists() {
            return Err(StoreError::AlreadyExists(name.clone()));
        }
        let machines = self.root.join(MACHINES);
        let tmp = tempfile::Builder::new()
            .prefix(&format!(".creating-{name}-"))
            .permissions(fs::Permissions::from_mode(0o700))
            .tempdir_in(&machines)
            .map_err(io("creating a folder in", &machines))?;
        self.write_config_in(tmp.path(), config)?;
        let lock = lock_file(&tmp.path().join(LOCK_FILE))?;
        match fs::rename(tmp.path(), &dir) {
            Ok(()) => {
                // the folder now lives under its name: nothing left to delete
                let _ = tmp.keep();
                File::open(&machines)
                    .and_then(|d| d.sync_all())
                    .map_err(io("syncing", &machines))?;
                Ok(Box::new(lock))
            }
            // EEXIST or ENOTEMPTY: another create won the race
            Err(e) if dir.exists() || matches!(e.raw_os_error(), Some(17 | 39)) => {
                Err(StoreError::AlreadyExists(name.clone()))
            }
            Err(e) => Err(io("creating", &dir)(e)),
        }
    }

    fn lock_sync(&self, name: &str) -> Result<MachineLock, StoreError> {
        let dir = self.existing_machine_dir(name)?;
        let path = dir.join(LOCK_FILE);
        let lock = match lock_file(&path) {
            Ok(l) => l,
            Err(StoreError::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {
                return Err(StoreError::NotFound(name.to_string()))
            }
            Err(e) => return Err(e),
        };
        // the folder may have been removed (and made again) while this process waited: then
        // the file it locked is not the one at the path any more
        let held = lock.0.metadata().map_err(io("reading", &path))?;
        match fs::metadata(&path) {
            Ok(now) if now.ino() == held.ino() && now.dev() == held.dev() => Ok(Box::new(lock)),
            _ => Err(StoreError::NotFound(name.to_string())),
        }
    }
}

/// Refuses `path` if it is a symbolic link (`store_root`: the store's own folder), naming
/// where it leads.
fn refuse_link(path: &Path, store_root: bool) -> Result<(), StoreError> {
    match fs::symlink_metadata(path) {
        Ok(meta) if meta.file_type().is_symlink() => Err(StoreError::Symlink {
            path: path.to_path_buf(),
            target: fs::canonicalize(path).ok(),
            store_root,
        }),
        _ => Ok(()),
    }
}

/// Refuses `path` unless this process's user owns it and nobody else may access it (and it is
/// no symbolic link).
fn check_private(path: &Path, dir: bool) -> Result<(), StoreError> {
    refuse_link(path, false)?;
    let meta = fs::symlink_metadata(path).map_err(io("reading", path))?;
    let user = rustix::process::geteuid().as_raw();
    let mode = meta.mode();
    if meta.uid() != user || mode & 0o077 != 0 {
        return Err(StoreError::UnsafePermissions {
            path: path.to_path_buf(),
            mode: mode & 0o7777,
            owner: meta.uid(),
            user,
            dir,
        });
    }
    Ok(())
}

struct FileLock(File);
impl LockGuard for FileLock {}

fn lock_file(path: &Path) -> Result<FileLock, StoreError> {
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .mode(0o600)
        .open(path)
        .map_err(io("opening the lock", path))?;
    file.lock().map_err(io("locking", path))?;
    Ok(FileLock(file))
}

#[async_trait]
impl Store for FileStore {
    fn location(&self) -> String {
        self.root.display().to_string()
    }

    fn export_root(&self) -> PathBuf {
        self.root.clone()
    }

    async fn names(&self) -> Result<Vec<String>, StoreError> {
        self.blocking(|s| {
            let dir = s.root.join(MACHINES);
            let entries = fs::read_dir(&dir).map_err(io("listing", &dir))?;
            let mut names: Vec<String> = entries
                .filter_map(|e| e.ok())
                .filter(|e| e.file_type().map(|t| t.is_dir()).unwrap_or(false))
                .filter_map(|e| e.file_name().into_string().ok())
                .filter(|n| !n.starts_with('.'))
                .collect();
            names.sort();
            Ok(names)
        })
        .await
    }

    async fn exists(&self, name: &str) -> Result<bool, StoreError> {
        let name = name.to_string();
        self.blocking(move |s| Ok(s.machine_dir(&name).is_dir()))
            .await
    }

    async fn create(&self, config: &MachineConfig) -> Result<MachineLock, StoreError> {
        let config = config.clone();
        self.blocking(move |s| s.create_sync(&config)).await
    }

    async fn read_config(&self, name: &str) -> Result<MachineConfig, StoreError> {
        let name = name.to_string();
        self.blocking(move |s| s.read_config_sync(&name)).await
    }

    async fn write_config(&self, config: &MachineConfig) -> Result<(), StoreError> {
        let config = config.clone();
        self.blocking(move |s| {
            let dir = s.existing_machine_dir(&config.name)?;
            s.write_config_in(&dir, &config)
        })
        .await
    }

    async fn read_blob(&self, name: &str, blob: Blob) -> Result<Option<Vec<u8>>, StoreError> {
        let name = name.to_string();
        self.blocking(move |s| {
            let dir = s.existing_machine_dir(&name)?;
            Self::read_file(&dir.join(blob_file(blob)))
        })
        .await
    }

    async fn read_blobs(
        &self,
        name: &str,
        blobs: &[Blob],
    ) -> Result<Vec<Option<Vec<u8>>>, StoreError> {
        let (name, blobs) = (name.to_string(), blobs.to_vec());
        self.blocking(move |s| {
            let dir = s.existing_machine_dir(&name)?;
            blobs
                .iter()
                .map(|b| Self::read_file(&dir.join(blob_file(*b))))
                .collect()
        })
        .await
    }

    async fn read_record(
        &self,
        name: &str,
        blobs: &[Blob],
    ) -> Result<(MachineConfig, Vec<Option<Vec<u8>>>), StoreError> {
        let (name, blobs) = (name.to_string(), blobs.to_vec());
        self.blocking(move |s| s.read_record_sync(&name, &blobs))
            .await
    }

    async fn read_records(
        &self,
        names: &[String],
        blobs: &[Blob],
    ) -> Result<Vec<RecordRead>, StoreError> {
        let (names, blobs) = (names.to_vec(), blobs.to_vec());
        self.blocking(move |s| {
            Ok(names
                .iter()
                .map(|name| s.read_record_sync(name, &blobs))
                .collect())
        })
        .await
    }

    async fn write_blob(&self, name: &str, blob: Blob, data: &[u8]) -> Result<(), StoreError> {
        let (name, data) = (name.to_string(), data.to_vec());
        self.blocking(move |s| {
            let dir = s.existing_machine_dir(&name)?;
            s.write_file(&dir, blob_file(blob), &data, blob.is_secret())
        })
        .await
    }

    async fn remove(&self, name: &str) -> Result<(), StoreError> {
        let name = name.to_string();
        self.blocking(move |s| {
            let dir = s.machine_dir(&name);
            // renamed away first, so the name is free (and no half-deleted folder is listed)
            // even if deleting the files is interrupted
            let machines = s.root.join(MACHINES);
            let doomed = machines.join(format!(".removing-{name}-{}", std::process::id()));
            match fs::rename(&dir, &doomed) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
                Err(e) => return Err(io("removing", &dir)(e)),
            }
            fs::remove_dir_all(&doomed).map_err(io("removing", &doomed))
        })
        .await
    }

    async fn lock(&self, name: &str) -> Result<MachineLock, StoreError> {
        let name = name.to_string();
        self.blocking(move |s| s.lock_sync(&name)).await
    }

    async fn read_store_certs(&self) -> Result<Option<StoreCerts>, StoreError> {
        self.blocking(|s| {
            let dir = s.root.join(CERTS);
            let mut texts = Vec::new();
            for file in STORE_CERT_FILES {
                let path = dir.join(file);
                match Self::read_file(&path)? {
                    None => return Ok(None),
                    Some(d) => {
                        texts.push(String::from_utf8(d).map_err(|_| StoreError::Corrupt {
                            machine: String::new(),
                            what: path.display().to_string(),
                            reason: "not UTF-8 text".into(),
                        })?)
                    }
                }
            }
            Ok(Some(StoreCerts::from_pems(
                texts.try_into().expect("four files"),
            )))
        })
        .await
    }

    async fn write_store_certs(&self, certs: &StoreCerts) -> Result<(), StoreError> {
        let certs = certs.clone();
        self.blocking(move |s| {
            let dir = s.root.join(CERTS);
            let [ca, ca_key, cert, key] = STORE_CERT_FILES;
            s.write_file(&dir, ca, certs.ca.cert.as_bytes(), false)?;
            s.write_file(&dir, ca_key, certs.ca.key.as_bytes(), true)?;
            s.write_file(&dir, cert, certs.client.cert.as_bytes(), false)?;
            s.write_file(&dir, key, certs.client.key.as_bytes(), true)
        })
        .await
    }

    async fn lock_store_certs(&self) -> Result<MachineLock, StoreError> {
        self.blocking(|s| {
            let lock = lock_file(&s.root.join(CERTS).join(LOCK_FILE))?;
            Ok(Box::new(lock) as MachineLock)
        })
        .await
    }

    async fn export(&self, name: &str, known_hosts: &str) -> Result<ExportedFiles, StoreError> {
        let (name, known_hosts) = (name.to_string(), known_hosts.to_string());
        self.blocking(move |s| {
            // the record's files already are where outside programs look: only known_hosts
            // is derived
            let dir = s.existing_machine_dir(&name)?;
            let kh = dir.join(KNOWN_HOSTS);
            if Self::read_file(&kh)?.as_deref() != Some(known_hosts.as_bytes()) {
                s.write_file(&dir, KNOWN_HOSTS, known_hosts.as_bytes(), false)?;
            }
            Ok(ExportedFiles {
                ca_cert: dir.join(blob_file(Blob::CaCert)),
                client_cert: dir.join(blob_file(Blob::ClientCert)),
                client_key: dir.join(blob_file(Blob::ClientKey)),
                ssh_key: dir.join(blob_file(Blob::SshKey)),
                known_hosts: kh,
                dir,
            })
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::contract;

    /// A temporary folder only its owner may access (tempfile's folders are 0755).
    fn private_tempdir() -> tempfile::TempDir {
        tempfile::Builder::new()
            .permissions(fs::Permissions::from_mode(0o700))
            .tempdir()
            .unwrap()
    }

    #[tokio::test]
    async fn keeps_the_store_contract() {
        let dir = private_tempdir();
        contract::check(&FileStore::open(dir.path().join("s")).unwrap()).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn of_eight_creates_of_one_name_one_wins() {
        let dir = private_tempdir();
        contract::check_create_race(std::sync::Arc::new(FileStore::open(dir.path()).unwrap()))
            .await;
        // and the loser left no temporary folder behind
        let left: Vec<_> = fs::read_dir(dir.path().join("machines"))
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        assert_eq!(left, vec!["race"]);
    }

    /// `cp -a FROM TO`, for folders of files.
    fn copy_dir(from: &Path, to: &Path) {
        fs::create_dir(to).unwrap();
        fs::set_permissions(to, fs::metadata(from).unwrap().permissions()).unwrap();
        for e in fs::read_dir(from).unwrap() {
            let e = e.unwrap();
            fs::copy(e.path(), to.join(e.file_name())).unwrap();
        }
    }

    #[tokio::test]
    async fn a_copied_machine_folder_is_refused() {
        let dir = private_tempdir();
        let store = FileStore::open(dir.path()).unwrap();
        let machines = dir.path().join(MACHINES);
        contract::check_misfiled(&store, |from, to| {
            copy_dir(&machines.join(from), &machines.join(to));
            std::future::ready(())
        })
        .await;
        // a version 1 copy is refused before its upgrade writes anything
        drop(
            store
                .create(&MachineConfig::new(
                    "v1",
                    "generic",
                    "generic",
                    Default::default(),
                ))
                .await
                .unwrap(),
        );
        copy_dir(&machines.join("v1"), &machines.join("v1copy"));
        let path = machines.join("v1copy").join(CONFIG_FILE);
        let mut v: serde_json::Value = serde_json::from_slice(&fs::read(&path).unwrap()).unwrap();
        v["config_version"] = 1.into();
        let old = serde_json::to_vec(&v).unwrap();
        fs::write(&path, &old).unwrap();
        assert!(matches!(
            store.read_config("v1copy").await,
            Err(StoreError::Misfiled { .. })
        ));
        assert_eq!(fs::read(&path).unwrap(), old, "the copy was upgraded");
    }

    #[test]
    fn a_store_others_can_access_is_refused() {
        let dir = private_tempdir();
        let root = dir.path().join("store");
        FileStore::open(&root).unwrap();
        let chmod =
            |p: &Path, m: u32| fs::set_permissions(p, fs::Permissions::from_mode(m)).unwrap();

        chmod(&root, 0o755);
        match FileStore::open(&root) {
            Err(StoreError::UnsafePermissions {
                path, mode, dir, ..
            }) => {
                assert_eq!((path, mode, dir), (root.clone(), 0o755, true))
            }
            other => panic!("a 0755 store was opened: {other:?}"),
        }
        chmod(&root, 0o700);

        chmod(&root.join("certs"), 0o770);
        assert!(matches!(
            FileStore::open(&root),
            Err(StoreError::UnsafePermissions { path, .. }) if path == root.join("certs")
        ));
        chmod(&root.join("certs"), 0o700);

        // a CA key planted (or left) readable by others
        let key = root.join("certs/ca-key.pem");
        fs::write(&key, "key").unwrap();
        chmod(&key, 0o644);
        let e = FileStore::open(&root).unwrap_err();
        assert!(
            matches!(&e, StoreError::UnsafePermissions { path, mode: 0o644, dir: false, .. } if *path == key),
            "{e:?}"
        );
        assert!(
            e.to_string().contains("accessible to others (mode 0644)"),
            "{e}"
        );
        chmod(&key, 0o600);
        FileStore::open(&root).unwrap();
    }

    #[test]
    fn a_linked_store_folder_or_key_is_refused_naming_where_it_leads() {
        let dir = private_tempdir();
        let real = dir.path().join("real");
        FileStore::open(&real).unwrap();
        let link = dir.path().join("link");
        std::os::unix::fs::symlink(&real, &link).unwrap();
        let e = FileStore::open(&link).unwrap_err();
        match &e {
            StoreError::Symlink {
                path,
                target,
                store_root,
            } => assert_eq!(
                (path, target.as_deref(), *store_root),
                (&link, Some(real.as_path()), true)
            ),
            other => panic!("{other:?}"),
        }
        let text = e.to_string();
        assert!(
            text.contains("is a symbolic link to") && !text.contains("mode"),
            "{text}"
        );
        // the folder it leads to is a store as it is
        FileStore::open(&real).unwrap();

        // a linked folder inside the store
        let elsewhere = dir.path().join("machines-elsewhere");
        fs::rename(real.join("machines"), &elsewhere).unwrap();
        std::os::unix::fs::symlink(&elsewhere, real.join("machines")).unwrap();
        assert!(matches!(
            FileStore::open(&real),
            Err(StoreError::Symlink { path, store_root: false, .. }) if path == real.join("machines")
        ));
        fs::remove_file(real.join("machines")).unwrap();
        fs::rename(&elsewhere, real.join("machines")).unwrap();

        // a key that is a link, even a broken one
        let key = real.join("certs/ca-key.pem");
        std::os::unix::fs::symlink(dir.path().join("gone.pem"), &key).unwrap();
        let e = FileStore::open(&real).unwrap_err();
        assert!(
            matches!(&e, StoreError::Symlink { path, target: None, .. } if *path == key),
            "{e:?}"
        );
        assert!(e.to_string().contains("to nothing"), "{e}");
        fs::remove_file(&key).unwrap();
        FileStore::open(&real).unwrap();
    }

    #[test]
    fn a_store_of_another_user_is_refused() {
        let dir = private_tempdir();
        let (path, other) = if rustix::process::geteuid().is_root() {
            // root gives a private folder away
            std::os::unix::fs::chown(dir.path(), Some(65534), None).unwrap();
            (dir.path().to_path_buf(), 65534)
        } else {
            // anyone else: / belongs to root
            (PathBuf::from("/"), 0)
        };
        let e = FileStore::open(&path).unwrap_err();
        assert!(
            matches!(e, StoreError::UnsafePermissions { owner, .. } if owner == other),
            "{e:?}"
        );
        assert!(
            e.to_string().contains(&format!("owned by user id {other}")),
            "{e}"
        );
    }

    #[tokio::test]
    async fn a_newer_config_is_refused_and_left_untouched() {
        let dir = private_tempdir();
        let store = FileStore::open(dir.path()).unwrap();
        let config = MachineConfig::new("m1", "generic", "generic", Default::default());
        drop(store.create(&config).await.unwrap());
        let path = dir.path().join("machines/m1/config.json");
        // a later release: a new version, and a field that changes meaning
        let mut v: serde_json::Value = serde_json::from_slice(&fs::read(&path).unwrap()).unwrap();
        v["config_version"] = (crate::config::CONFIG_VERSION + 1).into();
        v["tls"] = serde_json::json!({"mode": "new"});
        let newer = serde_json::to_vec_pretty(&v).unwrap();
        fs::write(&path, &newer).unwrap();
        for r in [
            store.read_config("m1").await.map(|_| ()),
            store.read_record("m1", &[Blob::CaCert]).await.map(|_| ()),
            store
                .read_records(&["m1".into()], &[Blob::CaCert])
                .await
                .unwrap()
                .remove(0)
                .map(|_| ()),
        ] {
            assert!(
                matches!(r, Err(StoreError::NewerVersion { ref machine, found, supported })
                    if machine == "m1" && found == supported + 1),
                "{r:?}"
            );
        }
        assert_eq!(fs::read(&path).unwrap(), newer, "the record was changed");
    }

    #[tokio::test]
    async fn unknown_fields_are_kept_on_save() {
        let dir = private_tempdir();
        let store = FileStore::open(dir.path()).unwrap();
        let config = MachineConfig::new("m1", "generic", "generic", Default::default());
        drop(store.create(&config).await.unwrap());
        let path = dir.path().join("machines/m1/config.json");
        let mut v: serde_json::Value = serde_json::from_slice(&fs::read(&path).unwrap()).unwrap();
        v["added_later"] = serde_json::json!({"a": [1, 2]});
        fs::write(&path, serde_json::to_vec(&v).unwrap()).unwrap();

        let mut c = store.read_config("m1").await.unwrap();
        c.docker_version = Some("27.0.0".into());
        store.write_config(&c).await.unwrap();
        let saved: serde_json::Value = serde_json::from_slice(&fs::read(&path).unwrap()).unwrap();
        assert_eq!(saved["added_later"], serde_json::json!({"a": [1, 2]}));
        assert_eq!(saved["docker_version"], "27.0.0");
    }

    #[tokio::test]
    async fn layout_and_permissions_are_docker_machines() {
        let dir = private_tempdir();
        let root = dir.path().join("store");
        let store = FileStore::open(&root).unwrap();
        assert_eq!(fs::metadata(&root).unwrap().mode() & 0o777, 0o700);
        let config = MachineConfig::new("m1", "generic", "generic", Default::default());
        drop(store.create(&config).await.unwrap());
        store
            .write_blob("m1", Blob::ClientKey, b"secret")
            .await
            .unwrap();
        store
            .write_blob("m1", Blob::CaCert, b"public")
            .await
            .unwrap();
        let m = root.join("machines/m1");
        assert_eq!(
            fs::metadata(m.join("key.pem")).unwrap().mode() & 0o777,
            0o600
        );
        assert_eq!(
            fs::metadata(m.join("ca.pem")).unwrap().mode() & 0o777,
            0o644
        );
        assert_eq!(
            fs::metadata(m.join("config.json")).unwrap().mode() & 0o777,
            0o600
        );
        let names: Vec<_> = fs::read_dir(&m)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        assert!(
            names.iter().all(|n| !n.starts_with(".key.pem")),
            "{names:?}"
        );
        let files = store.export("m1", "host ssh-ed25519 AAAA\n").await.unwrap();
        assert_eq!(files.dir, m);
        assert_eq!(
            fs::read_to_string(&files.known_hosts).unwrap(),
            "host ssh-ed25519 AAAA\n"
        );
        assert_eq!(files.ssh_key, m.join("id_ed25519"));
    }

    #[tokio::test]
    async fn a_corrupt_config_names_its_file() {
        let dir = private_tempdir();
        let store = FileStore::open(dir.path()).unwrap();
        fs::create_dir_all(dir.path().join("machines/m")).unwrap();
        fs::write(dir.path().join("machines/m/config.json"), b"{not json").unwrap();
        let err = store.read_config("m").await.unwrap_err();
        assert!(err.to_string().contains("machines/m/config.json"), "{err}");
        assert_eq!(store.names().await.unwrap(), vec!["m"]);
    }

    #[tokio::test]
    async fn a_version_1_record_is_upgraded_on_read() {
        // the committed store of the previous release (see its README)
        let fixture = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../tests/e2e/fixtures/store-v1/store/machines/old1");
        let dir = private_tempdir();
        let store = FileStore::open(dir.path()).unwrap();
        let m = dir.path().join("machines/old1");
        fs::create_dir_all(&m).unwrap();
        for e in fs::read_dir(&fixture).unwrap() {
            let e = e.unwrap();
            let text = fs::read_to_string(e.path())
                .unwrap()
                .replace("@STORE@", dir.path().to_str().unwrap())
                .replace("@IP@", "192.0.2.7")
                .replace("@HOSTKEY@", "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIC8ZZUmGdZguG05T8g+2Ro2DSmLNtgfwrYMLXmCDiBbw");
            fs::write(m.join(e.file_name()), text).unwrap();
        }
        let c = store.read_config("old1").await.unwrap();
        assert_eq!(c.config_version, crate::config::CONFIG_VERSION);
        assert_eq!(c.phase, crate::config::Phase::Ready);
        assert!(c.creation_id.starts_with("v1-old1-"), "{}", c.creation_id);
        assert_eq!(c.driver_config["ip"], "192.0.2.7");
        assert!(c.driver_config.get("ssh_key").is_none());
        assert!(c.driver_config.get("host_key").is_none());
        assert_eq!(c.engine.labels, vec!["env=legacy"]);
        // the key the host accepts (the user's key, copied by version 1) is the machine's key
        assert_eq!(
            store
                .read_blob("old1", Blob::SshKey)
                .await
                .unwrap()
                .unwrap(),
            fs::read(m.join("id_generic")).unwrap()
        );
        // upgraded once, in place: reading again gives the same record
        assert_eq!(store.read_config("old1").await.unwrap(), c);
    }

    #[tokio::test]
    async fn a_newer_config_is_refused_not_half_read() {
        let dir = private_tempdir();
        let store = FileStore::open(dir.path()).unwrap();
        fs::create_dir_all(dir.path().join("machines/m")).unwrap();
        fs::write(
            dir.path().join("machines/m/config.json"),
            br#"{"config_version": 99, "name": "m"}"#,
        )
        .unwrap();
        assert!(matches!(
            store.read_config("m").await,
            Err(StoreError::NewerVersion { found: 99, .. })
        ));
    }

    #[tokio::test]
    async fn a_lock_on_a_removed_and_recreated_machine_is_refused() {
        let dir = private_tempdir();
        let store = FileStore::open(dir.path()).unwrap();
        let config = MachineConfig::new("m", "d", "d", Default::default());
        let held = store.create(&config).await.unwrap();
        let s2 = store.clone();
        let waiter = tokio::spawn(async move { s2.lock("m").await.map(|_| ()) });
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        store.remove("m").await.unwrap();
        let _new = store
            .create(&MachineConfig::new("m", "d", "d", Default::default()))
            .await
            .unwrap();
        drop(held);
        let r = tokio::time::timeout(std::time::Duration::from_secs(5), waiter)
            .await
            .unwrap()
            .unwrap();
        assert!(matches!(r, Err(StoreError::NotFound(_))), "{r:?}");
    }
}
