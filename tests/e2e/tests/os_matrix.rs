//! Issue 3 end to end: the same `machine create -d generic` on Debian 11 (bullseye), 12
//! (bookworm) and 13 (trixie) test hosts, created concurrently into one store; on each, the real
//! `docker` client runs a container through `machine env`. Then what needs several machines:
//! `ls` over all of them, `scp` from one machine to another, and `restart` of several names at
//! once (a real reboot of each host).
//!
//! Needs scripts/test-env.sh (it builds the bookworm, bullseye and trixie host images) and
//! `cargo build --workspace --bins`; scripts/test.sh does both. Nothing here skips.

use std::time::Instant;

use machine_e2e::support::{self, FileServer, TestHost};
use machine_e2e::{docker_ok, install_script, timed, unique_name, Cli, RESTART_TIMEOUT};

/// Suite, the Debian release `inspect` reports, and how Docker is installed there.
const MATRIX: &[(&str, &str, Method)] = &[
    (
        "bullseye",
        "Debian GNU/Linux 11 (bullseye)",
        Method::Packages,
    ),
    ("bookworm", "Debian GNU/Linux 12 (bookworm)", Method::Script),
    ("trixie", "Debian GNU/Linux 13 (trixie)", Method::Packages),
];

#[derive(Clone, Copy, Debug)]
enum Method {
    Packages,
    /// The install script served by the test file server.
    Script,
}

const IMAGE: &str = "busybox-matrix";

/// Docker 26 (trixie's docker.io) disables IPv6 on a new container's interface by writing to
/// /proc/sys, which is read-only inside a test host (a container, not a VM): `docker run` then
/// fails with "failed to disable IPv6 on container's interface eth0, set env var
/// DOCKER_ALLOW_IPV6_ON_IPV4_INTERFACE=1 to ignore this error". Real hosts do not need this; on
/// the test host it is set the way a user would, with `--engine-env`.
const TRIXIE_ENGINE_ENV: &str = "DOCKER_ALLOW_IPV6_ON_IPV4_INTERFACE=1";

#[test]
fn create_and_run_containers_on_debian_11_12_13() {
    let cli = Cli::new();
    // Fixed addresses: the hosts reboot together below, and on Docker's default bridge a
    // rebooted host can come back at another address (the generic driver, like a user's
    // script, knows the host by its address).
    let hosts: Vec<TestHost> = timed("test hosts start", || {
        MATRIX
            .iter()
            .map(|(suite, _, _)| TestHost::start_fixed_ip(suite))
            .collect()
    });
    let gateway = hosts[0].gateway().parse().expect("gateway address");
    let server = FileServer::start_on(gateway, "/install.sh", install_script());
    let url = server.url();
    let names: Vec<String> = MATRIX
        .iter()
        .map(|(suite, _, _)| unique_name(&format!("e2e-{suite}")))
        .collect();

    // create on all three at once
    let outs = timed("create x3 (concurrent)", || {
        std::thread::scope(|s| {
            let handles: Vec<_> = MATRIX
                .iter()
                .zip(&hosts)
                .zip(&names)
                .map(|(((_, _, method), host), name)| {
                    let (cli, url) = (&cli, &url);
                    s.spawn(move || {
                        let mut extra: Vec<&str> = match method {
                            Method::Packages => vec!["--engine-install-method", "packages"],
                            Method::Script => vec!["--engine-install-url", url.as_str()],
                        };
                        if host.name.contains("trixie") {
                            extra.extend_from_slice(&["--engine-env", TRIXIE_ENGINE_ENV]);
                        }
                        cli.create_on(host, &extra, name)
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().expect("create thread"))
                .collect::<Vec<_>>()
        })
    });
    for (((suite, _, method), out), host) in MATRIX.iter().zip(&outs).zip(&hosts) {
        assert!(
            out.success,
            "create on {suite} ({method:?}) failed:\n{out}\n(host {} systemd: {})",
            host.name,
            host.exec_output("systemctl is-system-running; systemctl --failed --no-legend")
                .stdout
                .iter()
                .map(|b| *b as char)
                .collect::<String>()
        );
    }

    // each: the OS, docker version from the remote daemon, a container
    let mut versions = Vec::new();
    for (((suite, pretty, _), host), name) in MATRIX.iter().zip(&hosts).zip(&names) {
        assert_eq!(
            cli.ok(&["inspect", "--format", "{{.OS}}", name]).trim(),
            *pretty,
            "inspect .OS of the {suite} machine"
        );
        let env = cli.env(name);
        let version = docker_ok(&env, &["version"]);
        assert!(
            version.contains("Server:"),
            "no Server section on {suite}:\n{version}"
        );
        let server = docker_ok(&env, &["version", "--format", "{{.Server.Version}}"]);
        let server = server.trim().to_string();
        let pkg = host.exec("dpkg-query -W -f='${Version}' docker.io");
        assert!(
            pkg.starts_with(&server),
            "{suite}: the daemon runs {server}, the package is {pkg}"
        );
        timed(&format!("busybox image build ({suite})"), || {
            support::build_busybox_image(&env, IMAGE)
        });
        let hello = docker_ok(
            &env,
            &[
                "run",
                "--rm",
                "--hostname",
                "inner",
                IMAGE,
                "sh",
                "-c",
                "echo hello from $(hostname)",
            ],
        );
        assert_eq!(hello, "hello from inner\n", "{suite}");
        versions.push(server);
    }

    // ls: all three, Running, each with its own daemon's version
    let table = cli.ls();
    for ((suite, _, _), (name, version)) in MATRIX.iter().zip(names.iter().zip(&versions)) {
        let row = table
            .row(name)
            .unwrap_or_else(|| panic!("{suite} machine not listed:\n{}", table.raw));
        assert_eq!(row["STATE"], "Running", "{}", table.raw);
        assert_eq!(row["DOCKER"], format!("v{version}"), "{}", table.raw);
    }

    // scp between machines on different hosts: bullseye -> trixie
    cli.ok(&[
        "ssh",
        &names[0],
        "echo from bullseye > /tmp/m2m.txt && mkdir -p /tmp/m2m-dir/sub && echo deep > /tmp/m2m-dir/sub/f",
    ]);
    cli.ok(&[
        "scp",
        &format!("{}:/tmp/m2m.txt", names[0]),
        &format!("{}:/tmp/m2m.txt", names[2]),
    ]);
    assert_eq!(
        hosts[2].exec("cat /tmp/m2m.txt"),
        "from bullseye\n",
        "machine-to-machine scp did not reach the trixie host"
    );
    cli.ok(&[
        "scp",
        "-r",
        &format!("{}:/tmp/m2m-dir", names[0]),
        &format!("{}:/tmp/m2m-dir", names[1]),
    ]);
    assert_eq!(hosts[1].exec("cat /tmp/m2m-dir/sub/f"), "deep\n");

    // restart several at once: each host really reboots, Docker answers again on each
    let before: Vec<u32> = hosts.iter().map(TestHost::restart_count).collect();
    let mut args = vec!["restart"];
    args.extend(names.iter().map(String::as_str));
    let start = Instant::now();
    let out = timed("restart x3", || {
        cli.call_with_timeout(&args, RESTART_TIMEOUT)
    });
    assert!(out.success, "restart of three machines failed:\n{out}");
    let took = start.elapsed();
    for ((host, n0), name) in hosts.iter().zip(&before).zip(&names) {
        assert!(
            host.restart_count() > *n0,
            "restart returned but {} did not reboot",
            host.name
        );
        assert!(
            out.stdout
                .contains(&format!("Machine \"{name}\" was restarted.")),
            "{out}"
        );
        let env = cli.env(name);
        let v = docker_ok(&env, &["version", "--format", "{{.Server.Version}}"]);
        assert!(!v.trim().is_empty());
    }
    eprintln!("[timing] restart of three machines together: {took:.1?}");

    let mut rm = vec!["rm", "-y"];
    rm.extend(names.iter().map(String::as_str));
    cli.ok(&rm);
    assert!(cli.ls().rows.is_empty());
}
