//! What to do next, for each error the library reports: the library says what happened, the CLI
//! says what the user can do about it.

use machine_core::{Error, StoreError};

/// Advice for `e`, if there is any.
pub fn hint(e: &Error) -> Option<String> {
    Some(match e {
        Error::NotFound(_) => "`machine ls` lists the machines, `machine create` adds one".into(),
        Error::AlreadyExists(n) => {
            format!("pick another name, or remove it first with `machine rm {n}`")
        }
        Error::DriverNotFound { installed, .. } if !installed.is_empty() => {
            format!("installed drivers: {}", installed.join(", "))
        }
        Error::DriverNotFound { .. } => {
            "put machine-driver-NAME next to `machine` or on PATH".into()
        }
        Error::DriverVersion { .. } => {
            "install matching versions of machine and the driver".into()
        }
        Error::CreateFailed { machine, kept: true, .. } => {
            format!("the machine was kept: `machine rm -f {machine}` removes it")
        }
        Error::CreateFailed { source, .. } => return hint(source),
        Error::Cancelled {
            machine,
            undone: false,
            ..
        } => format!("`machine rm -f {machine}` removes what was left"),
        Error::Store(StoreError::Corrupt { machine, .. })
        | Error::Store(StoreError::NewerVersion { machine, .. })
            if !machine.is_empty() =>
        {
            format!("`machine rm -f {machine}` removes it")
        }
        Error::Missing { machine, what } if what.contains("certificate") => format!(
            "`machine regenerate-certs --client-certs {machine}` issues new certificates"
        ),
        Error::Missing { machine, what } if what.contains("host key") => format!(
            "the machine's create did not finish: `machine rm {machine}` removes it"
        ),
        Error::KeyRefused { .. } => "the host did not install the machine's key (for a VM: is \
             cloud-init with the VMware guestinfo data source in the image?)"
            .into(),
        Error::StoreCa(_) => "use another --storage-path for machines under this CA".into(),
        Error::Ssh(machine_core::ssh::SshError::AuthFailed { .. }) => {
            "check --generic-ssh-user and that the key's .pub is in the user's ~/.ssh/authorized_keys"
                .into()
        }
        Error::Ssh(machine_core::ssh::SshError::HostKeyMismatch { .. }) => {
            "if you know the host was reinstalled, remove the machine and create it again".into()
        }
        _ => return None,
    })
}

/// `Error: ...` and the advice, as printed on stderr.
pub fn render(e: &(dyn std::error::Error + 'static)) -> String {
    let mut out = format!("Error: {e}");
    if let Some(h) = e.downcast_ref::<Error>().and_then(hint) {
        out.push_str(&format!("\n({h})"));
    }
    out
}
