//! The driver's options (Docker Machine's `--vmwarevsphere-*` names and `VSPHERE_*` variables,
//! plus Rancher's additions), declared once ([`VsphereOptions`]), and the config it stores per
//! machine ([`Config`]).
//!
//! The config is a flat JSON object keyed by option name, so the host can redact secrets by the
//! schema's secret option names: the password lives under `vmwarevsphere-password`. What create
//! learned about the VM lives under `vm`, the host's creation id under `creation_id`.
//!
//! Every default lives in the declaration: the host applies it before `set_config`.

use driver_protocol::{DriverError, DriverOptions, Secret};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The default ISO for VMs created from scratch: Flatcar Container Linux (stable), a maintained
/// container OS with Docker built in and VMware guestinfo support (README: "Default ISO").
pub const DEFAULT_ISO_URL: &str =
    "https://stable.release.flatcar-linux.net/amd64-usr/current/flatcar_production_iso_image.iso";

/// What the user gives: each field one option (its doc comment the help).
#[derive(DriverOptions)]
pub struct VsphereOptions {
    /// vCenter (or ESXi) host name or IP address
    #[option(name = "vmwarevsphere-vcenter", env = "VSPHERE_VCENTER")]
    #[option(docker_machine_field = "IP")]
    pub vcenter: String,
    /// vCenter port
    #[option(name = "vmwarevsphere-vcenter-port", env = "VSPHERE_VCENTER_PORT")]
    #[option(default = 443, docker_machine_field = "Port")]
    pub port: u16,
    /// vCenter user name
    #[option(name = "vmwarevsphere-username", env = "VSPHERE_USERNAME")]
    #[option(docker_machine_field = "Username")]
    pub username: String,
    /// vCenter password
    #[option(name = "vmwarevsphere-password", env = "VSPHERE_PASSWORD", secret)]
    #[option(docker_machine_field = "Password")]
    pub password: Secret,
    /// datacenter (name or inventory path; default: the only one)
    #[option(name = "vmwarevsphere-datacenter", env = "VSPHERE_DATACENTER")]
    #[option(docker_machine_field = "Datacenter")]
    pub datacenter: Option<String>,
    /// datastore (name or path; default: the only one)
    #[option(name = "vmwarevsphere-datastore", env = "VSPHERE_DATASTORE")]
    #[option(docker_machine_field = "Datastore")]
    pub datastore: Option<String>,
    /// network, repeatable: one NIC each (default: the only one)
    #[option(name = "vmwarevsphere-network", env = "VSPHERE_NETWORK")]
    #[option(docker_machine_field = "Networks")]
    pub networks: Vec<String>,
    /// VM folder, relative to the datacenter's VM folder
    #[option(name = "vmwarevsphere-folder", env = "VSPHERE_FOLDER")]
    #[option(docker_machine_field = "Folder")]
    pub folder: Option<String>,
    /// resource pool (name or path; default: the only one, or the host's)
    #[option(name = "vmwarevsphere-pool", env = "VSPHERE_POOL")]
    #[option(docker_machine_field = "Pool")]
    pub pool: Option<String>,
    /// ESXi host to place the VM on (name or path)
    #[option(name = "vmwarevsphere-hostsystem", env = "VSPHERE_HOSTSYSTEM")]
    #[option(docker_machine_field = "HostSystem")]
    pub hostsystem: Option<String>,
    /// number of virtual CPUs
    #[option(name = "vmwarevsphere-cpu-count", env = "VSPHERE_CPU_COUNT")]
    #[option(default = 2, min = 1, max = 768, docker_machine_field = "CPU")]
    pub cpus: u32,
    /// memory in MB
    #[option(name = "vmwarevsphere-memory-size", env = "VSPHERE_MEMORY_SIZE")]
    #[option(default = 2048, min = 4, max = 24 * 1024 * 1024, docker_machine_field = "Memory")]
    pub memory_mb: u64,
    /// disk size in MB
    #[option(name = "vmwarevsphere-disk-size", env = "VSPHERE_DISK_SIZE")]
    #[option(default = 20480, min = 1, max = i64::MAX / (1024 * 1024))]
    #[option(docker_machine_field = "DiskSize")]
    pub disk_mb: u64,
    /// ISO to boot a VM created from scratch (http(s) URL or file); uploaded to the datastore
    /// once
    #[option(
        name = "vmwarevsphere-boot2docker-url",
        env = "VSPHERE_BOOT2DOCKER_URL"
    )]
    #[option(default = DEFAULT_ISO_URL, alias = "vmwarevsphere-iso-url")]
    #[option(docker_machine_field = "Boot2DockerURL")]
    pub iso_url: String,
    /// key=value into the VM's extraConfig, repeatable
    #[option(name = "vmwarevsphere-cfgparam", env = "VSPHERE_CFGPARAM")]
    #[option(docker_machine_field = "CfgParams")]
    pub cfgparams: Vec<String>,
    /// cloud-init user-data (file or URL), merged with the driver's
    #[option(name = "vmwarevsphere-cloudinit", env = "VSPHERE_CLOUDINIT")]
    #[option(docker_machine_field = "CloudInit")]
    pub cloudinit: Option<String>,
    /// how to make the VM: legacy (from scratch, booting the ISO), vm or template (clone
    /// --vmwarevsphere-clone-from); default: clone when clone-from is set, else legacy
    #[option(name = "vmwarevsphere-creation-type", env = "VSPHERE_CREATION_TYPE")]
    pub creation_type: Option<String>,
    /// VM or template to clone (name or inventory path), cloud-init ready
    #[option(name = "vmwarevsphere-clone-from", env = "VSPHERE_CLONE_FROM")]
    pub clone_from: Option<String>,
    /// user that cloud-init creates with your key and passwordless sudo
    #[option(name = "vmwarevsphere-ssh-user", env = "VSPHERE_SSH_USER")]
    #[option(default = "docker", docker_machine_field = "SSHUser")]
    pub ssh_user: String,
    /// SSH port of the VM
    #[option(name = "vmwarevsphere-ssh-port", env = "VSPHERE_SSH_PORT")]
    #[option(default = 22, docker_machine_field = "SSHPort")]
    pub ssh_port: u16,
    /// do not verify vCenter's certificate
    #[option(name = "vmwarevsphere-insecure", env = "VSPHERE_INSECURE")]
    pub insecure: bool,
    /// PEM file of a CA (or vCenter's own certificate) to trust
    #[option(name = "vmwarevsphere-ca-cert", env = "VSPHERE_CA_CERT")]
    pub ca_cert: Option<String>,
    /// trust exactly vCenter's certificate with this SHA-256 fingerprint
    #[option(name = "vmwarevsphere-thumbprint", env = "VSPHERE_THUMBPRINT")]
    pub thumbprint: Option<String>,
    /// seconds to wait for the VM's IP address (VMware Tools)
    #[option(
        name = "vmwarevsphere-ip-timeout",
        env = "VSPHERE_IP_TIMEOUT",
        default = 600,
        min = 1,
        max = 86400
    )]
    pub ip_timeout_secs: u64,
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

/// The driver's config for one machine (stored by the host, passed back on every call). Its
/// keys are the option names: stores hold it in this shape.
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
    /// The config of machine `vm_name` from the user's options (typed and checked by the
    /// derive, the defaults applied by the host): ranges, the cfgparams and how the VM is made
    /// checked; `allow_http_downloads` is the host's (`Setup::allow_http_downloads`).
    pub fn new(
        o: VsphereOptions,
        vm_name: &str,
        allow_http_downloads: bool,
    ) -> Result<Config, DriverError> {
        let cfgparams = o
            .cfgparams
            .iter()
            .map(|p| cfgparam(p))
            .collect::<Result<Vec<_>, _>>()?;
        let creation = creation(o.creation_type.as_deref(), o.clone_from.is_some())?;
        Ok(Config {
            vcenter: o.vcenter,
            port: o.port,
            username: o.username,
            password: o.password,
            datacenter: o.datacenter,
            datastore: o.datastore,
            networks: o.networks,
            folder: o.folder,
            pool: o.pool,
            hostsystem: o.hostsystem,
            cpus: o.cpus,
            memory_mb: o.memory_mb,
            disk_mb: o.disk_mb,
            iso_url: o.iso_url,
            cfgparams,
            cloudinit: o.cloudinit,
            creation,
            clone_from: o.clone_from,
            ssh_user: o.ssh_user,
            ssh_port: o.ssh_port,
            insecure: o.insecure,
            ca_cert: o.ca_cert,
            thumbprint: o.thumbprint,
            ip_timeout_secs: o.ip_timeout_secs,
            vm_name: vm_name.to_string(),
            creation_id: String::new(),
            allow_http_downloads,
            vm: None,
        })
    }

    /// The config as the host stores it.
    pub fn to_value(&self) -> Value {
        serde_json::to_value(self).expect("config serializes")
    }

    /// `https://HOST:PORT`.
    pub fn base_url(&self) -> String {
        let host = driver_protocol::calls::bracket_ipv6(&self.vcenter);
        format!("https://{host}:{}", self.port)
    }
}

/// One `--vmwarevsphere-cfgparam key=value`.
fn cfgparam(p: &str) -> Result<(String, String), DriverError> {
    let (k, v) = p.split_once('=').ok_or_else(|| {
        DriverError::invalid_option(format!("--vmwarevsphere-cfgparam {p:?} is not key=value"))
    })?;
    if k.trim().is_empty() {
        return Err(DriverError::invalid_option(format!(
            "--vmwarevsphere-cfgparam {p:?} has an empty key"
        )));
    }
    Ok((k.trim().to_string(), v.to_string()))
}

/// How the VM is made: `--vmwarevsphere-creation-type`, or clone when there is something to
/// clone from; a clone needs `--vmwarevsphere-clone-from`.
fn creation(creation_type: Option<&str>, clone_from: bool) -> Result<Creation, DriverError> {
    let creation =
        match creation_type {
            None if clone_from => Creation::Clone,
            None | Some("legacy") | Some("iso") => Creation::Legacy,
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
    if creation == Creation::Clone && !clone_from {
        return Err(DriverError::invalid_option(
            "cloning needs --vmwarevsphere-clone-from: the VM or template to clone",
        ));
    }
    Ok(creation)
}

#[cfg(test)]
mod tests {
    use super::*;
    use driver_protocol::Options;
    use serde_json::json;

    /// The options as the host passes them: the schema's defaults applied.
    fn opts(v: Value) -> Result<VsphereOptions, DriverError> {
        let given = Options::from(v.as_object().unwrap().clone());
        VsphereOptions::from_options(&crate::VsphereDriver::info().with_defaults(given))
    }

    /// The config of machine `m` from options `v` (with the vCenter, user and password).
    fn config(mut v: Value) -> Result<Config, DriverError> {
        v["vmwarevsphere-vcenter"] = json!("vc");
        v["vmwarevsphere-username"] = json!("u");
        v["vmwarevsphere-password"] = json!("12345678");
        Config::new(opts(v)?, "m", false)
    }

    #[test]
    fn defaults_and_password_key() {
        let c = config(json!({})).unwrap();
        assert_eq!(
            (c.port, c.cpus, c.memory_mb, c.disk_mb),
            (443, 2, 2048, 20480)
        );
        assert_eq!((c.ssh_user.as_str(), c.ssh_port), ("docker", 22));
        assert_eq!(c.ip_timeout_secs, 600);
        assert_eq!(c.iso_url, DEFAULT_ISO_URL);
        assert_eq!(c.creation, Creation::Legacy);
        assert_eq!(c.vm_name, "m");
        let v = c.to_value();
        assert_eq!(v["vmwarevsphere-password"], "12345678");
        assert_eq!(serde_json::from_value::<Config>(v.clone()).unwrap(), c);
        assert!(
            !format!("{c:?}").contains("12345678"),
            "Debug hides the password"
        );
        // every secret option of the schema is a key of the config
        for o in VsphereOptions::schema().iter().filter(|o| o.secret) {
            assert!(v.get(&o.name).is_some(), "{}", o.name);
        }
    }

    /// The shape existing stores hold: every key, and a config written by the driver before
    /// the options were declared as a struct reads back as it was.
    #[test]
    fn the_stored_shape_is_unchanged() {
        let stored = json!({
            "vmwarevsphere-vcenter": "vc", "vmwarevsphere-vcenter-port": 443,
            "vmwarevsphere-username": "u", "vmwarevsphere-password": "p",
            "vmwarevsphere-datacenter": null, "vmwarevsphere-datastore": "ds",
            "vmwarevsphere-network": ["n1", "n2"], "vmwarevsphere-folder": null,
            "vmwarevsphere-pool": null, "vmwarevsphere-hostsystem": null,
            "vmwarevsphere-cpu-count": 2, "vmwarevsphere-memory-size": 2048,
            "vmwarevsphere-disk-size": 20480, "vmwarevsphere-boot2docker-url": "/tmp/x.iso",
            "vmwarevsphere-cfgparam": [["a", "b"]], "vmwarevsphere-cloudinit": null,
            "vmwarevsphere-creation-type": "clone", "vmwarevsphere-clone-from": "tmpl",
            "vmwarevsphere-ssh-user": "docker", "vmwarevsphere-ssh-port": 22,
            "vmwarevsphere-insecure": true, "vmwarevsphere-ca-cert": null,
            "vmwarevsphere-thumbprint": null, "vmwarevsphere-ip-timeout": 600,
            "vm_name": "m", "creation_id": "cid", "allow_http_downloads": true,
            "vm": {"moref": "vm-42", "uuid": "u-1", "ip": "10.0.0.2", "instance_id": "i-1"}
        });
        let c: Config = serde_json::from_value(stored.clone()).unwrap();
        assert_eq!(c.to_value(), stored);
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
        let e = VsphereOptions::from_options(&bare).err().unwrap();
        assert!(e.message.contains("--vmwarevsphere-vcenter-port"), "{e}");
    }

    #[test]
    fn missing_password_error_names_the_option() {
        let e = opts(json!({"vmwarevsphere-vcenter": "vc", "vmwarevsphere-username": "u"}))
            .err()
            .unwrap();
        assert!(e.message.contains("--vmwarevsphere-password"), "{e}");
    }

    #[test]
    fn ranges_are_checked() {
        for (name, bad) in [
            ("vmwarevsphere-cpu-count", json!(0)),
            ("vmwarevsphere-cpu-count", json!(769)),
            ("vmwarevsphere-memory-size", json!(3)),
            ("vmwarevsphere-disk-size", json!(0)),
            ("vmwarevsphere-ip-timeout", json!(86401)),
            ("vmwarevsphere-ssh-port", json!(70000)),
            ("vmwarevsphere-vcenter-port", json!(0)),
            ("vmwarevsphere-cpu-count", json!(-1)),
        ] {
            let e = config(json!({ name: bad })).unwrap_err();
            assert_eq!(e.kind, driver_protocol::ErrorKind::InvalidOption, "{e}");
            assert!(e.message.contains(&format!("--{name}")), "{e}");
        }
        let e = config(json!({"vmwarevsphere-cpu-count": 0})).unwrap_err();
        assert_eq!(
            e.message,
            "--vmwarevsphere-cpu-count must be between 1 and 768, not 0"
        );
    }

    #[test]
    fn cfgparams_and_clone() {
        let c = config(json!({"vmwarevsphere-cfgparam": ["a=b=c", " x ="],
                              "vmwarevsphere-clone-from": "tmpl"}))
        .unwrap();
        assert_eq!(
            c.cfgparams,
            vec![("a".into(), "b=c".into()), ("x".into(), "".into())]
        );
        assert_eq!(c.creation, Creation::Clone);
        for bad in ["nokey", " =v"] {
            let e = config(json!({ "vmwarevsphere-cfgparam": [bad] })).unwrap_err();
            assert!(e.message.contains("--vmwarevsphere-cfgparam"), "{e}");
        }
    }

    #[test]
    fn creation_types() {
        let made = |t: Value, from: Value| {
            config(json!({"vmwarevsphere-creation-type": t, "vmwarevsphere-clone-from": from}))
        };
        assert_eq!(
            made(json!("legacy"), json!("t")).unwrap().creation,
            Creation::Legacy
        );
        assert_eq!(
            made(json!("iso"), json!(null)).unwrap().creation,
            Creation::Legacy
        );
        for t in ["vm", "template", "clone"] {
            assert_eq!(
                made(json!(t), json!("t")).unwrap().creation,
                Creation::Clone
            );
            let e = made(json!(t), json!(null)).unwrap_err();
            assert!(
                e.message.contains("needs --vmwarevsphere-clone-from"),
                "{e}"
            );
        }
        let e = made(json!("library"), json!("t")).unwrap_err();
        assert!(e.message.contains("not supported yet"), "{e}");
        let e = made(json!("magic"), json!("t")).unwrap_err();
        assert!(e.message.contains("\"magic\" is unknown"), "{e}");
    }

    #[test]
    fn http_downloads_are_the_hosts_choice() {
        let o = || {
            opts(
                json!({"vmwarevsphere-vcenter": "vc", "vmwarevsphere-username": "u",
                               "vmwarevsphere-password": "p"}),
            )
        };
        assert!(
            !Config::new(o().unwrap(), "m", false)
                .unwrap()
                .allow_http_downloads
        );
        let c = Config::new(o().unwrap(), "m", true).unwrap();
        assert!(c.allow_http_downloads);
        assert_eq!(c.to_value()["allow_http_downloads"], true);
    }

    /// The flags, variables, defaults, aliases, Docker Machine fields and secrets that `create`,
    /// `inspect`, `import` and the etcd store's sealing rely on.
    #[test]
    fn the_schema_keeps_docker_machines_names() {
        let schema = VsphereOptions::schema();
        let names: Vec<&str> = schema.iter().map(|o| o.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "vmwarevsphere-vcenter",
                "vmwarevsphere-vcenter-port",
                "vmwarevsphere-username",
                "vmwarevsphere-password",
                "vmwarevsphere-datacenter",
                "vmwarevsphere-datastore",
                "vmwarevsphere-network",
                "vmwarevsphere-folder",
                "vmwarevsphere-pool",
                "vmwarevsphere-hostsystem",
                "vmwarevsphere-cpu-count",
                "vmwarevsphere-memory-size",
                "vmwarevsphere-disk-size",
                "vmwarevsphere-boot2docker-url",
                "vmwarevsphere-cfgparam",
                "vmwarevsphere-cloudinit",
                "vmwarevsphere-creation-type",
                "vmwarevsphere-clone-from",
                "vmwarevsphere-ssh-user",
                "vmwarevsphere-ssh-port",
                "vmwarevsphere-insecure",
                "vmwarevsphere-ca-cert",
                "vmwarevsphere-thumbprint",
                "vmwarevsphere-ip-timeout",
            ]
        );
        for o in &schema {
            let var = o.name.replace("vmwarevsphere-", "VSPHERE_");
            assert_eq!(
                o.env.as_deref(),
                Some(var.to_uppercase().replace('-', "_").as_str())
            );
        }
        let secrets: Vec<&str> = schema
            .iter()
            .filter(|o| o.secret)
            .map(|o| o.name.as_str())
            .collect();
        assert_eq!(secrets, ["vmwarevsphere-password"]);
        let defaults: Vec<(&str, Value)> = schema
            .iter()
            .filter_map(|o| Some((o.name.as_str(), o.default.clone()?)))
            .collect();
        assert_eq!(
            defaults,
            [
                ("vmwarevsphere-vcenter-port", json!(443)),
                ("vmwarevsphere-cpu-count", json!(2)),
                ("vmwarevsphere-memory-size", json!(2048)),
                ("vmwarevsphere-disk-size", json!(20480)),
                ("vmwarevsphere-boot2docker-url", json!(DEFAULT_ISO_URL)),
                ("vmwarevsphere-ssh-user", json!("docker")),
                ("vmwarevsphere-ssh-port", json!(22)),
                ("vmwarevsphere-ip-timeout", json!(600)),
            ]
        );
        let fields: Vec<(&str, &str)> = schema
            .iter()
            .filter_map(|o| Some((o.name.as_str(), o.docker_machine_field.as_deref()?)))
            .collect();
        assert_eq!(
            fields,
            [
                ("vmwarevsphere-vcenter", "IP"),
                ("vmwarevsphere-vcenter-port", "Port"),
                ("vmwarevsphere-username", "Username"),
                ("vmwarevsphere-password", "Password"),
                ("vmwarevsphere-datacenter", "Datacenter"),
                ("vmwarevsphere-datastore", "Datastore"),
                ("vmwarevsphere-network", "Networks"),
                ("vmwarevsphere-folder", "Folder"),
                ("vmwarevsphere-pool", "Pool"),
                ("vmwarevsphere-hostsystem", "HostSystem"),
                ("vmwarevsphere-cpu-count", "CPU"),
                ("vmwarevsphere-memory-size", "Memory"),
                ("vmwarevsphere-disk-size", "DiskSize"),
                ("vmwarevsphere-boot2docker-url", "Boot2DockerURL"),
                ("vmwarevsphere-cfgparam", "CfgParams"),
                ("vmwarevsphere-cloudinit", "CloudInit"),
                ("vmwarevsphere-ssh-user", "SSHUser"),
                ("vmwarevsphere-ssh-port", "SSHPort"),
            ]
        );
        let iso = &schema[13];
        assert_eq!(iso.aliases, ["vmwarevsphere-iso-url"]);
        assert!(schema
            .iter()
            .all(|o| o.aliases.is_empty() || o.name == iso.name));
    }
}
