//! What the run has found so far: each check's outcome, and the times the bounded calls took.

use super::*;

/// The results so far, by check name.
#[derive(Default)]
pub(super) struct Results(HashMap<&'static str, (Outcome, String)>);

impl Results {
    pub(super) fn set(&mut self, name: &'static str, outcome: Outcome, detail: impl Into<String>) {
        debug_assert!(CHECKS.contains(&name), "unknown check {name}");
        self.0.insert(name, (outcome, detail.into()));
    }
    pub(super) fn pass(&mut self, name: &'static str, detail: impl Into<String>) {
        self.set(name, Outcome::Pass, detail)
    }
    pub(super) fn fail(&mut self, name: &'static str, detail: impl Into<String>) {
        self.set(name, Outcome::Fail, detail)
    }
    pub(super) fn skip(&mut self, name: &'static str, detail: impl Into<String>) {
        self.set(name, Outcome::Skip, detail)
    }
    pub(super) fn outcome(&self, name: &str) -> Option<Outcome> {
        self.0.get(name).map(|(o, _)| *o)
    }
    pub(super) fn set_result(&mut self, name: &'static str, r: Result<String, String>) {
        match r {
            Ok(d) => self.pass(name, d),
            Err(d) => self.fail(name, d),
        }
    }
    /// Skips those of `names` that have no result yet.
    pub(super) fn skip_unset(&mut self, names: &[&'static str], why: &str) {
        for name in names {
            self.0
                .entry(name)
                .or_insert_with(|| (Outcome::Skip, why.to_string()));
        }
    }
    pub(super) fn into_report(
        mut self,
        driver: Option<String>,
        stderr_tail: Vec<String>,
    ) -> Report {
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
pub(super) struct Timings {
    pub(super) max: HashMap<&'static str, Duration>,
    pub(super) over: Vec<String>,
}

impl Timings {
    pub(super) fn observe<T>(
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
