//! Docker Machine driver plugins for the plugin bridge's tests, and the fake cloud API one of
//! them drives. All are Go programs of `tests/plugins` (standard library only), built by
//! `tests/plugins/build.sh` into `target/plugins` (run by `scripts/test-env.sh`):
//!
//! - `docker-machine-driver-sshhost`: an existing SSH host, like Docker Machine's generic
//!   driver (flags `--sshhost-ip-address`, `--sshhost-ssh-user`, `--sshhost-ssh-key`,
//!   `--sshhost-ssh-port`, `--sshhost-engine-port`, `--sshhost-label`, `--sshhost-verbose`);
//! - `docker-machine-driver-fakecloud`: a cloud driver for [`FakeCloud`], like amazonec2
//!   (`--fakecloud-api-url`, `--fakecloud-access-key`, `--fakecloud-secret-key`,
//!   `--fakecloud-key-pair-name`, `--fakecloud-ssh-user`, `--fakecloud-create-delay`,
//!   `--fakecloud-fail-after-create`, `--fakecloud-tag`);
//! - `docker-machine-driver-fakecloud-old`: the same driver as a plugin from before Docker
//!   Machine 0.5.1 (service `RpcServerDriver` only, flags type `*rpcdriver.RpcFlags`);
//! - `fakecloud-api`: the fake cloud itself, see [`FakeCloud`].
//!
//! The plugins speak what libmachine's plugins speak: started with `MACHINE_PLUGIN_TOKEN=42`,
//! the first stdout line is the `127.0.0.1:PORT` address of a Go net/rpc server over HTTP
//! (encoding/gob), whose services `RPCServerDriver` and `RpcServerDriver` have libmachine's
//! methods (API version 1); info lines go to stdout, debug lines to stderr; the process exits 0
//! on `Close` and 1 when no `Heartbeat` came for 10 s. `tests/plugins/testdata` holds the exact
//! bytes of a `GetCreateFlags` reply.
//!
//! Nothing here skips: a missing binary panics with the command that builds it.

use crate::{repo_root, SETUP_HINT};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// The binaries `tests/plugins/build.sh` makes.
pub const BINARIES: [&str; 5] = [
    "docker-machine-driver-sshhost",
    "docker-machine-driver-fakecloud",
    "docker-machine-driver-fakecloud-old",
    "docker-machine-driver-urlonly",
    "fakecloud-api",
];

/// `target/plugins`, where the plugins and `fakecloud-api` are; panics with the set-up hint
/// when one of them is missing.
pub fn plugins_dir() -> PathBuf {
    let dir = repo_root().join("target/plugins");
    for bin in BINARIES {
        assert!(
            dir.join(bin).is_file(),
            "the test plugin {} is not built: {SETUP_HINT}",
            dir.join(bin).display()
        );
    }
    dir
}

/// A running `fakecloud-api`: a stateful cloud API in memory, on a loopback port, whose every
/// instance "is" one test host (its IP and SSH port) and comes with the private key that logs
/// in to it. Requests must carry the headers `X-Access-Key` and `X-Secret-Key` (else 401).
///
/// `POST /instances {name, tags}` answers `{id, name, state, tags, ip, ssh_port, private_key}`;
/// `GET /instances` lists the instances that exist; `GET /instances/ID`;
/// `POST /instances/ID/{start,restart}` (→ running) and `{stop,kill}` (→ stopped);
/// `DELETE /instances/ID`. Ids are `i-000001`, `i-000002`, ... Killed when dropped; set
/// `FAKECLOUD_LOG` to see its request log.
pub struct FakeCloud {
    /// `http://127.0.0.1:PORT`, for `--fakecloud-api-url`.
    pub url: String,
    /// `127.0.0.1:PORT`.
    pub addr: String,
    pub access_key: String,
    pub secret_key: String,
    child: Child,
}

impl FakeCloud {
    /// Starts the API with fresh random keys; its instances are `host_ip:host_ssh_port` and
    /// hand out the key in `host_key_file`.
    pub fn start(host_ip: &str, host_ssh_port: u16, host_key_file: &Path) -> FakeCloud {
        let bin = plugins_dir().join("fakecloud-api");
        let access_key = format!("AK{}", random_hex(8));
        let secret_key = random_hex(20);
        let mut child = Command::new(&bin)
            .args(["--access-key", &access_key, "--secret-key", &secret_key])
            .args(["--host-ip", host_ip])
            .args(["--host-ssh-port", &host_ssh_port.to_string()])
            .arg("--host-key-file")
            .arg(host_key_file)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(if std::env::var_os("FAKECLOUD_LOG").is_some() {
                Stdio::inherit()
            } else {
                Stdio::null()
            })
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}; {SETUP_HINT}", bin.display()));
        let stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut lines = BufReader::new(stdout);
            let mut line = String::new();
            let _ = lines.read_line(&mut line);
            let _ = tx.send(line);
            // keep the pipe open (and drained) for as long as the process lives
            let _ = std::io::copy(&mut lines, &mut std::io::sink());
        });
        let addr = match rx.recv_timeout(Duration::from_secs(10)) {
            Ok(line) if !line.trim().is_empty() => line.trim().to_string(),
            other => {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "fakecloud-api printed no address within 10 s ({other:?}); run with \
                     FAKECLOUD_LOG=1 to see why"
                );
            }
        };
        FakeCloud {
            url: format!("http://{addr}"),
            addr,
            access_key,
            secret_key,
            child,
        }
    }

    /// `GET /instances`: the instances that exist (`id`, `name`, `state`, `tags`, `ip`,
    /// `ssh_port`).
    pub fn instances(&self) -> Vec<serde_json::Value> {
        let (status, body) = self.request("GET", "/instances");
        assert_eq!(status, 200, "GET /instances: {body}");
        serde_json::from_str(&body)
            .unwrap_or_else(|e| panic!("GET /instances answered {body:?}: {e}"))
    }

    /// One request with the keys and no body, e.g. `("POST", "/instances/i-000001/stop")` to
    /// stop an instance behind the driver's back; answers the status and the body.
    pub fn request(&self, method: &str, path: &str) -> (u16, String) {
        self.request_with_body(method, path, "")
    }

    /// `POST /instances`: an instance made behind any driver's back (as another tool made
    /// it); answers it (`id`, `ip`, `ssh_port`, ...).
    pub fn create_instance(&self, name: &str) -> serde_json::Value {
        let body = serde_json::json!({ "name": name }).to_string();
        let (status, answer) = self.request_with_body("POST", "/instances", &body);
        assert_eq!(status, 201, "POST /instances: {answer}");
        serde_json::from_str(&answer).expect("an instance")
    }

    /// One request with the keys and `body` (JSON).
    pub fn request_with_body(&self, method: &str, path: &str, body: &str) -> (u16, String) {
        let mut conn = TcpStream::connect(&self.addr)
            .unwrap_or_else(|e| panic!("fakecloud-api at {}: {e}", self.addr));
        conn.set_read_timeout(Some(Duration::from_secs(10)))
            .expect("read timeout");
        write!(
            conn,
            "{method} {path} HTTP/1.0\r\nHost: {}\r\nX-Access-Key: {}\r\nX-Secret-Key: {}\r\n\
             Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            self.addr,
            self.access_key,
            self.secret_key,
            body.len()
        )
        .expect("send a request to fakecloud-api");
        let mut answer = String::new();
        conn.read_to_string(&mut answer)
            .expect("read fakecloud-api's answer");
        let (head, body) = answer.split_once("\r\n\r\n").unwrap_or((&answer, ""));
        let status = head
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("fakecloud-api answered {answer:?}"));
        (status, body.to_string())
    }
}

impl Drop for FakeCloud {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `bytes` random bytes as hex.
fn random_hex(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut buf))
        .expect("read /dev/urandom");
    buf.iter().map(|b| format!("{b:02x}")).collect()
}
