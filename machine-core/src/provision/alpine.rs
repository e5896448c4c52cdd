//! Alpine Linux: the `docker` package with apk, run by OpenRC; pinned as `docker=VERSION-rN`.

use super::{match_version, version_unavailable, Cx, ProvisionError};

const LOCK_MARKERS: &[&str] = &["Unable to lock database"];
const PACKAGE: &str = "docker";

/// Installs plain packages.
pub(super) async fn install(cx: &Cx<'_>, packages: &[&str]) -> Result<(), ProvisionError> {
    cx.install_packages("apk update -q && apk add -q", packages, LOCK_MARKERS)
        .await
}

pub(super) async fn install_docker(
    cx: &Cx<'_>,
    version: Option<&str>,
    upgrade: bool,
) -> Result<(), ProvisionError> {
    cx.sudo_locked("updating the apk indexes", "apk update -q", LOCK_MARKERS)
        .await?;
    let target = match version {
        None => PACKAGE.to_string(),
        Some(requested) => {
            let out = cx
                .sudo(
                    "listing the available docker versions",
                    &format!("apk policy {PACKAGE}"),
                )
                .await?;
            let available = parse_apk_policy(&out.stdout);
            let full = match_version(&available, requested)
                .ok_or_else(|| version_unavailable(cx, requested, PACKAGE, available.clone()))?;
            format!("{PACKAGE}={full}")
        }
    };
    let upgrade = if upgrade { " --upgrade" } else { "" };
    cx.sudo_locked(
        "installing docker",
        &format!("apk add -q{upgrade} {target}"),
        LOCK_MARKERS,
    )
    .await
    .map(|_| ())
}

/// `apk policy docker`:
/// ```text
/// docker policy:
///   25.0.5-r0:
///     https://dl-cdn.alpinelinux.org/alpine/v3.19/community
/// ```
/// → the versions, newest first (apk lists oldest first).
pub(super) fn parse_apk_policy(text: &str) -> Vec<String> {
    let mut versions: Vec<String> = text
        .lines()
        .filter(|l| l.starts_with("  ") && !l.starts_with("   "))
        .filter_map(|l| l.trim().strip_suffix(':'))
        .map(|v| v.to_string())
        .collect();
    versions.dedup();
    versions.reverse();
    versions
}
