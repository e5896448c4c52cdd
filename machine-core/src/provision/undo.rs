//! Taking back what provisioning put on a host that outlives its machine (the generic driver's
//! existing host), for either transport.
//!
//! The TLS transport's: the daemon's configuration (the systemd drop-in, or OpenRC's
//! `/etc/conf.d/docker` or sysvinit's `/etc/default/docker` when they carry our header), which
//! opened the TCP listener, and the TLS files in `/etc/docker`. Docker itself stays, restarted
//! on its local socket only. A daemon that still runs with our options is restarted whatever
//! state it is in — running, or still starting (a create killed while Docker restarted leaves
//! the unit `activating`, and a daemon that comes up later would listen with them) — and the
//! port is checked closed on the host before the undo says it is. The same is done when a
//! machine moves from the TLS transport to SSH (`socket.rs`).
//!
//! The SSH transport's: the login user's membership of the socket's group (`docker`), when
//! provisioning added it; the daemon was never touched, so it is not restarted.

use super::*;

/// The shell script, run as root, that removes our daemon configuration and TLS files for
/// `init` and restarts Docker unless it is stopped. OpenRC's and sysvinit's files are removed
/// only when they carry our header: the packages install files of their own at those paths. Under systemd the packaged unit listens on
/// `fd://`, so its socket unit is restarted first (our drop-in ran without it, and the daemon it
/// ran removed the socket's file when it stopped); a unit in
/// any state but `inactive` (active, activating, reloading, deactivating, failed) is stopped,
/// its failure forgotten, and started on its own configuration.
pub(crate) fn undo_script(init: Init) -> String {
    let tls = format!(
        "rm -f {} {} {}",
        engine::CA_PATH,
        engine::SERVER_CERT_PATH,
        engine::SERVER_KEY_PATH
    );
    match init {
        Init::Systemd => format!(
            "rm -f {dropin} && {{ rmdir {dir} 2>/dev/null; true; }} && {tls} && \
             systemctl daemon-reload && \
             if [ \"$(systemctl is-active docker.service)\" != inactive ]; then \
               systemctl stop docker.service && \
               {{ systemctl reset-failed docker.service >/dev/null 2>&1; true; }} && \
               {{ systemctl restart docker.socket >/dev/null 2>&1; true; }} && \
               systemctl start docker.service; \
             fi",
            dropin = engine::SYSTEMD_DROPIN_PATH,
            dir = engine::SYSTEMD_DROPIN_PATH
                .rsplit_once('/')
                .map(|(d, _)| d)
                .unwrap_or_default(),
        ),
        Init::OpenRc => format!(
            "{{ if {ours}; then rm -f {conf}; fi; }} && {tls} && \
             if ! rc-service docker status 2>&1 | grep -q stopped; then \
               rc-service docker restart; \
             fi",
            conf = engine::OPENRC_CONF_PATH,
            ours = facts::has_our_header(engine::OPENRC_CONF_PATH),
        ),
        Init::SysVinit => format!(
            "{{ if {ours}; then rm -f {conf}; fi; }} && {tls} && \
             if service docker status >/dev/null 2>&1; then service docker restart; fi",
            conf = engine::SYSVINIT_DEFAULT_PATH,
            ours = facts::has_our_header(engine::SYSVINIT_DEFAULT_PATH),
        ),
    }
}

/// A shell script that prints how many sockets listen on TCP `port` (IPv4 and IPv6), read from
/// the kernel's tables: no `ss` or `netstat` needed.
pub(crate) fn listeners_script(port: u16) -> String {
    format!(
        "files=; for f in /proc/net/tcp /proc/net/tcp6; do [ -r \"$f\" ] && files=\"$files $f\"; done; \
         [ -n \"$files\" ] || {{ echo 'cannot read /proc/net/tcp' >&2; exit 1; }}; \
         awk '$4 == \"0A\" && $2 ~ /:{port:04X}$/ {{ n++ }} END {{ print n + 0 }}' $files"
    )
}

/// What an undo takes back.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Unprovision {
    /// The TLS transport's daemon configuration and files, and the TCP port that must be found
    /// closed afterwards.
    pub tls_port: Option<u16>,
    /// The login user provisioning added to the `docker` group (the SSH transport's access).
    pub docker_group_user: Option<String>,
}

/// Takes back what `what` names, over one session: the TLS transport's daemon configuration
/// and files (Docker restarted on its local socket, and its TCP port checked closed), and the
/// login user's membership of the socket's group. What is already gone is not an error (a user
/// no longer in the group, or no longer on the host); a port still open is
/// ([`ProvisionError::PortStillOpen`]).
pub async fn unprovision(
    remote: &dyn Remote,
    what: &Unprovision,
    progress: &(dyn Fn(Step, Level, &str) + Send + Sync),
) -> Result<(), ProvisionError> {
    if what.tls_port.is_none() && what.docker_group_user.is_none() {
        return Ok(());
    }
    let step = "checking the host";
    let probe = probe_command();
    let out = remote.run(&probe).await.map_err(|e| e.in_step(step))?;
    if !out.success() {
        return Err(command_failed(step, &probe, &out));
    }
    let facts = parse_probe(&out.stdout);
    let cx = Cx {
        remote,
        progress,
        os: OsRelease::default(),
        tuning: Tuning::default(),
        login_is_root: facts.root,
    };
    // the group first: it does not depend on the daemon, and a port still open must not keep
    // the membership
    let group = match &what.docker_group_user {
        Some(user) => revoke_socket_access(&cx, user).await,
        None => Ok(()),
    };
    let tls = match what.tls_port {
        Some(port) => {
            cx.progress(
                Step::Remove,
                "Closing the Docker daemon's TCP port and removing its TLS files (Docker stays, on its local socket)...",
            );
            take_back_tls(&cx, facts.init, port).await.map(|()| {
                cx.progress(
                    Step::Remove,
                    &format!(
                        "Docker's TCP port {port} is closed; Docker runs on its local socket only"
                    ),
                )
            })
        }
        None => Ok(()),
    };
    group.and(tls)
}

/// Removes the TLS transport's daemon configuration and files, restarts Docker on its local
/// socket (unless it is stopped), and checks that nothing listens on `port` any more.
pub(crate) async fn take_back_tls(
    cx: &Cx<'_>,
    init: Init,
    port: u16,
) -> Result<(), ProvisionError> {
    cx.sudo(
        "removing the daemon's TCP listener and TLS files",
        &undo_script(init),
    )
    .await?;
    let step = "checking the daemon's TCP port is closed";
    let out = cx.sudo(step, &listeners_script(port)).await?;
    let listeners = out
        .stdout
        .trim()
        .parse::<u32>()
        .map_err(|_| command_failed(step, &listeners_script(port), &out))?;
    if listeners > 0 {
        return Err(ProvisionError::PortStillOpen { port, listeners });
    }
    Ok(())
}

/// Takes `user` out of the socket's group, where provisioning put them.
async fn revoke_socket_access(cx: &Cx<'_>, user: &str) -> Result<(), ProvisionError> {
    cx.progress(
        Step::Remove,
        &format!("Taking {user}'s access to Docker's socket back..."),
    );
    let out = cx
        .sudo(
            "removing the login user from the docker group",
            &socket::revoke_script(user),
        )
        .await?;
    if let Some(group) = out.stdout.lines().find_map(|l| l.strip_prefix("removed ")) {
        cx.progress(
            Step::Remove,
            &format!("{user} is no longer in the {} group", group.trim()),
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_init_system_loses_our_files_and_restarts() {
        for init in [Init::Systemd, Init::OpenRc, Init::SysVinit] {
            let s = undo_script(init);
            for f in [
                engine::CA_PATH,
                engine::SERVER_CERT_PATH,
                engine::SERVER_KEY_PATH,
            ] {
                assert!(s.contains(f), "{init:?}: {s}");
            }
            assert!(
                s.contains("restart") || s.contains("systemctl start docker.service"),
                "{init:?}: {s}"
            );
        }
        let s = undo_script(Init::Systemd);
        assert!(s.contains(engine::SYSTEMD_DROPIN_PATH) && s.contains("daemon-reload"));
        assert!(s.contains("systemctl restart docker.socket"), "{s}");
        assert!(
            s.contains("rmdir /etc/systemd/system/docker.service.d"),
            "{s}"
        );
        assert!(undo_script(Init::OpenRc).contains(engine::OPENRC_CONF_PATH));
        assert!(undo_script(Init::SysVinit).contains(engine::SYSVINIT_DEFAULT_PATH));
    }

    #[test]
    fn a_systemd_unit_in_any_state_but_inactive_is_restarted_on_its_own_configuration() {
        let s = undo_script(Init::Systemd);
        // not only `active`: a unit still `activating` with our options comes up listening
        assert!(
            s.contains("\"$(systemctl is-active docker.service)\" != inactive"),
            "{s}"
        );
        assert!(!s.contains("is-active --quiet"), "{s}");
        assert!(s.contains("systemctl reset-failed docker.service"), "{s}");
    }

    /// The count the script prints on this machine, for `port`.
    fn listeners_here(port: u16) -> u32 {
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(listeners_script(port))
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
        String::from_utf8_lossy(&out.stdout).trim().parse().unwrap()
    }

    #[test]
    fn the_port_check_counts_listening_sockets_of_the_port_only() {
        let v4 = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = v4.local_addr().unwrap().port();
        // the same port on IPv6, where the host has it
        let v6 = std::net::TcpListener::bind(("::1", port)).ok();
        let expected = 1 + u32::from(v6.is_some());
        assert_eq!(listeners_here(port), expected);
        // a connection to it is no listener
        let _c = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
        assert_eq!(listeners_here(port), expected);
        drop((v4, v6));
        assert_eq!(listeners_here(port), 0);
    }
}
