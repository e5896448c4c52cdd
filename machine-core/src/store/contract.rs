//! What every store implementation must do, as one check each implementation's tests run.

use super::{Blob, Store, StoreCerts, StoreError, RECORDS_PER_READ};
use crate::cert::Pem;
use crate::config::MachineConfig;
use std::sync::Arc;
use std::time::Duration;

fn config(name: &str) -> MachineConfig {
    MachineConfig::new(name, "generic", "generic", Default::default())
}

pub(crate) async fn check(store: &dyn Store) {
    // create: exactly one of two wins, and holds the lock
    assert!(store.names().await.unwrap().is_empty());
    let lock = store.create(&config("m1")).await.unwrap();
    assert!(matches!(
        store.create(&config("m1")).await,
        Err(StoreError::AlreadyExists(_))
    ));
    assert!(store.exists("m1").await.unwrap());
    assert!(!store.exists("nope").await.unwrap());
    drop(lock);

    // config and blobs round-trip
    let mut c = store.read_config("m1").await.unwrap();
    c.docker_version = Some("27.0.1".into());
    store.write_config(&c).await.unwrap();
    assert_eq!(store.read_config("m1").await.unwrap(), c);
    assert_eq!(store.read_blob("m1", Blob::SshKey).await.unwrap(), None);
    for b in Blob::ALL {
        store
            .write_blob("m1", b, b.name().as_bytes())
            .await
            .unwrap();
    }
    store.write_blob("m1", Blob::SshKey, b"new").await.unwrap();
    assert_eq!(
        store
            .read_blob("m1", Blob::SshKey)
            .await
            .unwrap()
            .as_deref(),
        Some(&b"new"[..])
    );
    assert!(matches!(
        store.read_config("nope").await,
        Err(StoreError::NotFound(_))
    ));
    assert!(matches!(
        store.write_blob("nope", Blob::SshKey, b"x").await,
        Err(StoreError::NotFound(_))
    ));

    // exported files hold the blobs
    let files = store.export("m1", "h ssh-ed25519 AAAA\n").await.unwrap();
    assert_eq!(std::fs::read(&files.ssh_key).unwrap(), b"new");
    assert_eq!(std::fs::read(&files.ca_cert).unwrap(), b"ca-cert");
    assert_eq!(files.client_key.parent(), Some(files.dir.as_path()));

    // store certificates
    assert_eq!(store.read_store_certs().await.unwrap(), None);
    let certs = StoreCerts {
        ca: Pem {
            cert: "CA".into(),
            key: "CAKEY".into(),
        },
        client: Pem {
            cert: "C".into(),
            key: "CKEY".into(),
        },
    };
    {
        let _l = store.lock_store_certs().await.unwrap();
        store.write_store_certs(&certs).await.unwrap();
    }
    assert_eq!(store.read_store_certs().await.unwrap(), Some(certs));

    // locks: per machine, waiting, and not for another machine
    store.create(&config("m2")).await.unwrap();
    let held = store.lock("m1").await.unwrap();
    let _other = tokio::time::timeout(Duration::from_secs(5), store.lock("m2"))
        .await
        .expect("another machine's lock is free")
        .unwrap();
    let waiting = tokio::time::timeout(Duration::from_millis(200), store.lock("m1")).await;
    assert!(waiting.is_err(), "a held lock was taken twice");
    drop(held);
    let again = tokio::time::timeout(Duration::from_secs(5), store.lock("m1"))
        .await
        .expect("a released lock is free")
        .unwrap();
    drop(again);
    assert!(matches!(
        store.lock("nope").await,
        Err(StoreError::NotFound(_))
    ));

    // listing reads: in the order asked, a missing machine an error for itself only, and more
    // names than one round trip takes
    let many: Vec<String> = (0..RECORDS_PER_READ + 20)
        .map(|i| format!("many{i:03}"))
        .collect();
    for n in &many {
        drop(store.create(&config(n)).await.unwrap());
    }
    let mut asked = vec!["m2".to_string(), "nope".to_string(), "m1".to_string()];
    asked.extend(many.iter().cloned());
    let reads = store
        .read_records(&asked, &[Blob::SshKey, Blob::CaCert])
        .await
        .unwrap();
    assert_eq!(reads.len(), asked.len());
    for (name, read) in asked.iter().zip(&reads) {
        match (name.as_str(), read) {
            ("nope", Err(StoreError::NotFound(n))) => assert_eq!(n, "nope"),
            ("m1", Ok((c, blobs))) => {
                assert_eq!(c.name, "m1");
                assert_eq!(blobs, &[Some(b"new".to_vec()), Some(b"ca-cert".to_vec())]);
            }
            (_, Ok((c, blobs))) => {
                assert_eq!(&c.name, name);
                assert_eq!(blobs, &[None, None]);
            }
            (_, Err(e)) => panic!("{name}: {e}"),
        }
    }
    for n in &many {
        store.remove(n).await.unwrap();
    }

    // remove; names sorted
    store.create(&config("a0")).await.unwrap();
    assert_eq!(store.names().await.unwrap(), vec!["a0", "m1", "m2"]);
    store.remove("m1").await.unwrap();
    store.remove("m1").await.unwrap();
    assert_eq!(store.names().await.unwrap(), vec!["a0", "m2"]);
    assert!(!store.exists("m1").await.unwrap());
}

/// Two creates of one name at once: exactly one wins.
pub(crate) async fn check_create_race(store: Arc<dyn Store>) {
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let s = store.clone();
        tasks.push(tokio::spawn(async move {
            s.create(&config("race")).await.map(|_| ())
        }));
    }
    let mut won = 0;
    for t in tasks {
        match t.await.unwrap() {
            Ok(()) => won += 1,
            Err(StoreError::AlreadyExists(_)) => {}
            Err(e) => panic!("{e}"),
        }
    }
    assert_eq!(won, 1);
}

/// A record stored under a name its config does not record: `plant(from, to)` copies the
/// record of `from`, as it is, to the name `to` (what `cp -a machines/A machines/B` or an
/// etcdctl copy does). Every read of the copy is [`StoreError::Misfiled`], a listing shows it
/// as an error of its own beside the original, and removing the copy leaves the original whole.
pub(crate) async fn check_misfiled<F, Fut>(store: &dyn Store, plant: F)
where
    F: FnOnce(&'static str, &'static str) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    drop(store.create(&config("orig")).await.unwrap());
    store
        .write_blob("orig", Blob::SshKey, b"orig-key")
        .await
        .unwrap();
    plant("orig", "copy").await;
    let names = store.names().await.unwrap();
    assert!(
        names.contains(&"copy".into()) && names.contains(&"orig".into()),
        "{names:?}"
    );
    let misfiled = |r: Result<(), StoreError>| match r {
        Err(StoreError::Misfiled {
            stored_as,
            recorded,
            ..
        }) => assert_eq!((stored_as.as_str(), recorded.as_str()), ("copy", "orig")),
        other => panic!("a copy of another machine's record was read: {other:?}"),
    };
    misfiled(store.read_config("copy").await.map(|_| ()));
    misfiled(store.read_public_config("copy").await.map(|_| ()));
    misfiled(store.read_record("copy", &[Blob::SshKey]).await.map(|_| ()));
    let mut reads = store
        .read_records(&["copy".into(), "orig".into()], &[Blob::SshKey])
        .await
        .unwrap();
    let (orig, _) = reads.pop().unwrap().expect("the original reads");
    assert_eq!(orig.name, "orig");
    misfiled(reads.pop().unwrap().map(|_| ()));
    let text = store.read_config("copy").await.unwrap_err().to_string();
    assert!(
        text.contains("\"copy\"") && text.contains("\"orig\"") && text.contains("copied"),
        "{text}"
    );

    store.remove("copy").await.unwrap();
    let names = store.names().await.unwrap();
    assert!(
        !names.contains(&"copy".into()) && names.contains(&"orig".into()),
        "{names:?}"
    );
    assert_eq!(store.read_config("orig").await.unwrap().name, "orig");
    assert_eq!(
        store.read_blob("orig", Blob::SshKey).await.unwrap(),
        Some(b"orig-key".to_vec())
    );
    store.remove("orig").await.unwrap();
}
