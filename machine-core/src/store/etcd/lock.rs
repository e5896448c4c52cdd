//! Locks held as etcd leases. A lock is a prefix; each taker puts a key under it, attached to
//! a lease it keeps alive, and holds the lock once its key is the oldest there. Releasing
//! revokes the lease (deleting the key); a taker that dies stops renewing, and etcd deletes its
//! key when the lease's time is up.

use super::EtcdStore;
use crate::store::{LockGuard, StoreError};
use etcd_client::{GetOptions, PutOptions, SortOrder, SortTarget};
use std::time::Duration;
use tokio::task::JoinHandle;

/// A lease kept alive by a task until released (or dropped: a taker given up on, say by a
/// timeout, must not leave its key in the queue).
pub(super) struct Lease {
    store: EtcdStore,
    id: i64,
    keeper: JoinHandle<()>,
    released: bool,
}

impl Lease {
    pub(super) async fn grant(store: &EtcdStore) -> Result<Lease, StoreError> {
        let ttl = store.inner.lease_ttl;
        let resp = store
            .retry("taking a lease from", |mut c| async move {
                c.lease_grant(ttl, None).await
            })
            .await?;
        let id = resp.id();
        let client = store.inner.client.clone();
        let keeper = tokio::spawn(async move {
            let every = Duration::from_secs((ttl as u64 / 3).max(1));
            loop {
                // a member that goes away breaks the stream: open another
                if let Ok((mut keeper, mut stream)) = client.clone().lease_keep_alive(id).await {
                    loop {
                        if keeper.keep_alive().await.is_err() {
                            break;
                        }
                        match stream.message().await {
                            Ok(Some(r)) if r.ttl() > 0 => {}
                            Ok(Some(_)) => return, // expired or revoked: nothing to keep
                            _ => break,
                        }
                        tokio::time::sleep(every).await;
                    }
                }
                tokio::time::sleep(Duration::from_millis(300)).await;
            }
        });
        Ok(Lease {
            store: store.clone(),
            id,
            keeper,
            released: false,
        })
    }

    pub(super) fn key_under(&self, prefix: &str) -> String {
        format!("{prefix}{:016x}", self.id)
    }

    pub(super) fn put_options(&self) -> PutOptions {
        PutOptions::new().with_lease(self.id)
    }

    /// The lock `prefix`, held with this lease's key under it: writes to what it guards are
    /// fenced by that key from now on (`EtcdStore::fenced_txn`).
    pub(super) fn held(self, prefix: &str) -> HeldLock {
        let key = self.key_under(prefix);
        self.store
            .inner
            .held
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(prefix.to_string(), key);
        HeldLock {
            prefix: prefix.to_string(),
            lease: self,
        }
    }

    /// Revokes the lease now.
    pub(super) async fn release(mut self) {
        self.released = true;
        self.keeper.abort();
        revoke(self.store.clone(), self.id).await;
    }
}

async fn revoke(store: EtcdStore, id: i64) {
    let mut c = store.inner.client.clone();
    let _ = tokio::time::timeout(Duration::from_secs(3), c.lease_revoke(id)).await;
}

impl Drop for Lease {
    fn drop(&mut self) {
        if self.released {
            return;
        }
        self.keeper.abort();
        let (store, id) = (self.store.clone(), self.id);
        // revoked before the drop returns where the runtime allows it, so the next command
        // (perhaps another process, right after this one exits) finds the lock free
        match tokio::runtime::Handle::try_current() {
            Ok(h) if h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => {
                tokio::task::block_in_place(|| h.block_on(revoke(store, id)))
            }
            Ok(h) => {
                h.spawn(revoke(store, id));
            }
            Err(_) => {}
        }
    }
}

/// A held lock; released (its lease revoked) when dropped.
pub(super) struct HeldLock {
    prefix: String,
    lease: Lease,
}

impl LockGuard for HeldLock {}

impl Drop for HeldLock {
    fn drop(&mut self) {
        let mut held = self
            .lease
            .store
            .inner
            .held
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if held.get(&self.prefix) == Some(&self.lease.key_under(&self.prefix)) {
            held.remove(&self.prefix);
        }
    }
}

#[cfg(test)]
impl HeldLock {
    /// Stops renewing without revoking: what a killed holder leaves behind.
    pub(super) fn abandon(mut self) {
        self.stop_renewing();
        self.lease.released = true;
    }

    /// Stops renewing, the lock still held as far as this process knows: what a holder cut
    /// off from etcd for longer than its lease goes through.
    pub(super) fn stop_renewing(&mut self) {
        self.lease.keeper.abort();
    }
}

/// Takes the lock `prefix`, waiting for older takers. `None` if this taker's key was deleted
/// while it waited (the machine was removed).
pub(super) async fn acquire(
    store: &EtcdStore,
    prefix: &str,
) -> Result<Option<HeldLock>, StoreError> {
    let lease = Lease::grant(store).await?;
    let key = lease.key_under(prefix);
    let opts = lease.put_options();
    let put = store
        .retry("locking", |mut c| {
            let (key, opts) = (key.clone(), opts.clone());
            async move { c.put(key, "", Some(opts)).await }
        })
        .await;
    if let Err(e) = put {
        lease.release().await;
        return Err(e);
    }
    let mut pause = Duration::from_millis(20);
    loop {
        let oldest = store
            .retry("locking", |mut c| {
                let prefix = prefix.to_string();
                async move {
                    let opts = GetOptions::new()
                        .with_prefix()
                        .with_keys_only()
                        .with_sort(SortTarget::Create, SortOrder::Ascend)
                        .with_limit(1);
                    c.get(prefix, Some(opts)).await
                }
            })
            .await;
        let oldest = match oldest {
            Ok(r) => r.kvs().first().map(|kv| kv.key().to_vec()),
            Err(e) => {
                lease.release().await;
                return Err(e);
            }
        };
        match oldest {
            Some(k) if k == key.as_bytes() => return Ok(Some(lease.held(prefix))),
            Some(_) => {}
            None => {
                lease.release().await;
                return Ok(None);
            }
        }
        // is this taker's own key still there?
        let mine = store.key_exists("locking", &key).await;
        if !matches!(mine, Ok(true)) {
            lease.release().await;
            return mine.map(|_| None);
        }
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(Duration::from_millis(250));
    }
}
