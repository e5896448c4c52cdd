//! A store written by the previous release (config version 1, tests/e2e/fixtures/store-v1)
//! loads and works after the redesign: the machine is listed, reached over SSH with the key its
//! host accepts (version 1 used a copy of the user's key), provisioned again, driven with the
//! docker client, and removed — without taking the user's key off the host.

use machine_e2e::{docker_ok, timed, Cli};
use machine_testsupport::TestHost;
use std::path::Path;

const FIXTURE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/store-v1");

/// Copies the fixture's store into `to`, filling in the placeholders for `host`.
fn install_fixture(to: &Path, host: &TestHost) {
    use std::os::unix::fs::PermissionsExt;
    let host_key = host.exec("cat /etc/ssh/ssh_host_ed25519_key.pub");
    let host_key: Vec<&str> = host_key.split_whitespace().take(2).collect();
    let host_key = host_key.join(" ");
    let from = Path::new(FIXTURE).join("store");
    for entry in walk(&from) {
        let rel = entry.strip_prefix(&from).unwrap();
        let dest = to.join(rel);
        if entry.is_dir() {
            std::fs::create_dir_all(&dest).unwrap();
            std::fs::set_permissions(&dest, std::fs::Permissions::from_mode(0o700)).unwrap();
            continue;
        }
        let text = std::fs::read_to_string(&entry).unwrap();
        let text = text
            .replace("@IP@", &host.ip)
            .replace("@HOSTKEY@", &host_key)
            .replace("@STORE@", to.to_str().unwrap());
        std::fs::write(&dest, text).unwrap();
        // keys private, as the store requires
        let key = rel.to_string_lossy().contains("key");
        let mode = if !key && rel.extension().is_some_and(|e| e == "pem" || e == "pub") {
            0o644
        } else {
            0o600
        };
        std::fs::set_permissions(&dest, std::fs::Permissions::from_mode(mode)).unwrap();
    }
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = vec![dir.to_path_buf()];
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out.sort();
    out
}

#[test]
fn a_version_1_store_loads_and_works() {
    let host = timed("test host start", TestHost::start_with_docker);
    // the host accepts the user's key the fixture's machine was created with
    let user_key = std::fs::read_to_string(Path::new(FIXTURE).join("user-key.pub")).unwrap();
    host.exec(&format!(
        "echo '{}' >> /home/nick/.ssh/authorized_keys",
        user_key.trim()
    ));
    let cli = Cli::new();
    install_fixture(cli.store(), &host);

    // listed, with the driver and state it has; no Docker on this new host yet
    let table = cli.ls();
    let row = table
        .row("old1")
        .unwrap_or_else(|| panic!("the old machine is not listed:\n{}", table.raw));
    assert_eq!(row["DRIVER"], "generic", "{}", table.raw);
    assert_eq!(row["STATE"], "Running", "{}", table.raw);
    assert_eq!(
        cli.ok(&["url", "old1"]).trim(),
        format!("tcp://{}:2376", host.ip)
    );

    // reached over SSH with the key the host accepts, the recorded host key checked
    assert_eq!(cli.ok(&["ssh", "old1", "hostname"]).trim(), host.name);
    // the record was upgraded: config version 2, the user's key copy is the machine's key
    let dir = cli.machine_dir("old1");
    let config: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("config.json")).unwrap()).unwrap();
    assert_eq!(config["config_version"], 2, "{config}");
    assert!(config["driver_config"].get("ssh_key").is_none(), "{config}");
    assert_eq!(
        std::fs::read(dir.join("id_ed25519")).unwrap(),
        std::fs::read(dir.join("id_generic")).unwrap()
    );

    // provisioned again (Docker from the packages, as recorded), then driven with docker
    let out = timed("provision old1", || {
        cli.call_with_timeout(&["provision", "old1"], machine_e2e::CREATE_TIMEOUT)
    });
    assert!(out.success, "provision of the old machine failed:\n{out}");
    let env = cli.env("old1");
    let version = docker_ok(&env, &["version", "--format", "{{.Server.Version}}"]);
    assert!(!version.trim().is_empty());
    let labels = docker_ok(&env, &["info", "--format", "{{json .Labels}}"]);
    assert!(
        labels.contains("env=legacy"),
        "the recorded engine label: {labels}"
    );
    let row = cli.ls();
    let row = row.row("old1").unwrap();
    assert_eq!(row["ERRORS"], "", "{row:?}");

    // removed; the user's own key stays on the host
    cli.ok(&["rm", "-y", "old1"]);
    assert!(cli.ls().row("old1").is_none());
    let authorized = host.exec("cat /home/nick/.ssh/authorized_keys");
    assert!(
        authorized.contains(user_key.trim()),
        "rm took the user's key off the host:\n{authorized}"
    );
}
