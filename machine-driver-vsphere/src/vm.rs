//! Virtual machines: clone or create, reconfigure (CPU, memory, disk, networks, extraConfig),
//! power operations, destroy, waiting for the guest's IP address, and finding a VM by the
//! creation id it carries.

use crate::inventory::{Entity, Placement};
use crate::options::Config;
use crate::session::{text, Session};
use crate::soap::MoRef;
use crate::xml::{self, escape, tag, Element};
use driver_protocol::calls::State;
use driver_protocol::{Context, DriverError, ErrorKind};
use std::time::{Duration, Instant};

/// How long a vCenter task may take (clones of big disks are slow).
pub const TASK_TIMEOUT: Duration = Duration::from_secs(3600);

/// The extraConfig key that tags a VM with the host's creation id, so that `remove` finds the
/// VM of a create that died before it reported the VM.
pub const CREATION_ID_KEY: &str = "machine.creation-id";

const NIC_TYPES: &[&str] = &[
    "VirtualVmxnet3",
    "VirtualVmxnet2",
    "VirtualVmxnet",
    "VirtualE1000",
    "VirtualE1000e",
    "VirtualPCNet32",
    "VirtualSriovEthernetCard",
    "VirtualVmxnet3Vrdma",
];

/// What vCenter says about a VM right now.
#[derive(Debug, Clone, Default)]
pub struct Status {
    pub power: String,
    pub ip: String,
    pub tools_running: String,
    pub tools_status: String,
}

impl Status {
    pub fn state(&self) -> State {
        match self.power.as_str() {
            "poweredOn" => State::Running,
            "poweredOff" => State::Stopped,
            "suspended" => State::Paused,
            _ => State::None,
        }
    }
    /// "power state poweredOn, VMware Tools guestToolsNotRunning (toolsNotInstalled), IP none".
    pub fn describe(&self) -> String {
        format!(
            "power state {}, VMware Tools {} ({}), IP {}",
            or(&self.power, "unknown"),
            or(&self.tools_running, "unknown"),
            or(&self.tools_status, "unknown"),
            or(&self.ip, "none")
        )
    }
}

fn or<'a>(s: &'a str, d: &'a str) -> &'a str {
    if s.is_empty() {
        d
    } else {
        s
    }
}

pub fn vm_ref(moref: &str) -> MoRef {
    MoRef::new("VirtualMachine", moref)
}

/// Reads the VM's power state, guest IP and tools status. `NotFound` when the VM is gone.
pub async fn status(s: &Session, vm: &MoRef) -> Result<Status, DriverError> {
    let p = s
        .props(
            vm,
            &[
                "runtime.powerState",
                "guest.ipAddress",
                "guest.toolsRunningStatus",
                "guest.toolsStatus",
            ],
        )
        .await?;
    Ok(Status {
        power: text(&p, "runtime.powerState").to_string(),
        ip: usable_ip(text(&p, "guest.ipAddress")),
        tools_running: text(&p, "guest.toolsRunningStatus").to_string(),
        tools_status: text(&p, "guest.toolsStatus").to_string(),
    })
}

/// Link-local addresses are no use for SSH from elsewhere.
fn usable_ip(ip: &str) -> String {
    let ip = ip.trim();
    if ip.starts_with("fe80") || ip.starts_with("169.254.") {
        String::new()
    } else {
        ip.to_string()
    }
}

fn option_values(extra: &[(String, String)]) -> String {
    extra
        .iter()
        .map(|(k, v)| {
            format!(
                "<extraConfig>{}<value xsi:type=\"xsd:string\">{}</value></extraConfig>",
                tag("key", k),
                escape(v)
            )
        })
        .collect()
}

/// The NIC backing for a network (standard, distributed port group or opaque).
async fn nic_backing(s: &Session, net: &Entity) -> Result<String, DriverError> {
    match net.moref.kind.as_str() {
        "DistributedVirtualPortgroup" => {
            let p = s
                .props(&net.moref, &["key", "config.distributedVirtualSwitch"])
                .await?;
            let dvs = p
                .get("config.distributedVirtualSwitch")
                .and_then(MoRef::from_element)
                .ok_or_else(|| {
                    DriverError::internal(format!("port group {} has no switch", net.path))
                })?;
            let sp = s.props(&dvs, &["uuid"]).await?;
            Ok(format!(
                "<backing xsi:type=\"VirtualEthernetCardDistributedVirtualPortBackingInfo\"><port>{}{}</port></backing>",
                tag("switchUuid", text(&sp, "uuid")),
                tag("portgroupKey", text(&p, "key"))
            ))
        }
        "OpaqueNetwork" => {
            let p = s
                .props(
                    &net.moref,
                    &["summary.opaqueNetworkId", "summary.opaqueNetworkType"],
                )
                .await?;
            Ok(format!(
                "<backing xsi:type=\"VirtualEthernetCardOpaqueNetworkBackingInfo\">{}{}</backing>",
                tag("opaqueNetworkId", text(&p, "summary.opaqueNetworkId")),
                tag("opaqueNetworkType", text(&p, "summary.opaqueNetworkType"))
            ))
        }
        _ => Ok(format!(
            "<backing xsi:type=\"VirtualEthernetCardNetworkBackingInfo\">{}{}</backing>",
            tag("deviceName", &net.name),
            xml::moref("network", &net.moref)
        )),
    }
}

fn new_nic(key: i32, backing: &str) -> String {
    format!(
        "<deviceChange><operation>add</operation><device xsi:type=\"VirtualVmxnet3\"><key>{key}</key>{backing}\
         <connectable><startConnected>true</startConnected><allowGuestControl>true</allowGuestControl><connected>true</connected></connectable>\
         <addressType>generated</addressType></device></deviceChange>"
    )
}

/// The `CreateVM_Task` call for a VM from scratch: SCSI disk of the asked size, CD-ROM with the
/// ISO, NICs, and the extraConfig (creation id and guestinfo included, so the VM carries them
/// from its first moment).
pub async fn create_body(
    s: &Session,
    cfg: &Config,
    pl: &Placement,
    iso_path: &str,
    extra: &[(String, String)],
) -> Result<String, DriverError> {
    let mut devices = String::new();
    devices.push_str(
        "<deviceChange><operation>add</operation><device xsi:type=\"ParaVirtualSCSIController\"><key>-100</key>\
         <busNumber>0</busNumber><sharedBus>noSharing</sharedBus></device></deviceChange>",
    );
    devices.push_str(&format!(
        "<deviceChange><operation>add</operation><fileOperation>create</fileOperation><device xsi:type=\"VirtualDisk\"><key>-101</key>\
         <backing xsi:type=\"VirtualDiskFlatVer2BackingInfo\"><fileName></fileName><diskMode>persistent</diskMode><thinProvisioned>true</thinProvisioned></backing>\
         <controllerKey>-100</controllerKey><unitNumber>0</unitNumber><capacityInKB>{}</capacityInKB></device></deviceChange>",
        cfg.disk_mb * 1024
    ));
    devices.push_str(&format!(
        "<deviceChange><operation>add</operation><device xsi:type=\"VirtualCdrom\"><key>-102</key>\
         <backing xsi:type=\"VirtualCdromIsoBackingInfo\">{}</backing>\
         <connectable><startConnected>true</startConnected><allowGuestControl>true</allowGuestControl><connected>true</connected></connectable>\
         <controllerKey>200</controllerKey><unitNumber>0</unitNumber></device></deviceChange>",
        tag("fileName", iso_path)
    ));
    for (i, net) in pl.networks.iter().enumerate() {
        devices.push_str(&new_nic(-110 - i as i32, &nic_backing(s, net).await?));
    }
    let config = format!(
        "<config>{}<guestId>otherLinux64Guest</guestId><files>{}</files>{}{}{devices}{}</config>",
        tag("name", &cfg.vm_name),
        tag("vmPathName", format!("[{}]", pl.datastore.name)),
        tag("numCPUs", cfg.cpus),
        tag("memoryMB", cfg.memory_mb),
        option_values(extra),
    );
    let host = pl
        .host
        .as_ref()
        .map(|h| xml::moref("host", h))
        .unwrap_or_default();
    Ok(format!(
        "<CreateVM_Task xmlns=\"urn:vim25\">{}{config}{}{host}</CreateVM_Task>",
        xml::moref("_this", &pl.folder),
        xml::moref("pool", &pl.pool),
    ))
}

/// The `CloneVM_Task` call that clones the template powered off (configured by
/// [`reconfigure_body`] next), with `extra` (the creation id) in the clone's extraConfig from
/// its first moment.
pub fn clone_body(
    cfg: &Config,
    pl: &Placement,
    extra: &[(String, String)],
) -> Result<String, DriverError> {
    let template = pl
        .template
        .as_ref()
        .ok_or_else(|| DriverError::internal("no template to clone"))?;
    let host = pl
        .host
        .as_ref()
        .map(|h| xml::moref("host", h))
        .unwrap_or_default();
    let config = if extra.is_empty() {
        String::new()
    } else {
        format!("<config>{}</config>", option_values(extra))
    };
    Ok(format!(
        "<CloneVM_Task xmlns=\"urn:vim25\">{}{}{}<spec><location>{}{}{host}</location><template>false</template>{config}<powerOn>false</powerOn></spec></CloneVM_Task>",
        xml::moref("_this", &template.moref),
        xml::moref("folder", &pl.folder),
        tag("name", &cfg.vm_name),
        xml::moref("datastore", &pl.datastore.moref),
        xml::moref("pool", &pl.pool),
    ))
}

/// The VM a create/clone task returned.
pub fn made_vm(result: Option<&Element>, what: &str) -> Result<MoRef, DriverError> {
    result
        .and_then(MoRef::from_element)
        .ok_or_else(|| DriverError::internal(format!("vCenter's {what} returned no VM")))
}

/// The `ReconfigVM_Task` call that sets CPU, memory and extraConfig on a clone, grows its first
/// disk to the asked size, and moves its NICs to the chosen networks (extra networks get new
/// NICs).
pub async fn reconfigure_body(
    s: &Session,
    cfg: &Config,
    vm: &MoRef,
    networks: &[Entity],
    extra: &[(String, String)],
) -> Result<String, DriverError> {
    let p = s.props(vm, &["config.hardware.device"]).await?;
    let devices: Vec<Element> = p
        .get("config.hardware.device")
        .map(|v| v.children.clone())
        .unwrap_or_default();
    let mut changes = String::new();
    if let Some(disk) = devices.iter().find(|d| d.xsi_type() == Some("VirtualDisk")) {
        let cur: u64 = disk
            .text_at("capacityInKB")
            .and_then(|t| t.trim().parse().ok())
            .unwrap_or(0);
        let want = cfg.disk_mb * 1024;
        if want > cur {
            let mut d = disk.clone();
            d.name = "device".into();
            for c in d.children.iter_mut() {
                if c.name == "capacityInKB" {
                    c.text = want.to_string();
                } else if c.name == "capacityInBytes" {
                    c.text = (want * 1024).to_string();
                }
            }
            let mut dx = String::new();
            d.write(&mut dx);
            changes.push_str(&format!(
                "<deviceChange><operation>edit</operation>{dx}</deviceChange>"
            ));
        }
    }
    let nics: Vec<&Element> = devices
        .iter()
        .filter(|d| d.xsi_type().is_some_and(|t| NIC_TYPES.contains(&t)))
        .collect();
    for (i, net) in networks.iter().enumerate() {
        let backing = nic_backing(s, net).await?;
        match nics.get(i) {
            Some(nic) => {
                let mut d = (*nic).clone();
                d.name = "device".into();
                let backing_el = xml::parse(&format!(
                    "<backing xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\"{}",
                    backing.trim_start_matches("<backing")
                ))
                .map_err(DriverError::internal)?;
                if let Some(b) = d.children.iter_mut().find(|c| c.name == "backing") {
                    *b = backing_el;
                }
                let mut dx = String::new();
                d.write(&mut dx);
                changes.push_str(&format!(
                    "<deviceChange><operation>edit</operation>{dx}</deviceChange>"
                ));
            }
            None => changes.push_str(&new_nic(-120 - i as i32, &backing)),
        }
    }
    Ok(format!(
        "<ReconfigVM_Task xmlns=\"urn:vim25\">{}<spec>{}{}{changes}{}</spec></ReconfigVM_Task>",
        xml::moref("_this", vm),
        tag("numCPUs", cfg.cpus),
        tag("memoryMB", cfg.memory_mb),
        option_values(extra),
    ))
}

/// The call of a task method that takes only the VM (`PowerOnVM_Task`, `Destroy_Task`, ...).
pub fn task_body(method: &str, vm: &MoRef) -> String {
    format!(
        "<{method} xmlns=\"urn:vim25\">{}</{method}>",
        xml::moref("_this", vm)
    )
}

/// Runs a task method that takes only the VM to its end.
async fn vm_task(s: &Session, method: &str, vm: &MoRef, what: &str) -> Result<(), DriverError> {
    s.run_task(what, &task_body(method, vm), TASK_TIMEOUT)
        .await?;
    Ok(())
}

pub async fn power_off(s: &Session, vm: &MoRef, name: &str) -> Result<(), DriverError> {
    vm_task(s, "PowerOffVM_Task", vm, &format!("powering off VM {name}")).await
}

/// Asks the guest OS to shut down (needs VMware Tools).
pub async fn shutdown_guest(s: &Session, vm: &MoRef, name: &str) -> Result<(), DriverError> {
    let body = format!(
        "<ShutdownGuest xmlns=\"urn:vim25\">{}</ShutdownGuest>",
        xml::moref("_this", vm)
    );
    s.call(&format!("shutting down the guest of VM {name}"), &body)
        .await?;
    Ok(())
}

pub async fn destroy(s: &Session, vm: &MoRef, name: &str) -> Result<(), DriverError> {
    vm_task(s, "Destroy_Task", vm, &format!("destroying VM {name}")).await
}

/// Powers the VM off if it is on (or suspended), then destroys it. A VM already gone is fine.
pub async fn power_off_and_destroy(s: &Session, vm: &MoRef, name: &str) -> Result<(), DriverError> {
    match status(s, vm).await {
        Ok(st) if st.power != "poweredOff" => power_off(s, vm, name).await?,
        Ok(_) => {}
        Err(e) if e.kind == ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    }
    match destroy(s, vm, name).await {
        Err(e) if e.kind == ErrorKind::NotFound => Ok(()),
        r => r,
    }
}

/// Waits until vCenter reports the guest's IP address (from VMware Tools), or the call is
/// cancelled ([`ErrorKind::Cancelled`]). The host waits for SSH; the driver only for what vCenter
/// tells.
pub async fn wait_for_ip(
    cx: &Context,
    s: &Session,
    vm: &MoRef,
    name: &str,
    timeout: Duration,
) -> Result<String, DriverError> {
    let deadline = Instant::now() + timeout;
    let cancelled = || {
        DriverError::cancelled(format!(
            "cancelled while waiting for the IP address of VM {name}"
        ))
    };
    loop {
        let st = tokio::select! {
            st = status(s, vm) => st?,
            _ = cx.cancelled() => return Err(cancelled()),
        };
        if !st.ip.is_empty() {
            return Ok(st.ip);
        }
        if Instant::now() > deadline {
            return Err(DriverError::timeout(format!(
                "VM {name} reported no IP address within {}s; vCenter reports {}. \
                 The image must run VMware Tools (open-vm-tools) and get an address (DHCP on the chosen network)",
                timeout.as_secs(),
                st.describe()
            )));
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(1)) => {}
            _ = cx.cancelled() => return Err(cancelled()),
        }
    }
}

/// The VMs that carry `creation_id` under [`CREATION_ID_KEY`] in their extraConfig. Only VMs
/// named `name` are read (a VM's name is its machine's; reading every VM's extraConfig would be
/// slow in a big vCenter), and only those whose tag matches are returned.
pub async fn find_by_creation_id(
    s: &Session,
    name: &str,
    creation_id: &str,
) -> Result<Vec<MoRef>, DriverError> {
    if creation_id.is_empty() {
        return Ok(Vec::new());
    }
    let all = s
        .list(
            &s.sc.root_folder,
            &["VirtualMachine"],
            "VirtualMachine",
            &["name"],
        )
        .await?;
    let mut found = Vec::new();
    for (vm, p) in all {
        if crate::inventory::decode_name(text(&p, "name")) != name {
            continue;
        }
        let extra = match s.props(&vm, &["config.extraConfig"]).await {
            Ok(p) => p,
            Err(e) if e.kind == ErrorKind::NotFound => continue,
            Err(e) => return Err(e),
        };
        if extra_config_value(&extra, CREATION_ID_KEY).as_deref() == Some(creation_id) {
            found.push(vm);
        }
    }
    Ok(found)
}

/// The value of one extraConfig key, from properties that include `config.extraConfig`.
pub fn extra_config_value(p: &crate::session::Props, key: &str) -> Option<String> {
    p.get("config.extraConfig")?
        .children
        .iter()
        .find(|c| c.text_at("key").map(str::trim) == Some(key))
        .map(|c| c.text_at("value").unwrap_or("").to_string())
}
