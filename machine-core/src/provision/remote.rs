//! What the provisioner needs of a host: run a shell command, write a file. The SSH session
//! implements it; tests use a scripted fake or `docker exec`.

use super::ProvisionError;
use crate::ssh::Output;

/// A host the provisioner works on.
#[async_trait::async_trait]
pub trait Remote: Send + Sync {
    /// Runs a shell command as the login user; returns exit status, stdout, stderr.
    /// An `Err` means the command could not be run at all (connection lost, ...), not that it
    /// failed: a failing command is an `Ok` with a non-zero status.
    async fn run(&self, command: &str) -> Result<Output, ProvisionError>;
    /// Runs a command like [`Remote::run`], passing each line of its output to `on_line` as it
    /// comes (by default, once the command has finished).
    async fn run_streaming(
        &self,
        command: &str,
        on_line: &(dyn for<'s> Fn(&'s str) + Send + Sync),
    ) -> Result<Output, ProvisionError> {
        let out = self.run(command).await?;
        for line in out.stdout.lines().chain(out.stderr.lines()) {
            on_line(line);
        }
        Ok(out)
    }
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
