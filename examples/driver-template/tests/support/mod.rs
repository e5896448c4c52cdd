//! Test support: a fake of the pretend cloud's API (src/api.rs describes it) on 127.0.0.1,
//! hand-rolled on `tokio::net::TcpListener` with a minimal HTTP/1.1 parser (one request per
//! connection), and the driver binary launched as the host launches it.
//!
//! The fake keeps servers in memory: a new server is "starting" without an IP and becomes
//! "running" with one after the boot delay; stop goes through "stopping" to "stopped", poweroff
//! is at once. It records every request (method, path, Authorization header, body).

#![allow(dead_code)]

use driver_protocol::calls::*;
use driver_protocol::request::{Initialize, Request, SetConfig};
use driver_protocol::schema::InitializeParams;
use driver_protocol::{Client, ClientError, ClientNotification, DriverError, DriverInfo, Options};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

/// The token the fake accepts.
pub const TOKEN: &str = "tok-8f2c61d0";

/// A request the fake answered.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: String,
    /// Path and query, e.g. `/servers?tag=abc`.
    pub target: String,
    pub authorization: Option<String>,
    pub body: Value,
}

/// A server in the fake cloud.
#[derive(Debug, Clone)]
pub struct Server {
    pub id: String,
    pub status: String,
    pub ip: Option<String>,
    /// The body of the POST that made it (name, size, image, user_data, tags).
    pub spec: Value,
    /// The next status and when it comes.
    next: Option<(Instant, &'static str)>,
    number: u32,
}

impl Server {
    /// Applies a transition that is due.
    fn settle(&mut self) {
        if let Some((at, status)) = self.next {
            if Instant::now() >= at {
                self.status = status.to_string();
                self.next = None;
                if status == "running" && self.ip.is_none() {
                    self.ip = Some(format!("192.0.2.{}", self.number % 250 + 1));
                }
            }
        }
    }

    fn json(&self) -> Value {
        json!({"id": self.id, "name": self.spec["name"], "status": self.status, "ip": self.ip,
               "size": self.spec["size"], "image": self.spec["image"], "tags": self.spec["tags"]})
    }
}

#[derive(Default)]
struct Cloud {
    servers: BTreeMap<String, Server>,
    requests: Vec<Recorded>,
    made: u32,
}

/// The fake API, served until dropped.
pub struct FakeCloud {
    /// `http://127.0.0.1:PORT`, what `--template-api-url` takes.
    pub url: String,
    cloud: Arc<Mutex<Cloud>>,
    server: tokio::task::JoinHandle<()>,
}

impl FakeCloud {
    /// Serves the fake; servers boot in `boot` (stopping takes as long).
    pub async fn start(boot: Duration) -> FakeCloud {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let cloud: Arc<Mutex<Cloud>> = Arc::default();
        let shared = cloud.clone();
        let server = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                tokio::spawn(connection(stream, shared.clone(), boot));
            }
        });
        FakeCloud { url, cloud, server }
    }

    /// Every server, each as it is now.
    pub fn servers(&self) -> Vec<Server> {
        let mut c = self.cloud.lock().unwrap();
        c.servers.values_mut().for_each(Server::settle);
        c.servers.values().cloned().collect()
    }

    /// Server `id` as it is now.
    pub fn server(&self, id: &str) -> Option<Server> {
        self.servers().into_iter().find(|s| s.id == id)
    }

    /// Deletes server `id` behind the driver's back.
    pub fn delete(&self, id: &str) {
        self.cloud.lock().unwrap().servers.remove(id);
    }

    /// Every request so far.
    pub fn requests(&self) -> Vec<Recorded> {
        self.cloud.lock().unwrap().requests.clone()
    }
}

impl Drop for FakeCloud {
    fn drop(&mut self) {
        self.server.abort();
    }
}

/// Reads one request, answers it, closes.
async fn connection(stream: TcpStream, cloud: Arc<Mutex<Cloud>>, boot: Duration) {
    let mut r = BufReader::new(stream);
    let mut line = String::new();
    if r.read_line(&mut line).await.unwrap_or(0) == 0 {
        return;
    }
    let mut words = line.split_whitespace();
    let (method, target) = (
        words.next().unwrap_or_default().to_string(),
        words.next().unwrap_or_default().to_string(),
    );
    let (mut length, mut authorization) = (0usize, None);
    loop {
        let mut header = String::new();
        if r.read_line(&mut header).await.unwrap_or(0) == 0 {
            return;
        }
        let header = header.trim_end();
        if header.is_empty() {
            break;
        }
        if let Some((name, value)) = header.split_once(':') {
            match name.trim().to_ascii_lowercase().as_str() {
                "content-length" => length = value.trim().parse().unwrap_or(0),
                "authorization" => authorization = Some(value.trim().to_string()),
                _ => {}
            }
        }
    }
    let mut body = vec![0u8; length];
    if r.read_exact(&mut body).await.is_err() {
        return;
    }
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let request = Recorded {
        method,
        target,
        authorization,
        body,
    };
    let (status, answer) = handle(&mut cloud.lock().unwrap(), request, boot);
    let text = answer.map(|v| v.to_string()).unwrap_or_default();
    let reason = match status {
        200 => "OK",
        201 => "Created",
        202 => "Accepted",
        204 => "No Content",
        400 => "Bad Request",
        401 => "Unauthorized",
        404 => "Not Found",
        _ => "Other",
    };
    let head = format!(
        "HTTP/1.1 {status} {reason}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\
         connection: close\r\n\r\n",
        text.len()
    );
    let mut stream = r.into_inner();
    let _ = stream.write_all(format!("{head}{text}").as_bytes()).await;
    let _ = stream.shutdown().await;
}

/// The API: a status and a JSON body.
fn handle(c: &mut Cloud, req: Recorded, boot: Duration) -> (u16, Option<Value>) {
    c.requests.push(req.clone());
    if req.authorization.as_deref() != Some(&format!("Bearer {TOKEN}")) {
        return (401, Some(json!({"error": "invalid token"})));
    }
    c.servers.values_mut().for_each(Server::settle);
    let (path, query) = req.target.split_once('?').unwrap_or((&req.target, ""));
    let parts: Vec<&str> = path.trim_matches('/').split('/').collect();
    let later = |status| Some((Instant::now() + boot, status));
    let gone = (404, Some(json!({"error": "no such server"})));
    match (req.method.as_str(), parts.as_slice()) {
        ("POST", ["servers"]) => {
            c.made += 1;
            let s = Server {
                id: format!("srv-{}", c.made),
                status: "starting".into(),
                ip: None,
                spec: req.body,
                next: later("running"),
                number: c.made,
            };
            let answer = s.json();
            c.servers.insert(s.id.clone(), s);
            (201, Some(answer))
        }
        ("GET", ["servers"]) => {
            let tag = query.strip_prefix("tag=").unwrap_or_default();
            let list: Vec<Value> = c
                .servers
                .values()
                .filter(|s| s.spec["tags"]["machine-creation-id"] == tag)
                .map(Server::json)
                .collect();
            (200, Some(Value::from(list)))
        }
        ("GET", ["servers", id]) => match c.servers.get(*id) {
            Some(s) => (200, Some(s.json())),
            None => gone,
        },
        ("POST", ["servers", id, "actions", action]) => {
            let Some(s) = c.servers.get_mut(*id) else {
                return gone;
            };
            match *action {
                "start" | "reboot" => (s.status, s.next) = ("starting".into(), later("running")),
                "stop" => (s.status, s.next) = ("stopping".into(), later("stopped")),
                "poweroff" => (s.status, s.next) = ("stopped".into(), None),
                _ => return (400, Some(json!({"error": "no such action"}))),
            }
            (202, Some(json!({})))
        }
        ("DELETE", ["servers", id]) => match c.servers.remove(*id) {
            Some(_) => (204, None),
            None => gone,
        },
        _ => (404, Some(json!({"error": "no such route"}))),
    }
}

/// The driver binary, launched as the host launches it (the plugin cookie, a minimal
/// environment: no TEMPLATE_* variable reaches it).
pub struct Driver {
    pub client: Arc<Client>,
    pub notes: tokio::sync::mpsc::UnboundedReceiver<ClientNotification>,
    pub info: DriverInfo,
    _child: tokio::process::Child,
}

impl Driver {
    pub async fn launch() -> Driver {
        let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_machine-driver-template"))
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env(
                driver_protocol::PLUGIN_COOKIE_KEY,
                driver_protocol::PLUGIN_COOKIE_VALUE,
            )
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .expect("the driver binary");
        let (tx, notes) = tokio::sync::mpsc::unbounded_channel();
        let client = Arc::new(Client::new(
            child.stdout.take().unwrap(),
            child.stdin.take().unwrap(),
            driver_protocol::client::forward(tx),
        ));
        let info = client
            .request::<Initialize>(&InitializeParams::new("template-tests"))
            .await
            .expect("initialize");
        Driver {
            client,
            notes,
            info,
            _child: child,
        }
    }

    /// Calls `R`, bounded, its error as the driver's.
    pub async fn call<R: Request>(&self, params: &R::Params) -> Result<R::Result, DriverError> {
        bounded(self.client.request::<R>(params)).await
    }

    /// `set_config` as the host calls it: the schema's defaults applied.
    pub async fn set_config(&self, machine: &str, options: Value) -> Result<Value, DriverError> {
        let given = Options::from(options.as_object().unwrap().clone());
        let params = SetConfigParams::new(machine, self.info.with_defaults(given));
        Ok(self.call::<SetConfig>(&params).await?.config)
    }

    /// The options that reach `cloud` with the right token.
    pub fn options(cloud: &FakeCloud) -> Value {
        json!({"template-api-url": cloud.url, "template-token": TOKEN})
    }

    /// The notifications received so far.
    pub fn drain(&mut self) -> Vec<ClientNotification> {
        std::iter::from_fn(|| self.notes.try_recv().ok()).collect()
    }
}

/// A machine's params with creation id `cid`.
pub fn machine(name: &str, config: &Value, cid: &str) -> MachineParams {
    let mut p = MachineParams::new(name, config.clone());
    p.creation_id = cid.to_string();
    p
}

/// Waits for a driver call at most 30 s.
pub async fn bounded<T>(
    call: impl std::future::Future<Output = Result<T, ClientError>>,
) -> Result<T, DriverError> {
    match tokio::time::timeout(Duration::from_secs(30), call).await {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(ClientError::Driver(e))) => Err(e),
        Ok(Err(e)) => panic!("the driver failed: {e}"),
        Err(_) => panic!("the driver did not answer within 30 s"),
    }
}

/// A public key as the host sends it.
pub const PUBLIC_KEY: &str =
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJdD7y3aLq454yWBdwLWbieU1ebz9/cu7/QEXn9OIeZJ machine-web1";
