//! The docker-context policy of a manager made with `ManagerBuilder::docker_contexts`: a
//! machine's own context is brought in line when the machine is loaded, a context that cannot
//! be is a warning and never a failed load, the context goes with the machine, and a manager
//! not asked to keep contexts never touches them.

use driver_protocol::calls::*;
use driver_protocol::{
    async_trait, Capabilities, Context, Driver, DriverError, DriverInfo, DriverOptions, Machine,
};
use machine_core::docker_context::{self, DockerConfigDir, Owner};
use machine_core::testing::cert;
use machine_core::{
    Blob, CancellationToken, Event, Events, Level, Manager, MemoryStore, Phase, RemoveOptions,
    Step, Store,
};
use serde_json::{json, Value};
use std::path::Path;
use std::sync::{Arc, Mutex};

/// A driver whose `access` answers with the `ip` of the machine's stored config; `down` has
/// no address.
struct Echo;

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
        Ok(json!({}))
    }

    async fn remove(&self, _: &Context, _: Machine<Value>) -> Result<Option<Value>, DriverError> {
        Ok(None)
    }

    async fn state(&self, _: &Context, _: Machine<Value>) -> Result<State, DriverError> {
        Ok(State::Running)
    }

    async fn access(&self, _: &Context, m: Machine<Value>) -> Result<Access, DriverError> {
        match m.config["ip"].as_str().unwrap_or_default() {
            "down" => Err(DriverError::unreachable("the VM has no address")),
            ip => Ok(Access::new(ip, SshEndpoint::new(ip, 22, "root"), 2376)),
        }
    }
}

/// A ready machine at `ip`, with the certificates a provision leaves.
async fn stored(store: &MemoryStore, name: &str, ip: &str) {
    let mut c = machine_core::MachineConfig::new(name, "echo", "echo", Default::default());
    c.phase = Phase::Ready;
    c.driver_config = json!({ "ip": ip });
    drop(store.create(&c).await.unwrap());
    let ca = cert::new_ca("t").unwrap();
    let client = cert::new_client(&ca, "t").unwrap();
    for (blob, data) in [
        (Blob::CaCert, &ca.cert),
        (Blob::ClientCert, &client.cert),
        (Blob::ClientKey, &client.key),
    ] {
        store.write_blob(name, blob, data.as_bytes()).await.unwrap();
    }
}

async fn move_to(store: &MemoryStore, name: &str, ip: &str) {
    let mut c = store.read_config(name).await.unwrap();
    c.driver_config = json!({ "ip": ip });
    store.write_config(&c).await.unwrap();
}

/// The Docker endpoint of the context named `name`, read as the docker CLI reads it.
fn context_host(docker: &Path, name: &str) -> Option<String> {
    let metas = std::fs::read_dir(docker.join("contexts/meta")).ok()?;
    metas.flatten().find_map(|d| {
        let meta: Value =
            serde_json::from_slice(&std::fs::read(d.path().join("meta.json")).ok()?).ok()?;
        (meta["Name"] == name).then(|| meta["Endpoints"]["docker"]["Host"].to_string())
    })
}

#[tokio::test]
async fn a_managers_contexts_follow_its_machines() {
    let tmp = tempfile::tempdir().unwrap();
    let docker = DockerConfigDir::new(tmp.path());
    let store = Arc::new(MemoryStore::new());
    let seen: Arc<Mutex<Vec<Event>>> = Arc::default();
    let sink = seen.clone();
    let manager = Manager::builder(store.clone())
        .events(Events::new(move |e| sink.lock().unwrap().push(e)))
        .driver(Echo)
        .no_default_driver_search()
        .docker_contexts(docker.clone())
        .build();
    // a manager that was not asked to keep contexts
    let plain = Manager::builder(store.clone())
        .driver(Echo)
        .no_default_driver_search()
        .build();

    stored(&store, "web", "192.0.2.10").await;
    let m = manager.load("web").await.unwrap();
    // loading makes no context: only a program that asks does
    assert_eq!(docker.owner("web").unwrap(), Owner::Nobody);
    docker_context::register(&m, &docker).await.unwrap();
    assert_eq!(
        context_host(tmp.path(), "web").as_deref(),
        Some("\"tcp://192.0.2.10:2376\"")
    );

    // it moved (another workstation's start): the next load brings the context along
    move_to(&store, "web", "192.0.2.11").await;
    plain.load("web").await.unwrap();
    assert_eq!(
        context_host(tmp.path(), "web").as_deref(),
        Some("\"tcp://192.0.2.10:2376\""),
        "a manager not asked to keep contexts changed one"
    );
    manager.load("web").await.unwrap();
    assert_eq!(
        context_host(tmp.path(), "web").as_deref(),
        Some("\"tcp://192.0.2.11:2376\"")
    );

    // its driver cannot say where it is: the load works, the context is left, a warning says so
    move_to(&store, "web", "down").await;
    let m = manager.load("web").await.unwrap();
    let warned: Vec<Event> = seen
        .lock()
        .unwrap()
        .iter()
        .filter(|e| e.step == Step::DockerContext)
        .cloned()
        .collect();
    assert_eq!(warned.len(), 1, "{warned:?}");
    assert_eq!(
        (warned[0].machine.as_str(), warned[0].level),
        ("web", Level::Warn)
    );
    assert!(warned[0].message.contains("not updated"), "{:?}", warned[0]);
    assert_eq!(
        context_host(tmp.path(), "web").as_deref(),
        Some("\"tcp://192.0.2.11:2376\"")
    );

    // the context goes with the machine
    m.remove(RemoveOptions::default(), &CancellationToken::new())
        .await
        .unwrap();
    assert_eq!(docker.owner("web").unwrap(), Owner::Nobody);
    assert!(manager.names().await.unwrap().is_empty());
}
