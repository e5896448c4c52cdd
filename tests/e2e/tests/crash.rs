//! A `machine create` killed half-way through (the workstation crashed, the user pressed ^C):
//! the store stays readable, `ls` shows the machine as unfinished rather than healthy, `rm`
//! removes it, and creating it again on the same host works — even though the package install
//! on the host was cut off in the middle.

use machine_e2e::{docker_ok, timed, unique_name, Cli};
use machine_testsupport::TestHost;
use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::sync::mpsc;
use std::time::Duration;

#[test]
fn a_create_killed_while_installing_leaves_a_machine_rm_removes() {
    let cli = Cli::new();
    let host = timed("test host start", || TestHost::start("bookworm"));
    let name = unique_name("e2e-crash");
    let key = host.key.private.to_str().unwrap().to_string();
    let args = [
        "create",
        "-d",
        "generic",
        "--generic-ip-address",
        &host.ip,
        "--generic-ssh-user",
        &host.user,
        "--generic-ssh-key",
        &key,
        "--engine-install-method",
        "packages",
        &name,
    ];
    let mut child = cli
        .command(&args)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("machine create");
    // progress goes to stderr (stdout is for results)
    let stdout = child.stderr.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            eprintln!("create: {line}");
            if line.contains("Installing Docker") {
                let _ = tx.send(());
            }
        }
    });
    rx.recv_timeout(Duration::from_secs(120))
        .expect("create never reached the Docker install");
    // let apt get going on the host, then kill the workstation side outright
    std::thread::sleep(Duration::from_secs(4));
    child.kill().unwrap();
    child.wait().unwrap();

    let table = cli.ls();
    let row = table.row(&name).expect("the unfinished machine is listed");
    assert!(
        row["ERRORS"].contains("did not finish"),
        "an unfinished create must not look healthy: {row:?}"
    );
    // its config is intact: inspect reads it
    let inspect = cli.ok(&["inspect", "--format", "{{.Phase}}", &name]);
    assert_eq!(inspect.trim(), "creating");

    cli.ok(&["rm", "-y", &name]);
    assert!(!cli.machine_dir(&name).exists());

    // the host's package manager may have been cut off mid-install; creating again still works
    let out = timed("create again", || {
        cli.create_on(&host, &["--engine-install-method", "packages"], &name)
    });
    assert!(out.success, "create after a killed create failed:\n{out}");
    let env = cli.env(&name);
    let server = docker_ok(&env, &["version", "--format", "{{.Server.Version}}"]);
    assert!(!server.trim().is_empty());
    cli.ok(&["rm", "-y", &name]);
}
