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
use serde::de::DeserializeOwned;
use serde::Serialize;
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
    pub fn made<C: Serialize>(&self, config: &C) {
        let config = serde_json::to_value(config).unwrap_or(Value::Null);
        self.notify::<notification::Made>(MadeParams::new(&self.machine, config));
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

/// A machine as a call sees it: its name, the driver's own config for it, and the creation id
/// the host recorded before `create` (what `create` makes carries it, so `remove` finds the
/// leftovers of a create that died before reporting them).
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Machine<C> {
    /// The machine's name.
    pub name: String,
    /// The driver's config for it, as `set_config` (or a later call) returned it.
    pub config: C,
    /// The creation id.
    pub creation_id: String,
}

impl<C> Machine<C> {
    /// Machine `name` with `config` (for tests; the SDK makes these from the host's calls).
    pub fn new(name: &str, config: C, creation_id: &str) -> Self {
        Machine {
            name: name.into(),
            config,
            creation_id: creation_id.into(),
        }
    }
}

/// What `set_config` and `adopt` get besides the options.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Setup {
    /// The machine's name.
    pub machine: String,
    /// The user allows downloads (an ISO) over plain http; otherwise https only.
    pub allow_http_downloads: bool,
    /// For `adopt` by `machine import`: the driver config Docker Machine recorded
    /// ([`crate::calls::SetConfigParams::docker_machine_config`]).
    pub docker_machine_config: Option<Value>,
}

impl Setup {
    /// The setup of machine `machine`, https downloads only (for tests: the SDK makes these).
    pub fn new(machine: &str) -> Setup {
        Setup {
            machine: machine.into(),
            allow_http_downloads: false,
            docker_machine_config: None,
        }
    }
    /// With plain http downloads allowed as given.
    pub fn allow_http_downloads(mut self, allow: bool) -> Setup {
        self.allow_http_downloads = allow;
        self
    }
}

/// What `create` answers: the config that finds what was made, and for an existing host the
/// user's credentials for the library's first login ([`Bootstrap`]).
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Created<C> {
    /// The config that finds what was made.
    pub config: C,
    /// For an existing host that does not accept the machine's key yet.
    pub bootstrap: Option<Bootstrap>,
}

impl<C> Created<C> {
    /// Made what `config` finds; the machine's key is installed (cloud-init, guestinfo).
    pub fn new(config: C) -> Self {
        Created {
            config,
            bootstrap: None,
        }
    }
    /// With the first login's credentials: the library logs in with them once, installs the
    /// machine's key and provisions over that connection.
    pub fn with_bootstrap(mut self, bootstrap: Bootstrap) -> Self {
        self.bootstrap = Some(bootstrap);
        self
    }
}

/// A driver, typed: its options are one struct ([`Driver::Options`], derived with
/// `#[derive(DriverOptions)]`: the schema comes from it) and what it keeps per machine another
/// ([`Driver::Config`]); the SDK turns the host's JSON into both and back. Only `info`,
/// `set_config`, `state` and `access` must be written; the lifecycle calls a driver cannot do
/// default to a "not supported" error, matching its capabilities. The rules of each call are in
/// docs/drivers.md.
#[async_trait]
pub trait Driver: Send + Sync + 'static {
    /// The user's options.
    type Options: crate::DriverOptions;
    /// What the driver keeps for a machine; the host stores it (as JSON) and passes it back.
    type Config: Serialize + DeserializeOwned + Send + Sync + 'static;

    /// Name, version and capabilities, sent in the handshake with the schema of
    /// [`Driver::Options`].
    fn info(&self) -> DriverInfo;

    /// Turns the user's options (checked, defaults applied) into the config for a machine.
    /// Makes nothing.
    async fn set_config(
        &self,
        cx: &Context,
        options: Self::Options,
        setup: &Setup,
    ) -> Result<Self::Config, DriverError>;

    /// Checks that create can succeed (credentials, inventory, reachability) before anything is
    /// made.
    async fn pre_create_check(
        &self,
        _cx: &Context,
        _m: &Machine<Self::Config>,
    ) -> Result<(), DriverError> {
        Ok(())
    }

    /// Makes the host, reporting it with [`Context::made`] as soon as it exists, and installs
    /// the machine's SSH public key on it. For an existing host there is nothing to make.
    async fn create(
        &self,
        _cx: &Context,
        m: Machine<Self::Config>,
        _ssh_public_key: &str,
    ) -> Result<Created<Self::Config>, DriverError> {
        Ok(Created::new(m.config))
    }

    /// Takes an existing machine (made by another tool) under management: finds what exists and
    /// returns the config that reaches it. Makes and changes nothing. Drivers that cannot do
    /// this keep the default "not supported".
    async fn adopt(
        &self,
        _cx: &Context,
        _options: Self::Options,
        _setup: &Setup,
    ) -> Result<Self::Config, DriverError> {
        Err(DriverError::not_supported("adopt"))
    }

    /// Destroys what create made; something already gone is done. `Some` updates the config.
    async fn remove(
        &self,
        _cx: &Context,
        _m: Machine<Self::Config>,
    ) -> Result<Option<Self::Config>, DriverError> {
        Ok(None)
    }
    /// Powers the machine on; returns once it is booting.
    async fn start(
        &self,
        _cx: &Context,
        _m: Machine<Self::Config>,
    ) -> Result<Option<Self::Config>, DriverError> {
        Err(DriverError::not_supported("start"))
    }
    /// Shuts the machine down; returns once it is off.
    async fn stop(
        &self,
        _cx: &Context,
        _m: Machine<Self::Config>,
    ) -> Result<Option<Self::Config>, DriverError> {
        Err(DriverError::not_supported("stop"))
    }
    /// Reboots the machine; returns once it went down and is booting again.
    async fn restart(
        &self,
        _cx: &Context,
        _m: Machine<Self::Config>,
    ) -> Result<Option<Self::Config>, DriverError> {
        Err(DriverError::not_supported("restart"))
    }
    /// Powers the machine off at once.
    async fn kill(
        &self,
        _cx: &Context,
        _m: Machine<Self::Config>,
    ) -> Result<Option<Self::Config>, DriverError> {
        Err(DriverError::not_supported("kill"))
    }

    /// The machine's state.
    async fn state(&self, cx: &Context, m: Machine<Self::Config>) -> Result<State, DriverError>;

    /// How to reach the machine: IP, SSH endpoint, Docker URL.
    async fn access(&self, cx: &Context, m: Machine<Self::Config>) -> Result<Access, DriverError>;
}

/// A driver with its types erased: what [`serve_io`] runs and what a host registers in-process.
/// Every [`Driver`] makes one ([`DynDriver::new`]).
#[derive(Clone)]
pub struct DynDriver(Arc<dyn Erased>);

impl DynDriver {
    /// `driver`, ready to serve.
    pub fn new<D: Driver>(driver: D) -> DynDriver {
        DynDriver(Arc::new(driver))
    }

    /// What the driver says in the handshake: its info with the schema of its options.
    pub fn info(&self) -> DriverInfo {
        self.0.info()
    }
}

/// A driver's calls on JSON: the SDK's side of the typed [`Driver`].
#[async_trait]
trait Erased: Send + Sync + 'static {
    fn info(&self) -> DriverInfo;
    async fn call(&self, cx: &Context, method: &str, params: Value) -> Result<Value, RpcError>;
}

#[async_trait]
impl<D: Driver> Erased for D {
    fn info(&self) -> DriverInfo {
        let mut info = Driver::info(self);
        if info.options.is_empty() {
            info.options = <D::Options as crate::DriverOptions>::schema();
        }
        info
    }

    async fn call(&self, cx: &Context, method: &str, params: Value) -> Result<Value, RpcError> {
        match method {
            request::Initialize::METHOD => {
                run::<request::Initialize, _, _>(params, |p| async move {
                    let info = Erased::info(self);
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
                run::<request::SetConfig, _, _>(params, |p| async move {
                    let (options, setup) = setup::<D>(p)?;
                    updated(Some(self.set_config(cx, options, &setup).await?))
                })
                .await
            }
            request::Adopt::METHOD => {
                run::<request::Adopt, _, _>(params, |p| async move {
                    let (options, setup) = setup::<D>(p)?;
                    updated(Some(self.adopt(cx, options, &setup).await?))
                })
                .await
            }
            request::PreCreateCheck::METHOD => {
                run::<request::PreCreateCheck, _, _>(params, |p| async move {
                    self.pre_create_check(cx, &machine(p)?).await
                })
                .await
            }
            request::Create::METHOD => {
                run::<request::Create, _, _>(params, |p| async move {
                    let key = p.ssh_public_key.clone();
                    let m = machine(MachineParams {
                        machine: p.machine,
                        config: p.config,
                        creation_id: p.creation_id,
                    })?;
                    let created = self.create(cx, m, &key).await?;
                    let mut r = CreateResult::new(to_config(&created.config)?);
                    r.bootstrap = created.bootstrap;
                    Ok(r)
                })
                .await
            }
            request::Remove::METHOD => {
                run::<request::Remove, _, _>(params, |p| async move {
                    updated(self.remove(cx, machine(p)?).await?)
                })
                .await
            }
            request::Start::METHOD => {
                run::<request::Start, _, _>(params, |p| async move {
                    updated(self.start(cx, machine(p)?).await?)
                })
                .await
            }
            request::Stop::METHOD => {
                run::<request::Stop, _, _>(params, |p| async move {
                    updated(self.stop(cx, machine(p)?).await?)
                })
                .await
            }
            request::Restart::METHOD => {
                run::<request::Restart, _, _>(params, |p| async move {
                    updated(self.restart(cx, machine(p)?).await?)
                })
                .await
            }
            request::Kill::METHOD => {
                run::<request::Kill, _, _>(params, |p| async move {
                    updated(self.kill(cx, machine(p)?).await?)
                })
                .await
            }
            request::GetState::METHOD => {
                run::<request::GetState, _, _>(params, |p| async move {
                    Ok(StateResult::new(self.state(cx, machine(p)?).await?))
                })
                .await
            }
            request::GetAccess::METHOD => {
                run::<request::GetAccess, _, _>(params, |p| async move {
                    self.access(cx, machine(p)?).await
                })
                .await
            }
            other => Err(RpcError {
                code: codes::METHOD_NOT_FOUND,
                message: format!("unknown method {other:?}"),
                data: None,
            }),
        }
    }
}

/// The typed options and the rest of `set_config`'s params.
fn setup<D: Driver>(p: SetConfigParams) -> Result<(D::Options, Setup), DriverError> {
    let options = <D::Options as crate::DriverOptions>::from_options(&p.options)?;
    let setup = Setup {
        machine: p.machine,
        allow_http_downloads: p.allow_http_downloads,
        docker_machine_config: p.docker_machine_config,
    };
    Ok((options, setup))
}

/// The machine of a call, its config in the driver's type.
fn machine<C: DeserializeOwned>(p: MachineParams) -> Result<Machine<C>, DriverError> {
    let config = C::deserialize(&p.config).map_err(|e| {
        DriverError::internal(format!(
            "the stored config of machine {} is invalid: {e}",
            p.machine
        ))
    })?;
    Ok(Machine {
        name: p.machine,
        config,
        creation_id: p.creation_id,
    })
}

fn to_config<C: Serialize>(config: &C) -> Result<Value, DriverError> {
    serde_json::to_value(config)
        .map_err(|e| DriverError::internal(format!("the config does not serialize: {e}")))
}

/// A lifecycle call's answer: the updated config, or `null` for unchanged.
fn updated<C: Serialize>(config: Option<C>) -> Result<ConfigResult, DriverError> {
    Ok(match config {
        Some(c) => ConfigResult::new(to_config(&c)?),
        None => ConfigResult::unchanged(),
    })
}

/// Runs the driver on stdin/stdout until the host closes stdin.
///
/// Started by hand (without the host's marker in the environment), it prints what it is and
/// exits with status 1, as HashiCorp's go-plugin does.
pub async fn serve<D: Driver>(driver: D) -> std::io::Result<()> {
    let driver = DynDriver::new(driver);
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
    serve_io(driver, tokio::io::stdin(), tokio::io::stdout()).await
}

/// Runs the driver over any byte streams: used by [`serve`], by a host that runs a driver
/// in-process, and by tests over in-memory pipes. Returns when `input` ends.
///
/// A driver and a host over an in-memory connection (this example runs as it is):
///
/// ```
/// use driver_protocol::calls::{Access, MachineParams, State};
/// use driver_protocol::request::{GetState, Initialize};
/// use driver_protocol::schema::InitializeParams;
/// use driver_protocol::*;
///
/// #[derive(DriverOptions)]
/// struct NoOptions {}
///
/// struct Up;
/// #[async_trait]
/// impl Driver for Up {
///     type Options = NoOptions;
///     type Config = ();
///     fn info(&self) -> DriverInfo {
///         DriverInfo::new("up", "1", Capabilities::none())
///     }
///     async fn set_config(&self, _: &Context, _: NoOptions, _: &Setup) -> Result<(), DriverError> {
///         Ok(())
///     }
///     async fn state(&self, _: &Context, _: Machine<()>) -> Result<State, DriverError> {
///         Ok(State::Running)
///     }
///     async fn access(&self, _: &Context, _: Machine<()>) -> Result<Access, DriverError> {
///         Err(DriverError::not_supported("access"))
///     }
/// }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let (host_end, driver_end) = tokio::io::duplex(1 << 16);
/// let (dr, dw) = tokio::io::split(driver_end);
/// tokio::spawn(serve_io(DynDriver::new(Up), dr, dw));
/// let (hr, hw) = tokio::io::split(host_end);
/// let (notes, _) = tokio::sync::mpsc::unbounded_channel();
/// let client = Client::new(hr, hw, driver_protocol::client::forward(notes));
/// let info = client.request::<Initialize>(&InitializeParams::new("example")).await.unwrap();
/// assert_eq!(info.protocol_version, PROTOCOL_VERSION);
/// let s = client
///     .request::<GetState>(&MachineParams::new("web1", serde_json::Value::Null))
///     .await
///     .unwrap();
/// assert_eq!(s.state, State::Running);
/// # }
/// ```
pub async fn serve_io<R, W>(driver: DynDriver, input: R, mut output: W) -> std::io::Result<()>
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
                        dispatch(&driver, req, handler_tx, cancel, env).await
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
    // the host closed our input: nobody will read the answers, so every call still running is
    // asked to stop, as if cancelled. No call can count on this to undo what it made: a host
    // that dies ends its drivers' process group with it. What was made is found again from
    // the record instead: the host stored every `made`, and `rm` calls `remove` with it.
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
    driver: &DynDriver,
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
    let result = driver.0.call(&cx, &req.method, req.params).await;
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
