//! Fuzzes `--format`: any template text, with `inspect`'s open data and `ls`'s rows (through
//! `ls`'s whole rendering), ends in output or an error, never a panic or a hang. The mutator,
//! the seeds and the found crashes live in tests/fuzz (the `machine-fuzz` crate); the templates
//! of tests/template/corpus.json are seeds too.

use machine_fuzz::Fuzz;
use std::path::Path;

const DICTIONARY: &[&str] = &[
    "{{",
    "}}",
    "{{-",
    "-}}",
    "{{/*",
    "*/}}",
    ".Name",
    ".Driver.SSHPort",
    ".Map",
    ".Mixed",
    "$",
    "$x := ",
    "$x = ",
    "|",
    "(",
    ")",
    " ",
    "\"",
    "`",
    "'a'",
    "\\t",
    "table ",
    "if ",
    "else",
    "else if ",
    "end",
    "range ",
    "break",
    "continue",
    "with ",
    "define \"t\"",
    "template \"t\" .",
    "block \"b\" .",
    "and ",
    "or ",
    "not ",
    "len ",
    "index ",
    "slice ",
    "printf ",
    "\"%d\"",
    "\"%s\"",
    "\"%v\"",
    "\"%*d\"",
    "\"%999999999d\"",
    "\"%-9.9999f\"",
    "\"%[3]d\"",
    "\"%!\"",
    "print ",
    "println ",
    "html ",
    "js ",
    "urlquery ",
    "call ",
    "eq ",
    "ne ",
    "lt ",
    "le ",
    "gt ",
    "ge ",
    "json ",
    "prettyjson ",
    "split ",
    "join ",
    "title ",
    "lower ",
    "upper ",
    "pad ",
    "truncate ",
    "-1",
    "0",
    "1e308",
    "9223372036854775807",
    "0x10",
    "1_000",
    "nil",
    "true",
];

#[test]
fn fuzz_template_engine() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/template");
    let corpus: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("corpus.json")).unwrap())
            .expect("corpus.json");
    let host = corpus["inputs"]["host"].clone();
    let rows = corpus["inputs"]["rows"]
        .as_array()
        .expect("rows in corpus.json")
        .clone();
    let mut fuzz = Fuzz::new("template", DICTIONARY);
    for case in corpus["cases"].as_array().expect("cases in corpus.json") {
        fuzz = fuzz.seed(case["template"].as_str().expect("a template").as_bytes());
    }
    fuzz.run(|bytes| {
        let source = String::from_utf8_lossy(bytes);
        if counts_far(&source) {
            return "skipped: range over a large number".into();
        }
        let open = super::render(&source, &host);
        let known = crate::ls::render(Some(&source), &rows);
        format!("inspect {} ls {}", outcome(&open), outcome(&known))
    });
}

/// `{{range N}}` with a large N runs N times, in Go's text/template too: what the user asked for,
/// not a hang. Inputs with `range` and five digits or more (nested ranges multiply) are not run.
fn counts_far(source: &str) -> bool {
    source.contains("range") && source.chars().filter(char::is_ascii_digit).count() >= 5
}

/// An outcome word: `ok`, or the kind of error (its message up to the first quote, without
/// positions), so that inputs reaching a new error join the pool.
fn outcome(r: &Result<String, super::FormatError>) -> String {
    match r {
        Ok(_) => "ok".into(),
        Err(e) => e
            .message
            .split(['"', '`', '\''])
            .next()
            .unwrap_or("")
            .chars()
            .filter(|c| !c.is_ascii_digit())
            .take(40)
            .collect(),
    }
}
