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
    let driver = match Driver::start(&kit.executable) {
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

    async fn handshake(&mut self) -> bool {
        let bound = self.kit.bounds.handshake;
        let params = InitializeParams::new(&format!(
            "machine-driver-check {}",
            env!("CARGO_PKG_VERSION")
        ));
        let (answer, took) = self.call::<Initialize>(&params, bound).await;
        self.t.observe("handshake", took, &answer, bound);
        let info = match answer {
            Ok(info) => info,
            Err(e) => {
                self.r.fail("handshake", format!("initialize: {e}"));
                return false;
            }
        };
        if info.protocol_version != PROTOCOL_VERSION {
            self.r.fail(
                "handshake",
                format!(
                    "driver {} speaks protocol version {}, the host {PROTOCOL_VERSION}",
                    info.name, info.protocol_version
                ),
            );
            return false;
        }
        if info.name.trim().is_empty() {
            self.r.fail(
                "handshake",
                "the driver's name is empty (machine-driver-NAME)",
            );
        } else {
            self.r.pass(
                "handshake",
                format!(
                    "{} {}, protocol {}, in {}",
                    info.name,
                    info.version,
                    info.protocol_version,
                    secs(took)
                ),
            );
        }
        self.info = Some(info);
        true
    }

    /// Sends the declared variables that are set, as the host does right after the handshake.
    async fn environment(&mut self) {
        let vars: std::collections::BTreeMap<String, String> = self
            .info()
            .env
            .iter()
            .filter_map(|k| Some((k.clone(), self.kit.lookup_env(k)?)))
            .collect();
        if !vars.is_empty() {
            let _ = self
                .driver
                .client()
                .notify::<notification::Environment>(&EnvironmentParams::new(vars))
                .await;
        }
    }

    fn schema(&mut self) {
        let info = self.info();
        let problems = schema_problems(info);
        if problems.is_empty() {
            let secrets = info.options.iter().filter(|o| o.secret).count();
            let c = info.capabilities;
            let caps: Vec<&str> = [
                ("start", c.start),
                ("stop", c.stop),
                ("restart", c.restart),
                ("kill", c.kill),
                ("keeps_host", c.keeps_host),
            ]
            .into_iter()
            .filter_map(|(n, yes)| yes.then_some(n))
            .collect();
            let detail = format!(
                "{} options ({secrets} secret); capabilities: {}",
                info.options.len(),
                if caps.is_empty() {
                    "none".to_string()
                } else {
                    caps.join(", ")
                }
            );
            self.r.pass("schema", detail);
        } else {
            self.r.fail("schema", problems.join("; "));
        }
    }

    /// Whether the driver still answers (`initialize` again); `Err` says why not.
    async fn alive(&self) -> Result<(), String> {
        let params = InitializeParams::new("machine-driver-check");
        match self
            .call::<Initialize>(&params, self.kit.bounds.call)
            .await
            .0
        {
            Ok(_) => Ok(()),
            Err(e) => Err(format!("but then initialize got {e}")),
        }
    }

    /// A raw call's answer as an error code, or why there is none to judge.
    async fn raw_error(&self, method: &str, params: Value) -> Result<(i64, String), String> {
        let bound = self.kit.bounds.call;
        match self.driver.raw_call(method, params, bound).await {
            Ok(Response { error: Some(e), .. }) => Ok((e.code, e.message)),
            Ok(_) => Err("answered with a result instead of an error".to_string()),
            Err(RawError::Timeout) => Err(format!("no answer within {}", secs(bound))),
            Err(RawError::Closed) => Err(self.driver.exit_note().await),
        }
    }

    async fn unknown_method(&mut self) {
        let method = "driver-check/no-such-method";
        let outcome = match self.raw_error(method, json!({})).await {
            Ok((codes::METHOD_NOT_FOUND, message)) => match self.alive().await {
                Ok(()) => Ok(format!(
                    "error -32601 ({message}); the driver answers afterwards"
                )),
                Err(e) => Err(format!("error -32601, {e}")),
            },
            Ok((code, message)) => Err(format!(
                "error {code} ({message}) instead of -32601 (method not found)"
            )),
            Err(e) => Err(format!("{method}: {e}")),
        };
        self.r.set_result("unknown-method", outcome);
    }

    async fn malformed_params(&mut self) {
        let outcome = match self.raw_error("state", json!(42)).await {
            Ok((code @ (codes::INVALID_PARAMS | codes::DRIVER_ERROR), message)) => {
                match self.alive().await {
                    Ok(()) => Ok(format!(
                        "state with params 42: error {code} ({message}); the driver answers \
                         afterwards"
                    )),
                    Err(e) => Err(format!("state with params 42: error {code}, {e}")),
                }
            }
            Ok((code, message)) => Err(format!(
                "state with params 42: error {code} ({message}) instead of -32602 (invalid \
                 params) or a driver error (-32000)"
            )),
            Err(e) => Err(format!("state with params 42: {e}")),
        };
        self.r.set_result("malformed-params", outcome);
    }

    /// The options typed; `None` (and a failed check) when they are not the driver's.
    fn options(&mut self) -> Option<Options> {
        let kit = self.kit;
        let info = self.info.as_ref().expect("the handshake came first");
        match options::typed(info, &kit.options, |v| kit.lookup_env(v)) {
            Ok(o) => {
                let mut given: Vec<String> = kit
                    .options
                    .iter()
                    .filter_map(|(n, _)| info.option(n.trim_start_matches('-')))
                    .map(|o| o.name.clone())
                    .collect();
                given.dedup();
                let secrets = options::secrets_from_env(info, |v| kit.lookup_env(v));
                let mut parts = Vec::new();
                if !given.is_empty() {
                    parts.push(format!("given: {}", given.join(", ")));
                }
                if !secrets.is_empty() {
                    parts.push(format!("from the environment: {}", secrets.join(", ")));
                }
                if parts.is_empty() {
                    self.r
                        .skip("options", "none given: the schema's defaults only");
                } else {
                    self.r.pass("options", parts.join("; "));
                }
                Some(o)
            }
            Err(e) => {
                self.r.fail("options", e);
                None
            }
        }
    }

    async fn set_config(
        &self,
        machine: &str,
        options: &Options,
    ) -> (Result<Value, CallError>, Duration) {
        let params = SetConfigParams::new(machine, options.clone());
        let (answer, took) = self.call::<SetConfig>(&params, self.kit.bounds.call).await;
        (answer.map(|r| r.config), took)
    }

    /// `set_config` for the main machine: its config, or `None` when it makes none.
    async fn main_config(&mut self, machine: &str, options: &Options) -> Option<Value> {
        match self.set_config(machine, options).await {
            (Ok(config), took) => {
                self.r.pass(
                    "set-config",
                    format!("a config for {machine} in {}", secs(took)),
                );
                Some(config)
            }
            (Err(CallError::Driver(e)), _) => {
                self.r.skip(
                    "set-config",
                    format!(
                        "set_config refused the options ({}: {}): the lifecycle checks need \
                         options that make a machine (--option NAME=VALUE)",
                        e.kind, e.message
                    ),
                );
                None
            }
            (Err(e), _) => {
                self.r.fail("set-config", e.to_string());
                None
            }
        }
    }

    async fn state_unknown(&mut self, config: Option<Result<Value, CallError>>) {
        let (config, strict) = match config {
            Some(Ok(c)) => (c, true),
            Some(Err(e)) => {
                self.r
                    .fail("state-unknown", format!("set_config of the machine: {e}"));
                return;
            }
            None => (json!({}), false),
        };
        let mut p = MachineParams::new(&self.name("-never"), config);
        p.creation_id = creation_id();
        let bound = self.kit.bounds.call;
        let mut seen = Vec::new();
        let mut problems = Vec::new();
        let (state, took) = self.call::<GetState>(&p, bound).await;
        self.t.observe("state", took, &state, bound);
        match state {
            Ok(s) => seen.push(format!("state {}", show_state(s.state))),
            Err(e) => unknown_error("state", e, strict, &mut seen, &mut problems),
        }
        let (access, took) = self.call::<GetAccess>(&p, bound).await;
        self.t.observe("access", took, &access, bound);
        match access {
            Ok(a) => {
                let bad = access_problems(&a);
                if bad.is_empty() {
                    seen.push(format!("access {}", show_access(&a)));
                } else {
                    problems.push(format!("access: {}", bad.join(", ")));
                }
            }
            Err(e) => unknown_error("access", e, strict, &mut seen, &mut problems),
        }
        if problems.is_empty() {
            let note = if strict {
                ""
            } else {
                " (with an empty config: set_config made none)"
            };
            self.r.pass(
                "state-unknown",
                format!("a machine never made: {}{note}", seen.join("; ")),
            );
        } else {
            self.r.fail(
                "state-unknown",
                format!("a machine never made: {}", problems.join("; ")),
            );
        }
    }

    /// The lifecycle of one machine; `false` when pre_create_check failed (nothing else to do).
    async fn lifecycle(&mut self, name: &str, base: Value) -> bool {
        let op = self.kit.bounds.operation;
        let cid = creation_id();
        let params = |config: &Value| {
            let mut p = MachineParams::new(name, config.clone());
            p.creation_id = cid.clone();
            p
        };
        match self.call::<PreCreateCheck>(&params(&base), op).await {
            (Ok(()), took) => self
                .r
                .pass("pre-create-check", format!("passed in {}", secs(took))),
            (Err(e), _) => {
                self.r.fail("pre-create-check", e.to_string());
                self.r
                    .skip_unset(LIFECYCLE, "pre_create_check failed: no machine made");
                return false;
            }
        }

        let keeps_host = self.info().capabilities.keeps_host;
        let create = CreateParams::new(name, base.clone(), &cid, &throwaway_public_key());
        let (answer, took) = self.call::<Create>(&create, op).await;
        let made_before = self.driver.made(name);
        let mut config = made_before.last().cloned().unwrap_or(base);
        let created = match answer {
            Ok(result) => {
                if !result.config.is_null() {
                    config = result.config.clone();
                }
                let made = made_note(keeps_host, made_before.len());
                match made {
                    Ok(note) => self.r.pass(
                        "create",
                        format!(
                            "created {name} in {}; {note}{}",
                            secs(took),
                            bootstrap_note(&result)
                        ),
                    ),
                    Err(problem) => self.r.fail("create", problem),
                }
                true
            }
            Err(e) => {
                self.r.fail("create", e.to_string());
                false
            }
        };

        if created {
            self.access_and_state(&params(&config)).await;
            let caps = self.info().capabilities;
            let steps = [
                ("stop", caps.stop, State::Stopped),
                ("start", caps.start, State::Running),
                ("restart", caps.restart, State::Running),
                ("kill", caps.kill, State::Stopped),
            ];
            for (step, declared, want) in steps {
                if !declared {
                    let why = if step == "restart" && caps.keeps_host {
                        "not declared (keeps_host: the host reboots the host itself)"
                    } else {
                        "not declared"
                    };
                    self.r.skip(step, why);
                    continue;
                }
                let p = params(&config);
                let (answer, took) = match step {
                    "stop" => self.call::<Stop>(&p, op).await,
                    "start" => self.call::<Start>(&p, op).await,
                    "restart" => self.call::<Restart>(&p, op).await,
                    _ => self.call::<Kill>(&p, op).await,
                };
                match answer {
                    Ok(r) => {
                        if !r.config.is_null() {
                            config = r.config;
                        }
                        let outcome = match self.wait_state(&params(&config), want).await {
                            Ok(s) if s == want => Ok(format!(
                                "{step} answered in {}; state {}",
                                secs(took),
                                show_state(s)
                            )),
                            Ok(s) => Err(format!(
                                "state {} after {step}, not {}",
                                show_state(s),
                                show_state(want)
                            )),
                            Err(e) => Err(format!("state after {step}: {e}")),
                        };
                        self.r.set_result(step, outcome);
                    }
                    Err(e) => self.r.fail(step, e.to_string()),
                }
            }
        } else {
            self.r.skip_unset(
                &["access", "state", "stop", "start", "restart", "kill"],
                "create failed",
            );
        }

        // removed as the host removes it: with its last config and its creation id
        match self.call::<Remove>(&params(&config), op).await {
            (Ok(_), took) => self.r.pass("remove", format!("removed in {}", secs(took))),
            (Err(e), _) => self.r.fail("remove", e.to_string()),
        }
        match self.call::<Remove>(&params(&config), op).await.0 {
            Ok(_) => self.r.pass("remove-again", "done (nothing left to remove)"),
            Err(CallError::Driver(e)) if e.kind == ErrorKind::NotFound => self
                .r
                .pass("remove-again", format!("not-found ({})", e.message)),
            Err(e) => self.r.fail(
                "remove-again",
                format!("{e} (something already gone is done, not an error)"),
            ),
        }
        if created && self.driver.made(name).len() > made_before.len() {
            self.r.fail(
                "create",
                "a made notification came after create answered (made must come before)",
            );
        }
        true
    }

    async fn access_and_state(&mut self, p: &MachineParams) {
        let bound = self.kit.bounds.call;
        let (access, took) = self.call::<GetAccess>(p, bound).await;
        self.t.observe("access", took, &access, bound);
        let outcome = match access {
            Ok(a) => {
                let bad = access_problems(&a);
                if bad.is_empty() {
                    Ok(show_access(&a))
                } else {
                    Err(bad.join("; "))
                }
            }
            Err(e) => Err(e.to_string()),
        };
        self.r.set_result("access", outcome);
        let (state, took) = self.call::<GetState>(p, bound).await;
        self.t.observe("state", took, &state, bound);
        let outcome = state
            .map(|s| format!("{} in {}", show_state(s.state), secs(took)))
            .map_err(|e| e.to_string());
        self.r.set_result("state", outcome);
    }

    /// Asks `state` until it is `want`, for at most the call bound; the last state seen.
    async fn wait_state(&mut self, p: &MachineParams, want: State) -> Result<State, CallError> {
        let bound = self.kit.bounds.call;
        let t0 = Instant::now();
        loop {
            let (answer, took) = self.call::<GetState>(p, bound).await;
            self.t.observe("state", took, &answer, bound);
            let state = answer?.state;
            if state == want || t0.elapsed() >= bound {
                return Ok(state);
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }

    async fn cancel(&mut self, options: &Options) {
        let name = self.name("-cancel");
        let base = match self.set_config(&name, options).await.0 {
            Ok(c) => c,
            Err(e) => {
                self.r.fail("cancel", format!("set_config of {name}: {e}"));
                return;
            }
        };
        let cid = creation_id();
        let keeps_host = self.info().capabilities.keeps_host;
        let params = CreateParams::new(&name, base.clone(), &cid, &throwaway_public_key());
        let bound = self.kit.bounds.cancel;
        let token = CancellationToken::new();
        let t0 = Instant::now();
        // (what happened, the answer, its time after $/cancel)
        let (what, answer, after) = {
            let call = self
                .driver
                .client()
                .request_cancellable::<Create>(&params, &token);
            tokio::pin!(call);
            let early = tokio::select! {
                answer = &mut call => Err(answer),
                trigger = activity(&self.driver, &name, CANCEL_AFTER) => Ok(trigger),
            };
            match early {
                Err(answer) => (None, Some(answer), None),
                Ok(trigger) => {
                    token.cancel();
                    let t1 = Instant::now();
                    match tokio::time::timeout(bound, &mut call).await {
                        Ok(answer) => (Some(trigger), Some(answer), Some(t1.elapsed())),
                        Err(_) => (Some(trigger), None, Some(t1.elapsed())),
                    }
                }
            }
        };
        let answer = match answer {
            Some(a) => Some(self.answer(a).await),
            None => None,
        };
        if let Some(after) = after {
            let timing = answer
                .clone()
                .map_or(Err(CallError::Timeout(bound)), |_| Ok(()));
            self.t
                .observe("create after $/cancel", after, &timing, bound);
        }
        let made_before = self.driver.made(&name);
        let mut config = made_before.last().cloned().unwrap_or(base);
        let made = made_note(keeps_host, made_before.len());
        let outcome: Result<String, String> = match (what, answer) {
            (None, Some(Ok(result))) => {
                if !result.config.is_null() {
                    config = result.config;
                }
                made.map(|note| {
                    format!(
                        "create finished in {} before the cancel (nothing to cancel); {note}",
                        secs(t0.elapsed())
                    )
                })
            }
            (None, Some(Err(e))) => Err(format!("create failed before the cancel: {e}")),
            (Some(trigger), Some(Ok(result))) => {
                if !result.config.is_null() {
                    config = result.config;
                }
                made.map(|note| {
                    format!(
                        "$/cancel sent after {trigger}; create finished anyway {} later; {note}",
                        secs(after.unwrap_or_default())
                    )
                })
            }
            (Some(trigger), Some(Err(CallError::Driver(e)))) if e.kind == ErrorKind::Cancelled => {
                Ok(format!(
                    "$/cancel sent after {trigger}; answered cancelled {} later ({}); made {} \
                     time(s) before the answer",
                    secs(after.unwrap_or_default()),
                    e.message,
                    made_before.len()
                ))
            }
            (Some(trigger), Some(Err(e))) => Err(format!(
                "$/cancel sent after {trigger}; answered {e} instead of cancelled"
            )),
            (Some(trigger), None) => Err(format!(
                "$/cancel sent after {trigger}; no answer within {} ({} made before)",
                secs(bound),
                made_before.len()
            )),
            (None, None) => Err("create did not answer".to_string()),
        };
        // the host removes a cancelled create with what made said, and its creation id
        let mut p = MachineParams::new(&name, config);
        p.creation_id = cid;
        let removed = match self.call::<Remove>(&p, self.kit.bounds.operation).await.0 {
            Ok(_) => Ok(()),
            Err(CallError::Driver(e)) if e.kind == ErrorKind::NotFound => Ok(()),
            Err(e) => Err(format!("remove with the last made config: {e}")),
        };
        let late = self.driver.made(&name).len() > made_before.len() && after.is_some();
        let outcome = match (outcome, removed) {
            (Ok(_), _) if late => Err("a made notification came after create answered".into()),
            (Ok(d), Ok(())) => Ok(format!("{d}; removed")),
            (Ok(d), Err(e)) => Err(format!("{d}; but {e}")),
            (Err(d), Ok(())) => Err(d),
            (Err(d), Err(e)) => Err(format!("{d}; {e}")),
        };
        self.r.set_result("cancel", outcome);
    }

    async fn concurrent(&mut self, options: &Options) {
        let names = [self.name("-a"), self.name("-b")];
        let mut bases = Vec::new();
        for name in &names {
            match self.set_config(name, options).await.0 {
                Ok(c) => bases.push(c),
                Err(e) => {
                    self.r
                        .fail("concurrent", format!("set_config of {name}: {e}"));
                    return;
                }
            }
        }
        let keeps_host = self.info().capabilities.keeps_host;
        let op = self.kit.bounds.operation;
        let cids = [creation_id(), creation_id()];
        let params: Vec<CreateParams> = (0..2)
            .map(|i| {
                CreateParams::new(
                    &names[i],
                    bases[i].clone(),
                    &cids[i],
                    &throwaway_public_key(),
                )
            })
            .collect();
        let (a, b) = tokio::join!(
            self.call::<Create>(&params[0], op),
            self.call::<Create>(&params[1], op)
        );
        let mut problems = Vec::new();
        let mut took = Vec::new();
        for (i, (answer, t)) in [a, b].into_iter().enumerate() {
            let name = &names[i];
            let made = self.driver.made(name);
            let mut config = made.last().cloned().unwrap_or_else(|| bases[i].clone());
            match answer {
                Ok(result) => {
                    if !result.config.is_null() {
                        config = result.config;
                    }
                    if let Err(p) = made_note(keeps_host, made.len()) {
                        problems.push(format!("{name}: {p}"));
                    }
                    took.push(format!("{name} in {}", secs(t)));
                }
                Err(e) => problems.push(format!("create of {name}: {e}")),
            }
            let mut p = MachineParams::new(name, config);
            p.creation_id = cids[i].clone();
            match self.call::<Remove>(&p, op).await.0 {
                Ok(_) => {}
                Err(CallError::Driver(e)) if e.kind == ErrorKind::NotFound => {}
                Err(e) => problems.push(format!("remove of {name}: {e}")),
            }
        }
        if problems.is_empty() {
            self.r.pass(
                "concurrent",
                format!("two creates at once: {}; both removed", took.join(", ")),
            );
        } else {
            self.r.fail("concurrent", problems.join("; "));
        }
    }

    fn bounds(&mut self) {
        let b = self.kit.bounds;
        let t = &self.t;
        if !t.over.is_empty() {
            self.r.fail("bounds", t.over.join("; "));
            return;
        }
        let mut parts = Vec::new();
        let mut part = |what: &str, took: Option<Duration>, bound: Duration| {
            if let Some(d) = took {
                parts.push(format!("{what} {} (bound {})", secs(d), secs(bound)));
            }
        };
        part("handshake", t.max.get("handshake").copied(), b.handshake);
        part("state at most", t.max.get("state").copied(), b.call);
        part("access at most", t.max.get("access").copied(), b.call);
        part(
            "create after $/cancel",
            t.max.get("create after $/cancel").copied(),
            b.cancel,
        );
        self.r.pass("bounds", parts.join("; "));
    }
}

/// A `state` or `access` error about a machine never made: `not-found` is right; with an empty
/// config (no set_config) any driver error is.
fn unknown_error(
    call: &str,
    e: CallError,
    strict: bool,
    seen: &mut Vec<String>,
    problems: &mut Vec<String>,
) {
    match e {
        CallError::Driver(e) if e.kind == ErrorKind::NotFound => {
            seen.push(format!("{call} not-found"))
        }
        CallError::Driver(e) if !strict => seen.push(format!("{call} {}", e.kind)),
        CallError::Driver(e) => problems.push(format!(
            "{call}: error {} ({}), not a state or not-found",
            e.kind, e.message
        )),
        e => problems.push(format!("{call}: {e}")),
    }
}

/// Whether a successful create reported what it made as it should.
fn made_note(keeps_host: bool, made: usize) -> Result<String, String> {
    match (made, keeps_host) {
        (0, true) => Ok("no made (keeps_host: nothing is made)".to_string()),
        (0, false) => Err(
            "create succeeded without a made notification before its answer (a driver that \
             makes something reports it with made as soon as it exists)"
                .to_string(),
        ),
        (n, _) => Ok(format!("made {n} time(s) before the answer")),
    }
}

fn bootstrap_note(r: &CreateResult) -> String {
    match &r.bootstrap {
        None => String::new(),
        Some(b) => match &b.key_path {
            Some(k) => format!("; bootstrap with the key file {k}"),
            None => "; bootstrap through ssh-agent".to_string(),
        },
    }
}

/// What the driver reported first about `machine` (`made`, `progress`), or `"1 s"` when
/// `max` passed without either.
async fn activity(driver: &Driver, machine: &str, max: Duration) -> String {
    let t0 = Instant::now();
    loop {
        if !driver.made(machine).is_empty() {
            return "made".into();
        }
        if driver.active(machine) {
            return "progress".into();
        }
        if t0.elapsed() >= max {
            return secs(max);
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
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

/// The results so far, by check name.
#[derive(Default)]
struct Results(HashMap<&'static str, (Outcome, String)>);

impl Results {
    fn set(&mut self, name: &'static str, outcome: Outcome, detail: impl Into<String>) {
        debug_assert!(CHECKS.contains(&name), "unknown check {name}");
        self.0.insert(name, (outcome, detail.into()));
    }
    fn pass(&mut self, name: &'static str, detail: impl Into<String>) {
        self.set(name, Outcome::Pass, detail)
    }
    fn fail(&mut self, name: &'static str, detail: impl Into<String>) {
        self.set(name, Outcome::Fail, detail)
    }
    fn skip(&mut self, name: &'static str, detail: impl Into<String>) {
        self.set(name, Outcome::Skip, detail)
    }
    fn outcome(&self, name: &str) -> Option<Outcome> {
        self.0.get(name).map(|(o, _)| *o)
    }
    fn set_result(&mut self, name: &'static str, r: Result<String, String>) {
        match r {
            Ok(d) => self.pass(name, d),
            Err(d) => self.fail(name, d),
        }
    }
    /// Skips those of `names` that have no result yet.
    fn skip_unset(&mut self, names: &[&'static str], why: &str) {
        for name in names {
            self.0
                .entry(name)
                .or_insert_with(|| (Outcome::Skip, why.to_string()));
        }
    }
    fn into_report(mut self, driver: Option<String>, stderr_tail: Vec<String>) -> Report {
        let checks = CHECKS
            .iter()
            .map(|name| {
                let (outcome, detail) = self
                    .0
                    .remove(name)
                    .unwrap_or((Outcome::Skip, "not run".to_string()));
                Check {
                    name,
                    outcome,
                    detail,
                }
            })
            .collect();
        Report {
            checks,
            driver,
            stderr_tail,
        }
    }
}

/// The longest time seen per kind of call, and the calls that exceeded their bound.
#[derive(Default)]
struct Timings {
    max: HashMap<&'static str, Duration>,
    over: Vec<String>,
}

impl Timings {
    fn observe<T>(
        &mut self,
        what: &'static str,
        took: Duration,
        answer: &Result<T, CallError>,
        bound: Duration,
    ) {
        if matches!(answer, Err(CallError::Timeout(_))) {
            let line = format!("{what}: no answer within {}", secs(bound));
            if !self.over.contains(&line) {
                self.over.push(line);
            }
        } else {
            let max = self.max.entry(what).or_default();
            *max = (*max).max(took);
        }
    }
}

fn show_access(a: &Access) -> String {
    format!(
        "ip {}, ssh {}@{}:{}, docker {}",
        a.ip, a.ssh.user, a.ssh.host, a.ssh.port, a.docker_url
    )
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
