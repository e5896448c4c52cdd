//! `--format` as a script meets it: `ls --format` prints exactly what the template gives per
//! machine, `table` aligns columns under Docker Machine's headers, `json` prints one object per
//! machine, a bad template fails naming itself; `inspect --format` likewise. The store holds
//! records only (their driver is absent, so each row carries an error, not a state).

mod common;

use common::machine;
use machine_core::{engine::EngineOptions, MachineConfig, Phase};
use std::process::Output;

fn stdout(o: &Output) -> String {
    assert!(
        o.status.success(),
        "machine failed:\n{}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8(o.stdout.clone()).unwrap()
}

/// A store with machines `a-one` and `b-two` of driver `absent`.
fn store() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for name in ["b-two", "a-one"] {
        let mut c = MachineConfig::new(name, "absent", "absent", EngineOptions::default());
        c.phase = Phase::Ready;
        let folder = dir.path().join("machines").join(name);
        std::fs::create_dir_all(&folder).unwrap();
        std::fs::write(
            folder.join("config.json"),
            serde_json::to_string(&c).unwrap(),
        )
        .unwrap();
    }
    private(dir.path());
    dir
}

/// Makes the store folder and its `machines` folder private, as `machine` requires of a store.
fn private(store: &std::path::Path) {
    use std::os::unix::fs::PermissionsExt;
    for d in [store.to_path_buf(), store.join("machines")] {
        std::fs::set_permissions(&d, std::fs::Permissions::from_mode(0o700)).unwrap();
    }
}

#[test]
fn ls_format_prints_exactly_the_template_per_machine() {
    let s = store();
    let out = machine(s.path(), &["ls", "--format", "{{.Name}} {{.DriverName}}"]);
    assert_eq!(stdout(&out), "a-one absent\nb-two absent\n");
    // tabs typed as \t are tabs, not columns, without `table`
    let out = machine(s.path(), &["ls", "-f", r"{{.Name}}\t{{.DriverName}}"]);
    assert_eq!(stdout(&out), "a-one\tabsent\nb-two\tabsent\n");
    let out = machine(
        s.path(),
        &[
            "ls",
            "-f",
            r"{{range $i, $n := split .Name `-`}}{{if $i}}+{{end}}{{upper $n}}{{end}}",
        ],
    );
    assert_eq!(stdout(&out), "A+ONE\nB+TWO\n");
}

#[test]
fn ls_format_table_aligns_under_docker_machines_headers() {
    let s = store();
    let out = machine(
        s.path(),
        &[
            "ls",
            "--format",
            r"table {{.Name}}\t{{.DriverName}}\t{{.ActiveHost}}",
        ],
    );
    assert_eq!(
        stdout(&out),
        "NAME    DRIVER   ACTIVE_HOST\n\
         a-one   absent   false\n\
         b-two   absent   false\n"
    );
}

#[test]
fn ls_format_json_is_one_object_per_machine() {
    let s = store();
    let out = stdout(&machine(s.path(), &["ls", "--format", "json"]));
    let rows: Vec<serde_json::Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON object per line"))
        .collect();
    assert_eq!(rows.len(), 2, "{out}");
    assert_eq!(rows[0]["Name"], "a-one");
    assert_eq!(rows[1]["DriverName"], "absent");
    assert!(
        rows[1]["Error"].as_str().unwrap().contains("absent"),
        "{out}"
    );
}

#[test]
fn a_bad_template_fails_and_says_what_is_wrong() {
    let s = store();
    for (format, says) in [
        ("{{.Nme}}", "Nme"),
        ("{{if .Name}}x", "no {{end}}"),
        ("{{nosuch .Name}}", "nosuch"),
        ("{{.Name", "unclosed action"),
    ] {
        let out = machine(s.path(), &["ls", "--format", format]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{format}: {err}");
        assert!(out.stdout.is_empty(), "{format}: printed {:?}", out.stdout);
        assert!(
            err.contains("--format") && err.contains(format) && err.contains(says),
            "{format}: {err}"
        );
    }
    // `-q` prints names and reads no template, as Docker Machine's did
    let out = machine(s.path(), &["ls", "-q", "--format", "{{.Name"]);
    assert_eq!(stdout(&out), "a-one\nb-two\n");
    let out = machine(s.path(), &["inspect", "-f", "{{.Name.First}}", "a-one"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("First"));
}

#[test]
fn inspect_format_renders_the_machine() {
    let s = store();
    let out = machine(
        s.path(),
        &[
            "inspect",
            "--format",
            "{{.Name}} {{.DriverName}} {{json .HostOptions.EngineOptions.Labels}} {{.Nope}}",
            "a-one",
        ],
    );
    assert_eq!(stdout(&out), "a-one absent [] <no value>\n");
    let whole = stdout(&machine(s.path(), &["inspect", "a-one"]));
    assert_eq!(
        stdout(&machine(s.path(), &["inspect", "-f", "json", "a-one"])),
        whole
    );
    let v: serde_json::Value = serde_json::from_str(&whole).unwrap();
    assert_eq!(v["Name"], "a-one");
}
