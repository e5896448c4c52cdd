//! Swarm mode across machines (issue 9): three machines on test hosts, `machine swarm init`
//! on one and `machine swarm join` of the other two; `docker node ls` shows three Ready nodes,
//! and a service of three replicas runs one task on each node. Then the refusals: a machine
//! already in the swarm, `init` on a member, `leave`.
//!
//! The image is built on each node (no registry here); the service uses `--endpoint-mode
//! dnsrr` and publishes no port, since this machine's kernel has no IPVS for swarm's virtual
//! IPs. Needs scripts/test-env.sh and `cargo build --workspace --bins` (scripts/test.sh).

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use machine_e2e::support::{self, FileServer, TestHost};
use machine_e2e::{docker_ok, install_script, timed, unique_name, Cli};

const IMAGE: &str = "busybox-local";

#[test]
fn swarm_of_three_machines_runs_a_service_on_every_node() {
    let cli = Cli::new();
    let server = FileServer::start("/install.sh", install_script());
    let url = server.url();
    let hosts: Vec<TestHost> = (0..3).map(|_| TestHost::start_with_docker()).collect();
    let names: Vec<String> = (0..3).map(|i| unique_name(&format!("sw{i}"))).collect();
    // the three creates at once
    std::thread::scope(|s| {
        for (host, name) in hosts.iter().zip(&names) {
            let (cli, url) = (&cli, &url);
            s.spawn(move || {
                let out = timed("create", || {
                    cli.create_on(host, &["--engine-install-url", url], name)
                });
                assert!(out.success, "create {name} failed:\n{out}");
            });
        }
    });
    let (lead, workers) = (&names[0], &names[1..]);

    let init = cli.ok(&["swarm", "init", lead]);
    assert!(init.contains("Swarm initialized"), "{init}");
    let mut join = vec!["swarm", "join", lead.as_str()];
    join.extend(workers.iter().map(String::as_str));
    cli.ok(&join);

    let env = cli.env(lead);
    let nodes = docker_ok(
        &env,
        &["node", "ls", "--format", "{{.Hostname}} {{.Status}}"],
    );
    let ready: BTreeSet<&str> = nodes
        .lines()
        .filter_map(|l| l.strip_suffix(" Ready"))
        .collect();
    let want: BTreeSet<&str> = names.iter().map(String::as_str).collect();
    assert_eq!(ready, want, "docker node ls:\n{nodes}");

    for name in &names {
        support::build_busybox_image(&cli.env(name), IMAGE);
    }
    docker_ok(
        &env,
        &[
            "service",
            "create",
            "--detach",
            "--name",
            "spread",
            "--replicas",
            "3",
            "--endpoint-mode",
            "dnsrr",
            "--no-resolve-image",
            "--constraint",
            "node.platform.os==linux",
            "--replicas-max-per-node",
            "1",
            IMAGE,
            "sleep",
            "3600",
        ],
    );
    let deadline = Instant::now() + Duration::from_secs(120);
    let running_on = loop {
        let tasks = docker_ok(
            &env,
            &[
                "service",
                "ps",
                "spread",
                "--filter",
                "desired-state=running",
                "--format",
                "{{.Node}} {{.CurrentState}}",
            ],
        );
        let running: BTreeSet<String> = tasks
            .lines()
            .filter(|l| l.contains(" Running"))
            .filter_map(|l| l.split_whitespace().next().map(str::to_string))
            .collect();
        if running.len() == 3 || Instant::now() > deadline {
            break running;
        }
        std::thread::sleep(Duration::from_secs(2));
    };
    let want: BTreeSet<String> = names.iter().cloned().collect();
    assert_eq!(
        running_on, want,
        "three tasks Running on three distinct nodes"
    );

    // refusals: nothing changes
    let again = cli.fail(&["swarm", "join", lead, &workers[0]]);
    assert!(again.stderr.contains("already in"), "{again}");
    let init_member = cli.fail(&["swarm", "init", &workers[1]]);
    assert!(
        init_member.stderr.contains("already in a swarm"),
        "{init_member}"
    );
    let unknown = cli.fail(&["swarm", "join", lead, "no-such-machine"]);
    assert!(unknown.stderr.contains("does not exist"), "{unknown}");

    // leave: the worker's daemon is out of the swarm
    cli.ok(&["swarm", "leave", &workers[1]]);
    let state = docker_ok(
        &cli.env(&workers[1]),
        &["info", "--format", "{{.Swarm.LocalNodeState}}"],
    );
    assert_eq!(state.trim(), "inactive");
    let not_in = cli.fail(&["swarm", "leave", &workers[1]]);
    assert!(not_in.stderr.contains("not in a swarm"), "{not_in}");
}
