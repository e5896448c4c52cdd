//! A real etcd cluster on loopback for tests: Debian's `etcd` (package etcd-server, installed by
//! `scripts/test-env.sh`), N members with their data in a temporary folder, stopped (and the
//! folder removed) when dropped.

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
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

/// `n` distinct free loopback ports. Every listener is held until all are chosen: picked one at a
/// time, the kernel may hand out the same port twice.
fn free_ports(n: usize) -> Vec<u16> {
    let listeners: Vec<TcpListener> = (0..n)
        .map(|_| TcpListener::bind("127.0.0.1:0").expect("a free loopback port"))
        .collect();
    listeners
        .iter()
        .map(|l| l.local_addr().expect("a bound address").port())
        .collect()
}

/// How many times a cluster is started on fresh ports when a member exits at start-up (another
/// process took one of its ports between choosing and binding).
const START_ATTEMPTS: usize = 3;

impl EtcdCluster {
    /// Starts a cluster of `size` members and waits until it answers.
    pub fn start(size: usize) -> EtcdCluster {
        let etcd = which_etcd();
        let mut last = String::new();
        for _ in 0..START_ATTEMPTS {
            let mut cluster = EtcdCluster::spawn(&etcd, size);
            match cluster.wait_healthy(Duration::from_secs(30)) {
                Ok(()) => return cluster,
                Err(Failure::MemberExited(logs)) => last = logs,
                Err(Failure::Timeout(logs)) => {
                    panic!("the etcd cluster did not become healthy within 30s:\n{logs}")
                }
            }
        }
        panic!("an etcd member exited at start in each of {START_ATTEMPTS} attempts:\n{last}")
    }

    fn spawn(etcd: &str, size: usize) -> EtcdCluster {
        let dir = tempfile::Builder::new()
            .prefix("etcd-test-")
            .tempdir()
            .expect("a temporary folder");
        let ports = free_ports(2 * size);
        let peers: Vec<(String, u16, u16)> = (0..size)
            .map(|i| (format!("m{i}"), ports[2 * i], ports[2 * i + 1]))
            .collect();
        let initial = peers
            .iter()
            .map(|(n, _, p)| format!("{n}=http://127.0.0.1:{p}"))
            .collect::<Vec<_>>()
            .join(",");
        // one token per cluster: members of another cluster of this process never join this one
        static CLUSTERS: AtomicUsize = AtomicUsize::new(0);
        let token = format!(
            "machine-test-{}-{}",
            std::process::id(),
            CLUSTERS.fetch_add(1, Ordering::Relaxed)
        );
        // members join the cluster as they start: a later one failing to start stops them
        let mut cluster = EtcdCluster {
            members: Vec::new(),
            dir,
        };
        for (name, client, peer) in &peers {
            let log =
                std::fs::File::create(cluster.dir.path().join(format!("{name}.log"))).unwrap();
            let child = Command::new(etcd)
                .args(["--name", name])
                .arg("--data-dir")
                .arg(cluster.dir.path().join(name))
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
            cluster.members.push(Member {
                name: name.clone(),
                client_port: *client,
                child: Some(child),
            });
        }
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

    fn wait_healthy(&mut self, within: Duration) -> Result<(), Failure> {
        let start = Instant::now();
        loop {
            let exited = self.members.iter_mut().any(|m| {
                m.child
                    .as_mut()
                    .is_some_and(|c| matches!(c.try_wait(), Ok(Some(_))))
            });
            if exited {
                return Err(Failure::MemberExited(self.logs()));
            }
            let ok = Command::new("etcdctl")
                .env("ETCDCTL_API", "3")
                .arg(format!("--endpoints={}", self.endpoints().join(",")))
                .args(["endpoint", "health"])
                .output()
                .map(|o| o.status.success())
                .unwrap_or(false);
            if ok {
                return Ok(());
            }
            if start.elapsed() > within {
                return Err(Failure::Timeout(self.logs()));
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// Every member's log, one after the other.
    fn logs(&self) -> String {
        self.members
            .iter()
            .map(|m| {
                std::fs::read_to_string(self.dir.path().join(format!("{}.log", m.name)))
                    .unwrap_or_default()
            })
            .collect()
    }
}

/// Why a cluster did not come up; each carries the members' logs.
enum Failure {
    /// A member exited: most likely one of its ports was taken meanwhile. Worth another try.
    MemberExited(String),
    /// No member exited, yet the cluster never answered.
    Timeout(String),
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
