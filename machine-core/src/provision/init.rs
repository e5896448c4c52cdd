//! The init system that runs the daemon: writing its configuration, restarting it, waiting for it.

use tokio::time::Instant;

use super::{command_failed, Cx, ProvisionError};
use crate::engine::{self, EngineOptions};

/// How the host starts services.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Init {
    /// systemd (a drop-in for docker.service).
    #[default]
    Systemd,
    /// OpenRC (Alpine): `/etc/conf.d/docker`.
    OpenRc,
    /// sysvinit: `/etc/default/docker`.
    SysVinit,
}

/// A shell expression printing `systemd`, `openrc` or `sysvinit`.
pub(crate) const DETECT_SCRIPT: &str = "$(if [ -d /run/systemd/system ]; then echo systemd; \
     elif command -v openrc >/dev/null 2>&1 || command -v rc-service >/dev/null 2>&1; then echo openrc; \
     else echo sysvinit; fi)";

impl Init {
    pub(crate) fn parse(s: &str) -> Init {
        match s.trim() {
            "systemd" => Init::Systemd,
            "openrc" => Init::OpenRc,
            _ => Init::SysVinit,
        }
    }
}

/// Writes the daemon's configuration where `init` reads it: a systemd drop-in, OpenRC's
/// `/etc/conf.d/docker` or sysvinit's `/etc/default/docker`.
pub(crate) async fn write_configuration(
    cx: &Cx<'_>,
    init: Init,
    dockerd: &str,
    engine_opts: &EngineOptions,
    driver_name: &str,
) -> Result<(), ProvisionError> {
    let (step, path, contents) = match init {
        // the upload makes the drop-in's folder
        Init::Systemd => (
            "writing the systemd drop-in",
            engine::SYSTEMD_DROPIN_PATH,
            engine::systemd_dropin(dockerd, engine_opts, driver_name)?,
        ),
        Init::OpenRc => (
            "writing /etc/conf.d/docker",
            engine::OPENRC_CONF_PATH,
            engine::openrc_conf(dockerd, engine_opts, driver_name)?,
        ),
        Init::SysVinit => (
            "writing /etc/default/docker",
            engine::SYSVINIT_DEFAULT_PATH,
            engine::sysvinit_default(dockerd, engine_opts, driver_name)?,
        ),
    };
    cx.upload(step, path, contents.as_bytes(), 0o644).await
}

/// Enables the daemon at boot and restarts it, in one root command: systemd reloads its units
/// first (the drop-in is new: without the reload the old unit would start, with no TLS
/// listener), and forgets earlier failed starts, which would refuse this one.
pub(crate) async fn enable_and_restart(cx: &Cx<'_>, init: Init) -> Result<(), ProvisionError> {
    restart(cx, init, enable_and_restart_script(init)).await
}

fn enable_and_restart_script(init: Init) -> &'static str {
    match init {
        // `enable` reloads systemd again: only when it is not enabled yet
        Init::Systemd => {
            "systemctl daemon-reload || { echo 'systemctl daemon-reload failed' >&2; exit 1; }; \
             systemctl is-enabled --quiet docker.service || \
             systemctl enable docker.service >/dev/null 2>&1; \
             systemctl reset-failed docker.service >/dev/null 2>&1; \
             systemctl restart docker.service"
        }
        Init::OpenRc => {
            "{ rc-update add docker default >/dev/null 2>&1 || rc-update -u >/dev/null 2>&1; }; \
             rc-service docker restart"
        }
        Init::SysVinit => {
            "if command -v update-rc.d >/dev/null 2>&1; then update-rc.d docker defaults >/dev/null 2>&1; \
             elif command -v chkconfig >/dev/null 2>&1; then chkconfig docker on >/dev/null 2>&1; fi; \
             if command -v service >/dev/null 2>&1; then service docker restart; else /etc/init.d/docker restart; fi"
        }
    }
}

/// The root script that enables the daemon at boot and starts it unless it already runs: a
/// running daemon is never restarted (the SSH transport leaves it as it is). Prints `started`
/// when it started it.
pub(crate) fn enable_and_start_script(init: Init) -> &'static str {
    match init {
        // `is-active` is false while the unit is still starting: `start` then waits for it
        Init::Systemd => {
            "systemctl is-enabled --quiet docker.service || \
             systemctl enable docker.service >/dev/null 2>&1; \
             if ! systemctl is-active --quiet docker.service; then \
               systemctl reset-failed docker.service >/dev/null 2>&1; \
               systemctl start docker.service && echo started; \
             fi"
        }
        Init::OpenRc => {
            "{ rc-update add docker default >/dev/null 2>&1 || rc-update -u >/dev/null 2>&1; }; \
             if ! rc-service docker status >/dev/null 2>&1; then \
               rc-service docker start && echo started; \
             fi"
        }
        Init::SysVinit => {
            "if command -v update-rc.d >/dev/null 2>&1; then update-rc.d docker defaults >/dev/null 2>&1; \
             elif command -v chkconfig >/dev/null 2>&1; then chkconfig docker on >/dev/null 2>&1; fi; \
             if command -v service >/dev/null 2>&1; then s='service docker'; else s=/etc/init.d/docker; fi; \
             if ! $s status >/dev/null 2>&1; then $s start && echo started; fi"
        }
    }
}

async fn restart(cx: &Cx<'_>, init: Init, script: &str) -> Result<(), ProvisionError> {
    let step = "restarting docker";
    let command = cx.root_sh(script);
    let out = cx.run(step, &command).await?;
    if out.success() {
        return Ok(());
    }
    let mut failure = out.clone();
    let log = daemon_log(cx, init).await;
    if !log.is_empty() {
        failure.stderr = format!("{}\n{log}", out.stderr.trim_end());
    }
    Err(command_failed(step, &command, &failure))
}

/// The tail of the daemon's log, for error messages (empty when there is none).
pub(crate) async fn daemon_log(cx: &Cx<'_>, init: Init) -> String {
    let script = match init {
        Init::Systemd => "journalctl -u docker.service -n 25 --no-pager 2>/dev/null",
        Init::OpenRc | Init::SysVinit => {
            "tail -n 25 /var/log/docker.log 2>/dev/null || tail -n 25 /var/log/docker/docker.log 2>/dev/null"
        }
    };
    match cx.run("reading the docker log", &cx.root_sh(script)).await {
        Ok(out) if !out.stdout.trim().is_empty() => {
            format!("daemon log:\n{}", out.stdout.trim_end())
        }
        _ => String::new(),
    }
}

const VERSION_SCRIPT: &str = "docker version --format '{{.Server.Version}}'";

/// Waits until the daemon answers on its unix socket and returns its version.
pub(crate) async fn wait_for_daemon(cx: &Cx<'_>, init: Init) -> Result<String, ProvisionError> {
    let step = "waiting for the Docker daemon";
    let deadline = Instant::now() + cx.tuning.daemon_timeout;
    let version_cmd = cx.root_sh(VERSION_SCRIPT);
    loop {
        let out = cx.run(step, &version_cmd).await?;
        let version = out.stdout.trim();
        if out.success() && !version.is_empty() {
            return Ok(version.to_string());
        }
        if out.status == 127 {
            // no docker client on the host: trust the service state and ask dockerd itself
            if let Some(v) = dockerd_version_when_active(cx, init).await? {
                return Ok(v);
            }
        }
        if init == Init::Systemd {
            let state = cx
                .run(step, &cx.root_sh("systemctl is-active docker.service"))
                .await?;
            if state.stdout.trim() == "failed" {
                let log = daemon_log(cx, init).await;
                return Err(ProvisionError::Command {
                    step: step.into(),
                    command: "systemctl is-active docker.service".into(),
                    status: state.status,
                    output: format!("docker.service failed\n{log}"),
                });
            }
        }
        if Instant::now() >= deadline {
            let log = daemon_log(cx, init).await;
            return Err(ProvisionError::Timeout {
                step: step.into(),
                seconds: cx.tuning.daemon_timeout.as_secs(),
                detail: format!("{}\n{log}", out.stderr.trim_end()),
            });
        }
        tokio::time::sleep(cx.tuning.poll).await;
    }
}

async fn dockerd_version_when_active(
    cx: &Cx<'_>,
    init: Init,
) -> Result<Option<String>, ProvisionError> {
    let step = "waiting for the Docker daemon";
    let active = match init {
        Init::Systemd => "systemctl is-active --quiet docker.service",
        Init::OpenRc => "rc-service docker status >/dev/null 2>&1",
        Init::SysVinit => "service docker status >/dev/null 2>&1",
    };
    let out = cx
        .run(step, &cx.root_sh(&format!("{active} && dockerd --version")))
        .await?;
    Ok(out
        .success()
        .then(|| parse_dockerd_version(&out.stdout))
        .flatten())
}

/// `Docker version 20.10.24+dfsg1, build 297e128` → `20.10.24+dfsg1`.
pub(crate) fn parse_dockerd_version(text: &str) -> Option<String> {
    let rest = text.trim().strip_prefix("Docker version ")?;
    let v = rest.split([',', ' ']).next()?.trim();
    (!v.is_empty()).then(|| v.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dockerd_version_text() {
        assert_eq!(
            parse_dockerd_version("Docker version 20.10.24+dfsg1, build 297e128\n").as_deref(),
            Some("20.10.24+dfsg1")
        );
        assert_eq!(parse_dockerd_version("nonsense"), None);
    }

    /// Runs the systemd script under `sh` with a stand-in `systemctl` that logs its arguments
    /// and fails for `failing`; returns the exit status, stderr and the calls.
    fn run_systemd_script(failing: &str) -> (i32, String, String) {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("calls");
        let fake = dir.path().join("systemctl");
        std::fs::write(
            &fake,
            format!(
                "#!/bin/sh\necho \"$*\" >> '{}'\ncase \"$1\" in {failing}) exit 1;; esac\n",
                log.display()
            ),
        )
        .unwrap();
        std::fs::set_permissions(&fake, std::fs::Permissions::from_mode(0o755)).unwrap();
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(format!(
                "PATH={}:$PATH; {}",
                dir.path().display(),
                enable_and_restart_script(Init::Systemd)
            ))
            .output()
            .unwrap();
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stderr).into_owned(),
            std::fs::read_to_string(&log).unwrap_or_default(),
        )
    }

    #[test]
    fn systemd_reloads_enables_forgets_failures_then_restarts() {
        let (status, _, calls) = run_systemd_script("none");
        assert_eq!(status, 0);
        assert_eq!(
            calls.lines().collect::<Vec<_>>(),
            [
                "daemon-reload",
                "is-enabled --quiet docker.service",
                "reset-failed docker.service",
                "restart docker.service"
            ]
        );
        // not enabled yet: enabled
        let (status, _, calls) = run_systemd_script("is-enabled");
        assert_eq!(status, 0);
        assert!(calls.contains("enable docker.service\n"), "{calls}");
    }

    #[test]
    fn a_failed_systemd_reload_fails_before_the_restart() {
        // restarting without the reload would start the old unit: no TLS listener, yet a daemon
        let (status, stderr, calls) = run_systemd_script("daemon-reload");
        assert_ne!(status, 0);
        assert!(
            stderr.contains("systemctl daemon-reload failed"),
            "{stderr}"
        );
        assert!(!calls.contains("restart"), "{calls}");
    }

    #[test]
    fn init_names() {
        assert_eq!(Init::parse("systemd\n"), Init::Systemd);
        assert_eq!(Init::parse("openrc"), Init::OpenRc);
        assert_eq!(Init::parse("sysvinit"), Init::SysVinit);
        assert_eq!(Init::parse(""), Init::SysVinit);
    }
}
