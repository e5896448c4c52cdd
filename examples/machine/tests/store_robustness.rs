//! The store as a user meets it through the CLI: a broken machine folder shows up as one error
//! row and never hides the others; `rm -f` clears it; names are validated before anything is
//! written; concurrent creates of one name cannot both win.

mod common;

use common::{machine, text};

#[test]
fn broken_folders_are_one_row_each_and_rm_f_removes_them() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store");
    let m = store.join("machines");
    std::fs::create_dir_all(m.join("torn")).unwrap();
    std::fs::write(m.join("torn/config.json"), b"{\"config_version\": 1, \"na").unwrap();
    std::fs::create_dir_all(m.join("empty")).unwrap();
    private(&store);

    let ls = machine(&store, &["ls"]);
    assert!(ls.status.success(), "{}", text(&ls));
    let out = String::from_utf8_lossy(&ls.stdout);
    let torn = out.lines().find(|l| l.starts_with("torn ")).expect(&out);
    assert!(
        torn.contains("Error") && torn.contains("config.json"),
        "{torn}"
    );
    let empty = out.lines().find(|l| l.starts_with("empty ")).expect(&out);
    assert!(empty.contains("Error"), "{empty}");

    let q = machine(&store, &["ls", "-q"]);
    assert_eq!(String::from_utf8_lossy(&q.stdout), "empty\ntorn\n");

    // without -f, rm refuses a folder it cannot read, and says how
    let rm = machine(&store, &["rm", "-y", "torn"]);
    assert!(!rm.status.success());
    assert!(text(&rm).contains("rm -f torn"), "{}", text(&rm));
    let rm = machine(&store, &["rm", "-f", "-y", "torn", "empty"]);
    assert!(rm.status.success(), "{}", text(&rm));
    assert!(!m.join("torn").exists() && !m.join("empty").exists());
}

#[test]
fn the_store_is_private_and_bad_names_write_nothing() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store");
    let out = machine(
        &store,
        &[
            "create",
            "-d",
            "generic",
            "--generic-ip-address",
            "192.0.2.1",
            "bad_name!",
        ],
    );
    assert!(!out.status.success());
    assert!(
        text(&out).contains("invalid machine name"),
        "{}",
        text(&out)
    );
    let mode = std::fs::metadata(&store).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o700);
    assert_eq!(
        std::fs::read_dir(store.join("machines")).unwrap().count(),
        0
    );
}

#[test]
fn missing_machines_say_so() {
    let dir = tempfile::tempdir().unwrap();
    for cmd in [
        &["status", "ghost"][..],
        &["env", "ghost"],
        &["ip", "ghost"],
        &["inspect", "ghost"],
        &["rm", "-y", "ghost"],
    ] {
        let out = machine(&dir.path().join("store"), cmd);
        assert!(!out.status.success(), "{cmd:?}");
        assert!(
            text(&out).contains("\"ghost\" does not exist"),
            "{cmd:?}: {}",
            text(&out)
        );
    }
}

#[test]
fn env_unset_needs_no_machine() {
    let dir = tempfile::tempdir().unwrap();
    let out = machine(
        &dir.path().join("store"),
        &["env", "--unset", "--shell", "bash"],
    );
    assert!(out.status.success());
    let s = String::from_utf8_lossy(&out.stdout);
    for v in [
        "DOCKER_TLS_VERIFY",
        "DOCKER_HOST",
        "DOCKER_CERT_PATH",
        "DOCKER_MACHINE_NAME",
    ] {
        assert!(s.contains(&format!("unset {v}")), "{s}");
    }
}

#[test]
fn tls_flags_give_the_store_its_ca_and_client_certificate() {
    use machine_core::testing::cert;
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store");
    let write = |name: &str, text: &str| {
        let p = dir.path().join(name);
        std::fs::write(&p, text).unwrap();
        p.display().to_string()
    };
    let ca = cert::new_ca("test").unwrap();
    let client = cert::new_client(&ca, "test").unwrap();
    let (ca_cert, ca_key) = (write("ca.pem", &ca.cert), write("ca-key.pem", &ca.key));
    let (c_cert, c_key) = (
        write("cert.pem", &client.cert),
        write("key.pem", &client.key),
    );
    let tls = |ca_cert: &str, c_cert: &str| {
        vec![
            "--tls-ca-cert".to_string(),
            ca_cert.to_string(),
            "--tls-ca-key".into(),
            ca_key.clone(),
            "--tls-client-cert".into(),
            c_cert.to_string(),
            "--tls-client-key".into(),
            c_key.clone(),
            "ls".into(),
        ]
    };
    let args = tls(&ca_cert, &c_cert);
    let out = machine(&store, &args.iter().map(String::as_str).collect::<Vec<_>>());
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(
        std::fs::read_to_string(store.join("certs/ca.pem")).unwrap(),
        ca.cert
    );
    assert_eq!(
        std::fs::read_to_string(store.join("certs/cert.pem")).unwrap(),
        client.cert
    );

    // some but not all of the four
    let out = machine(&store, &["--tls-ca-cert", &ca_cert, "ls"]);
    assert!(!out.status.success());
    assert!(
        text(&out).contains("--tls-ca-key is missing"),
        "{}",
        text(&out)
    );

    // a client certificate of another CA
    let other = cert::new_ca("other").unwrap();
    let foreign = cert::new_client(&other, "other").unwrap();
    let f_cert = write("foreign.pem", &foreign.cert);
    let mut args = tls(&ca_cert, &f_cert);
    // ... with the key of another certificate
    let out = machine(&store, &args.iter().map(String::as_str).collect::<Vec<_>>());
    assert!(
        text(&out).contains("the client key does not belong to the client certificate"),
        "{}",
        text(&out)
    );
    // ... with its own key
    args[7] = write("foreign-key.pem", &foreign.key);
    let out = machine(&store, &args.iter().map(String::as_str).collect::<Vec<_>>());
    assert!(
        text(&out).contains("not signed by the CA"),
        "{}",
        text(&out)
    );

    // a store that already trusts another CA is left alone
    let other_cert = write("other-ca.pem", &other.cert);
    let mut args = tls(&other_cert, &f_cert);
    args[3] = write("other-ca-key.pem", &other.key);
    args[7] = write("foreign-key.pem", &foreign.key);
    let out = machine(&store, &args.iter().map(String::as_str).collect::<Vec<_>>());
    assert!(!out.status.success());
    assert!(
        text(&out).contains("already has another CA"),
        "{}",
        text(&out)
    );
    assert_eq!(
        std::fs::read_to_string(store.join("certs/ca.pem")).unwrap(),
        ca.cert
    );
}

/// Makes the store folder and its `machines` folder private, as `machine` requires of a store.
fn private(store: &std::path::Path) {
    use std::os::unix::fs::PermissionsExt;
    for d in [store.to_path_buf(), store.join("machines")] {
        std::fs::set_permissions(&d, std::fs::Permissions::from_mode(0o700)).unwrap();
    }
}
