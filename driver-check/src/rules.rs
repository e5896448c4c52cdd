//! The rules an answer must follow, as pure functions: what an option schema and an `access`
//! answer may hold. The checks apply them to what the driver said; tests apply them directly.

use driver_protocol::calls::{bracket_ipv6, Access};
use driver_protocol::schema::OptionType;
use driver_protocol::DriverInfo;
use serde_json::Value;
use std::collections::HashSet;
use std::net::IpAddr;

/// What is wrong with an option schema, if anything: every option has help; every default
/// parses as its type; names and aliases are lowercase-dashed and unique; options that look
/// like a password, token, secret or key content are marked secret.
pub fn schema_problems(info: &DriverInfo) -> Vec<String> {
    let mut problems = Vec::new();
    let mut seen = HashSet::new();
    for o in &info.options {
        for n in std::iter::once(&o.name).chain(&o.aliases) {
            if !dashed(n) {
                problems.push(format!(
                    "option name {n:?} is not lowercase-dashed (like {}-ssh-user)",
                    info.name
                ));
            }
            if !seen.insert(n.as_str()) {
                problems.push(format!("option name {n} is declared twice"));
            }
        }
        if o.help.trim().is_empty() {
            problems.push(format!("option {} has no help", o.name));
        }
        if let Some(d) = &o.default {
            if !default_fits(o.kind, d) {
                problems.push(format!(
                    "the default of option {} ({d}) is not of its type {}",
                    o.name,
                    serde_json::to_value(o.kind).unwrap_or_default()
                ));
            }
        }
        if !o.secret && o.looks_secret() {
            problems.push(format!(
                "option {} looks like a password, token or key but is not marked secret",
                o.name
            ));
        }
    }
    problems
}

/// `a-b-c`: lowercase letters and digits between single dashes.
fn dashed(name: &str) -> bool {
    !name.is_empty()
        && name.split('-').all(|part| {
            !part.is_empty()
                && part
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        })
}

fn default_fits(kind: OptionType, v: &Value) -> bool {
    match kind {
        OptionType::String => v.is_string(),
        OptionType::Int => v.as_i64().is_some(),
        OptionType::Bool => v.is_boolean(),
        OptionType::StringList => v
            .as_array()
            .is_some_and(|items| items.iter().all(Value::is_string)),
        _ => true,
    }
}

/// What is wrong with an `access` answer, if anything: the ip and SSH host are IP addresses or
/// host names (no spaces, shell metacharacters or leading dash), the SSH port is not 0, the
/// user is a plain user name, and the Docker URL is `tcp://HOST:PORT` with HOST the ip.
pub fn access_problems(a: &Access) -> Vec<String> {
    let mut problems = Vec::new();
    if !host_ok(&a.ip) {
        problems.push(format!(
            "ip {:?} is neither an IP address nor a host name",
            a.ip
        ));
    }
    if let Some(ssh) = &a.ssh {
        if !host_ok(&ssh.host) {
            problems.push(format!(
                "ssh host {:?} is neither an IP address nor a host name",
                ssh.host
            ));
        }
        if ssh.port == 0 {
            problems.push("ssh port 0".to_string());
        }
        if !user_ok(&ssh.user) {
            problems.push(format!("ssh user {:?} is not a plain user name", ssh.user));
        }
    }
    match a
        .docker_url
        .strip_prefix("tcp://")
        .and_then(|rest| rest.rsplit_once(':'))
    {
        Some((host, port)) => {
            if host != bracket_ipv6(&a.ip) {
                problems.push(format!(
                    "docker_url {:?} is not on the ip {:?}",
                    a.docker_url, a.ip
                ));
            }
            if !port.parse::<u16>().is_ok_and(|p| p > 0) {
                problems.push(format!("docker_url {:?} has no valid port", a.docker_url));
            }
        }
        None => problems.push(format!(
            "docker_url {:?} is not tcp://HOST:PORT",
            a.docker_url
        )),
    }
    problems
}

/// An IP address, or a host name (letters, digits and dashes in dot-separated labels, none
/// starting with a dash).
fn host_ok(h: &str) -> bool {
    if h.parse::<IpAddr>().is_ok() {
        return true;
    }
    !h.is_empty()
        && h.len() <= 253
        && h.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        })
}

/// A user name as POSIX allows it portably: letters, digits, `.`, `_`, `-`, not starting with
/// a dash or a dot, at most 32 characters.
fn user_ok(u: &str) -> bool {
    let mut chars = u.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphanumeric() || c == '_')
        && u.len() <= 32
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
}

#[cfg(test)]
mod tests {
    use super::*;
    use driver_protocol::calls::SshEndpoint;
    use driver_protocol::schema::OptionSpec;
    use driver_protocol::Capabilities;
    use serde_json::json;

    #[test]
    fn schema_rules() {
        let good = DriverInfo::new("t", "1", Capabilities::none()).with_options(vec![
            OptionSpec::string("t-ssh-key", "SSH private key file"),
            OptionSpec::string("t-ca-cert", "PEM file of a CA"),
            OptionSpec::string("t-password", "password").secret(),
            OptionSpec::string("t-token-file", "file holding the API token"),
            OptionSpec::int("t-port", "port").default(22),
            OptionSpec::list("t-tag", "tags").default(json!(["a"])),
        ]);
        assert_eq!(schema_problems(&good), Vec::<String>::new());
        let bad = DriverInfo::new("t", "1", Capabilities::none()).with_options(vec![
            OptionSpec::string("t-api-token", "the API token"),
            OptionSpec::string("t-access-key", "access key id"),
            OptionSpec::string("t-key", "the key itself"),
            OptionSpec::string("T_Name", "x"),
            OptionSpec::string("t-name", ""),
            OptionSpec::int("t-port", "port")
                .default("22")
                .alias("t-name"),
        ]);
        let p = schema_problems(&bad).join("\n");
        for needle in [
            "t-api-token looks like",
            "t-access-key looks like",
            "t-key looks like",
            "\"T_Name\" is not lowercase-dashed",
            "t-name has no help",
            "t-name is declared twice",
            "default of option t-port",
        ] {
            assert!(p.contains(needle), "{needle} missing from:\n{p}");
        }
    }

    #[test]
    fn access_rules() {
        let ok = Access::new(
            "192.0.2.1",
            SshEndpoint::new("192.0.2.1", 22, "docker"),
            2376,
        );
        assert_eq!(access_problems(&ok), Vec::<String>::new());
        let v6 = Access::new("fd00::1", SshEndpoint::new("fd00::1", 22, "root"), 2376);
        assert_eq!(access_problems(&v6), Vec::<String>::new());
        let name = Access::new(
            "host-1.example.com",
            SshEndpoint::new("host-1.example.com", 2222, "nick"),
            2376,
        );
        assert_eq!(access_problems(&name), Vec::<String>::new());
        let hostile = Access::new(
            "10.0.0.1; touch /tmp/x",
            SshEndpoint::new("-oProxyCommand=x", 0, "root; id"),
            2376,
        );
        let p = access_problems(&hostile).join("\n");
        for needle in ["ip \"10.0.0.1; touch", "ssh host", "ssh port 0", "ssh user"] {
            assert!(p.contains(needle), "{needle} missing from:\n{p}");
        }
        let mut elsewhere = ok.clone();
        elsewhere.docker_url = "tcp://192.0.2.9:2376".into();
        assert_eq!(access_problems(&elsewhere).len(), 1);
        elsewhere.docker_url = "unix:///var/run/docker.sock".into();
        assert_eq!(access_problems(&elsewhere).len(), 1);
    }
}
