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
//! use async_trait::async_trait;
//! use driver_protocol::calls::*;
//! use driver_protocol::{Context, DriverError};
//! use machine_core::{
//!     Capabilities, Driver, DriverHost, DriverInfo, Events, Filter, ListOptions, MachineConfig,
//!     Manager, MemoryStore, Phase, State, Store, Timeouts,
//! };
//! use std::sync::Arc;
//!
//! /// Machines whose name starts with "up" are running.
//! struct Names;
//!
//! #[async_trait]
//! impl Driver for Names {
//!     fn info(&self) -> DriverInfo {
//!         DriverInfo::new("names", "1", Capabilities::none(), vec![])
//!     }
//!     async fn set_config(&self, _: &Context, _: SetConfigParams) -> Result<ConfigResult, DriverError> {
//!         Ok(ConfigResult::new(serde_json::json!({})))
//!     }
//!     async fn state(&self, _: &Context, p: MachineParams) -> Result<StateResult, DriverError> {
//!         let up = p.machine.starts_with("up");
//!         Ok(StateResult::new(if up { State::Running } else { State::Stopped }))
//!     }
//!     async fn access(&self, _: &Context, _: MachineParams) -> Result<Access, DriverError> {
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
//! let drivers = DriverHost::with_search_path(vec![], Events::none());
//! drivers.register(Arc::new(Names));
//! let manager = Manager::with_drivers(store, drivers, Events::none(), Timeouts::default());
//!
//! let mut opts = ListOptions::default();
//! opts.filter = Filter::parse(&["state=Stopped".to_string()])?;
//! let rows = manager.list(&opts).await?;
//! let names: Vec<&str> = rows.iter().map(|r| r.name.as_str()).collect();
//! assert_eq!(names, ["down1", "down2"]);
//! assert!(rows.iter().all(|r| r.state == Some(State::Stopped)));
//! # Ok(()) }
//! ```

use crate::cert::CertProblem;
use crate::config::{MachineConfig, Phase};
use crate::error::{Error, Result};
use crate::machine::HEDGE;
use crate::manager::Manager;
use crate::store::{Blob, RecordRead, RECORDS_PER_READ};
use driver_protocol::calls::State;
use driver_protocol::CancellationToken;
use regex::Regex;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How long past the listing's timeout a driver may take to say a machine's state (its answer
/// is in flight).
const STATE_GRACE: Duration = Duration::from_millis(700);

/// Which machines to list. Several values of one kind match any of them; different kinds must
/// all match.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct Filter {
    /// Driver names, as the user typed them at create (case-insensitive).
    pub drivers: Vec<String>,
    /// States.
    pub states: Vec<State>,
    /// Regular expressions the name must match.
    pub names: Vec<Regex>,
    /// Engine labels, `KEY=VALUE`.
    pub labels: Vec<String>,
}

/// A `--filter` value that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FilterError {
    /// Not `KEY=VALUE`.
    #[error("invalid filter {0:?}: expected KEY=VALUE")]
    Syntax(String),
    /// An unknown key.
    #[error("unsupported filter {0:?}: the keys are driver, state, name and label")]
    Key(String),
    /// An unknown state.
    #[error("unknown state {0:?} in filter")]
    State(String),
    /// A name pattern that is not a regular expression.
    #[error("invalid name filter {pattern:?}: {reason}")]
    Regex {
        /// The pattern.
        pattern: String,
        /// Why it does not compile.
        reason: String,
    },
}

impl Filter {
    /// Parses Docker Machine's `--filter` values: `driver=NAME`, `state=Running`,
    /// `name=REGEX`, `label=KEY=VALUE` (`swarm=...` is accepted and matches nothing, as no
    /// machine is part of a classic swarm).
    pub fn parse(items: &[String]) -> std::result::Result<Filter, FilterError> {
        let mut f = Filter::default();
        let mut swarm = false;
        for item in items {
            let (k, v) = item
                .split_once('=')
                .ok_or_else(|| FilterError::Syntax(item.clone()))?;
            match k.to_ascii_lowercase().as_str() {
                "driver" => f.drivers.push(v.to_string()),
                "state" => f
                    .states
                    .push(v.parse().map_err(|_| FilterError::State(v.to_string()))?),
                "name" => f.names.push(Regex::new(v).map_err(|e| FilterError::Regex {
                    pattern: v.to_string(),
                    reason: e.to_string(),
                })?),
                "label" => f.labels.push(v.to_string()),
                "swarm" => swarm = true,
                other => return Err(FilterError::Key(other.to_string())),
            }
        }
        if swarm {
            // a swarm filter matches no machine
            f.names.push(Regex::new("$^").expect("a valid regex"));
        }
        Ok(f)
    }

    fn matches_name(&self, name: &str) -> bool {
        self.names.is_empty() || self.names.iter().any(|r| r.is_match(name))
    }

    fn matches_record(&self, c: &MachineConfig) -> bool {
        (self.drivers.is_empty()
            || self
                .drivers
                .iter()
                .any(|d| d.eq_ignore_ascii_case(&c.driver_alias)))
            && (self.labels.is_empty() || self.labels.iter().any(|l| c.engine.labels.contains(l)))
    }

    fn matches_state(&self, s: Option<State>) -> bool {
        self.states.is_empty() || s.is_some_and(|s| self.states.contains(&s))
    }

    /// Whether listing needs to ask the machines (a state filter), not only the store.
    pub fn needs_state(&self) -> bool {
        !self.states.is_empty()
    }
}

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
    pub docker_host: Option<String>,
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

/// Why a row has no state, URL or Docker version, or what else is wrong with the machine.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RowError {
    /// The record cannot be read.
    #[error("{0}")]
    BrokenRecord(String),
    /// Create was interrupted (or is still running in another process).
    #[error("create did not finish")]
    CreateUnfinished,
    /// Create failed and undoing it failed too.
    #[error("create failed{}", .0.as_ref().map(|e| format!(": {e}")).unwrap_or_default())]
    CreateFailed(Option<String>),
    /// The driver did not report the state in time.
    #[error("the driver did not report the state within {}s", .0.as_secs())]
    StateTimeout(Duration),
    /// The driver failed to report the state or the URL.
    #[error("{0}")]
    Driver(String),
    /// The daemon did not answer over TLS.
    #[error("Unable to query docker version: {0}")]
    Docker(String),
    /// The machine's server or client certificate expires within 30 days, or is not signed by
    /// the CA its record holds (`provision` issues new ones).
    #[error("{}", cert_message(which, problem))]
    Certificate {
        /// `server` or `client`.
        which: &'static str,
        /// What is wrong with it.
        problem: CertProblem,
    },
    /// The store keeps the machine's secrets encrypted and no store key was given: the row
    /// shows what needs no secret.
    #[error("the store key is missing (MACHINE_STORE_KEY or MACHINE_STORE_KEY_FILE): its secrets cannot be read")]
    StoreKeyMissing,
}

fn cert_message(which: &str, problem: &CertProblem) -> String {
    match problem {
        CertProblem::Expiring { days_left: 0 } => format!("the {which} certificate has expired"),
        CertProblem::Expiring { days_left } => {
            format!("the {which} certificate expires in {days_left} days")
        }
        CertProblem::NotSignedByCa => {
            format!("the {which} certificate is not signed by the machine's CA")
        }
        CertProblem::Unreadable => format!("the {which} certificate cannot be read"),
    }
}

/// One machine in a listing.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct MachineRow {
    /// The machine's name.
    pub name: String,
    /// Its driver as the user named it (empty for a broken record).
    pub driver: String,
    /// Its state, when asked and known.
    pub state: Option<State>,
    /// Its Docker URL, when running.
    pub url: Option<String>,
    /// The Docker version its daemon reports, when it answered.
    pub docker_version: Option<String>,
    /// What is wrong, if anything.
    pub error: Option<RowError>,
    /// How long the machine took to answer.
    pub response_time: Duration,
    /// Its engine labels.
    pub labels: Vec<String>,
    /// Whether DOCKER_HOST points at it.
    pub active: bool,
}

impl MachineRow {
    fn new(name: &str) -> MachineRow {
        MachineRow {
            name: name.to_string(),
            driver: String::new(),
            state: None,
            url: None,
            docker_version: None,
            error: None,
            response_time: Duration::ZERO,
            labels: Vec::new(),
            active: false,
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
    /// Remove; with `force`, a driver failure (or a broken record) does not stop the removal.
    Remove {
        /// Remove the record even when the driver fails.
        force: bool,
        /// On a host that outlives its machine (generic), leave the daemon's TCP listener, its
        /// TLS files and the machine's SSH key, as Docker Machine did.
        keep_on_host: bool,
    },
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
const LISTING_BLOBS: [Blob; 4] = {
    let [ca, cert, key] = crate::machine::CLIENT_BLOBS;
    [ca, cert, key, Blob::ServerCert]
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
        let checks = Arc::new(ClientChecks::default());
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
            Err(crate::Error::Store(crate::StoreError::KeyMissing { .. }))
                if self.store().read_config(name).await.is_ok() =>
            {
                // without the store key the config still reads (when it holds no secret
                // option): the row shows what needs no secret
                let m = self.handle(self.store().read_config(name).await.ok()?);
                if !opts.filter.matches_record(m.config()) {
                    return None;
                }
                let mut r = row_of(&m, RowCerts::default(), opts, query, None, started).await;
                if query && r.url.is_none() {
                    r.url = m
                        .access_within(opts.timeout)
                        .await
                        .ok()
                        .map(|a| a.docker_url);
                }
                r.error = Some(RowError::StoreKeyMissing);
                Some(r)
            }
            Err(e) => {
                // a broken record matches no record filter, but is never hidden without one
                let record_filter =
                    !opts.filter.drivers.is_empty() || !opts.filter.labels.is_empty();
                if record_filter || opts.filter.needs_state() {
                    return None;
                }
                let mut r = MachineRow::new(name);
                r.state = Some(State::Error);
                r.error = Some(RowError::BrokenRecord(e.to_string()));
                Some(r)
            }
        }
    }

    /// One machine's row as `ls` makes it (so its state the fast way: a daemon that answers
    /// over TLS is Running, and only otherwise is the driver asked), each question within
    /// `timeout`. Errors only when the machine cannot be loaded; what the machine answers,
    /// including its errors, is in the row.
    pub async fn status(&self, name: &str, timeout: Duration) -> Result<MachineRow> {
        let started = Instant::now();
        let read = self.store().read_record(name, &LISTING_BLOBS).await;
        let (m, certs) = self.listing_handle(name, read, &ClientChecks::default())?;
        let opts = ListOptions {
            timeout,
            ..ListOptions::default()
        };
        Ok(row_of(&m, certs, &opts, true, Some(HEDGE), started).await)
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
        let mut m = self.handle(config);
        // a machine without certificates (an unfinished create) says so when pinged
        m.client_pems = m.client_pems_from(blobs).ok();
        let server = server.map(|s| String::from_utf8_lossy(&s).into_owned());
        let mut certs = RowCerts {
            server,
            ..RowCerts::default()
        };
        if let (Some((ca, client)), Some(_)) = (&m.client_pems, &certs.server) {
            if m.config.phase == Phase::Ready {
                certs.check = true;
                certs.client_problem = checks.check(&client.cert, ca);
            }
        }
        Ok((m, certs))
    }

    /// The machine whose Docker URL is `docker_host` (what `DOCKER_HOST` points at), asking
    /// every machine at once, each within `timeout`.
    pub async fn active(&self, docker_host: &str, timeout: Duration) -> Result<Option<String>> {
        let names = self.names().await?;
        let (me, host) = (self.clone(), Arc::new(docker_host.to_string()));
        let found = bounded(names, 64, move |name| {
            let (me, host) = (me.clone(), host.clone());
            async move {
                let m = me.load(&name).await.ok()?;
                let a = m.access_within(timeout).await.ok()?;
                (a.docker_url == *host).then_some(name)
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
        let mut m = match (self.load(name).await, action) {
            (Ok(m), _) => m,
            // a record that cannot be read is removed as it is, when forced
            (Err(e), Action::Remove { force: true, .. }) if e.is_broken_record() => {
                return Ok(self.store().remove(name).await?);
            }
            (Err(e), _) => return Err(e),
        };
        match action {
            Action::Start => m.start(cancel).await,
            Action::Stop => m.stop(cancel).await,
            Action::Restart => m.restart(cancel).await,
            Action::Kill => m.kill(cancel).await,
            Action::Remove {
                force,
                keep_on_host,
            } => m.remove(*force, *keep_on_host, cancel).await,
            Action::Provision => m.provision(cancel).await,
            Action::Upgrade { version } => m.upgrade(version.clone(), cancel).await,
            Action::RegenerateCerts => m.regenerate_certs(cancel).await,
        }
    }
}

/// A machine's certificates as its row checks them against the CA its record holds.
#[derive(Default)]
struct RowCerts {
    /// The server certificate as recorded.
    server: Option<String>,
    /// Whether they are checked: a finished machine whose record has them.
    check: bool,
    /// What is wrong with the client certificate.
    client_problem: Option<CertProblem>,
}

impl RowCerts {
    /// The server certificate's problem, else the client certificate's. `presented`: the
    /// daemon presented the recorded server certificate in a handshake verified against the
    /// CA, which proves its signature and validity, so only its expiry is left to check.
    fn problem(&self, m: &crate::Machine, presented: bool) -> Option<RowError> {
        let (Some((ca, _)), Some(server), true) = (&m.client_pems, &self.server, self.check) else {
            return None;
        };
        let server = if presented {
            crate::cert::check_expiry(server)
        } else {
            crate::cert::check_against_ca(server, ca)
        };
        server
            .map(|problem| RowError::Certificate {
                which: "server",
                problem,
            })
            .or(self.client_problem.map(|problem| RowError::Certificate {
                which: "client",
                problem,
            }))
    }
}

/// Client certificates checked against their CA during one listing: every machine of a store
/// holds a copy of the same one, so it is checked once, not once per row.
#[derive(Default)]
struct ClientChecks(std::sync::Mutex<Vec<(String, String, Option<CertProblem>)>>);

impl ClientChecks {
    /// Pairs kept; a store holds one, or a few while its CA is rotated.
    const KEPT: usize = 8;

    fn check(&self, cert: &str, ca: &str) -> Option<CertProblem> {
        let known = self
            .0
            .lock()
            .unwrap()
            .iter()
            .find_map(|(c, a, p)| (c == cert && a == ca).then_some(*p));
        if let Some(p) = known {
            return p;
        }
        let p = crate::cert::check_against_ca(cert, ca);
        let mut kept = self.0.lock().unwrap();
        if kept.len() < Self::KEPT {
            kept.push((cert.to_string(), ca.to_string(), p));
        }
        p
    }
}

/// What a machine's daemon answered, and where.
enum Daemon {
    Running {
        url: String,
        version: String,
        /// Reached at the recorded address, presenting the recorded server certificate.
        presented: bool,
    },
    Silent {
        url: Option<String>,
        error: Option<String>,
    },
}

/// A loaded machine's row (see [`Manager::status`]); `started` is when the row was begun. A
/// certificate problem explains a daemon that does not answer, so it wins over that error.
/// `hedge`: how long the recorded address has before the driver is asked as well; `None` (a
/// listing, where the daemons would otherwise answer twice when every row hedged under load)
/// gives it half the time of a first ping, and asks the driver once that is over.
async fn row_of(
    m: &crate::Machine,
    certs: RowCerts,
    opts: &ListOptions,
    query: bool,
    hedge: Option<Duration>,
    started: Instant,
) -> MachineRow {
    let c = m.config();
    let mut r = MachineRow::new(&c.name);
    r.driver = c.driver_alias.clone();
    r.labels = c.engine.labels.clone();
    r.error = match (c.phase, &c.last_error) {
        (Phase::Ready, _) => None,
        (Phase::Failed, e) => Some(RowError::CreateFailed(e.clone())),
        _ => Some(RowError::CreateUnfinished),
    };
    if !query {
        r.error = r.error.or(certs.problem(m, false));
        return r;
    }
    // What a row needs decides what is asked: a daemon that answers over TLS is Running
    // (and says its version), so the driver is asked for the state only when it does not;
    // and a daemon that answers at the machine's recorded address with the machine's own
    // server certificate needs no driver at all.
    let t = opts.timeout;
    let deadline = started + t;
    let mut docker_error = None;
    if c.phase == Phase::Ready {
        let first = (t / 3).clamp(Duration::from_millis(500), Duration::from_secs(2));
        let recorded = async {
            // a listing waits for it before asking the driver: half a first ping's time, so
            // that a machine stopped behind our back (its address silent) costs little more
            let budget = if hedge.is_some() { first } else { first / 2 };
            let (a, v) = m.reach_recorded(certs.server.as_deref(), budget).await?;
            Some(Daemon::Running {
                url: a.docker_url,
                version: v.version,
                presented: true,
            })
        };
        let asked = async {
            let left = deadline.saturating_duration_since(Instant::now());
            let Ok(a) = m.access_within(left).await else {
                return Daemon::Silent {
                    url: None,
                    error: None,
                };
            };
            match m.ping_docker_at(&a.docker_url, first).await {
                Ok(v) => Daemon::Running {
                    url: a.docker_url,
                    version: v.version,
                    presented: false,
                },
                Err(e) => Daemon::Silent {
                    url: Some(a.docker_url),
                    error: Some(e.to_string()),
                },
            }
        };
        let settles = |d: &Daemon| matches!(d, Daemon::Running { .. });
        let mut presented = false;
        match crate::machine::hedged(recorded, asked, settles, hedge.unwrap_or(first / 2)).await {
            Daemon::Running {
                url,
                version,
                presented: p,
            } => {
                r.state = Some(State::Running);
                r.docker_version = Some(version);
                r.url = Some(url);
                presented = p;
            }
            Daemon::Silent { url, error } => {
                r.url = url;
                docker_error = error;
            }
        }
        r.error = certs.problem(m, presented);
    }
    if r.state.is_none() {
        // what is left of the time, and a little grace for the driver's own answer
        let left = deadline.saturating_duration_since(Instant::now()) + STATE_GRACE;
        match m.state_within(left).await {
            Ok(s) => r.state = Some(s),
            Err(Error::DriverTimeout { .. }) => {
                r.state = Some(State::Timeout);
                r.error = Some(RowError::StateTimeout(t));
            }
            Err(e) => {
                r.state = Some(State::Error);
                r.error = Some(RowError::Driver(e.to_string()));
            }
        }
        if r.state == Some(State::Running) {
            if r.url.is_none() {
                if let Ok(a) = m.access_within(t).await {
                    r.url = Some(a.docker_url);
                }
            }
            if let Some(e) = docker_error {
                // a certificate problem explains it
                r.error.get_or_insert(RowError::Docker(e));
            }
        } else {
            // Docker Machine shows the URL of running machines only
            r.url = None;
        }
    }
    r.active = match (&r.url, &opts.docker_host) {
        (Some(u), Some(h)) => u == h,
        _ => false,
    };
    r.response_time = started.elapsed();
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_parse() {
        let f = Filter::parse(&[
            "driver=generic".into(),
            "state=running".into(),
            "state=Stopped".into(),
            "name=^web".into(),
            "label=env=prod".into(),
        ])
        .unwrap();
        assert_eq!(f.states, vec![State::Running, State::Stopped]);
        assert_eq!(f.labels, vec!["env=prod"]);
        assert!(f.matches_name("web1") && !f.matches_name("db1"));
        assert!(matches!(
            Filter::parse(&["color=red".into()]),
            Err(FilterError::Key(_))
        ));
        assert!(matches!(
            Filter::parse(&["name".into()]),
            Err(FilterError::Syntax(_))
        ));
        assert!(matches!(
            Filter::parse(&["state=sleepy".into()]),
            Err(FilterError::State(_))
        ));
        assert!(matches!(
            Filter::parse(&["name=(".into()]),
            Err(FilterError::Regex { .. })
        ));
    }

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
