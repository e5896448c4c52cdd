//! A driver process whose call timed out, against the real driver host: it is not left serving
//! later calls in a state nobody knows. It is stopped with what it started, the calls in flight
//! on it fail at once saying why, and the next call gets a new process.

use driver_protocol::calls::{MachineParams, State};
use driver_protocol::request::GetState;
use driver_protocol::CancellationToken;
use machine_core::testing::driver_host::DriverHost;
use machine_core::{Error, Events};
use serde_json::json;
use std::path::Path;
use std::time::{Duration, Instant};

/// Writes the Python driver `machine-driver-slow` into `dir`: `state` of machine `slow` starts
/// a child (`sleep 600`, its pid written to `child.pid`) and never answers; `state` of machine
/// `held` waits for `release` to exist; any other machine is `Running`.
fn slow_driver(dir: &Path) {
    use std::os::unix::fs::PermissionsExt;
    let script = format!(
        r#"#!/usr/bin/env python3
import json, os, subprocess, sys, threading, time
DIR = "{dir}"
def send(obj):
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()
def state(req):
    m = req["params"]["machine"]
    if m == "slow":
        child = subprocess.Popen(["sleep", "600"])
        with open(os.path.join(DIR, "child.pid"), "w") as f:
            f.write(str(child.pid))
        return
    if m == "held":
        while not os.path.exists(os.path.join(DIR, "release")):
            time.sleep(0.05)
    send({{"jsonrpc": "2.0", "id": req["id"], "result": {{"state": "Running"}}}})
for line in sys.stdin:
    req = json.loads(line)
    if req.get("method") == "initialize":
        send({{"jsonrpc": "2.0", "id": req["id"], "result": {{"name": "slow", "version": "0",
              "protocol_version": 3, "capabilities": {{}}, "options": []}}}})
    elif req.get("method") == "state":
        threading.Thread(target=state, args=(req,), daemon=True).start()
"#,
        dir = dir.display()
    );
    let path = dir.join("machine-driver-slow");
    std::fs::write(&path, script).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
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

fn wait_gone(pid: u32) -> bool {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !process_gone(pid) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    process_gone(pid)
}

fn state_of(machine: &str) -> MachineParams {
    MachineParams::new(machine, json!({}))
}

#[tokio::test]
async fn a_driver_whose_call_timed_out_is_stopped_and_the_next_call_gets_a_new_one() {
    let dir = tempfile::tempdir().unwrap();
    slow_driver(dir.path());
    let host = DriverHost::with_search_path(vec![dir.path().into()], Events::none());
    let first = host.get("slow").await.unwrap();
    let pid = first.pid().expect("a process");
    let no_cancel = CancellationToken::new();
    let long = Duration::from_secs(60);

    // a call in flight on the same process when another one times out
    let held_params = state_of("held");
    let held = first.request::<GetState>("held", &held_params, long, &no_cancel);
    let timed_out = async {
        let r = first
            .request::<GetState>(
                "slow",
                &state_of("slow"),
                Duration::from_millis(500),
                &no_cancel,
            )
            .await;
        // the driver is released only now: a process still serving would answer it
        std::fs::write(dir.path().join("release"), "").unwrap();
        r
    };
    let (held, timed_out) = tokio::join!(held, timed_out);
    let err = timed_out.unwrap_err();
    assert!(matches!(err, Error::DriverTimeout { .. }), "{err}");
    let held = held.unwrap_err();
    assert!(
        matches!(held, Error::DriverCrashed { .. })
            && held.to_string().contains(
                "stopped by this host after state for machine \"slow\" did not answer within 500ms"
            ),
        "the call in flight fails saying why: {held}"
    );

    // the process and what it started are gone
    let child: u32 = std::fs::read_to_string(dir.path().join("child.pid"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert!(wait_gone(pid), "the timed-out driver {pid} still runs");
    assert!(wait_gone(child), "its child {child} still runs");

    // a later call on the old connection says why instead of waiting
    let later = first
        .request::<GetState>("web1", &state_of("web1"), long, &no_cancel)
        .await
        .unwrap_err();
    assert!(later.to_string().contains("did not answer"), "{later}");

    // the next call gets a new process, which answers
    let next = host.get("slow").await.unwrap();
    assert_ne!(next.pid(), Some(pid));
    let s = next
        .request::<GetState>("web1", &state_of("web1"), long, &no_cancel)
        .await
        .unwrap();
    assert_eq!(s.state, State::Running);
}

/// Writes the Python driver `machine-driver-maker` into `dir`: its `create` reports a VM as
/// made (`made`), writes its pid to `create.pid` and never answers; `remove` writes its pid to
/// `remove.pid` and answers.
fn maker_driver(dir: &Path) {
    use std::os::unix::fs::PermissionsExt;
    let script = format!(
        r#"#!/usr/bin/env python3
import json, os, sys, threading
DIR = "{dir}"
def send(obj):
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()
def mark(name):
    with open(os.path.join(DIR, name), "w") as f:
        f.write(str(os.getpid()))
RESULTS = {{
    "initialize": {{"name": "maker", "version": "0", "protocol_version": 3,
                   "capabilities": {{}}, "options": []}},
    "set_config": {{"config": {{}}}},
    "pre_create_check": None,
}}
for line in sys.stdin:
    req = json.loads(line)
    method = req.get("method")
    if "id" not in req:
        continue
    if method == "create":
        send({{"jsonrpc": "2.0", "method": "made",
              "params": {{"machine": req["params"]["machine"], "config": {{"vm": "vm-1"}}}}}})
        mark("create.pid")
        continue
    if method == "remove":
        mark("remove.pid")
        send({{"jsonrpc": "2.0", "id": req["id"], "result": {{"config": None}}}})
        continue
    send({{"jsonrpc": "2.0", "id": req["id"], "result": RESULTS.get(method)}})
"#,
        dir = dir.display()
    );
    let path = dir.join("machine-driver-maker");
    std::fs::write(&path, script).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

#[tokio::test]
async fn a_create_that_timed_out_is_undone_by_a_new_driver_process() {
    let dir = tempfile::tempdir().unwrap();
    maker_driver(dir.path());
    let store = std::sync::Arc::new(machine_core::MemoryStore::new());
    let mut timeouts = machine_core::Timeouts::default();
    timeouts.lifecycle = Duration::from_secs(1);
    let manager = machine_core::Manager::builder(store.clone())
        .driver_dir(dir.path())
        .no_default_driver_search()
        .timeouts(timeouts)
        .build();
    let err = manager
        .create(
            "web1",
            machine_core::CreateOptions::new("maker"),
            &CancellationToken::new(),
        )
        .await
        .err()
        .expect("the create times out");
    assert!(
        matches!(&err, Error::CreateFailed { kept: false, source, .. }
            if matches!(**source, Error::DriverTimeout { .. })),
        "{err}"
    );
    let pid = |f: &str| {
        std::fs::read_to_string(dir.path().join(f))
            .unwrap_or_else(|_| panic!("no {f}"))
            .parse::<u32>()
            .unwrap()
    };
    let (created_by, removed_by) = (pid("create.pid"), pid("remove.pid"));
    assert_ne!(
        created_by, removed_by,
        "the VM was removed by the process whose create timed out"
    );
    assert!(wait_gone(created_by), "the timed-out driver still runs");
    assert!(
        machine_core::Store::read_config(&*store, "web1")
            .await
            .is_err(),
        "the record was kept"
    );
}
