//! Go's `net/rpc` client over HTTP, as libmachine dials its plugins: `CONNECT /_goRPC_`, then
//! a gob stream each way. A call is a `Request{ServiceMethod, Seq}` and its argument; the
//! answer a `Response{ServiceMethod, Seq, Error}` and its reply. Calls on one [`RpcConn`] go one
//! at a time; a plugin serves several connections at once.

use crate::gob::{Decoder, Encoder, GobError, Type, Value, MAX_MESSAGE};
use std::net::SocketAddr;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// libmachine's service name since Docker Machine 0.5.1.
pub const SERVICE: &str = "RPCServerDriver";
/// The name older plugins serve (libmachine's client falls back to it).
pub const OLD_SERVICE: &str = "RpcServerDriver";

/// A call that failed.
#[derive(Debug, thiserror::Error)]
pub enum RpcError {
    /// The plugin answered with an error: its own message.
    #[error("{0}")]
    Remote(String),
    /// The connection failed, ended, or carried something that is not gob.
    #[error("the plugin's RPC connection failed: {0}")]
    Connection(#[from] GobError),
    /// The HTTP handshake was refused.
    #[error("the plugin refused the RPC handshake: {0:?}")]
    Handshake(String),
}

impl From<std::io::Error> for RpcError {
    fn from(e: std::io::Error) -> Self {
        RpcError::Connection(GobError::Io(e))
    }
}

/// One connection to a plugin.
pub struct RpcConn {
    stream: TcpStream,
    enc: Encoder,
    dec: Decoder,
    /// Bytes read and not decoded yet.
    pending: Vec<u8>,
    seq: u64,
    service: &'static str,
    /// A call was abandoned half-way (its caller timed out): the stream may hold its late
    /// answer, so the connection is not used again.
    broken: bool,
}

fn request_type() -> Type {
    Type::Struct(
        "Request".into(),
        vec![
            ("ServiceMethod".into(), Type::String),
            ("Seq".into(), Type::Uint),
        ],
    )
}

/// The type of `struct{}`, the argument of most calls.
pub fn unit_type() -> Type {
    Type::Struct(String::new(), Vec::new())
}

impl RpcConn {
    /// Dials `addr` and performs the HTTP handshake.
    pub async fn connect(addr: SocketAddr) -> Result<RpcConn, RpcError> {
        let mut stream = TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        stream.write_all(b"CONNECT /_goRPC_ HTTP/1.0\n\n").await?;
        // "HTTP/1.0 200 Connected to Go RPC\n\n", read byte by byte so no RPC byte is taken
        let mut head = Vec::new();
        while !head.ends_with(b"\n\n") {
            if head.len() > 1024 {
                return Err(RpcError::Handshake(String::from_utf8_lossy(&head).into()));
            }
            let mut b = [0u8];
            if stream.read(&mut b).await? == 0 {
                return Err(RpcError::Handshake(String::from_utf8_lossy(&head).into()));
            }
            head.push(b[0]);
        }
        let status = String::from_utf8_lossy(&head);
        if !status.starts_with("HTTP/1.0 200") {
            return Err(RpcError::Handshake(status.trim().into()));
        }
        Ok(RpcConn {
            stream,
            enc: Encoder::new(),
            dec: Decoder::new(),
            pending: Vec::new(),
            seq: 0,
            service: SERVICE,
            broken: false,
        })
    }

    /// The service name in use.
    pub fn service(&self) -> &'static str {
        self.service
    }

    /// Calls the service's `method` by its older name from now on.
    pub fn use_service(&mut self, service: &'static str) {
        self.service = service;
    }

    /// Calls `SERVICE.method` with `arg` of type `ty` and returns the reply.
    pub async fn call(&mut self, method: &str, ty: &Type, arg: &Value) -> Result<Value, RpcError> {
        if self.broken {
            return Err(RpcError::Connection(GobError::Malformed(
                "an earlier call on this connection was abandoned".into(),
            )));
        }
        self.broken = true;
        let answer = self.exchange(method, ty, arg).await;
        // an answer read whole (an error of the plugin's included) leaves the stream in step
        self.broken = matches!(answer, Err(RpcError::Connection(_)));
        answer
    }

    async fn exchange(&mut self, method: &str, ty: &Type, arg: &Value) -> Result<Value, RpcError> {
        let seq = self.seq;
        self.seq += 1;
        let header = Value::Struct(vec![
            (
                "ServiceMethod".into(),
                Value::String(format!("{}.{method}", self.service)),
            ),
            ("Seq".into(), Value::Uint(seq)),
        ]);
        let mut out = self.enc.encode(&request_type(), &header)?;
        out.extend(self.enc.encode(ty, arg)?);
        self.stream.write_all(&out).await?;
        let response = self.read().await?;
        let reply = self.read().await?;
        let answered = response.field("Seq").and_then(Value::as_int).unwrap_or(0);
        if answered != seq as i64 {
            return Err(RpcError::Connection(GobError::Malformed(format!(
                "the answer to call {seq} came for call {answered}"
            ))));
        }
        match response.str_field("Error") {
            "" => Ok(reply),
            e => Err(RpcError::Remote(e.to_string())),
        }
    }

    /// The next value from the plugin.
    async fn read(&mut self) -> Result<Value, RpcError> {
        loop {
            if let Some((v, used)) = self.dec.decode(&self.pending)? {
                self.pending.drain(..used);
                return Ok(v);
            }
            if self.pending.len() > MAX_MESSAGE + 16 {
                return Err(GobError::TooBig {
                    size: self.pending.len() as u64,
                    limit: MAX_MESSAGE,
                }
                .into());
            }
            let mut chunk = [0u8; 16 * 1024];
            let n = self.stream.read(&mut chunk).await?;
            if n == 0 {
                return Err(GobError::Io(std::io::ErrorKind::UnexpectedEof.into()).into());
            }
            self.pending.extend_from_slice(&chunk[..n]);
        }
    }
}
