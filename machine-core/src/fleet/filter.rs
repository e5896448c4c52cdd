//! `--filter`: which machines a listing shows, by name, driver, label or state. The filters a
//! record answers apply before any machine is asked anything.

use crate::config::MachineConfig;
use driver_protocol::calls::State;
use regex::Regex;

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

    pub(super) fn matches_name(&self, name: &str) -> bool {
        self.names.is_empty() || self.names.iter().any(|r| r.is_match(name))
    }

    pub(super) fn matches_record(&self, c: &MachineConfig) -> bool {
        (self.drivers.is_empty()
            || self
                .drivers
                .iter()
                .any(|d| d.eq_ignore_ascii_case(&c.driver_alias)))
            && (self.labels.is_empty() || self.labels.iter().any(|l| c.engine.labels.contains(l)))
    }

    pub(super) fn matches_state(&self, s: Option<State>) -> bool {
        self.states.is_empty() || s.is_some_and(|s| self.states.contains(&s))
    }

    /// Whether listing needs to ask the machines (a state filter), not only the store.
    pub fn needs_state(&self) -> bool {
        !self.states.is_empty()
    }
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
}
