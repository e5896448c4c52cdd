//! Issue 3 end to end: Docker Machine's commands and flags on one real machine (and a second
//! one on the same host, created through Docker Machine's environment variables), checked as a
//! user checks them: `ls` filters and formats, `inspect`, `env` for every shell, `config` as
//! docker flags, `active`, `ssh` exit codes, `scp` (both ways, -r, -d, machine to machine),
//! `mount`, `regenerate-certs`, `provision`, and the lifecycle commands on several names.
//!
//! Needs scripts/test-env.sh (Docker engine, test-host image, rsync, sshfs) and `cargo build
//! --workspace --bins`; scripts/test.sh does both. Nothing here skips: a missing piece panics.

use std::path::{Path, PathBuf};
use std::process::Command;

use machine_e2e::support::{self, TestHost};
use machine_e2e::{
    call, docker_ok, timed, unique_name, var, workspace_bin, CallOutput, Cli, CREATE_TIMEOUT,
};

/// `machine ARGS` with `env` added to its environment (after the DOCKER_* clean-up).
fn call_env(cli: &Cli, args: &[&str], env: &[(&str, &str)]) -> CallOutput {
    let mut cmd = cli.command(args);
    for (k, v) in env {
        cmd.env(k, v);
    }
    call(&mut cmd, args, machine_e2e::CALL_TIMEOUT)
}

/// A bash script run with the machine CLI as `machine` (a function passing the store), and no
/// docker settings inherited.
fn bash(cli: &Cli, script: &str) -> CallOutput {
    let bin = workspace_bin("machine");
    let full = format!(
        "machine() {{ '{}' --storage-path '{}' \"$@\"; }}\nset -e\n{script}",
        bin.display(),
        cli.store().display()
    );
    let mut cmd = Command::new("bash");
    cmd.arg("-c").arg(&full);
    for v in support::docker::DOCKER_ENV_VARS {
        cmd.env_remove(v);
    }
    cmd.env_remove("MACHINE_STORAGE_PATH");
    call(&mut cmd, &["(bash)", script], machine_e2e::CALL_TIMEOUT)
}

fn lines(s: &str) -> Vec<String> {
    s.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect()
}

/// `machine ls ARGS --format '{{.Name}}'`: the names listed.
fn ls_names(cli: &Cli, args: &[&str]) -> Vec<String> {
    let mut a = vec!["ls"];
    a.extend_from_slice(args);
    a.extend_from_slice(&["--format", "{{.Name}}"]);
    let mut names = lines(&cli.ok(&a));
    names.sort();
    names
}

/// Unmounts `dir` (if mounted) when dropped, so a failed assertion leaves no FUSE mount.
struct MountGuard(PathBuf);

impl Drop for MountGuard {
    fn drop(&mut self) {
        if is_mounted(&self.0) {
            let _ = Command::new("fusermount").arg("-u").arg(&self.0).output();
        }
    }
}

fn is_mounted(dir: &Path) -> bool {
    let dir = dir.canonicalize().unwrap_or_else(|_| dir.to_path_buf());
    std::fs::read_to_string("/proc/self/mounts")
        .map(|m| {
            m.lines()
                .any(|l| l.split_whitespace().nth(1) == Some(&*dir.to_string_lossy()))
        })
        .unwrap_or(false)
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// One machine through every read-only command, the file commands and the certificate
/// commands; then a second machine created from GENERIC_* and MACHINE_STORAGE_PATH alone, for
/// machine-to-machine copies and the lifecycle commands on several names.
#[test]
fn cli_commands_on_a_real_machine() {
    let cli = Cli::new();
    let host = timed("test host start", TestHost::start_with_docker);
    let name = unique_name("e2e-cli");
    let out = timed("create (packages, label)", || {
        cli.create_on(
            &host,
            &[
                "--engine-install-method",
                "packages",
                "--engine-label",
                "env=test",
            ],
            &name,
        )
    });
    assert!(out.success, "create failed:\n{out}");
    let url = format!("tcp://{}:2376", host.ip);

    // ---- create of a name that exists: Docker Machine's line, whole, first; advice below
    let again = cli.create_on(&host, &["--engine-install-method", "packages"], &name);
    assert!(!again.success, "{again}");
    let mut stderr = again.stderr.lines();
    assert_eq!(
        stderr.next(),
        Some(format!("Docker machine \"{name}\" already exists").as_str()),
        "{again}"
    );
    assert!(
        stderr.next().is_some_and(|l| l.contains("machine rm")),
        "{again}"
    );

    // ---- ls: filters, formats, quiet, timeout
    assert_eq!(
        ls_names(&cli, &["--filter", "driver=generic"]),
        vec![name.clone()]
    );
    assert!(ls_names(&cli, &["--filter", "driver=vsphere"]).is_empty());
    assert_eq!(
        ls_names(&cli, &["--filter", "state=Running"]),
        vec![name.clone()]
    );
    assert!(ls_names(&cli, &["--filter", "state=Stopped"]).is_empty());
    assert_eq!(
        ls_names(&cli, &["--filter", "name=^e2e-cli-[0-9]+"]),
        vec![name.clone()]
    );
    assert!(ls_names(&cli, &["--filter", "name=^nothing$"]).is_empty());
    assert_eq!(
        ls_names(&cli, &["--filter", "label=env=test"]),
        vec![name.clone()]
    );
    assert!(ls_names(&cli, &["--filter", "label=env=prod"]).is_empty());
    assert_eq!(
        ls_names(
            &cli,
            &["--filter", "driver=generic", "--filter", "label=env=test"]
        ),
        vec![name.clone()],
        "different filter kinds must all match"
    );
    assert_eq!(
        cli.ok(&["ls", "--format", "{{.Name}} {{.URL}}"]),
        format!("{name} {url}\n")
    );
    assert_eq!(
        cli.ok(&["ls", "--format", "{{.Name}}\t{{.State}}\t{{.DriverName}}"]),
        format!("{name}\tRunning\tgeneric\n"),
        "without `table` the template's output is printed as it is"
    );
    let w = name.len() + 3;
    assert_eq!(
        cli.ok(&[
            "ls",
            "--format",
            "table {{.Name}}\t{{.State}}\t{{.DriverName}}"
        ]),
        format!(
            "{:w$}STATE     DRIVER\n{name:w$}Running   generic\n",
            "NAME"
        ),
        "`table` aligns the columns under Docker Machine's headers"
    );
    assert_eq!(cli.ok(&["ls", "-q"]), format!("{name}\n"));
    let quick = cli.call(&["ls", "-t", "5"]);
    assert!(quick.success, "{quick}");
    let table = machine_e2e::LsTable::parse(&quick.stdout);
    let row = table.row(&name).expect("listed");
    assert_eq!(row["STATE"], "Running", "{}", table.raw);
    assert_eq!(row["ACTIVE"], "-", "nothing is active yet: {}", table.raw);

    // ---- inspect
    let inspect: serde_json::Value =
        serde_json::from_str(&cli.ok(&["inspect", &name])).expect("inspect is JSON");
    assert_eq!(inspect["Name"], name.as_str());
    assert_eq!(inspect["DriverName"], "generic");
    assert_eq!(inspect["Driver"]["IPAddress"], host.ip.as_str());
    assert_eq!(inspect["Driver"]["SSHUser"], "nick");
    // Docker Machine's names for the generic driver's fields
    assert_eq!(inspect["Driver"]["EnginePort"], 2376);
    assert_eq!(inspect["Driver"]["MachineName"], name.as_str());
    assert!(inspect["Driver"]["SSHKeyPath"].is_string(), "{inspect}");
    assert_eq!(
        cli.ok(&["inspect", "--format", "{{.Driver.IPAddress}}", &name]),
        format!("{}\n", host.ip)
    );
    assert_eq!(
        cli.ok(&[
            "inspect",
            "-f",
            "{{.DriverName}} {{.Driver.SSHPort}}",
            &name
        ]),
        "generic 22\n"
    );

    // output into a pipe closed early (`| head`, `| true`): no panic, no backtrace
    let piped = bash(
        &cli,
        &format!("machine inspect {name} | true; machine ls | true"),
    );
    assert!(
        !piped.stderr.contains("panicked") && piped.stderr.is_empty(),
        "a closed stdout must end the command quietly:\n{piped}"
    );

    // ---- status, ip, url, version
    assert_eq!(cli.ok(&["status", &name]), "Running\n");
    assert_eq!(cli.ok(&["ip", &name]), format!("{}\n", host.ip));
    assert_eq!(cli.ok(&["url", &name]), format!("{url}\n"));
    let env = cli.env(&name);
    let server = docker_ok(&env, &["version", "--format", "{{.Server.Version}}"]);
    assert_eq!(
        cli.ok(&["version", &name]),
        server,
        "`machine version NAME`"
    );
    assert!(cli.ok(&["version"]).contains("machine version"));

    // ---- env: every shell's form, Docker Machine's lines byte for byte (values that need no
    // quoting); bash for real
    let cert_path = var(&env, "DOCKER_CERT_PATH")
        .expect("cert path")
        .to_string();
    let forms: &[(&str, Vec<String>)] = &[
        (
            "fish",
            vec![
                "set -gx DOCKER_TLS_VERIFY \"1\";".into(),
                format!("set -gx DOCKER_HOST \"{url}\";"),
                format!("set -gx DOCKER_CERT_PATH \"{cert_path}\";"),
                format!("set -gx DOCKER_MACHINE_NAME \"{name}\";"),
            ],
        ),
        (
            "powershell",
            vec![
                "$Env:DOCKER_TLS_VERIFY = \"1\"".into(),
                format!("$Env:DOCKER_HOST = \"{url}\""),
                format!("$Env:DOCKER_CERT_PATH = \"{cert_path}\""),
                format!("$Env:DOCKER_MACHINE_NAME = \"{name}\""),
            ],
        ),
        (
            "cmd",
            vec![
                "SET DOCKER_TLS_VERIFY=1".into(),
                format!("SET DOCKER_HOST={url}"),
                format!("SET DOCKER_CERT_PATH={cert_path}"),
                format!("SET DOCKER_MACHINE_NAME={name}"),
            ],
        ),
        (
            "emacs",
            vec![
                "(setenv \"DOCKER_TLS_VERIFY\" \"1\")".into(),
                format!("(setenv \"DOCKER_HOST\" \"{url}\")"),
                format!("(setenv \"DOCKER_CERT_PATH\" \"{cert_path}\")"),
                format!("(setenv \"DOCKER_MACHINE_NAME\" \"{name}\")"),
            ],
        ),
        (
            "tcsh",
            vec![
                "setenv DOCKER_TLS_VERIFY \"1\";".into(),
                format!("setenv DOCKER_HOST \"{url}\";"),
                format!("setenv DOCKER_CERT_PATH \"{cert_path}\";"),
                format!("setenv DOCKER_MACHINE_NAME \"{name}\";"),
            ],
        ),
    ];
    for (shell, want) in forms {
        let out = lines(&cli.ok(&["env", "--shell", shell, &name]));
        assert_eq!(&out[..4], &want[..], "`env --shell {shell}`: {out:?}");
        assert!(
            out[4..].iter().any(|l| l.contains("machine env")),
            "`env --shell {shell}` ends with how to use it: {out:?}"
        );
    }
    let unset_forms = [
        ("bash", "unset DOCKER_HOST"),
        ("fish", "set -e DOCKER_HOST;"),
        ("cmd", "SET DOCKER_HOST="),
        ("emacs", "(setenv \"DOCKER_HOST\" nil)"),
        ("tcsh", "unsetenv DOCKER_HOST;"),
    ];
    for (shell, want) in unset_forms {
        let out = lines(&cli.ok(&["env", "--shell", shell, "--unset"]));
        assert!(
            out.iter().any(|l| l == want),
            "`env --shell {shell} --unset` must print {want:?}: {out:?}"
        );
    }
    let ps = lines(&cli.ok(&["env", "--shell", "powershell", "-u"]));
    assert!(
        ps.iter()
            .any(|l| l.starts_with("Remove-Item Env:") && l.ends_with("DOCKER_HOST")),
        "{ps:?}"
    );
    // bash: eval, docker talks to the machine; eval the unset, the variables are gone.
    let out = bash(
        &cli,
        "eval \"$(machine env --shell bash @MACHINE@)\"\n\
         docker info --format '{{.Name}}'\n\
         eval \"$(machine env --unset)\"\n\
         echo \"after unset: ${DOCKER_HOST-none} ${DOCKER_CERT_PATH-none} ${DOCKER_MACHINE_NAME-none}\""
            .replace("@MACHINE@", &name)
            .as_str(),
    );
    assert!(out.success, "{out}");
    assert_eq!(
        lines(&out.stdout),
        [name.clone(), "after unset: none none none".to_string()]
    );
    // $SHELL picks the shell when --shell is not given.
    let fish = call_env(&cli, &["env", &name], &[("SHELL", "/usr/bin/fish")]);
    assert!(
        fish.stdout.starts_with("set -gx DOCKER_TLS_VERIFY"),
        "{fish}"
    );
    // --no-proxy: the machine's IP joins NO_PROXY (kept as it was otherwise).
    let np = call_env(
        &cli,
        &["env", "--shell", "bash", "--no-proxy", &name],
        &[("NO_PROXY", "localhost,.corp.example")],
    );
    assert!(np.success, "{np}");
    let vars = support::parse_exports(&np.stdout);
    assert_eq!(
        var(&vars, "NO_PROXY"),
        Some(format!("localhost,.corp.example,{}", host.ip).as_str()),
        "{np}"
    );

    // ---- config: usable as docker flags
    let out = bash(
        &cli,
        &format!("docker $(machine config {name}) version --format '{{{{.Server.Version}}}}'"),
    );
    assert!(out.success, "`docker $(machine config)` failed:\n{out}");
    assert_eq!(out.stdout, server);

    // ---- active: the machine DOCKER_HOST points at
    let no_active = cli.call(&["active"]);
    assert!(
        !no_active.success,
        "no DOCKER_HOST: no active machine\n{no_active}"
    );
    assert!(
        no_active.text_lower().contains("no active host"),
        "{no_active}"
    );
    let env_refs: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let active = call_env(&cli, &["active"], &env_refs);
    assert!(active.success, "{active}");
    assert_eq!(active.stdout, format!("{name}\n"));
    let ls_active = call_env(
        &cli,
        &["ls", "--format", "{{.Name}} {{.Active}}"],
        &env_refs,
    );
    assert_eq!(ls_active.stdout, format!("{name} *\n"), "{ls_active}");

    // ---- ssh: output and exit status
    assert_eq!(
        cli.ok(&["ssh", &name, "echo", "hello", "from", "$(hostname)"]),
        format!("hello from {name}\n")
    );
    let three = cli.call(&["ssh", &name, "exit 3"]);
    assert_eq!(
        three.code,
        Some(3),
        "`ssh NAME 'exit 3'` must exit 3:\n{three}"
    );
    let err = cli.call(&["ssh", &name, "echo oops >&2; false"]);
    assert_eq!(err.code, Some(1), "{err}");
    assert_eq!(err.stderr, "oops\n", "{err}");
    // stdin passes through; output comes as the command prints it, not at its end
    {
        use std::io::{BufRead, Write};
        let mut child = cli
            .command(&[
                "ssh",
                &name,
                "cat; echo first; sleep 3; echo second; exit 7",
            ])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("machine ssh");
        let mut stdin = child.stdin.take().unwrap();
        stdin.write_all(b"through stdin\n").unwrap();
        drop(stdin);
        let mut out = std::io::BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        out.read_line(&mut line).unwrap();
        assert_eq!(line, "through stdin\n");
        line.clear();
        out.read_line(&mut line).unwrap();
        assert_eq!(line, "first\n");
        let first_at = std::time::Instant::now();
        line.clear();
        out.read_line(&mut line).unwrap();
        assert_eq!(line, "second\n");
        let gap = first_at.elapsed();
        assert!(
            gap > std::time::Duration::from_secs(2),
            "`first` came {gap:?} before `second`, not 3 s: the output is not streamed"
        );
        assert_eq!(child.wait().unwrap().code(), Some(7));
    }
    // -t gives the command a terminal (also as the command's first word, as typed for
    // Docker Machine)
    for args in [
        &["ssh", "-t", &name, "tty"][..],
        &["ssh", &name, "-t", "tty"],
    ] {
        let tty = cli.call(args);
        assert!(tty.success, "{tty}");
        assert!(tty.stdout.starts_with("/dev/pts/"), "{tty}");
    }

    // ---- ssh with no command: an interactive login (in a pseudo-terminal made by `script`),
    // no password asked, and the recorded host key accepted without a prompt
    let login = {
        let cmd = cli.command(&["ssh", &name]);
        let line = std::iter::once(cmd.get_program())
            .chain(cmd.get_args())
            .map(|a| format!("'{}'", a.to_string_lossy()))
            .collect::<Vec<_>>()
            .join(" ");
        let mut script = std::process::Command::new("script");
        script
            .args(["-qec", &line, "/dev/null"])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        let mut child = script.spawn().expect("script(1) from util-linux");
        use std::io::Write;
        child
            .stdin
            .take()
            .unwrap()
            .write_all(b"echo interactive-$(hostname)-$(id -un)\nexit\n")
            .unwrap();
        child.wait_with_output().expect("interactive ssh")
    };
    let screen = String::from_utf8_lossy(&login.stdout);
    assert!(
        screen.contains(&format!("interactive-{name}-nick")),
        "interactive `machine ssh {name}` did not run the typed command:\n{screen}\n{}",
        String::from_utf8_lossy(&login.stderr)
    );

    // ---- scp
    let local = tempfile::tempdir().expect("tempdir");
    let up = local.path().join("up.txt");
    std::fs::write(&up, "up and away\n").expect("write");
    cli.ok(&["scp", up.to_str().unwrap(), &format!("{name}:/tmp/up.txt")]);
    assert_eq!(cli.ok(&["ssh", &name, "cat /tmp/up.txt"]), "up and away\n");
    // a relative remote path is in the user's home folder
    cli.ok(&["scp", up.to_str().unwrap(), &format!("{name}:rel.txt")]);
    assert_eq!(
        cli.ok(&["ssh", &name, "cat /home/nick/rel.txt"]),
        "up and away\n"
    );
    let down = local.path().join("hostname.txt");
    cli.ok(&[
        "scp",
        &format!("{name}:/etc/hostname"),
        down.to_str().unwrap(),
    ]);
    assert_eq!(read(&down), format!("{name}\n"));
    // Docker Machine's other forms: USER@NAME:path, localhost:path, paths with spaces
    let spaced = local.path().join("with space.txt");
    std::fs::write(&spaced, "spaced out\n").expect("write");
    cli.ok(&[
        "scp",
        &format!("localhost:{}", spaced.display()),
        &format!("nick@{name}:/tmp/with space.txt"),
    ]);
    assert_eq!(
        cli.ok(&["ssh", &name, "cat '/tmp/with space.txt'"]),
        "spaced out\n"
    );
    let back_spaced = local.path().join("back spaced.txt");
    cli.ok(&[
        "scp",
        &format!("{name}:/tmp/with space.txt"),
        back_spaced.to_str().unwrap(),
    ]);
    assert_eq!(read(&back_spaced), "spaced out\n");
    // -r both ways
    let tree = local.path().join("tree");
    std::fs::create_dir_all(tree.join("sub/deeper")).expect("mkdir");
    std::fs::write(tree.join("a.txt"), "a\n").expect("write");
    std::fs::write(tree.join("sub/deeper/b.txt"), "b\n").expect("write");
    let no_r = cli.call(&["scp", tree.to_str().unwrap(), &format!("{name}:/tmp/tree")]);
    assert!(!no_r.success, "a folder without -r must fail:\n{no_r}");
    cli.ok(&[
        "scp",
        "-r",
        tree.to_str().unwrap(),
        &format!("{name}:/tmp/tree"),
    ]);
    assert_eq!(
        cli.ok(&["ssh", &name, "cd /tmp/tree && cat a.txt sub/deeper/b.txt"]),
        "a\nb\n"
    );
    let back = local.path().join("back");
    cli.ok(&[
        "scp",
        "-r",
        &format!("{name}:/tmp/tree"),
        back.to_str().unwrap(),
    ]);
    assert_eq!(read(&back.join("sub/deeper/b.txt")), "b\n");
    // -d: rsync sends only what changed (rsync on the host too, as on any real host)
    host.exec("DEBIAN_FRONTEND=noninteractive apt-get install -y -qq rsync >/dev/null");
    let first = cli.ok(&[
        "scp",
        "-r",
        "-d",
        &format!("{}/", tree.display()),
        &format!("{name}:/tmp/delta"),
    ]);
    assert!(
        first.contains("a.txt") && first.contains("b.txt"),
        "the first rsync sends every file:\n{first}"
    );
    std::fs::write(tree.join("a.txt"), "a, changed\n").expect("write");
    let second = cli.ok(&[
        "scp",
        "-r",
        "-d",
        &format!("{}/", tree.display()),
        &format!("{name}:/tmp/delta"),
    ]);
    assert!(
        second.contains("a.txt") && !second.contains("b.txt"),
        "the second rsync sends only the changed file:\n{second}"
    );
    assert_eq!(
        cli.ok(&[
            "ssh",
            &name,
            "cat /tmp/delta/a.txt /tmp/delta/sub/deeper/b.txt"
        ]),
        "a, changed\nb\n"
    );
    let quiet = cli.ok(&[
        "scp",
        "-q",
        up.to_str().unwrap(),
        &format!("{name}:/tmp/quiet.txt"),
    ]);
    assert_eq!(quiet, "", "-q prints nothing");

    // ---- mount / mount -u (sshfs)
    cli.ok(&[
        "ssh",
        &name,
        "mkdir -p /tmp/shared && echo remote > /tmp/shared/r.txt",
    ]);
    let mnt = local.path().join("mnt");
    std::fs::create_dir_all(&mnt).expect("mkdir");
    let guard = MountGuard(mnt.clone());
    let m = cli.call(&[
        "mount",
        &format!("{name}:/tmp/shared"),
        mnt.to_str().unwrap(),
    ]);
    assert!(m.success, "mount failed:\n{m}");
    assert!(is_mounted(&mnt), "mount returned but nothing is mounted");
    assert_eq!(read(&mnt.join("r.txt")), "remote\n");
    std::fs::write(mnt.join("l.txt"), "local\n").expect("write through sshfs");
    assert_eq!(cli.ok(&["ssh", &name, "cat /tmp/shared/l.txt"]), "local\n");
    cli.ok(&[
        "mount",
        "-u",
        &format!("{name}:/tmp/shared"),
        mnt.to_str().unwrap(),
    ]);
    assert!(!is_mounted(&mnt), "still mounted after mount -u");
    assert!(!mnt.join("r.txt").exists());
    drop(guard);

    // ---- regenerate-certs: new server certificate, docker still works
    let dir = cli.machine_dir(&name);
    let server_pem = read(&dir.join("server.pem"));
    let ca_pem = read(&dir.join("ca.pem"));
    let out = timed("regenerate-certs", || {
        cli.call(&["regenerate-certs", "-f", &name])
    });
    assert!(out.success, "{out}");
    assert_ne!(
        read(&dir.join("server.pem")),
        server_pem,
        "server.pem unchanged"
    );
    assert_eq!(
        read(&dir.join("ca.pem")),
        ca_pem,
        "the CA stays without --client-certs"
    );
    assert_eq!(
        docker_ok(&env, &["version", "--format", "{{.Server.Version}}"]),
        server
    );
    let out = timed("rotate-ca", || cli.call(&["rotate-ca", "-f"]));
    assert!(out.success, "{out}");
    assert_ne!(read(&dir.join("ca.pem")), ca_pem, "rotate-ca: a new CA");
    assert_eq!(
        docker_ok(&env, &["info", "--format", "{{.Name}}"]).trim(),
        name,
        "docker with the same `env` after new client certificates"
    );

    // ---- provision again: idempotent
    let out = timed("provision", || cli.call(&["provision", &name]));
    assert!(out.success, "{out}");
    let labels = docker_ok(&env, &["info", "--format", "{{json .Labels}}"]);
    assert!(labels.contains("env=test"), "{labels}");
    assert_eq!(cli.ok(&["status", &name]), "Running\n");

    // ---- a second machine from Docker Machine's environment variables alone (same host:
    // Docker is there already, so this is quick)
    let second = unique_name("e2e-cli-env");
    let bin = workspace_bin("machine");
    let mut cmd = Command::new(&bin);
    for v in support::docker::DOCKER_ENV_VARS {
        cmd.env_remove(v);
    }
    cmd.env("MACHINE_STORAGE_PATH", cli.store())
        .env("GENERIC_IP_ADDRESS", &host.ip)
        .env("GENERIC_SSH_USER", &host.user)
        .env("GENERIC_SSH_KEY", &host.key.private)
        .args(["create", "-d", "generic", &second]);
    let out = timed("create (GENERIC_* and MACHINE_STORAGE_PATH)", || {
        call(
            &mut cmd,
            &["create", "-d", "generic", &second],
            CREATE_TIMEOUT,
        )
    });
    assert!(
        out.success,
        "create from environment variables failed:\n{out}"
    );
    assert!(
        cli.machine_dir(&second).join("config.json").is_file() || cli.machine_dir(&second).is_dir(),
        "MACHINE_STORAGE_PATH was not used: no {}",
        cli.machine_dir(&second).display()
    );
    assert_eq!(
        cli.ok(&[
            "inspect",
            "-f",
            "{{.Driver.IPAddress}} {{.Driver.SSHUser}}",
            &second
        ]),
        format!("{} nick\n", host.ip)
    );
    let env2 = cli.env(&second);
    assert_eq!(
        docker_ok(&env2, &["info", "--format", "{{.Name}}"]).trim(),
        second
    );
    let mut all = vec![name.clone(), second.clone()];
    all.sort();
    assert_eq!(ls_names(&cli, &[]), all);
    assert_eq!(
        ls_names(&cli, &["--filter", "label=env=test"]),
        vec![name.clone()]
    );
    assert_eq!(
        ls_names(&cli, &["--filter", "name=-env-"]),
        vec![second.clone()]
    );
    assert_eq!(ls_names(&cli, &["--filter", "state=Running"]), all);

    // machine to machine
    cli.ok(&[
        "scp",
        &format!("{name}:/tmp/up.txt"),
        &format!("{second}:/tmp/from-first.txt"),
    ]);
    assert_eq!(
        cli.ok(&["ssh", &second, "cat /tmp/from-first.txt"]),
        "up and away\n"
    );

    // ---- stop, start, kill on several names: each machine answers for itself
    for op in ["stop", "start", "kill"] {
        let out = cli.call(&[op, &name, &second]);
        assert!(!out.success, "generic `{op}` must fail:\n{out}");
        for n in [&name, &second] {
            let line = out
                .stderr
                .lines()
                .find(|l| l.contains(n.as_str()))
                .unwrap_or_else(|| panic!("`{op}` says nothing about {n}:\n{out}"));
            let l = line.to_lowercase();
            assert!(
                l.contains("generic") && l.contains("not support") && l.contains(op),
                "`{op}` must say the generic driver does not support it, for {n}:\n{out}"
            );
        }
    }
    let missing = cli.call(&["stop", "no-such-machine", &name]);
    assert!(!missing.success);
    assert!(
        missing.stderr.contains("no-such-machine") && missing.text_lower().contains("not exist"),
        "an unknown name in the list is reported as not existing:\n{missing}"
    );
    assert_eq!(ls_names(&cli, &["--filter", "state=Running"]), all);

    // ---- rm several
    let out = cli.call(&["rm", "-y", &name, &second]);
    assert!(out.success, "{out}");
    assert!(ls_names(&cli, &[]).is_empty());
}
