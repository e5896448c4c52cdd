//! The end-to-end harness itself, against real test hosts, without the `machine` CLI: the file
//! server is reachable from a host, the served install script behaves like get.docker.com
//! (VERSION pinning, a clear failure listing available versions, a real install as a sudo user),
//! and the busybox image builds and runs on an engine with no registry.

use machine_e2e::support::{self, FileServer, TestHost};
use machine_e2e::{install_script, timed};

#[test]
fn file_server_serves_the_install_script_to_a_test_host() {
    let host = timed("test host start", || TestHost::start("bookworm"));
    let server = FileServer::start("/install.sh", install_script());
    assert_eq!(
        server.addr().ip().to_string(),
        host.gateway(),
        "the file server must listen on the bridge gateway the host sees"
    );
    let got = host.exec(&format!("curl -fsS {}", server.url()));
    assert_eq!(got, install_script(), "the host received another body");
    let missing = host.exec_output(&format!("curl -fsS https://{}/nothing-here", server.addr()));
    assert!(
        !missing.status.success(),
        "another path must answer 404, got {missing:?}"
    );
    let reqs = server.requests();
    assert_eq!(reqs.len(), 2, "{reqs:?}");
    assert_eq!(reqs[0].peer.ip().to_string(), host.ip);
    assert_eq!(
        (
            reqs[0].method.as_str(),
            reqs[0].path.as_str(),
            reqs[0].status
        ),
        ("GET", "/install.sh", 200)
    );
    assert_eq!(reqs[1].status, 404);
}

#[test]
fn install_script_pins_versions_and_lists_available_ones() {
    let host = TestHost::start("bookworm");
    let server = FileServer::start("/install.sh", install_script());
    let url = server.url();

    // A version apt does not have: fails, naming it and listing what is available.
    let out = host.exec_output(&format!(
        "su - nick -c 'curl -fsSL {url} | VERSION=99.9.9 sh'"
    ));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "VERSION=99.9.9 must fail: {out:?}");
    assert!(
        stderr.contains("'99.9.9' not found") && stderr.contains("Available versions of docker.io"),
        "the failure must name the version and list the available ones:\n{stderr}"
    );
    let available: Vec<&str> = stderr
        .lines()
        .filter_map(|l| l.strip_prefix("  "))
        .filter(|l| l.starts_with(char::is_numeric))
        .collect();
    assert!(
        !available.is_empty(),
        "no available version listed:\n{stderr}"
    );

    // A version prefix picks the matching apt version (dry run: prints the commands).
    let newest = available[0];
    let major_minor: String = newest.split('.').take(2).collect::<Vec<_>>().join(".");
    let dry = host.exec(&format!(
        "su - nick -c 'curl -fsSL {url} | DRY_RUN=1 VERSION=v{major_minor} sh'"
    ));
    assert!(
        dry.contains(&format!("docker.io={newest}")),
        "VERSION=v{major_minor} must pin docker.io={newest}:\n{dry}"
    );
    assert!(
        host.exec_output("command -v docker").stdout.is_empty(),
        "a dry run must not install anything"
    );

    // A real install as the sudo user, pinned.
    let full = timed("install script (pinned, real)", || {
        host.exec(&format!(
            "su - nick -c 'curl -fsSL {url} | VERSION={major_minor} sh'"
        ))
    });
    assert!(
        full.contains("Server:"),
        "docker version after install:\n{full}"
    );
    let installed = host.exec("dpkg-query -W -f='${Version}' docker.io");
    assert_eq!(installed, newest);
    assert_eq!(host.exec("systemctl is-active docker").trim(), "active");
}

#[test]
fn busybox_image_builds_and_runs_without_a_registry() {
    // On the local engine (empty env): the same helper the CLI tests use against remote engines.
    let image = format!("busybox-harness-{}", std::process::id());
    timed("busybox image build (local)", || {
        support::build_busybox_image(&[], &image)
    });
    let out = support::run(support::docker_cmd(&[]).args([
        "run",
        "--rm",
        &image,
        "sh",
        "-c",
        "echo hello; hostname >/dev/null && ls /bin/busybox",
    ]));
    let _ = support::docker_cmd(&[])
        .args(["rmi", "-f", &image])
        .output();
    assert_eq!(out, "hello\n/bin/busybox\n");
}

#[test]
fn parse_exports_reads_machine_env_output() {
    let text = "export DOCKER_TLS_VERIFY=\"1\"\nexport DOCKER_HOST=\"tcp://172.17.0.5:2376\"\n\
                export DOCKER_CERT_PATH=\"/tmp/s/machines/a\"\nexport DOCKER_MACHINE_NAME=\"a\"\n\
                # Run this command to configure your shell:\n# eval $(machine env a)\n";
    let vars = support::parse_exports(text);
    assert_eq!(
        vars,
        vec![
            ("DOCKER_TLS_VERIFY".to_string(), "1".to_string()),
            ("DOCKER_HOST".into(), "tcp://172.17.0.5:2376".into()),
            ("DOCKER_CERT_PATH".into(), "/tmp/s/machines/a".into()),
            ("DOCKER_MACHINE_NAME".into(), "a".into()),
        ]
    );
}

#[test]
fn ls_table_keeps_empty_cells() {
    let text = "NAME   ACTIVE   DRIVER    STATE     URL                      SWARM   DOCKER            ERRORS\n\
                dev    -        generic   Running   tcp://172.17.0.3:2376            v20.10.24+dfsg1   \n\
                bad    -        generic   Error                                                       ssh: refused\n";
    let t = machine_e2e::LsTable::parse(text);
    assert_eq!(t.columns.len(), 8);
    let dev = t.row("dev").expect("dev");
    assert_eq!(dev["STATE"], "Running");
    assert_eq!(dev["URL"], "tcp://172.17.0.3:2376");
    assert_eq!(dev["SWARM"], "");
    assert_eq!(dev["DOCKER"], "v20.10.24+dfsg1");
    assert_eq!(dev["ERRORS"], "");
    let bad = t.row("bad").expect("bad");
    assert_eq!(bad["ERRORS"], "ssh: refused");
}
