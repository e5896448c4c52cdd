//! The conformance kit (`driver-check`, what `machine-driver-check` runs) against the generic
//! driver (target/debug/machine-driver-generic) and a real test host: every check that applies
//! passes. The generic driver keeps an existing host (`keeps_host`) and declares no
//! start/stop/restart/kill, so those four are skipped; its create makes nothing and answers a
//! `bootstrap` (the host, not the driver, logs in over SSH); its state is Running because the
//! host's SSH port answers.
//!
//! Needs scripts/test-env.sh (Docker engine, test-host image) and `cargo build --workspace
//! --bins`; nothing here skips: a missing piece panics saying so.

use driver_check::{Kit, Outcome, CHECKS};
use machine_e2e::{timed, workspace_bin};
use machine_testsupport::TestHost;

#[test]
fn the_generic_driver_passes_the_conformance_kit() {
    let driver = workspace_bin("machine-driver-generic");
    let host = timed("test host start", || TestHost::start("bookworm"));
    let key = host.key.private.to_string_lossy().into_owned();
    let kit = Kit::new(driver)
        .option("generic-ip-address", &host.ip)
        .option("generic-ssh-user", &host.user)
        .option("generic-ssh-port", "22")
        .option("generic-ssh-key", &key);
    let report = timed("driver-check", || driver_check::run_blocking(&kit));
    println!("{report}");
    if !report.passed() {
        eprintln!(
            "the driver's last lines of stderr:\n{}",
            report.stderr_tail.join("\n")
        );
    }
    assert!(report.passed(), "failed: {:?}\n{report}", report.failed());
    let not_declared = ["stop", "start", "restart", "kill"];
    for name in CHECKS {
        let want = if not_declared.contains(name) {
            Outcome::Skip
        } else {
            Outcome::Pass
        };
        assert_eq!(report.outcome(name), Some(want), "check {name}:\n{report}");
    }
    let create = &report.check("create").unwrap().detail;
    assert!(
        create.contains(&format!("bootstrap with the key file {key}")),
        "create answers the user's key file for the host's first login: {create}"
    );
    let access = &report.check("access").unwrap().detail;
    assert!(
        access.contains(&format!("ssh {}@{}:22", host.user, host.ip))
            && access.contains(&format!("docker tcp://{}:2376", host.ip)),
        "{access}"
    );
    assert!(
        report.check("state").unwrap().detail.starts_with("Running"),
        "the host's SSH port answers: {report}"
    );
}
