//! Faults, tested for real (issue 10): `machine create` and `rm` killed with SIGKILL at seeded,
//! logged moments of every phase — the store's certificates, the pre-create check, the driver's
//! create, the wait for SSH, the server certificate, the package install in the middle of dpkg,
//! copying certificates, the daemon restart, the TLS check; a test host and the vCenter
//! simulator — and after each kill: the store loads, `ls` works and shows nothing healthy that
//! is not, `rm -f` removes what was left, and the host (or vCenter) takes a new create. Then a
//! host whose provisioning fails midway (a package manager that fails, a daemon that does not
//! start): a clear error naming the step, and a new create or `provision` recovers once the host
//! is fixed. And `provision` twice leaves the same daemon configuration; `regenerate-certs
//! --client-certs` rotates the certificates: the new client certificate works and the old one is
//! refused by the daemon.
//!
//! Kill moments: the phase is found from the CLI's progress lines on stderr (for the dpkg phase,
//! from dpkg running on the host), then a delay drawn from a seeded generator. The seed is printed
//! first; `FAULTS_SEED=N` replays the same delays.
//!
//! Needs scripts/test-env.sh and `cargo build --workspace --bins`; nothing here skips.

use machine_e2e::support::{self, host_run_flags, vcsim, FileServer, TestCa, TestHost};
use machine_e2e::{
    docker_ok, install_script, timed, unique_name, var, workspace_bin, Cli, CREATE_TIMEOUT,
};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const SUITE: &str = "bookworm";
const PACKAGES: [&str; 2] = ["--engine-install-method", "packages"];

/// splitmix64, seeded from FAULTS_SEED or the clock; the seed is printed.
struct Rng(u64);

impl Rng {
    fn from_env(test: &str) -> Rng {
        let seed = match std::env::var("FAULTS_SEED") {
            Ok(s) => s.parse().expect("FAULTS_SEED is a number"),
            Err(_) => std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64,
        };
        eprintln!("[faults] {test}: seed {seed} (FAULTS_SEED={seed} replays the kill moments)");
        Rng(seed)
    }

    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A delay of up to `max_ms` milliseconds.
    fn delay(&mut self, max_ms: u64) -> Duration {
        Duration::from_millis(self.next() % (max_ms + 1))
    }
}

/// Where in a create to kill it: after the progress line containing `marker` (and, with
/// `dpkg`, once dpkg runs on the host), plus a seeded delay of up to `max_ms`.
#[derive(Clone, Copy, Debug)]
struct Phase {
    name: &'static str,
    marker: &'static str,
    max_ms: u64,
    dpkg: bool,
}

const fn phase(name: &'static str, marker: &'static str, max_ms: u64) -> Phase {
    Phase {
        name,
        marker,
        max_ms,
        dpkg: false,
    }
}

/// A running CLI command whose stderr lines are collected (and echoed) as they come.
struct Running {
    child: Child,
    lines: Arc<Mutex<Vec<String>>>,
    rx: mpsc::Receiver<String>,
    reader: std::thread::JoinHandle<()>,
}

impl Running {
    fn start(cli: &Cli, args: &[&str], tag: &str) -> Running {
        let mut child = cli
            .command(args)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start machine");
        let stderr = child.stderr.take().unwrap();
        let lines = Arc::new(Mutex::new(Vec::new()));
        let (tx, rx) = mpsc::channel();
        let (seen, tag) = (lines.clone(), tag.to_string());
        let reader = std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                eprintln!("{tag}: {line}");
                seen.lock().unwrap().push(line.clone());
                let _ = tx.send(line);
            }
        });
        Running {
            child,
            lines,
            rx,
            reader,
        }
    }

    /// Waits for a line containing `marker`; false when the command ended first.
    fn wait_for(&mut self, marker: &str, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        loop {
            match self.rx.recv_timeout(Duration::from_millis(200)) {
                Ok(line) if line.contains(marker) => return true,
                Ok(_) => {}
                Err(mpsc::RecvTimeoutError::Disconnected) => return false,
                Err(mpsc::RecvTimeoutError::Timeout) => {}
            }
            assert!(
                Instant::now() < deadline,
                "no progress line containing {marker:?} within {timeout:?}:\n{}",
                self.text()
            );
        }
    }

    fn text(&self) -> String {
        self.lines.lock().unwrap().join("\n")
    }

    /// SIGKILL; true when the command was still running (the kill hit it).
    fn kill(mut self) -> (bool, String) {
        let running = self.child.try_wait().unwrap().is_none();
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = self.reader.join();
        let text = self.lines.lock().unwrap().join("\n");
        (running, text)
    }
}

/// Whether dpkg is running on the host now.
fn dpkg_running(host: &TestHost) -> bool {
    host.exec_output("pgrep -x dpkg >/dev/null")
        .status
        .success()
}

/// Starts a create of `name` on `host`, kills it with SIGKILL at a seeded moment of `phase`,
/// and returns whether the kill hit a running create.
fn kill_create(cli: &Cli, host: &TestHost, name: &str, phase: Phase, delay: Duration) -> bool {
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
        PACKAGES[0],
        PACKAGES[1],
        name,
    ];
    let mut run = Running::start(cli, &args, "create");
    if !run.wait_for(phase.marker, CREATE_TIMEOUT) {
        let (_, text) = run.kill();
        panic!(
            "create ended before the {} phase ({:?}):\n{text}",
            phase.name, phase.marker
        );
    }
    if phase.dpkg {
        let deadline = Instant::now() + Duration::from_secs(240);
        while !dpkg_running(host) {
            assert!(
                Instant::now() < deadline,
                "dpkg never ran on the host:\n{}",
                run.text()
            );
            assert!(
                run.child.try_wait().unwrap().is_none(),
                "create ended before dpkg ran:\n{}",
                run.text()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
    std::thread::sleep(delay);
    let (hit, text) = run.kill();
    let last = text.lines().last().unwrap_or("");
    eprintln!(
        "[faults] SIGKILL in phase {:?}, {delay:?} after {:?}{}: {}; last line {last:?}",
        phase.name,
        phase.marker,
        if phase.dpkg { " and dpkg running" } else { "" },
        if hit {
            "create was running"
        } else {
            "create had already ended"
        },
    );
    hit
}

/// After a killed `rm`: the store loads (`ls` works, whether the machine is still there or not)
/// and `rm -f` removes whatever is left of `name`.
fn assert_rm_recoverable(cli: &Cli, name: &str) {
    let table = cli.ls();
    if table.row(name).is_some() || cli.machine_dir(name).exists() {
        let out = cli.call(&["rm", "-f", name]);
        assert!(out.success, "rm -f after a killed rm failed:\n{out}");
    }
    assert!(cli.ls().row(name).is_none(), "{name} still listed");
    assert!(!cli.machine_dir(name).exists());
}

/// After a killed create: the store loads (`ls` works), nothing unfinished looks healthy, and
/// `rm -f` removes whatever is left of `name` (or it is gone already).
fn assert_recoverable(cli: &Cli, name: &str) {
    // every record in the store loads: `ls` and `inspect` read them
    let table = cli.ls();
    if table.row(name).is_some() {
        let inspect = cli.call(&["inspect", "--format", "{{.Name}}", name]);
        assert!(
            inspect.success,
            "the record a killed create left does not load:\n{inspect}"
        );
    }
    cli.assert_failed_create_left_nothing_healthy(name);
    // rm -f of a name that is gone is not an error worth failing a script for
    let again = cli.call(&["rm", "-f", name]);
    assert!(
        !cli.machine_dir(name).exists(),
        "rm -f left {}:\n{again}",
        cli.machine_dir(name).display()
    );
    assert!(cli.ls().row(name).is_none());
}

/// SIGKILL during every phase of a generic create (each phase a few times, the dpkg phase
/// once), each followed by the checks of [`assert_recoverable`] and a new create on the same host
/// with the same name; then a full create that docker drives, and `rm` killed a few times.
#[test]
fn sigkill_at_every_phase_of_create_and_rm_leaves_nothing_a_new_create_cannot_handle() {
    let mut rng = Rng::from_env("generic kill loop");
    let cli = Cli::new();
    let host = timed("test host start", || TestHost::start(SUITE));
    let name = unique_name("e2e-kill");
    // the order matters: the store's CA exists only until the first create makes it, Docker is
    // installed by the create after the dpkg phase, and the later phases need it installed
    let rounds: &[(Phase, usize)] = &[
        (
            phase(
                "store certificates",
                "Creating CA and client certificates",
                40,
            ),
            1,
        ),
        (
            phase("pre-create check", "Running pre-create checks", 30),
            2,
        ),
        (phase("driver create", "Creating machine...", 20), 2),
        (
            phase("wait for SSH, key install", "Waiting for SSH...", 400),
            2,
        ),
        (
            phase(
                "server certificate",
                "Generating the server certificate",
                40,
            ),
            2,
        ),
        (phase("host check", "Checking the host", 400), 2),
        (
            Phase {
                dpkg: true,
                ..phase("package install mid-dpkg", "Installing Docker", 2500)
            },
            1,
        ),
        (
            phase("copying certificates", "Copying certificates", 200),
            2,
        ),
        (phase("daemon restart", "Restarting Docker", 1500), 2),
        (
            phase("TLS check", "Checking the Docker daemon over TLS", 10),
            2,
        ),
    ];
    let mut hits = 0;
    let mut iteration = 0;
    for (phase, times) in rounds {
        for _ in 0..*times {
            iteration += 1;
            let mut delay = rng.delay(phase.max_ms);
            // a delay past the end of the create kills nothing: again, sooner
            for attempt in 0..3 {
                eprintln!(
                    "[faults] iteration {iteration}: phase {:?}, delay {delay:?}{}",
                    phase.name,
                    if attempt > 0 { " (again)" } else { "" }
                );
                let hit = timed("killed create", || {
                    kill_create(&cli, &host, &name, *phase, delay)
                });
                if hit {
                    assert_recoverable(&cli, &name);
                    hits += 1;
                    break;
                }
                // the create finished: a healthy machine, removed like any other
                cli.ok(&["rm", "-f", &name]);
                delay /= 4;
            }
        }
    }
    assert!(
        hits >= iteration - 2,
        "only {hits} of {iteration} kills hit a running create"
    );

    // the host takes a full create after all that, and docker drives it
    let out = timed("create after the kills", || {
        cli.create_on(&host, &PACKAGES, &name)
    });
    assert!(
        out.success,
        "create after the killed creates failed:\n{out}"
    );
    let env = cli.env(&name);
    assert_eq!(
        docker_ok(&env, &["info", "--format", "{{.Name}}"]).trim(),
        name
    );

    // rm killed at seeded moments; each time the machine is created again
    for round in 1..=3 {
        let delay = rng.delay(300);
        let run = Running::start(&cli, &["rm", "-f", &name], "rm");
        std::thread::sleep(delay);
        let (hit, _) = run.kill();
        eprintln!(
            "[faults] rm round {round}: SIGKILL {delay:?} after it started ({})",
            if hit {
                "rm was running"
            } else {
                "rm had ended"
            }
        );
        assert_rm_recoverable(&cli, &name);
        let out = timed("create after a killed rm", || {
            cli.create_on(&host, &PACKAGES, &name)
        });
        assert!(out.success, "create after a killed rm failed:\n{out}");
    }
    let env = cli.env(&name);
    docker_ok(&env, &["version", "--format", "{{.Server.Version}}"]);
    cli.ok(&["rm", "-f", &name]);
    assert!(cli.ls().rows.is_empty());
}

/// `create` on a host whose package manager fails: the error names the install step and what
/// apt-get said; nothing healthy is left; once the host is fixed, a new create works.
#[test]
fn a_failing_package_manager_is_named_and_a_new_create_recovers() {
    let cli = Cli::new();
    let host = timed("test host start", || TestHost::start(SUITE));
    let name = unique_name("e2e-aptfail");
    // an apt-get that fails as a broken mirror or a full disk makes it fail
    host.exec(
        "printf '#!/bin/sh\\necho \"E: Failed to fetch (simulated by the test)\" >&2\\nexit 100\\n' \
         > /usr/local/bin/apt-get && chmod 0755 /usr/local/bin/apt-get",
    );
    let out = timed("create with a failing apt-get", || {
        cli.create_on(&host, &PACKAGES, &name)
    });
    assert!(
        !out.success,
        "create succeeded with a failing apt-get:\n{out}"
    );
    let text = out.text_lower();
    assert!(
        text.contains("install") && text.contains("docker"),
        "the error must name the Docker install step:\n{out}"
    );
    assert!(
        out.stderr.contains("simulated by the test"),
        "the error must show what apt-get said:\n{out}"
    );
    cli.assert_failed_create_left_nothing_healthy(&name);

    host.exec("rm -f /usr/local/bin/apt-get");
    let out = timed("create on the fixed host", || {
        cli.create_on(&host, &PACKAGES, &name)
    });
    assert!(out.success, "create after fixing apt-get failed:\n{out}");
    let env = cli.env(&name);
    assert_eq!(
        docker_ok(&env, &["info", "--format", "{{.Name}}"]).trim(),
        name
    );

    // ---- a daemon that does not start: an option dockerd rejects
    let bad = unique_name("e2e-baddaemon");
    let out = timed("create with an option dockerd rejects", || {
        cli.create_on(&host, &["--engine-opt", "no-such-daemon-flag=1"], &bad)
    });
    assert!(
        !out.success,
        "create succeeded with a bad daemon option:\n{out}"
    );
    let text = out.text_lower();
    assert!(
        text.contains("restarting docker"),
        "the error must name the daemon restart:\n{out}"
    );
    assert!(
        text.contains("no-such-daemon-flag"),
        "the error must show the daemon's complaint (its log):\n{out}"
    );
    cli.assert_failed_create_left_nothing_healthy(&bad);

    // the first machine's daemon was taken down by that configuration: `provision` brings it
    // back with its own options
    let out = timed("provision the first machine again", || {
        cli.call_with_timeout(&["provision", &name], CREATE_TIMEOUT)
    });
    assert!(out.success, "provision did not recover the daemon:\n{out}");
    assert_eq!(
        docker_ok(&env, &["info", "--format", "{{.Name}}"]).trim(),
        name
    );
    cli.ok(&["rm", "-f", &name]);
}

/// The daemon's configuration on the host: every file under /etc/docker and the systemd
/// drop-in with its mode and owner, and the contents of all but the keys and certificates (the
/// server certificate is issued anew by every provision; key.json is the daemon's own identity).
fn daemon_config(host: &TestHost) -> String {
    let listing = host
        .exec("find /etc/docker /etc/systemd/system/docker.service.d -type f 2>/dev/null | sort");
    let mut out = String::new();
    for file in listing.lines() {
        let stat = host.exec(&format!("stat -c '%a %U:%G' '{file}'"));
        out.push_str(&format!("== {file} {}", stat.trim()));
        out.push('\n');
        if file.ends_with("key.json") {
            out.push_str(&host.exec(&format!("sha256sum '{file}'")));
        } else if !file.ends_with(".pem") {
            out.push_str(&host.exec(&format!("cat '{file}'")));
        }
        out.push('\n');
    }
    out
}

/// `provision` twice gives the same daemon configuration byte for byte (the server certificate
/// is issued anew each time, so the .pem files are compared by name and mode only; the CA stays);
/// `regenerate-certs --client-certs` rotates the certificates: the new client certificate works
/// and the old one is refused by the daemon.
#[test]
fn provision_is_repeatable_and_regenerated_certs_cut_off_the_old_client() {
    let cli = Cli::new();
    let host = timed("test host start", || TestHost::start(SUITE));
    let name = unique_name("e2e-reprov");
    let out = timed("create", || {
        cli.create_on(
            &host,
            &[
                PACKAGES[0],
                PACKAGES[1],
                "--engine-label",
                "env=test",
                "--engine-opt",
                "log-level=warn",
            ],
            &name,
        )
    });
    assert!(out.success, "{out}");
    let first = daemon_config(&host);
    let ca_on_host = host.exec("cat /etc/docker/ca.pem");
    assert!(first.contains("--log-level warn"), "{first}");
    for round in 1..=2 {
        let out = timed("provision", || {
            cli.call_with_timeout(&["provision", &name], CREATE_TIMEOUT)
        });
        assert!(out.success, "provision {round}:\n{out}");
        assert_eq!(
            daemon_config(&host),
            first,
            "provision {round} changed the daemon's configuration"
        );
        assert_eq!(host.exec("cat /etc/docker/ca.pem"), ca_on_host);
    }

    // keep the current client certificate, then rotate
    let env = cli.env(&name);
    let cert_path = var(&env, "DOCKER_CERT_PATH")
        .expect("DOCKER_CERT_PATH")
        .to_string();
    let old = tempfile::tempdir().unwrap();
    for f in ["ca.pem", "cert.pem", "key.pem"] {
        std::fs::copy(Path::new(&cert_path).join(f), old.path().join(f)).unwrap();
    }
    let old_env: Vec<(String, String)> = env
        .iter()
        .map(|(k, v)| {
            if k == "DOCKER_CERT_PATH" {
                (k.clone(), old.path().display().to_string())
            } else {
                (k.clone(), v.clone())
            }
        })
        .collect();
    docker_ok(&old_env, &["version"]);
    let out = timed("rotate-ca", || {
        cli.call_with_timeout(&["rotate-ca", "-f"], CREATE_TIMEOUT)
    });
    assert!(out.success, "{out}");
    let new_env = cli.env(&name);
    let new_cert_path = var(&new_env, "DOCKER_CERT_PATH").unwrap();
    assert_ne!(
        std::fs::read(Path::new(new_cert_path).join("cert.pem")).unwrap(),
        std::fs::read(old.path().join("cert.pem")).unwrap(),
        "the client certificate was not rotated"
    );
    assert_ne!(
        host.exec("cat /etc/docker/ca.pem"),
        ca_on_host,
        "the daemon still trusts the old CA"
    );
    assert_eq!(
        docker_ok(&new_env, &["info", "--format", "{{.Name}}"]).trim(),
        name
    );
    // the old client certificate (with the old CA) is refused
    let refused = support::run_with_timeout(
        support::docker_cmd(&old_env).args(["version", "--format", "{{.Server.Version}}"]),
        Duration::from_secs(60),
    );
    assert!(
        !refused.status.success(),
        "the daemon still accepts the old client certificate:\n{}",
        String::from_utf8_lossy(&refused.stdout)
    );
    // ...and so is the old client certificate presented with the new CA (the daemon's own
    // check, not just the client's distrust of the new server certificate)
    std::fs::copy(
        Path::new(new_cert_path).join("ca.pem"),
        old.path().join("ca.pem"),
    )
    .unwrap();
    let refused = support::run_with_timeout(
        support::docker_cmd(&old_env).args(["version", "--format", "{{.Server.Version}}"]),
        Duration::from_secs(60),
    );
    assert!(
        !refused.status.success(),
        "the daemon accepts a client certificate of the old CA:\n{}",
        String::from_utf8_lossy(&refused.stdout)
    );
    // Under TLS 1.3 the daemon checks the client certificate after the client has finished its
    // side of the handshake: the client reads the daemon's alert ("remote error: tls: bad
    // certificate"), or, when its request is already on the way, the reset that follows it.
    let said = String::from_utf8_lossy(&refused.stderr).to_lowercase();
    assert!(
        said.contains("certificate")
            || said.contains("tls")
            || said.contains("remote error")
            || said.contains("connection reset by peer"),
        "the refusal is the TLS handshake's: {said}"
    );
    // ...and the daemon that refused it is up: the new client certificate is still served
    assert_eq!(
        docker_ok(&new_env, &["info", "--format", "{{.Name}}"]).trim(),
        name,
        "the daemon stopped answering after refusing the old client certificate"
    );
    cli.ok(&["rm", "-f", &name]);
}

// ---- the vCenter simulator

const VM_USER: &str = "root";
const VM_PASSWORD: &str = "12345678";

/// vcsim over HTTPS with one of each inventory object; removes the containers of its VMs when
/// dropped.
struct Sim {
    child: Child,
    dir: tempfile::TempDir,
    port: u16,
}

impl Sim {
    fn start() -> Sim {
        let sim = vcsim::launch(VM_USER, VM_PASSWORD, &["-shape", "one"]);
        Sim {
            child: sim.child,
            dir: sim.dir,
            port: sim.port,
        }
    }

    fn cert(&self) -> PathBuf {
        self.dir.path().join("cert.pem")
    }

    fn soap(&self, jar: &Path, body: &str) -> String {
        machine_e2e::vcsim_soap(self.port, &self.cert(), jar, body)
    }

    /// The names of every VM in the inventory.
    fn vm_names(&self) -> Vec<String> {
        let jar = self.dir.path().join("cookies");
        let _ = std::fs::remove_file(&jar);
        let login = self.soap(
            &jar,
            &format!(
                "<Login xmlns=\"urn:vim25\"><_this type=\"SessionManager\">SessionManager</_this>\
                 <userName>{VM_USER}</userName><password>{VM_PASSWORD}</password></Login>"
            ),
        );
        assert!(login.contains("LoginResponse"), "{login}");
        let view = self.soap(
            &jar,
            "<CreateContainerView xmlns=\"urn:vim25\"><_this type=\"ViewManager\">ViewManager</_this>\
             <container type=\"Folder\">group-d1</container><type>VirtualMachine</type>\
             <recursive>true</recursive></CreateContainerView>",
        );
        let view = between(&view, "<returnval type=\"ContainerView\">", "</returnval>")
            .unwrap_or_else(|| panic!("no container view: {view}"))
            .to_string();
        let props = self.soap(
            &jar,
            &format!(
                "<RetrievePropertiesEx xmlns=\"urn:vim25\"><_this type=\"PropertyCollector\">propertyCollector</_this>\
                 <specSet><propSet><type>VirtualMachine</type><pathSet>name</pathSet></propSet>\
                 <objectSet><obj type=\"ContainerView\">{view}</obj><skip>true</skip>\
                 <selectSet xsi:type=\"TraversalSpec\"><type>ContainerView</type><path>view</path>\
                 <skip>false</skip></selectSet></objectSet></specSet><options></options></RetrievePropertiesEx>"
            ),
        );
        assert!(
            props.contains("RetrievePropertiesExResponse"),
            "listing VMs failed: {props}"
        );
        let mut names = Vec::new();
        let mut rest = props.as_str();
        while let Some(i) = rest.find("<name>name</name>") {
            rest = &rest[i + 17..];
            let v = between(rest, ">", "</val>").expect("a VM name");
            names.push(v.to_string());
        }
        names.sort();
        names
    }

    /// Whether the containers that backed VMs named `name` are gone (vcsim removes a destroyed
    /// VM's container after the destroy task ends: a few seconds).
    fn containers_gone(&self, name: &str) -> bool {
        let deadline = Instant::now() + Duration::from_secs(30);
        while !self.containers_of(name).is_empty() {
            if Instant::now() > deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(500));
        }
        true
    }

    /// The test-host containers backing VMs named `name`.
    fn containers_of(&self, name: &str) -> Vec<String> {
        let out = support::run(Command::new("docker").args([
            "ps",
            "-aq",
            "--filter",
            &format!("name=vcsim-{name}-"),
        ]));
        out.split_whitespace().map(str::to_string).collect()
    }
}

impl Drop for Sim {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .arg(self.child.id().to_string())
            .status();
        let _ = self.child.wait();
    }
}

fn between<'a>(s: &'a str, from: &str, to: &str) -> Option<&'a str> {
    let start = s.find(from)? + from.len();
    let end = s[start..].find(to)? + start;
    Some(&s[start..end])
}

fn vsphere_args(sim: &Sim, server: &FileServer, name: &str) -> Vec<String> {
    let iso = sim.dir.path().join("docker-ready.iso");
    std::fs::write(&iso, vec![1u8; 4096]).unwrap();
    let mut run = host_run_flags();
    // the VMs trust the test CA, so the install script comes over https
    run.extend(TestCa::get().bundle_mount(sim.dir.path()));
    run.extend([
        "--tmpfs".into(),
        "/sys/class".into(),
        vcsim::VM_IMAGE.into(),
    ]);
    vec![
        "create".to_string(),
        "--driver".into(),
        "vmwarevsphere".into(),
        "--vmwarevsphere-vcenter=127.0.0.1".into(),
        format!("--vmwarevsphere-vcenter-port={}", sim.port),
        format!("--vmwarevsphere-username={VM_USER}"),
        format!("--vmwarevsphere-password={VM_PASSWORD}"),
        "--vmwarevsphere-cpu-count=1".into(),
        "--vmwarevsphere-memory-size=512".into(),
        "--vmwarevsphere-disk-size=10240".into(),
        format!("--vmwarevsphere-ca-cert={}", sim.cert().display()),
        format!("--vmwarevsphere-boot2docker-url={}", iso.display()),
        format!(
            "--vmwarevsphere-cfgparam=RUN.container={}",
            serde_json::to_string(&run).unwrap()
        ),
        "--engine-install-url".into(),
        server.url(),
        name.to_string(),
    ]
}

/// SIGKILL during a vSphere create, at seeded moments of each phase (the pre-create check, the
/// ISO upload and clone, power-on and the wait for an IP, the wait for SSH, the Docker install):
/// each time `ls` works, `rm -f` succeeds, and no VM or VM container is left in the simulator;
/// then `rm` killed mid-way, and a full create under the same name.
#[test]
fn sigkill_during_a_vsphere_create_leaves_no_vm_after_rm() {
    workspace_bin("machine-driver-vsphere");
    let mut rng = Rng::from_env("vsphere kill loop");
    let sim = Sim::start();
    let cli = Cli::new();
    let server = FileServer::start("/install.sh", install_script());
    let before = sim.vm_names();
    let name = unique_name("killvm");
    let args = vsphere_args(&sim, &server, &name);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let phases = [
        phase("pre-create check", "Running pre-create checks", 50),
        phase("driver create", "Creating machine...", 150),
        phase("power-on and IP", "Powering on VM", 1500),
        phase("wait for SSH", "Waiting for SSH...", 1000),
        phase("Docker install", "with the install script", 3000),
    ];
    for (i, phase) in phases.iter().enumerate() {
        let delay = rng.delay(phase.max_ms);
        eprintln!(
            "[faults] vsphere iteration {}: phase {:?}, delay {delay:?}",
            i + 1,
            phase.name
        );
        let mut run = Running::start(&cli, &args, "create");
        assert!(
            run.wait_for(phase.marker, CREATE_TIMEOUT),
            "create ended before {:?}:\n{}",
            phase.marker,
            run.text()
        );
        std::thread::sleep(delay);
        let (hit, text) = run.kill();
        eprintln!(
            "[faults] SIGKILL {delay:?} after {:?} ({}); last line {:?}",
            phase.marker,
            if hit {
                "create was running"
            } else {
                "create had ended"
            },
            text.lines().last().unwrap_or("")
        );
        assert_recoverable(&cli, &name);
        assert_eq!(
            sim.vm_names(),
            before,
            "a VM is left in vCenter after the create killed in {:?} and rm -f",
            phase.name
        );
        assert!(
            sim.containers_gone(&name),
            "the VM's container is left after rm -f"
        );
    }

    // a full create under the same name, then rm killed mid-way
    let out = timed("vsphere create after the kills", || {
        cli.call_with_timeout(&args, CREATE_TIMEOUT)
    });
    assert!(
        out.success,
        "create after the killed creates failed:\n{out}"
    );
    assert_eq!(sim.vm_names().len(), before.len() + 1);
    let env = cli.env(&name);
    docker_ok(&env, &["version", "--format", "{{.Server.Version}}"]);
    let delay = rng.delay(1500);
    let run = Running::start(&cli, &["rm", "-f", &name], "rm");
    std::thread::sleep(delay);
    let (hit, _) = run.kill();
    eprintln!(
        "[faults] vsphere rm: SIGKILL {delay:?} after it started ({})",
        if hit {
            "rm was running"
        } else {
            "rm had ended"
        }
    );
    assert_rm_recoverable(&cli, &name);
    assert_eq!(
        sim.vm_names(),
        before,
        "rm -f after a killed rm left the VM"
    );
    assert!(sim.containers_gone(&name));
}
