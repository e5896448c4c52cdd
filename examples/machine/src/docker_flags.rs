//! `machine config`: the docker client's flags that reach a machine, printed as Docker Machine
//! printed them, one a line, for `docker $(machine config NAME) CMD`.
//!
//! That use leaves the output unquoted, so the shell splits it at white space and expands
//! globs in it; `eval "docker $(machine config NAME)"` would also run `$(...)` and backquotes.
//! So a value holding anything a shell would read as more than text (a store path with a
//! space, `$`, a quote, a glob character, a control character) is refused, naming it, and
//! nothing is printed: what is printed means the same in both uses.

use crate::App;
use std::process::ExitCode;

/// A flag's value that `docker $(machine config NAME)` cannot carry as it is.
#[derive(Debug)]
pub struct UnsafeValue {
    /// The machine.
    machine: String,
    /// The docker flag (`--tlscacert`, ...).
    flag: &'static str,
    /// Its value.
    value: String,
    /// The first character a shell would not take as text.
    found: char,
}

impl std::fmt::Display for UnsafeValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let name = machine_core::shell_quote(&self.machine);
        write!(
            f,
            "cannot print {} {:?}: it holds {:?}, which the shell would split or expand in \
             `docker $(machine config {name})`. Use `eval \"$(machine env {name})\"` (it quotes \
             every value for your shell) or `docker --context {name}` instead",
            self.flag, self.value, self.found
        )
    }
}

impl std::error::Error for UnsafeValue {}

/// Whether a shell takes `c` as plain text both unquoted and inside double quotes.
fn is_plain(c: char) -> bool {
    c.is_alphanumeric() || "@%+=:,./_-".contains(c)
}

/// The flags, one a line: Docker Machine's `--tlsverify`, `--tlscacert="..."`,
/// `--tlscert="..."`, `--tlskey="..."` and `-H=URL` (the docker client takes the quotes off
/// its TLS paths); or the first value a shell would not take as text.
pub fn flags(
    machine: &str,
    ca: &str,
    cert: &str,
    key: &str,
    host: &str,
) -> Result<String, UnsafeValue> {
    for (flag, value) in [
        ("--tlscacert", ca),
        ("--tlscert", cert),
        ("--tlskey", key),
        ("-H", host),
    ] {
        if let Some(found) = value.chars().find(|c| !is_plain(*c)) {
            return Err(UnsafeValue {
                machine: machine.to_string(),
                flag,
                value: value.to_string(),
                found,
            });
        }
    }
    Ok(format!(
        "--tlsverify\n--tlscacert=\"{ca}\"\n--tlscert=\"{cert}\"\n--tlskey=\"{key}\"\n-H={host}"
    ))
}

/// The flag of a machine of the SSH transport: `-H=ssh://machine-NAME`, no TLS flags.
pub fn ssh_flags(machine: &str, host: &str) -> Result<String, UnsafeValue> {
    if let Some(found) = host.chars().find(|c| !is_plain(*c)) {
        return Err(UnsafeValue {
            machine: machine.to_string(),
            flag: "-H",
            value: host.to_string(),
            found,
        });
    }
    Ok(format!("-H={host}"))
}

pub async fn run(app: &App, name: &str) -> Result<ExitCode, Box<dyn std::error::Error>> {
    let m = app.manager.load(name).await?;
    // what `env` exports, as docker client flags
    let env = m.docker_env().await?;
    if env.ssh_bin.is_some() {
        let host = env.host.to_string();
        println!("{}", ssh_flags(name, &host)?);
        let name = machine_core::shell_quote(name);
        eprintln!(
            "# {host} is reached through the system ssh with the machine's own ssh config: \
             put its wrapper first on PATH (`eval \"$(machine env {name})\"`), or include the \
             store's ssh config in ~/.ssh/config (`machine ssh-config --add`)"
        );
        return Ok(ExitCode::SUCCESS);
    }
    let path = |f: &std::path::Path| f.display().to_string();
    println!(
        "{}",
        flags(
            name,
            &path(&env.files.ca_cert),
            &path(&env.files.client_cert),
            &path(&env.files.client_key),
            &env.host.to_string(),
        )?
    );
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_ssh_machine_gets_its_alias_and_no_tls_flags() {
        assert_eq!(
            ssh_flags("web1", "ssh://machine-web1").unwrap(),
            "-H=ssh://machine-web1"
        );
        assert!(ssh_flags("x", "ssh://machine-x y").is_err());
    }

    #[test]
    fn docker_machines_lines_for_plain_values() {
        assert_eq!(
            flags(
                "web1",
                "/s/machines/web1/ca.pem",
                "/s/machines/web1/cert.pem",
                "/s/machines/web1/key.pem",
                "tcp://192.0.2.5:2376"
            )
            .unwrap(),
            "--tlsverify\n--tlscacert=\"/s/machines/web1/ca.pem\"\n\
             --tlscert=\"/s/machines/web1/cert.pem\"\n--tlskey=\"/s/machines/web1/key.pem\"\n\
             -H=tcp://192.0.2.5:2376"
        );
        // a user's name in another script is text to a shell too
        assert!(flags("w", "/home/zoë/ca.pem", "/c", "/k", "tcp://h:2376").is_ok());
    }

    #[test]
    fn what_a_shell_would_split_or_run_is_refused_naming_the_flag() {
        for bad in [
            "/st $(touch pwned)/ca.pem",
            "/st`touch pwned`/ca.pem",
            "/home/John Smith/ca.pem",
            "/st*/ca.pem",
            "/st\"/ca.pem",
            "/it's/ca.pem",
            "/a\\b/ca.pem",
            "/a\tb/ca.pem",
            "/a\u{1b}[2J/ca.pem",
        ] {
            let e = flags("web1", bad, "/c", "/k", "tcp://h:2376").unwrap_err();
            let text = e.to_string();
            assert!(
                text.contains("--tlscacert") && text.contains("machine env web1"),
                "{text}"
            );
        }
        let e = flags("web1", "/a", "/c", "/k", "tcp://h:2376;x").unwrap_err();
        assert_eq!((e.flag, e.found), ("-H", ';'));
    }
}
