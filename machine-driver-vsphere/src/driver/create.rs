//! Making a machine's VM: the checks before (inventory, a free name, the ISO, the user's
//! cloud-init), the VM's extraConfig (cloud-init guestinfo, cfgparams, the creation id), creating
//! or cloning it, configuring and booting it — and removing it again when any of that fails or
//! is cancelled after the VM exists.

use super::{boot, find_by_name, task};
use crate::guestinfo;
use crate::inventory::{self, Placement};
use crate::options::{Config, Creation, VmRef};
use crate::session::Session;
use crate::vm::{self, TASK_TIMEOUT};
use driver_protocol::{Context, DriverError, ErrorKind};

/// Reads `--vmwarevsphere-cloudinit` (a file or an http(s) URL).
async fn user_cloudinit(cfg: &Config) -> Result<Option<String>, DriverError> {
    let Some(src) = cfg.cloudinit.as_deref() else {
        return Ok(None);
    };
    if crate::download::is_url(src) {
        use crate::download::{self, ReadError, CLOUDINIT_MAX};
        const OPTION: &str = "--vmwarevsphere-cloudinit";
        let resp = download::get(OPTION, src, cfg.allow_http_downloads).await?;
        let body = download::read_within(resp, CLOUDINIT_MAX)
            .await
            .map_err(|e| match e {
                ReadError::TooLarge { limit } => DriverError::invalid_option(format!(
                    "{OPTION} {}: the file is more than {limit} bytes (the most read of a \
                     cloud-init file): no cloud-init file is that large",
                    download::redact(src)
                )),
                ReadError::Http(e) => download::failed(OPTION, src, e),
            })?;
        return Ok(Some(String::from_utf8_lossy(&body).into_owned()));
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

pub(super) async fn pre_check(s: &Session, cfg: &Config) -> Result<Placement, DriverError> {
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

pub(super) async fn create_in(
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
