//! The SSH session is the [`Remote`] provisioning uses on real hosts.

use super::{CommandOutput, ProvisionError, Remote};
use crate::ssh::{Session, SshError};

fn transport(e: SshError) -> ProvisionError {
    ProvisionError::transport(e.to_string())
}

#[async_trait::async_trait]
impl Remote for Session {
    async fn run(&self, command: &str) -> Result<CommandOutput, ProvisionError> {
        let out = self.exec(command).await.map_err(transport)?;
        Ok(CommandOutput {
            status: out.status,
            stdout: out.stdout,
            stderr: out.stderr,
        })
    }

    async fn upload(
        &self,
        path: &str,
        contents: &[u8],
        mode: u32,
        sudo: bool,
    ) -> Result<(), ProvisionError> {
        Session::upload(self, path, contents, mode, sudo)
            .await
            .map_err(transport)
    }

    fn address(&self) -> Option<String> {
        Some(self.target().host.clone())
    }
}
