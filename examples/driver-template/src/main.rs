//! `machine-driver-template`: a driver for an API-backed cloud, written to be copied.
//!
//! Copy this crate, rename `template` everywhere (the crate, the binary `machine-driver-NAME`,
//! the option prefix `template-`, the variables `TEMPLATE_*`) and replace `api.rs` with your
//! cloud's API; the calls below mostly stay as they are. The pretend cloud's REST API is
//! described at the top of `api.rs`, the rules of each call in docs/drivers.md.
//!
//! Around the driver, machine records a creation id before `create` (tag what you make with
//! it), stores every `made` config at once, waits for SSH, provisions Docker and, on a failure
//! or Ctrl-C, calls `remove`. The driver keeps no state: every call brings the config.

mod api;

use api::{Api, CREATION_TAG};
use driver_protocol::calls::{Access, SshEndpoint, State};
use driver_protocol::{async_trait, serve, Capabilities, Context, Created, Driver, DriverInfo};
use driver_protocol::{DriverError as Error, DriverOptions, ErrorKind, Machine, Setup};
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::time::{Duration, Instant};

/// How often to look at a server being waited for, and for how long (your cloud's pace here).
const POLL: Duration = Duration::from_secs(1);
const WAIT: Duration = Duration::from_secs(600);

/// The user's options (`machine create -d template --help`). The host applies the defaults and
/// reads the variables; it never shows nor logs a secret option's value.
#[derive(DriverOptions, Serialize, Deserialize)]
struct TemplateOptions {
    /// The cloud's API endpoint (https://; http:// only to a local fake on 127.0.0.1)
    #[option(name = "template-api-url", env = "TEMPLATE_API_URL")]
    api_url: String,
    /// API token, from the cloud's console
    #[option(name = "template-token", env = "TEMPLATE_TOKEN", secret)]
    // Every call needs the token, so the config keeps it. The host seals (in an encrypted
    // store) and hides (inspect, logs) config keys named like secret options: keep that name.
    #[serde(rename = "template-token")]
    token: String,
    /// Server size
    #[option(name = "template-size", env = "TEMPLATE_SIZE", default = "small")]
    size: String,
    /// Server image
    #[option(name = "template-image", env = "TEMPLATE_IMAGE", default = "debian-12")]
    image: String,
    /// SSH user to install the machine's key for (root, or one with passwordless sudo)
    #[option(
        name = "template-ssh-user",
        env = "TEMPLATE_SSH_USER",
        default = "root"
    )]
    ssh_user: String,
}

/// What the host keeps for a machine and passes back in every call: the options, and the
/// server's id once create made it.
#[derive(Serialize, Deserialize)]
struct Config {
    #[serde(flatten)]
    o: TemplateOptions,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    server_id: Option<String>,
}

impl Config {
    fn api(&self) -> Result<Api, Error> {
        Api::new(&self.o.api_url, &self.o.token)
    }
    /// The API and the server's id; a machine whose create made no server is not found.
    fn server(&self, machine: &str) -> Result<(Api, String), Error> {
        let none = || Error::not_found(format!("machine {machine} has no server (yet)"));
        Ok((self.api()?, self.server_id.clone().ok_or_else(none)?))
    }
}

/// cloud-init installs the machine's key for the SSH user (your cloud's way here).
fn user_data(user: &str, key: &str) -> String {
    let (user, key) = (json!(user), json!(key)); // JSON strings are YAML strings: quoted
    format!(
        "#cloud-config
disable_root: false
users:
  - name: {user}
    sudo: ALL=(ALL) NOPASSWD:ALL
    shell: /bin/bash
    ssh_authorized_keys: [{key}]
"
    )
}

struct Template;

#[async_trait]
impl Driver for Template {
    type Options = TemplateOptions;
    type Config = Config;

    fn info(&self) -> DriverInfo {
        DriverInfo::new("template", env!("CARGO_PKG_VERSION"), Capabilities::all())
    }

    /// Checks the options (the flag in each error); makes nothing.
    async fn set_config(
        &self,
        _: &Context,
        o: TemplateOptions,
        _: &Setup,
    ) -> Result<Config, Error> {
        api::check_url(&o.api_url)?;
        Ok(Config { o, server_id: None })
    }

    /// Before anything is made: the API answers and takes the token.
    async fn pre_create_check(&self, _: &Context, m: &Machine<Config>) -> Result<(), Error> {
        m.config.api()?.tagged(&m.creation_id).await.map(drop)
    }

    async fn create(
        &self,
        cx: &Context,
        m: Machine<Config>,
        key: &str,
    ) -> Result<Created<Config>, Error> {
        let (api, mut config) = (m.config.api()?, m.config);
        cx.check_cancelled()?;
        cx.progress_step("create", format!("Creating server {}...", m.name), None);
        let spec = json!({"name": m.name, "size": config.o.size, "image": config.o.image,
            "user_data": user_data(&config.o.ssh_user, key),
            "tags": {CREATION_TAG: m.creation_id}});
        let id = api.create(&spec).await?;
        config.server_id = Some(id.clone());
        // it exists: from now on `remove` with this config undoes an interrupted create
        cx.made(&config);
        cx.progress_step("boot", format!("Waiting for server {id} to boot..."), None);
        match wait(cx, &api, &id, "running").await {
            Err(e) if e.kind == ErrorKind::Cancelled => {
                api.delete(&id).await?;
                Err(Error::cancelled(format!("cancelled; server {id} deleted")))
            }
            // any other failure: the host calls `remove`, which deletes the server
            done => done.map(|()| Created::new(config)),
        }
    }

    /// Deletes the server; one already gone is done.
    async fn remove(&self, cx: &Context, m: Machine<Config>) -> Result<Option<Config>, Error> {
        let api = m.config.api()?;
        let ids = match m.config.server_id {
            Some(id) => vec![id],
            // a create interrupted before it reported its server: find it by the creation tag
            None if !m.creation_id.is_empty() => api.tagged(&m.creation_id).await?,
            None => Vec::new(),
        };
        for id in ids {
            cx.progress_step("delete", format!("Deleting server {id}..."), None);
            api.delete(&id).await?;
        }
        Ok(None)
    }

    async fn start(&self, cx: &Context, m: Machine<Config>) -> Result<Option<Config>, Error> {
        act(cx, m, "start", None).await // returns once it is booting
    }

    async fn stop(&self, cx: &Context, m: Machine<Config>) -> Result<Option<Config>, Error> {
        act(cx, m, "stop", Some("stopped")).await
    }

    async fn restart(&self, cx: &Context, m: Machine<Config>) -> Result<Option<Config>, Error> {
        act(cx, m, "reboot", None).await
    }

    async fn kill(&self, cx: &Context, m: Machine<Config>) -> Result<Option<Config>, Error> {
        act(cx, m, "poweroff", Some("stopped")).await
    }

    /// One GET, so it answers fast; a server that is gone is `not-found`.
    async fn state(&self, _: &Context, m: Machine<Config>) -> Result<State, Error> {
        let (api, id) = m.config.server(&m.name)?;
        Ok(match api.get(&id).await?.status.as_str() {
            "running" => State::Running,
            "starting" => State::Starting,
            "stopping" => State::Stopping,
            "stopped" => State::Stopped,
            _ => State::Error,
        })
    }

    async fn access(&self, _: &Context, m: Machine<Config>) -> Result<Access, Error> {
        let (api, id) = m.config.server(&m.name)?;
        let s = api.get(&id).await?;
        let no_ip = || Error::not_found(format!("server {id} has no IP address ({})", s.status));
        let ip = s.ip.clone().ok_or_else(no_ip)?;
        let ssh = SshEndpoint::new(&ip, 22, &m.config.o.ssh_user);
        Ok(Access::new(&ip, ssh, 2376))
    }
}

/// Runs `action` on the machine's server, then waits until it is `until`, if given.
async fn act(
    cx: &Context,
    m: Machine<Config>,
    action: &str,
    until: Option<&str>,
) -> Result<Option<Config>, Error> {
    let (api, id) = m.config.server(&m.name)?;
    api.action(&id, action).await?;
    match until {
        Some(status) => wait(cx, &api, &id, status).await.map(|()| None),
        None => Ok(None),
    }
}

/// Polls server `id` until its status is `status` (and, running, it has an IP address);
/// `cancelled` as soon as the host cancels the call.
async fn wait(cx: &Context, api: &Api, id: &str, status: &str) -> Result<(), Error> {
    let deadline = Instant::now() + WAIT;
    loop {
        tokio::select! {
            _ = cx.cancelled() => return Err(Error::cancelled(format!("cancelled waiting for {id}"))),
            _ = tokio::time::sleep(POLL) => {}
        }
        let s = api.get(id).await?;
        if s.status == status && (status != "running" || s.ip.is_some()) {
            return Ok(());
        }
        if Instant::now() > deadline {
            let e = format!("server {id} is {} after {WAIT:?}, not {status}", s.status);
            return Err(Error::timeout(e));
        }
    }
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    serve(Template).await
}
