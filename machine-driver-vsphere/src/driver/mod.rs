//! The `vsphere` driver: the protocol's lifecycle calls.
//!
//! The driver makes, starts, stops and destroys VMs and says how to reach them; the host waits for
//! SSH and Docker and stores everything. Every call runs in the one vCenter session its
//! credentials share ([`SessionPool`]).
//!
//! Here: the [`Driver`] implementation, the calls on a VM that exists (adopt, start, stop, kill,
//! remove, state, access) and what create shares with them (finding a VM by name, running a
//! task, booting); `create.rs` makes the VM.

mod create;

use crate::inventory::{self, Placement};
use crate::options::{self, Config, VmRef};
use crate::session::pool::SessionPool;
use crate::session::Session;
use crate::soap::MoRef;
use crate::vm::{self, vm_ref, TASK_TIMEOUT};
use crate::xml;
use async_trait::async_trait;
use create::{create_in, pre_check};
use driver_protocol::calls::*;
use driver_protocol::schema::Capabilities;
use driver_protocol::{Context, Driver, DriverError, DriverInfo, ErrorKind};
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

    /// Name, version, capabilities and option schema.
    pub fn info() -> DriverInfo {
        DriverInfo::new(
            "vsphere",
            env!("CARGO_PKG_VERSION"),
            Capabilities::all(),
            options::schema(),
        )
        .with_aliases(&["vmwarevsphere"])
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
}

fn the_vm(cfg: &Config) -> Result<(MoRef, &VmRef), DriverError> {
    match &cfg.vm {
        Some(v) if !v.moref.is_empty() => Ok((vm_ref(&v.moref), v)),
        _ => Err(DriverError::not_found(format!(
            "machine {} has no VM in vCenter (its create did not finish)",
            cfg.vm_name
        ))),
    }
}

fn gone(cfg: &Config, e: DriverError) -> DriverError {
    if e.kind == ErrorKind::NotFound {
        DriverError::not_found(format!(
            "VM {} no longer exists in vCenter {}",
            cfg.vm_name, cfg.vcenter
        ))
    } else {
        e
    }
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

async fn start_in(
    cx: &Context,
    s: &Session,
    mut cfg: Config,
    vm: &MoRef,
) -> Result<Config, DriverError> {
    let st = vm::status(s, vm).await?;
    if st.power == "poweredOn" {
        return Ok(cfg);
    }
    let ip = boot(cx, s, &cfg, vm).await.map_err(|e| {
        if e.kind == ErrorKind::Cancelled {
            DriverError::cancelled(format!(
                "{}; VM {} stays powered on (`machine stop` stops it)",
                e.message, cfg.vm_name
            ))
        } else {
            e
        }
    })?;
    if let Some(v) = cfg.vm.as_mut() {
        v.ip = ip;
    }
    Ok(cfg)
}

#[async_trait]
impl Driver for VsphereDriver {
    fn info(&self) -> DriverInfo {
        VsphereDriver::info()
    }

    async fn set_config(
        &self,
        _cx: &Context,
        p: SetConfigParams,
    ) -> Result<ConfigResult, DriverError> {
        let mut cfg = Config::from_options(&p.machine, &p.options)?;
        cfg.allow_http_downloads = p.allow_http_downloads;
        Ok(ConfigResult::new(cfg.to_value()))
    }

    async fn adopt(&self, _cx: &Context, p: SetConfigParams) -> Result<ConfigResult, DriverError> {
        let cfg = Config::from_options(&p.machine, &p.options)?;
        let s = self.session(&cfg).await?;
        Ok(ConfigResult::new(adopt_in(&s, cfg).await?.to_value()))
    }

    async fn pre_create_check(&self, cx: &Context, p: MachineParams) -> Result<(), DriverError> {
        let cfg = Config::from_value(&p.config)?;
        cx.progress(format!("Checking vCenter {}", cfg.base_url()));
        let s = self.session(&cfg).await?;
        pre_check(&s, &cfg).await.map(|_| ())
    }

    async fn create(&self, cx: &Context, p: CreateParams) -> Result<CreateResult, DriverError> {
        let mut cfg = Config::from_value(&p.config)?;
        if p.ssh_public_key.trim().is_empty() {
            return Err(DriverError::invalid_option(
                "create needs the machine's SSH public key",
            ));
        }
        cfg.creation_id = p.creation_id.clone();
        let s = self.session(&cfg).await?;
        let cfg = create_in(cx, &s, cfg, &p.ssh_public_key).await?;
        Ok(CreateResult::new(cfg.to_value()))
    }

    async fn remove(&self, cx: &Context, p: MachineParams) -> Result<ConfigResult, DriverError> {
        let cfg = Config::from_value(&p.config)?;
        if let Ok((vm, _)) = the_vm(&cfg) {
            cx.progress(format!("Powering off and destroying VM {}", cfg.vm_name));
            let s = self.session(&cfg).await?;
            vm::power_off_and_destroy(&s, &vm, &cfg.vm_name).await?;
            return Ok(ConfigResult::new(p.config));
        }
        // no VM in the config: a create that died between making the VM and reporting it may
        // have left one, tagged with the creation id
        let creation_id = if p.creation_id.is_empty() {
            cfg.creation_id.clone()
        } else {
            p.creation_id.clone()
        };
        if creation_id.is_empty() {
            return Ok(ConfigResult::new(p.config));
        }
        cx.progress(format!(
            "Looking for a VM {} left by an interrupted create",
            cfg.vm_name
        ));
        let s = self.session(&cfg).await?;
        for vm in vm::find_by_creation_id(&s, &cfg.vm_name, &creation_id).await? {
            cx.progress(format!(
                "Powering off and destroying VM {} ({}), left by an interrupted create",
                cfg.vm_name, vm.value
            ));
            vm::power_off_and_destroy(&s, &vm, &cfg.vm_name).await?;
        }
        Ok(ConfigResult::new(p.config))
    }

    async fn start(&self, cx: &Context, p: MachineParams) -> Result<ConfigResult, DriverError> {
        let cfg = Config::from_value(&p.config)?;
        let (vm, _) = the_vm(&cfg)?;
        let s = self.session(&cfg).await?;
        let cfg = start_in(cx, &s, cfg.clone(), &vm)
            .await
            .map_err(|e| gone(&cfg, e))?;
        Ok(ConfigResult::new(cfg.to_value()))
    }

    async fn stop(&self, cx: &Context, p: MachineParams) -> Result<ConfigResult, DriverError> {
        let cfg = Config::from_value(&p.config)?;
        let (vm, _) = the_vm(&cfg)?;
        let s = self.session(&cfg).await?;
        stop_in(cx, &s, &cfg, &vm)
            .await
            .map_err(|e| gone(&cfg, e))?;
        Ok(ConfigResult::new(p.config))
    }

    async fn restart(&self, cx: &Context, p: MachineParams) -> Result<ConfigResult, DriverError> {
        let cfg = Config::from_value(&p.config)?;
        let (vm, _) = the_vm(&cfg)?;
        let s = self.session(&cfg).await?;
        let restarted = async {
            stop_in(cx, &s, &cfg, &vm).await?;
            start_in(cx, &s, cfg.clone(), &vm).await
        };
        let cfg = restarted.await.map_err(|e| gone(&cfg, e))?;
        Ok(ConfigResult::new(cfg.to_value()))
    }

    async fn kill(&self, cx: &Context, p: MachineParams) -> Result<ConfigResult, DriverError> {
        let cfg = Config::from_value(&p.config)?;
        let (vm, _) = the_vm(&cfg)?;
        let s = self.session(&cfg).await?;
        let killed = async {
            if vm::status(&s, &vm).await?.power != "poweredOff" {
                cx.progress(format!("Powering off VM {}", cfg.vm_name));
                let what = format!("powering off VM {}", cfg.vm_name);
                task(cx, &s, &what, &vm::task_body("PowerOffVM_Task", &vm), &what).await?;
            }
            Ok(())
        };
        killed.await.map_err(|e| gone(&cfg, e))?;
        Ok(ConfigResult::new(p.config))
    }

    async fn state(&self, _cx: &Context, p: MachineParams) -> Result<State, DriverError> {
        let cfg = Config::from_value(&p.config)?;
        let (vm, _) = the_vm(&cfg)?;
        let s = self.session(&cfg).await?;
        let st = vm::status(&s, &vm).await.map_err(|e| gone(&cfg, e))?;
        Ok(st.state())
    }

    /// The VM's IP as vCenter reports it now; when vCenter reports none (VMware Tools restarting,
    /// the guest rebooting) or cannot be asked, the last IP known.
    async fn access(&self, _cx: &Context, p: MachineParams) -> Result<Access, DriverError> {
        let cfg = Config::from_value(&p.config)?;
        let (vm, known) = the_vm(&cfg)?;
        let last = known.ip.clone();
        let status = match self.session(&cfg).await {
            Ok(s) => vm::status(&s, &vm).await.map_err(|e| gone(&cfg, e)),
            Err(e) => Err(e),
        };
        let ip = match status {
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
