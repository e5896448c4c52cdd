//! `eval "$(machine env NAME)"` runs nothing that a path or an address holds (issue 10): a
//! machine in a store whose path holds `$(...)`, backticks, quotes and spaces, created on a
//! real host; real bash, fish and tcsh evaluate what `machine env` prints, the way its own
//! hint says, and end up with the variables and no file created (Docker Machine's
//! double-quoted lines for the values that need no quoting, single quotes for the path that
//! does, evaluated together). Then the stored address is
//! made hostile: `env` refuses it, naming the driver, and prints nothing to evaluate.
//!
//! Needs scripts/test-env.sh (which installs fish and tcsh) and `cargo build --workspace
//! --bins`; nothing here skips.

use std::path::Path;
use std::process::Command;

use machine_e2e::support::{run_with_timeout, TestHost};
use machine_e2e::{
    bin_dir, call, unique_name, workspace_bin, CallOutput, CALL_TIMEOUT, CREATE_TIMEOUT,
};

const HOSTILE_DIR: &str = "st $(touch${IFS}pwned)  `touch pwned2` it's {a,b} * %x";

/// `machine ARGS` with the store at `store` (given through MACHINE_STORAGE_PATH, as a user's
/// shell would) and `docker_config` as DOCKER_CONFIG.
fn machine(
    store: &Path,
    docker_config: &Path,
    args: &[&str],
    timeout: std::time::Duration,
) -> CallOutput {
    let mut cmd = Command::new(workspace_bin("machine"));
    cmd.env("MACHINE_STORAGE_PATH", store)
        .env("DOCKER_CONFIG", docker_config)
        .args(args);
    for v in machine_e2e::support::docker::DOCKER_ENV_VARS {
        cmd.env_remove(v);
    }
    call(&mut cmd, args, timeout)
}

fn require(shell: &str) {
    let found = Command::new("sh")
        .args(["-c", &format!("command -v {shell}")])
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        found,
        "{shell} is not installed: scripts/test-env.sh installs it (apt-get install {shell})"
    );
}

/// Runs `script` with `shell` in an empty folder, `machine` on PATH; returns its stdout and
/// what the folder holds afterwards.
fn run_shell(
    shell: &str,
    script: &str,
    store: &Path,
    docker_config: &Path,
) -> (String, Vec<String>) {
    let cwd = tempfile::tempdir().unwrap();
    let path = format!(
        "{}:{}",
        bin_dir().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let mut cmd = Command::new(shell);
    cmd.current_dir(cwd.path())
        .env("PATH", path)
        .env("MACHINE_STORAGE_PATH", store)
        .env("DOCKER_CONFIG", docker_config)
        .args(["-c", script]);
    let out = run_with_timeout(&mut cmd, CALL_TIMEOUT);
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    eprintln!(
        "{shell} -c {script:?} -> {}\n{stdout}{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{shell} failed");
    let files = std::fs::read_dir(cwd.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    (stdout, files)
}

#[test]
fn env_output_runs_nothing_in_bash_fish_and_tcsh() {
    for shell in ["bash", "fish", "tcsh"] {
        require(shell);
    }
    let host = TestHost::start_with_docker();
    let base = tempfile::tempdir().unwrap();
    let store = base.path().join(HOSTILE_DIR);
    let docker_config = tempfile::tempdir().unwrap();
    let name = unique_name("quoted");
    let out = machine(
        &store,
        docker_config.path(),
        &[
            "create",
            "-d",
            "generic",
            "--generic-ip-address",
            &host.ip,
            "--generic-ssh-user",
            &host.user,
            "--generic-ssh-key",
            host.key.private.to_str().unwrap(),
            "--engine-install-method",
            "packages",
            &name,
        ],
        CREATE_TIMEOUT,
    );
    assert!(out.success, "{out}");
    let cert_path = store.join("machines").join(&name);
    let expected = format!("tcp://{}:2376\n{}\n{name}\n", host.ip, cert_path.display());
    // one variable a call: tcsh's printenv takes one
    let print = "printenv DOCKER_HOST && printenv DOCKER_CERT_PATH && printenv DOCKER_MACHINE_NAME";
    for (shell, script) in [
        (
            "bash",
            format!("eval \"$(machine env --shell bash {name})\" && {print}"),
        ),
        (
            "fish",
            format!("machine env --shell fish {name} | source; and {print}"),
        ),
        (
            "tcsh",
            format!("eval \"`machine env --shell tcsh {name}`\" && {print}"),
        ),
    ] {
        let (stdout, files) = run_shell(shell, &script, &store, docker_config.path());
        assert!(
            files.is_empty(),
            "{shell} ran something in the store path: it made {files:?}"
        );
        assert_eq!(stdout, expected, "{shell}");
    }
    // what each shell just evaluated: Docker Machine's own lines where the value needs no
    // quoting (scripts match on them), single quotes for the hostile path
    for (shell, plain, quoted) in [
        (
            "bash",
            "export DOCKER_TLS_VERIFY=\"1\"",
            "export DOCKER_CERT_PATH='",
        ),
        (
            "fish",
            "set -gx DOCKER_TLS_VERIFY \"1\";",
            "set -gx DOCKER_CERT_PATH '",
        ),
        (
            "tcsh",
            "setenv DOCKER_TLS_VERIFY \"1\";",
            "setenv DOCKER_CERT_PATH '",
        ),
    ] {
        let out = machine(
            &store,
            docker_config.path(),
            &["env", "--shell", shell, &name],
            CALL_TIMEOUT,
        );
        let lines: Vec<&str> = out.stdout.lines().collect();
        assert_eq!(lines[0], plain, "{out}");
        assert!(lines[2].starts_with(quoted), "{out}");
    }
    // the printed hint is the command each shell was given above
    let out = machine(
        &store,
        docker_config.path(),
        &["env", "--shell", "fish", &name],
        CALL_TIMEOUT,
    );
    assert!(
        out.stdout
            .contains(&format!("# machine env --shell fish {name} | source")),
        "{out}"
    );

    // a hostile address in the stored record: refused before anything is printed
    let config = cert_path.join("config.json");
    let text = std::fs::read_to_string(&config).unwrap();
    assert!(text.contains(&host.ip));
    std::fs::write(&config, text.replace(&host.ip, "$(touch${IFS}pwned)")).unwrap();
    for shell in ["bash", "fish", "tcsh"] {
        let out = machine(
            &store,
            docker_config.path(),
            &["env", "--shell", shell, &name],
            CALL_TIMEOUT,
        );
        assert!(!out.success, "{out}");
        assert_eq!(out.stdout, "", "nothing to evaluate may be printed");
        assert!(
            out.stderr.contains("generic driver"),
            "the error names the driver:\n{out}"
        );
    }
    let cwd = tempfile::tempdir().unwrap();
    let mut bash = Command::new("bash");
    bash.current_dir(cwd.path())
        .env(
            "PATH",
            format!(
                "{}:{}",
                bin_dir().display(),
                std::env::var("PATH").unwrap_or_default()
            ),
        )
        .env("MACHINE_STORAGE_PATH", &store)
        .args(["-c", &format!("eval \"$(machine env {name})\"")]);
    let _ = run_with_timeout(&mut bash, CALL_TIMEOUT);
    assert!(
        std::fs::read_dir(cwd.path()).unwrap().next().is_none(),
        "the address ran"
    );
    std::fs::write(&config, text).unwrap();
    let out = machine(
        &store,
        docker_config.path(),
        &["rm", "-y", &name],
        CALL_TIMEOUT,
    );
    assert!(out.success, "{out}");
}
