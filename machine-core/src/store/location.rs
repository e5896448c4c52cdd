//! Where a store is, as the user writes it: a folder (the file store) or
//! `etcd://HOST:PORT[,HOST:PORT...]/PREFIX` (the etcd store). Any other `SCHEME://` is refused,
//! never taken for a folder.

use super::StoreError;
use std::path::PathBuf;

/// A parsed storage path.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Location {
    /// A folder of the local file system.
    Folder(PathBuf),
    /// An etcd cluster: its members (`HOST:PORT`) and the key prefix the store lives under.
    Etcd {
        /// The members, as given.
        endpoints: Vec<String>,
        /// The key prefix (no leading or trailing `/`), e.g. `team-a`.
        prefix: String,
    },
}

impl Location {
    /// Parses a storage path. A relative or absolute path is a folder; `etcd://` an etcd store;
    /// any other scheme is [`StoreError::BadLocation`].
    pub fn parse(text: &str) -> Result<Location, StoreError> {
        let bad = |reason: &str| StoreError::BadLocation {
            location: text.to_string(),
            reason: reason.to_string(),
        };
        let Some((scheme, rest)) = text.split_once("://") else {
            return Ok(Location::Folder(PathBuf::from(text)));
        };
        // a folder may contain "://" further on (`./a://b`): only a leading scheme counts
        let is_scheme = !scheme.is_empty()
            && scheme.starts_with(|c: char| c.is_ascii_alphabetic())
            && scheme
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
        if !is_scheme {
            return Ok(Location::Folder(PathBuf::from(text)));
        }
        match scheme.to_ascii_lowercase().as_str() {
            "file" => Ok(Location::Folder(PathBuf::from(rest))),
            "etcd" => {
                let (hosts, prefix) = rest.split_once('/').unwrap_or((rest, ""));
                let prefix = prefix.trim_matches('/');
                if prefix.is_empty() {
                    return Err(bad(
                        "a key prefix is needed: etcd://HOST:PORT[,HOST:PORT...]/PREFIX",
                    ));
                }
                let mut endpoints = Vec::new();
                for h in hosts.split(',') {
                    let ok = h.rsplit_once(':').is_some_and(|(host, port)| {
                        !host.is_empty() && port.parse::<u16>().is_ok()
                    });
                    if !ok || h.contains(['@', '?', '#', ' ']) {
                        return Err(bad(&format!("{h:?} is not HOST:PORT")));
                    }
                    endpoints.push(h.to_string());
                }
                Ok(Location::Etcd {
                    endpoints,
                    prefix: prefix.to_string(),
                })
            }
            other => Err(bad(&format!(
                "unknown scheme {other:?}: a folder, or etcd://HOST:PORT[,HOST:PORT...]/PREFIX"
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folders_etcd_and_unknown_schemes() {
        assert_eq!(
            Location::parse("/var/lib/m").unwrap(),
            Location::Folder("/var/lib/m".into())
        );
        assert_eq!(
            Location::parse("rel/a://b").unwrap(),
            Location::Folder("rel/a://b".into())
        );
        assert_eq!(
            Location::parse("etcd://10.0.0.1:2379,[::1]:2379/team-a/").unwrap(),
            Location::Etcd {
                endpoints: vec!["10.0.0.1:2379".into(), "[::1]:2379".into()],
                prefix: "team-a".into()
            }
        );
        for bad in [
            "etcd://h:2379",
            "etcd://h/p",
            "etcd://u@h:1/p",
            "etcd://h:1,/p",
            "s3://bucket/x",
            "consul://h:8500/p",
        ] {
            assert!(
                matches!(Location::parse(bad), Err(StoreError::BadLocation { .. })),
                "{bad}"
            );
        }
    }
}
