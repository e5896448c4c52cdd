//! What the driver protocol itself costs, apart from any driver's work (issue 8):
//!
//! 1. a round trip: `state` of a driver that answers at once, over an in-memory connection
//!    (`serve_io` on one end of a `tokio::io::duplex`, [`Client`] on the other) — the JSON
//!    encoding, framing, routing by id and task spawning that every call pays;
//! 2. spawn + handshake: starting a real driver executable (the release
//!    `machine-driver-generic`, or `$MACHINE_BENCH_DRIVER`) with the plugin cookie and waiting
//!    for its answer to `initialize` — what a `machine` command pays once per driver it uses.
//!
//! `cargo bench -p driver-protocol --bench protocol` runs both with criterion, then (in bench
//! mode only) times each call of plain loops — 10,000 round trips and 100 spawns, after a
//! warm-up — and prints their percentiles, which criterion does not give, as lines starting
//! with `percentiles:` (scripts/bench.sh reads them). Both run on a multi-threaded tokio
//! runtime, as the `machine` CLI does.

use criterion::Criterion;
use driver_protocol::calls::*;
use driver_protocol::request::{GetState, Initialize};
use driver_protocol::schema::InitializeParams;
use driver_protocol::*;
use serde_json::json;
use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};
use tokio::runtime::Runtime;

/// No options.
#[derive(DriverOptions)]
struct NoOptions {}

/// A driver that answers every call at once.
struct Noop;

#[async_trait]
impl Driver for Noop {
    type Options = NoOptions;
    /// Any JSON, as a generic machine's config is (read in full on every call, as a real
    /// driver reads its own).
    type Config = serde_json::Value;
    fn info(&self) -> DriverInfo {
        DriverInfo::new("noop", "1", Capabilities::none())
    }
    async fn set_config(
        &self,
        _: &Context,
        _: NoOptions,
        _: &Setup,
    ) -> Result<serde_json::Value, DriverError> {
        Ok(json!({}))
    }
    async fn state(
        &self,
        _: &Context,
        _: Machine<serde_json::Value>,
    ) -> Result<State, DriverError> {
        Ok(State::Running)
    }
    async fn access(
        &self,
        _: &Context,
        _: Machine<serde_json::Value>,
    ) -> Result<Access, DriverError> {
        Err(DriverError::not_supported("access"))
    }
}

/// The params of a `state` call as `machine ls` sends them for a generic machine.
fn state_params() -> MachineParams {
    MachineParams::new(
        "m00042",
        json!({
            "engine_port": 2376,
            "installed_key": true,
            "ip": "172.17.0.2",
            "ssh_port": 22,
            "ssh_user": "nick"
        }),
    )
}

/// A client connected to a [`Noop`] driver over an in-memory pipe (call inside the runtime).
fn in_memory_client() -> Client {
    let (host_end, driver_end) = tokio::io::duplex(64 * 1024);
    let (dr, dw) = tokio::io::split(driver_end);
    tokio::spawn(serve_io(DynDriver::new(Noop), dr, dw));
    let (hr, hw) = tokio::io::split(host_end);
    let (notes, _) = tokio::sync::mpsc::unbounded_channel();
    Client::new(hr, hw, driver_protocol::client::forward(notes))
}

async fn round_trip(client: &Client, params: &MachineParams) {
    let s: StateResult = client.request::<GetState>(params).await.expect("state");
    black_box(s);
}

/// The driver executable to spawn: `$MACHINE_BENCH_DRIVER`, else the workspace's release build
/// of the generic driver.
fn driver_bin() -> PathBuf {
    let bin = std::env::var_os("MACHINE_BENCH_DRIVER")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                .join("../target/release/machine-driver-generic")
        });
    assert!(
        bin.is_file(),
        "{} is missing: build it first (cargo build --release -p machine-driver-generic) or \
         point MACHINE_BENCH_DRIVER at a driver executable",
        bin.display()
    );
    bin
}

/// Spawns the driver and waits for its answer to `initialize`; returns the time that took.
/// Closing its stdin then ends it (waited for outside the measured time).
async fn spawn_and_handshake(bin: &Path) -> Duration {
    let start = Instant::now();
    let mut child = tokio::process::Command::new(bin)
        .env(PLUGIN_COOKIE_KEY, PLUGIN_COOKIE_VALUE)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("spawning the driver");
    let stdout = child.stdout.take().expect("piped stdout");
    let stdin = child.stdin.take().expect("piped stdin");
    let (notes, _) = tokio::sync::mpsc::unbounded_channel();
    let client = Client::new(stdout, stdin, driver_protocol::client::forward(notes));
    let info: DriverInfo = client
        .request::<Initialize>(&InitializeParams::new("bench"))
        .await
        .expect("the driver's handshake");
    let took = start.elapsed();
    black_box(info);
    drop(client);
    let _ = child.wait().await;
    took
}

fn bench_round_trip(c: &mut Criterion, rt: &Runtime) {
    let client = rt.block_on(async { in_memory_client() });
    let params = state_params();
    c.bench_function("round trip: state, in-memory connection", |b| {
        b.iter_custom(|iters| {
            rt.block_on(async {
                let start = Instant::now();
                for _ in 0..iters {
                    round_trip(&client, &params).await;
                }
                start.elapsed()
            })
        })
    });
}

fn bench_spawn(c: &mut Criterion, rt: &Runtime, bin: &Path) {
    let mut group = c.benchmark_group("spawn + handshake");
    group.sample_size(20);
    group.bench_function("machine-driver-generic", |b| {
        b.iter_custom(|iters| {
            rt.block_on(async {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    total += spawn_and_handshake(bin).await;
                }
                total
            })
        })
    });
    group.finish();
}

/// `p`-th percentile (0-100) of sorted samples, nearest rank.
fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn print_percentiles(what: &str, mut samples: Vec<Duration>) {
    samples.sort();
    let us = |d: Duration| d.as_secs_f64() * 1e6;
    println!(
        "percentiles: {what}: n={} p50_us={:.1} p90_us={:.1} p99_us={:.1} max_us={:.1}",
        samples.len(),
        us(percentile(&samples, 50.0)),
        us(percentile(&samples, 90.0)),
        us(percentile(&samples, 99.0)),
        us(*samples.last().expect("samples")),
    );
}

/// Every call timed on its own: 10,000 round trips after 1,000 warm-up calls, then 100 spawns
/// after 5.
fn percentiles(rt: &Runtime, bin: &Path) {
    let samples = rt.block_on(async {
        let client = in_memory_client();
        let params = state_params();
        for _ in 0..1_000 {
            round_trip(&client, &params).await;
        }
        let mut samples = Vec::with_capacity(10_000);
        for _ in 0..10_000 {
            let start = Instant::now();
            round_trip(&client, &params).await;
            samples.push(start.elapsed());
        }
        samples
    });
    print_percentiles("round trip (state, in-memory)", samples);
    let samples = rt.block_on(async {
        for _ in 0..5 {
            spawn_and_handshake(bin).await;
        }
        let mut samples = Vec::with_capacity(100);
        for _ in 0..100 {
            samples.push(spawn_and_handshake(bin).await);
        }
        samples
    });
    print_percentiles("spawn + handshake (machine-driver-generic)", samples);
}

fn main() {
    let rt = Runtime::new().expect("tokio runtime");
    let bin = driver_bin();
    let mut c = Criterion::default().configure_from_args();
    bench_round_trip(&mut c, &rt);
    bench_spawn(&mut c, &rt, &bin);
    c.final_summary();
    // `cargo bench` passes --bench; `cargo test --benches` does not, and runs each bench once
    if std::env::args().any(|a| a == "--bench") {
        percentiles(&rt, &bin);
    }
}
