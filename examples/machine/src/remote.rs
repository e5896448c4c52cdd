//! `ssh`, `scp` and `mount`: reaching into machines. Commands run over the built-in SSH client;
//! interactive sessions, copies and mounts use the system's `ssh`, `scp`, `rsync` and `sshfs`
//! with the machine's key and its recorded host key (never with host key checking turned off).
//! Before those start, the library checks the key the host presents, so that a changed key is
//! the same error, with the same advice, whichever tool was asked for; and they get a
//! known_hosts file holding only the recorded key, no global one, and no leave to add keys.

use crate::App;
use clap::Args;
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
    let m = app.load(machine).await?;
    m.verify_host_key().await?;
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

/// A path as an ssh option's value: in double quotes (spaces are fine), `%` doubled (ssh
/// expands `%` tokens in key and known_hosts paths). A path with a `"` cannot be written.
fn ssh_path(path: &Path) -> Result<String, String> {
    let p = path.display().to_string();
    if p.contains('"') || p.chars().any(char::is_control) {
        return Err(format!(
            "the system ssh cannot be given the path {p:?}: use a --storage-path without \" or control characters"
        ));
    }
    Ok(format!("\"{}\"", p.replace('%', "%%")))
}

/// `-o` options that make the system ssh check the host key against the known_hosts files
/// `known_hosts` only (never a global one; unknown or changed keys refused, none added) and log
/// in with exactly the machine keys `keys`.
fn ssh_options(keys: &[&Path], known_hosts: &[&Path]) -> Result<Vec<String>, String> {
    let known: Vec<String> = known_hosts
        .iter()
        .map(|p| ssh_path(p))
        .collect::<Result<_, _>>()?;
    let mut opts = vec![
        "IdentitiesOnly=yes".to_string(),
        "StrictHostKeyChecking=yes".to_string(),
        format!("UserKnownHostsFile={}", known.join(" ")),
        "GlobalKnownHostsFile=/dev/null".to_string(),
        "UpdateHostKeys=no".to_string(),
        "CheckHostIP=no".to_string(),
        "LogLevel=ERROR".to_string(),
        "ConnectTimeout=10".to_string(),
    ];
    for key in keys {
        opts.push(format!("IdentityFile={}", ssh_path(key)?));
    }
    Ok(opts
        .into_iter()
        .flat_map(|o| ["-o".to_string(), o])
        .collect())
}

/// A word of rsync's `-e` command: rsync splits it at spaces and takes single or double quotes,
/// but no backslashes.
fn rsync_word(w: &str) -> Result<String, String> {
    if !w.contains([' ', '\'', '"']) {
        Ok(w.to_string())
    } else if !w.contains('\'') {
        Ok(format!("'{w}'"))
    } else if !w.contains('"') {
        Ok(format!("\"{w}\""))
    } else {
        Err(format!(
            "rsync cannot be given {w:?} (it holds both kinds of quotes)"
        ))
    }
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

/// `machine ssh [-t] NAME [COMMAND...]`: without a command (or with `-t`, also accepted as the
/// command's first word as Docker Machine users type it) the system `ssh` with a terminal;
/// otherwise the built-in client, with stdin passed through and output streamed as it comes.
/// Either way the exit status is the remote command's.
pub async fn ssh(app: &App, name: &str, tty: bool, mut command: Vec<String>) -> CmdResult {
    let tty = tty || command.first().is_some_and(|w| w == "-t");
    if command.first().is_some_and(|w| w == "-t") {
        command.remove(0);
    }
    if command.is_empty() || tty {
        let target = resolve(app, name).await?;
        let mut cmd = Command::new("ssh");
        // asked for (-t), a terminal is given even when stdin is not one (-tt)
        cmd.args(ssh_options(&[&target.key], &[&target.known_hosts])?)
            .arg(if tty { "-tt" } else { "-t" })
            .args(["-p", &target.port.to_string()])
            .arg(format!("{}@{}", target.user, target.host));
        if !command.is_empty() {
            cmd.arg("--").arg(command.join(" "));
        }
        return run_tool(&mut cmd, "ssh", "openssh-client");
    }
    let m = app.load(name).await?;
    let status = m
        .exec_io(
            &command.join(" "),
            stdin_reader(),
            tokio::io::stdout(),
            tokio::io::stderr(),
        )
        .await?;
    Ok(ExitCode::from(status.min(255) as u8))
}

/// This process's stdin, read on a thread of its own: a read from a terminal cannot be
/// cancelled, and the command's end must not wait for the user to press a key (as it would
/// with tokio's stdin when the runtime shuts down).
fn stdin_reader() -> StdinReader {
    let (tx, rx) = tokio::sync::mpsc::channel::<Vec<u8>>(4);
    std::thread::spawn(move || {
        use std::io::Read;
        let mut buf = vec![0u8; 32 * 1024];
        let mut stdin = std::io::stdin().lock();
        while let Ok(n @ 1..) = stdin.read(&mut buf) {
            if tx.blocking_send(buf[..n].to_vec()).is_err() {
                break;
            }
        }
    });
    StdinReader {
        rx,
        pending: Vec::new(),
    }
}

/// Chunks from the stdin thread, as an `AsyncRead`; the end of stdin is the end of the channel.
struct StdinReader {
    rx: tokio::sync::mpsc::Receiver<Vec<u8>>,
    pending: Vec<u8>,
}

impl tokio::io::AsyncRead for StdinReader {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        use std::task::Poll;
        if self.pending.is_empty() {
            match self.rx.poll_recv(cx) {
                Poll::Ready(Some(chunk)) => self.pending = chunk,
                Poll::Ready(None) => return Poll::Ready(Ok(())),
                Poll::Pending => return Poll::Pending,
            }
        }
        let n = self.pending.len().min(buf.remaining());
        buf.put_slice(&self.pending[..n]);
        self.pending.drain(..n);
        Poll::Ready(Ok(()))
    }
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

/// `[USER@]NAME:path`, or a local path (also written `localhost:path`, as Docker Machine took).
#[derive(Debug, PartialEq)]
enum Location {
    Local(String),
    Remote {
        user: Option<String>,
        machine: String,
        path: String,
    },
}

fn location(s: &str) -> Location {
    match s.split_once(':') {
        // a path-like prefix is local (`./a:b`, `/x:y`)
        Some((m, p)) if !m.is_empty() && !m.contains('/') => {
            let (user, machine) = match m.rsplit_once('@') {
                Some((u, m)) => (Some(u.to_string()), m),
                None => (None, m),
            };
            if machine == "localhost" {
                return Location::Local(p.to_string());
            }
            Location::Remote {
                user,
                machine: machine.to_string(),
                path: p.to_string(),
            }
        }
        _ => Location::Local(s.to_string()),
    }
}

/// A host as it goes before `:path` or `:port`: an IPv6 address in brackets.
fn bracketed(host: &str) -> String {
    if host.contains(':') {
        format!("[{host}]")
    } else {
        host.to_string()
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
    let mut remote_iter = remotes.iter();
    let mut uri = |l: &Location, rsync: bool| -> String {
        match l {
            Location::Local(p) => p.clone(),
            Location::Remote { path, user, .. } => {
                let t = remote_iter.next().expect("resolved");
                let user = user.as_deref().unwrap_or(&t.user);
                let host = bracketed(&t.host);
                if rsync {
                    format!("{user}@{host}:{path}")
                } else {
                    // scp's URI form: the path after the first slash is relative to the home
                    // folder, so an absolute path keeps its own slash (`//var/log`)
                    let path = path.strip_prefix("~/").unwrap_or(path);
                    format!("scp://{user}@{host}:{}/{path}", t.port)
                }
            }
        }
    };
    // the options shared by both ends: every key, every recorded host key
    let first = &remotes[0];
    let keys: Vec<&Path> = remotes.iter().map(|r| r.key.as_path()).collect();
    let known: Vec<&Path> = remotes.iter().map(|r| r.known_hosts.as_path()).collect();
    let opts = ssh_options(&keys, &known)?;
    if a.delta {
        if remotes.len() > 1 {
            return Err(
                "--delta (rsync) cannot copy between two machines: copy through here without -d"
                    .into(),
            );
        }
        let mut cmd = Command::new("rsync");
        let words: Vec<String> = opts
            .iter()
            .map(|o| rsync_word(o))
            .collect::<Result<_, _>>()?;
        let e = format!("ssh -p {} {}", first.port, words.join(" "));
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
    let Location::Remote {
        user,
        machine,
        path,
    } = location(source)
    else {
        return Err(
            "the source must be NAME:PATH, e.g. `machine mount web1:/var/log ./logs`".into(),
        );
    };
    let r = resolve(app, &machine).await?;
    let t = &r;
    let mut cmd = Command::new("sshfs");
    let user = user.as_deref().unwrap_or(&t.user);
    cmd.arg(format!("{user}@{}:{path}", bracketed(&t.host)))
        .arg(target)
        .args(["-p", &t.port.to_string()])
        .args(ssh_options(&[&t.key], &[&r.known_hosts])?);
    run_tool(&mut cmd, "sshfs", "sshfs")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn remote(user: Option<&str>, machine: &str, path: &str) -> Location {
        Location::Remote {
            user: user.map(str::to_string),
            machine: machine.into(),
            path: path.into(),
        }
    }

    #[test]
    fn the_forms_docker_machine_took() {
        assert_eq!(location("web:/var/log"), remote(None, "web", "/var/log"));
        assert_eq!(
            location("root@web:/etc"),
            remote(Some("root"), "web", "/etc")
        );
        assert_eq!(
            location("web:my file.txt"),
            remote(None, "web", "my file.txt")
        );
        assert_eq!(
            location("localhost:/tmp/x"),
            Location::Local("/tmp/x".into())
        );
        assert_eq!(location("./a:b"), Location::Local("./a:b".into()));
        assert_eq!(location("/x:y"), Location::Local("/x:y".into()));
        assert_eq!(location("plain.txt"), Location::Local("plain.txt".into()));
        assert_eq!(bracketed("fd00::5"), "[fd00::5]");
        assert_eq!(bracketed("192.0.2.5"), "192.0.2.5");
    }

    #[test]
    fn the_system_ssh_trusts_only_the_recorded_key() {
        let key = Path::new("/s/machines/a/id_ed25519");
        let known = Path::new("/s/machines/a/known_hosts");
        let opts = ssh_options(&[key], &[known]).unwrap();
        let set: Vec<&str> = opts
            .iter()
            .filter(|o| *o != "-o")
            .map(String::as_str)
            .collect();
        for o in [
            "StrictHostKeyChecking=yes",
            "GlobalKnownHostsFile=/dev/null",
            "UpdateHostKeys=no",
            "IdentitiesOnly=yes",
            "UserKnownHostsFile=\"/s/machines/a/known_hosts\"",
            "IdentityFile=\"/s/machines/a/id_ed25519\"",
        ] {
            assert!(set.contains(&o), "{o} missing from {set:?}");
        }
        assert!(!set
            .iter()
            .any(|o| o.contains("=no") && o.contains("Strict")));
    }

    #[test]
    fn paths_with_spaces_quotes_and_percents_reach_ssh_intact() {
        assert_eq!(
            ssh_path(Path::new("/tmp/my store/100%/it's")).unwrap(),
            "\"/tmp/my store/100%%/it's\""
        );
        assert!(ssh_path(Path::new("/tmp/a\"b")).is_err());
        assert_eq!(rsync_word("-o").unwrap(), "-o");
        assert_eq!(rsync_word("A=\"/a b\"").unwrap(), "'A=\"/a b\"'");
        assert_eq!(rsync_word("A=it's").unwrap(), "\"A=it's\"");
        assert!(rsync_word("A=\"it's\"").is_err());
    }
}
