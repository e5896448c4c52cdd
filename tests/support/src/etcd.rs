//! A real etcd cluster on loopback for tests: Debian's `etcd` (package etcd-server, installed by
//! `scripts/test-env.sh`), N members with their data in a temporary folder, stopped (and the
//! folder removed) when dropped.

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running cluster.
pub struct EtcdCluster {
    members: Vec<Member>,
    dir: tempfile::TempDir,
}

struct Member {
    name: String,
    client_port: u16,
    child: Option<Child>,
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free loopback port")
        .port()
}

impl EtcdCluster {
    /// Starts a cluster of `size` members and waits until it answers.
    pub fn start(size: usize) -> EtcdCluster {
        let etcd = which_etcd();
        let dir = tempfile::Builder::new()
            .prefix("etcd-test-")
            .tempdir()
            .expect("a temporary folder");
        let peers: Vec<(String, u16, u16)> = (0..size)
            .map(|i| (format!("m{i}"), free_port(), free_port()))
            .collect();
        let initial = peers
            .iter()
            .map(|(n, _, p)| format!("{n}=http://127.0.0.1:{p}"))
            .collect::<Vec<_>>()
            .join(",");
        let token = format!("machine-test-{}", std::process::id());
        let mut members = Vec::new();
        for (name, client, peer) in &peers {
            let log = std::fs::File::create(dir.path().join(format!("{name}.log"))).unwrap();
            let child = Command::new(&etcd)
                .args(["--name", name])
                .arg("--data-dir")
                .arg(dir.path().join(name))
                .args([
                    "--listen-client-urls",
                    &format!("http://127.0.0.1:{client}"),
                ])
                .args([
                    "--advertise-client-urls",
                    &format!("http://127.0.0.1:{client}"),
                ])
                .args(["--listen-peer-urls", &format!("http://127.0.0.1:{peer}")])
                .args([
                    "--initial-advertise-peer-urls",
                    &format!("http://127.0.0.1:{peer}"),
                ])
                .args(["--initial-cluster", &initial])
                .args(["--initial-cluster-token", &token])
                .args(["--initial-cluster-state", "new"])
                .args(["--heartbeat-interval", "50", "--election-timeout", "500"])
                .env("ETCD_UNSUPPORTED_ARCH", "")
                .stdin(Stdio::null())
                .stdout(log.try_clone().unwrap())
                .stderr(log)
                .spawn()
                .unwrap_or_else(|e| panic!("cannot start {etcd}: {e}"));
            members.push(Member {
                name: name.clone(),
                client_port: *client,
                child: Some(child),
            });
        }
        let cluster = EtcdCluster { members, dir };
        cluster.wait_healthy(Duration::from_secs(30));
        cluster
    }

    /// `HOST:PORT` of every member.
    pub fn endpoints(&self) -> Vec<String> {
        self.members
            .iter()
            .map(|m| format!("127.0.0.1:{}", m.client_port))
            .collect()
    }

    /// The storage path of a store under `prefix` in this cluster.
    pub fn storage_path(&self, prefix: &str) -> String {
        format!("etcd://{}/{prefix}", self.endpoints().join(","))
    }

    /// Kills member `i` (SIGKILL), as a crash would.
    pub fn kill(&mut self, i: usize) {
        if let Some(mut c) = self.members[i].child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Every key and value under `prefix`, as text (`etcdctl get --prefix`).
    pub fn dump(&self, prefix: &str) -> String {
        let live: Vec<String> = self
            .members
            .iter()
            .filter(|m| m.child.is_some())
            .map(|m| format!("http://127.0.0.1:{}", m.client_port))
            .collect();
        crate::run(
            Command::new("etcdctl")
                .env("ETCDCTL_API", "3")
                .arg(format!("--endpoints={}", live.join(",")))
                .args(["get", "--prefix", prefix]),
        )
    }

    fn wait_healthy(&self, within: Duration) {
        let start = Instant::now();
        loop {
            let ok = Command::new("etcdctl")
                .env("ETCDCTL_API", "3")
                .arg(format!("--endpoints={}", self.endpoints().join(",")))
                .args(["endpoint", "health"])
                .output()
                .map(|o| o.status.success())
                .unwrap_or(false);
            if ok {
                return;
            }
            if start.elapsed() > within {
                let logs: String = self
                    .members
                    .iter()
                    .map(|m| {
                        std::fs::read_to_string(self.dir.path().join(format!("{}.log", m.name)))
                            .unwrap_or_default()
                    })
                    .collect();
                panic!("the etcd cluster did not become healthy within {within:?}:\n{logs}");
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

impl Drop for EtcdCluster {
    fn drop(&mut self) {
        for i in 0..self.members.len() {
            self.kill(i);
        }
    }
}

fn which_etcd() -> String {
    for p in ["/usr/bin/etcd", "/usr/local/bin/etcd"] {
        if std::path::Path::new(p).is_file() {
            return p.into();
        }
    }
    panic!("etcd is not installed: {}", crate::SETUP_HINT);
}
