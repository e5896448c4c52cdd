//! The driver host against real driver processes: the Python example driver, a driver that
//! crashes mid-call (and is started again for the next call), one that hangs, one that speaks
//! an older protocol, and one that does not exist.

use driver_protocol::calls::{self, MachineParams, SetConfigParams, State, StateResult};
use driver_protocol::{CancellationToken, Options};
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

/// A shell driver speaking `version` that answers the handshake, then runs `then` on the next
/// request.
fn shell_driver(version: u32, then: &str) -> String {
    format!(
        r#"#!/bin/sh
read line
id=$(printf '%s' "$line" | sed 's/.*"id":\([0-9]*\).*/\1/')
printf '{{"jsonrpc":"2.0","id":%s,"result":{{"name":"broken","version":"0","protocol_version":{version},"capabilities":{{}},"options":[]}}}}\n' "$id"
read line
echo "about to fail" >&2
{then}
"#
    )
}

const T: Duration = Duration::from_secs(5);

fn no_cancel() -> CancellationToken {
    CancellationToken::new()
}

#[tokio::test]
async fn a_python_driver_is_a_driver() {
    let host = DriverHost::with_search_path(vec![examples()], Events::none());
    let d = host.get("static").await.unwrap();
    assert_eq!(d.info().name, "static");
    assert!(d.info().option("static-ip").is_some());
    let mut options = Options::new();
    options.insert("static-ip", "127.0.0.1");
    options.insert("static-ssh-port", 1);
    let options = d.info().with_defaults(options);
    let cfg: calls::ConfigResult = d
        .call(
            "m1",
            calls::SET_CONFIG,
            &SetConfigParams::new("m1", options),
            T,
            &no_cancel(),
        )
        .await
        .unwrap();
    let params = MachineParams::new("m1", cfg.config);
    let s: StateResult = d
        .call("m1", calls::STATE, &params, T, &no_cancel())
        .await
        .unwrap();
    // nothing listens on port 1 of loopback
    assert_eq!(s.state, State::Stopped);
    let a: calls::Access = d
        .call("m1", calls::ACCESS, &params, T, &no_cancel())
        .await
        .unwrap();
    assert_eq!(a.docker_url, "tcp://127.0.0.1:2376");
    let err = d
        .call::<_, serde_json::Value>("m1", calls::STOP, &params, T, &no_cancel())
        .await
        .unwrap_err();
    assert_eq!(err.to_string(), "static driver does not support stop");
    let err = d
        .call::<_, serde_json::Value>(
            "m1",
            calls::SET_CONFIG,
            &SetConfigParams::new("m1", Options::new()),
            T,
            &no_cancel(),
        )
        .await
        .unwrap_err();
    assert!(err.to_string().contains("--static-ip is required"), "{err}");
}

#[tokio::test]
async fn a_crashing_driver_is_an_error_and_is_started_again_for_the_next_call() {
    let dir = tempfile::tempdir().unwrap();
    script(dir.path(), "broken", &shell_driver(2, "exit 3"));
    let host = DriverHost::with_search_path(vec![dir.path().into()], Events::none());
    let params = json!({"machine": "web1", "config": {}});
    for attempt in 0..2 {
        let d = host.get("broken").await.unwrap();
        let started = Instant::now();
        let err = d
            .call::<_, StateResult>(
                "web1",
                calls::STATE,
                &params,
                Duration::from_secs(30),
                &no_cancel(),
            )
            .await
            .unwrap_err();
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "took {:?}",
            started.elapsed()
        );
        let msg = err.to_string();
        assert!(
            matches!(err, Error::DriverCrashed { .. }),
            "attempt {attempt}: {msg}"
        );
        assert!(
            msg.contains("broken") && msg.contains("web1") && msg.contains("state"),
            "{msg}"
        );
        assert!(
            msg.contains("about to fail"),
            "the driver's last log lines explain the crash: {msg}"
        );
        // the second round gets a new process: one failed call, not a dead host
    }
}

#[tokio::test]
async fn a_driver_killed_between_two_calls_costs_one_call() {
    let host = DriverHost::with_search_path(vec![examples()], Events::none());
    let params = json!({"machine": "m1", "config": {"ip": "127.0.0.1", "port": 1}});
    let d = host.get("static").await.unwrap();
    let _: StateResult = d
        .call("m1", calls::STATE, &params, T, &no_cancel())
        .await
        .unwrap();
    let pid = d.pid().expect("a process");
    std::process::Command::new("kill")
        .args(["-9", &pid.to_string()])
        .status()
        .unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let err = d
        .call::<_, StateResult>("m1", calls::STATE, &params, T, &no_cancel())
        .await
        .unwrap_err();
    assert!(matches!(err, Error::DriverCrashed { .. }), "{err}");
    // the next call gets a new process
    let d = host.get("static").await.unwrap();
    assert_ne!(d.pid(), Some(pid));
    let s: StateResult = d
        .call("m1", calls::STATE, &params, T, &no_cancel())
        .await
        .unwrap();
    assert_eq!(s.state, State::Stopped);
}

#[tokio::test]
async fn a_driver_of_another_protocol_version_is_refused_naming_both() {
    let dir = tempfile::tempdir().unwrap();
    script(dir.path(), "old", &shell_driver(1, "exit 0"));
    let host = DriverHost::with_search_path(vec![dir.path().into()], Events::none());
    let err = host
        .get("old")
        .await
        .err()
        .expect("an old driver is refused");
    assert!(
        matches!(
            err,
            Error::DriverVersion {
                driver_version: 1,
                host_version: 2,
                ..
            }
        ),
        "{err}"
    );
    let msg = err.to_string();
    assert!(
        msg.contains("version 1") && msg.contains("speaks 2"),
        "{msg}"
    );
}

#[tokio::test]
async fn a_hanging_driver_times_out() {
    let dir = tempfile::tempdir().unwrap();
    script(dir.path(), "hang", &shell_driver(2, "sleep 600"));
    let host = DriverHost::with_search_path(vec![dir.path().into()], Events::none());
    let d = host.get("hang").await.unwrap();
    let err = d
        .call::<_, StateResult>(
            "web1",
            calls::STATE,
            &json!({"machine": "web1", "config": {}}),
            Duration::from_millis(500),
            &no_cancel(),
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
    assert!(
        err.to_string().contains("machine-driver-virtualbox"),
        "{err}"
    );
    match err {
        Error::DriverNotFound { installed, .. } => assert_eq!(installed, vec!["static"]),
        other => panic!("{other}"),
    }
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
