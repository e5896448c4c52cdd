//! govmomi's vCenter simulator (vcsim, built by tests/vcsim/build.sh) served over HTTPS on
//! loopback, for the vSphere tests. VMs it powers on are backed by cloud-init test-host
//! containers.

use crate::{repo_root, require_image, SETUP_HINT};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The image vcsim runs for VMs (and for its helper container).
pub const VM_IMAGE: &str = "machine-testhost-cloudinit:bookworm";

/// A started simulator. Its process and folder are the caller's to stop and drop.
pub struct Launched {
    pub child: Child,
    /// Holds `cert.pem` (the simulator's self-signed certificate) and whatever else the caller
    /// keeps there.
    pub dir: tempfile::TempDir,
    pub cert: PathBuf,
    pub host: String,
    pub port: u16,
}

/// Builds vcsim if needed and starts it over TLS on a free loopback port, accepting only
/// `user`/`password`; `extra` are more vcsim flags (`-shape one`, `-datastores 2`, ...).
/// Set VCSIM_LOG to see its log.
pub fn launch(user: &str, password: &str, extra: &[&str]) -> Launched {
    let bin = repo_root().join("target/vcsim/vcsim");
    let build = repo_root().join("tests/vcsim/build.sh");
    let out = Command::new(&build)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}; {SETUP_HINT}", build.display()));
    assert!(
        out.status.success() && bin.exists(),
        "the vCenter simulator is not built ({}): {SETUP_HINT}",
        String::from_utf8_lossy(&out.stderr)
    );
    require_image(VM_IMAGE);
    let dir = tempfile::tempdir().expect("tempdir");
    let url_file = dir.path().join("url");
    let cert = dir.path().join("cert.pem");
    let child = Command::new(&bin)
        .args(["-tls", "-listen", "127.0.0.1:0"])
        .args(["-username", user, "-password", password])
        .args(extra)
        .arg("-cert-out")
        .arg(&cert)
        .arg("-url-out")
        .arg(&url_file)
        .env("VCSIM_BUSYBOX", VM_IMAGE)
        .stdout(Stdio::null())
        .stderr(if std::env::var_os("VCSIM_LOG").is_some() {
            Stdio::inherit()
        } else {
            Stdio::null()
        })
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start vcsim: {e}; {SETUP_HINT}"));
    let deadline = Instant::now() + Duration::from_secs(30);
    let url = loop {
        if let Ok(u) = std::fs::read_to_string(&url_file) {
            break u;
        }
        assert!(
            Instant::now() < deadline,
            "vcsim did not start: {SETUP_HINT}"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    let hostport = url
        .trim()
        .trim_start_matches("https://")
        .split('/')
        .next()
        .expect("vcsim URL")
        .to_string();
    let (host, port) = hostport.rsplit_once(':').expect("vcsim URL with a port");
    Launched {
        child,
        dir,
        cert,
        host: host.to_string(),
        port: port.parse().expect("vcsim port"),
    }
}
