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
}

impl Facts {
    pub fn tool(&self, name: &str) -> Option<&str> {
        self.tools
            .get(name)
            .map(|s| s.as_str())
            .filter(|s| !s.is_empty())
    }
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
         echo \"init={}\"; ",
        init::DETECT_SCRIPT
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
            k => {
                if let Some(tool) = k.strip_prefix("tool.") {
                    facts.tools.insert(tool.to_string(), v.to_string());
                }
            }
        }
    }
    facts
}
