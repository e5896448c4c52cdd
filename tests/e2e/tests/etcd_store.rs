//! The etcd store end to end (issue 11): two `machine` processes acting as two workstations
//! (their own HOME, cache, DOCKER_CONFIG and working folder) share machines through a real
//! 3-member etcd cluster on loopback (Debian's etcd-server), against a real test host that
//! already runs Docker (Debian's docker.io; our provisioner configures its TLS daemon) and the
//! real docker client over TLS.
//!
//! Needs scripts/test-env.sh and `cargo build --workspace --bins`; nothing here skips.

use machine_e2e::support::{self, EtcdCluster, TestHost};
use machine_e2e::{
    call, docker_ok, timed, unique_name, workspace_bin, CallOutput, LsTable, CALL_TIMEOUT,
    CREATE_TIMEOUT,
};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// base64 of 32 bytes: the team's store key in these tests.
const STORE_KEY: &str = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=";
/// Seconds a killed holder's lock outlives it.
const LEASE_TTL: u64 = 5;

/// One workstation: its own home (and so its own cache of exported files), docker
/// configuration and working folder, the shared store's URL and the team's key.
struct Workstation {
    home: tempfile::TempDir,
    storage: String,
    key: Option<&'static str>,
    /// The key from a 0600 file in its home (`MACHINE_STORE_KEY_FILE`), not the environment.
    key_in_file: bool,
}

impl Workstation {
    fn new(storage: &str) -> Workstation {
        workspace_bin("machine-driver-generic");
        Workstation {
            home: tempfile::Builder::new()
                .prefix("machine-e2e-home-")
                .tempdir()
                .unwrap(),
            storage: storage.to_string(),
            key: Some(STORE_KEY),
            key_in_file: false,
        }
    }

    fn docker_config(&self) -> std::path::PathBuf {
        self.home.path().join(".docker")
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(workspace_bin("machine"));
        for v in support::docker::DOCKER_ENV_VARS {
            cmd.env_remove(v);
        }
        for v in ["XDG_CACHE_HOME", "XDG_DATA_HOME", "MACHINE_STORE_KEY_FILE"] {
            cmd.env_remove(v);
        }
        cmd.env("HOME", self.home.path())
            .env("DOCKER_CONFIG", self.docker_config())
            .env("MACHINE_STORAGE_PATH", &self.storage)
            .env("MACHINE_ETCD_LEASE_TTL", LEASE_TTL.to_string())
            .current_dir(self.home.path())
            .args(args);
        cmd.env_remove("MACHINE_STORE_KEY");
        match self.key {
            Some(k) if self.key_in_file => {
                use std::os::unix::fs::OpenOptionsExt;
                let path = self.home.path().join("team.key");
                std::io::Write::write_all(
                    &mut std::fs::OpenOptions::new()
                        .create(true)
                        .truncate(true)
                        .write(true)
                        .mode(0o600)
                        .open(&path)
                        .unwrap(),
                    format!("{k}\n").as_bytes(),
                )
                .unwrap();
                cmd.env("MACHINE_STORE_KEY_FILE", path)
            }
            Some(k) => cmd.env("MACHINE_STORE_KEY", k),
            None => &mut cmd,
        };
        cmd
    }

    fn call(&self, args: &[&str], timeout: Duration) -> CallOutput {
        call(&mut self.command(args), args, timeout)
    }

    fn ok(&self, args: &[&str]) -> String {
        let out = self.call(args, CALL_TIMEOUT);
        assert!(out.success, "expected success:\n{out}");
        out.stdout
    }

    fn create(&self, host: &TestHost, name: &str) -> CallOutput {
        let key = host.key.private.to_str().unwrap();
        self.call(
            &[
                "create",
                "-d",
                "generic",
                "--generic-ip-address",
                &host.ip,
                "--generic-ssh-user",
                &host.user,
                "--generic-ssh-key",
                key,
                "--engine-install-method",
                "packages",
                name,
            ],
            CREATE_TIMEOUT,
        )
    }

    fn env(&self, name: &str) -> Vec<(String, String)> {
        support::parse_exports(&self.ok(&["env", name]))
    }
}

fn assert_no_secret_in(cluster: &EtcdCluster, prefix: &str) {
    let dump = cluster.dump(prefix);
    assert!(
        dump.contains("/machines/"),
        "the dump holds no machine:\n{dump}"
    );
    assert!(
        !dump.contains("PRIVATE KEY"),
        "a private key is in clear in etcd:\n{dump}"
    );
}

#[test]
fn two_workstations_share_machines_through_etcd() {
    let mut cluster = timed("etcd cluster start", || EtcdCluster::start(3));
    let host = timed("test host start", TestHost::start_with_docker);
    let storage = cluster.storage_path("team");
    // a has the team's key in its environment, b in a file
    let a = Workstation::new(&storage);
    let b = Workstation {
        key_in_file: true,
        ..Workstation::new(&storage)
    };
    let name = unique_name("etcd");

    // one name created from both at once: exactly one wins
    let (ra, rb) = std::thread::scope(|s| {
        let ta = s.spawn(|| a.create(&host, &name));
        let tb = s.spawn(|| b.create(&host, &name));
        (ta.join().unwrap(), tb.join().unwrap())
    });
    assert!(
        ra.success != rb.success,
        "exactly one create must win:\n{ra}\n{rb}"
    );
    let loser = if ra.success { &rb } else { &ra };
    assert!(
        loser.stderr.contains("already exists"),
        "the loser says the name is taken:\n{loser}"
    );
    assert_no_secret_in(&cluster, "team/");

    // the other workstation lists it, and reaches its daemon with its own exported files
    let ls = LsTable::parse(&b.ok(&["ls"]));
    let row = ls.row(&name).expect("b lists the machine");
    assert_eq!(row["STATE"], "Running", "{row:?}");
    assert_eq!(row["URL"], format!("tcp://{}:2376", host.ip));
    for w in [&a, &b] {
        let env = w.env(&name);
        let cert_path = machine_e2e::var(&env, "DOCKER_CERT_PATH")
            .unwrap()
            .to_string();
        assert!(
            cert_path.starts_with(w.home.path().to_str().unwrap()),
            "DOCKER_CERT_PATH is in the workstation's own cache: {cert_path}"
        );
        use std::os::unix::fs::MetadataExt;
        assert_eq!(std::fs::metadata(&cert_path).unwrap().mode() & 0o777, 0o700);
        docker_ok(&env, &["version"]);
    }

    // b's docker client uses the machine through a docker context of b's own
    b.ok(&["use", &name]);
    let b_docker = [(
        "DOCKER_CONFIG".to_string(),
        b.docker_config().display().to_string(),
    )];
    docker_ok(&b_docker, &["--context", &name, "version"]);

    // a rotation on one workstation reaches the other's cache and docker context on its next
    // command that touches the machine
    let before = std::fs::read(
        Path::new(machine_e2e::var(&b.env(&name), "DOCKER_CERT_PATH").unwrap()).join("cert.pem"),
    )
    .unwrap();
    let out = a.call(&["rotate-ca", "-f"], CREATE_TIMEOUT);
    assert!(out.success, "{out}");
    let env = b.env(&name);
    let after = std::fs::read(
        Path::new(machine_e2e::var(&env, "DOCKER_CERT_PATH").unwrap()).join("cert.pem"),
    )
    .unwrap();
    assert_ne!(
        before, after,
        "b's cached client certificate was not refreshed"
    );
    docker_ok(&env, &["version"]);
    docker_ok(&b_docker, &["--context", &name, "version"]);
    docker_ok(&b_docker, &["version"]); // its current context

    // without the store key: names, driver and URL, and the reason in ERRORS
    let keyless = Workstation {
        key: None,
        ..Workstation::new(&storage)
    };
    let ls = LsTable::parse(&keyless.ok(&["ls"]));
    let row = ls.row(&name).expect("listed without the key");
    assert_eq!(row["DRIVER"], "generic", "{row:?}");
    assert_eq!(row["URL"], format!("tcp://{}:2376", host.ip), "{row:?}");
    assert!(row["ERRORS"].contains("store key"), "{row:?}");
    let out = keyless.call(&["env", &name], CALL_TIMEOUT);
    assert!(
        !out.success && out.stderr.contains("MACHINE_STORE_KEY"),
        "{out}"
    );

    // one member dies: the others go on
    cluster.kill(0);
    let ls = LsTable::parse(&b.ok(&["ls"]));
    assert_eq!(ls.row(&name).expect("listed")["STATE"], "Running");

    // a lock holder killed with SIGKILL: its lock goes when its lease ends
    let mut holder = a
        .command(&["provision", &name])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // killed as soon as its lock is in etcd
    let lock_prefix = format!("team/locks/{name}/");
    let start = Instant::now();
    while !cluster.dump(&lock_prefix).contains(&lock_prefix) {
        assert!(
            holder.try_wait().unwrap().is_none(),
            "provision ended before it was seen holding the lock"
        );
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "provision never took the lock"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    holder.kill().unwrap(); // SIGKILL
    holder.wait().unwrap();
    assert!(
        cluster.dump(&lock_prefix).contains(&lock_prefix),
        "the killed holder's lock outlives it until its lease ends"
    );
    let killed = Instant::now();
    let out = b.call(&["rm", "-y", &name], CALL_TIMEOUT);
    assert!(out.success, "{out}");
    let waited = killed.elapsed();
    assert!(
        waited >= Duration::from_secs(2) && waited < Duration::from_secs(LEASE_TTL + 20),
        "rm waited {waited:?} for a dead holder's lock (its lease: {LEASE_TTL} s)"
    );
    assert!(!b.ok(&["ls", "-q"]).lines().any(|l| l == name));
    assert!(!a.ok(&["ls", "-q"]).lines().any(|l| l == name));
}

#[test]
fn store_migrate_copies_a_folder_into_etcd_and_back() {
    let cluster = EtcdCluster::start(3);
    let folder = tempfile::tempdir().unwrap();
    // a store must be private to be opened
    private(folder.path(), 0o700);
    let w = Workstation::new(&cluster.storage_path("mig"));
    let file_store = folder.path().to_str().unwrap();
    // the committed store of an earlier release: a machine with its keys and certificates
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/store-v1/store");
    copy_fixture(&fixture, folder.path(), file_store);
    let name = "old1";
    let out = w.call(&["store", "migrate", file_store, &w.storage], CALL_TIMEOUT);
    assert!(out.success, "{out}");
    assert!(out.stdout.contains(&format!("copied {name}")), "{out}");
    assert!(w.ok(&["ls", "-q"]).lines().any(|l| l == name));
    assert_no_secret_in(&cluster, "mig/");
    let back = tempfile::tempdir().unwrap();
    private(back.path(), 0o700);
    let back_path = back.path().to_str().unwrap();
    let out = w.call(&["store", "migrate", &w.storage, back_path], CALL_TIMEOUT);
    assert!(out.success, "{out}");
    assert_eq!(
        std::fs::read(folder.path().join("certs/ca.pem")).unwrap(),
        std::fs::read(back.path().join("certs/ca.pem")).unwrap()
    );
}

/// Only the owner may use `path` (a store refuses anything else).
fn private(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

fn copy_fixture(from: &Path, to: &Path, store: &str) {
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let dest = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            std::fs::create_dir_all(&dest).unwrap();
            private(&dest, 0o700);
            copy_fixture(&e.path(), &dest, store);
        } else {
            let text = std::fs::read_to_string(e.path())
                .unwrap()
                .replace("@STORE@", store)
                .replace("@IP@", "192.0.2.7")
                .replace("@HOSTKEY@", "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIC8ZZUmGdZguG05T8g+2Ro2DSmLNtgfwrYMLXmCDiBbw");
            std::fs::write(&dest, text).unwrap();
            private(&dest, 0o600);
        }
    }
}

#[test]
fn an_unknown_scheme_is_refused() {
    let w = Workstation::new("s3://bucket/machines");
    let out = w.call(&["ls"], CALL_TIMEOUT);
    assert!(!out.success, "{out}");
    assert!(out.stderr.contains("unknown scheme"), "{out}");
    assert!(!w.home.path().join("s3:").exists());
}
