//! Facts about the host, gathered in one round trip before anything is changed.

use super::*;

/// Facts about the host gathered in one round trip before anything is changed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Facts {
    pub user: String,
    pub hostname: String,
    /// Passwordless sudo works.
    pub sudo: bool,
    /// The login user is root (uid 0).
    pub root: bool,
    pub init: Init,
    /// Absolute paths of the tools found, by name (dockerd, docker, curl).
    pub tools: BTreeMap<String, String>,
    /// The login user's groups, as the group database has them now (not as this session got
    /// them when it logged in).
    pub groups: Vec<String>,
    /// The group of Docker's socket ([`engine::DOCKER_SOCKET`]); empty when there is no socket.
    pub socket_group: String,
    /// The TLS transport's daemon configuration, written by an earlier provisioning, is on
    /// the host: our systemd drop-in, or an OpenRC or sysvinit file that carries our header.
    pub tls_config: bool,
    /// One of the TLS transport's files is in /etc/docker (ca.pem, server.pem, server-key.pem).
    pub tls_files: bool,
}

impl Facts {
    pub fn tool(&self, name: &str) -> Option<&str> {
        self.tools
            .get(name)
            .map(|s| s.as_str())
            .filter(|s| !s.is_empty())
    }

    /// The login user is already in the group of Docker's socket (false when there is no
    /// socket yet, or when it is root's group).
    pub fn in_socket_group(&self) -> bool {
        !self.socket_group.is_empty()
            && self.socket_group != "root"
            && self.groups.contains(&self.socket_group)
    }
}

/// The first line of every daemon configuration file provisioning writes (see
/// `engine::systemd_dropin`, `engine::openrc_conf`, `engine::sysvinit_default`): how an OpenRC or
/// sysvinit file of ours is told from the one a package installed at the same path.
pub(crate) const CONFIG_HEADER: &str = "# Written by machine: the Docker daemon of this machine.";

/// A shell condition: `path`'s first line is [`CONFIG_HEADER`].
pub(crate) fn has_our_header(path: &str) -> String {
    format!(
        "head -n 1 {path} 2>/dev/null | grep -qxF {}",
        crate::shell::quote(CONFIG_HEADER)
    )
}

const PROBED_TOOLS: &[&str] = &["dockerd", "docker", "curl"];

/// The probe: who we are, whether sudo works without a password, the init system and the tools.
/// The system folders come first on its PATH, as for root's commands (`root_sh`): a login's own
/// `~/bin` (rootless Docker puts a `dockerd` there) never shadows the system's tools.
pub(crate) fn probe_command() -> String {
    let mut s = format!(
        "PATH=\"{ROOT_PATH}:$PATH\"; export PATH; \
         echo \"user=$(id -un)\"; \
         echo \"hostname=$(cat /proc/sys/kernel/hostname 2>/dev/null || hostname)\"; \
         echo \"uid=$(id -u)\"; \
         if sudo -n true </dev/null >/dev/null 2>&1; then echo sudo=yes; else echo sudo=no; fi; \
         echo \"init={}\"; \
         echo \"groups=$(id -Gn \"$(id -un)\" 2>/dev/null)\"; \
         echo \"socket.group=$(stat -c %G {sock} 2>/dev/null)\"; \
         if [ -e {dropin} ] || {openrc} || {sysv}; then echo tls.config=yes; else echo tls.config=no; fi; \
         if [ -e {ca} ] || [ -e {cert} ] || [ -e {key} ]; then echo tls.files=yes; else echo tls.files=no; fi; ",
        init::DETECT_SCRIPT,
        sock = engine::DOCKER_SOCKET,
        dropin = engine::SYSTEMD_DROPIN_PATH,
        openrc = has_our_header(engine::OPENRC_CONF_PATH),
        sysv = has_our_header(engine::SYSVINIT_DEFAULT_PATH),
        ca = engine::CA_PATH,
        cert = engine::SERVER_CERT_PATH,
        key = engine::SERVER_KEY_PATH,
    );
    for t in PROBED_TOOLS {
        s.push_str(&format!(
            "echo \"tool.{t}=$(command -v {t} 2>/dev/null)\"; "
        ));
    }
    s
}

pub(crate) fn parse_probe(stdout: &str) -> Facts {
    let mut facts = Facts::default();
    for line in stdout.lines() {
        let Some((k, v)) = line.split_once('=') else {
            continue;
        };
        let v = v.trim();
        match k.trim() {
            "user" => facts.user = v.to_string(),
            "hostname" => facts.hostname = v.to_string(),
            "sudo" => facts.sudo = v == "yes",
            "uid" => facts.root = v == "0",
            "init" => facts.init = Init::parse(v),
            "groups" => facts.groups = v.split_whitespace().map(str::to_string).collect(),
            "socket.group" => facts.socket_group = v.to_string(),
            "tls.config" => facts.tls_config = v == "yes",
            "tls.files" => facts.tls_files = v == "yes",
            k => {
                if let Some(tool) = k.strip_prefix("tool.") {
                    facts.tools.insert(tool.to_string(), v.to_string());
                }
            }
        }
    }
    facts
}
