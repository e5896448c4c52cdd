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

#[cfg(test)]
mod tests {
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
