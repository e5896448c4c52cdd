//! Test hosts for end-to-end tests: real Debian hosts (sshd, systemd, a passwordless-sudo user
//! `nick`, no Docker) running as containers on this machine's Docker engine, built by
//! `tests/testhost/build.sh` and prepared by `scripts/test-env.sh`.
//!
//! A [`TestHost`] is removed (with its volumes) when dropped. Nothing here skips: a missing
//! environment panics with the command that provides it.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

pub mod docker;
pub mod etcd;
pub mod http;
pub mod plugins;
pub mod port;
pub mod vcsim;

pub use docker::{build_busybox_image, docker_cmd, parse_exports};
pub use etcd::EtcdCluster;
pub use http::{bridge_gateway, FileServer, TestCa};
pub use port::ClosedPort;

/// The command that prepares everything these tests need.
pub const SETUP_HINT: &str =
    "run `scripts/test-env.sh` as root (the README's test command, `scripts/test.sh`, does it for you)";

/// The repository's root folder.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("repository root")
}

/// Runs a command and returns its stdout; panics with its stderr when it fails.
pub fn run(cmd: &mut Command) -> String {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    if !out.status.success() {
        panic!(
            "{cmd:?} failed ({}):\n{}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Runs a command to its end, or kills it after `timeout` and panics with what it printed.
/// Stdin is closed; stdout and stderr are captured.
pub fn run_with_timeout(cmd: &mut Command, timeout: Duration) -> Output {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    let mut out_pipe = child.stdout.take().expect("stdout");
    let mut err_pipe = child.stderr.take().expect("stderr");
    let out_t = std::thread::spawn(move || {
        let mut b = Vec::new();
        let _ = out_pipe.read_to_end(&mut b);
        b
    });
    let err_t = std::thread::spawn(move || {
        let mut b = Vec::new();
        let _ = err_pipe.read_to_end(&mut b);
        b
    });
    let deadline = Instant::now() + timeout;
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            let stdout = out_t.join().unwrap_or_default();
            let stderr = err_t.join().unwrap_or_default();
            panic!(
                "{cmd:?} did not finish within {timeout:?}; killed. stdout:\n{}\nstderr:\n{}",
                String::from_utf8_lossy(&stdout),
                String::from_utf8_lossy(&stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    Output {
        status,
        stdout: out_t.join().unwrap_or_default(),
        stderr: err_t.join().unwrap_or_default(),
    }
}

/// Panics with a set-up hint unless the Docker engine answers and `image` exists.
pub fn require_image(image: &str) {
    let engine = Command::new("docker")
        .args(["version", "--format", "{{.Server.Version}}"])
        .output();
    match engine {
        Ok(o) if o.status.success() => {}
        _ => panic!("no Docker engine answers on this machine: {SETUP_HINT}"),
    }
    let found = Command::new("docker")
        .args(["image", "inspect", image])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    if !found {
        panic!("the test-host image {image} is missing: {SETUP_HINT}");
    }
}

/// A fresh ed25519 key pair in a temporary folder.
pub struct KeyPair {
    _dir: tempfile::TempDir,
    pub private: PathBuf,
    pub public: String,
}

impl KeyPair {
    pub fn new() -> KeyPair {
        let dir = tempfile::tempdir().expect("tempdir");
        let private = dir.path().join("id_ed25519");
        run(Command::new("ssh-keygen")
            .args(["-q", "-t", "ed25519", "-N", "", "-C", "test", "-f"])
            .arg(&private));
        let public = std::fs::read_to_string(private.with_extension("pub"))
            .expect("public key")
            .trim()
            .to_string();
        KeyPair {
            _dir: dir,
            private,
            public,
        }
    }
}

impl Default for KeyPair {
    fn default() -> Self {
        Self::new()
    }
}

/// One running test host. Removed when dropped.
pub struct TestHost {
    pub name: String,
    pub ip: String,
    /// The sudo user (`nick`), whose authorized key is `key`.
    pub user: String,
    pub key: KeyPair,
}

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// The bookworm test host with Debian's docker.io installed by apt-get
/// (tests/testhost/Dockerfile.docker).
pub const DOCKER_HOST_IMAGE: &str = "machine-testhost-docker:bookworm";

impl TestHost {
    /// Starts a Debian `suite` host (bookworm, bullseye, trixie) and waits until sshd answers.
    pub fn start(suite: &str) -> TestHost {
        TestHost::start_image(&format!("machine-testhost:{suite}"), suite)
    }

    /// Starts a bookworm host that already runs Docker (Debian's docker.io, installed with
    /// apt-get when its image was built, never by us), and waits until sshd answers: a create
    /// on it configures the daemon (certificates, TLS listener, restart) without installing
    /// it. For the tests whose subject is not installing Docker.
    pub fn start_with_docker() -> TestHost {
        TestHost::start_image(DOCKER_HOST_IMAGE, "docker")
    }

    fn start_image(image: &str, label: &str) -> TestHost {
        require_image(image);
        let key = KeyPair::new();
        let name = format!(
            "mt-{}-{}-{}",
            label,
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        );
        let mut cmd = Command::new("docker");
        cmd.args(["run", "-d", "--name", &name, "--hostname", &name])
            .args(host_run_flags())
            .args(["-e", &format!("PUBKEY={}", key.public), image]);
        run(&mut cmd);
        let host = TestHost {
            ip: container_ip(&name),
            name,
            user: "nick".into(),
            key,
        };
        host.wait_for_ssh(Duration::from_secs(60));
        // install scripts come over https, from the file server's test CA
        host.exec(&TestCa::get().install_command());
        host
    }

    /// Waits until sshd on the host accepts TCP connections.
    pub fn wait_for_ssh(&self, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        let addr = format!("{}:22", self.ip);
        while Instant::now() < deadline {
            if std::net::TcpStream::connect_timeout(
                &addr.parse().expect("address"),
                Duration::from_millis(500),
            )
            .is_ok()
            {
                return;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        panic!(
            "test host {} ({}) did not open port 22 within {timeout:?}",
            self.name, self.ip
        );
    }

    /// Reloads sshd's configuration and returns once sshd listens again: a reload re-executes
    /// sshd, which refuses connections for a moment, and `systemctl reload` returns before that
    /// (a login right after it could meet the gap). Waits for sshd's next "Server listening"
    /// line in its journal, then for port 22.
    pub fn reload_sshd(&self) {
        let count = "journalctl -u ssh -o cat --no-pager | grep -c 'Server listening on' || true";
        let before: u32 = self.exec(count).trim().parse().unwrap_or(0);
        self.exec("systemctl reload ssh");
        let deadline = Instant::now() + Duration::from_secs(20);
        while self.exec(count).trim().parse::<u32>().unwrap_or(0) <= before {
            assert!(
                Instant::now() < deadline,
                "sshd on {} did not listen again within 20 s of a reload",
                self.name
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        self.wait_for_ssh(Duration::from_secs(20));
    }

    /// Runs a shell command inside the host as root (through `docker exec`, not SSH).
    pub fn exec(&self, script: &str) -> String {
        run(Command::new("docker").args(["exec", &self.name, "sh", "-c", script]))
    }

    /// Like [`TestHost::exec`], but returns the whole output whatever the exit status.
    pub fn exec_output(&self, script: &str) -> Output {
        run_with_timeout(
            Command::new("docker").args(["exec", &self.name, "sh", "-c", script]),
            Duration::from_secs(600),
        )
    }

    /// Lets `user` (an existing account on the host, e.g. `nosudo`) log in with `key`.
    pub fn authorize_key(&self, user: &str, key: &KeyPair) {
        self.exec(&format!(
            "install -d -m 0700 -o {user} -g {user} /home/{user}/.ssh && \
             printf '%s\\n' '{}' > /home/{user}/.ssh/authorized_keys && \
             chown {user}:{user} /home/{user}/.ssh/authorized_keys && \
             chmod 0600 /home/{user}/.ssh/authorized_keys",
            key.public
        ));
    }

    /// The address of this machine on the host's network (the Docker bridge gateway).
    pub fn gateway(&self) -> String {
        run(Command::new("docker").args([
            "inspect",
            "-f",
            "{{range .NetworkSettings.Networks}}{{.Gateway}}{{end}}",
            &self.name,
        ]))
        .trim()
        .to_string()
    }

    /// When the host's container last started (changes when the host reboots).
    pub fn started_at(&self) -> String {
        run(Command::new("docker").args(["inspect", "-f", "{{.State.StartedAt}}", &self.name]))
            .trim()
            .to_string()
    }

    /// How many times Docker restarted the host's container (a reboot counts one).
    pub fn restart_count(&self) -> u32 {
        run(Command::new("docker").args(["inspect", "-f", "{{.RestartCount}}", &self.name]))
            .trim()
            .parse()
            .expect("restart count")
    }

    /// Takes the host off the network (its interface down, from inside): its address stays
    /// allocated to it, so nothing else can answer there, and connections to it get no answer.
    pub fn disconnect(&self) {
        self.exec("ip link set eth0 down");
    }

    /// Stops the host (`docker stop`): its address then answers nothing. It stays stopped
    /// (`--restart unless-stopped`) and is still removed on drop.
    pub fn stop(&self) {
        run(Command::new("docker").args(["stop", "-t", "5", &self.name]));
    }
}

impl Drop for TestHost {
    fn drop(&mut self) {
        let _ = Command::new("docker")
            .args(["rm", "-f", "-v", &self.name])
            .output();
    }
}

/// The `docker run` flags that make a container a real systemd host on this machine
/// (shared/testing/hosts.md): no --privileged, cgroups of the host, a real /var/lib/docker.
pub fn host_run_flags() -> Vec<String> {
    [
        "--restart",
        "unless-stopped",
        "--cap-add",
        "ALL",
        "--cap-drop",
        "SYS_RESOURCE",
        "--security-opt",
        "seccomp=unconfined",
        "--security-opt",
        "apparmor=unconfined",
        "--cgroupns=host",
        "-v",
        "/sys/fs/cgroup:/sys/fs/cgroup:rw",
        "-v",
        "/var/lib/docker",
        "--tmpfs",
        "/run",
        "--tmpfs",
        "/run/lock",
        "--tmpfs",
        "/tmp",
        "--stop-signal",
        "SIGRTMIN+3",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

/// The bridge IP of a running container.
pub fn container_ip(name: &str) -> String {
    let ip = run(Command::new("docker").args([
        "inspect",
        "-f",
        "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}",
        name,
    ]));
    let ip = ip.trim().to_string();
    assert!(!ip.is_empty(), "container {name} has no IP address");
    ip
}

/// The user-defined Docker network of hosts started with [`TestHost::start_fixed_ip`].
pub const FIXED_IP_NETWORK: &str = "machine-e2e-fixed";
/// Its subnet (addresses picked at random in it; the gateway is 172.31.0.1).
pub const FIXED_IP_SUBNET: &str = "172.31.0.0/16";

/// Creates [`FIXED_IP_NETWORK`] unless it exists (another test process may create it at the
/// same time: that is fine).
fn ensure_fixed_ip_network() {
    let exists = |name: &str| {
        Command::new("docker")
            .args(["network", "inspect", name])
            .output()
            .map(|o| o.status.success())
            .unwrap_or(false)
    };
    if exists(FIXED_IP_NETWORK) {
        return;
    }
    let out = Command::new("docker")
        .args([
            "network",
            "create",
            "--subnet",
            FIXED_IP_SUBNET,
            FIXED_IP_NETWORK,
        ])
        .output()
        .unwrap_or_else(|e| panic!("cannot run docker network create: {e}: {SETUP_HINT}"));
    if !out.status.success() && !exists(FIXED_IP_NETWORK) {
        panic!(
            "cannot create the Docker network {FIXED_IP_NETWORK} ({FIXED_IP_SUBNET}): {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

impl TestHost {
    /// Like [`TestHost::start`], but with a fixed address on [`FIXED_IP_NETWORK`]. On Docker's
    /// default bridge a container gets an address again each time it starts, so a host that
    /// reboots while other containers start, stop or reboot can come back at ANOTHER address
    /// (seen with three hosts rebooting at once): tests that reboot hosts use these instead.
    pub fn start_fixed_ip(suite: &str) -> TestHost {
        TestHost::start_fixed_ip_image(&format!("machine-testhost:{suite}"), suite)
    }

    /// [`TestHost::start_with_docker`] with a fixed address, as [`TestHost::start_fixed_ip`].
    pub fn start_fixed_ip_with_docker() -> TestHost {
        TestHost::start_fixed_ip_image(DOCKER_HOST_IMAGE, "docker")
    }

    fn start_fixed_ip_image(image: &str, label: &str) -> TestHost {
        require_image(image);
        ensure_fixed_ip_network();
        let key = KeyPair::new();
        let name = format!(
            "mt-{}-{}-{}",
            label,
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        );
        let mut last_error = String::new();
        for attempt in 0u32..20 {
            let seed = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.subsec_nanos())
                .unwrap_or(0)
                ^ std::process::id().wrapping_mul(2_654_435_761)
                ^ attempt.wrapping_mul(40_503);
            let ip = format!("172.31.{}.{}", 1 + seed % 254, 2 + (seed / 254) % 252);
            let out = Command::new("docker")
                .args(["run", "-d", "--name", &name, "--hostname", &name])
                .args(["--network", FIXED_IP_NETWORK, "--ip", &ip])
                .args(host_run_flags())
                .args(["-e", &format!("PUBKEY={}", key.public), image])
                .output()
                .unwrap_or_else(|e| panic!("cannot run docker: {e}"));
            if out.status.success() {
                let host = TestHost {
                    ip,
                    name,
                    user: "nick".into(),
                    key,
                };
                host.wait_for_ssh(Duration::from_secs(60));
                host.exec(&TestCa::get().install_command());
                return host;
            }
            // most likely the address is taken: drop what was created, try another
            last_error = String::from_utf8_lossy(&out.stderr).into_owned();
            let _ = Command::new("docker")
                .args(["rm", "-f", "-v", &name])
                .output();
        }
        panic!("cannot start test host {name} with a fixed address: {last_error}");
    }
}
