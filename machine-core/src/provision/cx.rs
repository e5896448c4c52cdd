//! What a provisioning step works with: the host, the progress callback, the host's OS; and
//! how commands run as root there (sudo, package-manager locks, streamed output).

use super::*;

/// Delays of the provisioner (shortened in unit tests).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Tuning {
    /// Between two checks of the daemon.
    pub poll: Duration,
    /// How long the daemon may take to answer after a restart.
    pub daemon_timeout: Duration,
    /// Before retrying a package manager that another process holds locked.
    pub lock_retry_delay: Duration,
    /// How many times to retry on lock contention.
    pub lock_retries: u32,
}

impl Default for Tuning {
    fn default() -> Self {
        Tuning {
            poll: Duration::from_millis(100),
            daemon_timeout: Duration::from_secs(90),
            lock_retry_delay: Duration::from_secs(2),
            // three minutes: unattended-upgrades on a fresh cloud host can take that long
            lock_retries: 90,
        }
    }
}

/// The PATH root commands run with: Debian's login users have no sbin in theirs, and sudo's
/// secure_path is not everywhere.
pub(crate) const ROOT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// A shell command that runs `script` as root: through `sudo -n`, or directly when the login
/// user is root (which may have no sudo at all).
pub(crate) fn root_sh(script: &str, login_is_root: bool) -> String {
    let script = crate::shell::quote(&format!("PATH={ROOT_PATH}:$PATH; export PATH; {script}"));
    if login_is_root {
        format!("sh -c {script}")
    } else {
        format!("sudo -n sh -c {script}")
    }
}

/// What the provisioner works with: the host, the progress callback, the host's OS.
pub(crate) struct Cx<'a> {
    pub remote: &'a dyn Remote,
    pub progress: &'a (dyn Fn(Step, Level, &str) + Send + Sync),
    pub os: OsRelease,
    pub tuning: Tuning,
    /// The login user is root: no sudo needed.
    pub login_is_root: bool,
}

impl Cx<'_> {
    /// A shell command that runs `script` as root.
    pub fn root_sh(&self, script: &str) -> String {
        root_sh(script, self.login_is_root)
    }

    /// Runs `command`; a non-zero status is not an error here.
    pub async fn run(&self, step: &str, command: &str) -> Result<Output, ProvisionError> {
        tracing::debug!(step, command, "remote command");
        let out = self
            .remote
            .run(command)
            .await
            .map_err(|e| e.in_step(step))?;
        tracing::trace!(step, status = out.status, stdout = %out.stdout, stderr = %out.stderr, "remote command done");
        Ok(out)
    }

    /// Runs `command` and fails unless it exits with 0.
    pub async fn check(&self, step: &str, command: &str) -> Result<Output, ProvisionError> {
        let out = self.run(step, command).await?;
        if out.success() {
            Ok(out)
        } else {
            Err(command_failed(step, command, &out))
        }
    }

    /// Runs `script` as root and fails unless it exits with 0.
    pub async fn sudo(&self, step: &str, script: &str) -> Result<Output, ProvisionError> {
        self.check(step, &self.root_sh(script)).await
    }

    /// Installs plain `packages` with `install_command` (the package manager's install command,
    /// to which the package names are appended), retrying while the package database is locked.
    pub async fn install_packages(
        &self,
        install_command: &str,
        packages: &[&str],
        lock_markers: &[&str],
    ) -> Result<(), ProvisionError> {
        let names = packages.join(" ");
        self.sudo_locked(
            &format!("installing {names}"),
            &format!("{install_command} {names}"),
            lock_markers,
        )
        .await
        .map(|_| ())
    }

    /// Runs `script` as root, retrying while another process holds the package manager's lock.
    pub async fn sudo_locked(
        &self,
        step: &str,
        script: &str,
        lock_markers: &[&str],
    ) -> Result<Output, ProvisionError> {
        let command = self.root_sh(script);
        let mut attempt = 0;
        loop {
            let out = self
                .run_streaming(step, Step::InstallDocker, &command)
                .await?;
            if out.success() {
                return Ok(out);
            }
            let locked = lock_markers
                .iter()
                .any(|m| out.stderr.contains(m) || out.stdout.contains(m));
            if !locked || attempt >= self.tuning.lock_retries {
                return Err(command_failed(step, &command, &out));
            }
            attempt += 1;
            self.progress(
                Step::InstallDocker,
                &format!("Waiting for another package manager to finish (attempt {attempt})..."),
            );
            tokio::time::sleep(self.tuning.lock_retry_delay).await;
        }
    }

    /// Writes a root-owned file.
    pub async fn upload(
        &self,
        step: &str,
        path: &str,
        contents: &[u8],
        mode: u32,
    ) -> Result<(), ProvisionError> {
        tracing::debug!(step, path, mode, "remote upload");
        self.remote
            .upload(path, contents, mode, !self.login_is_root)
            .await
            .map_err(|e| e.in_step(step))
    }

    /// Reports what is being done.
    pub fn progress(&self, step: Step, message: &str) {
        (self.progress)(step, Level::Info, message)
    }

    /// Runs `script` as root, streaming its output as [`Level::Output`] events of `step`;
    /// fails unless it exits with 0.
    pub async fn sudo_streaming(
        &self,
        what: &str,
        step: Step,
        script: &str,
    ) -> Result<Output, ProvisionError> {
        let command = self.root_sh(script);
        let out = self.run_streaming(what, step, &command).await?;
        if out.success() {
            Ok(out)
        } else {
            Err(command_failed(what, &command, &out))
        }
    }

    async fn run_streaming(
        &self,
        what: &str,
        step: Step,
        command: &str,
    ) -> Result<Output, ProvisionError> {
        tracing::debug!(step = what, command, "remote command (streamed)");
        let on_line = |line: &str| (self.progress)(step.clone(), Level::Output, line);
        self.remote
            .run_streaming(command, &on_line)
            .await
            .map_err(|e| e.in_step(what))
    }
}
