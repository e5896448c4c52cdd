//! The `vsphere` driver: the protocol's lifecycle calls.
//!
//! The driver makes, starts, stops and destroys VMs and says how to reach them; the host waits for
//! SSH and Docker and stores everything. Every call runs in the one vCenter session its
//! credentials share ([`SessionPool`]).

use crate::guestinfo;
use crate::inventory::{self, Placement};
use crate::options::{self, Config, Creation, VmRef};
use crate::session::{Session, SessionPool};
use crate::soap::MoRef;
use crate::vm::{self, vm_ref, TASK_TIMEOUT};
use crate::xml;
use async_trait::async_trait;
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

/// Reads `--vmwarevsphere-cloudinit` (a file or an http(s) URL).
async fn user_cloudinit(cfg: &Config) -> Result<Option<String>, DriverError> {
    let Some(src) = cfg.cloudinit.as_deref() else {
        return Ok(None);
    };
    if crate::download::is_url(src) {
        const OPTION: &str = "--vmwarevsphere-cloudinit";
        let text = crate::download::get(OPTION, src, cfg.allow_http_downloads)
            .await?
            .text()
            .await
            .map_err(|e| crate::download::failed(OPTION, src, e))?;
        return Ok(Some(text));
    }
    let path = src.strip_prefix("file://").unwrap_or(src);
    tokio::fs::read_to_string(path)
        .await
        .map(Some)
        .map_err(|e| {
            DriverError::invalid_option(format!(
                "cannot read --vmwarevsphere-cloudinit {path}: {e}"
            ))
        })
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

/// Fails when a VM of that name already exists in the target folder.
async fn check_name_free(s: &Session, cfg: &Config, pl: &Placement) -> Result<(), DriverError> {
    if find_by_name(s, cfg, pl).await?.is_some() {
        return Err(DriverError::new(
            ErrorKind::AlreadyExists,
            format!(
                "a VM named {} already exists in that folder of vCenter {}",
                cfg.vm_name, cfg.vcenter
            ),
        ));
    }
    Ok(())
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

async fn pre_check(s: &Session, cfg: &Config) -> Result<Placement, DriverError> {
    let pl = inventory::resolve(s, cfg).await?;
    check_name_free(s, cfg, &pl).await?;
    if cfg.creation == Creation::Legacy {
        let iso = cfg.iso_url.as_str();
        if crate::download::is_url(iso) {
            crate::download::check(crate::datastore::ISO_FLAG, iso, cfg.allow_http_downloads)?;
        } else if !iso.contains("://") || iso.starts_with("file://") {
            let p = iso.strip_prefix("file://").unwrap_or(iso);
            if !std::path::Path::new(p).is_file() {
                return Err(DriverError::invalid_option(format!(
                    "--vmwarevsphere-boot2docker-url {p}: no such file"
                )));
            }
        }
    }
    user_cloudinit(cfg).await?;
    Ok(pl)
}

/// The creation id tag, when create was given one.
fn creation_tag(cfg: &Config) -> Vec<(String, String)> {
    if cfg.creation_id.is_empty() {
        Vec::new()
    } else {
        vec![(vm::CREATION_ID_KEY.to_string(), cfg.creation_id.clone())]
    }
}

/// The VM's extraConfig: guestinfo for cloud-init, then the user's cfgparams (which win), then
/// the creation id (which no cfgparam may replace: `remove` relies on it).
fn extra_config(
    cfg: &Config,
    instance_id: &str,
    public_key: &str,
    user_ci: Option<&str>,
) -> Vec<(String, String)> {
    let mut extra = guestinfo::extra_config(
        instance_id,
        &cfg.vm_name,
        &cfg.ssh_user,
        public_key,
        user_ci,
        cfg.creation == Creation::Legacy,
    );
    for (k, v) in cfg.cfgparams.iter().chain(creation_tag(cfg).iter()) {
        extra.retain(|(ek, _)| ek != k);
        extra.push((k.clone(), v.clone()));
    }
    extra
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

async fn create_in(
    cx: &Context,
    s: &Session,
    mut cfg: Config,
    key: &str,
) -> Result<Config, DriverError> {
    let nothing_made = |while_: &str| {
        DriverError::cancelled(format!(
            "create of machine {} was cancelled {while_}; no VM had been made, nothing to undo",
            cfg.vm_name
        ))
    };
    if cx.is_cancelled() {
        return Err(nothing_made("before it began"));
    }
    cx.progress_step(
        "inventory",
        format!(
            "Finding the datacenter, datastore, network and pool in {}",
            s.url
        ),
        None,
    );
    let pl = pre_check(s, &cfg).await?;
    let user_ci = user_cloudinit(&cfg).await?;
    let instance_id = guestinfo::new_instance_id();
    let extra = extra_config(&cfg, &instance_id, key, user_ci.as_deref());
    if cx.is_cancelled() {
        return Err(nothing_made("while it looked at the inventory"));
    }
    let (what, body) = match cfg.creation {
        Creation::Legacy => {
            let iso =
                crate::datastore::ensure_iso(cx, s, &pl, &cfg.iso_url, cfg.allow_http_downloads)
                    .await?;
            cx.progress_step(
                "create-vm",
                format!(
                    "Creating VM {} ({} CPU, {} MB memory, {} MB disk) booting {iso}",
                    cfg.vm_name, cfg.cpus, cfg.memory_mb, cfg.disk_mb
                ),
                None,
            );
            (
                format!("creating VM {}", cfg.vm_name),
                vm::create_body(s, &cfg, &pl, &iso, &extra).await?,
            )
        }
        Creation::Clone => {
            let from = pl
                .template
                .as_ref()
                .map(|t| t.path.clone())
                .unwrap_or_default();
            cx.progress_step(
                "clone",
                format!("Cloning {from} to VM {}", cfg.vm_name),
                None,
            );
            (
                format!("cloning {from} to VM {}", cfg.vm_name),
                vm::clone_body(&cfg, &pl, &creation_tag(&cfg))?,
            )
        }
    };
    if cx.is_cancelled() {
        return Err(nothing_made("before its VM was made"));
    }
    let (made, cancelled) = s.run_task_cancellable(cx, &what, &body, TASK_TIMEOUT).await;
    let vm = match made.and_then(|r| vm::made_vm(r.as_ref(), &what)) {
        Ok(vm) => vm,
        Err(e) if cancelled => {
            return Err(nothing_made(&format!(
                "while {what} (vCenter made no VM: {})",
                e.message
            )))
        }
        Err(e) => return Err(e),
    };
    // the VM exists: the host stores where it is at once, so that an interrupted create is undone
    cfg.vm = Some(VmRef {
        moref: vm.value.clone(),
        uuid: String::new(),
        ip: String::new(),
        instance_id: instance_id.clone(),
    });
    cx.made(&cfg.to_value());

    // from here on, a failure or a cancel removes the VM again: nothing is left behind
    let finish = async {
        if cancelled {
            return Err(DriverError::cancelled(format!("cancelled while {what}")));
        }
        if cfg.creation == Creation::Clone {
            cx.progress_step(
                "configure",
                format!(
                    "Configuring VM {} ({} CPU, {} MB memory, {} MB disk, cloud-init guestinfo)",
                    cfg.vm_name, cfg.cpus, cfg.memory_mb, cfg.disk_mb
                ),
                None,
            );
            let body = vm::reconfigure_body(s, &cfg, &vm, &pl.networks, &extra).await?;
            let what = format!("configuring VM {}", cfg.vm_name);
            task(cx, s, &what, &body, &what).await?;
        }
        cx.check_cancelled()?;
        let uuid = s
            .props(&vm, &["config.uuid"])
            .await
            .map(|p| crate::session::text(&p, "config.uuid").to_string())
            .unwrap_or_default();
        let ip = boot(cx, s, &cfg, &vm).await?;
        Ok::<_, DriverError>((uuid, ip))
    };
    match finish.await {
        Ok((uuid, ip)) => {
            if let Some(v) = cfg.vm.as_mut() {
                v.uuid = uuid;
                v.ip = ip;
            }
            Ok(cfg)
        }
        Err(e) => {
            let cancelled = e.kind == ErrorKind::Cancelled || cx.is_cancelled();
            cx.progress_step(
                "undo",
                format!(
                    "Create {}; removing VM {} again",
                    if cancelled { "cancelled" } else { "failed" },
                    cfg.vm_name
                ),
                None,
            );
            let cleanup = vm::power_off_and_destroy(s, &vm, &cfg.vm_name).await;
            let (kind, mut msg) = if cancelled {
                (
                    ErrorKind::Cancelled,
                    format!(
                        "create of machine {} was cancelled ({})",
                        cfg.vm_name, e.message
                    ),
                )
            } else {
                (e.kind, e.message.clone())
            };
            match cleanup {
                Ok(()) => msg.push_str(&format!(
                    "; the VM it had made ({}, {}) was powered off and removed",
                    cfg.vm_name, vm.value
                )),
                Err(c) => msg.push_str(&format!(
                    "; removing the half-made VM {} ({}) failed too: {}; `machine rm` removes it \
                     (the VM carries its creation id)",
                    cfg.vm_name, vm.value, c.message
                )),
            }
            Err(DriverError::new(kind, msg))
        }
    }
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

    async fn state(&self, _cx: &Context, p: MachineParams) -> Result<StateResult, DriverError> {
        let cfg = Config::from_value(&p.config)?;
        let (vm, _) = the_vm(&cfg)?;
        let s = self.session(&cfg).await?;
        let st = vm::status(&s, &vm).await.map_err(|e| gone(&cfg, e))?;
        Ok(StateResult::new(st.state()))
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
