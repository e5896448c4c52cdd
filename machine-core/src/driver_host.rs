//! The driver host: finds drivers, starts them, calls them, and starts them again after a crash.
//!
//! A driver `NAME` is either registered in-process ([`DriverHost::register`]: the same
//! [`driver_protocol::Driver`] trait, no executable, spoken to over in-memory pipes) or the
//! executable `machine-driver-NAME`, looked for next to the running program first, then in the
//! absolute folders of `PATH` (never the current folder, nor an empty or relative entry).
//! Drivers are found by file name only: nothing is run to learn what a driver is called, so an
//! unknown name starts nothing. Docker Machine's names of the drivers here
//! ([`DOCKER_MACHINE_NAMES`]: `vmwarevsphere`) find them.
//!
//! One connection per driver serves every machine of that driver, with calls in flight
//! concurrently. A driver process that exited is started again on the next call: one failed
//! call, never a dead host. So is one whose call timed out: it is stopped (with what it started)
//! rather than left serving later calls in a state nobody knows. Its stderr is forwarded to the log (in lines of at most
//! [`STDERR_LINE_MAX`] bytes), and its last lines are kept to explain a crash.
//!
//! A driver gets a minimal environment, not the user's: PATH, HOME, USER, the locale, proxy
//! settings and TMPDIR. The variables it declares ([`DriverInfo::env`]) that are set here reach
//! it right after its handshake, in the `$/environment` notification: one process, started
//! once. Its options' variables are read by the program that takes the options (the CLI).
//! It runs in a process group of its own, ended with it: when the connection drops (the host
//! drops), after it crashed, or after a call of it timed out, no process it started that is
//! still in its group is left behind (one that left the group, with `setsid` say, is not
//! tracked).

use crate::error::{Error, Result};
use crate::events::{Event, Events, Level, Step};
use driver_protocol::calls::EnvironmentParams;
use driver_protocol::client::{Direction, Trace};
use driver_protocol::notification::{self, Notification as _};
use driver_protocol::request::{self, Request};
use driver_protocol::schema::InitializeParams;
use driver_protocol::{
    CancellationToken, Client, ClientError, ClientNotification, Driver, DriverInfo, DynDriver,
    ErrorKind,
};
use serde_json::Value;
use std::collections::{HashMap, VecDeque};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::BufReader;
use tokio::process::{Child, Command};
use tokio::sync::mpsc;

const EXE_PREFIX: &str = "machine-driver-";
/// Docker Machine's driver plugins: `docker-machine-driver-NAME`.
const PLUGIN_PREFIX: &str = "docker-machine-driver-";
/// The program that serves a Docker Machine plugin as a driver.
const BRIDGE: &str = "machine-plugin-bridge";
/// The prefix that names the Docker Machine driver NAME even where one of ours has that name
/// (`docker-machine-generic`).
pub const BRIDGED_PREFIX: &str = "docker-machine-";
/// The drivers built into Docker Machine's own binary (libmachine's `CoreDrivers`).
pub const DOCKER_MACHINE_BUILTINS: &[&str] = &[
    "amazonec2",
    "azure",
    "digitalocean",
    "exoscale",
    "generic",
    "google",
    "hyperv",
    "none",
    "openstack",
    "rackspace",
    "softlayer",
    "virtualbox",
    "vmwarefusion",
    "vmwarevcloudair",
    "vmwarevsphere",
];
const STDERR_LINES_KEPT: usize = 20;
/// The longest line of a driver's stderr that is kept and logged; longer ones are skipped.
pub const STDERR_LINE_MAX: usize = 8 * 1024;
/// Docker Machine's driver names of drivers that go by another name here: `(old, new)`.
pub const DOCKER_MACHINE_NAMES: &[(&str, &str)] = &[("vmwarevsphere", "vsphere")];
/// How long a driver may take to answer the handshake.
const INITIALIZE_TIMEOUT: Duration = Duration::from_secs(20);
/// How often a call in flight checks that its driver process still runs.
const EXIT_POLL: Duration = Duration::from_millis(100);
/// How long after its driver exited a call still waits for an answer written before the exit.
const EXIT_GRACE: Duration = Duration::from_millis(500);

/// Finds, starts and restarts drivers; one connection per driver.
pub struct DriverHost {
    search_path: Vec<PathBuf>,
    plugins: PluginSettings,
    events: Events,
    registered: Mutex<HashMap<String, DynDriver>>,
    running: tokio::sync::Mutex<HashMap<String, Arc<DriverConn>>>,
}

impl DriverHost {
    /// Looks for drivers in `dirs`, in order.
    pub fn with_search_path(dirs: Vec<PathBuf>, events: Events) -> DriverHost {
        DriverHost {
            search_path: dirs,
            plugins: PluginSettings::default(),
            events,
            registered: Mutex::default(),
            running: tokio::sync::Mutex::default(),
        }
    }

    /// Runs Docker Machine's plugins with these settings.
    pub fn with_plugins(mut self, plugins: PluginSettings) -> DriverHost {
        self.plugins = plugins;
        self
    }

    /// Registers a driver implemented in this program, under its name and aliases. It wins over
    /// an executable of the same name.
    pub fn register<D: Driver>(&self, driver: D) {
        let driver = DynDriver::new(driver);
        let info = driver.info();
        let mut reg = self.registered.lock().unwrap();
        for name in std::iter::once(&info.name).chain(&info.aliases) {
            reg.insert(name.clone(), driver.clone());
        }
    }

    /// The connection to driver `name` (or to the driver of Docker Machine's name `name`, or
    /// the registered driver that declares `name` as an alias), starting it on first use and
    /// again after it exited.
    pub async fn get(&self, name: &str) -> Result<Arc<DriverConn>> {
        let mut running = self.running.lock().await;
        if let Some(c) = running.get(name) {
            if !c.client.is_closed() {
                return Ok(c.clone());
            }
            tracing::debug!(driver = name, "driver exited earlier: starting it again");
        }
        let registered = self.registered.lock().unwrap().get(name).cloned();
        let conn = match registered {
            Some(d) => DriverConn::in_process(d, self.events.clone()).await?,
            None => {
                let launch = self
                    .find(name)
                    .or_else(|| {
                        DOCKER_MACHINE_NAMES
                            .iter()
                            .find(|(old, _)| *old == name)
                            .and_then(|(_, new)| self.find(new))
                    })
                    .or_else(|| self.find_plugin(name))
                    .ok_or_else(|| self.not_found(name))?;
                DriverConn::launch(&launch, &self.events).await?
            }
        };
        let conn = Arc::new(conn);
        running.insert(name.to_string(), conn.clone());
        running.insert(conn.info.name.clone(), conn.clone());
        Ok(conn)
    }

    fn find(&self, name: &str) -> Option<Launch> {
        let program = self.find_exe(&format!("{EXE_PREFIX}{name}"))?;
        Some(Launch {
            program,
            args: Vec::new(),
            label: name.to_string(),
        })
    }

    fn find_exe(&self, file: &str) -> Option<PathBuf> {
        if file.contains('/') || file.ends_with('-') {
            return None;
        }
        self.search_path
            .iter()
            .map(|d| d.join(file))
            .find(|p| is_executable(p))
    }

    /// Docker Machine's driver `name` (or, for `docker-machine-NAME`, NAME) through the
    /// bridge: a `docker-machine-driver-NAME` plugin, else a driver built into the
    /// `docker-machine` binary of [`PluginSettings::docker_machine_bin`].
    fn find_plugin(&self, name: &str) -> Option<Launch> {
        let plugin = name.strip_prefix(BRIDGED_PREFIX).unwrap_or(name);
        let bridge = self.find_exe(BRIDGE)?;
        let mut args: Vec<std::ffi::OsString> = vec!["--name".into(), name.into()];
        if let Some(dir) = &self.plugins.storage {
            args.extend(["--storage-path".into(), dir.into()]);
        }
        if let Some(path) = self.find_exe(&format!("{PLUGIN_PREFIX}{plugin}")) {
            args.push(path.into());
        } else {
            let bin = self.plugins.docker_machine_bin.as_ref()?;
            if !DOCKER_MACHINE_BUILTINS.contains(&plugin) {
                return None;
            }
            args.extend(["--builtin".into(), plugin.into(), bin.into()]);
        }
        Some(Launch {
            program: bridge,
            args,
            label: name.to_string(),
        })
    }

    /// Every installed driver: registered ones, then executables by driver name (first found
    /// wins), sorted. Known by file name: nothing is run.
    pub fn installed(&self) -> Vec<String> {
        let mut found: Vec<String> = self.registered.lock().unwrap().keys().cloned().collect();
        for (name, _) in self.executables() {
            if !found.contains(&name) {
                found.push(name);
            }
        }
        if self.find_exe(BRIDGE).is_some() {
            let builtins = self
                .plugins
                .docker_machine_bin
                .as_ref()
                .map_or(&[][..], |_| DOCKER_MACHINE_BUILTINS);
            let plugins: Vec<String> = self
                .files_with_prefix(PLUGIN_PREFIX)
                .into_iter()
                .map(|(n, _)| n)
                .chain(builtins.iter().map(|b| b.to_string()))
                .collect();
            for name in plugins {
                let name = if found.contains(&name) {
                    format!("{BRIDGED_PREFIX}{name}")
                } else {
                    name
                };
                if !found.contains(&name) {
                    found.push(name);
                }
            }
        }
        found.sort();
        found
    }

    fn executables(&self) -> Vec<(String, PathBuf)> {
        self.files_with_prefix(EXE_PREFIX)
    }

    /// Executables `PREFIX-NAME` on the search path, by NAME (first found wins), sorted.
    fn files_with_prefix(&self, prefix: &str) -> Vec<(String, PathBuf)> {
        let mut found: Vec<(String, PathBuf)> = Vec::new();
        for dir in &self.search_path {
            let Ok(entries) = std::fs::read_dir(dir) else {
                continue;
            };
            for e in entries.flatten() {
                let file = e.file_name().to_string_lossy().into_owned();
                if let Some(name) = file.strip_prefix(prefix).filter(|n| !n.is_empty()) {
                    let path = e.path();
                    if !found.iter().any(|(n, _)| n == name) && is_executable(&path) {
                        found.push((name.to_string(), path));
                    }
                }
            }
        }
        found.sort();
        found
    }

    fn not_found(&self, name: &str) -> Error {
        Error::DriverNotFound {
            driver: name.to_string(),
            searched: self.search_path.clone(),
            installed: self.installed(),
        }
    }
}

/// How Docker Machine's driver plugins are run (through `machine-plugin-bridge`, found where
/// drivers are).
#[derive(Debug, Clone, Default)]
pub struct PluginSettings {
    /// A `docker-machine` binary (Docker Machine's, or GitLab's or Rancher's fork) serving
    /// Docker Machine's built-in drivers (`amazonec2`, ...): `MACHINE_DOCKER_MACHINE_BIN`.
    pub docker_machine_bin: Option<PathBuf>,
    /// The folder the plugins keep their files in (`StorePath`): the store's own for a
    /// folder store; `None`, a temporary folder per command.
    pub storage: Option<PathBuf>,
}

/// What to run for a driver.
struct Launch {
    program: PathBuf,
    args: Vec<std::ffi::OsString>,
    /// The driver's name, for logs.
    label: String,
}

/// The folders searched for driver executables by default: the running program's own, then
/// the absolute folders of `PATH` (empty entries and relative folders are skipped: the current
/// folder is never searched).
pub fn default_search_path() -> Vec<PathBuf> {
    let mut dirs = Vec::new();
    if let Some(dir) = std::env::current_exe()
        .ok()
        .and_then(|p| p.parent().map(Path::to_path_buf))
    {
        dirs.push(dir);
    }
    if let Some(path) = std::env::var_os("PATH") {
        dirs.extend(std::env::split_paths(&path).filter(|p| p.is_absolute()));
    }
    dirs
}

/// The values of the `declared` variables that are set here (and are valid text).
fn declared_values(declared: &[String]) -> std::collections::BTreeMap<String, String> {
    declared
        .iter()
        .filter_map(|k| Some((k.clone(), std::env::var(k).ok()?)))
        .collect()
}

fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p)
        .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        .unwrap_or(false)
}

/// The log target of the protocol trace: `-D` (or `MACHINE_LOG=machine_core::protocol=debug`)
/// shows every message to and from drivers.
pub const PROTOCOL_LOG_TARGET: &str = "machine_core::protocol";

/// Logs every message line to and from driver `label` at debug level, the values of its
/// secret options and the credentials of URLs hidden.
fn protocol_trace(label: &str, secrets: &Arc<Mutex<Vec<String>>>) -> Trace {
    let (label, secrets) = (label.to_string(), secrets.clone());
    Arc::new(move |direction, line| {
        if !tracing::enabled!(target: PROTOCOL_LOG_TARGET, tracing::Level::DEBUG) {
            return;
        }
        let arrow = match direction {
            Direction::ToDriver => "->",
            Direction::FromDriver => "<-",
        };
        let shown = shown_line(line, &secrets.lock().unwrap());
        tracing::debug!(target: PROTOCOL_LOG_TARGET, driver = %label, "{arrow} {shown}");
    })
}

/// A protocol line as the trace shows it: the values of the driver's secret options (and of
/// their aliases) hidden wherever they sit (options, configs, results), every value of
/// `$/environment` hidden (a driver declares its cloud's credentials there), URL credentials
/// hidden.
fn shown_line(line: &str, secrets: &[String]) -> String {
    let shown = match serde_json::from_str::<Value>(line) {
        Ok(mut v) => {
            crate::config::redact(&mut v, secrets);
            if v["method"] == notification::Environment::METHOD {
                if let Some(vars) = v["params"]["vars"].as_object_mut() {
                    vars.values_mut()
                        .for_each(|x| *x = Value::String("<hidden>".into()));
                }
            }
            v.to_string()
        }
        Err(_) => line.to_string(),
    };
    crate::download::redact(&shown).into_owned()
}

/// The version a refusing driver says it speaks ("... speaks protocol version N ...").
fn spoken_version(message: &str) -> Option<u32> {
    let rest = &message[message.find("protocol version ")? + "protocol version ".len()..];
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}

/// Receivers of `made` notifications, by machine.
type MadeListeners = Arc<Mutex<HashMap<String, mpsc::UnboundedSender<Value>>>>;

/// A connection to one driver: a process, or a driver running in this program.
pub struct DriverConn {
    info: DriverInfo,
    client: Client,
    child: Option<Mutex<Child>>,
    /// The driver's process group (its pid), ended with the connection.
    group: Option<rustix::process::Pid>,
    stderr_tail: Arc<Mutex<VecDeque<String>>>,
    /// The task reading its stderr: a crash is told once it read the last lines.
    stderr_reader: Mutex<Option<tokio::task::JoinHandle<()>>>,
    made: MadeListeners,
    /// The driver's secret option names, hidden in the protocol trace.
    secrets: Arc<Mutex<Vec<String>>>,
}

impl DriverConn {
    /// Starts the executable in a process group of its own, with the basics of the environment,
    /// and performs the handshake.
    async fn launch(launch: &Launch, events: &Events) -> Result<DriverConn> {
        let path = &launch.program;
        let mut child = Command::new(path)
            .args(&launch.args)
            .env_clear()
            .envs(driver_protocol::launch::environment())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0)
            .kill_on_drop(true)
            .spawn()
            .map_err(|source| Error::DriverStart {
                path: path.to_path_buf(),
                source,
            })?;
        let group = child
            .id()
            .and_then(|id| rustix::process::Pid::from_raw(id as i32));
        let stdin = child.stdin.take().expect("piped stdin");
        let stdout = child.stdout.take().expect("piped stdout");
        let stderr = child.stderr.take().expect("piped stderr");
        let label = launch.label.clone();

        let stderr_tail = Arc::new(Mutex::new(VecDeque::new()));
        let stderr_reader = tokio::spawn(read_stderr(stderr, label.clone(), stderr_tail.clone()));
        let made = MadeListeners::default();
        let secrets = Arc::default();
        let client = Client::traced(
            stdout,
            stdin,
            notifications(events.clone(), made.clone()),
            Some(protocol_trace(&label, &secrets)),
        );
        let conn = DriverConn {
            info: DriverInfo::new(&label, "", Default::default()),
            client,
            child: Some(Mutex::new(child)),
            group,
            stderr_tail,
            stderr_reader: Mutex::new(Some(stderr_reader)),
            made,
            secrets,
        };
        conn.handshake(&label).await
    }

    /// Serves `driver` in this program over in-memory pipes, and performs the handshake.
    async fn in_process(driver: DynDriver, events: Events) -> Result<DriverConn> {
        let label = driver.info().name;
        let (host_end, driver_end) = tokio::io::duplex(1 << 16);
        let (dr, dw) = tokio::io::split(driver_end);
        tokio::spawn(driver_protocol::serve_io(driver, dr, dw));
        let (hr, hw) = tokio::io::split(host_end);
        let made = MadeListeners::default();
        let secrets = Arc::default();
        let conn = DriverConn {
            info: DriverInfo::new(&label, "", Default::default()),
            client: Client::traced(
                hr,
                hw,
                notifications(events, made.clone()),
                Some(protocol_trace(&label, &secrets)),
            ),
            child: None,
            group: None,
            stderr_tail: Arc::default(),
            stderr_reader: Mutex::default(),
            made,
            secrets,
        };
        conn.handshake(&label).await
    }

    /// `initialize`, then the declared variables' values (`$/environment`) when any is set.
    async fn handshake(mut self, label: &str) -> Result<DriverConn> {
        let params = InitializeParams::new(&format!("machine-core {}", env!("CARGO_PKG_VERSION")));
        let answer = self
            .request::<request::Initialize>(
                "",
                &params,
                INITIALIZE_TIMEOUT,
                &CancellationToken::new(),
            )
            .await;
        let refused = |driver_version| Error::DriverVersion {
            driver: label.to_string(),
            driver_version,
            host_version: driver_protocol::PROTOCOL_VERSION,
        };
        let info = match answer {
            // a driver of another version refuses the handshake, naming its own version
            Err(e) if e.driver_kind() == Some(ErrorKind::Protocol) => {
                return Err(refused(spoken_version(&e.to_string())))
            }
            answer => answer?,
        };
        if info.protocol_version != driver_protocol::PROTOCOL_VERSION {
            return Err(refused(Some(info.protocol_version)));
        }
        *self.secrets.lock().unwrap() = info.secret_keys();
        let vars = declared_values(&info.env);
        if !vars.is_empty() {
            let sent = self
                .client
                .notify::<notification::Environment>(&EnvironmentParams::new(vars))
                .await;
            if let Err(e) = sent {
                return Err(Error::DriverAnswer {
                    driver: label.to_string(),
                    machine: String::new(),
                    call: notification::Environment::METHOD.into(),
                    reason: e.to_string(),
                });
            }
        }
        self.info = info;
        Ok(self)
    }

    /// What the driver said about itself.
    pub fn info(&self) -> &DriverInfo {
        &self.info
    }

    /// Whether this connection serves no more calls (the driver exited, or was stopped after a
    /// call timed out): the host's next [`DriverHost::get`] starts the driver again.
    pub(crate) fn is_closed(&self) -> bool {
        self.client.is_closed()
    }

    /// The driver's process id (`None` for a driver running in this program).
    #[cfg(feature = "testing")]
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().and_then(|c| c.lock().unwrap().id())
    }

    /// Receives the configs the driver reports with `made` for `machine` while the receiver
    /// lives (a create in progress).
    pub(crate) fn watch_made(&self, machine: &str) -> MadeWatch {
        let (tx, rx) = mpsc::unbounded_channel();
        self.made.lock().unwrap().insert(machine.to_string(), tx);
        MadeWatch {
            rx,
            machine: machine.to_string(),
            listeners: self.made.clone(),
        }
    }

    /// Calls `R` about `machine`, waiting at most `timeout`; `cancel` tells the driver to
    /// stop (it answers once it has undone its work).
    pub async fn request<R: Request>(
        &self,
        machine: &str,
        params: &R::Params,
        timeout: Duration,
        cancel: &CancellationToken,
    ) -> Result<R::Result> {
        let driver = if self.info.name.is_empty() {
            "unknown"
        } else {
            &self.info.name
        };
        let method = R::METHOD;
        let call = self.answer_while_alive(self.client.request_cancellable::<R>(params, cancel));
        match tokio::time::timeout(timeout, call).await {
            Err(_) => {
                // the driver may still be at it, in a state nobody knows: it serves nothing
                // more (its calls in flight fail saying why) and ends with what it started; the
                // next call starts it again
                self.client.close(&format!(
                    "stopped by this host after {method} for machine \"{machine}\" did not \
                     answer within {timeout:?}"
                ));
                self.end_group();
                Err(Error::DriverTimeout {
                    driver: driver.into(),
                    machine: machine.into(),
                    call: method.into(),
                    seconds: timeout.as_secs(),
                })
            }
            Ok(Ok(r)) => Ok(r),
            Ok(Err(ClientError::Driver(e))) if e.kind == ErrorKind::NotSupported => {
                Err(Error::NotSupported {
                    driver: driver.into(),
                    operation: method.into(),
                })
            }
            Ok(Err(ClientError::Driver(e))) => Err(Error::Driver {
                driver: driver.into(),
                machine: machine.into(),
                call: method.into(),
                kind: e.kind,
                message: crate::download::redact(&e.message).into_owned(),
            }),
            Ok(Err(ClientError::Closed)) => {
                let (status, stderr_tail) = self.crash_detail().await;
                Err(Error::DriverCrashed {
                    driver: driver.into(),
                    machine: machine.into(),
                    call: method.into(),
                    status,
                    stderr_tail,
                })
            }
            Ok(Err(ClientError::Stopped(because))) => Err(Error::DriverCrashed {
                driver: driver.into(),
                machine: machine.into(),
                call: method.into(),
                status: Some(because),
                stderr_tail: self.stderr_tail.lock().unwrap().iter().cloned().collect(),
            }),
            Ok(Err(ClientError::TooLarge { size, limit, .. })) => {
                Err(Error::DriverRequestTooLarge {
                    driver: driver.into(),
                    machine: machine.into(),
                    call: method.into(),
                    size,
                    limit,
                })
            }
            Ok(Err(e)) => Err(Error::DriverAnswer {
                driver: driver.into(),
                machine: machine.into(),
                call: method.into(),
                reason: e.to_string(),
            }),
        }
    }

    /// `call`, ended as a crash when the driver process exits without answering it: processes
    /// it left running may hold its stdout open, so its output might never end. An answer
    /// written just before the exit is still taken (within [`EXIT_GRACE`]).
    async fn answer_while_alive<T>(
        &self,
        call: impl std::future::Future<Output = std::result::Result<T, ClientError>>,
    ) -> std::result::Result<T, ClientError> {
        tokio::pin!(call);
        let Some(child) = &self.child else {
            return call.await;
        };
        let exited = async {
            while !matches!(child.lock().unwrap().try_wait(), Ok(Some(_))) {
                tokio::time::sleep(EXIT_POLL).await;
            }
        };
        tokio::select! {
            r = &mut call => r,
            () = exited => match tokio::time::timeout(EXIT_GRACE, &mut call).await {
                Ok(r) => r,
                Err(_) => {
                    self.client.close("the driver exited");
                    Err(ClientError::Closed)
                }
            },
        }
    }

    async fn crash_detail(&self) -> (Option<String>, Vec<String>) {
        let mut status = None;
        if let Some(child) = &self.child {
            // give the process a moment to finish exiting so its status is known
            for _ in 0..20 {
                if let Ok(Some(s)) = child.lock().unwrap().try_wait() {
                    status = Some(s.to_string());
                    break;
                }
                tokio::time::sleep(Duration::from_millis(25)).await;
            }
        }
        // what the driver started goes with it
        self.end_group();
        // its last lines, written just before it exited, may still be on their way
        let reader = self.stderr_reader.lock().unwrap().take();
        if let Some(reader) = reader {
            let _ = tokio::time::timeout(Duration::from_millis(500), reader).await;
        }
        let tail = self.stderr_tail.lock().unwrap().iter().cloned().collect();
        (status, tail)
    }

    fn end_group(&self) {
        if let Some(group) = self.group {
            let _ = rustix::process::kill_process_group(group, rustix::process::Signal::KILL);
        }
    }
}

impl Drop for DriverConn {
    fn drop(&mut self) {
        self.end_group();
    }
}

/// Logs a driver's stderr within a budget ([`driver_protocol::chatter`]) and keeps its last
/// lines; a line longer than [`STDERR_LINE_MAX`] is skipped (noted, not kept), so a driver cannot
/// make the host's memory, or its log, grow without end.
async fn read_stderr(
    stderr: tokio::process::ChildStderr,
    label: String,
    tail: Arc<Mutex<VecDeque<String>>>,
) {
    let mut reader = BufReader::new(stderr);
    let mut chatter = driver_protocol::chatter::Chatter::new();
    loop {
        let line = match driver_protocol::framing::read_line(&mut reader, STDERR_LINE_MAX).await {
            Ok(Some(line)) => crate::download::redact(&line).into_owned(),
            Ok(None) => break,
            Err(driver_protocol::framing::FrameError::Io(_)) => break,
            Err(e) => format!("(a line that was skipped: {e})"),
        };
        if let Some(shown) = chatter.admit(&line) {
            tracing::debug!(driver = %label, "{shown}");
        }
        let mut t = tail.lock().unwrap();
        if t.len() == STDERR_LINES_KEPT {
            t.pop_front();
        }
        t.push_back(line);
    }
    if let Some(note) = chatter.held() {
        tracing::debug!(driver = %label, "{note}");
    }
}

/// A subscription to `made` notifications for one machine; ends when dropped.
pub(crate) struct MadeWatch {
    pub(crate) rx: mpsc::UnboundedReceiver<Value>,
    machine: String,
    listeners: MadeListeners,
}

impl Drop for MadeWatch {
    fn drop(&mut self) {
        self.listeners.lock().unwrap().remove(&self.machine);
    }
}

/// Routes a driver's notifications: progress to `events`, `made` to the create that waits for it.
fn notifications(
    events: Events,
    made: MadeListeners,
) -> impl Fn(ClientNotification) + Send + Sync + 'static {
    // called by the client's reader as each notification is read: a `made` is with the create
    // waiting for it before the create's answer is
    move |n| match n {
        ClientNotification::Progress(p) => {
            let step = Step::Driver(p.step.clone().unwrap_or_else(|| "progress".into()));
            let mut e = Event::new(&p.machine, step, p.message).at(Level::Info);
            e.progress = p.done.zip(p.total);
            events.send(e);
        }
        ClientNotification::Made(m) => {
            if let Some(tx) = made.lock().unwrap().get(&m.machine) {
                let _ = tx.send(m.config);
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::shown_line;

    #[test]
    fn the_trace_hides_secret_options_their_aliases_the_environment_and_url_credentials() {
        let secrets = vec!["t-token".to_string(), "t-api-token".to_string()];
        for line in [
            // the options of set_config, by name and by alias
            r#"{"jsonrpc":"2.0","id":2,"method":"set_config","params":{"machine":"m","options":{"t-token":"S3CRET","t-api-token":"S3CRET","t-size":"small"}}}"#,
            // a config in a result and in `made`
            r#"{"jsonrpc":"2.0","id":3,"result":{"config":{"t-token":"S3CRET","id":"srv-1"}}}"#,
            r#"{"jsonrpc":"2.0","method":"made","params":{"machine":"m","config":{"t-token":"S3CRET"}}}"#,
            // the declared variables
            r#"{"jsonrpc":"2.0","method":"$/environment","params":{"vars":{"T_CLOUD_KEY":"S3CRET"}}}"#,
            // credentials in a URL
            r#"{"jsonrpc":"2.0","id":4,"result":{"config":{"iso":"https://u:S3CRET@example.com/x.iso"}}}"#,
        ] {
            let shown = shown_line(line, &secrets);
            assert!(!shown.contains("S3CRET"), "{shown}");
        }
        let plain = r#"{"jsonrpc":"2.0","id":2,"result":{"config":{"t-size":"small"}}}"#;
        assert!(
            shown_line(plain, &secrets).contains("small"),
            "what is no secret stays"
        );
    }
}
