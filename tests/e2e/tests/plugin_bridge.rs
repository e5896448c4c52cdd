//! Docker Machine's driver plugins through `machine-plugin-bridge`, for real: Go plugins built
//! from Go's standard library (tests/plugins; the same `net/rpc` + `gob` wire, with the exact
//! names libmachine registers), one backed by a stateful fake cloud API whose instances are a
//! real test host, one backed by an existing SSH host like Docker Machine's generic driver.
//! Each test drives the `machine` CLI as a user does and checks what the cloud says exists.

use machine_e2e::support::plugins::{plugins_dir, FakeCloud};
use machine_e2e::support::TestHost;
use machine_e2e::{docker_ok, workspace_bin, CallOutput, Cli, CREATE_TIMEOUT};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// `machine` with the test plugins on its PATH and the cloud's keys in its environment.
fn command(cli: &Cli, cloud: Option<&FakeCloud>, args: &[&str]) -> Command {
    let mut cmd = cli.command(args);
    let path = std::env::var_os("PATH").unwrap_or_default();
    let mut dirs = vec![plugins_dir()];
    dirs.extend(std::env::split_paths(&path));
    cmd.env("PATH", std::env::join_paths(dirs).unwrap());
    if let Some(cloud) = cloud {
        cmd.env("FAKECLOUD_ACCESS_KEY", &cloud.access_key)
            .env("FAKECLOUD_SECRET_KEY", &cloud.secret_key);
    }
    cmd
}

fn call(cli: &Cli, cloud: Option<&FakeCloud>, args: &[&str], timeout: Duration) -> CallOutput {
    machine_e2e::call(&mut command(cli, cloud, args), args, timeout)
}

fn ok(cli: &Cli, cloud: Option<&FakeCloud>, args: &[&str]) -> String {
    let out = call(cli, cloud, args, CREATE_TIMEOUT);
    assert!(out.success, "expected success:\n{out}");
    out.stdout
}

fn create_args<'a>(
    cloud: &'a FakeCloud,
    host: &'a TestHost,
    name: &'a str,
    extra: &[&'a str],
) -> Vec<&'a str> {
    let mut args = vec![
        "create",
        "-d",
        "fakecloud",
        "--fakecloud-api-url",
        &cloud.url,
        "--fakecloud-ssh-user",
        &host.user,
        "--fakecloud-tag",
        "team=e2e",
    ];
    args.extend_from_slice(extra);
    args.push(name);
    args
}

fn wait_for(what: &str, within: Duration, mut f: impl FnMut() -> bool) {
    let start = Instant::now();
    while !f() {
        assert!(start.elapsed() < within, "{what}: not within {within:?}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn a_fake_cloud_machine_lives_its_whole_life_through_the_bridge() {
    workspace_bin("machine-plugin-bridge");
    let host = TestHost::start_with_docker();
    let cloud = FakeCloud::start(&host.ip, 22, &host.key.private);
    let cli = Cli::new();

    // the plugin's flags are the driver's options, with their env vars and help
    let help = ok(&cli, None, &["create", "-d", "fakecloud", "--help"]);
    for flag in [
        "--fakecloud-api-url",
        "--fakecloud-secret-key",
        "FAKECLOUD_API_URL",
        "--fakecloud-tag",
    ] {
        assert!(
            help.contains(flag),
            "`create -d fakecloud --help` lacks {flag}:\n{help}"
        );
    }

    ok(&cli, Some(&cloud), &create_args(&cloud, &host, "fc1", &[]));
    let instances = cloud.instances();
    assert_eq!(instances.len(), 1, "{instances:?}");
    assert_eq!(instances[0]["name"], "fc1");

    let ls = ok(&cli, None, &["ls"]);
    assert!(
        ls.lines()
            .any(|l| l.starts_with("fc1") && l.contains("fakecloud") && l.contains("Running")),
        "{ls}"
    );
    let env = cli.env("fc1");
    let version = docker_ok(&env, &["version", "--format", "{{.Server.Version}}"]);
    assert!(!version.trim().is_empty());

    // the plugin's state is the record's driver config; its credentials never show
    let inspect = ok(&cli, None, &["inspect", "fc1"]);
    assert!(
        inspect.contains(instances[0]["id"].as_str().unwrap()),
        "{inspect}"
    );
    assert!(
        inspect.contains("KeyPairName") && inspect.contains("SSHKeyPath"),
        "{inspect}"
    );
    assert!(
        !inspect.contains(&cloud.secret_key) && !inspect.contains(&cloud.access_key),
        "{inspect}"
    );
    assert!(inspect.contains("<hidden>"), "{inspect}");
    let config = cli.machine_dir("fc1").join("config.json");
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&config).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "{}", config.display());

    ok(&cli, None, &["stop", "fc1"]);
    assert_eq!(cloud.instances()[0]["state"], "stopped");
    ok(&cli, None, &["start", "fc1"]);
    assert_eq!(cloud.instances()[0]["state"], "running");

    ok(&cli, None, &["rm", "-y", "fc1"]);
    assert_eq!(
        cloud.instances(),
        Vec::<serde_json::Value>::new(),
        "rm must remove the instance"
    );
    assert!(
        !cli.store().join("plugins/machines/fc1").exists(),
        "the plugin's files are removed too"
    );
}

#[test]
fn a_create_that_fails_after_the_instance_exists_removes_it() {
    let host = TestHost::start_with_docker();
    let cloud = FakeCloud::start(&host.ip, 22, &host.key.private);
    let cli = Cli::new();
    let out = call(
        &cli,
        Some(&cloud),
        &create_args(&cloud, &host, "fc2", &["--fakecloud-fail-after-create"]),
        CREATE_TIMEOUT,
    );
    assert!(!out.success, "{out}");
    assert!(
        out.stderr.contains("Create"),
        "the error names the plugin's call:\n{out}"
    );
    assert_eq!(
        cloud.instances(),
        Vec::<serde_json::Value>::new(),
        "the instance made before the failure must be removed"
    );
    cli.assert_failed_create_left_nothing_healthy("fc2");
}

#[test]
fn sigint_during_the_plugins_create_waits_for_it_then_removes_the_instance() {
    let host = TestHost::start_with_docker();
    let cloud = FakeCloud::start(&host.ip, 22, &host.key.private);
    let cli = Cli::new();
    let args = create_args(&cloud, &host, "fc3", &["--fakecloud-create-delay", "4"]);
    let child = command(&cli, Some(&cloud), &args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_for("the instance to exist", Duration::from_secs(60), || {
        !cloud.instances().is_empty()
    });
    let pid = child.id().to_string();
    assert!(Command::new("kill")
        .args(["-INT", &pid])
        .status()
        .unwrap()
        .success());
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert_eq!(
        cloud.instances(),
        Vec::<serde_json::Value>::new(),
        "SIGINT left an instance:\n{stderr}"
    );
    cli.assert_failed_create_left_nothing_healthy("fc3");
}

#[test]
fn after_sigkill_during_the_plugins_create_rm_f_removes_the_instance() {
    let host = TestHost::start_with_docker();
    let cloud = FakeCloud::start(&host.ip, 22, &host.key.private);
    let cli = Cli::new();
    let args = create_args(&cloud, &host, "fc4", &["--fakecloud-create-delay", "30"]);
    let mut child = command(&cli, Some(&cloud), &args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_for("the instance to exist", Duration::from_secs(60), || {
        !cloud.instances().is_empty()
    });
    // the config the plugin holds is read every second: let one read happen
    std::thread::sleep(Duration::from_secs(2));
    child.kill().unwrap();
    child.wait().unwrap();
    let out = call(&cli, None, &["rm", "-f", "-y", "fc4"], CREATE_TIMEOUT);
    assert!(out.success, "{out}");
    wait_for("the instance to go", Duration::from_secs(30), || {
        cloud.instances().is_empty()
    });
}

#[test]
fn an_existing_host_through_a_generic_like_plugin() {
    let host = TestHost::start_with_docker();
    let cli = Cli::new();
    let key = host.key.private.to_str().unwrap();
    ok(
        &cli,
        None,
        &[
            "create",
            "-d",
            "sshhost",
            "--sshhost-ip-address",
            &host.ip,
            "--sshhost-ssh-user",
            &host.user,
            "--sshhost-ssh-key",
            key,
            "sh1",
        ],
    );
    let env = cli.env("sh1");
    docker_ok(&env, &["info", "--format", "{{.ServerVersion}}"]);
    let ls = ok(&cli, None, &["ls"]);
    assert!(
        ls.lines()
            .any(|l| l.starts_with("sh1") && l.contains("Running")),
        "{ls}"
    );
    // the plugin's own error, with the call that failed
    let out = call(&cli, None, &["stop", "sh1"], CREATE_TIMEOUT);
    assert!(
        !out.success && out.stderr.contains("does not support stop"),
        "{out}"
    );
    ok(&cli, None, &["rm", "-y", "sh1"]);
}

#[test]
fn a_plugin_that_never_prints_its_address_is_an_error_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let plugin = dir.path().join("docker-machine-driver-mute");
    std::fs::write(&plugin, "#!/bin/sh\necho starting >&2\nexec sleep 60\n").unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&plugin, std::fs::Permissions::from_mode(0o755)).unwrap();
    let cli = Cli::new();
    let mut cmd = cli.command(&["create", "-d", "mute", "m1"]);
    let path = std::env::var_os("PATH").unwrap_or_default();
    let mut dirs = vec![dir.path().to_path_buf()];
    dirs.extend(std::env::split_paths(&path));
    cmd.env("PATH", std::env::join_paths(dirs).unwrap());
    let start = Instant::now();
    let out = machine_e2e::call(
        &mut cmd,
        &["create", "-d", "mute", "m1"],
        Duration::from_secs(60),
    );
    assert!(!out.success);
    assert!(
        start.elapsed() < Duration::from_secs(40),
        "{:?}",
        start.elapsed()
    );
    assert!(
        out.stderr.contains("docker-machine-driver-mute")
            && out.stderr.contains("printed no address"),
        "{out}"
    );
}

#[test]
fn the_conformance_kit_passes_plugins_through_the_bridge_old_and_new() {
    let host = TestHost::start_with_docker();
    let cloud = FakeCloud::start(&host.ip, 22, &host.key.private);
    for plugin in [
        "docker-machine-driver-fakecloud",
        "docker-machine-driver-fakecloud-old",
    ] {
        let out = Command::new(workspace_bin("machine-driver-check"))
            .env("FAKECLOUD_ACCESS_KEY", &cloud.access_key)
            .env("FAKECLOUD_SECRET_KEY", &cloud.secret_key)
            .args([
                "--option",
                &format!("fakecloud-api-url={}", cloud.url),
                "--option",
                &format!("fakecloud-ssh-user={}", host.user),
            ])
            .arg(workspace_bin("machine-plugin-bridge"))
            .arg(plugins_dir().join(plugin))
            .output()
            .unwrap();
        let report = String::from_utf8_lossy(&out.stdout);
        eprintln!(
            "{plugin}:\n{report}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            out.status.success(),
            "{plugin} through the bridge fails the kit:\n{report}"
        );
        assert!(!report.contains("\nskip  create"), "{report}");
        assert_eq!(
            cloud.instances(),
            Vec::<serde_json::Value>::new(),
            "the kit's machines are all removed"
        );
    }
}

/// Docker Machine's built-in drivers come from the binary MACHINE_DOCKER_MACHINE_BIN names (the
/// sshhost test plugin stands in for it: it says which built-in it was started as), and where
/// one of ours has the name, ours stays the default and `docker-machine-NAME` is the bridged one.
#[test]
fn built_in_drivers_come_from_the_docker_machine_binary_named() {
    let cli = Cli::new();
    // without the binary: the error says how to get the built-in driver
    let out = call(
        &cli,
        None,
        &["create", "-d", "amazonec2", "a1"],
        CREATE_TIMEOUT,
    );
    assert!(
        !out.success && out.stderr.contains("MACHINE_DOCKER_MACHINE_BIN"),
        "{out}"
    );

    let host = TestHost::start_with_docker();
    let key = host.key.private.to_str().unwrap();
    let bin = plugins_dir().join("docker-machine-driver-sshhost");
    let args = [
        "--debug",
        "create",
        "-d",
        "docker-machine-generic",
        "--sshhost-ip-address",
        &host.ip,
        "--sshhost-ssh-user",
        &host.user,
        "--sshhost-ssh-key",
        key,
        "b1",
    ];
    let mut cmd = command(&cli, None, &args);
    cmd.env("MACHINE_DOCKER_MACHINE_BIN", &bin);
    let out = machine_e2e::call(&mut cmd, &args, CREATE_TIMEOUT);
    assert!(out.success, "{out}");
    assert!(
        out.stderr
            .contains("serving as the built-in driver generic"),
        "{out}"
    );
    let ls = ok(&cli, None, &["ls"]);
    assert!(
        ls.lines()
            .any(|l| l.starts_with("b1") && l.contains("docker-machine-generic")),
        "{ls}"
    );
    // `generic` is still ours
    let help = ok(&cli, None, &["create", "-d", "generic", "--help"]);
    assert!(help.contains("--generic-ip-address"), "{help}");
    let mut cmd = command(&cli, None, &["rm", "-y", "b1"]);
    cmd.env("MACHINE_DOCKER_MACHINE_BIN", &bin);
    let out = machine_e2e::call(&mut cmd, &["rm", "-y", "b1"], CREATE_TIMEOUT);
    assert!(out.success, "{out}");
}

/// A driver with no SSH, as Docker Machine's `none`: the machine is a daemon registered by its
/// URL, not provisioned (Docker Machine did not either), reached with the store's client
/// certificate. Here the daemon is one this store provisioned with the generic driver, so it
/// trusts the store's CA; `ssh` says the machine has none, and `rm` removes only the record.
#[test]
fn a_daemon_registered_by_its_url_like_docker_machines_none() {
    let host = TestHost::start_with_docker();
    let cli = Cli::new();
    let out = cli.create_on(&host, &[], "base");
    assert!(out.success, "{out}");
    let url = format!("tcp://{}:2376", host.ip);
    let started = host.exec("systemctl show -p ActiveEnterTimestampMonotonic docker");

    let out = call(
        &cli,
        None,
        &["create", "-d", "urlonly", "--url", &url, "n1"],
        CREATE_TIMEOUT,
    );
    assert!(out.success, "{out}");
    assert!(
        out.stdout.contains("not provisioned") || out.stderr.contains("not provisioned"),
        "{out}"
    );
    assert_eq!(
        host.exec("systemctl show -p ActiveEnterTimestampMonotonic docker"),
        started,
        "registering a daemon must not touch it"
    );
    let ls = ok(&cli, None, &["ls"]);
    assert!(
        ls.lines()
            .any(|l| l.starts_with("n1") && l.contains("Running") && l.contains(&url)),
        "{ls}"
    );
    assert_eq!(ok(&cli, None, &["url", "n1"]).trim(), url);
    let env = machine_e2e::support::parse_exports(&ok(&cli, None, &["env", "n1"]));
    let info = docker_ok(&env, &["info", "--format", "{{.Name}}"]);
    assert!(!info.trim().is_empty());
    let out = call(&cli, None, &["ssh", "n1", "true"], CREATE_TIMEOUT);
    assert!(!out.success && out.stderr.contains("no SSH"), "{out}");
    let out = call(&cli, None, &["stop", "n1"], CREATE_TIMEOUT);
    assert!(
        !out.success && out.stderr.contains("cannot be stopped"),
        "{out}"
    );

    ok(&cli, None, &["rm", "-y", "n1"]);
    // the daemon is untouched and still serves the machine that provisioned it
    docker_ok(&cli.env("base"), &["version"]);
}
