//! Helpers for the end-to-end tests in tests/: the `machine` CLI binary driven as a user drives
//! it (a fresh store per test, `--storage-path` on every call), its `ls` table, its `env` output,
//! and the failed-create checks. Test hosts, the file server and the remote docker client come
//! from `machine-testsupport`.
//!
//! Nothing skips: a missing binary panics with the command that builds it.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

pub use machine_testsupport as support;
use support::{run_with_timeout, TestHost};

/// How to build the binaries these tests drive.
pub const BUILD_HINT: &str = "run `cargo build --workspace --bins` (scripts/test.sh does it)";

/// Time limits for CLI calls: a create installs Docker (about 20 s here), a restart reboots.
pub const CREATE_TIMEOUT: Duration = Duration::from_secs(360);
pub const RESTART_TIMEOUT: Duration = Duration::from_secs(300);
pub const CALL_TIMEOUT: Duration = Duration::from_secs(120);

/// The folder holding the workspace's built binaries (target/debug): found from this test's own
/// executable (target/debug/deps/NAME-HASH), else the repository's target/debug.
pub fn bin_dir() -> PathBuf {
    if let Ok(exe) = std::env::current_exe() {
        if let Some(dir) = exe.parent().and_then(|deps| deps.parent()) {
            if dir.join("machine").is_file() {
                return dir.to_path_buf();
            }
        }
    }
    let dir = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| support::repo_root().join("target"))
        .join("debug");
    if dir.join("machine").is_file() {
        return dir;
    }
    support::repo_root().join("target/debug")
}

/// A built binary of the workspace, e.g. `machine` or `machine-driver-generic`.
pub fn workspace_bin(name: &str) -> PathBuf {
    let path = bin_dir().join(name);
    if !path.is_file() {
        panic!("{} is missing: {BUILD_HINT}", path.display());
    }
    path
}

/// What one CLI call did.
#[derive(Debug)]
pub struct CallOutput {
    pub args: Vec<String>,
    pub success: bool,
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
    pub elapsed: Duration,
}

impl CallOutput {
    /// stdout and stderr together, lower-cased, for looking for words in an error.
    pub fn text_lower(&self) -> String {
        format!("{}\n{}", self.stdout, self.stderr).to_lowercase()
    }
}

impl std::fmt::Display for CallOutput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "`machine {}` -> {} in {:.1?}\n--- stdout ---\n{}\n--- stderr ---\n{}",
            self.args.join(" "),
            match self.code {
                Some(c) => format!("exit {c}"),
                None => "killed by a signal".into(),
            },
            self.elapsed,
            self.stdout.trim_end(),
            self.stderr.trim_end()
        )
    }
}

/// The `machine` CLI with its own temporary store, and its own docker configuration folder
/// (DOCKER_CONFIG, where it makes docker contexts).
pub struct Cli {
    bin: PathBuf,
    store: tempfile::TempDir,
    docker_config: tempfile::TempDir,
}

impl Default for Cli {
    fn default() -> Self {
        Self::new()
    }
}

/// Runs `cmd` (killed after `timeout`), logs what it did to stderr and returns it; `args` is
/// what the log shows as the command line.
pub fn call(cmd: &mut Command, args: &[&str], timeout: Duration) -> CallOutput {
    let start = Instant::now();
    let out = run_with_timeout(cmd, timeout);
    let out = CallOutput {
        args: args.iter().map(|s| s.to_string()).collect(),
        success: out.status.success(),
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        elapsed: start.elapsed(),
    };
    eprintln!("{out}\n");
    out
}

impl Cli {
    /// The CLI at target/debug/machine (with its generic driver next to it) and an empty store.
    pub fn new() -> Cli {
        let bin = workspace_bin("machine");
        workspace_bin("machine-driver-generic");
        Cli {
            bin,
            // private, as machine requires of a store
            store: tempfile::Builder::new()
                .prefix("machine-e2e-store-")
                .permissions(std::os::unix::fs::PermissionsExt::from_mode(0o700))
                .tempdir()
                .expect("store tempdir"),
            docker_config: tempfile::Builder::new()
                .prefix("machine-e2e-docker-config-")
                .tempdir()
                .expect("docker config tempdir"),
        }
    }

    /// The docker configuration folder the CLI is given as DOCKER_CONFIG.
    pub fn docker_config(&self) -> &Path {
        self.docker_config.path()
    }

    /// The store folder passed as `--storage-path`.
    pub fn store(&self) -> &Path {
        self.store.path()
    }

    /// The folder of machine `name` in the store (Docker Machine's layout: machines/NAME).
    pub fn machine_dir(&self, name: &str) -> PathBuf {
        self.store().join("machines").join(name)
    }

    /// A command `machine --storage-path STORE ARGS...`, with no Docker or store settings
    /// inherited from the environment, and this CLI's own DOCKER_CONFIG.
    pub fn command(&self, args: &[&str]) -> Command {
        self.command_of(&self.bin, args)
    }

    /// [`Cli::command`] with another `machine` executable (a copy of it elsewhere, say).
    pub fn command_of(&self, program: &Path, args: &[&str]) -> Command {
        let mut cmd = Command::new(program);
        for v in support::docker::DOCKER_ENV_VARS {
            cmd.env_remove(v);
        }
        cmd.env("DOCKER_CONFIG", self.docker_config());
        cmd.env_remove("MACHINE_STORAGE_PATH");
        cmd.arg("--storage-path").arg(self.store()).args(args);
        cmd
    }

    /// Runs `machine ARGS` (killed after `timeout`) and logs what it did to stderr.
    pub fn call_with_timeout(&self, args: &[&str], timeout: Duration) -> CallOutput {
        call(&mut self.command(args), args, timeout)
    }

    /// Runs `machine ARGS` with the default time limit.
    pub fn call(&self, args: &[&str]) -> CallOutput {
        self.call_with_timeout(args, CALL_TIMEOUT)
    }

    /// Runs `machine ARGS`, panics unless it succeeds; returns stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.call(args);
        assert!(out.success, "expected success:\n{out}");
        out.stdout
    }

    /// Runs `machine ARGS`, panics if it succeeds; returns the output.
    pub fn fail(&self, args: &[&str]) -> CallOutput {
        let out = self.call(args);
        assert!(!out.success, "expected a failure:\n{out}");
        out
    }

    /// `machine create -d generic` against `host` as `user` with `key`, plus `extra` flags
    /// (an install flag), naming the machine `name`.
    pub fn create_generic(
        &self,
        host_ip: &str,
        user: &str,
        key: &Path,
        extra: &[&str],
        name: &str,
    ) -> CallOutput {
        let key = key.to_str().expect("key path");
        let mut args = vec![
            "create",
            "-d",
            "generic",
            "--generic-ip-address",
            host_ip,
            "--generic-ssh-user",
            user,
            "--generic-ssh-key",
            key,
        ];
        args.extend_from_slice(extra);
        args.push(name);
        self.call_with_timeout(&args, CREATE_TIMEOUT)
    }

    /// `create_generic` against a test host's sudo user and key.
    pub fn create_on(&self, host: &TestHost, extra: &[&str], name: &str) -> CallOutput {
        self.create_generic(&host.ip, &host.user, &host.key.private, extra, name)
    }

    /// `machine ls`, parsed.
    pub fn ls(&self) -> LsTable {
        let out = self.ok(&["ls"]);
        LsTable::parse(&out)
    }

    /// `machine env NAME`, parsed into the exported variables.
    pub fn env(&self, name: &str) -> Vec<(String, String)> {
        let out = self.ok(&["env", name]);
        let vars = support::parse_exports(&out);
        assert!(
            !vars.is_empty(),
            "`machine env {name}` printed no `export KEY=\"VALUE\"` lines:\n{out}"
        );
        vars
    }

    /// After a failed create of `name`: nothing `ls` shows as healthy, and `rm` removes whatever
    /// the create left (the row and the folder).
    pub fn assert_failed_create_left_nothing_healthy(&self, name: &str) {
        let table = self.ls();
        let row = table.row(name).cloned();
        if let Some(row) = &row {
            let state = row.get("STATE").map(String::as_str).unwrap_or("");
            let errors = row.get("ERRORS").map(String::as_str).unwrap_or("");
            assert!(
                state != "Running" || !errors.is_empty(),
                "a failed create of {name} left a machine that `ls` shows as healthy: {row:?}\n{}",
                table.raw
            );
        }
        if row.is_some() || self.machine_dir(name).exists() {
            let out = self.call(&["rm", "-f", "-y", name]);
            assert!(
                out.success,
                "`rm -f -y` could not remove what a failed create of {name} left:\n{out}"
            );
            let table = self.ls();
            assert!(
                table.row(name).is_none(),
                "{name} still listed after rm:\n{}",
                table.raw
            );
            assert!(
                !self.machine_dir(name).exists(),
                "{} still exists after rm",
                self.machine_dir(name).display()
            );
        }
    }
}

/// `machine ls` output: a header line of column names and one row per machine, cut at the
/// header's column offsets (so empty cells such as SWARM stay empty).
#[derive(Debug, Clone)]
pub struct LsTable {
    pub raw: String,
    pub columns: Vec<String>,
    pub rows: Vec<HashMap<String, String>>,
}

impl LsTable {
    pub fn parse(text: &str) -> LsTable {
        let mut lines = text.lines().filter(|l| !l.trim().is_empty());
        let header = lines
            .next()
            .unwrap_or_else(|| panic!("`machine ls` printed no header:\n{text}"));
        let mut starts = Vec::new();
        let mut columns = Vec::new();
        let mut prev_space = true;
        let chars: Vec<char> = header.chars().collect();
        let mut word = String::new();
        for (i, c) in chars.iter().enumerate() {
            if !c.is_whitespace() && prev_space {
                starts.push(i);
                if !word.is_empty() {
                    columns.push(std::mem::take(&mut word));
                }
            }
            if !c.is_whitespace() {
                word.push(*c);
            }
            prev_space = c.is_whitespace();
        }
        if !word.is_empty() {
            columns.push(word);
        }
        let rows = lines
            .map(|line| {
                let chars: Vec<char> = line.chars().collect();
                // A cut inside a word moves to the word's start (a cell a little off the
                // header's column still lands whole in its column).
                let cuts: Vec<usize> = starts
                    .iter()
                    .map(|&b| {
                        let mut b = b.min(chars.len());
                        while b > 0
                            && b < chars.len()
                            && !chars[b - 1].is_whitespace()
                            && !chars[b].is_whitespace()
                        {
                            b -= 1;
                        }
                        b
                    })
                    .collect();
                let mut row = HashMap::new();
                for (i, col) in columns.iter().enumerate() {
                    let from = cuts[i];
                    let to = if i + 1 < cuts.len() {
                        cuts[i + 1].max(from)
                    } else {
                        chars.len()
                    };
                    let cell: String = chars[from..to].iter().collect();
                    row.insert(col.clone(), cell.trim().to_string());
                }
                row
            })
            .collect();
        LsTable {
            raw: text.to_string(),
            columns,
            rows,
        }
    }

    /// The row whose NAME is `name`.
    pub fn row(&self, name: &str) -> Option<&HashMap<String, String>> {
        self.rows
            .iter()
            .find(|r| r.get("NAME").map(String::as_str) == Some(name))
    }
}

/// The value of `key` among exported variables.
pub fn var<'a>(vars: &'a [(String, String)], key: &str) -> Option<&'a str> {
    vars.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
}

/// A machine name unique to this process and call site.
pub fn unique_name(prefix: &str) -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    format!(
        "{prefix}-{}-{}",
        std::process::id() % 100_000,
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// The names of the containers on this machine's own engine.
pub fn local_container_names() -> Vec<String> {
    let out = support::run(support::docker_cmd(&[]).args(["ps", "-a", "--format", "{{.Names}}"]));
    out.lines().map(|s| s.trim().to_string()).collect()
}

/// Runs the docker client with `env` (the remote engine), panics unless it succeeds.
pub fn docker_ok(env: &[(String, String)], args: &[&str]) -> String {
    let start = Instant::now();
    let out = run_with_timeout(support::docker_cmd(env).args(args), CALL_TIMEOUT);
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    eprintln!(
        "`docker {}` (DOCKER_HOST={:?}) -> {} in {:.1?}\n{}{}",
        args.join(" "),
        var(env, "DOCKER_HOST"),
        out.status,
        start.elapsed(),
        stdout.trim_end(),
        if stderr.is_empty() {
            String::new()
        } else {
            format!("\n[stderr] {}", stderr.trim_end())
        }
    );
    assert!(
        out.status.success(),
        "`docker {}` against {:?} failed ({}):\n{stdout}\n{stderr}",
        args.join(" "),
        var(env, "DOCKER_HOST"),
        out.status
    );
    stdout
}

/// The served install script (tests/e2e/fixtures/install-docker.sh).
pub fn install_script() -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/install-docker.sh");
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Measures a step, logging its duration to stderr.
pub fn timed<T>(what: &str, f: impl FnOnce() -> T) -> T {
    let start = Instant::now();
    let v = f();
    eprintln!("[timing] {what}: {:.1?}", start.elapsed());
    v
}

/// One SOAP call to the vCenter simulator on `port` with curl, trusting its certificate `cert`
/// and keeping the session in `cookie_jar`; returns the answer.
pub fn vcsim_soap(port: u16, cert: &Path, cookie_jar: &Path, body: &str) -> String {
    let envelope = format!(
        "<?xml version=\"1.0\"?><soapenv:Envelope xmlns:soapenv=\"http://schemas.xmlsoap.org/soap/envelope/\" \
         xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\"><soapenv:Body>{body}</soapenv:Body></soapenv:Envelope>"
    );
    support::run(
        Command::new("curl")
            .args(["-sS", "--cacert"])
            .arg(cert)
            .arg("-b")
            .arg(cookie_jar)
            .arg("-c")
            .arg(cookie_jar)
            .args(["-H", "Content-Type: text/xml", "--data-binary", &envelope])
            .arg(format!("https://127.0.0.1:{port}/sdk")),
    )
}
