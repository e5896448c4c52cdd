//! The SDK and the client against each other over in-memory pipes: handshake, calls, errors,
//! progress, `made`, `$/environment`, cancellation, concurrency, malformed input, and a driver
//! that dies mid-call.

use driver_protocol::calls::*;
use driver_protocol::framing::MAX_FRAME;
use driver_protocol::notification::{Cancel, Environment, Notification};
use driver_protocol::request::{
    Create, GetAccess, GetState, Initialize, Remove, Restart, SetConfig, Start, Stop,
};
use driver_protocol::schema::*;
use driver_protocol::*;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};
use tokio::io::{
    AsyncBufReadExt, AsyncWriteExt, BufReader, DuplexStream, Lines, ReadHalf, WriteHalf,
};
use tokio::sync::mpsc;

/// Long enough that a test relying on it would fail visibly; short enough not to stall a run.
const PATIENCE: Duration = Duration::from_secs(10);

/// Requests this crate does not define (or defines with other types), to see what a driver
/// answers to them: `$name` is method `$method` with these params and a result of any JSON.
macro_rules! raw_request {
    ($($name:ident = $method:literal ($params:ty);)*) => {
        $(
            enum $name {}
            impl Request for $name {
                const METHOD: &'static str = $method;
                type Params = $params;
                type Result = Value;
            }
        )*
    };
}

raw_request! {
    // the v1 calls, gone since v2
    OldIp = "ip" (MachineParams);
    OldSsh = "ssh" (MachineParams);
    OldUrl = "url" (MachineParams);
    Frobnicate = "frobnicate" (MachineParams);
    // `state` with params that are not a machine's
    StateOfAnything = "state" (Value);
}

/// The variable the Toy driver declares, and one it does not.
const DECLARED: &str = "TOY_TOKEN";
const UNDECLARED: &str = "TOY_UNDECLARED";

/// The Toy driver's options, declared once.
#[derive(DriverOptions)]
struct ToyOptions {
    /// address
    #[option(name = "toy-ip", env = "TOY_IP")]
    ip: String,
    /// SSH port
    #[option(name = "toy-ssh-port", default = 22)]
    ssh_port: u16,
    /// SSH user
    #[option(name = "toy-ssh-user", default = "docker")]
    ssh_user: String,
    /// password
    #[option(name = "toy-password", secret)]
    #[allow(dead_code)]
    password: Option<String>,
}

struct Toy;

#[async_trait]
impl Driver for Toy {
    type Options = ToyOptions;
    /// Any JSON: the Toy answers what each test wants to see.
    type Config = Value;

    fn info(&self) -> DriverInfo {
        let mut caps = Capabilities::none().with_restart(true);
        caps.stop = true;
        DriverInfo::new("toy", "1.2.3", caps).with_env(&[DECLARED])
    }

    async fn set_config(
        &self,
        cx: &Context,
        o: ToyOptions,
        _: &Setup,
    ) -> Result<Value, DriverError> {
        cx.progress("configuring");
        // no defaults here: the host applied the schema's
        Ok(json!({ "ip": o.ip, "port": o.ssh_port, "user": o.ssh_user }))
    }

    async fn create(
        &self,
        cx: &Context,
        m: Machine<Value>,
        key: &str,
    ) -> Result<Created<Value>, DriverError> {
        cx.progress_step("clone", "cloning the template", Some((1, 3)));
        let made = json!({ "vm": format!("vm-{}", m.creation_id), "ip": m.config["ip"] });
        cx.made(&made);
        if m.name == "wait-for-cancel" {
            tokio::select! {
                _ = cx.cancelled() => return Err(DriverError::cancelled("removed the VM")),
                _ = tokio::time::sleep(Duration::from_secs(60)) => {
                    return Err(DriverError::timeout("never cancelled"))
                }
            }
        }
        Ok(Created::new(json!({ "vm": made["vm"], "key": key }))
            .with_bootstrap(Bootstrap::new(Some("/home/toy/.ssh/id_ed25519".into()))))
    }

    async fn stop(&self, cx: &Context, m: Machine<Value>) -> Result<Option<Value>, DriverError> {
        if m.name == "panic" {
            panic!("boom");
        }
        if m.name == "slow" {
            tokio::time::sleep(Duration::from_millis(300)).await;
            // fails if a cancel meant for another call reached this one
            cx.check_cancelled()?;
        }
        Ok(Some(m.config))
    }

    /// Answers what the call sees of the environment the host sent.
    async fn restart(
        &self,
        cx: &Context,
        _m: Machine<Value>,
    ) -> Result<Option<Value>, DriverError> {
        Ok(Some(json!({
            "declared": cx.env(DECLARED),
            "undeclared": cx.env(UNDECLARED),
        })))
    }

    async fn state(&self, _cx: &Context, m: Machine<Value>) -> Result<State, DriverError> {
        if let Some(kind) = m.name.strip_prefix("fail-") {
            let kind: ErrorKind = serde_json::from_value(json!(kind)).unwrap();
            return Err(DriverError::new(kind, format!("failed with {kind}")));
        }
        Ok(State::Running)
    }

    async fn access(&self, _cx: &Context, m: Machine<Value>) -> Result<Access, DriverError> {
        let ip = m.config["ip"].as_str().unwrap_or_default();
        let port = m.config["port"].as_u64().unwrap_or(22) as u16;
        let user = m.config["user"].as_str().unwrap_or("root");
        Ok(Access::new(ip, SshEndpoint::new(ip, port, user), 2376))
    }
}

/// A Toy driver served over an in-memory pipe; returns the host's end.
fn spawn_toy() -> DuplexStream {
    let (host_end, driver_end) = tokio::io::duplex(64 * 1024);
    let (dr, dw) = tokio::io::split(driver_end);
    tokio::spawn(serve_io(DynDriver::new(Toy), dr, dw));
    host_end
}

fn connect() -> (Client, mpsc::UnboundedReceiver<ClientNotification>) {
    let (hr, hw) = tokio::io::split(spawn_toy());
    let (tx, rx) = mpsc::unbounded_channel();
    (
        Client::new(hr, hw, driver_protocol::client::forward(tx)),
        rx,
    )
}

type RawLines = Lines<BufReader<ReadHalf<DuplexStream>>>;

/// A Toy driver spoken to line by line, without the client.
fn raw() -> (RawLines, WriteHalf<DuplexStream>) {
    let (hr, hw) = tokio::io::split(spawn_toy());
    (BufReader::new(hr).lines(), hw)
}

async fn next_json(lines: &mut RawLines) -> Value {
    let line = tokio::time::timeout(PATIENCE, lines.next_line())
        .await
        .expect("the driver answers")
        .unwrap()
        .expect("the driver is still there");
    serde_json::from_str(&line).unwrap()
}

fn mp(machine: &str) -> MachineParams {
    MachineParams::new(
        machine,
        json!({"ip": "10.1.2.3", "port": 2222, "user": "core"}),
    )
}

fn driver_error(e: ClientError) -> DriverError {
    match e {
        ClientError::Driver(e) => e,
        other => panic!("expected a driver error, got {other:?}"),
    }
}

/// The numbers in `s`: to check that a message names versions without fixing its wording.
fn numbers_in(s: &str) -> Vec<u64> {
    s.split(|c: char| !c.is_ascii_digit())
        .filter_map(|w| w.parse().ok())
        .collect()
}

#[tokio::test]
async fn handshake_reports_identity_and_schema() {
    let (c, _) = connect();
    let info: DriverInfo = c
        .request::<Initialize>(&InitializeParams::new("test"))
        .await
        .unwrap();
    assert_eq!(info.name, "toy");
    assert_eq!(info.version, "1.2.3");
    assert_eq!(info.protocol_version, PROTOCOL_VERSION);
    assert_eq!(PROTOCOL_VERSION, 3);
    assert!(info.capabilities.stop && info.capabilities.restart);
    assert!(!info.capabilities.start && !info.capabilities.kill && !info.capabilities.keeps_host);
    assert_eq!(info.env, vec![DECLARED.to_string()]);
    let opt = info.option("toy-ip").unwrap();
    assert_eq!(opt.env.as_deref(), Some("TOY_IP"));
    assert_eq!(opt.default, None);
    assert_eq!(
        info.option("toy-ssh-port").unwrap().default,
        Some(json!(22))
    );
    assert_eq!(info.secret_keys(), vec!["toy-password"]);
}

#[tokio::test]
async fn handshake_refuses_other_protocol_versions_naming_both() {
    let (c, _) = connect();
    // 2 too: a version 2 host would send SSH credentials, which a version 3 driver never takes
    for theirs in [1, 2, 99] {
        let mut p = InitializeParams::new("old-host");
        p.protocol_version = theirs;
        let e = driver_error(c.request::<Initialize>(&p).await.unwrap_err());
        assert_eq!(e.kind, ErrorKind::Protocol, "{e}");
        let named = numbers_in(&e.message);
        assert!(
            named.contains(&u64::from(PROTOCOL_VERSION)) && named.contains(&u64::from(theirs)),
            "the refusal names both versions: {e}"
        );
    }
    // still serving, and the right version is accepted
    let info: DriverInfo = c
        .request::<Initialize>(&InitializeParams::new("host"))
        .await
        .unwrap();
    assert_eq!(info.name, "toy");
}

#[tokio::test]
async fn handshake_refusal_on_the_wire_is_a_driver_error_of_kind_protocol() {
    // what a driver in another language (examples/python-driver) must send
    let (mut lines, mut w) = raw();
    w.write_all(
        b"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"initialize\",\"params\":{\"protocol_version\":1,\"host\":\"t\"}}\n",
    )
    .await
    .unwrap();
    let l = next_json(&mut lines).await;
    assert_eq!(l["id"], json!(1));
    assert_eq!(l["error"]["code"], json!(-32000));
    assert_eq!(l["error"]["data"]["kind"], json!("protocol"));
    let named = numbers_in(l["error"]["message"].as_str().unwrap());
    assert!(
        named.contains(&1) && named.contains(&u64::from(PROTOCOL_VERSION)),
        "{l}"
    );
}

#[tokio::test]
async fn calls_results_errors_and_progress() {
    let (c, mut notes) = connect();
    let info: DriverInfo = c
        .request::<Initialize>(&InitializeParams::new("test"))
        .await
        .unwrap();
    let mut given = Options::new();
    given.insert("toy-ip", "192.0.2.7");
    let params = SetConfigParams::new("m1", info.with_defaults(given));
    let r: ConfigResult = c.request::<SetConfig>(&params).await.unwrap();
    assert_eq!(
        r.config,
        json!({"ip": "192.0.2.7", "port": 22, "user": "docker"})
    );
    match notes.recv().await.unwrap() {
        ClientNotification::Progress(p) => {
            assert_eq!(p.machine, "m1");
            assert_eq!(p.message, "configuring");
            assert_eq!((p.step, p.done, p.total), (None, None, None));
        }
        other => panic!("{other:?}"),
    }

    let bad = SetConfigParams::new("m1", info.with_defaults(Options::new()));
    let e = driver_error(c.request::<SetConfig>(&bad).await.unwrap_err());
    assert_eq!(e.kind, ErrorKind::InvalidOption);
    assert!(e.message.contains("--toy-ip"), "{e}");

    let a: Access = c.request::<GetAccess>(&mp("m1")).await.unwrap();
    assert_eq!(a.ip, "10.1.2.3");
    assert_eq!(a.ssh, Some(SshEndpoint::new("10.1.2.3", 2222, "core")));
    assert_eq!(a.docker_url, "tcp://10.1.2.3:2376");
    let v6 = MachineParams::new("m6", json!({"ip": "fd00::7"}));
    let a: Access = c.request::<GetAccess>(&v6).await.unwrap();
    assert_eq!(a.docker_url, "tcp://[fd00::7]:2376");
    let ssh = a.ssh.unwrap();
    assert_eq!((ssh.port, ssh.user.as_str()), (22, "root"));

    let r: ConfigResult = c.request::<Remove>(&mp("m1")).await.unwrap();
    assert_eq!(r, ConfigResult::unchanged());
    let e = driver_error(c.request::<Start>(&mp("m1")).await.unwrap_err());
    assert_eq!(e.kind, ErrorKind::NotSupported);
    // the v1 calls are gone
    for e in [
        c.request::<OldIp>(&mp("m1")).await,
        c.request::<OldSsh>(&mp("m1")).await,
        c.request::<OldUrl>(&mp("m1")).await,
        c.request::<Frobnicate>(&mp("m1")).await,
    ] {
        let e = driver_error(e.unwrap_err());
        assert_eq!(e.kind, ErrorKind::Protocol, "{e}");
    }
    let e = driver_error(
        c.request::<StateOfAnything>(&json!({"nope": 1}))
            .await
            .unwrap_err(),
    );
    assert_eq!(e.kind, ErrorKind::Protocol);
}

#[tokio::test]
async fn defaults_are_applied_by_the_host_not_the_driver() {
    let (c, _) = connect();
    let info: DriverInfo = c
        .request::<Initialize>(&InitializeParams::new("test"))
        .await
        .unwrap();
    let mut given = Options::new();
    given.insert("toy-ip", "192.0.2.8");
    given.insert("toy-ssh-user", "nick");

    // without the host's defaults the driver has no port: it never repeats a default in code
    let e = driver_error(
        c.request::<SetConfig>(&SetConfigParams::new("m", given.clone()))
            .await
            .unwrap_err(),
    );
    assert_eq!(e.kind, ErrorKind::InvalidOption);
    assert!(e.message.contains("--toy-ssh-port"), "{e}");

    // with them, the given value wins over the default and the rest are filled in
    let r: ConfigResult = c
        .request::<SetConfig>(&SetConfigParams::new("m", info.with_defaults(given)))
        .await
        .unwrap();
    assert_eq!(
        r.config,
        json!({"ip": "192.0.2.8", "port": 22, "user": "nick"})
    );

    // a value of the wrong type is the driver's invalid-option error, naming the option
    let mut wrong = info.with_defaults(Options::new());
    wrong.insert("toy-ip", "192.0.2.9");
    wrong.insert("toy-ssh-port", 70000);
    let e = driver_error(
        c.request::<SetConfig>(&SetConfigParams::new("m", wrong))
            .await
            .unwrap_err(),
    );
    assert_eq!(e.kind, ErrorKind::InvalidOption);
    assert!(
        e.message.contains("--toy-ssh-port") && e.message.contains("70000"),
        "{e}"
    );
}

#[tokio::test]
async fn error_kinds_survive_the_round_trip() {
    let (c, _) = connect();
    for kind in [
        ErrorKind::NotSupported,
        ErrorKind::NotFound,
        ErrorKind::InvalidOption,
        ErrorKind::Unreachable,
        ErrorKind::AuthFailed,
        ErrorKind::Timeout,
        ErrorKind::AlreadyExists,
        ErrorKind::Cancelled,
        ErrorKind::Protocol,
        ErrorKind::Internal,
    ] {
        let machine = format!("fail-{kind}");
        let e = driver_error(c.request::<GetState>(&mp(&machine)).await.unwrap_err());
        assert_eq!(e, DriverError::new(kind, format!("failed with {kind}")));
    }
}

#[tokio::test]
async fn create_reports_made_and_progress_steps_before_its_response() {
    let (c, mut notes) = connect();
    let p = CreateParams::new(
        "m1",
        json!({"ip": "10.1.2.3"}),
        "c-42",
        "ssh-ed25519 AAAAmachine",
    );
    let r: CreateResult = c.request::<Create>(&p).await.unwrap();
    assert_eq!(
        r.config,
        json!({"vm": "vm-c-42", "key": "ssh-ed25519 AAAAmachine"})
    );
    assert_eq!(
        r.bootstrap.and_then(|b| b.key_path).as_deref(),
        Some("/home/toy/.ssh/id_ed25519")
    );
    // both notifications were routed before the response: they are already here
    match notes.try_recv().expect("progress before the response") {
        ClientNotification::Progress(p) => {
            assert_eq!(p.machine, "m1");
            assert_eq!(p.step.as_deref(), Some("clone"));
            assert_eq!(p.message, "cloning the template");
            assert_eq!((p.done, p.total), (Some(1), Some(3)));
        }
        other => panic!("{other:?}"),
    }
    match notes.try_recv().expect("made before the response") {
        ClientNotification::Made(m) => {
            assert_eq!(m.machine, "m1");
            assert_eq!(m.config, json!({"vm": "vm-c-42", "ip": "10.1.2.3"}));
        }
        other => panic!("{other:?}"),
    }
    assert!(notes.try_recv().is_err(), "nothing else was sent");
}

/// The host sends the values of the variables a driver declared in `$/environment`, right after
/// the handshake; the calls after it read them from their context, and only the declared ones,
/// whatever else the host sent.
#[tokio::test]
async fn the_environment_reaches_calls_and_only_what_was_declared() {
    let (c, _) = connect();
    let info = c
        .request::<Initialize>(&InitializeParams::new("test"))
        .await
        .unwrap();
    assert_eq!(info.env, vec![DECLARED.to_string()]);
    // nothing sent yet: nothing seen (the driver's own process environment is not read)
    let r = c.request::<Restart>(&mp("m1")).await.unwrap();
    assert_eq!(r.config, json!({"declared": null, "undeclared": null}));

    let vars = BTreeMap::from([
        (DECLARED.to_string(), "t0ken".to_string()),
        (UNDECLARED.to_string(), "not-for-this-driver".to_string()),
    ]);
    c.notify::<Environment>(&EnvironmentParams::new(vars))
        .await
        .unwrap();
    let r = c.request::<Restart>(&mp("m1")).await.unwrap();
    assert_eq!(r.config, json!({"declared": "t0ken", "undeclared": null}));
    // every call after it sees it, concurrent ones too
    let (pa, pb) = (mp("a"), mp("b"));
    let (a, b) = tokio::join!(c.request::<Restart>(&pa), c.request::<Restart>(&pb));
    for r in [a, b] {
        assert_eq!(
            r.unwrap().config,
            json!({"declared": "t0ken", "undeclared": null})
        );
    }

    // on the wire, as a host in another language sends it: a notification, never answered (the
    // next line is the answer to the next request)
    let (mut lines, mut w) = raw();
    w.write_all(
        b"{\"jsonrpc\":\"2.0\",\"method\":\"$/environment\",\"params\":{\"vars\":{\"TOY_TOKEN\":\"raw\",\"TOY_UNDECLARED\":\"x\"}}}\n",
    )
    .await
    .unwrap();
    w.write_all(b"{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"restart\",\"params\":{\"machine\":\"a\",\"config\":{}}}\n")
        .await
        .unwrap();
    let l = next_json(&mut lines).await;
    assert_eq!(l["id"], json!(3), "{l}");
    assert_eq!(
        l["result"]["config"],
        json!({"declared": "raw", "undeclared": null})
    );
}

/// No key, password or certificate of the host's crosses the protocol: what a host writes for a
/// call on a machine is its name, its driver config and the creation id; for `create`, the
/// machine's public key besides. The capabilities have no `ssh` any more.
#[tokio::test]
async fn no_key_material_crosses_the_protocol() {
    // a "driver" that records each request and answers it with an unchanged config
    let (host_end, driver_end) = tokio::io::duplex(64 * 1024);
    let (seen_tx, mut seen_rx) = mpsc::unbounded_channel::<String>();
    tokio::spawn(async move {
        let (dr, mut dw) = tokio::io::split(driver_end);
        let mut lines = BufReader::new(dr).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            let req: Value = serde_json::from_str(&line).unwrap();
            let resp = json!({"jsonrpc": "2.0", "id": req["id"], "result": {"config": null}});
            dw.write_all(format!("{resp}\n").as_bytes()).await.unwrap();
            let _ = seen_tx.send(line);
        }
    });
    let (hr, hw) = tokio::io::split(host_end);
    let (tx, _rx) = mpsc::unbounded_channel();
    let c = Client::new(hr, hw, driver_protocol::client::forward(tx));

    let mut p = mp("m1");
    p.creation_id = "c-1".into();
    c.request::<Restart>(&p).await.unwrap();
    c.request::<Remove>(&p).await.unwrap();
    let create = CreateParams::new("m1", p.config.clone(), "c-1", "ssh-ed25519 AAAAmachine");
    c.request::<Create>(&create).await.unwrap();

    let keys = |line: &str| -> Vec<String> {
        let v: Value = serde_json::from_str(line).unwrap();
        let mut k: Vec<String> = v["params"].as_object().unwrap().keys().cloned().collect();
        k.sort();
        k
    };
    for (method, want) in [
        ("restart", vec!["config", "creation_id", "machine"]),
        ("remove", vec!["config", "creation_id", "machine"]),
        (
            "create",
            vec!["config", "creation_id", "machine", "ssh_public_key"],
        ),
    ] {
        let line = seen_rx.recv().await.unwrap();
        let v: Value = serde_json::from_str(&line).unwrap();
        assert_eq!(v["method"], json!(method), "{line}");
        assert_eq!(keys(&line), want, "{line}");
        for secret in [
            "private_key",
            "PRIVATE KEY",
            "host_key",
            "password",
            "\"ssh\"",
        ] {
            assert!(!line.contains(secret), "{secret} crossed: {line}");
        }
    }
    assert_eq!(
        serde_json::to_value(&create).unwrap()["ssh_public_key"],
        json!("ssh-ed25519 AAAAmachine")
    );

    // the capabilities a driver declares: no `ssh`, whatever it sets
    let caps = serde_json::to_value(Capabilities::all().with_keeps_host(true)).unwrap();
    let mut names: Vec<&String> = caps.as_object().unwrap().keys().collect();
    names.sort();
    assert_eq!(names, ["keeps_host", "kill", "restart", "start", "stop"]);
}

#[tokio::test]
async fn a_cancelled_call_is_undone_and_answered_promptly() {
    let (c, mut notes) = connect();
    let token = CancellationToken::new();
    let never = CancellationToken::new();
    let create = CreateParams::new("wait-for-cancel", json!({"ip": "10.9.9.9"}), "c-7", "k");
    let slow = mp("slow");
    let mut cancelled_at = None;
    let (created, stopped, ()) = tokio::time::timeout(PATIENCE, async {
        tokio::join!(
            c.request_cancellable::<Create>(&create, &token),
            // another call in flight, on its own token: not cancelled with the create
            c.request_cancellable::<Stop>(&slow, &never),
            async {
                // cancel once the VM exists, as a user pressing ^C would
                loop {
                    match notes.recv().await.unwrap() {
                        ClientNotification::Made(m) => {
                            assert_eq!(m.config["vm"], json!("vm-c-7"));
                            break;
                        }
                        ClientNotification::Progress(_) => {}
                        other => panic!("{other:?}"),
                    }
                }
                cancelled_at = Some(Instant::now());
                token.cancel();
            },
        )
    })
    .await
    .expect("a cancelled call is answered, not left hanging");
    let e = driver_error(created.unwrap_err());
    assert_eq!(e.kind, ErrorKind::Cancelled);
    assert_eq!(e.message, "removed the VM");
    let took = cancelled_at.unwrap().elapsed();
    assert!(took < Duration::from_secs(5), "cancel took {took:?}");
    assert_eq!(stopped.unwrap().config, slow.config);

    // a token cancelled before the call still reaches the driver (the cancel follows the request)
    let started = Instant::now();
    let e = driver_error(
        tokio::time::timeout(PATIENCE, c.request_cancellable::<Create>(&create, &token))
            .await
            .unwrap()
            .unwrap_err(),
    );
    assert_eq!(e.kind, ErrorKind::Cancelled);
    assert!(started.elapsed() < Duration::from_secs(5));

    // and the driver serves on
    let s: StateResult = c.request::<GetState>(&mp("after")).await.unwrap();
    assert_eq!(s.state, State::Running);
}

#[tokio::test]
async fn a_cancel_for_an_unknown_or_finished_request_is_harmless() {
    let (mut lines, mut w) = raw();
    w.write_all(b"{\"jsonrpc\":\"2.0\",\"id\":6,\"method\":\"state\",\"params\":{\"machine\":\"a\",\"config\":{}}}\n")
        .await
        .unwrap();
    let l = next_json(&mut lines).await;
    assert_eq!(
        (l["id"].clone(), l["result"]["state"].clone()),
        (json!(6), json!("Running"))
    );
    for cancel in [
        r#"{"jsonrpc":"2.0","method":"$/cancel","params":{"id":6}}"#, // finished
        r#"{"jsonrpc":"2.0","method":"$/cancel","params":{"id":999}}"#, // never sent
        r#"{"jsonrpc":"2.0","method":"$/cancel","params":{"id":"nope"}}"#,
        r#"{"jsonrpc":"2.0","method":"$/cancel","params":{}}"#, // malformed
        r#"{"jsonrpc":"2.0","method":"$/cancel"}"#,
    ] {
        w.write_all(format!("{cancel}\n").as_bytes()).await.unwrap();
    }
    // notifications get no answer: the next line is the answer to the next request
    w.write_all(b"{\"jsonrpc\":\"2.0\",\"id\":7,\"method\":\"state\",\"params\":{\"machine\":\"b\",\"config\":{}}}\n")
        .await
        .unwrap();
    let l = next_json(&mut lines).await;
    assert_eq!(l["id"], json!(7));
    assert_eq!(l["result"]["state"], json!("Running"));

    // through the client: cancelling a token after its call finished sends nothing harmful
    let (c, _) = connect();
    let token = CancellationToken::new();
    let s: StateResult = c
        .request_cancellable::<GetState>(&mp("m"), &token)
        .await
        .unwrap();
    assert_eq!(s.state, State::Running);
    token.cancel();
    let s: StateResult = c.request::<GetState>(&mp("m")).await.unwrap();
    assert_eq!(s.state, State::Running);
}

#[tokio::test]
async fn the_cancel_names_the_request_and_a_driver_dying_after_it_is_an_error() {
    // a "driver" that reads a request and the cancel for it, then exits without answering
    let (host_end, driver_end) = tokio::io::duplex(4096);
    let (seen_tx, seen_rx) = tokio::sync::oneshot::channel();
    tokio::spawn(async move {
        let (dr, _dw) = tokio::io::split(driver_end);
        let mut lines = BufReader::new(dr).lines();
        let req: Value = serde_json::from_str(&lines.next_line().await.unwrap().unwrap()).unwrap();
        let cancel: Value =
            serde_json::from_str(&lines.next_line().await.unwrap().unwrap()).unwrap();
        let _ = seen_tx.send((req, cancel));
    });
    let (hr, hw) = tokio::io::split(host_end);
    let (tx, _rx) = mpsc::unbounded_channel();
    let c = Client::new(hr, hw, driver_protocol::client::forward(tx));
    let token = CancellationToken::new();
    token.cancel();
    let r = tokio::time::timeout(
        PATIENCE,
        c.request_cancellable::<Create>(&CreateParams::new("m", json!({}), "c", "k"), &token),
    )
    .await;
    assert!(matches!(r, Ok(Err(ClientError::Closed))), "{r:?}");
    let (req, cancel) = seen_rx.await.unwrap();
    assert_eq!(req["method"], json!("create"));
    assert_eq!(cancel["method"], json!("$/cancel"));
    assert_eq!(cancel["method"], json!(Cancel::METHOD));
    assert_eq!(cancel["params"]["id"], req["id"]);
    assert!(
        cancel.get("id").is_none(),
        "a cancel is a notification: {cancel}"
    );
}

#[tokio::test]
async fn concurrent_calls_do_not_wait_for_each_other() {
    let (c, _) = connect();
    let started = Instant::now();
    let slow_params = mp("slow");
    let slow = c.request::<Stop>(&slow_params);
    let fast = async {
        let s: StateResult = c.request::<GetState>(&mp("fast")).await.unwrap();
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
    let err = c.request::<Stop>(&mp("panic")).await.unwrap_err();
    assert!(err.to_string().contains("panicked"), "{err}");
    assert_eq!(driver_error(err).kind, ErrorKind::Internal);
    let s: StateResult = c.request::<GetState>(&mp("after")).await.unwrap();
    assert_eq!(s.state, State::Running);
}

#[tokio::test]
async fn malformed_lines_get_json_rpc_errors() {
    let (mut lines, mut hw) = raw();
    hw.write_all(b"this is not json\n").await.unwrap();
    let l = next_json(&mut lines).await;
    // JSON-RPC 2.0 asks for -32700 (parse error) here; -32600 is what the SDK sent in v1
    let code = l["error"]["code"].as_i64().unwrap();
    assert!(code == -32700 || code == -32600, "{l}");
    assert_eq!(l["id"], Value::Null);
    hw.write_all(b"{\"jsonrpc\":\"2.0\",\"id\":5}\n")
        .await
        .unwrap();
    let l = next_json(&mut lines).await;
    assert_eq!(l["error"]["code"], json!(-32600));
    assert_eq!(l["id"], json!(5));
    hw.write_all(b"{\"jsonrpc\":\"1.0\",\"id\":\"s\",\"method\":\"state\"}\n")
        .await
        .unwrap();
    let l = next_json(&mut lines).await;
    assert_eq!(l["error"]["code"], json!(-32600));
    assert_eq!(l["id"], json!("s"));
    // bad params for a known method
    hw.write_all(
        b"{\"jsonrpc\":\"2.0\",\"id\":8,\"method\":\"access\",\"params\":{\"machine\":1}}\n",
    )
    .await
    .unwrap();
    let l = next_json(&mut lines).await;
    assert_eq!(l["error"]["code"], json!(-32602));
    assert_eq!(l["id"], json!(8));
    // still serving
    hw.write_all(b"{\"jsonrpc\":\"2.0\",\"id\":6,\"method\":\"state\",\"params\":{\"machine\":\"a\",\"config\":{}}}\n")
        .await
        .unwrap();
    let l = next_json(&mut lines).await;
    assert_eq!(l["id"], json!(6));
    assert_eq!(l["result"]["state"], json!("Running"));
}

#[tokio::test]
async fn oversize_and_non_utf8_lines_get_parse_errors_and_the_driver_reads_on() {
    let (mut lines, mut hw) = raw();
    let mut huge = vec![b'x'; MAX_FRAME + 10];
    huge.push(b'\n');
    hw.write_all(&huge).await.unwrap();
    let l = next_json(&mut lines).await;
    assert_eq!(l["error"]["code"], json!(-32700));
    assert_eq!(l["id"], Value::Null);
    // the line's size and the limit
    assert_eq!(
        l["error"]["message"],
        json!(format!(
            "a message of {} bytes, over the limit of {MAX_FRAME} bytes",
            MAX_FRAME + 10
        )),
        "{l}"
    );
    hw.write_all(b"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"\xff\xfe\"}\n")
        .await
        .unwrap();
    let l = next_json(&mut lines).await;
    assert_eq!(l["error"]["code"], json!(-32700));
    assert!(
        l["error"]["message"].as_str().unwrap().contains("UTF-8"),
        "{l}"
    );
    hw.write_all(b"{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"state\",\"params\":{\"machine\":\"a\",\"config\":{}}}\n")
        .await
        .unwrap();
    let l = next_json(&mut lines).await;
    assert_eq!(l["id"], json!(2));
    assert_eq!(l["result"]["state"], json!("Running"));
}

#[tokio::test]
async fn framing_handles_split_batched_crlf_and_blank_lines() {
    let (mut lines, mut hw) = raw();
    let req = |id: u32| {
        format!(
            "{{\"jsonrpc\":\"2.0\",\"id\":{id},\"method\":\"state\",\"params\":{{\"machine\":\"a\",\"config\":{{}}}}}}"
        )
    };
    // one request in three writes
    let one = req(1);
    let (a, rest) = one.split_at(10);
    let (b, c) = rest.split_at(20);
    for part in [a, b, c] {
        hw.write_all(part.as_bytes()).await.unwrap();
        hw.flush().await.unwrap();
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    hw.write_all(b"\n").await.unwrap();
    assert_eq!(next_json(&mut lines).await["id"], json!(1));
    // two requests and blank lines in one write, with CRLF endings
    hw.write_all(format!("\r\n{}\r\n\n   \n{}\r\n", req(2), req(3)).as_bytes())
        .await
        .unwrap();
    let mut ids = vec![
        next_json(&mut lines).await["id"].clone(),
        next_json(&mut lines).await["id"].clone(),
    ];
    ids.sort_by_key(|v| v.as_u64());
    assert_eq!(ids, vec![json!(2), json!(3)], "blank lines get no answer");
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
    let c = Client::new(hr, hw, driver_protocol::client::forward(tx));
    let r = tokio::time::timeout(PATIENCE, c.request::<GetState>(&mp("m"))).await;
    assert!(matches!(r, Ok(Err(ClientError::Closed))), "{r:?}");
}

#[tokio::test]
async fn the_client_is_closed_once_the_driver_output_ends() {
    // a "driver" that answers one request and exits
    let (host_end, driver_end) = tokio::io::duplex(4096);
    tokio::spawn(async move {
        let (dr, mut dw) = tokio::io::split(driver_end);
        let mut lines = BufReader::new(dr).lines();
        let req: Value = serde_json::from_str(&lines.next_line().await.unwrap().unwrap()).unwrap();
        let resp = json!({"jsonrpc": "2.0", "id": req["id"], "result": {"state": "Running"}});
        dw.write_all(format!("{resp}\n").as_bytes()).await.unwrap();
    });
    let (hr, hw) = tokio::io::split(host_end);
    let (tx, _rx) = mpsc::unbounded_channel();
    let c = Client::new(hr, hw, driver_protocol::client::forward(tx));
    assert!(!c.is_closed());
    let s: StateResult = c.request::<GetState>(&mp("m")).await.unwrap();
    assert_eq!(s.state, State::Running);
    tokio::time::timeout(PATIENCE, async {
        while !c.is_closed() {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await
    .expect("is_closed turns true once the driver's output ends");
    let r = tokio::time::timeout(PATIENCE, c.request::<GetState>(&mp("m"))).await;
    assert!(matches!(r, Ok(Err(ClientError::Closed))), "{r:?}");
}
