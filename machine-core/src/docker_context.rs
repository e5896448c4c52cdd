//! Docker CLI contexts for machines: after [`register`], `docker --context NAME ...` reaches the
//! machine's daemon, with no environment variables: over mutual TLS, or for a machine of the
//! SSH transport ([`crate::engine::Transport::Ssh`]) at `ssh://machine-NAME`, through the
//! system ssh (no TLS files), once the user's `~/.ssh/config` includes the store's ssh config
//! ([`crate::ssh_client`]; `register` writes the machine's part of it).
//!
//! The docker CLI keeps its contexts in its configuration folder ([`DockerConfigDir`]:
//! `$DOCKER_CONFIG`, else `~/.docker`): `contexts/meta/ID/meta.json` holds the name, metadata
//! and endpoints, `contexts/tls/ID/docker/{ca,cert,key}.pem` the TLS material, ID being the
//! SHA-256 of the name in hex. This module writes that format itself (each file atomically), so
//! no docker client is needed, and `config.json`'s `currentContext` ([`DockerConfigDir::use_context`])
//! is changed by reading, editing and replacing the whole file, keeping every other field.
//!
//! A program makes a machine's context by asking ([`register`], e.g. after a create: `machine
//! create` does unless `--no-docker-context`). Keeping contexts in line is the manager's, once a
//! program asked for it ([`crate::ManagerBuilder::docker_contexts`]): a machine's own context is
//! brought up to date when the machine is loaded and after whatever may change its address or
//! certificates (start, restart, provision, new certificates — made here, or by another
//! workstation sharing the store), and goes when the machine is removed.
//!
//! A context is the machine's when its metadata says `"ManagedBy": "machine"` and carries the
//! machine's creation id. Any other context of that name (the user's own, a broken one, or one
//! made for another machine of the same name in another store) is never overwritten or
//! removed: [`ContextError::NotOurs`].

use crate::config::MachineConfig;
use crate::engine::Transport;
use crate::error::Result;
use crate::machine::Machine;
use serde_json::{json, Map, Value};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// The metadata key (and value) marking a context this library made.
const MANAGED_BY: (&str, &str) = ("ManagedBy", "machine");
/// The metadata key holding the creation id of the machine the context was made for.
const CREATION_ID: &str = "MachineCreationId";
/// The docker CLI's built-in context: never stored, so never made for a machine.
pub const DEFAULT_CONTEXT: &str = "default";

/// What went wrong with a docker context.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ContextError {
    /// A context of that name exists that was not made for this machine; it was left alone.
    #[error("a docker context \"{name}\" exists that machine did not make for this machine ({path}); it was left as it is")]
    NotOurs {
        /// The context's (and machine's) name.
        name: String,
        /// Its meta.json.
        path: PathBuf,
    },
    /// `default` is the docker CLI's own context.
    #[error("\"default\" is the docker client's built-in context: no docker context can be made for a machine named \"default\"")]
    Reserved,
    /// A file could not be read or written.
    #[error("cannot {op} {path}: {source}")]
    Io {
        /// What was being done.
        op: &'static str,
        /// The file or folder.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The docker configuration file is not a JSON object; it was left as it is.
    #[error("{path} is not a JSON object ({reason}); it was left as it is")]
    BadConfig {
        /// The file.
        path: PathBuf,
        /// What the parser said.
        reason: String,
    },
}

fn io<'a>(op: &'static str, path: &'a Path) -> impl FnOnce(std::io::Error) -> ContextError + 'a {
    move |source| ContextError::Io {
        op,
        path: path.to_path_buf(),
        source,
    }
}

/// Who a context of some name belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Owner {
    /// There is no context of that name.
    Nobody,
    /// Made by this library for the machine with this creation id.
    Machine {
        /// The creation id of the machine it was made for.
        creation_id: String,
    },
    /// Made by someone else, or unreadable.
    Other,
}

/// The docker client's configuration folder: `$DOCKER_CONFIG`, else `~/.docker`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DockerConfigDir {
    path: PathBuf,
}

impl DockerConfigDir {
    /// The folder at `path`.
    pub fn new(path: impl Into<PathBuf>) -> DockerConfigDir {
        DockerConfigDir { path: path.into() }
    }

    /// The folder the docker client uses: `$DOCKER_CONFIG`, else `~/.docker`.
    pub fn from_env() -> DockerConfigDir {
        if let Some(p) = std::env::var_os("DOCKER_CONFIG").filter(|p| !p.is_empty()) {
            return DockerConfigDir::new(p);
        }
        let home = std::env::var_os("HOME").unwrap_or_else(|| "/".into());
        DockerConfigDir::new(Path::new(&home).join(".docker"))
    }

    /// Where it is.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// `contexts/meta/ID`: the folder of the context's meta.json.
    fn meta_dir(&self, name: &str) -> PathBuf {
        self.path.join("contexts/meta").join(context_id(name))
    }

    /// `contexts/tls/ID`: the folder of the context's TLS files.
    fn tls_dir(&self, name: &str) -> PathBuf {
        self.path.join("contexts/tls").join(context_id(name))
    }

    fn config_file(&self) -> PathBuf {
        self.path.join("config.json")
    }

    /// Who the context `name` belongs to.
    pub fn owner(&self, name: &str) -> Result<Owner, ContextError> {
        let path = self.meta_dir(name).join("meta.json");
        let text = match std::fs::read(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Owner::Nobody),
            Err(e) => return Err(io("read", &path)(e)),
        };
        let meta: Value = serde_json::from_slice(&text).unwrap_or(Value::Null);
        let metadata = &meta["Metadata"];
        match (&metadata[MANAGED_BY.0], &metadata[CREATION_ID]) {
            (Value::String(by), Value::String(id))
                if by == MANAGED_BY.1 && meta["Name"] == name =>
            {
                Ok(Owner::Machine {
                    creation_id: id.clone(),
                })
            }
            _ => Ok(Owner::Other),
        }
    }

    /// Whether the context of the machine's name is the one made for this machine.
    pub fn is_ours(&self, machine: &MachineConfig) -> Result<bool, ContextError> {
        Ok(self.owner(&machine.name)?
            == Owner::Machine {
                creation_id: machine.creation_id.clone(),
            })
    }

    /// The docker client's current context (`currentContext` in config.json), if one is set.
    pub fn current_context(&self) -> Result<Option<String>, ContextError> {
        let config = self.read_config()?;
        Ok(config
            .get("currentContext")
            .and_then(Value::as_str)
            .filter(|c| !c.is_empty() && *c != DEFAULT_CONTEXT)
            .map(str::to_string))
    }

    /// Makes `name` the docker client's current context (`None`: its default), as `docker
    /// context use` does; every other setting in config.json is kept. The context must exist
    /// (a missing one would break every docker command): [`Owner::Nobody`] is refused as
    /// [`ContextError::Io`] with kind `NotFound`.
    pub fn use_context(&self, name: Option<&str>) -> Result<(), ContextError> {
        let path = self.config_file();
        let mut config = self.read_config()?;
        match name.filter(|n| *n != DEFAULT_CONTEXT) {
            Some(name) => {
                if self.owner(name)? == Owner::Nobody {
                    let meta = self.meta_dir(name).join("meta.json");
                    return Err(io("find the context at", &meta)(
                        std::io::ErrorKind::NotFound.into(),
                    ));
                }
                config.insert("currentContext".into(), Value::String(name.into()));
            }
            None => {
                config.remove("currentContext");
            }
        }
        let mode = std::fs::metadata(&path)
            .map(|m| m.permissions().mode() & 0o777)
            .unwrap_or(0o600);
        let text = serde_json::to_vec_pretty(&Value::Object(config)).expect("JSON serializes");
        std::fs::create_dir_all(&self.path).map_err(io("create", &self.path))?;
        write_atomic(&path, &text, mode)
    }

    /// config.json as an object: empty when there is none; an error (and nothing changed) when
    /// it is not a JSON object.
    fn read_config(&self) -> Result<Map<String, Value>, ContextError> {
        let path = self.config_file();
        let text = match std::fs::read(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Map::new()),
            Err(e) => return Err(io("read", &path)(e)),
        };
        if text.iter().all(u8::is_ascii_whitespace) {
            return Ok(Map::new());
        }
        match serde_json::from_slice(&text) {
            Ok(Value::Object(map)) => Ok(map),
            Ok(_) => Err(ContextError::BadConfig {
                path,
                reason: "not an object".into(),
            }),
            Err(e) => Err(ContextError::BadConfig {
                path,
                reason: e.to_string(),
            }),
        }
    }

    /// Writes the context for `data`, unless one of that name exists that is not its own.
    fn write(&self, data: &ContextData) -> Result<(), ContextError> {
        let name = &data.name;
        if name == DEFAULT_CONTEXT {
            return Err(ContextError::Reserved);
        }
        let meta_dir = self.meta_dir(name);
        match self.owner(name)? {
            Owner::Nobody => {}
            Owner::Machine { creation_id } if creation_id == data.creation_id => {}
            _ => {
                return Err(ContextError::NotOurs {
                    name: name.clone(),
                    path: meta_dir.join("meta.json"),
                })
            }
        }
        match &data.tls {
            // The TLS files first: once meta.json exists the context is complete.
            Some(t) => {
                let tls = self.tls_dir(name).join("docker");
                create_dir(&tls, 0o700)?;
                write_atomic(&tls.join("ca.pem"), t.ca.as_bytes(), 0o600)?;
                write_atomic(&tls.join("cert.pem"), t.cert.as_bytes(), 0o600)?;
                write_atomic(&tls.join("key.pem"), t.key.as_bytes(), 0o600)?;
            }
            // over SSH: no TLS files (those of a machine moved from TLS go)
            None => {
                let tls = self.tls_dir(name);
                match std::fs::remove_dir_all(&tls) {
                    Ok(()) => {}
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                    Err(e) => return Err(io("remove", &tls)(e)),
                }
            }
        }
        let meta = json!({
            "Name": name,
            "Metadata": {
                "Description": format!("machine {name} (made by machine; `machine rm {name}` removes it)"),
                (MANAGED_BY.0): MANAGED_BY.1,
                (CREATION_ID): data.creation_id,
            },
            "Endpoints": {
                "docker": { "Host": data.host, "SkipTLSVerify": false }
            }
        });
        create_dir(&meta_dir, 0o755)?;
        let text = serde_json::to_vec(&meta).expect("JSON serializes");
        write_atomic(&meta_dir.join("meta.json"), &text, 0o644)
    }

    /// Whether the context of `data`'s name holds exactly `data`'s endpoint and TLS files.
    fn holds(&self, data: &ContextData) -> bool {
        let meta = std::fs::read(self.meta_dir(&data.name).join("meta.json"))
            .ok()
            .and_then(|t| serde_json::from_slice::<Value>(&t).ok());
        let tls = self.tls_dir(&data.name).join("docker");
        let same = |file: &str, want: &str| {
            std::fs::read(tls.join(file)).is_ok_and(|have| have == want.as_bytes())
        };
        let files = match &data.tls {
            Some(t) => {
                same("ca.pem", &t.ca) && same("cert.pem", &t.cert) && same("key.pem", &t.key)
            }
            None => !self.tls_dir(&data.name).exists(),
        };
        meta.is_some_and(|m| m["Endpoints"]["docker"]["Host"] == data.host.as_str()) && files
    }

    /// Removes the machine's context if it is its own (any other context of that name stays);
    /// if it was the current context, the docker client goes back to its default. Whether it
    /// removed one.
    pub(crate) fn remove(&self, machine: &MachineConfig) -> Result<bool, ContextError> {
        if !self.is_ours(machine)? {
            return Ok(false);
        }
        let name = &machine.name;
        let meta_dir = self.meta_dir(name);
        // meta.json first: without it there is no context, whatever is left of the TLS files
        std::fs::remove_dir_all(&meta_dir).map_err(io("remove", &meta_dir))?;
        let tls_dir = self.tls_dir(name);
        match std::fs::remove_dir_all(&tls_dir) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(io("remove", &tls_dir)(e)),
        }
        if self.current_context()?.as_deref() == Some(name.as_str()) {
            self.use_context(None)?;
        }
        Ok(true)
    }
}

/// The folder name the docker CLI gives a context: the SHA-256 of its name, in hex.
fn context_id(name: &str) -> String {
    let digest = ring::digest::digest(&ring::digest::SHA256, name.as_bytes());
    digest.as_ref().iter().map(|b| format!("{b:02x}")).collect()
}

fn create_dir(dir: &Path, mode: u32) -> Result<(), ContextError> {
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(mode)
        .create(dir)
        .map_err(io("create", dir))
}

/// Writes `path` atomically (a hidden temporary file in the same folder, synced, renamed over
/// it), readable as `mode` says.
fn write_atomic(path: &Path, data: &[u8], mode: u32) -> Result<(), ContextError> {
    let dir = path.parent().expect("a file in a folder");
    let mut tmp = tempfile::Builder::new()
        .prefix(".machine-")
        .permissions(std::fs::Permissions::from_mode(mode))
        .tempfile_in(dir)
        .map_err(io("create a temporary file in", dir))?;
    tmp.write_all(data)
        .and_then(|_| tmp.as_file().sync_all())
        .map_err(io("write", path))?;
    tmp.persist(path)
        .map_err(|e| io("replace", path)(e.error))?;
    Ok(())
}

/// What a machine's context holds.
struct ContextData {
    name: String,
    creation_id: String,
    host: String,
    /// The TLS material; `None` over SSH.
    tls: Option<TlsFiles>,
}

/// A TLS context's files.
struct TlsFiles {
    ca: String,
    cert: String,
    key: String,
}

/// The Docker endpoint of a machine of the SSH transport: its alias, which the system ssh
/// knows through the store's ssh config.
fn ssh_host(name: &str) -> String {
    format!("ssh://{}", crate::ssh_client::alias(name))
}

fn is_ssh(machine: &Machine) -> bool {
    machine.config().engine.transport == Transport::Ssh
}

/// The context of a machine of the SSH transport.
fn ssh_data(machine: &Machine) -> ContextData {
    ContextData {
        name: machine.name().to_string(),
        creation_id: machine.config().creation_id.clone(),
        host: ssh_host(machine.name()),
        tls: None,
    }
}

/// The context the machine should have, with the address its driver reports now. Over SSH,
/// the machine's ssh config (what `ssh machine-NAME` reads) is written too, at that address.
async fn context_data(machine: &Machine) -> Result<ContextData> {
    if is_ssh(machine) {
        write_ssh_client(machine).await?;
        return Ok(ssh_data(machine));
    }
    let host = machine.url().await?;
    context_data_at(machine, host.to_string()).await
}

/// Writes what the system ssh needs to reach the machine ([`crate::ssh_client`]).
async fn write_ssh_client(machine: &Machine) -> Result<()> {
    let access = machine.access().await?;
    let ssh = machine
        .ssh_of(&access, "a docker context over SSH")?
        .clone();
    let files = machine.files().await?;
    let name = machine.name().to_string();
    Ok(blocking(move || {
        crate::ssh_client::write(&files, &name, &ssh)
            .map(|_| ())
            .map_err(io("write the ssh config in", &files.dir))
    })
    .await?)
}

async fn context_data_at(machine: &Machine, host: String) -> Result<ContextData> {
    let (ca, client) = machine.client_pems().await?;
    Ok(ContextData {
        name: machine.name().to_string(),
        creation_id: machine.config().creation_id.clone(),
        host,
        tls: Some(TlsFiles {
            ca,
            cert: client.cert,
            key: client.key,
        }),
    })
}

/// Makes (or brings up to date) the docker context named after the machine: its Docker URL and
/// its CA, client certificate and key; over SSH, `ssh://machine-NAME` and no TLS files, and the
/// machine's ssh config in the store ([`crate::ssh_client`]). A context of that name that is not the machine's own is
/// left alone: [`ContextError::NotOurs`].
pub async fn register(machine: &Machine, dir: &DockerConfigDir) -> Result<()> {
    let data = context_data(machine).await?;
    let dir = dir.clone();
    Ok(blocking(move || dir.write(&data)).await?)
}

/// Brings the machine's own context in line with the machine as recorded now: its Docker URL
/// and its CA, client certificate and key. Does nothing when it has no context here, or when
/// the context already holds exactly that (so it is cheap to call on every load of the
/// machine: that is how a workstation sharing a store picks up certificates another one
/// rotated). Whether it rewrote the context.
pub(crate) async fn update(machine: &Machine, dir: &DockerConfigDir) -> Result<bool> {
    if !dir.is_ours(machine.config())? {
        return Ok(false);
    }
    // over SSH the context names the alias, whatever the address: nothing to ask the driver
    // when it holds that
    if is_ssh(machine) {
        let d = dir.clone();
        let data = ssh_data(machine);
        if blocking(move || Ok(d.holds(&data))).await? {
            return Ok(false);
        }
    }
    // the common case, without starting the driver: the context holds the address recorded
    // at the machine's last provision or boot, and the certificates of the store
    let recorded = machine
        .config()
        .last_access
        .as_ref()
        .filter(|_| !is_ssh(machine));
    if let Some(url) = recorded.and_then(|a| crate::machine::check_access(a).ok()) {
        let recorded = context_data_at(machine, url.to_string()).await?;
        let d = dir.clone();
        if blocking(move || Ok(d.holds(&recorded))).await? {
            return Ok(false);
        }
    }
    let data = context_data(machine).await?;
    let dir = dir.clone();
    Ok(blocking(move || {
        if dir.holds(&data) {
            return Ok(false);
        }
        dir.write(&data)?;
        Ok(true)
    })
    .await?)
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, ContextError> + Send + 'static,
) -> Result<T, ContextError> {
    tokio::task::spawn_blocking(f)
        .await
        .expect("a context file operation panicked")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::EngineOptions;

    fn data(name: &str, creation_id: &str, host: &str) -> ContextData {
        ContextData {
            name: name.into(),
            creation_id: creation_id.into(),
            host: host.into(),
            tls: Some(TlsFiles {
                ca: "CA".into(),
                cert: "CERT".into(),
                key: "KEY".into(),
            }),
        }
    }

    fn tls(d: &mut ContextData) -> &mut TlsFiles {
        d.tls.as_mut().unwrap()
    }

    fn config(name: &str, creation_id: &str) -> MachineConfig {
        let mut c = MachineConfig::new(name, "generic", "generic", EngineOptions::default());
        c.creation_id = creation_id.into();
        c
    }

    fn mode(p: &Path) -> u32 {
        std::fs::metadata(p).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn writes_the_docker_cli_layout() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = DockerConfigDir::new(tmp.path());
        dir.write(&data("web1", "c1", "tcp://192.0.2.10:2376"))
            .unwrap();
        // the docker CLI's folder name: sha256 of the name, hex (`printf web1 | sha256sum`)
        assert_eq!(
            context_id("web1"),
            "659a7fb2af476fae688d711213d91dc1550a37f0395a00a6f7bacb78ece3666b"
        );
        let meta_path = tmp
            .path()
            .join("contexts/meta")
            .join(context_id("web1"))
            .join("meta.json");
        let meta: Value = serde_json::from_slice(&std::fs::read(&meta_path).unwrap()).unwrap();
        assert_eq!(meta["Name"], "web1");
        assert_eq!(meta["Endpoints"]["docker"]["Host"], "tcp://192.0.2.10:2376");
        assert_eq!(meta["Endpoints"]["docker"]["SkipTLSVerify"], false);
        assert_eq!(meta["Metadata"]["ManagedBy"], "machine");
        let tls = tmp
            .path()
            .join("contexts/tls")
            .join(context_id("web1"))
            .join("docker");
        assert_eq!(std::fs::read_to_string(tls.join("ca.pem")).unwrap(), "CA");
        assert_eq!(
            std::fs::read_to_string(tls.join("cert.pem")).unwrap(),
            "CERT"
        );
        assert_eq!(std::fs::read_to_string(tls.join("key.pem")).unwrap(), "KEY");
        assert_eq!(mode(&tls.join("key.pem")), 0o600);
        assert_eq!(mode(&tls), 0o700);
        // no temporary files left where the docker CLI lists TLS files
        assert_eq!(std::fs::read_dir(&tls).unwrap().count(), 3);
        assert!(dir.is_ours(&config("web1", "c1")).unwrap());
        assert!(!dir.is_ours(&config("web1", "c2")).unwrap());
    }

    #[test]
    fn another_context_of_the_name_is_never_overwritten_or_removed() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = DockerConfigDir::new(tmp.path());
        let meta_dir = dir.meta_dir("web1");
        std::fs::create_dir_all(&meta_dir).unwrap();
        let theirs = r#"{"Name":"web1","Metadata":{"Description":"mine"},"Endpoints":{"docker":{"Host":"ssh://me@there","SkipTLSVerify":false}}}"#;
        std::fs::write(meta_dir.join("meta.json"), theirs).unwrap();
        assert_eq!(dir.owner("web1").unwrap(), Owner::Other);
        let err = dir
            .write(&data("web1", "c1", "tcp://192.0.2.10:2376"))
            .unwrap_err();
        assert!(
            matches!(err, ContextError::NotOurs { ref name, .. } if name == "web1"),
            "{err}"
        );
        assert!(!dir.remove(&config("web1", "c1")).unwrap());
        assert_eq!(
            std::fs::read_to_string(meta_dir.join("meta.json")).unwrap(),
            theirs
        );
        assert!(!dir.tls_dir("web1").exists());

        // one made by machine for another machine of the name (another store) is not ours either
        dir.write(&data("web2", "other-store", "tcp://192.0.2.11:2376"))
            .unwrap();
        assert!(matches!(
            dir.write(&data("web2", "c1", "tcp://192.0.2.12:2376")),
            Err(ContextError::NotOurs { .. })
        ));
        assert!(!dir.remove(&config("web2", "c1")).unwrap());
        assert!(dir.is_ours(&config("web2", "other-store")).unwrap());

        // a broken meta.json is someone's: left alone
        let broken = dir.meta_dir("web3");
        std::fs::create_dir_all(&broken).unwrap();
        std::fs::write(broken.join("meta.json"), "{not json").unwrap();
        assert_eq!(dir.owner("web3").unwrap(), Owner::Other);
        assert!(dir.write(&data("web3", "c1", "tcp://x:2376")).is_err());

        assert!(matches!(
            dir.write(&data("default", "c1", "tcp://x:2376")),
            Err(ContextError::Reserved)
        ));
    }

    #[test]
    fn update_rewrites_and_remove_removes_our_own() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = DockerConfigDir::new(tmp.path());
        dir.write(&data("web1", "c1", "tcp://192.0.2.10:2376"))
            .unwrap();
        assert!(dir.holds(&data("web1", "c1", "tcp://192.0.2.10:2376")));
        let mut new = data("web1", "c1", "tcp://192.0.2.99:2376");
        assert!(!dir.holds(&new), "another address");
        tls(&mut new).cert = "CERT2".into();
        dir.write(&new).unwrap();
        assert!(dir.holds(&new));
        let mut rotated = data("web1", "c1", "tcp://192.0.2.99:2376");
        tls(&mut rotated).cert = "CERT2".into();
        tls(&mut rotated).ca = "CA2".into();
        assert!(!dir.holds(&rotated), "another CA");
        let meta: Value =
            serde_json::from_slice(&std::fs::read(dir.meta_dir("web1").join("meta.json")).unwrap())
                .unwrap();
        assert_eq!(meta["Endpoints"]["docker"]["Host"], "tcp://192.0.2.99:2376");
        assert_eq!(
            std::fs::read_to_string(dir.tls_dir("web1").join("docker/cert.pem")).unwrap(),
            "CERT2"
        );
        dir.use_context(Some("web1")).unwrap();
        assert!(dir.remove(&config("web1", "c1")).unwrap());
        assert!(!dir.meta_dir("web1").exists() && !dir.tls_dir("web1").exists());
        assert_eq!(dir.owner("web1").unwrap(), Owner::Nobody);
        // it was the current context: the docker client is back on its default
        assert_eq!(dir.current_context().unwrap(), None);
        assert!(!dir.remove(&config("web1", "c1")).unwrap());
    }

    #[test]
    fn an_ssh_machines_context_names_its_alias_and_has_no_tls_files() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = DockerConfigDir::new(tmp.path());
        let ssh = |name: &str| ContextData {
            name: name.into(),
            creation_id: "c1".into(),
            host: ssh_host(name),
            tls: None,
        };
        assert_eq!(ssh_host("web1"), "ssh://machine-web1");
        dir.write(&ssh("web1")).unwrap();
        let meta: Value =
            serde_json::from_slice(&std::fs::read(dir.meta_dir("web1").join("meta.json")).unwrap())
                .unwrap();
        assert_eq!(meta["Endpoints"]["docker"]["Host"], "ssh://machine-web1");
        assert_eq!(meta["Metadata"]["ManagedBy"], "machine");
        assert!(!dir.tls_dir("web1").exists());
        assert!(dir.holds(&ssh("web1")));
        assert!(
            !dir.holds(&data("web1", "c1", "ssh://machine-web1")),
            "no TLS files"
        );

        // a TLS machine moved to SSH: its TLS files go; and back
        dir.write(&data("web2", "c1", "tcp://192.0.2.10:2376"))
            .unwrap();
        assert!(!dir.holds(&ssh("web2")));
        dir.write(&ssh("web2")).unwrap();
        assert!(dir.holds(&ssh("web2")));
        assert!(!dir.tls_dir("web2").exists());
        dir.write(&data("web2", "c1", "tcp://192.0.2.10:2376"))
            .unwrap();
        assert!(dir.holds(&data("web2", "c1", "tcp://192.0.2.10:2376")));
        assert!(!dir.holds(&ssh("web2")));
        // removed like any other
        assert!(dir.remove(&config("web1", "c1")).unwrap());
        assert_eq!(dir.owner("web1").unwrap(), Owner::Nobody);
    }

    #[test]
    fn use_context_keeps_every_other_setting() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = DockerConfigDir::new(tmp.path());
        let config_file = tmp.path().join("config.json");
        std::fs::write(
            &config_file,
            r#"{"auths":{"registry.example":{"auth":"c2VjcmV0"}},"currentContext":"old","psFormat":"{{.ID}}","plugins":{"x":{"k":"v"}}}"#,
        )
        .unwrap();
        std::fs::set_permissions(&config_file, std::fs::Permissions::from_mode(0o600)).unwrap();
        dir.write(&data("web1", "c1", "tcp://192.0.2.10:2376"))
            .unwrap();
        dir.use_context(Some("web1")).unwrap();
        let c: Value = serde_json::from_slice(&std::fs::read(&config_file).unwrap()).unwrap();
        assert_eq!(c["currentContext"], "web1");
        assert_eq!(c["auths"]["registry.example"]["auth"], "c2VjcmV0");
        assert_eq!(c["psFormat"], "{{.ID}}");
        assert_eq!(c["plugins"]["x"]["k"], "v");
        assert_eq!(mode(&config_file), 0o600);
        assert_eq!(dir.current_context().unwrap().as_deref(), Some("web1"));

        dir.use_context(None).unwrap();
        let c: Value = serde_json::from_slice(&std::fs::read(&config_file).unwrap()).unwrap();
        assert!(c.get("currentContext").is_none(), "{c}");
        assert_eq!(c["psFormat"], "{{.ID}}");

        // an unknown context, or a config.json that is not JSON: an error, nothing changed
        let before = std::fs::read(&config_file).unwrap();
        assert!(dir.use_context(Some("nope")).is_err());
        assert_eq!(std::fs::read(&config_file).unwrap(), before);
        std::fs::write(&config_file, "{broken").unwrap();
        assert!(matches!(
            dir.use_context(Some("web1")),
            Err(ContextError::BadConfig { .. })
        ));
        assert_eq!(std::fs::read_to_string(&config_file).unwrap(), "{broken");
    }
}
