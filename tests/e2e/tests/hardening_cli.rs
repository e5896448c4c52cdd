//! Issue 20's attacks on the CLI, each reproduced against the real `machine` binary, a real
//! store and a real test host, checked as the user would check them: a store reached through a
//! symbolic link (refused as a link, and the advice it prints, run as printed, works);
//! `machine config` under a store path holding shell syntax (the documented
//! `docker $(machine config NAME)`, and an `eval` of it, run nothing); a machine folder copied
//! by hand (refused, listed as broken, and `rm -f` of the copy leaves the original whole);
//! file names, mount points and user names that look like options of rsync, scp, sshfs and ssh
//! (taken as names, or refused, and never run); control characters from a host's
//! `/etc/os-release`, a driver's progress and errors, and a stray folder's name (shown escaped,
//! never acted on; JSON keeps its own escapes).
//!
//! Needs scripts/test-env.sh and `cargo build --workspace --bins`; nothing here skips.

use std::path::Path;
use std::process::Command;

use machine_e2e::support::TestHost;
use machine_e2e::{call, unique_name, workspace_bin, CallOutput, Cli, CALL_TIMEOUT};

/// A folder only its owner may access, as a store's parent may well be.
fn private_tempdir() -> tempfile::TempDir {
    tempfile::Builder::new()
        .permissions(std::os::unix::fs::PermissionsExt::from_mode(0o700))
        .tempdir()
        .expect("tempdir")
}

/// A bash script in which `machine` is the CLI with `docker_config` as DOCKER_CONFIG and no
/// store or docker settings inherited: the store is whatever the script gives it.
fn bash(docker_config: &Path, script: &str) -> CallOutput {
    let full = format!(
        "machine() {{ '{}' \"$@\"; }}\nset -e\n{script}",
        workspace_bin("machine").display()
    );
    let mut cmd = Command::new("bash");
    cmd.arg("-c").arg(&full);
    for v in machine_e2e::support::docker::DOCKER_ENV_VARS {
        cmd.env_remove(v);
    }
    cmd.env_remove("MACHINE_STORAGE_PATH")
        .env("DOCKER_CONFIG", docker_config);
    call(&mut cmd, &["(bash)", script], CALL_TIMEOUT)
}

/// The commands an error's advice gives, in backquotes, in order.
fn advised_commands(stderr: &str) -> Vec<String> {
    stderr
        .split('`')
        .skip(1)
        .step_by(2)
        .map(str::to_string)
        .collect()
}

/// A machine on a fresh test host (Docker already there), in `cli`'s store.
fn machine_on_host(cli: &Cli, prefix: &str) -> (TestHost, String) {
    let host = TestHost::start_with_docker();
    let name = unique_name(prefix);
    let out = cli.create_on(&host, &["--engine-install-method", "packages"], &name);
    assert!(out.success, "create failed:\n{out}");
    (host, name)
}

/// Item 10: `--storage-path LINK` to a store with a machine in it is refused saying it is a
/// link and where it leads (not "accessible to others" with a `chmod` that would change the
/// store it leads to), and each fix it advises, run as printed, reaches the machine: the folder
/// itself by flag, by MACHINE_STORAGE_PATH, and moved into the link's place.
#[test]
fn a_linked_store_is_refused_as_a_link_and_its_advice_works() {
    let cli = Cli::new();
    let (_host, name) = machine_on_host(&cli, "linked");
    let real = cli.store().to_path_buf();
    let links = private_tempdir();
    let link = links.path().join("machine");
    std::os::unix::fs::symlink(&real, &link).unwrap();
    let ls = "ls --format '{{.Name}} {{.State}}'";
    let running = format!("{name} Running\n");

    let out = bash(
        cli.docker_config(),
        &format!("machine --storage-path '{}' {ls}", link.display()),
    );
    assert!(!out.success, "a linked store was used:\n{out}");
    assert!(
        out.stderr.contains(&format!(
            "{} is a symbolic link to {}",
            link.display(),
            real.display()
        )),
        "the error must say the store is a link and where it leads:\n{out}"
    );
    assert!(
        !out.stderr.contains("chmod") && !out.stderr.contains("accessible to others"),
        "a chmod would change the store the link leads to, not the link:\n{out}"
    );
    let advice = advised_commands(&out.stderr);
    assert_eq!(advice.len(), 3, "three ways out:\n{out}");
    // by flag, then by the environment, as printed
    let by_flag = bash(cli.docker_config(), &format!("machine {} {ls}", advice[0]));
    assert_eq!(by_flag.stdout, running, "{by_flag}");
    let by_env = bash(
        cli.docker_config(),
        &format!("export {}\nmachine {ls}", advice[1]),
    );
    assert_eq!(by_env.stdout, running, "{by_env}");
    // the store moved into the link's place: the path first given works as it is
    let moved = bash(cli.docker_config(), &advice[2]);
    assert!(moved.success, "{moved}");
    assert!(!real.exists() && !link.is_symlink(), "{moved}");
    let at_link = bash(
        cli.docker_config(),
        &format!(
            "machine --storage-path '{}' {ls}\nmachine --storage-path '{}' rm -y {name}",
            link.display(),
            link.display()
        ),
    );
    assert!(at_link.stdout.starts_with(&running), "{at_link}");
    assert!(at_link.success, "{at_link}");
}

/// Item 11: a store whose path holds `$(...)`, backquotes, a space and a glob. `machine config`
/// refuses to print flags a shell would split or run (nothing on stdout, advice naming `env`),
/// so neither the documented `docker $(machine config NAME) CMD` nor an
/// `eval "docker $(machine config NAME) CMD"` runs anything; moved to a plain path, the same
/// store prints Docker Machine's lines and the documented use reaches the daemon.
#[test]
fn config_output_runs_nothing_the_store_path_holds() {
    let base = private_tempdir();
    let hostile = base.path().join("st $(touch pwned) `touch pwned2` *");
    let docker_config = private_tempdir();
    let host = TestHost::start_with_docker();
    let name = unique_name("config");
    let at = |store: &Path, script: &str| {
        bash(
            docker_config.path(),
            &format!(
                "export MACHINE_STORAGE_PATH={}\n{script}",
                quoted(&store.display().to_string())
            ),
        )
    };
    let out = at(
        &hostile,
        &format!(
            "machine create -d generic --generic-ip-address {} --generic-ssh-user {} \
             --generic-ssh-key '{}' --engine-install-method packages {name}",
            host.ip,
            host.user,
            host.key.private.display()
        ),
    );
    assert!(out.success, "create failed:\n{out}");

    let out = at(&hostile, &format!("machine config {name}"));
    assert!(!out.success, "{out}");
    assert_eq!(
        out.stdout, "",
        "nothing a shell could run may be printed:\n{out}"
    );
    assert!(
        out.stderr.contains("--tlscacert") && out.stderr.contains(&format!("machine env {name}")),
        "the error names the flag and what to use instead:\n{out}"
    );
    // both uses, in an empty folder (the glob has nothing to match): nothing ran
    let cwd = private_tempdir();
    for script in [
        format!("docker $(machine config {name}) version || true"),
        format!("eval \"docker $(machine config {name}) version\" || true"),
    ] {
        let out = at(
            &hostile,
            &format!("cd '{}'\n{script}", cwd.path().display()),
        );
        let made: Vec<_> = std::fs::read_dir(cwd.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert!(
            made.is_empty(),
            "`{script}` ran the store path: made {made:?}\n{out}"
        );
    }

    // the same store at a plain path: Docker Machine's lines, and docker reaches the daemon
    let plain = base.path().join("plain");
    std::fs::rename(&hostile, &plain).unwrap();
    let out = at(&plain, &format!("machine config {name}"));
    let dir = plain.join("machines").join(&name);
    assert_eq!(
        out.stdout,
        format!(
            "--tlsverify\n--tlscacert=\"{d}/ca.pem\"\n--tlscert=\"{d}/cert.pem\"\n\
             --tlskey=\"{d}/key.pem\"\n-H=tcp://{ip}:2376\n",
            d = dir.display(),
            ip = host.ip
        ),
        "{out}"
    );
    let out = at(
        &plain,
        &format!(
            "docker $(machine config {name}) version --format '{{{{.Server.Version}}}}'\n\
             machine rm -y {name}"
        ),
    );
    assert!(out.success, "{out}");
    assert!(
        out.stdout.starts_with(|c: char| c.is_ascii_digit()),
        "docker must get the daemon's version:\n{out}"
    );
}

/// POSIX single quotes, for paths put in the scripts above.
fn quoted(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}

/// The docker client with `docker_config` as DOCKER_CONFIG and nothing else of the
/// environment's docker settings.
fn docker(docker_config: &Path, args: &[&str]) -> std::process::Output {
    let mut cmd = Command::new("docker");
    for v in machine_e2e::support::docker::DOCKER_ENV_VARS {
        cmd.env_remove(v);
    }
    cmd.env("DOCKER_CONFIG", docker_config).args(args);
    machine_e2e::support::run_with_timeout(&mut cmd, CALL_TIMEOUT)
}

/// Item 3: `cp -a machines/NAME machines/NAMEbak`. The copy is refused by every command with
/// an error saying whose record it is, `ls` lists it as a broken row beside the original
/// (still Running, no error), and `rm -f` of the copy removes the copy's folder only: the
/// original's folder, its docker context, its daemon's TLS port and its SSH key on the host
/// all still work.
#[test]
fn a_copied_machine_folder_is_refused_and_its_rm_leaves_the_original() {
    let cli = Cli::new();
    let (host, name) = machine_on_host(&cli, "orig");
    let copy = format!("{name}bak");
    let out = Command::new("cp")
        .arg("-a")
        .arg(cli.machine_dir(&name))
        .arg(cli.machine_dir(&copy))
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");

    let table = cli.ls();
    let orig = table.row(&name).expect("the original is listed");
    assert_eq!(
        (orig["STATE"].as_str(), orig["ERRORS"].as_str()),
        ("Running", ""),
        "{}",
        table.raw
    );
    let broken = table.row(&copy).expect("the copy is listed");
    assert_eq!(broken["STATE"], "Error", "{}", table.raw);
    assert!(
        broken["ERRORS"].contains(&format!("is machine \"{name}\"'s")),
        "the copy's row says whose record it is:\n{}",
        table.raw
    );
    let out = cli.fail(&["env", &copy]);
    assert!(
        out.stderr
            .contains(&format!("machine \"{name}\"'s, copied or renamed by hand"))
            && out
                .stderr
                .contains(&format!("`machine rm -f {copy}` removes this copy")),
        "{out}"
    );
    assert_eq!(
        out.stdout, "",
        "nothing of the original's may be printed for the copy"
    );

    let out = cli.call(&["rm", "-f", &copy]);
    assert!(out.success, "{out}");
    assert!(!cli.machine_dir(&copy).exists(), "the copy is still there");
    assert!(
        cli.machine_dir(&name).join("config.json").is_file(),
        "the original's folder went"
    );
    // the original, as its user reaches it: ls, its docker context, machine ssh
    let table = cli.ls();
    assert_eq!(table.rows.len(), 1, "{}", table.raw);
    assert_eq!(
        table.row(&name).unwrap()["STATE"],
        "Running",
        "{}",
        table.raw
    );
    let out = docker(
        cli.docker_config(),
        &[
            "--context",
            &name,
            "version",
            "--format",
            "{{.Server.Version}}",
        ],
    );
    assert!(
        out.status.success(),
        "the original's docker context or daemon port went: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        cli.ok(&["ssh", &name, "echo", "still-here"]).trim(),
        "still-here"
    );
    assert!(cli.call(&["rm", "-y", &name]).success);
    drop(host);
}

/// `machine ARGS` run in the folder `cwd`, where the system tools it starts find local paths.
fn call_in(cli: &Cli, cwd: &Path, args: &[&str]) -> CallOutput {
    let mut cmd = cli.command(args);
    cmd.current_dir(cwd);
    call(&mut cmd, args, CALL_TIMEOUT)
}

/// What the folder `dir` holds, by name.
fn names_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// Item 2: local file names, a mount point and a user name that are options of the tool they
/// reach, each of which would run `touch PWNED...` here: `machine scp -d -- '--rsh=sh -c "touch
/// PWNED"' NAME:/tmp/x` (rsync), an scp source `-oProxyCommand=...`, an sshfs mount point
/// `-ossh_command=...`, a remote command `-oProxyCommand=...` for the system ssh, and a user
/// `-oProxyCommand=...@NAME` for sshfs, scp and rsync. The
/// files are copied and the folder mounted under those very names, the user is refused naming
/// it, and nothing ran.
#[test]
fn values_shaped_like_options_reach_the_system_tools_as_names() {
    let cli = Cli::new();
    let (host, name) = machine_on_host(&cli, "options");
    // rsync on the host too, as on any real host that takes `scp -d`
    host.exec("DEBIAN_FRONTEND=noninteractive apt-get install -y -qq rsync >/dev/null");
    let cwd = private_tempdir();
    let here = cwd.path();
    let rsync_name = "--rsh=sh -c \"touch PWNED-rsync\"";
    let scp_name = "-oProxyCommand=sh -c \"touch PWNED-scp\"";
    let mount_name = "-ossh_command=sh -c \"touch PWNED-sshfs\"";
    std::fs::write(here.join(rsync_name), "by rsync\n").unwrap();
    std::fs::write(here.join(scp_name), "by scp\n").unwrap();
    std::fs::create_dir(here.join(mount_name)).unwrap();
    let before = names_in(here);

    // rsync (the issue's own reproduction) and scp: the files arrive, under the names given
    let to = |f: &str| format!("{name}:/tmp/{f}");
    let out = call_in(
        &cli,
        here,
        &["scp", "-d", "--", rsync_name, &to("by-rsync")],
    );
    assert!(out.success, "{out}");
    let out = call_in(&cli, here, &["scp", "--", scp_name, &to("by-scp")]);
    assert!(out.success, "{out}");
    assert_eq!(
        cli.ok(&["ssh", &name, "cat", "/tmp/by-rsync", "/tmp/by-scp"]),
        "by rsync\nby scp\n"
    );
    // and back, to local names shaped like options
    let back = "--rsh=sh -c \"touch PWNED-back\"";
    let out = call_in(&cli, here, &["scp", "-d", "--", &to("by-rsync"), back]);
    assert!(out.success, "{out}");
    assert_eq!(
        std::fs::read_to_string(here.join(back)).unwrap(),
        "by rsync\n"
    );
    std::fs::remove_file(here.join(back)).unwrap();

    // sshfs: the folder of that name is the mount point
    let out = call_in(
        &cli,
        here,
        &["mount", "--", &format!("{name}:/tmp"), mount_name],
    );
    assert!(out.success, "{out}");
    let mounted = names_in(&here.join(mount_name));
    let out = call_in(
        &cli,
        here,
        &["mount", "-u", "--", &format!("{name}:/tmp"), mount_name],
    );
    assert!(out.success, "{out}");
    assert!(
        mounted.contains(&"by-scp".to_string()),
        "the machine's /tmp was not mounted there: {mounted:?}"
    );

    // the system ssh (-t): words after the name are the remote command, never ssh's options
    let out = call_in(
        &cli,
        here,
        &[
            "ssh",
            "-t",
            &name,
            "-oProxyCommand=sh -c 'touch PWNED-ssh'",
            "true",
        ],
    );
    assert!(!out.success, "the remote shell has no such command:\n{out}");

    // a user name that is an option: refused before any tool starts, for every tool
    let user = "-oProxyCommand=sh -c \"touch PWNED-user\"";
    for args in [
        vec!["mount", "--", &*format!("{user}@{name}:/tmp"), mount_name],
        vec!["scp", "--", scp_name, &*format!("{user}@{name}:/tmp/u")],
        vec![
            "scp",
            "-d",
            "--",
            scp_name,
            &*format!("{user}@{name}:/tmp/u"),
        ],
    ] {
        let out = call_in(&cli, here, &args);
        assert!(!out.success, "{out}");
        assert!(
            out.stderr.contains(&format!("{user:?}")) && out.stderr.contains("user name"),
            "the error names the user and why:\n{out}"
        );
    }

    assert_eq!(
        names_in(here),
        before,
        "a value given as a name ran as an option"
    );
}

/// Text that would repaint a terminal and forge a line of ours.
const FORGERY: &str = "\u{1b}[2J\u{1b}[H\rDocker is up and running!\n\u{9b}31m";

/// Asserts that `text` holds no character that acts on a terminal but the newline, and that no
/// line of it passes for `Docker is up and running!` of ours.
fn assert_inert(text: &str, what: &str) {
    let acting: Vec<char> = text
        .chars()
        .filter(|c| c.is_control() && *c != '\n')
        .collect();
    assert!(
        acting.is_empty(),
        "{what}: {acting:?} reached the terminal:\n{text}"
    );
    assert!(
        !text
            .lines()
            .any(|l| l.starts_with("Docker is up and running!")),
        "{what}: a forged line:\n{text}"
    );
}

/// Item 7: control characters from outside reach the terminal escaped. A host whose
/// `/etc/os-release` names itself with escape sequences and a line of ours (create's error
/// quotes it), a stray folder of such a name in the store (`ls`, `ls -q`; `ls --format json`
/// keeps JSON's escape), and a driver whose progress and error say the same (create's
/// progress line escapes all of it; its error keeps the newline but indents what follows, so
/// no line passes for ours).
#[test]
fn text_from_outside_is_shown_escaped() {
    let escaped = "\\u{1b}[2J\\u{1b}[H\\rDocker is up and running!\\n\\u{9b}31m";
    let cli = Cli::new();

    // a host that names itself with escape sequences; no Docker there and an unknown OS, so
    // create's error quotes the name
    let host = TestHost::start("bookworm");
    let pretty = FORGERY.replace('\\', "\\\\");
    host.exec(&format!(
        "printf 'ID=hostile\nPRETTY_NAME=\"%s\"\n' {} > /etc/os-release.new && \
         mv /etc/os-release.new /etc/os-release",
        quoted(&pretty)
    ));
    let out = cli.create_on(&host, &[], "hostile-os");
    assert!(!out.success, "{out}");
    // (os-release is read line by line: the name ends at its newline)
    let first_line = escaped.split("\\n").next().unwrap();
    assert!(
        out.stderr.contains(&format!("({first_line})")),
        "the OS's name, escaped:\n{out}"
    );
    assert_inert(&out.stderr, "create's error");
    cli.call(&["rm", "-f", "-y", "hostile-os"]);

    // a stray folder in the store
    std::fs::create_dir_all(cli.store().join("machines").join(format!("stray{FORGERY}"))).unwrap();
    let out = cli.call(&["ls"]);
    assert!(out.success, "{out}");
    assert!(out.stdout.contains(&format!("stray{escaped}")), "{out}");
    assert_inert(&out.stdout, "ls");
    let out = cli.call(&["ls", "-q"]);
    assert_eq!(out.stdout, format!("stray{escaped}\n"), "{out}");
    let out = cli.call(&["ls", "--format", "json"]);
    let row: serde_json::Value = serde_json::from_str(out.stdout.trim()).unwrap();
    assert_eq!(
        row["Name"],
        format!("stray{FORGERY}"),
        "JSON keeps the name, escaped its way"
    );
    assert!(out.stdout.contains("\\u001b"), "{out}");
    std::fs::remove_dir(cli.store().join("machines").join(format!("stray{FORGERY}"))).unwrap();

    // a driver's progress and error
    let drivers = private_tempdir();
    let driver = drivers.path().join("machine-driver-forger");
    std::fs::write(
        &driver,
        format!(
            r#"#!/usr/bin/env python3
import json, sys
FORGERY = {forgery}
def send(o):
    sys.stdout.write(json.dumps(o) + "\n"); sys.stdout.flush()
for line in sys.stdin:
    req = json.loads(line)
    if "id" not in req:
        continue
    m, i = req["method"], req["id"]
    if m == "initialize":
        send({{"jsonrpc": "2.0", "id": i, "result": {{"name": "forger", "version": "0",
              "protocol_version": 3, "capabilities": {{}}, "options": []}}}})
    elif m == "set_config":
        send({{"jsonrpc": "2.0", "id": i, "result": {{"config": {{}}}}}})
    elif m == "pre_create_check":
        send({{"jsonrpc": "2.0", "method": "progress", "params": {{"machine": "forged",
              "step": "check", "message": "checking" + FORGERY}}}})
        send({{"jsonrpc": "2.0", "id": i, "error": {{"code": -32000,
              "message": "refused" + FORGERY, "data": {{"kind": "invalid-input"}}}}}})
    else:
        send({{"jsonrpc": "2.0", "id": i, "error": {{"code": -32000, "message": "no",
              "data": {{"kind": "not-supported"}}}}}})
"#,
            forgery = serde_json::to_string(FORGERY).unwrap()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&driver, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let mut cmd = cli.command(&["create", "-d", "forger", "forged"]);
    cmd.env(
        "PATH",
        format!(
            "{}:{}",
            drivers.path().display(),
            std::env::var("PATH").unwrap_or_default()
        ),
    );
    let out = call(
        &mut cmd,
        &["create", "-d", "forger", "forged"],
        CALL_TIMEOUT,
    );
    assert!(!out.success, "{out}");
    assert!(
        out.stderr.contains(&format!("checking{escaped}"))
            && out.stderr.contains(&format!("refused{first_line}")),
        "the driver's progress and error, escaped:\n{out}"
    );
    assert_inert(&out.stderr, "the driver's progress and error");
    assert_inert(&out.stdout, "create's output");
}
