//! openSUSE Leap and Tumbleweed, SLES: the distribution's `docker` package with zypper, pinned as
//! `docker=VERSION`.

use super::{match_version, version_unavailable, Cx, ProvisionError};

const LOCK_MARKERS: &[&str] = &["System management is locked"];
const ZYPPER: &str = "zypper --non-interactive";
const PACKAGE: &str = "docker";

/// Installs plain packages.
pub(super) async fn install(cx: &Cx<'_>, packages: &[&str]) -> Result<(), ProvisionError> {
    cx.install_packages(&format!("{ZYPPER} install"), packages, LOCK_MARKERS)
        .await
}

pub(super) async fn install_docker(
    cx: &Cx<'_>,
    version: Option<&str>,
    upgrade: bool,
) -> Result<(), ProvisionError> {
    let target = match version {
        None => PACKAGE.to_string(),
        Some(requested) => {
            let out = cx
                .sudo_locked(
                    "listing the available docker versions",
                    &format!("{ZYPPER} search -s --match-exact -t package {PACKAGE}"),
                    LOCK_MARKERS,
                )
                .await?;
            let available = parse_zypper_search(&out.stdout, PACKAGE);
            let full = match_version(&available, requested)
                .ok_or_else(|| version_unavailable(cx, requested, PACKAGE, available.clone()))?;
            format!("--oldpackage {PACKAGE}={full}")
        }
    };
    let script = if upgrade && version.is_none() {
        format!("{ZYPPER} install {target} && {ZYPPER} update {PACKAGE}")
    } else {
        format!("{ZYPPER} install {target}")
    };
    cx.sudo_locked("installing docker", &script, LOCK_MARKERS)
        .await
        .map(|_| ())
}

/// `v | docker | package | 24.0.7_ce-150000.198.2 | x86_64 | Update repository` rows → versions,
/// first seen first (zypper lists newest first), without duplicates.
pub(super) fn parse_zypper_search(text: &str, package: &str) -> Vec<String> {
    let mut versions: Vec<String> = Vec::new();
    for line in text.lines() {
        let cols: Vec<&str> = line.split('|').map(str::trim).collect();
        if cols.len() >= 4 && cols[1] == package && cols[2] == "package" {
            let v = cols[3].to_string();
            if !versions.contains(&v) {
                versions.push(v);
            }
        }
    }
    versions
}
