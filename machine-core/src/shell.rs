//! Quoting for the POSIX shell: the one function every command sent to a host goes through.

/// Quotes `word` for a POSIX shell: unchanged when it holds only plainly safe characters, else
/// in single quotes (with `'` written as `'\''`).
pub fn quote(word: &str) -> String {
    let safe = !word.is_empty()
        && word
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "@%+=:,./_-".contains(c));
    if safe {
        word.to_string()
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::quote;

    #[test]
    fn quoting() {
        assert_eq!(quote("/etc/docker/ca.pem"), "/etc/docker/ca.pem");
        assert_eq!(quote("a b"), "'a b'");
        assert_eq!(quote("it's"), r"'it'\''s'");
        assert_eq!(quote(""), "''");
        assert_eq!(quote("$(touch x)"), "'$(touch x)'");
    }
}
