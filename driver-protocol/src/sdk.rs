//! The driver side: implement [`Driver`], call [`serve`].
//!
//! `serve` reads requests from stdin, runs each in its own task (so one slow VM clone never
//! blocks a `state` call for another machine), and writes responses to stdout as they finish.
//! A malformed line gets a JSON-RPC error response; a panicking handler gets an internal error
//! response. Neither stops the driver.

use crate::calls::{self, *};
use crate::error::DriverError;
use crate::framing::{self, FrameError, MAX_FRAME};
use crate::message::{codes, Id, Message, Notification, Request, Response, RpcError};
use crate::schema::{DriverInfo, InitializeParams};
use async_trait::async_trait;
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;
use std::sync::Arc;
use tokio::io::{AsyncRead, AsyncWrite, BufReader};
use tokio::sync::mpsc;

/// Per-call context: lets a driver report progress while it works.
#[derive(Clone)]
pub struct Context {
    machine: String,
    out: mpsc::UnboundedSender<Message>,
}

impl Context {
    /// The machine this call is about (empty for `initialize`).
    pub fn machine(&self) -> &str {
        &self.machine
    }
    /// Sends a progress line to the host, which shows it to the user.
    pub fn progress(&self, message: impl Into<String>) {
        let p = Progress {
            machine: self.machine.clone(),
            message: message.into(),
        };
        let _ = self.out.send(Message::Notification(Notification::new(
            calls::PROGRESS,
            serde_json::to_value(p).unwrap_or(Value::Null),
        )));
    }
}

/// A driver. Only `info`, `set_config`, `state`, `ip` and `ssh` must be written; the lifecycle
/// calls a driver cannot do default to a "not supported" error, matching its capabilities.
#[async_trait]
pub trait Driver: Send + Sync + 'static {
    /// Name, version, capabilities and option schema, sent in the handshake.
    fn info(&self) -> DriverInfo;

    /// Validates the user's options and returns the driver's config for this machine.
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

    /// Makes the host. For existing hosts there is nothing to make.
    async fn create(&self, _cx: &Context, p: CreateParams) -> Result<ConfigResult, DriverError> {
        Ok(ConfigResult { config: p.config })
    }

    /// Destroys what create made. For existing hosts there is nothing to destroy.
    async fn remove(&self, _cx: &Context, p: MachineParams) -> Result<ConfigResult, DriverError> {
        Ok(ConfigResult { config: p.config })
    }

    async fn start(&self, _cx: &Context, _p: MachineParams) -> Result<ConfigResult, DriverError> {
        Err(DriverError::not_supported("start"))
    }
    async fn stop(&self, _cx: &Context, _p: MachineParams) -> Result<ConfigResult, DriverError> {
        Err(DriverError::not_supported("stop"))
    }
    async fn restart(&self, _cx: &Context, _p: MachineParams) -> Result<ConfigResult, DriverError> {
        Err(DriverError::not_supported("restart"))
    }
    async fn kill(&self, _cx: &Context, _p: MachineParams) -> Result<ConfigResult, DriverError> {
        Err(DriverError::not_supported("kill"))
    }

    async fn state(&self, cx: &Context, p: MachineParams) -> Result<StateResult, DriverError>;
    async fn ip(&self, cx: &Context, p: MachineParams) -> Result<IpResult, DriverError>;
    async fn ssh(&self, cx: &Context, p: MachineParams) -> Result<SshDetails, DriverError>;

    /// The Docker URL; by default `tcp://IP:2376`.
    async fn url(&self, cx: &Context, p: MachineParams) -> Result<UrlResult, DriverError> {
        let ip = self.ip(cx, p).await?.ip;
        Ok(UrlResult {
            url: format!("tcp://{}:2376", bracket_ipv6(&ip)),
        })
    }
}

/// `[::1]` for IPv6 addresses, unchanged otherwise: the host part of a URL.
pub fn bracket_ipv6(ip: &str) -> String {
    if ip.contains(':') && !ip.starts_with('[') {
        format!("[{ip}]")
    } else {
        ip.to_string()
    }
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
    serve_io(driver, tokio::io::stdin(), tokio::io::stdout()).await
}

/// Runs the driver over any byte streams (used by [`serve`], and by tests over pipes).
pub async fn serve_io<D, R, W>(driver: D, input: R, mut output: W) -> std::io::Result<()>
where
    D: Driver,
    R: AsyncRead + Unpin + Send,
    W: AsyncWrite + Unpin + Send + 'static,
{
    let driver = Arc::new(driver);
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
                tasks.spawn(async move {
                    let id = req.id.clone();
                    let method = req.method.clone();
                    // run the handler in its own task so a panic becomes an error response
                    let handler_tx = tx.clone();
                    let handled =
                        tokio::spawn(async move { dispatch(&*driver, req, handler_tx).await })
                            .await;
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
            Ok(Message::Notification(_)) | Ok(Message::Response(_)) => {
                // the host sends no notifications the driver must act on
            }
            Err(e) => {
                let id = serde_json::from_str::<Value>(&line)
                    .ok()
                    .and_then(|v| v.get("id").cloned())
                    .and_then(|id| serde_json::from_value::<Id>(id).ok());
                let _ = tx.send(error_response(
                    id,
                    codes::INVALID_REQUEST,
                    format!("malformed message: {e}"),
                ));
            }
        }
        // reap finished tasks so the set does not grow without bound
        while tasks.try_join_next().is_some() {}
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

async fn dispatch<D: Driver>(
    driver: &D,
    req: Request,
    out: mpsc::UnboundedSender<Message>,
) -> Message {
    let id = req.id.clone();
    let machine = req
        .params
        .get("machine")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    let cx = Context { machine, out };
    let result: Result<Value, RpcError> = match req.method.as_str() {
        calls::INITIALIZE => match parse::<InitializeParams>(req.params) {
            Ok(p) => {
                let info = driver.info();
                if p.protocol_version != crate::PROTOCOL_VERSION {
                    Err(DriverError::new(
                        crate::ErrorKind::Protocol,
                        format!(
                            "driver {} speaks protocol version {}, the host speaks {}: \
                             install matching versions of the host and the driver",
                            info.name,
                            crate::PROTOCOL_VERSION,
                            p.protocol_version
                        ),
                    )
                    .to_rpc())
                } else {
                    to_value(Ok(info))
                }
            }
            Err(e) => Err(e),
        },
        calls::SET_CONFIG => run(req.params, |p| driver.set_config(&cx, p)).await,
        calls::PRE_CREATE_CHECK => run(req.params, |p| driver.pre_create_check(&cx, p)).await,
        calls::CREATE => run(req.params, |p| driver.create(&cx, p)).await,
        calls::REMOVE => run(req.params, |p| driver.remove(&cx, p)).await,
        calls::START => run(req.params, |p| driver.start(&cx, p)).await,
        calls::STOP => run(req.params, |p| driver.stop(&cx, p)).await,
        calls::RESTART => run(req.params, |p| driver.restart(&cx, p)).await,
        calls::KILL => run(req.params, |p| driver.kill(&cx, p)).await,
        calls::STATE => run(req.params, |p| driver.state(&cx, p)).await,
        calls::IP => run(req.params, |p| driver.ip(&cx, p)).await,
        calls::SSH => run(req.params, |p| driver.ssh(&cx, p)).await,
        calls::URL => run(req.params, |p| driver.url(&cx, p)).await,
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

fn parse<P: DeserializeOwned>(params: Value) -> Result<P, RpcError> {
    serde_json::from_value(params).map_err(|e| RpcError {
        code: codes::INVALID_PARAMS,
        message: format!("invalid params: {e}"),
        data: None,
    })
}

fn to_value<T: Serialize>(r: Result<T, DriverError>) -> Result<Value, RpcError> {
    match r {
        Ok(v) => serde_json::to_value(v).map_err(|e| DriverError::internal(e.to_string()).to_rpc()),
        Err(e) => Err(e.to_rpc()),
    }
}

async fn run<P, T, F, Fut>(params: Value, f: F) -> Result<Value, RpcError>
where
    P: DeserializeOwned,
    T: Serialize,
    F: FnOnce(P) -> Fut,
    Fut: std::future::Future<Output = Result<T, DriverError>>,
{
    let p = parse::<P>(params)?;
    to_value(f(p).await)
}
