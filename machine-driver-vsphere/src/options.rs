//! The driver's options (Docker Machine's `--vmwarevsphere-*` names and `VSPHERE_*` variables,
//! plus Rancher's additions) and the config it stores per machine.
//!
//! The config is a flat JSON object keyed by option name, so the host can redact secrets by the
//! schema's secret option names: the password lives under `vmwarevsphere-password`. What create
//! learned about the VM lives under `vm`, the host's creation id under `creation_id`.
//!
//! Every default lives in the schema ([`schema`]): the host applies it before `set_config`.

use driver_protocol::schema::OptionSpec;
use driver_protocol::{DriverError, Options};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The default ISO for VMs created from scratch: Flatcar Container Linux (stable), a maintained
/// container OS with Docker built in and VMware guestinfo support (README: "Default ISO").
pub const DEFAULT_ISO_URL: &str =
    "https://stable.release.flatcar-linux.net/amd64-usr/current/flatcar_production_iso_image.iso";

/// The option names.
pub mod name {
    pub const VCENTER: &str = "vmwarevsphere-vcenter";
    pub const PORT: &str = "vmwarevsphere-vcenter-port";
    pub const USERNAME: &str = "vmwarevsphere-username";
    pub const PASSWORD: &str = "vmwarevsphere-password";
    pub const DATACENTER: &str = "vmwarevsphere-datacenter";
    pub const DATASTORE: &str = "vmwarevsphere-datastore";
    pub const NETWORK: &str = "vmwarevsphere-network";
    pub const FOLDER: &str = "vmwarevsphere-folder";
    pub const POOL: &str = "vmwarevsphere-pool";
    pub const HOSTSYSTEM: &str = "vmwarevsphere-hostsystem";
    pub const CPU: &str = "vmwarevsphere-cpu-count";
    pub const MEMORY: &str = "vmwarevsphere-memory-size";
    pub const DISK: &str = "vmwarevsphere-disk-size";
    pub const ISO: &str = "vmwarevsphere-boot2docker-url";
    pub const CFGPARAM: &str = "vmwarevsphere-cfgparam";
    pub const CLOUDINIT: &str = "vmwarevsphere-cloudinit";
    pub const CREATION_TYPE: &str = "vmwarevsphere-creation-type";
    pub const CLONE_FROM: &str = "vmwarevsphere-clone-from";
    pub const SSH_USER: &str = "vmwarevsphere-ssh-user";
    pub const SSH_PORT: &str = "vmwarevsphere-ssh-port";
    pub const INSECURE: &str = "vmwarevsphere-insecure";
    pub const CA_CERT: &str = "vmwarevsphere-ca-cert";
    pub const THUMBPRINT: &str = "vmwarevsphere-thumbprint";
    pub const IP_TIMEOUT: &str = "vmwarevsphere-ip-timeout";
}

/// The option schema sent in the handshake.
pub fn schema() -> Vec<OptionSpec> {
    use name::*;
    vec![
        OptionSpec::string(VCENTER, "vCenter (or ESXi) host name or IP address").docker_machine_field("IP").env("VSPHERE_VCENTER"),
        OptionSpec::int(PORT, "vCenter port").docker_machine_field("Port").default(443).env("VSPHERE_VCENTER_PORT"),
        OptionSpec::string(USERNAME, "vCenter user name").docker_machine_field("Username").env("VSPHERE_USERNAME"),
        OptionSpec::string(PASSWORD, "vCenter password").docker_machine_field("Password").env("VSPHERE_PASSWORD").secret(),
        OptionSpec::string(DATACENTER, "datacenter (name or inventory path; default: the only one)").docker_machine_field("Datacenter")
            .env("VSPHERE_DATACENTER"),
        OptionSpec::string(DATASTORE, "datastore (name or path; default: the only one)").docker_machine_field("Datastore")
            .env("VSPHERE_DATASTORE"),
        OptionSpec::list(NETWORK, "network, repeatable: one NIC each (default: the only one)").docker_machine_field("Networks")
            .env("VSPHERE_NETWORK"),
        OptionSpec::string(FOLDER, "VM folder, relative to the datacenter's VM folder").docker_machine_field("Folder")
            .env("VSPHERE_FOLDER"),
        OptionSpec::string(POOL, "resource pool (name or path; default: the only one, or the host's)").docker_machine_field("Pool")
            .env("VSPHERE_POOL"),
        OptionSpec::string(HOSTSYSTEM, "ESXi host to place the VM on (name or path)").docker_machine_field("HostSystem")
            .env("VSPHERE_HOSTSYSTEM"),
        OptionSpec::int(CPU, "number of virtual CPUs").docker_machine_field("CPU").default(2).env("VSPHERE_CPU_COUNT"),
        OptionSpec::int(MEMORY, "memory in MB").docker_machine_field("Memory").default(2048).env("VSPHERE_MEMORY_SIZE"),
        OptionSpec::int(DISK, "disk size in MB").docker_machine_field("DiskSize").default(20480).env("VSPHERE_DISK_SIZE"),
        OptionSpec::string(ISO, "ISO to boot a VM created from scratch (http(s) URL or file); uploaded to the datastore once").docker_machine_field("Boot2DockerURL")
            .default(DEFAULT_ISO_URL)
            .env("VSPHERE_BOOT2DOCKER_URL")
            .alias("vmwarevsphere-iso-url"),
        OptionSpec::list(CFGPARAM, "key=value into the VM's extraConfig, repeatable").docker_machine_field("CfgParams")
            .env("VSPHERE_CFGPARAM"),
        OptionSpec::string(CLOUDINIT, "cloud-init user-data (file or URL), merged with the driver's").docker_machine_field("CloudInit")
            .env("VSPHERE_CLOUDINIT"),
        OptionSpec::string(CREATION_TYPE, "how to make the VM: legacy (from scratch, booting the ISO), vm or template (clone --vmwarevsphere-clone-from); default: clone when clone-from is set, else legacy")
            .env("VSPHERE_CREATION_TYPE"),
        OptionSpec::string(CLONE_FROM, "VM or template to clone (name or inventory path), cloud-init ready")
            .env("VSPHERE_CLONE_FROM"),
        OptionSpec::string(SSH_USER, "user that cloud-init creates with your key and passwordless sudo").docker_machine_field("SSHUser")
            .default("docker")
            .env("VSPHERE_SSH_USER"),
        OptionSpec::int(SSH_PORT, "SSH port of the VM").docker_machine_field("SSHPort").default(22).env("VSPHERE_SSH_PORT"),
        OptionSpec::bool(INSECURE, "do not verify vCenter's certificate").env("VSPHERE_INSECURE"),
        OptionSpec::string(CA_CERT, "PEM file of a CA (or vCenter's own certificate) to trust")
            .env("VSPHERE_CA_CERT"),
        OptionSpec::string(THUMBPRINT, "trust exactly vCenter's certificate with this SHA-256 fingerprint")
            .env("VSPHERE_THUMBPRINT"),
        OptionSpec::int(IP_TIMEOUT, "seconds to wait for the VM's IP address (VMware Tools)")
            .default(600)
            .env("VSPHERE_IP_TIMEOUT"),
    ]
}

/// A password: kept as it is in the config (the host redacts it by the schema's secret option
/// names), never shown by `Debug`.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: impl Into<String>) -> Secret {
        Secret(s.into())
    }
    /// The secret itself, for the login.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<hidden>")
    }
}

/// What create learned about the VM.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct VmRef {
    /// The VM's managed object id, e.g. `vm-42`.
    pub moref: String,
    #[serde(default)]
    pub uuid: String,
    /// The last IP address vCenter reported (kept for when it reports none for a while).
    #[serde(default)]
    pub ip: String,
    #[serde(default)]
    pub instance_id: String,
}

/// The driver's config for one machine (stored by the host, passed back on every call).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Config {
    #[serde(rename = "vmwarevsphere-vcenter")]
    pub vcenter: String,
    #[serde(rename = "vmwarevsphere-vcenter-port")]
    pub port: u16,
    #[serde(rename = "vmwarevsphere-username")]
    pub username: String,
    #[serde(rename = "vmwarevsphere-password")]
    pub password: Secret,
    #[serde(rename = "vmwarevsphere-datacenter", default)]
    pub datacenter: Option<String>,
    #[serde(rename = "vmwarevsphere-datastore", default)]
    pub datastore: Option<String>,
    #[serde(rename = "vmwarevsphere-network", default)]
    pub networks: Vec<String>,
    #[serde(rename = "vmwarevsphere-folder", default)]
    pub folder: Option<String>,
    #[serde(rename = "vmwarevsphere-pool", default)]
    pub pool: Option<String>,
    #[serde(rename = "vmwarevsphere-hostsystem", default)]
    pub hostsystem: Option<String>,
    #[serde(rename = "vmwarevsphere-cpu-count")]
    pub cpus: u32,
    #[serde(rename = "vmwarevsphere-memory-size")]
    pub memory_mb: u64,
    #[serde(rename = "vmwarevsphere-disk-size")]
    pub disk_mb: u64,
    #[serde(rename = "vmwarevsphere-boot2docker-url")]
    pub iso_url: String,
    #[serde(rename = "vmwarevsphere-cfgparam", default)]
    pub cfgparams: Vec<(String, String)>,
    #[serde(rename = "vmwarevsphere-cloudinit", default)]
    pub cloudinit: Option<String>,
    #[serde(rename = "vmwarevsphere-creation-type")]
    pub creation: Creation,
    #[serde(rename = "vmwarevsphere-clone-from", default)]
    pub clone_from: Option<String>,
    #[serde(rename = "vmwarevsphere-ssh-user")]
    pub ssh_user: String,
    #[serde(rename = "vmwarevsphere-ssh-port")]
    pub ssh_port: u16,
    #[serde(rename = "vmwarevsphere-insecure", default)]
    pub insecure: bool,
    #[serde(rename = "vmwarevsphere-ca-cert", default)]
    pub ca_cert: Option<String>,
    #[serde(rename = "vmwarevsphere-thumbprint", default)]
    pub thumbprint: Option<String>,
    #[serde(rename = "vmwarevsphere-ip-timeout")]
    pub ip_timeout_secs: u64,
    /// The VM's name in vCenter: the machine name.
    pub vm_name: String,
    /// The host's creation id, set by create; the VM carries it in its extraConfig
    /// (`machine.creation-id`).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub creation_id: String,
    /// The user allows the ISO and the cloud-init file over plain http (the host's
    /// `allow_http_downloads`); otherwise they are fetched over https only.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub allow_http_downloads: bool,
    /// Set as soon as the VM exists (reported to the host with `made`), completed by create.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vm: Option<VmRef>,
}

/// How the VM is made.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Creation {
    /// A new VM booting the ISO (Docker Machine's way).
    Legacy,
    /// A clone of `clone-from`.
    Clone,
}

impl Config {
    /// Builds the config from the user's options, the schema's defaults already applied by the
    /// host ([`driver_protocol::DriverInfo::with_defaults`]).
    pub fn from_options(machine: &str, o: &Options) -> Result<Config, DriverError> {
        use name::*;
        let vcenter = o.required_string(
            VCENTER,
            "the vCenter (or ESXi) host name or IP (or set VSPHERE_VCENTER)",
        )?;
        let username = o.required_string(USERNAME, "the vCenter user (or set VSPHERE_USERNAME)")?;
        let password = o.required_string(
            PASSWORD,
            "the vCenter user's password (or set VSPHERE_PASSWORD)",
        )?;
        let port = o.port(PORT)?;
        let cpus = o.int_in(CPU, 1, 768)? as u32;
        let memory_mb = o.int_in(MEMORY, 4, 24 * 1024 * 1024)? as u64;
        let disk_mb = o.int_in(DISK, 1, i64::MAX / (1024 * 1024))? as u64;
        let ssh_port = o.port(SSH_PORT)?;
        let ip_timeout_secs = o.int_in(IP_TIMEOUT, 1, 86400)? as u64;
        let mut cfgparams = Vec::new();
        for p in o.list(CFGPARAM)? {
            let (k, v) = p.split_once('=').ok_or_else(|| {
                DriverError::invalid_option(format!(
                    "--vmwarevsphere-cfgparam {p:?} is not key=value"
                ))
            })?;
            if k.trim().is_empty() {
                return Err(DriverError::invalid_option(format!(
                    "--vmwarevsphere-cfgparam {p:?} has an empty key"
                )));
            }
            cfgparams.push((k.trim().to_string(), v.to_string()));
        }
        let clone_from = o.string(CLONE_FROM)?;
        let creation = match o.string(CREATION_TYPE)?.as_deref() {
            None => {
                if clone_from.is_some() {
                    Creation::Clone
                } else {
                    Creation::Legacy
                }
            }
            Some("legacy") | Some("iso") => Creation::Legacy,
            Some("vm") | Some("template") | Some("clone") => Creation::Clone,
            Some("library") => return Err(DriverError::invalid_option(
                "--vmwarevsphere-creation-type library (content libraries) is not supported yet: \
                     use vm or template with --vmwarevsphere-clone-from, or legacy",
            )),
            Some(other) => {
                return Err(DriverError::invalid_option(format!(
                    "--vmwarevsphere-creation-type {other:?} is unknown: use legacy, vm or template"
                )))
            }
        };
        if creation == Creation::Clone && clone_from.is_none() {
            return Err(DriverError::invalid_option(
                "cloning needs --vmwarevsphere-clone-from: the VM or template to clone",
            ));
        }
        Ok(Config {
            vcenter,
            port,
            username,
            password: Secret(password),
            datacenter: o.string(DATACENTER)?,
            datastore: o.string(DATASTORE)?,
            networks: o.list(NETWORK)?,
            folder: o.string(FOLDER)?,
            pool: o.string(POOL)?,
            hostsystem: o.string(HOSTSYSTEM)?,
            cpus,
            memory_mb,
            disk_mb,
            iso_url: o.required_string(ISO, "the ISO to boot a VM created from scratch")?,
            cfgparams,
            cloudinit: o.string(CLOUDINIT)?,
            creation,
            clone_from,
            ssh_user: o.required_string(SSH_USER, "the user cloud-init creates")?,
            ssh_port,
            insecure: o.bool(INSECURE)?,
            ca_cert: o.string(CA_CERT)?,
            thumbprint: o.string(THUMBPRINT)?,
            ip_timeout_secs,
            vm_name: machine.to_string(),
            creation_id: String::new(),
            allow_http_downloads: false,
            vm: None,
        })
    }

    /// Reads the config the host passes back.
    pub fn from_value(v: &Value) -> Result<Config, DriverError> {
        serde_json::from_value(v.clone()).map_err(|e| {
            DriverError::invalid_option(format!(
                "this machine's vSphere config is unreadable ({e}); was it made by another version?"
            ))
        })
    }

    pub fn to_value(&self) -> Value {
        serde_json::to_value(self).expect("config serializes")
    }

    /// `https://HOST:PORT`.
    pub fn base_url(&self) -> String {
        let host = driver_protocol::calls::bracket_ipv6(&self.vcenter);
        format!("https://{host}:{}", self.port)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// The options as the host passes them: the schema's defaults applied.
    fn opts(v: Value) -> Options {
        crate::VsphereDriver::info().with_defaults(Options::from(v.as_object().unwrap().clone()))
    }

    #[test]
    fn defaults_and_password_key() {
        let c = Config::from_options(
            "testvm",
            &opts(
                json!({"vmwarevsphere-vcenter": "vc", "vmwarevsphere-username": "root",
                         "vmwarevsphere-password": "12345678"}),
            ),
        )
        .unwrap();
        assert_eq!(
            (c.port, c.cpus, c.memory_mb, c.disk_mb),
            (443, 2, 2048, 20480)
        );
        assert_eq!((c.ssh_user.as_str(), c.ssh_port), ("docker", 22));
        assert_eq!(c.ip_timeout_secs, 600);
        assert_eq!(c.iso_url, DEFAULT_ISO_URL);
        assert_eq!(c.creation, Creation::Legacy);
        let v = c.to_value();
        assert_eq!(v["vmwarevsphere-password"], "12345678");
        assert_eq!(Config::from_value(&v).unwrap(), c);
        assert!(
            !format!("{c:?}").contains("12345678"),
            "Debug hides the password"
        );
        // every secret option of the schema is a key of the config
        for o in schema().iter().filter(|o| o.secret) {
            assert!(v.get(&o.name).is_some(), "{}", o.name);
        }
    }

    #[test]
    fn defaults_live_only_in_the_schema() {
        // without the host applying them, an option with a default is simply missing
        let bare = Options::from(
            json!({"vmwarevsphere-vcenter": "vc", "vmwarevsphere-username": "root",
                   "vmwarevsphere-password": "p"})
            .as_object()
            .unwrap()
            .clone(),
        );
        let e = Config::from_options("m", &bare).unwrap_err();
        assert!(e.message.contains("--vmwarevsphere-vcenter-port"), "{e}");
    }

    #[test]
    fn missing_password_error_names_the_option() {
        let e = Config::from_options(
            "m",
            &opts(json!({"vmwarevsphere-vcenter": "vc", "vmwarevsphere-username": "u"})),
        )
        .unwrap_err();
        assert!(e.message.contains("--vmwarevsphere-password"));
    }

    #[test]
    fn ranges_are_checked() {
        let e = Config::from_options(
            "m",
            &opts(
                json!({"vmwarevsphere-vcenter": "vc", "vmwarevsphere-username": "u",
                         "vmwarevsphere-password": "p", "vmwarevsphere-cpu-count": 0}),
            ),
        )
        .unwrap_err();
        assert!(e.message.contains("--vmwarevsphere-cpu-count"), "{e}");
    }

    #[test]
    fn cfgparams_and_clone() {
        let c = Config::from_options(
            "m",
            &opts(
                json!({"vmwarevsphere-vcenter": "vc", "vmwarevsphere-username": "u",
              "vmwarevsphere-password": "p", "vmwarevsphere-cfgparam": ["a=b=c", "x="],
              "vmwarevsphere-clone-from": "tmpl"}),
            ),
        )
        .unwrap();
        assert_eq!(
            c.cfgparams,
            vec![("a".into(), "b=c".into()), ("x".into(), "".into())]
        );
        assert_eq!(c.creation, Creation::Clone);
        let bad = Config::from_options(
            "m",
            &opts(
                json!({"vmwarevsphere-vcenter": "vc", "vmwarevsphere-username": "u",
              "vmwarevsphere-password": "p", "vmwarevsphere-cfgparam": ["nokey"]}),
            ),
        );
        assert!(bad.is_err());
    }
}
