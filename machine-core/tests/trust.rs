//! What the library trusts, with an in-process driver that reports the addresses its stored
//! config holds and the in-memory store: a hostile address read from the store never reaches
//! `env`, the exported known_hosts follows the machine's address and holds only the recorded
//! key, a machine without a recorded key cannot be reached, a host key is recorded only as
//! given, and a pinned fingerprint that is not one fails a create before anything is made.

use driver_protocol::calls::*;
use driver_protocol::{
    async_trait, Capabilities, Context, Created, Driver, DriverError, DriverInfo, DriverOptions,
    Machine,
};
use machine_core::{
    CancellationToken, CreateOptions, Error, Manager, MemoryStore, MissingPart, Phase,
    SshCommandOptions, SshError, Store,
};
use serde_json::{json, Value};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

const HOST_KEY: &str =
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJdD7y3aLq454yWBdwLWbieU1ebz9/cu7/QEXn9OIeZJ";
const OTHER_KEY: &str =
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIAXajqrZJTwz1pY8eE2Gx/eCLAiJxdOCjtLYuEMz/55K";

/// A driver whose `access` answers with the `ip` of the machine's stored config, as the generic
/// driver does; it counts the calls that would make something.
struct Echo(Arc<AtomicUsize>);

#[derive(DriverOptions)]
struct NoOptions {}

#[async_trait]
impl Driver for Echo {
    type Options = NoOptions;
    type Config = Value;

    fn info(&self) -> DriverInfo {
        DriverInfo::new("echo", "1", Capabilities::none())
    }

    async fn set_config(
        &self,
        _: &Context,
        _: NoOptions,
        _: &driver_protocol::Setup,
    ) -> Result<Value, DriverError> {
        self.0.fetch_add(1, Ordering::SeqCst);
        Ok(json!({"ip": "192.0.2.10"}))
    }

    async fn create(
        &self,
        _: &Context,
        p: Machine<Value>,
        _: &str,
    ) -> Result<Created<Value>, DriverError> {
        self.0.fetch_add(1, Ordering::SeqCst);
        Ok(Created::new(p.config))
    }

    async fn remove(&self, _: &Context, _: Machine<Value>) -> Result<Option<Value>, DriverError> {
        Ok(None)
    }

    async fn state(&self, _: &Context, _: Machine<Value>) -> Result<State, DriverError> {
        Ok(State::Running)
    }

    async fn access(&self, _: &Context, p: Machine<Value>) -> Result<Access, DriverError> {
        let ip = p.config["ip"].as_str().unwrap_or_default();
        Ok(Access::new(ip, SshEndpoint::new(ip, 22, "root"), 2376))
    }
}

struct Setup {
    manager: Manager,
    store: Arc<MemoryStore>,
    calls: Arc<AtomicUsize>,
}

fn setup() -> Setup {
    let calls = Arc::new(AtomicUsize::new(0));
    let store = Arc::new(MemoryStore::new());
    let manager = Manager::builder(store.clone())
        .driver(Echo(calls.clone()))
        .no_default_driver_search()
        .build();
    Setup {
        manager,
        store,
        calls,
    }
}

/// A ready machine whose stored config says its address is `ip`.
async fn stored(s: &Setup, name: &str, ip: &str, host_key: Option<&str>) {
    let mut c = machine_core::MachineConfig::new(name, "echo", "echo", Default::default());
    c.phase = Phase::Ready;
    c.driver_config = json!({ "ip": ip });
    c.ssh_host_key = host_key.map(str::to_string);
    drop(s.store.create(&c).await.unwrap());
}

#[tokio::test]
async fn a_hostile_address_in_the_store_never_reaches_env() {
    let s = setup();
    stored(&s, "evil", "$(touch${IFS}pwned)", Some(HOST_KEY)).await;
    let m = s.manager.load("evil").await.unwrap();
    for e in [
        m.docker_env().await.unwrap_err(),
        m.url().await.unwrap_err(),
        m.ip().await.unwrap_err(),
    ] {
        match &e {
            Error::DriverAnswer {
                driver, machine, ..
            } => {
                assert_eq!((driver.as_str(), machine.as_str()), ("echo", "evil"));
                assert!(e.to_string().contains("$(touch${IFS}pwned)"), "{e}");
            }
            other => panic!("expected DriverAnswer, got {other:?}"),
        }
    }
    // the files a record has are still exported (inspect, rm), but the refused address never
    // reaches them: the known_hosts trusts nothing
    let files = m.files().await.unwrap();
    let known = std::fs::read_to_string(&files.known_hosts).unwrap();
    assert!(known.trim().is_empty(), "{known}");
}

#[tokio::test]
async fn the_exported_known_hosts_follows_the_address_and_holds_only_the_recorded_key() {
    let s = setup();
    stored(&s, "web", "192.0.2.10", Some(HOST_KEY)).await;
    let m = s.manager.load("web").await.unwrap();
    let files = m.files().await.unwrap();
    let known = std::fs::read_to_string(&files.known_hosts).unwrap();
    assert_eq!(
        known,
        format!("{HOST_KEY}\n").replacen("ssh-ed25519", "192.0.2.10 ssh-ed25519", 1)
    );

    // the machine comes back at another address (a DHCP lease, a VM moved)
    let mut c = s.store.read_config("web").await.unwrap();
    c.driver_config = json!({"ip": "192.0.2.99"});
    s.store.write_config(&c).await.unwrap();
    let m = s.manager.load("web").await.unwrap();
    let known = std::fs::read_to_string(&m.files().await.unwrap().known_hosts).unwrap();
    assert!(known.starts_with("192.0.2.99 ssh-ed25519 "), "{known}");
    assert!(!known.contains("192.0.2.10"), "{known}");
    assert_eq!(known.lines().count(), 1, "{known}");
}

#[tokio::test]
async fn a_machine_without_a_recorded_key_is_not_reached() {
    let s = setup();
    stored(&s, "half", "192.0.2.10", None).await;
    let m = s.manager.load("half").await.unwrap();
    for e in [
        m.ssh_command(&SshCommandOptions::default())
            .await
            .unwrap_err(),
        m.verify_host_key().await.unwrap_err(),
        m.exec("true").await.unwrap_err(),
    ] {
        assert!(
            matches!(&e, Error::Missing { machine, what: MissingPart::HostKey } if machine == "half"),
            "{e:?}"
        );
    }
    // and the system ssh gets a known_hosts file with nothing in it
    let known = std::fs::read_to_string(&m.files().await.unwrap().known_hosts).unwrap();
    assert_eq!(known, "");
}

#[tokio::test]
async fn a_host_key_is_recorded_only_as_given() {
    let s = setup();
    stored(&s, "web", "192.0.2.10", Some(HOST_KEY)).await;
    let mut m = s.manager.load("web").await.unwrap();
    let e = m
        .accept_host_key("ssh-ed25519 $(touch pwned)")
        .await
        .unwrap_err();
    assert!(
        matches!(e, Error::Ssh(SshError::BadHostKey { .. })),
        "{e:?}"
    );
    assert_eq!(
        s.store
            .read_config("web")
            .await
            .unwrap()
            .ssh_host_key
            .as_deref(),
        Some(HOST_KEY)
    );
    m.accept_host_key(OTHER_KEY).await.unwrap();
    assert_eq!(
        s.store
            .read_config("web")
            .await
            .unwrap()
            .ssh_host_key
            .as_deref(),
        Some(OTHER_KEY)
    );
    let m = s.manager.load("web").await.unwrap();
    let known = std::fs::read_to_string(&m.files().await.unwrap().known_hosts).unwrap();
    assert_eq!(known, format!("192.0.2.10 {OTHER_KEY}\n"));
}

#[tokio::test]
async fn a_pinned_fingerprint_that_is_not_one_fails_before_anything_is_made() {
    let s = setup();
    for bad in ["MD5:00:11", "SHA256:short", "ed25519 AAAA"] {
        let mut opts = CreateOptions::new("echo");
        opts.ssh_host_key_fingerprint = Some(bad.into());
        let e = s
            .manager
            .create("pinned", opts, &CancellationToken::new())
            .await
            .err()
            .unwrap();
        assert!(
            matches!(&e, Error::Ssh(SshError::BadFingerprint { given }) if given == bad),
            "{e:?}"
        );
    }
    assert_eq!(
        s.calls.load(Ordering::SeqCst),
        0,
        "the driver was asked to make something"
    );
    assert!(s.store.read_config("pinned").await.is_err());
}
