//! The driver host: finds driver executables, launches them, and calls them.
//!
//! A driver `NAME` is the executable `machine-driver-NAME`, looked for next to the running
//! program first, then on `PATH`. A name no executable carries is looked up among the aliases
//! the installed drivers declare (so `vmwarevsphere` finds `machine-driver-vsphere`).
//!
//! One process per driver serves every machine of that driver for the life of the
//! [`DriverHost`], with calls in flight concurrently; it is killed when the host drops. Its stderr
//! is forwarded to the log, and its last lines are kept to explain a crash.

use crate::error::{Error, Result};
use crate::events::Events;
use driver_protocol::calls::INITIALIZE;
use driver_protocol::schema::InitializeParams;
use driver_protocol::{Client, ClientError, ClientNotification, DriverInfo, ErrorKind};
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::collections::{HashMap, VecDeque};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

const EXE_PREFIX: &str = "machine-driver-";
const STDERR_LINES_KEPT: usize = 20;
/// How long a driver may take to answer the handshake.
const INITIALIZE_TIMEOUT: Duration = Duration::from_secs(20);

/// Launches drivers and keeps one process per driver.
pub struct DriverHost {
    search_path: Vec<PathBuf>,
    events: Events,
    running: tokio::sync::Mutex<HashMap<String, Arc<DriverProcess>>>,
}

impl DriverHost {
    /// Looks for drivers next to the running executable, then on `PATH`.
    pub fn new(events: Events) -> DriverHost {
        let mut search_path = Vec::new();
        if let Some(dir) = std::env::current_exe()
            .ok()
            .and_then(|p| p.parent().map(Path::to_path_buf))
        {
            search_path.push(dir);
        }
        if let Some(path) = std::env::var_os("PATH") {
            search_path.extend(std::env::split_paths(&path));
        }
        DriverHost::with_search_path(search_path, events)
    }

    /// Looks for drivers in `dirs`, in order.
    pub fn with_search_path(dirs: Vec<PathBuf>, events: Events) -> DriverHost {
        DriverHost {
            search_path: dirs,
            events,
            running: tokio::sync::Mutex::new(HashMap::new()),
        }
    }

    /// The running driver `name` (or the driver that declares `name` as an alias), launching it
    /// on first use.
    pub async fn get(&self, name: &str) -> Result<Arc<DriverProcess>> {
        let mut running = self.running.lock().await;
        if let Some(p) = running.get(name) {
            return Ok(p.clone());
        }
        let process = match self.find(name) {
            Some(path) => Arc::new(DriverProcess::launch(&path, self.events.clone()).await?),
            None => self
                .find_by_alias(name)
                .await?
                .ok_or_else(|| self.not_found(name))?,
        };
        running.insert(name.to_string(), process.clone());
        running.insert(process.info.name.clone(), process.clone());
        Ok(process)
    }

    fn find(&self, name: &str) -> Option<PathBuf> {
        if name.is_empty() || name.contains('/') {
            return None;
        }
        let file = format!("{EXE_PREFIX}{name}");
        self.search_path
            .iter()
            .map(|d| d.join(&file))
            .find(|p| is_executable(p))
    }

    /// Every installed driver executable, by driver name (first one found wins).
    pub fn installed(&self) -> Vec<(String, PathBuf)> {
        let mut found: Vec<(String, PathBuf)> = Vec::new();
        for dir in &self.search_path {
            let Ok(entries) = std::fs::read_dir(dir) else {
                continue;
            };
            for e in entries.flatten() {
                let file = e.file_name().to_string_lossy().into_owned();
                if let Some(name) = file.strip_prefix(EXE_PREFIX) {
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

    async fn find_by_alias(&self, alias: &str) -> Result<Option<Arc<DriverProcess>>> {
        for (_, path) in self.installed() {
            if let Ok(p) = DriverProcess::launch(&path, self.events.clone()).await {
                if p.info.aliases.iter().any(|a| a == alias) {
                    return Ok(Some(Arc::new(p)));
                }
            }
        }
        Ok(None)
    }

    fn not_found(&self, name: &str) -> Error {
        let installed: Vec<String> = self.installed().into_iter().map(|(n, _)| n).collect();
        let hint = if installed.is_empty() {
            String::new()
        } else {
            format!("; installed drivers: {}", installed.join(", "))
        };
        Error::DriverNotFound {
            driver: name.to_string(),
            exe_dir: self
                .search_path
                .first()
                .map(|p| p.display().to_string())
                .unwrap_or_default(),
            hint,
        }
    }
}

fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p)
        .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        .unwrap_or(false)
}

/// One running driver executable.
pub struct DriverProcess {
    info: DriverInfo,
    client: Client,
    child: Mutex<Child>,
    stderr_tail: Arc<Mutex<VecDeque<String>>>,
}

impl DriverProcess {
    /// Starts the executable and performs the handshake.
    pub async fn launch(path: &Path, events: Events) -> Result<DriverProcess> {
        let display = path.display().to_string();
        let mut child = Command::new(path)
            .env(
                driver_protocol::PLUGIN_COOKIE_KEY,
                driver_protocol::PLUGIN_COOKIE_VALUE,
            )
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| Error::io(format!("starting the driver {display}"), e))?;
        let stdin = child.stdin.take().expect("piped stdin");
        let stdout = child.stdout.take().expect("piped stdout");
        let stderr = child.stderr.take().expect("piped stderr");
        let label = path
            .file_name()
            .map(|f| {
                f.to_string_lossy()
                    .trim_start_matches(EXE_PREFIX)
                    .to_string()
            })
            .unwrap_or_default();

        let stderr_tail = Arc::new(Mutex::new(VecDeque::new()));
        let tail = stderr_tail.clone();
        let log_label = label.clone();
        tokio::spawn(async move {
            let mut lines = BufReader::new(stderr).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                tracing::debug!(driver = %log_label, "{line}");
                let mut t = tail.lock().unwrap();
                if t.len() == STDERR_LINES_KEPT {
                    t.pop_front();
                }
                t.push_back(line);
            }
        });

        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        tokio::spawn(async move {
            while let Some(n) = rx.recv().await {
                if let ClientNotification::Progress(p) = n {
                    events.emit(&p.machine, p.message);
                }
            }
        });
        let client = Client::new(stdout, stdin, tx);
        let mut process = DriverProcess {
            info: DriverInfo::new(&label, "", Default::default(), Vec::new()),
            client,
            child: Mutex::new(child),
            stderr_tail,
        };
        let params = InitializeParams {
            protocol_version: driver_protocol::PROTOCOL_VERSION,
            host: format!("machine-core {}", env!("CARGO_PKG_VERSION")),
        };
        process.info = process
            .call("", INITIALIZE, &params, INITIALIZE_TIMEOUT)
            .await?;
        Ok(process)
    }

    /// What the driver said about itself.
    pub fn info(&self) -> &DriverInfo {
        &self.info
    }

    /// Calls `method` about `machine`, waiting at most `timeout`.
    pub async fn call<P: Serialize, R: DeserializeOwned>(
        &self,
        machine: &str,
        method: &str,
        params: &P,
        timeout: Duration,
    ) -> Result<R> {
        let driver = if self.info.name.is_empty() {
            "unknown"
        } else {
            &self.info.name
        };
        match tokio::time::timeout(timeout, self.client.call(method, params)).await {
            Err(_) => Err(Error::DriverTimeout {
                driver: driver.into(),
                machine: machine.into(),
                call: method.into(),
                seconds: timeout.as_secs(),
            }),
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
                message: e.message,
            }),
            Ok(Err(ClientError::Closed)) => Err(Error::DriverCrashed {
                driver: driver.into(),
                machine: machine.into(),
                call: method.into(),
                detail: self.crash_detail().await,
            }),
            Ok(Err(e)) => Err(Error::Driver {
                driver: driver.into(),
                machine: machine.into(),
                call: method.into(),
                kind: ErrorKind::Protocol,
                message: e.to_string(),
            }),
        }
    }

    async fn crash_detail(&self) -> String {
        // give the process a moment to finish exiting so its status is known
        let mut status = None;
        for _ in 0..20 {
            if let Ok(Some(s)) = self.child.lock().unwrap().try_wait() {
                status = Some(s);
                break;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        let tail: Vec<String> = self.stderr_tail.lock().unwrap().iter().cloned().collect();
        let mut detail = match status {
            Some(s) => format!(" ({s})"),
            None => String::new(),
        };
        if !tail.is_empty() {
            detail.push_str(":\n  ");
            detail.push_str(&tail.join("\n  "));
        }
        detail
    }
}
