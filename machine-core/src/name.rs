//! The one machine-name check, run before anything is made or any driver is called.

use crate::error::{Error, Result};

/// Machine names are host names: letters, digits, dots and dashes, starting with a letter or
/// digit, at most 63 characters (Docker Machine's rule, plus the length a host name allows).
/// Every provisioner accepts such a name as the host name, so a name that passes here never
/// fails later.
pub fn validate_name(name: &str) -> Result<()> {
    if is_valid_name(name) {
        Ok(())
    } else {
        Err(Error::InvalidName(name.to_string()))
    }
}

/// Whether `name` passes [`validate_name`]: dot-separated labels of letters, digits and dashes,
/// no label empty or starting or ending with a dash, at most 63 characters in all.
pub fn is_valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 63
        && name.split('.').all(|label| {
            !label.is_empty()
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        })
}

/// Docker Machine's order of names: case-insensitive, and runs of digits compared as numbers
/// (`web2` before `web10`); names equal that way keep a stable order by their bytes.
pub fn natural_cmp(a: &str, b: &str) -> std::cmp::Ordering {
    use std::cmp::Ordering;
    let (mut x, mut y) = (a.as_bytes(), b.as_bytes());
    loop {
        match (x.first(), y.first()) {
            (None, None) => return a.cmp(b),
            (None, Some(_)) => return Ordering::Less,
            (Some(_), None) => return Ordering::Greater,
            (Some(c), Some(d)) if c.is_ascii_digit() && d.is_ascii_digit() => {
                let n = x.iter().take_while(|c| c.is_ascii_digit()).count();
                let m = y.iter().take_while(|c| c.is_ascii_digit()).count();
                let (p, q) = (&x[..n], &y[..m]);
                let trim = |s: &[u8]| -> usize { s.iter().take_while(|&&c| c == b'0').count() };
                let (p, q) = (&p[trim(p)..], &q[trim(q)..]);
                let by_value = p.len().cmp(&q.len()).then_with(|| p.cmp(q));
                if by_value != Ordering::Equal {
                    return by_value;
                }
                (x, y) = (&x[n..], &y[m..]);
            }
            (Some(c), Some(d)) => {
                let by_letter = c.to_ascii_lowercase().cmp(&d.to_ascii_lowercase());
                if by_letter != Ordering::Equal {
                    return by_letter;
                }
                (x, y) = (&x[1..], &y[1..]);
            }
        }
    }
}

#[cfg(test)]
mod tests {

    #[test]
    fn names_sort_naturally_and_without_case() {
        let mut names = vec!["web10", "Web2", "db", "web1", "web02", "API", "web2"];
        names.sort_by(|a, b| natural_cmp(a, b));
        assert_eq!(
            names,
            ["API", "db", "web1", "Web2", "web02", "web2", "web10"]
        );
    }

    use super::*;

    #[test]
    fn names() {
        for good in ["a", "web-1", "db.prod", "X9"] {
            validate_name(good).unwrap();
        }
        for bad in [
            "",
            "-a",
            ".a",
            "a_b",
            "a b",
            "a/b",
            "..",
            "a..b",
            "a-",
            "a.",
            "a.-b",
            &"a".repeat(64),
            "ü",
        ] {
            assert!(validate_name(bad).is_err(), "{bad:?}");
        }
    }
}
