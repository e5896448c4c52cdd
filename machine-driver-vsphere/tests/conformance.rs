//! The conformance kit (`driver-check`, what `machine-driver-check` runs) against the vSphere
//! driver binary and govmomi's vCenter simulator: every check of the driver contract passes,
//! none is skipped — the whole lifecycle included (a VM from a tiny local ISO, with vcsim
//! reporting its guest IP, so no backing container is needed), the cancelled create and two
//! creates at once. Nothing skips: without the simulator the test fails saying how to get it
//! (scripts/test-env.sh).

mod common;

use common::Vcsim;
use driver_check::{Kit, Outcome, CHECKS};
use machine_driver_vsphere::VsphereDriver;
use serde_json::{json, Value};

#[tokio::test(flavor = "multi_thread")]
async fn the_vsphere_driver_passes_the_conformance_kit() {
    let sim = Vcsim::start("one", 1);
    let dir = tempfile::tempdir().unwrap();
    let iso = dir.path().join("tiny.iso");
    std::fs::write(&iso, vec![7u8; 4096]).unwrap();

    // the options the other tests create VMs with (lifecycle.rs)
    let mut options = sim.options();
    options.insert(
        "vmwarevsphere-boot2docker-url".into(),
        json!(iso.to_string_lossy()),
    );
    options.insert(
        "vmwarevsphere-cfgparam".into(),
        json!(["SET.guest.ipAddress=10.20.30.40"]),
    );
    options.insert("vmwarevsphere-ip-timeout".into(), json!(300));

    // as a user gives them: text, typed by the kit from the schema; secrets (the password) in
    // their environment variable, never as options
    let info = VsphereDriver::info();
    let mut kit = Kit::new(env!("CARGO_BIN_EXE_machine-driver-vsphere"));
    for (name, value) in options {
        let spec = info
            .option(&name)
            .unwrap_or_else(|| panic!("{name} is not an option of the vSphere driver"));
        let texts: Vec<String> = match value {
            Value::Array(items) => items
                .iter()
                .map(|i| i.as_str().expect("a list of strings").to_string())
                .collect(),
            Value::String(s) => vec![s],
            other => vec![other.to_string()],
        };
        for text in texts {
            kit = if spec.secret {
                let var = spec.env.as_deref().expect("a secret option has a variable");
                kit.env(var, &text)
            } else {
                kit.option(&name, &text)
            };
        }
    }

    let report = driver_check::run(&kit).await;
    println!("{report}");
    if !report.passed() {
        eprintln!(
            "the driver's last lines of stderr:\n{}",
            report.stderr_tail.join("\n")
        );
    }
    assert!(report.passed(), "failed: {:?}\n{report}", report.failed());
    // a VM driver declares every operation: nothing of the contract is skipped
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
            .contains("vmwarevsphere-password (VSPHERE_PASSWORD)"),
        "{report}"
    );
}
