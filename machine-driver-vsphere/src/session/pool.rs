//! The sessions of a driver process ([`SessionPool`]): one per vCenter and credentials. Every
//! call for every machine with the same endpoint, user, password and certificate trust shares
//! it, and a machine is never served with another's credentials.

use super::{trust, Session};
use crate::options::Config;
use crate::soap::Trust;
use driver_protocol::DriverError;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// What tells one vCenter session from another: the endpoint, the user, a digest of the
/// password, and how vCenter's certificate is trusted. Two machines share a session only when
/// all of these are equal.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct SessionKey {
    url: String,
    user: String,
    password_sha256: Vec<u8>,
    insecure: bool,
    ca_sha256: Option<Vec<u8>>,
    thumbprint: Option<String>,
}

impl SessionKey {
    fn new(cfg: &Config, trust: &Trust) -> SessionKey {
        let sha = |b: &[u8]| {
            ring::digest::digest(&ring::digest::SHA256, b)
                .as_ref()
                .to_vec()
        };
        SessionKey {
            url: cfg.base_url(),
            user: cfg.username.clone(),
            password_sha256: sha(cfg.password.expose().as_bytes()),
            insecure: trust.insecure,
            ca_sha256: trust.ca_pem.as_deref().map(sha),
            thumbprint: trust.thumbprint.clone(),
        }
    }
}

/// The sessions of one driver process: one per vCenter and credentials, made on first use and
/// reused by every later call, for any machine with the same credentials.
#[derive(Default)]
pub struct SessionPool {
    sessions: Mutex<HashMap<SessionKey, Arc<tokio::sync::OnceCell<Arc<Session>>>>>,
    logins: Arc<AtomicU64>,
}

impl SessionPool {
    /// The session for this config's vCenter and credentials: an existing one, or a new login
    /// (concurrent first calls wait for one login). A failed login is not kept.
    pub async fn session(&self, cfg: &Config) -> Result<Arc<Session>, DriverError> {
        let trust = trust(cfg)?;
        let key = SessionKey::new(cfg, &trust);
        let cell = self
            .sessions
            .lock()
            .unwrap()
            .entry(key.clone())
            .or_default()
            .clone();
        let made = cell
            .get_or_try_init(|| async {
                Session::connect(cfg, &trust, self.logins.clone())
                    .await
                    .map(Arc::new)
            })
            .await;
        match made {
            Ok(s) => Ok(s.clone()),
            Err(e) => {
                let mut sessions = self.sessions.lock().unwrap();
                if sessions
                    .get(&key)
                    .is_some_and(|c| Arc::ptr_eq(c, &cell) && c.get().is_none())
                {
                    sessions.remove(&key);
                }
                Err(e)
            }
        }
    }

    /// How many times this pool logged in (first logins and logins after an expiry).
    pub fn logins(&self) -> u64 {
        self.logins.load(Ordering::Relaxed)
    }

    /// How many sessions are open.
    pub fn len(&self) -> usize {
        self.open().len()
    }

    /// Whether no session is open.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn open(&self) -> Vec<Arc<Session>> {
        self.sessions
            .lock()
            .unwrap()
            .values()
            .filter_map(|c| c.get().cloned())
            .collect()
    }

    /// Logs every session out (best effort, a few seconds at most) and forgets them.
    pub async fn logout_all(&self) {
        let open = self.open();
        self.sessions.lock().unwrap().clear();
        let all = async {
            for s in open {
                s.logout().await;
            }
        };
        let _ = tokio::time::timeout(Duration::from_secs(5), all).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn cfg(user: &str, password: &str, insecure: bool) -> Config {
        use driver_protocol::DriverOptions;
        let o = crate::VsphereDriver::info().with_defaults(driver_protocol::Options::from(
            json!({"vmwarevsphere-vcenter": "vc.example", "vmwarevsphere-username": user,
                   "vmwarevsphere-password": password, "vmwarevsphere-insecure": insecure})
            .as_object()
            .unwrap()
            .clone(),
        ));
        let o = crate::options::VsphereOptions::from_options(&o).unwrap();
        Config::new(o, "m", false).unwrap()
    }

    fn key(c: &Config) -> SessionKey {
        SessionKey::new(c, &trust(c).unwrap())
    }

    #[test]
    fn sessions_are_shared_only_with_the_same_credentials() {
        let a = cfg("alice", "pw", false);
        let mut other_machine = cfg("alice", "pw", false);
        other_machine.vm_name = "another".into();
        assert_eq!(key(&a), key(&other_machine), "machines share a session");
        assert_ne!(key(&a), key(&cfg("bob", "pw", false)), "another user");
        assert_ne!(
            key(&a),
            key(&cfg("alice", "pw2", false)),
            "another password"
        );
        assert_ne!(key(&a), key(&cfg("alice", "pw", true)), "another trust");
        let mut port = cfg("alice", "pw", false);
        port.port = 8443;
        assert_ne!(key(&a), key(&port), "another endpoint");
        assert!(
            !format!("{:?}", key(&a)).contains("pw"),
            "the key holds a digest, not the password"
        );
    }
}
