//! The `vsphere` driver: the protocol's lifecycle calls, each one a short vCenter session.

use crate::guestinfo;
use crate::inventory::{self, Placement};
use crate::options::{self, Config, Creation, VmRef};
use crate::session::Session;
use crate::soap::MoRef;
use crate::vm::{self, vm_ref};
use crate::xml;
use async_trait::async_trait;
use driver_protocol::calls::*;
use driver_protocol::schema::Capabilities;
use driver_protocol::{Context, Driver, DriverError, DriverInfo, ErrorKind};
use std::time::{Duration, Instant};

/// How long `stop` waits for the guest to shut down before powering the VM off.
pub const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(90);

pub struct VsphereDriver;

impl VsphereDriver {
    pub fn info() -> DriverInfo {
        let mut info = DriverInfo::new(
            "vsphere",
            env!("CARGO_PKG_VERSION"),
            Capabilities {
                start: true,
                stop: true,
                restart: true,
                kill: true,
            },
            options::schema(),
        );
        info.aliases = vec!["vmwarevsphere".into()];
        info
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
    if src.starts_with("http://") || src.starts_with("https://") {
        let text = reqwest::get(src)
            .await
            .and_then(|r| r.error_for_status())
            .map_err(|e| {
                DriverError::unreachable(format!(
                    "cannot fetch --vmwarevsphere-cloudinit {src}: {e}"
                ))
            })?
            .text()
            .await
            .map_err(|e| DriverError::unreachable(format!("cannot fetch {src}: {e}")))?;
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

/// Fails when a VM of that name already exists in the target folder.
async fn check_name_free(s: &Session, cfg: &Config, pl: &Placement) -> Result<(), DriverError> {
    let body = format!(
        "<FindChild xmlns=\"urn:vim25\">{}{}{}</FindChild>",
        xml::moref("_this", &s.sc.search_index),
        xml::moref("entity", &pl.folder),
        xml::tag("name", &cfg.vm_name)
    );
    let resp = s.call("looking up the VM name", &body).await?;
    if resp
        .child("returnval")
        .and_then(MoRef::from_element)
        .is_some()
    {
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

async fn pre_check(s: &Session, cfg: &Config) -> Result<Placement, DriverError> {
    let pl = inventory::resolve(s, cfg).await?;
    check_name_free(s, cfg, &pl).await?;
    if cfg.creation == Creation::Legacy {
        let iso = cfg.iso_url.as_str();
        if !iso.contains("://") || iso.starts_with("file://") {
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

/// The VM's extraConfig: guestinfo for cloud-init, then the user's cfgparams (which win).
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
    for (k, v) in &cfg.cfgparams {
        extra.retain(|(ek, _)| ek != k);
        extra.push((k.clone(), v.clone()));
    }
    extra
}

/// Power on, wait for the IP and for SSH.
async fn boot(cx: &Context, s: &Session, cfg: &Config, vm: &MoRef) -> Result<String, DriverError> {
    cx.progress(format!("Powering on VM {}", cfg.vm_name));
    vm::power_on(s, vm, &cfg.vm_name).await?;
    cx.progress("Waiting for the VM's IP address (VMware Tools)");
    let timeout = Duration::from_secs(cfg.ip_timeout_secs);
    let started = Instant::now();
    let ip = vm::wait_for_ip(s, vm, &cfg.vm_name, timeout).await?;
    cx.progress(format!("VM {} has IP {ip}; waiting for SSH", cfg.vm_name));
    let left = timeout
        .saturating_sub(started.elapsed())
        .max(Duration::from_secs(30));
    vm::wait_for_ssh_port(s, vm, &cfg.vm_name, &ip, cfg.ssh_port, left).await?;
    Ok(ip)
}

async fn create_in(
    cx: &Context,
    s: &Session,
    mut cfg: Config,
    key: &str,
) -> Result<Config, DriverError> {
    cx.progress(format!(
        "Finding the datacenter, datastore, network and pool in {}",
        s.url
    ));
    let pl = pre_check(s, &cfg).await?;
    let user_ci = user_cloudinit(&cfg).await?;
    let instance_id = guestinfo::new_instance_id();
    let extra = extra_config(&cfg, &instance_id, key, user_ci.as_deref());
    let vm = match cfg.creation {
        Creation::Legacy => {
            let iso =
                crate::datastore::ensure_iso(cx, s, &pl.dc_path, &pl.datastore.name, &cfg.iso_url)
                    .await?;
            cx.progress(format!(
                "Creating VM {} ({} CPU, {} MB memory, {} MB disk) booting {iso}",
                cfg.vm_name, cfg.cpus, cfg.memory_mb, cfg.disk_mb
            ));
            vm::create(s, &cfg, &pl, &iso, &extra).await?
        }
        Creation::Clone => {
            let from = pl
                .template
                .as_ref()
                .map(|t| t.path.clone())
                .unwrap_or_default();
            cx.progress(format!("Cloning {from} to VM {}", cfg.vm_name));
            vm::clone(s, &cfg, &pl).await?
        }
    };
    // from here on, a failure removes the VM again: a failed create leaves nothing behind
    let finish = async {
        if cfg.creation == Creation::Clone {
            cx.progress(format!(
                "Configuring VM {} ({} CPU, {} MB memory, {} MB disk, cloud-init guestinfo)",
                cfg.vm_name, cfg.cpus, cfg.memory_mb, cfg.disk_mb
            ));
            vm::reconfigure(s, &cfg, &vm, &pl.networks, &extra).await?;
        }
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
            cfg.vm = Some(VmRef {
                moref: vm.value.clone(),
                uuid,
                ip,
                instance_id,
            });
            Ok(cfg)
        }
        Err(e) => {
            cx.progress(format!("Create failed; removing VM {} again", cfg.vm_name));
            let cleanup = vm::power_off_and_destroy(s, &vm, &cfg.vm_name).await;
            let mut msg = e.message.clone();
            match cleanup {
                Ok(()) => msg.push_str(" (the half-made VM was removed)"),
                Err(c) => msg.push_str(&format!(
                    " (removing the half-made VM {} failed too: {}; remove it in vCenter)",
                    cfg.vm_name, c.message
                )),
            }
            Err(DriverError::new(e.kind, msg))
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
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
            cx.progress("The guest did not shut down in time; powering the VM off");
        } else {
            cx.progress(
                "The guest cannot shut down itself (no VMware Tools?); powering the VM off",
            );
        }
    }
    vm::power_off(s, vm, &cfg.vm_name).await
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
    let ip = boot(cx, s, &cfg, vm).await?;
    if let Some(v) = cfg.vm.as_mut() {
        v.ip = ip;
    }
    Ok(cfg)
}

/// Runs `f` in a fresh session and logs out afterwards.
macro_rules! with_session {
    ($cfg:expr, |$s:ident| $body:expr) => {{
        let $s = Session::login(&$cfg).await?;
        let r = $body;
        $s.logout().await;
        r
    }};
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
        let cfg = Config::from_options(&p.machine, &p.options)?;
        Ok(ConfigResult {
            config: cfg.to_value(),
        })
    }

    async fn pre_create_check(&self, cx: &Context, p: MachineParams) -> Result<(), DriverError> {
        let cfg = Config::from_value(&p.config)?;
        cx.progress(format!("Checking vCenter {}", cfg.base_url()));
        with_session!(cfg, |s| pre_check(&s, &cfg).await.map(|_| ()))
    }

    async fn create(&self, cx: &Context, p: CreateParams) -> Result<ConfigResult, DriverError> {
        let cfg = Config::from_value(&p.config)?;
        if p.ssh_public_key.trim().is_empty() {
            return Err(DriverError::invalid_option(
                "create needs the machine's SSH public key",
            ));
        }
        let cfg = with_session!(cfg, |s| create_in(cx, &s, cfg.clone(), &p.ssh_public_key)
            .await)?;
        Ok(ConfigResult {
            config: cfg.to_value(),
        })
    }

    async fn remove(&self, cx: &Context, p: MachineParams) -> Result<ConfigResult, DriverError> {
        let cfg = Config::from_value(&p.config)?;
        let Ok((vm, _)) = the_vm(&cfg) else {
            return Ok(ConfigResult { config: p.config });
        };
        cx.progress(format!("Powering off and destroying VM {}", cfg.vm_name));
        with_session!(cfg, |s| vm::power_off_and_destroy(&s, &vm, &cfg.vm_name)
            .await)?;
        Ok(ConfigResult { config: p.config })
    }

    async fn start(&self, cx: &Context, p: MachineParams) -> Result<ConfigResult, DriverError> {
        let cfg = Config::from_value(&p.config)?;
        let (vm, _) = the_vm(&cfg)?;
        let cfg = with_session!(cfg, |s| start_in(cx, &s, cfg.clone(), &vm).await)
            .map_err(|e| gone(&cfg, e))?;
        Ok(ConfigResult {
            config: cfg.to_value(),
        })
    }

    async fn stop(&self, cx: &Context, p: MachineParams) -> Result<ConfigResult, DriverError> {
        let cfg = Config::from_value(&p.config)?;
        let (vm, _) = the_vm(&cfg)?;
        with_session!(cfg, |s| stop_in(cx, &s, &cfg, &vm).await).map_err(|e| gone(&cfg, e))?;
        Ok(ConfigResult { config: p.config })
    }

    async fn restart(&self, cx: &Context, p: MachineParams) -> Result<ConfigResult, DriverError> {
        let cfg = Config::from_value(&p.config)?;
        let (vm, _) = the_vm(&cfg)?;
        let cfg = with_session!(cfg, |s| {
            match stop_in(cx, &s, &cfg, &vm).await {
                Ok(()) => start_in(cx, &s, cfg.clone(), &vm).await,
                Err(e) => Err(e),
            }
        })
        .map_err(|e| gone(&cfg, e))?;
        Ok(ConfigResult {
            config: cfg.to_value(),
        })
    }

    async fn kill(&self, cx: &Context, p: MachineParams) -> Result<ConfigResult, DriverError> {
        let cfg = Config::from_value(&p.config)?;
        let (vm, _) = the_vm(&cfg)?;
        with_session!(cfg, |s| {
            match vm::status(&s, &vm).await {
                Ok(st) if st.power != "poweredOff" => {
                    cx.progress(format!("Powering off VM {}", cfg.vm_name));
                    vm::power_off(&s, &vm, &cfg.vm_name).await
                }
                Ok(_) => Ok(()),
                Err(e) => Err(e),
            }
        })
        .map_err(|e| gone(&cfg, e))?;
        Ok(ConfigResult { config: p.config })
    }

    async fn state(&self, _cx: &Context, p: MachineParams) -> Result<StateResult, DriverError> {
        let cfg = Config::from_value(&p.config)?;
        let (vm, _) = the_vm(&cfg)?;
        let st = with_session!(cfg, |s| vm::status(&s, &vm).await).map_err(|e| gone(&cfg, e))?;
        Ok(StateResult { state: st.state() })
    }

    async fn ip(&self, _cx: &Context, p: MachineParams) -> Result<IpResult, DriverError> {
        let cfg = Config::from_value(&p.config)?;
        let (vm, _) = the_vm(&cfg)?;
        let st = with_session!(cfg, |s| vm::status(&s, &vm).await).map_err(|e| gone(&cfg, e))?;
        if st.ip.is_empty() {
            return Err(DriverError::new(
                ErrorKind::Internal,
                format!(
                    "VM {} has no IP address now; vCenter reports {}",
                    cfg.vm_name,
                    st.describe()
                ),
            ));
        }
        Ok(IpResult { ip: st.ip })
    }

    async fn ssh(&self, cx: &Context, p: MachineParams) -> Result<SshDetails, DriverError> {
        let cfg = Config::from_value(&p.config)?;
        let ip = match self.ip(cx, p.clone()).await {
            Ok(r) => r.ip,
            Err(e) => match cfg
                .vm
                .as_ref()
                .map(|v| v.ip.clone())
                .filter(|ip| !ip.is_empty())
            {
                Some(ip) if e.kind != ErrorKind::NotFound && e.kind != ErrorKind::AuthFailed => ip,
                _ => return Err(e),
            },
        };
        Ok(SshDetails {
            host: ip,
            port: cfg.ssh_port,
            user: cfg.ssh_user.clone(),
            key_path: None,
        })
    }
}
