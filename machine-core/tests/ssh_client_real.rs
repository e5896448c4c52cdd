//! The system `ssh` reaching a real host (sshd in a container, see
//! `machine_testsupport::TestHost`) by a machine's alias, through the files
//! `machine_core::ssh_client` writes: the wrapper `machine env` puts first on PATH, and the
//! store-wide config a user's `~/.ssh/config` includes. The user's own `~/.ssh` is never read
//! or written: every ssh here runs with `-F` (the wrapper's) or a config of the test's.

use driver_protocol::calls::SshEndpoint;
use machine_core::ssh_client::{self, write_for_tests};
use machine_core::testing::ssh::known_hosts_line;
use machine_testsupport::{run_with_timeout, KeyPair, TestHost};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

/// `sh -c script` with the wrapper's folder first on PATH; what it printed.
fn through_wrapper(bin_dir: &Path, script: &str) -> Output {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let path = ssh_client::path_with_wrapper(Some(bin_dir), &path);
    run_with_timeout(
        Command::new("sh").args(["-c", script]).env("PATH", path),
        Duration::from_secs(60),
    )
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[test]
fn the_system_ssh_reaches_a_machine_by_its_alias_with_its_recorded_host_key_only() {
    let host = TestHost::start("bookworm");
    let store = tempfile::Builder::new()
        .permissions(std::fs::Permissions::from_mode(0o700))
        .tempdir()
        .unwrap();
    // a store root that needs quoting, for the shell and for ssh_config
    let root = store.path().join("my store's 100% root");
    let dir = root.join("machines").join("web1");
    std::fs::create_dir_all(&dir).unwrap();
    // what a machine's export holds: its key (0600) and its recorded host key
    std::fs::copy(&host.key.private, dir.join("id_ed25519")).unwrap();
    std::fs::set_permissions(
        dir.join("id_ed25519"),
        std::fs::Permissions::from_mode(0o600),
    )
    .unwrap();
    let host_key = host.exec("cat /etc/ssh/ssh_host_ed25519_key.pub");
    let recorded = format!("{}\n", known_hosts_line(&host.ip, 22, host_key.trim()));
    std::fs::write(dir.join("known_hosts"), &recorded).unwrap();
    let endpoint = SshEndpoint::new(&host.ip, 22, &host.user);
    let files = write_for_tests(&dir, "web1", &endpoint).unwrap();
    assert_eq!(files.bin_dir, root.join("bin"));

    // the docker CLI's way: `ssh machine-web1 CMD` through the wrapper on PATH
    let out = through_wrapper(
        &files.bin_dir,
        "ssh -o ConnectTimeout=30 -T -- machine-web1 id -un",
    );
    assert!(out.status.success(), "{out:?}\n{}", text(&out.stderr));
    assert_eq!(text(&out.stdout).trim(), host.user);
    let out = through_wrapper(&files.bin_dir, "ssh machine-web1 true");
    assert!(out.status.success(), "{}", text(&out.stderr));

    // an unrelated ssh runs the real one, untouched
    let out = through_wrapper(&files.bin_dir, "ssh -V");
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).starts_with("OpenSSH"),
        "{}",
        text(&out.stderr)
    );
    // ... and so does one to a machine the store does not have: no config of ours
    let out = through_wrapper(&files.bin_dir, "ssh -G machine-web2");
    assert!(
        text(&out.stdout).contains("hostname machine-web2\n"),
        "{}",
        text(&out.stdout)
    );

    // the same host presenting a key other than the recorded one: refused, nothing learnt
    let other = KeyPair::new();
    std::fs::write(
        dir.join("known_hosts"),
        format!("{}\n", known_hosts_line(&host.ip, 22, &other.public)),
    )
    .unwrap();
    let out = through_wrapper(&files.bin_dir, "ssh machine-web1 true");
    assert!(
        !out.status.success(),
        "logged in with another recorded host key"
    );
    let err = text(&out.stderr);
    assert!(
        err.contains("REMOTE HOST IDENTIFICATION HAS CHANGED")
            || err.contains("Host key verification failed"),
        "{err}"
    );
    // no recorded key at all: refused too (nothing is asked, nothing learnt)
    std::fs::write(dir.join("known_hosts"), "").unwrap();
    let out = through_wrapper(&files.bin_dir, "ssh machine-web1 true");
    assert!(!out.status.success(), "logged in with no recorded host key");
    assert_eq!(
        std::fs::read_to_string(dir.join("known_hosts")).unwrap(),
        ""
    );

    // a user's ssh config holding the Include line reaches it with no wrapper (the docker
    // context's way); a config of the test's stands in for ~/.ssh/config
    std::fs::write(dir.join("known_hosts"), &recorded).unwrap();
    let user = store.path().join("home/.ssh/config");
    let added = ssh_client::add_include_to(&user, &root).unwrap();
    assert!(added.added);
    let out = run_with_timeout(
        Command::new("ssh")
            .arg("-F")
            .arg(&user)
            .args(["machine-web1", "id", "-un"]),
        Duration::from_secs(60),
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout).trim(), host.user);
}
