//! Hostile and broken drivers against the real `machine` CLI: each test writes a small Python
//! driver (`machine-driver-NAME` in a folder put first on the CLI's PATH) that does one bad
//! thing, and checks what a user would see — a clear error soon rather than a 60-second wait,
//! output kept in bounds, nothing of the driver's left running.

use machine_e2e::{call, CallOutput, Cli};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The frame limit of the driver protocol (driver_protocol::framing::MAX_FRAME).
const MAX_FRAME: usize = 8 * 1024 * 1024;

/// A folder holding the Python driver `machine-driver-NAME`: it answers the handshake as driver
/// NAME (no options), `set_config` with an empty config, `pre_create_check` with nothing, and
/// any other call with an error; `methods` (Python at the top level, run before the loop) may
/// replace any entry of `METHODS` (a function of the request's params returning its result, or
/// `None` after answering itself with `send`). A line longer than the frame limit gets what the
/// SDK answers it: a parse error with id null.
fn python_driver(name: &str, methods: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let script = format!(
        r#"#!/usr/bin/env python3
import json, os, subprocess, sys, time
MAX_FRAME = {MAX_FRAME}
def send(obj):
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()
ANSWERED = object()
METHODS = {{
    "initialize": lambda p: {{"name": "{name}", "version": "0", "protocol_version": 3,
                             "capabilities": {{}}, "options": []}},
    "set_config": lambda p: {{"config": {{}}}},
    "pre_create_check": lambda p: None,
}}
{methods}
for line in sys.stdin.buffer:
    if len(line.rstrip(b"\n")) > MAX_FRAME:
        send({{"jsonrpc": "2.0", "id": None, "error": {{"code": -32700,
              "message": "a message of %d bytes, over the limit of %d bytes" % (len(line) - 1, MAX_FRAME)}}}})
        continue
    req = json.loads(line)
    if "id" not in req:
        continue
    f = METHODS.get(req["method"])
    if f is None:
        send({{"jsonrpc": "2.0", "id": req["id"], "error": {{"code": -32000,
              "message": "{name} does not do " + req["method"], "data": {{"kind": "not-supported"}}}}}})
        continue
    result = f(req.get("params") or {{}})
    if result is not ANSWERED:
        send({{"jsonrpc": "2.0", "id": req["id"], "result": result}})
"#
    );
    use std::os::unix::fs::PermissionsExt;
    let path = dir.path().join(format!("machine-driver-{name}"));
    std::fs::write(&path, script).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    dir
}

/// Runs `machine ARGS` with `drivers` first on its PATH.
fn machine(cli: &Cli, drivers: &Path, args: &[&str], timeout: Duration) -> CallOutput {
    let path: Vec<PathBuf> = std::iter::once(drivers.to_path_buf())
        .chain(std::env::split_paths(
            &std::env::var_os("PATH").unwrap_or_default(),
        ))
        .collect();
    let mut cmd = cli.command(args);
    cmd.env("PATH", std::env::join_paths(path).unwrap());
    call(&mut cmd, args, timeout)
}

/// Issue 20 item 9: a driver config just under the frame limit (the driver's own `set_config`
/// answer) makes the next call, which carries it back, just over it. It is refused before it is
/// sent, with its size and the limit, instead of reaching the driver, which cannot read it.
#[test]
fn a_call_over_the_frame_limit_is_refused_before_it_is_sent_with_its_size_and_the_limit() {
    let drivers = python_driver(
        "bigconfig",
        r#"
def set_config(p):
    # an answer 10 bytes under the limit; the pre-create check carries it back with more
    empty = json.dumps({"jsonrpc": "2.0", "id": 2, "result": {"config": {"blob": ""}}})
    return {"config": {"blob": "x" * (MAX_FRAME - 10 - len(empty))}}
METHODS["set_config"] = set_config
def pre_create_check(p):
    open(os.path.join(os.path.dirname(sys.argv[0]), "reached"), "w").close()
METHODS["pre_create_check"] = pre_create_check
"#,
    );
    let cli = Cli::new();
    let out = machine(
        &cli,
        drivers.path(),
        &["create", "-d", "bigconfig", "big1"],
        Duration::from_secs(120),
    );
    assert!(!out.success, "{out}");
    let said = out.stderr.replace('\n', " ");
    assert!(
        said.contains("pre_create_check")
            && said.contains(&format!("limit of {MAX_FRAME} bytes"))
            && said.contains("not sent"),
        "the error names the call, the limit and that nothing was sent:\n{out}"
    );
    let size: usize = said
        .split(" is ")
        .nth(1)
        .and_then(|rest| rest.split(" bytes").next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("the error gives the call's size:\n{out}"));
    assert!(size > MAX_FRAME, "{size}");
    assert!(
        !drivers.path().join("reached").exists(),
        "the driver got a pre-create check"
    );
}

/// Issue 20 item 9: a driver that answers a call with JSON-RPC's parse error, id null (it could
/// not read the line it got), fails the call with the driver's words, rather than leaving it to
/// wait a minute and say the driver did not answer.
#[test]
fn a_drivers_parse_error_without_an_id_fails_the_call_with_its_words() {
    let drivers = python_driver(
        "unreadable",
        r#"
def pre_create_check(p):
    send({"jsonrpc": "2.0", "id": None,
          "error": {"code": -32700, "message": "line 1 of what I got is not JSON"}})
    return ANSWERED
METHODS["pre_create_check"] = pre_create_check
"#,
    );
    let cli = Cli::new();
    let out = machine(
        &cli,
        drivers.path(),
        &["create", "-d", "unreadable", "nul1"],
        Duration::from_secs(120),
    );
    assert!(!out.success, "{out}");
    assert!(
        out.stderr.contains("line 1 of what I got is not JSON")
            && out.stderr.contains("could not read"),
        "the error gives the driver's words:\n{out}"
    );
    assert!(!out.stderr.contains("did not answer"), "{out}");
}

/// Issue 20 item 5: a driver that writes non-JSON lines to its stdout and lines to its stderr
/// without pause for 20 s (long lines and short ones) makes `machine -D create` print at most
/// 1 MiB in all, says how much it held back, and the call the flood came with still gets its
/// answer.
#[test]
fn a_driver_flooding_its_stdout_and_stderr_for_20_seconds_makes_machine_print_at_most_a_mib() {
    let drivers = python_driver(
        "flood",
        r#"
def pre_create_check(p):
    long = "warning: " + "w" * 100000 + "\n"
    short = "w\n" * 1000
    end = time.time() + 20
    while time.time() < end:
        sys.stdout.write(long + short)
        sys.stderr.write(long + short)
    sys.stdout.flush()
    sys.stderr.write("the flood is over\n")
    sys.stderr.flush()
METHODS["pre_create_check"] = pre_create_check
"#,
    );
    let cli = Cli::new();
    let out = machine(
        &cli,
        drivers.path(),
        &["-D", "create", "-d", "flood", "fl1"],
        Duration::from_secs(180),
    );
    let printed = out.stdout.len() + out.stderr.len();
    assert!(
        printed < 1024 * 1024,
        "machine printed {printed} bytes of a driver's flood"
    );
    assert!(
        out.stderr.contains("not shown"),
        "what was held back is said:\n{out}"
    );
    // past the check, the driver's answer to create (it makes nothing) ends the create
    assert!(
        !out.success && out.stderr.contains("flood does not do create"),
        "{out}"
    );
}
