//! Copying a store to another (a folder to etcd, etcd to a folder, ...), then checking that
//! the copy reads back the same.

use super::{Blob, Store, StoreError};

/// What [`migrate`] did.
#[derive(Debug, Default)]
#[non_exhaustive]
pub struct Migration {
    /// Machines copied and read back identical.
    pub copied: Vec<String>,
    /// Machines not copied (or not identical when read back), and why.
    pub failed: Vec<(String, StoreError)>,
    /// Whether the store's CA and client certificate were copied.
    pub certs: bool,
}

/// Copies every machine of `from` (config and blobs, each under its lock) and the store's
/// certificates into `to`, then reads each back from `to` and compares. A machine that is
/// broken in `from`, or already in `to`, is reported and the others go on. The source is only
/// read.
pub async fn migrate(from: &dyn Store, to: &dyn Store) -> Result<Migration, StoreError> {
    let mut out = Migration::default();
    if let Some(certs) = from.read_store_certs().await? {
        let _l = to.lock_store_certs().await?;
        match to.read_store_certs().await? {
            Some(there) if there != certs => {
                return Err(StoreError::Unusable {
                    location: to.location(),
                    reason: "it already has another CA, which its machines trust".into(),
                })
            }
            Some(_) => {}
            None => to.write_store_certs(&certs).await?,
        }
        if to.read_store_certs().await?.as_ref() != Some(&certs) {
            return Err(StoreError::Unusable {
                location: to.location(),
                reason: "its certificates read back different from what was written".into(),
            });
        }
        out.certs = true;
    }
    for name in from.names().await? {
        match copy(from, to, &name).await {
            Ok(()) => out.copied.push(name),
            Err(e) => out.failed.push((name, e)),
        }
    }
    Ok(out)
}

async fn copy(from: &dyn Store, to: &dyn Store, name: &str) -> Result<(), StoreError> {
    let _source = from.lock(name).await?;
    let (config, blobs) = from.read_record(name, &Blob::ALL).await?;
    let _target = to.create(&config).await?;
    for (b, data) in Blob::ALL.iter().zip(&blobs) {
        if let Some(d) = data {
            to.write_blob(name, *b, d).await?;
        }
    }
    let (config2, blobs2) = to.read_record(name, &Blob::ALL).await?;
    if config2 != config || blobs2 != blobs {
        return Err(StoreError::Corrupt {
            machine: name.into(),
            what: format!("its copy in {}", to.location()),
            reason: "it reads back different from the original".into(),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::MachineConfig;
    use crate::store::{FileStore, MemoryStore};

    #[tokio::test]
    async fn a_store_is_copied_and_a_broken_record_reported() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::set_permissions(
            dir.path(),
            std::os::unix::fs::PermissionsExt::from_mode(0o700),
        )
        .unwrap();
        let from = FileStore::open(dir.path()).unwrap();
        for n in ["a", "b"] {
            drop(
                from.create(&MachineConfig::new(
                    n,
                    "generic",
                    "generic",
                    Default::default(),
                ))
                .await
                .unwrap(),
            );
            from.write_blob(n, Blob::SshKey, n.as_bytes())
                .await
                .unwrap();
        }
        std::fs::create_dir(dir.path().join("machines/broken")).unwrap();
        let to = MemoryStore::new();
        let m = migrate(&from, &to).await.unwrap();
        assert_eq!(m.copied, vec!["a", "b"]);
        assert_eq!(m.failed.len(), 1);
        assert_eq!(m.failed[0].0, "broken");
        assert_eq!(
            to.read_blob("b", Blob::SshKey).await.unwrap().unwrap(),
            b"b"
        );
        // again: every machine is already there
        let again = migrate(&from, &to).await.unwrap();
        assert!(again.copied.is_empty());
        assert!(matches!(again.failed[0].1, StoreError::AlreadyExists(_)));
    }
}
