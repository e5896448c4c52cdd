//! Provisioning: turn a host reached over SSH into a Docker host, reached by one of two
//! transports ([`DaemonSetup`]).
//!
//! [`provision`] checks passwordless sudo, reads `/etc/os-release`, picks the provisioner of the
//! OS family (by `ID`, then `ID_LIKE`), sets the hostname and installs Docker when `dockerd` is
//! missing (by install script or distribution packages, at a pinned version when asked). Then,
//! by transport:
//!
//! - TLS: copies the certificates to `/etc/docker`, configures the daemon to listen on the
//!   engine's TCP port with them for its init system (a systemd drop-in, OpenRC's
//!   `/etc/conf.d/docker` or sysvinit's `/etc/default/docker`), restarts it and waits until it
//!   answers. Provisioning a provisioned host rewrites the configuration and restarts Docker.
//! - SSH (`socket.rs`): no port, no certificates, no configuration of the daemon; a running
//!   daemon is never restarted, a stopped one is started. The login user (unless root) is put in
//!   the group of Docker's socket when not in it yet, and the report names them
//!   ([`ProvisionReport::docker_group_user`]) so that an undo takes back only what it gave. A
//!   host that carries the TLS transport's configuration (a machine moving from TLS to SSH)
//!   loses it first, as [`unprovision`] takes it back: Docker is restarted then, and its TCP
//!   port checked closed. On a host that runs Docker this is four round trips over the one
//!   session: the probe, os-release, then the hostname and one root command at once (start
//!   unless running, the group, the daemon's version).
//!
//! [`upgrade`] reinstalls Docker the way the machine was created (method, URL, version) and
//! then does the same. [`unprovision`] takes back what either transport left.
//!
//! Everything goes through [`Remote`], so this module knows nothing of SSH: the SSH session
//! implements it (see `ssh_remote.rs`), the tests use a scripted fake or `docker exec`.
//!
//! The steps live in files named for what they hold: `facts.rs` (what the host has, in one round
//! trip), `family.rs` (which provisioner an os-release picks), `cx.rs` (running commands as root,
//! package-manager locks, streamed output), `install.rs` (installing Docker), `init.rs` (the
//! daemon's configuration per init system), `socket.rs` (the SSH transport's set-up), `undo.rs`
//! (taking back what either transport left), `error.rs`; this file runs them in order.
//!
//! Families: Debian and Ubuntu (`debian.rs`), CentOS/RHEL/Rocky/Alma/Oracle (`redhat.rs`),
//! Fedora (`fedora.rs`), openSUSE/SLES (`suse.rs`), Arch (`arch.rs`), Alpine (`alpine.rs`), and a
//! generic fallback for an unknown OS that already has Docker (`generic.rs`).

mod alpine;
mod arch;
mod cx;
mod debian;
mod error;
mod facts;
mod family;
mod fedora;
mod generic;
mod init;
mod install;
pub mod os_release;
mod redhat;
mod remote;
mod socket;
mod ssh_remote;
mod suse;
mod undo;

#[cfg(test)]
pub(crate) mod fake;

use std::collections::BTreeMap;
use std::time::Duration;

use crate::engine::{self, EngineOptionError, EngineOptions, InstallMethod};
use crate::events::{Level, Step};

pub use crate::ssh::Output;
pub(crate) use cx::{Cx, Tuning, ROOT_PATH};
pub(crate) use error::command_failed;
pub use error::ProvisionError;
pub(crate) use facts::{parse_probe, probe_command, Facts};
pub(crate) use family::supported_ids;
pub use family::Family;
pub use init::Init;
pub(crate) use install::{find_dockerd, install_docker, match_version, version_unavailable};
pub use os_release::OsRelease;
pub use remote::Remote;
pub use undo::{unprovision, Unprovision};

/// What to provision.
pub struct ProvisionRequest<'a> {
    /// The machine's name, also set as the host's hostname.
    pub machine_name: &'a str,
    /// The driver's name, the daemon's `provider=DRIVER` label.
    pub driver_name: &'a str,
    /// How to install and configure the Docker daemon.
    pub engine: &'a EngineOptions,
    /// How the daemon will be reached: what is set up for it.
    pub daemon: DaemonSetup<'a>,
    /// Told what is being done ("Installing Docker...") and, at [`Level::Output`], each line
    /// the Docker install prints, as it prints it.
    pub progress: &'a (dyn Fn(Step, Level, &str) + Send + Sync),
}

/// How the daemon will be reached, and so what provisioning sets up for it.
#[derive(Clone, Copy)]
pub enum DaemonSetup<'a> {
    /// Over TCP with mutual TLS: the certificates are copied to /etc/docker, the daemon is
    /// configured to listen on the engine's port with them, and restarted.
    Tls {
        /// Copied to /etc/docker/ca.pem.
        ca_pem: &'a str,
        /// Copied to /etc/docker/server.pem.
        server_cert_pem: &'a str,
        /// Copied to /etc/docker/server-key.pem, mode 0600.
        server_key_pem: &'a str,
    },
    /// Through its local socket over SSH: no listener, no certificates, the daemon left as it
    /// runs; the login user gets access to the socket.
    Ssh,
}

/// What provisioning found and left on the host.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ProvisionReport {
    /// The host's `/etc/os-release`.
    pub os: OsRelease,
    /// The running daemon's version, e.g. `20.10.24+dfsg1`.
    pub docker_version: String,
    /// The login user this provisioning added to the `docker` group (SSH transport), if any:
    /// what an undo takes back.
    pub docker_group_user: Option<String>,
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

/// Reinstalls or upgrades Docker by the machine's install method, URL and version, then, for
/// the TLS transport, rewrites the daemon configuration and restarts it; for SSH, sees that the
/// daemon runs and the login user reaches its socket.
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

    let must_install = mode == Mode::Upgrade || facts.tool("dockerd").is_none();
    // the SSH transport on a host that has Docker sets the hostname while it looks at the
    // daemon: they are independent, and each round trip counts there
    let hostname_with_daemon = matches!(req.daemon, DaemonSetup::Ssh) && !must_install;
    if !hostname_with_daemon {
        set_hostname(&cx, &facts, req.machine_name).await?;
    }
    if must_install {
        install_docker(&cx, family, &facts, req.engine, mode == Mode::Upgrade).await?;
    }
    let (docker_group_user, docker_version) = match req.daemon {
        DaemonSetup::Tls {
            ca_pem,
            server_cert_pem,
            server_key_pem,
        } => {
            // the probe already found it unless Docker was just installed; root asks again
            // when the probe's answer is outside the system folders (a login's own ~/bin: not
            // root's daemon)
            let dockerd = match facts.tool("dockerd") {
                Some(path) if !must_install && in_system_folder(path) => path.to_string(),
                _ => find_dockerd(&cx).await?,
            };
            cx.progress(Step::ConfigureDocker, "Copying certificates...");
            let step = "copying certificates to /etc/docker";
            cx.sudo(
                step,
                &format!("mkdir -p {0} && chmod 0755 {0}", engine::CERT_DIR),
            )
            .await?;
            // the three files and the daemon's configuration at once, over one connection
            tokio::try_join!(
                cx.upload(step, engine::CA_PATH, ca_pem.as_bytes(), 0o644),
                cx.upload(
                    step,
                    engine::SERVER_CERT_PATH,
                    server_cert_pem.as_bytes(),
                    0o644
                ),
                cx.upload(
                    step,
                    engine::SERVER_KEY_PATH,
                    server_key_pem.as_bytes(),
                    0o600
                ),
                init::write_configuration(&cx, facts.init, &dockerd, req.engine, req.driver_name),
            )?;
            cx.progress(Step::ConfigureDocker, "Restarting Docker...");
            init::enable_and_restart(&cx, facts.init).await?;
            (None, None)
        }
        DaemonSetup::Ssh => {
            if must_install {
                // Docker was just installed: its dockerd is there
                find_dockerd(&cx).await?;
            }
            let set_up = socket::set_up(&cx, &facts, req.engine.port);
            let done = if hostname_with_daemon {
                tokio::try_join!(set_hostname(&cx, &facts, req.machine_name), set_up)?.1
            } else {
                set_up.await?
            };
            (done.docker_group_user, done.docker_version)
        }
    };
    let docker_version = match docker_version {
        Some(v) => v,
        None => {
            cx.progress(Step::WaitForDocker, "Waiting for the Docker daemon...");
            init::wait_for_daemon(&cx, facts.init).await?
        }
    };
    Ok(ProvisionReport {
        os: cx.os,
        docker_version,
        docker_group_user,
    })
}

/// `path` is a file directly in one of the folders of root's PATH.
fn in_system_folder(path: &str) -> bool {
    path.rsplit_once('/')
        .is_some_and(|(dir, file)| !file.is_empty() && ROOT_PATH.split(':').any(|d| d == dir))
}

/// Sets the hostname (`/etc/hostname` and the kernel's) and maps it to 127.0.1.1 in /etc/hosts so
/// that sudo can resolve it, in one root command. Not through hostnamectl: it does the same by way
/// of systemd-hostnamed, whose start-up costs more than the rest of the step.
async fn set_hostname(cx: &Cx<'_>, facts: &Facts, name: &str) -> Result<(), ProvisionError> {
    cx.progress(
        Step::Provision,
        &format!("Setting the hostname to {name}..."),
    );
    let q = crate::shell::quote(name);
    // `hostname` is missing from minimal images (Fedora's): then the kernel's file
    let set = if facts.hostname != name {
        format!(
            "printf '%s\\n' {q} > /etc/hostname && \
             if command -v hostname >/dev/null 2>&1; then hostname {q}; \
             else printf '%s' {q} > /proc/sys/kernel/hostname; fi && "
        )
    } else {
        String::new()
    };
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
    cx.sudo("setting the hostname", &format!("{set}{{ {hosts}; }}"))
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests;
