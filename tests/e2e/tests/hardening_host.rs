//! What a killed process and a hostile host still could do, tried against real test hosts and
//! the real `machine` CLI: a create killed while Docker restarts with our options must not leave
//! the daemon's TLS port open after `rm -f`; a host answering the Docker API without end must
//! not make `machine` grow without end.

use machine_e2e::{timed, unique_name, Cli, CREATE_TIMEOUT};
use machine_testsupport::TestHost;
use std::io::Read;
use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// The systemd state of docker.service on `host` (`active`, `activating`, `inactive`, ...).
fn docker_unit_state(host: &TestHost) -> String {
    let out = host.exec_output("systemctl is-active docker.service");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// Waits until `cond` holds on `host`, checking every 200 ms, at most `timeout`.
fn wait_until(what: &str, timeout: Duration, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !cond() {
        assert!(Instant::now() < deadline, "{what}: not within {timeout:?}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// What listens on TCP port 2376 of `host`, as `ss` shows it (empty when nothing does).
fn listening_on_2376(host: &TestHost) -> String {
    let out = host.exec_output("ss -Hltnp 'sport = :2376'");
    assert!(out.status.success(), "ss failed: {out:?}");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// Issue 20 item 1: `machine create` killed while Docker restarts with our options — the unit
/// still `activating`, dockerd already listening with them (the host's own drop-in runs a 15 s
/// `ExecStartPost` after dockerd started, as a slow start-up would keep the unit starting) —
/// then `rm -f`. Once rm is done nothing listens on 2376; once the
/// unit settles, dockerd runs without `--tlsverify`, Docker still answers on its local socket,
/// and rm said the port was closed only once it was.
#[test]
fn rm_after_a_create_killed_while_docker_restarts_leaves_the_tls_port_closed() {
    let cli = Cli::new();
    let host = timed("test host start", TestHost::start_with_docker);
    host.exec(
        "mkdir -p /etc/systemd/system/docker.service.d && \
         printf '[Service]\\nExecStartPost=/bin/sleep 15\\n' \
           > /etc/systemd/system/docker.service.d/slow-start.conf && \
         systemctl daemon-reload",
    );
    let name = unique_name("e2e-killed-restart");
    let key = host.key.private.to_str().unwrap();
    let args = [
        "create",
        "-d",
        "generic",
        "--generic-ip-address",
        &host.ip,
        "--generic-ssh-user",
        &host.user,
        "--generic-ssh-key",
        key,
        &name,
    ];
    let mut create = cli
        .command(&args)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("machine create");
    let stderr = create.stderr.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            eprintln!("create: {line}");
            if line.contains("Restarting Docker") {
                let _ = tx.send(());
            }
        }
    });
    rx.recv_timeout(CREATE_TIMEOUT)
        .expect("create never reached the Docker restart");
    // the restart with our options has begun on the host: kill the workstation side
    wait_until(
        "docker.service activating, dockerd listening on 2376",
        Duration::from_secs(30),
        || docker_unit_state(&host) == "activating" && !listening_on_2376(&host).is_empty(),
    );
    create.kill().unwrap();
    create.wait().unwrap();
    assert_eq!(
        docker_unit_state(&host),
        "activating",
        "the unit was to be still starting when rm runs"
    );

    let rm = cli.call(&["rm", "-f", "-y", &name]);
    assert!(rm.success, "{rm}");
    assert!(cli.ls().row(&name).is_none(), "{rm}");
    let listening = listening_on_2376(&host);
    assert!(
        listening.is_empty(),
        "dockerd still listens on 2376 after rm -f:\n{listening}\nrm said:\n{rm}"
    );
    // whatever rm left starting has settled
    wait_until("docker.service settled", Duration::from_secs(60), || {
        docker_unit_state(&host) != "activating"
    });
    let listening = listening_on_2376(&host);
    assert!(
        listening.is_empty(),
        "dockerd still listens on 2376 after rm -f:\n{listening}\nrm said:\n{rm}"
    );
    let dockerd = host.exec("ps -o args= -C dockerd || true");
    assert!(!dockerd.contains("--tlsverify"), "{dockerd}");
    // Docker stays, on its local socket
    assert_eq!(docker_unit_state(&host), "active");
    host.exec("docker version --format '{{.Server.Version}}'");
    assert!(
        rm.stderr.contains("port 2376 is closed"),
        "rm says the port is closed once it checked:\n{rm}"
    );
}

/// The peak memory (VmHWM, KiB) of running process `pid` now, if it still runs.
fn peak_kib(pid: u32) -> Option<u64> {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()?
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

/// Runs `machine ARGS`, watching its peak memory; returns (success, stderr, peak MiB).
fn machine_with_peak(cli: &Cli, args: &[&str]) -> (bool, String, u64) {
    let mut child = cli
        .command(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("machine");
    let pid = child.id();
    let mut stderr = child.stderr.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stderr.read_to_string(&mut text);
        text
    });
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut peak = 0;
    let status = loop {
        if let Some(kib) = peak_kib(pid) {
            peak = peak.max(kib);
        }
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("machine {args:?} ran for 120 s (peak {} MiB)", peak / 1024);
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let stderr = reader.join().unwrap();
    eprintln!(
        "machine {args:?}: {status}, peak {} MiB\n{stderr}",
        peak / 1024
    );
    (status.success(), stderr, peak / 1024)
}

/// Issue 20 item 4: a host whose every command answers without end (sshd runs `yes` for the
/// login user, whatever was asked). `machine provision` stops reading at the bound of a
/// command's output, says which bound it hit, and stays under 256 MiB of memory.
#[test]
fn machine_provision_against_endless_command_output_stops_at_its_bound_under_256_mib() {
    let cli = Cli::new();
    let host = timed("test host start", TestHost::start_with_docker);
    let name = unique_name("e2e-endless-ssh");
    let out = cli.create_on(&host, &[], &name);
    assert!(out.success, "{out}");
    host.exec("printf 'Match User nick\\n  ForceCommand yes\\n' >> /etc/ssh/sshd_config");
    host.reload_sshd();
    let (success, stderr, peak) = machine_with_peak(&cli, &["provision", &name]);
    assert!(peak < 256, "machine provision grew to {peak} MiB");
    assert!(!success, "{stderr}");
    assert!(
        stderr.contains("more than 67108864 bytes to its stdout"),
        "the error says which bound was hit:\n{stderr}"
    );
}

/// Issue 20 item 4: the machine's address answers `GET /version` over its own TLS (the host's
/// certificates, Docker stopped) with an endless body, once it got the request. `machine version` stops reading at the
/// bound of a daemon's answer, says which bound it hit, and stays under 256 MiB of memory.
#[test]
fn machine_version_against_an_endless_answer_stops_at_its_bound_under_256_mib() {
    let cli = Cli::new();
    let host = timed("test host start", TestHost::start_with_docker);
    let name = unique_name("e2e-endless");
    let out = cli.create_on(&host, &[], &name);
    assert!(out.success, "{out}");
    host.exec(
        "systemctl stop docker.service docker.socket && \
         nohup sh -c '{ until grep -q GET /tmp/endless.log; do sleep 0.1; done; printf \"HTTP/1.1 200 OK\\r\\nContent-Type: application/json\\r\\n\\r\\n{\\\"Version\\\":\\\"\"; \
           yes xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx | tr -d \"\\n\"; } | \
           openssl s_server -quiet -accept 2376 -naccept 1 -cert /etc/docker/server.pem \
             -key /etc/docker/server-key.pem -CAfile /etc/docker/ca.pem' \
           >/tmp/endless.log 2>&1 &",
    );
    wait_until(
        "the endless server listens",
        Duration::from_secs(30),
        || listening_on_2376(&host).contains("openssl"),
    );
    let (success, stderr, peak) = machine_with_peak(&cli, &["version", &name]);
    assert!(peak < 256, "machine version grew to {peak} MiB");
    assert!(!success, "{stderr}");
    assert!(
        stderr.contains("/version with more than 16777216 bytes"),
        "the error says which bound was hit:\n{stderr}"
    );
}
