//! Text from outside (a host's `/etc/os-release`, a daemon's answers, a driver's progress and
//! errors, folder names in the store) made safe to show on a terminal: control characters
//! (escape sequences, `\r`, `\n`, C1 codes) and the bidirectional-text controls that reorder
//! what is shown are written as Rust escapes (`\u{1b}`, `\r`, `\n`), so such text can neither
//! repaint the screen nor forge a line. JSON output needs none of this: JSON escapes them.

use std::borrow::Cow;

/// Whether `c` would act on the terminal instead of being shown.
fn acts(c: char) -> bool {
    c.is_control() || matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

fn escape_into(out: &mut String, c: char) {
    out.extend(c.escape_default());
}

/// `text` as one line: every control character escaped, newlines included.
pub fn line(text: &str) -> Cow<'_, str> {
    if !text.chars().any(acts) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if acts(c) {
            escape_into(&mut out, c);
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// `text` (an error, whose message may quote several lines of a tool's output) as lines: every
/// control character but the newline escaped, and every line after the first indented, so no
/// line of it can pass for a line of the program's own.
pub fn block(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 8);
    for (i, l) in text.split('\n').enumerate() {
        if i > 0 {
            out.push('\n');
            if !l.starts_with("  ") {
                out.push_str("  ");
            }
        }
        out.push_str(&line(l));
    }
    out
}

/// Every string in `value` (keys included) as [`line()`] makes it: the values a `--format`
/// template shows.
pub fn values(value: &mut serde_json::Value) {
    use serde_json::Value;
    match value {
        Value::String(s) => {
            if let Cow::Owned(escaped) = line(s) {
                *s = escaped;
            }
        }
        Value::Array(items) => items.iter_mut().for_each(values),
        Value::Object(map) => {
            let old = std::mem::take(map);
            for (k, mut v) in old {
                values(&mut v);
                map.insert(line(&k).into_owned(), v);
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sequences_and_line_breaks_are_shown_not_acted_on() {
        assert_eq!(line("Debian GNU/Linux 12"), "Debian GNU/Linux 12");
        assert!(matches!(line("plain"), Cow::Borrowed(_)));
        assert_eq!(
            line("a\u{1b}[2J\rDocker is up and running!\nb\tc\u{9b}1m\u{7f}"),
            "a\\u{1b}[2J\\rDocker is up and running!\\nb\\tc\\u{9b}1m\\u{7f}"
        );
        // text that reads backwards on screen
        assert_eq!(line("x\u{202E}gnp.exe"), "x\\u{202e}gnp.exe");
        assert_eq!(line("zoë ✓"), "zoë ✓");
    }

    #[test]
    fn a_block_keeps_its_lines_but_none_passes_for_the_programs_own() {
        assert_eq!(
            block("failed:\n  E: no space\nDocker is up and running!\r\u{1b}[1A"),
            "failed:\n  E: no space\n  Docker is up and running!\\r\\u{1b}[1A"
        );
    }

    #[test]
    fn template_values_are_escaped_json_structure_is_kept() {
        let mut v = serde_json::json!({"Name": "a\u{1b}b", "List": ["\r"], "N": 1, "k\n": true});
        values(&mut v);
        assert_eq!(
            v,
            serde_json::json!({"Name": "a\\u{1b}b", "List": ["\\r"], "N": 1, "k\\n": true})
        );
    }
}
