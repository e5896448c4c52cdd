//! What the provisioner needs of a host: run a shell command, write a file. The SSH session
//! implements it; tests use a scripted fake or `docker exec`.

use super::ProvisionError;

/// The result of one command on the host.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CommandOutput {
    /// The exit status (0 is success).
    pub status: u32,
    pub stdout: String,
    pub stderr: String,
}

impl CommandOutput {
    /// A successful command that printed `stdout`.
    pub fn ok(stdout: impl Into<String>) -> CommandOutput {
        CommandOutput {
            status: 0,
            stdout: stdout.into(),
            stderr: String::new(),
        }
    }

    /// A failed command with `status` that printed `stderr`.
    pub fn failed(status: u32, stderr: impl Into<String>) -> CommandOutput {
        CommandOutput {
            status,
            stdout: String::new(),
            stderr: stderr.into(),
        }
    }

    pub fn success(&self) -> bool {
        self.status == 0
    }
}

/// A host the provisioner works on.
#[async_trait::async_trait]
pub trait Remote: Send + Sync {
    /// Runs a shell command as the login user; returns exit status, stdout, stderr.
    /// An `Err` means the command could not be run at all (connection lost, ...), not that it
    /// failed: a failing command is an `Ok` with a non-zero status.
    async fn run(&self, command: &str) -> Result<CommandOutput, ProvisionError>;
    /// Writes a file atomically, as root when `sudo`.
    async fn upload(
        &self,
        path: &str,
        contents: &[u8],
        mode: u32,
        sudo: bool,
    ) -> Result<(), ProvisionError>;
    /// The address the host was reached at (e.g. its IP), for messages; `None` when unknown.
    fn address(&self) -> Option<String> {
        None
    }
}
