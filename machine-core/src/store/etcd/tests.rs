//! The etcd store against a real 3-member etcd cluster on loopback.

use super::*;
use crate::store::contract;
use base64::Engine;
use machine_testsupport::EtcdCluster;

fn options(cluster: &EtcdCluster, prefix: &str, key: Option<u8>, cache: &Path) -> EtcdOptions {
    EtcdOptions {
        endpoints: cluster.endpoints(),
        prefix: prefix.into(),
        ca_cert: None,
        client_cert: None,
        user: None,
        store_key: key.map(|b| {
            StoreKey::from_base64(
                &base64::engine::general_purpose::STANDARD.encode([b; 32]),
                "test",
            )
            .unwrap()
        }),
        cache_dir: cache.to_path_buf(),
        lease_ttl: 3,
    }
}

async fn store(cluster: &EtcdCluster, prefix: &str, key: Option<u8>, cache: &Path) -> EtcdStore {
    EtcdStore::connect(options(cluster, prefix, key, cache))
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn keeps_the_store_contract_and_seals_secrets() {
    let cluster = EtcdCluster::start(3);
    let cache = tempfile::tempdir().unwrap();
    let s = store(&cluster, "contract", Some(1), cache.path()).await;
    contract::check(&s).await;
    contract::check_create_race(Arc::new(
        store(&cluster, "race", Some(1), cache.path()).await,
    ))
    .await;

    // a record copied under another key (etcdctl get | put) is refused, the original kept
    let mut client = s.inner.client.clone();
    contract::check_misfiled(&s, |from, to| async move {
        let value = client
            .get(format!("contract/machines/{from}"), None)
            .await
            .unwrap()
            .kvs()[0]
            .value()
            .to_vec();
        client
            .put(format!("contract/machines/{to}"), value, None)
            .await
            .unwrap();
    })
    .await;

    // a private key written through the store is nowhere in clear in etcd
    s.write_blob("a0", Blob::ClientKey, b"-----BEGIN PRIVATE KEY-----\nxyz")
        .await
        .unwrap();
    let dump = cluster.dump("");
    assert!(dump.contains("contract/machines/a0"), "{dump}");
    assert!(
        !dump.contains("PRIVATE KEY") && !dump.contains("CKEY"),
        "{dump}"
    );

    // without the key: names and the config read, secrets fail clearly
    let keyless = store(&cluster, "contract", None, cache.path()).await;
    assert_eq!(keyless.names().await.unwrap(), vec!["a0", "m2"]);
    assert!(keyless.read_config("a0").await.is_ok());
    assert!(matches!(
        keyless.read_blob("a0", Blob::ClientKey).await,
        Err(StoreError::KeyMissing { .. })
    ));
    assert!(matches!(
        keyless.read_store_certs().await,
        Err(StoreError::KeyMissing { .. })
    ));
    // with another team's key: refused, not garbage
    let other = store(&cluster, "contract", Some(2), cache.path()).await;
    assert!(matches!(
        other.read_blob("a0", Blob::ClientKey).await,
        Err(StoreError::KeyMismatch { .. })
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn no_lost_update_and_one_bad_record_breaks_nothing_else() {
    let cluster = EtcdCluster::start(3);
    let cache = tempfile::tempdir().unwrap();
    let s = store(&cluster, "upd", Some(1), cache.path()).await;
    drop(
        s.create(&MachineConfig::new(
            "m",
            "generic",
            "generic",
            Default::default(),
        ))
        .await
        .unwrap(),
    );
    // two managers write different parts of one machine at once, many times: nothing is lost
    let mut tasks = Vec::new();
    for (i, blob) in Blob::ALL.into_iter().enumerate() {
        let s = s.clone();
        tasks.push(tokio::spawn(async move {
            for n in 0..5 {
                s.write_blob("m", blob, format!("{i}-{n}").as_bytes())
                    .await
                    .unwrap();
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    for (i, blob) in Blob::ALL.into_iter().enumerate() {
        assert_eq!(
            s.read_blob("m", blob).await.unwrap().unwrap(),
            format!("{i}-4").as_bytes()
        );
    }
    // a record someone broke by hand is an error for that machine only
    let mut c = s.inner.client.clone();
    c.put("upd/machines/broken", "{not json", None)
        .await
        .unwrap();
    assert_eq!(s.names().await.unwrap(), vec!["broken", "m"]);
    assert!(matches!(
        s.read_config("broken").await,
        Err(StoreError::Corrupt { .. })
    ));
    assert!(s.read_config("m").await.is_ok());
    let reads = s
        .read_records(&["broken".into(), "m".into()], &[Blob::CaCert])
        .await
        .unwrap();
    assert!(
        matches!(reads[0], Err(StoreError::Corrupt { .. })),
        "{reads:?}"
    );
    assert!(reads[1].is_ok(), "{reads:?}");

    // a record a later release wrote is refused, and left as it is
    let mut v: serde_json::Value =
        serde_json::from_slice(c.get("upd/machines/m", None).await.unwrap().kvs()[0].value())
            .unwrap();
    v["config"]["config_version"] = (crate::config::CONFIG_VERSION + 1).into();
    let newer = serde_json::to_vec(&v).unwrap();
    c.put("upd/machines/m", newer.clone(), None).await.unwrap();
    let newer_refused = |r: Result<(), StoreError>| {
        assert!(
            matches!(r, Err(StoreError::NewerVersion { ref machine, found, supported })
                if machine == "m" && found == supported + 1),
            "{r:?}"
        )
    };
    newer_refused(s.read_config("m").await.map(|_| ()));
    newer_refused(s.read_record("m", &[Blob::CaCert]).await.map(|_| ()));
    newer_refused(
        s.read_records(&["m".into()], &[Blob::CaCert])
            .await
            .unwrap()
            .remove(0)
            .map(|_| ()),
    );
    newer_refused(
        s.write_config(&MachineConfig::new(
            "m",
            "generic",
            "generic",
            Default::default(),
        ))
        .await,
    );
    assert_eq!(
        c.get("upd/machines/m", None).await.unwrap().kvs()[0].value(),
        newer,
        "the record was changed"
    );

    // a page of records larger than gRPC's default 4 MiB answer still reads
    let big = vec![b'x'; 1024 * 1024];
    let names: Vec<String> = (0..5).map(|i| format!("big{i}")).collect();
    for n in &names {
        drop(
            s.create(&MachineConfig::new(
                n,
                "generic",
                "generic",
                Default::default(),
            ))
            .await
            .unwrap(),
        );
        s.write_blob(n, Blob::ServerCert, &big).await.unwrap();
    }
    let reads = s.read_records(&names, &[Blob::ServerCert]).await.unwrap();
    for r in reads {
        assert_eq!(r.unwrap().1[0].as_deref(), Some(&big[..]));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_lock_whose_holder_stopped_renewing_is_free_when_its_lease_ends() {
    let cluster = EtcdCluster::start(3);
    let cache = tempfile::tempdir().unwrap();
    let s = store(&cluster, "lease", Some(1), cache.path()).await;
    drop(
        s.create(&MachineConfig::new(
            "m",
            "generic",
            "generic",
            Default::default(),
        ))
        .await
        .unwrap(),
    );
    let held = lock::acquire(&s, &s.lock_prefix("m"))
        .await
        .unwrap()
        .unwrap();
    // as a killed process: no more renewals, and no revoke
    held.abandon();
    let started = std::time::Instant::now();
    let other = store(&cluster, "lease", Some(1), cache.path()).await;
    assert!(
        tokio::time::timeout(Duration::from_millis(1000), other.lock("m"))
            .await
            .is_err(),
        "an abandoned lock was free before its lease ended"
    );
    let l = tokio::time::timeout(Duration::from_secs(10), other.lock("m"))
        .await
        .expect("the lock is free once the lease (3 s) ends")
        .unwrap();
    assert!(
        started.elapsed() >= Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    drop(l);
}

/// A holder cut off from etcd for longer than its lease still thinks it holds the lock; another
/// manager takes it and writes. The first one's writes afterwards are refused, and the other's
/// change stays.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_holder_whose_lease_ended_cannot_write_over_the_next_one() {
    let cluster = EtcdCluster::start(3);
    let cache = tempfile::tempdir().unwrap();
    let a = store(&cluster, "fence", Some(1), cache.path()).await;
    let b = store(&cluster, "fence", Some(1), cache.path()).await;
    let config = MachineConfig::new("m", "generic", "generic", Default::default());
    drop(a.create(&config).await.unwrap());
    let mut held = lock::acquire(&a, &a.lock_prefix("m"))
        .await
        .unwrap()
        .unwrap();
    a.write_blob("m", Blob::SshKey, b"a's, under its lock")
        .await
        .unwrap();
    held.stop_renewing();
    let b_lock = tokio::time::timeout(Duration::from_secs(10), b.lock("m"))
        .await
        .expect("the lock is free once the lease (3 s) ends")
        .unwrap();
    b.write_blob("m", Blob::SshKey, b"b's").await.unwrap();

    for refused in [
        a.write_blob("m", Blob::SshKey, b"a's, too late").await,
        a.write_config(&config).await,
        a.remove("m").await,
    ] {
        assert!(
            matches!(&refused, Err(StoreError::LockLost { what }) if what.contains("\"m\"")),
            "{refused:?}"
        );
    }
    assert_eq!(
        b.read_blob("m", Blob::SshKey).await.unwrap().unwrap(),
        b"b's"
    );
    assert!(b.exists("m").await.unwrap());

    // once a lets go of the lock it lost, it writes again (under no lock, as before taking it)
    drop(held);
    drop(b_lock);
    a.write_blob("m", Blob::SshKey, b"a's again").await.unwrap();
    assert_eq!(
        b.read_blob("m", Blob::SshKey).await.unwrap().unwrap(),
        b"a's again"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn goes_on_when_a_member_dies() {
    let mut cluster = EtcdCluster::start(3);
    let cache = tempfile::tempdir().unwrap();
    let s = store(&cluster, "ha", Some(1), cache.path()).await;
    drop(
        s.create(&MachineConfig::new(
            "a",
            "generic",
            "generic",
            Default::default(),
        ))
        .await
        .unwrap(),
    );
    cluster.kill(0);
    drop(
        s.create(&MachineConfig::new(
            "b",
            "generic",
            "generic",
            Default::default(),
        ))
        .await
        .unwrap(),
    );
    s.write_blob("a", Blob::SshKey, b"k").await.unwrap();
    drop(s.lock("a").await.unwrap());
    assert_eq!(s.names().await.unwrap(), vec!["a", "b"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn export_refreshes_the_cache_from_the_store() {
    let cluster = EtcdCluster::start(3);
    let (c1, c2) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let one = store(&cluster, "exp", Some(1), c1.path()).await;
    let two = store(&cluster, "exp", Some(1), c2.path()).await;
    drop(
        one.create(&MachineConfig::new(
            "m",
            "generic",
            "generic",
            Default::default(),
        ))
        .await
        .unwrap(),
    );
    one.write_blob("m", Blob::CaCert, b"old").await.unwrap();
    let files = two.export("m", "").await.unwrap();
    assert_eq!(std::fs::read(&files.ca_cert).unwrap(), b"old");
    one.write_blob("m", Blob::CaCert, b"rotated").await.unwrap();
    let files = two.export("m", "").await.unwrap();
    assert_eq!(std::fs::read(&files.ca_cert).unwrap(), b"rotated");
    use std::os::unix::fs::MetadataExt;
    assert_eq!(std::fs::metadata(&files.dir).unwrap().mode() & 0o777, 0o700);
    assert_eq!(
        std::fs::metadata(&files.ssh_key).unwrap().mode() & 0o777,
        0o600
    );

    // a cached key or folder opened up since is made private again, its content unchanged
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&files.ssh_key, std::fs::Permissions::from_mode(0o644)).unwrap();
    std::fs::set_permissions(&files.dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    let files = two.export("m", "").await.unwrap();
    assert_eq!(std::fs::metadata(&files.dir).unwrap().mode() & 0o777, 0o700);
    assert_eq!(
        std::fs::metadata(&files.ssh_key).unwrap().mode() & 0o777,
        0o600
    );

    // a key planted in etcd whose name leads out of the cache: listed (so `ls` shows it
    // broken), never a folder
    let mut c = two.inner.client.clone();
    c.put("exp/machines/../../escaped", "{}", None)
        .await
        .unwrap();
    assert!(two
        .names()
        .await
        .unwrap()
        .contains(&"../../escaped".to_string()));
    assert!(matches!(
        two.export("../../escaped", "").await,
        Err(StoreError::Corrupt { what, .. }) if what == "its name"
    ));
    let outside = c2.path().parent().unwrap().join("escaped");
    assert!(!outside.exists(), "{}", outside.display());
    two.remove("../../escaped").await.unwrap();
    assert_eq!(two.names().await.unwrap(), vec!["m"]);
}

/// `store migrate` run again, and a create of a name taken by the same machine (same creation
/// id): both are "already exists", and the machine in etcd is left as it is.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_machine_already_there_is_not_created_again() {
    let cluster = EtcdCluster::start(3);
    let cache = tempfile::tempdir().unwrap();
    let s = store(&cluster, "again", Some(1), cache.path()).await;
    let config = MachineConfig::new("m", "generic", "generic", Default::default());
    drop(s.create(&config).await.unwrap());
    s.write_blob("m", Blob::SshKey, b"rotated").await.unwrap();
    assert!(matches!(
        s.create(&config).await,
        Err(StoreError::AlreadyExists(n)) if n == "m"
    ));

    let from = crate::store::MemoryStore::new();
    drop(from.create(&config).await.unwrap());
    from.write_blob("m", Blob::SshKey, b"old").await.unwrap();
    let m = crate::store::migrate(&from, &s).await.unwrap();
    assert!(m.copied.is_empty(), "{m:?}");
    assert!(matches!(&m.failed[..], [(n, StoreError::AlreadyExists(_))] if n == "m"));
    assert_eq!(
        s.read_blob("m", Blob::SshKey).await.unwrap().unwrap(),
        b"rotated"
    );
}

/// `ls` without the store key lists a machine whose config holds a sealed option (a vSphere
/// password) with its name, driver and last recorded URL, and says the key is missing; the
/// password is withheld and no driver is started for it.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_listing_without_the_key_shows_machines_with_sealed_options() {
    use crate::{Access, ListOptions, Manager, Phase, RowError};
    use driver_protocol::calls::SshEndpoint;
    let cluster = EtcdCluster::start(3);
    let cache = tempfile::tempdir().unwrap();
    let keyed = store(&cluster, "nokey", Some(1), cache.path()).await;
    let mut config = MachineConfig::new("vm1", "vsphere", "vmwarevsphere", Default::default());
    config.driver_config = serde_json::json!({
        "vmwarevsphere-username": "admin",
        "vmwarevsphere-password": "pw-s3cret",
    });
    config.secret_keys = vec!["vmwarevsphere-password".into()];
    config.phase = Phase::Ready;
    config.last_access = Some(Access::new(
        "192.0.2.7",
        SshEndpoint::new("192.0.2.7", 22, "docker"),
        2376,
    ));
    drop(keyed.create(&config).await.unwrap());

    let keyless = store(&cluster, "nokey", None, cache.path()).await;
    assert!(matches!(
        keyless.read_config("vm1").await,
        Err(StoreError::KeyMissing { .. })
    ));
    let public = keyless.read_public_config("vm1").await.unwrap();
    assert_eq!(public.driver_config["vmwarevsphere-username"], "admin");
    assert!(public.driver_config["vmwarevsphere-password"].is_null());
    assert_eq!(
        keyed.read_config("vm1").await.unwrap().driver_config["vmwarevsphere-password"],
        "pw-s3cret"
    );

    // the driver (machine-driver-vsphere) is not on this test's PATH: asking it would leave
    // the row without its URL
    let manager = Manager::builder(Arc::new(keyless)).build();
    let rows = manager.list(&ListOptions::default()).await.unwrap();
    assert_eq!(rows.len(), 1, "{rows:?}");
    let row = &rows[0];
    assert_eq!(
        (row.name.as_str(), row.driver.as_str()),
        ("vm1", "vmwarevsphere")
    );
    assert_eq!(
        row.url.as_ref().map(|u| u.to_string()).as_deref(),
        Some("tcp://192.0.2.7:2376")
    );
    assert!(
        matches!(row.error, Some(RowError::StoreKeyMissing)),
        "{row:?}"
    );
    assert!(!format!("{row:?}").contains("pw-s3cret"));
}
