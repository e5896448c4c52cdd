//! One machine's row in a listing: what is asked of it and in which order, what its
//! certificates are checked for, and how what it answered becomes a state, a URL, a version
//! and an error.

use super::ListOptions;
use crate::cert::CertProblem;
use crate::config::Phase;
use crate::docker_url::DockerUrl;
use crate::error::Error;
use driver_protocol::calls::State;
use std::time::{Duration, Instant};

/// How long past the listing's timeout a driver may take to say a machine's state (its answer
/// is in flight).
const STATE_GRACE: Duration = Duration::from_millis(700);

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
    /// The machine's certificates come from a CA the store no longer has (it was rotated and
    /// this machine was not moved): it works until then, and `regenerate-certs` moves it.
    #[error("its certificates come from a retired CA (the store's CA was rotated): `machine regenerate-certs {0}` moves it to the current one")]
    RetiredCa(String),
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
    pub url: Option<DockerUrl>,
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
    pub(super) fn new(name: &str) -> MachineRow {
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

/// A machine's certificates as its row checks them against the CA its record holds.
#[derive(Default)]
pub(super) struct RowCerts {
    /// The server certificate as recorded.
    pub(super) server: Option<String>,
    /// Whether they are checked: a finished machine whose record has them.
    pub(super) check: bool,
    /// What is wrong with the client certificate.
    pub(super) client_problem: Option<CertProblem>,
    /// The CA its record holds is not the store's current one.
    pub(super) retired_ca: bool,
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
            .or(self
                .retired_ca
                .then(|| RowError::RetiredCa(crate::shell_quote(&m.config().name))))
    }
}

/// Client certificates checked against their CA during one listing: every machine of a store
/// holds a copy of the same one, so it is checked once, not once per row. With the store's
/// current CA, machines still on another are told apart.
#[derive(Default)]
pub(super) struct ClientChecks {
    checked: std::sync::Mutex<Vec<(String, String, Option<CertProblem>)>>,
    store_ca: Option<String>,
}

impl ClientChecks {
    /// Checks that also tell whether a machine's CA is `store_ca` (the store's current one).
    pub(super) fn with_store_ca(store_ca: Option<String>) -> ClientChecks {
        ClientChecks {
            checked: Default::default(),
            store_ca: store_ca.map(|c| c.trim().to_string()),
        }
    }

    /// Whether `ca` is not the store's current CA (`false` when that is not known).
    pub(super) fn is_retired(&self, ca: &str) -> bool {
        self.store_ca.as_deref().is_some_and(|cur| cur != ca.trim())
    }

    /// Pairs kept; a store holds one, or a few while its CA is rotated.
    const KEPT: usize = 8;

    pub(super) fn check(&self, cert: &str, ca: &str) -> Option<CertProblem> {
        let known = self
            .checked
            .lock()
            .unwrap()
            .iter()
            .find_map(|(c, a, p)| (c == cert && a == ca).then_some(*p));
        if let Some(p) = known {
            return p;
        }
        let p = crate::cert::check_against_ca(cert, ca);
        let mut kept = self.checked.lock().unwrap();
        if kept.len() < Self::KEPT {
            kept.push((cert.to_string(), ca.to_string(), p));
        }
        p
    }
}

/// What a machine's daemon answered, and where.
enum Daemon {
    Running {
        url: DockerUrl,
        version: String,
        /// Reached at the recorded address, presenting the recorded server certificate.
        presented: bool,
    },
    Silent {
        url: Option<DockerUrl>,
        error: Option<String>,
    },
}

/// A loaded machine's row (see [`crate::Manager::status`]); `started` is when the row was begun. A
/// certificate problem explains a daemon that does not answer, so it wins over that error.
/// `hedge`: how long the recorded address has before the driver is asked as well; `None` (a
/// listing, where the daemons would otherwise answer twice when every row hedged under load)
/// gives it half the time of a first ping, and asks the driver once that is over.
pub(super) async fn row_of(
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
            let (_, url, v) = m.reach_recorded(certs.server.as_deref(), budget).await?;
            Some(Daemon::Running {
                url,
                version: v.version,
                presented: true,
            })
        };
        let asked = async {
            let left = deadline.saturating_duration_since(Instant::now());
            let Some((a, url)) = m
                .access_within(left)
                .await
                .ok()
                .and_then(|a| Some((m.url_of(&a).ok()?, a)))
                .map(|(url, a)| (a, url))
            else {
                return Daemon::Silent {
                    url: None,
                    error: None,
                };
            };
            match m.ping_docker_at(&a, first).await {
                Ok(v) => Daemon::Running {
                    url,
                    version: v.version,
                    presented: false,
                },
                Err(e) => Daemon::Silent {
                    url: Some(url),
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
                    r.url = m.url_of(&a).ok();
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
        // an SSH machine's environment names its alias (`ssh://machine-NAME`)
        (Some(u), Some(h)) => u == h || names_alias(m, h),
        _ => false,
    };
    r.response_time = started.elapsed();
    r
}

/// Whether `docker_host` is the alias `machine env` points an SSH-transport machine's
/// environment at (`ssh://machine-NAME`).
pub(super) fn names_alias(m: &crate::Machine, docker_host: &DockerUrl) -> bool {
    m.config().engine.transport == crate::engine::Transport::Ssh
        && docker_host.is_ssh()
        && docker_host.user().is_none()
        && docker_host.host() == crate::ssh_client::alias(m.name())
}
