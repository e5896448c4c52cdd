//! The checks, in the order the kit runs them. Each has a short, stable name ([`CHECKS`]):
//!
//! - `handshake`: `initialize` answered within the handshake bound, with protocol version
//!   [`PROTOCOL_VERSION`] and a name. Without it nothing else runs.
//! - `schema`: every option has help, every default parses as its type, names and aliases are
//!   lowercase-dashed and unique, and options that look like a password, token, secret or key
//!   *content* are `secret: true` ([`crate::rules::schema_problems`]).
//! - `unknown-method`: an unknown method gets JSON-RPC error -32601, and the driver answers
//!   `initialize` afterwards.
//! - `malformed-params`: `state` with params `42` gets error -32602 or a driver error (-32000),
//!   and the driver answers afterwards.
//! - `options`: the `--option`s are known to the schema and typed as it says; secret options
//!   come from their environment variables only.
//! - `set-config`: `set_config` answers within the call bound. A refusal is no failure: it
//!   means the options do not make a machine, and the lifecycle checks are skipped.
//! - `state-unknown`: `state` and `access` of a machine never made (its `set_config` config,
//!   an unused creation id) answer within the call bound, with a valid answer or `not-found`.
//! - The lifecycle, with options that make a machine: `pre-create-check`; `create` (a
//!   throwaway public key, a fresh creation id; a driver that does not keep an existing host
//!   reports `made` before its answer, never after); `access`
//!   ([`crate::rules::access_problems`]); `state`; `stop`, `start`, `restart`, `kill` as the
//!   capabilities declare (the state afterwards is Stopped, Running, Running, Stopped);
//!   `remove`; `remove-again` (done, or `not-found`).
//! - `cancel`: another create, `$/cancel` once the driver reported progress or `made` (or after
//!   1 s); it answers within the cancel bound (`cancelled`, or its result), any `made` came
//!   before the answer, and `remove` with the last `made` config cleans up. A create that
//!   finished before the cancel passes with a note.
//! - `concurrent`: two creates in flight at once both answer, and both are removed.
//! - `bounds`: every handshake, `state`, `access` and create-after-`$/cancel` within its bound.
//! - `stdout`: nothing but protocol messages on stdout during the whole run.

mod lifecycle;
mod protocol;
mod results;

use crate::options;
use crate::process::{Driver, RawError};
use crate::report::{Check, Outcome, Report};
use crate::rules::{access_problems, schema_problems};
use crate::Kit;
use base64::Engine as _;
use driver_protocol::calls::*;
use driver_protocol::message::{codes, Response};
use driver_protocol::notification;
use driver_protocol::request::{
    Create, GetAccess, GetState, Initialize, Kill, PreCreateCheck, Remove, Request, Restart,
    SetConfig, Start, Stop,
};
use driver_protocol::schema::InitializeParams;
use driver_protocol::{
    CancellationToken, ClientError, DriverError, DriverInfo, ErrorKind, Options, PROTOCOL_VERSION,
};
use results::{Results, Timings};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::fmt;
use std::time::{Duration, Instant};

/// Every check's name, in the report's order.
pub const CHECKS: &[&str] = &[
    "handshake",
    "schema",
    "unknown-method",
    "malformed-params",
    "options",
    "set-config",
    "state-unknown",
    "pre-create-check",
    "create",
    "access",
    "state",
    "stop",
    "start",
    "restart",
    "kill",
    "remove",
    "remove-again",
    "cancel",
    "concurrent",
    "bounds",
    "stdout",
];

/// The checks that need a machine made.
const LIFECYCLE: &[&str] = &[
    "pre-create-check",
    "create",
    "access",
    "state",
    "stop",
    "start",
    "restart",
    "kill",
    "remove",
    "remove-again",
    "cancel",
    "concurrent",
];

/// How long a driver may take to exit once its stdin is closed.
const EXIT_GRACE: Duration = Duration::from_secs(5);
/// How long the cancel check lets a create run when the driver reports nothing.
const CANCEL_AFTER: Duration = Duration::from_secs(1);

/// Runs every check against `kit`'s driver (see [`crate::run`]).
pub async fn run(kit: &Kit) -> Report {
    let mut results = Results::default();
    let driver = match Driver::start(&kit.executable, &kit.args) {
        Ok(d) => d,
        Err(e) => {
            results.fail(
                "handshake",
                format!("cannot start {}: {e}", kit.executable.display()),
            );
            results.skip_unset(CHECKS, "the driver did not start");
            return results.into_report(None, Vec::new());
        }
    };
    let mut run = Run {
        kit,
        driver,
        info: None,
        r: results,
        t: Timings::default(),
        tag: hex(&random_bytes::<3>()),
    };
    run.all().await;
    run.finish().await
}

/// One run: the driver, what it said of itself, and the results so far.
struct Run<'k> {
    kit: &'k Kit,
    driver: Driver,
    info: Option<DriverInfo>,
    r: Results,
    t: Timings,
    /// Makes this run's machine names unique.
    tag: String,
}

impl Run<'_> {
    async fn all(&mut self) {
        if !self.handshake().await {
            let skipped: Vec<&'static str> = CHECKS
                .iter()
                .copied()
                .filter(|c| !matches!(*c, "bounds" | "stdout"))
                .collect();
            self.r.skip_unset(&skipped, "no handshake");
            return;
        }
        self.environment().await;
        self.schema();
        self.unknown_method().await;
        self.malformed_params().await;
        let options = self.options();
        let main = self.name("");
        let config = match &options {
            Some(o) => self.main_config(&main, o).await,
            None => {
                self.r
                    .skip("set-config", "the options are invalid (see options)");
                None
            }
        };
        let never = match (&options, &config) {
            (Some(o), Some(_)) => Some(self.set_config(&self.name("-never"), o).await.0),
            _ => None,
        };
        self.state_unknown(never).await;
        match (options, config) {
            (Some(o), Some(c)) if self.kit.create => {
                if self.lifecycle(&main, c).await {
                    self.cancel(&o).await;
                    self.concurrent(&o).await;
                }
            }
            (Some(_), Some(_)) => self.r.skip_unset(LIFECYCLE, "--no-create"),
            (Some(_), None) => {
                let why = if self.r.outcome("set-config") == Some(Outcome::Fail) {
                    "no machine made: set_config failed (see set-config)"
                } else {
                    "no machine made: the options do not make one (see set-config)"
                };
                self.r.skip_unset(LIFECYCLE, why)
            }
            (None, _) => self.r.skip_unset(
                LIFECYCLE,
                "no machine made: the options are invalid (see options)",
            ),
        }
    }

    async fn finish(mut self) -> Report {
        self.bounds();
        let driver_name = self
            .info
            .as_ref()
            .map(|i| format!("{} {}", i.name, i.version));
        let finished = self.driver.shutdown(EXIT_GRACE).await;
        let tap = &finished.tap;
        if tap.invalid_count == 0 {
            self.r.pass(
                "stdout",
                match tap.lines {
                    1 => "1 line, a protocol message".to_string(),
                    n => format!("{n} lines, all protocol messages"),
                },
            );
        } else {
            self.r.fail(
                "stdout",
                format!(
                    "{} of {} lines are not JSON-RPC messages (a driver logs to stderr), \
                     first: {}",
                    tap.invalid_count,
                    tap.lines,
                    tap.invalid.first().map(String::as_str).unwrap_or("")
                ),
            );
        }
        self.r.into_report(driver_name, finished.stderr_tail)
    }

    fn name(&self, suffix: &str) -> String {
        format!("check-{}{suffix}", self.tag)
    }

    fn info(&self) -> &DriverInfo {
        self.info.as_ref().expect("the handshake came first")
    }

    /// Calls `R`, waiting at most `bound`; on timeout the driver is sent `$/cancel` (as a host
    /// that gives up does). Returns the answer and how long it took.
    async fn call<R: Request>(
        &self,
        params: &R::Params,
        bound: Duration,
    ) -> (Result<R::Result, CallError>, Duration) {
        let t0 = Instant::now();
        let token = CancellationToken::new();
        let call = self
            .driver
            .client()
            .request_cancellable::<R>(params, &token);
        tokio::pin!(call);
        match tokio::time::timeout(bound, &mut call).await {
            Ok(answer) => {
                let took = t0.elapsed();
                (self.answer(answer).await, took)
            }
            Err(_) => {
                token.cancel();
                let _ = tokio::time::timeout(Duration::from_millis(100), &mut call).await;
                (Err(CallError::Timeout(bound)), t0.elapsed())
            }
        }
    }

    async fn answer<T>(&self, answer: Result<T, ClientError>) -> Result<T, CallError> {
        match answer {
            Ok(v) => Ok(v),
            Err(ClientError::Driver(e)) => Err(CallError::Driver(e)),
            Err(ClientError::Closed) => Err(CallError::Closed(self.driver.exit_note().await)),
            Err(e) => Err(CallError::Bad(e.to_string())),
        }
    }
}

/// Why a call did not give its result.
#[derive(Debug, Clone)]
enum CallError {
    /// No answer within the bound.
    Timeout(Duration),
    /// The driver answered an error.
    Driver(DriverError),
    /// The driver exited; why, as far as is known.
    Closed(String),
    /// The answer is not the call's result.
    Bad(String),
}

impl fmt::Display for CallError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CallError::Timeout(b) => write!(f, "no answer within {}", secs(*b)),
            CallError::Driver(e) => write!(f, "error {} ({})", e.kind, e.message),
            CallError::Closed(note) => write!(f, "no answer: {note}"),
            CallError::Bad(e) => write!(f, "an invalid answer: {e}"),
        }
    }
}

fn show_access(a: &Access) -> String {
    match &a.ssh {
        Some(ssh) => format!(
            "ip {}, ssh {}@{}:{}, docker {}",
            a.ip, ssh.user, ssh.host, ssh.port, a.docker_url
        ),
        None => format!("ip {}, no ssh, docker {}", a.ip, a.docker_url),
    }
}

fn show_state(s: State) -> &'static str {
    match s {
        State::None => "None",
        s => s.as_str(),
    }
}

/// `12 ms`, `1.5 s`.
fn secs(d: Duration) -> String {
    if d < Duration::from_secs(1) {
        format!("{} ms", d.as_millis())
    } else if d.subsec_millis() == 0 {
        format!("{} s", d.as_secs())
    } else {
        format!("{:.1} s", d.as_secs_f64())
    }
}

fn random_bytes<const N: usize>() -> [u8; N] {
    let mut b = [0u8; N];
    getrandom::fill(&mut b).expect("random bytes from the system");
    b
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A fresh creation id (a random UUID).
fn creation_id() -> String {
    let mut b = random_bytes::<16>();
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h = hex(&b);
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

/// An OpenSSH public key line of a key nobody holds: create installs it, nobody logs in.
fn throwaway_public_key() -> String {
    let mut blob = Vec::new();
    blob.extend_from_slice(&11u32.to_be_bytes());
    blob.extend_from_slice(b"ssh-ed25519");
    blob.extend_from_slice(&32u32.to_be_bytes());
    blob.extend_from_slice(&random_bytes::<32>());
    format!(
        "ssh-ed25519 {} machine-driver-check-throwaway",
        base64::engine::general_purpose::STANDARD.encode(blob)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn made_up_ids_and_keys() {
        let id = creation_id();
        assert_eq!(id.len(), 36);
        assert_ne!(id, creation_id());
        let key = throwaway_public_key();
        assert!(
            key.starts_with("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI"),
            "{key}"
        );
        assert_eq!(secs(Duration::from_millis(12)), "12 ms");
        assert_eq!(secs(Duration::from_millis(1500)), "1.5 s");
        assert_eq!(secs(Duration::from_secs(30)), "30 s");
    }
}
