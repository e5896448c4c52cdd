//! SSH host keys: which key a connection accepts ([`Accept`], from a [`HostKeyCheck`]), the key a
//! host presents read without logging in ([`scan_host_key`]), fingerprints as `ssh-keygen -l`
//! shows them, and known_hosts lines for the system `ssh`.

use super::{addr, classify, client_config, tcp_connect, Client, HostKeyCheck, SshError};
use russh::keys::{HashAlg, PublicKey};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Which host key the handler accepts.
#[derive(Clone)]
pub(super) enum Accept {
    /// Any (recorded on first contact).
    Any,
    /// Exactly this one.
    Key(PublicKey),
    /// The one with this SHA256 fingerprint.
    Fingerprint(String),
    /// None: the key is only read ([`scan_host_key`]).
    Nothing,
}

impl Accept {
    pub(super) fn from_check(check: &HostKeyCheck) -> Result<Accept, SshError> {
        Ok(match check {
            HostKeyCheck::Record => Accept::Any,
            HostKeyCheck::Fingerprint(fp) => Accept::Fingerprint(check_fingerprint(fp)?),
            HostKeyCheck::Expect(line) => Accept::Key(parse_key_line(line)?),
        })
    }

    pub(super) fn accepts(&self, key: &PublicKey) -> bool {
        match self {
            Accept::Any => true,
            Accept::Key(expected) => expected.key_data() == key.key_data(),
            Accept::Fingerprint(fp) => key.fingerprint(HashAlg::Sha256).to_string() == *fp,
            Accept::Nothing => false,
        }
    }

    /// The fingerprint a mismatch names as expected.
    pub(super) fn expected(&self) -> Option<String> {
        match self {
            Accept::Key(k) => Some(k.fingerprint(HashAlg::Sha256).to_string()),
            Accept::Fingerprint(fp) => Some(fp.clone()),
            Accept::Any | Accept::Nothing => None,
        }
    }
}

/// The host key `host:port` presents, as an OpenSSH public key line, read from the start of
/// the handshake (as `ssh-keyscan` does): nothing is authenticated and the connection is
/// dropped at once. The key is the one a [`Session`](super::Session) to that host would check.
pub async fn scan_host_key(host: &str, port: u16, timeout: Duration) -> Result<String, SshError> {
    let address = addr(host, port);
    let tcp = tcp_connect(host, port, timeout).await?;
    let seen = Arc::new(Mutex::new(None));
    let handler = Client {
        accept: Accept::Nothing,
        seen: seen.clone(),
    };
    let handshake = russh::client::connect_stream(client_config(), tcp, handler);
    let result = tokio::time::timeout(timeout, handshake).await;
    let key = seen.lock().unwrap_or_else(|e| e.into_inner()).take();
    match (key, result) {
        (Some(key), _) => key.to_openssh().map_err(|e| {
            SshError::Protocol(format!("cannot encode the host key of {address}: {e}"))
        }),
        (None, Err(_)) => Err(SshError::Timeout {
            addr: address,
            what: "reading the host key".into(),
            after: timeout,
        }),
        (None, Ok(Err(e))) => Err(classify(e, &address, "reading the host key")),
        (None, Ok(Ok(_))) => Err(SshError::Protocol(format!(
            "{address} presented no host key"
        ))),
    }
}

/// `fp` if it is a SHA256 fingerprint as `ssh-keygen -l` shows it (`SHA256:` and the
/// unpadded base64 of 32 bytes).
pub fn check_fingerprint(fp: &str) -> Result<String, SshError> {
    let ok = fp.strip_prefix("SHA256:").is_some_and(|b64| {
        b64.len() == 43
            && b64
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '+' || c == '/')
    });
    if ok {
        Ok(fp.to_string())
    } else {
        Err(SshError::BadFingerprint { given: fp.into() })
    }
}

fn parse_key_line(line: &str) -> Result<PublicKey, SshError> {
    PublicKey::from_openssh(line.trim()).map_err(|e| SshError::BadHostKey {
        reason: e.to_string(),
    })
}

/// The SHA256 fingerprint (`SHA256:...`, as `ssh-keygen -l` shows it) of a public key line.
pub fn fingerprint(key_line: &str) -> Result<String, SshError> {
    Ok(parse_key_line(key_line)?
        .fingerprint(HashAlg::Sha256)
        .to_string())
}

/// A known_hosts line for the system `ssh`: `HOST KEYTYPE BASE64`, with `[HOST]:PORT` when the
/// port is not 22. The key line's comment, if any, is dropped.
pub fn known_hosts_line(host: &str, port: u16, key_line: &str) -> String {
    let key: Vec<&str> = key_line.split_whitespace().take(2).collect();
    let host = if port == 22 {
        host.to_string()
    } else {
        format!("[{host}]:{port}")
    };
    format!("{host} {}", key.join(" "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_hosts_lines() {
        let key =
            "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJdD7y3aLq454yWBdwLWbieU1ebz9/cu7/QEXn9OIeZJ c";
        assert_eq!(
            known_hosts_line("10.0.0.1", 22, key),
            "10.0.0.1 ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJdD7y3aLq454yWBdwLWbieU1ebz9/cu7/QEXn9OIeZJ"
        );
        assert!(known_hosts_line("10.0.0.1", 2222, key).starts_with("[10.0.0.1]:2222 ssh-ed25519 "));
        assert!(fingerprint(key).unwrap().starts_with("SHA256:"));
        assert!(matches!(
            fingerprint("nonsense"),
            Err(SshError::BadHostKey { .. })
        ));
    }

    #[test]
    fn host_keys_are_accepted_only_as_asked() {
        let line =
            "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJdD7y3aLq454yWBdwLWbieU1ebz9/cu7/QEXn9OIeZJ c";
        let key = parse_key_line(line).unwrap();
        let other = parse_key_line(
            "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIAXajqrZJTwz1pY8eE2Gx/eCLAiJxdOCjtLYuEMz/55K",
        )
        .unwrap();
        let fp = fingerprint(line).unwrap();
        let pinned = Accept::from_check(&HostKeyCheck::Fingerprint(fp.clone())).unwrap();
        assert!(pinned.accepts(&key));
        assert!(!pinned.accepts(&other));
        assert_eq!(pinned.expected(), Some(fp));
        let recorded = Accept::from_check(&HostKeyCheck::Expect(line.into())).unwrap();
        assert!(recorded.accepts(&key) && !recorded.accepts(&other));
        assert!(Accept::from_check(&HostKeyCheck::Record)
            .unwrap()
            .accepts(&other));
        assert!(!Accept::Nothing.accepts(&key));
        for bad in [
            "",
            "SHA256:short",
            "MD5:aa:bb",
            "SHA256:$(touch${IFS}pwned)aaaaaaaaaaaaaaaaaaaaaaaaa",
        ] {
            assert!(matches!(
                Accept::from_check(&HostKeyCheck::Fingerprint(bad.into())),
                Err(SshError::BadFingerprint { .. })
            ));
        }
    }
}
