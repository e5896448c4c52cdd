//! The block structure of a template, checked as Go's parser checks it: every `{{if}}`,
//! `{{range}}`, `{{with}}`, `{{define}}` and `{{block}}` closed by an `{{end}}`, `{{else}}` only
//! inside `if`, `with` and `range` (once, last), `{{break}}` and `{{continue}}` only inside
//! `range`, `{{define}}` only at the top. The gotmpl crate accepts these mistakes silently (a
//! stray `{{else}}` there ends the template), so they are caught here first.

/// Where an action opens, and its first word.
struct Action<'a> {
    line: usize,
    word: &'a str,
    /// The word after `else` (`if` in `{{else if ...}}`).
    second: &'a str,
}

/// One open block: its keyword, and whether it had a plain `{{else}}`.
struct Open<'a> {
    word: &'a str,
    line: usize,
    plain_else: bool,
}

pub fn check(src: &str) -> Result<(), String> {
    let mut open: Vec<Open> = Vec::new();
    for a in actions(src) {
        let fail = |what: String| Err(format!("template: :{}: {what}", a.line));
        match a.word {
            "if" | "range" | "with" | "block" => open.push(Open {
                word: a.word,
                line: a.line,
                plain_else: false,
            }),
            "define" if open.is_empty() => open.push(Open {
                word: a.word,
                line: a.line,
                plain_else: false,
            }),
            "define" => return fail("unexpected {{define}} inside a block".into()),
            // the guard closes the innermost block
            "end" if open.pop().is_none() => return fail("unexpected {{end}}".into()),
            "end" => {}
            "else" => match open.last_mut() {
                Some(o) if matches!(o.word, "if" | "with" | "range") && !o.plain_else => {
                    let chained = matches!(a.second, "if" | "with");
                    if chained && (o.word == "range" || a.second != o.word) {
                        return fail(format!(
                            "unexpected {{{{else {}}}}} in {{{{{}}}}}",
                            a.second, o.word
                        ));
                    }
                    o.plain_else = !chained;
                }
                Some(o) if o.plain_else => {
                    return fail(format!(
                        "expected {{{{end}}}}; found {{{{else}}}} in {{{{{}}}}}",
                        o.word
                    ))
                }
                _ => return fail("unexpected {{else}}".into()),
            },
            "break" | "continue" if !open.iter().any(|o| o.word == "range") => {
                return fail(format!("{{{{{}}}}} outside {{{{range}}}}", a.word));
            }
            _ => {}
        }
    }
    match open.last() {
        Some(o) => Err(format!(
            "template: :{}: unexpected EOF: {{{{{}}}}} has no {{{{end}}}}",
            o.line, o.word
        )),
        None => Ok(()),
    }
}

/// The actions of `src` with their first words, skipping text, comments, and quoted strings
/// inside actions. Anything malformed past this point is left to the parser to report.
fn actions(src: &str) -> Vec<Action<'_>> {
    let mut out = Vec::new();
    let mut rest = src;
    while let Some(start) = rest.find("{{") {
        let line = 1 + src[..src.len() - rest.len() + start].matches('\n').count();
        let mut body = &rest[start + 2..];
        if let Some(trimmed) = body.strip_prefix('-') {
            if trimmed.starts_with([' ', '\t', '\r', '\n']) {
                body = trimmed;
            }
        }
        let inner = body.trim_start_matches([' ', '\t', '\r', '\n']);
        if let Some(comment) = inner.strip_prefix("/*") {
            let Some(end) = comment.find("*/") else { break };
            let after = &comment[end + 2..];
            let Some(close) = after.find("}}") else { break };
            rest = &after[close + 2..];
            continue;
        }
        let word = |s: &'_ str| -> usize {
            s.find(|c: char| !(c.is_alphanumeric() || c == '_'))
                .unwrap_or(s.len())
        };
        let w = word(inner);
        let after_word = inner[w..].trim_start_matches([' ', '\t', '\r', '\n']);
        let second = &after_word[..word(after_word)];
        out.push(Action {
            line,
            word: &inner[..w],
            second,
        });
        match action_end(inner) {
            Some(end) => rest = &inner[end..],
            None => break,
        }
    }
    out
}

/// The offset just past the `}}` closing the action that `s` starts, quotes skipped.
fn action_end(s: &str) -> Option<usize> {
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            q @ (b'"' | b'\'') => {
                i += 1;
                while i < b.len() && b[i] != q {
                    i += if b[i] == b'\\' { 2 } else { 1 };
                }
            }
            b'`' => {
                i += 1;
                while i < b.len() && b[i] != b'`' {
                    i += 1;
                }
            }
            b'}' if b.get(i + 1) == Some(&b'}') => return Some(i + 2),
            _ => {}
        }
        i += 1;
    }
    None
}
