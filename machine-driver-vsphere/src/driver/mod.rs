//! The `vsphere` driver: the protocol's lifecycle calls.
//!
//! The driver makes, starts, stops and destroys VMs and says how to reach them; the host waits for
//! SSH and Docker and stores everything. Every call runs in the one vCenter session its
//! credentials share ([`SessionPool`]).
//!
//! Here: the [`Driver`] implementation, the calls on a VM that exists (start, stop, restart,
//! kill, remove, state, access: each through the one path `VsphereDriver::with_vm`), adopt,
//! and what create shares with them (finding a VM by name, running a task, booting); `create.rs`
//! makes the VM.

mod create;

use crate::inventory::{self, Placement};
use crate::options::{Config, VmRef, VsphereOptions};
use crate::session::pool::SessionPool;
use crate::session::Session;
use crate::soap::MoRef;
use crate::vm::{self, vm_ref, TASK_TIMEOUT};
use crate::xml;
use create::{create_in, pre_check};
use driver_protocol::calls::{Access, SshEndpoint, State};
use driver_protocol::{async_trait, Capabilities, Context, Created, Driver, DriverError};
use driver_protocol::{DriverInfo, DynDriver, ErrorKind, Machine, Setup};
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How long `stop` waits for the guest to shut down before powering the VM off.
pub const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(90);

/// The Docker daemon's TLS port on the VM.
pub const DOCKER_PORT: u16 = 2376;

/// The driver. Clones share their sessions.
#[derive(Clone, Default)]
pub struct VsphereDriver {
    pool: Arc<SessionPool>,
}

impl VsphereDriver {
    /// A driver without sessions yet.
    pub fn new() -> VsphereDriver {
        VsphereDriver::default()
    }

    /// What the driver says in the handshake: name, version, capabilities, aliases and the
    /// schema of its options ([`VsphereOptions`]).
    pub fn info() -> DriverInfo {
        DynDriver::new(VsphereDriver::new()).info()
    }

    /// The driver's vCenter sessions.
    pub fn sessions(&self) -> &SessionPool {
        &self.pool
    }

    /// Logs every session out (best effort): at the end of the process.
    pub async fn shutdown(&self) {
        self.pool.logout_all().await;
    }

    async fn session(&self, cfg: &Config) -> Result<Arc<Session>, DriverError> {
        self.pool.session(cfg).await
    }

    /// The one path of every call on a machine's VM: the VM its config records (none: create
    /// did not finish), the session its credentials share, then `call` with both; a VM that
    /// vCenter no longer has is said so. Session errors pass as they are.
    async fn with_vm<T, F, Fut>(&self, m: &Machine<Config>, call: F) -> Result<T, DriverError>
    where
        F: FnOnce(Arc<Session>, MoRef) -> Fut,
        Fut: Future<Output = Result<T, DriverError>>,
    {
        let cfg = &m.config;
        let vm = vm_of(cfg).ok_or_else(|| {
            DriverError::not_found(format!(
                "machine {} has no VM in vCenter (its create did not finish)",
                cfg.vm_name
            ))
        })?;
        let s = self.session(cfg).await?;
        call(s, vm).await.map_err(|e| match e.kind {
            ErrorKind::NotFound => DriverError::not_found(format!(
                "VM {} no longer exists in vCenter {}",
                cfg.vm_name, cfg.vcenter
            )),
            _ => e,
        })
    }

    /// The VM's power state and IP address as vCenter reports them now.
    async fn status(&self, m: &Machine<Config>) -> Result<vm::Status, DriverError> {
        self.with_vm(m, |s, vm| async move { vm::status(&s, &vm).await })
            .await
    }
}

/// The VM the config records, if create got that far.
fn vm_of(cfg: &Config) -> Option<MoRef> {
    cfg.vm
        .as_ref()
        .filter(|v| !v.moref.is_empty())
        .map(|v| vm_ref(&v.moref))
}

/// The config with the VM's new IP address, when it booted.
fn booted(mut cfg: Config, ip: Option<String>) -> Option<Config> {
    let ip = ip?;
    if let Some(v) = cfg.vm.as_mut() {
        v.ip = ip;
    }
    Some(cfg)
}

/// The VM of the machine's name in the target folder, if there is one.
async fn find_by_name(
    s: &Session,
    cfg: &Config,
    pl: &Placement,
) -> Result<Option<MoRef>, DriverError> {
    let body = format!(
        "<FindChild xmlns=\"urn:vim25\">{}{}{}</FindChild>",
        xml::moref("_this", &s.sc.search_index),
        xml::moref("entity", &pl.folder),
        xml::tag("name", &cfg.vm_name)
    );
    let resp = s.call("looking up the VM name", &body).await?;
    Ok(resp.child("returnval").and_then(MoRef::from_element))
}

/// The existing VM of the machine's name (made by Docker Machine, or by hand), as create would
/// have recorded it.
async fn adopt_in(s: &Session, mut cfg: Config) -> Result<Config, DriverError> {
    let pl = inventory::resolve(s, &cfg).await?;
    let vm = find_by_name(s, &cfg, &pl).await?.ok_or_else(|| {
        DriverError::not_found(format!(
            "no VM named {} in that folder of vCenter {}",
            cfg.vm_name, cfg.vcenter
        ))
    })?;
    let uuid = s
        .props(&vm, &["config.uuid"])
        .await
        .map(|p| crate::session::text(&p, "config.uuid").to_string())
        .unwrap_or_default();
    let ip = vm::status(s, &vm).await?.ip;
    cfg.vm = Some(VmRef {
        moref: vm.value.clone(),
        uuid,
        ip,
        instance_id: String::new(),
    });
    Ok(cfg)
}

/// Runs a task of a call the host may cancel; a cancelled call is an error saying `doing`.
async fn task(
    cx: &Context,
    s: &Session,
    what: &str,
    body: &str,
    doing: &str,
) -> Result<(), DriverError> {
    let (r, cancelled) = s.run_task_cancellable(cx, what, body, TASK_TIMEOUT).await;
    if cancelled {
        return Err(DriverError::cancelled(format!("cancelled while {doing}")));
    }
    r.map(|_| ())
}

/// Powers the VM on and waits for vCenter to report its IP address (VMware Tools). The host
/// waits for SSH.
async fn boot(cx: &Context, s: &Session, cfg: &Config, vm: &MoRef) -> Result<String, DriverError> {
    let name = &cfg.vm_name;
    cx.progress_step("power-on", format!("Powering on VM {name}"), None);
    task(
        cx,
        s,
        &format!("powering on VM {name}"),
        &vm::task_body("PowerOnVM_Task", vm),
        &format!("powering on VM {name}"),
    )
    .await?;
    cx.progress_step(
        "wait-ip",
        "Waiting for the VM's IP address (VMware Tools)",
        None,
    );
    let ip = vm::wait_for_ip(cx, s, vm, name, Duration::from_secs(cfg.ip_timeout_secs)).await?;
    cx.progress(format!("VM {name} has IP {ip}"));
    Ok(ip)
}

async fn stop_in(cx: &Context, s: &Session, cfg: &Config, vm: &MoRef) -> Result<(), DriverError> {
    let st = vm::status(s, vm).await?;
    if st.power == "poweredOff" {
        return Ok(());
    }
    if st.power == "poweredOn" {
        cx.progress(format!("Shutting down the guest of VM {}", cfg.vm_name));
        if vm::shutdown_guest(s, vm, &cfg.vm_name).await.is_ok() {
            let deadline = Instant::now() + SHUTDOWN_TIMEOUT;
            while Instant::now() < deadline {
                if vm::status(s, vm).await?.power == "poweredOff" {
                    return Ok(());
                }
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                    _ = cx.cancelled() => return Err(DriverError::cancelled(format!(
                        "cancelled while waiting for the guest of VM {} to shut down; \
                         it was asked to and may still be shutting down",
                        cfg.vm_name
                    ))),
                }
            }
            cx.progress("The guest did not shut down in time; powering the VM off");
        } else {
            cx.progress(
                "The guest cannot shut down itself (no VMware Tools?); powering the VM off",
            );
        }
    }
    let what = format!("powering off VM {}", cfg.vm_name);
    task(cx, s, &what, &vm::task_body("PowerOffVM_Task", vm), &what).await
}

/// Powers the VM on unless it is on; the IP address it booted with, if it booted.
async fn start_in(
    cx: &Context,
    s: &Session,
    cfg: &Config,
    vm: &MoRef,
) -> Result<Option<String>, DriverError> {
    if vm::status(s, vm).await?.power == "poweredOn" {
        return Ok(None);
    }
    let ip = boot(cx, s, cfg, vm).await.map_err(|e| {
        if e.kind == ErrorKind::Cancelled {
            DriverError::cancelled(format!(
                "{}; VM {} stays powered on (`machine stop` stops it)",
                e.message, cfg.vm_name
            ))
        } else {
            e
        }
    })?;
    Ok(Some(ip))
}

/// Powers the VM off at once, unless it is off.
async fn kill_in(cx: &Context, s: &Session, cfg: &Config, vm: &MoRef) -> Result<(), DriverError> {
    if vm::status(s, vm).await?.power != "poweredOff" {
        cx.progress(format!("Powering off VM {}", cfg.vm_name));
        let what = format!("powering off VM {}", cfg.vm_name);
        task(cx, s, &what, &vm::task_body("PowerOffVM_Task", vm), &what).await?;
    }
    Ok(())
}

#[async_trait]
impl Driver for VsphereDriver {
    type Options = VsphereOptions;
    type Config = Config;

    fn info(&self) -> DriverInfo {
        let info = DriverInfo::new("vsphere", env!("CARGO_PKG_VERSION"), Capabilities::all());
        info.with_aliases(&["vmwarevsphere"])
    }

    async fn set_config(
        &self,
        _cx: &Context,
        o: VsphereOptions,
        setup: &Setup,
    ) -> Result<Config, DriverError> {
        Config::new(o, &setup.machine, setup.allow_http_downloads)
    }

    async fn adopt(
        &self,
        _cx: &Context,
        o: VsphereOptions,
        setup: &Setup,
    ) -> Result<Config, DriverError> {
        let cfg = Config::new(o, &setup.machine, setup.allow_http_downloads)?;
        let s = self.session(&cfg).await?;
        adopt_in(&s, cfg).await
    }

    async fn pre_create_check(&self, cx: &Context, m: &Machine<Config>) -> Result<(), DriverError> {
        cx.progress(format!("Checking vCenter {}", m.config.base_url()));
        let s = self.session(&m.config).await?;
        pre_check(&s, &m.config).await.map(|_| ())
    }

    async fn create(
        &self,
        cx: &Context,
        m: Machine<Config>,
        ssh_public_key: &str,
    ) -> Result<Created<Config>, DriverError> {
        if ssh_public_key.trim().is_empty() {
            return Err(DriverError::invalid_option(
                "create needs the machine's SSH public key",
            ));
        }
        let mut cfg = m.config;
        cfg.creation_id = m.creation_id;
        let s = self.session(&cfg).await?;
        Ok(Created::new(create_in(cx, &s, cfg, ssh_public_key).await?))
    }

    async fn remove(
        &self,
        cx: &Context,
        m: Machine<Config>,
    ) -> Result<Option<Config>, DriverError> {
        let cfg = &m.config;
        let name = &cfg.vm_name;
        if vm_of(cfg).is_some() {
            cx.progress(format!("Powering off and destroying VM {name}"));
            let destroyed =
                |s: Arc<Session>, vm| async move { vm::power_off_and_destroy(&s, &vm, name).await };
            self.with_vm(&m, destroyed).await?;
            return Ok(None);
        }
        // no VM in the config: a create that died between making the VM and reporting it may
        // have left one, tagged with the creation id
        let creation_id = if m.creation_id.is_empty() {
            &cfg.creation_id
        } else {
            &m.creation_id
        };
        if creation_id.is_empty() {
            return Ok(None);
        }
        cx.progress(format!(
            "Looking for a VM {name} left by an interrupted create"
        ));
        let s = self.session(cfg).await?;
        for vm in vm::find_by_creation_id(&s, name, creation_id).await? {
            cx.progress(format!(
                "Powering off and destroying VM {name} ({}), left by an interrupted create",
                vm.value
            ));
            vm::power_off_and_destroy(&s, &vm, name).await?;
        }
        Ok(None)
    }

    async fn start(&self, cx: &Context, m: Machine<Config>) -> Result<Option<Config>, DriverError> {
        let cfg = &m.config;
        let ip = self
            .with_vm(&m, |s, vm| async move { start_in(cx, &s, cfg, &vm).await })
            .await?;
        Ok(booted(m.config, ip))
    }

    async fn stop(&self, cx: &Context, m: Machine<Config>) -> Result<Option<Config>, DriverError> {
        let cfg = &m.config;
        self.with_vm(&m, |s, vm| async move { stop_in(cx, &s, cfg, &vm).await })
            .await?;
        Ok(None)
    }

    async fn restart(
        &self,
        cx: &Context,
        m: Machine<Config>,
    ) -> Result<Option<Config>, DriverError> {
        let cfg = &m.config;
        let restarted = |s: Arc<Session>, vm| async move {
            stop_in(cx, &s, cfg, &vm).await?;
            start_in(cx, &s, cfg, &vm).await
        };
        let ip = self.with_vm(&m, restarted).await?;
        Ok(booted(m.config, ip))
    }

    async fn kill(&self, cx: &Context, m: Machine<Config>) -> Result<Option<Config>, DriverError> {
        let cfg = &m.config;
        self.with_vm(&m, |s, vm| async move { kill_in(cx, &s, cfg, &vm).await })
            .await?;
        Ok(None)
    }

    async fn state(&self, _cx: &Context, m: Machine<Config>) -> Result<State, DriverError> {
        Ok(self.status(&m).await?.state())
    }

    /// The VM's IP as vCenter reports it now; when vCenter reports none (VMware Tools restarting,
    /// the guest rebooting) or cannot be asked, the last IP known.
    async fn access(&self, _cx: &Context, m: Machine<Config>) -> Result<Access, DriverError> {
        let cfg = &m.config;
        let last = cfg.vm.as_ref().map(|v| v.ip.clone()).unwrap_or_default();
        let ip = match self.status(&m).await {
            Ok(st) if !st.ip.is_empty() => st.ip,
            Ok(_) if !last.is_empty() => last,
            Ok(st) => {
                return Err(DriverError::internal(format!(
                    "VM {} has no IP address now; vCenter reports {}",
                    cfg.vm_name,
                    st.describe()
                )))
            }
            Err(e)
                if last.is_empty()
                    || matches!(
                        e.kind,
                        ErrorKind::NotFound
                            | ErrorKind::AuthFailed
                            | ErrorKind::InvalidOption
                            | ErrorKind::Cancelled
                    ) =>
            {
                return Err(e)
            }
            Err(e) => {
                tracing::warn!(
                    "asking vCenter for the IP of VM {} failed ({}); using its last known IP {last}",
                    cfg.vm_name,
                    e.message
                );
                last
            }
        };
        Ok(Access::new(
            &ip,
            SshEndpoint::new(&ip, cfg.ssh_port, &cfg.ssh_user),
            DOCKER_PORT,
        ))
    }
}
