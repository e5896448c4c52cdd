//! The store and its certificates under hostile or unlucky conditions (issue 10, "The store"):
//! a store others can access is refused, an imported CA whose key is another's is refused, two
//! `create` processes of one name leave one machine, `ls` flags a certificate the machine's CA
//! did not sign and `provision` renews it, `rotate-ca` moves the fleet to a new CA while a
//! machine it cannot reach keeps working under the old one, and `rm` of a generic machine takes
//! its daemon's TCP port and TLS files back (or leaves them with `--keep-on-host`).
//!
//! Real parts only: test hosts with sshd and systemd, Docker (already on the host:
//! Debian's docker.io; our provisioner configures the TLS daemon), the
//! real `docker` client over TLS. Nothing here skips.

use machine_e2e::support::{self, TestHost};
use machine_e2e::{docker_ok, timed, unique_name, Cli, CALL_TIMEOUT, CREATE_TIMEOUT};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

fn read(p: &Path) -> String {
    std::fs::read_to_string(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

fn chmod(p: &Path, mode: u32) {
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).unwrap();
}

/// Whether something accepts TCP connections at `ip:port`.
fn port_open(ip: &str, port: u16) -> bool {
    let addr = format!("{ip}:{port}").parse().expect("address");
    std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(3)).is_ok()
}

/// `docker` with the given TLS files (a DOCKER_CERT_PATH folder) against `host_url`.
fn docker_with(cert_dir: &Path, host_url: &str, args: &[&str]) -> std::process::Output {
    let env = vec![
        ("DOCKER_HOST".to_string(), host_url.to_string()),
        ("DOCKER_TLS_VERIFY".to_string(), "1".to_string()),
        (
            "DOCKER_CERT_PATH".to_string(),
            cert_dir.display().to_string(),
        ),
    ];
    support::run_with_timeout(support::docker_cmd(&env).args(args), CALL_TIMEOUT)
}

fn url_of(cli: &Cli, name: &str) -> String {
    cli.ok(&["url", name]).trim().to_string()
}

fn create(cli: &Cli, host: &TestHost, name: &str) {
    let out = timed("create", || {
        cli.create_on(host, &["--engine-install-method", "packages"], name)
    });
    assert!(out.success, "create {name} failed:\n{out}");
}

#[test]
fn a_store_others_can_access_or_a_mismatched_ca_key_is_refused() {
    let cli = Cli::new();
    cli.ok(&["ls"]);
    let store = cli.store().to_path_buf();

    chmod(&store, 0o755);
    let out = cli.fail(&["ls"]);
    assert!(
        out.stderr.contains("accessible to others") && out.stderr.contains("chmod 700"),
        "a 0755 store must be refused with the fix:\n{out}"
    );
    chmod(&store, 0o700);

    // a CA key someone else could read (or planted)
    let certs = store.join("certs");
    std::fs::write(certs.join("ca-key.pem"), "planted").unwrap();
    chmod(&certs.join("ca-key.pem"), 0o644);
    let out = cli.fail(&["ls"]);
    assert!(
        out.stderr.contains("ca-key.pem") && out.stderr.contains("chmod 600"),
        "{out}"
    );
    std::fs::remove_file(certs.join("ca-key.pem")).unwrap();
    cli.ok(&["ls"]);

    // an imported CA whose key belongs to another certificate
    let dir = tempfile::tempdir().unwrap();
    let openssl = |args: &[&str]| {
        let out = Command::new("openssl")
            .args(args)
            .current_dir(dir.path())
            .output()
            .expect("openssl");
        assert!(out.status.success(), "openssl {args:?}: {out:?}");
    };
    for n in ["a", "b"] {
        openssl(&[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            &format!("{n}-key.pem"),
            "-out",
            &format!("{n}.pem"),
            "-days",
            "30",
            "-subj",
            &format!("/CN={n}"),
        ]);
    }
    let p = |f: &str| dir.path().join(f).display().to_string();
    let out = cli.fail(&[
        "--tls-ca-cert",
        &p("a.pem"),
        "--tls-ca-key",
        &p("b-key.pem"),
        "--tls-client-cert",
        &p("b.pem"),
        "--tls-client-key",
        &p("b-key.pem"),
        "ls",
    ]);
    assert!(
        out.stderr
            .contains("CA key does not belong to the CA certificate")
            && out.stderr.contains("--tls-ca-key"),
        "{out}"
    );
    assert!(
        !certs.join("ca.pem").exists(),
        "a refused import left a CA in the store"
    );
}

#[test]
fn two_create_processes_of_one_name_leave_one_machine() {
    let cli = Cli::new();
    let host = timed("test host start", TestHost::start_with_docker);
    let name = unique_name("e2e-race");
    let spawn = || {
        let mut cmd = cli.command(&[
            "create",
            "-d",
            "generic",
            "--generic-ip-address",
            &host.ip,
            "--generic-ssh-user",
            &host.user,
            "--generic-ssh-key",
            host.key.private.to_str().unwrap(),
            "--engine-install-method",
            "packages",
            &name,
        ]);
        cmd.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn machine create")
    };
    // two OS processes, started together: both race on the store's record
    let (a, b) = (spawn(), spawn());
    let outs = timed("two creates", || {
        [a, b].map(|c| c.wait_with_output().expect("wait for create"))
    });
    let text = |o: &std::process::Output| {
        format!(
            "{}\n{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        )
    };
    let won: Vec<_> = outs.iter().filter(|o| o.status.success()).collect();
    let lost: Vec<_> = outs.iter().filter(|o| !o.status.success()).collect();
    assert_eq!(
        (won.len(), lost.len()),
        (1, 1),
        "exactly one create must win:\n{}\n---\n{}",
        text(&outs[0]),
        text(&outs[1])
    );
    let lost = String::from_utf8_lossy(&lost[0].stderr);
    assert!(
        lost.contains("already exists") && lost.contains(&name),
        "the loser must say the name exists:\n{lost}"
    );
    // the winner's machine is whole and works
    let table = cli.ls();
    let row = table.row(&name).expect("the winner is listed");
    assert_eq!(row["STATE"], "Running", "{}", table.raw);
    assert_eq!(row["ERRORS"], "", "{}", table.raw);
    let v = docker_ok(
        &cli.env(&name),
        &["version", "--format", "{{.Server.Version}}"],
    );
    assert!(!v.trim().is_empty());
    cli.ok(&["rm", "-y", &name]);
}

#[test]
fn rotate_ca_moves_reachable_machines_and_leaves_the_unreachable_working() {
    let cli = Cli::new();
    let up = timed("test hosts start", TestHost::start_with_docker);
    // restarted later: a fixed address, so that it comes back where its record says
    let down = TestHost::start_fixed_ip_with_docker();
    let (moved, left) = (unique_name("e2e-rot-up"), unique_name("e2e-rot-down"));
    create(&cli, &up, &moved);
    create(&cli, &down, &left);
    let old_ca = read(&cli.machine_dir(&moved).join("ca.pem"));
    let old_client = tempfile::tempdir().unwrap();
    for f in ["cert.pem", "key.pem"] {
        std::fs::copy(cli.machine_dir(&moved).join(f), old_client.path().join(f)).unwrap();
    }
    let (moved_url, left_url) = (url_of(&cli, &moved), url_of(&cli, &left));

    down.stop();
    let out = timed("rotate-ca", || {
        cli.call_with_timeout(&["rotate-ca", "-f"], CREATE_TIMEOUT)
    });
    assert!(!out.success, "a machine was not rotated: must fail:\n{out}");
    assert!(
        out.stdout
            .contains(&format!("Machine \"{moved}\" trusts the new CA")),
        "{out}"
    );
    assert!(
        out.stderr.contains("Not rotated") && out.stderr.contains(&left),
        "the unreachable machine must be listed:\n{out}"
    );

    // the reachable machine: new CA, works with the new client certificate
    let new_ca = read(&cli.machine_dir(&moved).join("ca.pem"));
    assert_ne!(new_ca, old_ca, "the machine's CA did not change");
    assert_eq!(new_ca, read(&cli.store().join("certs/ca.pem")));
    docker_ok(&cli.env(&moved), &["version"]);
    // ... and refuses the old client certificate (the server checked with the new CA)
    std::fs::write(old_client.path().join("ca.pem"), &new_ca).unwrap();
    let refused = docker_with(old_client.path(), &moved_url, &["version"]);
    assert!(
        !refused.status.success(),
        "the daemon accepted the old client certificate: {refused:?}"
    );

    // the unreachable machine keeps the old CA in its record and works under it once back
    assert_eq!(read(&cli.machine_dir(&left).join("ca.pem")), old_ca);
    support::run(Command::new("docker").args(["start", &down.name]));
    down.wait_for_ssh(Duration::from_secs(60));
    let mut answered = false;
    for _ in 0..60 {
        if docker_with(&cli.machine_dir(&left), &left_url, &["version"])
            .status
            .success()
        {
            answered = true;
            break;
        }
        std::thread::sleep(Duration::from_secs(1));
    }
    assert!(
        answered,
        "the machine left under the old CA does not answer with its record's certificates"
    );
    // ...and ls says it is still on the retired CA (and what moves it)
    let table = cli.ls();
    let errors = &table.row(&left).unwrap()["ERRORS"];
    assert!(
        errors.contains("retired CA") && errors.contains(&format!("regenerate-certs {left}")),
        "{}",
        table.raw
    );
    assert_eq!(table.row(&moved).unwrap()["ERRORS"], "", "{}", table.raw);

    // provision moves it to the new CA
    let out = cli.call_with_timeout(&["provision", &left], CREATE_TIMEOUT);
    assert!(out.success, "{out}");
    assert_eq!(read(&cli.machine_dir(&left).join("ca.pem")), new_ca);
    docker_ok(&cli.env(&left), &["version"]);
    let table = cli.ls();
    assert_eq!(table.row(&left).unwrap()["ERRORS"], "", "{}", table.raw);

    // the old way of making a new CA for one machine is refused, pointing at rotate-ca
    let out = cli.fail(&["regenerate-certs", "-f", "--client-certs", &moved]);
    assert!(out.stderr.contains("rotate-ca"), "{out}");
}

#[test]
fn certificates_are_checked_by_ls_renewed_by_provision_and_rm_takes_back_the_daemon_port() {
    let cli = Cli::new();
    let host = timed("test host start", TestHost::start_with_docker);
    let name = unique_name("e2e-rm");
    create(&cli, &host, &name);
    assert!(
        port_open(&host.ip, 2376),
        "the daemon's TLS port is not open"
    );

    // a server certificate the machine's CA did not sign: ls says so
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            "k.pem",
            "-out",
            "c.pem",
            "-days",
            "20",
            "-subj",
            "/CN=intruder",
        ])
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let server_pem = cli.machine_dir(&name).join("server.pem");
    std::fs::copy(dir.path().join("c.pem"), &server_pem).unwrap();
    let table = cli.ls();
    assert!(
        table.row(&name).unwrap()["ERRORS"]
            .contains("server certificate is not signed by the machine's CA"),
        "{}",
        table.raw
    );
    // provision issues a new one
    let out = cli.call_with_timeout(&["provision", &name], CREATE_TIMEOUT);
    assert!(out.success, "{out}");
    let table = cli.ls();
    assert_eq!(table.row(&name).unwrap()["ERRORS"], "", "{}", table.raw);

    // rm takes back the TCP port, our TLS files and the machine's key; Docker stays
    let out = cli.call(&["rm", "-y", &name]);
    assert!(out.success, "{out}");
    assert!(
        out.text_lower().contains("tcp port"),
        "rm must say it closes the daemon's TCP port:\n{out}"
    );
    assert!(!port_open(&host.ip, 2376), "port 2376 still open after rm");
    let left =
        host.exec("ls /etc/docker; ls /etc/systemd/system/docker.service.d 2>/dev/null; true");
    for f in ["ca.pem", "server.pem", "server-key.pem", "10-machine.conf"] {
        assert!(!left.contains(f), "rm left {f} on the host:\n{left}");
    }
    let v = host.exec_output(
        "docker version --format '{{.Server.Version}}'; systemctl status docker.service docker.socket --no-pager | tail -20",
    );
    assert!(
        v.status.success(),
        "docker on the local socket is gone: {}{}",
        String::from_utf8_lossy(&v.stdout),
        String::from_utf8_lossy(&v.stderr)
    );
    let keys = host.exec(&format!("cat /home/{}/.ssh/authorized_keys", host.user));
    assert_eq!(keys.lines().count(), 1, "the machine's key stayed:\n{keys}");

    // --keep-on-host leaves it all, as Docker Machine did
    let kept = unique_name("e2e-keep");
    create(&cli, &host, &kept);
    let out = cli.call(&["rm", "-y", "--keep-on-host", &kept]);
    assert!(out.success, "{out}");
    assert!(port_open(&host.ip, 2376), "--keep-on-host closed the port");
    assert!(host.exec("ls /etc/docker").contains("server.pem"));
}
