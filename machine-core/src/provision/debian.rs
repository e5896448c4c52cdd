//! Debian and Ubuntu (and their derivatives): `docker.io` from the distribution's apt
//! repositories, pinned as `docker.io=FULL-VERSION` with the full version found by
//! `apt-cache madison`.

use super::{match_version, version_unavailable, Cx, ProvisionError};

/// What apt and dpkg print when another process holds their lock (unattended-upgrades on a
/// fresh cloud host, typically).
const LOCK_MARKERS: &[&str] = &[
    "Could not get lock",
    "Unable to acquire the dpkg frontend lock",
    "Unable to lock directory",
    "is another process using it",
];

/// apt-get, non-interactive, waiting up to a minute for the dpkg lock (apt >= 1.9.11; older apt
/// ignores the option and the retry loop takes over).
const APT_GET: &str = "DEBIAN_FRONTEND=noninteractive apt-get -q -o DPkg::Lock::Timeout=60";
/// Keeps configuration files a user or we changed without asking.
const INSTALL_OPTS: &str =
    "-y -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold";

const PACKAGE: &str = "docker.io";

async fn update(cx: &Cx<'_>) -> Result<(), ProvisionError> {
    cx.sudo_locked(
        "updating the apt package lists",
        &format!("{APT_GET} update"),
        LOCK_MARKERS,
    )
    .await
    .map(|_| ())
}

/// Installs plain packages.
pub(super) async fn install(cx: &Cx<'_>, packages: &[&str]) -> Result<(), ProvisionError> {
    update(cx).await?;
    cx.install_packages(
        &format!("{APT_GET} install {INSTALL_OPTS}"),
        packages,
        LOCK_MARKERS,
    )
    .await
}

/// Installs (or upgrades to) `docker.io`, at `version` when given.
pub(super) async fn install_docker(
    cx: &Cx<'_>,
    version: Option<&str>,
    _upgrade: bool,
) -> Result<(), ProvisionError> {
    update(cx).await?;
    let mut args = String::from(INSTALL_OPTS);
    let target = match version {
        None => PACKAGE.to_string(),
        Some(requested) => {
            let available = available_versions(cx).await?;
            let full = match_version(&available, requested)
                .ok_or_else(|| version_unavailable(cx, requested, PACKAGE, available.clone()))?;
            args.push_str(" --allow-downgrades");
            format!("{PACKAGE}={full}")
        }
    };
    // `install` also upgrades an installed package to the newest (or the pinned) version.
    let step = format!("installing {target}");
    let script = format!("{APT_GET} install {args} {target}");
    cx.sudo_locked(&step, &script, LOCK_MARKERS).await?;
    Ok(())
}

/// The versions of docker.io the apt repositories offer, newest first.
async fn available_versions(cx: &Cx<'_>) -> Result<Vec<String>, ProvisionError> {
    let out = cx
        .check(
            "listing the available docker.io versions",
            &format!("apt-cache madison {PACKAGE}"),
        )
        .await?;
    Ok(parse_madison(&out.stdout))
}

/// ` docker.io | 20.10.24+dfsg1-1+b3 | http://deb.debian.org/debian bookworm/main amd64 Packages`
/// lines → versions, first seen first, without duplicates (one per architecture or source).
pub(super) fn parse_madison(text: &str) -> Vec<String> {
    let mut versions: Vec<String> = Vec::new();
    for line in text.lines() {
        let cols: Vec<&str> = line.split('|').map(str::trim).collect();
        if cols.len() >= 3 && cols[0] == PACKAGE && !cols[1].is_empty() {
            let v = cols[1].to_string();
            if !versions.contains(&v) {
                versions.push(v);
            }
        }
    }
    versions
}
