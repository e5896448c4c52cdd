//! `machine env`: the commands that point a shell's docker client at a machine, for every
//! shell Docker Machine supported.

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

    pub fn set(self, k: &str, v: &str) -> String {
        match self {
            Shell::Bash => format!("export {k}=\"{v}\""),
            Shell::Fish => format!("set -gx {k} \"{v}\";"),
            Shell::Powershell => format!("$Env:{k} = \"{v}\""),
            Shell::Cmd => format!("SET {k}={v}"),
            Shell::Emacs => format!("(setenv \"{k}\" \"{v}\")"),
            Shell::Tcsh => format!("setenv {k} \"{v}\";"),
        }
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

    fn eval_hint(self, cmd: &str) -> String {
        match self {
            Shell::Bash => format!("eval $({cmd})"),
            Shell::Fish => format!("eval ({cmd})"),
            Shell::Powershell => format!("& {cmd} | Invoke-Expression"),
            Shell::Cmd => format!("@FOR /f \"tokens=*\" %i IN ('{cmd}') DO @%i"),
            Shell::Emacs => format!(
                "(with-temp-buffer (shell-command \"{cmd}\" (current-buffer)) (eval-buffer))"
            ),
            Shell::Tcsh => format!("eval `{cmd}`"),
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

pub async fn run(app: &App, args: EnvArgs) -> Result<ExitCode, Box<dyn std::error::Error>> {
    let shell = match &args.shell {
        Some(s) => Shell::parse(s)?,
        None => Shell::detect(),
    };
    let c = shell.comment();
    if args.swarm {
        return Err(crate::hints::SWARM_CLASSIC.into());
    }
    if args.unset {
        if args.name.is_some() {
            return Err("Expected no machine name when the -u flag is present".into());
        }
        for k in VARS {
            println!("{}", shell.unset(k));
        }
        if args.no_proxy {
            println!("{}", shell.unset("NO_PROXY"));
        }
        println!("{c} Run this command to configure your shell: ");
        println!("{c} {}", shell.eval_hint("machine env -u"));
        return Ok(ExitCode::SUCCESS);
    }
    let name = args
        .name
        .as_deref()
        .unwrap_or(crate::commands::DEFAULT_NAME);
    let m = app.manager.load(name).await?;
    let env = m.docker_env().await?;
    println!("{}", shell.set("DOCKER_TLS_VERIFY", "1"));
    println!("{}", shell.set("DOCKER_HOST", &env.host));
    println!(
        "{}",
        shell.set("DOCKER_CERT_PATH", &env.cert_path.display().to_string())
    );
    println!("{}", shell.set("DOCKER_MACHINE_NAME", &env.machine_name));
    if args.no_proxy {
        let (var, value) = no_proxy_with(&m.ip().await?);
        println!("{}", shell.set(&var, &value));
    }
    let mut cmd = String::from("machine env");
    if let Some(s) = &args.shell {
        cmd.push_str(&format!(" --shell {s}"));
    }
    cmd.push(' ');
    cmd.push_str(name);
    println!("{c} Run this command to configure your shell: ");
    println!("{c} {}", shell.eval_hint(&cmd));
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_shell_sets_and_unsets() {
        assert_eq!(Shell::Bash.set("A", "1"), "export A=\"1\"");
        assert_eq!(Shell::Fish.set("A", "1"), "set -gx A \"1\";");
        assert_eq!(Shell::Powershell.set("A", "1"), "$Env:A = \"1\"");
        assert_eq!(Shell::Cmd.set("A", "1"), "SET A=1");
        assert_eq!(Shell::Emacs.set("A", "1"), "(setenv \"A\" \"1\")");
        assert_eq!(Shell::Tcsh.set("A", "1"), "setenv A \"1\";");
        assert_eq!(Shell::Bash.unset("A"), "unset A");
        assert_eq!(Shell::Fish.unset("A"), "set -e A;");
        assert_eq!(Shell::Cmd.unset("A"), "SET A=");
        assert!(Shell::parse("zsh").is_ok());
        assert!(Shell::parse("nushell").unwrap_err().contains("bash, fish"));
    }
}
