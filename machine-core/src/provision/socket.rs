//! The SSH transport's daemon set-up: Docker keeps listening on its local socket only, as it
//! runs (never restarted, its configuration untouched), and the login user gets access to the
//! socket, through which the workstation reaches the daemon over SSH.
//!
//! A host that carries the TLS transport's configuration from an earlier provisioning (a
//! machine moving from TLS to SSH) loses it first, the way an undo takes it back (`undo.rs`):
//! that is the one case where Docker is restarted, and the TCP port is then checked closed.
//!
//! A new group membership applies to logins made after it: an SSH connection opened before
//! (the one provisioning runs over) keeps the groups it logged in with, so the daemon is
//! reached through a new connection.

use super::undo::take_back_tls;
use super::*;

/// A shell snippet setting `g` to the group of Docker's socket, `docker` when there is no
/// socket yet (Docker just installed, or stopped) or when the socket is root's only.
fn socket_group_snippet() -> String {
    format!(
        "g=$(stat -c %G {sock} 2>/dev/null); case \"$g\" in ''|root|UNKNOWN) g=docker;; esac",
        sock = engine::DOCKER_SOCKET
    )
}

/// A shell condition: user `$u` is in group `$g` (by the group database, not by a session's
/// groups).
const U_IN_G: &str = "id -Gn \"$u\" 2>/dev/null | tr ' ' '\\n' | grep -qxF \"$g\"";

/// The root script that puts `user` in the socket's group unless they are in it already: prints
/// `added GROUP` or `member GROUP`. `usermod` where there is one, BusyBox's `addgroup` (Alpine)
/// where there is not.
pub(crate) fn grant_script(user: &str) -> String {
    format!(
        "u={user}; {group}; \
         grep -q \"^$g:\" /etc/group || {{ echo \"there is no group $g for Docker's socket\" >&2; exit 1; }}; \
         if {U_IN_G}; then echo \"member $g\"; \
         elif command -v usermod >/dev/null 2>&1; then usermod -aG \"$g\" \"$u\" && echo \"added $g\"; \
         else addgroup \"$u\" \"$g\" && echo \"added $g\"; fi",
        user = crate::shell::quote(user),
        group = socket_group_snippet(),
    )
}

/// The root script that takes `user` out of the socket's group when they are in it (a user no
/// longer in it, or gone, is left alone): prints `removed GROUP` when it did. `gpasswd` where
/// there is one, BusyBox's `deluser USER GROUP` where there is not.
pub(crate) fn revoke_script(user: &str) -> String {
    format!(
        "u={user}; {group}; \
         if {U_IN_G}; then \
           if command -v gpasswd >/dev/null 2>&1; then gpasswd -d \"$u\" \"$g\" >/dev/null; \
           else deluser \"$u\" \"$g\"; fi && echo \"removed $g\"; \
         fi",
        user = crate::shell::quote(user),
        group = socket_group_snippet(),
    )
}

/// The root script removing the TLS transport's files from /etc/docker (no daemon configuration
/// of ours used them: nothing is restarted).
fn tls_files_script() -> String {
    format!(
        "rm -f {} {} {}",
        engine::CA_PATH,
        engine::SERVER_CERT_PATH,
        engine::SERVER_KEY_PATH
    )
}

/// What [`set_up`] did and found.
pub(crate) struct SetUp {
    /// The login user it added to the socket's group.
    pub docker_group_user: Option<String>,
    /// The daemon's version, when it answered right away.
    pub docker_version: Option<String>,
}

/// How the daemon script exits when Docker did not start.
const NOT_STARTED: u32 = 3;

/// The root script that enables Docker at boot and starts it unless it runs (a running daemon
/// is never restarted: `init::enable_and_start_script`), then puts `grant`, when given, in the
/// socket's group ([`grant_script`]), then asks the daemon its version: one round trip for all
/// three. Prints `started`, `added GROUP` or `member GROUP`, and `version=VERSION`; exits
/// with [`NOT_STARTED`] when Docker did not start.
pub(crate) fn daemon_script(init: Init, grant: Option<&str>) -> String {
    let grant = grant
        .map(|u| format!("( {} ) || exit 4; ", grant_script(u)))
        .unwrap_or_default();
    format!(
        "{{ {start}; }} || exit {NOT_STARTED}; {grant}\
         v=$(docker version --format '{{{{.Server.Version}}}}' 2>/dev/null) && echo \"version=$v\"; true",
        start = init::enable_and_start_script(init),
    )
}

/// Sets the daemon up for the SSH transport on a host where Docker is installed. `port` is the
/// TLS transport's, checked closed when its configuration is taken back.
pub(crate) async fn set_up(cx: &Cx<'_>, facts: &Facts, port: u16) -> Result<SetUp, ProvisionError> {
    if facts.tls_config {
        cx.progress(
            Step::ConfigureDocker,
            "Removing the TLS transport's daemon configuration and files (Docker restarts, on its local socket only)...",
        );
        take_back_tls(cx, facts.init, port).await?;
    } else if facts.tls_files {
        cx.progress(
            Step::ConfigureDocker,
            "Removing the TLS transport's files from /etc/docker...",
        );
        cx.sudo("removing the TLS files", &tls_files_script())
            .await?;
    }

    cx.progress(
        Step::ConfigureDocker,
        "Checking Docker runs (a running daemon is left as it is)...",
    );
    // root needs no group; a member found by the probe is not asked again
    let grant = (!facts.root && !facts.in_socket_group()).then_some(facts.user.as_str());
    if let Some(user) = grant {
        cx.progress(
            Step::ConfigureDocker,
            &format!("Giving {user} access to Docker's socket..."),
        );
    }
    let script = daemon_script(facts.init, grant);
    let command = cx.root_sh(&script);
    let step = "starting docker and giving the login user access to its socket";
    let out = cx.run(step, &command).await?;
    if out.status == NOT_STARTED {
        // the daemon's log says why
        let mut failure = out.clone();
        let log = init::daemon_log(cx, facts.init).await;
        if !log.is_empty() {
            failure.stderr = format!("{}\n{log}", out.stderr.trim_end());
        }
        return Err(command_failed("starting docker", &command, &failure));
    }
    if !out.success() {
        return Err(command_failed(
            "adding the login user to the docker group",
            &command,
            &out,
        ));
    }
    let lines: Vec<&str> = out.stdout.lines().map(str::trim).collect();
    if lines.contains(&"started") {
        cx.progress(Step::ConfigureDocker, "Docker was not running: started it");
    }
    let added = lines.iter().any(|l| l.starts_with("added "));
    Ok(SetUp {
        docker_group_user: grant.filter(|_| added).map(str::to_string),
        docker_version: lines
            .iter()
            .find_map(|l| l.strip_prefix("version="))
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .map(str::to_string),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs `script` under `sh` with stand-ins for `id`, `stat`, `usermod`, `gpasswd`,
    /// `addgroup` and `deluser` that log their arguments; `groups` is what `id -Gn` prints,
    /// `with` which of `usermod` and `gpasswd` exist. Returns stdout and the calls.
    fn run(script: &str, groups: &str, socket_group: &str, with: &[&str]) -> (String, String) {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("calls");
        let tool = |name: &str, body: &str| {
            let p = dir.path().join(name);
            std::fs::write(
                &p,
                format!(
                    "#!/bin/sh\necho \"{name} $*\" >> '{}'\n{body}\n",
                    log.display()
                ),
            )
            .unwrap();
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
        };
        tool("id", &format!("echo '{groups}'"));
        tool("stat", &format!("echo '{socket_group}'"));
        // BusyBox's are the fall-backs: always there
        for t in ["addgroup", "deluser"].iter().chain(with) {
            tool(t, "true");
        }
        // the PATH holds the stand-ins and the folder of the real sh, tr and grep only: the
        // host's own usermod or gpasswd must not be found
        let bin = tempfile::tempdir().unwrap();
        for t in ["sh", "tr", "grep", "cat"] {
            let real = String::from_utf8(
                std::process::Command::new("sh")
                    .arg("-c")
                    .arg(format!("command -v {t}"))
                    .output()
                    .unwrap()
                    .stdout,
            )
            .unwrap();
            std::os::unix::fs::symlink(real.trim(), bin.path().join(t)).unwrap();
        }
        // /etc/group of this machine may lack `docker`: the check reads a copy that has it
        let script = script.replace(
            "/etc/group",
            &dir.path().join("group").display().to_string(),
        );
        std::fs::write(
            dir.path().join("group"),
            "root:x:0:\ndocker:x:999:\nops:x:1001:\n",
        )
        .unwrap();
        let out = std::process::Command::new(bin.path().join("sh"))
            .arg("-c")
            .arg(script)
            .env(
                "PATH",
                format!("{}:{}", dir.path().display(), bin.path().display()),
            )
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
        (
            String::from_utf8_lossy(&out.stdout).into_owned(),
            std::fs::read_to_string(&log).unwrap_or_default(),
        )
    }

    #[test]
    fn a_user_outside_the_group_is_added_with_usermod_or_addgroup() {
        let (out, calls) = run(&grant_script("nick"), "nick sudo", "docker", &["usermod"]);
        assert_eq!(out.trim(), "added docker");
        assert!(calls.contains("usermod -aG docker nick\n"), "{calls}");
        // BusyBox: no usermod
        let (out, calls) = run(&grant_script("nick"), "nick", "docker", &[]);
        assert_eq!(out.trim(), "added docker");
        assert!(calls.contains("addgroup nick docker\n"), "{calls}");
        // the socket's own group, when it is not root's
        let (out, calls) = run(&grant_script("nick"), "nick", "ops", &["usermod"]);
        assert_eq!(out.trim(), "added ops");
        assert!(calls.contains("usermod -aG ops nick\n"), "{calls}");
        // no socket yet, or root's: docker
        for g in ["", "root"] {
            let (out, _) = run(&grant_script("nick"), "nick", g, &["usermod"]);
            assert_eq!(out.trim(), "added docker", "{g:?}");
        }
    }

    #[test]
    fn a_member_is_left_alone() {
        let (out, calls) = run(
            &grant_script("nick"),
            "nick sudo docker",
            "docker",
            &["usermod"],
        );
        assert_eq!(out.trim(), "member docker");
        assert!(!calls.contains("usermod"), "{calls}");
        // a group whose name holds another's is no membership
        let (out, _) = run(
            &grant_script("nick"),
            "nick dockers",
            "docker",
            &["usermod"],
        );
        assert_eq!(out.trim(), "added docker");
    }

    #[test]
    fn revoking_removes_a_member_only() {
        let (out, calls) = run(
            &revoke_script("nick"),
            "nick docker",
            "docker",
            &["gpasswd"],
        );
        assert_eq!(out.trim(), "removed docker");
        assert!(calls.contains("gpasswd -d nick docker\n"), "{calls}");
        let (out, calls) = run(&revoke_script("nick"), "nick docker", "docker", &[]);
        assert_eq!(out.trim(), "removed docker");
        assert!(calls.contains("deluser nick docker\n"), "{calls}");
        let (out, calls) = run(&revoke_script("nick"), "nick sudo", "docker", &["gpasswd"]);
        assert_eq!(out.trim(), "");
        assert!(!calls.contains("gpasswd"), "{calls}");
    }

    #[test]
    fn the_user_name_is_quoted() {
        let s = grant_script("x; rm -rf /");
        assert!(s.starts_with("u='x; rm -rf /'; "), "{s}");
        let s = revoke_script("a'b");
        assert!(s.starts_with("u='a'\\''b'; "), "{s}");
    }
}
