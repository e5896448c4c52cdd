//! `machine import`: a Docker Machine store, written the way Docker Machine 0.16 writes it, for
//! a test host set up the way Docker Machine's provisioner sets one up (its own CA, a server
//! certificate in /etc/docker, dockerd on 2376 with --tlsverify, an RSA key in PEM form), and
//! with machines it cannot bring beside it. The good machine is imported without provisioning
//! (Docker is not restarted), keeps Docker Machine's CA as its trust root, `ls` shows it
//! Running, `env` + the real docker client reach its daemon, `ssh` checks the host key import
//! recorded (a changed host key is refused), and the old store is unchanged byte for byte.

use machine_e2e::support::plugins::{plugins_dir, FakeCloud};
use machine_e2e::support::{self, TestHost};
use machine_e2e::{docker_ok, timed, unique_name, var, Cli};
use serde_json::json;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Where the fixture store says it was (Docker Machine records absolute paths): import reads
/// paths under it from wherever the store is now.
const RECORDED_ROOT: &str = "/home/nick/.docker/machine";

fn openssl(dir: &Path, args: &[&str]) {
    support::run(Command::new("openssl").current_dir(dir).args(args));
}

/// Docker Machine's certificates: a CA and a client certificate in `certs/`, and a server
/// certificate for `ip` and `name` (its SANs: the IP, `localhost` and the name).
fn make_certs(store: &Path, name: &str, ip: &str) {
    let certs = store.join("certs");
    let machine = store.join("machines").join(name);
    std::fs::create_dir_all(&certs).unwrap();
    std::fs::create_dir_all(&machine).unwrap();
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    openssl(
        w,
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "ca-key.pem",
            "-out",
            "ca.pem",
            "-days",
            "365",
            "-subj",
            "/O=nick",
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign,digitalSignature",
        ],
    );
    std::fs::write(w.join("client.ext"), "extendedKeyUsage=clientAuth\n").unwrap();
    std::fs::write(
        w.join("server.ext"),
        format!("subjectAltName=IP:{ip},DNS:localhost,DNS:{name}\nextendedKeyUsage=serverAuth\n"),
    )
    .unwrap();
    for (who, serial, subject) in [
        ("client", "4097", "/O=nick.<bootstrap>"),
        ("server", "4098", "/O=nick.machine"),
    ] {
        openssl(
            w,
            &[
                "req",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-keyout",
                &format!("{who}-key.pem"),
                "-out",
                &format!("{who}.csr"),
                "-subj",
                subject,
            ],
        );
        openssl(
            w,
            &[
                "x509",
                "-req",
                "-in",
                &format!("{who}.csr"),
                "-CA",
                "ca.pem",
                "-CAkey",
                "ca-key.pem",
                "-set_serial",
                serial,
                "-days",
                "365",
                "-out",
                &format!("{who}.pem"),
                "-extfile",
                &format!("{who}.ext"),
            ],
        );
    }
    for (from, to) in [
        ("ca.pem", certs.join("ca.pem")),
        ("ca-key.pem", certs.join("ca-key.pem")),
        ("client.pem", certs.join("cert.pem")),
        ("client-key.pem", certs.join("key.pem")),
        // Docker Machine copies the CA and client certificate into the machine's folder too
        ("ca.pem", machine.join("ca.pem")),
        ("client.pem", machine.join("cert.pem")),
        ("client-key.pem", machine.join("key.pem")),
        ("server.pem", machine.join("server.pem")),
        ("server-key.pem", machine.join("server-key.pem")),
    ] {
        std::fs::copy(w.join(from), to).unwrap();
    }
}

/// A generic machine's config.json as Docker Machine 0.16 writes it.
fn generic_config(name: &str, ip: &str, version: u32, driver: &str) -> serde_json::Value {
    let root = RECORDED_ROOT;
    json!({
        "ConfigVersion": version,
        "Driver": {
            "IPAddress": ip, "MachineName": name, "SSHUser": "nick", "SSHPort": 22,
            "SSHKeyPath": format!("{root}/machines/{name}/id_rsa"), "StorePath": root,
            "SwarmMaster": false, "SwarmHost": "", "SwarmDiscovery": "",
            "EnginePort": 2376, "SSHKey": "/home/nick/.ssh/id_rsa"
        },
        "DriverName": driver,
        "HostOptions": {
            "Driver": "", "Memory": 0, "Disk": 0,
            "EngineOptions": {
                "ArbitraryFlags": [], "Dns": null, "GraphDir": "", "Env": [], "Ipv6": false,
                "InsecureRegistry": [], "Labels": [], "LogLevel": "", "StorageDriver": "",
                "SelinuxEnabled": false, "TlsVerify": true, "RegistryMirror": [],
                "InstallURL": "https://get.docker.com"
            },
            "SwarmOptions": {
                "IsSwarm": false, "Address": "", "Discovery": "", "Agent": false, "Master": false,
                "Host": "tcp://0.0.0.0:3376", "Image": "swarm:latest", "Strategy": "spread",
                "Heartbeat": 0, "Overcommit": 0, "ArbitraryFlags": [], "ArbitraryJoinFlags": [],
                "Env": null, "IsExperimental": false
            },
            "AuthOptions": {
                "CertDir": format!("{root}/certs"),
                "CaCertPath": format!("{root}/certs/ca.pem"),
                "CaPrivateKeyPath": format!("{root}/certs/ca-key.pem"),
                "CaCertRemotePath": "",
                "ServerCertPath": format!("{root}/machines/{name}/server.pem"),
                "ServerKeyPath": format!("{root}/machines/{name}/server-key.pem"),
                "ClientKeyPath": format!("{root}/certs/key.pem"),
                "ServerCertRemotePath": "", "ServerKeyRemotePath": "",
                "ClientCertPath": format!("{root}/certs/cert.pem"),
                "ServerCertSANs": [],
                "StorePath": format!("{root}/machines/{name}")
            }
        },
        "Name": name
    })
}

fn write_config(store: &Path, name: &str, text: &str) {
    let dir = store.join("machines").join(name);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("config.json"), text).unwrap();
}

/// Docker Machine's generic driver keeps a copy of the user's key (an RSA key in PEM form, as
/// `ssh-keygen -m PEM` writes it) as the machine's id_rsa; the host accepts it for `nick`.
fn user_rsa_key(host: &TestHost, machine_dir: &Path) {
    let key = machine_dir.join("id_rsa");
    support::run(
        Command::new("ssh-keygen")
            .args([
                "-q",
                "-t",
                "rsa",
                "-b",
                "2048",
                "-m",
                "PEM",
                "-N",
                "",
                "-C",
                "nick@laptop",
                "-f",
            ])
            .arg(&key),
    );
    let public = std::fs::read_to_string(machine_dir.join("id_rsa.pub")).unwrap();
    host.exec(&format!(
        "printf '%s\\n' '{}' >> /home/nick/.ssh/authorized_keys",
        public.trim()
    ));
}

/// Docker from Debian's packages, then configured as Docker Machine's provisioner does it:
/// its certificates in /etc/docker and a systemd drop-in running dockerd with --tlsverify.
fn provision_like_docker_machine(host: &TestHost, machine_dir: &Path) {
    host.exec(
        "export DEBIAN_FRONTEND=noninteractive; apt-get update -q >/dev/null && \
         apt-get install -y -q docker.io >/dev/null && mkdir -p /etc/docker \
         /etc/systemd/system/docker.service.d",
    );
    for f in ["ca.pem", "server.pem", "server-key.pem"] {
        support::run(
            Command::new("docker")
                .arg("cp")
                .arg(machine_dir.join(f))
                .arg(format!("{}:/etc/docker/{f}", host.name)),
        );
    }
    host.exec(
        "cat > /etc/systemd/system/docker.service.d/10-machine.conf <<'EOF'\n\
[Service]\n\
ExecStart=\n\
ExecStart=/usr/sbin/dockerd -H tcp://0.0.0.0:2376 -H unix:///var/run/docker.sock --tlsverify --tlscacert /etc/docker/ca.pem --tlscert /etc/docker/server.pem --tlskey /etc/docker/server-key.pem --label provider=generic\n\
Environment=\n\
EOF\n\
systemctl daemon-reload && systemctl restart docker",
    );
}

/// Every file of a tree, with its content.
fn snapshot(root: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut todo = vec![root.to_path_buf()];
    while let Some(d) = todo.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let e = e.unwrap();
            if e.file_type().unwrap().is_dir() {
                todo.push(e.path());
            } else {
                out.insert(e.path(), std::fs::read(e.path()).unwrap());
            }
        }
    }
    out
}

#[test]
fn import_a_docker_machine_store_then_ls_env_docker_ssh() {
    let host = timed("test host start", TestHost::start_with_docker);
    let dm = tempfile::Builder::new()
        .prefix("docker-machine-store-")
        .tempdir()
        .unwrap();
    let store = dm.path();
    let name = unique_name("dm-web");
    let machine_dir = store.join("machines").join(&name);
    make_certs(store, &name, &host.ip);
    user_rsa_key(&host, &machine_dir);
    write_config(
        store,
        &name,
        &serde_json::to_string_pretty(&generic_config(&name, &host.ip, 3, "generic")).unwrap(),
    );
    timed("Docker set up as Docker Machine does", || {
        provision_like_docker_machine(&host, &machine_dir)
    });
    let docker_started = host.exec("systemctl show -p ActiveEnterTimestampMonotonic docker");

    // machines it cannot bring, beside it
    let half =
        serde_json::to_string_pretty(&generic_config("half", &host.ip, 3, "generic")).unwrap();
    write_config(store, "half", &half[..half.len() / 2]);
    write_config(
        store,
        "old",
        &generic_config("old", &host.ip, 2, "generic").to_string(),
    );
    write_config(
        store,
        "aws",
        &generic_config("aws", "192.0.2.7", 3, "amazonec2").to_string(),
    );
    let before = snapshot(store);

    let cli = Cli::new();
    let out = timed("import", || {
        cli.call(&["import", "--from", store.to_str().unwrap()])
    });
    assert!(
        !out.success,
        "machines were left out, so import fails:\n{out}"
    );
    let imported: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(imported.len(), 1, "{out}");
    assert!(
        imported[0].starts_with(&format!(
            "Imported {name} (generic, tcp://{}:2376, Docker ",
            host.ip
        )),
        "{out}"
    );
    for (bad, why) in [
        ("half", "not valid json"),
        ("old", "configversion 2"),
        ("aws", "amazonec2"),
    ] {
        let line = out
            .stderr
            .lines()
            .find(|l| l.starts_with(&format!("Not imported {bad}: ")))
            .unwrap_or_else(|| panic!("no reason given for {bad}:\n{out}"));
        assert!(line.to_lowercase().contains(why), "{line}");
    }
    assert_eq!(snapshot(store), before, "the Docker Machine store changed");

    // the fingerprint shown is the host's own key's
    let shown = imported[0]
        .rsplit("SSH host key ")
        .next()
        .unwrap()
        .trim()
        .to_string();
    let host_fingerprints =
        host.exec("for k in /etc/ssh/ssh_host_*_key.pub; do ssh-keygen -lf $k; done");
    assert!(
        shown.starts_with("SHA256:") && host_fingerprints.contains(&shown),
        "shown {shown:?}, the host's:\n{host_fingerprints}"
    );

    // not provisioned again: the daemon Docker Machine's way configured was not restarted
    assert_eq!(
        host.exec("systemctl show -p ActiveEnterTimestampMonotonic docker"),
        docker_started
    );

    let table = cli.ls();
    let row = table
        .row(&name)
        .unwrap_or_else(|| panic!("{name} not listed:\n{}", table.raw));
    assert_eq!(row["STATE"], "Running", "{}", table.raw);
    assert_eq!(row["DRIVER"], "generic", "{}", table.raw);
    assert_eq!(row["ERRORS"], "", "{}", table.raw);
    for bad in ["half", "old", "aws"] {
        assert!(
            table.row(bad).is_none(),
            "{bad} was half-imported:\n{}",
            table.raw
        );
    }

    // the docker client trusts Docker Machine's CA for this machine, and reaches the daemon
    let env = cli.env(&name);
    let cert_path = PathBuf::from(var(&env, "DOCKER_CERT_PATH").unwrap());
    assert_eq!(
        std::fs::read(cert_path.join("ca.pem")).unwrap(),
        std::fs::read(store.join("certs/ca.pem")).unwrap(),
        "the machine keeps Docker Machine's CA"
    );
    let server = docker_ok(&env, &["version", "--format", "{{.Server.Version}}"]);
    assert!(!server.trim().is_empty());

    // ssh with the recorded host key
    assert_eq!(cli.ok(&["ssh", &name, "hostname"]).trim(), host.name);
    cli.ok(&["ssh", &name, "true"]);

    // the host key is checked on every later connection: new host keys are refused
    host.exec("rm -f /etc/ssh/ssh_host_* && ssh-keygen -A >/dev/null && systemctl restart ssh");
    host.wait_for_ssh(std::time::Duration::from_secs(30));
    let refused = cli.fail(&["ssh", &name, "true"]);
    assert!(
        refused.text_lower().contains("host key"),
        "a changed host key must be refused:\n{refused}"
    );

    // importing again leaves the machine here as it is
    let again = cli.call(&["import", "--from", store.to_str().unwrap(), &name]);
    assert!(!again.success, "{again}");
    assert!(
        again.stderr.contains("already has a machine of that name"),
        "{again}"
    );
    assert_eq!(snapshot(store), before, "the Docker Machine store changed");
}

#[test]
fn import_from_a_missing_store_says_where_it_looked() {
    let cli = Cli::new();
    let out = cli.fail(&["import", "--from", "/nonexistent/docker-machine"]);
    assert!(
        out.stderr
            .contains("no Docker Machine store at /nonexistent/docker-machine: no such folder"),
        "{out}"
    );
    assert!(cli.ls().rows.is_empty());
}

/// A machine Docker Machine made with a plugin (here the fake cloud's, through the bridge):
/// import hands its recorded driver config back to the plugin (SetConfigRaw), and the plugin
/// then acts on the same instance: `ls` asks it, `rm` removes the instance.
#[test]
fn import_a_machine_of_a_docker_machine_plugin() {
    let host = timed("test host start", TestHost::start_with_docker);
    let cloud = FakeCloud::start(&host.ip, 22, &host.key.private);
    let dm = tempfile::Builder::new()
        .prefix("docker-machine-store-")
        .tempdir()
        .unwrap();
    let store = dm.path();
    let name = unique_name("dm-fc");
    let machine_dir = store.join("machines").join(&name);
    let instance = cloud.create_instance(&name);
    make_certs(store, &name, &host.ip);
    user_rsa_key(&host, &machine_dir);
    let mut config = generic_config(&name, &host.ip, 3, "fakecloud");
    let root = RECORDED_ROOT;
    config["Driver"] = json!({
        "IPAddress": host.ip, "MachineName": name, "SSHUser": "nick", "SSHPort": 22,
        "SSHKeyPath": format!("{root}/machines/{name}/id_rsa"), "StorePath": root,
        "SwarmMaster": false, "SwarmHost": "", "SwarmDiscovery": "",
        "APIURL": cloud.url, "AccessKey": cloud.access_key, "SecretKey": cloud.secret_key,
        "KeyPairName": "machine", "InstanceID": instance["id"], "InstanceName": name,
        "Tags": [], "CreateDelay": 0, "FailAfterCreate": false
    });
    write_config(
        store,
        &name,
        &serde_json::to_string_pretty(&config).unwrap(),
    );
    timed("Docker set up as Docker Machine does", || {
        provision_like_docker_machine(&host, &machine_dir)
    });

    let cli = Cli::new();
    let with_plugins = |args: &[&str]| {
        let mut cmd = cli.command(args);
        let path = std::env::var_os("PATH").unwrap_or_default();
        let mut dirs = vec![plugins_dir()];
        dirs.extend(std::env::split_paths(&path));
        cmd.env("PATH", std::env::join_paths(dirs).unwrap());
        machine_e2e::call(&mut cmd, args, machine_e2e::CREATE_TIMEOUT)
    };
    let out = with_plugins(&["import", "--from", store.to_str().unwrap()]);
    assert!(out.success, "{out}");
    assert!(
        out.stdout.contains(&format!("Imported {name} (fakecloud")),
        "{out}"
    );
    let inspect = with_plugins(&["inspect", &name]);
    assert!(
        inspect.stdout.contains(instance["id"].as_str().unwrap()),
        "{inspect}"
    );
    assert!(!inspect.stdout.contains(&cloud.secret_key), "{inspect}");
    let env = cli.env(&name);
    docker_ok(&env, &["version"]);
    let out = with_plugins(&["rm", "-y", &name]);
    assert!(out.success, "{out}");
    assert_eq!(
        cloud.instances(),
        Vec::<serde_json::Value>::new(),
        "rm must remove the imported instance"
    );
}
