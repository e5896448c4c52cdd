//! The vSphere driver end to end (issue 4, scenario step 5): the `machine` CLI creates a VM in
//! govmomi's vCenter simulator (HTTPS, built by tests/vcsim/build.sh) with the walkthrough's
//! flags, the VM is backed by a real test-host container with cloud-init (which installs the
//! machine's key from guestinfo), our provisioner installs Docker on it, and the docker client
//! drives that daemon through `machine env`. Then stop/start/rm, checked in vCenter too.
//!
//! Needs scripts/test-env.sh and `cargo build --workspace --bins`; nothing here skips.

use machine_e2e::support::{self, host_run_flags, vcsim, FileServer};
use machine_e2e::{
    docker_ok, install_script, timed, unique_name, workspace_bin, Cli, CREATE_TIMEOUT,
};
use std::path::{Path, PathBuf};
use std::process::{Child, Command};

const IMAGE: &str = vcsim::VM_IMAGE;
const USER: &str = "root";
const PASSWORD: &str = "12345678";

/// vcsim over HTTPS with one datacenter, host, pool, datastore and network.
struct Vcsim {
    child: Child,
    dir: tempfile::TempDir,
    port: u16,
    vm_names: Vec<String>,
}

impl Vcsim {
    fn start() -> Vcsim {
        let sim = vcsim::launch(USER, PASSWORD, &["-shape", "one"]);
        Vcsim {
            child: sim.child,
            dir: sim.dir,
            port: sim.port,
            vm_names: Vec::new(),
        }
    }

    fn cert(&self) -> PathBuf {
        self.dir.path().join("cert.pem")
    }

    /// One SOAP call with curl (trusting the simulator's certificate); returns the answer.
    fn soap(&self, cookie_jar: &Path, body: &str) -> String {
        let envelope = format!(
            "<?xml version=\"1.0\"?><soapenv:Envelope xmlns:soapenv=\"http://schemas.xmlsoap.org/soap/envelope/\" \
             xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\"><soapenv:Body>{body}</soapenv:Body></soapenv:Envelope>"
        );
        support::run(
            Command::new("curl")
                .args(["-sS", "--cacert"])
                .arg(self.cert())
                .arg("-b")
                .arg(cookie_jar)
                .arg("-c")
                .arg(cookie_jar)
                .args(["-H", "Content-Type: text/xml", "--data-binary", &envelope])
                .arg(format!("https://127.0.0.1:{}/sdk", self.port)),
        )
    }

    /// Properties of a VM (`vm-N`) as vCenter reports them, or None when it does not exist.
    fn vm_props(&self, moref: &str) -> Option<String> {
        let jar = self.dir.path().join("cookies");
        let _ = std::fs::remove_file(&jar);
        let login = self.soap(
            &jar,
            &format!(
                "<Login xmlns=\"urn:vim25\"><_this type=\"SessionManager\">SessionManager</_this>\
                 <userName>{USER}</userName><password>{PASSWORD}</password></Login>"
            ),
        );
        assert!(login.contains("LoginResponse"), "{login}");
        let props = self.soap(
            &jar,
            &format!(
                "<RetrievePropertiesEx xmlns=\"urn:vim25\"><_this type=\"PropertyCollector\">propertyCollector</_this>\
                 <specSet><propSet><type>VirtualMachine</type><pathSet>name</pathSet><pathSet>runtime.powerState</pathSet>\
                 <pathSet>config.hardware.numCPU</pathSet><pathSet>config.hardware.memoryMB</pathSet></propSet>\
                 <objectSet><obj type=\"VirtualMachine\">{moref}</obj></objectSet></specSet><options></options></RetrievePropertiesEx>"
            ),
        );
        if props.contains("ManagedObjectNotFound") || !props.contains("<objects>") {
            None
        } else {
            Some(props)
        }
    }
}

impl Drop for Vcsim {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .arg(self.child.id().to_string())
            .status();
        let _ = self.child.wait();
        for name in &self.vm_names {
            let filter = format!("name=vcsim-{name}-");
            if let Ok(out) = Command::new("docker")
                .args(["ps", "-aq", "--filter", &filter])
                .output()
            {
                for id in String::from_utf8_lossy(&out.stdout).split_whitespace() {
                    let _ = Command::new("docker").args(["rm", "-f", "-v", id]).output();
                }
            }
        }
    }
}

fn prop<'a>(xml: &'a str, name: &str) -> &'a str {
    let tag = format!("<name>{name}</name>");
    let rest = &xml[xml
        .find(&tag)
        .unwrap_or_else(|| panic!("no {name} in {xml}"))
        + tag.len()..];
    let start = rest.find('>').unwrap() + 1;
    let end = rest.find("</val>").unwrap();
    &rest[start..end]
}

/// Scenario step 5 with `machine`: create (the walkthrough's flags), ls, env + docker version,
/// stop, start, rm.
#[test]
fn vsphere_scenario_step5_with_the_cli() {
    workspace_bin("machine-driver-vsphere");
    let mut sim = Vcsim::start();
    let cli = Cli::new();
    let name = unique_name("testvm");
    sim.vm_names.push(name.clone());
    let iso = sim.dir.path().join("docker-ready.iso");
    std::fs::write(&iso, vec![1u8; 4096]).unwrap();
    let mut run = host_run_flags();
    run.extend(["--tmpfs".into(), "/sys/class".into(), IMAGE.into()]);
    let cfgparam = format!(
        "--vmwarevsphere-cfgparam=RUN.container={}",
        serde_json::to_string(&run).unwrap()
    );
    let port = format!("--vmwarevsphere-vcenter-port={}", sim.port);
    let ca = format!("--vmwarevsphere-ca-cert={}", sim.cert().display());
    let iso_flag = format!("--vmwarevsphere-boot2docker-url={}", iso.display());
    // get.docker.com is out of reach here: the same install script, served locally
    let server = FileServer::start("/install.sh", install_script());
    let install_url = server.url();
    let out = timed("machine create -d vmwarevsphere", || {
        cli.call_with_timeout(
            &[
                "create",
                "--driver",
                "vmwarevsphere",
                "--vmwarevsphere-vcenter=127.0.0.1",
                &port,
                "--vmwarevsphere-username=root",
                "--vmwarevsphere-password=12345678",
                "--vmwarevsphere-cpu-count=1",
                "--vmwarevsphere-memory-size=512",
                "--vmwarevsphere-disk-size=10240",
                &ca,
                &iso_flag,
                &cfgparam,
                "--engine-install-url",
                &install_url,
                &name,
            ],
            CREATE_TIMEOUT,
        )
    });
    assert!(out.success, "create failed:\n{out}");
    assert!(
        !out.stdout.contains(PASSWORD) && !out.stderr.contains(PASSWORD),
        "create printed the password:\n{out}"
    );

    // the VM in vCenter: running, with the hardware asked for
    let inspect = cli.ok(&["inspect", &name]);
    assert!(
        !inspect.contains(PASSWORD),
        "inspect shows the password:\n{inspect}"
    );
    let json: serde_json::Value = serde_json::from_str(&inspect).expect("inspect is JSON");
    let moref = find_key(&json, "moref").expect("the VM's moref in inspect");
    let props = sim.vm_props(&moref).expect("the VM exists in vCenter");
    assert_eq!(prop(&props, "name"), name);
    assert_eq!(prop(&props, "runtime.powerState"), "poweredOn");
    assert_eq!(prop(&props, "config.hardware.numCPU"), "1");
    assert_eq!(prop(&props, "config.hardware.memoryMB"), "512");

    // ls: DRIVER as typed, Running; docker version through machine env shows the Server
    let table = cli.ls();
    let row = table.row(&name).unwrap_or_else(|| panic!("{}", table.raw));
    assert_eq!(row["DRIVER"], "vmwarevsphere", "{}", table.raw);
    assert_eq!(row["STATE"], "Running", "{}", table.raw);
    let env = cli.env(&name);
    let version = docker_ok(&env, &["version"]);
    assert!(version.contains("Server:"), "no Server section:\n{version}");

    // stop → poweredOff and Stopped; start → Running
    timed("machine stop", || cli.ok(&["stop", &name]));
    let props = sim.vm_props(&moref).unwrap();
    assert_eq!(prop(&props, "runtime.powerState"), "poweredOff");
    assert_eq!(cli.ls().row(&name).unwrap()["STATE"], "Stopped");
    timed("machine start", || {
        cli.call_with_timeout(&["start", &name], CREATE_TIMEOUT)
    });
    assert_eq!(cli.ls().row(&name).unwrap()["STATE"], "Running");
    assert_eq!(
        prop(&sim.vm_props(&moref).unwrap(), "runtime.powerState"),
        "poweredOn"
    );

    // rm → gone from the inventory
    timed("machine rm", || cli.ok(&["rm", "-y", &name]));
    assert!(sim.vm_props(&moref).is_none(), "the VM is still in vCenter");
    assert!(cli.ls().row(&name).is_none());
}

fn find_key(v: &serde_json::Value, key: &str) -> Option<String> {
    match v {
        serde_json::Value::Object(m) => m.iter().find_map(|(k, v)| {
            if k == key {
                v.as_str().map(str::to_string)
            } else {
                find_key(v, key)
            }
        }),
        serde_json::Value::Array(a) => a.iter().find_map(|v| find_key(v, key)),
        _ => None,
    }
}
