//! Fuzzes the store's config loader: whatever bytes a machine's config.json holds (a truncated
//! write, a hand edit, a record of an older or newer version), [`FileStore::read_config`] returns
//! the record or an error, never panics; and a record it loads saves and loads back the same.
//! Version 1 records go through the upgrade, which rewrites the file.

use machine_core::engine::EngineOptions;
use machine_core::store::{FileStore, Store, StoreError};
use machine_core::MachineConfig;
use machine_fuzz::Fuzz;

const DICTIONARY: &[&str] = &[
    "\"config_version\":1,",
    "\"config_version\":2,",
    "\"config_version\":3,",
    "\"config_version\":-1,",
    "\"name\":\"m\",",
    "\"driver\":\"generic\",",
    "\"driver\":\"vmwarevsphere\",",
    "\"driver_config\":{\"ssh_key\":\"/etc/passwd\",\"host_key\":\"k\"},",
    "\"driver_config\":{\"ssh_key\":7},",
    "\"driver_config\":null,",
    "\"secret_keys\":[\"password\"],",
    "\"engine\":{},",
    "\"install_method\":{\"kind\":\"script\",\"url\":\"https://get.docker.com\"},",
    "\"install_method\":{\"kind\":\"packages\"},",
    "\"phase\":\"creating\",",
    "\"phase\":\"ready\",",
    "\"phase\":\"nonsense\",",
    "\"created_at\":18446744073709551615,",
    "\"port\":65536,",
    "\"creation_id\":\"c\",",
    "\"ssh_host_key\":null,",
    "\"last_error\":\"x\",",
    "null",
    "{}",
    "[]",
    "\"\\ud800\"",
];

#[test]
fn fuzz_config_loader() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let store = FileStore::open(dir.path().join("store")).unwrap();
    let fresh = MachineConfig::new("m", "generic", "generic", EngineOptions::default());
    rt.block_on(async {
        let lock = store.create(&fresh).await.expect("create the record");
        drop(lock);
    });
    let file = store.root().join("machines/m/config.json");
    let current = serde_json::to_vec_pretty(&fresh).unwrap();
    Fuzz::new("config", DICTIONARY).seed(current).run(|bytes| {
        std::fs::write(&file, bytes).unwrap();
        rt.block_on(async {
            match store.read_config("m").await {
                Ok(config) if config.name != "m" => "ok, another name".to_string(),
                Ok(config) => {
                    // what loads, saves and loads back the same
                    store.write_config(&config).await.expect("save what loaded");
                    let again = store.read_config("m").await.expect("load what was saved");
                    assert_eq!(again, config, "a loaded record changed on save and load");
                    format!("ok {:?}", config.phase)
                }
                Err(StoreError::Corrupt { reason, .. }) => {
                    // serde's reason without the line and column: one outcome per kind
                    let kind: String = reason
                        .split(" at line")
                        .next()
                        .unwrap_or("")
                        .chars()
                        .filter(|c| !c.is_ascii_digit())
                        .take(40)
                        .collect();
                    format!("corrupt {kind}")
                }
                Err(e) => format!(
                    "error {}",
                    e.to_string().chars().take(30).collect::<String>()
                ),
            }
        })
    });
}
