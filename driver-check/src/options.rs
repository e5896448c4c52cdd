//! The kit's option values: `NAME=VALUE` text typed as the driver's schema says, secret options
//! from their environment variables only.

use driver_protocol::schema::{OptionSpec, OptionType};
use driver_protocol::{DriverInfo, Options};
use serde_json::Value;

/// Splits `NAME=VALUE` (a leading `--` on the name is dropped).
pub fn parse_arg(arg: &str) -> Result<(String, String), String> {
    match arg.split_once('=') {
        Some((name, value)) if !name.trim_start_matches('-').is_empty() => {
            Ok((name.trim_start_matches('-').to_string(), value.to_string()))
        }
        _ => Err(format!("expected NAME=VALUE, not {arg:?}")),
    }
}

/// What the kit passes to `set_config`: the `given` values typed as `info`'s schema says (a
/// string-list option collects every value given), the secret options read from their
/// environment variables through `env`, and the schema's defaults applied, as the host does.
///
/// An unknown name is an error naming the known ones; a secret option among `given` is refused
/// (command lines are visible to other users), saying which variable to set instead.
pub fn typed(
    info: &DriverInfo,
    given: &[(String, String)],
    env: impl Fn(&str) -> Option<String>,
) -> Result<Options, String> {
    let mut options = Options::new();
    for (name, raw) in given {
        let name = name.trim_start_matches('-');
        let Some(spec) = info.option(name) else {
            let known: Vec<&str> = info.options.iter().map(|o| o.name.as_str()).collect();
            return Err(format!(
                "unknown option {name}; the driver's options: {}",
                if known.is_empty() {
                    "none".to_string()
                } else {
                    known.join(", ")
                }
            ));
        };
        if spec.secret {
            return Err(match &spec.env {
                Some(var) => format!(
                    "option {name} is secret: set it in the environment variable {var}, not on \
                     the command line (which other users can see)"
                ),
                None => format!(
                    "option {name} is secret and the driver declares no environment variable \
                     for it: the kit does not take secrets on the command line"
                ),
            });
        }
        add(&mut options, spec, raw)?;
    }
    for spec in info.options.iter().filter(|o| o.secret) {
        if let Some(value) = spec.env.as_deref().and_then(&env) {
            add(&mut options, spec, &value)?;
        }
    }
    Ok(info.with_defaults(options))
}

/// The secret options whose values come from the environment, as `NAME (VAR)`.
pub fn secrets_from_env(info: &DriverInfo, env: impl Fn(&str) -> Option<String>) -> Vec<String> {
    info.options
        .iter()
        .filter(|o| o.secret)
        .filter_map(|o| {
            let var = o.env.as_deref()?;
            env(var).map(|_| format!("{} ({var})", o.name))
        })
        .collect()
}

/// Adds `raw` as option `spec`'s value, typed.
fn add(options: &mut Options, spec: &OptionSpec, raw: &str) -> Result<(), String> {
    let name = &spec.name;
    let value = match spec.kind {
        OptionType::Int => raw
            .trim()
            .parse::<i64>()
            .map(Value::from)
            .map_err(|_| format!("option {name} takes a whole number, not {raw:?}"))?,
        OptionType::Bool => match raw.trim().to_ascii_lowercase().as_str() {
            "true" | "1" | "yes" | "on" => Value::Bool(true),
            "false" | "0" | "no" | "off" => Value::Bool(false),
            _ => return Err(format!("option {name} takes true or false, not {raw:?}")),
        },
        OptionType::StringList => {
            let mut list = match options.get(name) {
                Some(Value::Array(items)) => items.clone(),
                _ => Vec::new(),
            };
            list.push(Value::String(raw.to_string()));
            Value::Array(list)
        }
        _ => Value::String(raw.to_string()),
    };
    if spec.kind != OptionType::StringList && options.contains(name) {
        return Err(format!(
            "option {name} is given twice (only string-list options repeat)"
        ));
    }
    options.insert(name.clone(), value);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use driver_protocol::Capabilities;
    use serde_json::json;

    fn info() -> DriverInfo {
        DriverInfo::new("t", "1", Capabilities::none()).with_options(vec![
            OptionSpec::string("t-ip", "address").alias("t-address"),
            OptionSpec::int("t-port", "port").default(22),
            OptionSpec::bool("t-insecure", "skip TLS checks"),
            OptionSpec::list("t-tag", "tag, repeatable"),
            OptionSpec::string("t-password", "password")
                .secret()
                .env("T_PASSWORD"),
        ])
    }

    fn given(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn values_are_typed_and_defaults_applied() {
        let env = |v: &str| (v == "T_PASSWORD").then(|| "hunter2".to_string());
        let o = typed(
            &info(),
            &given(&[
                ("t-address", "192.0.2.1"),
                ("--t-insecure", "true"),
                ("t-tag", "a"),
                ("t-tag", "b"),
            ]),
            env,
        )
        .unwrap();
        assert_eq!(o.get("t-ip"), Some(&json!("192.0.2.1")));
        assert_eq!(o.get("t-port"), Some(&json!(22)));
        assert_eq!(o.get("t-insecure"), Some(&json!(true)));
        assert_eq!(o.get("t-tag"), Some(&json!(["a", "b"])));
        assert_eq!(o.get("t-password"), Some(&json!("hunter2")));
        assert_eq!(
            secrets_from_env(&info(), env),
            vec!["t-password (T_PASSWORD)"]
        );
    }

    #[test]
    fn errors_name_the_way_out() {
        let none = |_: &str| None;
        let e = typed(&info(), &given(&[("t-nope", "1")]), none).unwrap_err();
        assert!(
            e.contains("unknown option t-nope") && e.contains("t-ip, t-port"),
            "{e}"
        );
        let e = typed(&info(), &given(&[("t-password", "x")]), none).unwrap_err();
        assert!(e.contains("secret") && e.contains("T_PASSWORD"), "{e}");
        let e = typed(&info(), &given(&[("t-port", "twenty")]), none).unwrap_err();
        assert!(e.contains("whole number"), "{e}");
        let e = typed(&info(), &given(&[("t-ip", "a"), ("t-ip", "b")]), none).unwrap_err();
        assert!(e.contains("twice"), "{e}");
        assert!(parse_arg("t-ip").is_err());
        assert_eq!(
            parse_arg("t-cfg=a=b").unwrap(),
            ("t-cfg".to_string(), "a=b".to_string())
        );
    }
}
