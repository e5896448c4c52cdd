//! Rebooting an existing host over SSH, and knowing it has rebooted. The host's own wait for
//! SSH and Docker afterwards is the library's.

use crate::ssh_error;
use driver_protocol::{Context, DriverError};
use machine_core::ssh::{HostKeyCheck, Session, SshTarget};
use std::time::{Duration, Instant};

/// How long a reboot may take until the host runs a new boot.
const REBOOT_TIMEOUT: Duration = Duration::from_secs(300);

/// What identifies one boot of the host: the kernel's boot id and the start time of PID 1 (a
/// container host keeps the kernel across reboots, so the boot id alone is not enough).
const BOOT_MARKER: &str = "cat /proc/sys/kernel/random/boot_id; ps -o lstart= -p 1";

/// Reboots the host and returns once it answers SSH from a new boot (the recorded host key
/// checked throughout: a host that comes back with another key is an error at once).
pub async fn reboot(cx: &Context, target: &SshTarget, host_key: &str) -> Result<(), DriverError> {
    let check = || HostKeyCheck::Expect(host_key.to_string());
    let session = Session::connect(target, check(), Duration::from_secs(20))
        .await
        .map_err(ssh_error)?;
    let before = session.exec_ok(BOOT_MARKER).await.map_err(ssh_error)?;
    cx.progress_step("reboot", "Rebooting the host...", None);
    // the connection drops as the host goes down: that is the expected outcome, not an error
    let _ = tokio::time::timeout(
        Duration::from_secs(10),
        session.exec("sudo -n shutdown -r now || sudo -n reboot"),
    )
    .await;
    session.close().await;

    let deadline = Instant::now() + REBOOT_TIMEOUT;
    cx.progress_step("reboot", "Waiting for the host to boot again...", None);
    loop {
        cx.check_cancelled()?;
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(DriverError::timeout(format!(
                "the host {} did not come back within {}s of the reboot (SSH on port {})",
                target.host,
                REBOOT_TIMEOUT.as_secs(),
                target.port
            )));
        }
        match Session::wait(target, check(), left.min(Duration::from_secs(30))).await {
            Ok(s) => {
                let after = s.exec_ok(BOOT_MARKER).await.unwrap_or_default();
                s.close().await;
                if !after.is_empty() && after != before {
                    return Ok(());
                }
            }
            // a host that comes back with another host key says so at once, not at the timeout
            Err(e @ machine_core::ssh::SshError::HostKeyMismatch { .. }) => {
                return Err(DriverError::internal(format!(
                    "the host came back from the reboot with another SSH host key: {e}"
                )))
            }
            Err(_) => {}
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// Whether a TCP connection to `host:port` opens within `timeout`.
pub async fn port_open(host: &str, port: u16, timeout: Duration) -> bool {
    matches!(
        tokio::time::timeout(timeout, tokio::net::TcpStream::connect((host, port))).await,
        Ok(Ok(_))
    )
}
