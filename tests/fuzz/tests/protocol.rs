//! Fuzzes the driver protocol's decoder from both ends: the bytes a driver sends to the host
//! (read by [`Client`]: framing, message parsing, matching responses to calls, typed results,
//! progress and made notifications) and the bytes a host sends to a driver (read by
//! [`serve_io`]: requests, typed parameters, cancellations, `$/environment`). Whatever the
//! bytes, a call ends with a result or an error, never a panic or a hang.

use driver_protocol::calls::{Access, MachineParams, SshEndpoint, State};
use driver_protocol::request::{GetAccess, GetState};
use driver_protocol::schema::{Capabilities, DriverInfo, OptionSpec};
use driver_protocol::{async_trait, serve_io, Client, ClientError, Context, Driver, DriverError};
use driver_protocol::{DriverOptions, DynDriver, Machine, Options, Setup};
use machine_fuzz::Fuzz;
use std::io::Cursor;

const DICTIONARY: &[&str] = &[
    "{\"jsonrpc\":\"2.0\",",
    "\"jsonrpc\":\"2.0\"",
    "\"id\":1,",
    "\"id\":2,",
    "\"id\":\"x\",",
    "\"id\":null,",
    "\"result\":",
    "\"error\":{\"code\":-32000,\"message\":\"m\",\"data\":{\"kind\":\"not_found\"}}",
    "\"method\":\"progress\",",
    "\"method\":\"made\",",
    "\"method\":\"$/cancel\",",
    "\"method\":\"$/environment\",",
    "\"vars\":{\"FUZZ_VAR\":\"v\"}",
    "\"protocol_version\":3",
    "\"method\":\"create\",",
    "\"method\":\"state\",",
    "\"params\":{\"machine\":\"m\",\"config\":{}}",
    "\"state\":\"running\"",
    "\"ip\":\"10.0.0.1\"",
    "\"ssh\":{\"host\":\"h\",\"port\":22,\"user\":\"u\"}",
    "\"docker_port\":2376",
    "\"done\":1,\"total\":0",
    "null",
    "true",
    "[]",
    "{}",
    "\"\\u0000\"",
    "\"\\ud800\"",
    "\n",
    "\r\n",
    "}\n",
];

/// Whatever options the fuzzer sends, as they are.
struct AnyOptions(Options);

impl DriverOptions for AnyOptions {
    fn schema() -> Vec<OptionSpec> {
        Vec::new()
    }
    fn from_options(o: &Options) -> Result<Self, DriverError> {
        Ok(AnyOptions(o.clone()))
    }
    fn to_options(&self) -> Options {
        self.0.clone()
    }
}

/// A driver that answers everything at once.
struct Echo;

#[async_trait]
impl Driver for Echo {
    type Options = AnyOptions;
    type Config = serde_json::Value;
    fn info(&self) -> DriverInfo {
        DriverInfo::new("echo", "1", Capabilities::none()).with_env(&["FUZZ_VAR"])
    }
    async fn set_config(
        &self,
        _cx: &Context,
        o: AnyOptions,
        _: &Setup,
    ) -> Result<serde_json::Value, DriverError> {
        serde_json::to_value(&o.0).map_err(|e| DriverError::internal(e.to_string()))
    }
    async fn state(
        &self,
        cx: &Context,
        _m: Machine<serde_json::Value>,
    ) -> Result<State, DriverError> {
        // what the host sent in `$/environment`, if anything
        cx.progress(format!("looking ({:?})", cx.env("FUZZ_VAR")));
        Ok(State::Running)
    }
    async fn access(
        &self,
        _cx: &Context,
        _m: Machine<serde_json::Value>,
    ) -> Result<Access, DriverError> {
        Ok(Access::new(
            "10.0.0.1",
            SshEndpoint::new("10.0.0.1", 22, "u"),
            2376,
        ))
    }
}

fn outcome<T>(r: &Result<T, ClientError>) -> &'static str {
    match r {
        Ok(_) => "ok",
        Err(ClientError::Driver(_)) => "driver-error",
        Err(ClientError::Closed) => "closed",
        Err(ClientError::Io(_)) => "io",
        Err(ClientError::BadResponse(_)) => "bad-response",
        Err(_) => "other",
    }
}

/// What the host makes of `bytes` as a driver's output, while it waits for two calls.
async fn host_reads(bytes: &[u8]) -> String {
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let client = Client::new(
        Cursor::new(bytes.to_vec()),
        tokio::io::sink(),
        driver_protocol::client::forward(tx),
    );
    let params = MachineParams::new("m", serde_json::json!({}));
    let (state, access) = tokio::join!(
        client.request::<GetState>(&params),
        client.request::<GetAccess>(&params),
    );
    let mut notes = 0;
    while rx.try_recv().is_ok() {
        notes += 1;
    }
    assert!(
        client.is_closed(),
        "the driver's output ended but the client is open"
    );
    format!(
        "host state={} access={} notes={}",
        outcome(&state),
        outcome(&access),
        notes.min(3)
    )
}

/// What a driver makes of `bytes` as the host's input; returns how many lines it answered.
async fn driver_reads(bytes: &[u8]) -> String {
    let (out_w, out_r) = tokio::io::duplex(1 << 20);
    let served = serve_io(DynDriver::new(Echo), Cursor::new(bytes.to_vec()), out_w).await;
    let mut answered = String::new();
    use tokio::io::AsyncReadExt;
    let mut out_r = out_r;
    out_r
        .read_to_string(&mut answered)
        .await
        .expect("the driver's answers are UTF-8");
    // every answer the driver wrote is a message the host can parse
    for line in answered.lines() {
        driver_protocol::message::Message::parse(line)
            .unwrap_or_else(|e| panic!("the driver wrote an unparsable line ({e}): {line}"));
    }
    format!(
        "driver served={} lines={}",
        served.is_ok(),
        answered.lines().count().min(3)
    )
}

#[test]
fn fuzz_protocol_decoder() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    Fuzz::new("protocol", DICTIONARY).run(|bytes| {
        rt.block_on(async {
            let host = host_reads(bytes).await;
            let driver = driver_reads(bytes).await;
            format!("{host} {driver}")
        })
    });
}
