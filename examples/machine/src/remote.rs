//! `ssh`, `scp` and `mount`: reaching into machines. Commands run over the built-in SSH client;
//! interactive sessions, copies and mounts use the system's `ssh`, `scp`, `rsync` and `sshfs`,
//! whose command lines the library makes (with the machine's key and its recorded host key,
//! checked first); this parses Docker Machine's `NAME:path` forms and runs them.

use crate::App;
use clap::Args;
use machine_core::{CopyOptions, CopyPath, SshCommandOptions};
use std::path::Path;
use std::process::{Command, ExitCode};

type CmdResult = Result<ExitCode, Box<dyn std::error::Error>>;

fn exit_code(status: std::process::ExitStatus) -> ExitCode {
    ExitCode::from(status.code().unwrap_or(1).clamp(0, 255) as u8)
}

/// Runs a system tool; one that is missing is named with the package that has it.
fn run_tool(cmd: &mut Command) -> CmdResult {
    let tool = cmd.get_program().to_string_lossy().into_owned();
    let package = match tool.as_str() {
        "ssh" | "scp" => "openssh-client",
        "fusermount" => "fuse3",
        other => other,
    };
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
        let mut opts = SshCommandOptions::default();
        // asked for (-t), a terminal is given even when stdin is not one (-tt)
        opts.force_tty = tty;
        opts.command = (!command.is_empty()).then(|| command.join(" "));
        let mut cmd = app.manager.load(name).await?.ssh_command(&opts).await?;
        return run_tool(&mut cmd);
    }
    let m = app.manager.load(name).await?;
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
fn location(s: &str) -> CopyPath {
    match s.split_once(':') {
        // a path-like prefix is local (`./a:b`, `/x:y`)
        Some((m, p)) if !m.is_empty() && !m.contains('/') => {
            let (user, machine) = match m.rsplit_once('@') {
                Some((u, m)) => (Some(u.to_string()), m),
                None => (None, m),
            };
            if machine == "localhost" {
                return CopyPath::Local(p.to_string());
            }
            CopyPath::Machine {
                user,
                machine: machine.to_string(),
                path: p.to_string(),
            }
        }
        _ => CopyPath::Local(s.to_string()),
    }
}

pub async fn scp(app: &App, a: ScpArgs) -> CmdResult {
    let (from, to) = (location(&a.source), location(&a.destination));
    let mut opts = CopyOptions::default();
    opts.recursive = a.recursive;
    opts.delta = a.delta;
    opts.quiet = a.quiet;
    let mut cmd = app.manager.copy_command(&from, &to, &opts).await?;
    run_tool(&mut cmd)
}

pub async fn mount(app: &App, unmount: bool, source: &str, target: &Path) -> CmdResult {
    if unmount {
        let mut cmd = Command::new("fusermount");
        // after `--` a mount point shaped like an option (`-z`) is a mount point
        cmd.args(["-u", "--"]).arg(target);
        return run_tool(&mut cmd);
    }
    let CopyPath::Machine {
        user,
        machine,
        path,
    } = location(source)
    else {
        return Err(
            "the source must be NAME:PATH, e.g. `machine mount web1:/var/log ./logs`".into(),
        );
    };
    let m = app.manager.load(&machine).await?;
    let mut cmd = m.mount_command(&path, user.as_deref(), target).await?;
    run_tool(&mut cmd)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn remote(user: Option<&str>, machine: &str, path: &str) -> CopyPath {
        CopyPath::Machine {
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
            CopyPath::Local("/tmp/x".into())
        );
        assert_eq!(location("./a:b"), CopyPath::Local("./a:b".into()));
        assert_eq!(location("/x:y"), CopyPath::Local("/x:y".into()));
        assert_eq!(location("plain.txt"), CopyPath::Local("plain.txt".into()));
    }
}
