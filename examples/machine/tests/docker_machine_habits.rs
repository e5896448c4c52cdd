//! Docker Machine's behaviour where scripts depend on it, through the real `machine` binary
//! (no host needed): `rm -f` means yes, `rm` without a terminal refuses instead of silently
//! doing nothing, boolean environment variables take 1/0, the words scripts match on, exit
//! status 3 for a failed pre-create check, `env -u NAME`, the classic-Swarm flags, `-v`.

mod common;

use common::{machine_with_env as machine, stderr};

/// A store with one machine folder `rm` can remove (its record is unreadable, so nothing
/// remote is involved).
fn store_with_one_machine() -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store");
    std::fs::create_dir_all(store.join("machines/old")).unwrap();
    std::fs::write(store.join("machines/old/config.json"), b"{").unwrap();
    private(&store);
    (dir, store)
}

#[test]
fn rm_without_a_terminal_refuses_and_rm_f_means_yes() {
    let (_dir, store) = store_with_one_machine();
    let rm = machine(&store, &["rm", "old"], &[]);
    assert!(
        !rm.status.success(),
        "rm without -y and without a terminal must fail"
    );
    assert!(stderr(&rm).contains("pass -y"), "{}", stderr(&rm));
    assert!(
        store.join("machines/old").exists(),
        "rm removed without confirmation"
    );

    let rm = machine(&store, &["rm", "-f", "old"], &[]);
    assert!(rm.status.success(), "{}", stderr(&rm));
    assert!(!store.join("machines/old").exists(), "rm -f did not remove");
}

#[test]
fn the_words_scripts_match_on() {
    let (_dir, store) = store_with_one_machine();
    let status = machine(&store, &["status", "ghost"], &[]);
    assert!(!status.status.success());
    assert!(
        stderr(&status).contains("Docker machine \"ghost\" does not exist"),
        "{}",
        stderr(&status)
    );

    let env = machine(&store, &["env", "-u", "old"], &[]);
    assert!(!env.status.success(), "env -u NAME must fail");
    assert!(
        stderr(&env).contains("Error: Expected no machine name when the -u flag is present"),
        "{}",
        stderr(&env)
    );
    let env = machine(&store, &["env", "-u", "--shell", "bash"], &[]);
    assert!(env.status.success(), "{}", stderr(&env));
    assert!(String::from_utf8_lossy(&env.stdout).contains("unset DOCKER_HOST"));

    for v in ["-v", "--version"] {
        let out = machine(&store, &[v], &[]);
        assert!(out.status.success());
        assert!(String::from_utf8_lossy(&out.stdout).contains(env!("CARGO_PKG_VERSION")));
    }
}

#[test]
fn boolean_environment_variables_take_1_0_true_false() {
    let (_dir, store) = store_with_one_machine();
    for v in ["1", "0", "true", "false"] {
        let out = machine(&store, &["ls", "-q"], &[("MACHINE_DEBUG", v)]);
        assert!(out.status.success(), "MACHINE_DEBUG={v}: {}", stderr(&out));
    }
    let out = machine(&store, &["ls", "-q"], &[("MACHINE_DEBUG", "maybe")]);
    assert!(!out.status.success(), "MACHINE_DEBUG=maybe must be refused");
}

#[test]
fn a_failed_pre_create_check_exits_3_and_leaves_nothing() {
    let (_dir, store) = store_with_one_machine();
    let out = machine(
        &store,
        &[
            "create",
            "-d",
            "generic",
            "--generic-ip-address",
            "192.0.2.1",
            "--generic-ssh-key",
            "/nonexistent/key",
            "new",
        ],
        &[],
    );
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("pre-create check"),
        "{}",
        stderr(&out)
    );
    assert!(
        stderr(&out).contains("/nonexistent/key"),
        "{}",
        stderr(&out)
    );
    assert!(!store.join("machines/new").exists());
}

#[test]
fn every_classic_swarm_flag_is_refused_with_one_message() {
    let (_dir, store) = store_with_one_machine();
    let base = [
        "create",
        "-d",
        "generic",
        "--generic-ip-address",
        "192.0.2.1",
    ];
    let flags: [&[&str]; 10] = [
        &["--swarm"],
        &["--swarm-master"],
        &["--swarm-experimental"],
        &["--swarm-image", "swarm:latest"],
        &["--swarm-discovery", "token://x"],
        &["--swarm-strategy", "spread"],
        &["--swarm-host", "tcp://0.0.0.0:3376"],
        &["--swarm-addr", "192.0.2.1:3376"],
        &["--swarm-opt", "heartbeat=5s"],
        &["--swarm-join-opt", "x=y"],
    ];
    for flag in flags {
        let args: Vec<&str> = base.iter().chain(flag).chain(&["s1"]).copied().collect();
        let out = machine(&store, &args, &[]);
        assert!(!out.status.success(), "{flag:?} accepted");
        assert!(
            stderr(&out).contains("Docker Swarm (classic) is not supported"),
            "{flag:?}: {}",
            stderr(&out)
        );
        assert!(!store.join("machines/s1").exists());
    }
    for args in [
        &["env", "--swarm", "old"][..],
        &["config", "--swarm", "old"],
    ] {
        let out = machine(&store, args, &[]);
        assert!(!out.status.success(), "{args:?}");
        assert!(
            stderr(&out).contains("Docker Swarm (classic)"),
            "{}",
            stderr(&out)
        );
    }
}

#[test]
fn ls_sorts_names_naturally_and_without_case() {
    let (_dir, store) = store_with_one_machine();
    for n in ["web10", "Web2", "web1", "db"] {
        std::fs::create_dir_all(store.join("machines").join(n)).unwrap();
    }
    let out = machine(&store, &["ls", "-q"], &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "db\nold\nweb1\nWeb2\nweb10\n"
    );
}

/// Makes the store folder and its `machines` folder private, as `machine` requires of a store.
fn private(store: &std::path::Path) {
    use std::os::unix::fs::PermissionsExt;
    for d in [store.to_path_buf(), store.join("machines")] {
        std::fs::set_permissions(&d, std::fs::Permissions::from_mode(0o700)).unwrap();
    }
}
