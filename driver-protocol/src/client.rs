//! The host side: calls a driver over a pair of byte streams and routes its answers.
//!
//! Many calls may be in flight at once; each response is matched to its call by id. When the
//! driver's output ends (it exited or crashed), every pending call fails with
//! [`ClientError::Closed`] at once — a dead driver is an error, never a hang. A call the driver
//! could not read is one too: a message over the frame limit is refused before it is sent
//! ([`ClientError::TooLarge`]), and an error answer without an id (the driver could not read a
//! line it got) fails every pending call at once ([`ClientError::Unreadable`]). What the driver
//! writes that is not the protocol is logged within a budget ([`crate::chatter`]).

use crate::calls::{CancelParams, MadeParams, ProgressParams};
use crate::chatter::Chatter;
use crate::error::DriverError;
use crate::framing::{self, FrameError, MAX_FRAME};
use crate::message::{
    Id, Message, Notification as RpcNotification, Request as RpcRequest, Response,
};
use crate::notification::{self, Notification as _};
use crate::request::Request;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use tokio::io::{AsyncRead, AsyncWrite, BufReader};
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

/// A notification from the driver.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Notification {
    /// Progress of a call.
    Progress(ProgressParams),
    /// Something now exists (see [`notification::Made`]).
    Made(MadeParams),
    /// A notification this host does not know; kept so nothing is silently lost.
    Other {
        /// Its method.
        method: String,
    },
}

/// Why a call failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// The driver answered with an error.
    #[error(transparent)]
    Driver(#[from] DriverError),
    /// The driver's output ended before it answered: it exited or crashed.
    #[error("the driver exited before answering")]
    Closed,
    /// Writing to the driver failed.
    #[error("cannot write to the driver: {0}")]
    Io(#[from] std::io::Error),
    /// The driver answered with something that is not the expected result.
    #[error("the driver sent an invalid answer: {0}")]
    BadResponse(String),
    /// The call's message is over the frame limit: it was not sent (the driver would skip it).
    #[error(
        "the {method} call is {size} bytes, over the driver protocol's limit of {limit} bytes: \
         it was not sent"
    )]
    TooLarge {
        /// The call.
        method: String,
        /// Its size as a line, in bytes.
        size: usize,
        /// The limit ([`MAX_FRAME`]).
        limit: usize,
    },
    /// The driver answered an error without an id: it could not read a message it got, and no
    /// pending call can know it was not the one (each fails, none waits for an answer).
    #[error("the driver could not read a message this host sent it: {0}")]
    Unreadable(String),
    /// This host closed the connection ([`Client::close`]), for the reason given.
    #[error("the connection to the driver was closed: {0}")]
    Stopped(String),
}

/// What a pending call gets: its response, or why none will come.
type Answer = Result<Response, ClientError>;
type Pending = Arc<Mutex<Option<HashMap<u64, oneshot::Sender<Answer>>>>>;

/// A notification sink for [`Client::new`] that sends each notification down `tx`.
pub fn forward(tx: mpsc::UnboundedSender<Notification>) -> impl Fn(Notification) + Send + Sync {
    move |n| {
        let _ = tx.send(n);
    }
}

/// Which way a traced message went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Host to driver.
    ToDriver,
    /// Driver to host.
    FromDriver,
}

/// Sees every message line that crosses, both ways (a protocol trace: [`Client::traced`]).
pub type Trace = Arc<dyn Fn(Direction, &str) + Send + Sync>;

/// A connection to one driver (a process, or an in-process driver over in-memory pipes).
pub struct Client {
    writer: tokio::sync::Mutex<Box<dyn AsyncWrite + Unpin + Send>>,
    next_id: AtomicU64,
    /// `None` once the driver's output has ended, or the connection was closed.
    pending: Pending,
    /// Why the connection was closed, when this host closed it ([`Client::close`]).
    closed_because: Mutex<Option<String>>,
    trace: Option<Trace>,
}

impl Client {
    /// Starts reading `from_driver` in a background task. Each notification goes to `notify`
    /// as it is read, before any response that follows it is routed: a host that gets a
    /// call's answer has seen every `made` the driver sent before it ([`forward`] sends them
    /// down a channel).
    pub fn new<R, W>(
        from_driver: R,
        to_driver: W,
        notify: impl Fn(Notification) + Send + Sync + 'static,
    ) -> Client
    where
        R: AsyncRead + Unpin + Send + 'static,
        W: AsyncWrite + Unpin + Send + 'static,
    {
        Client::traced(from_driver, to_driver, notify, None)
    }

    /// The same, showing every message line both ways to `trace` (the host logs them).
    pub fn traced<R, W>(
        from_driver: R,
        to_driver: W,
        notify: impl Fn(Notification) + Send + Sync + 'static,
        trace: Option<Trace>,
    ) -> Client
    where
        R: AsyncRead + Unpin + Send + 'static,
        W: AsyncWrite + Unpin + Send + 'static,
    {
        let reader_trace = trace.clone();
        let pending: Pending = Arc::new(Mutex::new(Some(HashMap::new())));
        let reader_pending = pending.clone();
        tokio::spawn(async move {
            let mut r = BufReader::new(from_driver);
            let mut chatter = Chatter::new();
            loop {
                let complaint = match framing::read_line(&mut r, MAX_FRAME).await {
                    Ok(Some(line)) => route(&line, &reader_pending, &notify, &reader_trace),
                    Ok(None) | Err(FrameError::Io(_)) => break,
                    Err(e) => Some(format!("driver sent an unreadable line: {e}")),
                };
                if let Some(shown) = complaint.and_then(|c| chatter.admit(&c)) {
                    tracing::warn!("{shown}");
                }
            }
            if let Some(note) = chatter.held() {
                tracing::warn!("driver's output: {note}");
            }
            // dropping the senders wakes every pending call with Closed
            reader_pending.lock().unwrap().take();
        });
        Client {
            writer: tokio::sync::Mutex::new(Box::new(to_driver)),
            next_id: AtomicU64::new(1),
            pending,
            closed_because: Mutex::new(None),
            trace,
        }
    }

    /// Writes one line made by [`framing::encode`], showing it to the trace first.
    async fn send(&self, line: &[u8]) -> std::io::Result<()> {
        if let Some(t) = &self.trace {
            t(
                Direction::ToDriver,
                String::from_utf8_lossy(line).trim_end_matches('\n'),
            );
        }
        let mut w = self.writer.lock().await;
        framing::write_line(&mut *w, line).await
    }

    /// `msg` as a line, refused when over the frame limit.
    fn encode(msg: &Message, method: &str) -> Result<Vec<u8>, ClientError> {
        framing::encode(msg, MAX_FRAME).map_err(|e| match e {
            FrameError::TooLarge { size, limit } => ClientError::TooLarge {
                method: method.to_string(),
                size,
                limit,
            },
            other => ClientError::BadResponse(other.to_string()),
        })
    }

    /// Whether the driver's output has ended (it exited or crashed), or the connection was
    /// closed: every call now fails.
    pub fn is_closed(&self) -> bool {
        self.pending.lock().unwrap().is_none()
    }

    /// Closes the connection `because` of something (a call that did not answer in time: the
    /// driver's state is unknown). Every pending call, and every later one, fails at once with
    /// [`ClientError::Stopped`] saying why; the driver's answers are no longer read into calls.
    pub fn close(&self, because: &str) {
        *self.closed_because.lock().unwrap() = Some(because.to_string());
        let calls = self.pending.lock().unwrap().take().unwrap_or_default();
        for tx in calls.into_values() {
            let _ = tx.send(Err(ClientError::Stopped(because.to_string())));
        }
    }

    /// The error of a call on a closed connection.
    fn closed(&self) -> ClientError {
        match self.closed_because.lock().unwrap().clone() {
            Some(because) => ClientError::Stopped(because),
            None => ClientError::Closed,
        }
    }

    /// Calls `R` and waits for its result.
    pub async fn request<R: Request>(&self, params: &R::Params) -> Result<R::Result, ClientError> {
        self.request_cancellable::<R>(params, &CancellationToken::new())
            .await
    }

    /// Sends notification `N` (the host's `$/environment`, say).
    pub async fn notify<N: notification::Notification>(
        &self,
        params: &N::Params,
    ) -> Result<(), ClientError> {
        let params =
            serde_json::to_value(params).map_err(|e| ClientError::BadResponse(e.to_string()))?;
        let note = Message::Notification(RpcNotification::new(N::METHOD, params));
        let line = Client::encode(&note, N::METHOD)?;
        self.send(&line).await.map_err(ClientError::Io)
    }

    /// Calls `R`; when `cancel` fires, tells the driver (a `$/cancel` notification naming the
    /// request) and goes on waiting for its answer, which says what it undid.
    pub async fn request_cancellable<R: Request>(
        &self,
        params: &R::Params,
        cancel: &CancellationToken,
    ) -> Result<R::Result, ClientError> {
        let method = R::METHOD;
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let params =
            serde_json::to_value(params).map_err(|e| ClientError::BadResponse(e.to_string()))?;
        let msg = Message::Request(RpcRequest::new(id, method, params));
        let line = Client::encode(&msg, method)?;
        let (tx, rx) = oneshot::channel();
        match self.pending.lock().unwrap().as_mut() {
            Some(map) => map.insert(id, tx),
            None => return Err(self.closed()),
        };
        let written = self.send(&line).await;
        if let Err(e) = written {
            if let Some(map) = self.pending.lock().unwrap().as_mut() {
                map.remove(&id);
            }
            // a broken pipe means the driver is gone: say so the same way as a closed output
            return Err(if e.kind() == std::io::ErrorKind::BrokenPipe {
                ClientError::Closed
            } else {
                ClientError::Io(e)
            });
        }
        let mut rx = rx;
        let resp = tokio::select! {
            r = &mut rx => r,
            _ = cancel.cancelled() => {
                let note = Message::Notification(RpcNotification::new(
                    notification::Cancel::METHOD,
                    serde_json::to_value(CancelParams::new(Id::Num(id))).unwrap_or_default(),
                ));
                if let Ok(line) = Client::encode(&note, notification::Cancel::METHOD) {
                    let _ = self.send(&line).await;
                }
                rx.await
            }
        }
        .map_err(|_| ClientError::Closed)??;
        if let Some(err) = resp.error {
            return Err(ClientError::Driver(DriverError::from_rpc(&err)));
        }
        let result = resp.result.unwrap_or(serde_json::Value::Null);
        serde_json::from_value(result).map_err(|e| ClientError::BadResponse(e.to_string()))
    }
}

/// Routes one line from the driver, showing it to the trace when it is a message (what is not
/// goes to the log within its budget); what is wrong with it, for the log.
fn route(
    line: &str,
    pending: &Pending,
    notify: &(impl Fn(Notification) + Send + Sync),
    trace: &Option<Trace>,
) -> Option<String> {
    if line.trim().is_empty() {
        return None;
    }
    let msg = Message::parse(line);
    if let (Some(t), Ok(_)) = (trace, &msg) {
        t(Direction::FromDriver, line);
    }
    match msg {
        Ok(Message::Response(Response {
            id: None,
            error: Some(err),
            ..
        })) => {
            // the driver could not read a line it got: any pending call may be the one
            let calls = match pending.lock().unwrap().as_mut() {
                Some(map) => std::mem::take(map),
                None => HashMap::new(),
            };
            for tx in calls.into_values() {
                let _ = tx.send(Err(ClientError::Unreadable(err.message.clone())));
            }
            None
        }
        Ok(Message::Response(resp)) => {
            let Some(Id::Num(id)) = resp.id else {
                return Some(format!(
                    "driver sent a response without a usable id: {line}"
                ));
            };
            let tx = pending.lock().unwrap().as_mut().and_then(|m| m.remove(&id));
            match tx {
                Some(tx) => {
                    let _ = tx.send(Ok(resp));
                    None
                }
                None => Some(format!("driver answered call {id}, which is not pending")),
            }
        }
        Ok(Message::Notification(n)) => {
            let note = match n.method.as_str() {
                notification::Progress::METHOD => match serde_json::from_value(n.params) {
                    Ok(p) => Notification::Progress(p),
                    Err(_) => return None,
                },
                notification::Made::METHOD => match serde_json::from_value(n.params) {
                    Ok(m) => Notification::Made(m),
                    Err(_) => return None,
                },
                _ => Notification::Other { method: n.method },
            };
            notify(note);
            None
        }
        Ok(Message::Request(r)) => Some(format!(
            "driver sent a request ({}); hosts take none",
            r.method
        )),
        Err(e) => Some(format!("driver sent a malformed line ({e}): {line}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::calls::MachineParams;
    use crate::request::GetState;
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt};

    /// A client whose driver end is `(lines the host sent, the driver's writer)`.
    fn connected() -> (
        Client,
        tokio::io::Lines<BufReader<tokio::io::ReadHalf<tokio::io::DuplexStream>>>,
        tokio::io::WriteHalf<tokio::io::DuplexStream>,
    ) {
        let (host, driver) = tokio::io::duplex(1 << 16);
        let (hr, hw) = tokio::io::split(host);
        let (dr, dw) = tokio::io::split(driver);
        (Client::new(hr, hw, |_| {}), BufReader::new(dr).lines(), dw)
    }

    #[tokio::test]
    async fn a_call_over_the_frame_limit_is_not_sent() {
        let (client, mut sent, _dw) = connected();
        let params = MachineParams::new("m", serde_json::json!({"b": "x".repeat(MAX_FRAME)}));
        match client.request::<GetState>(&params).await {
            Err(ClientError::TooLarge {
                method,
                size,
                limit,
            }) => {
                assert_eq!((method.as_str(), limit), ("state", MAX_FRAME));
                assert!(size > MAX_FRAME, "{size}");
            }
            other => panic!("{other:?}"),
        }
        // the first line the driver gets is the next call's
        let small = MachineParams::new("m", serde_json::Value::Null);
        let next = client.request::<GetState>(&small);
        let first = async { sent.next_line().await.unwrap().unwrap() };
        tokio::select! {
            _ = next => panic!("no answer was sent"),
            line = first => assert!(line.contains("\"id\":2"), "{line}"),
        }
    }

    #[tokio::test]
    async fn an_error_without_an_id_fails_every_pending_call() {
        let (client, mut sent, mut dw) = connected();
        let params = MachineParams::new("m", serde_json::Value::Null);
        let calls = async {
            tokio::join!(
                client.request::<GetState>(&params),
                client.request::<GetState>(&params)
            )
        };
        let driver = async {
            sent.next_line().await.unwrap();
            sent.next_line().await.unwrap();
            dw.write_all(
                b"{\"jsonrpc\":\"2.0\",\"id\":null,\"error\":{\"code\":-32700,\"message\":\"not JSON\"}}\n",
            )
            .await
            .unwrap();
        };
        let ((a, b), ()) = tokio::join!(calls, driver);
        for r in [a, b] {
            match r {
                Err(e @ ClientError::Unreadable(_)) => assert_eq!(
                    e.to_string(),
                    "the driver could not read a message this host sent it: not JSON"
                ),
                other => panic!("{other:?}"),
            }
        }
        assert!(!client.is_closed(), "the connection serves the next call");
    }
}
