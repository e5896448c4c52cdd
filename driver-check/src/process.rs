//! The driver process, started as the host starts it, with a tap on its stdout.
//!
//! The kit reads the driver's stdout itself, line by line: every line must be a JSON-RPC
//! message. Valid lines go on to a [`driver_protocol::Client`] over an in-memory pipe; invalid
//! ones are recorded for the `stdout` check. The tap also records the `progress` and `made`
//! notifications per machine, in the order they came (a `made` recorded before a call's answer
//! was on stdout before it), and answers the kit's raw requests (string ids), which test what
//! the typed client cannot send: an unknown method, malformed params.

use driver_protocol::framing::{self, FrameError, MAX_FRAME};
use driver_protocol::message::{Id, Message, Request as RpcRequest, Response};
use driver_protocol::Client;
use serde_json::Value;
use std::collections::{HashMap, VecDeque};
use std::path::Path;
use std::process::{ExitStatus, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWriteExt, BufReader, DuplexStream};
use tokio::process::{Child, ChildStdin, Command};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

/// The ids of the kit's raw requests start with this; their answers never reach the client.
const RAW_PREFIX: &str = "driver-check-";
/// How many of the driver's last stderr lines are kept.
const STDERR_LINES_KEPT: usize = 20;
/// How many invalid stdout lines are kept (all are counted).
const INVALID_KEPT: usize = 10;
/// A notification the driver sent about a machine.
#[derive(Debug, Clone, PartialEq)]
pub enum Note {
    /// `progress` about `machine`.
    Progress {
        /// The machine.
        machine: String,
    },
    /// `made` about `machine`, with the config that finds what exists.
    Made {
        /// The machine.
        machine: String,
        /// The config.
        config: Value,
    },
}

/// What the tap saw on the driver's stdout.
#[derive(Debug, Default)]
pub struct Tap {
    /// Lines read.
    pub lines: usize,
    /// Lines that are not JSON-RPC messages (counted).
    pub invalid_count: usize,
    /// The first of them, with why.
    pub invalid: Vec<String>,
    /// The driver's notifications, in order.
    pub notes: Vec<Note>,
    /// Its stdout has ended.
    pub ended: bool,
    raw: HashMap<String, oneshot::Sender<Response>>,
}

/// Why a raw request got no answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RawError {
    /// None came within the bound.
    Timeout,
    /// The driver's stdout ended first (it exited or crashed).
    Closed,
}

/// A running driver, spoken to through [`Driver::client`] and [`Driver::raw_call`].
pub struct Driver {
    client: Option<Client>,
    child: Mutex<Child>,
    group: Option<rustix::process::Pid>,
    tap: Arc<Mutex<Tap>>,
    tap_task: JoinHandle<()>,
    to_driver: Option<mpsc::UnboundedSender<String>>,
    next_raw: AtomicU64,
    stderr_tail: Arc<Mutex<VecDeque<String>>>,
}

impl Driver {
    /// Starts `executable` as the host does: the host's environment for drivers
    /// ([`driver_protocol::launch::environment`]), stdin and stdout piped, stderr captured, in
    /// a process group of its own.
    pub fn start(executable: &Path, args: &[std::ffi::OsString]) -> std::io::Result<Driver> {
        let mut child = Command::new(executable)
            .args(args)
            .env_clear()
            .envs(driver_protocol::launch::environment())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0)
            .kill_on_drop(true)
            .spawn()?;
        let group = child
            .id()
            .and_then(|id| rustix::process::Pid::from_raw(id as i32));
        let stdin = child.stdin.take().expect("piped stdin");
        let stdout = child.stdout.take().expect("piped stdout");
        let stderr = child.stderr.take().expect("piped stderr");

        let stderr_tail = Arc::new(Mutex::new(VecDeque::new()));
        tokio::spawn(keep_tail(stderr, stderr_tail.clone()));

        // one writer to the driver's stdin, fed by the client (through a pipe) and raw calls
        let (to_driver, lines) = mpsc::unbounded_channel::<String>();
        tokio::spawn(write_lines(stdin, lines));
        let (client_out, from_client) = tokio::io::duplex(1 << 16);
        tokio::spawn(pump(from_client, to_driver.clone()));

        let (to_client, client_in) = tokio::io::duplex(1 << 16);
        let tap = Arc::new(Mutex::new(Tap::default()));
        let tap_task = tokio::spawn(read_stdout(stdout, to_client, tap.clone()));
        // notifications are read from the tap, which saw them in order with the answers
        let client = Client::new(client_in, client_out, |_| {});
        Ok(Driver {
            client: Some(client),
            child: Mutex::new(child),
            group,
            tap,
            tap_task,
            to_driver: Some(to_driver),
            next_raw: AtomicU64::new(1),
            stderr_tail,
        })
    }

    /// The typed client.
    pub fn client(&self) -> &Client {
        self.client
            .as_ref()
            .expect("the client lives until shutdown")
    }

    /// Sends request `method` with `params` as they are (any JSON) under an id of the kit's
    /// own, and waits at most `bound` for its answer.
    pub async fn raw_call(
        &self,
        method: &str,
        params: Value,
        bound: Duration,
    ) -> Result<Response, RawError> {
        let id = format!(
            "{RAW_PREFIX}{}",
            self.next_raw.fetch_add(1, Ordering::Relaxed)
        );
        let (tx, rx) = oneshot::channel();
        {
            let mut tap = self.tap.lock().unwrap();
            if tap.ended {
                return Err(RawError::Closed);
            }
            tap.raw.insert(id.clone(), tx);
        }
        let msg = Message::Request(RpcRequest {
            jsonrpc: "2.0".into(),
            id: Id::Str(id),
            method: method.into(),
            params,
        });
        let line = serde_json::to_string(&msg).expect("a request serializes") + "\n";
        let sent = self.to_driver.as_ref().map(|t| t.send(line));
        if !matches!(sent, Some(Ok(()))) {
            return Err(RawError::Closed);
        }
        match tokio::time::timeout(bound, rx).await {
            Err(_) => Err(RawError::Timeout),
            Ok(Err(_)) => Err(RawError::Closed),
            Ok(Ok(resp)) => Ok(resp),
        }
    }

    /// The configs of the `made` notifications about `machine` so far, oldest first.
    pub fn made(&self, machine: &str) -> Vec<Value> {
        self.tap
            .lock()
            .unwrap()
            .notes
            .iter()
            .filter_map(|n| match n {
                Note::Made { machine: m, config } if m == machine => Some(config.clone()),
                _ => None,
            })
            .collect()
    }

    /// Whether the driver sent `progress` or `made` about `machine`.
    pub fn active(&self, machine: &str) -> bool {
        self.tap.lock().unwrap().notes.iter().any(|n| match n {
            Note::Progress { machine: m } | Note::Made { machine: m, .. } => m == machine,
        })
    }

    /// The last lines of the driver's stderr.
    pub fn stderr_tail(&self) -> Vec<String> {
        self.stderr_tail.lock().unwrap().iter().cloned().collect()
    }

    /// Why the driver stopped answering, for a failure's detail: its exit status (waiting a
    /// moment for it) and its last line of stderr.
    pub async fn exit_note(&self) -> String {
        let mut status = None;
        for _ in 0..20 {
            if let Ok(Some(s)) = self.child.lock().unwrap().try_wait() {
                status = Some(s);
                break;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        let mut note = match status {
            Some(s) => format!("the driver exited ({s})"),
            None => "the driver closed its stdout".to_string(),
        };
        if let Some(last) = self.stderr_tail().last() {
            note.push_str(&format!("; its last line of stderr: {last}"));
        }
        note
    }

    /// Closes the driver's stdin (a host that is done), gives it `grace` to exit, then ends its
    /// process group. Returns what the tap saw over the whole run and how the driver exited.
    pub async fn shutdown(mut self, grace: Duration) -> Finished {
        drop(self.client.take());
        drop(self.to_driver.take());
        let mut child = self.child.into_inner().unwrap();
        let status = match tokio::time::timeout(grace, child.wait()).await {
            Ok(Ok(s)) => Some(s),
            _ => None,
        };
        // whatever the driver started goes with it
        if let Some(group) = self.group {
            let _ = rustix::process::kill_process_group(group, rustix::process::Signal::KILL);
        }
        if status.is_none() {
            let _ = child.kill().await;
        }
        let _ = tokio::time::timeout(Duration::from_secs(2), &mut self.tap_task).await;
        let tap = std::mem::take(&mut *self.tap.lock().unwrap());
        let stderr_tail = self.stderr_tail.lock().unwrap().iter().cloned().collect();
        Finished {
            exited: status,
            tap,
            stderr_tail,
        }
    }
}

/// What [`Driver::shutdown`] found.
#[derive(Debug)]
pub struct Finished {
    /// The driver's exit status, if it exited within the grace period (else it was killed).
    pub exited: Option<ExitStatus>,
    /// What its stdout held.
    pub tap: Tap,
    /// Its last lines of stderr.
    pub stderr_tail: Vec<String>,
}

/// Reads the driver's stdout: records, answers raw calls, forwards the rest to the client.
async fn read_stdout(
    stdout: tokio::process::ChildStdout,
    mut to_client: DuplexStream,
    tap: Arc<Mutex<Tap>>,
) {
    let mut reader = BufReader::new(stdout);
    let mut client_gone = false;
    loop {
        let line = match framing::read_line(&mut reader, MAX_FRAME).await {
            Ok(Some(line)) => line,
            Ok(None) | Err(FrameError::Io(_)) => break,
            Err(e) => {
                let mut t = tap.lock().unwrap();
                t.lines += 1;
                t.record_invalid(format!("(a line that was skipped: {e})"));
                continue;
            }
        };
        let forward = {
            let mut t = tap.lock().unwrap();
            t.lines += 1;
            match Message::parse(&line) {
                Err(e) => {
                    t.record_invalid(format!("{} ({e})", excerpt(&line)));
                    false
                }
                Ok(Message::Response(resp)) => match raw_id(&resp) {
                    Some(id) => {
                        if let Some(tx) = t.raw.remove(&id) {
                            let _ = tx.send(resp);
                        }
                        false
                    }
                    None => true,
                },
                Ok(Message::Notification(n)) => {
                    let machine = n
                        .params
                        .get("machine")
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                        .to_string();
                    match n.method.as_str() {
                        "progress" => t.notes.push(Note::Progress { machine }),
                        "made" => t.notes.push(Note::Made {
                            machine,
                            config: n.params.get("config").cloned().unwrap_or(Value::Null),
                        }),
                        _ => {}
                    }
                    true
                }
                Ok(_) => true,
            }
        };
        if forward && !client_gone {
            let mut bytes = line.into_bytes();
            bytes.push(b'\n');
            client_gone = to_client.write_all(&bytes).await.is_err();
        }
    }
    let mut t = tap.lock().unwrap();
    t.ended = true;
    // every raw call still waiting learns at once that no answer will come
    t.raw.clear();
}

/// The id of an answer to one of the kit's raw calls.
fn raw_id(resp: &Response) -> Option<String> {
    match &resp.id {
        Some(Id::Str(id)) if id.starts_with(RAW_PREFIX) => Some(id.clone()),
        _ => None,
    }
}

impl Tap {
    fn record_invalid(&mut self, what: String) {
        self.invalid_count += 1;
        if self.invalid.len() < INVALID_KEPT {
            self.invalid.push(what);
        }
    }
}

/// The start of `line`, quoted.
fn excerpt(line: &str) -> String {
    let short: String = line.chars().take(120).collect();
    if short.len() < line.len() {
        format!("{short:?}…")
    } else {
        format!("{short:?}")
    }
}

/// Writes each line to the driver's stdin, until every sender is gone (then stdin closes).
async fn write_lines(mut stdin: ChildStdin, mut lines: mpsc::UnboundedReceiver<String>) {
    while let Some(line) = lines.recv().await {
        if stdin.write_all(line.as_bytes()).await.is_err() || stdin.flush().await.is_err() {
            break;
        }
    }
}

/// Passes the client's messages on to the writer, whole lines at a time.
async fn pump(from_client: DuplexStream, to_driver: mpsc::UnboundedSender<String>) {
    let mut reader = BufReader::new(from_client);
    while let Ok(Some(line)) = framing::read_line(&mut reader, MAX_FRAME).await {
        if to_driver.send(line + "\n").is_err() {
            break;
        }
    }
}

/// Keeps the last lines of the driver's stderr.
async fn keep_tail<R: AsyncRead + Unpin>(stderr: R, tail: Arc<Mutex<VecDeque<String>>>) {
    let mut reader = BufReader::new(stderr);
    loop {
        let line = match framing::read_line(&mut reader, 8 * 1024).await {
            Ok(Some(line)) => line,
            Ok(None) | Err(FrameError::Io(_)) => break,
            Err(e) => format!("(a line that was skipped: {e})"),
        };
        let mut t = tail.lock().unwrap();
        if t.len() == STDERR_LINES_KEPT {
            t.pop_front();
        }
        t.push_back(line);
    }
}
