//! Rebooting an existing host over SSH, and knowing when it is back.

use crate::options::Config;
use crate::ssh_error;
use driver_protocol::{Context, DriverError};
use machine_core::ssh::{HostKeyCheck, Session};
use std::time::{Duration, Instant};

/// How long a reboot may take until SSH and the Docker port answer again.
const REBOOT_TIMEOUT: Duration = Duration::from_secs(300);

/// What identifies one boot of the host: the kernel's boot id and the start time of PID 1 (a
/// container host keeps the kernel across reboots, so the boot id alone is not enough).
const BOOT_MARKER: &str = "cat /proc/sys/kernel/random/boot_id; ps -o lstart= -p 1";

pub async fn reboot(cx: &Context, config: &Config) -> Result<(), DriverError> {
    let check = || match &config.host_key {
        Some(k) => HostKeyCheck::Expect(k.clone()),
        None => HostKeyCheck::Record,
    };
    let session = Session::connect(&config.target(), check(), Duration::from_secs(20))
        .await
        .map_err(ssh_error)?;
    let before = session.exec_ok(BOOT_MARKER).await.map_err(ssh_error)?;
    cx.progress("Rebooting the host...");
    // the connection drops as the host goes down: that is the expected outcome, not an error
    let _ = tokio::time::timeout(
        Duration::from_secs(10),
        session.exec("sudo -n shutdown -r now || sudo -n reboot"),
    )
    .await;
    session.close().await;

    let deadline = Instant::now() + REBOOT_TIMEOUT;
    cx.progress("Waiting for the host to come back...");
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(DriverError::timeout(format!(
                "the host {} did not come back within {}s of the reboot (SSH on port {})",
                config.ip,
                REBOOT_TIMEOUT.as_secs(),
                config.ssh_port
            )));
        }
        if let Ok(s) =
            Session::wait(&config.target(), check(), left.min(Duration::from_secs(30))).await
        {
            let after = s.exec_ok(BOOT_MARKER).await.unwrap_or_default();
            s.close().await;
            if !after.is_empty() && after != before {
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    cx.progress("Waiting for the Docker port...");
    while !port_open(&config.ip, config.engine_port, Duration::from_secs(2)).await {
        if Instant::now() > deadline {
            return Err(DriverError::timeout(format!(
                "the host {} is back but Docker's port {} did not open within {}s of the reboot",
                config.ip,
                config.engine_port,
                REBOOT_TIMEOUT.as_secs()
            )));
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    Ok(())
}

/// Whether a TCP connection to `host:port` opens within `timeout`.
pub async fn port_open(host: &str, port: u16, timeout: Duration) -> bool {
    matches!(
        tokio::time::timeout(timeout, tokio::net::TcpStream::connect((host, port))).await,
        Ok(Ok(_))
    )
}
