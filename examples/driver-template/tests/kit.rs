//! The conformance kit (`driver-check`, what `machine-driver-check` runs) against the template
//! driver's binary and the fake cloud: every check of the driver contract passes, none skipped.
//! The token comes from TEMPLATE_TOKEN, as a user gives it: the kit never takes a secret as an
//! option.

mod support;

use driver_check::{Kit, Outcome, CHECKS};
use std::time::Duration;
use support::{FakeCloud, TOKEN};

#[tokio::test(flavor = "multi_thread")]
async fn the_template_driver_passes_the_conformance_kit() {
    let cloud = FakeCloud::start(Duration::from_millis(300)).await;
    let kit = Kit::new(env!("CARGO_BIN_EXE_machine-driver-template"))
        .option("template-api-url", &cloud.url)
        .env("TEMPLATE_TOKEN", TOKEN);
    let report = driver_check::run(&kit).await;
    println!("{report}");
    if !report.passed() {
        eprintln!(
            "the driver's last lines of stderr:\n{}",
            report.stderr_tail.join("\n")
        );
    }
    assert!(report.passed(), "failed: {:?}\n{report}", report.failed());
    for name in CHECKS {
        assert_eq!(
            report.outcome(name),
            Some(Outcome::Pass),
            "check {name}:\n{report}"
        );
    }
    assert!(
        report
            .check("options")
            .unwrap()
            .detail
            .contains("template-token (TEMPLATE_TOKEN)"),
        "{report}"
    );
    // everything the kit made, it removed through the driver
    assert!(cloud.servers().is_empty(), "left: {:?}", cloud.servers());
}
