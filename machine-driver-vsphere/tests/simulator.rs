//! The vSphere driver against govmomi's vCenter simulator (HTTPS, real SOAP), with VMs backed by
//! real test-host containers running systemd, sshd and cloud-init (shared/testing/vsphere.md).

mod common;

use common::*;
use driver_protocol::calls::*;
use driver_protocol::ErrorKind;
use machine_driver_vsphere::session::text;
use machine_driver_vsphere::vm::vm_ref;
use serde_json::{json, Value};
use std::time::{Duration, Instant};

fn vm_moref(config: &Value) -> String {
    config["vm"]["moref"]
        .as_str()
        .expect("config has the VM")
        .to_string()
}

/// Scenario step 5: cpu-count 1, memory-size 512, disk-size 10240, a local file as the ISO, in
/// the small vCenter (one of each), then stop/start/remove.
#[tokio::test(flavor = "multi_thread")]
async fn scenario_step5_create_from_iso_stop_start_remove() {
    let t0 = Instant::now();
    let sim = Vcsim::start("one", 1);
    let mut d = Driver::launch().await;
    assert_eq!(d.info.name, "vsphere");
    assert_eq!(d.info.aliases, vec!["vmwarevsphere".to_string()]);
    let key = machine_testsupport::KeyPair::new();
    let dir = tempfile::tempdir().unwrap();
    let iso = dir.path().join("tiny-docker.iso");
    std::fs::write(&iso, vec![7u8; 64 * 1024]).unwrap();
    let name = unique("testvm");
    sim.track(&name);

    let mut o = sim.options();
    o.insert("vmwarevsphere-cpu-count".into(), json!(1));
    o.insert("vmwarevsphere-memory-size".into(), json!(512));
    o.insert("vmwarevsphere-disk-size".into(), json!(10240));
    o.insert(
        "vmwarevsphere-boot2docker-url".into(),
        json!(iso.to_string_lossy()),
    );
    o.insert(
        "vmwarevsphere-cfgparam".into(),
        json!([run_container_param()]),
    );
    let config = d.set_config(&name, o).await.unwrap();
    assert_eq!(config["vmwarevsphere-password"], PASSWORD);
    d.pre_create_check(&name, &config).await.unwrap();
    let config = d.create(&name, &config, &key.public).await.unwrap();
    let created = t0.elapsed();
    let progress = d.progress();
    assert!(
        progress.iter().any(|p| p.contains("Uploading")),
        "{progress:?}"
    );
    assert!(
        !format!("{progress:?}{config}").contains("12345678")
            || config["vmwarevsphere-password"] == PASSWORD
    );
    for p in &progress {
        assert!(!p.contains(PASSWORD), "progress shows the password: {p}");
    }

    // vCenter reports the hardware asked for
    let s = sim.session().await;
    let vm = vm_ref(&vm_moref(&config));
    let p = s
        .props(
            &vm,
            &[
                "name",
                "config.hardware.numCPU",
                "config.hardware.memoryMB",
                "config.hardware.device",
                "runtime.powerState",
                "guest.ipAddress",
                "config.extraConfig",
            ],
        )
        .await
        .unwrap();
    assert_eq!(text(&p, "name"), name);
    assert_eq!(text(&p, "config.hardware.numCPU"), "1");
    assert_eq!(text(&p, "config.hardware.memoryMB"), "512");
    assert_eq!(text(&p, "runtime.powerState"), "poweredOn");
    let devices = p.get("config.hardware.device").unwrap();
    let disk = devices
        .children
        .iter()
        .find(|d| d.xsi_type() == Some("VirtualDisk"))
        .expect("a disk");
    assert_eq!(
        disk.text_at("capacityInKB"),
        Some((10240 * 1024).to_string().as_str())
    );
    let cdrom = devices
        .children
        .iter()
        .find(|d| d.xsi_type() == Some("VirtualCdrom"))
        .expect("a CD-ROM");
    assert_eq!(
        cdrom.text_at("backing/fileName"),
        Some("[LocalDS_0] machine-iso/tiny-docker.iso")
    );
    let extra = p.get("config.extraConfig").unwrap();
    let keys: Vec<&str> = extra
        .children
        .iter()
        .filter_map(|c| c.text_at("key"))
        .collect();
    for k in [
        "guestinfo.metadata",
        "guestinfo.metadata.encoding",
        "guestinfo.userdata",
        "guestinfo.userdata.encoding",
        "RUN.container",
    ] {
        assert!(keys.contains(&k), "extraConfig lacks {k}: {keys:?}");
    }
    let ip = text(&p, "guest.ipAddress").to_string();
    assert!(!ip.is_empty());
    assert_eq!(config["vm"]["ip"], ip);
    s.logout().await;

    // SSH works with the key passed to create, as the ssh-user cloud-init made, with sudo
    let ssh: SshDetails = d.call(SSH, &name, &config).await.unwrap();
    assert_eq!(
        (ssh.host.as_str(), ssh.port, ssh.user.as_str()),
        (ip.as_str(), 22, "docker")
    );
    assert_eq!(ssh.key_path, None);
    let out = ssh_until_ok(
        &ip,
        22,
        "docker",
        &key.private,
        "sudo -n id -u && hostname",
        Duration::from_secs(90),
    );
    assert_eq!(out, format!("0\n{name}"));
    let ssh_ok = t0.elapsed();
    assert_eq!(d.state(&name, &config).await.unwrap(), State::Running);
    let url: UrlResult = d.call(URL, &name, &config).await.unwrap();
    assert_eq!(url.url, format!("tcp://{ip}:2376"));

    // stop → poweredOff in vCenter; start → poweredOn, IP again
    let _: ConfigResult = d.call(STOP, &name, &config).await.unwrap();
    assert_eq!(d.state(&name, &config).await.unwrap(), State::Stopped);
    let s = sim.session().await;
    assert_eq!(
        text(
            &s.props(&vm, &["runtime.powerState"]).await.unwrap(),
            "runtime.powerState"
        ),
        "poweredOff"
    );
    s.logout().await;
    let started: ConfigResult = d.call(START, &name, &config).await.unwrap();
    let config = started.config;
    assert_eq!(d.state(&name, &config).await.unwrap(), State::Running);
    let ip2: IpResult = d.call(IP, &name, &config).await.unwrap();
    ssh_until_ok(
        &ip2.ip,
        22,
        "docker",
        &key.private,
        "true",
        Duration::from_secs(60),
    );

    // kill → off; restart → on
    let _: ConfigResult = d.call(KILL, &name, &config).await.unwrap();
    assert_eq!(d.state(&name, &config).await.unwrap(), State::Stopped);
    let r: ConfigResult = d.call(RESTART, &name, &config).await.unwrap();
    assert_eq!(d.state(&name, &r.config).await.unwrap(), State::Running);

    // remove → gone from the inventory; a second remove is fine
    let _: ConfigResult = d.call(REMOVE, &name, &config).await.unwrap();
    assert!(!sim.vm_names_in_inventory().await.contains(&name));
    let _: ConfigResult = d.call(REMOVE, &name, &config).await.unwrap();
    let e = d.state(&name, &config).await.unwrap_err();
    assert_eq!(e.kind, ErrorKind::NotFound, "{e}");

    // a second VM reuses the uploaded ISO; one that never reports an IP fails with what vCenter
    // said, and nothing is left behind
    let name2 = unique("noip");
    let mut o = sim.options();
    o.insert(
        "vmwarevsphere-boot2docker-url".into(),
        json!(iso.to_string_lossy()),
    );
    o.insert("vmwarevsphere-ip-timeout".into(), json!(3));
    let config2 = d.set_config(&name2, o).await.unwrap();
    let before = sim.vm_names_in_inventory().await;
    let e = d.create(&name2, &config2, &key.public).await.unwrap_err();
    assert_eq!(e.kind, ErrorKind::Timeout, "{e}");
    assert!(
        e.message.contains("no IP address")
            && e.message.contains("power state poweredOn")
            && e.message.contains("VMware Tools"),
        "{e}"
    );
    assert!(e.message.contains("removed"), "{e}");
    let progress = d.progress();
    assert!(
        progress.iter().any(|p| p.contains("reusing")),
        "{progress:?}"
    );
    assert_eq!(
        sim.vm_names_in_inventory().await,
        before
            .into_iter()
            .filter(|n| n != &name2)
            .collect::<Vec<_>>()
    );
    eprintln!("timings: created in {created:?}, SSH as the cloud-init user after {ssh_ok:?}, whole test {:?}", t0.elapsed());
    d.shutdown().await;
}
