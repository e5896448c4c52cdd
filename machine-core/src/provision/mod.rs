//! Provisioning: turn a host reached over SSH into a Docker host that answers over mutual TLS.
//!
//! [`provision`] checks passwordless sudo, reads `/etc/os-release`, picks the provisioner of the
//! OS family (by `ID`, then `ID_LIKE`), sets the hostname, installs Docker when `dockerd` is
//! missing (by install script or distribution packages, at a pinned version when asked), copies
//! the certificates to `/etc/docker`, configures the daemon for its init system (a systemd
//! drop-in, OpenRC's `/etc/conf.d/docker` or sysvinit's `/etc/default/docker`), restarts it and
//! waits until it answers. It is idempotent: provisioning a provisioned host rewrites the
//! configuration and restarts Docker. [`upgrade`] reinstalls Docker the way the machine was
//! created (method, URL, version) and then does the same.
//!
//! Everything goes through [`Remote`], so this module knows nothing of SSH: the SSH session
//! implements it (see `ssh_remote.rs`), the tests use a scripted fake or `docker exec`.
//!
//! Families: Debian and Ubuntu (`debian.rs`), CentOS/RHEL/Rocky/Alma/Oracle (`redhat.rs`),
//! Fedora (`fedora.rs`), openSUSE/SLES (`suse.rs`), Arch (`arch.rs`), Alpine (`alpine.rs`), and a
//! generic fallback for an unknown OS that already has Docker (`generic.rs`).

mod alpine;
mod arch;
mod debian;
mod fedora;
mod generic;
mod init;
pub mod os_release;
mod redhat;
mod remote;
mod ssh_remote;
mod suse;

#[cfg(test)]
pub(crate) mod fake;

use std::collections::BTreeMap;
use std::time::Duration;

use crate::engine::{self, EngineOptionError, EngineOptions, InstallMethod};
use crate::events::{Level, Step};

pub use crate::ssh::Output;
pub use init::Init;
pub use os_release::OsRelease;
pub use remote::Remote;

/// What can go wrong while provisioning. Every variant names the step and, for a failed remote
/// command, the tail of what it printed.
#[derive(Debug, thiserror::Error)]
pub enum ProvisionError {
    /// The command could not be run at all (the connection failed). `step` is filled in by the
    /// provisioner; a [`Remote`] leaves it `None`.
    #[error("{}{message}", step.as_deref().map(|s| format!("{s}: ")).unwrap_or_default())]
    Transport {
        /// The provisioning step, once known.
        step: Option<String>,
        /// What went wrong with the connection.
        message: String,
    },
    /// A remote command exited with a non-zero status.
    #[error(
        "{step} failed: `{}` exited with status {status}{}",
        short_command(command),
        output_tail(output)
    )]
    Command {
        /// The provisioning step.
        step: String,
        /// The command that failed.
        command: String,
        /// Its exit status.
        status: u32,
        /// The tail of stderr (or of stdout when stderr is empty).
        output: String,
    },
    /// The login user is not root and cannot use sudo without a password.
    #[error("user {user} cannot run sudo without a password on {host}: add `{user} ALL=(ALL) NOPASSWD: ALL` to /etc/sudoers.d/{user}")]
    SudoRequired {
        /// The login user.
        user: String,
        /// The host's address and/or hostname.
        host: String,
    },
    /// The host's OS has no provisioner and no Docker already installed.
    #[error("unsupported operating system {id:?} ({pretty_name}): supported are {supported} (and distributions whose ID_LIKE names one of them); an unknown OS that already runs Docker is configured as it is")]
    UnsupportedOs {
        /// The OS's `ID`.
        id: String,
        /// The OS's `PRETTY_NAME`.
        pretty_name: String,
        /// The supported `ID`s, comma-separated.
        supported: String,
    },
    /// The requested Docker version is not among the distribution's packages.
    #[error("Docker {requested} is not available as package {package} on {os}; available versions: {}", if available.is_empty() { "none".to_string() } else { available.join(", ") })]
    VersionUnavailable {
        /// The version asked for.
        requested: String,
        /// The package that was searched.
        package: String,
        /// The OS's pretty name.
        os: String,
        /// The versions the package manager offers.
        available: Vec<String>,
    },
    /// The machine name is not a valid hostname.
    #[error("cannot use machine name {0:?} as a hostname: use letters, digits, '-' and '.', at most 63 characters between dots")]
    InvalidHostname(String),
    /// An engine option cannot be turned into a daemon configuration.
    #[error(transparent)]
    EngineOption(#[from] EngineOptionError),
    /// A step cannot be done on this host.
    #[error("{step}: {message}")]
    Unsupported {
        /// The provisioning step.
        step: String,
        /// Why it cannot be done and what to do instead.
        message: String,
    },
    /// A step did not finish in time (e.g. the daemon never answered).
    #[error("{step}: timed out after {seconds} s{}", output_tail(detail))]
    Timeout {
        /// The provisioning step.
        step: String,
        /// How many seconds were waited.
        seconds: u64,
        /// The last output and the daemon's log, for diagnosis.
        detail: String,
    },
}

impl ProvisionError {
    /// A connection failure, for [`Remote`] implementations.
    pub fn transport(message: impl Into<String>) -> ProvisionError {
        ProvisionError::Transport {
            step: None,
            message: message.into(),
        }
    }

    fn in_step(self, step: &str) -> ProvisionError {
        match self {
            ProvisionError::Transport {
                step: None,
                message,
            } => ProvisionError::Transport {
                step: Some(step.to_string()),
                message,
            },
            other => other,
        }
    }
}

fn short_command(command: &str) -> String {
    const MAX: usize = 160;
    let one_line = command.split_whitespace().collect::<Vec<_>>().join(" ");
    if one_line.chars().count() > MAX {
        format!("{}...", one_line.chars().take(MAX).collect::<String>())
    } else {
        one_line
    }
}

/// The last lines of a command's output, for error messages.
fn output_tail(output: &str) -> String {
    const LINES: usize = 15;
    let lines: Vec<&str> = output
        .lines()
        .map(str::trim_end)
        .filter(|l| !l.is_empty())
        .collect();
    if lines.is_empty() {
        return String::new();
    }
    let start = lines.len().saturating_sub(LINES);
    format!(":\n  {}", lines[start..].join("\n  "))
}

/// What to provision.
pub struct ProvisionRequest<'a> {
    /// The machine's name, also set as the host's hostname.
    pub machine_name: &'a str,
    /// The driver's name, the daemon's `provider=DRIVER` label.
    pub driver_name: &'a str,
    /// How to install and configure the Docker daemon.
    pub engine: &'a EngineOptions,
    /// Copied to /etc/docker/ca.pem.
    pub ca_pem: &'a str,
    /// Copied to /etc/docker/server.pem.
    pub server_cert_pem: &'a str,
    /// Copied to /etc/docker/server-key.pem, mode 0600.
    pub server_key_pem: &'a str,
    /// Told what is being done ("Installing Docker...") and, at [`Level::Output`], each line
    /// the Docker install prints, as it prints it.
    pub progress: &'a (dyn Fn(Step, Level, &str) + Send + Sync),
}

/// What provisioning found and left on the host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProvisionReport {
    /// The host's `/etc/os-release`.
    pub os: OsRelease,
    /// The running daemon's version, e.g. `20.10.24+dfsg1`.
    pub docker_version: String,
}

/// The OS families with a provisioner.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    /// Debian (and Raspbian).
    Debian,
    /// Ubuntu.
    Ubuntu,
    /// CentOS, RHEL, Rocky, AlmaLinux, Oracle Linux.
    RedHat,
    /// Fedora.
    Fedora,
    /// openSUSE Leap and Tumbleweed, SLES.
    Suse,
    /// Arch Linux.
    Arch,
    /// Alpine Linux.
    Alpine,
    /// An unknown OS that already has Docker: only configured, never installed on.
    Generic,
}

/// The `ID`s with a provisioner, in the order they are shown to users.
const KNOWN_IDS: &[(&str, Family)] = &[
    ("debian", Family::Debian),
    ("raspbian", Family::Debian),
    ("ubuntu", Family::Ubuntu),
    ("centos", Family::RedHat),
    ("rhel", Family::RedHat),
    ("rocky", Family::RedHat),
    ("almalinux", Family::RedHat),
    ("ol", Family::RedHat),
    ("fedora", Family::Fedora),
    ("opensuse-leap", Family::Suse),
    ("opensuse-tumbleweed", Family::Suse),
    ("opensuse", Family::Suse),
    ("sles", Family::Suse),
    ("suse", Family::Suse),
    ("arch", Family::Arch),
    ("alpine", Family::Alpine),
];

impl Family {
    /// The family of `os`: by `ID`, then by each `ID_LIKE` in order; `None` when unknown.
    pub fn of(os: &OsRelease) -> Option<Family> {
        os.ids().find_map(|id| {
            KNOWN_IDS
                .iter()
                .find(|(known, _)| *known == id)
                .map(|(_, f)| *f)
        })
    }

    /// The family's lower-case name, for logs and reports.
    pub fn name(self) -> &'static str {
        match self {
            Family::Debian => "debian",
            Family::Ubuntu => "ubuntu",
            Family::RedHat => "redhat",
            Family::Fedora => "fedora",
            Family::Suse => "suse",
            Family::Arch => "arch",
            Family::Alpine => "alpine",
            Family::Generic => "generic",
        }
    }

    /// Installs Docker from the distribution's packages (or, for the RHEL family, Docker's own
    /// package repository), at `version` when given. `upgrade` asks for the newest (or the pinned)
    /// version even when one is installed.
    async fn install_packages(
        self,
        cx: &Cx<'_>,
        version: Option<&str>,
        upgrade: bool,
    ) -> Result<(), ProvisionError> {
        match self {
            Family::Debian | Family::Ubuntu => debian::install_docker(cx, version, upgrade).await,
            Family::RedHat => redhat::install_docker(cx, version, upgrade).await,
            Family::Fedora => fedora::install_docker(cx, version, upgrade).await,
            Family::Suse => suse::install_docker(cx, version, upgrade).await,
            Family::Arch => arch::install_docker(cx, version, upgrade).await,
            Family::Alpine => alpine::install_docker(cx, version, upgrade).await,
            Family::Generic => Err(generic::cannot_install(cx)),
        }
    }

    /// Installs plain packages (e.g. `curl` for the install script).
    async fn install_tools(self, cx: &Cx<'_>, packages: &[&str]) -> Result<(), ProvisionError> {
        match self {
            Family::Debian | Family::Ubuntu => debian::install(cx, packages).await,
            Family::RedHat | Family::Fedora => redhat::install(cx, packages).await,
            Family::Suse => suse::install(cx, packages).await,
            Family::Arch => arch::install(cx, packages).await,
            Family::Alpine => alpine::install(cx, packages).await,
            Family::Generic => Err(generic::cannot_install(cx)),
        }
    }
}

fn supported_ids() -> String {
    KNOWN_IDS
        .iter()
        .map(|(id, _)| *id)
        .collect::<Vec<_>>()
        .join(", ")
}

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
            poll: Duration::from_millis(500),
            daemon_timeout: Duration::from_secs(90),
            lock_retry_delay: Duration::from_secs(2),
            // three minutes: unattended-upgrades on a fresh cloud host can take that long
            lock_retries: 90,
        }
    }
}

/// The PATH root commands run with: Debian's login users have no sbin in theirs, and sudo's
/// secure_path is not everywhere.
const ROOT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

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

pub(crate) fn command_failed(step: &str, command: &str, out: &Output) -> ProvisionError {
    let output = if out.stderr.trim().is_empty() {
        &out.stdout
    } else {
        &out.stderr
    };
    ProvisionError::Command {
        step: step.to_string(),
        command: command.to_string(),
        status: out.status,
        output: output.clone(),
    }
}

/// Facts about the host gathered in one round trip before anything is changed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Facts {
    pub user: String,
    pub hostname: String,
    /// Passwordless sudo works.
    pub sudo: bool,
    /// The login user is root (uid 0).
    pub root: bool,
    pub init: Init,
    /// Absolute paths of the tools found, by name (dockerd, docker, hostnamectl, curl, wget).
    pub tools: BTreeMap<String, String>,
}

impl Facts {
    pub fn tool(&self, name: &str) -> Option<&str> {
        self.tools
            .get(name)
            .map(|s| s.as_str())
            .filter(|s| !s.is_empty())
    }
}

const PROBED_TOOLS: &[&str] = &["dockerd", "docker", "hostnamectl", "curl", "wget"];

/// The probe: who we are, whether sudo works without a password, the init system and the tools.
pub(crate) fn probe_command() -> String {
    let mut s = format!(
        "PATH=\"$PATH:{ROOT_PATH}\"; export PATH; \
         echo \"user=$(id -un)\"; \
         echo \"hostname=$(cat /proc/sys/kernel/hostname 2>/dev/null || hostname)\"; \
         echo \"uid=$(id -u)\"; \
         if sudo -n true </dev/null >/dev/null 2>&1; then echo sudo=yes; else echo sudo=no; fi; \
         echo \"init={}\"; ",
        init::DETECT_SCRIPT
    );
    for t in PROBED_TOOLS {
        s.push_str(&format!(
            "echo \"tool.{t}=$(command -v {t} 2>/dev/null)\"; "
        ));
    }
    s
}

pub(crate) fn parse_probe(stdout: &str) -> Facts {
    let mut facts = Facts::default();
    for line in stdout.lines() {
        let Some((k, v)) = line.split_once('=') else {
            continue;
        };
        let v = v.trim();
        match k.trim() {
            "user" => facts.user = v.to_string(),
            "hostname" => facts.hostname = v.to_string(),
            "sudo" => facts.sudo = v == "yes",
            "uid" => facts.root = v == "0",
            "init" => facts.init = Init::parse(v),
            k => {
                if let Some(tool) = k.strip_prefix("tool.") {
                    facts.tools.insert(tool.to_string(), v.to_string());
                }
            }
        }
    }
    facts
}

/// Reads the host's `/etc/os-release` (or `/usr/lib/os-release`).
pub async fn detect(remote: &dyn Remote) -> Result<OsRelease, ProvisionError> {
    let step = "reading /etc/os-release";
    let command = "cat /etc/os-release 2>/dev/null || cat /usr/lib/os-release";
    let out = remote.run(command).await.map_err(|e| e.in_step(step))?;
    if !out.success() {
        return Err(command_failed(step, command, &out));
    }
    Ok(OsRelease::parse(&out.stdout))
}

/// Provisions the host: see the module documentation.
pub async fn provision(
    remote: &dyn Remote,
    req: &ProvisionRequest<'_>,
) -> Result<ProvisionReport, ProvisionError> {
    run(remote, req, Mode::Provision, Tuning::default()).await
}

/// Reinstalls or upgrades Docker by the machine's install method, URL and version, then rewrites
/// the daemon configuration and restarts it.
pub async fn upgrade(
    remote: &dyn Remote,
    req: &ProvisionRequest<'_>,
) -> Result<ProvisionReport, ProvisionError> {
    run(remote, req, Mode::Upgrade, Tuning::default()).await
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    Provision,
    Upgrade,
}

pub(crate) async fn run(
    remote: &dyn Remote,
    req: &ProvisionRequest<'_>,
    mode: Mode,
    tuning: Tuning,
) -> Result<ProvisionReport, ProvisionError> {
    if !crate::name::is_valid_name(req.machine_name) {
        return Err(ProvisionError::InvalidHostname(
            req.machine_name.to_string(),
        ));
    }
    // Render the daemon configuration first: a bad option fails before the host is touched.
    engine::dockerd_args(req.engine, req.driver_name)?;
    engine::daemon_env(req.engine)?;

    (req.progress)(Step::Provision, Level::Info, "Checking the host...");
    let step = "checking the host";
    let probe = probe_command();
    let out = remote.run(&probe).await.map_err(|e| e.in_step(step))?;
    if !out.success() {
        return Err(command_failed(step, &probe, &out));
    }
    let facts = parse_probe(&out.stdout);
    if !facts.sudo && !facts.root {
        return Err(ProvisionError::SudoRequired {
            user: if facts.user.is_empty() {
                "(unknown)".into()
            } else {
                facts.user.clone()
            },
            host: match remote.address() {
                Some(a) if !facts.hostname.is_empty() && a != facts.hostname => {
                    format!("{a} ({})", facts.hostname)
                }
                Some(a) => a,
                None => facts.hostname.clone(),
            },
        });
    }

    (req.progress)(
        Step::Provision,
        Level::Info,
        "Detecting the operating system...",
    );
    let os = detect(remote).await?;
    let family = match Family::of(&os) {
        Some(f) => f,
        None if facts.tool("dockerd").is_some() => Family::Generic,
        None => {
            return Err(ProvisionError::UnsupportedOs {
                id: os.id.clone(),
                pretty_name: os.pretty_name.clone(),
                supported: supported_ids(),
            })
        }
    };
    tracing::info!(os = %os.short(), family = family.name(), init = ?facts.init, "provisioning");
    let cx = Cx {
        remote,
        progress: req.progress,
        os,
        tuning,
        login_is_root: facts.root,
    };

    set_hostname(&cx, &facts, req.machine_name).await?;

    let must_install = mode == Mode::Upgrade || facts.tool("dockerd").is_none();
    if must_install {
        install_docker(&cx, family, &facts, req.engine, mode == Mode::Upgrade).await?;
    }
    let dockerd = find_dockerd(&cx).await?;

    cx.progress(Step::ConfigureDocker, "Copying certificates...");
    let step = "copying certificates to /etc/docker";
    cx.sudo(
        step,
        &format!("mkdir -p {0} && chmod 0755 {0}", engine::CERT_DIR),
    )
    .await?;
    cx.upload(step, engine::CA_PATH, req.ca_pem.as_bytes(), 0o644)
        .await?;
    cx.upload(
        step,
        engine::SERVER_CERT_PATH,
        req.server_cert_pem.as_bytes(),
        0o644,
    )
    .await?;
    cx.upload(
        step,
        engine::SERVER_KEY_PATH,
        req.server_key_pem.as_bytes(),
        0o600,
    )
    .await?;

    cx.progress(Step::ConfigureDocker, "Configuring the Docker daemon...");
    init::configure_and_restart(&cx, facts.init, &dockerd, req.engine, req.driver_name).await?;
    cx.progress(Step::WaitForDocker, "Waiting for the Docker daemon...");
    let docker_version = init::wait_for_daemon(&cx, facts.init).await?;
    Ok(ProvisionReport {
        os: cx.os,
        docker_version,
    })
}

/// Sets the hostname (hostnamectl when it works, else /etc/hostname and `hostname`) and maps it
/// to 127.0.1.1 in /etc/hosts so that sudo can resolve it.
async fn set_hostname(cx: &Cx<'_>, facts: &Facts, name: &str) -> Result<(), ProvisionError> {
    cx.progress(
        Step::Provision,
        &format!("Setting the hostname to {name}..."),
    );
    let step = "setting the hostname";
    let q = crate::shell::quote(name);
    if facts.hostname != name {
        let fallback = format!("echo {q} > /etc/hostname && hostname {q}");
        let script = if facts.tool("hostnamectl").is_some() {
            // hostnamectl fails where /etc/hostname cannot be replaced (a bind mount): fall back
            format!("hostnamectl set-hostname {q} 2>/dev/null || {{ {fallback}; }}")
        } else {
            fallback
        };
        cx.sudo(step, &script).await?;
    }
    // /etc/hosts is rewritten in place (not renamed), as it may be a bind mount.
    let hosts = format!(
        "if grep -q '^127\\.0\\.1\\.1[[:space:]]' /etc/hosts; then \
           if ! grep -qE '^127\\.0\\.1\\.1[[:space:]]+{re}([[:space:]]|$)' /etc/hosts; then \
             t=$(mktemp) && sed 's/^127\\.0\\.1\\.1[[:space:]].*/127.0.1.1 {name}/' /etc/hosts > \"$t\" \
             && cat \"$t\" > /etc/hosts; rm -f \"$t\"; \
           fi; \
         else printf '127.0.1.1 %s\\n' {q} >> /etc/hosts; fi",
        re = name.replace('.', "\\."),
    );
    cx.sudo("mapping the hostname in /etc/hosts", &hosts)
        .await?;
    Ok(())
}

async fn install_docker(
    cx: &Cx<'_>,
    family: Family,
    facts: &Facts,
    engine: &EngineOptions,
    upgrade: bool,
) -> Result<(), ProvisionError> {
    let version = engine.version.as_deref().filter(|v| !v.is_empty());
    let what = match version {
        Some(v) => format!("Docker {v}"),
        None => "Docker".to_string(),
    };
    let verb = if upgrade { "Upgrading" } else { "Installing" };
    match &engine.install_method {
        InstallMethod::Packages => {
            cx.progress(
                Step::InstallDocker,
                &format!("{verb} {what} from the {} packages...", cx.os.pretty_name),
            );
            family.install_packages(cx, version, upgrade).await
        }
        InstallMethod::Script { url } => {
            if family == Family::Generic {
                return Err(generic::cannot_install(cx));
            }
            cx.progress(
                Step::InstallDocker,
                &format!("{verb} {what} with the install script {url}..."),
            );
            run_install_script(cx, family, facts, url, version).await
        }
    }
}

/// Downloads the install script with curl (or wget, installing curl when neither is there) and
/// runs it with `sh` as root, with `VERSION` set when a version is pinned.
async fn run_install_script(
    cx: &Cx<'_>,
    family: Family,
    facts: &Facts,
    url: &str,
    version: Option<&str>,
) -> Result<(), ProvisionError> {
    let step = "downloading the install script";
    let fetch = if facts.tool("curl").is_some() {
        "curl -fsSL --retry 3"
    } else if facts.tool("wget").is_some() {
        "wget -q -O -"
    } else {
        cx.progress(Step::InstallDocker, "Installing curl...");
        family
            .install_tools(cx, &["curl", "ca-certificates"])
            .await?;
        "curl -fsSL --retry 3"
    };
    let dir = cx
        .check(step, "mktemp -d /tmp/machine-install.XXXXXX")
        .await?
        .stdout
        .trim()
        .to_string();
    let script_path = format!("{dir}/install.sh");
    cx.check(
        step,
        &format!(
            "{fetch} {} > {}",
            crate::shell::quote(url),
            crate::shell::quote(&script_path)
        ),
    )
    .await?;
    let mut env = String::from("DEBIAN_FRONTEND=noninteractive");
    if let Some(v) = version {
        env.push_str(&format!(" VERSION={}", crate::shell::quote(v)));
    }
    let result = cx
        .sudo_streaming(
            "running the install script",
            Step::InstallDocker,
            &format!("{env} sh {}", crate::shell::quote(&script_path)),
        )
        .await;
    let _ = cx
        .run(step, &format!("rm -rf {}", crate::shell::quote(&dir)))
        .await;
    result.map(|_| ())
}

/// Where the host's `dockerd` is (never assumed: Debian puts it in /usr/sbin).
async fn find_dockerd(cx: &Cx<'_>) -> Result<String, ProvisionError> {
    let step = "finding dockerd";
    let out = cx.run(step, &cx.root_sh("command -v dockerd")).await?;
    let path = out.stdout.trim().to_string();
    if !out.success() || !path.starts_with('/') {
        return Err(ProvisionError::Unsupported {
            step: step.into(),
            message: "Docker was installed but there is no `dockerd` on the host's PATH".into(),
        });
    }
    Ok(path)
}

/// Picks the newest available version matching `requested` (`24.0.7` matches `24.0.7-1`,
/// `5:24.0.7~3-0~debian`, `24.0.7+dfsg1-1+b3`, but not `24.0.70`). `available` is newest first.
pub(crate) fn match_version<'v>(available: &'v [String], requested: &str) -> Option<&'v String> {
    let strip_epoch = |v: &'v str| -> &'v str {
        match v.split_once(':') {
            Some((e, rest)) if e.chars().all(|c| c.is_ascii_digit()) => rest,
            _ => v,
        }
    };
    available.iter().find(|v| {
        let v = v.as_str();
        let bare = strip_epoch(v);
        if v == requested || bare == requested {
            return true;
        }
        match bare.strip_prefix(requested) {
            Some(rest) => rest.starts_with(['-', '+', '~', '_']),
            None => false,
        }
    })
}

pub(crate) fn version_unavailable(
    cx: &Cx<'_>,
    requested: &str,
    package: &str,
    available: Vec<String>,
) -> ProvisionError {
    ProvisionError::VersionUnavailable {
        requested: requested.to_string(),
        package: package.to_string(),
        os: cx.os.pretty_name.clone(),
        available,
    }
}

#[cfg(test)]
mod tests;
