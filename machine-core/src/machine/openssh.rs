//! The system's OpenSSH tools pointed at machines: `ssh` for an interactive session, `scp` (or
//! `rsync` over ssh) for copies, `sshfs` for mounts. The command lines are made here, with the
//! machine's key and a known_hosts file holding only its recorded host key: never a global
//! one, unknown or changed keys refused, none added, host key checking never turned off. Before
//! a command is made, the key the host presents is checked ([`Machine::verify_host_key`]), so
//! that a changed key is [`Error::HostKeyChanged`] whichever tool was asked for, and not the
//! tool's own warning. The caller runs the command (and says what to install when the tool is
//! missing).
//!
//! No value of the user's or the host's is ever read as one of the tool's options: the
//! operands (a destination, file names, a mount point) follow `--`, and a user name that is
//! not a plain user name (one starting with `-` included) is refused ([`ToolError::User`]),
//! since sshfs hands `USER@HOST` to ssh as an argument of its own.

use super::Machine;
use crate::docker_url::bracketed;
use crate::error::Result;
use crate::manager::Manager;
use std::path::{Path, PathBuf};
use std::process::Command;

/// How [`Machine::ssh_command`] logs in. The default: a login shell, with a terminal when
/// stdin is one.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct SshCommandOptions {
    /// A command to run instead of a login shell (run by the remote user's shell, as `ssh
    /// HOST COMMAND` runs it).
    pub command: Option<String>,
    /// A terminal even when stdin is not one (`ssh -tt`), for interactive commands.
    pub force_tty: bool,
}

/// One side of a copy ([`Manager::copy_command`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CopyPath {
    /// A path here.
    Local(String),
    /// A path on a machine (relative to the login user's home folder unless absolute).
    Machine {
        /// The machine.
        machine: String,
        /// The user to log in as, instead of the one its driver says.
        user: Option<String>,
        /// The path.
        path: String,
    },
}

/// How [`Manager::copy_command`] copies. The default: one file (or a folder's files with
/// `recursive`) with `scp`, reporting progress.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct CopyOptions {
    /// Copy folders with what they hold.
    pub recursive: bool,
    /// Send only what changed, with `rsync` over ssh (between here and one machine).
    pub delta: bool,
    /// No progress output.
    pub quiet: bool,
}

/// Why the command line of a system tool could not be made for a machine.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ToolError {
    /// Neither side of a copy is on a machine.
    #[error("neither side of the copy is on a machine")]
    NoMachine,
    /// A delta copy (`rsync`) goes between here and one machine only.
    #[error("a delta copy (rsync) cannot copy between two machines")]
    DeltaBetweenMachines,
    /// A user name given for a copy or a mount that is not a plain user name: letters, digits,
    /// `.`, `_` and `-`, not starting with `-` (which a tool would read as an option).
    #[error(
        "{user:?} is not a user name the system ssh tools can be given: a user name is letters, \
         digits, '.', '_' and '-', not starting with '-'"
    )]
    User {
        /// The user name as given.
        user: String,
    },
    /// A file the tool must be given (the machine's key, its known_hosts) has a path the tool
    /// cannot take: ssh options cannot hold a `"` or control characters, rsync's `-e` command
    /// a `'` beside them.
    #[error("the system {tool} cannot be given the path {}", .path.display())]
    Path {
        /// The tool.
        tool: &'static str,
        /// The path.
        path: PathBuf,
    },
}

/// Where a machine's SSH server is, and the files the system ssh needs for it (written by the
/// store into a folder it owns), once its host presented the recorded key.
struct Endpoint {
    host: String,
    port: u16,
    user: String,
    key: PathBuf,
    known_hosts: PathBuf,
}

impl Machine {
    async fn endpoint(&self) -> Result<Endpoint> {
        let a = self.access().await?;
        let ssh = self.ssh_of(&a, "ssh")?.clone();
        self.verify_host_key().await?;
        let files = self.files_at(Some(&a)).await?;
        Ok(Endpoint {
            host: ssh.host,
            port: ssh.port,
            user: ssh.user,
            key: files.ssh_key,
            known_hosts: files.known_hosts,
        })
    }

    /// The system `ssh` logged into the machine (see the module's documentation for what it
    /// trusts): a login shell, or `opts.command`; with a terminal when stdin is one, or always
    /// with `opts.force_tty`. Its exit status is the remote command's.
    pub async fn ssh_command(&self, opts: &SshCommandOptions) -> Result<Command> {
        let e = self.endpoint().await?;
        let mut cmd = Command::new("ssh");
        cmd.args(ssh_options("ssh", &[&e.key], &[&e.known_hosts])?)
            .arg(if opts.force_tty { "-tt" } else { "-t" })
            .args(["-p", &e.port.to_string()])
            // after `--` ssh reads no option, neither in the destination nor in the command
            .arg("--")
            .arg(format!("{}@{}", plain_user(&e.user)?, e.host));
        if let Some(command) = &opts.command {
            cmd.arg(command);
        }
        Ok(cmd)
    }

    /// `sshfs` mounting `path` of the machine (as `user`, or the user its driver says) on
    /// `mount_point` here.
    pub async fn mount_command(
        &self,
        path: &str,
        user: Option<&str>,
        mount_point: &Path,
    ) -> Result<Command> {
        let e = self.endpoint().await?;
        let user = plain_user(user.unwrap_or(&e.user))?;
        let mut cmd = Command::new("sshfs");
        cmd.args(["-p", &e.port.to_string()])
            .args(ssh_options("sshfs", &[&e.key], &[&e.known_hosts])?)
            .arg("--")
            .arg(format!("{user}@{}:{path}", bracketed(&e.host)))
            .arg(mount_point);
        Ok(cmd)
    }
}

impl Manager {
    /// `scp` copying `from` to `to` (between here and a machine, or between two machines
    /// through here), or with [`CopyOptions::delta`] `rsync` over ssh (between here and one
    /// machine). Each machine's host is checked first, as for [`Machine::ssh_command`].
    pub async fn copy_command(
        &self,
        from: &CopyPath,
        to: &CopyPath,
        opts: &CopyOptions,
    ) -> Result<Command> {
        let mut remotes = Vec::new();
        for side in [from, to] {
            if let CopyPath::Machine { machine, .. } = side {
                remotes.push(self.load(machine).await?.endpoint().await?);
            }
        }
        let first = remotes.first().ok_or(ToolError::NoMachine)?;
        if opts.delta && remotes.len() > 1 {
            return Err(ToolError::DeltaBetweenMachines.into());
        }
        let mut ends = remotes.iter();
        let mut uri = |side: &CopyPath, rsync: bool| -> Result<String> {
            Ok(match side {
                CopyPath::Local(p) => p.clone(),
                CopyPath::Machine { path, user, .. } => {
                    let e = ends.next().expect("an endpoint for every machine");
                    let user = plain_user(user.as_deref().unwrap_or(&e.user))?;
                    let host = bracketed(&e.host);
                    if rsync {
                        format!("{user}@{host}:{path}")
                    } else {
                        // scp's URI form: the path after the first slash is relative to the
                        // home folder, so an absolute path keeps its own slash (`//var/log`)
                        let path = path.strip_prefix("~/").unwrap_or(path);
                        format!("scp://{user}@{host}:{}/{path}", e.port)
                    }
                }
            })
        };
        // every key, every recorded host key, for both ends
        let keys: Vec<&Path> = remotes.iter().map(|r| r.key.as_path()).collect();
        let known: Vec<&Path> = remotes.iter().map(|r| r.known_hosts.as_path()).collect();
        if opts.delta {
            let words = ssh_options("rsync", &keys, &known)?;
            let words: Vec<String> = words.iter().map(|w| rsync_word(w)).collect();
            let mut cmd = Command::new("rsync");
            cmd.arg("-e")
                .arg(format!("ssh -p {} {}", first.port, words.join(" ")))
                .arg(if opts.recursive { "-avz" } else { "-vz" });
            if opts.quiet {
                cmd.arg("-q");
            }
            // -s: the remote path reaches the remote rsync as it is, not through a shell there
            let (f, t) = (uri(from, true)?, uri(to, true)?);
            cmd.args(["-s", "--"]).arg(f).arg(t);
            return Ok(cmd);
        }
        let mut cmd = Command::new("scp");
        cmd.args(ssh_options("scp", &keys, &known)?);
        if remotes.len() > 1 {
            cmd.arg("-3");
        }
        if opts.recursive {
            cmd.arg("-r");
        }
        if opts.quiet {
            cmd.arg("-q");
        }
        let (f, t) = (uri(from, false)?, uri(to, false)?);
        cmd.arg("--").arg(f).arg(t);
        Ok(cmd)
    }
}

/// `user`, if it is a plain user name (see [`ToolError::User`]).
fn plain_user(user: &str) -> Result<&str, ToolError> {
    let plain = !user.is_empty()
        && !user.starts_with('-')
        && user
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    if plain {
        Ok(user)
    } else {
        Err(ToolError::User {
            user: user.to_string(),
        })
    }
}

/// A path as an ssh option's value: in double quotes (spaces are fine), `%` doubled (ssh
/// expands `%` tokens in key and known_hosts paths). A path with a `"` or a control character
/// cannot be written; for rsync (whose `-e` command is split at spaces and quotes) neither can
/// one with a `'`.
fn ssh_path(tool: &'static str, path: &Path) -> Result<String, ToolError> {
    let p = path.display().to_string();
    if p.contains('"') || p.chars().any(char::is_control) || (tool == "rsync" && p.contains('\'')) {
        return Err(ToolError::Path {
            tool,
            path: path.to_path_buf(),
        });
    }
    Ok(format!("\"{}\"", p.replace('%', "%%")))
}

/// `-o` options that make the system ssh (as run by `tool`) check the host key against the
/// known_hosts files `known_hosts` only (never a global one; unknown or changed keys refused,
/// none added) and log in with exactly the machine keys `keys`.
fn ssh_options(
    tool: &'static str,
    keys: &[&Path],
    known_hosts: &[&Path],
) -> Result<Vec<String>, ToolError> {
    let known: Vec<String> = known_hosts
        .iter()
        .map(|p| ssh_path(tool, p))
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
        opts.push(format!("IdentityFile={}", ssh_path(tool, key)?));
    }
    Ok(opts
        .into_iter()
        .flat_map(|o| ["-o".to_string(), o])
        .collect())
}

/// A word of rsync's `-e` command: rsync splits it at spaces and takes single or double quotes,
/// but no backslashes. The words are ssh options whose paths [`ssh_path`] let through for
/// rsync, so they hold no `'`.
fn rsync_word(w: &str) -> String {
    if w.contains([' ', '"']) {
        format!("'{w}'")
    } else {
        w.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_system_ssh_trusts_only_the_recorded_key() {
        let key = Path::new("/s/machines/a/id_ed25519");
        let known = Path::new("/s/machines/a/known_hosts");
        let opts = ssh_options("ssh", &[key], &[known]).unwrap();
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
    fn only_plain_user_names_reach_the_tools() {
        for ok in ["nick", "root", "ec2-user", "a.b_c"] {
            assert_eq!(plain_user(ok), Ok(ok));
        }
        for bad in [
            "",
            "-oProxyCommand=x",
            "-l",
            "a b",
            "a@b",
            "a:b",
            "a/b",
            "$(x)",
            "é",
        ] {
            assert_eq!(
                plain_user(bad),
                Err(ToolError::User { user: bad.into() }),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn paths_with_spaces_quotes_and_percents_reach_ssh_intact() {
        assert_eq!(
            ssh_path("ssh", Path::new("/tmp/my store/100%/it's")).unwrap(),
            "\"/tmp/my store/100%%/it's\""
        );
        assert_eq!(
            ssh_path("ssh", Path::new("/tmp/a\"b")),
            Err(ToolError::Path {
                tool: "ssh",
                path: "/tmp/a\"b".into()
            })
        );
        assert!(ssh_path("rsync", Path::new("/tmp/it's")).is_err());
        assert_eq!(rsync_word("-o"), "-o");
        assert_eq!(rsync_word("A=\"/a b\""), "'A=\"/a b\"'");
    }
}
