//! The part of Go's text/template that scripts use with `ls --format` and `inspect --format`:
//! `{{.Field}}`, `{{.A.B}}`, `{{.}}` and `{{json .A}}`, plus `\t` and `\n` escapes.

use serde_json::Value;

/// Renders `tpl` against `data`. Unknown fields render as `<no value>`, as Go's templates do.
pub fn render(tpl: &str, data: &Value) -> Result<String, String> {
    let tpl = tpl.replace("\\t", "\t").replace("\\n", "\n");
    let mut out = String::new();
    let mut rest = tpl.as_str();
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let end = after
            .find("}}")
            .ok_or_else(|| format!("template {tpl:?}: unclosed {{{{"))?;
        out.push_str(&action(after[..end].trim(), data, &tpl)?);
        rest = &after[end + 2..];
    }
    out.push_str(rest);
    Ok(out)
}

fn action(expr: &str, data: &Value, tpl: &str) -> Result<String, String> {
    let (json, path) = match expr.strip_prefix("json ") {
        Some(p) => (true, p.trim()),
        None => (false, expr),
    };
    if !path.starts_with('.') {
        return Err(format!(
            "template {tpl:?}: unsupported action {{{{{expr}}}}}: use {{{{.Field}}}}, {{{{.A.B}}}} or {{{{json .A}}}}"
        ));
    }
    let mut v = data;
    for part in path.split('.').filter(|p| !p.is_empty()) {
        match v.get(part) {
            Some(next) => v = next,
            None => return Ok("<no value>".into()),
        }
    }
    Ok(if json {
        v.to_string()
    } else {
        match v {
            Value::String(s) => s.clone(),
            Value::Null => "<nil>".into(),
            Value::Array(items) => format!(
                "[{}]",
                items
                    .iter()
                    .map(|i| match i {
                        Value::String(s) => s.clone(),
                        other => other.to_string(),
                    })
                    .collect::<Vec<_>>()
                    .join(" ")
            ),
            other => other.to_string(),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn fields_paths_json_and_escapes() {
        let d = json!({"Name": "web", "Driver": {"IPAddress": "192.0.2.1", "SSHPort": 22}, "L": ["a", "b"]});
        assert_eq!(
            render("{{.Name}} {{ .Driver.IPAddress }}", &d).unwrap(),
            "web 192.0.2.1"
        );
        assert_eq!(render("{{.Driver.SSHPort}}", &d).unwrap(), "22");
        assert_eq!(
            render("{{json .Driver}}", &d).unwrap(),
            r#"{"IPAddress":"192.0.2.1","SSHPort":22}"#
        );
        assert_eq!(render("{{.Name}}\\t{{.L}}", &d).unwrap(), "web\t[a b]");
        assert_eq!(render("{{.Nope}}", &d).unwrap(), "<no value>");
        assert!(render("{{.Name", &d).is_err());
        assert!(render("{{range .L}}", &d).is_err());
    }
}
