//! The vSphere driver end to end (issue 4, scenario step 5): the `machine` CLI creates a VM in
//! govmomi's vCenter simulator (HTTPS, built by tests/vcsim/build.sh) with the walkthrough's
//! flags, the VM is backed by a real test-host container with cloud-init (which installs the
//! machine's key from guestinfo), our provisioner installs Docker on it, and the docker client
//! drives that daemon through `machine env`. Then stop/start/rm, checked in vCenter too.
//!
//! Needs scripts/test-env.sh and `cargo build --workspace --bins`; nothing here skips.

use machine_e2e::support::{self, host_run_flags, vcsim, FileServer, TestCa};
use machine_e2e::{
    docker_ok, install_script, timed, unique_name, workspace_bin, Cli, CREATE_TIMEOUT,
};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

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
        machine_e2e::vcsim_soap(self.port, &self.cert(), cookie_jar, body)
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

/// The walkthrough's `machine create -d vmwarevsphere` arguments for `name` in `sim`, the
/// install script served by `server`.
fn create_args(sim: &mut Vcsim, server: &FileServer, name: &str) -> Vec<String> {
    sim.vm_names.push(name.to_string());
    let iso = sim.dir.path().join("docker-ready.iso");
    std::fs::write(&iso, vec![1u8; 4096]).unwrap();
    let mut run = host_run_flags();
    // the VMs trust the test CA, so the install script comes over https
    run.extend(TestCa::get().bundle_mount(sim.dir.path()));
    run.extend(["--tmpfs".into(), "/sys/class".into(), IMAGE.into()]);
    [
        "create".to_string(),
        "--driver".into(),
        "vmwarevsphere".into(),
        "--vmwarevsphere-vcenter=127.0.0.1".into(),
        format!("--vmwarevsphere-vcenter-port={}", sim.port),
        "--vmwarevsphere-username=root".into(),
        "--vmwarevsphere-password=12345678".into(),
        "--vmwarevsphere-cpu-count=1".into(),
        "--vmwarevsphere-memory-size=512".into(),
        "--vmwarevsphere-disk-size=10240".into(),
        format!("--vmwarevsphere-ca-cert={}", sim.cert().display()),
        format!("--vmwarevsphere-boot2docker-url={}", iso.display()),
        format!(
            "--vmwarevsphere-cfgparam=RUN.container={}",
            serde_json::to_string(&run).unwrap()
        ),
        "--engine-install-url".into(),
        server.url(),
        name.to_string(),
    ]
    .to_vec()
}

/// Scenario step 5 with `machine`: create (the walkthrough's flags), ls, env + docker version,
/// stop, start, rm.
#[test]
fn vsphere_scenario_step5_with_the_cli() {
    workspace_bin("machine-driver-vsphere");
    let mut sim = Vcsim::start();
    let cli = Cli::new();
    let name = unique_name("testvm");
    // get.docker.com is out of reach here: the same install script, served locally
    let server = FileServer::start("/install.sh", install_script());
    let args = create_args(&mut sim, &server, &name);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = timed("machine create -d vmwarevsphere", || {
        cli.call_with_timeout(&args, CREATE_TIMEOUT)
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
    // Docker Machine's names for the vSphere driver's fields; the password hidden there too
    let d = &json["Driver"];
    assert_eq!(d["CPU"], 1, "{d}");
    assert_eq!(d["Memory"], 512, "{d}");
    assert!(d.get("Datastore").is_some(), "{d}");
    assert_eq!(d["Username"], "root", "{d}");
    assert_eq!(d["Password"], "<hidden>", "{d}");
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
    assert_eq!(cli.ok(&["status", &name]).trim(), "Stopped");
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

/// The VM's moref once the library has stored it (the driver reported the VM as made).
fn stored_moref(cli: &Cli, name: &str) -> Option<String> {
    let config = std::fs::read_to_string(cli.machine_dir(name).join("config.json")).ok()?;
    let json: serde_json::Value = serde_json::from_str(&config).ok()?;
    find_key(&json, "moref").filter(|m| !m.is_empty())
}

/// The stderr lines a running command printed so far.
type Lines = std::sync::Arc<std::sync::Mutex<Vec<String>>>;

/// Starts `machine create` of `name` in `sim` (the install script served by the returned
/// server), collecting its stderr lines as they come (a thread that ends with the command).
fn start_create(
    cli: &Cli,
    sim: &mut Vcsim,
    name: &str,
) -> (FileServer, Child, Lines, std::thread::JoinHandle<()>) {
    let server = FileServer::start("/install.sh", install_script());
    let args = create_args(sim, &server, name);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let mut child = cli
        .command(&args)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("machine create");
    let lines = Lines::default();
    let (stderr, seen) = (child.stderr.take().unwrap(), lines.clone());
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            eprintln!("create: {line}");
            seen.lock().unwrap().push(line);
        }
    });
    (server, child, lines, reader)
}

/// Starts `machine create`, sends `signal` once `ready` says so (given the stderr lines so far
/// and the stored moref), and checks what a user would: the command ends saying it removed what
/// it made, no VM is left in vCenter and no machine in the store.
fn interrupt_create(signal: &str, ready: impl Fn(&[String], bool) -> bool) {
    workspace_bin("machine-driver-vsphere");
    let mut sim = Vcsim::start();
    let cli = Cli::new();
    let name = unique_name("cancelvm");
    let (_server, mut child, lines, reader) = start_create(&cli, &mut sim, &name);
    let deadline = Instant::now() + Duration::from_secs(240);
    let mut moref = None;
    loop {
        assert!(
            Instant::now() < deadline,
            "create never got to the point to interrupt"
        );
        assert!(
            child.try_wait().unwrap().is_none(),
            "create ended before it was interrupted: {:?}",
            lines.lock().unwrap()
        );
        if moref.is_none() {
            moref = stored_moref(&cli, &name);
        }
        if ready(&lines.lock().unwrap(), moref.is_some()) {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let moref = moref.expect("the VM was stored before the interrupt");
    assert!(
        sim.vm_props(&moref).is_some(),
        "the VM is in vCenter before the interrupt"
    );
    let started = Instant::now();
    support::run(Command::new("kill").args([signal, &child.id().to_string()]));
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "create did not end within 120s of {signal}"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    reader.join().unwrap();
    let text = lines.lock().unwrap().join("\n");
    eprintln!(
        "create ended {status} {:.1?} after {signal}",
        started.elapsed()
    );
    assert!(
        !status.success(),
        "an interrupted create must fail:\n{text}"
    );
    assert!(
        text.contains("Cancelled: removed what was made"),
        "create must say it removed what it made:\n{text}"
    );
    assert!(
        sim.vm_props(&moref).is_none(),
        "the VM {moref} is still in vCenter after {signal}:\n{text}"
    );
    assert!(
        cli.ls().row(&name).is_none(),
        "the machine is still in the store"
    );
    assert!(!cli.machine_dir(&name).exists());
}

/// Ctrl-C once the VM is in the inventory (while the driver waits for its IP).
#[test]
fn sigint_during_create_once_the_vm_exists_leaves_nothing() {
    interrupt_create("-INT", |_, stored| stored);
}

/// SIGTERM while Docker is being installed on the VM.
#[test]
fn sigterm_during_the_docker_install_leaves_nothing() {
    interrupt_create("-TERM", |lines, _| {
        lines.iter().any(|l| l.contains("with the install script"))
    });
}

/// Ctrl-C twice: the second exits at once, leaving what was made; `rm` then removes the VM
/// (found from the record the create left) and the machine.
#[test]
fn a_second_sigint_exits_at_once_and_rm_removes_what_was_left() {
    workspace_bin("machine-driver-vsphere");
    let mut sim = Vcsim::start();
    let cli = Cli::new();
    let name = unique_name("twicevm");
    let (_server, mut child, lines, reader) = start_create(&cli, &mut sim, &name);
    let deadline = Instant::now() + Duration::from_secs(120);
    let moref = loop {
        assert!(Instant::now() < deadline, "the VM was never stored");
        if let Some(m) = stored_moref(&cli, &name) {
            break m;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let pid = child.id().to_string();
    support::run(Command::new("kill").args(["-INT", &pid]));
    // the second interrupt once the first was taken (signals of one kind do not queue)
    while !lines
        .lock()
        .unwrap()
        .iter()
        .any(|l| l.contains("Interrupted"))
    {
        assert!(
            Instant::now() < deadline,
            "the first interrupt was not taken"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    support::run(Command::new("kill").args(["-INT", &pid]));
    let status = child.wait().unwrap();
    reader.join().unwrap();
    let lines = lines.lock().unwrap().join("\n");
    assert_eq!(status.code(), Some(130), "{lines}");
    assert!(lines.contains("Exited at once"), "{lines}");

    // what was left is listed as unfinished, and rm removes it with its VM
    if sim.vm_props(&moref).is_some() {
        let row = cli.ls();
        let row = row.row(&name).expect("the unfinished machine is listed");
        assert!(row["ERRORS"].contains("did not finish"), "{row:?}");
    }
    cli.ok(&["rm", "-y", &name]);
    assert!(sim.vm_props(&moref).is_none(), "rm left the VM in vCenter");
    assert!(cli.ls().row(&name).is_none());
}
