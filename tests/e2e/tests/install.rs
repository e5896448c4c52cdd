//! The README's install command (scripts/install.sh) into a temporary prefix, from the binaries
//! already built (`--binaries`, so the test does not build a release): `machine` and both
//! drivers land side by side and `machine` finds the drivers with PATH holding nothing of
//! this repository; the `docker-machine` link names itself so; bash completion completes
//! machine names; the man pages are there.

use machine_e2e::bin_dir;
use machine_e2e::support::{repo_root, run_with_timeout};
use std::path::Path;
use std::process::Command;
use std::time::Duration;

const PATH: &str = "/usr/local/bin:/usr/bin:/bin";

fn run(cmd: &mut Command) -> String {
    let out = run_with_timeout(cmd, Duration::from_secs(120));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    eprintln!("{cmd:?} -> {}\n{text}", out.status);
    assert!(out.status.success(), "{cmd:?} failed:\n{text}");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A command with a bare PATH and this test's own HOME, XDG folders and store.
fn isolated(program: impl AsRef<std::ffi::OsStr>, home: &Path) -> Command {
    let mut cmd = Command::new(program);
    cmd.env_clear()
        .env("PATH", PATH)
        .env("HOME", home)
        .env("XDG_DATA_HOME", home.join("data"))
        .env("XDG_CONFIG_HOME", home.join("config"))
        .env("MACHINE_STORAGE_PATH", home.join("store"));
    cmd
}

#[test]
fn install_script_puts_machine_drivers_link_completion_and_man_pages_in_place() {
    let home = tempfile::tempdir().unwrap();
    let home = home.path();
    let prefix = home.join("prefix");
    let script = repo_root().join("scripts/install.sh");
    let out = run(isolated(&script, home)
        .arg("--prefix")
        .arg(&prefix)
        .arg("--binaries")
        .arg(bin_dir())
        .args(["--docker-machine-link", "--completions"]));
    assert!(
        out.contains("is not on PATH"),
        "the script must say PATH lacks the folder:\n{out}"
    );

    let bin = prefix.join("bin");
    for p in [
        "machine",
        "machine-driver-generic",
        "machine-driver-vsphere",
    ] {
        assert!(
            bin.join(p).is_file(),
            "{p} not installed in {}",
            bin.display()
        );
    }
    // machine finds both drivers next to itself (PATH holds neither)
    let help = run(isolated(bin.join("machine"), home).args(["create", "--help"]));
    assert!(
        help.contains("installed: generic, vsphere"),
        "machine does not find the installed drivers:\n{help}"
    );
    // the link, and its name in what it prints
    let link = bin.join("docker-machine");
    assert_eq!(std::fs::read_link(&link).unwrap(), Path::new("machine"));
    let version = run(isolated(&link, home).arg("version"));
    assert!(version.starts_with("docker-machine version "), "{version}");
    let usage = run(isolated(&link, home).arg("--help"));
    assert!(usage.contains("Usage: docker-machine"), "{usage}");

    // bash completion: commands, and machine names from the store
    for n in ["web1", "web2", "db1"] {
        std::fs::create_dir_all(home.join("store/machines").join(n)).unwrap();
    }
    let bash = home.join("data/bash-completion/completions/machine");
    let complete = |words: &str| {
        let script = format!(
            "source {bash:?}; COMP_WORDS=({words}); COMP_CWORD=$((${{#COMP_WORDS[@]}} - 1)); \
             _clap_complete_machine machine \"${{COMP_WORDS[COMP_CWORD]}}\" machine; \
             printf '%s\\n' \"${{COMPREPLY[@]}}\""
        );
        let mut lines: Vec<String> = run(isolated("bash", home).args(["-c", &script]))
            .lines()
            .map(|l| l.trim().to_string())
            .filter(|l| !l.is_empty())
            .collect();
        lines.sort();
        lines
    };
    assert_eq!(complete("machine ssh we"), ["web1", "web2"]);
    assert_eq!(complete("machine rm -y d"), ["db1"]);
    assert!(complete("machine regen")
        .iter()
        .any(|c| c.starts_with("regenerate-certs")));
    for f in [
        home.join("data/zsh/site-functions/_machine"),
        home.join("config/fish/completions/machine.fish"),
    ] {
        let text = std::fs::read_to_string(&f).unwrap_or_else(|e| panic!("{}: {e}", f.display()));
        assert!(
            text.contains(&bin.join("machine").display().to_string()),
            "{}",
            f.display()
        );
    }

    // man pages for the program and its commands
    let man = prefix.join("share/man/man1");
    for page in [
        "machine.1",
        "machine-use.1",
        "machine-create.1",
        "machine-ls.1",
    ] {
        let text =
            std::fs::read_to_string(man.join(page)).unwrap_or_else(|e| panic!("{page}: {e}"));
        assert!(text.contains(".TH"), "{page} is not a man page");
    }

    // run again (an upgrade): the same result, the link kept
    run(isolated(&script, home)
        .arg("--prefix")
        .arg(&prefix)
        .arg("--binaries")
        .arg(bin_dir())
        .arg("--docker-machine-link"));
    assert_eq!(std::fs::read_link(&link).unwrap(), Path::new("machine"));
}
