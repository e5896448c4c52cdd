//! Unit tests of the provisioner: every family from recorded os-release files, against scripted
//! command transcripts (see `fake.rs`).

use std::sync::Mutex;
use std::time::Duration;

use super::fake::FakeRemote;
use super::*;
use crate::engine::{EngineOptions, InstallMethod};

fn fixture(name: &str) -> String {
    let path = format!(
        "{}/tests/fixtures/os-release/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn probe_output(sudo: bool, init: &str, tools: &[&str]) -> String {
    let mut s = format!(
        "user=nick\nhostname=old-name\nsudo={}\ninit={init}\n",
        if sudo { "yes" } else { "no" }
    );
    for t in ["dockerd", "docker", "curl", "wget"] {
        let path = if tools.contains(&t) {
            format!("/usr/bin/{t}")
        } else {
            String::new()
        };
        s.push_str(&format!("tool.{t}={path}\n"));
    }
    s
}

const MADISON: &str =
    " docker.io | 20.10.24+dfsg1-1+b3 | http://deb.debian.org/debian bookworm/main amd64 Packages
 docker.io | 20.10.24+dfsg1-1+b3 | http://deb.debian.org/debian bookworm/main Sources
 docker.io | 20.10.5+dfsg1-1+deb11u2 | http://deb.debian.org/debian bullseye/main amd64 Packages
";

/// A systemd host of `os` with sudo and curl, without Docker: once "installed",
/// dockerd is in /usr/sbin and the daemon answers.
fn host(os: &str) -> FakeRemote {
    host_with(os, "systemd", &["curl"])
}

fn host_with(os: &str, init: &str, tools: &[&str]) -> FakeRemote {
    FakeRemote::new()
        .ok("command -v dockerd", "/usr/sbin/dockerd\n")
        .ok("sudo -n true", &probe_output(true, init, tools))
        .ok("cat /etc/os-release", &fixture(os))
        .ok("mktemp -d", "/tmp/machine-install.abc123\n")
        .ok("docker version --format", "20.10.24+dfsg1\n")
        .ok("apt-cache madison docker.io", MADISON)
}

fn engine(method: InstallMethod) -> EngineOptions {
    EngineOptions {
        install_method: method,
        ..EngineOptions::default()
    }
}

fn packages() -> EngineOptions {
    engine(InstallMethod::Packages)
}

fn fast() -> Tuning {
    Tuning {
        poll: Duration::from_millis(1),
        daemon_timeout: Duration::from_millis(50),
        lock_retry_delay: Duration::from_millis(1),
        lock_retries: 3,
    }
}

struct Progress(Mutex<Vec<String>>);

impl Progress {
    fn new() -> Progress {
        Progress(Mutex::new(Vec::new()))
    }
    fn messages(&self) -> Vec<String> {
        self.0.lock().unwrap().clone()
    }
}

async fn go(
    remote: &FakeRemote,
    engine: &EngineOptions,
    mode: Mode,
) -> (Result<ProvisionReport, ProvisionError>, Vec<String>) {
    go_named(remote, engine, mode, "node-1").await
}

async fn go_named(
    remote: &FakeRemote,
    engine: &EngineOptions,
    mode: Mode,
    name: &str,
) -> (Result<ProvisionReport, ProvisionError>, Vec<String>) {
    go_with(
        remote,
        engine,
        mode,
        name,
        DaemonSetup::Tls {
            ca_pem: "CA PEM\n",
            server_cert_pem: "SERVER CERT\n",
            server_key_pem: "SERVER KEY\n",
        },
    )
    .await
}

async fn go_ssh(
    remote: &FakeRemote,
    engine: &EngineOptions,
    mode: Mode,
) -> (Result<ProvisionReport, ProvisionError>, Vec<String>) {
    go_with(remote, engine, mode, "node-1", DaemonSetup::Ssh).await
}

async fn go_with(
    remote: &FakeRemote,
    engine: &EngineOptions,
    mode: Mode,
    name: &str,
    daemon: DaemonSetup<'_>,
) -> (Result<ProvisionReport, ProvisionError>, Vec<String>) {
    let progress = Progress::new();
    let record = |_: crate::events::Step, level: crate::events::Level, m: &str| {
        if level != crate::events::Level::Output {
            progress.0.lock().unwrap().push(m.to_string())
        }
    };
    let req = ProvisionRequest {
        machine_name: name,
        driver_name: "generic",
        engine,
        daemon,
        progress: &record,
    };
    let result = run(remote, &req, mode, fast()).await;
    (result, progress.messages())
}

#[tokio::test]
async fn debian_packages_on_a_fresh_host() {
    let h = host("debian-12");
    let (report, progress) = go(&h, &packages(), Mode::Provision).await;
    let report = report.unwrap();
    assert_eq!(report.docker_version, "20.10.24+dfsg1");
    assert_eq!(report.os.id, "debian");
    assert_eq!(report.os.version_codename, "bookworm");
    h.assert_order(&[
        "sudo -n true",
        "cat /etc/os-release",
        "node-1 > /etc/hostname && if command -v hostname >/dev/null 2>&1; then hostname node-1; else printf",
        "apt-get -q -o DPkg::Lock::Timeout=60 update",
        "install -y -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold docker.io",
        "command -v dockerd",
        "mkdir -p /etc/docker",
        "systemctl is-enabled --quiet docker.service || systemctl enable docker.service >/dev/null 2>&1; systemctl reset-failed docker.service >/dev/null 2>&1; systemctl restart docker.service",
        "docker version --format",
    ]);
    assert!(h.ran("DEBIAN_FRONTEND=noninteractive apt-get"));
    assert!(
        !h.ran("curl -fsSL"),
        "no install script with the packages method"
    );
    assert!(
        !h.ran("madison"),
        "no version lookup without a pinned version"
    );

    let key = h.upload_of("/etc/docker/server-key.pem").unwrap();
    assert_eq!(
        (key.contents.as_str(), key.mode, key.sudo),
        ("SERVER KEY\n", 0o600, true)
    );
    assert_eq!(h.upload_of("/etc/docker/ca.pem").unwrap().mode, 0o644);
    assert_eq!(
        h.upload_of("/etc/docker/server.pem").unwrap().contents,
        "SERVER CERT\n"
    );
    let dropin = h
        .upload_of("/etc/systemd/system/docker.service.d/10-machine.conf")
        .unwrap();
    assert!(dropin.contents.contains("\nExecStart=\nExecStart=/usr/sbin/dockerd -H tcp://0.0.0.0:2376 -H unix:///var/run/docker.sock --tlsverify"), "{}", dropin.contents);
    assert!(dropin.contents.contains("--label provider=generic"));
    assert!(!dropin.contents.contains("storage-driver"));
    // every root command runs non-interactively, with the sbin directories on PATH
    for c in h.commands().iter().filter(|c| c.starts_with("sudo")) {
        assert!(c.starts_with("sudo -n sh -c 'PATH=/usr/local/sbin:"), "{c}");
    }
    assert!(
        progress
            .iter()
            .any(|m| m
                .starts_with("Installing Docker from the Debian GNU/Linux 12 (bookworm) packages")),
        "{progress:?}"
    );
    assert!(progress
        .iter()
        .any(|m| m == "Setting the hostname to node-1..."));
}

#[tokio::test]
async fn reprovisioning_an_installed_host_installs_nothing_and_restarts() {
    let h = host_with("debian-12", "systemd", &["curl", "dockerd", "docker"]).ok(
        "sudo -n true",
        &probe_output(true, "systemd", &["dockerd", "docker"])
            .replace("hostname=old-name", "hostname=node-1"),
    );
    let (report, _) = go(&h, &packages(), Mode::Provision).await;
    report.unwrap();
    assert!(!h.ran("apt-get"));
    assert!(!h.ran("/etc/hostname"), "the hostname is already right");
    assert!(
        h.ran("/etc/hosts"),
        "the /etc/hosts mapping is still checked"
    );
    assert!(h.ran("systemctl restart docker.service"));
    assert_eq!(
        h.count("command -v dockerd"),
        1,
        "dockerd's path comes from the probe: {:?}",
        h.commands()
    );
    let dropin = h
        .upload_of("/etc/systemd/system/docker.service.d/10-machine.conf")
        .unwrap();
    assert!(
        dropin.contents.contains("\nExecStart=/usr/bin/dockerd "),
        "{}",
        dropin.contents
    );
}

#[tokio::test]
async fn a_dockerd_in_the_login_users_own_folder_is_not_roots() {
    // rootless Docker puts a dockerd in ~/bin: root asks where its own is
    let h = host_with("debian-12", "systemd", &["curl", "dockerd", "docker"]).ok(
        "sudo -n true",
        &probe_output(true, "systemd", &["dockerd", "docker"]).replace(
            "tool.dockerd=/usr/bin/dockerd",
            "tool.dockerd=/home/nick/bin/dockerd",
        ),
    );
    go(&h, &packages(), Mode::Provision).await.0.unwrap();
    assert_eq!(h.count("command -v dockerd"), 2, "{:?}", h.commands());
    let dropin = h
        .upload_of("/etc/systemd/system/docker.service.d/10-machine.conf")
        .unwrap();
    assert!(
        dropin.contents.contains("\nExecStart=/usr/sbin/dockerd "),
        "{}",
        dropin.contents
    );
}

#[tokio::test]
async fn pinned_package_version_uses_the_full_apt_version() {
    let h = host("debian-12");
    let e = EngineOptions {
        version: Some("20.10.24".into()),
        ..packages()
    };
    go(&h, &e, Mode::Provision).await.0.unwrap();
    h.assert_order(&[
        "apt-get -q -o DPkg::Lock::Timeout=60 update",
        "apt-cache madison docker.io",
        "--allow-downgrades docker.io=20.10.24+dfsg1-1+b3",
    ]);
}

#[tokio::test]
async fn unavailable_package_version_lists_the_available_ones() {
    let h = host("debian-12");
    let e = EngineOptions {
        version: Some("1.0.0".into()),
        ..packages()
    };
    let err = go(&h, &e, Mode::Provision).await.0.unwrap_err();
    match &err {
        ProvisionError::VersionUnavailable {
            requested,
            package,
            available,
            ..
        } => {
            assert_eq!(requested, "1.0.0");
            assert_eq!(package, "docker.io");
            assert_eq!(
                available,
                &["20.10.24+dfsg1-1+b3", "20.10.5+dfsg1-1+deb11u2"]
            );
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        err.to_string(),
        "Docker 1.0.0 is not available as package docker.io on Debian GNU/Linux 12 (bookworm); \
         available versions: 20.10.24+dfsg1-1+b3, 20.10.5+dfsg1-1+deb11u2"
    );
    assert!(!h.ran("install -y"));
}

const CURL_HTTPS: &str = "curl -fsSL --retry 3 --proto =https --proto-redir =https \
     --config /tmp/machine-install.abc123/curl.conf";

#[tokio::test]
async fn install_script_with_curl_and_a_pinned_version() {
    let h = host("ubuntu-22.04");
    let e = EngineOptions {
        install_method: InstallMethod::Script {
            url: "https://nick:s3cret@10.0.0.1:8443/install.sh".into(),
        },
        version: Some("24.0.7".into()),
        ..EngineOptions::default()
    };
    let (result, progress) = go(&h, &e, Mode::Provision).await;
    result.unwrap();
    h.assert_order(&[
        "mktemp -d",
        CURL_HTTPS,
        "DEBIAN_FRONTEND=noninteractive VERSION=24.0.7 sh /tmp/machine-install.abc123/install.sh",
        "rm -rf /tmp/machine-install.abc123",
        "command -v dockerd",
    ]);
    assert!(!h.ran("apt-get"));
    // the URL reaches curl in a file of the login user's, never on a command line
    let conf = h
        .upload_of("/tmp/machine-install.abc123/curl.conf")
        .unwrap();
    assert_eq!(
        conf.contents,
        "url = \"https://nick:s3cret@10.0.0.1:8443/install.sh\"\n\
         output = \"/tmp/machine-install.abc123/install.sh\"\n"
    );
    assert_eq!((conf.mode, conf.sudo), (0o600, false));
    assert!(!h.ran("s3cret"), "{:?}", h.commands());
    assert!(
        progress
            .iter()
            .any(|m| m.contains("10.0.0.1:8443/install.sh")),
        "{progress:?}"
    );
}

#[tokio::test]
async fn install_script_over_http_needs_the_permission() {
    let http = |allow_http_downloads| EngineOptions {
        install_method: InstallMethod::Script {
            url: "http://nick:s3cret@10.0.0.1:8080/install.sh".into(),
        },
        allow_http_downloads,
        ..EngineOptions::default()
    };
    let h = host("debian-12");
    let err = go(&h, &http(false), Mode::Provision).await.0.unwrap_err();
    match &err {
        ProvisionError::Download { source, .. } => {
            assert_eq!(source.reason, crate::download::DownloadRefusal::Http);
            assert_eq!(source.url, "http://***@10.0.0.1:8080/install.sh");
        }
        other => panic!("{other:?}"),
    }
    assert!(!err.to_string().contains("s3cret"), "{err}");
    assert!(!h.ran("curl -fsSL"), "nothing fetched");

    let h = host("debian-12");
    go(&h, &http(true), Mode::Provision).await.0.unwrap();
    assert!(
        h.ran("curl -fsSL --retry 3 --proto =http,https --proto-redir =http,https --config "),
        "{:?}",
        h.commands()
    );
}

#[tokio::test]
async fn a_redirect_to_http_is_refused_as_such() {
    // curl exits with 1 when --proto-redir stops a redirect to http
    let h = host("debian-12").fail("curl -fsSL", 1, "curl: (1) Protocol \"http\" disabled");
    let err = go(&h, &EngineOptions::default(), Mode::Provision)
        .await
        .0
        .unwrap_err();
    match &err {
        ProvisionError::Download { source, .. } => assert_eq!(
            source.reason,
            crate::download::DownloadRefusal::RedirectToHttp
        ),
        other => panic!("{other:?}"),
    }
    assert!(!h.ran(" sh /tmp/machine-install"), "nothing run");
    assert!(h.ran("rm -rf /tmp/machine-install.abc123"), "cleaned up");
}

#[tokio::test]
async fn install_script_without_curl_installs_it() {
    for tools in [&["wget"][..], &[]] {
        let h = host_with("debian-12", "systemd", tools);
        go(&h, &EngineOptions::default(), Mode::Provision)
            .await
            .0
            .unwrap();
        h.assert_order(&[
            "apt-get -q -o DPkg::Lock::Timeout=60 update",
            "--force-confold curl ca-certificates",
            CURL_HTTPS,
            "sh /tmp/machine-install.abc123/install.sh",
        ]);
        assert!(!h.ran("wget -"), "wget cannot be held to https everywhere");
        assert!(!h.ran("VERSION="), "no pin, no VERSION");
        assert!(h
            .upload_of("/tmp/machine-install.abc123/curl.conf")
            .unwrap()
            .contents
            .starts_with("url = \"https://get.docker.com\"\n"));
    }
}

#[tokio::test]
async fn failing_install_script_names_the_step_and_the_output_tail() {
    let h = host("debian-12").fail(
        "sh /tmp/machine-install.abc123/install.sh",
        1,
        "line 1\nERROR: Unsupported distribution 'plan9'\n",
    );
    let err = go(&h, &EngineOptions::default(), Mode::Provision)
        .await
        .0
        .unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.starts_with("running the install script failed: `sudo -n sh -c"),
        "{msg}"
    );
    assert!(
        msg.contains("exited with status 1:\n  line 1\n  ERROR: Unsupported distribution 'plan9'"),
        "{msg}"
    );
    assert!(
        h.ran("rm -rf /tmp/machine-install.abc123"),
        "the temporary folder is removed"
    );
}

#[tokio::test]
async fn sudo_with_a_password_is_a_clear_error() {
    let h = host("debian-12").ok("sudo -n true", &probe_output(false, "systemd", &[]));
    let err = go(&h, &packages(), Mode::Provision).await.0.unwrap_err();
    assert_eq!(
        err.to_string(),
        "user nick cannot run sudo without a password on old-name: add \
         `nick ALL=(ALL) NOPASSWD: ALL` to /etc/sudoers.d/nick"
    );
    assert_eq!(h.commands().len(), 1, "nothing else ran");
}

#[tokio::test]
async fn root_without_sudo_runs_commands_directly() {
    let probe = probe_output(false, "systemd", &["curl"]).replace("user=nick", "user=root\nuid=0");
    let h = host("debian-12").ok("sudo -n true", &probe);
    go(&h, &packages(), Mode::Provision).await.0.unwrap();
    assert!(
        !h.commands().iter().skip(2).any(|c| c.contains("sudo")),
        "{:?}",
        h.commands()
    );
    assert!(h.ran("sh -c 'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin:$PATH; export PATH; DEBIAN_FRONTEND=noninteractive apt-get"));
    assert!(h.uploads().iter().all(|u| !u.sudo));
}

#[tokio::test]
async fn unknown_os_without_docker_names_it_and_the_supported_ones() {
    let h = host("nixos");
    let err = go(&h, &packages(), Mode::Provision).await.0.unwrap_err();
    let msg = err.to_string();
    assert!(msg.starts_with("unsupported operating system \"nixos\" (NixOS 23.11 (Tapir)): supported are debian, raspbian, ubuntu, centos, rhel, rocky, almalinux, ol, fedora, opensuse-leap, opensuse-tumbleweed, opensuse, sles, suse, arch, alpine"), "{msg}");
    assert!(!h.ran("/etc/hostname"), "nothing was changed");
    assert_eq!(h.commands().len(), 2, "only the probe and os-release ran");
}

#[tokio::test]
async fn unknown_os_with_docker_is_configured_but_never_installed_on() {
    let h = host("nixos").ok(
        "sudo -n true",
        &probe_output(true, "systemd", &["dockerd", "docker"]),
    );
    go(&h, &packages(), Mode::Provision).await.0.unwrap();
    assert!(h.ran("systemctl restart docker.service"));
    let err = go(&h, &packages(), Mode::Upgrade).await.0.unwrap_err();
    assert!(
        err.to_string()
            .contains("machine cannot install Docker on NixOS 23.11 (Tapir) (ID \"nixos\")"),
        "{err}"
    );
}

#[tokio::test]
async fn apt_lock_contention_is_retried() {
    let locked = Output::failed(
        100,
        "E: Could not get lock /var/lib/dpkg/lock-frontend. It is held by process 812 (unattended-upgr)",
    );
    let h = host("debian-12").on(
        "--force-confold docker.io",
        vec![locked.clone(), locked, Output::ok("")],
    );
    let (report, progress) = go(&h, &packages(), Mode::Provision).await;
    report.unwrap();
    assert_eq!(h.count("--force-confold docker.io"), 3);
    assert!(progress
        .iter()
        .any(|m| m.contains("Waiting for another package manager")));

    // forever locked: gives up after the retries, with apt's message
    let h = host("debian-12").fail(
        "--force-confold docker.io",
        100,
        "E: Could not get lock /var/lib/dpkg/lock-frontend",
    );
    let err = go(&h, &packages(), Mode::Provision).await.0.unwrap_err();
    assert_eq!(h.count("--force-confold docker.io"), 4);
    assert!(
        err.to_string().contains("installing docker.io failed"),
        "{err}"
    );
    assert!(err.to_string().contains("Could not get lock"), "{err}");
}

#[tokio::test]
async fn other_apt_failures_are_not_retried() {
    let h = host("debian-12").fail(
        "DPkg::Lock::Timeout=60 update",
        100,
        "E: The repository 'http://x bookworm Release' does not have a Release file.",
    );
    let err = go(&h, &packages(), Mode::Provision).await.0.unwrap_err();
    assert_eq!(h.count("DPkg::Lock::Timeout=60 update"), 1);
    assert!(
        err.to_string()
            .starts_with("updating the apt package lists failed"),
        "{err}"
    );
    assert!(
        err.to_string().contains("does not have a Release file"),
        "{err}"
    );
}

#[tokio::test]
async fn a_daemon_that_fails_to_start_shows_its_log() {
    let h = host("debian-12")
        .fail("systemctl restart docker.service", 1, "Job for docker.service failed because the control process exited with error code.")
        .ok("journalctl -u docker.service", "dockerd[77]: unable to configure the Docker daemon with file /etc/docker/daemon.json: the following directives are specified both as a flag and in the configuration file: hosts\n");
    let err = go(&h, &packages(), Mode::Provision).await.0.unwrap_err();
    let msg = err.to_string();
    assert!(msg.starts_with("restarting docker failed"), "{msg}");
    assert!(msg.contains("Job for docker.service failed"), "{msg}");
    assert!(
        msg.contains(
            "directives are specified both as a flag and in the configuration file: hosts"
        ),
        "{msg}"
    );
}

#[tokio::test]
async fn waiting_for_the_daemon() {
    // answers on the third try
    let h = host("debian-12").on(
        "docker version --format",
        vec![
            Output::failed(1, "Cannot connect to the Docker daemon"),
            Output::failed(1, "Cannot connect to the Docker daemon"),
            Output::ok("24.0.7\n"),
        ],
    );
    assert_eq!(
        go(&h, &packages(), Mode::Provision)
            .await
            .0
            .unwrap()
            .docker_version,
        "24.0.7"
    );

    // the unit failed: no need to wait for the time-out
    let h = host("debian-12")
        .fail(
            "docker version --format",
            1,
            "Cannot connect to the Docker daemon",
        )
        .ok("systemctl is-active docker.service", "failed\n")
        .ok(
            "journalctl",
            "dockerd[9]: failed to start daemon: pid file found\n",
        );
    let err = go(&h, &packages(), Mode::Provision).await.0.unwrap_err();
    assert!(err.to_string().contains("docker.service failed"), "{err}");
    assert!(err.to_string().contains("pid file found"), "{err}");

    // never answers
    let h = host("debian-12")
        .fail(
            "docker version --format",
            1,
            "Cannot connect to the Docker daemon",
        )
        .ok("systemctl is-active docker.service", "activating\n");
    let err = go(&h, &packages(), Mode::Provision).await.0.unwrap_err();
    assert!(matches!(err, ProvisionError::Timeout { .. }), "{err:?}");
    assert!(
        err.to_string()
            .starts_with("waiting for the Docker daemon: timed out after 0 s"),
        "{err}"
    );

    // no docker client: dockerd --version once the service is active
    let h = host("debian-12")
        .fail("docker version --format", 127, "sh: docker: not found")
        .ok(
            "dockerd --version",
            "Docker version 26.1.5+dfsg1, build a72d7cd\n",
        );
    assert_eq!(
        go(&h, &packages(), Mode::Provision)
            .await
            .0
            .unwrap()
            .docker_version,
        "26.1.5+dfsg1"
    );
}

#[tokio::test]
async fn hostname_and_hosts_mapping() {
    let h = host_with("debian-12", "systemd", &["curl"]);
    go_named(&h, &packages(), Mode::Provision, "web.example")
        .await
        .0
        .unwrap();
    assert!(
        h.ran("web.example > /etc/hostname && if command -v hostname >/dev/null 2>&1; then hostname web.example; else printf")
            && h.ran("web.example > /proc/sys/kernel/hostname; fi && { if grep"),
        "{:?}",
        h.commands()
    );
    let hosts = h
        .commands()
        .into_iter()
        .find(|c| c.contains("/etc/hosts"))
        .unwrap();
    assert!(hosts.contains("127.0.1.1 web.example"), "{hosts}");
    assert!(hosts.contains("web\\.example([[:space:]]|$)"), "{hosts}");
}

#[tokio::test]
async fn bad_input_fails_before_touching_the_host() {
    let h = host("debian-12");
    let err = go_named(&h, &packages(), Mode::Provision, "bad name;rm")
        .await
        .0
        .unwrap_err();
    assert!(matches!(err, ProvisionError::InvalidHostname(_)), "{err:?}");
    let e = EngineOptions {
        labels: vec!["x=1\nExecStartPre=/bin/sh".into()],
        ..packages()
    };
    let err = go(&h, &e, Mode::Provision).await.0.unwrap_err();
    assert!(matches!(err, ProvisionError::EngineOption(_)), "{err:?}");
    assert!(h.commands().is_empty());
}

#[tokio::test]
async fn a_lost_connection_names_the_step() {
    let mut h = host("debian-12");
    h.broken = Some("apt-get".into());
    let err = go(&h, &packages(), Mode::Provision).await.0.unwrap_err();
    assert_eq!(
        err.to_string(),
        "updating the apt package lists: connection reset by peer"
    );
}

#[tokio::test]
async fn upgrade_reinstalls_by_the_machines_method() {
    let installed = probe_output(true, "systemd", &["dockerd", "docker", "curl"]);
    let h = host("debian-12").ok("sudo -n true", &installed);
    let e = EngineOptions {
        version: Some("20.10.5".into()),
        ..packages()
    };
    let (report, progress) = go(&h, &e, Mode::Upgrade).await;
    report.unwrap();
    assert!(h.ran("--allow-downgrades docker.io=20.10.5+dfsg1-1+deb11u2"));
    assert!(h.ran("systemctl restart docker.service"));
    assert!(
        progress
            .iter()
            .any(|m| m.starts_with("Upgrading Docker 20.10.5 from")),
        "{progress:?}"
    );

    let h = host("debian-12").ok("sudo -n true", &installed);
    let e = engine(InstallMethod::Script {
        url: "https://example.test/install".into(),
    });
    go(&h, &e, Mode::Upgrade).await.0.unwrap();
    h.assert_order(&[
        CURL_HTTPS,
        "sh /tmp/machine-install.abc123/install.sh",
        "systemctl restart docker.service",
    ]);
}

#[tokio::test]
async fn ubuntu_and_derivatives_use_docker_io() {
    for os in [
        "ubuntu-22.04",
        "ubuntu-24.04",
        "linuxmint-21",
        "debian-11",
        "debian-13",
    ] {
        let h = host(os);
        let report = go(&h, &packages(), Mode::Provision).await.0.unwrap();
        assert!(h.ran("--force-confold docker.io"), "{os}");
        assert_eq!(
            Family::of(&report.os).map(|f| f.name()),
            Some(if os.starts_with("debian") {
                "debian"
            } else {
                "ubuntu"
            })
        );
    }
}

#[tokio::test]
async fn rhel_family_uses_dockers_rpm_repository() {
    const DNF_LIST: &str = "Available Packages
docker-ce.x86_64                3:24.0.6-1.el9                 docker-ce-stable
docker-ce.x86_64                3:24.0.7-1.el9                 docker-ce-stable
docker-ce.x86_64                3:25.0.0-1.el9                 docker-ce-stable
";
    for os in [
        "centos-stream-9",
        "rocky-9",
        "almalinux-9",
        "ol-8",
        "centos-7",
    ] {
        let h = host(os);
        go(&h, &packages(), Mode::Provision).await.0.unwrap();
        assert!(h.ran("curl -fsSL --retry 3 --proto =https --proto-redir =https https://download.docker.com/linux/centos/docker-ce.repo -o /etc/yum.repos.d/docker-ce.repo"), "{os}");
        assert!(h.ran("$(command -v dnf || command -v yum) -y install docker-ce docker-ce-cli containerd.io"), "{os}");
        assert!(!h.ran("apt-get"));
    }
    let h = host("rhel-9").ok("list --showduplicates docker-ce", DNF_LIST);
    let e = EngineOptions {
        version: Some("24.0.7".into()),
        ..packages()
    };
    go(&h, &e, Mode::Provision).await.0.unwrap();
    assert!(h.ran("https://download.docker.com/linux/rhel/docker-ce.repo"));
    assert!(
        h.ran("-y install docker-ce-24.0.7-1.el9 docker-ce-cli-24.0.7-1.el9 containerd.io"),
        "{:?}",
        h.commands()
    );

    let h = host("rocky-9").ok("list --showduplicates docker-ce", DNF_LIST);
    let e = EngineOptions {
        version: Some("19.03".into()),
        ..packages()
    };
    let err = go(&h, &e, Mode::Provision).await.0.unwrap_err();
    assert!(
        err.to_string()
            .ends_with("available versions: 3:25.0.0-1.el9, 3:24.0.7-1.el9, 3:24.0.6-1.el9"),
        "{err}"
    );
}

#[tokio::test]
async fn fedora_uses_moby_engine() {
    let h = host("fedora-40");
    go(&h, &packages(), Mode::Provision).await.0.unwrap();
    assert!(h.ran("-y install moby-engine"));
    assert!(!h.ran("docker-ce"));
    let h = host("fedora-40").ok(
        "list --showduplicates moby-engine",
        "Installed Packages\nmoby-engine.x86_64   24.0.5-1.fc40   @fedora\nAvailable Packages\nmoby-engine.x86_64   24.0.5-1.fc40   fedora\nmoby-engine.x86_64   27.3.1-1.fc40   updates\n",
    );
    let e = EngineOptions {
        version: Some("27.3.1".into()),
        ..packages()
    };
    go(&h, &e, Mode::Provision).await.0.unwrap();
    assert!(
        h.ran("-y install moby-engine-27.3.1-1.fc40 || "),
        "{:?}",
        h.commands()
    );
}

#[tokio::test]
async fn suse_uses_zypper() {
    for os in ["opensuse-leap-15.5", "opensuse-tumbleweed", "sles-15"] {
        let h = host(os);
        go(&h, &packages(), Mode::Provision).await.0.unwrap();
        assert!(h.ran("zypper --non-interactive install docker"), "{os}");
    }
    let h = host("sles-15").ok(
        "search -s --match-exact -t package docker",
        "Loading repository data...\nReading installed packages...\n\nS | Name   | Type    | Version                | Arch   | Repository\n--+--------+---------+------------------------+--------+-----------\n  | docker | package | 24.0.7_ce-150000.198.2 | x86_64 | SLE-Module-Containers15-SP5-Updates\n  | docker | package | 23.0.6_ce-150000.185.1 | x86_64 | SLE-Module-Containers15-SP5-Updates\n",
    );
    let e = EngineOptions {
        version: Some("23.0.6".into()),
        ..packages()
    };
    go(&h, &e, Mode::Provision).await.0.unwrap();
    assert!(
        h.ran("zypper --non-interactive install --oldpackage docker=23.0.6_ce-150000.185.1"),
        "{:?}",
        h.commands()
    );
}

#[tokio::test]
async fn arch_uses_pacman_and_has_one_version() {
    let h = host("arch");
    go(&h, &packages(), Mode::Provision).await.0.unwrap();
    assert!(h.ran("pacman -Sy --noconfirm --needed docker"));
    let h = host("arch").ok("pacman -Si docker", "Repository      : extra\nName            : docker\nVersion         : 1:26.1.4-1\nDescription     : Pack, ship and run any application as a lightweight container\n");
    let e = EngineOptions {
        version: Some("24.0.7".into()),
        ..packages()
    };
    let err = go(&h, &e, Mode::Provision).await.0.unwrap_err();
    assert!(
        err.to_string().ends_with("available versions: 1:26.1.4-1"),
        "{err}"
    );
    let e = EngineOptions {
        version: Some("26.1.4".into()),
        ..packages()
    };
    go(&h, &e, Mode::Provision).await.0.unwrap();
}

#[tokio::test]
async fn alpine_uses_apk_and_openrc() {
    let h = host_with("alpine-3.19", "openrc", &["curl"]).ok(
        "apk policy docker",
        "docker policy:\n  25.0.3-r0:\n    https://dl-cdn.alpinelinux.org/alpine/v3.19/community\n  25.0.5-r0:\n    https://dl-cdn.alpinelinux.org/alpine/v3.19/community\n",
    );
    let e = EngineOptions {
        version: Some("25.0.5".into()),
        labels: vec!["env=test".into()],
        ..packages()
    };
    go(&h, &e, Mode::Provision).await.0.unwrap();
    h.assert_order(&[
        "apk update -q",
        "apk policy docker",
        "apk add -q docker=25.0.5-r0",
        "rc-update add docker default >/dev/null 2>&1 || rc-update -u >/dev/null 2>&1; }; rc-service docker restart",
        "docker version --format",
    ]);
    let conf = h.upload_of("/etc/conf.d/docker").unwrap();
    assert!(
        conf.contents.contains("DOCKERD_BINARY=/usr/sbin/dockerd\n"),
        "{}",
        conf.contents
    );
    assert!(
        conf.contents
            .contains("--label provider=generic --label env=test\"\n"),
        "{}",
        conf.contents
    );
    assert!(!h.ran("systemctl"));
    assert!(h
        .upload_of("/etc/systemd/system/docker.service.d/10-machine.conf")
        .is_none());
}

#[tokio::test]
async fn sysvinit_hosts_get_etc_default_docker() {
    let h = host_with("debian-12", "sysvinit", &["curl"]);
    go(&h, &packages(), Mode::Provision).await.0.unwrap();
    let conf = h.upload_of("/etc/default/docker").unwrap();
    assert!(
        conf.contents.contains("DOCKERD=/usr/sbin/dockerd\n"),
        "{}",
        conf.contents
    );
    assert!(
        conf.contents
            .contains("DOCKER_OPTS=\"-H tcp://0.0.0.0:2376 "),
        "{}",
        conf.contents
    );
    h.assert_order(&[
        "update-rc.d docker defaults >/dev/null 2>&1; elif command -v chkconfig >/dev/null 2>&1; then chkconfig docker on >/dev/null 2>&1; fi; if command -v service >/dev/null 2>&1; then service docker restart;",
        "docker version --format",
    ]);
    assert!(!h.ran("systemctl"));
}

#[test]
fn families_from_recorded_os_release_files() {
    let cases = [
        ("debian-11", Some(Family::Debian)),
        ("debian-12", Some(Family::Debian)),
        ("debian-13", Some(Family::Debian)),
        ("ubuntu-22.04", Some(Family::Ubuntu)),
        ("ubuntu-24.04", Some(Family::Ubuntu)),
        ("linuxmint-21", Some(Family::Ubuntu)),
        ("centos-7", Some(Family::RedHat)),
        ("centos-stream-9", Some(Family::RedHat)),
        ("rhel-9", Some(Family::RedHat)),
        ("rocky-9", Some(Family::RedHat)),
        ("almalinux-9", Some(Family::RedHat)),
        ("ol-8", Some(Family::RedHat)),
        ("fedora-40", Some(Family::Fedora)),
        ("amzn-2023", Some(Family::Fedora)),
        ("opensuse-leap-15.5", Some(Family::Suse)),
        ("opensuse-tumbleweed", Some(Family::Suse)),
        ("sles-15", Some(Family::Suse)),
        ("arch", Some(Family::Arch)),
        ("alpine-3.19", Some(Family::Alpine)),
        ("nixos", None),
    ];
    for (file, family) in cases {
        let os = OsRelease::parse(&fixture(file));
        assert_eq!(Family::of(&os), family, "{file}: {os:?}");
    }
    let os = OsRelease::parse(&fixture("debian-12"));
    assert_eq!(os.pretty_name, "Debian GNU/Linux 12 (bookworm)");
    assert_eq!(os.version_id, "12");
    let os = OsRelease::parse(&fixture("rocky-9"));
    assert_eq!(os.id_like, ["rhel", "centos", "fedora"]);
    let os = OsRelease::parse(&fixture("fedora-40"));
    assert_eq!(os.version_codename, "");
}

#[tokio::test]
async fn detect_reads_os_release() {
    let h = host("ubuntu-24.04");
    let os = detect(&h).await.unwrap();
    assert_eq!(os.short(), "ubuntu 24.04 (noble)");
    let h = FakeRemote::new().fail(
        "os-release",
        1,
        "cat: /usr/lib/os-release: No such file or directory",
    );
    let err = detect(&h).await.unwrap_err();
    assert!(
        err.to_string()
            .starts_with("reading /etc/os-release failed"),
        "{err}"
    );
}

#[test]
fn version_matching() {
    let v = |xs: &[&str]| xs.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    let avail = v(&[
        "5:24.0.7-1~debian.12~bookworm",
        "20.10.24+dfsg1-1+b3",
        "20.10.2-1",
        "24.0.70-1",
    ]);
    assert_eq!(
        match_version(&avail, "24.0.7").unwrap(),
        "5:24.0.7-1~debian.12~bookworm"
    );
    assert_eq!(
        match_version(&avail, "20.10.24").unwrap(),
        "20.10.24+dfsg1-1+b3"
    );
    assert_eq!(match_version(&avail, "20.10.2").unwrap(), "20.10.2-1");
    assert_eq!(match_version(&avail, "24.0.70-1").unwrap(), "24.0.70-1");
    assert_eq!(
        match_version(&avail, "20.10.24+dfsg1-1+b3").unwrap(),
        "20.10.24+dfsg1-1+b3"
    );
    assert!(
        match_version(&avail, "24.0").is_none(),
        "a prefix of the version number is not a match"
    );
    assert!(match_version(&avail, "1.0.0").is_none());
}

#[test]
fn package_listing_parsers() {
    assert_eq!(
        debian::parse_madison(MADISON),
        ["20.10.24+dfsg1-1+b3", "20.10.5+dfsg1-1+deb11u2"]
    );
    assert!(debian::parse_madison("N: Unable to locate package docker.io\n").is_empty());
    assert_eq!(
        redhat::parse_dnf_list("Last metadata expiration check: 0:01:02 ago\nAvailable Packages\ndocker-ce.x86_64 3:24.0.6-1.el9 docker-ce-stable\ndocker-ce-cli.x86_64 1:24.0.6-1.el9 docker-ce-stable\ndocker-ce.x86_64 3:24.0.7-1.el9 docker-ce-stable\n", "docker-ce"),
        ["3:24.0.7-1.el9", "3:24.0.6-1.el9"]
    );
    assert_eq!(
        arch::parse_pacman_info("Name : docker\nVersion : 1:26.1.4-1\n"),
        ["1:26.1.4-1"]
    );
    assert_eq!(
        alpine::parse_apk_policy("docker policy:\n  25.0.3-r0:\n    lib/apk/db/installed\n  25.0.5-r0:\n    https://x/community\n"),
        ["25.0.5-r0", "25.0.3-r0"]
    );
    assert_eq!(
        suse::parse_zypper_search("S | Name | Type | Version | Arch | Repository\n--+--\ni+ | docker | package | 24.0.7_ce-1.1 | x86_64 | repo\n  | docker | srcpackage | 24.0.7_ce-1.1 | noarch | repo\n", "docker"),
        ["24.0.7_ce-1.1"]
    );
}

#[test]
fn probe_parsing() {
    let f = parse_probe(&probe_output(true, "openrc", &["dockerd", "curl"]));
    assert_eq!(f.user, "nick");
    assert!(f.sudo);
    assert_eq!(f.init, Init::OpenRc);
    assert_eq!(f.tool("dockerd"), Some("/usr/bin/dockerd"));
    assert_eq!(f.tool("wget"), None);
    assert!(!f.tls_config && !f.tls_files && !f.in_socket_group());
    assert!(probe_command().contains("sudo -n true </dev/null"));

    let f = parse_probe(&ssh_probe(
        &["sudo", "docker"],
        "docker",
        "tls.config=yes\ntls.files=yes\n",
    ));
    assert_eq!(f.groups, ["nick", "sudo", "docker"]);
    assert_eq!(f.socket_group, "docker");
    assert!(f.in_socket_group() && f.tls_config && f.tls_files);
    // root's group, or no socket, is no membership
    assert!(!parse_probe(&ssh_probe(&["root"], "root", "")).in_socket_group());
    assert!(!parse_probe(&ssh_probe(&["docker"], "", "")).in_socket_group());
}

/// The probe runs its checks as the host's shell would: our header is recognised, a packaged
/// file at the same path is not.
#[test]
fn the_probe_tells_our_init_files_from_the_packages() {
    let dir = tempfile::tempdir().unwrap();
    let ours = dir.path().join("ours");
    let packaged = dir.path().join("packaged");
    let e = EngineOptions::default();
    std::fs::write(
        &ours,
        engine::sysvinit_default("/usr/sbin/dockerd", &e, "generic").unwrap(),
    )
    .unwrap();
    std::fs::write(
        &packaged,
        "# Docker Upstart and SysVinit configuration file\n",
    )
    .unwrap();
    let check = |p: &std::path::Path| {
        std::process::Command::new("sh")
            .arg("-c")
            .arg(facts::has_our_header(&p.display().to_string()))
            .status()
            .unwrap()
            .success()
    };
    assert!(check(&ours));
    assert!(!check(&packaged));
    assert!(!check(&dir.path().join("missing")));
    // every file provisioning writes starts with the header
    for text in [
        engine::systemd_dropin("/usr/sbin/dockerd", &e, "generic").unwrap(),
        engine::openrc_conf("/usr/sbin/dockerd", &e, "generic").unwrap(),
    ] {
        assert!(
            text.starts_with(&format!("{}\n", facts::CONFIG_HEADER)),
            "{text}"
        );
    }
}

// ---- the SSH transport ----

/// A probe of a systemd Debian host for the SSH transport: `nick` in `groups` (besides their
/// own), the socket's group, `extra` lines.
fn ssh_probe(groups: &[&str], socket_group: &str, extra: &str) -> String {
    format!(
        "{}groups=nick {}\nsocket.group={socket_group}\n{extra}",
        probe_output(true, "systemd", &["dockerd", "docker", "curl"])
            .replace("hostname=old-name", "hostname=node-1"),
        groups.join(" ")
    )
}

/// In the one root command that starts Docker unless it runs, gives the login user access to
/// its socket and asks its version.
const DAEMON_SCRIPT: &str = "; } || exit 3; ";
const START_IF_NEEDED: &str = "if ! systemctl is-active --quiet docker.service; then";

/// A Debian host that runs Docker, with `probe` as the probe's answer; the daemon script
/// answers `daemon`.
fn docker_host(probe: &str, daemon: &str) -> FakeRemote {
    host("debian-12")
        .ok("sudo -n true", probe)
        .ok(DAEMON_SCRIPT, daemon)
}

/// Nothing of the TLS transport was done: no certificates, no daemon configuration, no restart.
#[track_caller]
fn assert_no_tls(h: &FakeRemote) {
    assert!(h.uploads().is_empty(), "{:?}", h.uploads());
    assert!(!h.ran("mkdir -p /etc/docker"), "{:?}", h.commands());
    assert!(!h.ran("restart"), "{:?}", h.commands());
    assert!(!h.ran("daemon-reload"), "{:?}", h.commands());
}

#[tokio::test]
async fn ssh_on_a_host_running_docker_adds_the_user_to_the_group_and_restarts_nothing() {
    let h = docker_host(
        &ssh_probe(&["sudo"], "docker", "tls.config=no\ntls.files=no\n"),
        "added docker\nversion=24.0.7\n",
    );
    let (report, progress) = go_ssh(&h, &packages(), Mode::Provision).await;
    let report = report.unwrap();
    assert_eq!(report.docker_group_user.as_deref(), Some("nick"));
    assert_eq!(report.docker_version, "24.0.7");
    assert_no_tls(&h);
    assert!(!h.ran("apt-get"), "nothing installed");
    assert!(
        !h.ran("/proc/net/tcp"),
        "no port to check: {:?}",
        h.commands()
    );
    // four round trips: the probe, os-release, then the hostname and the daemon at once
    assert_eq!(h.commands().len(), 4, "{:#?}", h.commands());
    h.assert_order(&["sudo -n true", "cat /etc/os-release"]);
    assert!(h.ran("/etc/hosts"));
    let daemon = h
        .commands()
        .into_iter()
        .find(|c| c.contains(DAEMON_SCRIPT))
        .unwrap();
    let at = |f: &str| {
        daemon
            .find(f)
            .unwrap_or_else(|| panic!("{f:?} not in {daemon}"))
    };
    assert!(at(START_IF_NEEDED) < at("u=nick; g=$(stat -c %G /var/run/docker.sock"));
    assert!(at("usermod -aG") < at("docker version --format"));
    assert!(
        progress
            .iter()
            .any(|m| m == "Giving nick access to Docker's socket..."),
        "{progress:?}"
    );
    assert!(
        !progress.iter().any(|m| m.contains("certificates")),
        "{progress:?}"
    );
    assert!(
        !progress
            .iter()
            .any(|m| m.contains("Docker was not running")),
        "{progress:?}"
    );
}

#[tokio::test]
async fn ssh_with_a_user_already_in_the_group_changes_no_membership() {
    // the probe knows: no group script at all
    let h = docker_host(
        &ssh_probe(&["sudo", "docker"], "docker", ""),
        "version=24.0.7\n",
    );
    let (report, progress) = go_ssh(&h, &packages(), Mode::Provision).await;
    let report = report.unwrap();
    assert_eq!(report.docker_group_user, None);
    assert!(!h.ran("usermod"), "{:?}", h.commands());
    assert!(
        !progress.iter().any(|m| m.starts_with("Giving")),
        "{progress:?}"
    );
    assert_no_tls(&h);
    assert_eq!(h.commands().len(), 4, "{:#?}", h.commands());

    // the probe could not tell (no socket yet): the script finds the membership
    let h = docker_host(
        &ssh_probe(&["sudo", "docker"], "", ""),
        "member docker\nversion=24.0.7\n",
    );
    let report = go_ssh(&h, &packages(), Mode::Provision).await.0.unwrap();
    assert_eq!(report.docker_group_user, None, "not ours to take back");
    assert!(h.ran("usermod -aG"));

    // root needs no group
    let probe = ssh_probe(&["root"], "root", "").replace("user=nick", "user=root\nuid=0");
    let h = docker_host(&probe, "version=24.0.7\n");
    let report = go_ssh(&h, &packages(), Mode::Provision).await.0.unwrap();
    assert_eq!(report.docker_group_user, None);
    assert!(!h.ran("usermod"), "{:?}", h.commands());
}

#[tokio::test]
async fn ssh_names_a_hostile_user_quoted() {
    let user = "n'; reboot #";
    let h = docker_host(
        &ssh_probe(&[], "docker", "").replace("user=nick", &format!("user={user}")),
        "added docker\nversion=24.0.7\n",
    );
    let report = go_ssh(&h, &packages(), Mode::Provision).await.0.unwrap();
    assert_eq!(report.docker_group_user.as_deref(), Some(user));
    let daemon = h
        .commands()
        .into_iter()
        .find(|c| c.contains(DAEMON_SCRIPT))
        .unwrap();
    // quoted for the script, the script quoted for sudo's sh
    assert_eq!(
        daemon,
        cx::root_sh(&socket::daemon_script(Init::Systemd, Some(user)), false)
    );
    assert!(
        socket::grant_script(user).starts_with("u='n'\\''; reboot #'; "),
        "{daemon}"
    );
}

#[tokio::test]
async fn ssh_moving_from_tls_takes_our_configuration_back_and_checks_the_port() {
    let h = docker_host(
        &ssh_probe(&["docker"], "docker", "tls.config=yes\ntls.files=yes\n"),
        "version=24.0.7\n",
    )
    .ok("/proc/net/tcp", "0\n");
    let e = EngineOptions {
        port: 2377,
        ..packages()
    };
    let (report, progress) = go_ssh(&h, &e, Mode::Provision).await;
    report.unwrap();
    h.assert_order(&[
        "rm -f /etc/systemd/system/docker.service.d/10-machine.conf",
        ":0949$/",
        DAEMON_SCRIPT,
    ]);
    let undo = h
        .commands()
        .into_iter()
        .find(|c| c.contains("10-machine.conf && "))
        .unwrap();
    assert!(
        undo.contains("rm -f /etc/docker/ca.pem /etc/docker/server.pem /etc/docker/server-key.pem"),
        "{undo}"
    );
    assert!(h.uploads().is_empty());
    assert!(
        progress
            .iter()
            .any(|m| m.starts_with("Removing the TLS transport's daemon configuration")),
        "{progress:?}"
    );

    // something still listens on the port: an error, as for an undo
    let h = docker_host(
        &ssh_probe(&["docker"], "docker", "tls.config=yes\n"),
        "version=24.0.7\n",
    )
    .ok("/proc/net/tcp", "2\n");
    let err = go_ssh(&h, &e, Mode::Provision).await.0.unwrap_err();
    assert!(
        matches!(
            err,
            ProvisionError::PortStillOpen {
                port: 2377,
                listeners: 2
            }
        ),
        "{err:?}"
    );

    // only the certificates are left (a create that stopped before writing the configuration):
    // they go, and the daemon is not restarted
    let h = docker_host(
        &ssh_probe(&["docker"], "docker", "tls.config=no\ntls.files=yes\n"),
        "version=24.0.7\n",
    );
    go_ssh(&h, &e, Mode::Provision).await.0.unwrap();
    assert!(h.ran("rm -f /etc/docker/ca.pem /etc/docker/server.pem /etc/docker/server-key.pem"));
    assert!(!h.ran("10-machine.conf &&"), "{:?}", h.commands());
    assert!(!h.ran("/proc/net/tcp"));
    assert!(!h.ran("restart"), "{:?}", h.commands());
}

#[tokio::test]
async fn ssh_on_a_fresh_host_installs_and_starts_docker() {
    // the daemon script gets no version: the usual wait asks for it
    let h = host("debian-12").ok(DAEMON_SCRIPT, "started\nadded docker\n");
    let (report, progress) = go_ssh(&h, &packages(), Mode::Provision).await;
    let report = report.unwrap();
    assert_eq!(report.docker_group_user.as_deref(), Some("nick"));
    assert_eq!(report.docker_version, "20.10.24+dfsg1");
    h.assert_order(&[
        "/etc/hosts",
        "--force-confold docker.io",
        "command -v dockerd",
        DAEMON_SCRIPT,
        "sh -c 'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin:$PATH; export PATH; docker version --format",
    ]);
    assert_no_tls(&h);
    assert!(
        progress.iter().any(|m| m.starts_with("Installing Docker")),
        "{progress:?}"
    );
    assert!(
        progress
            .iter()
            .any(|m| m == "Docker was not running: started it"),
        "{progress:?}"
    );

    // a daemon that does not start shows its log; the group is not touched then
    let h = host("debian-12")
        .on(
            DAEMON_SCRIPT,
            vec![Output::failed(3, "Job for docker.service failed")],
        )
        .ok(
            "journalctl -u docker.service",
            "dockerd[7]: no space left\n",
        );
    let err = go_ssh(&h, &packages(), Mode::Provision)
        .await
        .0
        .unwrap_err();
    let msg = err.to_string();
    assert!(msg.starts_with("starting docker failed"), "{msg}");
    assert!(msg.contains("Job for docker.service failed"), "{msg}");
    assert!(msg.contains("no space left"), "{msg}");

    // the group cannot be given
    let h = host("debian-12").on(
        DAEMON_SCRIPT,
        vec![Output::failed(
            1,
            "there is no group docker for Docker's socket",
        )],
    );
    let msg = go_ssh(&h, &packages(), Mode::Provision)
        .await
        .0
        .unwrap_err()
        .to_string();
    assert!(
        msg.starts_with("adding the login user to the docker group failed"),
        "{msg}"
    );
    assert!(msg.contains("there is no group docker"), "{msg}");
}

/// The daemon script under `sh`, with stand-ins for systemctl, docker and the group tools:
/// Docker is started only when it is not active, the group script runs after it, and a start
/// that fails ends the script before the group is touched.
#[test]
fn the_daemon_script_starts_only_a_stopped_daemon() {
    use std::os::unix::fs::PermissionsExt;
    let run = |active: bool, start_fails: bool| {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("calls");
        let tool = |name: &str, body: &str| {
            let p = dir.path().join(name);
            std::fs::write(
                &p,
                format!(
                    "#!/bin/sh\necho \"{name} $*\" >> '{}'\n{body}\n",
                    log.display()
                ),
            )
            .unwrap();
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
        };
        tool(
            "systemctl",
            &format!(
                "case \"$1\" in is-active) exit {};; start) exit {};; esac; exit 0",
                if active { 0 } else { 3 },
                u8::from(start_fails)
            ),
        );
        tool("docker", "echo 24.0.7");
        tool("id", "echo nick");
        tool("stat", "echo docker");
        tool("usermod", "true");
        let script = socket::daemon_script(Init::Systemd, Some("nick")).replace(
            "/etc/group",
            &dir.path().join("group").display().to_string(),
        );
        std::fs::write(dir.path().join("group"), "docker:x:999:\n").unwrap();
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(format!("PATH={}:$PATH; {script}", dir.path().display()))
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            std::fs::read_to_string(&log).unwrap_or_default(),
        )
    };
    let (status, out, calls) = run(true, false);
    assert_eq!(status, Some(0));
    assert_eq!(out, "added docker\nversion=24.0.7\n");
    assert!(!calls.contains("systemctl start"), "{calls}");
    assert!(!calls.contains("restart"), "{calls}");
    let (status, out, calls) = run(false, false);
    assert_eq!(status, Some(0));
    assert_eq!(out, "started\nadded docker\nversion=24.0.7\n");
    assert!(
        calls.contains("systemctl start docker.service\n"),
        "{calls}"
    );
    let (status, out, calls) = run(false, true);
    assert_eq!(status, Some(3));
    assert_eq!(out, "");
    assert!(!calls.contains("usermod"), "{calls}");
}

#[tokio::test]
async fn ssh_upgrade_reinstalls_and_leaves_no_tls_configuration() {
    let h = docker_host(&ssh_probe(&["docker"], "docker", ""), "version=20.10.5\n");
    let e = EngineOptions {
        version: Some("20.10.5".into()),
        ..packages()
    };
    let report = go_ssh(&h, &e, Mode::Upgrade).await.0.unwrap();
    assert_eq!(report.docker_group_user, None);
    assert_eq!(report.docker_version, "20.10.5");
    h.assert_order(&[
        "/etc/hosts",
        "--allow-downgrades docker.io=20.10.5+dfsg1-1+deb11u2",
        "command -v dockerd",
        DAEMON_SCRIPT,
    ]);
    assert_no_tls(&h);
}

#[tokio::test]
async fn ssh_on_openrc_starts_a_stopped_daemon_and_uses_busybox_names() {
    let probe = ssh_probe(&[], "", "").replace("init=systemd", "init=openrc");
    let h = host_with("alpine-3.19", "openrc", &["curl"])
        .ok("sudo -n true", &probe)
        .ok(DAEMON_SCRIPT, "started\nadded docker\nversion=25.0.5\n");
    let (report, progress) = go_ssh(&h, &packages(), Mode::Provision).await;
    assert_eq!(report.unwrap().docker_group_user.as_deref(), Some("nick"));
    assert!(h.ran("if ! rc-service docker status >/dev/null 2>&1; then rc-service docker start"));
    assert!(h.ran("else addgroup \"$u\" \"$g\""), "{:?}", h.commands());
    assert!(!h.ran("restart"), "{:?}", h.commands());
    assert!(
        progress
            .iter()
            .any(|m| m == "Docker was not running: started it"),
        "{progress:?}"
    );
}

async fn undo(h: &FakeRemote, what: &Unprovision) -> Result<(), ProvisionError> {
    unprovision(h, what, &|_, _, _| {}).await
}

#[tokio::test]
async fn unprovision_takes_back_the_group_membership_and_the_tls_configuration() {
    // nothing to take back: not even a probe
    let h = FakeRemote::new();
    undo(&h, &Unprovision::default()).await.unwrap();
    assert!(h.commands().is_empty());

    let h =
        docker_host(&ssh_probe(&["docker"], "docker", ""), "").ok("gpasswd -d", "removed docker\n");
    let what = Unprovision {
        tls_port: None,
        docker_group_user: Some("nick".into()),
    };
    undo(&h, &what).await.unwrap();
    assert!(
        h.ran("u=nick; g=$(stat -c %G /var/run/docker.sock"),
        "{:?}",
        h.commands()
    );
    assert!(h.ran("gpasswd -d \"$u\" \"$g\""));
    assert!(h.ran("deluser \"$u\" \"$g\""));
    assert!(
        !h.ran("rm -f /etc/systemd"),
        "no TLS undo: {:?}",
        h.commands()
    );
    assert_eq!(
        h.commands().len(),
        2,
        "the probe and the group: {:?}",
        h.commands()
    );

    // both, on one session; the group goes even when the port stays open
    let h = docker_host(&ssh_probe(&["docker"], "docker", ""), "").ok("/proc/net/tcp", "1\n");
    let what = Unprovision {
        tls_port: Some(2376),
        docker_group_user: Some("nick".into()),
    };
    let err = undo(&h, &what).await.unwrap_err();
    assert!(
        matches!(err, ProvisionError::PortStillOpen { port: 2376, .. }),
        "{err:?}"
    );
    h.assert_order(&[
        "gpasswd -d",
        "rm -f /etc/systemd/system/docker.service.d/10-machine.conf",
        ":0948$/",
    ]);
}
