//! A plugin process for the length of one call: started as libmachine starts it
//! (`MACHINE_PLUGIN_TOKEN=42`, and `MACHINE_PLUGIN_DRIVER_NAME` for the drivers built into a
//! `docker-machine` binary), its address read from its first line of stdout, dialled three
//! times — one connection for the call, one for reading the plugin's config while a long call
//! runs, one for the heartbeat (a plugin exits when heartbeats stop: after 10 s in Docker
//! Machine 0.5.5 and later, after 0.5 s in 0.5.0 to 0.5.4, so the bridge sends one at once
//! and then every [`HEARTBEAT_INTERVAL`]) — and closed when the call is done. The plugin must
//! speak libmachine's plugin API version 1, as Docker Machine requires.
//!
//! The plugin's further stdout lines are its info log and its stderr its debug log, as
//! libmachine shows them. A plugin that does not print an address in time, prints one that is
//! not on the loopback interface, or dies, is an error naming the binary.

use crate::gob::{Type, Value};
use crate::rpc::{unit_type, RpcConn, RpcError, OLD_SERVICE};
use std::collections::VecDeque;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, BufReader};
use tokio::process::{Child, Command};
use tokio::task::JoinHandle;

/// How long a plugin may take to print its address (libmachine's own bound).
pub const ADDRESS_TIMEOUT: Duration = Duration::from_secs(10);
/// How often the heartbeat is sent: well within the shortest timeout of any libmachine (0.5 s).
pub const HEARTBEAT_INTERVAL: Duration = Duration::from_millis(200);
/// How long one heartbeat may take before its connection is replaced.
const HEARTBEAT_TIMEOUT: Duration = Duration::from_secs(2);
/// libmachine's plugin API version (`version.APIVersion`).
const API_VERSION: i64 = 1;
/// How long a short call (a query, `Close`) may take.
pub const QUERY_TIMEOUT: Duration = Duration::from_secs(20);
/// The longest line of the plugin's output that is passed on whole.
const LINE_MAX: usize = 4096;
/// The plugin's last stderr lines, kept to explain its death.
const TAIL_LINES: usize = 10;

/// Which plugin to start.
#[derive(Debug, Clone)]
pub struct PluginSpec {
    /// The executable: `docker-machine-driver-NAME`, or a `docker-machine` binary.
    pub path: PathBuf,
    /// For a `docker-machine` binary: the built-in driver it serves
    /// (`MACHINE_PLUGIN_DRIVER_NAME`).
    pub builtin: Option<String>,
}

/// Variables of cloud SDKs that plugins read themselves (their flags' own variables are read
/// by the host and arrive as options): the bridge declares them, and the values the host sends
/// reach the plugin's environment.
pub const SDK_ENV: &[&str] = &[
    "AWS_PROFILE",
    "AWS_REGION",
    "AWS_SHARED_CREDENTIALS_FILE",
    "AWS_CONFIG_FILE",
    "AWS_SDK_LOAD_CONFIG",
    "AWS_CA_BUNDLE",
    // the credentials of an ECS task role and of an EKS service account (IRSA)
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
    "AWS_CONTAINER_CREDENTIALS_FULL_URI",
    "AWS_CONTAINER_AUTHORIZATION_TOKEN",
    "AWS_WEB_IDENTITY_TOKEN_FILE",
    "AWS_ROLE_ARN",
    "AWS_ROLE_SESSION_NAME",
    "GOOGLE_APPLICATION_CREDENTIALS",
    "CLOUDSDK_CONFIG",
    "AZURE_AUTH_LOCATION",
    "SSL_CERT_FILE",
    "SSL_CERT_DIR",
];

/// A plugin that could not be started or used.
#[derive(Debug, thiserror::Error)]
pub enum PluginError {
    /// It could not be started.
    #[error("cannot start the driver plugin {path}: {source}")]
    Start {
        /// The executable.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// It did not say where it listens.
    #[error("the driver plugin {path} {what}{}", tail(.stderr))]
    NoAddress {
        /// The executable.
        path: PathBuf,
        /// What happened instead.
        what: String,
        /// Its last lines of stderr.
        stderr: Vec<String>,
    },
    /// A call failed.
    #[error("the driver plugin {path}: {call} failed: {source}{}", tail(.stderr))]
    Call {
        /// The executable.
        path: PathBuf,
        /// The libmachine call (`Create`, `GetState`, ...).
        call: String,
        /// Why.
        source: RpcError,
        /// Its last lines of stderr when the connection failed (it may have died).
        stderr: Vec<String>,
    },
    /// A call did not answer in time.
    #[error("the driver plugin {path}: {call} did not answer within {}s", .after.as_secs())]
    Timeout {
        /// The executable.
        path: PathBuf,
        /// The libmachine call.
        call: String,
        /// The bound.
        after: Duration,
    },
}

fn tail(lines: &[String]) -> String {
    if lines.is_empty() {
        String::new()
    } else {
        format!(" (its last output: {})", lines.join(" | "))
    }
}

impl PluginError {
    /// The plugin's own message, for an error it answered (not for a failure to reach it).
    pub fn remote_message(&self) -> Option<&str> {
        match self {
            PluginError::Call {
                source: RpcError::Remote(m),
                ..
            } => Some(m),
            _ => None,
        }
    }
}

/// Where the plugin's log lines go.
pub type LogSink = Arc<dyn Fn(LogLine) + Send + Sync>;

/// One line the plugin logged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LogLine {
    /// A line of its stdout (libmachine's info level).
    Info(String),
    /// A line of its stderr (libmachine's debug level).
    Debug(String),
}

/// A running plugin.
pub struct Plugin {
    path: PathBuf,
    child: Child,
    main: RpcConn,
    /// The second connection: heartbeats, and config reads during a long call.
    side: Side,
    heartbeat: JoinHandle<()>,
}

/// The plugin's second connection, usable while a call on the first one runs.
#[derive(Clone)]
pub struct Side {
    path: PathBuf,
    conn: Arc<tokio::sync::Mutex<RpcConn>>,
    stderr_tail: Arc<Mutex<VecDeque<String>>>,
}

impl Side {
    /// Calls `method` (with the empty argument) within `within`.
    pub async fn call_within(&self, method: &str, within: Duration) -> Result<Value, PluginError> {
        let answer = tokio::time::timeout(within, async {
            self.conn
                .lock()
                .await
                .call(method, &unit_type(), &Value::unit())
                .await
        })
        .await;
        answer_of(&self.path, &self.stderr_tail, method, answer, within)
    }
}

impl Plugin {
    /// Starts the plugin and connects to it.
    pub async fn start(
        spec: &PluginSpec,
        env: &[(&str, &str)],
        log: LogSink,
    ) -> Result<Plugin, PluginError> {
        let mut cmd = Command::new(&spec.path);
        cmd.envs(env.iter().copied())
            .env("MACHINE_PLUGIN_TOKEN", "42")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        if let Some(name) = &spec.builtin {
            cmd.env("MACHINE_PLUGIN_DRIVER_NAME", name);
        }
        let mut child = cmd.spawn().map_err(|source| PluginError::Start {
            path: spec.path.clone(),
            source,
        })?;
        let stderr_tail = Arc::new(Mutex::new(VecDeque::new()));
        let stderr = child.stderr.take().expect("piped stderr");
        tokio::spawn(forward(
            stderr,
            log.clone(),
            Some(stderr_tail.clone()),
            LogLine::Debug,
        ));
        let mut stdout = BufReader::new(child.stdout.take().expect("piped stdout"));

        let no_address = |what: String| PluginError::NoAddress {
            path: spec.path.clone(),
            what,
            stderr: Vec::new(),
        };
        let mut first = Vec::new();
        let read = tokio::time::timeout(ADDRESS_TIMEOUT, async {
            let mut limited = (&mut stdout).take(256);
            limited.read_until(b'\n', &mut first).await
        })
        .await;
        let line = String::from_utf8_lossy(&first).trim().to_string();
        let addr = match read {
            Err(_) => Err(format!(
                "printed no address within {}s",
                ADDRESS_TIMEOUT.as_secs()
            )),
            Ok(Err(e)) => Err(format!("could not be read: {e}")),
            Ok(Ok(0)) => Err(match child.wait().await {
                Ok(status) => format!("exited ({status}) before printing its address"),
                Err(e) => format!("ended its output before printing its address ({e})"),
            }),
            Ok(Ok(_)) => match line.parse::<SocketAddr>() {
                Ok(a) if a.ip().is_loopback() => Ok(a),
                Ok(a) => Err(format!(
                    "printed the address {a}, which is not on this machine's loopback interface"
                )),
                Err(_) => Err(format!(
                    "printed {:?} where its address (127.0.0.1:PORT) was expected",
                    crate::shown(&line)
                )),
            },
        };
        let addr = match addr {
            Ok(a) => a,
            Err(what) => {
                let _ = child.start_kill();
                // give its stderr a moment to arrive, to say why
                tokio::time::sleep(Duration::from_millis(100)).await;
                let mut e = no_address(what);
                if let PluginError::NoAddress { stderr, .. } = &mut e {
                    *stderr = stderr_tail.lock().unwrap().iter().cloned().collect();
                }
                return Err(e);
            }
        };
        tokio::spawn(forward(stdout, log, None, LogLine::Info));

        let connect = |what: &'static str| {
            let path = spec.path.clone();
            async move {
                tokio::time::timeout(QUERY_TIMEOUT, RpcConn::connect(addr))
                    .await
                    .unwrap_or_else(|_| {
                        Err(RpcError::Handshake("no answer to the handshake".into()))
                    })
                    .map_err(|source| PluginError::Call {
                        path,
                        call: what.into(),
                        source,
                        stderr: Vec::new(),
                    })
            }
        };
        let main = connect("connect").await?;
        let side = connect("connect").await?;
        let mut beat = connect("connect").await?;
        let mut plugin = Plugin {
            path: spec.path.clone(),
            child,
            main,
            side: Side {
                path: spec.path.clone(),
                conn: Arc::new(tokio::sync::Mutex::new(side)),
                stderr_tail,
            },
            heartbeat: tokio::spawn(async {}),
        };
        // the first call: the service's name, as libmachine's client finds it
        let version = match plugin.call_unit("GetVersion").await {
            Ok(v) => v,
            Err(e) => {
                let unknown = e
                    .remote_message()
                    .is_some_and(|m| m.contains("can't find service"));
                if !unknown {
                    return Err(e);
                }
                plugin.main.use_service(OLD_SERVICE);
                plugin.side.conn.lock().await.use_service(OLD_SERVICE);
                plugin.call_unit("GetVersion").await?
            }
        };
        let service = plugin.main.service();
        beat.use_service(service);
        plugin.heartbeat = tokio::spawn(heartbeat(beat, addr, service));
        let version = version.as_int();
        if version != Some(API_VERSION) {
            return Err(PluginError::Call {
                path: spec.path.clone(),
                call: "GetVersion".into(),
                source: RpcError::Remote(format!(
                    "the plugin speaks libmachine's plugin API version {}, the bridge version \
                     {API_VERSION}",
                    version.map_or_else(|| "(none)".to_string(), |v| v.to_string())
                )),
                stderr: Vec::new(),
            });
        }
        Ok(plugin)
    }

    /// The executable.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Calls `method` with `arg` of type `ty`, within `within`.
    pub async fn call(
        &mut self,
        method: &str,
        ty: &Type,
        arg: &Value,
        within: Duration,
    ) -> Result<Value, PluginError> {
        let answer = tokio::time::timeout(within, self.main.call(method, ty, arg)).await;
        answer_of(&self.path, &self.side.stderr_tail, method, answer, within)
    }

    /// Calls `method` with the empty argument most calls take, within [`QUERY_TIMEOUT`].
    pub async fn call_unit(&mut self, method: &str) -> Result<Value, PluginError> {
        self.call(method, &unit_type(), &Value::unit(), QUERY_TIMEOUT)
            .await
    }

    /// The second connection.
    pub fn side(&self) -> Side {
        self.side.clone()
    }

    /// Ends the plugin: `Close` (it exits without answering, as libmachine's plugins do),
    /// then a short wait for it to exit, then a kill.
    pub async fn close(mut self) {
        self.heartbeat.abort();
        let _ = tokio::time::timeout(
            Duration::from_secs(1),
            self.main.call("Close", &unit_type(), &Value::unit()),
        )
        .await;
        if tokio::time::timeout(Duration::from_secs(2), self.child.wait())
            .await
            .is_err()
        {
            let _ = self.child.start_kill();
            let _ = self.child.wait().await;
        }
    }
}

/// Sends heartbeats on `conn` until aborted: one at once, then every
/// [`HEARTBEAT_INTERVAL`]; a heartbeat that fails or hangs gets a new connection.
async fn heartbeat(mut conn: RpcConn, addr: SocketAddr, service: &'static str) {
    loop {
        let beat = tokio::time::timeout(
            HEARTBEAT_TIMEOUT,
            conn.call("Heartbeat", &unit_type(), &Value::unit()),
        )
        .await;
        if !matches!(beat, Ok(Ok(_))) {
            if let Ok(Ok(mut fresh)) =
                tokio::time::timeout(HEARTBEAT_TIMEOUT, RpcConn::connect(addr)).await
            {
                fresh.use_service(service);
                conn = fresh;
            }
        }
        tokio::time::sleep(HEARTBEAT_INTERVAL).await;
    }
}

fn answer_of(
    path: &Path,
    stderr_tail: &Mutex<VecDeque<String>>,
    method: &str,
    answer: Result<Result<Value, RpcError>, tokio::time::error::Elapsed>,
    within: Duration,
) -> Result<Value, PluginError> {
    match answer {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(source)) => {
            let stderr = match source {
                RpcError::Remote(_) => Vec::new(),
                _ => stderr_tail.lock().unwrap().iter().cloned().collect(),
            };
            Err(PluginError::Call {
                path: path.to_path_buf(),
                call: method.into(),
                source,
                stderr,
            })
        }
        Err(_) => Err(PluginError::Timeout {
            path: path.to_path_buf(),
            call: method.into(),
            after: within,
        }),
    }
}

impl Drop for Plugin {
    fn drop(&mut self) {
        self.heartbeat.abort();
    }
}

/// Passes the plugin's lines on, each cut to [`LINE_MAX`] bytes, keeping the last ones in
/// `tail`.
async fn forward(
    out: impl AsyncRead + Unpin,
    log: LogSink,
    tail: Option<Arc<Mutex<VecDeque<String>>>>,
    kind: fn(String) -> LogLine,
) {
    let mut out = BufReader::new(out);
    let mut buf = Vec::new();
    loop {
        buf.clear();
        match (&mut out)
            .take(LINE_MAX as u64)
            .read_until(b'\n', &mut buf)
            .await
        {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        if !buf.ends_with(b"\n") {
            // the rest of an over-long line is dropped
            let mut rest = Vec::new();
            loop {
                rest.clear();
                match (&mut out)
                    .take(LINE_MAX as u64)
                    .read_until(b'\n', &mut rest)
                    .await
                {
                    Ok(0) | Err(_) => break,
                    Ok(_) if rest.ends_with(b"\n") => break,
                    Ok(_) => {}
                }
            }
        }
        let line = crate::shown(String::from_utf8_lossy(&buf).trim_end());
        if line.is_empty() {
            continue;
        }
        if let Some(tail) = &tail {
            let mut t = tail.lock().unwrap();
            if t.len() == TAIL_LINES {
                t.pop_front();
            }
            t.push_back(line.clone());
        }
        log(kind(line));
    }
}
