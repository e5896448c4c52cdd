//! Docker contexts end to end (issue 9): `create` makes a docker context named after the
//! machine, which the real `docker` client (`docker --context NAME`) uses to reach the machine's
//! daemon over mutual TLS; `machine use NAME` makes it the client's current context; new
//! certificates reach it; `rm` removes it. A context the user made is never overwritten or
//! removed. Each test gives the CLI and the docker client their own DOCKER_CONFIG.
//!
//! Needs scripts/test-env.sh and `cargo build --workspace --bins`; nothing here skips.

use machine_e2e::support::{self, run_with_timeout, TestHost};
use machine_e2e::{timed, unique_name, Cli, CALL_TIMEOUT};
use std::path::Path;

/// The docker client with `config` as DOCKER_CONFIG and nothing else from the environment.
fn docker(config: &Path, args: &[&str]) -> std::process::Output {
    let env = [("DOCKER_CONFIG".to_string(), config.display().to_string())];
    let out = run_with_timeout(support::docker_cmd(&env).args(args), CALL_TIMEOUT);
    eprintln!(
        "`docker {}` -> {}\n{}{}",
        args.join(" "),
        out.status,
        String::from_utf8_lossy(&out.stdout).trim_end(),
        String::from_utf8_lossy(&out.stderr).trim_end()
    );
    out
}

/// Runs the docker client, panics unless it succeeds; returns stdout.
fn docker_ok(config: &Path, args: &[&str]) -> String {
    let out = docker(config, args);
    assert!(
        out.status.success(),
        "`docker {}` failed:\n{}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The names `docker context ls` lists.
fn contexts(config: &Path) -> Vec<String> {
    docker_ok(config, &["context", "ls", "--format", "{{.Name}}"])
        .lines()
        .map(str::to_string)
        .collect()
}

fn read(path: &Path) -> Vec<u8> {
    std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The one meta.json under contexts/meta whose Name is `name`, and its bytes.
fn meta_json(config: &Path, name: &str) -> Option<(std::path::PathBuf, Vec<u8>)> {
    let dir = config.join("contexts/meta");
    for entry in std::fs::read_dir(&dir).ok()? {
        let path = entry.unwrap().path().join("meta.json");
        let bytes = read(&path);
        let v: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        if v["Name"] == name {
            return Some((path, bytes));
        }
    }
    None
}

/// create without a context, then with a foreign context of the name (left alone, `use`
/// refuses), then with the name free: `docker --context`, `machine use`, new client
/// certificates, `rm`.
#[test]
fn docker_contexts_follow_the_machine_and_leave_others_alone() {
    let cli = Cli::new();
    let config = cli.docker_config().to_path_buf();
    let host = timed("test host start", TestHost::start_with_docker);
    let name = unique_name("e2e-ctx");
    let packages = ["--engine-install-method", "packages"];

    // A context of the user's, under another name: it must come through everything unchanged.
    docker_ok(
        &config,
        &[
            "context",
            "create",
            "theirs",
            "--docker",
            "host=tcp://192.0.2.1:2376",
        ],
    );
    let (theirs_path, theirs) = meta_json(&config, "theirs").expect("docker made `theirs`");

    // 1. --no-docker-context: no context.
    let mut args = packages.to_vec();
    args.push("--no-docker-context");
    let out = timed("create (no context)", || cli.create_on(&host, &args, &name));
    assert!(out.success, "create failed:\n{out}");
    assert!(
        !contexts(&config).contains(&name),
        "--no-docker-context made a context"
    );
    cli.ok(&["rm", "-y", &name]);

    // 2. The user has a context of the machine's name: create succeeds, says so, and leaves it.
    docker_ok(
        &config,
        &[
            "context",
            "create",
            &name,
            "--docker",
            "host=tcp://192.0.2.2:2376",
        ],
    );
    let (user_path, user_meta) = meta_json(&config, &name).expect("docker made it");
    let out = timed("create (name taken)", || {
        cli.create_on(&host, &packages, &name)
    });
    assert!(out.success, "create failed:\n{out}");
    assert!(
        out.stderr.contains("docker context") && out.stderr.contains("docker context rm"),
        "create must say the context was left and how to free the name:\n{out}"
    );
    assert_eq!(
        read(&user_path),
        user_meta,
        "create overwrote the user's context"
    );
    // `machine use` refuses it, and changes nothing
    let config_json = config.join("config.json");
    let before = std::fs::read(&config_json).ok();
    let refused = cli.fail(&["use", &name]);
    assert!(
        refused.stderr.contains("did not make") && refused.stderr.contains("docker context rm"),
        "`use` must say the context is not machine's, and what to do:\n{refused}"
    );
    assert_eq!(
        std::fs::read(&config_json).ok(),
        before,
        "`use` changed config.json"
    );
    assert_eq!(read(&user_path), user_meta);
    // rm removes the machine, not the user's context
    cli.ok(&["rm", "-y", &name]);
    assert_eq!(
        read(&user_path),
        user_meta,
        "rm removed or changed the user's context"
    );

    // 3. The name is free: create makes the machine's context, and the docker client uses it.
    docker_ok(&config, &["context", "rm", &name]);
    let out = timed("create (context)", || {
        cli.create_on(&host, &packages, &name)
    });
    assert!(out.success, "create failed:\n{out}");
    assert!(
        out.stdout.contains(&format!("docker --context {name}")),
        "create must say how to use the context:\n{out}"
    );
    let version = docker_ok(&config, &["--context", &name, "version"]);
    assert!(version.contains("Server:"), "no Server section:\n{version}");
    let remote = docker_ok(
        &config,
        &["--context", &name, "info", "--format", "{{.Name}}"],
    );
    assert_eq!(
        remote.trim(),
        name,
        "the daemon answering is not the machine's"
    );
    let endpoint = docker_ok(
        &config,
        &[
            "context",
            "inspect",
            &name,
            "--format",
            "{{.Endpoints.docker.Host}}",
        ],
    );
    assert_eq!(endpoint.trim(), format!("tcp://{}:2376", host.ip));

    // machine use: plain `docker` reaches the machine; docker's other settings are kept
    let mut c: serde_json::Value = std::fs::read(&config_json)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or(serde_json::json!({}));
    c["psFormat"] = "table {{.ID}}\\t{{.Names}}".into();
    std::fs::write(&config_json, serde_json::to_vec(&c).unwrap()).unwrap();
    cli.ok(&["use", &name]);
    assert_eq!(docker_ok(&config, &["context", "show"]).trim(), name);
    let remote = docker_ok(&config, &["info", "--format", "{{.Name}}"]);
    assert_eq!(
        remote.trim(),
        name,
        "plain `docker` does not reach the machine after `use`"
    );
    let c: serde_json::Value = serde_json::from_slice(&read(&config_json)).unwrap();
    assert_eq!(
        c["psFormat"], "table {{.ID}}\\t{{.Names}}",
        "`use` lost a setting: {c}"
    );

    // new CA and client certificates: the context gets them, or docker could not connect
    let ca_file = context_ca(&config, &name);
    let old_ca = read(&ca_file);
    let out = cli.call_with_timeout(&["rotate-ca", "-f"], machine_e2e::CREATE_TIMEOUT);
    assert!(out.success, "rotate-ca failed:\n{out}");
    assert_ne!(read(&ca_file), old_ca, "the context still holds the old CA");
    let version = docker_ok(&config, &["--context", &name, "version"]);
    assert!(
        version.contains("Server:"),
        "docker --context fails after rotate-ca:\n{version}"
    );

    // rm: the machine's context goes, the client is back on its default, others stay
    cli.ok(&["rm", "-y", &name]);
    assert!(!contexts(&config).contains(&name), "rm left the context");
    assert!(meta_json(&config, &name).is_none());
    assert_eq!(docker_ok(&config, &["context", "show"]).trim(), "default");
    assert_eq!(read(&theirs_path), theirs, "another context was changed");
}

/// The machine context's ca.pem (contexts/tls/ID/docker/ca.pem, next to its meta.json's ID).
fn context_ca(config: &Path, name: &str) -> std::path::PathBuf {
    let (meta, _) = meta_json(config, name).expect("the machine's context");
    let id = meta.parent().unwrap().file_name().unwrap();
    config.join("contexts/tls").join(id).join("docker/ca.pem")
}

/// `machine use` of a machine that does not exist: a clear error, and the docker client's
/// configuration is exactly as it was. `machine use -u` goes back to the default.
#[test]
fn use_of_an_unknown_machine_changes_nothing() {
    let cli = Cli::new();
    let config = cli.docker_config();
    docker_ok(
        config,
        &[
            "context",
            "create",
            "mine",
            "--docker",
            "host=tcp://192.0.2.1:2376",
        ],
    );
    docker_ok(config, &["context", "use", "mine"]);
    let config_json = config.join("config.json");
    let before = read(&config_json);

    let out = cli.fail(&["use", "nope"]);
    assert!(
        out.stderr.contains("\"nope\" does not exist") && out.stderr.contains("machine ls"),
        "the error must name the machine and say how to list them:\n{out}"
    );
    assert_eq!(
        read(&config_json),
        before,
        "a failed `use` changed config.json"
    );
    assert!(!contexts(config).contains(&"nope".to_string()));

    let out = cli.fail(&["use", "bad name!"]);
    assert!(out.stderr.contains("invalid machine name"), "{out}");
    assert_eq!(read(&config_json), before);

    cli.ok(&["use", "-u"]);
    assert_eq!(docker_ok(config, &["context", "show"]).trim(), "default");
    assert!(
        contexts(config).contains(&"mine".to_string()),
        "-u removed a context"
    );
}
