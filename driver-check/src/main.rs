//! `machine-driver-check`: runs a driver executable through the driver contract and prints one
//! line per check (`ok`, `FAIL` or `skip`); the exit status is 0 only when every check passed.

use clap::Parser;
use driver_check::{Bounds, Kit, Outcome};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

/// Runs a driver executable through the driver contract (protocol version 3) and reports.
///
/// Without `--option`s that make a machine (set_config accepts them), or with `--no-create`,
/// the lifecycle checks are skipped and only the protocol checks run. Secret options (the
/// schema's `secret: true`) are read from their environment variables, never from the command
/// line.
#[derive(Debug, Parser)]
#[command(name = "machine-driver-check", version)]
struct Args {
    /// An option for set_config, by its name in the driver's schema (without dashes); a
    /// string-list option may be given several times.
    #[arg(long = "option", value_name = "NAME=VALUE", value_parser = driver_check::options::parse_arg)]
    options: Vec<(String, String)>,
    /// Make no machine: skip the lifecycle, cancel and concurrent checks.
    #[arg(long)]
    no_create: bool,
    /// How long the driver may take to answer `initialize`.
    #[arg(long, value_name = "SECS", default_value_t = 10)]
    handshake_timeout: u64,
    /// How long `state`, `access`, `set_config` and the protocol checks' calls may take.
    #[arg(long, value_name = "SECS", default_value_t = 30)]
    call_timeout: u64,
    /// How long a create may take to answer once cancelled.
    #[arg(long, value_name = "SECS", default_value_t = 30)]
    cancel_timeout: u64,
    /// How long create, remove, start, stop, restart and kill may take.
    #[arg(long, value_name = "SECS", default_value_t = 600)]
    operation_timeout: u64,
    /// The driver executable, e.g. target/debug/machine-driver-generic.
    #[arg(value_name = "DRIVER_EXECUTABLE")]
    driver: PathBuf,
    /// Arguments for the driver, e.g. the plugin for `machine-plugin-bridge`
    /// (`machine-driver-check machine-plugin-bridge docker-machine-driver-NAME`).
    #[arg(
        value_name = "ARGS",
        trailing_var_arg = true,
        allow_hyphen_values = true
    )]
    args: Vec<std::ffi::OsString>,
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    let kit = Kit {
        options: args.options,
        create: !args.no_create,
        bounds: Bounds {
            handshake: Duration::from_secs(args.handshake_timeout),
            call: Duration::from_secs(args.call_timeout),
            cancel: Duration::from_secs(args.cancel_timeout),
            operation: Duration::from_secs(args.operation_timeout),
        },
        args: args.args,
        ..Kit::new(args.driver)
    };
    let report = driver_check::run(&kit).await;
    print!("{report}");
    let summary = format!(
        "{}: {} passed, {} failed, {} skipped",
        report
            .driver
            .as_deref()
            .unwrap_or(&kit.executable.display().to_string()),
        report.count(Outcome::Pass),
        report.count(Outcome::Fail),
        report.count(Outcome::Skip)
    );
    eprintln!("{summary}");
    if report.passed() {
        ExitCode::SUCCESS
    } else {
        if !report.stderr_tail.is_empty() {
            eprintln!("the driver's last lines of stderr:");
            for line in &report.stderr_tail {
                eprintln!("  {line}");
            }
        }
        ExitCode::FAILURE
    }
}
