//! [`Machine`]: one machine's handle. Its operations live in files named for what they do:
//! `create.rs` (the steps of create and how a failed or cancelled one is undone),
//! `lifecycle.rs` (start, stop, restart, kill, remove, provision, upgrade, new certificates),
//! `access.rs` (reaching the machine: SSH, Docker URL, files for outside programs),
//! `openssh.rs` (the system's `ssh`, `scp`, `rsync` and `sshfs` pointed at it), `reboot.rs`
//! (rebooting a host the driver keeps) and `hedge.rs` (its recorded address first, its driver
//! beside it once that is slow).
//!
//! Every operation that changes a machine holds its lock in the store and reads its config
//! again once it holds it, so two processes never work on the same machine at once, and a
//! handle never acts on a machine that was removed and created again under the same name.

mod access;
mod create;
mod hedge;
mod lifecycle;
mod openssh;
mod reboot;

pub(crate) use access::{check_access, DaemonAt, CLIENT_BLOBS};
pub use access::{DockerEnv, HostKeyScan};
pub use create::{CreateHandle, CreateOptions};
pub(crate) use hedge::{hedged, HEDGE};
pub use lifecycle::RemoveOptions;
pub use openssh::{CopyOptions, CopyPath, SshCommandOptions, ToolError};

use crate::config::MachineConfig;
use crate::driver_host::DriverConn;
use crate::error::{Error, Result};
use crate::events::{Event, Level, Step};
use crate::manager::Inner;
use crate::store::MachineLock;
use driver_protocol::calls::MachineParams;
use driver_protocol::{CancellationToken, ErrorKind};
use std::future::Future;
use std::sync::Arc;

/// One machine.
pub struct Machine {
    pub(crate) inner: Arc<Inner>,
    pub(crate) config: MachineConfig,
    /// The client certificates as read with the config, for a listing (one store round trip).
    pub(crate) client_pems: Option<(String, crate::cert::Pem)>,
    /// The machine's SSH key as read with the config, for a listing of SSH-transport machines.
    pub(crate) ssh_key_pem: Option<String>,
}

impl Machine {
    /// The machine's name.
    pub fn name(&self) -> &str {
        &self.config.name
    }

    /// Its configuration as loaded (or as the last operation left it).
    pub fn config(&self) -> &MachineConfig {
        &self.config
    }

    fn emit(&self, step: Step, message: impl Into<String>) {
        self.inner
            .events
            .send(Event::new(&self.config.name, step, message));
    }

    fn warn(&self, step: Step, message: impl Into<String>) {
        self.inner
            .events
            .send(Event::new(&self.config.name, step, message).at(Level::Warn));
    }

    /// Holds the machine's lock and reads its configuration again: another process may have
    /// changed it, or removed the machine (and perhaps created another of the same name),
    /// while this one waited.
    async fn lock(&mut self) -> Result<MachineLock> {
        let guard = self.inner.store.lock(self.name()).await?;
        let now = self.inner.store.read_config(self.name()).await?;
        if now.creation_id != self.config.creation_id {
            return Err(Error::NotFound(self.config.name.clone()));
        }
        self.config = now;
        Ok(guard)
    }

    async fn save(&self) -> Result<()> {
        Ok(self.inner.store.write_config(&self.config).await?)
    }

    async fn driver(&self) -> Result<Arc<DriverConn>> {
        self.inner.drivers.get(&self.config.driver).await
    }

    fn params(&self) -> MachineParams {
        let mut p = MachineParams::new(&self.config.name, self.config.driver_config.clone());
        p.creation_id = self.config.creation_id.clone();
        p
    }

    /// Runs `f` unless `cancel` fires first; then it is dropped and the result is
    /// [`Error::Cancelled`].
    async fn or_cancel<T>(
        &self,
        cancel: &CancellationToken,
        operation: &str,
        f: impl Future<Output = Result<T>>,
    ) -> Result<T> {
        tokio::select! {
            biased;
            _ = cancel.cancelled() => Err(self.cancelled(operation)),
            r = f => r.map_err(|e| self.cancel_kind(e, operation)),
        }
    }

    fn cancelled(&self, operation: &str) -> Error {
        Error::Cancelled {
            machine: self.config.name.clone(),
            operation: operation.into(),
            undone: false,
        }
    }

    /// A driver's "cancelled" answer as [`Error::Cancelled`].
    fn cancel_kind(&self, e: Error, operation: &str) -> Error {
        match e {
            Error::Driver {
                kind: ErrorKind::Cancelled,
                ..
            } => self.cancelled(operation),
            other => other,
        }
    }
}
