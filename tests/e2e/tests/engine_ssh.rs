//! Docker over SSH end to end (issue 21): `create --engine-transport ssh` on a host without
//! Docker (installed by our provisioner) and on one already running it (left running: same
//! daemon before and after), no TCP listener, no certificates, no drop-in; the login user in
//! the docker group. The real `docker` client reaches the daemon through what `machine env`
//! prints (`DOCKER_HOST=ssh://machine-NAME` and the store's `ssh` wrapper first on PATH) in a
//! fresh environment, and through the machine's docker context once the user's ssh config
//! includes the store's (`machine ssh-config --add`). A changed host key is refused by docker
//! on both paths until `machine host-key accept`. `provision --engine-transport tls|ssh` moves a
//! machine each way; `rm` takes the group membership back and leaves Docker running; `ls` of a
//! mixed fleet shows both transports, and a swarm spans them; `ls` over 301 SSH machines of
//! one host stays within its timeout and says why a row has no answer.
//!
//! Whatever needs a user's ~/.ssh runs as a throw-away account (`useradd -m`, removed at the
//! end) with its own store: nothing here reads or writes the real user's ~/.ssh.
//!
//! Needs scripts/test-env.sh (Docker engine, test-host images, busybox-static) and `cargo build
//! --workspace --bins`; nothing here skips.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use machine_e2e::support::{self, docker::static_busybox, run_with_timeout, TestHost};
use machine_e2e::{
    bin_dir, call, timed, unique_name, var, CallOutput, Cli, LsTable, CALL_TIMEOUT, CREATE_TIMEOUT,
};

const SUITE: &str = "bookworm";
const SSH_TRANSPORT: [&str; 2] = ["--engine-transport", "ssh"];
const PACKAGES: [&str; 2] = ["--engine-install-method", "packages"];
const IMAGE: &str = "busybox-local";
/// The PATH of a fresh login shell, without our binaries.
const SYSTEM_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
/// Where `inspect --format` shows a machine's transport.
const TRANSPORT_FORMAT: &str = "{{.HostOptions.EngineOptions.Transport}}";
/// The daemon's TLS files and our systemd drop-in on the host (machine-core's engine module).
const TLS_FILES: [&str; 4] = [
    "/etc/docker/ca.pem",
    "/etc/docker/server.pem",
    "/etc/docker/server-key.pem",
    "/etc/systemd/system/docker.service.d/10-machine.conf",
];

// ---------------------------------------------------------------------------------------------
// The host's side

/// The host's running dockerd: its main PID and when it started, as systemd tells. Waits (up
/// to a minute) until docker.service is active and its daemon answers on the host.
fn daemon(host: &TestHost) -> String {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let up = host
            .exec_output("systemctl is-active --quiet docker.service && docker version >/dev/null")
            .status
            .success();
        if up {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "docker.service on {} is not active after a minute:\n{}",
            host.name,
            host.exec("systemctl status docker.service --no-pager || true")
        );
        std::thread::sleep(Duration::from_millis(300));
    }
    let shown = host.exec("systemctl show docker.service -p MainPID -p ExecMainStartTimestamp");
    assert!(
        !shown.contains("MainPID=0\n") && shown.contains("ExecMainStartTimestamp="),
        "no running dockerd on {}: {shown}",
        host.name
    );
    shown.trim().to_string()
}

/// Whether anything on the host listens on TCP port 2376 (`ss`, on the host), and whether a
/// connection to it from here is taken.
fn port_2376(host: &TestHost) -> (bool, bool) {
    let listening = !host.exec("ss -Hltn 'sport = :2376'").trim().is_empty();
    let addr = format!("{}:2376", host.ip).parse().expect("address");
    let open = std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(3)).is_ok();
    (listening, open)
}

fn host_has(host: &TestHost, path: &str) -> bool {
    host.exec_output(&format!("test -e {path}"))
        .status
        .success()
}

/// The groups of `user` on the host.
fn groups(host: &TestHost, user: &str) -> Vec<String> {
    host.exec(&format!("id -nG {user}"))
        .split_whitespace()
        .map(str::to_string)
        .collect()
}

fn in_docker_group(host: &TestHost, user: &str) -> bool {
    groups(host, user).iter().any(|g| g == "docker")
}

/// What an SSH-transport machine leaves on its host: Docker running, nothing on 2376, none of
/// the TLS files or the drop-in, the login user in the docker group.
fn assert_ssh_setup(host: &TestHost, when: &str) {
    let (listening, open) = port_2376(host);
    assert!(
        !listening && !open,
        "{when}: port 2376 must be closed (listening on the host: {listening}, a connection \
         taken: {open}):\n{}",
        host.exec("ss -ltnp || true")
    );
    for f in TLS_FILES {
        assert!(!host_has(host, f), "{when}: {f} is on the host");
    }
    assert!(
        in_docker_group(host, &host.user),
        "{when}: {} is not in the docker group: {:?}",
        host.user,
        groups(host, &host.user)
    );
}

/// What a TLS machine has on its host: dockerd on 2376, its certificates and our drop-in.
fn assert_tls_setup(host: &TestHost, when: &str) {
    let (listening, open) = port_2376(host);
    assert!(
        listening && open,
        "{when}: dockerd must listen on 2376 (on the host: {listening}, from here: {open})"
    );
    for f in TLS_FILES {
        assert!(host_has(host, f), "{when}: {f} is missing on the host");
    }
}

/// Logins sshd on `host` has accepted so far (its log's "Accepted publickey" lines).
fn ssh_logins(host: &TestHost) -> usize {
    host.exec(
        "journalctl -t sshd -t sshd-session --no-pager -o cat | grep -c '^Accepted publickey' || true",
    )
    .trim()
    .parse()
    .expect("a count")
}

/// Gives the host new host keys, as a reinstall would, and restarts sshd.
fn regenerate_host_keys(host: &TestHost) {
    host.exec("rm -f /etc/ssh/ssh_host_* && ssh-keygen -A >/dev/null && systemctl restart ssh");
    host.wait_for_ssh(Duration::from_secs(30));
}

/// The Docker version the host's daemon reports, read on the host.
fn host_docker_version(host: &TestHost) -> String {
    host.exec("docker version --format '{{.Server.Version}}'")
        .trim()
        .to_string()
}

// ---------------------------------------------------------------------------------------------
// The workstation's side

/// A busybox root file system as a tar file at `dest`, for `docker import` (the image
/// machine-testsupport's build_busybox_image makes, without needing its environment).
fn busybox_tar(dest: &Path) {
    let busybox = static_busybox();
    let dir = tempfile::tempdir().expect("tempdir");
    let bin = dir.path().join("bin");
    std::fs::create_dir_all(&bin).expect("bin folder");
    std::fs::copy(busybox, bin.join("busybox")).expect("copy busybox");
    for a in ["sh", "echo", "hostname", "cat", "true", "id"] {
        std::os::unix::fs::symlink("busybox", bin.join(a)).expect("applet link");
    }
    for d in ["tmp", "etc", "proc", "sys", "dev", "root"] {
        std::fs::create_dir_all(dir.path().join(d)).expect("folder");
    }
    std::fs::write(
        dir.path().join("etc/passwd"),
        "root:x:0:0:root:/root:/bin/sh\n",
    )
    .expect("passwd");
    support::run(
        Command::new("tar")
            .arg("-C")
            .arg(dir.path())
            .arg("-cf")
            .arg(dest)
            .arg("."),
    );
}

/// Runs `cmd`, logging it as `what`; returns what it did (never panics on failure).
fn logged(cmd: &mut Command, what: &str, timeout: Duration) -> CallOutput {
    let start = Instant::now();
    let out = run_with_timeout(cmd, timeout);
    let out = CallOutput {
        args: vec![what.to_string()],
        success: out.status.success(),
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        elapsed: start.elapsed(),
    };
    eprintln!(
        "[{what}] -> {:?} in {:.1?}\n--- stdout ---\n{}\n--- stderr ---\n{}\n",
        out.code,
        out.elapsed,
        out.stdout.trim_end(),
        out.stderr.trim_end()
    );
    out
}

/// The value of `KEY=` lines a script printed (`KEY=value`), the first one.
fn field<'a>(out: &'a CallOutput, key: &str) -> Option<&'a str> {
    out.stdout
        .lines()
        .find_map(|l| l.strip_prefix(key).and_then(|r| r.strip_prefix('=')))
}

/// The script run after `eval "$(machine env NAME)"` in a fresh shell: what the shell got, the
/// daemon's name through docker, a container run from an image imported through it, what
/// another host's ssh reads, and `env -u` undoing it all. Its output is read by
/// [`check_env_script`].
fn env_script(name: &str, tar: &Path) -> String {
    format!(
        r#"before="$PATH"
env_out=$(machine env {name}) || {{ echo "ENV_FAILED"; exit 1; }}
eval "$env_out"
echo "DOCKER_HOST=$DOCKER_HOST"
echo "DOCKER_TLS_VERIFY=${{DOCKER_TLS_VERIFY-unset}}"
echo "DOCKER_CERT_PATH=${{DOCKER_CERT_PATH-unset}}"
echo "FIRST=${{PATH%%:*}}"
echo "SSH=$(command -v ssh)"
echo "REST=${{PATH#*:}}"
echo "NAME=$(docker info --format '{{{{.Name}}}}')"
echo "ACTIVE=$(machine active)"
docker import -c 'CMD ["/bin/sh"]' {tar} {IMAGE} >/dev/null && echo IMPORTED
echo "RUN=$(docker run --rm {IMAGE} sh -c 'echo hello')"
echo "OTHER=$(ssh -G other.example.invalid | grep -i '^proxycommand ')"
eval "$(machine env -u)"
echo "AFTER_HOST=${{DOCKER_HOST-unset}}"
[ "$PATH" = "$before" ] && echo PATH_RESTORED || echo "PATH_NOW=$PATH"
"#,
        tar = tar.display()
    )
}

/// Checks what [`env_script`] printed; returns the wrapper's folder. What `machine active`
/// printed is checked by [`assert_active`], at the end of a test.
fn check_env_script(out: &CallOutput, name: &str, store: &Path) -> PathBuf {
    assert!(
        field(out, "DOCKER_HOST").is_some(),
        "the shell did not get through `eval \"$(machine env {name})\"`:\n{out}"
    );
    let alias = format!("ssh://machine-{name}");
    assert_eq!(field(out, "DOCKER_HOST"), Some(alias.as_str()), "{out}");
    assert_eq!(
        field(out, "DOCKER_TLS_VERIFY"),
        Some("unset"),
        "no TLS for ssh:\n{out}"
    );
    assert_eq!(field(out, "DOCKER_CERT_PATH"), Some("unset"), "{out}");
    let first = PathBuf::from(field(out, "FIRST").unwrap_or_default());
    assert!(
        first.starts_with(store),
        "the folder put first on PATH ({}) is not the store's ({}):\n{out}",
        first.display(),
        store.display()
    );
    assert_eq!(
        field(out, "SSH").map(PathBuf::from),
        Some(first.join("ssh")),
        "`ssh` on PATH is not the store's wrapper:\n{out}"
    );
    assert!(
        field(out, "REST").is_some_and(|r| r.ends_with(SYSTEM_PATH)),
        "the rest of PATH was changed:\n{out}"
    );
    assert_eq!(
        field(out, "NAME"),
        Some(name),
        "docker did not reach the machine's daemon through the wrapper:\n{out}"
    );
    assert!(out.stdout.lines().any(|l| l == "IMPORTED"), "{out}");
    assert_eq!(field(out, "RUN"), Some("hello"), "docker run:\n{out}");
    assert_eq!(
        field(out, "AFTER_HOST"),
        Some("unset"),
        "`env -u` left DOCKER_HOST:\n{out}"
    );
    assert!(
        out.stdout.lines().any(|l| l == "PATH_RESTORED"),
        "`env -u` did not give PATH back as it was:\n{out}"
    );
    first
}

/// `machine active` in the shell of [`env_script`] named the machine DOCKER_HOST points at.
fn assert_active(out: &CallOutput, name: &str) {
    assert_eq!(
        field(out, "ACTIVE"),
        Some(name),
        "`machine active` does not name the machine DOCKER_HOST points at:\n{out}"
    );
}

/// `bash -c SCRIPT` as root in a fresh environment: no DOCKER_* or SSH_AUTH_SOCK, PATH the
/// system's with `machine` first, HOME an empty folder, the store through MACHINE_STORAGE_PATH,
/// an empty DOCKER_CONFIG (no context).
fn fresh_bash(cli: &Cli, script: &str) -> CallOutput {
    let home = tempfile::tempdir().expect("home");
    let config = tempfile::tempdir().expect("docker config");
    let mut cmd = Command::new("bash");
    cmd.env_clear()
        .current_dir(home.path())
        .env("PATH", format!("{}:{SYSTEM_PATH}", bin_dir().display()))
        .env("HOME", home.path())
        .env("MACHINE_STORAGE_PATH", cli.store())
        .env("DOCKER_CONFIG", config.path())
        .args(["-c", script]);
    logged(&mut cmd, "bash (fresh environment, root)", CALL_TIMEOUT)
}

/// The docker client as root with exactly DOCKER_HOST and PATH (the wrapper's folder first), as
/// a shell that evaluated `machine env` earlier still has them.
fn docker_through_wrapper(docker_host: &str, wrapper: &Path, args: &[&str]) -> CallOutput {
    let env = [
        ("DOCKER_HOST".to_string(), docker_host.to_string()),
        (
            "PATH".to_string(),
            format!("{}:{SYSTEM_PATH}", wrapper.display()),
        ),
        ("DOCKER_CONFIG".to_string(), "/nonexistent".to_string()),
    ];
    let mut cmd = support::docker_cmd(&env);
    cmd.env_remove("SSH_AUTH_SOCK").args(args);
    logged(
        &mut cmd,
        &format!("docker {} (DOCKER_HOST={docker_host})", args.join(" ")),
        CALL_TIMEOUT,
    )
}

/// ssh's own words for a host key that is not the recorded one.
fn says_host_key_refused(out: &CallOutput) -> bool {
    let t = out.text_lower();
    t.contains("host key verification failed")
        || t.contains("remote host identification has changed")
        || t.contains("host key")
}

// ---------------------------------------------------------------------------------------------
// A throw-away account: its own home, ~/.ssh, store and docker configuration

static USERS: AtomicU32 = AtomicU32::new(0);

struct User {
    name: String,
    home: PathBuf,
    store: PathBuf,
    docker_config: PathBuf,
    /// A copy of the test host's key, the account's own.
    key: PathBuf,
}

impl User {
    fn new(host_key: &Path) -> User {
        let name = format!(
            "mssh{}x{}",
            std::process::id() % 100_000,
            USERS.fetch_add(1, Ordering::Relaxed)
        );
        let out = Command::new("useradd")
            .args(["-m", "-s", "/bin/bash", &name])
            .output()
            .unwrap_or_else(|e| panic!("useradd (Debian: passwd) cannot run: {e}"));
        assert!(
            out.status.success(),
            "useradd -m {name} failed (the tests run as root: scripts/test.sh): {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let home = PathBuf::from(format!("/home/{name}"));
        let user = User {
            store: home.join("store"),
            docker_config: home.join("docker-config"),
            key: home.join("id_ed25519"),
            home,
            name,
        };
        for dir in [&user.store, &user.docker_config, &user.home.join(".ssh")] {
            support::run(
                Command::new("install")
                    .args(["-d", "-m", "0700", "-o", &user.name, "-g", &user.name])
                    .arg(dir),
            );
        }
        std::fs::copy(host_key, &user.key).expect("copy the host's key");
        user.own(&user.key, 0o600);
        user
    }

    /// Makes `path` the account's, with `mode`.
    fn own(&self, path: &Path, mode: u32) {
        support::run(
            Command::new("chown")
                .arg(format!("{0}:{0}", self.name))
                .arg(path),
        );
        std::fs::set_permissions(path, std::os::unix::fs::PermissionsExt::from_mode(mode))
            .expect("chmod");
    }

    /// Writes a file of the account's (root writes it, then hands it over).
    fn write(&self, path: &Path, text: &str, mode: u32) {
        std::fs::write(path, text).expect("write");
        self.own(path, mode);
    }

    fn ssh_config(&self) -> PathBuf {
        self.home.join(".ssh/config")
    }

    /// `PROGRAM ARGS` as the account, in its home, with only PATH (`machine` first), HOME, its
    /// store, its DOCKER_CONFIG and `extra` in the environment.
    fn command(&self, extra: &[(&str, String)], program_and_args: &[&str]) -> Command {
        let mut cmd = Command::new("runuser");
        cmd.current_dir(&self.home)
            .args(["-u", &self.name, "--", "env", "-i"])
            .arg(format!("PATH={}:{SYSTEM_PATH}", bin_dir().display()))
            .arg(format!("HOME={}", self.home.display()))
            .arg(format!("USER={}", self.name))
            .arg(format!("MACHINE_STORAGE_PATH={}", self.store.display()))
            .arg(format!("DOCKER_CONFIG={}", self.docker_config.display()));
        for (k, v) in extra {
            cmd.arg(format!("{k}={v}"));
        }
        cmd.args(program_and_args);
        cmd
    }

    /// `machine ARGS` as the account.
    fn machine(&self, args: &[&str], timeout: Duration) -> CallOutput {
        let mut all = vec!["machine"];
        all.extend_from_slice(args);
        call(&mut self.command(&[], &all), args, timeout)
    }

    fn ok(&self, args: &[&str]) -> String {
        let out = self.machine(args, CALL_TIMEOUT);
        assert!(out.success, "expected success (as {}):\n{out}", self.name);
        out.stdout
    }

    fn bash(&self, script: &str) -> CallOutput {
        logged(
            &mut self.command(&[], &["bash", "-c", script]),
            &format!("bash as {}", self.name),
            CALL_TIMEOUT,
        )
    }

    /// The docker client as the account, with its DOCKER_CONFIG and the system's ssh.
    fn docker(&self, args: &[&str]) -> CallOutput {
        let mut all = vec!["docker"];
        all.extend_from_slice(args);
        logged(
            &mut self.command(&[], &all),
            &format!("docker {} as {}", args.join(" "), self.name),
            CALL_TIMEOUT,
        )
    }

    /// The docker client as the account with exactly DOCKER_HOST and PATH (the wrapper's
    /// folder first): a shell that evaluated `machine env` earlier.
    fn docker_through_wrapper(
        &self,
        docker_host: &str,
        wrapper: &Path,
        args: &[&str],
    ) -> CallOutput {
        let mut cmd = Command::new("runuser");
        cmd.current_dir(&self.home)
            .args(["-u", &self.name, "--", "env", "-i"])
            .arg(format!("PATH={}:{SYSTEM_PATH}", wrapper.display()))
            .arg(format!("HOME={}", self.home.display()))
            .arg(format!("DOCKER_CONFIG={}", self.docker_config.display()))
            .arg(format!("DOCKER_HOST={docker_host}"))
            .arg("docker")
            .args(args);
        logged(
            &mut cmd,
            &format!(
                "docker {} as {} (DOCKER_HOST={docker_host})",
                args.join(" "),
                self.name
            ),
            CALL_TIMEOUT,
        )
    }
}

impl Drop for User {
    fn drop(&mut self) {
        let _ = Command::new("userdel")
            .args(["-r", "-f", &self.name])
            .output();
    }
}

// ---------------------------------------------------------------------------------------------
// The tests

/// A host without Docker, the whole life of an SSH-transport machine as a user of their own:
/// create installs Docker and sets up no TLS; `ls`, `status`, `url`, `config`, `inspect`,
/// `version`; `eval "$(machine env NAME)"` in a fresh shell whose ~/.ssh/config would break any
/// ssh that read it: docker (info, import, run), `active`, then `env -u`; the docker context
/// once `machine ssh-config --add` put the Include line in ~/.ssh/config, and `machine use`; a
/// changed host key refused on both paths until `host-key accept`; rm.
#[test]
fn ssh_transport_on_a_host_without_docker_env_context_and_host_key() {
    let host = timed("test host start", || TestHost::start(SUITE));
    assert!(
        host.exec_output("command -v docker").stdout.is_empty(),
        "the test host must start without Docker"
    );
    let user = User::new(&host.key.private);
    let name = unique_name("ssh-fresh");
    // Any ssh that reads the account's ~/.ssh/config goes nowhere.
    user.write(
        &user.ssh_config(),
        "Host *\n    ProxyCommand /bin/false\n",
        0o600,
    );

    let key = user.key.to_str().unwrap().to_string();
    let mut args = vec![
        "create",
        "-d",
        "generic",
        "--generic-ip-address",
        &host.ip,
        "--generic-ssh-user",
        &host.user,
        "--generic-ssh-key",
        &key,
    ];
    args.extend_from_slice(&SSH_TRANSPORT);
    args.extend_from_slice(&PACKAGES);
    args.push(&name);
    let out = timed("create --engine-transport ssh (fresh host)", || {
        user.machine(&args, CREATE_TIMEOUT)
    });
    assert!(out.success, "create failed:\n{out}");

    // The host: Docker installed and running, no TLS, nick in the docker group.
    let pkg = host.exec("dpkg-query -W -f='${Status}' docker.io");
    assert_eq!(pkg, "install ok installed", "docker.io not installed");
    daemon(&host);
    assert_ssh_setup(&host, "after create on a fresh host");
    let version = host_docker_version(&host);

    // What the CLI says of it.
    let table = LsTable::parse(&user.ok(&["ls"]));
    let row = table
        .row(&name)
        .unwrap_or_else(|| panic!("`ls` does not list {name}:\n{}", table.raw));
    let url = format!("ssh://{}@{}:22", host.user, host.ip);
    assert_eq!(row["STATE"], "Running", "{}", table.raw);
    assert_eq!(row["URL"], url, "{}", table.raw);
    assert_eq!(row["DOCKER"], format!("v{version}"), "{}", table.raw);
    assert_eq!(row["ERRORS"], "", "{}", table.raw);
    assert_eq!(user.ok(&["status", &name]).trim(), "Running");
    assert_eq!(user.ok(&["url", &name]).trim(), url);
    assert_eq!(user.ok(&["version", &name]).trim(), version);
    assert_eq!(
        user.ok(&["inspect", "--format", TRANSPORT_FORMAT, &name])
            .trim(),
        "ssh"
    );
    let config = user.ok(&["config", &name]);
    assert!(
        config.contains(&format!("-H=ssh://machine-{name}")),
        "`config` must give the alias:\n{config}"
    );
    assert!(
        !config.contains("--tls"),
        "`config` of an SSH machine gives TLS flags:\n{config}"
    );

    // eval "$(machine env NAME)" in a fresh shell of the account's; the import needs a file the
    // account can read.
    let tar = user.home.join("busybox.tar");
    busybox_tar(&tar);
    user.own(&tar, 0o644);
    let env_shell = user.bash(&env_script(&name, &tar));
    let out = &env_shell;
    let wrapper = check_env_script(out, &name, &user.store);
    assert_eq!(
        field(out, "OTHER"),
        Some("proxycommand /bin/false"),
        "the wrapper must leave the ssh of other hosts to the user's own config:\n{out}"
    );
    let alias = format!("ssh://machine-{name}");
    let marker = format!("{name}-marker");
    let run =
        user.docker_through_wrapper(&alias, &wrapper, &["run", "--name", &marker, IMAGE, "true"]);
    assert!(run.success, "{run}");
    assert_eq!(
        host.exec(&format!(
            "docker ps -a --format '{{{{.Names}}}}' --filter name={marker}"
        ))
        .trim(),
        marker,
        "the container is not on the host's engine"
    );

    // The docker context: ssh://machine-NAME, usable once ~/.ssh/config includes the store's.
    let endpoint = user.docker(&[
        "context",
        "inspect",
        &name,
        "--format",
        "{{.Endpoints.docker.Host}}",
    ]);
    assert!(
        endpoint.success,
        "create made no docker context:\n{endpoint}"
    );
    assert_eq!(endpoint.stdout.trim(), alias);
    // a config of the user's own with a Host block: the Include must apply to the alias anyway
    let own = "Host other.example.invalid\n    User someone\n    Port 2222\n";
    user.write(&user.ssh_config(), own, 0o600);
    let before = user.docker(&["--context", &name, "info", "--format", "{{.Name}}"]);
    assert!(
        !before.success,
        "the context reached the machine before the Include line (so the test shows nothing):\n{before}"
    );
    let printed = user.ok(&["ssh-config"]);
    let include = printed
        .lines()
        .map(str::trim)
        .find(|l| l.starts_with("Include "))
        .unwrap_or_else(|| panic!("`machine ssh-config` prints no Include line:\n{printed}"))
        .to_string();
    let included = include
        .trim_start_matches("Include ")
        .trim()
        .trim_matches('"');
    assert!(
        Path::new(included).starts_with(&user.store),
        "the included file is not the store's: {include}"
    );
    assert_eq!(
        std::fs::read_to_string(user.ssh_config()).unwrap(),
        own,
        "`machine ssh-config` without --add changed ~/.ssh/config"
    );
    user.ok(&["ssh-config", "--add"]);
    user.ok(&["ssh-config", "--add"]);
    let text = std::fs::read_to_string(user.ssh_config()).unwrap();
    assert_eq!(
        text.lines().filter(|l| l.trim() == include).count(),
        1,
        "`ssh-config --add` twice must leave one Include line:\n{text}"
    );
    assert!(
        text.contains(own),
        "`ssh-config --add` lost the user's own lines:\n{text}"
    );
    let info = user.docker(&["--context", &name, "info", "--format", "{{.Name}}"]);
    assert!(
        info.success,
        "docker --context {name} fails with the Include line in ~/.ssh/config ({text:?}):\n{info}"
    );
    assert_eq!(info.stdout.trim(), name);
    let hello = user.docker(&["--context", &name, "run", "--rm", IMAGE, "echo", "hi"]);
    assert!(hello.success && hello.stdout == "hi\n", "{hello}");
    // `machine use`: plain `docker` reaches the machine through the context; `use -u` goes back
    user.ok(&["use", &name]);
    let show = user.docker(&["context", "show"]);
    assert_eq!(show.stdout.trim(), name, "{show}");
    let info = user.docker(&["info", "--format", "{{.Name}}"]);
    assert!(
        info.success && info.stdout.trim() == name,
        "plain `docker` does not reach the machine after `machine use {name}`:\n{info}"
    );
    user.ok(&["use", "-u"]);
    let show = user.docker(&["context", "show"]);
    assert_eq!(show.stdout.trim(), "default", "{show}");
    // the user's own Host block still applies to its host
    let other = user.bash("ssh -G other.example.invalid");
    assert!(
        other.stdout.contains("user someone") && other.stdout.contains("port 2222"),
        "{other}"
    );

    // A changed host key: refused by docker on both paths, and by env's check.
    let old = host.exec("ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub");
    regenerate_host_keys(&host);
    assert_ne!(
        old,
        host.exec("ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub")
    );
    let logins = ssh_logins(&host);
    let refused = user.docker_through_wrapper(&alias, &wrapper, &["info", "--format", "{{.Name}}"]);
    assert!(
        !refused.success,
        "docker through the wrapper connected to a host whose key changed:\n{refused}"
    );
    assert!(says_host_key_refused(&refused), "{refused}");
    let refused = user.docker(&["--context", &name, "info", "--format", "{{.Name}}"]);
    assert!(
        !refused.success,
        "docker --context connected to a host whose key changed:\n{refused}"
    );
    assert!(says_host_key_refused(&refused), "{refused}");
    assert_eq!(
        ssh_logins(&host),
        logins,
        "a login was accepted with a changed host key"
    );
    let table = LsTable::parse(&user.ok(&["ls"]));
    let row = table.row(&name).expect("listed");
    assert!(
        row["DOCKER"] != format!("v{version}") && row["ERRORS"].contains("changed"),
        "`ls` must not show the daemon of a host whose key changed, and must say why:\n{}",
        table.raw
    );
    let env = user.machine(&["env", &name], CALL_TIMEOUT);
    assert!(!env.success, "`env` passed its check:\n{env}");
    assert!(env.text_lower().contains("has changed"), "{env}");
    assert!(
        !env.stdout.contains("export"),
        "`env` printed something to evaluate:\n{env}"
    );
    // once accepted, both paths work again with no other command run (checked at the end, so
    // that rm is seen whatever they do)
    user.ok(&["host-key", "accept", "-y", &name]);
    let accepted_wrapper =
        user.docker_through_wrapper(&alias, &wrapper, &["info", "--format", "{{.Name}}"]);
    let accepted_context = user.docker(&["--context", &name, "info", "--format", "{{.Name}}"]);

    // rm: the group membership goes, Docker stays, and so does the container.
    let running = daemon(&host);
    user.ok(&["rm", "-y", &name]);
    assert!(
        !in_docker_group(&host, &host.user),
        "rm left {} in the docker group: {:?}",
        host.user,
        groups(&host, &host.user)
    );
    assert_eq!(daemon(&host), running, "rm restarted or stopped Docker");
    assert!(
        host.exec("docker ps -a --format '{{.Names}}'")
            .contains(&marker),
        "rm removed a container"
    );
    let contexts = user.docker(&["context", "ls", "--format", "{{.Name}}"]);
    assert!(
        contexts.success && !contexts.stdout.lines().any(|l| l == name),
        "rm left the docker context:\n{contexts}"
    );

    assert_active(&env_shell, &name);
    for (path, info) in [
        ("the env wrapper", &accepted_wrapper),
        ("the docker context", &accepted_context),
    ] {
        assert!(
            info.success && info.stdout.trim() == name,
            "after `machine host-key accept -y {name}`, docker through {path} does not reach \
             the machine:\n{info}"
        );
    }
}

/// A host that already runs Docker: create over SSH leaves its daemon alone (same process,
/// same start, one SSH login); docker through `machine env` in a fresh shell; then the machine
/// moves to TLS and back, each time with the port, the files, the group and docker checked;
/// rm leaves Docker running.
#[test]
fn ssh_transport_on_a_running_docker_then_moved_to_tls_and_back() {
    let cli = Cli::new();
    let host = timed("test host start", TestHost::start_with_docker);
    let name = unique_name("ssh-docker");
    let before = daemon(&host);
    assert!(
        !in_docker_group(&host, &host.user),
        "{} must start outside the docker group",
        host.user
    );
    let logins = ssh_logins(&host);
    let out = timed("create --engine-transport ssh (Docker running)", || {
        cli.create_on(&host, &SSH_TRANSPORT, &name)
    });
    assert!(out.success, "create failed:\n{out}");
    // checked last, so that the rest is seen whatever it is
    std::thread::sleep(Duration::from_secs(1)); // journald
    let create_logins = ssh_logins(&host) - logins;
    let login_log =
        host.exec("journalctl -t sshd -t sshd-session --no-pager | grep -i accepted || true");
    assert_eq!(
        daemon(&host),
        before,
        "create restarted the host's running dockerd"
    );
    assert_ssh_setup(&host, "after create on a host running Docker");

    let dir = tempfile::tempdir().unwrap();
    let tar = dir.path().join("busybox.tar");
    busybox_tar(&tar);
    let env_shell = fresh_bash(&cli, &env_script(&name, &tar));
    let wrapper = check_env_script(&env_shell, &name, cli.store());
    assert_eq!(
        cli.ok(&["inspect", "--format", TRANSPORT_FORMAT, &name])
            .trim(),
        "ssh"
    );
    assert_eq!(
        cli.ok(&["url", &name]).trim(),
        format!("ssh://{}@{}:22", host.user, host.ip)
    );

    // to TLS: dockerd on 2376 with our certificates, the group membership taken back, docker
    // over TLS
    let out = cli.call_with_timeout(
        &["provision", "--engine-transport", "tls", &name],
        CREATE_TIMEOUT,
    );
    assert!(
        out.success,
        "provision --engine-transport tls failed:\n{out}"
    );
    daemon(&host);
    assert_tls_setup(&host, "after the move to TLS");
    assert!(
        !in_docker_group(&host, &host.user),
        "the move to TLS left {} in the docker group",
        host.user
    );
    assert_eq!(
        cli.ok(&["inspect", "--format", TRANSPORT_FORMAT, &name])
            .trim(),
        "tls"
    );
    let tcp = format!("tcp://{}:2376", host.ip);
    assert_eq!(cli.ok(&["url", &name]).trim(), tcp);
    let env = cli.env(&name);
    assert_eq!(var(&env, "DOCKER_HOST"), Some(tcp.as_str()), "{env:?}");
    assert_eq!(var(&env, "DOCKER_TLS_VERIFY"), Some("1"), "{env:?}");
    let remote = machine_e2e::docker_ok(&env, &["run", "--rm", IMAGE, "echo", "over-tls"]);
    // the docker context follows: TLS, and it works
    let context = |args: &[&str]| {
        let env = [(
            "DOCKER_CONFIG".to_string(),
            cli.docker_config().display().to_string(),
        )];
        let mut cmd = support::docker_cmd(&env);
        cmd.args(args);
        logged(
            &mut cmd,
            &format!("docker {}", args.join(" ")),
            CALL_TIMEOUT,
        )
    };
    let endpoint = [
        "context",
        "inspect",
        &name,
        "--format",
        "{{.Endpoints.docker.Host}}",
    ];
    assert_eq!(
        context(&endpoint).stdout.trim(),
        tcp,
        "the context did not move"
    );
    let info = context(&["--context", &name, "info", "--format", "{{.Name}}"]);
    assert!(info.success && info.stdout.trim() == name, "{info}");
    assert_eq!(remote, "over-tls\n");
    let stale = docker_through_wrapper(
        &format!("ssh://machine-{name}"),
        &wrapper,
        &["info", "--format", "{{.Name}}"],
    );
    assert!(
        !stale.success,
        "the SSH path still reaches the daemon of a machine moved to TLS (the login user should \
         have left the docker group):\n{stale}"
    );

    // back to SSH: the port closed, the files gone, the group back, docker over SSH
    let out = cli.call_with_timeout(
        &["provision", "--engine-transport", "ssh", &name],
        CREATE_TIMEOUT,
    );
    assert!(
        out.success,
        "provision --engine-transport ssh failed:\n{out}"
    );
    let moved = daemon(&host);
    assert_ssh_setup(&host, "after the move back to SSH");
    assert_eq!(
        cli.ok(&["inspect", "--format", TRANSPORT_FORMAT, &name])
            .trim(),
        "ssh"
    );
    let out = fresh_bash(&cli, &env_script(&name, &tar));
    check_env_script(&out, &name, cli.store());
    assert_eq!(
        context(&endpoint).stdout.trim(),
        format!("ssh://machine-{name}"),
        "the context did not move back"
    );
    let old_tls = machine_e2e::support::run_with_timeout(
        support::docker_cmd(&env).args(["info", "--format", "{{.Name}}"]),
        CALL_TIMEOUT,
    );
    assert!(
        !old_tls.status.success(),
        "the TLS environment still reaches the daemon after the move to SSH"
    );

    // rm: out of the docker group, the same daemon still running
    cli.ok(&["rm", "-y", &name]);
    assert!(
        !in_docker_group(&host, &host.user),
        "rm left {} in the docker group",
        host.user
    );
    assert_eq!(daemon(&host), moved, "rm restarted or stopped Docker");

    assert_active(&env_shell, &name);
    // on a host that runs Docker: one login provisions (with the user's key, installing the
    // machine's), and one more checks the daemon with the machine's key because create put
    // the login user in the docker group, which a login that began before does not have
    assert_eq!(
        create_logins, 2,
        "SSH logins during create (sshd's log):\n{login_log}"
    );
}

/// `ls` of a mixed fleet: a TLS machine and an SSH machine, each on a host of its own, both
/// Running with their URLs and their daemons' versions; `status`, `version` and `env` of each;
/// a swarm led by the SSH machine that the TLS one joins.
#[test]
fn ls_of_a_mixed_fleet_shows_both_transports() {
    let cli = Cli::new();
    let tls_host = timed("test host start", TestHost::start_with_docker);
    let ssh_host = timed("test host start", TestHost::start_with_docker);
    let tls = unique_name("mixed-tls");
    let ssh = unique_name("mixed-ssh");
    let out = cli.create_on(&tls_host, &[], &tls);
    assert!(out.success, "create (tls) failed:\n{out}");
    let out = cli.create_on(&ssh_host, &SSH_TRANSPORT, &ssh);
    assert!(out.success, "create (ssh) failed:\n{out}");

    let table = cli.ls();
    for (name, host, url) in [
        (&tls, &tls_host, format!("tcp://{}:2376", tls_host.ip)),
        (
            &ssh,
            &ssh_host,
            format!("ssh://{}@{}:22", ssh_host.user, ssh_host.ip),
        ),
    ] {
        let row = table
            .row(name)
            .unwrap_or_else(|| panic!("`ls` does not list {name}:\n{}", table.raw));
        let version = host_docker_version(host);
        assert_eq!(row["STATE"], "Running", "{}", table.raw);
        assert_eq!(row["URL"], url, "{}", table.raw);
        assert_eq!(row["DOCKER"], format!("v{version}"), "{}", table.raw);
        assert_eq!(row["ERRORS"], "", "{}", table.raw);
        assert_eq!(cli.ok(&["status", name]).trim(), "Running");
        assert_eq!(cli.ok(&["version", name]).trim(), version);
        assert_eq!(cli.ok(&["url", name]).trim(), url);
    }
    assert_eq!(
        var(&cli.env(&ssh), "DOCKER_HOST"),
        Some(format!("ssh://machine-{ssh}").as_str())
    );
    assert_eq!(
        var(&cli.env(&tls), "DOCKER_HOST"),
        Some(format!("tcp://{}:2376", tls_host.ip).as_str())
    );
    // a template over both: the transport of each
    let out = cli.ok(&["ls", "--format", "{{.Name}} {{.URL}}"]);
    assert!(
        out.lines()
            .any(|l| l == format!("{ssh} ssh://{}@{}:22", ssh_host.user, ssh_host.ip))
            && out
                .lines()
                .any(|l| l == format!("{tls} tcp://{}:2376", tls_host.ip)),
        "{out}"
    );

    // swarm mode across the two: the SSH machine leads, the TLS one joins; the nodes as the
    // lead's daemon lists them, through `machine env` of the SSH machine
    let init = cli.ok(&["swarm", "init", &ssh]);
    assert!(init.contains("Swarm initialized"), "{init}");
    cli.ok(&["swarm", "join", &ssh, &tls]);
    let out = fresh_bash(
        &cli,
        &format!(
            "eval \"$(machine env {ssh})\" && docker node ls --format '{{{{.Hostname}}}} {{{{.Status}}}}'"
        ),
    );
    let ready: std::collections::BTreeSet<&str> = out
        .stdout
        .lines()
        .filter_map(|l| l.strip_suffix(" Ready"))
        .collect();
    let want: std::collections::BTreeSet<&str> = [ssh.as_str(), tls.as_str()].into();
    assert_eq!(ready, want, "docker node ls on the SSH lead:\n{out}");

    cli.ok(&["rm", "-y", &tls, &ssh]);
}

/// Makes `to` a copy of machine `from` in the store (the folder's files, the record renamed),
/// as if it had been made on the same host.
fn copy_machine(cli: &Cli, from: &str, to: &str) {
    let src = cli.machine_dir(from);
    let dst = cli.machine_dir(to);
    std::fs::create_dir_all(&dst).unwrap();
    for e in std::fs::read_dir(&src).unwrap() {
        let e = e.unwrap();
        if e.file_type().unwrap().is_file() && e.file_name() != ".lock" {
            std::fs::copy(e.path(), dst.join(e.file_name())).unwrap();
        }
    }
    let path = dst.join("config.json");
    let mut config: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    config["name"] = to.into();
    std::fs::write(&path, serde_json::to_string(&config).unwrap()).unwrap();
}

/// `ls` over many SSH-transport machines of one host (300 copies of one machine; the host's
/// sshd takes that many handshakes at once: MaxStartups raised, its default drops them): each
/// row its own SSH login, so the host's CPU decides how many answer in time. Whatever that
/// number, `ls` returns within its timeout plus a small margin (as for TLS machines in
/// ls_unreachable.rs), some rows answer, and a Running row without the daemon's version says
/// why. (A row may say Stopped: the generic driver's state is Docker Machine's, a TCP probe of
/// the SSH port, which an sshd busy with hundreds of logins can leave unanswered for its 2 s;
/// the transport guide says so.)
#[test]
fn ls_over_many_ssh_machines_of_one_host_stays_within_its_timeout_and_says_why() {
    const COPIES: usize = 300;
    const TIMEOUT: Duration = Duration::from_secs(10);
    const MARGIN: Duration = Duration::from_millis(1500);
    let cli = Cli::new();
    let host = timed("test host start", TestHost::start_with_docker);
    let name = unique_name("many-ssh");
    let out = cli.create_on(&host, &SSH_TRANSPORT, &name);
    assert!(out.success, "create failed:\n{out}");
    host.exec("echo 'MaxStartups 1000' >> /etc/ssh/sshd_config");
    host.reload_sshd();
    for i in 0..COPIES {
        copy_machine(&cli, &name, &format!("{name}-c{i}"));
    }
    let version = format!("v{}", host_docker_version(&host));
    let started = Instant::now();
    let out = cli.call_with_timeout(&["ls", "-t", "10"], Duration::from_secs(120));
    let took = started.elapsed();
    assert!(out.success, "{out}");
    let table = LsTable::parse(&out.stdout);
    assert_eq!(table.rows.len(), COPIES + 1, "{}", table.raw);
    let answered = table
        .rows
        .iter()
        .filter(|r| r["STATE"] == "Running" && r["DOCKER"] == version && r["ERRORS"].is_empty())
        .count();
    let stopped: Vec<&str> = table
        .rows
        .iter()
        .filter(|r| r["STATE"] == "Stopped")
        .map(|r| r["NAME"].as_str())
        .collect();
    let silent: Vec<&str> = table
        .rows
        .iter()
        .filter(|r| r["STATE"] == "Running" && r["DOCKER"] != version && r["ERRORS"].is_empty())
        .map(|r| r["NAME"].as_str())
        .collect();
    eprintln!(
        "ls over {} SSH machines of one host: {took:.1?}, {answered} answered, {} Stopped, {} \
         Running without the version and without an error",
        COPIES + 1,
        stopped.len(),
        silent.len()
    );
    assert!(
        took <= TIMEOUT + MARGIN,
        "ls -t 10 took {took:.1?} ({answered} of {} rows answered)",
        COPIES + 1
    );
    assert!(
        answered > 0,
        "no row answered; {} say Stopped (e.g. {:?})",
        stopped.len(),
        &stopped[..stopped.len().min(5)]
    );
    assert!(
        silent.is_empty(),
        "{} rows show no version and no error (e.g. {:?})",
        silent.len(),
        &silent[..silent.len().min(5)]
    );
}
