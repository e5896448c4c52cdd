//! What to do next, for each error the library reports: the library says what happened, the CLI
//! says what the user can do about it.

use machine_core::docker_context::ContextError;
use machine_core::{
    DaemonError, Error, MissingPart, ProvisionError, SshError, SshKeyError, StoreError, ToolError,
};

/// The one answer to Docker Machine's classic-Swarm flags.
pub const SWARM_CLASSIC: &str = "Docker Swarm (classic) is not supported: Docker removed it. Drop \
     the --swarm* flags and use swarm mode: create the machines, then `machine swarm init \
     MANAGER` and `machine swarm join MANAGER WORKER...`";

const ALLOW_HTTP: &str = "use an https URL, or pass --allow-http-downloads (or set \
     MACHINE_ALLOW_HTTP_DOWNLOADS=1) to allow plain http";

/// Advice for `e`, if there is any.
pub fn hint(e: &Error) -> Option<String> {
    Some(match e {
        Error::NotFound(_) => "`machine ls` lists the machines, `machine create` adds one".into(),
        Error::AlreadyExists(n) => {
            format!("pick another name, or remove it first with `machine rm {n}`")
        }
        Error::DriverNotFound { driver, .. }
            if machine_core::DOCKER_MACHINE_BUILTINS.contains(&driver.as_str()) =>
        {
            format!(
                "{driver} is built into Docker Machine: set MACHINE_DOCKER_MACHINE_BIN to a \
                 docker-machine binary (Docker Machine's, GitLab's or Rancher's) to run it \
                 through machine-plugin-bridge"
            )
        }
        Error::DriverNotFound { installed, .. } if !installed.is_empty() => {
            format!("installed drivers: {}", installed.join(", "))
        }
        Error::DriverNotFound { .. } => {
            "put machine-driver-NAME next to `machine` or on PATH".into()
        }
        Error::CreateFailed {
            machine,
            kept: true,
            ..
        } => {
            format!("the machine was kept: `machine rm -f {machine}` removes it")
        }
        Error::CreateFailed { source, .. } | Error::PreCreateCheck { source, .. } => {
            return hint(source)
        }
        // only a create makes something to undo; any other operation left the machine as the
        // driver had it when it stopped
        Error::Cancelled {
            machine,
            operation,
            undone: false,
        } if operation == "create" => format!("`machine rm -f {machine}` removes what was left"),
        Error::Cancelled {
            machine, operation, ..
        } if operation != "create" => format!(
            "`machine status {machine}` shows where the {operation} stopped; run it again to finish"
        ),
        Error::Store(StoreError::Corrupt { machine, .. }) if !machine.is_empty() => {
            format!("`machine rm -f {machine}` removes it")
        }
        Error::Store(StoreError::Misfiled {
            stored_as,
            recorded,
            ..
        }) => format!(
            "`machine rm -f {}` removes this copy, and only it (machine {recorded} and its host \
             are left as they are); a machine cannot be renamed by renaming its folder",
            machine_core::shell_quote(stored_as)
        ),
        Error::Store(StoreError::NewerVersion { found, .. }) => format!(
            "a newer release of machine wrote it: use that release (one that reads config \
             version {found}); this one leaves the record untouched"
        ),
        Error::Store(StoreError::UnsafePermissions {
            path,
            owner,
            user,
            dir,
            ..
        }) => {
            let p = machine_core::shell_quote(&path.display().to_string());
            if owner != user {
                format!(
                    "make sure nobody else put it there, then take it over: `sudo chown -R {user} {p}`, \
                     or use another --storage-path"
                )
            } else if *dir {
                format!("`chmod 700 {p}` makes it private")
            } else {
                format!("`chmod 600 {p}` makes it private")
            }
        }
        Error::Store(StoreError::Symlink {
            path,
            target,
            store_root,
        }) => {
            let p = machine_core::shell_quote(&path.display().to_string());
            match target {
                None => format!("remove the broken link: `rm {p}`"),
                Some(t) => {
                    let t = machine_core::shell_quote(&t.display().to_string());
                    let replace = format!("put it in the link's place: `rm {p} && mv {t} {p}`");
                    if *store_root {
                        format!(
                            "use the folder it leads to: `--storage-path {t}` (or \
                             `export MACHINE_STORAGE_PATH={t}`); or {replace}"
                        )
                    } else {
                        replace
                    }
                }
            }
        }
        Error::Missing {
            machine,
            what: MissingPart::Tls(_),
        } => format!("`machine regenerate-certs {machine}` issues new certificates"),
        Error::Missing {
            machine,
            what: MissingPart::HostKey,
        } => format!(
            "`machine host-key accept {machine}` shows the fingerprint of the key the host \
             presents and records it once you confirm (if its create did not finish, \
             `machine rm {machine}` removes it instead)"
        ),
        Error::HostKeyChanged { machine, .. } => format!(
            "nothing was sent to it. Either the host was reinstalled or its host keys \
             regenerated, or someone is intercepting the connection. If you know why it \
             changed, `machine host-key accept {machine}` shows both fingerprints and records \
             the new key"
        ),
        Error::KeyRefused { .. } => "the host did not install the machine's key (for a VM: is \
             cloud-init with the VMware guestinfo data source in the image?)"
            .into(),
        Error::NotRunning { machine, .. } => format!("`machine start {machine}` starts it"),
        Error::Download(_) | Error::Provision(ProvisionError::Download { .. }) => {
            ALLOW_HTTP.into()
        }
        Error::StoreCa(machine_core::error::StoreCaError::KeyMismatch { which }) => format!(
            "pass the key made with that certificate (--tls-{} with its --tls-{})",
            if *which == "CA" { "ca-key" } else { "client-key" },
            if *which == "CA" { "ca-cert" } else { "client-cert" }
        ),
        Error::StoreCa(_) => "use another --storage-path for machines under this CA".into(),
        Error::DockerContext(ContextError::NotOurs { name, .. }) => format!(
            "`docker context rm {name}` removes that context; then `machine use {name}` makes the machine's"
        ),
        Error::DockerContext(ContextError::Reserved) => {
            "`eval \"$(machine env default)\"` points the docker client at it instead".into()
        }
        Error::Tool(ToolError::NoMachine) => "name a machine on one side (or both): NAME:PATH".into(),
        Error::Tool(ToolError::DeltaBetweenMachines) => {
            "copy through here without -d (--delta)".into()
        }
        Error::Tool(ToolError::Path { .. }) => {
            "use a --storage-path without quotes or control characters".into()
        }
        Error::Ssh(e) => return ssh_hint(e),
        Error::SshKey(e) => return key_hint(e),
        Error::Daemon(e) => return daemon_hint(e),
        // advice that fits the driver that failed: its own options, or nothing it cannot use
        Error::Driver {
            driver,
            kind: machine_core::ErrorKind::AuthFailed,
            ..
        } => match driver.as_str() {
            "vsphere" => "check --vmwarevsphere-username and the password \
                          (--vmwarevsphere-password or VSPHERE_PASSWORD)"
                .into(),
            d => format!("check the credentials given to the {d} driver (`machine create -d {d} --help`)"),
        },
        Error::Driver {
            driver,
            kind: machine_core::ErrorKind::Unreachable,
            ..
        } => match driver.as_str() {
            "vsphere" => "is vCenter up, and are --vmwarevsphere-vcenter and its port right?".into(),
            d => format!("is what the {d} driver talks to (its API or host) reachable from here?"),
        },
        _ => return None,
    })
}

fn ssh_hint(e: &SshError) -> Option<String> {
    Some(match e {
        SshError::Unreachable { .. } => "is the host up and is sshd listening on that port?".into(),
        SshError::AuthFailed { .. } => {
            "check the user and that the key's .pub is in the user's ~/.ssh/authorized_keys".into()
        }
        SshError::HostKeyMismatch { .. } => "the host presents another key than the one \
             expected: check the fingerprint (`ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub` \
             on the host shows it); if it is right, someone may be intercepting the connection"
            .into(),
        SshError::Timeout { .. } => {
            "is the host overloaded or the network dropping packets?".into()
        }
        SshError::Disconnected { .. } => "did the host reboot or sshd restart?".into(),
        SshError::BadHostKey { .. } => "the machine's record may be damaged".into(),
        SshError::Key(k) => return key_hint(k),
        _ => return None,
    })
}

fn key_hint(e: &SshKeyError) -> Option<String> {
    Some(match e {
        SshKeyError::NotFound { .. } => {
            "pass --generic-ssh-key with an existing private key".into()
        }
        SshKeyError::Unreadable { .. } => "check the file's permissions".into(),
        SshKeyError::Encrypted { path } => format!(
            "add it to your ssh-agent (`ssh-add {}`; machine then uses it through the agent), or \
             use a key without a passphrase (for example a copy made with \
             `ssh-keygen -p -N '' -f COPY`)",
            machine_core::shell_quote(&path.display().to_string())
        ),
        SshKeyError::PublicNotPrivate { .. } => {
            "pass the private key file instead (usually the same name without .pub)".into()
        }
        SshKeyError::Invalid { .. } => {
            "pass an ed25519, ECDSA or RSA private key in OpenSSH or PEM format".into()
        }
        _ => return None,
    })
}

fn daemon_hint(e: &DaemonError) -> Option<String> {
    Some(match e {
        DaemonError::BadTls { .. } | DaemonError::Tls { .. } => {
            "the daemon's certificate does not \
             match this store's CA or this address: run `machine regenerate-certs` for this machine"
                .into()
        }
        DaemonError::Unreachable { .. } | DaemonError::NotReady { .. } => "is dockerd running and \
             listening there (check `sudo journalctl -u docker` on the host, e.g. through \
             `machine ssh`), and does a firewall allow the port?"
            .into(),
        _ => return None,
    })
}

/// The exit status for a failed command: Docker Machine's 3 when a driver's pre-create check
/// refused the machine (scripts test for it), 1 otherwise.
pub fn exit_code(e: &(dyn std::error::Error + 'static)) -> std::process::ExitCode {
    match e.downcast_ref::<Error>() {
        Some(e) if e.is_pre_create_check() => std::process::ExitCode::from(3),
        _ => std::process::ExitCode::FAILURE,
    }
}

/// `Error: ...` and the advice, as printed on stderr (control characters escaped: see
/// [`crate::terminal`]). A name that exists is Docker Machine's
/// own line, `Docker machine "NAME" already exists`, whole (scripts match it), advice below.
pub fn render(e: &(dyn std::error::Error + 'static)) -> String {
    // the message may quote a host's, a daemon's or a driver's words: shown, never acted on
    let text = crate::terminal::block(&e.to_string());
    let mut out = match e.downcast_ref::<Error>() {
        Some(Error::AlreadyExists(_)) => text,
        _ => format!("Error: {text}"),
    };
    if let Some(h) = e.downcast_ref::<Error>().and_then(hint) {
        out.push_str(&format!("\n({})", crate::terminal::line(&h)));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_existing_name_is_docker_machines_whole_line_with_advice_below() {
        let text = render(&Error::AlreadyExists("web1".into()));
        let mut lines = text.lines();
        assert_eq!(lines.next(), Some("Docker machine \"web1\" already exists"));
        assert!(lines.next().unwrap().contains("machine rm web1"), "{text}");
    }

    #[test]
    fn host_key_advice_names_the_command_that_accepts_a_key_never_rm() {
        let changed = Error::HostKeyChanged {
            machine: "web1".into(),
            addr: "192.0.2.5:22".into(),
            recorded: "SHA256:old".into(),
            presented: "SHA256:new".into(),
        };
        let text = render(&changed);
        for part in ["SHA256:old", "SHA256:new", "machine host-key accept web1"] {
            assert!(text.contains(part), "{text}");
        }
        assert!(!text.contains("machine rm"), "{text}");
        let missing = Error::Missing {
            machine: "web1".into(),
            what: MissingPart::HostKey,
        };
        assert!(hint(&missing)
            .unwrap()
            .contains("machine host-key accept web1"));
    }
}
