//! Issue 3 end to end: the engine flags of `create` verified on the remote daemon (`docker info`
//! through `machine env`, the server certificate, the daemon's process), and the Docker version
//! of your choice (`--engine-version` with the packages method and with an install script,
//! unavailable versions, `upgrade` keeping the method, URL and version).
//!
//! Needs scripts/test-env.sh (Docker engine, test-host images) and `cargo build --workspace
//! --bins`; scripts/test.sh does both. Nothing here skips: a missing piece panics saying so.

use std::process::Command;

use machine_e2e::support::{self, FileServer, TestHost};
use machine_e2e::{docker_ok, install_script, timed, unique_name, var, CallOutput, Cli};

const SUITE: &str = "bookworm";
const IMAGE: &str = "busybox-engine";

/// The docker.io versions the host's apt offers, newest first (as `apt-cache madison` lists them).
fn apt_versions(host: &TestHost) -> Vec<String> {
    let out = host.exec(
        "DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null && \
         apt-cache madison docker.io | cut -d'|' -f2 | tr -d ' '",
    );
    let mut versions: Vec<String> = Vec::new();
    for v in out.lines().map(str::trim).filter(|v| !v.is_empty()) {
        if !versions.iter().any(|x| x == v) {
            versions.push(v.to_string());
        }
    }
    assert!(
        !versions.is_empty(),
        "apt on {} offers no docker.io version",
        host.name
    );
    versions
}

/// `20.10.24+dfsg1-1+b3` → `20.10.24` (what a user types as a version).
fn upstream(version: &str) -> &str {
    let v = version.split_once(':').map_or(version, |(_, v)| v);
    v.split(['+', '-', '~']).next().unwrap_or(v)
}

/// The subject alternative names of a PEM certificate, as openssl prints them.
fn cert_sans(path: &std::path::Path) -> String {
    support::run(
        Command::new("openssl")
            .args(["x509", "-noout", "-ext", "subjectAltName", "-in"])
            .arg(path),
    )
}

/// The installed docker.io version on the host (dpkg).
fn installed_package(host: &TestHost) -> String {
    host.exec("dpkg-query -W -f='${Version}' docker.io")
}

/// `docker info` of the engine `env` points at, as JSON.
fn docker_info(env: &[(String, String)]) -> serde_json::Value {
    let out = docker_ok(env, &["info", "--format", "{{json .}}"]);
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("docker info is not JSON ({e}): {out}"))
}

fn assert_contains(out: &CallOutput, what: &str, needles: &[&str]) {
    let text = format!("{}\n{}", out.stdout, out.stderr);
    for n in needles {
        assert!(
            text.contains(n),
            "the output must contain {n:?} ({what}):\n{out}"
        );
    }
}

/// Every engine flag of `create`, checked where a user would look: `docker info` through
/// `machine env`, a container's limits, the daemon's environment, the server certificate (and
/// a TLS connection under the extra name). Also: `--engine-version` with the packages method
/// pinned to the exact version apt lists, and `upgrade` keeping all of it.
#[test]
fn engine_flags_reach_the_daemon() {
    let cli = Cli::new();
    let host = timed("test host start", || TestHost::start(SUITE));
    let versions = apt_versions(&host);
    let exact = versions[0].clone();
    let name = unique_name("e2e-eng");
    let proxy = "http://proxy.example:3128";
    let out = timed("create (packages, every engine flag)", || {
        cli.create_on(
            &host,
            &[
                "--engine-install-method",
                "packages",
                "--engine-version",
                &exact,
                "--engine-opt",
                "debug",
                "--engine-opt",
                "default-ulimit=nofile=1024:2048",
                "--engine-insecure-registry",
                "registry.example:5000",
                "--engine-registry-mirror",
                "http://mirror.example:5000",
                "--engine-label",
                "env=test",
                "--engine-label",
                "team=infra",
                "--engine-storage-driver",
                "vfs",
                "--engine-env",
                &format!("HTTP_PROXY={proxy}"),
                "--engine-env",
                "MACHINE_E2E_MARKER=engine env works",
                "--tls-san",
                "extra.example",
                "--tls-san",
                "10.99.0.1",
            ],
            &name,
        )
    });
    assert!(out.success, "create failed:\n{out}");
    assert_eq!(installed_package(&host), exact, "the pinned package");

    let env = cli.env(&name);
    let server = docker_ok(&env, &["version", "--format", "{{.Server.Version}}"]);
    let server = server.trim().to_string();
    assert!(
        exact.starts_with(&server) && upstream(&server) == upstream(&exact),
        "asked for {exact}, `docker version` says the server runs {server}"
    );

    // docker info: labels, storage driver, debug, proxy, registries.
    let info = docker_info(&env);
    let labels: Vec<&str> = info["Labels"]
        .as_array()
        .map(|a| a.iter().filter_map(|v| v.as_str()).collect())
        .unwrap_or_default();
    for l in ["provider=generic", "env=test", "team=infra"] {
        assert!(
            labels.contains(&l),
            "docker info Labels lack {l}: {labels:?}"
        );
    }
    assert_eq!(info["Driver"], "vfs", "storage driver (docker info Driver)");
    assert_eq!(
        info["Debug"], true,
        "--engine-opt debug: docker info Debug (server)"
    );
    assert_eq!(info["HttpProxy"], proxy, "--engine-env HTTP_PROXY");
    let registry = &info["RegistryConfig"];
    let mirrors = registry["Mirrors"].to_string();
    assert!(
        mirrors.contains("http://mirror.example:5000"),
        "docker info RegistryConfig.Mirrors: {mirrors}"
    );
    assert_eq!(
        registry["IndexConfigs"]["registry.example:5000"]["Secure"], false,
        "registry.example:5000 must be an insecure registry: {registry}"
    );

    // The daemon's own environment holds every --engine-env.
    let environ = cli.ok(&[
        "ssh",
        &name,
        "sudo cat /proc/$(pidof dockerd)/environ | tr '\\0' '\\n'",
    ]);
    for e in [
        format!("HTTP_PROXY={proxy}"),
        "MACHINE_E2E_MARKER=engine env works".to_string(),
    ] {
        assert!(
            environ.lines().any(|l| l == e),
            "dockerd's environment lacks {e}:\n{environ}"
        );
    }

    // --engine-opt default-ulimit: a container gets those limits.
    timed("busybox image build (remote)", || {
        support::build_busybox_image(&env, IMAGE)
    });
    let limits = docker_ok(
        &env,
        &["run", "--rm", IMAGE, "sh", "-c", "ulimit -n; ulimit -Hn"],
    );
    assert_eq!(limits, "1024\n2048\n", "--engine-opt default-ulimit");

    // --tls-san: in the server certificate, and the daemon answers under that name.
    let dir = cli.machine_dir(&name);
    let sans = cert_sans(&dir.join("server.pem"));
    for want in [
        "DNS:extra.example".to_string(),
        "IP Address:10.99.0.1".to_string(),
        format!("IP Address:{}", host.ip),
        format!("DNS:{name}"),
        "DNS:localhost".to_string(),
    ] {
        assert!(sans.contains(&want), "server.pem SANs lack {want}:\n{sans}");
    }
    let version_json = support::run(
        Command::new("curl")
            .args(["-fsS", "--max-time", "20", "--cacert"])
            .arg(dir.join("ca.pem"))
            .arg("--cert")
            .arg(dir.join("cert.pem"))
            .arg("--key")
            .arg(dir.join("key.pem"))
            .arg("--resolve")
            .arg(format!("extra.example:2376:{}", host.ip))
            .arg("https://extra.example:2376/version"),
    );
    assert!(
        version_json.contains(&format!("\"Version\":\"{server}\"")),
        "TLS to the daemon as extra.example (verified against the machine's CA): {version_json}"
    );

    // ls and inspect show the installed version and the options.
    let row_docker = cli.ls().row(&name).expect("listed")["DOCKER"].clone();
    assert_eq!(row_docker, format!("v{server}"));
    assert_eq!(
        cli.ok(&["inspect", "--format", "{{.DockerVersion}}", &name])
            .trim(),
        server
    );
    let inspect: serde_json::Value =
        serde_json::from_str(&cli.ok(&["inspect", &name])).expect("inspect JSON");
    let engine = inspect["HostOptions"].to_string();
    for want in [
        "env=test",
        "vfs",
        "registry.example:5000",
        "mirror.example",
        "extra.example",
        &exact,
    ] {
        assert!(
            engine.contains(want),
            "inspect .HostOptions lacks {want}: {engine}"
        );
    }

    // upgrade: the same packages, the same pin, the same daemon configuration.
    let out = timed("upgrade (packages, pinned)", || {
        cli.call_with_timeout(&["upgrade", &name], machine_e2e::CREATE_TIMEOUT)
    });
    assert!(out.success, "upgrade failed:\n{out}");
    assert_eq!(installed_package(&host), exact, "upgrade kept the pin");
    let info = docker_info(&env);
    assert_eq!(info["Driver"], "vfs", "upgrade kept the storage driver");
    assert!(
        info["Labels"].to_string().contains("env=test"),
        "upgrade kept the labels: {}",
        info["Labels"]
    );
    assert_eq!(
        var(&env, "DOCKER_MACHINE_NAME"),
        Some(name.as_str()),
        "{env:?}"
    );
    cli.ok(&["rm", "-y", &name]);
}

/// `--engine-version` with an install script served here (VERSION as get.docker.com reads it)
/// and with the packages method: an unavailable version fails listing what is available and
/// leaves nothing healthy; an available one is what the daemon runs. `upgrade` fetches the
/// machine's own script again and keeps its version; `upgrade --engine-version` pins a new one.
#[test]
fn engine_version_install_script_and_upgrade() {
    let cli = Cli::new();
    let host = timed("test host start", || TestHost::start(SUITE));
    let server = FileServer::start("/install.sh", install_script());
    let url = server.url();
    let versions = apt_versions(&host);
    let fetched = || {
        server
            .requests()
            .iter()
            .filter(|r| r.status == 200 && r.peer.ip().to_string() == host.ip)
            .count()
    };

    // Unavailable versions: a clear error naming the version and listing the available ones.
    for (method, extra) in [
        ("script", vec!["--engine-install-url", url.as_str()]),
        ("packages", vec!["--engine-install-method", "packages"]),
    ] {
        let name = unique_name(&format!("e2e-nover-{method}"));
        let mut args = extra.clone();
        args.extend_from_slice(&["--engine-version", "99.9.9"]);
        let out = timed("create (unavailable version)", || {
            cli.create_on(&host, &args, &name)
        });
        assert!(!out.success, "version 99.9.9 must fail ({method}):\n{out}");
        assert_contains(
            &out,
            "the version asked for and what is available",
            &["99.9.9", &versions[0]],
        );
        assert!(
            out.text_lower().contains("available versions"),
            "the error must say which versions are available ({method}):\n{out}"
        );
        cli.assert_failed_create_left_nothing_healthy(&name);
        assert!(
            host.exec_output("command -v dockerd").stdout.is_empty(),
            "a refused version must install nothing ({method})"
        );
    }

    // The install script with a pinned version, as a user types it (upstream x.y.z).
    let pinned = upstream(&versions[0]).to_string();
    let name = unique_name("e2e-script");
    let before = fetched();
    let out = timed("create (install script, pinned)", || {
        cli.create_on(
            &host,
            &["--engine-install-url", &url, "--engine-version", &pinned],
            &name,
        )
    });
    assert!(out.success, "create failed:\n{out}");
    assert_eq!(fetched(), before + 1, "create fetches the script once");
    assert_eq!(installed_package(&host), versions[0]);
    let env = cli.env(&name);
    let server_version = docker_ok(&env, &["version", "--format", "{{.Server.Version}}"]);
    let server_version = server_version.trim().to_string();
    assert!(
        server_version.starts_with(&pinned),
        "asked for {pinned}, the daemon runs {server_version}"
    );
    let inspect_version = |cli: &Cli| {
        cli.ok(&[
            "inspect",
            "--format",
            "{{.HostOptions.EngineOptions.Version}} {{.DockerVersion}}",
            &name,
        ])
        .trim()
        .to_string()
    };
    assert_eq!(inspect_version(&cli), format!("{pinned} {server_version}"));

    // upgrade: the machine's own install script again (not get.docker.com), same version.
    let out = timed("upgrade (install script)", || {
        cli.call_with_timeout(&["upgrade", &name], machine_e2e::CREATE_TIMEOUT)
    });
    assert!(out.success, "upgrade failed:\n{out}");
    assert_eq!(
        fetched(),
        before + 2,
        "upgrade must fetch the machine's install script {url} again: {:?}",
        server.requests()
    );
    assert_eq!(installed_package(&host), versions[0]);
    assert_eq!(inspect_version(&cli), format!("{pinned} {server_version}"));
    let row = cli.ls();
    assert_eq!(
        row.row(&name).expect("listed")["DOCKER"],
        format!("v{server_version}"),
        "{}",
        row.raw
    );

    // upgrade --engine-version: a new pin (major.minor), kept in the machine's config.
    let major_minor: String = pinned.split('.').take(2).collect::<Vec<_>>().join(".");
    let out = timed("upgrade --engine-version", || {
        cli.call_with_timeout(
            &["upgrade", "--engine-version", &major_minor, &name],
            machine_e2e::CREATE_TIMEOUT,
        )
    });
    assert!(out.success, "upgrade --engine-version failed:\n{out}");
    assert_eq!(fetched(), before + 3, "{:?}", server.requests());
    assert_eq!(
        inspect_version(&cli),
        format!("{major_minor} {server_version}")
    );
    assert_eq!(
        cli.ok(&["version", &name]).trim(),
        server_version,
        "`machine version NAME`"
    );

    // upgrade to a version that does not exist: fails listing what exists; Docker keeps
    // running and the machine keeps its pin.
    let out = cli.call_with_timeout(
        &["upgrade", "--engine-version", "99.9.9", &name],
        machine_e2e::CREATE_TIMEOUT,
    );
    assert!(!out.success, "upgrade to 99.9.9 must fail:\n{out}");
    assert_contains(
        &out,
        "the version and the available ones",
        &["99.9.9", &versions[0]],
    );
    assert_eq!(
        inspect_version(&cli),
        format!("{major_minor} {server_version}"),
        "a failed upgrade must not change the machine's version"
    );
    let v = docker_ok(&env, &["version", "--format", "{{.Server.Version}}"]);
    assert_eq!(v.trim(), server_version);
    assert_eq!(cli.ok(&["status", &name]).trim(), "Running");
    cli.ok(&["rm", "-y", &name]);
}
