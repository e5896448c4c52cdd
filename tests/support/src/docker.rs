//! The real `docker` client pointed at a remote engine (the environment `machine env` prints),
//! and an image for that engine made without any registry: a busybox root file system.

use std::path::Path;
use std::process::{Command, Stdio};

use crate::SETUP_HINT;

/// The variables that point a docker client somewhere; removed from inherited environments so
/// only what a test sets counts.
pub const DOCKER_ENV_VARS: &[&str] = &[
    "DOCKER_HOST",
    "DOCKER_TLS_VERIFY",
    "DOCKER_CERT_PATH",
    "DOCKER_MACHINE_NAME",
    "DOCKER_CONTEXT",
    "DOCKER_CONFIG",
    "DOCKER_TLS",
];

/// Parses bash `export KEY="VALUE"` lines (as `machine env` prints them); other lines (comments,
/// hints) are ignored.
pub fn parse_exports(text: &str) -> Vec<(String, String)> {
    let mut vars = Vec::new();
    for line in text.lines() {
        let line = line.trim();
        let Some(rest) = line.strip_prefix("export ") else {
            continue;
        };
        let Some((key, value)) = rest.split_once('=') else {
            continue;
        };
        let value = value.trim();
        let value = if value.len() >= 2
            && ((value.starts_with('"') && value.ends_with('"'))
                || (value.starts_with('\'') && value.ends_with('\'')))
        {
            &value[1..value.len() - 1]
        } else {
            value
        };
        vars.push((key.trim().to_string(), value.to_string()));
    }
    vars
}

/// A `docker` command with exactly `env` as its Docker settings (inherited DOCKER_* removed),
/// like a shell after `eval "$(machine env NAME)"`. An empty `env` means the local engine.
pub fn docker_cmd(env: &[(String, String)]) -> Command {
    let mut cmd = Command::new("docker");
    for v in DOCKER_ENV_VARS {
        cmd.env_remove(v);
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd
}

/// The static busybox that Debian's `busybox-static` package installs.
pub fn static_busybox() -> &'static Path {
    let p = Path::new("/bin/busybox");
    let is_static = Command::new("dpkg-query")
        .args(["-W", "-f=${Status}", "busybox-static"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).contains("install ok installed"))
        .unwrap_or(false);
    if !is_static || !p.exists() {
        panic!(
            "Debian's busybox-static is not installed (needed for the remote test image): \
             `apt-get install -y busybox-static`, or {SETUP_HINT}"
        );
    }
    p
}

/// Builds an image named `image` ON THE ENGINE `env` points at (see [`docker_cmd`]): a root file
/// system with /bin/busybox and a link for each of its applets (sh, echo, hostname, cat, ls, ...),
/// piped as a tar into `docker import - IMAGE`. No registry involved.
pub fn build_busybox_image(env: &[(String, String)], image: &str) {
    let busybox = static_busybox();
    let dir = tempfile::tempdir().expect("tempdir");
    let bin = dir.path().join("bin");
    std::fs::create_dir_all(&bin).expect("bin folder");
    std::fs::copy(busybox, bin.join("busybox")).expect("copy busybox");
    let list = Command::new(busybox)
        .arg("--list")
        .output()
        .expect("busybox --list");
    let mut applets: Vec<String> = String::from_utf8_lossy(&list.stdout)
        .lines()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty() && s != "busybox" && !s.contains('/'))
        .collect();
    for must in ["sh", "echo", "hostname", "cat", "ls", "sleep", "true"] {
        if !applets.iter().any(|a| a == must) {
            applets.push(must.to_string());
        }
    }
    for a in &applets {
        std::os::unix::fs::symlink("busybox", bin.join(a)).expect("applet link");
    }
    for d in ["tmp", "etc", "proc", "sys", "dev", "root"] {
        std::fs::create_dir_all(dir.path().join(d)).expect("folder");
    }
    std::fs::write(
        dir.path().join("etc/passwd"),
        "root:x:0:0:root:/root:/bin/sh\n",
    )
    .expect("passwd");

    let mut tar = Command::new("tar")
        .arg("-C")
        .arg(dir.path())
        .args(["-c", "."])
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn tar");
    let tar_out = tar.stdout.take().expect("tar stdout");
    let import = docker_cmd(env)
        .args(["import", "-c", "CMD [\"/bin/sh\"]", "-", image])
        .stdin(Stdio::from(tar_out))
        .output()
        .expect("spawn docker import");
    let tar_status = tar.wait().expect("tar");
    assert!(
        tar_status.success(),
        "tar of the busybox root failed: {tar_status}"
    );
    if !import.status.success() {
        panic!(
            "docker import of {image} on {:?} failed ({}):\n{}{}",
            env.iter().find(|(k, _)| k == "DOCKER_HOST"),
            import.status,
            String::from_utf8_lossy(&import.stdout),
            String::from_utf8_lossy(&import.stderr)
        );
    }
}
