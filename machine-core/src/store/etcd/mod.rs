//! The etcd store: machines shared by a team, or by several managers, in an etcd v3 cluster.
//!
//! ```text
//! PREFIX/machines/NAME        one record per machine: its config and every blob (JSON)
//! PREFIX/certs                the store's CA and client certificate (JSON)
//! PREFIX/locks/NAME/LEASE     a machine's lock: the oldest key under NAME/ holds it
//! PREFIX/certs-lock/LEASE     the lock of the store's certificates
//! ```
//!
//! - a create is one transaction that succeeds only if the name is free, and puts the winner's
//!   lock key with the record;
//! - every update reads the record and writes it back on condition that its revision did not
//!   change meanwhile (retried otherwise), so of two managers changing one machine neither
//!   loses the other's change;
//! - a lock key lives as long as an etcd lease this process keeps alive: a holder that crashes
//!   stops renewing it, and etcd deletes the key when the lease's time is up
//!   ([`EtcdOptions::lease_ttl`]); and while this process holds a lock, its writes to what the
//!   lock guards are fenced by its key: a holder cut off from etcd for longer than its lease
//!   (whose lock another process may hold by now) has them refused
//!   ([`StoreError::LockLost`]) rather than undo the next holder's;
//! - the record's create revision tells one incarnation of a name from the next;
//! - private keys, the store's CA key and the driver's secret options are sealed with the
//!   store key ([`StoreKey`]) before they leave this process; without the key everything else
//!   still reads (names, driver, addresses), and what needs a secret fails with
//!   [`StoreError::KeyMissing`];
//! - what outside programs need on disk is written to a per-user cache (0700) on every
//!   [`Store::export`], from the record as it is now, so a certificate another workstation
//!   rotated reaches this one on its next command.

mod cache;
mod key;
mod lock;
mod options;
mod record;

pub use key::{KeyError, StoreKey};
pub use options::EtcdOptions;

use super::{
    Blob, ExportedFiles, MachineLock, RecordRead, Store, StoreCerts, StoreError, RECORDS_PER_READ,
};
use crate::config::MachineConfig;
use async_trait::async_trait;
use etcd_client::{Client, Compare, CompareOp, GetOptions, Txn, TxnOp, TxnOpResponse};
use record::Record;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// A store in an etcd cluster.
#[derive(Clone)]
pub struct EtcdStore {
    inner: Arc<Inner>,
}

struct Inner {
    client: Client,
    location: String,
    prefix: String,
    key: Option<StoreKey>,
    cache_dir: PathBuf,
    lease_ttl: i64,
    /// The locks this process holds: lock prefix → its own key there.
    held: std::sync::Mutex<std::collections::HashMap<String, String>>,
}

/// The largest answer a page of [`RECORDS_PER_READ`] records may be: etcd takes values up to
/// 1.5 MiB by default.
const MAX_PAGE_BYTES: usize = RECORDS_PER_READ * 2 * 1024 * 1024;

/// How many times a request that failed for want of a reachable member is tried.
const TRIES: u32 = 6;

impl EtcdStore {
    /// Connects to the cluster.
    pub async fn connect(opts: EtcdOptions) -> Result<EtcdStore, StoreError> {
        let location = format!("etcd://{}/{}", opts.endpoints.join(","), opts.prefix);
        let unusable = |reason: String| StoreError::Unusable {
            location: location.clone(),
            reason,
        };
        let scheme = if opts.ca_cert.is_some() {
            "https"
        } else {
            "http"
        };
        let urls: Vec<String> = opts
            .endpoints
            .iter()
            .map(|e| format!("{scheme}://{e}"))
            .collect();
        let mut co = etcd_client::ConnectOptions::new()
            .with_connect_timeout(Duration::from_secs(3))
            .with_timeout(Duration::from_secs(10))
            .with_keep_alive(Duration::from_secs(5), Duration::from_secs(3));
        if let Some(ca) = &opts.ca_cert {
            let read = |p: &Path, what: &str| {
                std::fs::read(p)
                    .map_err(|e| unusable(format!("cannot read {what} {}: {e}", p.display())))
            };
            let mut tls = etcd_client::TlsOptions::new().ca_certificate(
                etcd_client::Certificate::from_pem(read(ca, "MACHINE_ETCD_CACERT")?),
            );
            if let Some((cert, key)) = &opts.client_cert {
                tls = tls.identity(etcd_client::Identity::from_pem(
                    read(cert, "MACHINE_ETCD_CERT")?,
                    read(key, "MACHINE_ETCD_KEY")?,
                ));
            }
            co = co.with_tls(tls);
        } else if opts.client_cert.is_some() {
            return Err(unusable(
                "a client certificate needs TLS: set MACHINE_ETCD_CACERT too".into(),
            ));
        }
        if let Some((user, password)) = &opts.user {
            co = co.with_user(user.clone(), password.clone());
        }
        let client = Client::connect(&urls, Some(co))
            .await
            .map_err(|e| unusable(e.to_string()))?;
        let store = EtcdStore {
            inner: Arc::new(Inner {
                client,
                location,
                prefix: format!("{}/", opts.prefix),
                key: opts.store_key,
                cache_dir: opts.cache_dir,
                lease_ttl: opts.lease_ttl,
                held: Default::default(),
            }),
        };
        // one request now, so an unreachable cluster or a refused login is said at once
        store
            .retry(
                "connecting to",
                |mut c| async move { c.get("\0", None).await },
            )
            .await?;
        Ok(store)
    }

    fn machine_key(&self, name: &str) -> String {
        format!("{}machines/{name}", self.inner.prefix)
    }

    fn lock_prefix(&self, name: &str) -> String {
        format!("{}locks/{name}/", self.inner.prefix)
    }

    fn certs_lock_prefix(&self) -> String {
        format!("{}certs-lock/", self.inner.prefix)
    }

    fn machines_prefix(&self) -> String {
        format!("{}machines/", self.inner.prefix)
    }

    fn certs_key(&self) -> String {
        format!("{}certs", self.inner.prefix)
    }

    fn backend(&self, op: &'static str, e: impl std::fmt::Display) -> StoreError {
        StoreError::Backend {
            op,
            location: self.inner.location.clone(),
            reason: e.to_string(),
        }
    }

    /// Runs `f` with a client, again (with a pause) while no member answers.
    async fn retry<T, F, Fut>(&self, op: &'static str, f: F) -> Result<T, StoreError>
    where
        F: Fn(Client) -> Fut,
        Fut: std::future::Future<Output = Result<T, etcd_client::Error>>,
    {
        let mut pause = Duration::from_millis(100);
        let mut tries = 0;
        loop {
            match f(self.inner.client.clone()).await {
                Ok(v) => return Ok(v),
                Err(e) if tries + 1 < TRIES && transient(&e) => {
                    tracing::debug!("etcd {op}: {e}; trying again");
                    tries += 1;
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(Duration::from_secs(2));
                }
                Err(e) => return Err(self.backend(op, e)),
            }
        }
    }

    /// The machine's record and its revision (`None`: no such machine).
    async fn get_record(&self, name: &str) -> Result<Option<(Record, i64, i64)>, StoreError> {
        let key = self.machine_key(name);
        let resp = self
            .retry("reading", |mut c| {
                let key = key.clone();
                async move { c.get(key, None).await }
            })
            .await?;
        match resp.kvs().first() {
            None => Ok(None),
            Some(kv) => Ok(Some((
                Record::parse(name, kv.value())?,
                kv.mod_revision(),
                kv.create_revision(),
            ))),
        }
    }

    /// The machine's record and its revisions; [`StoreError::NotFound`] when there is none.
    async fn existing_record(&self, name: &str) -> Result<(Record, i64, i64), StoreError> {
        self.get_record(name)
            .await?
            .ok_or_else(|| StoreError::NotFound(name.to_string()))
    }

    /// Reads the record, applies `change`, and writes it back if nobody wrote it meanwhile
    /// (else reads again and retries).
    async fn update(
        &self,
        name: &str,
        change: impl Fn(&mut Record) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        let key = self.machine_key(name);
        loop {
            let (mut record, rev, _) = self.existing_record(name).await?;
            change(&mut record)?;
            let data = record.to_bytes();
            let written = self
                .fenced_txn(
                    "writing",
                    &self.lock_prefix(name),
                    || format!("machine {name:?}"),
                    vec![Compare::mod_revision(key.clone(), CompareOp::Equal, rev)],
                    vec![TxnOp::put(key.clone(), data, None)],
                )
                .await?;
            if written {
                return Ok(());
            }
            tracing::debug!("machine {name} changed while being updated; again");
        }
    }

    /// Runs `ops` in one transaction when every comparison of `when` holds and, if this
    /// process holds the lock `lock_prefix`, its key there is still alive; says whether they
    /// ran. A holder cut off from etcd for longer than its lease may still think it holds the
    /// lock while another process does: its write is refused ([`StoreError::LockLost`])
    /// instead of undoing the other's. The fence is the process's: two tasks of one process
    /// that hold one lock one after the other (the first cut off meanwhile) share it.
    async fn fenced_txn(
        &self,
        op: &'static str,
        lock_prefix: &str,
        what: impl FnOnce() -> String,
        mut when: Vec<Compare>,
        ops: Vec<TxnOp>,
    ) -> Result<bool, StoreError> {
        let mine = self
            .inner
            .held
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(lock_prefix)
            .cloned();
        if let Some(k) = &mine {
            when.push(Compare::version(k.clone(), CompareOp::Greater, 0));
        }
        let txn = Txn::new().when(when).and_then(ops);
        let resp = self
            .retry(op, |mut c| {
                let txn = txn.clone();
                async move { c.txn(txn).await }
            })
            .await?;
        if resp.succeeded() {
            return Ok(true);
        }
        // Refused for want of the lock key: lost, unless this process released the lock
        // meanwhile (another task's, say, done while this write was on its way).
        let Some(k) = mine else { return Ok(false) };
        let still_held = || {
            self.inner
                .held
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .get(lock_prefix)
                == Some(&k)
        };
        if still_held() && !self.key_exists("reading", &k).await? && still_held() {
            return Err(StoreError::LockLost { what: what() });
        }
        Ok(false)
    }

    /// Whether `key` is in etcd (`op` names the request in errors).
    async fn key_exists(&self, op: &'static str, key: &str) -> Result<bool, StoreError> {
        let resp = self
            .retry(op, |mut c| {
                let key = key.to_string();
                async move { c.get(key, Some(GetOptions::new().with_count_only())).await }
            })
            .await?;
        Ok(resp.count() > 0)
    }

    /// A record's config and the given blobs, opened with the store key.
    fn open_record(&self, name: &str, record: &Record, blobs: &[Blob]) -> RecordRead {
        let config = record.config(name, self.key())?;
        let data = blobs
            .iter()
            .map(|b| record.blob(name, *b, self.key()))
            .collect::<Result<_, _>>()?;
        Ok((config, data))
    }

    fn key(&self) -> Option<&StoreKey> {
        self.inner.key.as_ref()
    }
}

/// Whether an etcd error means "no member answered" (worth trying again).
fn transient(e: &etcd_client::Error) -> bool {
    match e {
        etcd_client::Error::TransportError(_) | etcd_client::Error::IoError(_) => true,
        // gRPC's UNKNOWN (2), DEADLINE_EXCEEDED (4), UNAVAILABLE (14)
        etcd_client::Error::GRpcStatus(s) => {
            matches!(i32::from(s.code()), 2 | 4 | 14) && !s.message().contains("authentication")
        }
        _ => false,
    }
}

#[async_trait]
impl Store for EtcdStore {
    fn location(&self) -> String {
        self.inner.location.clone()
    }

    fn export_root(&self) -> PathBuf {
        self.inner.cache_dir.clone()
    }

    async fn names(&self) -> Result<Vec<String>, StoreError> {
        let prefix = self.machines_prefix();
        let resp = self
            .retry("listing", |mut c| {
                let prefix = prefix.clone();
                async move {
                    c.get(
                        prefix,
                        Some(GetOptions::new().with_prefix().with_keys_only()),
                    )
                    .await
                }
            })
            .await?;
        let mut names: Vec<String> = resp
            .kvs()
            .iter()
            .filter_map(|kv| kv.key_str().ok())
            .filter_map(|k| k.strip_prefix(&prefix))
            .map(str::to_string)
            .collect();
        names.sort();
        Ok(names)
    }

    async fn exists(&self, name: &str) -> Result<bool, StoreError> {
        self.key_exists("reading", &self.machine_key(name)).await
    }

    async fn create(&self, config: &MachineConfig) -> Result<MachineLock, StoreError> {
        let name = &config.name;
        let record = Record::new(config, self.key())?;
        let key = self.machine_key(name);
        let lock_prefix = self.lock_prefix(name);
        let (lock, resp) = lock::Lease::grant_for(self, "creating", |mut c, id| {
            let txn = Txn::new()
                .when([Compare::create_revision(key.clone(), CompareOp::Equal, 0)])
                .and_then([
                    TxnOp::put(key.clone(), record.to_bytes(), None),
                    TxnOp::put(
                        lock::key_under(&lock_prefix, id),
                        "",
                        Some(lock::put_options(id)),
                    ),
                ]);
            async move { c.txn(txn).await }
        })
        .await?;
        let lock_key = lock.key_under(&lock_prefix);
        if !resp.succeeded() {
            // A retried create whose first try went through is this create's: that try also
            // wrote this lease's own lock key, which nobody else writes. (The record's creation
            // id is no proof: `store migrate` run again presents the same machine.)
            if !self.key_exists("reading", &lock_key).await? {
                lock.release().await;
                return Err(StoreError::AlreadyExists(name.clone()));
            }
        }
        Ok(Box::new(lock.held(&self.lock_prefix(name))))
    }

    async fn read_config(&self, name: &str) -> Result<MachineConfig, StoreError> {
        let (record, ..) = self.existing_record(name).await?;
        record.config(name, self.key())
    }

    async fn read_public_config(&self, name: &str) -> Result<MachineConfig, StoreError> {
        let (record, ..) = self.existing_record(name).await?;
        record.public_config(name)
    }

    async fn write_config(&self, config: &MachineConfig) -> Result<(), StoreError> {
        self.update(&config.name, |r| r.set_config(config, self.key()))
            .await
    }

    async fn read_blob(&self, name: &str, blob: Blob) -> Result<Option<Vec<u8>>, StoreError> {
        let (record, ..) = self.existing_record(name).await?;
        record.blob(name, blob, self.key())
    }

    async fn read_blobs(
        &self,
        name: &str,
        blobs: &[Blob],
    ) -> Result<Vec<Option<Vec<u8>>>, StoreError> {
        let (record, ..) = self.existing_record(name).await?;
        blobs
            .iter()
            .map(|b| record.blob(name, *b, self.key()))
            .collect()
    }

    async fn read_record(
        &self,
        name: &str,
        blobs: &[Blob],
    ) -> Result<(MachineConfig, Vec<Option<Vec<u8>>>), StoreError> {
        let (record, ..) = self.existing_record(name).await?;
        self.open_record(name, &record, blobs)
    }

    async fn read_records(
        &self,
        names: &[String],
        blobs: &[Blob],
    ) -> Result<Vec<RecordRead>, StoreError> {
        let mut out = Vec::with_capacity(names.len());
        for page in names.chunks(RECORDS_PER_READ) {
            // a read-only transaction: one linearizable read for the whole page
            let txn = Txn::new().and_then(
                page.iter()
                    .map(|n| TxnOp::get(self.machine_key(n), None))
                    .collect::<Vec<_>>(),
            );
            let resp = self
                .retry("reading", |c| {
                    let txn = txn.clone();
                    // a page of records may be larger than gRPC's default 4 MiB answer
                    let mut kv = c.kv_client().max_decoding_message_size(MAX_PAGE_BYTES);
                    async move { kv.txn(txn).await }
                })
                .await?;
            let answers = resp.op_responses();
            if answers.len() != page.len() {
                return Err(self.backend(
                    "reading",
                    format!("{} answers to {} reads", answers.len(), page.len()),
                ));
            }
            for (name, answer) in page.iter().zip(answers) {
                let value = match &answer {
                    TxnOpResponse::Get(get) => get.kvs().first().map(|kv| kv.value()),
                    _ => return Err(self.backend("reading", "an answer that is not a read")),
                };
                out.push(match value {
                    None => Err(StoreError::NotFound(name.clone())),
                    Some(v) => {
                        Record::parse(name, v).and_then(|r| self.open_record(name, &r, blobs))
                    }
                });
            }
        }
        Ok(out)
    }

    async fn write_blob(&self, name: &str, blob: Blob, data: &[u8]) -> Result<(), StoreError> {
        self.update(name, |r| r.set_blob(name, blob, data, self.key()))
            .await
    }

    async fn remove(&self, name: &str) -> Result<(), StoreError> {
        let lock_prefix = self.lock_prefix(name);
        loop {
            let removed = self
                .fenced_txn(
                    "removing",
                    &lock_prefix,
                    || format!("machine {name:?}"),
                    vec![],
                    vec![
                        TxnOp::delete(self.machine_key(name), None),
                        TxnOp::delete(
                            lock_prefix.clone(),
                            Some(etcd_client::DeleteOptions::new().with_prefix()),
                        ),
                    ],
                )
                .await;
            match removed {
                Ok(true) => break,
                Ok(false) => continue,
                // the lock key goes with the record: a retried remove whose first try went
                // through finds both gone, and is done
                Err(StoreError::LockLost { .. })
                    if !self.key_exists("reading", &self.machine_key(name)).await? =>
                {
                    break
                }
                Err(e) => return Err(e),
            }
        }
        if let Ok(dir) = cache::dir_of(&self.inner.cache_dir, name) {
            let _ = std::fs::remove_dir_all(dir);
        }
        Ok(())
    }

    async fn lock(&self, name: &str) -> Result<MachineLock, StoreError> {
        let (_, _, incarnation) = self.existing_record(name).await?;
        let held = lock::acquire(self, &self.lock_prefix(name))
            .await?
            .ok_or_else(|| StoreError::NotFound(name.to_string()))?;
        // removed (and perhaps created again) while this waited: not this incarnation's lock
        match self.get_record(name).await? {
            Some((_, _, now)) if now == incarnation => Ok(Box::new(held)),
            _ => Err(StoreError::NotFound(name.to_string())),
        }
    }

    async fn read_store_certs(&self) -> Result<Option<StoreCerts>, StoreError> {
        let key = self.certs_key();
        let resp = self
            .retry("reading", |mut c| {
                let key = key.clone();
                async move { c.get(key, None).await }
            })
            .await?;
        match resp.kvs().first() {
            None => Ok(None),
            Some(kv) => record::read_store_certs(kv.value(), self.key()).map(Some),
        }
    }

    async fn write_store_certs(&self, certs: &StoreCerts) -> Result<(), StoreError> {
        let data = record::store_certs_bytes(certs, self.key())?;
        while !self
            .fenced_txn(
                "writing",
                &self.certs_lock_prefix(),
                || "the store's certificates".into(),
                vec![],
                vec![TxnOp::put(self.certs_key(), data.clone(), None)],
            )
            .await?
        {}
        Ok(())
    }

    async fn lock_store_certs(&self) -> Result<MachineLock, StoreError> {
        let held = lock::acquire(self, &self.certs_lock_prefix())
            .await?
            .ok_or_else(|| self.backend("locking", "the lock key vanished"))?;
        Ok(Box::new(held))
    }

    async fn export(&self, name: &str, known_hosts: &str) -> Result<ExportedFiles, StoreError> {
        let dir = cache::dir_of(&self.inner.cache_dir, name)?;
        let (record, ..) = self.existing_record(name).await?;
        let blob = |b: Blob| -> Result<Vec<u8>, StoreError> {
            Ok(record.blob(name, b, self.key())?.unwrap_or_default())
        };
        let files = [
            blob(Blob::CaCert)?,
            blob(Blob::ClientCert)?,
            blob(Blob::ClientKey)?,
            blob(Blob::SshKey)?,
        ];
        let known_hosts = known_hosts.as_bytes().to_vec();
        tokio::task::spawn_blocking(move || cache::write(dir, files, &known_hosts))
            .await
            .unwrap_or_else(|e| std::panic::resume_unwind(e.into_panic()))
    }
}

#[cfg(test)]
mod tests;
