//! The vSphere driver against govmomi's vCenter simulator (HTTPS, real SOAP), with VMs backed by
//! real test-host containers running systemd, sshd and cloud-init (shared/testing/vsphere.md).

mod common;

use common::*;
use driver_protocol::calls::*;
use driver_protocol::request::{Kill, Remove, Restart, Start, Stop};
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

    // the VM carries the creation id, from its CreateVM_Task on
    assert_eq!(
        machine_driver_vsphere::vm::extra_config_value(
            &p,
            machine_driver_vsphere::vm::CREATION_ID_KEY
        ),
        Some(creation_id(&name))
    );
    assert_eq!(config["creation_id"], json!(creation_id(&name)));

    // access: the IP, SSH as the ssh-user cloud-init made, Docker on 2376
    let access = d.access(&name, &config).await.unwrap();
    assert_eq!(access.ip, ip);
    let ssh = access.ssh.as_ref().expect("a VM has SSH");
    assert_eq!(
        (ssh.host.as_str(), ssh.port, ssh.user.as_str()),
        (ip.as_str(), 22, "docker")
    );
    assert_eq!(access.docker_url, format!("tcp://{ip}:2376"));
    // SSH works with the key passed to create, with sudo (the driver did not wait for it: the
    // host does)
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

    // stop → poweredOff in vCenter; start → poweredOn, IP again
    d.call::<Stop>(&name, &config).await.unwrap();
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
    let started = d.call::<Start>(&name, &config).await.unwrap();
    let config = started.config;
    assert_eq!(d.state(&name, &config).await.unwrap(), State::Running);
    let ip2 = d.access(&name, &config).await.unwrap().ip;
    assert_eq!(config["vm"]["ip"], json!(ip2), "start records the new IP");
    ssh_until_ok(
        &ip2,
        22,
        "docker",
        &key.private,
        "true",
        Duration::from_secs(60),
    );

    // kill → off; restart → on
    d.call::<Kill>(&name, &config).await.unwrap();
    assert_eq!(d.state(&name, &config).await.unwrap(), State::Stopped);
    let r = d.call::<Restart>(&name, &config).await.unwrap();
    assert_eq!(d.state(&name, &r.config).await.unwrap(), State::Running);

    // remove → gone from the inventory; a second remove is fine
    d.call::<Remove>(&name, &config).await.unwrap();
    assert!(!sim.vm_names_in_inventory().await.contains(&name));
    d.call::<Remove>(&name, &config).await.unwrap();
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

/// Marks vcsim's DC0_H0_VM0 as a cloud-init ready template: powered off, RUN.container set.
async fn make_template(sim: &Vcsim) {
    let s = sim.session().await;
    let inv = machine_driver_vsphere::inventory::Inventory::load(&s, true)
        .await
        .unwrap();
    let vm = inv
        .entities
        .iter()
        .find(|e| e.name == "DC0_H0_VM0")
        .unwrap()
        .moref
        .clone();
    let _ = machine_driver_vsphere::vm::power_off(&s, &vm, "DC0_H0_VM0").await;
    let (k, v) = run_container_param()
        .split_once('=')
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .unwrap();
    let body = format!(
        "<ReconfigVM_Task xmlns=\"urn:vim25\"><_this type=\"VirtualMachine\">{}</_this><spec><extraConfig><key>{k}</key><value xsi:type=\"xsd:string\">{}</value></extraConfig></spec></ReconfigVM_Task>",
        vm.value,
        machine_driver_vsphere::xml::escape(&v)
    );
    s.run_task("reconfiguring the template", &body, Duration::from_secs(60))
        .await
        .unwrap();
    let body = format!(
        "<MarkAsTemplate xmlns=\"urn:vim25\"><_this type=\"VirtualMachine\">{}</_this></MarkAsTemplate>",
        vm.value
    );
    s.call("marking the template", &body).await.unwrap();
    s.logout().await;
}

/// Cloning a cloud-init template in the small vCenter: defaults pick the only datastore,
/// network and pool; every clone gets a fresh instance-id, so cloud-init runs anew.
#[tokio::test(flavor = "multi_thread")]
async fn clone_from_template_one_of_each() {
    let t0 = Instant::now();
    let sim = Vcsim::start("one", 1);
    make_template(&sim).await;
    let d = Driver::launch().await;
    let key = machine_testsupport::KeyPair::new();
    let mut configs = Vec::new();
    for _ in 0..2 {
        let name = unique("clone");
        sim.track(&name);
        let mut o = sim.options();
        o.insert("vmwarevsphere-clone-from".into(), json!("DC0_H0_VM0"));
        // vcsim 0.24 does not copy the source's extraConfig on clone (a real vCenter does), so
        // the backing container's arguments come as a cfgparam too
        o.insert(
            "vmwarevsphere-cfgparam".into(),
            json!([run_container_param()]),
        );
        o.insert("vmwarevsphere-ip-timeout".into(), json!(120));
        let config = d.set_config(&name, o).await.unwrap();
        d.pre_create_check(&name, &config).await.unwrap();
        let config = d.create(&name, &config, &key.public).await.unwrap();
        configs.push((name, config));
    }
    let cloned = t0.elapsed();
    let s = sim.session().await;
    let inv = machine_driver_vsphere::inventory::Inventory::load(&s, false)
        .await
        .unwrap();
    let only = |kind: &str| {
        let all: Vec<_> = inv
            .entities
            .iter()
            .filter(|e| e.moref.kind == kind)
            .collect();
        assert_eq!(all.len(), 1, "one {kind} in the small vCenter");
        all[0].moref.clone()
    };
    let mut ids = Vec::new();
    for (name, config) in &configs {
        let vm = vm_ref(&vm_moref(config));
        let p = s
            .props(
                &vm,
                &[
                    "config.hardware.numCPU",
                    "config.hardware.memoryMB",
                    "config.hardware.device",
                    "config.extraConfig",
                    "config.template",
                    "resourcePool",
                    "datastore",
                    "network",
                ],
            )
            .await
            .unwrap();
        assert_eq!(text(&p, "config.hardware.numCPU"), "2");
        assert_eq!(text(&p, "config.hardware.memoryMB"), "2048");
        assert_eq!(text(&p, "config.template"), "false");
        // vcsim's VMs have a 1 MB disk: the clone's is grown to the size asked
        let disks: Vec<String> = p
            .get("config.hardware.device")
            .unwrap()
            .children
            .iter()
            .filter(|d| d.xsi_type() == Some("VirtualDisk"))
            .map(|d| d.text_at("capacityInKB").unwrap_or("").to_string())
            .collect();
        assert_eq!(disks, vec![(20480 * 1024).to_string()]);
        // placed by default in the only pool, datastore and network
        assert_eq!(text(&p, "resourcePool"), only("ResourcePool").value);
        assert_eq!(p["datastore"].children[0].text, only("Datastore").value);
        assert_eq!(p["network"].children[0].text, only("Network").value);
        let extra: Vec<(String, String)> = p
            .get("config.extraConfig")
            .unwrap()
            .children
            .iter()
            .map(|c| {
                (
                    c.text_at("key").unwrap_or("").to_string(),
                    c.text_at("value").unwrap_or("").to_string(),
                )
            })
            .collect();
        assert!(
            extra.iter().any(|(k, _)| k == "RUN.container"),
            "RUN.container reaches the clone"
        );
        assert!(
            extra
                .iter()
                .any(|(k, v)| k == "machine.creation-id" && *v == creation_id(name)),
            "the clone carries its creation id: {extra:?}"
        );
        let meta = &extra
            .iter()
            .find(|(k, _)| k == "guestinfo.metadata")
            .unwrap()
            .1;
        use base64::Engine;
        let meta = String::from_utf8(
            base64::engine::general_purpose::STANDARD
                .decode(meta)
                .unwrap(),
        )
        .unwrap();
        let meta: Value = serde_json::from_str(&meta).unwrap();
        assert_eq!(meta["instance-id"], config["vm"]["instance_id"]);
        assert_eq!(meta["local-hostname"], json!(name));
        ids.push(meta["instance-id"].as_str().unwrap().to_string());
        let ip = config["vm"]["ip"].as_str().unwrap();
        let out = ssh_until_ok(
            ip,
            22,
            "docker",
            &key.private,
            "sudo -n hostname",
            Duration::from_secs(90),
        );
        assert_eq!(&out, name);
    }
    assert_ne!(ids[0], ids[1], "every clone gets a fresh instance-id");
    s.logout().await;
    let ssh_ok = t0.elapsed();
    for (name, config) in &configs {
        d.call::<Remove>(name, config).await.unwrap();
    }
    let left = sim.vm_names_in_inventory().await;
    for (name, _) in &configs {
        assert!(!left.contains(name), "{name} still in {left:?}");
    }
    assert!(
        left.contains(&"DC0_H0_VM0".to_string()),
        "the template stays"
    );
    eprintln!("timings: 2 clones created in {cloned:?}, both answered SSH after {ssh_ok:?}");
    d.shutdown().await;
}

/// vcsim's default vCenter has a cluster and a host (two pools), two networks (and an uplink
/// port group), here two datastores: each default is a clear error listing the candidates.
/// Choosing them works, on a distributed port group and a cluster host.
#[tokio::test(flavor = "multi_thread")]
async fn several_of_each_is_a_clear_error() {
    let sim = Vcsim::start("multi", 2);
    let d = Driver::launch().await;
    let name = unique("multi");
    sim.track(&name);
    let before = sim.vm_names_in_inventory().await;
    let mut o = sim.options();
    o.insert(
        "vmwarevsphere-cfgparam".into(),
        json!([run_container_param()]),
    );
    let iso = tempfile::NamedTempFile::new().unwrap();
    o.insert(
        "vmwarevsphere-boot2docker-url".into(),
        json!(iso.path().to_string_lossy()),
    );

    let config = d.set_config(&name, o.clone()).await.unwrap();
    let e = d.pre_create_check(&name, &config).await.unwrap_err();
    assert_eq!(e.kind, ErrorKind::InvalidOption, "{e}");
    assert!(
        e.message.contains("several resource pools") && e.message.contains("--vmwarevsphere-pool"),
        "{e}"
    );
    assert!(
        e.message.contains("/DC0/host/DC0_C0/Resources")
            && e.message.contains("/DC0/host/DC0_H0/Resources"),
        "{e}"
    );
    // create says the same, and makes nothing
    let key = machine_testsupport::KeyPair::new();
    let e2 = d.create(&name, &config, &key.public).await.unwrap_err();
    assert_eq!(e2.message, e.message);

    o.insert("vmwarevsphere-pool".into(), json!("DC0_H0/Resources"));
    let config = d.set_config(&name, o.clone()).await.unwrap();
    let e = d.pre_create_check(&name, &config).await.unwrap_err();
    assert!(
        e.message.contains("several datastores")
            && e.message.contains("LocalDS_0")
            && e.message.contains("LocalDS_1"),
        "{e}"
    );

    o.insert("vmwarevsphere-datastore".into(), json!("LocalDS_1"));
    let config = d.set_config(&name, o.clone()).await.unwrap();
    let e = d.pre_create_check(&name, &config).await.unwrap_err();
    assert!(
        e.message.contains("several networks")
            && e.message.contains("VM Network")
            && e.message.contains("DC0_DVPG0"),
        "{e}"
    );
    assert!(
        !e.message.contains("DVUplinks"),
        "uplink port groups are no networks for VMs: {e}"
    );
    assert_eq!(sim.vm_names_in_inventory().await, before);

    // chosen: a distributed port group, a cluster host (its cluster's pool)
    o.remove("vmwarevsphere-pool");
    o.insert("vmwarevsphere-hostsystem".into(), json!("DC0_C0_H1"));
    o.insert("vmwarevsphere-network".into(), json!(["DC0_DVPG0"]));
    let config = d.set_config(&name, o.clone()).await.unwrap();
    d.pre_create_check(&name, &config).await.unwrap();
    let config = d.create(&name, &config, &key.public).await.unwrap();
    let s = sim.session().await;
    let p = s
        .props(
            &vm_ref(&vm_moref(&config)),
            &["runtime.host", "network", "datastore"],
        )
        .await
        .unwrap();
    let host = p.get("runtime.host").unwrap().text.clone();
    let hp = s
        .props(
            &machine_driver_vsphere::soap::MoRef::new("HostSystem", &host),
            &["name"],
        )
        .await
        .unwrap();
    assert_eq!(text(&hp, "name"), "DC0_C0_H1");
    let nets: Vec<String> = p
        .get("network")
        .unwrap()
        .children
        .iter()
        .map(|c| c.text.clone())
        .collect();
    assert!(
        nets.iter().any(|n| n.starts_with("dvportgroup-")),
        "{nets:?}"
    );
    s.logout().await;
    d.call::<Remove>(&name, &config).await.unwrap();
    assert_eq!(sim.vm_names_in_inventory().await, before);
    d.shutdown().await;
}

/// Wrong password, unknown datastore/network/template, an existing VM name, vCenter unreachable,
/// an untrusted certificate: each a clear error of the right kind, and nothing left in vCenter.
#[tokio::test(flavor = "multi_thread")]
async fn errors_are_clear_and_leave_nothing_behind() {
    let sim = Vcsim::start("one", 1);
    let d = Driver::launch().await;
    let key = machine_testsupport::KeyPair::new();
    let name = unique("err");
    sim.track(&name);
    let before = sim.vm_names_in_inventory().await;
    let iso = tempfile::NamedTempFile::new().unwrap();
    let base = {
        let mut o = sim.options();
        o.insert(
            "vmwarevsphere-boot2docker-url".into(),
            json!(iso.path().to_string_lossy()),
        );
        o
    };
    let with = |k: &str, v: Value| {
        let mut o = base.clone();
        o.insert(k.into(), v);
        o
    };

    // wrong password: auth-failed, the password never shown
    let secret = "Sup3r-Secret-Pw";
    let config = d
        .set_config(&name, with("vmwarevsphere-password", json!(secret)))
        .await
        .unwrap();
    let mut redacted = config.clone();
    redacted
        .as_object_mut()
        .unwrap()
        .remove("vmwarevsphere-password");
    assert!(
        !redacted.to_string().contains(secret),
        "the password is stored only under vmwarevsphere-password"
    );
    for e in [
        d.pre_create_check(&name, &config).await.unwrap_err(),
        d.create(&name, &config, &key.public).await.unwrap_err(),
    ] {
        assert_eq!(e.kind, ErrorKind::AuthFailed, "{e}");
        assert!(
            e.message.contains("wrong user name or password") && e.message.contains("root"),
            "{e}"
        );
        assert!(!e.message.contains(secret), "{e}");
    }

    // unknown inventory objects: not-found, naming the object and listing what exists
    let cases = [
        (
            "vmwarevsphere-datastore",
            json!("nope-ds"),
            "nope-ds",
            "LocalDS_0",
        ),
        (
            "vmwarevsphere-network",
            json!(["nope-net"]),
            "nope-net",
            "VM Network",
        ),
        (
            "vmwarevsphere-clone-from",
            json!("nope-tmpl"),
            "nope-tmpl",
            "DC0_H0_VM1",
        ),
        (
            "vmwarevsphere-datacenter",
            json!("nope-dc"),
            "nope-dc",
            "DC0",
        ),
        (
            "vmwarevsphere-pool",
            json!("nope-pool"),
            "nope-pool",
            "/DC0/host/DC0_H0/Resources",
        ),
        (
            "vmwarevsphere-folder",
            json!("nope-folder"),
            "nope-folder",
            "/DC0/vm",
        ),
    ];
    for (k, v, named, listed) in cases {
        let config = d.set_config(&name, with(k, v)).await.unwrap();
        for e in [
            d.pre_create_check(&name, &config).await.unwrap_err(),
            d.create(&name, &config, &key.public).await.unwrap_err(),
        ] {
            assert_eq!(e.kind, ErrorKind::NotFound, "{k}: {e}");
            assert!(
                e.message.contains(named) && e.message.contains(listed),
                "{k}: {e}"
            );
        }
    }

    // a name taken by another VM: already-exists, and that VM is left alone
    let config = d.set_config("DC0_H0_VM1", base.clone()).await.unwrap();
    let e = d
        .create("DC0_H0_VM1", &config, &key.public)
        .await
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::AlreadyExists, "{e}");
    assert_eq!(sim.vm_names_in_inventory().await, before);

    // vCenter unreachable
    let closed = machine_testsupport::ClosedPort::new();
    let port = closed.port();
    let config = d
        .set_config(&name, with("vmwarevsphere-vcenter-port", json!(port)))
        .await
        .unwrap();
    for e in [
        d.pre_create_check(&name, &config).await.unwrap_err(),
        d.create(&name, &config, &key.public).await.unwrap_err(),
    ] {
        assert_eq!(e.kind, ErrorKind::Unreachable, "{e}");
        assert!(e.message.contains(&format!("127.0.0.1:{port}")), "{e}");
    }

    // the certificate: untrusted by default; trusted by CA file, thumbprint pin, or insecure
    let mut o = base.clone();
    o.remove("vmwarevsphere-ca-cert");
    let config = d.set_config(&name, o.clone()).await.unwrap();
    let e = d.pre_create_check(&name, &config).await.unwrap_err();
    assert_eq!(e.kind, ErrorKind::Unreachable, "{e}");
    assert!(
        e.message.contains("certificate") && e.message.contains("--vmwarevsphere-insecure"),
        "{e}"
    );
    let pem = std::fs::read_to_string(&sim.cert).unwrap();
    let b64: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    use base64::Engine;
    let der = base64::engine::general_purpose::STANDARD
        .decode(b64)
        .unwrap();
    let pin = machine_driver_vsphere::soap::fingerprint(&der);
    let mut pinned = o.clone();
    pinned.insert("vmwarevsphere-thumbprint".into(), json!(pin));
    d.pre_create_check(&name, &d.set_config(&name, pinned).await.unwrap())
        .await
        .unwrap();
    let mut wrong = o.clone();
    wrong.insert("vmwarevsphere-thumbprint".into(), json!("00".repeat(32)));
    let e = d
        .pre_create_check(&name, &d.set_config(&name, wrong).await.unwrap())
        .await
        .unwrap_err();
    assert!(
        e.message.contains("does not match the pinned thumbprint"),
        "{e}"
    );
    let mut insecure = o.clone();
    insecure.insert("vmwarevsphere-insecure".into(), json!(true));
    d.pre_create_check(&name, &d.set_config(&name, insecure).await.unwrap())
        .await
        .unwrap();

    assert_eq!(
        sim.vm_names_in_inventory().await,
        before,
        "nothing left behind"
    );
    d.shutdown().await;
}
