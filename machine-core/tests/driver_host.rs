//! The driver host against real driver processes: the Python example driver, a driver that
//! crashes mid-call (and is started again for the next call), one that hangs, one that speaks
//! an older protocol, and one that does not exist; what drivers get of the environment, where
//! they are looked for, and that their stderr and their children are kept in bounds.

use driver_protocol::calls::{MachineParams, SetConfigParams, State};
use driver_protocol::request::{GetAccess, GetState, SetConfig, Stop};
use driver_protocol::{CancellationToken, Options};
use machine_core::testing::driver_host::{default_search_path, DriverHost};
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
    let cfg = d
        .request::<SetConfig>("m1", &SetConfigParams::new("m1", options), T, &no_cancel())
        .await
        .unwrap();
    let params = MachineParams::new("m1", cfg.config);
    let s = d
        .request::<GetState>("m1", &params, T, &no_cancel())
        .await
        .unwrap();
    // nothing listens on port 1 of loopback
    assert_eq!(s.state, State::Stopped);
    let a = d
        .request::<GetAccess>("m1", &params, T, &no_cancel())
        .await
        .unwrap();
    assert_eq!(a.docker_url, "tcp://127.0.0.1:2376");
    let err = d
        .request::<Stop>("m1", &params, T, &no_cancel())
        .await
        .unwrap_err();
    assert_eq!(err.to_string(), "static driver does not support stop");
    let err = d
        .request::<SetConfig>(
            "m1",
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
    script(dir.path(), "broken", &shell_driver(3, "exit 3"));
    let host = DriverHost::with_search_path(vec![dir.path().into()], Events::none());
    let params = MachineParams::new("web1", json!({}));
    for attempt in 0..2 {
        let d = host.get("broken").await.unwrap();
        let started = Instant::now();
        let err = d
            .request::<GetState>("web1", &params, Duration::from_secs(30), &no_cancel())
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
    let params = MachineParams::new("m1", json!({"ip": "127.0.0.1", "port": 1}));
    let d = host.get("static").await.unwrap();
    let _ = d
        .request::<GetState>("m1", &params, T, &no_cancel())
        .await
        .unwrap();
    let pid = d.pid().expect("a process");
    std::process::Command::new("kill")
        .args(["-9", &pid.to_string()])
        .status()
        .unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let err = d
        .request::<GetState>("m1", &params, T, &no_cancel())
        .await
        .unwrap_err();
    assert!(matches!(err, Error::DriverCrashed { .. }), "{err}");
    // the next call gets a new process
    let d = host.get("static").await.unwrap();
    assert_ne!(d.pid(), Some(pid));
    let s = d
        .request::<GetState>("m1", &params, T, &no_cancel())
        .await
        .unwrap();
    assert_eq!(s.state, State::Stopped);
}

#[tokio::test]
async fn a_driver_of_another_protocol_version_is_refused_naming_both() {
    let dir = tempfile::tempdir().unwrap();
    // a driver that answers the handshake with its own version
    script(dir.path(), "old", &shell_driver(2, "exit 0"));
    // a version-2 driver built with the SDK: it refuses the handshake itself, naming both
    script(
        dir.path(),
        "refusing",
        r#"#!/bin/sh
read line
id=$(printf '%s' "$line" | sed 's/.*"id":\([0-9]*\).*/\1/')
printf '{"jsonrpc":"2.0","id":%s,"error":{"code":-32000,"message":"driver refusing speaks protocol version 2, the host speaks 3","data":{"kind":"protocol"}}}\n' "$id"
while read line; do :; done
"#,
    );
    let host = DriverHost::with_search_path(vec![dir.path().into()], Events::none());
    for name in ["old", "refusing"] {
        let err = host
            .get(name)
            .await
            .err()
            .expect("an old driver is refused");
        assert!(
            matches!(
                err,
                Error::DriverVersion {
                    driver_version: Some(2),
                    host_version: 3,
                    ..
                }
            ),
            "{err}"
        );
        let msg = err.to_string();
        assert!(
            msg.contains("version 2") && msg.contains("speaks 3") && msg.contains("install"),
            "the error names both versions and what to do: {msg}"
        );
    }
}

#[tokio::test]
async fn a_hanging_driver_times_out() {
    let dir = tempfile::tempdir().unwrap();
    script(dir.path(), "hang", &shell_driver(3, "sleep 600"));
    let host = DriverHost::with_search_path(vec![dir.path().into()], Events::none());
    let d = host.get("hang").await.unwrap();
    let err = d
        .request::<GetState>(
            "web1",
            &MachineParams::new("web1", json!({})),
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

/// A driver that runs `before`, answers the handshake declaring the environment variable
/// `env`, writes the next line it reads (the host's `$/environment`) to `note`, then reads
/// requests until stdin closes.
fn env_driver(before: &str, env: &str, note: &Path) -> String {
    format!(
        r#"#!/bin/sh
{before}
read line
id=$(printf '%s' "$line" | sed 's/.*"id":\([0-9]*\).*/\1/')
printf '{{"jsonrpc":"2.0","id":%s,"result":{{"name":"envy","version":"0","protocol_version":3,"capabilities":{{}},"options":[{{"name":"envy-x","type":"string","env":"MACHINE_TEST_OPTION","help":"x"}}],"env":["{env}"]}}}}\n' "$id"
read line
printf '%s\n' "$line" > {note}
while read line; do :; done
"#,
        note = note.display()
    )
}

#[tokio::test]
async fn a_driver_gets_the_basics_and_its_declared_variables_without_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let dump = dir.path().join("environ");
    let starts = dir.path().join("starts");
    let note = dir.path().join("note");
    // the environment the driver was started with, exactly (a shell or python adds its own)
    script(
        dir.path(),
        "envy",
        &env_driver(
            &format!(
                "cat /proc/$$/environ > {}; echo started >> {}",
                dump.display(),
                starts.display()
            ),
            "MACHINE_TEST_OWN",
            &note,
        ),
    );
    // tests of this binary set only variables of their own
    std::env::set_var("MACHINE_TEST_LEAKED_SECRET", "s3cret");
    std::env::set_var("MACHINE_TEST_OPTION", "option");
    std::env::set_var("MACHINE_TEST_OWN", "own");
    std::env::set_var("LC_TIME", "C");
    std::env::set_var("https_proxy", "http://proxy.example:3128");
    let host = DriverHost::with_search_path(vec![dir.path().into()], Events::none());
    host.get("envy").await.unwrap();
    let env: std::collections::BTreeMap<String, String> = std::fs::read_to_string(&dump)
        .unwrap()
        .split('\0')
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    assert!(!env.contains_key("MACHINE_TEST_LEAKED_SECRET"), "{env:?}");
    assert_eq!(env.get("LC_TIME").map(String::as_str), Some("C"));
    assert_eq!(
        env.get("https_proxy").map(String::as_str),
        Some("http://proxy.example:3128")
    );
    assert!(
        env.get("PATH").is_some_and(|p| p.contains("/bin")),
        "{env:?}"
    );
    let allowed = |k: &str| {
        [
            "PATH",
            "HOME",
            "USER",
            "LOGNAME",
            "LANG",
            "LANGUAGE",
            "TZ",
            "TMPDIR",
            driver_protocol::PLUGIN_COOKIE_KEY,
        ]
        .contains(&k)
            || k.starts_with("LC_")
            || k.to_ascii_uppercase().ends_with("_PROXY")
    };
    let others: Vec<&String> = env.keys().filter(|k| !allowed(k)).collect();
    assert!(others.is_empty(), "not allowed: {others:?}");
    // the declared variable arrives after the handshake, in the one process started; the
    // options' variables are the CLI's to read, and nothing else is sent
    let deadline = Instant::now() + Duration::from_secs(5);
    // the shell makes the file before it writes the line into it
    let line = loop {
        let line = std::fs::read_to_string(&note).unwrap_or_default();
        if line.ends_with('\n') || Instant::now() > deadline {
            break line;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let sent: serde_json::Value = serde_json::from_str(&line).unwrap();
    assert_eq!(sent["method"], "$/environment", "{sent}");
    assert_eq!(
        sent["params"]["vars"],
        json!({"MACHINE_TEST_OWN": "own"}),
        "{sent}"
    );
    assert_eq!(std::fs::read_to_string(&starts).unwrap().lines().count(), 1);
}

#[tokio::test]
async fn drivers_are_never_taken_from_the_current_folder_or_an_empty_path_entry() {
    let dir = tempfile::tempdir().unwrap();
    let marker = dir.path().join("ran");
    script(
        dir.path(),
        "planted",
        &format!("#!/bin/sh\ntouch {}\n", marker.display()),
    );
    // "" and "." both mean the current folder, where a planted driver waits; a test of this
    // binary may change the working folder only here
    let old_path = std::env::var("PATH").unwrap_or_default();
    let old_dir = std::env::current_dir().unwrap();
    std::env::set_var("PATH", format!(":.:{old_path}"));
    std::env::set_current_dir(dir.path()).unwrap();
    let host = DriverHost::with_search_path(default_search_path(), Events::none());
    let found = host.get("planted").await.err();
    let installed = host.installed();
    std::env::set_var("PATH", old_path);
    std::env::set_current_dir(old_dir).unwrap();
    let err = found.expect("not found");
    assert!(matches!(err, Error::DriverNotFound { .. }), "{err}");
    assert!(!installed.contains(&"planted".to_string()));
    assert!(!marker.exists(), "the planted driver ran");
}

#[tokio::test]
async fn an_unknown_driver_name_starts_no_driver() {
    let dir = tempfile::tempdir().unwrap();
    let marker = dir.path().join("ran");
    script(
        dir.path(),
        "marker",
        &format!("#!/bin/sh\ntouch {}\nsleep 5\n", marker.display()),
    );
    let host = DriverHost::with_search_path(vec![dir.path().into()], Events::none());
    for name in ["nosuch", "vmwarevsphere"] {
        let err = host.get(name).await.err().expect("not found");
        match err {
            Error::DriverNotFound { installed, .. } => assert_eq!(installed, vec!["marker"]),
            other => panic!("{other}"),
        }
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(
        !marker.exists(),
        "a driver was started to learn its aliases"
    );
}

fn peak_memory_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

#[tokio::test]
async fn a_driver_spamming_stderr_does_not_grow_the_hosts_memory() {
    let dir = tempfile::tempdir().unwrap();
    // 512 MiB on one line, then a last word
    script(
        dir.path(),
        "spam",
        &shell_driver(
            3,
            "head -c 536870912 /dev/zero | tr '\\0' x >&2; echo >&2; echo last words >&2; exit 3",
        ),
    );
    let host = DriverHost::with_search_path(vec![dir.path().into()], Events::none());
    let before = peak_memory_kib();
    let d = host.get("spam").await.unwrap();
    let err = d
        .request::<GetState>(
            "web1",
            &MachineParams::new("web1", json!({})),
            Duration::from_secs(120),
            &no_cancel(),
        )
        .await
        .unwrap_err();
    let grown_mib = (peak_memory_kib() - before) / 1024;
    assert!(grown_mib < 128, "the host grew by {grown_mib} MiB");
    match err {
        Error::DriverCrashed { stderr_tail, .. } => {
            assert_eq!(stderr_tail.last().map(String::as_str), Some("last words"));
            assert!(
                stderr_tail.iter().any(|l| l.contains("skipped")),
                "{stderr_tail:?}"
            );
        }
        other => panic!("{other}"),
    }
}

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
async fn a_drivers_children_end_with_it() {
    let dir = tempfile::tempdir().unwrap();
    let pidfile = dir.path().join("child.pid");
    script(
        dir.path(),
        "parent",
        &env_driver(
            &format!("sleep 600 &\necho $! > {}", pidfile.display()),
            "NONE",
            &dir.path().join("note"),
        ),
    );
    let host = DriverHost::with_search_path(vec![dir.path().into()], Events::none());
    host.get("parent").await.unwrap();
    let child: u32 = std::fs::read_to_string(&pidfile)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert!(!process_gone(child), "the child runs while the driver does");
    drop(host);
    let deadline = Instant::now() + Duration::from_secs(5);
    while !process_gone(child) && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        process_gone(child),
        "the driver's child {child} outlived it"
    );
}
