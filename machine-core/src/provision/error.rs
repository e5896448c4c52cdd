//! What can go wrong while provisioning, with the step and the tail of what a failed command
//! printed.

use super::*;

/// What can go wrong while provisioning. Every variant names the step and, for a failed remote
/// command, the tail of what it printed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ProvisionError {
    /// The command could not be run at all (the connection failed). `step` names the
    /// provisioning step, when known.
    #[error("{}{message}", step.as_deref().map(|s| format!("{s}: ")).unwrap_or_default())]
    Transport {
        /// The provisioning step, once known.
        step: Option<String>,
        /// What went wrong with the connection.
        message: String,
    },
    /// A remote command exited with a non-zero status.
    #[error(
        "{step} failed: `{}` exited with status {status}{}",
        short_command(command),
        output_tail(output)
    )]
    Command {
        /// The provisioning step.
        step: String,
        /// The command that failed.
        command: String,
        /// Its exit status.
        status: u32,
        /// The tail of stderr (or of stdout when stderr is empty).
        output: String,
    },
    /// The login user is not root and cannot use sudo without a password.
    #[error("user {user} cannot run sudo without a password on {host}: add `{user} ALL=(ALL) NOPASSWD: ALL` to /etc/sudoers.d/{user}")]
    SudoRequired {
        /// The login user.
        user: String,
        /// The host's address and/or hostname.
        host: String,
    },
    /// The host's OS has no provisioner and no Docker already installed.
    #[error("unsupported operating system {id:?} ({pretty_name}): supported are {supported} (and distributions whose ID_LIKE names one of them); an unknown OS that already runs Docker is configured as it is")]
    UnsupportedOs {
        /// The OS's `ID`.
        id: String,
        /// The OS's `PRETTY_NAME`.
        pretty_name: String,
        /// The supported `ID`s, comma-separated.
        supported: String,
    },
    /// The requested Docker version is not among the distribution's packages.
    #[error("Docker {requested} is not available as package {package} on {os}; available versions: {}", if available.is_empty() { "none".to_string() } else { available.join(", ") })]
    VersionUnavailable {
        /// The version asked for.
        requested: String,
        /// The package that was searched.
        package: String,
        /// The OS's pretty name.
        os: String,
        /// The versions the package manager offers.
        available: Vec<String>,
    },
    /// The machine name is not a valid hostname.
    #[error("cannot use machine name {0:?} as a hostname: use letters, digits, '-' and '.', at most 63 characters between dots")]
    InvalidHostname(String),
    /// An engine option cannot be turned into a daemon configuration.
    #[error(transparent)]
    EngineOption(#[from] EngineOptionError),
    /// A download was refused (plain http, or a redirect to it).
    #[error("{step}: {source}")]
    Download {
        /// The provisioning step.
        step: String,
        /// What was refused.
        source: crate::download::DownloadError,
    },
    /// A step cannot be done on this host.
    #[error("{step}: {message}")]
    Unsupported {
        /// The provisioning step.
        step: String,
        /// Why it cannot be done and what to do instead.
        message: String,
    },
    /// After the daemon's configuration was taken back, something still listens on its TCP
    /// port: the port is not closed, whatever the undo did.
    #[error(
        "the Docker daemon's TCP port {port} is still open on the host after its configuration \
         was removed ({listeners} listening socket(s)): see what listens there (`sudo ss -ltnp \
         'sport = :{port}'`), stop it, and run the removal again"
    )]
    PortStillOpen {
        /// The port.
        port: u16,
        /// How many listening sockets were found on it.
        listeners: u32,
    },
    /// A step did not finish in time (e.g. the daemon never answered).
    #[error("{step}: timed out after {seconds} s{}", output_tail(detail))]
    Timeout {
        /// The provisioning step.
        step: String,
        /// How many seconds were waited.
        seconds: u64,
        /// The last output and the daemon's log, for diagnosis.
        detail: String,
    },
}

impl ProvisionError {
    /// A connection failure, for [`Remote`] implementations.
    pub(crate) fn transport(message: impl Into<String>) -> ProvisionError {
        ProvisionError::Transport {
            step: None,
            message: message.into(),
        }
    }

    pub(crate) fn in_step(self, step: &str) -> ProvisionError {
        match self {
            ProvisionError::Transport {
                step: None,
                message,
            } => ProvisionError::Transport {
                step: Some(step.to_string()),
                message,
            },
            other => other,
        }
    }
}

pub(crate) fn short_command(command: &str) -> String {
    const MAX: usize = 160;
    let one_line = command.split_whitespace().collect::<Vec<_>>().join(" ");
    if one_line.chars().count() > MAX {
        format!("{}...", one_line.chars().take(MAX).collect::<String>())
    } else {
        one_line
    }
}

/// The last lines of a command's output, for error messages.
pub(crate) fn output_tail(output: &str) -> String {
    const LINES: usize = 15;
    let lines: Vec<&str> = output
        .lines()
        .map(str::trim_end)
        .filter(|l| !l.is_empty())
        .collect();
    if lines.is_empty() {
        return String::new();
    }
    let start = lines.len().saturating_sub(LINES);
    format!(":\n  {}", lines[start..].join("\n  "))
}

pub(crate) fn command_failed(step: &str, command: &str, out: &Output) -> ProvisionError {
    let output = if out.stderr.trim().is_empty() {
        &out.stdout
    } else {
        &out.stderr
    };
    ProvisionError::Command {
        step: step.to_string(),
        command: command.to_string(),
        status: out.status,
        output: output.clone(),
    }
}
