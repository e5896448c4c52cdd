//! SSH host keys against real hosts (issue 10): after create no path accepts another key. A
//! host whose keys were regenerated is refused by the built-in client, `ssh`, `scp` and
//! `scp -d` (rsync), each naming the change and the command that accepts the new key;
//! `machine host-key accept` shows both fingerprints and then everything works again. A
//! create with a pinned fingerprint fails before installing anything when the host presents
//! another key, and succeeds with the right one. A restart that comes back with another key
//! says so at once instead of waiting for the reboot's timeout.
//!
//! Needs scripts/test-env.sh and `cargo build --workspace --bins`; nothing here skips.

use std::time::{Duration, Instant};

use machine_e2e::support::TestHost;
use machine_e2e::{unique_name, Cli, RESTART_TIMEOUT};

const SUITE: &str = "bookworm";
const INSTALL: [&str; 2] = ["--engine-install-method", "packages"];

/// The SHA256 fingerprint of one of the host's own host keys, read on the host.
fn host_fingerprint(host: &TestHost, kind: &str) -> String {
    let out = host.exec(&format!("ssh-keygen -lf /etc/ssh/ssh_host_{kind}_key.pub"));
    out.split_whitespace()
        .nth(1)
        .unwrap_or_else(|| panic!("no fingerprint in {out:?}"))
        .to_string()
}

/// Gives the host new host keys, as a reinstall would, and restarts sshd.
fn regenerate_host_keys(host: &TestHost) {
    host.exec("rm -f /etc/ssh/ssh_host_* && ssh-keygen -A >/dev/null && systemctl restart ssh");
    host.wait_for_ssh(Duration::from_secs(30));
}

fn create(cli: &Cli, host: &TestHost, extra: &[&str], name: &str) -> machine_e2e::CallOutput {
    let mut flags: Vec<&str> = INSTALL.to_vec();
    flags.extend_from_slice(extra);
    cli.create_on(host, &flags, name)
}

#[test]
fn a_changed_host_key_is_refused_everywhere_until_accepted() {
    let host = TestHost::start_with_docker();
    let cli = Cli::new();
    let name = unique_name("hostkey");
    let out = create(&cli, &host, &[], &name);
    assert!(out.success, "create failed:\n{out}");
    let old = host_fingerprint(&host, "ed25519");
    cli.ok(&["ssh", &name, "true"]);

    regenerate_host_keys(&host);
    let new = host_fingerprint(&host, "ed25519");
    assert_ne!(old, new);

    let local = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(local.path(), "copied\n").unwrap();
    let local_path = local.path().to_str().unwrap();
    let remote_path = format!("{name}:/tmp/copied");
    let accept = format!("machine host-key accept {name}");
    for args in [
        vec!["ssh", name.as_str(), "true"],
        vec!["ssh", "-t", name.as_str(), "true"],
        vec!["scp", local_path, remote_path.as_str()],
        vec!["scp", "-d", local_path, remote_path.as_str()],
        vec!["provision", name.as_str()],
    ] {
        let out = cli.fail(&args);
        let text = out.text_lower();
        assert!(text.contains("has changed"), "{out}");
        assert!(
            out.stderr.contains(&old) && out.stderr.contains(&new),
            "both fingerprints expected:\n{out}"
        );
        assert!(
            out.stderr.contains(&accept),
            "the advice names `{accept}`:\n{out}"
        );
        assert!(
            !text.contains("machine rm"),
            "the advice must not be to remove it:\n{out}"
        );
    }
    assert!(
        !host.exec_output("test -e /tmp/copied").status.success(),
        "a copy reached a host whose key changed"
    );

    // without a terminal to confirm on: both fingerprints shown, nothing recorded
    let out = cli.fail(&["host-key", "accept", &name]);
    assert!(
        out.stdout.contains(&old) && out.stdout.contains(&new),
        "{out}"
    );
    assert!(out.stderr.contains("-y"), "{out}");
    cli.fail(&["ssh", &name, "true"]);

    let out = cli.call(&["host-key", "accept", "-y", &name]);
    assert!(out.success, "{out}");
    assert!(
        out.stdout.contains(&old) && out.stdout.contains(&new),
        "{out}"
    );
    cli.ok(&["ssh", &name, "true"]);
    cli.ok(&["ssh", "-t", &name, "true"]);
    cli.ok(&["scp", local_path, &remote_path]);
    assert_eq!(host.exec("cat /tmp/copied"), "copied\n");
    let out = cli.ok(&["host-key", "accept", &name]);
    assert!(out.contains("nothing to change"), "{out}");

    cli.ok(&["rm", "-y", &name]);
}

#[test]
fn a_pinned_host_key_fingerprint_is_checked_before_anything_is_installed() {
    let host = TestHost::start(SUITE);
    let cli = Cli::new();
    let right = host_fingerprint(&host, "ed25519");
    let wrong = host_fingerprint(&host, "rsa");
    let authorized_before = host.exec("cat /home/nick/.ssh/authorized_keys");

    let name = unique_name("pinned");
    let out = create(&cli, &host, &["--ssh-host-key-fingerprint", &wrong], &name);
    assert!(!out.success, "{out}");
    assert!(
        out.stderr.contains(&wrong) && out.stderr.contains(&right),
        "{out}"
    );
    assert!(out.text_lower().contains("not the expected one"), "{out}");
    assert!(
        cli.ls().row(&name).is_none(),
        "a failed create stays listed"
    );
    assert!(!cli.machine_dir(&name).exists());
    assert_eq!(
        host.exec("cat /home/nick/.ssh/authorized_keys"),
        authorized_before,
        "the machine's key was installed on a host with the wrong host key"
    );
    assert!(
        !host.exec_output("command -v dockerd").status.success(),
        "Docker was installed on a host with the wrong host key"
    );

    let out = create(
        &cli,
        &host,
        &["--ssh-host-key-fingerprint", "SHA256:nope"],
        &name,
    );
    assert!(!out.success && out.stderr.contains("SHA256:nope"), "{out}");
    assert!(!cli.machine_dir(&name).exists());

    let out = create(&cli, &host, &["--ssh-host-key-fingerprint", &right], &name);
    assert!(out.success, "{out}");
    cli.ok(&["ssh", &name, "true"]);
    cli.ok(&["rm", "-y", &name]);
}

#[test]
fn a_restart_that_comes_back_with_another_host_key_says_so() {
    let host = TestHost::start_fixed_ip_with_docker();
    let cli = Cli::new();
    let name = unique_name("rekeyed");
    let out = create(&cli, &host, &[], &name);
    assert!(out.success, "create failed:\n{out}");
    let old = host_fingerprint(&host, "ed25519");
    // new host keys at the next boot, as a reinstalled or re-imaged host has
    host.exec(
        "mkdir -p /etc/systemd/system/ssh.service.d && printf '%s\\n' '[Service]' \
         \"ExecStartPre=/bin/sh -c 'rm -f /etc/ssh/ssh_host_* && ssh-keygen -A'\" \
         > /etc/systemd/system/ssh.service.d/rekey.conf",
    );
    let restarts = host.restart_count();
    let started = Instant::now();
    let out = cli.call_with_timeout(&["restart", &name], RESTART_TIMEOUT);
    assert!(!out.success, "{out}");
    assert!(host.restart_count() > restarts, "the host did not reboot");
    let new = host_fingerprint(&host, "ed25519");
    assert_ne!(old, new);
    assert!(
        out.stderr.contains(&old) && out.stderr.contains(&new),
        "both fingerprints expected:\n{out}"
    );
    assert!(
        out.stderr
            .contains(&format!("machine host-key accept {name}")),
        "{out}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(150),
        "it took {:?}: the reboot waited for its timeout",
        started.elapsed()
    );
    host.exec("rm /etc/systemd/system/ssh.service.d/rekey.conf");
    cli.ok(&["host-key", "accept", "-y", &name]);
    cli.ok(&["ssh", &name, "true"]);
    cli.ok(&["rm", "-y", &name]);
}
