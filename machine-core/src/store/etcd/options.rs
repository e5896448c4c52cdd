//! How to reach an etcd store: its members, TLS, login, the store key and the cache folder,
//! from the environment.

use super::StoreKey;
use crate::store::StoreError;
use std::path::PathBuf;

/// How to reach the cluster and what to seal with. Its `Debug` hides the password.
#[non_exhaustive]
pub struct EtcdOptions {
    /// The members, `HOST:PORT`.
    pub endpoints: Vec<String>,
    /// The key prefix the store lives under.
    pub prefix: String,
    /// CA certificate file that signed the members' certificates (TLS when set).
    pub ca_cert: Option<PathBuf>,
    /// Client certificate and key files, for clusters that ask for one.
    pub client_cert: Option<(PathBuf, PathBuf)>,
    /// User and password, for clusters with authentication on.
    pub user: Option<(String, String)>,
    /// The store key; `None` leaves secrets unreadable (and unwritable).
    pub store_key: Option<StoreKey>,
    /// Where exported files are cached (per user, 0700).
    pub cache_dir: PathBuf,
    /// Seconds a crashed lock holder's lock outlives it.
    pub lease_ttl: i64,
}

impl std::fmt::Debug for EtcdOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EtcdOptions")
            .field("endpoints", &self.endpoints)
            .field("prefix", &self.prefix)
            .field("ca_cert", &self.ca_cert)
            .field("client_cert", &self.client_cert)
            .field("user", &self.user.as_ref().map(|(u, _)| (u, "<hidden>")))
            .field("store_key", &self.store_key)
            .field("cache_dir", &self.cache_dir)
            .field("lease_ttl", &self.lease_ttl)
            .finish()
    }
}

impl EtcdOptions {
    /// The options for `endpoints` and `prefix` from the environment:
    /// `MACHINE_ETCD_CACERT`, `MACHINE_ETCD_CERT` + `MACHINE_ETCD_KEY`, `MACHINE_ETCD_USER` with
    /// `MACHINE_ETCD_PASSWORD` or `MACHINE_ETCD_PASSWORD_FILE`, `MACHINE_STORE_KEY` or
    /// `MACHINE_STORE_KEY_FILE`, `MACHINE_ETCD_LEASE_TTL` (seconds, default 10); the cache in
    /// `$XDG_CACHE_HOME/machine` (`~/.cache/machine`).
    pub fn from_env(endpoints: Vec<String>, prefix: String) -> Result<EtcdOptions, StoreError> {
        let var = |n: &str| std::env::var(n).ok().filter(|v| !v.is_empty());
        let location = format!("etcd://{}/{prefix}", endpoints.join(","));
        let unusable = |reason: String| StoreError::Unusable {
            location: location.clone(),
            reason,
        };
        let client_cert = match (var("MACHINE_ETCD_CERT"), var("MACHINE_ETCD_KEY")) {
            (Some(c), Some(k)) => Some((c.into(), k.into())),
            (None, None) => None,
            _ => {
                return Err(unusable(
                    "MACHINE_ETCD_CERT and MACHINE_ETCD_KEY go together: set both or neither"
                        .into(),
                ))
            }
        };
        let password = match (
            var("MACHINE_ETCD_PASSWORD"),
            var("MACHINE_ETCD_PASSWORD_FILE"),
        ) {
            (Some(p), _) => Some(p),
            (None, Some(f)) => Some(
                std::fs::read_to_string(&f)
                    .map_err(|e| {
                        unusable(format!("cannot read MACHINE_ETCD_PASSWORD_FILE {f}: {e}"))
                    })?
                    .trim_end_matches(['\n', '\r'])
                    .to_string(),
            ),
            (None, None) => None,
        };
        let user = match (var("MACHINE_ETCD_USER"), password) {
            (Some(u), Some(p)) => Some((u, p)),
            (None, None) => None,
            (Some(_), None) => {
                return Err(unusable(
                    "MACHINE_ETCD_USER needs MACHINE_ETCD_PASSWORD or MACHINE_ETCD_PASSWORD_FILE"
                        .into(),
                ))
            }
            (None, Some(_)) => return Err(unusable("a password without MACHINE_ETCD_USER".into())),
        };
        let store_key = StoreKey::from_env().map_err(|e| unusable(e.to_string()))?;
        let lease_ttl = match var("MACHINE_ETCD_LEASE_TTL") {
            Some(t) => t
                .parse::<i64>()
                .ok()
                .filter(|t| (2..=3600).contains(t))
                .ok_or_else(|| {
                    unusable(format!(
                        "MACHINE_ETCD_LEASE_TTL {t:?} is not 2..3600 seconds"
                    ))
                })?,
            None => 10,
        };
        let cache_root = match var("XDG_CACHE_HOME") {
            Some(c) => PathBuf::from(c),
            None => PathBuf::from(var("HOME").unwrap_or_else(|| "/".into())).join(".cache"),
        };
        let cache_dir = cache_root
            .join("machine")
            .join(format!("etcd-{}", short_hash(&location)));
        Ok(EtcdOptions {
            endpoints,
            prefix,
            ca_cert: var("MACHINE_ETCD_CACERT").map(PathBuf::from),
            client_cert,
            user,
            store_key,
            cache_dir,
            lease_ttl,
        })
    }
}

fn short_hash(text: &str) -> String {
    let d = ring::digest::digest(&ring::digest::SHA256, text.as_bytes());
    d.as_ref()[..8].iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_output_hides_the_password() {
        let o = EtcdOptions {
            endpoints: vec!["127.0.0.1:2379".into()],
            prefix: "team".into(),
            ca_cert: None,
            client_cert: None,
            user: Some(("nick".into(), "s3cret-pass".into())),
            store_key: None,
            cache_dir: PathBuf::from("/tmp/c"),
            lease_ttl: 10,
        };
        let shown = format!("{o:?}");
        assert!(
            shown.contains("nick") && shown.contains("127.0.0.1:2379"),
            "{shown}"
        );
        assert!(!shown.contains("s3cret-pass"), "{shown}");
    }
}
