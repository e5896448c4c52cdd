//! The OS families with a provisioner, and how a host's os-release picks one.

use super::*;

/// The OS families with a provisioner.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
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
    pub(crate) async fn install_packages(
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
    pub(crate) async fn install_tools(
        self,
        cx: &Cx<'_>,
        packages: &[&str],
    ) -> Result<(), ProvisionError> {
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

pub(crate) fn supported_ids() -> String {
    KNOWN_IDS
        .iter()
        .map(|(id, _)| *id)
        .collect::<Vec<_>>()
        .join(", ")
}
