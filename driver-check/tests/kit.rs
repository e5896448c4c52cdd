//! The kit against real driver processes: the shipped Python driver passes, and each
//! deliberately broken driver in tests/broken/ fails the check that names its bug while the
//! others pass. Needs python3 (Debian: apt-get install python3); without it the tests fail
//! saying so. No network: the drivers here make nothing real.

use driver_check::{Bounds, Kit, Outcome, Report, CHECKS};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Short bounds: a broken driver's hang costs seconds, not minutes.
const SHORT: Duration = Duration::from_secs(3);

fn require_python() {
    assert!(
        std::process::Command::new("python3")
            .arg("--version")
            .output()
            .is_ok(),
        "python3 is needed to run the Python drivers: apt-get install python3"
    );
}

fn python_example() -> PathBuf {
    require_python();
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/python-driver/machine-driver-static")
}

/// A broken driver of tests/broken/ (made executable if a checkout lost the mode).
fn broken(name: &str) -> PathBuf {
    require_python();
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/broken")
        .join(name);
    let mode = std::fs::metadata(&path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .permissions()
        .mode();
    if mode & 0o111 == 0 {
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    path
}

/// A broken driver's kit: options that make a (pretend) machine, short bounds.
fn broken_kit(name: &str) -> Kit {
    Kit::new(broken(name))
        .option("broken-ip", "192.0.2.10")
        .bounds(Bounds::all(SHORT))
}

async fn run(kit: &Kit) -> Report {
    let t0 = Instant::now();
    let report = driver_check::run(kit).await;
    println!(
        "{} ({:?}):\n{report}stderr: {:?}",
        kit.executable.display(),
        t0.elapsed(),
        report.stderr_tail
    );
    assert_eq!(report.checks.len(), CHECKS.len(), "one result per check");
    report
}

/// Every check in `names` came out as `outcome`.
fn assert_outcome(report: &Report, outcome: Outcome, names: &[&str]) {
    for name in names {
        assert_eq!(
            report.outcome(name),
            Some(outcome),
            "check {name} should be {outcome:?}:\n{report}"
        );
    }
}

/// The checks that are not in `names`.
fn others(names: &[&str]) -> Vec<&'static str> {
    CHECKS
        .iter()
        .copied()
        .filter(|c| !names.contains(c))
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_python_example_driver_passes() {
    // its state is Running when the address answers: a port this test holds open
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port().to_string();
    let kit = Kit::new(python_example())
        .option("static-ip", "127.0.0.1")
        .option("static-ssh-port", &port);
    let report = run(&kit).await;
    assert!(report.passed(), "{report}");
    // no start/stop/restart/kill declared (keeps_host): those four do not apply
    let power = ["stop", "start", "restart", "kill"];
    assert_outcome(&report, Outcome::Skip, &power);
    assert_outcome(&report, Outcome::Pass, &others(&power));
    assert_eq!(report.driver.as_deref(), Some("static 0.2.0"));
    // its create answers at once: before the kit's cancel, or (on a loaded machine) just after
    let cancel = &report.check("cancel").unwrap().detail;
    assert!(
        cancel.contains("before the cancel") || cancel.contains("finished anyway"),
        "{cancel}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn without_options_the_protocol_checks_still_run() {
    let report = run(&Kit::new(python_example())).await;
    assert!(report.passed(), "{report}");
    assert_outcome(
        &report,
        Outcome::Pass,
        &[
            "handshake",
            "schema",
            "unknown-method",
            "malformed-params",
            "state-unknown",
            "bounds",
            "stdout",
        ],
    );
    let set_config = report.check("set-config").unwrap();
    assert_eq!(set_config.outcome, Outcome::Skip);
    assert!(
        set_config.detail.contains("--static-ip is required"),
        "says why: {set_config:?}"
    );
    assert_outcome(
        &report,
        Outcome::Skip,
        &["options", "create", "cancel", "concurrent"],
    );
    assert!(
        report
            .check("create")
            .unwrap()
            .detail
            .contains("no machine made"),
        "{report}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn no_create_skips_the_lifecycle() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port().to_string();
    let kit = Kit::new(python_example())
        .option("static-ip", "127.0.0.1")
        .option("static-ssh-port", &port)
        .no_create();
    let report = run(&kit).await;
    assert!(report.passed(), "{report}");
    assert_outcome(
        &report,
        Outcome::Pass,
        &["options", "set-config", "state-unknown"],
    );
    assert_outcome(
        &report,
        Outcome::Skip,
        &["create", "remove", "cancel", "concurrent"],
    );
    assert_eq!(report.check("create").unwrap().detail, "--no-create");
}

#[tokio::test(flavor = "multi_thread")]
async fn unknown_options_fail_naming_the_known_ones() {
    let kit = Kit::new(python_example())
        .option("static-address", "127.0.0.1")
        .no_create();
    let report = run(&kit).await;
    assert!(!report.passed());
    assert_eq!(report.failed(), vec!["options"], "{report}");
    let detail = &report.check("options").unwrap().detail;
    assert!(
        detail.contains("unknown option static-address")
            && detail.contains("static-ip, static-ssh-user, static-ssh-port"),
        "{detail}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_driver_that_logs_to_stdout_fails_stdout_only() {
    // its secret option comes from the environment (here the kit's own lookups)
    let kit = broken_kit("machine-driver-logs-to-stdout").env("BROKEN_API_TOKEN", "hunter2");
    let report = run(&kit).await;
    assert!(!report.passed());
    let options = &report.check("options").unwrap().detail;
    assert!(
        options.contains("from the environment: broken-api-token (BROKEN_API_TOKEN)")
            && !report.to_string().contains("hunter2"),
        "{options}"
    );
    assert_eq!(report.failed(), vec!["stdout"], "{report}");
    let detail = &report.check("stdout").unwrap().detail;
    assert!(detail.contains("logs-to-stdout: starting"), "{detail}");
    // a complete driver otherwise: the whole lifecycle ran and passed, stop to kill included
    assert_outcome(&report, Outcome::Pass, &others(&["stdout"]));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_driver_that_ignores_cancel_fails_cancel() {
    let report = run(&broken_kit("machine-driver-ignores-cancel")).await;
    assert!(!report.passed());
    let cancel = &report.check("cancel").unwrap();
    assert_eq!(cancel.outcome, Outcome::Fail, "{report}");
    assert!(
        cancel.detail.contains("$/cancel sent after made") && cancel.detail.contains("no answer"),
        "{cancel:?}"
    );
    let bounds = &report.check("bounds").unwrap().detail;
    assert!(bounds.contains("create after $/cancel"), "{bounds}");
    // its every create takes a minute: the lifecycle's and the concurrent ones fail too
    assert_outcome(&report, Outcome::Fail, &["create", "concurrent", "bounds"]);
    assert_outcome(
        &report,
        Outcome::Pass,
        &[
            "handshake",
            "schema",
            "unknown-method",
            "malformed-params",
            "options",
            "set-config",
            "state-unknown",
            "pre-create-check",
            "remove",
            "remove-again",
            "stdout",
        ],
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_driver_that_never_answers_state_fails_state_unknown() {
    let report = run(&broken_kit("machine-driver-never-answers-state")).await;
    assert!(!report.passed());
    let check = report.check("state-unknown").unwrap();
    assert_eq!(check.outcome, Outcome::Fail, "{report}");
    assert!(
        check.detail.contains("state: no answer within 3 s"),
        "{check:?}"
    );
    let failing = ["malformed-params", "state-unknown", "state", "bounds"];
    assert_outcome(&report, Outcome::Fail, &failing);
    let power = ["stop", "start", "restart", "kill"];
    assert_outcome(&report, Outcome::Skip, &power);
    let mut not_passing = failing.to_vec();
    not_passing.extend(power);
    assert_outcome(&report, Outcome::Pass, &others(&not_passing));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_driver_with_a_hostile_address_fails_access() {
    let report = run(&broken_kit("machine-driver-hostile-access")).await;
    assert!(!report.passed());
    let check = report.check("access").unwrap();
    assert_eq!(check.outcome, Outcome::Fail, "{report}");
    for needle in ["10.0.0.1; touch /tmp/x", "ssh user"] {
        assert!(check.detail.contains(needle), "{needle}: {check:?}");
    }
    // its access of a machine never made is just as hostile
    let failing = ["access", "state-unknown"];
    assert_outcome(&report, Outcome::Fail, &failing);
    let power = ["stop", "start", "restart", "kill"];
    assert_outcome(&report, Outcome::Skip, &power);
    let mut not_passing = failing.to_vec();
    not_passing.extend(power);
    assert_outcome(&report, Outcome::Pass, &others(&not_passing));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_missing_executable_fails_the_handshake() {
    let report = run(&Kit::new("/nonexistent/machine-driver-nothing")).await;
    assert!(!report.passed());
    let check = report.check("handshake").unwrap();
    assert_eq!(check.outcome, Outcome::Fail);
    assert!(check.detail.contains("cannot start"), "{check:?}");
}
