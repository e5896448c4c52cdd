//! Importing a Docker Machine store that is missing, half-written, of another version or holds
//! drivers this program does not have: each machine that cannot be brought is named with its
//! reason, nothing is written here for it, and the Docker Machine store is left byte for byte.
//! (An import that succeeds needs SSH and a TLS daemon: tests/e2e/tests/import.rs.)
//!
//! The store is `tests/fixtures/docker-machine-store` (see its README), copied, with fresh keys
//! and certificates written next to its `config.json` files.

use driver_protocol::calls::*;
use driver_protocol::{
    async_trait, Capabilities, Context, Driver, DriverError, DriverInfo, DriverOptions, Machine,
    Setup,
};
use machine_core::import::docker_machine::ReadError;
use machine_core::{
    CancellationToken, Error, ImportError, ImportOptions, MachineConfig, Manager, MemoryStore,
    Store,
};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Stands in for the generic driver: adopts any host, reached where the options say.
struct Generic;

/// The generic driver's options, as it declares them.
#[derive(DriverOptions)]
struct GenericOptions {
    /// ip
    #[option(name = "generic-ip-address", docker_machine_field = "IPAddress")]
    ip: String,
    /// user
    #[option(
        name = "generic-ssh-user",
        default = "root",
        docker_machine_field = "SSHUser"
    )]
    user: String,
    /// ssh port
    #[option(
        name = "generic-ssh-port",
        default = 22,
        docker_machine_field = "SSHPort"
    )]
    port: u16,
    /// engine port
    #[option(name = "generic-engine-port", default = 2376)]
    #[option(docker_machine_field = "EnginePort")]
    engine_port: u16,
}

#[async_trait]
impl Driver for Generic {
    type Options = GenericOptions;
    type Config = serde_json::Value;

    fn info(&self) -> DriverInfo {
        DriverInfo::new("generic", "1", Capabilities::none())
    }

    async fn set_config(
        &self,
        _: &Context,
        _: GenericOptions,
        _: &Setup,
    ) -> Result<serde_json::Value, DriverError> {
        Err(DriverError::internal("import never calls set_config"))
    }

    async fn adopt(
        &self,
        _: &Context,
        o: GenericOptions,
        _: &Setup,
    ) -> Result<serde_json::Value, DriverError> {
        Ok(serde_json::Value::Object(o.to_options().as_map().clone()))
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
        p: Machine<serde_json::Value>,
    ) -> Result<Access, DriverError> {
        let c = &p.config;
        let ip = c["generic-ip-address"].as_str().unwrap_or_default();
        let port = c["generic-ssh-port"].as_u64().unwrap_or(22) as u16;
        let user = c["generic-ssh-user"].as_str().unwrap_or_default();
        Ok(Access::new(ip, SshEndpoint::new(ip, port, user), 2376))
    }
}

/// A copy of the fixture store with keys and certificates in the places Docker Machine puts
/// them (except where a machine is meant to lack them).
fn docker_machine_store() -> tempfile::TempDir {
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/docker-machine-store");
    let dir = tempfile::tempdir().unwrap();
    copy_tree(&fixture, dir.path());
    let ca = machine_core::testing::cert::new_ca("dm").unwrap();
    let client = machine_core::testing::cert::new_client(&ca, "dm").unwrap();
    let certs = dir.path().join("certs");
    std::fs::create_dir_all(&certs).unwrap();
    for (file, text) in [
        ("ca.pem", &ca.cert),
        ("ca-key.pem", &ca.key),
        ("cert.pem", &client.cert),
        ("key.pem", &client.key),
    ] {
        std::fs::write(certs.join(file), text).unwrap();
    }
    std::fs::create_dir_all(dir.path().join("machines/nocfg")).unwrap();
    for m in ["good", "half", "nocfg", "old", "aws", "vs"] {
        let key = machine_core::testing::sshkey::generate(m).unwrap();
        std::fs::write(
            dir.path().join("machines").join(m).join("id_rsa"),
            key.private,
        )
        .unwrap();
    }
    dir
}

fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let target = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_tree(&e.path(), &target);
        } else {
            std::fs::copy(e.path(), target).unwrap();
        }
    }
}

/// Every file of a tree with its content.
fn snapshot(root: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut todo = vec![root.to_path_buf()];
    while let Some(d) = todo.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let e = e.unwrap();
            if e.file_type().unwrap().is_dir() {
                todo.push(e.path());
            } else {
                out.insert(e.path(), std::fs::read(e.path()).unwrap());
            }
        }
    }
    out
}

fn manager(store: Arc<MemoryStore>) -> (Manager, tempfile::TempDir) {
    // no driver executables anywhere: only the in-process generic driver exists
    let empty = tempfile::tempdir().unwrap();
    let m = Manager::builder(store)
        .driver(Generic)
        .driver_dir(empty.path())
        .no_default_driver_search()
        .build();
    (m, empty)
}

#[tokio::test]
async fn each_machine_that_cannot_be_brought_is_named_with_its_reason_and_nothing_is_lost() {
    let dm = docker_machine_store();
    let before = snapshot(dm.path());
    let store = Arc::new(MemoryStore::new());
    let (manager, _drivers) = manager(store.clone());

    let results = manager
        .import_docker_machine(&ImportOptions::new(dm.path()), &CancellationToken::new())
        .await
        .unwrap();
    let names: Vec<&str> = results.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        ["aws", "good", "half", "nocfg", "nokey", "old", "vs"]
    );
    let by_name: BTreeMap<&str, &ImportError> = results
        .iter()
        .map(|(n, r)| (n.as_str(), r.as_ref().expect_err(n)))
        .collect();

    assert!(
        matches!(by_name["aws"], ImportError::Read(ReadError::UnsupportedDriver { driver }) if driver == "amazonec2"),
        "{:?}",
        by_name["aws"]
    );
    // a complete machine whose host does not answer: the SSH check names the address
    let good = by_name["good"];
    assert!(matches!(good, ImportError::Ssh(_)), "{good:?}");
    assert!(good.to_string().contains("127.0.0.1:1"), "{good}");
    let half = by_name["half"];
    assert!(
        matches!(half, ImportError::Read(ReadError::File { path, .. }) if path.ends_with("machines/half/config.json")),
        "{half:?}"
    );
    assert!(half.to_string().contains("not valid JSON"), "{half}");
    assert!(
        matches!(by_name["nocfg"], ImportError::Read(ReadError::File { path, reason }) if path.ends_with("nocfg/config.json") && reason == "missing"),
        "{:?}",
        by_name["nocfg"]
    );
    // the key is looked for where the store is now, not where Docker Machine recorded it
    let nokey = by_name["nokey"];
    assert!(
        matches!(nokey, ImportError::Read(ReadError::File { path, .. }) if *path == dm.path().join("machines/nokey/id_rsa")),
        "{nokey:?}"
    );
    assert!(
        matches!(by_name["old"], ImportError::Read(ReadError::ConfigVersion { found }) if found == "2"),
        "{:?}",
        by_name["old"]
    );
    assert!(
        by_name["old"].to_string().contains("ConfigVersion 2"),
        "{}",
        by_name["old"]
    );
    // no vsphere driver is installed here: the same answer as for amazonec2, naming it
    let vs = by_name["vs"];
    assert!(
        matches!(vs, ImportError::Read(ReadError::UnsupportedDriver { driver }) if driver == "vmwarevsphere"),
        "{vs:?}"
    );
    assert!(
        vs.to_string().contains("machine-driver-vmwarevsphere"),
        "{vs}"
    );
    for e in by_name.values() {
        let shown = format!("{e} {e:?}");
        assert!(!shown.contains("fixture-vsphere-password"), "{shown}");
    }

    assert!(
        store.names().await.unwrap().is_empty(),
        "nothing half-imported"
    );
    assert_eq!(
        snapshot(dm.path()),
        before,
        "the Docker Machine store is untouched"
    );
}

#[tokio::test]
async fn a_machine_of_the_same_name_here_is_left_as_it_is() {
    let dm = docker_machine_store();
    let store = Arc::new(MemoryStore::new());
    let mut ours = MachineConfig::new("good", "generic", "generic", Default::default());
    ours.driver_config = serde_json::json!({"mine": true});
    drop(store.create(&ours).await.unwrap());
    let (manager, _drivers) = manager(store.clone());
    let mut opts = ImportOptions::new(dm.path());
    opts.names = vec!["good".into(), "missing".into()];

    let results = manager
        .import_docker_machine(&opts, &CancellationToken::new())
        .await
        .unwrap();
    assert!(matches!(results[0], (ref n, Err(ImportError::AlreadyExists)) if n == "good"));
    assert!(
        matches!(&results[1], (n, Err(ImportError::NotInStore { store })) if n == "missing" && store == dm.path()),
        "{:?}",
        results[1]
    );
    assert_eq!(store.read_config("good").await.unwrap(), ours);
}

#[tokio::test]
async fn a_missing_store_is_one_error_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let (manager, _drivers) = manager(Arc::new(MemoryStore::new()));
    for (path, reason) in [
        (dir.path().join("nope"), "no such folder"),
        (dir.path().to_path_buf(), "it has no machines folder"),
    ] {
        let e = manager
            .import_docker_machine(&ImportOptions::new(&path), &CancellationToken::new())
            .await
            .unwrap_err();
        assert!(
            matches!(&e, Error::NoDockerMachineStore { path: p, reason: r } if *p == path && r == reason),
            "{e:?}"
        );
    }
}
