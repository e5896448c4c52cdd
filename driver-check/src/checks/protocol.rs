//! The protocol checks: the handshake and the schema, unknown methods and malformed params,
//! the kit's options, `set_config`, and `state`/`access` of a machine never made.

use super::*;

impl Run<'_> {
    pub(super) async fn handshake(&mut self) -> bool {
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
    pub(super) async fn environment(&mut self) {
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

    pub(super) fn schema(&mut self) {
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
    pub(super) async fn alive(&self) -> Result<(), String> {
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
    pub(super) async fn raw_error(
        &self,
        method: &str,
        params: Value,
    ) -> Result<(i64, String), String> {
        let bound = self.kit.bounds.call;
        match self.driver.raw_call(method, params, bound).await {
            Ok(Response { error: Some(e), .. }) => Ok((e.code, e.message)),
            Ok(_) => Err("answered with a result instead of an error".to_string()),
            Err(RawError::Timeout) => Err(format!("no answer within {}", secs(bound))),
            Err(RawError::Closed) => Err(self.driver.exit_note().await),
        }
    }

    pub(super) async fn unknown_method(&mut self) {
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

    pub(super) async fn malformed_params(&mut self) {
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
    pub(super) fn options(&mut self) -> Option<Options> {
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

    pub(super) async fn set_config(
        &self,
        machine: &str,
        options: &Options,
    ) -> (Result<Value, CallError>, Duration) {
        let params = SetConfigParams::new(machine, options.clone());
        let (answer, took) = self.call::<SetConfig>(&params, self.kit.bounds.call).await;
        (answer.map(|r| r.config), took)
    }

    /// `set_config` for the main machine: its config, or `None` when it makes none.
    pub(super) async fn main_config(&mut self, machine: &str, options: &Options) -> Option<Value> {
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

    pub(super) async fn state_unknown(&mut self, config: Option<Result<Value, CallError>>) {
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
}

/// A `state` or `access` error about a machine never made: `not-found` is right; with an empty
/// config (no set_config) any driver error is.
pub(super) fn unknown_error(
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
