//! The provisioner against real hosts: Debian test-host containers (sshd, systemd, a
//! passwordless-sudo user `nick`, no Docker) reached over the real SSH session, with Docker
//! really installed from Debian's packages or by an install script served over HTTP.
//!
//! Needs the Docker engine and the test-host images of `scripts/test-env.sh`.

use std::process::Command;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use machine_core::engine::{EngineOptions, InstallMethod};
use machine_core::testing::cert;
use machine_core::testing::provision::{self, DaemonSetup, ProvisionReport, ProvisionRequest};
use machine_core::testing::ssh::{HostKeyCheck, Session, SshTarget};
use machine_core::ProvisionError;
use machine_testsupport::{http::FileServer, run, KeyPair, TestHost};

struct Certs {
    ca: machine_core::Pem,
    server: machine_core::Pem,
    /// ca.pem, cert.pem and key.pem (the client's) for the local `docker` client.
    dir: tempfile::TempDir,
}

impl Certs {
    fn for_host(ip: &str, name: &str) -> Certs {
        let ca = cert::new_ca("machine-test").expect("CA");
        let server = cert::new_server(&ca, "machine-test", &[ip.to_string(), name.to_string()])
            .expect("server");
        let client = cert::new_client(&ca, "machine-test").expect("client");
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("ca.pem"), &ca.cert).unwrap();
        std::fs::write(dir.path().join("cert.pem"), &client.cert).unwrap();
        std::fs::write(dir.path().join("key.pem"), &client.key).unwrap();
        Certs { ca, server, dir }
    }

    /// The local `docker` client talking mutual TLS to the host's daemon.
    fn docker(&self, ip: &str, port: u16, args: &[&str]) -> String {
        run(Command::new("docker")
            .env("DOCKER_TLS_VERIFY", "1")
            .env("DOCKER_HOST", format!("tcp://{ip}:{port}"))
            .env("DOCKER_CERT_PATH", self.dir.path())
            .args(args))
    }
}

async fn connect(h: &TestHost, user: &str, key: &KeyPair) -> Session {
    let target = SshTarget::new(
        &h.ip,
        22,
        user,
        machine_core::testing::sshkey::load_private(&key.private).unwrap(),
        "the test key",
    );
    Session::connect(&target, HostKeyCheck::Record, Duration::from_secs(10))
        .await
        .expect("ssh connect")
}

async fn provision_with(
    session: &Session,
    name: &str,
    engine: &EngineOptions,
    certs: &Certs,
    upgrade: bool,
) -> (
    Result<ProvisionReport, ProvisionError>,
    Vec<String>,
    Duration,
) {
    let daemon = DaemonSetup::Tls {
        ca_pem: &certs.ca.cert,
        server_cert_pem: &certs.server.cert,
        server_key_pem: &certs.server.key,
    };
    provision_daemon(session, name, engine, daemon, upgrade).await
}

async fn provision_daemon(
    session: &Session,
    name: &str,
    engine: &EngineOptions,
    daemon: DaemonSetup<'_>,
    upgrade: bool,
) -> (
    Result<ProvisionReport, ProvisionError>,
    Vec<String>,
    Duration,
) {
    let messages = Mutex::new(Vec::new());
    let started = Instant::now();
    let progress = |_: machine_core::Step, level: machine_core::Level, m: &str| {
        eprintln!("[{name} +{:.1}s] {m}", started.elapsed().as_secs_f64());
        if level != machine_core::Level::Output {
            messages.lock().unwrap().push(m.to_string());
        }
    };
    let req = ProvisionRequest {
        machine_name: name,
        driver_name: "generic",
        engine,
        daemon,
        progress: &progress,
    };
    let result = if upgrade {
        provision::upgrade(session, &req).await
    } else {
        provision::provision(session, &req).await
    };
    let took = started.elapsed();
    eprintln!(
        "[{name}] {} took {took:.1?}",
        if upgrade { "upgrade" } else { "provision" }
    );
    (result, messages.into_inner().unwrap(), took)
}

/// What a user checks on a provisioned host, from inside it and over TLS from here.
fn assert_provisioned(h: &TestHost, certs: &Certs, name: &str, port: u16, labels: &[&str]) {
    assert_eq!(h.exec("systemctl is-active docker").trim(), "active");
    let listening = h.exec("ss -ltnH");
    assert!(
        listening.contains(&format!(":{port} ")),
        "dockerd does not listen on {port}:\n{listening}"
    );
    let cmdline = h.exec("tr '\\0' ' ' < /proc/$(pidof dockerd)/cmdline");
    assert!(cmdline.contains("--tlsverify"), "{cmdline}");
    assert!(
        cmdline.starts_with("/usr/sbin/dockerd "),
        "the detected dockerd path: {cmdline}"
    );
    assert!(!cmdline.contains("storage-driver"), "{cmdline}");
    let modes = h.exec(
        "stat -c '%n %a %U' /etc/docker/ca.pem /etc/docker/server.pem /etc/docker/server-key.pem",
    );
    assert_eq!(
        modes.trim(),
        "/etc/docker/ca.pem 644 root\n/etc/docker/server.pem 644 root\n/etc/docker/server-key.pem 600 root"
    );
    let info = h.exec("docker info --format '{{json .Labels}}'");
    assert!(info.contains("\"provider=generic\""), "{info}");
    for l in labels {
        assert!(
            info.contains(&format!("\"{l}\"")),
            "label {l} missing: {info}"
        );
    }
    assert_eq!(h.exec("hostname").trim(), name);
    assert_eq!(h.exec("cat /etc/hostname").trim(), name);
    assert!(h
        .exec("cat /etc/hosts")
        .contains(&format!("127.0.1.1 {name}")));
    // sudo resolves the new name without complaining
    let sudo = h.exec_output("su nick -c 'sudo -n true'");
    assert!(sudo.status.success());
    assert!(
        !String::from_utf8_lossy(&sudo.stderr).contains("unable to resolve host"),
        "{}",
        String::from_utf8_lossy(&sudo.stderr)
    );
    // the daemon answers over mutual TLS with our certificates, and shows its labels there too
    let remote_labels = certs.docker(&h.ip, port, &["info", "--format", "{{json .Labels}}"]);
    assert!(
        remote_labels.contains("provider=generic"),
        "{remote_labels}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn packages_on_a_fresh_bookworm_host_then_reprovision_and_upgrade() {
    let h = TestHost::start("bookworm");
    assert!(
        h.exec_output("command -v dockerd || ls /usr/sbin/dockerd")
            .stdout
            .is_empty(),
        "the test host must start without Docker"
    );
    let name = "prov-pkg";
    let certs = Certs::for_host(&h.ip, name);
    let session = connect(&h, "nick", &h.key).await;

    let mut engine = EngineOptions::default();
    engine.install_method = InstallMethod::Packages;
    let (report, progress, took) = provision_with(&session, name, &engine, &certs, false).await;
    let report = report.unwrap_or_else(|e| panic!("provision failed: {e}"));
    eprintln!("first provision (apt-get install docker.io included): {took:.1?}");
    assert_eq!(report.os.id, "debian");
    assert_eq!(report.os.version_codename, "bookworm");
    assert!(report.docker_version.starts_with("20.10."), "{report:?}");
    assert!(
        progress
            .iter()
            .any(|m| m
                .starts_with("Installing Docker from the Debian GNU/Linux 12 (bookworm) packages")),
        "{progress:?}"
    );
    assert_eq!(
        h.exec("dpkg-query -W -f='${Status}' docker.io"),
        "install ok installed"
    );
    assert_provisioned(&h, &certs, name, 2376, &[]);
    let server_version = certs.docker(&h.ip, 2376, &["version", "--format", "{{.Server.Version}}"]);
    assert_eq!(server_version.trim(), report.docker_version);

    // Again, with new labels, an option, an env entry and another port: nothing is installed, the
    // configuration is rewritten and the daemon restarted.
    let mut engine2 = engine.clone();
    engine2.labels = vec!["env=test".into(), "team=a b".into()];
    engine2.opts = vec!["log-level=warn".into()];
    engine2.env = vec!["MACHINE_TEST=it works".into()];
    engine2.port = 2377;
    let (report2, progress2, took2) = provision_with(&session, name, &engine2, &certs, false).await;
    report2.unwrap_or_else(|e| panic!("re-provision failed: {e}"));
    eprintln!("re-provision of a provisioned host: {took2:.1?}");
    assert!(
        !progress2.iter().any(|m| m.contains("Installing")),
        "{progress2:?}"
    );
    assert_provisioned(&h, &certs, name, 2377, &["env=test", "team=a b"]);
    let cmdline = h.exec("tr '\\0' ' ' < /proc/$(pidof dockerd)/cmdline");
    assert!(cmdline.contains("--log-level warn"), "{cmdline}");
    let env = h.exec("tr '\\0' '\\n' < /proc/$(pidof dockerd)/environ");
    assert!(env.lines().any(|l| l == "MACHINE_TEST=it works"), "{env}");

    // Upgrade, pinned to the version Debian has: reinstalls by the packages method, restarts.
    let madison = h.exec("apt-cache madison docker.io | head -1");
    let full = madison.split('|').nth(1).unwrap().trim().to_string();
    let upstream = full.split(['+', '-', '~']).next().unwrap().to_string();
    let mut pinned = engine.clone();
    pinned.version = Some(upstream.clone());
    let (report3, progress3, took3) = provision_with(&session, name, &pinned, &certs, true).await;
    let report3 = report3.unwrap_or_else(|e| panic!("upgrade failed: {e}"));
    eprintln!("upgrade to the pinned {upstream} ({full}): {took3:.1?}");
    assert!(
        progress3
            .iter()
            .any(|m| m.starts_with(&format!("Upgrading Docker {upstream} from"))),
        "{progress3:?}"
    );
    assert!(report3.docker_version.starts_with(&upstream));
    assert_eq!(h.exec("dpkg-query -W -f='${Version}' docker.io"), full);
    assert_provisioned(&h, &certs, name, 2376, &[]);
}

#[tokio::test(flavor = "multi_thread")]
async fn unavailable_pinned_package_version_lists_the_available_ones() {
    let h = TestHost::start("bookworm");
    let certs = Certs::for_host(&h.ip, "prov-pin");
    let session = connect(&h, "nick", &h.key).await;
    let mut engine = EngineOptions::default();
    engine.install_method = InstallMethod::Packages;
    engine.version = Some("1.0.0".into());
    let (result, _, _) = provision_with(&session, "prov-pin", &engine, &certs, false).await;
    let err = result.expect_err("docker.io 1.0.0 does not exist");
    let msg = err.to_string();
    eprintln!("{msg}");
    match &err {
        ProvisionError::VersionUnavailable {
            requested,
            package,
            available,
            ..
        } => {
            assert_eq!(requested, "1.0.0");
            assert_eq!(package, "docker.io");
            assert!(
                available.iter().any(|v| v.starts_with("20.10.")),
                "{available:?}"
            );
        }
        other => panic!("expected VersionUnavailable, got {other:?}"),
    }
    assert!(msg.starts_with("Docker 1.0.0 is not available as package docker.io on Debian GNU/Linux 12 (bookworm); available versions: 20.10."), "{msg}");
    assert!(
        h.exec_output("command -v dockerd").stdout.is_empty(),
        "nothing was installed"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn install_script_served_over_http_gets_the_pinned_version() {
    let h = TestHost::start("bookworm");
    // A real install script, read the way get.docker.com reads its pin: $VERSION.
    let script = "#!/bin/sh\nset -e\n\
        echo \"pinned=${VERSION:-none} user=$(id -un)\" > /root/install-script-ran\n\
        export DEBIAN_FRONTEND=noninteractive\n\
        apt-get update -q\n\
        apt-get install -y -q docker.io\n";
    let server = FileServer::start("/install.sh", script);
    let name = "prov-script";
    let certs = Certs::for_host(&h.ip, name);
    let session = connect(&h, "nick", &h.key).await;
    let mut engine = EngineOptions::default();
    engine.install_method = InstallMethod::Script { url: server.url() };
    engine.version = Some("20.10.24".into());
    let (report, _, took) = provision_with(&session, name, &engine, &certs, false).await;
    report.unwrap_or_else(|e| panic!("provision failed: {e}"));
    eprintln!("provision by install script: {took:.1?}");
    assert_eq!(
        h.exec("cat /root/install-script-ran").trim(),
        "pinned=20.10.24 user=root"
    );
    assert!(server
        .requests()
        .iter()
        .any(|r| r.path == "/install.sh" && r.status == 200));
    assert_provisioned(&h, &certs, name, 2376, &[]);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_user_without_passwordless_sudo_gets_the_fix() {
    let h = TestHost::start("bookworm");
    let key = KeyPair::new();
    h.authorize_key("nosudo", &key);
    let certs = Certs::for_host(&h.ip, "prov-nosudo");
    let session = connect(&h, "nosudo", &key).await;
    let engine = EngineOptions::default();
    let (result, _, _) = provision_with(&session, "prov-nosudo", &engine, &certs, false).await;
    let msg = result.expect_err("nosudo cannot sudo").to_string();
    assert_eq!(
        msg,
        format!(
            "user nosudo cannot run sudo without a password on {} ({}): add `nosudo ALL=(ALL) NOPASSWD: ALL` to /etc/sudoers.d/nosudo",
            h.ip, h.name
        )
    );
}

/// Debian 11 and 13 with their own docker.io (20.10.5 and 26.1.x): the same path works, while
/// another apt-get runs on the host.
async fn packages_on(suite: &str, codename_version: &str, docker_major: &str) {
    let h = TestHost::start(suite);
    let name = format!("prov-{suite}");
    let certs = Certs::for_host(&h.ip, &name);
    let session = connect(&h, "nick", &h.key).await;
    let mut engine = EngineOptions::default();
    engine.install_method = InstallMethod::Packages;
    engine.labels = vec![format!("suite={suite}")];
    // Another process holds apt's lists lock for 3 s, as unattended-upgrades does on a cloud
    // host at boot (apt's own DPkg::Lock::Timeout does not cover this lock): the provisioner
    // waits and retries instead of failing.
    h.exec(
        "nohup perl -e 'use Fcntl; open(my $f, \">>\", \"/var/lib/apt/lists/lock\") or die; \
         fcntl($f, F_SETLKW, pack(\"s s x4 q q i x4\", F_WRLCK, SEEK_SET, 0, 0, 0)) or die; \
         sleep 3' >/dev/null 2>&1 & sleep 0.3",
    );
    let (report, progress, took) = provision_with(&session, &name, &engine, &certs, false).await;
    assert!(
        progress
            .iter()
            .any(|m| m.starts_with("Waiting for another package manager")),
        "{progress:?}"
    );
    let report = report.unwrap_or_else(|e| panic!("provision of {suite} failed: {e}"));
    eprintln!("{suite}: provision with apt-get install docker.io: {took:.1?}");
    assert_eq!(report.os.version_id, codename_version);
    assert_eq!(report.os.version_codename, suite);
    assert!(
        report.docker_version.starts_with(docker_major),
        "{suite}: {report:?}"
    );
    assert_provisioned(&h, &certs, &name, 2376, &[&format!("suite={suite}")]);
}

#[tokio::test(flavor = "multi_thread")]
async fn packages_on_bullseye() {
    packages_on("bullseye", "11", "20.10.").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn packages_on_trixie() {
    packages_on("trixie", "13", "26.").await;
}

// ---- the SSH transport ----

/// dockerd's pid and its start time (field 22 of /proc/PID/stat, in clock ticks since boot):
/// a restart changes both.
fn dockerd_started(h: &TestHost) -> String {
    h.exec("p=$(pidof dockerd) && echo \"$p $(cut -d' ' -f22 /proc/$p/stat)\"")
        .trim()
        .to_string()
}

/// Waits until the host's daemon answers on its socket (a host just booted may still be
/// starting it).
fn wait_for_docker(h: &TestHost) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !h
        .exec_output("docker version >/dev/null 2>&1")
        .status
        .success()
    {
        assert!(
            Instant::now() < deadline,
            "Docker never answered on the test host"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// What the SSH transport leaves: no TCP listener, no certificates, no daemon configuration of
/// ours, and the login user reaching the socket as themselves, over a new SSH login.
async fn assert_ssh_transport(h: &TestHost, port: u16) {
    assert_eq!(h.exec("systemctl is-active docker").trim(), "active");
    let listening = h.exec("ss -ltnH");
    assert!(
        !listening.contains(&format!(":{port} ")),
        "something listens on {port}:\n{listening}"
    );
    let cmdline = h.exec("tr '\\0' ' ' < /proc/$(pidof dockerd)/cmdline");
    assert!(!cmdline.contains("tcp://"), "{cmdline}");
    assert!(!cmdline.contains("--tlsverify"), "{cmdline}");
    for f in [
        "/etc/docker/ca.pem",
        "/etc/docker/server.pem",
        "/etc/docker/server-key.pem",
        "/etc/systemd/system/docker.service.d/10-machine.conf",
    ] {
        assert!(
            !h.exec_output(&format!("test -e {f}")).status.success(),
            "{f} is on the host"
        );
    }
    let groups = h.exec("id -Gn nick");
    assert!(
        groups.split_whitespace().any(|g| g == "docker"),
        "nick is not in the docker group: {groups}"
    );
    // as nick, no sudo: through su (a new login's groups) and through a new SSH login, the way
    // the workstation's docker client reaches the daemon
    let as_nick = h.exec_output("su nick -c 'docker version --format {{.Server.Version}}'");
    assert!(as_nick.status.success(), "{as_nick:?}");
    let fresh = connect(h, "nick", &h.key).await;
    let out = fresh
        .exec("docker version --format '{{.Server.Version}}'")
        .await
        .unwrap();
    assert!(out.success(), "{out:?}");
    assert!(!out.stdout.trim().is_empty());
    fresh.close().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn ssh_transport_on_a_host_running_docker_restarts_nothing() {
    let h = TestHost::start_with_docker();
    wait_for_docker(&h);
    let before = dockerd_started(&h);
    assert!(
        !h.exec("id -Gn nick")
            .split_whitespace()
            .any(|g| g == "docker"),
        "the test host's nick must start outside the docker group"
    );
    let name = "prov-ssh";
    let started = Instant::now();
    let session = connect(&h, "nick", &h.key).await;
    let connected = started.elapsed();
    let engine = EngineOptions::default();
    let (report, progress, took) =
        provision_daemon(&session, name, &engine, DaemonSetup::Ssh, false).await;
    let report = report.unwrap_or_else(|e| panic!("provision failed: {e}"));
    eprintln!(
        "SSH transport, Docker running, nick not in the group yet: connect {connected:.1?}, \
         provision {took:.1?}"
    );
    assert_eq!(report.docker_group_user.as_deref(), Some("nick"));
    assert!(report.docker_version.starts_with("20.10."), "{report:?}");
    assert!(
        progress
            .iter()
            .any(|m| m == "Giving nick access to Docker's socket..."),
        "{progress:?}"
    );
    assert!(
        !progress.iter().any(|m| m.contains("Installing")),
        "{progress:?}"
    );
    assert_eq!(dockerd_started(&h), before, "the daemon was restarted");
    assert_eq!(h.exec("hostname").trim(), name);
    assert_ssh_transport(&h, 2376).await;

    // again: nick is already a member, not ours to take back; still no restart
    let (report2, _, took2) =
        provision_daemon(&session, name, &engine, DaemonSetup::Ssh, false).await;
    let report2 = report2.unwrap_or_else(|e| panic!("re-provision failed: {e}"));
    eprintln!("SSH transport, Docker running, nick already in the group: provision {took2:.1?}");
    assert_eq!(report2.docker_group_user, None);
    assert_eq!(dockerd_started(&h), before, "the daemon was restarted");

    // a stopped daemon is started (not restarted: there is nothing to restart)
    h.exec("systemctl stop docker.service docker.socket");
    let (report3, progress3, _) =
        provision_daemon(&session, name, &engine, DaemonSetup::Ssh, false).await;
    report3.unwrap_or_else(|e| panic!("provision with a stopped daemon failed: {e}"));
    assert!(
        progress3
            .iter()
            .any(|m| m == "Docker was not running: started it"),
        "{progress3:?}"
    );
    assert_ssh_transport(&h, 2376).await;
    session.close().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn moving_from_tls_to_ssh_closes_the_port_and_removes_the_tls_configuration() {
    let h = TestHost::start_with_docker();
    wait_for_docker(&h);
    let name = "prov-move";
    let certs = Certs::for_host(&h.ip, name);
    let session = connect(&h, "nick", &h.key).await;
    let engine = EngineOptions::default();
    let (report, _, _) = provision_with(&session, name, &engine, &certs, false).await;
    report.unwrap_or_else(|e| panic!("TLS provision failed: {e}"));
    assert_provisioned(&h, &certs, name, 2376, &[]);

    let (report, progress, took) =
        provision_daemon(&session, name, &engine, DaemonSetup::Ssh, false).await;
    let report = report.unwrap_or_else(|e| panic!("SSH provision failed: {e}"));
    eprintln!("moving from TLS to SSH (Docker restarted once): {took:.1?}");
    assert_eq!(report.docker_group_user.as_deref(), Some("nick"));
    assert!(
        progress
            .iter()
            .any(|m| m.starts_with("Removing the TLS transport's daemon configuration")),
        "{progress:?}"
    );
    assert_ssh_transport(&h, 2376).await;
    // the packaged unit runs again, on its socket unit
    let cmdline = h.exec("tr '\\0' ' ' < /proc/$(pidof dockerd)/cmdline");
    assert!(cmdline.contains("-H fd://"), "{cmdline}");
    // and the daemon no longer answers over TLS from here
    let tls = Command::new("docker")
        .env("DOCKER_TLS_VERIFY", "1")
        .env("DOCKER_HOST", format!("tcp://{}:2376", h.ip))
        .env("DOCKER_CERT_PATH", certs.dir.path())
        .args(["version", "--format", "{{.Server.Version}}"])
        .output()
        .unwrap();
    assert!(!tls.status.success(), "the daemon still answers over TLS");
    session.close().await;
}
