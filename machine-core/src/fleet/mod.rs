//! Fleet operations: list every machine with its typed state, and act on many machines at once.
//!
//! Listing applies the filters a record can answer (name, driver, label) before any machine is
//! queried, reads the records a page per store round trip ([`crate::Store::read_records`]),
//! queries the machines with bounded concurrency and a per-machine timeout (one slow or dead
//! machine never stalls the others), and turns a broken record into one row with an error.
//! Here is where `ls` decides a machine is Running: its daemon answers over mutual TLS (at the
//! recorded address with the machine's own server certificate, or where the driver says), or
//! else its driver says so. Each row's certificates are checked against the CA its record
//! holds, each signature once: the client certificate, which every machine of a store shares,
//! once per listing; the server certificate by the handshake when the daemon presented it.
//!
//! A fleet served by a driver implemented in the program itself, kept in memory, listed with a
//! state filter (this example runs as it is: no network, no executable):
//!
//! ```
//! use driver_protocol::calls::{Access, SshEndpoint};
//! use driver_protocol::{async_trait, Context, DriverError, DriverOptions, Machine, Setup};
//! use machine_core::{
//!     Capabilities, Driver, DriverInfo, Filter, ListOptions, MachineConfig, Manager, MemoryStore,
//!     Phase, State, Store,
//! };
//! use std::sync::Arc;
//!
//! #[derive(DriverOptions)]
//! struct NoOptions {}
//!
//! /// Machines whose name starts with "up" are running.
//! struct Names;
//!
//! #[async_trait]
//! impl Driver for Names {
//!     type Options = NoOptions;
//!     type Config = ();
//!     fn info(&self) -> DriverInfo {
//!         DriverInfo::new("names", "1", Capabilities::none())
//!     }
//!     async fn set_config(&self, _: &Context, _: NoOptions, _: &Setup) -> Result<(), DriverError> {
//!         Ok(())
//!     }
//!     async fn state(&self, _: &Context, m: Machine<()>) -> Result<State, DriverError> {
//!         let up = m.name.starts_with("up");
//!         Ok(if up { State::Running } else { State::Stopped })
//!     }
//!     async fn access(&self, _: &Context, _: Machine<()>) -> Result<Access, DriverError> {
//!         Ok(Access::new("127.0.0.1", SshEndpoint::new("127.0.0.1", 1, "root"), 1))
//!     }
//! }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let store = Arc::new(MemoryStore::new());
//! for name in ["up1", "down1", "down2"] {
//!     let mut c = MachineConfig::new(name, "names", "names", Default::default());
//!     c.phase = Phase::Ready;
//!     drop(store.create(&c).await?); // create returns the machine's lock, held
//! }
//! let manager = Manager::builder(store)
//!     .driver(Names)
//!     .no_default_driver_search()
//!     .build();
//!
//! let mut opts = ListOptions::default();
//! opts.filter = Filter::parse(&["state=Stopped".to_string()])?;
//! let rows = manager.list(&opts).await?;
//! let names: Vec<&str> = rows.iter().map(|r| r.name.as_str()).collect();
//! assert_eq!(names, ["down1", "down2"]);
//! assert!(rows.iter().all(|r| r.state == Some(State::Stopped)));
//! # Ok(()) }
//! ```

mod filter;
mod row;

pub use filter::{Filter, FilterError};
pub use row::{MachineRow, RowError};

use crate::config::Phase;
use crate::docker_url::DockerUrl;
use crate::engine::Transport;
use crate::error::Result;
use crate::machine::{RemoveOptions, HEDGE};
use crate::manager::Manager;
use crate::store::{Blob, RecordRead, RECORDS_PER_READ};
use driver_protocol::calls::State;
use driver_protocol::CancellationToken;
use row::{row_of, ClientChecks, RowCerts};
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How to list.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ListOptions {
    /// Which machines.
    pub filter: Filter,
    /// How long each machine may take to answer each question (state, URL, Docker version).
    pub timeout: Duration,
    /// How many machines are asked at once.
    pub concurrency: usize,
    /// Only names, driver and labels from the store: no machine is asked anything (unless a
    /// state filter needs the state).
    pub records_only: bool,
    /// The DOCKER_HOST in effect: the machine with that URL is marked active.
    pub docker_host: Option<DockerUrl>,
}

impl Default for ListOptions {
    fn default() -> Self {
        ListOptions {
            filter: Filter::default(),
            timeout: Duration::from_secs(10),
            concurrency: 256,
            records_only: false,
            docker_host: None,
        }
    }
}

/// An operation on many machines.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Action {
    /// Start.
    Start,
    /// Stop.
    Stop,
    /// Restart.
    Restart,
    /// Kill.
    Kill,
    /// Remove ([`crate::Machine::remove`]); with [`RemoveOptions::force`] a broken record
    /// goes too.
    Remove(RemoveOptions),
    /// Provision again.
    Provision,
    /// Upgrade Docker, optionally to a pinned version.
    Upgrade {
        /// The version to pin.
        version: Option<String>,
    },
    /// A new server certificate under the store's CA.
    RegenerateCerts,
}

/// What a listing reads of each record besides its config: the client certificates, then the
/// server certificate.
const LISTING_BLOBS: [Blob; 5] = {
    let [ca, cert, key] = crate::machine::CLIENT_BLOBS;
    [ca, cert, key, Blob::SshKey, Blob::ServerCert]
};

/// Runs `f` on every item with at most `n` at once; results in the items' order.
async fn bounded<T, R, F, Fut>(items: Vec<T>, n: usize, f: F) -> Vec<R>
where
    T: Send + 'static,
    R: Send + 'static,
    F: Fn(T) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = R> + Send + 'static,
{
    let sem = Arc::new(tokio::sync::Semaphore::new(n.max(1)));
    let f = Arc::new(f);
    let mut tasks = tokio::task::JoinSet::new();
    for (i, item) in items.into_iter().enumerate() {
        let (sem, f) = (sem.clone(), f.clone());
        tasks.spawn(async move {
            let _permit = sem.acquire_owned().await;
            (i, f(item).await)
        });
    }
    let mut out = Vec::with_capacity(tasks.len());
    while let Some(r) = tasks.join_next().await {
        match r {
            Ok(r) => out.push(r),
            Err(e) => std::panic::resume_unwind(e.into_panic()),
        }
    }
    out.sort_by_key(|(i, _)| *i);
    out.into_iter().map(|(_, r)| r).collect()
}

impl Manager {
    /// Lists the machines that match `opts.filter`, with their state, URL and Docker version
    /// (unless `records_only`). One broken record is one row with an error.
    pub async fn list(&self, opts: &ListOptions) -> Result<Vec<MachineRow>> {
        let names: Vec<String> = self
            .names()
            .await?
            .into_iter()
            .filter(|n| opts.filter.matches_name(n))
            .collect();
        let record_filter = !opts.filter.drivers.is_empty() || !opts.filter.labels.is_empty();
        if opts.records_only && !record_filter && !opts.filter.needs_state() {
            return Ok(names.iter().map(|n| MachineRow::new(n)).collect());
        }
        let query = !opts.records_only || opts.filter.needs_state();
        // records are read a page per store round trip, the next page while this one's rows
        // start; a page is read only once the rows before it are under way, so at most two
        // pages wait beside the rows in flight
        let (sem, o) = (
            Arc::new(tokio::sync::Semaphore::new(opts.concurrency.max(1))),
            Arc::new(opts.clone()),
        );
        let checks = Arc::new(ClientChecks::with_store_ca(self.store_ca().await));
        let read_page = |page: Vec<String>| {
            let store = self.inner.store.clone();
            tokio::spawn(async move {
                let reads = store.read_records(&page, &LISTING_BLOBS).await;
                (page, reads)
            })
        };
        let mut pages = names.chunks(RECORDS_PER_READ).map(<[String]>::to_vec);
        let mut next = pages.next().map(read_page);
        let mut tasks = tokio::task::JoinSet::new();
        let mut index = 0;
        while let Some(reading) = next.take() {
            let (page, reads) = reading
                .await
                .unwrap_or_else(|e| std::panic::resume_unwind(e.into_panic()));
            let reads = reads?;
            if reads.len() != page.len() {
                // a store implementation's bug, said rather than a row silently missing
                return Err(crate::StoreError::Backend {
                    op: "listing",
                    location: self.store().location(),
                    reason: format!("{} records read for {} names", reads.len(), page.len()),
                }
                .into());
            }
            next = pages.next().map(read_page);
            for (name, read) in page.into_iter().zip(reads) {
                let permit = sem.clone().acquire_owned().await;
                let (me, o, checks) = (self.clone(), o.clone(), checks.clone());
                let i = index;
                tasks.spawn(async move {
                    let row = me.row(&name, read, &checks, &o, query).await;
                    drop(permit);
                    (i, row)
                });
                index += 1;
            }
        }
        let mut rows = Vec::with_capacity(index);
        while let Some(r) = tasks.join_next().await {
            match r {
                Ok(r) => rows.push(r),
                Err(e) => std::panic::resume_unwind(e.into_panic()),
            }
        }
        rows.sort_by_key(|(i, _)| *i);
        Ok(rows
            .into_iter()
            .filter_map(|(_, r)| r)
            .filter(|r| !query || opts.filter.matches_state(r.state))
            .collect())
    }

    /// One machine's row from its record as read, or `None` when the record does not match
    /// the filter.
    async fn row(
        &self,
        name: &str,
        read: RecordRead,
        checks: &ClientChecks,
        opts: &ListOptions,
        query: bool,
    ) -> Option<MachineRow> {
        let started = Instant::now();
        match self.listing_handle(name, read, checks) {
            Ok((m, certs)) => {
                if !opts.filter.matches_record(m.config()) {
                    return None;
                }
                Some(row_of(&m, certs, opts, query, None, started).await)
            }
            Err(crate::Error::Store(crate::StoreError::KeyMissing { .. })) => {
                // Without the store key a row shows what needs no secret. A config that holds
                // no secret option still reads whole, and the driver can be asked; else the
                // config without those options, and the address last recorded (a driver
                // without its secrets is not asked).
                let (config, ask) = match self.store().read_config(name).await {
                    Ok(config) => (config, true),
                    Err(crate::StoreError::KeyMissing { .. }) => {
                        match self.store().read_public_config(name).await {
                            Ok(config) => (config, false),
                            Err(e) => return broken_row(name, e.into(), opts),
                        }
                    }
                    Err(e) => return broken_row(name, e.into(), opts),
                };
                let m = self.handle(config);
                if !opts.filter.matches_record(m.config()) {
                    return None;
                }
                let mut r =
                    row_of(&m, RowCerts::default(), opts, query && ask, None, started).await;
                if query && r.url.is_none() {
                    r.url = if ask {
                        m.access_within(opts.timeout)
                            .await
                            .ok()
                            .and_then(|a| m.url_of(&a).ok())
                    } else {
                        m.config()
                            .last_access
                            .as_ref()
                            .and_then(|a| m.url_of(a).ok())
                    };
                }
                r.error = Some(RowError::StoreKeyMissing);
                Some(r)
            }
            Err(e) => broken_row(name, e, opts),
        }
    }

    /// One machine's row as `ls` makes it (so its state the fast way: a daemon that answers
    /// over TLS is Running, and only otherwise is the driver asked), each question within
    /// `timeout`. Errors only when the machine cannot be loaded; what the machine answers,
    /// including its errors, is in the row.
    pub async fn status(&self, name: &str, timeout: Duration) -> Result<MachineRow> {
        let started = Instant::now();
        crate::name::validate_name(name)?;
        let read = self.store().read_record(name, &LISTING_BLOBS).await;
        let checks = ClientChecks::with_store_ca(self.store_ca().await);
        let (m, certs) = self.listing_handle(name, read, &checks)?;
        let opts = ListOptions {
            timeout,
            ..ListOptions::default()
        };
        Ok(row_of(&m, certs, &opts, true, Some(HEDGE), started).await)
    }

    /// The store's current CA certificate, when it can be read (rows then flag machines still on
    /// a retired one).
    async fn store_ca(&self) -> Option<String> {
        match self.store().read_store_certs().await {
            Ok(Some(certs)) => Some(certs.ca.cert),
            _ => None,
        }
    }

    /// A machine's handle from its record read with [`LISTING_BLOBS`] (so with its client
    /// certificates), its client certificate checked against the CA its record holds.
    fn listing_handle(
        &self,
        name: &str,
        read: RecordRead,
        checks: &ClientChecks,
    ) -> Result<(crate::Machine, RowCerts)> {
        crate::name::validate_name(name)?;
        let (config, mut blobs) = read?;
        let server = blobs.pop().flatten();
        let ssh_key = blobs.pop().flatten();
        let mut m = self.handle(config);
        // an SSH-transport machine's daemon is reached with its key
        m.ssh_key_pem = ssh_key.and_then(|k| String::from_utf8(k).ok());
        // a machine without certificates (an unfinished create) says so when pinged
        m.client_pems = m.client_pems_from(blobs).ok();
        let server = server.map(|s| String::from_utf8_lossy(&s).into_owned());
        let mut certs = RowCerts {
            server,
            ..RowCerts::default()
        };
        if let (Some((ca, client)), Some(_)) = (&m.client_pems, &certs.server) {
            // certificates an SSH-transport machine no longer uses are not its problem
            if m.config.phase == Phase::Ready && m.config.engine.transport == Transport::Tls {
                certs.check = true;
                certs.client_problem = checks.check(&client.cert, ca);
                certs.retired_ca = checks.is_retired(ca);
            }
        }
        Ok((m, certs))
    }

    /// The machine whose Docker URL is `docker_host` (what `DOCKER_HOST` points at), asking
    /// every machine at once, each within `timeout`.
    pub async fn active(
        &self,
        docker_host: &DockerUrl,
        timeout: Duration,
    ) -> Result<Option<String>> {
        let names = self.names().await?;
        let (me, host) = (self.clone(), Arc::new(docker_host.clone()));
        let found = bounded(names, 64, move |name| {
            let (me, host) = (me.clone(), host.clone());
            async move {
                let m = me.load_record(&name).await.ok()?;
                if row::names_alias(&m, &host) {
                    return Some(name);
                }
                let a = m.access_within(timeout).await.ok()?;
                (m.url_of(&a).ok()? == *host).then_some(name)
            }
        })
        .await;
        Ok(found.into_iter().flatten().next())
    }

    /// Runs `action` on every named machine, at most `concurrency` at once; a result per
    /// machine, in the order given.
    pub async fn act(
        &self,
        names: &[String],
        action: &Action,
        concurrency: usize,
        cancel: &CancellationToken,
    ) -> Vec<(String, Result<()>)> {
        let (me, action, cancel) = (self.clone(), Arc::new(action.clone()), cancel.clone());
        bounded(names.to_vec(), concurrency, move |name| {
            let (me, action, cancel) = (me.clone(), action.clone(), cancel.clone());
            async move {
                let r = me.act_on(&name, &action, &cancel).await;
                (name, r)
            }
        })
        .await
    }

    /// Rotates the store's CA: makes a new CA and client certificate, then re-issues every
    /// machine's server certificate and daemon trust under it (at most `concurrency` at once);
    /// a result per machine, in name order. The old CA's key is gone from the store; a machine
    /// that could not be reached keeps the old CA and client certificate in its own record and
    /// so goes on working under the old CA, until `provision` (or another rotation) moves it.
    pub async fn rotate_ca(
        &self,
        concurrency: usize,
        cancel: &CancellationToken,
    ) -> Result<Vec<(String, Result<()>)>> {
        {
            let _lock = self.store().lock_store_certs().await?;
            let certs = crate::certificates::new_store_certs()?;
            self.store().write_store_certs(&certs).await?;
        }
        let names = self.names().await?;
        Ok(self
            .act(&names, &Action::RegenerateCerts, concurrency, cancel)
            .await)
    }

    async fn act_on(&self, name: &str, action: &Action, cancel: &CancellationToken) -> Result<()> {
        let mut m = match (self.load_record(name).await, action) {
            (Ok(m), _) => m,
            // a record that cannot be read is removed as it is, when forced
            (Err(e), Action::Remove(RemoveOptions { force: true, .. })) if e.is_broken_record() => {
                return Ok(self.store().remove(name).await?);
            }
            (Err(e), _) => return Err(e),
        };
        match action {
            Action::Start => m.start(cancel).await,
            Action::Stop => m.stop(cancel).await,
            Action::Restart => m.restart(cancel).await,
            Action::Kill => m.kill(cancel).await,
            Action::Remove(opts) => m.remove(opts.clone(), cancel).await,
            Action::Provision => m.provision(cancel).await,
            Action::Upgrade { version } => m.upgrade(version.clone(), cancel).await,
            Action::RegenerateCerts => m.regenerate_certs(cancel).await,
        }
    }
}

/// The row of a machine whose record cannot be read: a broken record matches no record filter,
/// but is never hidden without one.
fn broken_row(name: &str, e: crate::Error, opts: &ListOptions) -> Option<MachineRow> {
    let record_filter = !opts.filter.drivers.is_empty() || !opts.filter.labels.is_empty();
    if record_filter || opts.filter.needs_state() {
        return None;
    }
    let mut r = MachineRow::new(name);
    r.state = Some(State::Error);
    r.error = Some(RowError::BrokenRecord(e.to_string()));
    Some(r)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn bounded_keeps_order_and_limit() {
        let running = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let peak = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let (r2, p2) = (running.clone(), peak.clone());
        let out = bounded((0..20).collect(), 3, move |i: u64| {
            let (r, p) = (r2.clone(), p2.clone());
            async move {
                use std::sync::atomic::Ordering::SeqCst;
                let now = r.fetch_add(1, SeqCst) + 1;
                p.fetch_max(now, SeqCst);
                tokio::time::sleep(Duration::from_millis(20 - i)).await;
                r.fetch_sub(1, SeqCst);
                i * 2
            }
        })
        .await;
        assert_eq!(out, (0..20).map(|i| i * 2).collect::<Vec<_>>());
        assert!(peak.load(std::sync::atomic::Ordering::SeqCst) <= 3);
    }
}
