//! The functions `--format` templates have besides Go's built-ins: Docker Machine's `json`
//! (Go's `json.Marshal`: sorted keys, `<>&` escaped) and `prettyjson` (`json.MarshalIndent`,
//! four spaces), and docker's `split`, `join`, `title`, `lower`, `upper` (Go's `strings`
//! functions; `join` takes a list of strings). `printf` is Go's, refusing a width or precision
//! over [`MAX_FMT_LEN`].

use gotmpl::{TemplateError, Value};

pub fn register(t: gotmpl::Template) -> gotmpl::Template {
    t.func("json", |a| {
        let [v] = args("json", a)?;
        Ok(Value::String(go_json(v, None)?.into()))
    })
    .func("prettyjson", |a| {
        let [v] = args("prettyjson", a)?;
        Ok(Value::String(go_json(v, Some("    "))?.into()))
    })
    .func("split", |a| {
        let [s, sep] = args("split", a)?;
        let (s, sep) = (string("split", s)?, string("split", sep)?);
        let parts: Vec<Value> = if sep.is_empty() {
            s.chars()
                .map(|c| Value::String(c.to_string().into()))
                .collect()
        } else {
            s.split(sep).map(|p| Value::String(p.into())).collect()
        };
        Ok(Value::List(parts.into()))
    })
    .func("join", |a| {
        let [list, sep] = args("join", a)?;
        let sep = string("join", sep)?;
        let Value::List(items) = list else {
            return Err(exec(format!("join: {} is not a list", list.type_name())));
        };
        let parts = items
            .iter()
            .map(|i| string("join", i))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Value::String(parts.join(sep).into()))
    })
    .func("title", |a| {
        let [s] = args("title", a)?;
        Ok(Value::String(title(string("title", s)?).into()))
    })
    .func("lower", |a| {
        let [s] = args("lower", a)?;
        Ok(Value::String(
            map_chars(string("lower", s)?, |c| c.to_lowercase()).into(),
        ))
    })
    .func("upper", |a| {
        let [s] = args("upper", a)?;
        Ok(Value::String(
            map_chars(string("upper", s)?, |c| c.to_uppercase()).into(),
        ))
    })
    .func("printf", printf)
}

/// The largest width or precision `printf` takes. gotmpl passes up to 65,535 on to Rust's float
/// formatting, which panics at that size (`%.65535e`); Go prints any up to a million. No
/// template needs more than a few dozen.
pub const MAX_FMT_LEN: usize = 10_000;

/// Go's `printf` (gotmpl's), once no width or precision in the format exceeds [`MAX_FMT_LEN`].
fn printf(a: &[Value]) -> Result<Value, TemplateError> {
    if let Some(Value::String(format)) = a.first() {
        check_fmt_lens(format, &a[1..])?;
    }
    // gotmpl's own printf, reached through a template calling it with the arguments
    thread_local! {
        static CALLS: std::cell::RefCell<std::collections::HashMap<usize, gotmpl::Template>> =
            Default::default();
    }
    CALLS.with(|calls| {
        let mut calls = calls.borrow_mut();
        let call = match calls.entry(a.len()) {
            std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
            std::collections::hash_map::Entry::Vacant(e) => {
                let operands: String = (0..a.len()).map(|i| format!(" (index . {i})")).collect();
                e.insert(
                    gotmpl::Template::new("printf")
                        .parse(&format!("{{{{printf{operands}}}}}"))
                        .map_err(|e| exec(format!("printf: {e}")))?,
                )
            }
        };
        let out = call
            .execute_to_string(&Value::List(a.to_vec().into()))
            .map_err(|e| exec(e.to_string()))?;
        Ok(Value::String(out.into()))
    })
}

/// Every width and precision in `format` (digits, or `*` taking an int argument) is at most
/// [`MAX_FMT_LEN`].
fn check_fmt_lens(format: &str, args: &[Value]) -> Result<(), TemplateError> {
    let too_large = |n: String| {
        exec(format!(
            "printf: width or precision {n} is too large (at most {MAX_FMT_LEN})"
        ))
    };
    let check_int = |a: Option<&Value>| match a {
        Some(Value::Int(n)) if n.unsigned_abs() > MAX_FMT_LEN as u64 => {
            Err(too_large(n.to_string()))
        }
        _ => Ok(()),
    };
    // the argument the next `*` or verb takes; with an explicit `[n]` Go's order is not
    // followed here, and every int argument is checked instead
    let (mut next, mut indexed) = (0, false);
    let mut rest = format;
    while let Some(i) = rest.find('%') {
        let directive: &str = rest[i + 1..]
            .split(|c: char| !"+-# 0123456789.*[]".contains(c))
            .next()
            .unwrap_or("");
        indexed |= directive.contains('[');
        for digits in directive
            .split(|c: char| !c.is_ascii_digit())
            .filter(|d| !d.is_empty())
        {
            if digits.len() > 5 || digits.parse::<usize>().is_ok_and(|n| n > MAX_FMT_LEN) {
                return Err(too_large(digits.to_string()));
            }
        }
        for _ in directive.matches('*') {
            check_int(args.get(next))?;
            next += 1;
        }
        rest = &rest[i + 1 + directive.len()..];
        // past the verb, which takes an argument unless it is the second `%` of `%%`
        let mut chars = rest.chars();
        if chars.next().is_some_and(|verb| verb != '%') {
            next += 1;
        }
        rest = chars.as_str();
    }
    if indexed {
        args.iter().try_for_each(|a| check_int(Some(a)))?;
    }
    Ok(())
}

fn exec(message: String) -> TemplateError {
    TemplateError::Exec(message)
}

/// Exactly `N` arguments, as Go checks a function's arity.
fn args<'a, const N: usize>(name: &str, a: &'a [Value]) -> Result<&'a [Value; N], TemplateError> {
    a.try_into().map_err(|_| {
        exec(format!(
            "wrong number of args for {name}: want {N} got {}",
            a.len()
        ))
    })
}

fn string<'a>(name: &str, v: &'a Value) -> Result<&'a str, TemplateError> {
    match v {
        Value::String(s) => Ok(s),
        Value::Nil => Err(exec(format!("{name}: expected a string, got no value"))),
        other => Err(exec(format!(
            "{name}: expected a string, got {}",
            other.type_name()
        ))),
    }
}

/// Go's `strings.ToUpper`/`ToLower`: each character mapped on its own (no `ß` -> `SS`).
fn map_chars<I: Iterator<Item = char> + ExactSizeIterator>(
    s: &str,
    f: impl Fn(char) -> I,
) -> String {
    s.chars()
        .map(|c| {
            let mut m = f(c);
            match (m.len(), m.next()) {
                (1, Some(one)) => one,
                _ => c,
            }
        })
        .collect()
}

/// Go's `strings.Title`: the first letter of each word upper-cased.
fn title(s: &str) -> String {
    let separator = |c: char| {
        if c.is_ascii() {
            !(c.is_ascii_alphanumeric() || c == '_')
        } else {
            !c.is_alphanumeric() && c.is_whitespace()
        }
    };
    let mut prev = ' ';
    s.chars()
        .map(|c| {
            let out = if separator(prev) {
                map_chars(c.encode_utf8(&mut [0; 4]), |c| c.to_uppercase())
            } else {
                c.to_string()
            };
            prev = c;
            out
        })
        .collect()
}

/// Go's `json.Marshal` (with `indent`: `json.MarshalIndent(v, "", indent)`).
fn go_json(v: &Value, indent: Option<&str>) -> Result<String, TemplateError> {
    let mut out = String::new();
    write_json(v, indent, 0, &mut out)?;
    Ok(out)
}

fn write_json(
    v: &Value,
    indent: Option<&str>,
    depth: usize,
    out: &mut String,
) -> Result<(), TemplateError> {
    let newline = |out: &mut String, depth: usize| {
        if let Some(i) = indent {
            out.push('\n');
            out.push_str(&i.repeat(depth));
        }
    };
    match v {
        Value::Nil => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Int(i) => out.push_str(&i.to_string()),
        Value::Uint(u) => out.push_str(&u.to_string()),
        Value::Float(f) => out.push_str(&go_json_float(*f)?),
        Value::String(s) => go_json_string(s, out),
        Value::List(items) if items.is_empty() => out.push_str("[]"),
        Value::List(items) => {
            out.push('[');
            for (n, item) in items.iter().enumerate() {
                if n > 0 {
                    out.push(',');
                }
                newline(out, depth + 1);
                write_json(item, indent, depth + 1, out)?;
            }
            newline(out, depth);
            out.push(']');
        }
        Value::Map(map) if map.is_empty() => out.push_str("{}"),
        Value::Map(map) => {
            out.push('{');
            for (n, (k, item)) in map.iter().enumerate() {
                if n > 0 {
                    out.push(',');
                }
                newline(out, depth + 1);
                go_json_string(k, out);
                out.push(':');
                if indent.is_some() {
                    out.push(' ');
                }
                write_json(item, indent, depth + 1, out)?;
            }
            newline(out, depth);
            out.push('}');
        }
        Value::Function(_) => return Err(exec("json: cannot encode a function".into())),
    }
    Ok(())
}

/// Go's float encoding: plain decimals, exponents below 1e-6 and from 1e21 (`1e+21`, `1e-7`).
fn go_json_float(f: f64) -> Result<String, TemplateError> {
    if !f.is_finite() {
        return Err(exec(format!("json: unsupported value: {f}")));
    }
    let abs = f.abs();
    if abs == 0.0 || (1e-6..1e21).contains(&abs) {
        return Ok(format!("{f}"));
    }
    let e = format!("{f:e}");
    Ok(match e.split_once('e') {
        Some((mantissa, exp)) if !exp.starts_with('-') => format!("{mantissa}e+{exp}"),
        _ => e,
    })
}

/// A JSON string as Go writes it: `<`, `>`, `&`, U+2028, U+2029 and control characters as
/// `\u00XX`, except `\n`, `\r`, `\t`.
fn go_json_string(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '<' | '>' | '&' | '\u{2028}' | '\u{2029}' => {
                out.push_str(&format!("\\u{:04x}", c as u32))
            }
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
}
