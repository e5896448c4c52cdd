//! Test support: govmomi's vCenter simulator (vcsim, built by tests/vcsim/build.sh) served over
//! HTTPS, the driver binary spoken to with `driver_protocol::Client`, and a look into vCenter
//! through the vSphere API. Nothing skips: a missing simulator or Docker panics with the setup hint.

#![allow(dead_code)]

use driver_protocol::calls::*;
use driver_protocol::request::{
    Adopt, Create, GetAccess, GetState, Initialize, PreCreateCheck, Remove, SetConfig,
};
use driver_protocol::schema::InitializeParams;
use driver_protocol::{
    CancellationToken, Client, ClientError, ClientNotification, DriverError, DriverInfo,
    DriverOptions, Options, Request,
};
use machine_driver_vsphere::options::{Config, VsphereOptions};
use machine_driver_vsphere::session::{self, Session};
use machine_driver_vsphere::soap::MoRef;
use machine_driver_vsphere::xml;
use machine_driver_vsphere::VsphereDriver;
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
        Vcsim::start_as(USER, PASSWORD, shape, datastores)
    }

    /// Starts vcsim accepting any non-empty user name and password (vcsim's default), to tell
    /// sessions of different users apart.
    pub fn start_open(shape: &str) -> Vcsim {
        Vcsim::start_as("", "", shape, 1)
    }

    fn start_as(user: &str, password: &str, shape: &str, datastores: u32) -> Vcsim {
        let datastores = datastores.to_string();
        let sim = vcsim::launch(
            user,
            password,
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
        let options = VsphereOptions::from_options(&with_defaults(self.options())).unwrap();
        let cfg = Config::new(options, "probe", false).unwrap();
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
    /// Shared, so that tests can call concurrently from spawned tasks.
    pub client: std::sync::Arc<Client>,
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
        let client = std::sync::Arc::new(Client::new(
            child.stdout.take().unwrap(),
            child.stdin.take().unwrap(),
            driver_protocol::client::forward(tx),
        ));
        let info: DriverInfo = client
            .request::<Initialize>(&InitializeParams::new("vsphere-tests"))
            .await
            .expect("initialize");
        Driver {
            client,
            child,
            notes,
            info,
        }
    }

    /// `set_config` as the host calls it: with the schema's defaults applied.
    pub async fn set_config(
        &self,
        machine: &str,
        options: Map<String, Value>,
    ) -> Result<Value, DriverError> {
        let r: ConfigResult = bounded(
            SetConfig::METHOD,
            self.client.request::<SetConfig>(
                // the tests serve their ISOs over plain http on loopback
                &SetConfigParams::new(machine, with_defaults(options)).allow_http_downloads(true),
            ),
        )
        .await?;
        Ok(r.config)
    }

    /// `adopt` as the host calls it: with the schema's defaults applied.
    pub async fn adopt(
        &self,
        machine: &str,
        options: Map<String, Value>,
    ) -> Result<Value, DriverError> {
        let r: ConfigResult = bounded(
            Adopt::METHOD,
            self.client
                .request::<Adopt>(&SetConfigParams::new(machine, with_defaults(options))),
        )
        .await?;
        Ok(r.config)
    }

    /// Call `R` on `machine` with its driver config.
    pub async fn call<R: Request<Params = MachineParams>>(
        &self,
        machine: &str,
        config: &Value,
    ) -> Result<R::Result, DriverError> {
        self.call_with::<R>(&MachineParams::new(machine, config.clone()))
            .await
    }

    pub async fn call_with<R: Request<Params = MachineParams>>(
        &self,
        params: &MachineParams,
    ) -> Result<R::Result, DriverError> {
        bounded(R::METHOD, self.client.request::<R>(params)).await
    }

    /// `remove` with the host's creation id, as the host calls it.
    pub async fn remove(
        &self,
        machine: &str,
        config: &Value,
        creation_id: &str,
    ) -> Result<(), DriverError> {
        let mut p = MachineParams::new(machine, config.clone());
        p.creation_id = creation_id.to_string();
        self.call_with::<Remove>(&p).await?;
        Ok(())
    }

    pub async fn access(&self, machine: &str, config: &Value) -> Result<Access, DriverError> {
        self.call::<GetAccess>(machine, config).await
    }

    pub async fn pre_create_check(&self, machine: &str, config: &Value) -> Result<(), DriverError> {
        self.call::<PreCreateCheck>(machine, config).await
    }

    /// `create` with the creation id [`creation_id`] of the machine.
    pub async fn create(
        &self,
        machine: &str,
        config: &Value,
        key: &str,
    ) -> Result<Value, DriverError> {
        let r: CreateResult = bounded(
            Create::METHOD,
            self.client.request::<Create>(&CreateParams::new(
                machine,
                config.clone(),
                &creation_id(machine),
                key,
            )),
        )
        .await?;
        assert_eq!(r.bootstrap, None, "the driver does not connect to the VM");
        Ok(r.config)
    }

    /// Kills the driver process at once, as a crash would.
    pub async fn kill(mut self) {
        let _ = self.child.kill().await;
    }

    pub async fn state(&self, machine: &str, config: &Value) -> Result<State, DriverError> {
        let r: StateResult = self.call::<GetState>(machine, config).await?;
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

/// `create` through `client`, cancelled when `cancel` fires; the creation id is
/// [`creation_id`] of the machine.
pub async fn create_cancellable(
    client: &Client,
    machine: &str,
    config: &Value,
    key: &str,
    cancel: &CancellationToken,
) -> Result<Value, DriverError> {
    let r: CreateResult = bounded(
        Create::METHOD,
        client.request_cancellable::<Create>(
            &CreateParams::new(machine, config.clone(), &creation_id(machine), key),
            cancel,
        ),
    )
    .await?;
    Ok(r.config)
}

/// Waits for the next `made` notification (other notifications are dropped).
pub async fn next_made(
    notes: &mut tokio::sync::mpsc::UnboundedReceiver<ClientNotification>,
) -> MadeParams {
    let wait = async {
        loop {
            match notes.recv().await {
                Some(ClientNotification::Made(m)) => return m,
                Some(_) => continue,
                None => panic!("the driver closed its output before a made notification"),
            }
        }
    };
    tokio::time::timeout(CALL_TIMEOUT, wait)
        .await
        .expect("a made notification in time")
}

/// Makes `n` bare VMs named `PREFIX-i` (no backing container) through a session of the test's
/// own; `ip` gives each its guest IP (vcsim's `SET.guest.ipAddress`), or none.
pub async fn make_vms(
    s: &Session,
    prefix: &str,
    n: usize,
    ip: impl Fn(usize) -> Option<String>,
) -> Vec<(String, MoRef)> {
    let inv = machine_driver_vsphere::inventory::Inventory::load(s, false)
        .await
        .unwrap();
    let folder = inv
        .entities
        .iter()
        .find(|e| e.moref.kind == "Folder" && e.path == "/DC0/vm")
        .unwrap()
        .moref
        .clone();
    let pool = inv
        .entities
        .iter()
        .find(|e| e.moref.kind == "ResourcePool" && e.path == "/DC0/host/DC0_H0/Resources")
        .unwrap()
        .moref
        .clone();
    let mut vms = Vec::new();
    for i in 0..n {
        let name = format!("{prefix}-{i}");
        let extra = ip(i)
            .map(|ip| {
                format!(
                    "<extraConfig><key>SET.guest.ipAddress</key><value xsi:type=\"xsd:string\">{ip}</value></extraConfig>"
                )
            })
            .unwrap_or_default();
        let body = format!(
            "<CreateVM_Task xmlns=\"urn:vim25\">{}<config>{}<guestId>otherLinux64Guest</guestId><files><vmPathName>[LocalDS_0]</vmPathName></files>{extra}</config>{}</CreateVM_Task>",
            xml::moref("_this", &folder),
            xml::tag("name", &name),
            xml::moref("pool", &pool),
        );
        let res = s
            .run_task("making a test VM", &body, Duration::from_secs(60))
            .await
            .unwrap();
        vms.push((name, MoRef::from_element(res.as_ref().unwrap()).unwrap()));
    }
    vms
}

/// A machine's config for an existing VM, as create would have left it, from a `set_config`
/// result.
pub fn config_for(base: &Value, name: &str, vm: &MoRef, last_ip: &str) -> Value {
    let mut c = base.clone();
    c["vm_name"] = json!(name);
    c["vm"] = json!({ "moref": vm.value, "ip": last_ip });
    c
}

/// The options as the host passes them to `set_config`: the schema's defaults applied.
pub fn with_defaults(options: Map<String, Value>) -> Options {
    VsphereDriver::info().with_defaults(Options::from(options))
}

/// The creation id these tests give a machine's create.
pub fn creation_id(machine: &str) -> String {
    format!("cid-{machine}")
}

/// The VMs named `name` in the inventory, with their extraConfig `machine.creation-id`.
pub async fn vms_named(s: &Session, name: &str) -> Vec<(MoRef, Option<String>)> {
    let list = s
        .list(
            &s.sc.root_folder,
            &["VirtualMachine"],
            "VirtualMachine",
            &["name", "config.extraConfig"],
        )
        .await
        .unwrap();
    list.into_iter()
        .filter(|(_, p)| session::text(p, "name") == name)
        .map(|(vm, p)| {
            let id = machine_driver_vsphere::vm::extra_config_value(
                &p,
                machine_driver_vsphere::vm::CREATION_ID_KEY,
            );
            (vm, id)
        })
        .collect()
}

/// One vCenter session as the SessionManager lists it.
#[derive(Debug, Clone)]
pub struct SessionInfo {
    pub key: String,
    pub user: String,
    pub call_count: u64,
}

/// Every session vCenter has open, and the key of `s`'s own.
pub async fn open_sessions(s: &Session) -> (Vec<SessionInfo>, String) {
    let p = s
        .props(&s.sc.session_manager, &["sessionList", "currentSession"])
        .await
        .unwrap();
    let list = p
        .get("sessionList")
        .map(|l| {
            l.children
                .iter()
                .map(|u| SessionInfo {
                    key: u.text_at("key").unwrap_or("").to_string(),
                    user: u.text_at("userName").unwrap_or("").to_string(),
                    call_count: u
                        .text_at("callCount")
                        .and_then(|c| c.trim().parse().ok())
                        .unwrap_or(0),
                })
                .collect()
        })
        .unwrap_or_default();
    let own = p
        .get("currentSession")
        .and_then(|c| c.text_at("key"))
        .unwrap_or("")
        .to_string();
    (list, own)
}

/// The sessions other than `s`'s own.
pub async fn other_sessions(s: &Session) -> Vec<SessionInfo> {
    let (list, own) = open_sessions(s).await;
    list.into_iter().filter(|i| i.key != own).collect()
}

/// Ends sessions from outside (as an expiry would).
pub async fn terminate_sessions(s: &Session, keys: &[String]) {
    let ids: String = keys.iter().map(|k| xml::tag("sessionId", k)).collect();
    let body = format!(
        "<TerminateSession xmlns=\"urn:vim25\">{}{ids}</TerminateSession>",
        xml::moref("_this", &s.sc.session_manager)
    );
    s.call("terminating sessions", &body).await.unwrap();
}

/// The user names of every login vCenter recorded (its `UserLoginSessionEvent`s), oldest first.
pub async fn logins(s: &Session) -> Vec<String> {
    let em = MoRef::new("EventManager", "EventManager");
    let body = format!(
        "<QueryEvents xmlns=\"urn:vim25\">{}<filter><eventTypeId>UserLoginSessionEvent</eventTypeId><maxCount>1000</maxCount></filter></QueryEvents>",
        xml::moref("_this", &em)
    );
    let resp = s.call("reading login events", &body).await.unwrap();
    let mut v: Vec<(i64, String)> = resp
        .children_named("returnval")
        .filter(|e| e.xsi_type() == Some("UserLoginSessionEvent"))
        .map(|e| {
            (
                e.text_at("key")
                    .and_then(|k| k.trim().parse().ok())
                    .unwrap_or(0),
                e.text_at("userName").unwrap_or("").to_string(),
            )
        })
        .collect();
    v.sort();
    v.into_iter().map(|(_, u)| u).collect()
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
