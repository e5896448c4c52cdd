//! CentOS, RHEL, Rocky, AlmaLinux and Oracle Linux. They ship no Docker of their own, so the
//! packages method uses Docker's rpm repository (`docker-ce`), as Docker's documentation does;
//! dnf (or yum on EL7) installs and pins (`docker-ce-VERSION`).

use super::{match_version, version_unavailable, Cx, ProvisionError};

/// What yum prints while another process holds its lock (dnf waits by itself).
pub(super) const LOCK_MARKERS: &[&str] = &[
    "Another app is currently holding the yum lock",
    "Waiting for process with pid",
];

/// dnf where there is one, else yum.
pub(super) const PM: &str = "$(command -v dnf || command -v yum)";

/// Installs plain packages.
pub(super) async fn install(cx: &Cx<'_>, packages: &[&str]) -> Result<(), ProvisionError> {
    cx.install_packages(&format!("{PM} -y install"), packages, LOCK_MARKERS)
        .await
}

/// Docker's repository file for this OS.
fn repo_url(cx: &Cx<'_>) -> &'static str {
    if cx.os.id == "rhel" {
        "https://download.docker.com/linux/rhel/docker-ce.repo"
    } else {
        "https://download.docker.com/linux/centos/docker-ce.repo"
    }
}

pub(super) async fn install_docker(
    cx: &Cx<'_>,
    version: Option<&str>,
    upgrade: bool,
) -> Result<(), ProvisionError> {
    let url = repo_url(cx);
    cx.sudo(
        "adding Docker's package repository",
        &format!(
            "[ -f /etc/yum.repos.d/docker-ce.repo ] || \
             curl -fsSL --retry 3 --proto =https --proto-redir =https {url} -o /etc/yum.repos.d/docker-ce.repo"
        ),
    )
    .await?;
    let names = ["docker-ce", "docker-ce-cli"];
    install_versioned(
        cx,
        "docker-ce",
        &names,
        &["containerd.io"],
        version,
        upgrade,
    )
    .await
}

/// Installs `names` (at the version of `main` matching `version` when given) plus `extra`.
pub(super) async fn install_versioned(
    cx: &Cx<'_>,
    main: &str,
    names: &[&str],
    extra: &[&str],
    version: Option<&str>,
    upgrade: bool,
) -> Result<(), ProvisionError> {
    let targets: Vec<String> = match version {
        None => names.iter().map(|n| n.to_string()).collect(),
        Some(requested) => {
            let available = available_versions(cx, main).await?;
            let full = match_version(&available, requested)
                .ok_or_else(|| version_unavailable(cx, requested, main, available.clone()))?;
            // epochs differ between docker-ce and docker-ce-cli: name them by version-release
            let bare = full.split_once(':').map(|(_, v)| v).unwrap_or(full);
            names.iter().map(|n| format!("{n}-{bare}")).collect()
        }
    };
    let all = targets
        .iter()
        .map(|s| s.as_str())
        .chain(extra.iter().copied())
        .collect::<Vec<_>>()
        .join(" ");
    let script = match (version, upgrade) {
        (Some(_), _) => format!("{PM} -y install {all} || {PM} -y downgrade {all}"),
        (None, true) => format!("{PM} -y install {all} && {PM} -y upgrade {all}"),
        (None, false) => format!("{PM} -y install {all}"),
    };
    cx.sudo_locked(&format!("installing {all}"), &script, LOCK_MARKERS)
        .await
        .map(|_| ())
}

/// The versions of `package` the repositories offer, newest first.
async fn available_versions(cx: &Cx<'_>, package: &str) -> Result<Vec<String>, ProvisionError> {
    let out = cx
        .sudo(
            &format!("listing the available {package} versions"),
            &format!("{PM} -q list --showduplicates {package} 2>/dev/null || true"),
        )
        .await?;
    Ok(parse_dnf_list(&out.stdout, package))
}

/// `docker-ce.x86_64   3:24.0.7-1.el9   docker-ce-stable` lines (oldest first, as dnf lists
/// them) → versions, newest first, without duplicates.
pub(super) fn parse_dnf_list(text: &str, package: &str) -> Vec<String> {
    let mut versions: Vec<String> = Vec::new();
    for line in text.lines() {
        let cols: Vec<&str> = line.split_whitespace().collect();
        if cols.len() < 2 {
            continue;
        }
        let name = cols[0].rsplit_once('.').map(|(n, _)| n).unwrap_or(cols[0]);
        if name == package && cols[1].chars().next().is_some_and(|c| c.is_ascii_digit()) {
            let v = cols[1].to_string();
            if !versions.contains(&v) {
                versions.push(v);
            }
        }
    }
    versions.reverse();
    versions
}
