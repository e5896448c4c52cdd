//! `/etc/os-release` (os-release(5)): which operating system a host runs.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// The fields of os-release that pick a provisioner, plus every field as read.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct OsRelease {
    /// `ID`, lower case, e.g. `debian`; `linux` when absent, as os-release(5) says.
    pub id: String,
    /// `ID_LIKE`, split on white space, e.g. `["rhel", "centos", "fedora"]`.
    pub id_like: Vec<String>,
    /// `VERSION_ID`, e.g. `12`, `22.04`; empty when absent (rolling releases).
    pub version_id: String,
    /// `VERSION_CODENAME` (or `UBUNTU_CODENAME`), e.g. `bookworm`; empty when absent.
    pub version_codename: String,
    /// `PRETTY_NAME`, e.g. `Debian GNU/Linux 12 (bookworm)`; `Linux` when absent.
    pub pretty_name: String,
    /// Every assignment of the file, unquoted.
    pub fields: BTreeMap<String, String>,
}

impl OsRelease {
    /// Parses the text of an os-release file. Never fails: comments, blank and malformed lines
    /// are skipped, as os-release(5) asks of readers.
    pub fn parse(text: &str) -> OsRelease {
        let mut fields = BTreeMap::new();
        for line in text.lines() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let Some((key, raw)) = line.split_once('=') else {
                continue;
            };
            let key = key.trim();
            if key.is_empty() || !key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                continue;
            }
            fields.insert(key.to_string(), unquote(raw.trim()));
        }
        let get = |k: &str| fields.get(k).cloned().unwrap_or_default();
        let id = match get("ID").to_ascii_lowercase() {
            s if s.is_empty() => "linux".to_string(),
            s => s,
        };
        let id_like = get("ID_LIKE")
            .split_whitespace()
            .map(|s| s.to_ascii_lowercase())
            .collect();
        let version_codename = match get("VERSION_CODENAME") {
            s if s.is_empty() => get("UBUNTU_CODENAME"),
            s => s,
        };
        let pretty_name = match get("PRETTY_NAME") {
            s if s.is_empty() => match get("NAME") {
                n if n.is_empty() => "Linux".to_string(),
                n => n,
            },
            s => s,
        };
        OsRelease {
            id,
            id_like,
            version_id: get("VERSION_ID"),
            version_codename,
            pretty_name,
            fields: fields.clone(),
        }
    }

    /// `ID` then each `ID_LIKE`, the order in which provisioners are looked up.
    pub fn ids(&self) -> impl Iterator<Item = &str> {
        std::iter::once(self.id.as_str()).chain(self.id_like.iter().map(|s| s.as_str()))
    }

    /// E.g. `debian 12 (bookworm)`, for messages.
    pub fn short(&self) -> String {
        let mut s = self.id.clone();
        if !self.version_id.is_empty() {
            s.push(' ');
            s.push_str(&self.version_id);
        }
        if !self.version_codename.is_empty() {
            s.push_str(&format!(" ({})", self.version_codename));
        }
        s
    }
}

/// Undoes shell-style quoting: `"..."` with `\"`, `\\`, `\$`, `` \` `` escapes, `'...'` taken
/// literally, bare words with `\` escapes; adjacent quoted parts are concatenated.
fn unquote(raw: &str) -> String {
    let mut out = String::new();
    let mut chars = raw.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' => {
                while let Some(c) = chars.next() {
                    match c {
                        '"' => break,
                        '\\' => match chars.peek() {
                            Some(&n) if "\"\\$`".contains(n) => {
                                out.push(n);
                                chars.next();
                            }
                            _ => out.push('\\'),
                        },
                        c => out.push(c),
                    }
                }
            }
            '\'' => {
                for c in chars.by_ref() {
                    if c == '\'' {
                        break;
                    }
                    out.push(c);
                }
            }
            '\\' => {
                if let Some(n) = chars.next() {
                    out.push(n);
                }
            }
            // an unquoted comment after a value
            c if c.is_whitespace() => break,
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting_rules() {
        let os = OsRelease::parse(
            "# comment\n\
             ID=debian\n\
             NAME=\"Debian \\\"GNU\\\"/Linux \\$x \\\\ \\n\"\n\
             VERSION='12 (bookworm) \"x\"'\n\
             ID_LIKE=\"Rhel  fedora\"\n\
             BARE=a\\ b\n\
             BROKEN LINE\n\
             =novalue\n\
             \n\
             VERSION_ID=\"12\"\n",
        );
        assert_eq!(os.id, "debian");
        assert_eq!(os.fields["NAME"], "Debian \"GNU\"/Linux $x \\ \\n");
        assert_eq!(os.fields["VERSION"], "12 (bookworm) \"x\"");
        assert_eq!(os.fields["BARE"], "a b");
        assert_eq!(os.id_like, ["rhel", "fedora"]);
        assert_eq!(os.version_id, "12");
        assert_eq!(os.pretty_name, "Debian \"GNU\"/Linux $x \\ \\n");
        assert_eq!(os.fields.len(), 6);
    }

    #[test]
    fn empty_file_defaults() {
        let os = OsRelease::parse("");
        assert_eq!(os.id, "linux");
        assert_eq!(os.pretty_name, "Linux");
        assert!(os.id_like.is_empty());
        assert_eq!(os.short(), "linux");
    }

    #[test]
    fn ubuntu_codename_fallback() {
        let os = OsRelease::parse("ID=ubuntu\nUBUNTU_CODENAME=jammy\nVERSION_ID=\"22.04\"\n");
        assert_eq!(os.version_codename, "jammy");
        assert_eq!(os.short(), "ubuntu 22.04 (jammy)");
        assert_eq!(os.ids().collect::<Vec<_>>(), ["ubuntu"]);
    }
}
