//! The `machine-driver-check` binary: its table has one line per check and its exit status says
//! whether every check passed. Needs python3 (Debian: apt-get install python3).

use driver_check::CHECKS;
use std::path::Path;
use std::process::{Command, Output};

fn check(args: &[&str]) -> Output {
    assert!(
        Command::new("python3").arg("--version").output().is_ok(),
        "python3 is needed to run the Python drivers: apt-get install python3"
    );
    let out = Command::new(env!("CARGO_BIN_EXE_machine-driver-check"))
        .args(args)
        .output()
        .expect("machine-driver-check runs");
    println!(
        "machine-driver-check {args:?}: {}\n{}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn path(relative: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join(relative)
        .to_string_lossy()
        .into_owned()
}

#[test]
fn the_python_driver_passes_with_exit_status_0_and_one_line_per_check() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let out = check(&[
        "--option",
        "static-ip=127.0.0.1",
        "--option",
        &format!("static-ssh-port={port}"),
        &path("../examples/python-driver/machine-driver-static"),
    ]);
    assert!(out.status.success(), "exit status {}", out.status);
    let stdout = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), CHECKS.len(), "one line per check:\n{stdout}");
    for (line, name) in lines.iter().zip(CHECKS) {
        let mut words = line.split_whitespace();
        let outcome = words.next().unwrap();
        assert!(matches!(outcome, "ok" | "skip"), "{line}");
        assert_eq!(words.next(), Some(*name), "{line}");
    }
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(
        stderr.contains("static 0.2.0: 17 passed, 0 failed, 4 skipped"),
        "{stderr}"
    );
}

#[test]
fn a_broken_driver_exits_non_zero_naming_the_check() {
    let out = check(&[
        "--option",
        "broken-ip=192.0.2.10",
        "--handshake-timeout",
        "3",
        "--call-timeout",
        "3",
        "--cancel-timeout",
        "3",
        &path("tests/broken/machine-driver-hostile-access"),
    ]);
    assert_eq!(out.status.code(), Some(1));
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(
        stdout.lines().any(|l| l.starts_with("FAIL  access ")),
        "{stdout}"
    );
}

#[test]
fn a_secret_option_on_the_command_line_is_refused() {
    let out = check(&[
        "--no-create",
        "--option",
        "broken-api-token=hunter2",
        &path("tests/broken/machine-driver-logs-to-stdout"),
    ]);
    assert_eq!(out.status.code(), Some(1));
    let stdout = String::from_utf8(out.stdout).unwrap();
    let line = stdout
        .lines()
        .find(|l| l.starts_with("FAIL  options "))
        .unwrap_or_else(|| panic!("no failed options line:\n{stdout}"));
    assert!(
        line.contains("BROKEN_API_TOKEN") && !line.contains("hunter2"),
        "{line}"
    );
}

#[test]
fn bad_arguments_are_a_usage_error() {
    let out = check(&["--option", "static-ip", "machine-driver-static"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("NAME=VALUE"));
}
