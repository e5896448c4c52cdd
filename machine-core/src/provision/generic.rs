//! An OS without a provisioner of its own that already runs Docker: its daemon is configured
//! through whichever init system it has (systemd, OpenRC or sysvinit); installing is refused.

use super::{supported_ids, Cx, ProvisionError};

pub(super) fn cannot_install(cx: &Cx<'_>) -> ProvisionError {
    ProvisionError::Unsupported {
        step: "installing Docker".into(),
        message: format!(
            "machine cannot install Docker on {} (ID {:?}); supported are {}. Install Docker on \
             the host yourself, then provision it again",
            cx.os.pretty_name,
            cx.os.id,
            supported_ids()
        ),
    }
}
