//! Arch Linux (and derivatives): the `docker` package with pacman. Arch's repositories hold one
//! version of a package, so a pinned version must be that one.

use super::{match_version, version_unavailable, Cx, ProvisionError};

const LOCK_MARKERS: &[&str] = &["unable to lock database"];
const PACKAGE: &str = "docker";

/// Installs plain packages.
pub(super) async fn install(cx: &Cx<'_>, packages: &[&str]) -> Result<(), ProvisionError> {
    cx.install_packages("pacman -Sy --noconfirm --needed", packages, LOCK_MARKERS)
        .await
}

pub(super) async fn install_docker(
    cx: &Cx<'_>,
    version: Option<&str>,
    upgrade: bool,
) -> Result<(), ProvisionError> {
    if let Some(requested) = version {
        let out = cx
            .sudo_locked(
                "listing the available docker version",
                &format!("pacman -Sy >/dev/null && pacman -Si {PACKAGE}"),
                LOCK_MARKERS,
            )
            .await?;
        let available = parse_pacman_info(&out.stdout);
        if match_version(&available, requested).is_none() {
            return Err(version_unavailable(cx, requested, PACKAGE, available));
        }
    }
    let needed = if upgrade { "" } else { " --needed" };
    cx.sudo_locked(
        "installing docker",
        &format!("pacman -Sy --noconfirm{needed} {PACKAGE}"),
        LOCK_MARKERS,
    )
    .await
    .map(|_| ())
}

/// The `Version : 1:26.1.4-1` field of `pacman -Si`.
pub(super) fn parse_pacman_info(text: &str) -> Vec<String> {
    text.lines()
        .filter_map(|l| l.split_once(':'))
        .filter(|(k, _)| k.trim() == "Version")
        .map(|(_, v)| v.trim().to_string())
        .filter(|v| !v.is_empty())
        .collect()
}
