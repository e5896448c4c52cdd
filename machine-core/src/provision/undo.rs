//! Taking back what provisioning put on a host that outlives its machine (the generic driver's
//! existing host): the daemon's configuration (the systemd drop-in, OpenRC's
//! `/etc/conf.d/docker` or sysvinit's `/etc/default/docker`), which opened the TCP listener, and
//! the TLS files in `/etc/docker`. Docker itself stays, restarted on its local socket only.

use super::*;

/// The shell script, run as root, that removes our daemon configuration and TLS files for
/// `init` and restarts Docker if it runs. Under systemd the packaged unit listens on
/// `fd://`, so its socket unit is started again first (our drop-in ran without it).
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
             if systemctl is-active --quiet docker.service; then \
               systemctl stop docker.service && \
               {{ systemctl start docker.socket >/dev/null 2>&1; true; }} && \
               systemctl start docker.service; \
             fi",
            dropin = engine::SYSTEMD_DROPIN_PATH,
            dir = engine::SYSTEMD_DROPIN_PATH
                .rsplit_once('/')
                .map(|(d, _)| d)
                .unwrap_or_default(),
        ),
        Init::OpenRc => format!(
            "rm -f {conf} && {tls} && \
             if rc-service docker status >/dev/null 2>&1; then rc-service docker restart; fi",
            conf = engine::OPENRC_CONF_PATH
        ),
        Init::SysVinit => format!(
            "rm -f {conf} && {tls} && \
             if service docker status >/dev/null 2>&1; then service docker restart; fi",
            conf = engine::SYSVINIT_DEFAULT_PATH
        ),
    }
}

/// Removes the daemon configuration and TLS files provisioning wrote, and restarts Docker on
/// its local socket. What is already gone is not an error.
pub async fn unprovision(
    remote: &dyn Remote,
    progress: &(dyn Fn(Step, Level, &str) + Send + Sync),
) -> Result<(), ProvisionError> {
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
    cx.progress(
        Step::Remove,
        "Closing the Docker daemon's TCP port and removing its TLS files (Docker stays, on its local socket)...",
    );
    cx.sudo(
        "removing the daemon's TCP listener and TLS files",
        &undo_script(facts.init),
    )
    .await?;
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
        assert!(s.contains("systemctl start docker.socket"), "{s}");
        assert!(
            s.contains("rmdir /etc/systemd/system/docker.service.d"),
            "{s}"
        );
        assert!(undo_script(Init::OpenRc).contains(engine::OPENRC_CONF_PATH));
        assert!(undo_script(Init::SysVinit).contains(engine::SYSVINIT_DEFAULT_PATH));
    }
}
