//! Mutual TLS against real servers: `openssl s_server` requiring a client certificate (fast),
//! and a real Docker daemon installed on a test host and configured for `--tlsverify` over SSH.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use machine_core::testing::cert;
use machine_core::testing::daemon::{Daemons, Route};
use machine_core::testing::ssh::{HostKeyCheck, Session, SshTarget};
use machine_core::{DaemonError, DockerUrl, Pem};
use machine_testsupport::TestHost;

struct Server {
    child: Child,
    url: DockerUrl,
    _dir: tempfile::TempDir,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `openssl s_server -WWW` on 127.0.0.1 with `server`, requiring a client cert signed by `ca`,
/// serving a Docker-like `/version`.
fn s_server(ca: &Pem, server: &Pem) -> Server {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("ca.pem"), &ca.cert).unwrap();
    std::fs::write(dir.path().join("server.pem"), &server.cert).unwrap();
    std::fs::write(dir.path().join("server-key.pem"), &server.key).unwrap();
    std::fs::write(
        dir.path().join("version"),
        r#"{"Version":"99.0.1","ApiVersion":"1.99","Os":"linux","Arch":"amd64","KernelVersion":"6"}"#,
    )
    .unwrap();
    // The port is free when picked, but another test may take it before openssl binds it:
    // openssl then exits, and another port is tried.
    for _ in 0..3 {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut child = Command::new("openssl")
            .current_dir(dir.path())
            .args([
                "s_server",
                "-quiet",
                "-WWW",
                "-accept",
                &format!("127.0.0.1:{port}"),
                "-cert",
                "server.pem",
                "-key",
                "server-key.pem",
                "-CAfile",
                "ca.pem",
                "-Verify",
                "1",
                "-verify_return_error",
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("openssl");
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if child.try_wait().unwrap().is_some() {
                break; // it could not listen there
            }
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return Server {
                    child,
                    url: DockerUrl::new("127.0.0.1", port).unwrap(),
                    _dir: dir,
                };
            }
            assert!(Instant::now() < deadline, "openssl s_server did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    panic!("openssl s_server exited at start-up on three ports");
}

#[tokio::test]
async fn mutual_tls_with_ip_san_against_openssl() {
    let ca = cert::new_ca("machine-test").unwrap();
    let client = cert::new_client(&ca, "machine-test").unwrap();
    let server =
        cert::new_server(&ca, "machine-test.dev", &["127.0.0.1".into(), "dev".into()]).unwrap();
    let srv = s_server(&ca, &server);

    let daemon = Daemons::default();
    let v = daemon
        .version(tls(&srv.url, &ca.cert, &client, None))
        .await
        .unwrap();
    assert_eq!(v.version, "99.0.1");
    assert_eq!(v.api_version, "1.99");
    assert_eq!((v.os.as_str(), v.arch.as_str()), ("linux", "amd64"));
    let v2 = daemon
        .wait_ready(
            tls(&srv.url, &ca.cert, &client, None),
            Duration::from_secs(5),
        )
        .await
        .unwrap();
    assert_eq!(v, v2);

    // Another CA: the server is not trusted.
    let other_ca = cert::new_ca("other").unwrap();
    let other_client = cert::new_client(&other_ca, "other").unwrap();
    let e = daemon
        .version(tls(&srv.url, &other_ca.cert, &client, None))
        .await
        .unwrap_err();
    assert!(matches!(e, DaemonError::Tls { .. }), "{e}");
    // the fact, not advice (the CLI adds what to do)
    assert!(e.to_string().contains("UnknownIssuer"), "{e}");
    // A client cert from another CA: the server refuses it.
    let e = daemon
        .version(tls(&srv.url, &ca.cert, &other_client, None))
        .await
        .unwrap_err();
    assert!(
        matches!(e, DaemonError::Tls { .. } | DaemonError::Unreachable { .. }),
        "{e}"
    );
    drop(srv);

    // A server cert without this IP: refused by name checking.
    let wrong_ip = cert::new_server(
        &ca,
        "machine-test.dev",
        &["10.9.9.9".into(), "localhost".into()],
    )
    .unwrap();
    let srv = s_server(&ca, &wrong_ip);
    let e = daemon
        .version(tls(&srv.url, &ca.cert, &client, None))
        .await
        .unwrap_err();
    assert!(matches!(e, DaemonError::Tls { .. }), "{e}");
    let e = daemon
        .wait_ready(
            tls(&srv.url, &ca.cert, &client, None),
            Duration::from_secs(2),
        )
        .await
        .unwrap_err();
    assert!(matches!(e, DaemonError::NotReady { .. }), "{e}");
}

/// Installs Debian's docker.io on a test host, points it at certificates made by `cert`, and
/// talks to it with `daemon`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_dockerd_over_mutual_tls() {
    let host = TestHost::start("bookworm");
    let t = SshTarget::new(
        &host.ip,
        22,
        &host.user,
        machine_core::testing::sshkey::load_private(&host.key.private).unwrap(),
        "the test key",
    );
    let s = Session::wait(&t, HostKeyCheck::Record, Duration::from_secs(60))
        .await
        .unwrap();
    s.exec_ok("sudo -n apt-get update -qq && sudo -n DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker.io >/dev/null")
        .await
        .unwrap();

    let ca = cert::new_ca("machine-test").unwrap();
    let client = cert::new_client(&ca, "machine-test").unwrap();
    let server = cert::new_server(
        &ca,
        "machine-test.dev",
        &[host.ip.clone(), host.name.clone(), "localhost".into()],
    )
    .unwrap();
    s.upload("/etc/docker/ca.pem", ca.cert.as_bytes(), 0o644, true)
        .await
        .unwrap();
    s.upload(
        "/etc/docker/server.pem",
        server.cert.as_bytes(),
        0o644,
        true,
    )
    .await
    .unwrap();
    s.upload(
        "/etc/docker/server-key.pem",
        server.key.as_bytes(),
        0o600,
        true,
    )
    .await
    .unwrap();
    let dockerd = s
        .exec_ok("sudo -n sh -c 'command -v dockerd'")
        .await
        .unwrap();
    let dropin = format!(
        "[Service]\nExecStart=\nExecStart={} -H unix:///var/run/docker.sock -H tcp://0.0.0.0:2376 \
         --tlsverify --tlscacert /etc/docker/ca.pem --tlscert /etc/docker/server.pem \
         --tlskey /etc/docker/server-key.pem --label provider=test\n",
        dockerd.trim()
    );
    s.upload(
        "/etc/systemd/system/docker.service.d/10-machine.conf",
        dropin.as_bytes(),
        0o644,
        true,
    )
    .await
    .unwrap();
    s.exec_ok("sudo -n systemctl daemon-reload && sudo -n systemctl restart docker")
        .await
        .unwrap();

    let url = DockerUrl::new(&host.ip, 2376).unwrap();
    let daemon = Daemons::default();
    let v = daemon
        .wait_ready(tls(&url, &ca.cert, &client, None), Duration::from_secs(60))
        .await
        .unwrap();
    eprintln!("docker {v:?}");
    assert!(!v.version.is_empty() && !v.api_version.is_empty());
    assert_eq!(v.os, "linux");
    let info = daemon
        .info(tls(&url, &ca.cert, &client, None))
        .await
        .unwrap();
    let labels = info["Labels"].as_array().cloned().unwrap_or_default();
    assert!(
        labels.iter().any(|l| l == "provider=test"),
        "labels: {labels:?}"
    );
    // Pinned to its own server certificate, the daemon answers the ping; pinned to another of
    // the same CA (another machine's, as at an address that was reused), it does not count.
    let t = Duration::from_secs(10);
    let p = daemon
        .ping(tls(&url, &ca.cert, &client, Some(&server.cert)), t)
        .await
        .unwrap();
    assert_eq!(p.version, v.version);
    let another = cert::new_server(&ca, "another", std::slice::from_ref(&host.ip)).unwrap();
    let e = daemon
        .ping(tls(&url, &ca.cert, &client, Some(&another.cert)), t)
        .await
        .unwrap_err();
    assert!(matches!(e, DaemonError::Tls { .. }), "{e}");
    // The daemon refuses a client from another CA.
    let other_ca = cert::new_ca("other").unwrap();
    let other_client = cert::new_client(&other_ca, "other").unwrap();
    assert!(daemon
        .version(tls(&url, &ca.cert, &other_client, None))
        .await
        .is_err());
    s.close().await;
}

/// The TLS route to the daemon at `url`.
fn tls<'a>(
    url: &'a DockerUrl,
    ca_pem: &'a str,
    identity: &'a machine_core::Pem,
    pinned: Option<&'a str>,
) -> Route<'a> {
    Route::Tls {
        url,
        ca_pem,
        identity,
        pinned,
    }
}
