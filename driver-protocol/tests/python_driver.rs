//! The example Python driver (examples/python-driver) against this crate's client: a driver in
//! another language speaks protocol version 3 as the SDK does. Needs python3 (Debian: apt-get install python3); without it the tests fail saying so.

use driver_protocol::calls::*;
use driver_protocol::request::{
    Create, GetAccess, GetState, Initialize, Kill, Remove, Restart, SetConfig, Start, Stop,
};
use driver_protocol::schema::*;
use driver_protocol::*;
use serde_json::{json, Value};
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;
use tokio::process::{Child, Command};
use tokio::sync::mpsc;

const PATIENCE: Duration = Duration::from_secs(10);

/// Requests this crate does not define (or defines with other types), to see what the driver
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
    // the handshake's answer as JSON, to see every field the driver sent
    RawInitialize = "initialize" (InitializeParams);
    // the v1 calls, gone since v2
    OldIp = "ip" (MachineParams);
    OldSsh = "ssh" (MachineParams);
    OldUrl = "url" (MachineParams);
}

fn python_driver() -> Option<(Child, Client)> {
    assert!(
        std::process::Command::new("python3")
            .arg("--version")
            .output()
            .is_ok(),
        "python3 is needed to run the Python example driver: apt-get install python3"
    );
    let script = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../examples/python-driver/machine-driver-static");
    let mut child = Command::new("python3")
        .arg(script)
        .env(PLUGIN_COOKIE_KEY, PLUGIN_COOKIE_VALUE)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let (tx, _rx) = mpsc::unbounded_channel();
    let stdout = child.stdout.take().unwrap();
    let stdin = child.stdin.take().unwrap();
    Some((
        child,
        Client::new(stdout, stdin, driver_protocol::client::forward(tx)),
    ))
}

fn driver_error(e: ClientError) -> DriverError {
    match e {
        ClientError::Driver(e) => e,
        other => panic!("expected a driver error, got {other:?}"),
    }
}

/// Call `R`, which the driver does not support: its error says so, naming the call.
async fn not_supported<R>(c: &Client, mp: &MachineParams)
where
    R: Request<Params = MachineParams, Result = ConfigResult>,
{
    let e = driver_error(c.request::<R>(mp).await.unwrap_err());
    assert_eq!(e.kind, ErrorKind::NotSupported, "{}", R::METHOD);
    assert_eq!(
        e.message,
        format!("this driver does not support {}", R::METHOD)
    );
}

#[tokio::test]
async fn the_python_driver_speaks_protocol_3() {
    let Some((mut child, c)) = python_driver() else {
        return;
    };
    for theirs in [1, 2] {
        let mut old = InitializeParams::new("old-host");
        old.protocol_version = theirs;
        let e = driver_error(c.request::<Initialize>(&old).await.unwrap_err());
        assert_eq!(e.kind, ErrorKind::Protocol);
        assert!(
            e.message.contains(&format!("version {PROTOCOL_VERSION}"))
                && e.message.contains(&format!("speaks {theirs}")),
            "{e}"
        );
    }

    // no `ssh` capability: version 3 has none (nor does the typed answer, which would drop it)
    let raw = c
        .request::<RawInitialize>(&InitializeParams::new("test"))
        .await
        .unwrap();
    assert_eq!(raw["protocol_version"], json!(PROTOCOL_VERSION), "{raw}");
    assert!(
        raw["capabilities"].get("ssh").is_none(),
        "no ssh capability in version 3: {raw}"
    );

    let info = c
        .request::<Initialize>(&InitializeParams::new("test"))
        .await
        .unwrap();
    assert_eq!((info.name.as_str(), info.protocol_version), ("static", 3));
    // an existing host: the library reboots it and takes back its Docker setup itself
    assert_eq!(
        info.capabilities,
        Capabilities::none().with_keeps_host(true)
    );
    assert_eq!(
        info.option("static-ip").unwrap().env.as_deref(),
        Some("STATIC_IP")
    );
    assert!(
        info.option("static-ssh-key").is_none(),
        "drivers take no key path"
    );

    let e = driver_error(
        c.request::<SetConfig>(&SetConfigParams::new(
            "m1",
            info.with_defaults(Options::new()),
        ))
        .await
        .unwrap_err(),
    );
    assert_eq!(e.kind, ErrorKind::InvalidOption);
    assert_eq!(e.message, "--static-ip is required");

    // the defaults come from the schema, applied here, by the host
    let mut given = Options::new();
    given.insert("static-ip", "127.0.0.1");
    let r = c
        .request::<SetConfig>(&SetConfigParams::new(
            "m1",
            info.with_defaults(given.clone()),
        ))
        .await
        .unwrap();
    assert_eq!(
        r.config,
        json!({"ip": "127.0.0.1", "user": "root", "port": 22})
    );
    given.insert("static-ssh-port", 1);
    let config = c
        .request::<SetConfig>(&SetConfigParams::new("m1", info.with_defaults(given)))
        .await
        .unwrap()
        .config;

    // a cancel is harmless: the driver answers each call before it reads the next line
    let token = CancellationToken::new();
    token.cancel();
    let create = CreateParams::new("m1", config.clone(), "c-1", "ssh-ed25519 AAAA");
    let r = tokio::time::timeout(PATIENCE, c.request_cancellable::<Create>(&create, &token))
        .await
        .unwrap()
        .unwrap();
    assert_eq!((r.config, r.bootstrap), (config.clone(), None));

    let mp = MachineParams::new("m1", config);
    let a = c.request::<GetAccess>(&mp).await.unwrap();
    let want = Access::new("127.0.0.1", SshEndpoint::new("127.0.0.1", 1, "root"), 2376);
    assert_eq!(a, want);
    // nothing listens on port 1 of loopback
    let s = c.request::<GetState>(&mp).await.unwrap();
    assert_eq!(s.state, State::Stopped);
    not_supported::<Start>(&c, &mp).await;
    not_supported::<Stop>(&c, &mp).await;
    not_supported::<Restart>(&c, &mp).await;
    not_supported::<Kill>(&c, &mp).await;
    for e in [
        c.request::<OldIp>(&mp).await,
        c.request::<OldSsh>(&mp).await,
        c.request::<OldUrl>(&mp).await,
    ] {
        let e = driver_error(e.unwrap_err());
        assert_eq!(e.kind, ErrorKind::Protocol, "{e}");
    }
    let r = c.request::<Remove>(&mp).await.unwrap();
    assert_eq!(r, ConfigResult::unchanged());

    // closing its stdin ends it, and the client knows
    drop(c);
    let status = tokio::time::timeout(PATIENCE, child.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(status.success(), "{status}");
}

#[tokio::test]
async fn the_client_sees_the_python_driver_exit() {
    let Some((mut child, c)) = python_driver() else {
        return;
    };
    let _: DriverInfo = c
        .request::<Initialize>(&InitializeParams::new("test"))
        .await
        .unwrap();
    assert!(!c.is_closed());
    child.start_kill().unwrap();
    tokio::time::timeout(PATIENCE, async {
        while !c.is_closed() {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await
    .expect("is_closed turns true once the driver is gone");
    let r = c
        .request::<GetState>(&MachineParams::new("m", json!({})))
        .await;
    assert!(matches!(r, Err(ClientError::Closed)), "{r:?}");
}
