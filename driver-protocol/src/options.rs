//! The option values a user gave for a machine, with typed accessors for drivers.
//!
//! The host applies the defaults declared in the driver's option schema before it calls
//! `set_config` ([`crate::DriverInfo::with_defaults`]), so a driver reads every option it
//! declared with a default as present and never repeats the default in code.

use crate::error::DriverError;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// Option values by option name (`generic-ip-address`), typed as the schema says.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Options(Map<String, Value>);

impl Options {
    /// No options.
    pub fn new() -> Options {
        Options::default()
    }

    /// Sets option `name`.
    pub fn insert(&mut self, name: impl Into<String>, value: impl Into<Value>) {
        self.0.insert(name.into(), value.into());
    }

    /// The raw value of option `name`.
    pub fn get(&self, name: &str) -> Option<&Value> {
        self.0.get(name).filter(|v| !v.is_null())
    }

    /// Whether option `name` has a value.
    pub fn contains(&self, name: &str) -> bool {
        self.get(name).is_some()
    }

    /// Every option, by name.
    pub fn as_map(&self) -> &Map<String, Value> {
        &self.0
    }

    /// A string option; an empty string counts as absent.
    pub fn string(&self, name: &str) -> Result<Option<String>, DriverError> {
        match self.get(name) {
            None => Ok(None),
            Some(Value::String(s)) if s.is_empty() => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(other) => Err(wrong_type(name, "a string", other)),
        }
    }

    /// A string option that must be given; `what` explains it in the error.
    pub fn required_string(&self, name: &str, what: &str) -> Result<String, DriverError> {
        self.string(name)?
            .ok_or_else(|| DriverError::invalid_option(format!("--{name} is required: {what}")))
    }

    /// An integer option.
    pub fn int(&self, name: &str) -> Result<Option<i64>, DriverError> {
        match self.get(name) {
            None => Ok(None),
            Some(v) => v
                .as_i64()
                .map(Some)
                .ok_or_else(|| wrong_type(name, "a whole number", v)),
        }
    }

    /// An integer option that must be given (or have a default) and lie in `min..=max`.
    pub fn int_in(&self, name: &str, min: i64, max: i64) -> Result<i64, DriverError> {
        match self.int(name)? {
            Some(n) if (min..=max).contains(&n) => Ok(n),
            Some(n) => Err(DriverError::invalid_option(format!(
                "--{name} must be between {min} and {max}, not {n}"
            ))),
            None => Err(DriverError::invalid_option(format!("--{name} is required"))),
        }
    }

    /// A TCP port option (1-65535).
    pub fn port(&self, name: &str) -> Result<u16, DriverError> {
        match self.int(name)? {
            Some(n) => u16::try_from(n).ok().filter(|p| *p > 0).ok_or_else(|| {
                DriverError::invalid_option(format!(
                    "--{name} must be a port number (1-65535), not {n}"
                ))
            }),
            None => Err(DriverError::invalid_option(format!("--{name} is required"))),
        }
    }

    /// A boolean option; absent is `false`.
    pub fn bool(&self, name: &str) -> Result<bool, DriverError> {
        match self.get(name) {
            None => Ok(false),
            Some(Value::Bool(b)) => Ok(*b),
            Some(other) => Err(wrong_type(name, "true or false", other)),
        }
    }

    /// A repeatable string option; absent is empty.
    pub fn list(&self, name: &str) -> Result<Vec<String>, DriverError> {
        match self.get(name) {
            None => Ok(Vec::new()),
            Some(Value::Array(items)) => items
                .iter()
                .map(|v| {
                    v.as_str()
                        .map(str::to_string)
                        .ok_or_else(|| wrong_type(name, "a list of strings", v))
                })
                .collect(),
            Some(Value::String(s)) => Ok(vec![s.clone()]),
            Some(other) => Err(wrong_type(name, "a list of strings", other)),
        }
    }
}

impl From<Map<String, Value>> for Options {
    fn from(m: Map<String, Value>) -> Options {
        Options(m)
    }
}

fn wrong_type(name: &str, expected: &str, got: &Value) -> DriverError {
    DriverError::invalid_option(format!("--{name} must be {expected}, not {got}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn opts(v: Value) -> Options {
        Options::from(v.as_object().unwrap().clone())
    }

    #[test]
    fn typed_accessors() {
        let o = opts(json!({"s": "x", "e": "", "n": 22, "b": true, "l": ["a", "b"], "bad": 70000}));
        assert_eq!(o.string("s").unwrap().as_deref(), Some("x"));
        assert_eq!(o.string("e").unwrap(), None);
        assert_eq!(o.string("missing").unwrap(), None);
        assert_eq!(o.port("n").unwrap(), 22);
        assert!(o.bool("b").unwrap());
        assert!(!o.bool("missing").unwrap());
        assert_eq!(o.list("l").unwrap(), vec!["a", "b"]);
        assert!(o.list("missing").unwrap().is_empty());
        let e = o.port("bad").unwrap_err();
        assert!(
            e.message.contains("--bad") && e.message.contains("70000"),
            "{e}"
        );
        let e = o.string("n").unwrap_err();
        assert!(e.message.contains("must be a string"), "{e}");
        let e = o.required_string("missing", "the address").unwrap_err();
        assert_eq!(e.message, "--missing is required: the address");
        assert_eq!(
            o.int_in("n", 1, 10).unwrap_err().kind,
            crate::ErrorKind::InvalidOption
        );
    }
}
