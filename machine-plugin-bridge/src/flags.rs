//! A plugin's create flags (libmachine's `mcnflag` types) as machine options, and options back
//! as the `RPCFlags` value `SetConfigFromFlags` takes.

use crate::gob::{Type, Value};
use driver_protocol::{OptionSpec, OptionType, Options};
use serde_json::Value as Json;

/// The flags of `docker-machine create` that Docker Machine passes every driver besides its
/// own, with their defaults (libmachine's base driver and some plugins read them; a missing one
/// makes a plugin log a warning): `(name, value)`.
pub fn global_flags() -> Vec<(&'static str, Json)> {
    let text = |s: &str| Json::String(s.into());
    vec![
        ("swarm-master", Json::Bool(false)),
        ("swarm-host", text("tcp://0.0.0.0:3376")),
        ("swarm-discovery", text("")),
        ("swarm", Json::Bool(false)),
        ("swarm-image", text("swarm:latest")),
        ("swarm-strategy", text("spread")),
        ("swarm-addr", text("")),
        ("swarm-experimental", Json::Bool(false)),
        ("engine-install-url", text("https://get.docker.com")),
        ("engine-storage-driver", text("")),
    ]
}

/// The most flags taken from a plugin.
const MAX_FLAGS: usize = 500;

/// The options of a `GetCreateFlags` reply (`[]mcnflag.Flag`). Flags of unknown types, and
/// flags whose name is not a plain option name, are skipped (said on stderr: the debug log).
pub fn options(reply: &Value) -> Result<Vec<OptionSpec>, String> {
    let Value::List(flags) = reply else {
        return Err("GetCreateFlags answered something else than a list of flags".into());
    };
    let mut specs: Vec<OptionSpec> = Vec::new();
    for flag in flags.iter().take(MAX_FLAGS) {
        let Some(iface) = flag.as_iface() else {
            continue;
        };
        let f = &iface.value;
        let name = f.str_field("Name");
        if name.is_empty()
            || name.len() > 100
            || !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
            || name.starts_with('-')
        {
            eprintln!(
                "skipping the plugin's flag named {:?}: not a plain option name",
                crate::shown(name)
            );
            continue;
        }
        if specs.iter().any(|s| s.name == name) {
            continue;
        }
        let help = crate::shown(f.str_field("Usage"));
        let kind = iface.name.rsplit('.').next().unwrap_or("");
        let mut spec = match kind {
            "StringFlag" => {
                let spec = OptionSpec::string(name, &help);
                match f.str_field("Value") {
                    "" => spec,
                    v => spec.default(crate::shown(v)),
                }
            }
            "IntFlag" => OptionSpec::int(name, &help)
                .default(f.field("Value").and_then(Value::as_int).unwrap_or(0)),
            "BoolFlag" => OptionSpec::bool(name, &help),
            "StringSliceFlag" => {
                let values: Vec<String> = match f.field("Value") {
                    Some(Value::List(l)) => l.iter().map(|v| crate::shown(v.as_str())).collect(),
                    _ => Vec::new(),
                };
                let spec = OptionSpec::list(name, &help);
                if values.is_empty() {
                    spec
                } else {
                    spec.default(values)
                }
            }
            _ => continue,
        };
        match f.str_field("EnvVar") {
            "" => {}
            env if env.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') => {
                spec = spec.env(env)
            }
            _ => {}
        }
        if spec.looks_secret() {
            spec = spec.secret();
        }
        specs.push(spec);
    }
    Ok(specs)
}

/// Whether a config field (`SecretKey`, `AccessToken`, `ApplicationKey`) holds a credential:
/// a password, a token, a secret, a passphrase or a key's content — not a reference to one (a
/// path, file, name, id or URL), nor an SSH key or key pair (paths, names and fingerprints in
/// Docker Machine's drivers). Words are split at case changes, underscores and dashes.
pub fn is_credential(name: &str) -> bool {
    let words = words_of(name);
    let has = |w: &str| words.iter().any(|x| x == w);
    let reference = [
        "path",
        "file",
        "name",
        "id",
        "url",
        "fingerprint",
        "pair",
        "ssh",
        "sshkey",
    ];
    if reference.iter().any(|w| has(w)) {
        return false;
    }
    [
        "password",
        "passwd",
        "passphrase",
        "secret",
        "token",
        "credential",
        "credentials",
        "apikey",
        "key",
        "content",
        "contents",
    ]
    .iter()
    .any(|w| has(w))
}

/// `SSHKeyPath` → `sshkey`, `path`; `api_key` → `api`, `key`.
fn words_of(name: &str) -> Vec<String> {
    let mut words: Vec<String> = Vec::new();
    let mut prev_lower = false;
    for c in name.chars() {
        if !c.is_ascii_alphanumeric() {
            prev_lower = false;
            words.push(String::new());
            continue;
        }
        if words.is_empty() || (c.is_ascii_uppercase() && prev_lower) {
            words.push(String::new());
        }
        prev_lower = c.is_ascii_lowercase() || c.is_ascii_digit();
        if let Some(w) = words.last_mut() {
            w.push(c.to_ascii_lowercase());
        }
    }
    words.retain(|w| !w.is_empty());
    words
}

fn rpc_flags_type() -> Type {
    Type::Struct(
        "RPCFlags".into(),
        vec![(
            "Values".into(),
            Type::Map(Box::new(Type::String), Box::new(Type::Interface)),
        )],
    )
}

/// `SetConfigFromFlags`'s argument: every flag of `schema` with the value given in `options`
/// (the host applied the defaults; a flag without one gets its type's zero value, as Docker
/// Machine sends), and the global flags. `type_name` is the name the plugin registered its
/// flags type under (`*rpcdriver.RPCFlags`, or `*rpcdriver.RpcFlags` in old plugins).
pub fn rpc_flags(schema: &[OptionSpec], options: &Options, type_name: &str) -> (Type, Value) {
    let list = Type::Slice(Box::new(Type::String));
    let mut pairs = Vec::new();
    let mut put = |name: &str, kind: OptionType, v: Option<&Json>| {
        let value = match kind {
            OptionType::Bool => Value::iface(
                "bool",
                Type::Bool,
                Value::Bool(v.and_then(Json::as_bool).unwrap_or(false)),
            ),
            OptionType::Int => Value::iface(
                "int",
                Type::Int,
                Value::Int(v.and_then(Json::as_i64).unwrap_or(0)),
            ),
            OptionType::StringList => Value::iface(
                "[]string",
                list.clone(),
                Value::List(
                    v.and_then(Json::as_array)
                        .map(|a| {
                            a.iter()
                                .map(|s| Value::String(s.as_str().unwrap_or("").into()))
                                .collect()
                        })
                        .unwrap_or_default(),
                ),
            ),
            _ => Value::iface(
                "string",
                Type::String,
                Value::String(v.and_then(Json::as_str).unwrap_or("").into()),
            ),
        };
        pairs.push((Value::String(name.into()), value));
    };
    for spec in schema {
        put(&spec.name, spec.kind, options.get(&spec.name));
    }
    for (name, v) in global_flags() {
        let kind = if v.is_boolean() {
            OptionType::Bool
        } else {
            OptionType::String
        };
        put(name, kind, Some(&v));
    }
    let value = Value::iface(
        type_name,
        rpc_flags_type(),
        Value::Struct(vec![("Values".into(), Value::Map(pairs))]),
    );
    (Type::Interface, value)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gob::Decoder;

    /// What a Go plugin (tests/plugins) answered to GetCreateFlags, as captured on the wire:
    /// the Response header, then the flags.
    const GO_REPLY: &[u8] =
        include_bytes!("../../tests/plugins/testdata/sshhost-GetCreateFlags-first-reply.gob");

    #[test]
    fn a_go_plugins_flags_become_options() {
        let values = Decoder::new().decode_all(GO_REPLY).unwrap();
        assert_eq!(
            values[0].str_field("ServiceMethod"),
            "RPCServerDriver.GetCreateFlags"
        );
        let specs = options(&values[1]).unwrap();
        let names: Vec<&str> = specs.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "sshhost-ip-address",
                "sshhost-ssh-user",
                "sshhost-ssh-key",
                "sshhost-ssh-port",
                "sshhost-engine-port",
                "sshhost-label",
                "sshhost-verbose"
            ]
        );
        let get = |n: &str| specs.iter().find(|s| s.name == n).unwrap();
        assert_eq!(get("sshhost-ssh-user").default, Some(Json::from("root")));
        assert_eq!(get("sshhost-ssh-port").default, Some(Json::from(22)));
        assert_eq!(get("sshhost-ssh-port").kind, OptionType::Int);
        assert_eq!(
            get("sshhost-ip-address").env.as_deref(),
            Some("SSHHOST_IP_ADDRESS")
        );
        assert_eq!(get("sshhost-label").kind, OptionType::StringList);
        assert_eq!(get("sshhost-verbose").kind, OptionType::Bool);
        // a key's path is no secret
        assert!(!get("sshhost-ssh-key").secret);
    }

    #[test]
    fn options_go_out_with_every_flag_and_the_global_ones() {
        let specs = vec![
            OptionSpec::string("x-url", "u"),
            OptionSpec::int("x-port", "p"),
            OptionSpec::bool("x-on", "b"),
            OptionSpec::list("x-tag", "t"),
        ];
        let mut given = Options::new();
        given.insert("x-url", "http://a");
        given.insert("x-tag", vec!["a=b"]);
        let (ty, arg) = rpc_flags(&specs, &given, "*rpcdriver.RPCFlags");
        let bytes = crate::gob::Encoder::new().encode(&ty, &arg).unwrap();
        let back = Decoder::new().decode_all(&bytes).unwrap();
        let flags = back[0].as_iface().unwrap();
        assert_eq!(flags.name, "*rpcdriver.RPCFlags");
        let Some(Value::Map(pairs)) = flags.value.field("Values") else {
            panic!("{flags:?}")
        };
        let value = |k: &str| {
            pairs
                .iter()
                .find(|(n, _)| n.as_str() == k)
                .map(|(_, v)| v.as_iface().unwrap().value.clone())
        };
        assert_eq!(value("x-url"), Some(Value::String("http://a".into())));
        assert_eq!(
            value("x-port"),
            Some(Value::Int(0)),
            "zero values are sent, as Docker Machine does"
        );
        assert_eq!(value("x-on"), Some(Value::Bool(false)));
        assert_eq!(
            value("x-tag"),
            Some(Value::List(vec![Value::String("a=b".into())]))
        );
        assert_eq!(value("swarm-master"), Some(Value::Bool(false)));
        assert_eq!(value("swarm-discovery"), Some(Value::String(String::new())));
    }

    #[test]
    fn credentials_are_told_from_references_to_them() {
        for secret in [
            "AccessKey",
            "SecretKey",
            "SessionToken",
            "ClientSecret",
            "APIKey",
            "ApplicationKey",
            "ConsumerKey",
            "PrivateKeyPassphrase",
            "PrivateKeyContents",
            "KubeConfigContent",
            "Passwd",
            "StorageAccountKey",
            "api_key",
        ] {
            assert!(is_credential(secret), "{secret}");
        }
        for not in [
            "SSHKeyPath",
            "KeyName",
            "KeyPairName",
            "InstanceId",
            "Region",
            "TokenURL",
            "google-application-credentials-file",
            "SSHKey",
            "SSHKeyPath",
            "SshKeyPath",
            "SSHKeyID",
            "SSHKeyFingerprint",
            "KeyPairName",
            "MachineName",
        ] {
            assert!(!is_credential(not), "{not}");
        }
    }
}
