//! The generic driver end to end (issue 2): the `machine` CLI (target/debug/machine) installs
//! Docker on a fresh test host over SSH, then the real `docker` client drives that host's
//! daemon over mutual TLS with the environment `machine env` prints. Then the bad input cases:
//! each fails with an error naming the cause, and leaves nothing `ls` shows as healthy.
//!
//! Needs scripts/test-env.sh (Docker engine, test-host image) and `cargo build --workspace
//! --bins`; scripts/test.sh does both. Nothing here skips: a missing piece panics saying so.

use std::path::Path;

use machine_e2e::support::{self, FileServer, KeyPair, TestHost};
use machine_e2e::{
    docker_ok, install_script, local_container_names, timed, unique_name, var, Cli, RESTART_TIMEOUT,
};

const SUITE: &str = "bookworm";
const IMAGE: &str = "busybox-local";

/// `create` succeeded; checks `ls`, `status`, `ip`, `url`, `inspect`, `env`, and that the docker
/// client with that environment talks to the host's daemon. Returns the environment.
fn check_created_machine(cli: &Cli, host: &TestHost, name: &str) -> Vec<(String, String)> {
    let url = format!("tcp://{}:2376", host.ip);

    // env: the four variables, pointing at the host and at the machine's certs.
    let env = cli.env(name);
    assert_eq!(var(&env, "DOCKER_TLS_VERIFY"), Some("1"), "{env:?}");
    assert_eq!(var(&env, "DOCKER_HOST"), Some(url.as_str()), "{env:?}");
    assert_eq!(var(&env, "DOCKER_MACHINE_NAME"), Some(name), "{env:?}");
    let cert_path = var(&env, "DOCKER_CERT_PATH").expect("DOCKER_CERT_PATH");
    assert_eq!(
        Path::new(cert_path)
            .canonicalize()
            .expect("cert path exists"),
        cli.machine_dir(name).canonicalize().expect("machine dir"),
        "DOCKER_CERT_PATH must be the machine's folder in the store"
    );
    for f in ["ca.pem", "cert.pem", "key.pem"] {
        assert!(
            Path::new(cert_path).join(f).is_file(),
            "{cert_path}/{f} missing (the docker client needs it)"
        );
    }

    // docker version: a Server section, from the remote daemon.
    let version = docker_ok(&env, &["version"]);
    assert!(version.contains("Client"), "{version}");
    assert!(version.contains("Server:"), "no Server section:\n{version}");
    let server_version = docker_ok(&env, &["version", "--format", "{{.Server.Version}}"]);
    let server_version = server_version.trim();
    assert!(!server_version.is_empty());
    let remote_name = docker_ok(&env, &["info", "--format", "{{.Name}}"]);
    assert_eq!(
        remote_name.trim(),
        name,
        "the daemon answering is not the machine's (docker info Name)"
    );

    // ls: NAME, generic, Running, the URL, the Docker version of the remote daemon.
    let table = cli.ls();
    for col in [
        "NAME", "ACTIVE", "DRIVER", "STATE", "URL", "SWARM", "DOCKER", "ERRORS",
    ] {
        assert!(
            table.columns.iter().any(|c| c == col),
            "`ls` lacks column {col}:\n{}",
            table.raw
        );
    }
    let row = table
        .row(name)
        .unwrap_or_else(|| panic!("`ls` does not list {name}:\n{}", table.raw));
    assert_eq!(row["DRIVER"], "generic", "{}", table.raw);
    assert_eq!(row["STATE"], "Running", "{}", table.raw);
    assert_eq!(row["URL"], url, "{}", table.raw);
    assert_eq!(row["DOCKER"], format!("v{server_version}"), "{}", table.raw);
    assert_eq!(row["ERRORS"], "", "{}", table.raw);

    // status, ip, url, inspect.
    assert_eq!(cli.ok(&["status", name]).trim(), "Running");
    assert_eq!(cli.ok(&["ip", name]).trim(), host.ip);
    assert_eq!(cli.ok(&["url", name]).trim(), url);
    let inspect = cli.ok(&["inspect", name]);
    let json: serde_json::Value = serde_json::from_str(&inspect)
        .unwrap_or_else(|e| panic!("`inspect {name}` is not JSON ({e}):\n{inspect}"));
    assert!(json.is_object(), "inspect must print a JSON object");
    for needle in [
        format!("\"{name}\""),
        host.ip.clone(),
        "generic".to_string(),
    ] {
        assert!(
            inspect.contains(&needle),
            "`inspect {name}` does not mention {needle}:\n{inspect}"
        );
    }
    // The daemon's configuration on the host: TLS on 2376, label provider=generic.
    let labels = docker_ok(&env, &["info", "--format", "{{json .Labels}}"]);
    assert!(
        labels.contains("provider=generic"),
        "docker info shows no label provider=generic: {labels}"
    );
    env
}

/// Logins sshd on `host` has accepted so far (its log's "Accepted publickey" lines).
fn ssh_logins(host: &TestHost) -> usize {
    // by syslog identifier: journald may file the line under the login's session, not ssh.service
    host.exec(
        "journalctl -t sshd -t sshd-session --no-pager -o cat | grep -c '^Accepted publickey' || true",
    )
        .trim()
        .parse()
        .expect("a count")
}

/// `machine rm -y NAME` removes the machine and its folder; the name is then unknown.
fn check_removed(cli: &Cli, name: &str) {
    cli.ok(&["rm", "-y", name]);
    assert_gone(cli, name);
}

/// After `rm`: no folder, no row, and `status` names the machine that is gone.
fn assert_gone(cli: &Cli, name: &str) {
    assert!(
        !cli.machine_dir(name).exists(),
        "rm left {}",
        cli.machine_dir(name).display()
    );
    let table = cli.ls();
    assert!(table.row(name).is_none(), "still listed:\n{}", table.raw);
    let status = cli.fail(&["status", name]);
    assert!(
        status.stderr.contains(name),
        "`status` of a removed machine must name it:\n{status}"
    );
}

/// Issue 2's end-to-end test, with the install script served by a local HTTP server
/// (`--engine-install-url`): create, ls, env + docker (version, run, ps -a, info), ssh, stop
/// (not supported), restart (a real reboot), rm.
#[test]
fn generic_create_with_install_url_then_drive_remote_docker() {
    let cli = Cli::new();
    // a fixed address: this host reboots, and on Docker's default bridge it could come back at
    // another one while other tests start and remove containers
    let host = timed("test host start", || TestHost::start_fixed_ip(SUITE));
    let server = FileServer::start("/install.sh", install_script());
    let name = unique_name("e2e-url");

    // create: Docker is installed through our provisioner, with the served script.
    assert!(
        host.exec_output("command -v docker").stdout.is_empty(),
        "the test host must start without Docker"
    );
    let url = server.url();
    let key = host.key.private.to_str().unwrap().to_string();
    let create = [
        "create",
        "-d",
        "generic",
        "--generic-ip-address",
        &host.ip,
        "--generic-ssh-user",
        &host.user,
        "--generic-ssh-key",
        &key,
        "--engine-install-url",
        &url,
        &name,
    ];
    let (out, mut trace) = timed("create (install url)", || {
        traced(&cli, &create, machine_e2e::CREATE_TIMEOUT)
    });
    assert!(out.success, "create failed:\n{out}");
    let fetched: Vec<_> = server
        .requests()
        .into_iter()
        .filter(|r| r.status == 200 && r.peer.ip().to_string() == host.ip)
        .collect();
    assert!(
        !fetched.is_empty(),
        "the host never fetched the install script from {url}: {:?}",
        server.requests()
    );
    let pkg = host.exec("dpkg-query -W -f='${Version}' docker.io");
    assert!(
        pkg.starts_with(|c: char| c.is_ascii_digit()),
        "docker.io not installed by the script: {pkg:?}"
    );

    let env = check_created_machine(&cli, &host, &name);

    // The user's key was used once, to install the machine's own key (as ssh-copy-id does): the
    // store keeps no copy of the user's key, and the host now accepts the machine's key.
    let user_key = std::fs::read(&host.key.private).unwrap();
    for entry in std::fs::read_dir(cli.machine_dir(&name)).unwrap() {
        let path = entry.unwrap().path();
        assert_ne!(
            std::fs::read(&path).ok().as_deref(),
            Some(user_key.as_slice()),
            "the store holds a copy of the user's key: {}",
            path.display()
        );
    }
    let authorized = host.exec("cat /home/nick/.ssh/authorized_keys");
    assert!(
        authorized.contains(&format!("machine-{name}")),
        "the machine's key is not in authorized_keys:\n{authorized}"
    );

    // A container on the remote engine, from an image imported there.
    timed("busybox image build (remote)", || {
        support::build_busybox_image(&env, IMAGE)
    });
    let hello = docker_ok(&env, &["run", "--rm", IMAGE, "sh", "-c", "echo hello"]);
    assert_eq!(hello, "hello\n");
    let marker = format!("{name}-marker");
    docker_ok(&env, &["run", "--name", &marker, IMAGE, "true"]);

    // docker ps -a there lists the remote containers, not this machine's.
    let remote: Vec<String> = docker_ok(&env, &["ps", "-a", "--format", "{{.Names}}"])
        .lines()
        .map(str::to_string)
        .collect();
    let local = local_container_names();
    assert!(
        remote.contains(&marker),
        "remote `docker ps -a` lacks {marker}: {remote:?}"
    );
    assert!(
        local.contains(&host.name),
        "the local engine runs the test host"
    );
    for l in &local {
        assert!(
            !remote.contains(l),
            "remote `docker ps -a` lists local container {l}: {remote:?}"
        );
    }
    assert!(
        !local.contains(&marker),
        "the remote container shows up locally: {local:?}"
    );
    assert_eq!(
        host.exec(&format!(
            "docker ps -a --format '{{{{.Names}}}}' --filter name={marker}"
        ))
        .trim(),
        marker,
        "the container is not on the host's engine"
    );

    // ssh: hostname is the machine name.
    assert_eq!(cli.ok(&["ssh", &name, "hostname"]).trim(), name);

    // stop: not supported by the generic driver, and says so.
    let stop = cli.fail(&["stop", &name]);
    let text = stop.text_lower();
    assert!(
        text.contains("generic") && text.contains("not support") && text.contains("stop"),
        "stop must say the generic driver does not support it:\n{stop}"
    );
    assert_eq!(cli.ok(&["status", &name]).trim(), "Running");

    // restart: a real reboot; Docker answers again when it returns.
    let started = host.started_at();
    let restarts = host.restart_count();
    let (out, restart_trace) = timed("restart", || {
        traced(&cli, &["restart", &name], RESTART_TIMEOUT)
    });
    assert!(out.success, "restart failed:\n{out}");
    trace.extend(restart_trace);
    assert!(
        host.started_at() != started && host.restart_count() > restarts,
        "restart returned but the host did not reboot (container StartedAt {started}, \
         restarts {restarts})"
    );
    let version = docker_ok(&env, &["version"]);
    assert!(
        version.contains("Server:"),
        "docker does not answer after restart:\n{version}"
    );
    let after = docker_ok(&env, &["ps", "-a", "--format", "{{.Names}}"]);
    assert!(
        after.contains(&marker),
        "the remote container is gone after reboot: {after}"
    );
    assert_eq!(cli.ok(&["status", &name]).trim(), "Running");

    // the library's secrets, read before rm takes them: none of them crosses the protocol
    let secrets = private_keys(&cli, &name, &host.key.private);
    let (out, rm_trace) = traced(&cli, &["rm", "-y", &name], machine_e2e::CALL_TIMEOUT);
    assert!(out.success, "rm failed:\n{out}");
    trace.extend(rm_trace);
    assert_gone(&cli, &name);
    assert_no_secret_crossed(&trace, &secrets);
    // rm took the machine's key off the host, and only that key
    let authorized = host.exec("cat /home/nick/.ssh/authorized_keys");
    assert!(
        !authorized.contains(&format!("machine-{name}")),
        "rm left the machine's key in authorized_keys:\n{authorized}"
    );
    assert!(
        authorized.contains(host.key.public.trim()),
        "rm removed the user's own key:\n{authorized}"
    );
}

/// Runs `machine ARGS` with the protocol trace on (`MACHINE_LOG`); returns the output and the
/// protocol messages it logged, both ways.
fn traced(
    cli: &Cli,
    args: &[&str],
    timeout: std::time::Duration,
) -> (machine_e2e::CallOutput, Vec<String>) {
    let mut cmd = cli.command(args);
    cmd.env("MACHINE_LOG", "warn,machine_core::protocol=debug");
    let out = machine_e2e::call(&mut cmd, args, timeout);
    let trace = out
        .stderr
        .lines()
        .filter(|l| l.contains("\"jsonrpc\":\"2.0\"") && (l.contains(" -> ") || l.contains(" <- ")))
        .map(str::to_string)
        .collect();
    (out, trace)
}

/// The base64 lines of every private key the library holds for machine `name` (its SSH key,
/// the server key, the store's CA and client keys) and of the user's own key.
fn private_keys(cli: &Cli, name: &str, user_key: &Path) -> Vec<String> {
    let mut files: Vec<std::path::PathBuf> = std::fs::read_dir(cli.machine_dir(name))
        .unwrap()
        .chain(std::fs::read_dir(cli.store().join("certs")).unwrap())
        .map(|e| e.unwrap().path())
        .collect();
    files.push(user_key.to_path_buf());
    let mut lines = Vec::new();
    for f in files {
        let Ok(text) = std::fs::read_to_string(&f) else {
            continue;
        };
        if text.contains("PRIVATE KEY") {
            lines.extend(
                text.lines()
                    .filter(|l| !l.starts_with("-----") && l.len() >= 40)
                    .map(str::to_string),
            );
        }
    }
    assert!(lines.len() > 4, "the store's private keys were not found");
    lines
}

/// Every message of create, restart and rm was seen, and none holds a private key.
fn assert_no_secret_crossed(trace: &[String], secrets: &[String]) {
    for method in [
        "initialize",
        "set_config",
        "pre_create_check",
        "create",
        "access",
        "remove",
    ] {
        assert!(
            trace
                .iter()
                .any(|l| l.contains(&format!("\"method\":\"{method}\""))),
            "the protocol trace lacks {method}:\n{}",
            trace.join("\n")
        );
    }
    for line in trace {
        assert!(
            !line.contains("PRIVATE KEY") && !line.contains("private_key"),
            "a private key crossed the protocol: {line}"
        );
        for s in secrets {
            assert!(
                !line.contains(s.as_str()),
                "a private key crossed the protocol: {line}"
            );
        }
    }
}

/// The distribution-package install method (`--engine-install-method packages`).
#[test]
fn generic_create_with_distribution_packages() {
    let cli = Cli::new();
    let host = timed("test host start", || TestHost::start(SUITE));
    let name = unique_name("e2e-pkg");
    let logins_before = ssh_logins(&host);
    let out = timed("create (packages)", || {
        cli.create_on(&host, &["--engine-install-method", "packages"], &name)
    });
    assert!(out.success, "create failed:\n{out}");
    // one SSH login for the whole create: the user's key installs the machine's key, and the
    // provisioning goes on over that same connection
    assert_eq!(
        ssh_logins(&host) - logins_before,
        1,
        "SSH logins during create (sshd's log):\n{}",
        host.exec("journalctl -t sshd -t sshd-session --no-pager | grep -i accepted || true")
    );
    let pkg = host.exec("dpkg-query -W -f='${Status} ${Version}' docker.io");
    assert!(
        pkg.starts_with("install ok installed"),
        "docker.io is not installed from Debian's packages: {pkg:?}"
    );
    let env = check_created_machine(&cli, &host, &name);
    let version = docker_ok(&env, &["version", "--format", "{{.Server.Version}}"]);
    assert!(
        pkg.contains(version.trim()),
        "the daemon ({version}) is not the package's ({pkg})"
    );
    assert_eq!(cli.ok(&["ssh", &name, "hostname"]).trim(), name);
    check_removed(&cli, &name);
}

// ---------------------------------------------------------------------------------------------
// Bad input: each fails, names the cause, and leaves nothing healthy behind.

fn assert_mentions(out: &machine_e2e::CallOutput, what: &str, any_of: &[&str]) {
    let text = out.text_lower();
    assert!(
        any_of.iter().any(|w| text.contains(&w.to_lowercase())),
        "the error must name the cause ({what}: one of {any_of:?}):\n{out}"
    );
}

#[test]
fn create_with_unknown_driver_fails() {
    let cli = Cli::new();
    let out = cli.fail(&["create", "-d", "frobnicator", "bad-driver"]);
    assert_mentions(&out, "the driver's name", &["frobnicator"]);
    assert_mentions(&out, "that it is a driver", &["driver"]);
    cli.assert_failed_create_left_nothing_healthy("bad-driver");
}

#[test]
fn create_with_missing_key_file_fails() {
    let cli = Cli::new();
    let host = TestHost::start(SUITE);
    let dir = tempfile::tempdir().expect("tempdir");
    let missing = dir.path().join("no-such-key");
    let out = cli.create_generic(&host.ip, "nick", &missing, &[], "missing-key");
    assert!(!out.success, "expected a failure:\n{out}");
    assert_mentions(&out, "the missing key file", &["no-such-key"]);
    cli.assert_failed_create_left_nothing_healthy("missing-key");
}

#[test]
fn create_on_closed_ssh_port_fails() {
    let cli = Cli::new();
    // A live test host, a port where nothing listens: connection refused.
    let host = TestHost::start(SUITE);
    let out = timed("create (closed port)", || {
        cli.create_on(&host, &["--generic-ssh-port", "2222"], "closed-port")
    });
    assert!(!out.success, "expected a failure:\n{out}");
    assert_mentions(&out, "the address", &[&host.ip]);
    assert_mentions(
        &out,
        "that it cannot connect",
        &["refused", "unreachable", "connect", "timed out", "timeout"],
    );
    cli.assert_failed_create_left_nothing_healthy("closed-port");
}

#[test]
fn create_on_unreachable_host_fails() {
    let cli = Cli::new();
    // A test host taken off the network: its address answers nothing (no other machine can
    // hold that address while the host exists).
    let host = TestHost::start(SUITE);
    host.disconnect();
    let out = timed("create (unreachable host)", || {
        cli.create_on(&host, &[], "unreachable")
    });
    assert!(!out.success, "expected a failure:\n{out}");
    assert_mentions(&out, "the address", &[&host.ip]);
    assert_mentions(
        &out,
        "that it cannot connect",
        &["unreachable", "connect", "timed out", "timeout", "no route"],
    );
    cli.assert_failed_create_left_nothing_healthy("unreachable");
}

#[test]
fn create_with_wrong_user_fails() {
    let cli = Cli::new();
    let host = TestHost::start(SUITE);
    let out = cli.create_generic(&host.ip, "ghostuser", &host.key.private, &[], "wrong-user");
    assert!(!out.success, "expected a failure:\n{out}");
    assert_mentions(
        &out,
        "an authentication failure",
        &["auth", "permission denied", "publickey", "rejected"],
    );
    cli.assert_failed_create_left_nothing_healthy("wrong-user");
}

#[test]
fn create_with_wrong_key_fails() {
    let cli = Cli::new();
    // The right user with a key the host does not know.
    let host = TestHost::start(SUITE);
    let other = KeyPair::new();
    let out = cli.create_generic(&host.ip, "nick", &other.private, &[], "wrong-key");
    assert!(!out.success, "expected a failure:\n{out}");
    assert_mentions(
        &out,
        "an authentication failure",
        &["auth", "permission denied", "publickey", "rejected"],
    );
    cli.assert_failed_create_left_nothing_healthy("wrong-key");
}

#[test]
fn create_as_user_without_sudo_fails() {
    let cli = Cli::new();
    let host = TestHost::start(SUITE);
    host.authorize_key("nosudo", &host.key);
    let out = cli.create_generic(
        &host.ip,
        "nosudo",
        &host.key.private,
        &["--engine-install-method", "packages"],
        "no-sudo",
    );
    assert!(!out.success, "expected a failure:\n{out}");
    assert_mentions(&out, "sudo", &["sudo"]);
    assert!(
        host.exec_output("command -v docker").stdout.is_empty(),
        "nothing must be installed without sudo"
    );
    cli.assert_failed_create_left_nothing_healthy("no-sudo");
}

#[test]
fn create_with_invalid_machine_name_fails() {
    let cli = Cli::new();
    let host = TestHost::start(SUITE);
    for bad in [
        "bad name",
        "-leading-dash",
        "../escape",
        "semi;colon",
        "under_score!",
    ] {
        // `--` so that a name starting with a dash reaches the name check, not the flag parser.
        let extra: &[&str] = if bad.starts_with('-') { &["--"] } else { &[] };
        let out = cli.create_on(&host, extra, bad);
        assert!(!out.success, "name {bad:?} must be refused:\n{out}");
        assert_mentions(&out, "the name", &["name"]);
        assert_mentions(&out, "that the name is invalid", &["invalid", bad]);
        let table = cli.ls();
        assert!(
            table.rows.is_empty(),
            "a refused name left a machine:\n{}",
            table.raw
        );
    }
    assert!(
        !cli.store().join("escape").exists() && !cli.machine_dir("escape").exists(),
        "`../escape` wrote outside the machines folder"
    );
    assert!(
        host.exec_output("command -v docker").stdout.is_empty(),
        "an invalid name must be refused before touching the host"
    );
}

#[test]
fn create_with_duplicate_name_fails() {
    let cli = Cli::new();
    let host = TestHost::start_with_docker();
    let name = unique_name("e2e-dup");
    let first = timed("create (packages, for duplicate)", || {
        cli.create_on(&host, &["--engine-install-method", "packages"], &name)
    });
    assert!(first.success, "first create failed:\n{first}");
    let dup = cli.create_on(&host, &["--engine-install-method", "packages"], &name);
    assert!(!dup.success, "a second create of {name} must fail:\n{dup}");
    assert_mentions(&dup, "the name", &[&name]);
    assert_mentions(&dup, "that it exists", &["exist"]);
    // The first machine is untouched.
    let table = cli.ls();
    let row = table
        .row(&name)
        .unwrap_or_else(|| panic!("{name} gone after a refused duplicate:\n{}", table.raw));
    assert_eq!(row["STATE"], "Running", "{}", table.raw);
    let env = cli.env(&name);
    let v = docker_ok(&env, &["version"]);
    assert!(v.contains("Server:"), "{v}");
    check_removed(&cli, &name);
}

/// The scenario's wish (step 7): a chosen Docker version, with the install script (passed as
/// `VERSION`, as get.docker.com reads it) and with the packages method. A version the host's
/// package source lacks fails naming it; an available one is what the daemon runs.
#[test]
fn generic_create_with_engine_version() {
    let cli = Cli::new();
    let host = timed("test host start", || TestHost::start(SUITE));
    let server = FileServer::start("/install.sh", install_script());
    let url = server.url();

    for method in [
        vec!["--engine-install-url", url.as_str()],
        vec!["--engine-install-method", "packages"],
    ] {
        let name = unique_name("e2e-badver");
        let mut extra = method.clone();
        extra.extend_from_slice(&["--engine-version", "99.9.9"]);
        let out = timed("create (unavailable version)", || {
            cli.create_on(&host, &extra, &name)
        });
        assert!(!out.success, "version 99.9.9 must fail:\n{out}");
        assert_mentions(&out, "the version asked for", &["99.9.9"]);
        cli.assert_failed_create_left_nothing_healthy(&name);
    }

    // The version apt offers, asked for as MAJOR.MINOR through the install script.
    host.exec("apt-get update -qq >/dev/null");
    let candidate = host.exec("apt-cache madison docker.io | head -1 | cut -d'|' -f2 | tr -d ' '");
    let candidate = candidate.trim();
    let major_minor: String = candidate.split('.').take(2).collect::<Vec<_>>().join(".");
    let name = unique_name("e2e-ver");
    let out = timed("create (install url, pinned version)", || {
        cli.create_on(
            &host,
            &[
                "--engine-install-url",
                &url,
                "--engine-version",
                &major_minor,
            ],
            &name,
        )
    });
    assert!(
        out.success,
        "create with --engine-version {major_minor} failed:\n{out}"
    );
    assert_eq!(
        host.exec("dpkg-query -W -f='${Version}' docker.io"),
        candidate
    );
    let env = cli.env(&name);
    let server_version = docker_ok(&env, &["version", "--format", "{{.Server.Version}}"]);
    assert!(
        server_version
            .trim()
            .starts_with(&format!("{major_minor}.")),
        "asked for {major_minor}, the daemon runs {server_version}"
    );
    let table = cli.ls();
    let row = table.row(&name).expect("listed");
    assert!(
        row["DOCKER"].starts_with(&format!("v{major_minor}.")),
        "{}",
        table.raw
    );
    check_removed(&cli, &name);
}

/// Your key can stay in ssh-agent: a passphrase-protected key is used through the agent, once,
/// to install the machine's own key; the machine then works with its own key alone (the agent
/// is gone for the later commands).
#[test]
fn generic_create_through_ssh_agent_with_a_passphrase_protected_key() {
    let cli = Cli::new();
    let host = timed("test host start", || TestHost::start(SUITE));
    let dir = tempfile::tempdir().unwrap();
    // the host accepts this key pair; the copy given to create has a passphrase
    let locked = dir.path().join("id_locked");
    std::fs::copy(&host.key.private, &locked).unwrap();
    support::run(
        std::process::Command::new("ssh-keygen")
            .args(["-q", "-p", "-P", "", "-N", "correct horse battery", "-f"])
            .arg(&locked),
    );
    // an agent holding the key unlocked (added from the unprotected original)
    let sock = dir.path().join("agent.sock");
    let mut agent = std::process::Command::new("ssh-agent")
        .arg("-D")
        .arg("-a")
        .arg(&sock)
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("ssh-agent (Debian: openssh-client)");
    for _ in 0..100 {
        if sock.exists() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    support::run(
        std::process::Command::new("ssh-add")
            .env("SSH_AUTH_SOCK", &sock)
            .arg(&host.key.private),
    );

    let name = unique_name("e2e-agent");
    let args = [
        "create",
        "-d",
        "generic",
        "--generic-ip-address",
        &host.ip,
        "--generic-ssh-user",
        &host.user,
        "--generic-ssh-key",
        locked.to_str().unwrap(),
        "--engine-install-method",
        "packages",
        &name,
    ];
    let mut cmd = cli.command(&args);
    cmd.env("SSH_AUTH_SOCK", &sock);
    let out = timed("create through ssh-agent", || {
        machine_e2e::call(&mut cmd, &args, machine_e2e::CREATE_TIMEOUT)
    });
    let _ = agent.kill();
    let _ = agent.wait();
    assert!(out.success, "create through the agent failed:\n{out}");
    // without the agent: the machine's own key
    assert_eq!(cli.ok(&["ssh", &name, "hostname"]).trim(), name);
    let authorized = host.exec("cat /home/nick/.ssh/authorized_keys");
    assert!(
        authorized.contains(&format!("machine-{name}")),
        "{authorized}"
    );

    // a passphrase-protected key without an agent is a clear error, before anything is made
    let args = [
        "create",
        "-d",
        "generic",
        "--generic-ip-address",
        &host.ip,
        "--generic-ssh-user",
        &host.user,
        "--generic-ssh-key",
        locked.to_str().unwrap(),
        "no-agent",
    ];
    let mut cmd = cli.command(&args);
    cmd.env_remove("SSH_AUTH_SOCK");
    let out = machine_e2e::call(&mut cmd, &args, machine_e2e::CREATE_TIMEOUT);
    assert!(!out.success);
    assert_mentions(&out, "the passphrase", &["passphrase"]);
    assert_mentions(&out, "the agent", &["ssh-agent", "ssh-add"]);
    assert!(cli.ls().row("no-agent").is_none());

    cli.ok(&["rm", "-y", &name]);
}
