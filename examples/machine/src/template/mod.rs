//! `--format`: Go's text/template, as Docker Machine's `ls --format` and `inspect --format`
//! took it. The engine is the `gotmpl` crate (a port of text/template: pipelines, if/else,
//! range, with, variables, `index`, `len`, `printf`, comparisons, trim markers); this module
//! adds Docker Machine's and docker's functions (see [`funcs`]) and feeds it JSON data.
//!
//! Data is JSON. Integral numbers are ints (as the int fields of Docker Machine's structs
//! were: `{{printf "%d" .Driver.SSHPort}}` works), other numbers float64. `{{.Missing}}` prints
//! `<no value>`, except where Docker Machine's data was a struct (`ls` rows): there an unknown
//! field is an error, so a typo does not go unnoticed. tests/template/ holds the corpus that
//! checks all of this against Go's own text/template.

mod funcs;
mod structure;

#[cfg(test)]
mod differential;
#[cfg(test)]
mod fuzz;

use gotmpl::{MissingKey, Value};
use std::sync::Arc;

/// A parsed `--format` template.
pub struct Format {
    template: gotmpl::Template,
    source: String,
}

/// What an unknown field does.
#[derive(Clone, Copy)]
pub enum Fields {
    /// `<no value>`, as for Go maps (`inspect`, `status`).
    Open,
    /// An error, as for Go structs (`ls` rows).
    Known,
}

/// A template that does not parse, or fails on the data: the template and Go's reason.
#[derive(Debug)]
pub struct FormatError {
    pub template: String,
    pub message: String,
}

impl std::fmt::Display for FormatError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "bad --format template {:?}: {}",
            self.template, self.message
        )
    }
}

impl std::error::Error for FormatError {}

impl Format {
    /// Parses `source` with Go's rules and this module's functions.
    pub fn parse(source: &str, fields: Fields) -> Result<Format, FormatError> {
        let error = |message: String| FormatError {
            template: source.to_string(),
            message,
        };
        structure::check(source).map_err(error)?;
        let template = funcs::register(gotmpl::Template::new(""))
            .missing_key(match fields {
                Fields::Open => MissingKey::Invalid,
                Fields::Known => MissingKey::Error,
            })
            .parse(source)
            .map_err(|e| error(e.to_string()))?;
        Ok(Format {
            template,
            source: source.to_string(),
        })
    }

    /// The template's output for `data`.
    pub fn render(&self, data: &serde_json::Value) -> Result<String, FormatError> {
        self.template
            .execute_to_string(&value(data))
            .map_err(|e| FormatError {
                template: self.source.clone(),
                message: e.to_string(),
            })
    }
}

/// `format` rendered with `data`, unknown fields printing `<no value>`.
pub fn render(format: &str, data: &serde_json::Value) -> Result<String, FormatError> {
    Format::parse(format, Fields::Open)?.render(data)
}

/// JSON as the template sees it: integral numbers as ints, the others as floats.
fn value(v: &serde_json::Value) -> Value {
    use serde_json::Value as J;
    match v {
        J::Null => Value::Nil,
        J::Bool(b) => Value::Bool(*b),
        J::Number(n) => match n.as_i64() {
            Some(i) => Value::Int(i),
            None => Value::Float(n.as_f64().unwrap_or(f64::NAN)),
        },
        J::String(s) => Value::String(s.as_str().into()),
        J::Array(items) => Value::List(items.iter().map(value).collect()),
        J::Object(map) => Value::Map(Arc::new(
            map.iter()
                .map(|(k, v)| (Arc::from(k.as_str()), value(v)))
                .collect(),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn errors_name_the_template_and_the_problem() {
        let d = json!({"Name": "web"});
        let e = render("{{.Name", &d).unwrap_err();
        assert!(
            e.to_string()
                .starts_with("bad --format template \"{{.Name\": "),
            "{e}"
        );
        assert!(e.to_string().contains("unclosed action"), "{e}");
        let e = render("{{nosuch .Name}}", &d).unwrap_err();
        assert!(e.to_string().contains("nosuch"), "{e}");
        let e = Format::parse("{{.Nme}}", Fields::Known)
            .unwrap()
            .render(&d)
            .unwrap_err();
        assert!(e.to_string().contains("Nme"), "{e}");
        assert_eq!(render("{{.Nme}}", &d).unwrap(), "<no value>");
    }

    #[test]
    fn printf_is_gos_and_refuses_a_width_or_precision_too_large_for_it() {
        let d = json!({"Port": 2376, "F": 1.5, "Name": "web"});
        for (t, want) in [
            (r#"{{printf "%d/%s" .Port .Name}}"#, "2376/web"),
            (
                r#"{{printf "%-6s|%5.2f|%%|%x" .Name .F 255}}"#,
                "web   | 1.50|%|ff",
            ),
            (r#"{{printf "%*d" 6 .Port}}"#, "  2376"),
            (r#"{{printf "%*d|%d" 6 123456 1234567}}"#, "123456|1234567"),
            (r#"{{printf "%d%%%*d" 20000 3 7}}"#, "20000%  7"),
            (r#"{{printf "ü%sé%.3e" .Name .F}}"#, "üwebé1.500e+00"),
            (r#"{{printf "no verbs"}}"#, "no verbs"),
            (r#"{{.Port | printf "%05d"}}"#, "02376"),
        ] {
            assert_eq!(render(t, &d).unwrap(), want, "{t}");
        }
        // 65,535 reached Rust's float formatting, which panicked; the fuzzer found it
        for t in [
            r#"{{printf "%.65535e" .F}}"#,
            r#"{{printf "%.999991e999f" 11111111111111111.0}}"#,
            r#"{{printf "%s %.*g" .Name 70000 .F}}"#,
            r#"{{printf "é%10001d" .Port}}"#,
            r#"{{printf "%d%%%*d" 1 20000 7}}"#,
            r#"{{printf "%[2]*[1]d" 7 20000}}"#,
        ] {
            let e = render(t, &d).unwrap_err();
            assert!(e.to_string().contains("too large"), "{t}: {e}");
        }
    }
}
