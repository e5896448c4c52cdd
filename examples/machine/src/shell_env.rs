//! `machine env`: the commands that point a shell's docker client at a machine, for every
//! shell Docker Machine supported.
//!
//! For a machine of the SSH engine transport, DOCKER_HOST is its alias (`ssh://machine-NAME`),
//! DOCKER_TLS_VERIFY and DOCKER_CERT_PATH are unset, and PATH gets the store's `ssh` wrapper
//! folder first (any earlier machine wrapper folder taken out): the docker CLI runs the `ssh`
//! on PATH, which for the alias runs the real ssh with the machine's own config
//! ([`machine_core::ssh_client`]). `env -u` gives PATH back without a wrapper folder.

use crate::App;
use clap::Args;
use std::process::ExitCode;

#[derive(Args)]
pub struct EnvArgs {
    /// The machine [default: default]
    name: Option<String>,
    /// bash, fish, powershell, cmd, emacs, tcsh (default: from $SHELL)
    #[arg(long)]
    shell: Option<String>,
    /// Print the commands that unset the variables instead
    #[arg(short = 'u', long)]
    unset: bool,
    /// Add the machine's IP to NO_PROXY
    #[arg(long)]
    no_proxy: bool,
    /// Docker Machine's classic-Swarm flag: refused
    #[arg(long, hide = true)]
    swarm: bool,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Shell {
    Bash,
    Fish,
    Powershell,
    Cmd,
    Emacs,
    Tcsh,
}

impl Shell {
    pub fn parse(s: &str) -> Result<Shell, String> {
        Ok(match s {
            "bash" | "sh" | "zsh" | "dash" | "ksh" => Shell::Bash,
            "fish" => Shell::Fish,
            "powershell" | "pwsh" => Shell::Powershell,
            "cmd" => Shell::Cmd,
            "emacs" => Shell::Emacs,
            "tcsh" | "csh" => Shell::Tcsh,
            other => {
                return Err(format!(
                    "unknown shell {other:?}: use bash, fish, powershell, cmd, emacs or tcsh"
                ))
            }
        })
    }

    /// From $SHELL's file name; bash when unknown.
    pub fn detect() -> Shell {
        std::env::var("SHELL")
            .ok()
            .and_then(|s| s.rsplit('/').next().map(str::to_string))
            .and_then(|s| Shell::parse(&s).ok())
            .unwrap_or(Shell::Bash)
    }

    /// The shell's name, as `--shell` takes it.
    pub fn name(self) -> &'static str {
        match self {
            Shell::Bash => "bash",
            Shell::Fish => "fish",
            Shell::Powershell => "powershell",
            Shell::Cmd => "cmd",
            Shell::Emacs => "emacs",
            Shell::Tcsh => "tcsh",
        }
    }

    /// Whether `value` needs no quoting beyond Docker Machine's own form, the one its users'
    /// scripts match on: inside double quotes (`"VALUE"`) for bash, fish, PowerShell and tcsh,
    /// bare after `SET K=` for cmd. True when nothing in it is special there; control
    /// characters are refused before this is asked.
    fn takes_docker_machine_form(self, value: &str) -> bool {
        match self {
            Shell::Bash => !value.contains(['$', '`', '"', '\\', '!']),
            // fish expands $ (and $(...)) in double quotes, and \ escapes there
            Shell::Fish => !value.contains(['$', '"', '\\']),
            // PowerShell expands $ and escapes with ` in double quotes, and takes the
            // typographic double quotes as quotes
            Shell::Powershell => {
                !value.contains(['$', '`', '"', '\u{201C}', '\u{201D}', '\u{201E}'])
            }
            // tcsh substitutes $, ` and ! in double quotes
            Shell::Tcsh => !value.contains(['$', '`', '"', '\\', '!']),
            // bare: only characters cmd never treats specially, no space at either end
            Shell::Cmd => {
                !value.starts_with(' ')
                    && !value.ends_with(' ')
                    && value
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || " -_./:\\,@+=~".contains(c))
            }
            // Docker Machine's elisp string is the safe form too
            Shell::Emacs => false,
        }
    }

    /// `value` written so that this shell reads it back as exactly that text and runs nothing
    /// in it; or why this shell cannot hold it safely (control characters such as a newline in
    /// any shell, and the characters cmd and tcsh expand even inside quotes). Docker Machine's
    /// `"VALUE"` when nothing in the value is special inside double quotes, else single quotes
    /// (for cmd the value itself: [`Shell::set`] quotes the whole assignment).
    pub fn quote(self, value: &str) -> Result<String, String> {
        let refuse = |c: char| {
            Err(format!(
                "{value:?} holds {c:?}, which {} cannot be given safely",
                self.name()
            ))
        };
        if let Some(c) = value.chars().find(|c| c.is_control()) {
            return refuse(c);
        }
        Ok(match self {
            Shell::Cmd => match value.chars().find(|c| "\"%!^&|<>".contains(*c)) {
                // cmd expands % and ! even inside quotes, and a " would end them
                Some(c) => return refuse(c),
                None => value.to_string(),
            },
            // tcsh substitutes history (!) even inside single quotes
            Shell::Tcsh if value.contains('!') => return refuse('!'),
            _ if self.takes_docker_machine_form(value) => format!("\"{value}\""),
            Shell::Bash | Shell::Tcsh => machine_core::shell_quote(value),
            // inside fish's single quotes only \\ and \' are escapes
            Shell::Fish => format!("'{}'", value.replace('\\', "\\\\").replace('\'', "\\'")),
            // PowerShell's single quotes: a quote (any of the typographic ones too) is doubled
            Shell::Powershell => {
                let mut s = String::from("'");
                for c in value.chars() {
                    if matches!(c, '\'' | '\u{2018}'..='\u{201B}') {
                        s.push(c);
                    }
                    s.push(c);
                }
                s.push('\'');
                s
            }
            Shell::Emacs => format!("\"{}\"", value.replace('\\', "\\\\").replace('"', "\\\"")),
        })
    }

    /// The line that sets variable `k` (a plain name) to `v`, quoted for this shell.
    pub fn set(self, k: &str, v: &str) -> Result<String, String> {
        let q = self
            .quote(v)
            .map_err(|reason| format!("cannot print {k} for {}: {reason}", self.name()))?;
        Ok(match self {
            Shell::Bash => format!("export {k}={q}"),
            Shell::Fish => format!("set -gx {k} {q};"),
            Shell::Powershell => format!("$Env:{k} = {q}"),
            // Docker Machine's `SET K=V`; quoted whole when the value has a space at an end
            // or a character cmd could read as syntax
            Shell::Cmd if self.takes_docker_machine_form(v) => format!("SET {k}={q}"),
            Shell::Cmd => format!("SET \"{k}={q}\""),
            Shell::Emacs => format!("(setenv \"{k}\" {q})"),
            Shell::Tcsh => format!("setenv {k} {q};"),
        })
    }

    pub fn unset(self, k: &str) -> String {
        match self {
            Shell::Bash => format!("unset {k}"),
            Shell::Fish => format!("set -e {k};"),
            Shell::Powershell => format!("Remove-Item Env:\\\\{k}"),
            Shell::Cmd => format!("SET {k}="),
            Shell::Emacs => format!("(setenv \"{k}\" nil)"),
            Shell::Tcsh => format!("unsetenv {k};"),
        }
    }

    fn comment(self) -> &'static str {
        match self {
            Shell::Cmd => "REM",
            Shell::Emacs => ";;",
            _ => "#",
        }
    }

    /// A command line of `words`, each quoted for this shell when it needs it (in the hint the
    /// words are a machine name and flags, which never need it; a word cmd cannot hold is
    /// left out).
    fn command_line(self, words: &[&str]) -> String {
        let plain = |w: &str| {
            !w.is_empty()
                && w.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_./:=".contains(c))
        };
        let quoted: Vec<String> = words
            .iter()
            .filter_map(|w| match self {
                _ if plain(w) => Some(w.to_string()),
                // the command runs in /bin/sh from inside an elisp string
                Shell::Emacs => Shell::Emacs
                    .quote(&machine_core::shell_quote(w))
                    .ok()
                    .map(|q| q[1..q.len() - 1].to_string()),
                Shell::Bash => Some(machine_core::shell_quote(w)),
                _ => self.quote(w).ok(),
            })
            .collect();
        quoted.join(" ")
    }

    /// How to run `machine env ...` (`words`) so that this shell takes what it prints.
    fn eval_hint(self, words: &[&str]) -> String {
        let cmd = self.command_line(words);
        match self {
            Shell::Bash => format!("eval \"$({cmd})\""),
            Shell::Fish => format!("{cmd} | source"),
            Shell::Powershell => format!("& {cmd} | Invoke-Expression"),
            Shell::Cmd => format!("@FOR /f \"tokens=*\" %i IN ('{cmd}') DO @%i"),
            Shell::Emacs => format!(
                "(with-temp-buffer (shell-command \"{cmd}\" (current-buffer)) (eval-buffer))"
            ),
            // in double quotes: else tcsh splits the output at spaces and expands {a,b} and
            // globs in it before eval reads it
            Shell::Tcsh => format!("eval \"`{cmd}`\""),
        }
    }
}

const VARS: [&str; 4] = [
    "DOCKER_TLS_VERIFY",
    "DOCKER_HOST",
    "DOCKER_CERT_PATH",
    "DOCKER_MACHINE_NAME",
];

/// NO_PROXY with `ip` added once.
fn no_proxy_with(ip: &str) -> (String, String) {
    let (var, current) = match std::env::var("NO_PROXY") {
        Ok(v) => ("NO_PROXY", v),
        Err(_) => match std::env::var("no_proxy") {
            Ok(v) => ("no_proxy", v),
            Err(_) => ("NO_PROXY", String::new()),
        },
    };
    let mut parts: Vec<&str> = current.split(',').filter(|p| !p.is_empty()).collect();
    if !parts.contains(&ip) {
        parts.push(ip);
    }
    (var.to_string(), parts.join(","))
}

/// The lines for a machine of the SSH transport: DOCKER_HOST its alias URL (`host`), no TLS
/// variables, PATH with the wrapper folder `bin` first (`current`: PATH now).
fn ssh_lines(
    shell: Shell,
    host: &str,
    machine_name: &str,
    bin: &std::path::Path,
    current: &std::ffi::OsStr,
) -> Result<Vec<String>, String> {
    let mut lines = vec![
        shell.unset("DOCKER_TLS_VERIFY"),
        shell.set("DOCKER_HOST", host)?,
        shell.unset("DOCKER_CERT_PATH"),
        shell.set("DOCKER_MACHINE_NAME", machine_name)?,
    ];
    lines.extend(path_line(shell, Some(bin), current)?);
    Ok(lines)
}

/// The line setting PATH to `current` with `bin` first and any (other) machine wrapper folder
/// taken out; with no `bin` (`env -u`), `None` when there is no wrapper folder to take out.
fn path_line(
    shell: Shell,
    bin: Option<&std::path::Path>,
    current: &std::ffi::OsStr,
) -> Result<Option<String>, String> {
    let path = machine_core::ssh_client::path_with_wrapper(bin, current);
    if bin.is_none() && path == current {
        return Ok(None);
    }
    let path = path
        .to_str()
        .ok_or("cannot print PATH: it is not UTF-8 text")?;
    shell.set("PATH", path).map(Some)
}

pub async fn run(app: &App, args: EnvArgs) -> Result<ExitCode, Box<dyn std::error::Error>> {
    let shell = match &args.shell {
        Some(s) => Shell::parse(s)?,
        None => Shell::detect(),
    };
    let c = shell.comment();
    if args.swarm {
        return Err(crate::hints::SWARM_CLASSIC.into());
    }
    let mut words = vec!["machine", "env"];
    if args.shell.is_some() {
        words.extend(["--shell", shell.name()]);
    }
    // every line is made before any is printed: a value the shell cannot take prints nothing
    let mut lines = Vec::new();
    if args.unset {
        if args.name.is_some() {
            return Err("Expected no machine name when the -u flag is present".into());
        }
        lines.extend(VARS.iter().map(|k| shell.unset(k)));
        let current = std::env::var_os("PATH").unwrap_or_default();
        if let Some(path) = path_line(shell, None, &current)? {
            lines.push(path);
        }
        if args.no_proxy {
            lines.push(shell.unset("NO_PROXY"));
        }
        words.push("-u");
    } else {
        let name = args
            .name
            .as_deref()
            .unwrap_or(crate::commands::DEFAULT_NAME);
        let m = app.manager.load(name).await?;
        let env = m.docker_env().await?;
        let host = env.host.to_string();
        match &env.ssh_bin {
            Some(bin) => {
                let current = std::env::var_os("PATH").unwrap_or_default();
                lines.extend(ssh_lines(shell, &host, &env.machine_name, bin, &current)?);
            }
            None => {
                let cert_path = env.files.dir.display().to_string();
                for (k, v) in [
                    ("DOCKER_TLS_VERIFY", "1"),
                    ("DOCKER_HOST", host.as_str()),
                    ("DOCKER_CERT_PATH", cert_path.as_str()),
                    ("DOCKER_MACHINE_NAME", env.machine_name.as_str()),
                ] {
                    lines.push(shell.set(k, v)?);
                }
            }
        }
        if args.no_proxy {
            let (var, value) = no_proxy_with(&env.ip);
            lines.push(shell.set(&var, &value)?);
        }
        words.push(name);
    }
    lines.push(format!("{c} Run this command to configure your shell: "));
    lines.push(format!("{c} {}", shell.eval_hint(&words)));
    println!("{}", lines.join("\n"));
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALL: [Shell; 6] = [
        Shell::Bash,
        Shell::Fish,
        Shell::Powershell,
        Shell::Cmd,
        Shell::Emacs,
        Shell::Tcsh,
    ];

    /// Values an address or a path could hold to run something in the shell that evaluates
    /// `machine env`'s output.
    const HOSTILE: [&str; 8] = [
        "$(touch${IFS}pwned)",
        "`touch pwned`",
        "a\"; touch pwned; echo \"",
        "a'; touch pwned; echo '",
        "a\\'; touch pwned #",
        "(shell-command \"touch pwned\")",
        "$Env:X; Invoke-Item pwned",
        "/tmp/it's \"here\" $HOME {a,b} *",
    ];

    #[test]
    fn every_shell_sets_and_unsets() {
        // Docker Machine's lines, byte for byte, for a value that needs no quoting
        assert_eq!(Shell::Bash.set("A", "1").unwrap(), "export A=\"1\"");
        assert_eq!(Shell::Fish.set("A", "1").unwrap(), "set -gx A \"1\";");
        assert_eq!(Shell::Powershell.set("A", "1").unwrap(), "$Env:A = \"1\"");
        assert_eq!(Shell::Cmd.set("A", "1").unwrap(), "SET A=1");
        assert_eq!(Shell::Emacs.set("A", "1").unwrap(), "(setenv \"A\" \"1\")");
        assert_eq!(Shell::Tcsh.set("A", "1").unwrap(), "setenv A \"1\";");
        assert_eq!(Shell::Bash.unset("A"), "unset A");
        assert_eq!(Shell::Fish.unset("A"), "set -e A;");
        assert_eq!(Shell::Cmd.unset("A"), "SET A=");
        assert!(Shell::parse("zsh").is_ok());
        assert!(Shell::parse("nushell").unwrap_err().contains("bash, fish"));
        for shell in ALL {
            assert_eq!(Shell::parse(shell.name()).unwrap(), shell);
        }
    }

    #[test]
    fn hostile_values_are_quoted_for_each_shell() {
        let v = "$(touch${IFS}pwned)";
        assert_eq!(Shell::Bash.quote(v).unwrap(), "'$(touch${IFS}pwned)'");
        assert_eq!(Shell::Fish.quote(v).unwrap(), "'$(touch${IFS}pwned)'");
        assert_eq!(Shell::Tcsh.quote(v).unwrap(), "'$(touch${IFS}pwned)'");
        assert_eq!(Shell::Powershell.quote(v).unwrap(), "'$(touch${IFS}pwned)'");
        assert_eq!(Shell::Emacs.quote(v).unwrap(), "\"$(touch${IFS}pwned)\"");
        assert!(Shell::Cmd.quote(v).is_ok(), "nothing cmd expands in it");

        let v = "it's \"x\" \\ `y`";
        assert_eq!(Shell::Bash.quote(v).unwrap(), r#"'it'\''s "x" \ `y`'"#);
        assert_eq!(Shell::Fish.quote(v).unwrap(), r#"'it\'s "x" \\ `y`'"#);
        assert_eq!(Shell::Tcsh.quote(v).unwrap(), r#"'it'\''s "x" \ `y`'"#);
        assert_eq!(Shell::Powershell.quote(v).unwrap(), r#"'it''s "x" \ `y`'"#);
        assert_eq!(Shell::Emacs.quote(v).unwrap(), r#""it's \"x\" \\ `y`""#);
        assert!(Shell::Cmd.quote(v).unwrap_err().contains("cmd"));
        // PowerShell takes typographic quotes for ' too (in single quotes; in double quotes
        // they are plain text)
        assert_eq!(
            Shell::Powershell.quote("$a\u{2019}b").unwrap(),
            "'$a\u{2019}\u{2019}b'"
        );
        assert_eq!(
            Shell::Powershell.quote("a\u{2019}b").unwrap(),
            "\"a\u{2019}b\""
        );
    }

    #[test]
    fn plain_values_keep_docker_machines_form_and_others_are_quoted() {
        let path = "/home/John Smith/.docker/machine/machines/web-1";
        assert_eq!(
            Shell::Fish.set("P", path).unwrap(),
            format!("set -gx P \"{path}\";")
        );
        assert_eq!(
            Shell::Powershell.set("P", path).unwrap(),
            format!("$Env:P = \"{path}\"")
        );
        assert_eq!(Shell::Cmd.set("P", path).unwrap(), format!("SET P={path}"));
        assert_eq!(
            Shell::Tcsh.set("P", path).unwrap(),
            format!("setenv P \"{path}\";")
        );
        // what each shell would expand inside double quotes gets its single quotes instead
        assert_eq!(Shell::Fish.set("P", "a$b").unwrap(), "set -gx P 'a$b';");
        assert_eq!(Shell::Fish.set("P", "a\\b").unwrap(), "set -gx P 'a\\\\b';");
        assert_eq!(Shell::Powershell.set("P", "a`b").unwrap(), "$Env:P = 'a`b'");
        assert_eq!(
            Shell::Powershell.set("P", "a\u{201C}b").unwrap(),
            "$Env:P = 'a\u{201C}b'"
        );
        assert_eq!(Shell::Tcsh.set("P", "a`b").unwrap(), "setenv P 'a`b';");
        // cmd: a trailing space or a parenthesis keeps the whole assignment quoted
        assert_eq!(Shell::Cmd.set("P", "a ").unwrap(), "SET \"P=a \"");
        assert_eq!(Shell::Cmd.set("P", "a(b)").unwrap(), "SET \"P=a(b)\"");
    }

    #[test]
    fn values_a_shell_cannot_hold_are_refused_naming_the_variable() {
        for shell in ALL {
            for v in ["a\nb", "a\rb", "a\u{1b}[2Jb", "a\0b"] {
                let e = shell.set("DOCKER_HOST", v).unwrap_err();
                assert!(e.contains("DOCKER_HOST") && e.contains(shell.name()), "{e}");
            }
        }
        for v in ["%PATH%", "!x!", "a\"b", "a^b", "a&b", "a|b", "a>b"] {
            assert!(Shell::Cmd.quote(v).is_err(), "{v:?}");
        }
        assert!(Shell::Tcsh.quote("a!b").is_err());
        assert!(Shell::Bash.quote("a!b").is_ok());
    }

    /// The printed line, run by a real bash: the variable holds the value, nothing ran.
    #[test]
    fn bash_reads_back_every_hostile_value_and_runs_nothing() {
        let dir = tempfile::tempdir().unwrap();
        for v in HOSTILE {
            let line = Shell::Bash.set("V", v).unwrap();
            let out = std::process::Command::new("bash")
                .current_dir(dir.path())
                .arg("-c")
                .arg("eval \"$1\"; printf %s \"$V\"")
                .arg("bash")
                .arg(&line)
                .output()
                .expect("bash");
            assert!(out.status.success(), "{line}: {out:?}");
            assert_eq!(String::from_utf8_lossy(&out.stdout), v, "{line}");
            assert!(
                std::fs::read_dir(dir.path()).unwrap().next().is_none(),
                "{line} created a file"
            );
        }
    }

    /// A folder that is a machine wrapper folder (of some store), under `root`.
    fn wrapper_dir(root: &std::path::Path) -> std::path::PathBuf {
        let bin = root.join("bin");
        std::fs::create_dir_all(&bin).unwrap();
        std::fs::write(
            bin.join("ssh"),
            "#!/bin/sh\n# machine: ssh wrapper (written by machine)\n",
        )
        .unwrap();
        bin
    }

    #[test]
    fn an_ssh_machine_gets_its_alias_no_tls_and_the_wrapper_first_on_path() {
        let tmp = tempfile::tempdir().unwrap();
        // a store folder that needs quoting in every shell
        let ours = wrapper_dir(&tmp.path().join("it's $(here)"));
        let earlier = wrapper_dir(&tmp.path().join("another store"));
        let current = format!("/usr/bin:{}:/bin", earlier.display());
        let lines = ssh_lines(
            Shell::Bash,
            "ssh://machine-web1",
            "web1",
            &ours,
            current.as_ref(),
        )
        .unwrap();
        let want_path = format!("{}:/usr/bin:/bin", ours.display());
        assert_eq!(
            lines,
            vec![
                "unset DOCKER_TLS_VERIFY".to_string(),
                "export DOCKER_HOST=\"ssh://machine-web1\"".to_string(),
                "unset DOCKER_CERT_PATH".to_string(),
                "export DOCKER_MACHINE_NAME=\"web1\"".to_string(),
                Shell::Bash.set("PATH", &want_path).unwrap(),
            ]
        );
        // a real bash takes them as they are: PATH holds the folder, nothing ran
        let script = format!(
            "export DOCKER_TLS_VERIFY=1 DOCKER_CERT_PATH=/x; {}; printf '%s|%s|%s' \"$DOCKER_HOST\" \"$PATH\" \"${{DOCKER_TLS_VERIFY-unset}}\"",
            lines.join("; ")
        );
        let out = std::process::Command::new("bash")
            .current_dir(tmp.path())
            .args(["-c", &script])
            .output()
            .unwrap();
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            format!("ssh://machine-web1|{want_path}|unset"),
            "{out:?}"
        );
        // every shell gets the same, in its own syntax (quoting as for any value)
        for shell in ALL {
            let lines = ssh_lines(shell, "ssh://machine-web1", "web1", &ours, current.as_ref());
            let lines = lines.unwrap_or_else(|e| panic!("{shell:?}: {e}"));
            assert_eq!(lines.len(), 5, "{shell:?}");
            assert_eq!(lines[0], shell.unset("DOCKER_TLS_VERIFY"));
            assert_eq!(lines[4], shell.set("PATH", &want_path).unwrap());
        }
        // `env -u`: PATH without the wrapper folders; no PATH line when there is none
        let after = std::env::join_paths([ours.to_str().unwrap(), "/usr/bin", "/bin"]).unwrap();
        assert_eq!(
            path_line(Shell::Bash, None, &after).unwrap(),
            Some("export PATH=\"/usr/bin:/bin\"".to_string())
        );
        assert_eq!(
            path_line(Shell::Bash, None, "/usr/bin:/bin".as_ref()).unwrap(),
            None
        );
    }

    #[test]
    fn the_hint_is_quoted_too() {
        assert_eq!(
            Shell::Bash.eval_hint(&["machine", "env", "web1"]),
            "eval \"$(machine env web1)\""
        );
        assert_eq!(
            Shell::Bash.eval_hint(&["machine", "env", "$(x)"]),
            "eval \"$(machine env '$(x)')\""
        );
        assert_eq!(
            Shell::Tcsh.eval_hint(&["machine", "env", "--shell", "tcsh", "a.b"]),
            "eval \"`machine env --shell tcsh a.b`\""
        );
        assert_eq!(
            Shell::Emacs.eval_hint(&["machine", "env", "a\"b"]),
            "(with-temp-buffer (shell-command \"machine env 'a\\\"b'\" (current-buffer)) (eval-buffer))"
        );
        assert_eq!(
            Shell::Cmd.eval_hint(&["machine", "env", "a%b"]),
            "@FOR /f \"tokens=*\" %i IN ('machine env') DO @%i"
        );
    }
}
