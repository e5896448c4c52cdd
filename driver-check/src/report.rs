//! The kit's report: one line per check, `ok`, `FAIL` or `skip`, its name and a detail.

use std::fmt;

/// How a check came out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The driver does what the contract asks.
    Pass,
    /// It does not; the detail says what happened.
    Fail,
    /// The check does not apply (an operation the driver does not declare, no machine made).
    Skip,
}

impl Outcome {
    /// The word in the report's first column.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Pass => "ok",
            Outcome::Fail => "FAIL",
            Outcome::Skip => "skip",
        }
    }
}

/// One check's result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Check {
    /// Its short, stable name (one of [`crate::CHECKS`]).
    pub name: &'static str,
    /// How it came out.
    pub outcome: Outcome,
    /// What was seen, on one line.
    pub detail: String,
}

/// Every check, in the order of [`crate::CHECKS`], and the driver's last lines of stderr.
#[derive(Debug, Clone, Default)]
pub struct Report {
    /// One per name of [`crate::CHECKS`], in that order.
    pub checks: Vec<Check>,
    /// The driver's name and version from its handshake, when it answered one.
    pub driver: Option<String>,
    /// The last lines the driver wrote to stderr (its log), to explain failures.
    pub stderr_tail: Vec<String>,
}

impl Report {
    /// Whether no check failed.
    pub fn passed(&self) -> bool {
        !self.checks.iter().any(|c| c.outcome == Outcome::Fail)
    }

    /// The check named `name`.
    pub fn check(&self, name: &str) -> Option<&Check> {
        self.checks.iter().find(|c| c.name == name)
    }

    /// How check `name` came out (`None`: no such check).
    pub fn outcome(&self, name: &str) -> Option<Outcome> {
        self.check(name).map(|c| c.outcome)
    }

    /// The names of the failed checks.
    pub fn failed(&self) -> Vec<&'static str> {
        self.checks
            .iter()
            .filter(|c| c.outcome == Outcome::Fail)
            .map(|c| c.name)
            .collect()
    }

    /// How many checks came out as `outcome`.
    pub fn count(&self, outcome: Outcome) -> usize {
        self.checks.iter().filter(|c| c.outcome == outcome).count()
    }
}

/// The table: `ok    NAME  detail`, one line per check.
impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let width = self.checks.iter().map(|c| c.name.len()).max().unwrap_or(0);
        for c in &self.checks {
            writeln!(
                f,
                "{:<6}{:<width$}  {}",
                c.outcome.as_str(),
                c.name,
                one_line(&c.detail)
            )?;
        }
        Ok(())
    }
}

/// `s` on one line of at most 400 characters (a driver's message may hold anything).
fn one_line(s: &str) -> String {
    let flat: String = s
        .trim()
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if flat.chars().count() > 400 {
        format!("{}…", flat.chars().take(400).collect::<String>())
    } else {
        flat
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_lines_and_passed() {
        let mut r = Report {
            checks: vec![
                Check {
                    name: "handshake",
                    outcome: Outcome::Pass,
                    detail: "static 0.2.0\nprotocol 3".into(),
                },
                Check {
                    name: "stop",
                    outcome: Outcome::Skip,
                    detail: "not declared".into(),
                },
            ],
            ..Report::default()
        };
        assert!(r.passed());
        let text = r.to_string();
        assert_eq!(
            text,
            "ok    handshake  static 0.2.0 protocol 3\nskip  stop       not declared\n"
        );
        r.checks[1].outcome = Outcome::Fail;
        assert!(!r.passed());
        assert_eq!(r.failed(), vec!["stop"]);
        assert!(r.to_string().contains("FAIL  stop "));
    }
}
