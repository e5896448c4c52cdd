//! The differential test of `--format`: every case of tests/template/corpus.json rendered by
//! Go's own text/template (tests/template/gotemplate.go, run with `go run`) and by ours; the
//! outputs must be equal, and where Go fails ours must fail too. `ls` cases go through `ls`'s
//! whole rendering (table prefix, escapes, headers, column alignment). A case marked `differs`
//! is a known difference of the gotmpl crate, stated there; it must still differ, so that the
//! mark goes once gotmpl is fixed.

use serde::Deserialize;
use std::path::Path;
use std::process::Command;

#[derive(Deserialize)]
struct Corpus {
    inputs: serde_json::Map<String, serde_json::Value>,
    cases: Vec<Case>,
}

#[derive(Deserialize)]
struct Case {
    name: String,
    template: String,
    input: String,
    #[serde(default)]
    ls: bool,
    differs: Option<String>,
}

#[derive(Deserialize)]
struct GoResult {
    name: String,
    output: String,
    failed: bool,
    error: String,
}

fn go_outputs(dir: &Path) -> Vec<GoResult> {
    let cache = std::env::var_os("GOCACHE")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| std::env::temp_dir().join("machine-template-gocache"));
    let out = Command::new("go")
        .args(["run", "gotemplate.go", "corpus.json"])
        .current_dir(dir)
        .env("GOCACHE", cache)
        .env("GOTOOLCHAIN", "local")
        .env("GO111MODULE", "on")
        .env_remove("GOFLAGS")
        .output()
        .unwrap_or_else(|e| {
            panic!("cannot run `go` ({e}): Go is needed for this test; run scripts/test-env.sh")
        });
    assert!(
        out.status.success(),
        "`go run gotemplate.go corpus.json` in {} failed:\n{}",
        dir.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("gotemplate.go prints a JSON array")
}

#[test]
fn templates_render_as_go_renders_them() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/template");
    let corpus: Corpus =
        serde_json::from_str(&std::fs::read_to_string(dir.join("corpus.json")).unwrap())
            .expect("corpus.json");
    let go = go_outputs(&dir);
    assert_eq!(go.len(), corpus.cases.len());
    let mut mismatches = Vec::new();
    for (case, go) in corpus.cases.iter().zip(&go) {
        assert_eq!(case.name, go.name);
        let data = &corpus.inputs[&case.input];
        let ours = if case.ls {
            let rows = data.as_array().expect("ls input is a list of rows");
            crate::ls::render(Some(&case.template), rows)
        } else {
            super::render(&case.template, data)
        };
        let same = match (&ours, go.failed) {
            (Ok(o), false) => *o == go.output,
            (Err(_), true) => true,
            _ => false,
        };
        match (same, &case.differs) {
            (true, None) | (false, Some(_)) => continue,
            (true, Some(_)) => {
                mismatches.push(format!(
                    "{}: renders as Go does now; remove its \"differs\" from corpus.json",
                    case.name
                ));
                continue;
            }
            (false, None) => {}
        }
        let problem = match (&ours, go.failed) {
            (Err(_), true) => unreachable!("both failed"),
            (Ok(o), false) => format!("Go printed {:?}\n    we printed {o:?}", go.output),
            (Ok(o), true) => format!("Go failed ({})\n    we printed {o:?}", go.error),
            (Err(e), false) => format!("Go printed {:?}\n    we failed: {e}", go.output),
        };
        mismatches.push(format!("{} {:?}:\n    {problem}", case.name, case.template));
    }
    assert!(
        mismatches.is_empty(),
        "{} of {} templates render differently from Go's text/template:\n\n{}",
        mismatches.len(),
        corpus.cases.len(),
        mismatches.join("\n\n")
    );
}
