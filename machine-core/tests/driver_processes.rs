//! What the driver host promises about a driver's processes (docs/security.md, "A driver is
//! kept in bounds"), against a real driver process: when the driver crashes, what it started
//! and left in its process group — a child and that child's own child — ends with it.

use driver_protocol::calls::MachineParams;
use driver_protocol::request::GetState;
use driver_protocol::CancellationToken;
use machine_core::testing::driver_host::DriverHost;
use machine_core::{Error, Events};
use serde_json::json;
use std::time::{Duration, Instant};

fn process_gone(pid: u32) -> bool {
    // gone, or a zombie nobody reaps (PID 1 of a container may not)
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(stat) => stat
            .rsplit_once(')')
            .is_some_and(|(_, rest)| rest.trim_start().starts_with('Z')),
    }
}

#[tokio::test]
async fn a_crashing_drivers_children_and_grandchildren_end_with_it() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let (child_pid, grandchild_pid) = (dir.path().join("child.pid"), dir.path().join("gc.pid"));
    // answers the handshake, starts a child that starts a grandchild, then exits on the next call
    let script = format!(
        r#"#!/bin/sh
read line
id=$(printf '%s' "$line" | sed 's/.*"id":\([0-9]*\).*/\1/')
printf '{{"jsonrpc":"2.0","id":%s,"result":{{"name":"parent","version":"0","protocol_version":3,"capabilities":{{}},"options":[]}}}}\n' "$id"
sh -c 'sleep 600 & echo $! > {gc}; exec sleep 600' &
echo $! > {child}
read line
exit 3
"#,
        gc = grandchild_pid.display(),
        child = child_pid.display()
    );
    let path = dir.path().join("machine-driver-parent");
    std::fs::write(&path, script).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    let host = DriverHost::with_search_path(vec![dir.path().into()], Events::none());
    let d = host.get("parent").await.unwrap();
    let err = d
        .request::<GetState>(
            "web1",
            &MachineParams::new("web1", json!({})),
            Duration::from_secs(30),
            &CancellationToken::new(),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, Error::DriverCrashed { .. }), "{err}");
    let pid = |f: &std::path::Path| -> u32 {
        std::fs::read_to_string(f).unwrap().trim().parse().unwrap()
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    let (child, grandchild) = (pid(&child_pid), pid(&grandchild_pid));
    while !(process_gone(child) && process_gone(grandchild)) && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(process_gone(child), "the child {child} outlived the driver");
    assert!(
        process_gone(grandchild),
        "the grandchild {grandchild} outlived the driver"
    );
}
