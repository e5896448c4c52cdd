//! Test support: govmomi's vCenter simulator (vcsim, built by tests/vcsim/build.sh) served over
//! HTTPS, the driver binary spoken to with `driver_protocol::Client`, and a look into vCenter
//! through the vSphere API. Nothing skips: a missing simulator or Docker panics with the setup hint.

#![allow(dead_code)]

use driver_protocol::calls::*;
use driver_protocol::schema::InitializeParams;
use driver_protocol::{Client, ClientError, ClientNotification, DriverError, DriverInfo};
use machine_driver_vsphere::options::Config;
use machine_driver_vsphere::session::{self, Session};
use machine_testsupport::vcsim;
use serde_json::{json, Map, Value};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

pub const USER: &str = "root";
pub const PASSWORD: &str = "12345678";
pub const CLOUDINIT_IMAGE: &str = vcsim::VM_IMAGE;

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// A unique VM name for this test process.
pub fn unique(prefix: &str) -> String {
    format!(
        "{prefix}{}x{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

/// A running simulator; stopped (and its VMs' containers removed) when dropped.
pub struct Vcsim {
    child: Child,
    _dir: tempfile::TempDir,
    pub host: String,
    pub port: u16,
    pub cert: PathBuf,
    /// VM names whose backing containers must go when the simulator does.
    pub vm_names: std::sync::Mutex<Vec<String>>,
}

impl Vcsim {
    /// Starts vcsim over TLS with the user root / 12345678. `shape`: "one" or "multi".
    pub fn start(shape: &str, datastores: u32) -> Vcsim {
        let datastores = datastores.to_string();
        let sim = vcsim::launch(
            USER,
            PASSWORD,
            &["-shape", shape, "-datastores", &datastores],
        );
        Vcsim {
            child: sim.child,
            _dir: sim.dir,
            host: sim.host,
            port: sim.port,
            cert: sim.cert,
            vm_names: Default::default(),
        }
    }

    /// The options that reach this vCenter, trusting its certificate through the CA file.
    pub fn options(&self) -> Map<String, Value> {
        json!({
            "vmwarevsphere-vcenter": self.host,
            "vmwarevsphere-vcenter-port": self.port,
            "vmwarevsphere-username": USER,
            "vmwarevsphere-password": PASSWORD,
            "vmwarevsphere-ca-cert": self.cert.to_string_lossy(),
        })
        .as_object()
        .unwrap()
        .clone()
    }

    /// Remembers a VM name so its container is cleaned up even if the test fails.
    pub fn track(&self, name: &str) {
        self.vm_names.lock().unwrap().push(name.to_string());
    }

    /// A session of our own, to look into vCenter through the API.
    pub async fn session(&self) -> Session {
        let mut o = self.options();
        o.insert("vmwarevsphere-ssh-user".into(), "x".into());
        let cfg = Config::from_options("probe", &o).unwrap();
        Session::login(&cfg).await.expect("login to vcsim")
    }

    /// Names of all VMs in the inventory.
    pub async fn vm_names_in_inventory(&self) -> Vec<String> {
        let s = self.session().await;
        let list = s
            .list(
                &s.sc.root_folder,
                &["VirtualMachine"],
                "VirtualMachine",
                &["name"],
            )
            .await
            .unwrap();
        s.logout().await;
        let mut v: Vec<String> = list
            .iter()
            .map(|(_, p)| session::text(p, "name").to_string())
            .collect();
        v.sort();
        v
    }
}

impl Drop for Vcsim {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status();
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        for name in self.vm_names.lock().unwrap().iter() {
            let filter = format!("name=vcsim-{name}-");
            if let Ok(out) = Command::new("docker")
                .args(["ps", "-aq", "--filter", &filter])
                .output()
            {
                for id in String::from_utf8_lossy(&out.stdout).split_whitespace() {
                    let _ = Command::new("docker").args(["rm", "-f", "-v", id]).output();
                }
            }
            if let Ok(out) = Command::new("docker")
                .args(["volume", "ls", "-q", "--filter", &filter])
                .output()
            {
                for v in String::from_utf8_lossy(&out.stdout).split_whitespace() {
                    let _ = Command::new("docker")
                        .args(["volume", "rm", "-f", v])
                        .output();
                }
            }
        }
    }
}

/// The driver binary, launched as the host launches it.
pub struct Driver {
    pub client: Client,
    child: tokio::process::Child,
    pub notes: tokio::sync::mpsc::UnboundedReceiver<ClientNotification>,
    pub info: DriverInfo,
}

impl Driver {
    pub async fn launch() -> Driver {
        let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_machine-driver-vsphere"))
            .env(
                driver_protocol::PLUGIN_COOKIE_KEY,
                driver_protocol::PLUGIN_COOKIE_VALUE,
            )
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .expect("driver binary");
        let (tx, notes) = tokio::sync::mpsc::unbounded_channel();
        let client = Client::new(
            child.stdout.take().unwrap(),
            child.stdin.take().unwrap(),
            tx,
        );
        let info: DriverInfo = client
            .call(
                driver_protocol::calls::INITIALIZE,
                &InitializeParams {
                    protocol_version: driver_protocol::PROTOCOL_VERSION,
                    host: "vsphere-tests".into(),
                },
            )
            .await
            .expect("initialize");
        Driver {
            client,
            child,
            notes,
            info,
        }
    }

    pub async fn set_config(
        &self,
        machine: &str,
        options: Map<String, Value>,
    ) -> Result<Value, DriverError> {
        let r: ConfigResult = bounded(
            SET_CONFIG,
            self.client.call(
                SET_CONFIG,
                &SetConfigParams {
                    machine: machine.into(),
                    options,
                    machine_dir: std::env::temp_dir().to_string_lossy().into_owned(),
                },
            ),
        )
        .await?;
        Ok(r.config)
    }

    pub async fn call<R: serde::de::DeserializeOwned>(
        &self,
        method: &str,
        machine: &str,
        config: &Value,
    ) -> Result<R, DriverError> {
        bounded(
            method,
            self.client.call(
                method,
                &MachineParams {
                    machine: machine.into(),
                    config: config.clone(),
                },
            ),
        )
        .await
    }

    pub async fn pre_create_check(&self, machine: &str, config: &Value) -> Result<(), DriverError> {
        let _: Value = self.call(PRE_CREATE_CHECK, machine, config).await?;
        Ok(())
    }

    pub async fn create(
        &self,
        machine: &str,
        config: &Value,
        key: &str,
    ) -> Result<Value, DriverError> {
        let r: ConfigResult = bounded(
            CREATE,
            self.client.call(
                CREATE,
                &CreateParams {
                    machine: machine.into(),
                    config: config.clone(),
                    ssh_public_key: key.into(),
                },
            ),
        )
        .await?;
        Ok(r.config)
    }

    pub async fn state(&self, machine: &str, config: &Value) -> Result<State, DriverError> {
        let r: StateResult = self.call(STATE, machine, config).await?;
        Ok(r.state)
    }

    /// Progress lines received so far.
    pub fn progress(&mut self) -> Vec<String> {
        let mut v = Vec::new();
        while let Ok(n) = self.notes.try_recv() {
            if let ClientNotification::Progress(p) = n {
                v.push(p.message);
            }
        }
        v
    }

    pub async fn shutdown(mut self) {
        drop(self.client);
        let _ = tokio::time::timeout(Duration::from_secs(5), self.child.wait()).await;
    }
}

fn driver_err(e: ClientError) -> DriverError {
    match e {
        ClientError::Driver(d) => d,
        other => panic!("the driver failed: {other}"),
    }
}

/// `docker run` arguments for a VM's backing container (a real systemd test host with cloud-init).
pub fn run_container_param() -> String {
    let mut args = machine_testsupport::host_run_flags();
    args.extend(["--tmpfs".to_string(), "/sys/class".to_string()]);
    args.push(CLOUDINIT_IMAGE.to_string());
    format!("RUN.container={}", serde_json::to_string(&args).unwrap())
}

/// Runs a command over SSH with the system client (retrying while cloud-init sets the user up).
pub fn ssh_until_ok(
    ip: &str,
    port: u16,
    user: &str,
    key: &std::path::Path,
    cmd: &str,
    timeout: Duration,
) -> String {
    let deadline = Instant::now() + timeout;
    loop {
        let out = Command::new("ssh")
            .args([
                "-o",
                "StrictHostKeyChecking=no",
                "-o",
                "UserKnownHostsFile=/dev/null",
                "-o",
                "BatchMode=yes",
                "-o",
                "ConnectTimeout=5",
                "-o",
                "ServerAliveInterval=5",
                "-o",
                "ServerAliveCountMax=3",
                "-o",
                "LogLevel=ERROR",
                "-p",
                &port.to_string(),
                "-i",
            ])
            .arg(key)
            .arg(format!("{user}@{ip}"))
            .arg(cmd)
            .output()
            .expect("ssh client");
        if out.status.success() {
            return String::from_utf8_lossy(&out.stdout).trim().to_string();
        }
        if Instant::now() > deadline {
            panic!(
                "ssh {user}@{ip} {cmd:?} kept failing for {timeout:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        std::thread::sleep(Duration::from_secs(1));
    }
}

/// How long any one driver call may take in these tests before the test fails as hung.
const CALL_TIMEOUT: Duration = Duration::from_secs(300);

/// Every driver call in these tests is bounded: a hang fails the test, naming the call.
async fn bounded<T>(
    method: &str,
    call: impl std::future::Future<Output = Result<T, ClientError>>,
) -> Result<T, DriverError> {
    match tokio::time::timeout(CALL_TIMEOUT, call).await {
        Ok(r) => r.map_err(driver_err),
        Err(_) => panic!("the driver did not answer {method} within {CALL_TIMEOUT:?}"),
    }
}
