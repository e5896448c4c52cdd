//! The checks that make machines: the lifecycle as the capabilities declare it, cancel during
//! create, two creates in flight, and the bounds every call kept.

use super::*;

impl Run<'_> {
    /// The lifecycle of one machine; `false` when pre_create_check failed (nothing else to do).
    pub(super) async fn lifecycle(&mut self, name: &str, base: Value) -> bool {
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

    pub(super) async fn access_and_state(&mut self, p: &MachineParams) {
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
    pub(super) async fn wait_state(
        &mut self,
        p: &MachineParams,
        want: State,
    ) -> Result<State, CallError> {
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

    pub(super) async fn cancel(&mut self, options: &Options) {
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

    pub(super) async fn concurrent(&mut self, options: &Options) {
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

    pub(super) fn bounds(&mut self) {
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

/// Whether a successful create reported what it made as it should.
pub(super) fn made_note(keeps_host: bool, made: usize) -> Result<String, String> {
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

pub(super) fn bootstrap_note(r: &CreateResult) -> String {
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
pub(super) async fn activity(driver: &Driver, machine: &str, max: Duration) -> String {
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
