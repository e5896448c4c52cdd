//! Fedora: the distribution's `moby-engine` package (Docker's engine as Fedora builds it), with
//! dnf; pinned as `moby-engine-VERSION-RELEASE`.

use super::{redhat, Cx, ProvisionError};

pub(super) async fn install_docker(
    cx: &Cx<'_>,
    version: Option<&str>,
    upgrade: bool,
) -> Result<(), ProvisionError> {
    redhat::install_versioned(cx, "moby-engine", &["moby-engine"], &[], version, upgrade).await
}
