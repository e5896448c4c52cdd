//! The SSH session is the [`Remote`] provisioning uses on real hosts.

use super::{Output, ProvisionError, Remote};
use crate::ssh::{Session, SshError};

fn transport(e: SshError) -> ProvisionError {
    ProvisionError::transport(e.to_string())
}

#[async_trait::async_trait]
impl Remote for Session {
    async fn run(&self, command: &str) -> Result<Output, ProvisionError> {
        self.exec(command).await.map_err(transport)
    }

    async fn run_streaming(
        &self,
        command: &str,
        on_line: &(dyn for<'s> Fn(&'s str) + Send + Sync),
    ) -> Result<Output, ProvisionError> {
        self.exec_streaming(command, on_line)
            .await
            .map_err(transport)
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
