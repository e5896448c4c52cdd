//! The driver host against real driver processes: the Python example driver, a driver that
//! crashes mid-call, one that hangs, and one that does not exist.

use driver_protocol::calls::{self, MachineParams, SetConfigParams, StateResult};
use machine_core::driver_host::DriverHost;
use machine_core::{Error, Events};
use serde_json::json;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

fn examples() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/python-driver")
}

/// Writes an executable script `machine-driver-NAME` into `dir`.
fn script(dir: &Path, name: &str, body: &str) {
    use std::os::unix::fs::PermissionsExt;
    let path = dir.join(format!("machine-driver-{name}"));
    std::fs::write(&path, body).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

/// A shell driver that answers the handshake, then runs `then` on the next request.
fn shell_driver(then: &str) -> String {
    format!(
        r#"#!/bin/sh
read line
id=$(printf '%s' "$line" | sed 's/.*"id":\([0-9]*\).*/\1/')
printf '{{"jsonrpc":"2.0","id":%s,"result":{{"name":"broken","version":"0","protocol_version":1,"capabilities":{{"start":false,"stop":false,"restart":false,"kill":false}},"options":[]}}}}\n' "$id"
read line
echo "about to fail" >&2
{then}
"#
    )
}

#[tokio::test]
async fn a_python_driver_is_a_driver() {
    let host = DriverHost::with_search_path(vec![examples()], Events::none());
    let d = host.get("static").await.unwrap();
    assert_eq!(d.info().name, "static");
    assert!(d.info().option("static-ip").is_some());
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("key");
    std::fs::write(&key, "k").unwrap();
    let cfg: driver_protocol::calls::ConfigResult = d
        .call(
            "m1",
            calls::SET_CONFIG,
            &SetConfigParams {
                machine: "m1".into(),
                options:
                    json!({"static-ip": "127.0.0.1", "static-ssh-key": key, "static-ssh-port": 1})
                        .as_object()
                        .unwrap()
                        .clone(),
                machine_dir: dir.path().display().to_string(),
            },
            Duration::from_secs(5),
        )
        .await
        .unwrap();
    let params = MachineParams {
        machine: "m1".into(),
        config: cfg.config,
    };
    let s: StateResult = d
        .call("m1", calls::STATE, &params, Duration::from_secs(5))
        .await
        .unwrap();
    // nothing listens on port 1 of loopback
    assert_eq!(s.state, driver_protocol::calls::State::Stopped);
    let err = d
        .call::<_, serde_json::Value>("m1", calls::STOP, &params, Duration::from_secs(5))
        .await
        .unwrap_err();
    assert_eq!(err.to_string(), "static driver does not support stop");
    let err = d
        .call::<_, serde_json::Value>(
            "m1",
            calls::SET_CONFIG,
            &SetConfigParams {
                machine: "m1".into(),
                options: Default::default(),
                machine_dir: "/tmp".into(),
            },
            Duration::from_secs(5),
        )
        .await
        .unwrap_err();
    assert!(err.to_string().contains("--static-ip is required"), "{err}");
}

#[tokio::test]
async fn a_crashing_driver_is_an_error_naming_driver_machine_and_call() {
    let dir = tempfile::tempdir().unwrap();
    script(dir.path(), "broken", &shell_driver("exit 3"));
    let host = DriverHost::with_search_path(vec![dir.path().into()], Events::none());
    let d = host.get("broken").await.unwrap();
    let started = Instant::now();
    let err = d
        .call::<_, StateResult>(
            "web1",
            calls::STATE,
            &json!({"machine": "web1", "config": {}}),
            Duration::from_secs(30),
        )
        .await
        .unwrap_err();
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "took {:?}",
        started.elapsed()
    );
    let msg = err.to_string();
    assert!(matches!(err, Error::DriverCrashed { .. }), "{msg}");
    assert!(
        msg.contains("broken") && msg.contains("web1") && msg.contains("state"),
        "{msg}"
    );
    assert!(
        msg.contains("about to fail"),
        "the driver's last log lines explain the crash: {msg}"
    );
}

#[tokio::test]
async fn a_hanging_driver_times_out() {
    let dir = tempfile::tempdir().unwrap();
    script(dir.path(), "hang", &shell_driver("sleep 600"));
    let host = DriverHost::with_search_path(vec![dir.path().into()], Events::none());
    let d = host.get("hang").await.unwrap();
    let err = d
        .call::<_, StateResult>(
            "web1",
            calls::STATE,
            &json!({"machine": "web1", "config": {}}),
            Duration::from_millis(500),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, Error::DriverTimeout { .. }), "{err}");
    assert!(err.to_string().contains("did not answer state"), "{err}");
}

#[tokio::test]
async fn a_missing_driver_lists_the_installed_ones() {
    let host = DriverHost::with_search_path(vec![examples()], Events::none());
    let err = host.get("virtualbox").await.err().expect("no such driver");
    let msg = err.to_string();
    assert!(
        msg.contains("machine-driver-virtualbox") && msg.contains("installed drivers: static"),
        "{msg}"
    );
}

#[tokio::test]
async fn a_driver_run_by_hand_explains_itself() {
    let out = std::process::Command::new(examples().join("machine-driver-static"))
        .env_remove(driver_protocol::PLUGIN_COOKIE_KEY)
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("plugin for `machine`"));
}
