//! What protocol 3 asks of a driver that makes VMs, against govmomi's vCenter simulator: the VM
//! carries the creation id, `made` reports it before create returns, `remove` finds the VM of a
//! create that died with only the creation id, and a cancelled create leaves nothing behind.
//!
//! The VMs here have no backing container (they never report an IP unless told to with vcsim's
//! `SET.guest.ipAddress`), so these tests take seconds.

mod common;

use common::*;
use driver_protocol::calls::*;
use driver_protocol::request::{Create, Start};
use driver_protocol::{CancellationToken, ClientError, ClientNotification, ErrorKind};
use machine_driver_vsphere::vm::{vm_ref, CREATION_ID_KEY};
use serde_json::{json, Map, Value};
use std::time::{Duration, Instant};

/// Options for a VM from scratch booting a tiny local "ISO", with vcsim reporting `ip` as its
/// guest IP (or no IP at all).
fn iso_options(sim: &Vcsim, iso: &std::path::Path, ip: Option<&str>) -> Map<String, Value> {
    let mut o = sim.options();
    o.insert(
        "vmwarevsphere-boot2docker-url".into(),
        json!(iso.to_string_lossy()),
    );
    if let Some(ip) = ip {
        o.insert(
            "vmwarevsphere-cfgparam".into(),
            json!([format!("SET.guest.ipAddress={ip}")]),
        );
    }
    o.insert("vmwarevsphere-ip-timeout".into(), json!(300));
    o
}

fn tiny_iso(dir: &tempfile::TempDir) -> std::path::PathBuf {
    let iso = dir.path().join("tiny.iso");
    std::fs::write(&iso, vec![7u8; 4096]).unwrap();
    iso
}

fn moref_of(config: &Value) -> String {
    config["vm"]["moref"]
        .as_str()
        .expect("the config names the VM")
        .to_string()
}

/// `made` arrives while create still runs, with a config that finds the VM; the VM carries the
/// creation id in its extraConfig; the config that create returns records it too. From scratch
/// (the tag in CreateVM_Task's spec) and by clone (in CloneVM_Task's spec).
#[tokio::test(flavor = "multi_thread")]
async fn made_comes_before_create_returns_and_the_vm_carries_its_creation_id() {
    let sim = Vcsim::start("one", 1);
    let mut d = Driver::launch().await;
    let key = machine_testsupport::KeyPair::new();
    let dir = tempfile::tempdir().unwrap();
    let iso = tiny_iso(&dir);
    let probe = sim.session().await;

    for clone in [false, true] {
        let name = unique(if clone { "madeclone" } else { "madeiso" });
        sim.track(&name);
        let mut o = iso_options(&sim, &iso, Some("10.20.30.40"));
        if clone {
            o.insert("vmwarevsphere-clone-from".into(), json!("DC0_H0_VM1"));
        }
        let config = d.set_config(&name, o).await.unwrap();
        assert!(config.get("vm").is_none());
        let params = CreateParams::new(&name, config.clone(), &creation_id(&name), &key.public);
        let create = d.client.request::<Create>(&params);
        tokio::pin!(create);
        let mut made: Option<MadeParams> = None;
        let mut uploaded = None;
        let result = loop {
            tokio::select! {
                biased;
                n = d.notes.recv() => {
                    if let Some(ClientNotification::Progress(p)) = &n {
                        if p.step.as_deref() == Some("upload-iso") {
                            uploaded = p.done.zip(p.total);
                        }
                    }
                    if let Some(ClientNotification::Made(m)) = n {
                        assert!(made.is_none(), "one made notification");
                        // the VM exists in vCenter, tagged, when the host hears of it
                        let vm = moref_of(&m.config);
                        let tagged = vms_named(&probe, &name).await;
                        assert_eq!(
                            tagged,
                            vec![(vm_ref(&vm), Some(creation_id(&name)))],
                            "clone {clone}"
                        );
                        made = Some(m);
                    }
                }
                r = &mut create => break r,
            }
        };
        let result = result.unwrap_or_else(|e| panic!("create (clone {clone}): {e}"));
        let made = made.expect("a made notification before create returned");
        if !clone {
            // the ISO upload reported its bytes
            assert_eq!(uploaded, Some((4096, 4096)), "upload-iso progress");
        }
        assert_eq!(made.machine, name);
        assert_eq!(made.config["creation_id"], json!(creation_id(&name)));
        assert_eq!(moref_of(&made.config), moref_of(&result.config));
        assert_eq!(result.config["creation_id"], json!(creation_id(&name)));
        assert_eq!(result.config["vm"]["ip"], "10.20.30.40");
        assert_eq!(result.bootstrap, None);
        let p = probe
            .props(&vm_ref(&moref_of(&result.config)), &["config.extraConfig"])
            .await
            .unwrap();
        assert_eq!(
            machine_driver_vsphere::vm::extra_config_value(&p, CREATION_ID_KEY),
            Some(creation_id(&name))
        );
        let access = d.access(&name, &result.config).await.unwrap();
        assert_eq!(access.ip, "10.20.30.40");
        assert_eq!(access.docker_url, "tcp://10.20.30.40:2376");
        d.remove(&name, &result.config, &creation_id(&name))
            .await
            .unwrap();
        assert!(vms_named(&probe, &name).await.is_empty());
    }
    probe.logout().await;
    d.shutdown().await;
}

/// A create cancelled once its VM exists (here: while the driver waits for an IP that never
/// comes) destroys that VM and answers `cancelled`, saying what it undid. From scratch and by
/// clone. A create cancelled before anything exists says so.
#[tokio::test(flavor = "multi_thread")]
async fn cancelled_create_leaves_no_vm() {
    let sim = Vcsim::start("one", 1);
    let mut d = Driver::launch().await;
    let key = machine_testsupport::KeyPair::new();
    let dir = tempfile::tempdir().unwrap();
    let iso = tiny_iso(&dir);
    let probe = sim.session().await;
    let before = sim.vm_names_in_inventory().await;

    for clone in [false, true] {
        let name = unique(if clone { "cancelclone" } else { "canceliso" });
        sim.track(&name);
        let mut o = iso_options(&sim, &iso, None);
        if clone {
            o.insert("vmwarevsphere-clone-from".into(), json!("DC0_H0_VM1"));
        }
        let config = d.set_config(&name, o).await.unwrap();
        let token = CancellationToken::new();
        let t0 = Instant::now();
        let (result, made) = tokio::join!(
            create_cancellable(&d.client, &name, &config, &key.public, &token),
            async {
                let m = next_made(&mut d.notes).await;
                token.cancel();
                m
            }
        );
        let e = result.expect_err("a cancelled create fails");
        eprintln!("cancelled create (clone {clone}): {e}");
        assert_eq!(e.kind, ErrorKind::Cancelled, "clone {clone}: {e}");
        let vm = moref_of(&made.config);
        assert!(
            e.message.contains("cancelled") && e.message.contains("removed"),
            "says what it undid: {e}"
        );
        assert!(e.message.contains(&vm), "names the VM it removed: {e}");
        assert!(
            t0.elapsed() < Duration::from_secs(60),
            "cancel is prompt: {:?}",
            t0.elapsed()
        );
        assert!(
            vms_named(&probe, &name).await.is_empty(),
            "the cancelled create's VM is gone"
        );
        // the host would remove the machine with what `made` said: nothing left, no error
        d.remove(&name, &made.config, &creation_id(&name))
            .await
            .unwrap();
    }

    // cancelled before it began: nothing made, nothing undone
    let name = unique("cancelfirst");
    let config = d
        .set_config(&name, iso_options(&sim, &iso, None))
        .await
        .unwrap();
    let token = CancellationToken::new();
    token.cancel();
    let e = create_cancellable(&d.client, &name, &config, &key.public, &token)
        .await
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::Cancelled, "{e}");
    assert!(e.message.contains("nothing to undo"), "{e}");

    assert_eq!(sim.vm_names_in_inventory().await, before);
    probe.logout().await;
    d.shutdown().await;
}

/// The driver dies between making the VM and reporting it; the host kept only the config from
/// set_config and the creation id. `remove` finds the VM by its creation id and destroys it; a
/// VM whose tag does not match is left alone; no creation id is nothing to do.
#[tokio::test(flavor = "multi_thread")]
async fn remove_finds_a_dead_creates_vm_by_its_creation_id() {
    let sim = Vcsim::start("one", 1);
    let mut d = Driver::launch().await;
    let key = machine_testsupport::KeyPair::new();
    let dir = tempfile::tempdir().unwrap();
    let iso = tiny_iso(&dir);
    let probe = sim.session().await;
    let name = unique("orphan");
    sim.track(&name);
    let config = d
        .set_config(&name, iso_options(&sim, &iso, None))
        .await
        .unwrap();
    let params = CreateParams::new(&name, config.clone(), &creation_id(&name), &key.public);
    let create = d.client.request::<Create>(&params);
    let made = tokio::select! {
        r = create => panic!("create returned before the crash: {r:?}"),
        m = next_made(&mut d.notes) => m,
    };
    // the driver crashes; the host never stored `made` (say it died too)
    d.kill().await;
    let left = vms_named(&probe, &name).await;
    assert_eq!(
        left,
        vec![(vm_ref(&moref_of(&made.config)), Some(creation_id(&name)))],
        "the dead create left its VM, tagged"
    );

    let d = Driver::launch().await;
    assert!(config.get("vm").is_none(), "the host has no VM for it");
    // no creation id: nothing to look for
    d.remove(&name, &config, "").await.unwrap();
    // another create's id: that VM is not this machine's
    d.remove(&name, &config, "cid-someone-else").await.unwrap();
    assert_eq!(vms_named(&probe, &name).await, left, "a VM not ours stays");
    // its own creation id: found and destroyed
    d.remove(&name, &config, &creation_id(&name)).await.unwrap();
    assert!(
        vms_named(&probe, &name).await.is_empty(),
        "the leftover is gone"
    );
    // nothing found is success
    d.remove(&name, &config, &creation_id(&name)).await.unwrap();
    // the other lifecycle calls say plainly that there is no VM
    let e = d.state(&name, &config).await.unwrap_err();
    assert_eq!(e.kind, ErrorKind::NotFound, "{e}");
    let e = d.access(&name, &config).await.unwrap_err();
    assert_eq!(e.kind, ErrorKind::NotFound, "{e}");
    probe.logout().await;
    d.shutdown().await;
}

/// Start waits for the IP like create, and a cancelled start answers `cancelled` without
/// undoing the power-on.
#[tokio::test(flavor = "multi_thread")]
async fn cancelled_start_stops_waiting_for_the_ip() {
    let sim = Vcsim::start("one", 1);
    let d = Driver::launch().await;
    let probe = sim.session().await;
    let base = d.set_config("base", sim.options()).await.unwrap();
    let vms = make_vms(&probe, &unique("startcancel"), 1, |_| None).await;
    let (name, vm) = &vms[0];
    sim.track(name);
    let config = config_for(&base, name, vm, "");
    assert_eq!(d.state(name, &config).await.unwrap(), State::Stopped);
    let token = CancellationToken::new();
    let params = MachineParams::new(name, config.clone());
    let call = d.client.request_cancellable::<Start>(&params, &token);
    let (r, _) = tokio::join!(call, async {
        tokio::time::sleep(Duration::from_secs(2)).await;
        token.cancel();
    });
    let e = match r {
        Err(ClientError::Driver(e)) => e,
        other => panic!("a cancelled start fails with a driver error: {other:?}"),
    };
    eprintln!("cancelled start: {e}");
    assert_eq!(e.kind, ErrorKind::Cancelled, "{e}");
    assert!(e.message.contains("IP address"), "{e}");
    assert_eq!(d.state(name, &config).await.unwrap(), State::Running);
    probe.logout().await;
    d.shutdown().await;
}

/// Serves one endless "ISO" slowly: headers at once, then a kilobyte every 50 ms.
fn slow_iso_server() -> u16 {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut conn) = conn else { return };
            std::thread::spawn(move || {
                let mut req = Vec::new();
                let mut buf = [0u8; 1024];
                while !req.windows(4).any(|w| w == b"\r\n\r\n") {
                    match conn.read(&mut buf) {
                        Ok(0) | Err(_) => return,
                        Ok(n) => req.extend_from_slice(&buf[..n]),
                    }
                }
                let _ = conn.write_all(
                    b"HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: 100000000\r\n\r\n",
                );
                for _ in 0..2400 {
                    if conn.write_all(&[7u8; 1024]).is_err() {
                        return;
                    }
                    std::thread::sleep(Duration::from_millis(50));
                }
            });
        }
    });
    port
}

/// A create cancelled while it uploads the ISO to the datastore deletes the partial file (no
/// later VM may boot half an ISO) and makes nothing.
#[tokio::test(flavor = "multi_thread")]
async fn cancelled_upload_deletes_the_partial_iso() {
    let sim = Vcsim::start("one", 1);
    let mut d = Driver::launch().await;
    let key = machine_testsupport::KeyPair::new();
    let probe = sim.session().await;
    let before = sim.vm_names_in_inventory().await;
    let port = slow_iso_server();
    let name = unique("slowiso");
    let mut o = sim.options();
    o.insert(
        "vmwarevsphere-boot2docker-url".into(),
        json!(format!("http://127.0.0.1:{port}/slow.iso")),
    );
    let config = d.set_config(&name, o).await.unwrap();
    let file = reqwest::Url::parse(&format!(
        "{}/folder/machine-iso/slow.iso?dcPath=DC0&dsName=LocalDS_0",
        probe.soap.base
    ))
    .unwrap();
    let on_datastore = || async {
        let resp = probe
            .soap
            .http
            .head(file.clone())
            .header("Cookie", probe.soap.cookie().unwrap())
            .send()
            .await
            .unwrap();
        resp.status().is_success()
    };
    let token = CancellationToken::new();
    let (result, ()) = tokio::join!(
        create_cancellable(&d.client, &name, &config, &key.public, &token),
        async {
            loop {
                match d.notes.recv().await {
                    Some(ClientNotification::Progress(p)) if p.message.contains("Downloading") => {
                        break
                    }
                    Some(_) => continue,
                    None => panic!("the driver closed its output"),
                }
            }
            // the upload is under way: the partial file is on the datastore
            let t0 = Instant::now();
            while !on_datastore().await {
                assert!(t0.elapsed() < Duration::from_secs(10), "no upload began");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            token.cancel();
        }
    );
    let e = result.expect_err("a cancelled create fails");
    eprintln!("cancelled upload: {e}");
    assert_eq!(e.kind, ErrorKind::Cancelled, "{e}");
    assert!(
        e.message.contains("uploading") && e.message.contains("deleted"),
        "{e}"
    );
    assert!(!on_datastore().await, "the partial ISO is gone");
    assert_eq!(sim.vm_names_in_inventory().await, before);
    probe.logout().await;
    d.shutdown().await;
}

/// `adopt` takes a VM that exists already (Docker Machine made it) by its name: the config
/// reaches it as create would have left it, and nothing is made; a name with no VM is
/// `not-found`, naming it.
#[tokio::test(flavor = "multi_thread")]
async fn adopt_finds_an_existing_vm_by_name() {
    let sim = Vcsim::start("one", 1);
    let d = Driver::launch().await;
    let probe = sim.session().await;
    let before = sim.vm_names_in_inventory().await;

    let config = d.adopt("DC0_H0_VM0", sim.options()).await.unwrap();
    let vm = moref_of(&config);
    let named = vms_named(&probe, "DC0_H0_VM0").await;
    assert_eq!(named.len(), 1);
    assert_eq!(named[0].0, vm_ref(&vm));
    assert_eq!(config["vm_name"], "DC0_H0_VM0");
    assert_eq!(
        config["vmwarevsphere-password"],
        sim.options()["vmwarevsphere-password"]
    );
    assert_eq!(
        d.state("DC0_H0_VM0", &config).await.unwrap(),
        State::Running
    );

    let e = d.adopt("no-such-vm", sim.options()).await.unwrap_err();
    assert_eq!(e.kind, ErrorKind::NotFound, "{e}");
    assert!(e.message.contains("no VM named no-such-vm"), "{e}");
    assert_eq!(
        sim.vm_names_in_inventory().await,
        before,
        "nothing was made"
    );
    probe.logout().await;
    d.shutdown().await;
}
