//! The SSH client against a real Debian host (sshd, systemd, the passwordless-sudo user `nick`)
//! running as a container: see `machine_testsupport::TestHost`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use machine_core::testing::ssh::{known_hosts_line, HostKeyCheck, Session, SshTarget};
use machine_core::{SshError, SshKeyError};
use machine_testsupport::{KeyPair, TestHost};

fn target(host: &TestHost) -> SshTarget {
    with_key(
        &SshTarget::new(
            &host.ip,
            22,
            &host.user,
            machine_core::testing::sshkey::load_private(&host.key.private).unwrap(),
            "",
        ),
        &host.key.private,
    )
}

/// `t` with the private key at `path`.
fn with_key(t: &SshTarget, path: &std::path::Path) -> SshTarget {
    let key = machine_core::testing::sshkey::load_private(path).unwrap();
    SshTarget::new(&t.host, t.port, &t.user, key, &path.display().to_string())
}

const T: Duration = Duration::from_secs(20);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_host_ssh() {
    let host = TestHost::start("bookworm");
    let t = target(&host);

    // connect + auth + 3 commands over one session, timed.
    let started = Instant::now();
    let s = Session::wait(&t, HostKeyCheck::Record, Duration::from_secs(60))
        .await
        .unwrap();
    let hostname = s.exec_ok("hostname").await.unwrap();
    let uid = s.exec_ok("sudo -n id -u").await.unwrap();
    let whoami = s.exec_ok("id -un").await.unwrap();
    let elapsed = started.elapsed();
    eprintln!("connect + auth + 3 commands: {elapsed:?}");
    assert_eq!(hostname.trim(), host.name);
    assert_eq!(uid.trim(), "0");
    assert_eq!(whoami.trim(), "nick");
    assert!(s.host_key().starts_with("ssh-"), "{}", s.host_key());
    assert_eq!((s.target().addr(), &s.target().user), (t.addr(), &t.user));

    // The recorded key is the host's real key, as ssh-keyscan would see it.
    let recorded = s.host_key().to_string();
    let real = host.exec("cat /etc/ssh/ssh_host_ed25519_key.pub");
    let real: Vec<&str> = real.split_whitespace().take(2).collect();
    assert_eq!(
        recorded.split_whitespace().take(2).collect::<Vec<_>>(),
        real
    );
    let kh = known_hosts_line(&t.host, 22, &recorded);
    assert_eq!(kh, format!("{} {}", t.host, real.join(" ")));

    // Concurrent commands over the one session.
    let s = Arc::new(s);
    let mut tasks = Vec::new();
    for i in 0..8 {
        let s = s.clone();
        tasks.push(tokio::spawn(async move {
            s.exec_ok(&format!("sleep 0.3; echo {i}")).await.unwrap()
        }));
    }
    let started = Instant::now();
    for (i, task) in tasks.into_iter().enumerate() {
        assert_eq!(task.await.unwrap().trim(), i.to_string());
    }
    let conc = started.elapsed();
    assert!(
        conc < Duration::from_millis(2000),
        "not concurrent: {conc:?}"
    );

    // Exit status, stdout and stderr of a failing command.
    let out = s.exec("echo out; echo err >&2; exit 3").await.unwrap();
    assert_eq!(out.status, 3);
    assert!(!out.success());
    assert_eq!(out.stdout, "out\n");
    assert_eq!(out.stderr, "err\n");
    let e = s.exec_ok("echo oops >&2; exit 7").await.unwrap_err();
    match &e {
        SshError::CommandFailed {
            command,
            status,
            stderr,
        } => {
            assert_eq!(*status, 7);
            assert_eq!(stderr, "oops");
            assert!(command.contains("exit 7"));
        }
        other => panic!("{other}"),
    }
    // stdin is closed: a command reading it does not hang.
    assert_eq!(s.exec_ok("cat").await.unwrap(), "");

    // Upload with sudo into /etc, read back with its mode and owner.
    let contents = b"line one\nit's \"quoted\" $HOME `x`\n\x00\xff binary\n";
    s.upload("/etc/machine-test/sub dir/file.conf", contents, 0o640, true)
        .await
        .unwrap();
    let stat = s
        .exec_ok("sudo -n stat -c '%a %U' '/etc/machine-test/sub dir/file.conf'")
        .await
        .unwrap();
    assert_eq!(stat.trim(), "640 root");
    let back = host.exec("base64 -w0 '/etc/machine-test/sub dir/file.conf'");
    use base64::Engine;
    assert_eq!(
        base64::engine::general_purpose::STANDARD
            .decode(back.trim())
            .unwrap(),
        contents
    );
    let leftovers = s
        .exec_ok("sudo -n ls -A '/etc/machine-test/sub dir'")
        .await
        .unwrap();
    assert_eq!(leftovers.trim(), "file.conf");
    // Overwrite atomically, without sudo into the user's home; a large file.
    let big: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8).collect();
    s.upload("big.bin", &big, 0o600, false).await.unwrap();
    let sum = s.exec_ok("stat -c '%a %s' big.bin").await.unwrap();
    assert_eq!(sum.trim(), format!("600 {}", big.len()));
    // Without sudo into /etc: a clear failure.
    let e = s
        .upload("/etc/nope.conf", b"x", 0o644, false)
        .await
        .unwrap_err();
    assert!(
        matches!(&e, SshError::CommandFailed { command, .. } if command.contains("/etc/nope.conf")),
        "{e}"
    );

    // Expect the recorded key: succeeds.
    let s2 = Session::connect(&t, HostKeyCheck::Expect(recorded.clone()), T)
        .await
        .unwrap();
    assert_eq!(s2.exec_ok("echo ok").await.unwrap(), "ok\n");
    s2.close().await;

    // Expect another key: HostKeyMismatch naming both fingerprints.
    let other = KeyPair::new();
    let e = Session::connect(&t, HostKeyCheck::Expect(other.public.clone()), T)
        .await
        .err()
        .unwrap();
    match &e {
        SshError::HostKeyMismatch {
            expected, actual, ..
        } => {
            assert_eq!(
                *expected,
                machine_core::testing::ssh::fingerprint(&other.public).unwrap()
            );
            assert_eq!(
                *actual,
                machine_core::testing::ssh::fingerprint(&recorded).unwrap()
            );
        }
        other => panic!("{other}"),
    }
    // ... and wait() does not retry it.
    let started = Instant::now();
    let e = Session::wait(&t, HostKeyCheck::Expect(other.public.clone()), T)
        .await
        .err()
        .unwrap();
    assert!(matches!(e, SshError::HostKeyMismatch { .. }), "{e}");
    assert!(started.elapsed() < Duration::from_secs(5));

    // Pinned by fingerprint: the right one logs in, another is a mismatch naming both.
    let fp = machine_core::testing::ssh::fingerprint(&recorded).unwrap();
    let pinned = Session::connect(&t, HostKeyCheck::Fingerprint(fp.clone()), T)
        .await
        .unwrap();
    assert_eq!(pinned.host_key(), recorded);
    pinned.close().await;
    let other_fp = machine_core::testing::ssh::fingerprint(&other.public).unwrap();
    let e = Session::connect(&t, HostKeyCheck::Fingerprint(other_fp.clone()), T)
        .await
        .err()
        .unwrap();
    assert!(
        matches!(&e, SshError::HostKeyMismatch { expected, actual, .. }
            if *expected == other_fp && *actual == fp),
        "{e}"
    );
    // Read without logging in (as ssh-keyscan): the same key.
    let scanned = machine_core::testing::ssh::scan_host_key(&t.host, t.port, T)
        .await
        .unwrap();
    assert_eq!(
        machine_core::testing::ssh::fingerprint(&scanned).unwrap(),
        fp
    );

    // Wrong user: AuthFailed naming the user (and not retried by wait).
    let mut wrong_user = t.clone();
    wrong_user.user = "mallory".into();
    let started = Instant::now();
    let e = Session::wait(&wrong_user, HostKeyCheck::Record, T)
        .await
        .err()
        .unwrap();
    assert!(
        matches!(&e, SshError::AuthFailed { user, .. } if user == "mallory"),
        "{e}"
    );
    assert!(e.to_string().contains("mallory"), "{e}");
    assert!(started.elapsed() < Duration::from_secs(5));

    // Wrong key: AuthFailed naming the key.
    let wrong_key = with_key(&t, &other.private);
    let e = Session::connect(&wrong_key, HostKeyCheck::Record, T)
        .await
        .err()
        .unwrap();
    assert!(
        matches!(&e, SshError::AuthFailed { key, .. } if *key == other.private.display().to_string()),
        "{e}"
    );
    assert!(
        e.to_string().contains(&other.private.display().to_string()),
        "{e}"
    );

    // Unreachable port: quickly.
    let mut closed = t.clone();
    closed.port = 2222;
    let started = Instant::now();
    let e = Session::connect(&closed, HostKeyCheck::Record, T)
        .await
        .err()
        .unwrap();
    assert!(matches!(e, SshError::Unreachable { .. }), "{e}");
    assert!(e.to_string().contains("connection refused"), "{e}");
    assert!(started.elapsed() < Duration::from_secs(2));
    // wait() retries it until its deadline, then says so.
    let started = Instant::now();
    let e = Session::wait(&closed, HostKeyCheck::Record, Duration::from_secs(2))
        .await
        .err()
        .unwrap();
    assert!(matches!(e, SshError::Timeout { .. }), "{e}");
    assert!(e.to_string().contains("connection refused"), "{e}");
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_secs(2) && waited < Duration::from_secs(4),
        "{waited:?}"
    );

    // Missing key file: clear error, before any network traffic.
    let e = machine_core::testing::sshkey::load_private(std::path::Path::new(
        "/nonexistent/id_ed25519",
    ))
    .err()
    .map(SshError::Key)
    .unwrap();
    assert!(
        matches!(e, SshError::Key(SshKeyError::NotFound { .. })),
        "{e}"
    );
    assert!(
        e.to_string()
            .contains("/nonexistent/id_ed25519 does not exist"),
        "{e}"
    );

    // A host that comes up late: wait() keeps trying until sshd answers.
    host.exec("systemctl stop ssh.socket ssh.service 2>/dev/null; systemctl stop ssh; true");
    let e = Session::connect(&t, HostKeyCheck::Record, T)
        .await
        .err()
        .unwrap();
    assert!(matches!(e, SshError::Unreachable { .. }), "{e}");
    let name = host.name.clone();
    let starter = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(1500));
        machine_testsupport::run(std::process::Command::new("docker").args([
            "exec",
            &name,
            "systemctl",
            "start",
            "ssh",
        ]));
    });
    let started = Instant::now();
    let s3 = Session::wait(
        &t,
        HostKeyCheck::Expect(recorded.clone()),
        Duration::from_secs(30),
    )
    .await
    .unwrap();
    assert!(started.elapsed() >= Duration::from_millis(1000));
    assert_eq!(s3.exec_ok("echo back").await.unwrap(), "back\n");
    starter.join().unwrap();

    // A generated key works once authorized.
    let dir = tempfile::tempdir().unwrap();
    let gen_path = dir.path().join("id_ed25519");
    let key = machine_core::testing::sshkey::generate("machine-test").unwrap();
    std::fs::write(&gen_path, &key.private).unwrap();
    std::fs::set_permissions(
        &gen_path,
        std::os::unix::fs::PermissionsExt::from_mode(0o600),
    )
    .unwrap();
    let line = key.public;
    s3.upload(
        ".ssh/authorized_keys2",
        format!("{line}\n").as_bytes(),
        0o600,
        false,
    )
    .await
    .unwrap();
    let gen_t = with_key(&t, &gen_path);
    let s4 = Session::connect(&gen_t, HostKeyCheck::Expect(recorded), T)
        .await
        .unwrap();
    assert_eq!(s4.exec_ok("echo gen").await.unwrap(), "gen\n");
    s4.close().await;
    s3.close().await;
}

#[tokio::test]
async fn rsa_pem_key_authenticates() {
    let host = TestHost::start("bookworm");
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("id_rsa");
    machine_testsupport::run(
        std::process::Command::new("ssh-keygen")
            .args([
                "-q", "-t", "rsa", "-b", "2048", "-m", "PEM", "-N", "", "-C", "rsa", "-f",
            ])
            .arg(&key),
    );
    let public = std::fs::read_to_string(dir.path().join("id_rsa.pub")).unwrap();
    host.exec(&format!(
        "echo '{}' >> /home/nick/.ssh/authorized_keys",
        public.trim()
    ));
    let t = with_key(&target(&host), &key);
    let s = Session::wait(&t, HostKeyCheck::Record, Duration::from_secs(30))
        .await
        .unwrap();
    assert_eq!(s.exec_ok("id -un").await.unwrap(), "nick\n");
    s.close().await;
}
