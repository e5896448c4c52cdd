//! The option values a user gave for a machine, with typed accessors for drivers.
//!
//! The host applies the defaults declared in the driver's option schema before it calls
//! `set_config` ([`crate::DriverInfo::with_defaults`]), so a driver reads every option it
//! declared with a default as present and never repeats the default in code.

use crate::error::DriverError;
use crate::schema::{OptionSpec, OptionType};
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

    /// A string option that must be given, settable by `env` too (both named in the error).
    fn required_string_or_env(
        &self,
        name: &str,
        what: &str,
        env: Option<&str>,
    ) -> Result<String, DriverError> {
        match env {
            None => self.required_string(name, what),
            Some(env) => self.string(name)?.ok_or_else(|| {
                DriverError::invalid_option(format!("--{name} (or {env}) is required: {what}"))
            }),
        }
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

/// A driver's options declared once, as a struct: derive it with `#[derive(DriverOptions)]`.
/// Each field is an option; its doc comment is the option's help (required), and
/// `#[option(...)]` says the rest:
///
/// - `name = "mine-region"`: the flag, without dashes (required);
/// - `env = "MINE_REGION"`: the environment variable that sets it;
/// - `default = "eu-1"` (or a number, or `true`): applied by the host, never in code;
/// - `secret`: a password, token or key's contents, never printed or logged (give it the
///   type [`Secret`] so `Debug` hides it in the driver too);
/// - `min = 1`, `max = 64`: the range of a whole number, checked with the flag named;
/// - `alias = "other-name"` (repeatable) and `docker_machine_field = "Region"` (the field of
///   Docker Machine's driver config that held it, for `inspect` and `import`).
///
/// The field's type says the option's type and how it is checked ([`OptionValue`]): `String`
/// is a required string (or one with a default), `Option<String>` an optional one, `u16` a TCP
/// port, `u32`/`u64`/`i64` whole numbers, `Option<i64>` an optional one, `bool` a flag,
/// `Vec<String>` a repeatable option, [`Secret`] / `Option<Secret>` a secret string.
///
/// ```
/// use driver_protocol::{DriverOptions, Options};
///
/// #[derive(DriverOptions)]
/// struct Mine {
///     /// Region to create machines in
///     #[option(name = "mine-region", env = "MINE_REGION", default = "eu-1")]
///     region: String,
///     /// API token
///     #[option(name = "mine-token", env = "MINE_TOKEN", secret)]
///     token: Option<String>,
///     /// SSH port
///     #[option(name = "mine-ssh-port", default = 22)]
///     ssh_port: u16,
/// }
///
/// let schema = Mine::schema();
/// assert_eq!(schema[0].name, "mine-region");
/// assert!(schema[1].secret);
/// let mut given = Options::new();
/// given.insert("mine-region", "us-2");
/// given.insert("mine-ssh-port", 70000);
/// let e = Mine::from_options(&given).err().unwrap();
/// assert!(e.message.contains("--mine-ssh-port must be a port number"));
/// ```
pub trait DriverOptions: Sized + Send + Sync + 'static {
    /// The option schema, sent in the handshake.
    fn schema() -> Vec<OptionSpec>;
    /// The options from the values the host sent (defaults applied), checked.
    fn from_options(options: &Options) -> Result<Self, DriverError>;
    /// Back to option values: how a program builds a driver's options typed, then passes them
    /// to the library.
    fn to_options(&self) -> Options;
}

/// Options known only when the driver runs (a bridge to another plugin system, whose options
/// are the plugin's): the schema is the one the driver's [`crate::DriverInfo`] lists, and the
/// values arrive as the host sent them (defaults applied).
impl DriverOptions for Options {
    fn schema() -> Vec<OptionSpec> {
        Vec::new()
    }
    fn from_options(options: &Options) -> Result<Self, DriverError> {
        Ok(options.clone())
    }
    fn to_options(&self) -> Options {
        self.clone()
    }
}

/// What the derive knows of one option when it reads it.
#[derive(Debug, Clone, Copy)]
#[doc(hidden)]
pub struct Field<'a> {
    /// The flag name.
    pub name: &'a str,
    /// Its help, which explains a missing value.
    pub help: &'a str,
    /// Its environment variable, named in a "required" error.
    pub env: Option<&'a str>,
    /// `#[option(min = ..)]`, for whole numbers.
    pub min: Option<i64>,
    /// `#[option(max = ..)]`, for whole numbers.
    pub max: Option<i64>,
}

/// The types an option's field may have, and how each is read and checked.
pub trait OptionValue: Sized {
    /// The option's type in the schema.
    const TYPE: OptionType;
    /// Reads the option of `field`.
    fn read(options: &Options, field: Field<'_>) -> Result<Self, DriverError>;
    /// The value to send, `None` for nothing given.
    fn write(&self) -> Option<Value>;
}

impl OptionValue for String {
    const TYPE: OptionType = OptionType::String;
    fn read(o: &Options, f: Field<'_>) -> Result<Self, DriverError> {
        o.required_string_or_env(f.name, f.help, f.env)
    }
    fn write(&self) -> Option<Value> {
        Some(Value::from(self.as_str()))
    }
}

impl OptionValue for Option<String> {
    const TYPE: OptionType = OptionType::String;
    fn read(o: &Options, f: Field<'_>) -> Result<Self, DriverError> {
        o.string(f.name)
    }
    fn write(&self) -> Option<Value> {
        self.as_deref().map(Value::from)
    }
}

/// A secret option's value (a password, a token, a key's contents): shown as `<hidden>` by
/// `Debug`, stored as the plain string (the host seals and hides the config keys named like
/// secret options). Mark the option `secret` too.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    /// `s`, kept secret.
    pub fn new(s: impl Into<String>) -> Secret {
        Secret(s.into())
    }
    /// The secret itself, to send where it is needed (a login), never to a log.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<hidden>")
    }
}

impl OptionValue for Secret {
    const TYPE: OptionType = OptionType::String;
    fn read(o: &Options, f: Field<'_>) -> Result<Self, DriverError> {
        o.required_string_or_env(f.name, f.help, f.env).map(Secret)
    }
    fn write(&self) -> Option<Value> {
        Some(Value::from(self.0.as_str()))
    }
}

impl OptionValue for Option<Secret> {
    const TYPE: OptionType = OptionType::String;
    fn read(o: &Options, f: Field<'_>) -> Result<Self, DriverError> {
        Ok(o.string(f.name)?.map(Secret))
    }
    fn write(&self) -> Option<Value> {
        self.as_ref().map(|s| Value::from(s.0.as_str()))
    }
}

impl OptionValue for u16 {
    const TYPE: OptionType = OptionType::Int;
    fn read(o: &Options, f: Field<'_>) -> Result<Self, DriverError> {
        let port = o.port(f.name)?;
        match (f.min, f.max) {
            (None, None) => Ok(port),
            (min, max) => {
                let (min, max) = (min.unwrap_or(1), max.unwrap_or(65535));
                o.int_in(f.name, min, max).map(|_| port)
            }
        }
    }
    fn write(&self) -> Option<Value> {
        Some(Value::from(*self))
    }
}

macro_rules! whole_numbers {
    ($($t:ty),*) => {$(
        impl OptionValue for $t {
            const TYPE: OptionType = OptionType::Int;
            fn read(o: &Options, f: Field<'_>) -> Result<Self, DriverError> {
                let lowest = i64::try_from(<$t>::MIN).unwrap_or(i64::MIN);
                let highest = i64::try_from(<$t>::MAX).unwrap_or(i64::MAX);
                let min = f.min.map_or(lowest, |m| m.max(lowest));
                let max = f.max.map_or(highest, |m| m.min(highest));
                Ok(o.int_in(f.name, min, max)? as $t)
            }
            fn write(&self) -> Option<Value> {
                Some(Value::from(*self))
            }
        }
    )*};
}
whole_numbers!(u32, u64, i64);

impl OptionValue for Option<i64> {
    const TYPE: OptionType = OptionType::Int;
    fn read(o: &Options, f: Field<'_>) -> Result<Self, DriverError> {
        match o.int(f.name)? {
            Some(_) => Ok(Some(i64::read(o, f)?)),
            None => Ok(None),
        }
    }
    fn write(&self) -> Option<Value> {
        self.map(Value::from)
    }
}

impl OptionValue for bool {
    const TYPE: OptionType = OptionType::Bool;
    fn read(o: &Options, f: Field<'_>) -> Result<Self, DriverError> {
        o.bool(f.name)
    }
    fn write(&self) -> Option<Value> {
        // `false` too: a default of true must not win over it
        Some(Value::Bool(*self))
    }
}

impl OptionValue for Vec<String> {
    const TYPE: OptionType = OptionType::StringList;
    fn read(o: &Options, f: Field<'_>) -> Result<Self, DriverError> {
        o.list(f.name)
    }
    fn write(&self) -> Option<Value> {
        // empty too: a default list must not win over it
        Some(Value::from(self.clone()))
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
