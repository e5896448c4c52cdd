//! The driver side: implement [`Driver`], call [`serve`].
//!
//! `serve` reads requests from stdin, runs each in its own task (so one slow VM clone never
//! blocks a `state` call for another machine), and writes responses to stdout as they finish.
//! A malformed line gets a JSON-RPC error response; a panicking handler gets an internal error
//! response. Neither stops the driver.

use crate::calls::*;
use crate::error::DriverError;
use crate::framing::{self, FrameError, MAX_FRAME};
use crate::message::{codes, Id, Message, Notification, Request as RpcRequest, Response, RpcError};
use crate::notification::{self, Notification as _};
use crate::request::{self, Request};
use crate::schema::DriverInfo;
use async_trait::async_trait;
use serde_json::Value;
use std::collections::BTreeMap;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use tokio::io::{AsyncRead, AsyncWrite, BufReader};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// Per-call context: progress, what has been made, and whether the host cancelled the call.
#[derive(Clone)]
pub struct Context {
    machine: String,
    out: mpsc::UnboundedSender<Message>,
    cancel: CancellationToken,
    env: Arc<BTreeMap<String, String>>,
}

impl Context {
    /// A context that sends its notifications nowhere and is never cancelled (for tests).
    pub fn detached(machine: &str) -> Context {
        let (out, _) = mpsc::unbounded_channel();
        Context {
            machine: machine.into(),
            out,
            cancel: CancellationToken::new(),
            env: Arc::default(),
        }
    }

    /// The value of environment variable `name`, one the driver declared in
    /// [`DriverInfo::env`] and the host sent (`$/environment`). A driver runs with a minimal
    /// environment: read what it declared from here, not from the process.
    pub fn env(&self, name: &str) -> Option<&str> {
        self.env.get(name).map(String::as_str)
    }

    /// The machine this call is about (empty for `initialize`).
    pub fn machine(&self) -> &str {
        &self.machine
    }

    fn notify<N: notification::Notification>(&self, params: N::Params) {
        let _ = self.out.send(Message::Notification(Notification::new(
            N::METHOD,
            serde_json::to_value(params).unwrap_or(Value::Null),
        )));
    }

    /// Sends a progress line to the host, which shows it to the user.
    pub fn progress(&self, message: impl Into<String>) {
        self.notify::<notification::Progress>(ProgressParams::new(&self.machine, message));
    }

    /// Sends progress of step `step` (a word programs match on), with units done of a total
    /// where there is one (bytes of an upload).
    pub fn progress_step(
        &self,
        step: &str,
        message: impl Into<String>,
        done_total: Option<(u64, u64)>,
    ) {
        let mut p = ProgressParams::new(&self.machine, message);
        p.step = Some(step.to_string());
        if let Some((done, total)) = done_total {
            p.done = Some(done);
            p.total = Some(total);
        }
        self.notify::<notification::Progress>(p);
    }

    /// Tells the host that something now exists, with the config that finds it (call it right
    /// after the task that made it). The host stores it at once, so that `remove` can undo an
    /// interrupted create.
    pub fn made(&self, config: &Value) {
        self.notify::<notification::Made>(MadeParams::new(&self.machine, config.clone()));
    }

    /// Whether the host cancelled this call.
    pub fn is_cancelled(&self) -> bool {
        self.cancel.is_cancelled()
    }

    /// Completes when the host cancels this call: `select!` it against long waits.
    pub async fn cancelled(&self) {
        self.cancel.cancelled().await
    }

    /// An error for returning once cancelled, if the host cancelled this call.
    pub fn check_cancelled(&self) -> Result<(), DriverError> {
        if self.is_cancelled() {
            Err(DriverError::cancelled(format!(
                "cancelled while working on machine {}",
                self.machine
            )))
        } else {
            Ok(())
        }
    }
}

/// A driver. Only `info`, `set_config`, `state` and `access` must be written; the lifecycle
/// calls a driver cannot do default to a "not supported" error, matching its capabilities.
#[async_trait]
pub trait Driver: Send + Sync + 'static {
    /// Name, version, capabilities and option schema, sent in the handshake.
    fn info(&self) -> DriverInfo;

    /// Validates the user's options (defaults already applied) and returns the driver's config
    /// for this machine.
    async fn set_config(
        &self,
        cx: &Context,
        p: SetConfigParams,
    ) -> Result<ConfigResult, DriverError>;

    /// Checks that create can succeed (credentials, inventory, reachability) before anything is
    /// made.
    async fn pre_create_check(&self, _cx: &Context, _p: MachineParams) -> Result<(), DriverError> {
        Ok(())
    }

    /// Makes the host and installs the machine's SSH public key on it. For existing hosts there
    /// is nothing to make.
    async fn create(&self, _cx: &Context, p: CreateParams) -> Result<CreateResult, DriverError> {
        Ok(CreateResult::new(p.config))
    }

    /// Takes an existing machine (made by another tool) under management: validates the options
    /// (defaults applied), finds what exists and returns the config that reaches it. Makes and
    /// changes nothing. Drivers that cannot do this keep the default "not supported".
    async fn adopt(&self, _cx: &Context, _p: SetConfigParams) -> Result<ConfigResult, DriverError> {
        Err(DriverError::not_supported("adopt"))
    }

    /// Destroys what create made. For existing hosts there is nothing to destroy.
    async fn remove(&self, _cx: &Context, _p: MachineParams) -> Result<ConfigResult, DriverError> {
        Ok(ConfigResult::unchanged())
    }

    /// Powers the machine on.
    async fn start(&self, _cx: &Context, _p: MachineParams) -> Result<ConfigResult, DriverError> {
        Err(DriverError::not_supported("start"))
    }
    /// Shuts the machine down.
    async fn stop(&self, _cx: &Context, _p: MachineParams) -> Result<ConfigResult, DriverError> {
        Err(DriverError::not_supported("stop"))
    }
    /// Reboots the machine.
    async fn restart(&self, _cx: &Context, _p: MachineParams) -> Result<ConfigResult, DriverError> {
        Err(DriverError::not_supported("restart"))
    }
    /// Powers the machine off at once.
    async fn kill(&self, _cx: &Context, _p: MachineParams) -> Result<ConfigResult, DriverError> {
        Err(DriverError::not_supported("kill"))
    }

    /// The machine's state.
    async fn state(&self, cx: &Context, p: MachineParams) -> Result<State, DriverError>;

    /// How to reach the machine: IP, SSH endpoint, Docker URL.
    async fn access(&self, cx: &Context, p: MachineParams) -> Result<Access, DriverError>;
}

/// Runs the driver on stdin/stdout until the host closes stdin.
///
/// Started by hand (without the host's marker in the environment), it prints what it is and
/// exits with status 1, as HashiCorp's go-plugin does.
pub async fn serve<D: Driver>(driver: D) -> std::io::Result<()> {
    if std::env::var(crate::PLUGIN_COOKIE_KEY).as_deref() != Ok(crate::PLUGIN_COOKIE_VALUE) {
        let info = driver.info();
        eprintln!(
            "This is the `{}` driver (version {}), a plugin for `machine`.\n\
             It is not meant to be run by hand: `machine create -d {} NAME` starts it.\n\
             Its options: `machine create -d {} --help`.",
            info.name, info.version, info.name, info.name
        );
        std::process::exit(1);
    }
    serve_io(Arc::new(driver), tokio::io::stdin(), tokio::io::stdout()).await
}

/// Runs the driver over any byte streams: used by [`serve`], by a host that runs a driver
/// in-process, and by tests over in-memory pipes. Returns when `input` ends.
///
/// A driver and a host over an in-memory connection (this example runs as it is):
///
/// ```
/// use driver_protocol::calls::*;
/// use driver_protocol::request::{GetState, Initialize};
/// use driver_protocol::schema::InitializeParams;
/// use driver_protocol::*;
/// use std::sync::Arc;
///
/// struct Up;
/// #[async_trait::async_trait]
/// impl Driver for Up {
///     fn info(&self) -> DriverInfo {
///         DriverInfo::new("up", "1", Capabilities::none(), vec![])
///     }
///     async fn set_config(&self, _: &Context, _: SetConfigParams) -> Result<ConfigResult, DriverError> {
///         Ok(ConfigResult::new(serde_json::json!({})))
///     }
///     async fn state(&self, _: &Context, _: MachineParams) -> Result<State, DriverError> {
///         Ok(State::Running)
///     }
///     async fn access(&self, _: &Context, _: MachineParams) -> Result<Access, DriverError> {
///         Err(DriverError::not_supported("access"))
///     }
/// }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let (host_end, driver_end) = tokio::io::duplex(1 << 16);
/// let (dr, dw) = tokio::io::split(driver_end);
/// tokio::spawn(serve_io(Arc::new(Up), dr, dw));
/// let (hr, hw) = tokio::io::split(host_end);
/// let (notes, _) = tokio::sync::mpsc::unbounded_channel();
/// let client = Client::new(hr, hw, notes);
/// let info = client.request::<Initialize>(&InitializeParams::new("example")).await.unwrap();
/// assert_eq!(info.protocol_version, PROTOCOL_VERSION);
/// let s = client
///     .request::<GetState>(&MachineParams::new("web1", serde_json::json!({})))
///     .await
///     .unwrap();
/// assert_eq!(s.state, State::Running);
/// # }
/// ```
pub async fn serve_io<R, W>(driver: Arc<dyn Driver>, input: R, mut output: W) -> std::io::Result<()>
where
    R: AsyncRead + Unpin + Send,
    W: AsyncWrite + Unpin + Send + 'static,
{
    let cancels: Arc<Mutex<HashMap<Id, CancellationToken>>> = Arc::default();
    // the declared variables the host sent; calls read them through their context
    let mut env: Arc<BTreeMap<String, String>> = Arc::default();
    let (tx, mut rx) = mpsc::unbounded_channel::<Message>();
    let writer = tokio::spawn(async move {
        while let Some(msg) = rx.recv().await {
            framing::write_message(&mut output, &msg).await?;
        }
        Ok::<_, std::io::Error>(())
    });

    let mut input = BufReader::new(input);
    let mut tasks = tokio::task::JoinSet::new();
    loop {
        let line = match framing::read_line(&mut input, MAX_FRAME).await {
            Ok(Some(line)) => line,
            Ok(None) => break,
            Err(FrameError::Io(e)) => return Err(e),
            Err(e) => {
                let _ = tx.send(error_response(None, codes::PARSE_ERROR, e.to_string()));
                continue;
            }
        };
        if line.trim().is_empty() {
            continue;
        }
        match Message::parse(&line) {
            Ok(Message::Request(req)) => {
                let driver = driver.clone();
                let tx = tx.clone();
                let cancel = CancellationToken::new();
                cancels
                    .lock()
                    .unwrap()
                    .insert(req.id.clone(), cancel.clone());
                let cancels = cancels.clone();
                let env = env.clone();
                tasks.spawn(async move {
                    let id = req.id.clone();
                    let method = req.method.clone();
                    // run the handler in its own task so a panic becomes an error response
                    let handler_tx = tx.clone();
                    let handled = tokio::spawn(async move {
                        dispatch(&*driver, req, handler_tx, cancel, env).await
                    })
                    .await;
                    cancels.lock().unwrap().remove(&id);
                    let resp = match handled {
                        Ok(resp) => resp,
                        Err(_) => error_response(
                            Some(id),
                            codes::INTERNAL_ERROR,
                            format!("the driver failed (panicked) while handling {method}"),
                        ),
                    };
                    let _ = tx.send(resp);
                });
            }
            Ok(Message::Notification(n)) if n.method == notification::Environment::METHOD => {
                // only what the driver declared, whatever the host sent
                if let Ok(e) = serde_json::from_value::<EnvironmentParams>(n.params) {
                    let declared = driver.info().env;
                    env = Arc::new(
                        e.vars
                            .into_iter()
                            .filter(|(k, _)| declared.contains(k))
                            .collect(),
                    );
                }
            }
            Ok(Message::Notification(n)) if n.method == notification::Cancel::METHOD => {
                if let Ok(c) = serde_json::from_value::<CancelParams>(n.params) {
                    if let Some(token) = cancels.lock().unwrap().get(&c.id) {
                        token.cancel();
                    }
                }
            }
            Ok(Message::Notification(_)) | Ok(Message::Response(_)) => {
                // nothing else from the host needs an action
            }
            Err(e) => {
                // JSON-RPC: -32700 for a line that is not JSON, -32600 for JSON that is not a request
                let json = serde_json::from_str::<Value>(&line).ok();
                let code = match json {
                    Some(_) => codes::INVALID_REQUEST,
                    None => codes::PARSE_ERROR,
                };
                let id = json
                    .and_then(|v| v.get("id").cloned())
                    .and_then(|id| serde_json::from_value::<Id>(id).ok());
                let _ = tx.send(error_response(id, code, format!("malformed message: {e}")));
            }
        }
        // reap finished tasks so the set does not grow without bound
        while tasks.try_join_next().is_some() {}
    }
    // the host closed our input (or died): nobody will read the answers, so every call still
    // running is asked to stop and undo what it made, as if cancelled
    for token in cancels.lock().unwrap().values() {
        token.cancel();
    }
    while tasks.join_next().await.is_some() {}
    drop(tx);
    writer.await.map_err(std::io::Error::other)?
}

fn error_response(id: Option<Id>, code: i64, message: String) -> Message {
    Message::Response(Response::err(
        id,
        RpcError {
            code,
            message,
            data: None,
        },
    ))
}

async fn dispatch(
    driver: &dyn Driver,
    req: RpcRequest,
    out: mpsc::UnboundedSender<Message>,
    cancel: CancellationToken,
    env: Arc<BTreeMap<String, String>>,
) -> Message {
    let id = req.id.clone();
    let machine = req
        .params
        .get("machine")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    let cx = Context {
        machine,
        out,
        cancel,
        env,
    };
    let result: Result<Value, RpcError> = match req.method.as_str() {
        request::Initialize::METHOD => {
            run::<request::Initialize, _, _>(req.params, |p| async move {
                let info = driver.info();
                if p.protocol_version == crate::PROTOCOL_VERSION {
                    Ok(info)
                } else {
                    Err(DriverError::new(
                        crate::ErrorKind::Protocol,
                        format!(
                            "driver {} speaks protocol version {}, the host speaks {}",
                            info.name,
                            crate::PROTOCOL_VERSION,
                            p.protocol_version
                        ),
                    ))
                }
            })
            .await
        }
        request::SetConfig::METHOD => {
            run::<request::SetConfig, _, _>(req.params, |p| driver.set_config(&cx, p)).await
        }
        request::PreCreateCheck::METHOD => {
            run::<request::PreCreateCheck, _, _>(req.params, |p| driver.pre_create_check(&cx, p))
                .await
        }
        request::Create::METHOD => {
            run::<request::Create, _, _>(req.params, |p| driver.create(&cx, p)).await
        }
        request::Adopt::METHOD => {
            run::<request::Adopt, _, _>(req.params, |p| driver.adopt(&cx, p)).await
        }
        request::Remove::METHOD => {
            run::<request::Remove, _, _>(req.params, |p| driver.remove(&cx, p)).await
        }
        request::Start::METHOD => {
            run::<request::Start, _, _>(req.params, |p| driver.start(&cx, p)).await
        }
        request::Stop::METHOD => {
            run::<request::Stop, _, _>(req.params, |p| driver.stop(&cx, p)).await
        }
        request::Restart::METHOD => {
            run::<request::Restart, _, _>(req.params, |p| driver.restart(&cx, p)).await
        }
        request::Kill::METHOD => {
            run::<request::Kill, _, _>(req.params, |p| driver.kill(&cx, p)).await
        }
        request::GetState::METHOD => {
            run::<request::GetState, _, _>(req.params, |p| async move {
                Ok(StateResult::new(driver.state(&cx, p).await?))
            })
            .await
        }
        request::GetAccess::METHOD => {
            run::<request::GetAccess, _, _>(req.params, |p| driver.access(&cx, p)).await
        }
        other => Err(RpcError {
            code: codes::METHOD_NOT_FOUND,
            message: format!("unknown method {other:?}"),
            data: None,
        }),
    };
    Message::Response(match result {
        Ok(v) => Response::ok(id, v),
        Err(e) => Response::err(Some(id), e),
    })
}

/// Runs call `R`'s handler on its parsed params: bad params are JSON-RPC's "invalid params",
/// the handler's error travels with its kind.
async fn run<R, F, Fut>(params: Value, f: F) -> Result<Value, RpcError>
where
    R: Request,
    F: FnOnce(R::Params) -> Fut,
    Fut: std::future::Future<Output = Result<R::Result, DriverError>>,
{
    let p = serde_json::from_value::<R::Params>(params).map_err(|e| RpcError {
        code: codes::INVALID_PARAMS,
        message: format!("invalid params for {}: {e}", R::METHOD),
        data: None,
    })?;
    match f(p).await {
        Ok(v) => serde_json::to_value(v).map_err(|e| DriverError::internal(e.to_string()).to_rpc()),
        Err(e) => Err(e.to_rpc()),
    }
}
