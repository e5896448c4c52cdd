//! The bridge as a machine driver: each call starts the plugin, gives it the machine's config
//! with `SetConfigRaw`, makes libmachine's call(s), reads the config back with `GetConfigRaw`
//! (the machine's driver config from then on), and closes the plugin.
//!
//! A plugin's `Create` cannot be interrupted over libmachine's RPC. While it runs the bridge
//! reads the plugin's config every second and reports each change (`made`), so the host
//! records what exists as soon as the plugin records it. Cancelled, the bridge lets `Create`
//! finish (within [`FINISH_AFTER_CANCEL`]), reports what it made, and answers "cancelled": the
//! host then calls `remove` with that config. A `Create` that fails is reported the same way.

mod discover;

use crate::flags;
use crate::gob::{Type, Value};
use crate::plugin::{LogLine, LogSink, Plugin, PluginError, PluginSpec, QUERY_TIMEOUT, SDK_ENV};
use crate::rpc::unit_type;
use driver_protocol::calls::{Access, Bootstrap, SshEndpoint, State};
use driver_protocol::{
    async_trait, Context, Created, Driver, DriverError, DriverInfo, ErrorKind, Machine, Options,
    Setup,
};
use serde_json::Value as Json;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// How long `Create`, `Remove`, `Start`, `Stop`, `Restart` and `Kill` may take.
pub const OPERATION_TIMEOUT: Duration = Duration::from_secs(30 * 60);
/// How long a cancelled create waits for the plugin's `Create` to finish before giving up on
/// it (what it made is then what the config read last names).
pub const FINISH_AFTER_CANCEL: Duration = Duration::from_secs(10 * 60);
/// The key the bridge adds to the config `set_config` answers: the plugin has not made the
/// machine yet. Plugins ignore keys they do not know; the config the plugin answers after any
/// call of `create` no longer has it.
const NOT_MADE: &str = "MachineBridgeNotMade";
/// How long one of those reads may take.
const POLL_TIMEOUT: Duration = Duration::from_secs(3);
/// How long a created machine has to be Running (libmachine's 60 tries 3 s apart).
const RUNNING_TIMEOUT: Duration = Duration::from_secs(180);
/// How often its state is asked meanwhile.
const RUNNING_POLL: Duration = Duration::from_secs(3);
/// How often the config is read while `Create` runs.
const POLL: Duration = Duration::from_secs(1);

/// A libmachine plugin served as machine driver `name`.
pub struct Bridge {
    spec: PluginSpec,
    info: DriverInfo,
    storage: Storage,
    /// By machine: the config a pre-create check started from, and the plugin's after it
    /// (a check may record what it found, e.g. amazonec2's default VPC): `create` goes on from
    /// there, as libmachine runs both on one driver, without checking twice.
    checked: std::sync::Mutex<std::collections::HashMap<String, (Json, Json)>>,
}

/// The folder given to the plugin as its store path (`StorePath`): it keeps its files (the
/// key it makes, ...) under `machines/NAME` there.
enum Storage {
    Dir(PathBuf),
    Temp(tempfile::TempDir),
}

impl Storage {
    fn path(&self) -> &Path {
        match self {
            Storage::Dir(d) => d,
            Storage::Temp(t) => t.path(),
        }
    }
}

fn private_dir(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)?;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
}

/// A plugin's failure as the host sees it: the call that failed and the plugin's own words.
fn failed(e: PluginError) -> DriverError {
    let kind = match &e {
        PluginError::Timeout { .. } => ErrorKind::Timeout,
        _ => ErrorKind::Internal,
    };
    DriverError::new(kind, e.to_string())
}

fn malformed(call: &str, what: impl std::fmt::Display) -> DriverError {
    DriverError::new(
        ErrorKind::Internal,
        format!("the driver plugin's answer to {call} {what}"),
    )
}

/// Where the plugin's log lines go during a call: its info lines are the call's progress, its
/// debug lines the bridge's stderr (the host logs them at debug level).
fn sink(cx: Option<&Context>) -> LogSink {
    let cx = cx.cloned();
    Arc::new(move |line| match (line, &cx) {
        (LogLine::Info(l), Some(cx)) => cx.progress(l),
        (LogLine::Info(l) | LogLine::Debug(l), _) => eprintln!("{l}"),
    })
}

impl Bridge {
    /// Starts the plugin with `config` as its state.
    async fn open(&self, cx: &Context, config: &Json) -> Result<Plugin, DriverError> {
        // the machine's own folder, as libmachine's store makes it before the driver runs
        // (plugins write their key there)
        let name = cx.machine();
        if plain_name(name) {
            let dir = self.storage.path().join("machines").join(name);
            private_dir(&dir).map_err(|e| {
                DriverError::new(
                    ErrorKind::Internal,
                    format!("cannot make the plugin's folder {}: {e}", dir.display()),
                )
            })?;
        }
        let env: Vec<(&str, &str)> = SDK_ENV
            .iter()
            .filter_map(|k| Some((*k, cx.env(k)?)))
            .collect();
        let mut p = Plugin::start(&self.spec, &env, sink(Some(cx)))
            .await
            .map_err(failed)?;
        let mut config = config.clone();
        if let Some(obj) = config.as_object_mut() {
            // the plugin's files live in the folder this bridge was given
            obj.insert(
                "StorePath".into(),
                Json::String(self.storage.path().display().to_string()),
            );
        }
        match set_config_raw(&mut p, &config).await {
            Ok(()) => Ok(p),
            Err(e) => {
                p.close().await;
                Err(failed(e))
            }
        }
    }

    /// Starts the plugin on machine `m`, makes call `method` (within `within`), reads back
    /// the config and closes the plugin.
    async fn act(
        &self,
        cx: &Context,
        m: &Machine<Json>,
        method: &str,
        within: Duration,
    ) -> Result<(Value, Json), DriverError> {
        let mut p = self.open(cx, &m.config).await?;
        let result = async {
            let v = p.call(method, &unit_type(), &Value::unit(), within).await?;
            Ok::<_, PluginError>((v, config_raw(&mut p).await?))
        }
        .await;
        p.close().await;
        result.map_err(failed)
    }

    /// The plugin's `Create`, reporting its config as it changes and outlasting a cancel.
    async fn run_create(
        &self,
        cx: &Context,
        p: &mut Plugin,
        mut last: Json,
    ) -> Result<Json, DriverError> {
        let side = p.side();
        let (unit_ty, unit) = (unit_type(), Value::unit());
        let result = {
            let create = p.call("Create", &unit_ty, &unit, OPERATION_TIMEOUT);
            tokio::pin!(create);
            let mut give_up = None;
            let mut poll = tokio::time::interval(POLL);
            let result = loop {
                tokio::select! {
                    r = &mut create => break r.map(|_| ()),
                    _ = cx.cancelled(), if give_up.is_none() => {
                        cx.progress("cancelled: the plugin's Create cannot be interrupted; \
                                     waiting for it to finish, then removing what it made");
                        give_up = Some(Box::pin(tokio::time::sleep(FINISH_AFTER_CANCEL)));
                    }
                    _ = async { give_up.as_mut().unwrap().await }, if give_up.is_some() => {
                        return Err(DriverError::cancelled(format!(
                            "cancelled; the plugin's Create did not finish within {} min: \
                             `machine rm -f {}` removes what its config names",
                            FINISH_AFTER_CANCEL.as_secs() / 60,
                            cx.machine()
                        )));
                    }
                    _ = poll.tick() => {
                        if let Ok(Value::Bytes(raw)) = side.call_within("GetConfigRaw", POLL_TIMEOUT).await {
                            if let Ok(config) = serde_json::from_slice::<Json>(&raw) {
                                if config.is_object() && config != last {
                                    cx.made(&config);
                                    last = config;
                                }
                            }
                        }
                    }
                }
            };
            result
        };
        // what exists now, also after a failure; a plugin that can no longer answer (it died
        // in Create) leaves the last config read, and its own error is the one told
        let config = match config_raw(p).await {
            Ok(config) => config,
            Err(e) if result.is_ok() => return Err(failed(e)),
            Err(_) => last.clone(),
        };
        if config != last {
            cx.made(&config);
        }
        match result {
            Err(e) => Err(failed(e)),
            Ok(()) if cx.is_cancelled() => Err(DriverError::cancelled(
                "cancelled; what the plugin made is being removed",
            )),
            Ok(()) => {
                self.wait_running(cx, p).await?;
                Ok(config)
            }
        }
    }

    /// Waits for the machine to be Running, as libmachine does after Create (a VM's address
    /// may not be known before).
    async fn wait_running(&self, cx: &Context, p: &mut Plugin) -> Result<(), DriverError> {
        let deadline = tokio::time::Instant::now() + RUNNING_TIMEOUT;
        loop {
            let last = match p.call_unit("GetState").await.map(|v| state(&v)) {
                Ok(Ok(State::Running)) => return Ok(()),
                Ok(Ok(other)) => format!("{other:?}"),
                Ok(Err(e)) => e.message,
                Err(e) => e.to_string(),
            };
            if tokio::time::Instant::now() + RUNNING_POLL > deadline {
                return Err(DriverError::new(
                    ErrorKind::Timeout,
                    format!(
                        "the machine was not Running {}s after the plugin created it (last: {})",
                        RUNNING_TIMEOUT.as_secs(),
                        crate::shown(&last)
                    ),
                ));
            }
            tokio::select! {
                _ = tokio::time::sleep(RUNNING_POLL) => {}
                _ = cx.cancelled() => {
                    return Err(DriverError::cancelled("cancelled; what the plugin made is being removed"));
                }
            }
        }
    }
}

/// libmachine's first state for a new machine (a `BaseDriver`): its name and store path.
fn base_config(machine: &str, store: &Path) -> Json {
    serde_json::json!({
        "MachineName": machine,
        "StorePath": store.display().to_string(),
    })
}

async fn set_config_raw(p: &mut Plugin, config: &Json) -> Result<(), PluginError> {
    let raw = serde_json::to_vec(config).expect("JSON serializes");
    p.call(
        "SetConfigRaw",
        &Type::Bytes,
        &Value::Bytes(raw),
        QUERY_TIMEOUT,
    )
    .await
    .map(|_| ())
}

async fn config_raw(p: &mut Plugin) -> Result<Json, PluginError> {
    let reply = p.call_unit("GetConfigRaw").await?;
    let config = match &reply {
        Value::Bytes(raw) => serde_json::from_slice::<Json>(raw).ok(),
        _ => None,
    };
    match config {
        Some(c) if c.is_object() => Ok(c),
        _ => Err(PluginError::Call {
            path: p.path().to_path_buf(),
            call: "GetConfigRaw".into(),
            source: crate::rpc::RpcError::Remote(
                "its answer is not a JSON object (the driver's state)".into(),
            ),
            stderr: Vec::new(),
        }),
    }
}

/// A machine name that is one plain path component (never `..`, never a path): the only kind
/// joined to the plugins' folder, whatever program runs the bridge.
fn plain_name(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with('.')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
}

/// Whether the plugin never made machine `m` (its config is still `set_config`'s).
fn not_made(m: &Machine<Json>) -> bool {
    m.config.get(NOT_MADE) == Some(&Json::Bool(true))
}

fn never_made(m: &Machine<Json>) -> DriverError {
    DriverError::not_found(format!(
        "machine {} was never created by the plugin",
        m.name
    ))
}

/// libmachine's `state.State`.
fn state(v: &Value) -> Result<State, DriverError> {
    Ok(match v.as_int() {
        Some(0) => State::None,
        Some(1) => State::Running,
        Some(2) => State::Paused,
        Some(3) => State::Saved,
        Some(4) => State::Stopped,
        Some(5) => State::Stopping,
        Some(6) => State::Starting,
        Some(7) => State::Error,
        Some(8) => State::Timeout,
        _ => return Err(malformed("GetState", format!("is not a state: {v:?}"))),
    })
}

#[async_trait]
impl Driver for Bridge {
    type Options = Options;
    type Config = Json;

    fn info(&self) -> DriverInfo {
        self.info.clone()
    }

    async fn set_config(
        &self,
        cx: &Context,
        options: Options,
        setup: &Setup,
    ) -> Result<Json, DriverError> {
        let mut p = self
            .open(cx, &base_config(&setup.machine, self.storage.path()))
            .await?;
        let result = async {
            let mut outcome = Ok(());
            for type_name in ["*rpcdriver.RPCFlags", "*rpcdriver.RpcFlags"] {
                let (ty, arg) = flags::rpc_flags(&self.info.options, &options, type_name);
                outcome = p
                    .call("SetConfigFromFlags", &ty, &arg, QUERY_TIMEOUT)
                    .await
                    .map(|_| ());
                // plugins older than Docker Machine 0.5.1 know their flags type as RpcFlags
                let old_name = matches!(&outcome, Err(e) if e
                    .remote_message()
                    .is_some_and(|m| m.contains("name not registered for interface")));
                if !old_name {
                    break;
                }
            }
            if let Err(e) = outcome {
                // the plugin's own message says which option is wrong
                return Err(match e.remote_message() {
                    Some(m) => DriverError::invalid_option(crate::shown(m)),
                    None => failed(e),
                });
            }
            let mut config = config_raw(&mut p).await.map_err(failed)?;
            if let Some(obj) = config.as_object_mut() {
                obj.insert(NOT_MADE.into(), Json::Bool(true));
            }
            Ok(config)
        }
        .await;
        p.close().await;
        result
    }

    /// `machine import`: the plugin takes back the config Docker Machine recorded.
    async fn adopt(
        &self,
        cx: &Context,
        _options: Options,
        setup: &Setup,
    ) -> Result<Json, DriverError> {
        let Some(recorded) = &setup.docker_machine_config else {
            return Err(DriverError::invalid_option(
                "a Docker Machine plugin adopts a machine from the config Docker Machine \
                 recorded: use `machine import`",
            ));
        };
        let mut p = self.open(cx, recorded).await?;
        let config = config_raw(&mut p).await.map_err(failed);
        p.close().await;
        config
    }

    async fn pre_create_check(&self, cx: &Context, m: &Machine<Json>) -> Result<(), DriverError> {
        let (_, after) = self.act(cx, m, "PreCreateCheck", QUERY_TIMEOUT).await?;
        self.checked
            .lock()
            .unwrap()
            .insert(m.name.clone(), (m.config.clone(), after));
        Ok(())
    }

    async fn create(
        &self,
        cx: &Context,
        m: Machine<Json>,
        _ssh_public_key: &str,
    ) -> Result<Created<Json>, DriverError> {
        let checked = match self.checked.lock().unwrap().remove(&m.name) {
            Some((before, after)) if before == m.config => Some(after),
            _ => None,
        };
        let mut p = self.open(cx, checked.as_ref().unwrap_or(&m.config)).await?;
        let result = async {
            // as libmachine does: Create on the driver state the check left
            if checked.is_none() {
                p.call_unit("PreCreateCheck").await.map_err(failed)?;
            }
            // a cancel before Create is sent makes nothing at all
            cx.check_cancelled()?;
            // what the plugin holds before Create: reported once it changes, not before
            let mut before = checked.clone().unwrap_or_else(|| m.config.clone());
            if let Some(obj) = before.as_object_mut() {
                obj.remove(NOT_MADE);
            }
            let config = self.run_create(cx, &mut p, before).await?;
            let key = p.call_unit("GetSSHKeyPath").await.map_err(failed)?;
            let key = key.as_str();
            // the key the plugin made logs in once; the host then installs the machine's own
            let bootstrap = if !key.is_empty() && Path::new(key).is_file() {
                Bootstrap::new(Some(key.to_string()))
            } else {
                Bootstrap::new(None)
            };
            Ok(Created::new(config).with_bootstrap(bootstrap))
        }
        .await;
        p.close().await;
        result
    }

    async fn remove(&self, cx: &Context, m: Machine<Json>) -> Result<Option<Json>, DriverError> {
        if !not_made(&m) {
            self.act(cx, &m, "Remove", OPERATION_TIMEOUT).await?;
        }
        if plain_name(&m.name) {
            let _ = std::fs::remove_dir_all(self.storage.path().join("machines").join(&m.name));
        }
        Ok(None)
    }

    async fn start(&self, cx: &Context, m: Machine<Json>) -> Result<Option<Json>, DriverError> {
        Ok(Some(self.act(cx, &m, "Start", OPERATION_TIMEOUT).await?.1))
    }

    async fn stop(&self, cx: &Context, m: Machine<Json>) -> Result<Option<Json>, DriverError> {
        Ok(Some(self.act(cx, &m, "Stop", OPERATION_TIMEOUT).await?.1))
    }

    async fn restart(&self, cx: &Context, m: Machine<Json>) -> Result<Option<Json>, DriverError> {
        Ok(Some(
            self.act(cx, &m, "Restart", OPERATION_TIMEOUT).await?.1,
        ))
    }

    async fn kill(&self, cx: &Context, m: Machine<Json>) -> Result<Option<Json>, DriverError> {
        Ok(Some(self.act(cx, &m, "Kill", OPERATION_TIMEOUT).await?.1))
    }

    async fn state(&self, cx: &Context, m: Machine<Json>) -> Result<State, DriverError> {
        if not_made(&m) {
            return Err(never_made(&m));
        }
        state(&self.act(cx, &m, "GetState", QUERY_TIMEOUT).await?.0)
    }

    async fn access(&self, cx: &Context, m: Machine<Json>) -> Result<Access, DriverError> {
        if not_made(&m) {
            return Err(never_made(&m));
        }
        let mut p = self.open(cx, &m.config).await?;
        let result = async {
            let host = p.call_unit("GetSSHHostname").await?.as_str().to_string();
            let port = p.call_unit("GetSSHPort").await?.as_int().unwrap_or(0);
            let user = p.call_unit("GetSSHUsername").await?.as_str().to_string();
            let url = p.call_unit("GetURL").await?.as_str().to_string();
            let ip = p.call_unit("GetIP").await?.as_str().to_string();
            Ok::<_, PluginError>((host, port, user, url, ip))
        }
        .await;
        p.close().await;
        let (host, port, user, url, ip) = result.map_err(failed)?;
        let plain = |s: &str| {
            !s.is_empty()
                && !s.starts_with('-')
                && !s.chars().any(|c| c.is_whitespace() || c.is_control())
        };
        if !url.starts_with("tcp://") || !plain(&url) {
            return Err(malformed(
                "GetURL",
                format!("is not tcp://HOST:PORT: {:?}", crate::shown(&url)),
            ));
        }
        if host.is_empty() && port == 0 {
            // no SSH (Docker Machine's `none`): a daemon registered by its URL
            let ip = if plain(&ip) {
                ip
            } else {
                url.trim_start_matches("tcp://")
                    .rsplit_once(':')
                    .map(|(h, _)| h.trim_matches(['[', ']']).to_string())
                    .unwrap_or_default()
            };
            return Ok(Access::without_ssh(&ip, &url));
        }
        let port = u16::try_from(port)
            .ok()
            .filter(|p| *p != 0)
            .ok_or_else(|| malformed("GetSSHPort", format!("is not a port: {port}")))?;
        if !plain(&host) {
            return Err(malformed(
                "GetSSHHostname",
                format!("is not a host: {:?}", crate::shown(&host)),
            ));
        }
        if !plain(&user) {
            return Err(malformed(
                "GetSSHUsername",
                format!("is not a user name: {:?}", crate::shown(&user)),
            ));
        }
        let ip = if plain(&ip) { ip } else { host.clone() };
        let mut access = Access::new(&ip, SshEndpoint::new(&host, port, &user), 2376);
        access.docker_url = url;
        Ok(access)
    }
}
