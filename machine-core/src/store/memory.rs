//! An in-memory store: the library's unit tests, and programs that keep nothing between runs.
//! Exported files go to a private temporary folder that lives as long as the store.

use super::{Blob, ExportedFiles, LockGuard, MachineLock, Store, StoreCerts, StoreError};
use crate::config::MachineConfig;
use async_trait::async_trait;
use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

struct Record {
    config: MachineConfig,
    blobs: HashMap<Blob, Vec<u8>>,
    /// This incarnation's lock: a new record of the same name gets a new one.
    lock: Arc<tokio::sync::Mutex<()>>,
}

/// A store in memory.
pub struct MemoryStore {
    records: Mutex<BTreeMap<String, Record>>,
    certs: Mutex<Option<StoreCerts>>,
    certs_lock: Arc<tokio::sync::Mutex<()>>,
    exports: tempfile::TempDir,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> MemoryStore {
        MemoryStore {
            records: Mutex::default(),
            certs: Mutex::default(),
            certs_lock: Arc::default(),
            exports: tempfile::Builder::new()
                .prefix("machine-store-")
                .tempdir()
                .expect("a temporary folder can be made"),
        }
    }

    fn with<T>(&self, name: &str, f: impl FnOnce(&mut Record) -> T) -> Result<T, StoreError> {
        let mut records = self.records.lock().unwrap();
        records
            .get_mut(name)
            .map(f)
            .ok_or_else(|| StoreError::NotFound(name.to_string()))
    }
}

impl Default for MemoryStore {
    fn default() -> Self {
        MemoryStore::new()
    }
}

struct MemoryLock(#[allow(dead_code)] tokio::sync::OwnedMutexGuard<()>);
impl LockGuard for MemoryLock {}

#[async_trait]
impl Store for MemoryStore {
    fn location(&self) -> String {
        "memory".into()
    }

    fn export_root(&self) -> PathBuf {
        self.exports.path().to_path_buf()
    }

    async fn names(&self) -> Result<Vec<String>, StoreError> {
        Ok(self.records.lock().unwrap().keys().cloned().collect())
    }

    async fn exists(&self, name: &str) -> Result<bool, StoreError> {
        Ok(self.records.lock().unwrap().contains_key(name))
    }

    async fn create(&self, config: &MachineConfig) -> Result<MachineLock, StoreError> {
        let mut records = self.records.lock().unwrap();
        if records.contains_key(&config.name) {
            return Err(StoreError::AlreadyExists(config.name.clone()));
        }
        let lock: Arc<tokio::sync::Mutex<()>> = Arc::default();
        let guard = lock.clone().try_lock_owned().expect("a new lock is free");
        records.insert(
            config.name.clone(),
            Record {
                config: config.clone(),
                blobs: HashMap::new(),
                lock,
            },
        );
        Ok(Box::new(MemoryLock(guard)))
    }

    async fn read_config(&self, name: &str) -> Result<MachineConfig, StoreError> {
        let config = self.with(name, |r| r.config.clone())?;
        if config.name != name {
            return Err(StoreError::Misfiled {
                stored_as: name.to_string(),
                recorded: config.name,
                what: "its record in memory".into(),
            });
        }
        Ok(config)
    }

    async fn write_config(&self, config: &MachineConfig) -> Result<(), StoreError> {
        self.with(&config.name, |r| r.config = config.clone())
    }

    async fn read_blob(&self, name: &str, blob: Blob) -> Result<Option<Vec<u8>>, StoreError> {
        self.with(name, |r| r.blobs.get(&blob).cloned())
    }

    async fn write_blob(&self, name: &str, blob: Blob, data: &[u8]) -> Result<(), StoreError> {
        self.with(name, |r| {
            r.blobs.insert(blob, data.to_vec());
        })
    }

    async fn remove(&self, name: &str) -> Result<(), StoreError> {
        self.records.lock().unwrap().remove(name);
        let _ = std::fs::remove_dir_all(self.exports.path().join("machines").join(name));
        Ok(())
    }

    async fn lock(&self, name: &str) -> Result<MachineLock, StoreError> {
        let lock = self.with(name, |r| r.lock.clone())?;
        let guard = lock.clone().lock_owned().await;
        // removed (and perhaps created again) while waiting: not this incarnation's lock
        let same = self.with(name, |r| Arc::ptr_eq(&r.lock, &lock));
        match same {
            Ok(true) => Ok(Box::new(MemoryLock(guard))),
            _ => Err(StoreError::NotFound(name.to_string())),
        }
    }

    async fn read_store_certs(&self) -> Result<Option<StoreCerts>, StoreError> {
        Ok(self.certs.lock().unwrap().clone())
    }

    async fn write_store_certs(&self, certs: &StoreCerts) -> Result<(), StoreError> {
        *self.certs.lock().unwrap() = Some(certs.clone());
        Ok(())
    }

    async fn lock_store_certs(&self) -> Result<MachineLock, StoreError> {
        Ok(Box::new(MemoryLock(
            self.certs_lock.clone().lock_owned().await,
        )))
    }

    async fn export(&self, name: &str, known_hosts: &str) -> Result<ExportedFiles, StoreError> {
        let blobs = self.with(name, |r| r.blobs.clone())?;
        let dir = self.exports.path().join("machines").join(name);
        let write = |file: &str, data: &[u8], secret: bool| -> Result<PathBuf, StoreError> {
            use std::os::unix::fs::PermissionsExt;
            let path = dir.join(file);
            let io = |source| StoreError::Io {
                op: "writing",
                path: path.clone(),
                source,
            };
            std::fs::create_dir_all(&dir).map_err(io)?;
            std::fs::write(&path, data).map_err(io)?;
            let mode = if secret { 0o600 } else { 0o644 };
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).map_err(io)?;
            Ok(path)
        };
        let blob = |b: Blob| blobs.get(&b).cloned().unwrap_or_default();
        Ok(ExportedFiles {
            ca_cert: write("ca.pem", &blob(Blob::CaCert), false)?,
            client_cert: write("cert.pem", &blob(Blob::ClientCert), false)?,
            client_key: write("key.pem", &blob(Blob::ClientKey), true)?,
            ssh_key: write("id_ed25519", &blob(Blob::SshKey), true)?,
            known_hosts: write("known_hosts", known_hosts.as_bytes(), false)?,
            dir,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn keeps_the_store_contract() {
        crate::store::contract::check(&MemoryStore::new()).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn of_eight_creates_of_one_name_one_wins() {
        crate::store::contract::check_create_race(std::sync::Arc::new(MemoryStore::new())).await;
    }

    #[tokio::test]
    async fn a_record_under_another_name_is_refused() {
        let store = MemoryStore::new();
        crate::store::contract::check_misfiled(&store, |from, to| {
            let mut records = store.records.lock().unwrap();
            let copy = Record {
                config: records[from].config.clone(),
                blobs: records[from].blobs.clone(),
                lock: Arc::default(),
            };
            records.insert(to.to_string(), copy);
            std::future::ready(())
        })
        .await;
    }
}
