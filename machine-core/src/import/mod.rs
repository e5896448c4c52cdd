//! Bringing machines made by Docker Machine under management, without provisioning them again.
//!
//! For each machine of a Docker Machine store ([`docker_machine`] reads it, and nothing is ever
//! written there): its driver adopts what exists (the driver's `adopt` call: for vSphere, the
//! VM of the machine's name), the library logs in over SSH with the machine's own key and
//! records the host key (Docker Machine never recorded one), and asks the daemon its version
//! over mutual TLS with the machine's own CA and client certificate. Only then is the record
//! written, in phase `Ready`, with those certificates as the machine's own: the machine keeps
//! trusting Docker Machine's CA, not this store's. A machine that cannot be brought is reported
//! with the reason and nothing of it is written; the others are imported.

pub mod docker_machine;

use crate::cert::Pem;
use crate::config::{MachineConfig, Phase};
use crate::docker_url::DockerUrl;
use crate::error::{Error, Result};
use crate::events::Step;
use crate::manager::Manager;
use crate::name::validate_name;
use crate::ssh::{self, HostKeyCheck, Session, SshTarget};
use crate::store::{Blob, StoreError};
use docker_machine::ReadError;
use driver_protocol::calls::SetConfigParams;
use driver_protocol::request::Adopt;
use driver_protocol::CancellationToken;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// How long the SSH login and the daemon's answer may take: the machine runs already.
const VERIFY_TIMEOUT: Duration = Duration::from_secs(20);

/// What to import.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ImportOptions {
    /// The Docker Machine store (`~/.docker/machine`, or its `MACHINE_STORAGE_PATH`).
    pub from: PathBuf,
    /// The machines to import; empty: all of them.
    pub names: Vec<String>,
}

impl ImportOptions {
    /// Every machine of the store at `from`.
    pub fn new(from: impl Into<PathBuf>) -> ImportOptions {
        ImportOptions {
            from: from.into(),
            names: Vec::new(),
        }
    }

    /// Docker Machine's default store, `~/.docker/machine`.
    pub fn default_store() -> PathBuf {
        let home = std::env::var_os("HOME").unwrap_or_else(|| "/".into());
        Path::new(&home).join(".docker/machine")
    }
}

/// A machine brought under management.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Imported {
    /// Its driver, as Docker Machine named it.
    pub driver: String,
    /// Its Docker URL.
    pub url: DockerUrl,
    /// The SSH host key now recorded (OpenSSH public key line).
    pub host_key: String,
    /// Its SHA256 fingerprint, to compare with the host's own (`ssh-keygen -lf
    /// /etc/ssh/ssh_host_*_key.pub` on the host).
    pub host_key_fingerprint: String,
    /// The Docker version the daemon answered with over TLS.
    pub docker_version: String,
}

/// Why a machine was not imported. Nothing of it was written.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ImportError {
    /// No such machine in the Docker Machine store.
    #[error("no machine of that name in the Docker Machine store {}", .store.display())]
    NotInStore {
        /// The store.
        store: PathBuf,
    },
    /// Its name is not valid here.
    #[error(transparent)]
    InvalidName(Box<Error>),
    /// Its record in the Docker Machine store cannot be read or brought.
    #[error(transparent)]
    Read(#[from] ReadError),
    /// This store has a machine of that name already (it was left as it is).
    #[error("this store already has a machine of that name")]
    AlreadyExists,
    /// The driver is not installed, cannot adopt machines, or found nothing to adopt.
    #[error("{0}")]
    Driver(Box<Error>),
    /// Logging in over SSH with the machine's key failed.
    #[error("cannot log in over SSH with the machine's key: {0}")]
    Ssh(Box<Error>),
    /// The daemon did not answer over mutual TLS with the machine's certificates.
    #[error("its Docker daemon does not answer over TLS with the machine's certificates: {0}")]
    Docker(Box<Error>),
    /// Writing the record failed (nothing of it is left).
    #[error("{0}")]
    Store(Box<Error>),
    /// The import was cancelled before this machine was written.
    #[error("cancelled")]
    Cancelled,
}

/// One machine's outcome.
pub type ImportResult<T = Imported> = std::result::Result<T, ImportError>;

impl Manager {
    /// Imports machines from a Docker Machine store (see the module documentation); one result
    /// per machine, in name order. The Docker Machine store is only read. Fails as a whole
    /// only when there is no store to read ([`Error::NoDockerMachineStore`]).
    pub async fn import_docker_machine(
        &self,
        opts: &ImportOptions,
        cancel: &CancellationToken,
    ) -> Result<Vec<(String, ImportResult)>> {
        let from = &opts.from;
        let no_store = |reason: &str| Error::NoDockerMachineStore {
            path: from.clone(),
            reason: reason.into(),
        };
        if !from.is_dir() {
            return Err(no_store("no such folder"));
        }
        if !from.join("machines").is_dir() {
            return Err(no_store("it has no machines folder"));
        }
        let names = if opts.names.is_empty() {
            docker_machine::machine_names(from).map_err(|e| no_store(&e.to_string()))?
        } else {
            opts.names.clone()
        };
        let mut out = Vec::with_capacity(names.len());
        for name in names {
            let r = if cancel.is_cancelled() {
                Err(ImportError::Cancelled)
            } else {
                self.import_one(from, &name, cancel).await
            };
            out.push((name, r));
        }
        Ok(out)
    }

    async fn import_one(
        &self,
        from: &Path,
        name: &str,
        cancel: &CancellationToken,
    ) -> ImportResult {
        validate_name(name).map_err(|e| ImportError::InvalidName(Box::new(e)))?;
        if !from.join("machines").join(name).is_dir() {
            return Err(ImportError::NotInStore {
                store: from.to_path_buf(),
            });
        }
        let events = &self.inner.events;
        let store = &self.inner.store;
        let store_error = |e: StoreError| ImportError::Store(Box::new(e.into()));
        events.info(name, Step::Check, "Reading Docker Machine's record...");
        // a machine of a driver not installed here is named as such before its files are read
        if let Some(driver) = docker_machine::driver_of(from, name).await {
            if let Err(Error::DriverNotFound { .. }) = self.inner.drivers.get(&driver).await {
                return Err(ImportError::Read(ReadError::UnsupportedDriver { driver }));
            }
        }
        let dm = docker_machine::read(from, name).await?;
        if store.exists(name).await.map_err(store_error)? {
            return Err(ImportError::AlreadyExists);
        }
        let driver_error = |e: Error| ImportError::Driver(Box::new(e));
        let driver = match self.inner.drivers.get(&dm.driver).await {
            Ok(d) => d,
            Err(Error::DriverNotFound { .. }) => {
                return Err(ImportError::Read(ReadError::UnsupportedDriver {
                    driver: dm.driver.clone(),
                }))
            }
            Err(e) => return Err(driver_error(e)),
        };
        let info = driver.info().clone();
        let options = docker_machine::options_from(&dm.driver_fields, &info.options);
        let adopt = SetConfigParams::new(name, info.with_defaults(options))
            .docker_machine_config(serde_json::Value::Object(dm.driver_fields.clone()));
        let adopted = driver
            .request::<Adopt>(name, &adopt, self.inner.timeouts.query, cancel)
            .await
            .map_err(driver_error)?;
        let mut config = MachineConfig::new(name, &info.name, &dm.driver, dm.engine);
        config.driver_config = adopted.config;
        config.secret_keys = info.secret_keys();
        let mut machine = self.handle(config);
        let access = machine.access().await.map_err(driver_error)?;
        let url = machine.url_of(&access).map_err(driver_error)?;

        let ssh_error = |e: Error| ImportError::Ssh(Box::new(e));
        let a = machine.ssh_of(&access, "import").map_err(driver_error)?;
        events.info(
            name,
            Step::WaitForSsh,
            format!(
                "Logging in as {}@{}:{} with the machine's key...",
                a.user, a.host, a.port
            ),
        );
        let label = format!("the SSH key of Docker Machine's {name}");
        let key_text = String::from_utf8_lossy(&dm.ssh_key);
        let key = crate::sshkey::parse_private(&key_text, Path::new(&label))
            .map_err(|e| ssh_error(e.into()))?;
        let target = SshTarget::new(&a.host, a.port, &a.user, key, &label);
        let host_key = or_cancelled(cancel, async {
            let session = Session::connect(&target, HostKeyCheck::Record, VERIFY_TIMEOUT)
                .await
                .map_err(|e| ssh_error(e.into()))?;
            let key = session.host_key().to_string();
            session.close().await;
            Ok(key)
        })
        .await?;
        let fingerprint = ssh::fingerprint(&host_key).map_err(|e| ssh_error(e.into()))?;
        events.info(
            name,
            Step::WaitForSsh,
            format!("Recorded its SSH host key {fingerprint}"),
        );

        events.info(
            name,
            Step::WaitForDocker,
            format!(
                "Asking the daemon at {} over TLS, trusting the machine's own CA...",
                url
            ),
        );
        let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
        let client = Pem {
            cert: text(&dm.client_cert),
            key: text(&dm.client_key),
        };
        let version = or_cancelled(cancel, async {
            let ca = text(&dm.ca_cert);
            let route = crate::daemon::Route::Tls {
                url: &url,
                ca_pem: &ca,
                identity: &client,
                pinned: None,
            };
            self.inner
                .daemons
                .version_within(route, VERIFY_TIMEOUT)
                .await
                .map_err(|e| ImportError::Docker(Box::new(e.into())))
        })
        .await?;

        machine.config.ssh_host_key = Some(host_key.clone());
        machine.config.docker_version = Some(version.version.clone());
        machine.config.engine.port = url.port();
        machine.config.phase = Phase::Ready;
        if dm.server.is_some() {
            // where the daemon just answered: tried first from now on, once it presents the
            // server certificate recorded with it
            machine.config.last_access = Some(access.clone());
        }
        let _lock = store.create(&machine.config).await.map_err(|e| match e {
            StoreError::AlreadyExists(_) => ImportError::AlreadyExists,
            other => store_error(other),
        })?;
        let mut blobs = vec![
            (Blob::SshKey, dm.ssh_key),
            (Blob::CaCert, dm.ca_cert),
            (Blob::ClientCert, dm.client_cert),
            (Blob::ClientKey, dm.client_key),
        ];
        if let Some((cert, key)) = dm.server {
            blobs.push((Blob::ServerCert, cert));
            blobs.push((Blob::ServerKey, key));
        }
        for (blob, data) in blobs {
            if let Err(e) = store.write_blob(name, blob, &data).await {
                let _ = store.remove(name).await;
                return Err(store_error(e));
            }
        }
        events.info(name, Step::Done, "Imported.");
        Ok(Imported {
            driver: machine.config.driver_alias.clone(),
            url,
            host_key,
            host_key_fingerprint: fingerprint,
            docker_version: version.version,
        })
    }
}

async fn or_cancelled<T>(
    cancel: &CancellationToken,
    f: impl Future<Output = ImportResult<T>>,
) -> ImportResult<T> {
    tokio::select! {
        biased;
        _ = cancel.cancelled() => Err(ImportError::Cancelled),
        r = f => r,
    }
}
