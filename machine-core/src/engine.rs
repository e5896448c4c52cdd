//! The Docker engine a machine runs: how it is installed ([`InstallMethod`], pinned
//! [`EngineOptions::version`]) and how its daemon is configured (TLS, labels, registries, extra
//! `dockerd` flags), stored in the machine's config.
//!
//! This module only renders text: the `dockerd` command line ([`dockerd_args`]), the systemd
//! drop-in ([`systemd_dropin`]), the OpenRC `/etc/conf.d/docker` ([`openrc_conf`]) and the
//! sysvinit `/etc/default/docker` ([`sysvinit_default`]). Putting them on a host is
//! provisioning's job.
//!
//! Two mistakes of Docker Machine are avoided on purpose: the daemon path is whatever the host
//! has (`command -v dockerd`; Debian puts it in /usr/sbin), never a hard-coded `/usr/bin/dockerd`,
//! and a storage driver is passed only when the user asked for one.

use serde::{Deserialize, Serialize};

/// The install script Docker Machine used by default.
pub const DEFAULT_INSTALL_URL: &str = "https://get.docker.com";
/// The TLS port of the daemon.
pub const DEFAULT_ENGINE_PORT: u16 = 2376;
/// Where the daemon's certificates live on the host.
pub const CERT_DIR: &str = "/etc/docker";
/// The CA the daemon trusts for client certificates.
pub const CA_PATH: &str = "/etc/docker/ca.pem";
/// The daemon's certificate.
pub const SERVER_CERT_PATH: &str = "/etc/docker/server.pem";
/// The daemon's private key (mode 0600).
pub const SERVER_KEY_PATH: &str = "/etc/docker/server-key.pem";
/// The systemd drop-in that replaces the packaged `ExecStart`.
pub const SYSTEMD_DROPIN_PATH: &str = "/etc/systemd/system/docker.service.d/10-machine.conf";
/// OpenRC's settings for its docker service (Alpine).
pub const OPENRC_CONF_PATH: &str = "/etc/conf.d/docker";
/// sysvinit's settings for its docker service (Debian's /etc/init.d/docker reads it).
pub const SYSVINIT_DEFAULT_PATH: &str = "/etc/default/docker";

/// The daemon's local socket, what the SSH transport reaches (over an SSH channel).
pub const DOCKER_SOCKET: &str = "/var/run/docker.sock";

/// How the workstation reaches a machine's daemon, chosen per machine at `create`
/// (`--engine-transport`) and changed by `provision --engine-transport`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Transport {
    /// Docker Machine's way: dockerd listens on TCP (2376) with mutual TLS, certificates from
    /// the store's CA.
    #[default]
    Tls,
    /// dockerd keeps its local socket only; it is reached through an SSH connection to the
    /// host (the recorded host key checked) with the machine's key. No port, no certificates,
    /// no daemon restart.
    Ssh,
}

impl Transport {
    /// `tls` or `ssh`, as `--engine-transport` takes it.
    pub fn name(self) -> &'static str {
        match self {
            Transport::Tls => "tls",
            Transport::Ssh => "ssh",
        }
    }
}

impl std::fmt::Display for Transport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for Transport {
    type Err = EngineOptionError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "tls" => Ok(Transport::Tls),
            "ssh" => Ok(Transport::Ssh),
            _ => Err(EngineOptionError {
                option: s.to_string(),
                reason: "the engine transport is tls (TCP with mutual TLS) or ssh (the \
                         daemon's socket over SSH)"
                    .into(),
            }),
        }
    }
}

/// How Docker gets onto the host when it is missing (and on `upgrade`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
#[non_exhaustive]
pub enum InstallMethod {
    /// Download a script (get.docker.com or a compatible one) and run it with `sh`; a pinned
    /// version is passed as `VERSION=x.y.z` in its environment, as get.docker.com reads it.
    Script {
        /// Where to download the install script from.
        url: String,
    },
    /// The distribution's own packages (`docker.io` on Debian and Ubuntu, `moby-engine` on Fedora,
    /// ...), pinned with the package manager's versioned name.
    Packages,
}

impl InstallMethod {
    /// `script` or `packages`.
    pub fn name(&self) -> &'static str {
        match self {
            InstallMethod::Script { .. } => "script",
            InstallMethod::Packages => "packages",
        }
    }

    /// The install script's URL, for the script method.
    pub fn url(&self) -> Option<&str> {
        match self {
            InstallMethod::Script { url } => Some(url),
            InstallMethod::Packages => None,
        }
    }

    /// The install script's URL as it may be shown: its credentials, if any, hidden
    /// (`https://user:token@host/x` becomes `https://***@host/x`).
    pub fn shown_url(&self) -> Option<String> {
        self.url().map(|u| crate::download::redact(u).into_owned())
    }
}

impl Default for InstallMethod {
    fn default() -> Self {
        InstallMethod::Script {
            url: DEFAULT_INSTALL_URL.to_string(),
        }
    }
}

/// Everything about the engine a user chose at `create` (the `--engine-*` flags, `--tls-san`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
#[non_exhaustive]
pub struct EngineOptions {
    /// `--engine-transport`: how the daemon is reached (TLS over TCP, or its socket over SSH).
    pub transport: Transport,
    /// `--engine-install-url` (script) or the packages method.
    pub install_method: InstallMethod,
    /// `--engine-version`: the Docker version to install, e.g. `24.0.7`; `None` is the newest.
    pub version: Option<String>,
    /// `--engine-opt`: extra `dockerd` flags, `key=value` (becomes `--key value`) or `key`
    /// (becomes `--key`).
    pub opts: Vec<String>,
    /// `--engine-env`: `K=V` set in the daemon's environment.
    pub env: Vec<String>,
    /// `--engine-label`: `key=value` labels besides `provider=DRIVER`.
    pub labels: Vec<String>,
    /// `--engine-insecure-registry`.
    pub insecure_registries: Vec<String>,
    /// `--engine-registry-mirror`.
    pub registry_mirrors: Vec<String>,
    /// `--engine-storage-driver`: passed only when set.
    pub storage_driver: Option<String>,
    /// `--tls-san`: extra names and addresses in the server certificate.
    pub tls_san: Vec<String>,
    /// The daemon's TLS port (`--generic-engine-port`).
    pub port: u16,
    /// `--allow-http-downloads`: the install script (and a driver's ISO or cloud-init file) may
    /// come over plain http. Off, downloads are https only and never follow a redirect to http.
    pub allow_http_downloads: bool,
}

impl Default for EngineOptions {
    fn default() -> Self {
        EngineOptions {
            transport: Transport::default(),
            install_method: InstallMethod::default(),
            version: None,
            opts: Vec::new(),
            env: Vec::new(),
            labels: Vec::new(),
            insecure_registries: Vec::new(),
            registry_mirrors: Vec::new(),
            storage_driver: None,
            tls_san: Vec::new(),
            port: DEFAULT_ENGINE_PORT,
            allow_http_downloads: false,
        }
    }
}

/// An engine option that cannot be turned into a safe daemon configuration.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid engine option {option:?}: {reason}")]
pub struct EngineOptionError {
    /// The offending option, as given.
    pub option: String,
    /// Why it was rejected.
    pub reason: String,
}

fn invalid(option: &str, reason: &str) -> EngineOptionError {
    EngineOptionError {
        option: option.to_string(),
        reason: reason.to_string(),
    }
}

fn check_text(option: &str) -> Result<(), EngineOptionError> {
    if option.chars().any(|c| c == '\n' || c == '\r' || c == '\0') {
        return Err(invalid(option, "it contains a line break or a NUL"));
    }
    Ok(())
}

/// Parses a `K=V` environment entry.
fn parse_env(entry: &str) -> Result<(&str, &str), EngineOptionError> {
    check_text(entry)?;
    let (k, v) = entry
        .split_once('=')
        .ok_or_else(|| invalid(entry, "expected KEY=VALUE"))?;
    let valid_key = !k.is_empty()
        && !k.starts_with(|c: char| c.is_ascii_digit())
        && k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if !valid_key {
        return Err(invalid(
            entry,
            "the name must be letters, digits and _ (not starting with a digit)",
        ));
    }
    Ok((k, v))
}

/// The environment entries of the daemon, validated, as `(KEY, VALUE)`.
pub fn daemon_env(engine: &EngineOptions) -> Result<Vec<(String, String)>, EngineOptionError> {
    engine
        .env
        .iter()
        .map(|e| parse_env(e).map(|(k, v)| (k.to_string(), v.to_string())))
        .collect()
}

/// The `dockerd` arguments (without the program itself), in Docker Machine's order:
/// `-H tcp://0.0.0.0:PORT -H unix:///var/run/docker.sock --tlsverify --tlscacert ... --tlscert ...
/// --tlskey ... --label provider=DRIVER [--label ...] [--storage-driver X]
/// [--insecure-registry ...] [--registry-mirror ...] [extra opts]`.
pub fn dockerd_args(
    engine: &EngineOptions,
    driver_name: &str,
) -> Result<Vec<String>, EngineOptionError> {
    let mut args: Vec<String> = vec![
        "-H".into(),
        format!("tcp://0.0.0.0:{}", engine.port),
        "-H".into(),
        "unix:///var/run/docker.sock".into(),
        "--tlsverify".into(),
        "--tlscacert".into(),
        CA_PATH.into(),
        "--tlscert".into(),
        SERVER_CERT_PATH.into(),
        "--tlskey".into(),
        SERVER_KEY_PATH.into(),
        "--label".into(),
        format!("provider={driver_name}"),
    ];
    for label in &engine.labels {
        check_text(label)?;
        args.push("--label".into());
        args.push(label.clone());
    }
    if let Some(sd) = engine.storage_driver.as_deref().filter(|s| !s.is_empty()) {
        check_text(sd)?;
        args.push("--storage-driver".into());
        args.push(sd.to_string());
    }
    for r in &engine.insecure_registries {
        check_text(r)?;
        args.push("--insecure-registry".into());
        args.push(r.clone());
    }
    for m in &engine.registry_mirrors {
        check_text(m)?;
        args.push("--registry-mirror".into());
        args.push(m.clone());
    }
    for opt in &engine.opts {
        check_text(opt)?;
        let opt = opt.trim_start_matches('-');
        if opt.is_empty() {
            return Err(invalid(opt, "empty option"));
        }
        match opt.split_once('=') {
            Some((k, v)) => {
                if k.is_empty() {
                    return Err(invalid(opt, "expected key=value"));
                }
                args.push(format!("--{k}"));
                args.push(v.to_string());
            }
            None => args.push(format!("--{opt}")),
        }
    }
    Ok(args)
}

/// Quotes one word of a systemd `ExecStart=` line: specifiers (`%`) and variable expansion (`$`)
/// are escaped; a word with anything but plain characters goes in double quotes with `\` and `"`
/// escaped.
fn systemd_word(word: &str) -> String {
    let escaped = word.replace('%', "%%").replace('$', "$$");
    let plain = !word.is_empty()
        && word
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "@%+=:,./_-".contains(c));
    if plain {
        escaped
    } else {
        format!("\"{}\"", escaped.replace('\\', "\\\\").replace('"', "\\\""))
    }
}

/// The systemd drop-in for docker.service: the daemon's environment, then an empty `ExecStart=`
/// (which clears the packaged command line) and ours.
pub fn systemd_dropin(
    dockerd_path: &str,
    engine: &EngineOptions,
    driver_name: &str,
) -> Result<String, EngineOptionError> {
    check_text(dockerd_path)?;
    let args = dockerd_args(engine, driver_name)?;
    let mut out =
        String::from("# Written by machine: the Docker daemon of this machine.\n[Service]\n");
    for (k, v) in daemon_env(engine)? {
        let entry = format!("{k}={v}").replace('%', "%%");
        out.push_str(&format!(
            "Environment=\"{}\"\n",
            entry.replace('\\', "\\\\").replace('"', "\\\"")
        ));
    }
    out.push_str("ExecStart=\n");
    let line: Vec<String> = std::iter::once(dockerd_path.to_string())
        .chain(args)
        .map(|w| systemd_word(&w))
        .collect();
    out.push_str(&format!("ExecStart={}\n", line.join(" ")));
    out.push_str("ExecReload=/bin/kill -s HUP $MAINPID\n");
    Ok(out)
}

/// The daemon flags as one `DOCKER_OPTS` value for init scripts, which split it on white space
/// without any quoting: an argument with white space or quotes cannot be expressed and is refused.
fn init_script_opts(
    engine: &EngineOptions,
    driver_name: &str,
) -> Result<String, EngineOptionError> {
    let args = dockerd_args(engine, driver_name)?;
    for a in &args {
        if a.chars()
            .any(|c| c.is_whitespace() || "'\"\\$`".contains(c))
        {
            return Err(invalid(
                a,
                "hosts without systemd pass the daemon flags through DOCKER_OPTS, which cannot hold \
                 white space, quotes, \\, $ or `",
            ));
        }
    }
    Ok(args.join(" "))
}

fn shell_env_lines(engine: &EngineOptions) -> Result<String, EngineOptionError> {
    let mut out = String::new();
    for (k, v) in daemon_env(engine)? {
        out.push_str(&format!("export {k}={}\n", crate::shell::quote(&v)));
    }
    Ok(out)
}

/// OpenRC's `/etc/conf.d/docker` (Alpine's docker service reads `DOCKER_OPTS` and, here,
/// `DOCKERD_BINARY`); the environment is exported from it, as the file is sourced by the service.
pub fn openrc_conf(
    dockerd_path: &str,
    engine: &EngineOptions,
    driver_name: &str,
) -> Result<String, EngineOptionError> {
    init_script_conf("DOCKERD_BINARY", dockerd_path, engine, driver_name)
}

/// sysvinit's `/etc/default/docker` (Debian's /etc/init.d/docker sources it and reads `DOCKERD`
/// and `DOCKER_OPTS`).
pub fn sysvinit_default(
    dockerd_path: &str,
    engine: &EngineOptions,
    driver_name: &str,
) -> Result<String, EngineOptionError> {
    init_script_conf("DOCKERD", dockerd_path, engine, driver_name)
}

/// A shell file an init script sources: the environment, the daemon binary under
/// `binary_var`, and `DOCKER_OPTS`.
fn init_script_conf(
    binary_var: &str,
    dockerd_path: &str,
    engine: &EngineOptions,
    driver_name: &str,
) -> Result<String, EngineOptionError> {
    check_text(dockerd_path)?;
    let opts = init_script_opts(engine, driver_name)?;
    Ok(format!(
        "# Written by machine: the Docker daemon of this machine.\n{}{binary_var}={}\nDOCKER_OPTS=\"{opts}\"\n",
        shell_env_lines(engine)?,
        crate::shell::quote(dockerd_path),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn engine() -> EngineOptions {
        EngineOptions::default()
    }

    #[test]
    fn defaults_are_docker_machines() {
        let e = engine();
        assert_eq!(
            e.install_method,
            InstallMethod::Script {
                url: "https://get.docker.com".into()
            }
        );
        assert_eq!(e.port, 2376);
        assert_eq!(e.storage_driver, None);
        let json = serde_json::to_value(&e).unwrap();
        assert_eq!(json["install_method"]["kind"], "script");
        // an old or partial config still loads
        let back: EngineOptions =
            serde_json::from_str(r#"{"install_method":{"kind":"packages"},"version":"24.0.7"}"#)
                .unwrap();
        assert_eq!(back.install_method, InstallMethod::Packages);
        assert_eq!(back.version.as_deref(), Some("24.0.7"));
        assert_eq!(back.port, 2376);
    }

    #[test]
    fn default_command_line_has_tls_label_and_no_storage_driver() {
        let args = dockerd_args(&engine(), "generic").unwrap().join(" ");
        assert_eq!(
            args,
            "-H tcp://0.0.0.0:2376 -H unix:///var/run/docker.sock --tlsverify \
             --tlscacert /etc/docker/ca.pem --tlscert /etc/docker/server.pem \
             --tlskey /etc/docker/server-key.pem --label provider=generic"
        );
        assert!(!args.contains("storage-driver"));
    }

    #[test]
    fn every_option_lands_in_order() {
        let e = EngineOptions {
            labels: vec!["env=prod".into(), "team=a b".into()],
            storage_driver: Some("vfs".into()),
            insecure_registries: vec!["10.0.0.5:5000".into()],
            registry_mirrors: vec!["https://mirror.example".into()],
            opts: vec![
                "log-level=debug".into(),
                "--max-concurrent-downloads=5".into(),
                "experimental".into(),
            ],
            port: 2377,
            ..engine()
        };
        let args = dockerd_args(&e, "vsphere").unwrap();
        let tail: Vec<&str> = args[11..].iter().map(|s| s.as_str()).collect();
        assert_eq!(args[1], "tcp://0.0.0.0:2377");
        assert_eq!(
            tail,
            [
                "--label",
                "provider=vsphere",
                "--label",
                "env=prod",
                "--label",
                "team=a b",
                "--storage-driver",
                "vfs",
                "--insecure-registry",
                "10.0.0.5:5000",
                "--registry-mirror",
                "https://mirror.example",
                "--log-level",
                "debug",
                "--max-concurrent-downloads",
                "5",
                "--experimental"
            ]
        );
    }

    #[test]
    fn systemd_dropin_clears_execstart_and_quotes() {
        let e = EngineOptions {
            env: vec![
                "HTTP_PROXY=http://proxy:3128".into(),
                "WEIRD=a \"b\" 100%".into(),
            ],
            labels: vec!["team=a b".into(), "cost=$5%".into()],
            ..engine()
        };
        let d = systemd_dropin("/usr/sbin/dockerd", &e, "generic").unwrap();
        let expected = "# Written by machine: the Docker daemon of this machine.\n\
             [Service]\n\
             Environment=\"HTTP_PROXY=http://proxy:3128\"\n\
             Environment=\"WEIRD=a \\\"b\\\" 100%%\"\n\
             ExecStart=\n\
             ExecStart=/usr/sbin/dockerd -H tcp://0.0.0.0:2376 -H unix:///var/run/docker.sock \
             --tlsverify --tlscacert /etc/docker/ca.pem --tlscert /etc/docker/server.pem \
             --tlskey /etc/docker/server-key.pem --label provider=generic --label \"team=a b\" \
             --label \"cost=$$5%%\"\n\
             ExecReload=/bin/kill -s HUP $MAINPID\n";
        assert_eq!(d, expected);
    }

    #[test]
    fn dockerd_path_is_the_detected_one() {
        let d = systemd_dropin("/opt/bin/dockerd", &engine(), "generic").unwrap();
        assert!(d.contains("ExecStart=/opt/bin/dockerd -H"));
        assert!(!d.contains("/usr/bin/dockerd"));
    }

    #[test]
    fn line_breaks_are_refused() {
        let e = EngineOptions {
            labels: vec!["a=b\nExecStartPre=/bin/evil".into()],
            ..engine()
        };
        let err = dockerd_args(&e, "generic").unwrap_err();
        assert!(err.to_string().contains("line break"), "{err}");
        let e = EngineOptions {
            env: vec!["1BAD=x".into()],
            ..engine()
        };
        assert!(systemd_dropin("/usr/bin/dockerd", &e, "generic").is_err());
        let e = EngineOptions {
            env: vec!["NOEQUALS".into()],
            ..engine()
        };
        assert!(daemon_env(&e)
            .unwrap_err()
            .to_string()
            .contains("KEY=VALUE"));
    }

    #[test]
    fn openrc_and_sysvinit_files() {
        let e = EngineOptions {
            env: vec!["HTTPS_PROXY=http://p:1/it's".into()],
            labels: vec!["env=prod".into()],
            ..engine()
        };
        let o = openrc_conf("/usr/bin/dockerd", &e, "generic").unwrap();
        assert_eq!(
            o,
            "# Written by machine: the Docker daemon of this machine.\n\
             export HTTPS_PROXY='http://p:1/it'\\''s'\n\
             DOCKERD_BINARY=/usr/bin/dockerd\n\
             DOCKER_OPTS=\"-H tcp://0.0.0.0:2376 -H unix:///var/run/docker.sock --tlsverify \
             --tlscacert /etc/docker/ca.pem --tlscert /etc/docker/server.pem \
             --tlskey /etc/docker/server-key.pem --label provider=generic --label env=prod\"\n"
        );
        let s = sysvinit_default("/usr/sbin/dockerd", &e, "generic").unwrap();
        assert!(s.contains("\nDOCKERD=/usr/sbin/dockerd\n"), "{s}");
        assert!(s.contains("DOCKER_OPTS=\"-H tcp://0.0.0.0:2376 "), "{s}");
        // white space cannot survive DOCKER_OPTS word splitting: refused, not mangled
        let e = EngineOptions {
            labels: vec!["team=a b".into()],
            ..engine()
        };
        let err = sysvinit_default("/usr/sbin/dockerd", &e, "generic").unwrap_err();
        assert!(err.to_string().contains("DOCKER_OPTS"), "{err}");
    }

    #[test]
    fn shell_quoting() {
        assert_eq!(crate::shell::quote("abc/-_.:=1"), "abc/-_.:=1");
        assert_eq!(crate::shell::quote(""), "''");
        assert_eq!(crate::shell::quote("a b"), "'a b'");
        assert_eq!(crate::shell::quote("it's"), r"'it'\''s'");
        assert_eq!(crate::shell::quote("$(x)"), "'$(x)'");
    }
}
