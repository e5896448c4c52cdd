//! What the vSphere driver reads into memory is bounded (issue 20 item 4), against the real
//! driver process and govmomi's vCenter simulator: a cloud-init URL answering without end is read
//! up to its bound, and the error says which bound it hit.

mod common;

use common::*;
use driver_protocol::ErrorKind;
use serde_json::json;

/// Serves an endless body (no Content-Length) to every request, as fast as it is read.
fn endless_server() -> u16 {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut conn) = conn else { return };
            std::thread::spawn(move || {
                let mut req = Vec::new();
                let mut buf = [0u8; 1024];
                while !req.windows(4).any(|w| w == b"\r\n\r\n") {
                    match conn.read(&mut buf) {
                        Ok(0) | Err(_) => return,
                        Ok(n) => req.extend_from_slice(&buf[..n]),
                    }
                }
                let _ = conn.write_all(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\n");
                let chunk = [b'#'; 65536];
                while conn.write_all(&chunk).is_ok() {}
            });
        }
    });
    port
}

#[tokio::test(flavor = "multi_thread")]
async fn an_endless_cloudinit_file_is_read_up_to_its_bound() {
    let sim = Vcsim::start("one", 1);
    let d = Driver::launch().await;
    let port = endless_server();
    let name = unique("endlessci");
    let mut o = sim.options();
    o.insert(
        "vmwarevsphere-cloudinit".into(),
        json!(format!("http://127.0.0.1:{port}/user-data")),
    );
    let config = d.set_config(&name, o).await.unwrap();
    let e = d.pre_create_check(&name, &config).await.unwrap_err();
    assert_eq!(e.kind, ErrorKind::InvalidOption, "{e}");
    assert!(
        e.message.contains("--vmwarevsphere-cloudinit")
            && e.message.contains("more than 4194304 bytes"),
        "the error names the option and the bound: {e}"
    );
    d.shutdown().await;
}

/// An HTTPS "vCenter" on loopback (a self-signed certificate, written to `dir/cert.pem`) that
/// answers the first request with a SOAP envelope that never ends; its port, and the server's
/// process group (to end it).
fn endless_vcenter(dir: &std::path::Path) -> (u16, std::process::Child) {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let d = dir.display();
    let status = std::process::Command::new("openssl")
        .args([
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
        ])
        .args([
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
        ])
        .arg("-keyout")
        .arg(dir.join("key.pem"))
        .arg("-out")
        .arg(dir.join("cert.pem"))
        .output()
        .expect("openssl (Debian: apt-get install openssl)")
        .status;
    assert!(status.success());
    // the answer begins once the request is in (s_server prints it to its log)
    let script = format!(
        "{{ until grep -q POST {d}/log; do sleep 0.05; done; \
           printf 'HTTP/1.1 200 OK\\r\\nContent-Type: text/xml\\r\\n\\r\\n<soapenv:Envelope>'; \
           yes '<x/>' | tr -d '\\n'; }} | \
         openssl s_server -quiet -accept {port} -cert {d}/cert.pem -key {d}/key.pem \
           > {d}/log 2>&1"
    );
    use std::os::unix::process::CommandExt;
    let server = std::process::Command::new("sh")
        .args(["-c", &script])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .process_group(0)
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            std::time::Instant::now() < deadline,
            "s_server did not start"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    (port, server)
}

#[tokio::test(flavor = "multi_thread")]
async fn an_endless_vcenter_answer_is_read_up_to_its_bound() {
    let dir = tempfile::tempdir().unwrap();
    let (port, mut server) = endless_vcenter(dir.path());
    let d = Driver::launch().await;
    let name = unique("endlessvc");
    let o = json!({
        "vmwarevsphere-vcenter": "127.0.0.1",
        "vmwarevsphere-vcenter-port": port,
        "vmwarevsphere-username": "u",
        "vmwarevsphere-password": "p",
        // whose certificate is not the point here
        "vmwarevsphere-insecure": true,
    });
    let config = d
        .set_config(&name, o.as_object().unwrap().clone())
        .await
        .unwrap();
    let e = d.pre_create_check(&name, &config).await.unwrap_err();
    assert!(
        e.message.contains("more than 67108864 bytes"),
        "the error says which bound was hit: {e}"
    );
    d.shutdown().await;
    let _ = std::process::Command::new("kill")
        .args(["-KILL", "--", &format!("-{}", server.id())])
        .status();
    let _ = server.wait();
}
