//! `ssh`, `scp` and `mount`: reaching into machines. Commands run over the built-in SSH client;
//! interactive sessions, copies and mounts use the system's `ssh`, `scp`, `rsync` and `sshfs`
//! with the machine's key and its recorded host key (never with host key checking turned off).

use crate::App;
use clap::Args;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

type CmdResult = Result<ExitCode, Box<dyn std::error::Error>>;

/// Where a machine's SSH server is, and the files the system ssh needs for it (written by the
/// store into a folder it owns).
struct Resolved {
    host: String,
    port: u16,
    user: String,
    key: PathBuf,
    known_hosts: PathBuf,
}

async fn resolve(app: &App, machine: &str) -> Result<Resolved, Box<dyn std::error::Error>> {
    let m = app.manager.load(machine).await?;
    let a = m.access().await?;
    let files = m.files().await?;
    Ok(Resolved {
        host: a.ssh.host,
        port: a.ssh.port,
        user: a.ssh.user,
        key: files.ssh_key,
        known_hosts: files.known_hosts,
    })
}

/// `-o` options that make the system ssh use exactly the machine's key and recorded host key.
fn ssh_options(target: &Resolved, known_hosts: &Path) -> Vec<String> {
    [
        "IdentitiesOnly=yes".to_string(),
        "StrictHostKeyChecking=yes".to_string(),
        format!("UserKnownHostsFile={}", known_hosts.display()),
        format!("IdentityFile={}", target.key.display()),
        "LogLevel=ERROR".to_string(),
        "ConnectTimeout=10".to_string(),
    ]
    .into_iter()
    .flat_map(|o| ["-o".to_string(), o])
    .collect()
}

fn exit_code(status: std::process::ExitStatus) -> ExitCode {
    ExitCode::from(status.code().unwrap_or(1).clamp(0, 255) as u8)
}

fn run_tool(cmd: &mut Command, tool: &str, package: &str) -> CmdResult {
    match cmd.status() {
        Ok(status) => Ok(exit_code(status)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(format!(
            "`{tool}` is not installed here: install it (Debian: apt-get install {package})"
        )
        .into()),
        Err(e) => Err(format!("cannot run {tool}: {e}").into()),
    }
}

pub async fn ssh(app: &App, name: &str, command: Vec<String>) -> CmdResult {
    if command.is_empty() {
        let target = resolve(app, name).await?;
        let mut cmd = Command::new("ssh");
        cmd.args(ssh_options(&target, &target.known_hosts))
            .args(["-t", "-p", &target.port.to_string()])
            .arg(format!("{}@{}", target.user, target.host));
        return run_tool(&mut cmd, "ssh", "openssh-client");
    }
    let m = app.manager.load(name).await?;
    let out = m.exec(&command.join(" ")).await?;
    std::io::stdout().write_all(out.stdout.as_bytes())?;
    std::io::stderr().write_all(out.stderr.as_bytes())?;
    Ok(ExitCode::from(out.status.min(255) as u8))
}

#[derive(Args)]
pub struct ScpArgs {
    /// Copy folders recursively
    #[arg(short = 'r', long)]
    recursive: bool,
    /// Send only what changed (rsync)
    #[arg(short = 'd', long)]
    delta: bool,
    /// Quiet
    #[arg(short = 'q', long)]
    quiet: bool,
    source: String,
    destination: String,
}

/// `NAME:path` or a local path.
enum Location {
    Local(String),
    Remote { machine: String, path: String },
}

fn location(s: &str) -> Location {
    match s.split_once(':') {
        // a drive-like or path-like prefix is local (`./a:b`, `/x:y`)
        Some((m, p)) if !m.is_empty() && !m.contains('/') => Location::Remote {
            machine: m.to_string(),
            path: p.to_string(),
        },
        _ => Location::Local(s.to_string()),
    }
}

pub async fn scp(app: &App, a: ScpArgs) -> CmdResult {
    let (src, dst) = (location(&a.source), location(&a.destination));
    let mut remotes = Vec::new();
    for l in [&src, &dst] {
        if let Location::Remote { machine, .. } = l {
            remotes.push(resolve(app, machine).await?);
        }
    }
    if remotes.is_empty() {
        return Err("neither side names a machine: use NAME:PATH on one side (or both)".into());
    }
    let known: Vec<String> = remotes
        .iter()
        .map(|r| r.known_hosts.display().to_string())
        .collect();
    let mut remote_iter = remotes.iter();
    let mut uri = |l: &Location, rsync: bool| -> String {
        match l {
            Location::Local(p) => p.clone(),
            Location::Remote { path, .. } => {
                let r = remote_iter.next().expect("resolved");
                let t = r;
                if rsync {
                    format!("{}@{}:{}", t.user, t.host, path)
                } else {
                    // scp's URI form: the path after the first slash is relative to the home
                    // folder, so an absolute path keeps its own slash (`//var/log`)
                    let path = path.strip_prefix("~/").unwrap_or(path);
                    format!("scp://{}@{}:{}/{}", t.user, t.host, t.port, path)
                }
            }
        }
    };
    // the options shared by both ends: every key, every recorded host key
    let first = &remotes[0];
    let mut opts = vec![
        "-o".to_string(),
        "IdentitiesOnly=yes".to_string(),
        "-o".to_string(),
        "StrictHostKeyChecking=yes".to_string(),
        "-o".to_string(),
        format!("UserKnownHostsFile={}", known.join(" ")),
        "-o".to_string(),
        "LogLevel=ERROR".to_string(),
    ];
    for r in &remotes {
        opts.push("-i".into());
        opts.push(r.key.display().to_string());
    }
    if a.delta {
        if remotes.len() > 1 {
            return Err(
                "--delta (rsync) cannot copy between two machines: copy through here without -d"
                    .into(),
            );
        }
        let mut cmd = Command::new("rsync");
        let e = format!("ssh -p {} {}", first.port, opts.join(" "));
        cmd.arg("-e")
            .arg(e)
            .arg(if a.recursive { "-avz" } else { "-vz" });
        if a.quiet {
            cmd.arg("-q");
        }
        let (s, d) = (uri(&src, true), uri(&dst, true));
        cmd.arg(s).arg(d);
        return run_tool(&mut cmd, "rsync", "rsync");
    }
    let mut cmd = Command::new("scp");
    cmd.args(&opts);
    if remotes.len() > 1 {
        cmd.arg("-3");
    }
    if a.recursive {
        cmd.arg("-r");
    }
    if a.quiet {
        cmd.arg("-q");
    }
    let (s, d) = (uri(&src, false), uri(&dst, false));
    cmd.arg(s).arg(d);
    run_tool(&mut cmd, "scp", "openssh-client")
}

pub async fn mount(app: &App, unmount: bool, source: &str, target: &Path) -> CmdResult {
    if unmount {
        let mut cmd = Command::new("fusermount");
        cmd.arg("-u").arg(target);
        return run_tool(&mut cmd, "fusermount", "fuse3");
    }
    let Location::Remote { machine, path } = location(source) else {
        return Err(
            "the source must be NAME:PATH, e.g. `machine mount web1:/var/log ./logs`".into(),
        );
    };
    let r = resolve(app, &machine).await?;
    let t = &r;
    let mut cmd = Command::new("sshfs");
    cmd.arg(format!("{}@{}:{}", t.user, t.host, path))
        .arg(target)
        .args(["-p", &t.port.to_string()])
        .args(ssh_options(t, &r.known_hosts));
    run_tool(&mut cmd, "sshfs", "sshfs")
}
