//! A tiny file server for the test hosts: one thread, one body, bound to the Docker bridge
//! gateway on an ephemeral port, so a host container can `curl` what a test serves (an install
//! script, for `--engine-install-url`). It speaks https with a certificate of the test CA
//! ([`TestCa`], which [`crate::TestHost::start`] makes every host trust), or plain http
//! ([`FileServer::start_http`]); it can also answer with a redirect ([`FileServer::redirect`]).

use std::io::{BufRead, BufReader, Read, Write};
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

/// What the server answers at its path.
#[derive(Clone)]
enum Answer {
    Body(Arc<Vec<u8>>),
    /// `302 Found` to this URL.
    Redirect(String),
}

/// Serves `body` at `path` (404 elsewhere) until dropped.
pub struct FileServer {
    addr: SocketAddr,
    tls: bool,
    path: String,
    stop: Arc<AtomicBool>,
    requests: Arc<Mutex<Vec<Request>>>,
    thread: Option<JoinHandle<()>>,
}

impl FileServer {
    /// Starts serving `body` at `path` (e.g. `/install.sh`) over https on the Docker bridge
    /// gateway.
    pub fn start(path: &str, body: impl Into<Vec<u8>>) -> FileServer {
        Self::start_on(bridge_gateway(), path, body)
    }

    /// Starts serving over https on `ip` (port chosen by the kernel).
    pub fn start_on(ip: Ipv4Addr, path: &str, body: impl Into<Vec<u8>>) -> FileServer {
        Self::serve(ip, path, Answer::Body(Arc::new(body.into())), true)
    }

    /// Starts serving `body` at `path` over plain http on the Docker bridge gateway.
    pub fn start_http(path: &str, body: impl Into<Vec<u8>>) -> FileServer {
        Self::serve(
            bridge_gateway(),
            path,
            Answer::Body(Arc::new(body.into())),
            false,
        )
    }

    /// Starts answering `302 Found` to `location` at `path`, over https.
    pub fn redirect(path: &str, location: &str) -> FileServer {
        Self::serve(
            bridge_gateway(),
            path,
            Answer::Redirect(location.to_string()),
            true,
        )
    }

    fn serve(ip: Ipv4Addr, path: &str, answer_with: Answer, tls: bool) -> FileServer {
        let listener = TcpListener::bind((ip, 0))
            .unwrap_or_else(|e| panic!("cannot listen on {ip}:0 for the test file server: {e}"));
        let addr = listener.local_addr().expect("local address");
        let tls_config = tls.then(|| TestCa::get().server_config(ip));
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
                    let req = match &tls_config {
                        Some(config) => answer_tls(conn, config.clone(), &path, &answer_with),
                        None => answer(conn, &path, &answer_with),
                    };
                    if let Some(req) = req {
                        requests.lock().expect("requests").push(req);
                    }
                }
            })
        };
        FileServer {
            addr,
            tls,
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

    /// The URL of the served file, e.g. `https://172.17.0.1:41234/install.sh`.
    pub fn url(&self) -> String {
        let scheme = if self.tls { "https" } else { "http" };
        format!("{scheme}://{}{}", self.addr, self.path)
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

fn answer(conn: TcpStream, path: &str, answer_with: &Answer) -> Option<Request> {
    let peer = conn.peer_addr().ok()?;
    conn.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
    conn.set_write_timeout(Some(Duration::from_secs(30))).ok()?;
    respond(conn, peer, path, answer_with)
}

fn answer_tls(
    conn: TcpStream,
    config: Arc<rustls::ServerConfig>,
    path: &str,
    answer_with: &Answer,
) -> Option<Request> {
    let peer = conn.peer_addr().ok()?;
    conn.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
    conn.set_write_timeout(Some(Duration::from_secs(30))).ok()?;
    let tls = rustls::ServerConnection::new(config).ok()?;
    respond(rustls::StreamOwned::new(tls, conn), peer, path, answer_with)
}

fn respond<S: Read + Write>(
    stream: S,
    peer: SocketAddr,
    path: &str,
    answer_with: &Answer,
) -> Option<Request> {
    let mut reader = BufReader::new(stream);
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
    let (status, reason, extra, content): (u16, &str, String, &[u8]) = match answer_with {
        _ if req_path != path => (404, "Not Found", String::new(), b"not found\n"),
        Answer::Body(body) => (200, "OK", String::new(), body.as_slice()),
        Answer::Redirect(to) => (302, "Found", format!("Location: {to}\r\n"), b""),
    };
    let head = format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Type: text/plain\r\n{extra}Content-Length: {}\r\nConnection: close\r\n\r\n",
        content.len()
    );
    let conn = reader.get_mut();
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

/// The test CA: made once per test process; its certificate is what test hosts trust
/// ([`TestCa::install_command`]) and what signs the file server's certificate.
pub struct TestCa {
    /// The CA certificate, PEM.
    pub cert_pem: String,
    issuer: rcgen::Issuer<'static, rcgen::KeyPair>,
}

impl TestCa {
    /// The test CA of this process.
    pub fn get() -> &'static TestCa {
        static CA: std::sync::OnceLock<TestCa> = std::sync::OnceLock::new();
        CA.get_or_init(|| {
            let key = rcgen::KeyPair::generate().expect("CA key");
            let mut params = rcgen::CertificateParams::default();
            params
                .distinguished_name
                .push(rcgen::DnType::CommonName, "machine test CA");
            params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
            params.key_usages = vec![
                rcgen::KeyUsagePurpose::KeyCertSign,
                rcgen::KeyUsagePurpose::DigitalSignature,
            ];
            let cert = params.self_signed(&key).expect("CA certificate");
            TestCa {
                cert_pem: cert.pem(),
                issuer: rcgen::Issuer::new(params, key),
            }
        })
    }

    /// A shell command that makes a Debian host trust this CA (as root).
    pub fn install_command(&self) -> String {
        format!(
            "printf '%s' '{}' > /usr/local/share/ca-certificates/machine-test-ca.crt && \
             update-ca-certificates >/dev/null",
            self.cert_pem
        )
    }

    /// `docker run` flags that make a container of a Debian image trust this CA without a
    /// command run in it (vcsim starts its VM containers itself): the system's CA bundle plus
    /// this CA, written into `dir`, mounted over the container's bundle.
    pub fn bundle_mount(&self, dir: &std::path::Path) -> Vec<String> {
        let system =
            std::fs::read_to_string("/etc/ssl/certs/ca-certificates.crt").unwrap_or_else(|e| {
                panic!(
                    "/etc/ssl/certs/ca-certificates.crt: {e}: {}",
                    crate::SETUP_HINT
                )
            });
        let bundle = dir.join("ca-certificates.crt");
        std::fs::write(&bundle, format!("{system}\n{}", self.cert_pem)).expect("write a CA bundle");
        vec![
            "-v".into(),
            format!("{}:/etc/ssl/certs/ca-certificates.crt:ro", bundle.display()),
        ]
    }

    /// A server config with a certificate for `ip` signed by this CA.
    fn server_config(&self, ip: Ipv4Addr) -> Arc<rustls::ServerConfig> {
        let key = rcgen::KeyPair::generate().expect("server key");
        let mut params = rcgen::CertificateParams::default();
        params.subject_alt_names = vec![rcgen::SanType::IpAddress(ip.into())];
        let cert = params
            .signed_by(&key, &self.issuer)
            .expect("server certificate");
        let key_der = rustls::pki_types::PrivateKeyDer::Pkcs8(key.serialize_der().into());
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("protocol versions")
            .with_no_client_auth()
            .with_single_cert(vec![cert.der().clone()], key_der)
            .expect("server config");
        Arc::new(config)
    }
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
