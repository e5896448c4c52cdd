//! GitLab Runner's docker+machine executor, replayed: the calls its `machineCommand` makes
//! (gitlab-runner's executors/docker/machine/machine_command.go, read from its public source),
//! in its order, against `machine` installed under the name `docker-machine`, with
//! MACHINE_STORAGE_PATH set as the runner sets it, on a real test host:
//!
//! - `docker-machine --bugsnag-api-token=no-report create --driver generic --OPT=V ... NAME`
//! - List: the folders under $MACHINE_STORAGE_PATH/machines (read directly, no command)
//! - Exist: $MACHINE_STORAGE_PATH/machines/NAME/config.json exists and `inspect NAME` succeeds
//! - CanConnect: `config NAME` succeeds
//! - Credentials: `url NAME`, `inspect NAME -f {{.HostOptions.AuthOptions.StorePath}}`, then
//!   the docker client with TLS from that folder
//! - `status NAME` (Running), `ip NAME`, `provision NAME`
//! - Remove: `rm -y NAME`; ForceRemove: `rm -f NAME`
//!
//! Needs scripts/test-env.sh and `cargo build --workspace --bins` (scripts/test.sh does both).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use machine_e2e::support::{self, FileServer, TestHost};
use machine_e2e::{call, install_script, timed, unique_name, workspace_bin, CallOutput};

/// `docker-machine ARGS` as the runner runs it: the crash-report flag first, the store in
/// MACHINE_STORAGE_PATH.
fn docker_machine(bin: &Path, store: &Path, args: &[&str], timeout: Duration) -> CallOutput {
    let mut cmd = Command::new(bin);
    for v in support::docker::DOCKER_ENV_VARS {
        cmd.env_remove(v);
    }
    cmd.env("MACHINE_STORAGE_PATH", store)
        .arg("--bugsnag-api-token=no-report")
        .args(args);
    call(&mut cmd, args, timeout)
}

#[test]
fn gitlab_runner_docker_machine_sequence() {
    let machine = workspace_bin("machine");
    workspace_bin("machine-driver-generic");
    // installed under Docker Machine's name (what the install script's link makes)
    let bin_dir = tempfile::tempdir().unwrap();
    let link: PathBuf = bin_dir.path().join("docker-machine");
    std::os::unix::fs::symlink(&machine, &link).unwrap();
    std::os::unix::fs::symlink(
        machine.with_file_name("machine-driver-generic"),
        bin_dir.path().join("machine-driver-generic"),
    )
    .unwrap();
    let store_dir = tempfile::tempdir().unwrap();
    let store = store_dir.path().join("machine");

    let host = timed("test host start", TestHost::start_with_docker);
    let server = FileServer::start("/install.sh", install_script());
    let name = unique_name("runner");
    let (short, long) = (Duration::from_secs(60), Duration::from_secs(600));
    let dm = |args: &[&str], t: Duration| docker_machine(&link, &store, args, t);

    // Create, with options as the runner passes them (`--` + "KEY=VALUE")
    let key = host.key.private.to_str().unwrap();
    let opts = [
        format!("--generic-ip-address={}", host.ip),
        format!("--generic-ssh-user={}", host.user),
        format!("--generic-ssh-key={key}"),
        format!("--engine-install-url={}", server.url()),
    ];
    let mut create = vec!["create", "--driver", "generic"];
    create.extend(opts.iter().map(String::as_str));
    create.push(&name);
    let out = timed("create", || dm(&create, long));
    assert!(out.success, "create failed:\n{out}");

    // List: the machine folders, read directly
    let listed: Vec<String> = std::fs::read_dir(store.join("machines"))
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.path().is_dir())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| !n.starts_with('.'))
        .collect();
    assert_eq!(
        listed,
        vec![name.clone()],
        "the runner lists the machines folder"
    );

    // Exist
    assert!(store
        .join("machines")
        .join(&name)
        .join("config.json")
        .is_file());
    assert!(dm(&["inspect", &name], short).success);
    assert!(!dm(&["inspect", "not-there"], short).success);

    // CanConnect, Credentials
    assert!(dm(&["config", &name], short).success, "config must succeed");
    let url = dm(&["url", &name], short);
    assert_eq!(
        url.stdout.trim(),
        format!("tcp://{}:2376", host.ip),
        "{url}"
    );
    let cert_path = dm(
        &[
            "inspect",
            &name,
            "-f",
            "{{.HostOptions.AuthOptions.StorePath}}",
        ],
        short,
    );
    let cert_path = cert_path.stdout.trim().to_string();
    for f in ["ca.pem", "cert.pem", "key.pem"] {
        assert!(
            Path::new(&cert_path).join(f).is_file(),
            "{cert_path}/{f} missing"
        );
    }
    let env = vec![
        ("DOCKER_HOST".to_string(), url.stdout.trim().to_string()),
        ("DOCKER_TLS_VERIFY".to_string(), "1".to_string()),
        ("DOCKER_CERT_PATH".to_string(), cert_path.clone()),
    ];
    let server_version =
        machine_e2e::docker_ok(&env, &["version", "--format", "{{.Server.Version}}"]);
    assert!(!server_version.trim().is_empty());

    // Status, IP, Provision
    assert_eq!(dm(&["status", &name], short).stdout.trim(), "Running");
    assert_eq!(dm(&["ip", &name], short).stdout.trim(), host.ip);
    let provision = timed("provision", || dm(&["provision", &name], long));
    assert!(provision.success, "{provision}");
    assert!(dm(&["config", &name], short).success);

    // Remove (rm -y), then ForceRemove (rm -f) of a machine already gone from its host
    let rm = dm(&["rm", "-y", &name], long);
    assert!(rm.success, "{rm}");
    assert!(!store.join("machines").join(&name).exists());
    assert!(!dm(&["inspect", &name], short).success);
    let again = dm(&["rm", "-f", &name], short);
    assert!(
        !again.success,
        "rm -f of an unknown machine must fail:\n{again}"
    );
    assert!(
        again
            .stderr
            .contains(&format!("Docker machine \"{name}\" does not exist")),
        "{again}"
    );
}
