//! A tiny HTTP file server for the test hosts: one thread, one body, bound to the Docker bridge
//! gateway on an ephemeral port, so a host container can `curl` what a test serves (an install
//! script, for `--engine-install-url`). Standard library only.

use std::io::{BufRead, BufReader, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use crate::{run, SETUP_HINT};

/// One request the server answered.
#[derive(Clone, Debug)]
pub struct Request {
    /// The client's address (a test host's bridge IP).
    pub peer: SocketAddr,
    /// `GET`, `HEAD`, ...
    pub method: String,
    /// The request path, e.g. `/install.sh`.
    pub path: String,
    /// The status code sent back.
    pub status: u16,
}

/// Serves `body` at `path` (404 elsewhere) until dropped.
pub struct FileServer {
    addr: SocketAddr,
    path: String,
    stop: Arc<AtomicBool>,
    requests: Arc<Mutex<Vec<Request>>>,
    thread: Option<JoinHandle<()>>,
}

impl FileServer {
    /// Starts serving `body` at `path` (e.g. `/install.sh`) on the Docker bridge gateway.
    pub fn start(path: &str, body: impl Into<Vec<u8>>) -> FileServer {
        Self::start_on(bridge_gateway(), path, body)
    }

    /// Starts serving on `ip` (port chosen by the kernel).
    pub fn start_on(ip: Ipv4Addr, path: &str, body: impl Into<Vec<u8>>) -> FileServer {
        let listener = TcpListener::bind((ip, 0))
            .unwrap_or_else(|e| panic!("cannot listen on {ip}:0 for the test file server: {e}"));
        let addr = listener.local_addr().expect("local address");
        let body: Arc<Vec<u8>> = Arc::new(body.into());
        let stop = Arc::new(AtomicBool::new(false));
        let requests = Arc::new(Mutex::new(Vec::new()));
        let thread = {
            let (stop, requests, path) = (stop.clone(), requests.clone(), path.to_string());
            std::thread::spawn(move || {
                for conn in listener.incoming() {
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                    let Ok(conn) = conn else { continue };
                    if let Some(req) = answer(conn, &path, &body) {
                        requests.lock().expect("requests").push(req);
                    }
                }
            })
        };
        FileServer {
            addr,
            path: path.to_string(),
            stop,
            requests,
            thread: Some(thread),
        }
    }

    /// The address the server listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The URL of the served file, e.g. `http://172.17.0.1:41234/install.sh`.
    pub fn url(&self) -> String {
        format!("http://{}{}", self.addr, self.path)
    }

    /// The requests answered so far.
    pub fn requests(&self) -> Vec<Request> {
        self.requests.lock().expect("requests").clone()
    }
}

impl Drop for FileServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop so it sees the flag.
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1));
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn answer(mut conn: TcpStream, path: &str, body: &[u8]) -> Option<Request> {
    let peer = conn.peer_addr().ok()?;
    conn.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
    conn.set_write_timeout(Some(Duration::from_secs(30))).ok()?;
    let mut reader = BufReader::new(conn.try_clone().ok()?);
    let mut line = String::new();
    reader.read_line(&mut line).ok()?;
    let mut parts = line.split_whitespace();
    let method = parts.next()?.to_string();
    let target = parts.next()?.to_string();
    // Skip the headers.
    loop {
        let mut h = String::new();
        match reader.read_line(&mut h) {
            Ok(0) => break,
            Ok(_) if h == "\r\n" || h == "\n" => break,
            Ok(_) => continue,
            Err(_) => return None,
        }
    }
    let req_path = target.split('?').next().unwrap_or("").to_string();
    let (status, reason, content): (u16, &str, &[u8]) = if req_path == path {
        (200, "OK", body)
    } else {
        (404, "Not Found", b"not found\n")
    };
    let head = format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        content.len()
    );
    let _ = conn.write_all(head.as_bytes());
    if method != "HEAD" {
        let _ = conn.write_all(content);
    }
    let _ = conn.flush();
    Some(Request {
        peer,
        method,
        path: req_path,
        status,
    })
}

/// The gateway address of Docker's default bridge: the address of this machine that test-host
/// containers can reach. Asks `docker network inspect bridge` for the IPAM gateway; Docker 20.10
/// leaves that empty for the default bridge, so then takes the first address of its subnet
/// (which is what Docker assigns to docker0).
pub fn bridge_gateway() -> Ipv4Addr {
    let out = Command::new("docker")
        .args([
            "network",
            "inspect",
            "bridge",
            "-f",
            "{{range .IPAM.Config}}{{.Gateway}}|{{.Subnet}} {{end}}",
        ])
        .output();
    let out = match out {
        Ok(o) if o.status.success() => String::from_utf8_lossy(&o.stdout).into_owned(),
        _ => panic!("cannot inspect Docker's bridge network: {SETUP_HINT}"),
    };
    for entry in out.split_whitespace() {
        let (gw, subnet) = entry.split_once('|').unwrap_or((entry, ""));
        if let Ok(ip) = gw.parse::<Ipv4Addr>() {
            return ip;
        }
        if let Some((net, _bits)) = subnet.split_once('/') {
            if let Ok(net) = net.parse::<Ipv4Addr>() {
                return Ipv4Addr::from(u32::from(net) + 1);
            }
        }
    }
    // Last resort: the interface itself.
    let ip = run(Command::new("ip").args(["-4", "-o", "addr", "show", "docker0"]));
    ip.split_whitespace()
        .skip_while(|w| *w != "inet")
        .nth(1)
        .and_then(|cidr| cidr.split('/').next())
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            panic!("cannot find the Docker bridge gateway address in {out:?} / {ip:?}")
        })
}
