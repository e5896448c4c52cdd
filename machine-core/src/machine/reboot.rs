//! Rebooting a host the driver keeps (an existing server, [`crate::Capabilities::keeps_host`])
//! over the machine's own SSH connection, and knowing it has rebooted: the library's side of
//! `restart` for drivers that cannot power-cycle what they did not make.

use super::Machine;
use crate::error::{Error, Result};
use crate::events::Step;
use crate::ssh::{HostKeyCheck, Session, SshError, SshTarget};
use std::time::{Duration, Instant};

/// How long a reboot may take until the host runs a new boot.
const REBOOT_TIMEOUT: Duration = Duration::from_secs(300);

/// What identifies one boot of the host: the kernel's boot id and the start time of PID 1 (a
/// container host keeps its kernel across reboots, so the boot id alone is not enough); the
/// start time from /proc (field 22 of its stat, the 20th after the command's closing paren),
/// which BusyBox hosts have too.
const BOOT_MARKER: &str =
    "cat /proc/sys/kernel/random/boot_id; sed 's/.*) //' /proc/1/stat | cut -d' ' -f20";

/// Reboots as root, or through passwordless sudo (a root login may have no sudo at all).
const REBOOT: &str = "if [ \"$(id -u)\" = 0 ]; then shutdown -r now || reboot; \
                      else sudo -n shutdown -r now || sudo -n reboot; fi";

impl Machine {
    /// Reboots the host over `session` and returns a session to its new boot, the recorded host
    /// key checked throughout: a host that comes back with another key is an error at once.
    pub(super) async fn reboot(
        &self,
        session: Session,
        target: &SshTarget,
        check: HostKeyCheck,
    ) -> Result<Session> {
        let before = session.exec_ok(BOOT_MARKER).await?;
        self.emit(Step::Restart, "Rebooting the host...");
        // the connection drops as the host goes down: that is the expected outcome; a command
        // that ends with an error (sudo refused) means no reboot is coming
        let asked = tokio::time::timeout(Duration::from_secs(10), session.exec(REBOOT)).await;
        session.close().await;
        if let Ok(Ok(out)) = &asked {
            if out.status != 0 {
                return Err(Error::Ssh(SshError::CommandFailed {
                    command: "reboot".into(),
                    status: out.status,
                    stderr: out.stderr.trim().to_string(),
                }));
            }
        }

        self.emit(Step::WaitForSsh, "Waiting for the host to boot again...");
        let deadline = Instant::now() + REBOOT_TIMEOUT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(Error::RebootTimeout {
                    machine: self.name().to_string(),
                    addr: format!("{}:{}", target.host, target.port),
                    seconds: REBOOT_TIMEOUT.as_secs(),
                });
            }
            match Session::wait(target, check.clone(), left.min(Duration::from_secs(30))).await {
                Ok(s) => match s.exec_ok(BOOT_MARKER).await {
                    Ok(after) if !after.is_empty() && after != before => return Ok(s),
                    _ => s.close().await,
                },
                Err(e @ SshError::HostKeyMismatch { .. }) => return Err(self.ssh_failure(e)),
                Err(_) => {}
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }
}
