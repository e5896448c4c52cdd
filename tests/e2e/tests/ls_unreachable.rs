//! `ls` with machines that do not answer returns within its timeout plus a small margin, and
//! says what is due: a machine whose ports are closed (loopback) is Stopped, a stopped test host
//! is Stopped (its address answers nothing), and a healthy one next to them is Running. A
//! correctness test with a stated bound, not a benchmark.

use machine_e2e::{timed, unique_name, Cli};
use machine_testsupport::TestHost;
use std::time::{Duration, Instant};

/// How long past `-t` an `ls` may take (process start, the store, the last answers in flight).
const MARGIN: Duration = Duration::from_millis(1500);

/// Makes `to` a copy of machine `from` in the store, with its generic driver config edited.
fn copy_machine(cli: &Cli, from: &str, to: &str, edit: impl Fn(&mut serde_json::Value)) {
    let src = cli.machine_dir(from);
    let dst = cli.machine_dir(to);
    std::fs::create_dir_all(&dst).unwrap();
    for e in std::fs::read_dir(&src).unwrap() {
        let e = e.unwrap();
        if e.file_type().unwrap().is_file() {
            std::fs::copy(e.path(), dst.join(e.file_name())).unwrap();
        }
    }
    let path = dst.join("config.json");
    let mut config: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    config["name"] = to.into();
    // the copy is elsewhere: where the original was last reached is not where it is
    config.as_object_mut().unwrap().remove("last_access");
    edit(&mut config["driver_config"]);
    std::fs::write(&path, serde_json::to_string(&config).unwrap()).unwrap();
}

#[test]
fn ls_with_unreachable_machines_returns_within_its_timeout() {
    let cli = Cli::new();
    let up = timed("test hosts start", TestHost::start_with_docker);
    let down = TestHost::start_with_docker();
    let (healthy, stopped) = (unique_name("e2e-up"), unique_name("e2e-down"));
    for (host, name) in [(&up, &healthy), (&down, &stopped)] {
        let out = timed("create", || {
            cli.create_on(host, &["--engine-install-method", "packages"], name)
        });
        assert!(out.success, "create failed:\n{out}");
    }
    // a machine at a closed port on loopback: refused at once
    let closed = machine_testsupport::ClosedPort::new();
    let closed_port = closed.port();
    copy_machine(&cli, &healthy, "closed", |d| {
        d["ip"] = "127.0.0.1".into();
        d["ssh_port"] = closed_port.into();
        d["engine_port"] = closed_port.into();
    });
    down.stop();
    // the stopped machine's address now serves another machine of the store (addresses are
    // reused): a daemon there with a certificate of the store's CA, but not this machine's own,
    // must not make it Running
    let recorded = |name: &str| {
        let config: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(cli.machine_dir(name).join("config.json")).unwrap(),
        )
        .unwrap();
        config["last_access"].clone()
    };
    let healthy_at = recorded(&healthy);
    assert_eq!(
        healthy_at["docker_url"],
        format!("tcp://{}:2376", up.ip),
        "create records where it reached the machine"
    );
    let path = cli.machine_dir(&stopped).join("config.json");
    let mut config: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    config["last_access"] = healthy_at;
    std::fs::write(&path, serde_json::to_string(&config).unwrap()).unwrap();

    for t in [3u64, 5] {
        let started = Instant::now();
        let out = cli.call(&["ls", "-t", &t.to_string()]);
        let took = started.elapsed();
        assert!(out.success, "{out}");
        let table = machine_e2e::LsTable::parse(&out.stdout);
        eprintln!("ls -t {t}: {took:.2?}\n{}", table.raw);
        assert!(
            took <= Duration::from_secs(t) + MARGIN,
            "ls -t {t} took {took:.2?}:\n{}",
            table.raw
        );
        let state =
            |n: &str| table.row(n).unwrap_or_else(|| panic!("{n} not listed"))["STATE"].clone();
        assert_eq!(state(&healthy), "Running", "{}", table.raw);
        assert_eq!(state("closed"), "Stopped", "{}", table.raw);
        assert_eq!(state(&stopped), "Stopped", "{}", table.raw);
    }
    // `status` decides as `ls` does: the daemon answers → Running, else the driver's state
    for (name, want) in [
        (&healthy[..], "Running"),
        ("closed", "Stopped"),
        (&stopped[..], "Stopped"),
    ] {
        assert_eq!(cli.ok(&["status", name]).trim(), want, "status {name}");
    }

    // a daemon that answers at the machine's recorded address with the machine's own server
    // certificate is proof enough: `status` and `env` start no driver (here there is none to
    // start: a copy of `machine` alone in a folder, and no driver on PATH)
    let alone = tempfile::tempdir().unwrap();
    let lone = alone.path().join("machine");
    std::fs::copy(machine_e2e::workspace_bin("machine"), &lone).unwrap();
    let without_driver = |args: &[&str]| {
        let mut cmd = cli.command_of(&lone, args);
        cmd.env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin");
        machine_e2e::call(&mut cmd, args, machine_e2e::CALL_TIMEOUT)
    };
    let out = without_driver(&["status", &healthy]);
    assert!(out.success, "{out}");
    assert_eq!(out.stdout.trim(), "Running", "{out}");
    let out = without_driver(&["env", &healthy]);
    assert!(out.success, "{out}");
    let vars = machine_testsupport::parse_exports(&out.stdout);
    assert_eq!(
        machine_e2e::var(&vars, "DOCKER_HOST"),
        Some(format!("tcp://{}:2376", up.ip).as_str())
    );
    machine_e2e::docker_ok(&vars, &["version"]);
    // a machine whose daemon is silent still needs its driver, and says so
    let out = without_driver(&["status", &stopped]);
    assert!(!out.success, "{out}");
    assert!(out.stderr.contains("generic"), "{out}");
}
