//! The SDK and the client against each other over in-memory pipes: handshake, calls, errors,
//! progress, concurrency, malformed input, and a driver that dies mid-call.

use async_trait::async_trait;
use driver_protocol::calls::*;
use driver_protocol::schema::*;
use driver_protocol::*;
use serde_json::{json, Value};
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::sync::mpsc;

struct Toy;

#[async_trait]
impl Driver for Toy {
    fn info(&self) -> DriverInfo {
        DriverInfo::new(
            "toy",
            "1.2.3",
            Capabilities {
                stop: true,
                ..Default::default()
            },
            vec![OptionSpec::string("toy-ip", "address")
                .env("TOY_IP")
                .default("10.0.0.1")],
        )
    }
    async fn set_config(
        &self,
        cx: &Context,
        p: SetConfigParams,
    ) -> Result<ConfigResult, DriverError> {
        cx.progress("configuring");
        match p.options.get("toy-ip") {
            Some(Value::String(ip)) => Ok(ConfigResult {
                config: json!({ "ip": ip }),
            }),
            _ => Err(DriverError::invalid_option("--toy-ip is required")),
        }
    }
    async fn stop(&self, _cx: &Context, p: MachineParams) -> Result<ConfigResult, DriverError> {
        if p.machine == "panic" {
            panic!("boom");
        }
        if p.machine == "slow" {
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
        Ok(ConfigResult { config: p.config })
    }
    async fn state(&self, _cx: &Context, _p: MachineParams) -> Result<StateResult, DriverError> {
        Ok(StateResult {
            state: State::Running,
        })
    }
    async fn ip(&self, _cx: &Context, p: MachineParams) -> Result<IpResult, DriverError> {
        Ok(IpResult {
            ip: p.config["ip"].as_str().unwrap_or("").into(),
        })
    }
    async fn ssh(&self, _cx: &Context, _p: MachineParams) -> Result<SshDetails, DriverError> {
        Err(DriverError::not_supported("ssh"))
    }
}

fn connect() -> (Client, mpsc::UnboundedReceiver<ClientNotification>) {
    let (host_end, driver_end) = tokio::io::duplex(64 * 1024);
    let (dr, dw) = tokio::io::split(driver_end);
    tokio::spawn(serve_io(Toy, dr, dw));
    let (hr, hw) = tokio::io::split(host_end);
    let (tx, rx) = mpsc::unbounded_channel();
    (Client::new(hr, hw, tx), rx)
}

fn mp(machine: &str) -> MachineParams {
    MachineParams {
        machine: machine.into(),
        config: json!({"ip": "10.1.2.3"}),
    }
}

#[tokio::test]
async fn handshake_reports_identity_and_schema() {
    let (c, _) = connect();
    let info: DriverInfo = c
        .call(
            INITIALIZE,
            &InitializeParams {
                protocol_version: PROTOCOL_VERSION,
                host: "test".into(),
            },
        )
        .await
        .unwrap();
    assert_eq!(info.name, "toy");
    assert_eq!(info.version, "1.2.3");
    assert!(info.capabilities.stop && !info.capabilities.start);
    let opt = info.option("toy-ip").unwrap();
    assert_eq!(opt.env.as_deref(), Some("TOY_IP"));
    assert_eq!(opt.default, Some(json!("10.0.0.1")));
}

#[tokio::test]
async fn handshake_refuses_other_protocol_versions() {
    let (c, _) = connect();
    let err = c
        .call::<_, DriverInfo>(
            INITIALIZE,
            &InitializeParams {
                protocol_version: 99,
                host: "t".into(),
            },
        )
        .await
        .unwrap_err();
    assert!(err.to_string().contains("protocol version"), "{err}");
}

#[tokio::test]
async fn calls_results_errors_and_progress() {
    let (c, mut notes) = connect();
    let params = SetConfigParams {
        machine: "m1".into(),
        options: json!({"toy-ip": "192.0.2.7"}).as_object().unwrap().clone(),
        machine_dir: "/tmp/x".into(),
    };
    let r: ConfigResult = c.call(SET_CONFIG, &params).await.unwrap();
    assert_eq!(r.config, json!({"ip": "192.0.2.7"}));
    match notes.recv().await.unwrap() {
        ClientNotification::Progress(p) => {
            assert_eq!(p.machine, "m1");
            assert_eq!(p.message, "configuring");
        }
        other => panic!("{other:?}"),
    }
    let bad = SetConfigParams {
        options: Default::default(),
        ..params
    };
    match c
        .call::<_, ConfigResult>(SET_CONFIG, &bad)
        .await
        .unwrap_err()
    {
        ClientError::Driver(e) => {
            assert_eq!(e.kind, ErrorKind::InvalidOption);
            assert!(e.message.contains("--toy-ip"));
        }
        other => panic!("{other:?}"),
    }
    let ip: IpResult = c.call(IP, &mp("m1")).await.unwrap();
    assert_eq!(ip.ip, "10.1.2.3");
    let url: UrlResult = c.call(URL, &mp("m1")).await.unwrap();
    assert_eq!(url.url, "tcp://10.1.2.3:2376");
    match c
        .call::<_, ConfigResult>(START, &mp("m1"))
        .await
        .unwrap_err()
    {
        ClientError::Driver(e) => assert_eq!(e.kind, ErrorKind::NotSupported),
        other => panic!("{other:?}"),
    }
    match c
        .call::<_, Value>("frobnicate", &mp("m1"))
        .await
        .unwrap_err()
    {
        ClientError::Driver(e) => assert_eq!(e.kind, ErrorKind::Protocol),
        other => panic!("{other:?}"),
    }
    match c
        .call::<_, Value>(STATE, &json!({"nope": 1}))
        .await
        .unwrap_err()
    {
        ClientError::Driver(e) => assert_eq!(e.kind, ErrorKind::Protocol),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn concurrent_calls_do_not_wait_for_each_other() {
    let (c, _) = connect();
    let started = std::time::Instant::now();
    let slow_params = mp("slow");
    let slow = c.call::<_, ConfigResult>(STOP, &slow_params);
    let fast = async {
        let s: StateResult = c.call(STATE, &mp("fast")).await.unwrap();
        (s, started.elapsed())
    };
    let (slow, (state, fast_took)) = tokio::join!(slow, fast);
    slow.unwrap();
    assert_eq!(state.state, State::Running);
    assert!(
        fast_took < Duration::from_millis(250),
        "state waited for stop: {fast_took:?}"
    );
}

#[tokio::test]
async fn a_panicking_handler_is_an_error_and_the_driver_lives_on() {
    let (c, _) = connect();
    let err = c
        .call::<_, ConfigResult>(STOP, &mp("panic"))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("panicked"), "{err}");
    let s: StateResult = c.call(STATE, &mp("after")).await.unwrap();
    assert_eq!(s.state, State::Running);
}

#[tokio::test]
async fn malformed_lines_get_json_rpc_errors() {
    let (host_end, driver_end) = tokio::io::duplex(64 * 1024);
    let (dr, dw) = tokio::io::split(driver_end);
    tokio::spawn(serve_io(Toy, dr, dw));
    let (hr, mut hw) = tokio::io::split(host_end);
    let mut lines = BufReader::new(hr).lines();
    hw.write_all(b"this is not json\n").await.unwrap();
    let l: Value = serde_json::from_str(&lines.next_line().await.unwrap().unwrap()).unwrap();
    assert_eq!(l["error"]["code"], json!(-32600));
    assert_eq!(l["id"], Value::Null);
    hw.write_all(b"{\"jsonrpc\":\"2.0\",\"id\":5}\n")
        .await
        .unwrap();
    let l: Value = serde_json::from_str(&lines.next_line().await.unwrap().unwrap()).unwrap();
    assert_eq!(l["error"]["code"], json!(-32600));
    assert_eq!(l["id"], json!(5));
    // still serving
    hw.write_all(b"{\"jsonrpc\":\"2.0\",\"id\":6,\"method\":\"state\",\"params\":{\"machine\":\"a\",\"config\":{}}}\n")
        .await
        .unwrap();
    let l: Value = serde_json::from_str(&lines.next_line().await.unwrap().unwrap()).unwrap();
    assert_eq!(l["result"]["state"], json!("Running"));
}

#[tokio::test]
async fn a_driver_that_dies_mid_call_fails_the_call() {
    // a "driver" that reads one request and exits without answering
    let (host_end, driver_end) = tokio::io::duplex(1024);
    tokio::spawn(async move {
        let (dr, _dw) = tokio::io::split(driver_end);
        let mut lines = BufReader::new(dr).lines();
        let _ = lines.next_line().await;
        // dropping both halves closes the stream
    });
    let (hr, hw) = tokio::io::split(host_end);
    let (tx, _rx) = mpsc::unbounded_channel();
    let c = Client::new(hr, hw, tx);
    let r = tokio::time::timeout(
        Duration::from_secs(5),
        c.call::<_, StateResult>(STATE, &mp("m")),
    )
    .await;
    assert!(matches!(r, Ok(Err(ClientError::Closed))), "{r:?}");
}
