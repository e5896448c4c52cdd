//! Locks held as etcd leases. A lock is a prefix; each taker puts a key under it, attached to
//! a lease it keeps alive, and holds the lock once its key is the oldest there. Releasing
//! revokes the lease (deleting the key); a taker that dies stops renewing, and etcd deletes its
//! key when the lease's time is up.

use super::EtcdStore;
use crate::store::{LockGuard, StoreError};
use etcd_client::{Client, GetOptions, PutOptions, SortOrder, SortTarget};
use std::future::Future;
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
    async fn grant(store: &EtcdStore) -> Result<Lease, StoreError> {
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

    /// Grants a lease and makes `write` with it (`write` gets the lease's id, to attach it with
    /// `key_under` and `put_options`). etcd can refuse such a write with "requested lease
    /// not found" although the lease was granted a moment before (etcd-io/etcd#9374; seen here
    /// on a loaded three-member test cluster). Nothing was written then, so this grants another
    /// lease and writes again, up to three times.
    pub(super) async fn grant_for<T, F, Fut>(
        store: &EtcdStore,
        op: &'static str,
        write: F,
    ) -> Result<(Lease, T), StoreError>
    where
        F: Fn(Client, i64) -> Fut,
        Fut: Future<Output = Result<T, etcd_client::Error>>,
    {
        let mut tries = 0;
        loop {
            let lease = Lease::grant(store).await?;
            let id = lease.id;
            let written = store
                .retry(op, |c| {
                    let w = write(c, id);
                    async move {
                        match w.await {
                            Err(e) if lease_not_found(&e) => Ok(None),
                            r => r.map(Some),
                        }
                    }
                })
                .await;
            match written {
                Ok(Some(v)) => return Ok((lease, v)),
                Ok(None) if tries < 2 => {
                    tracing::debug!("etcd {op}: the lease just granted was not found; again");
                    tries += 1;
                    lease.release().await;
                }
                Ok(None) => {
                    lease.release().await;
                    return Err(store.backend(
                        op,
                        "etcd lost three leases in a row right after granting them",
                    ));
                }
                Err(e) => {
                    lease.release().await;
                    return Err(e);
                }
            }
        }
    }

    pub(super) fn key_under(&self, prefix: &str) -> String {
        key_under(prefix, self.id)
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

/// The key lease `id` puts under the lock `prefix`.
pub(super) fn key_under(prefix: &str, id: i64) -> String {
    format!("{prefix}{id:016x}")
}

/// Attaches lease `id` to a put.
pub(super) fn put_options(id: i64) -> PutOptions {
    PutOptions::new().with_lease(id)
}

/// etcd's answer to a write attaching a lease it does not know (gRPC NOT_FOUND).
fn lease_not_found(e: &etcd_client::Error) -> bool {
    matches!(e, etcd_client::Error::GRpcStatus(s)
        if i32::from(s.code()) == 5 && s.message().contains("lease not found"))
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
    let (lease, _) = Lease::grant_for(store, "locking", |mut c, id| {
        let key = key_under(prefix, id);
        async move { c.put(key, "", Some(put_options(id))).await }
    })
    .await?;
    let key = lease.key_under(prefix);
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
