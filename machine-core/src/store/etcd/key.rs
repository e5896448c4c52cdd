//! The store key: the team's 32-byte secret that encrypts private keys and driver secrets in
//! etcd (ChaCha20-Poly1305 from `ring`, a fresh random nonce per value, the value's place in the
//! store as associated data so a sealed value cannot be moved to another machine or field).
//!
//! A sealed value is the text `sealed:v1:` followed by base64 of nonce and ciphertext.

use base64::Engine;
use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, CHACHA20_POLY1305, NONCE_LEN};
use std::path::Path;

const SEALED: &str = "sealed:v1:";

/// Why no usable store key was given.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    /// The key is not base64 of 32 bytes.
    #[error("{source_name} is not base64 of 32 bytes")]
    Malformed {
        /// Where it came from (`MACHINE_STORE_KEY`, a file).
        source_name: String,
    },
    /// The key file cannot be read.
    #[error("cannot read the store key file {path}: {reason}")]
    Unreadable {
        /// The file.
        path: String,
        /// Why.
        reason: String,
    },
    /// The key file is open to other users: whoever reads it opens every secret of the store.
    #[error("the store key file {path} is accessible to others (mode {mode:04o}): `chmod 600 {path}` makes it private")]
    Exposed {
        /// The file.
        path: String,
        /// Its permission bits.
        mode: u32,
    },
}

/// The store key.
pub struct StoreKey(LessSafeKey);

impl std::fmt::Debug for StoreKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("StoreKey(<hidden>)")
    }
}

impl StoreKey {
    /// From base64 text (surrounding white space ignored); `source_name` names it in errors.
    pub fn from_base64(text: &str, source_name: &str) -> Result<StoreKey, KeyError> {
        let malformed = || KeyError::Malformed {
            source_name: source_name.to_string(),
        };
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(text.trim())
            .map_err(|_| malformed())?;
        if bytes.len() != 32 {
            return Err(malformed());
        }
        let key = UnboundKey::new(&CHACHA20_POLY1305, &bytes).map_err(|_| malformed())?;
        Ok(StoreKey(LessSafeKey::new(key)))
    }

    /// `MACHINE_STORE_KEY`, else the file named by `MACHINE_STORE_KEY_FILE`, else `None`.
    pub fn from_env() -> Result<Option<StoreKey>, KeyError> {
        if let Some(k) = std::env::var("MACHINE_STORE_KEY")
            .ok()
            .filter(|k| !k.is_empty())
        {
            return StoreKey::from_base64(&k, "MACHINE_STORE_KEY").map(Some);
        }
        match std::env::var_os("MACHINE_STORE_KEY_FILE").filter(|p| !p.is_empty()) {
            Some(p) => StoreKey::from_file(Path::new(&p)).map(Some),
            None => Ok(None),
        }
    }

    /// From a file holding the base64 text, which only its owner may read or write (as
    /// OpenSSH asks of private keys).
    pub fn from_file(path: &Path) -> Result<StoreKey, KeyError> {
        use std::io::Read;
        use std::os::unix::fs::PermissionsExt;
        let shown = path.display().to_string();
        let unreadable = |e: std::io::Error| KeyError::Unreadable {
            path: shown.clone(),
            reason: e.to_string(),
        };
        let mut file = std::fs::File::open(path).map_err(unreadable)?;
        let mode = file.metadata().map_err(unreadable)?.permissions().mode() & 0o7777;
        if mode & 0o077 != 0 {
            return Err(KeyError::Exposed { path: shown, mode });
        }
        let mut text = String::new();
        file.read_to_string(&mut text).map_err(unreadable)?;
        StoreKey::from_base64(&text, &shown)
    }

    /// Encrypts `plain`, bound to `place` (where it is stored).
    pub(super) fn seal(&self, place: &str, plain: &[u8]) -> String {
        let mut nonce = [0u8; NONCE_LEN];
        getrandom::fill(&mut nonce).expect("the OS random source works");
        let mut data = plain.to_vec();
        self.0
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(place.as_bytes()),
                &mut data,
            )
            .expect("sealing cannot fail for sizes a store holds");
        let mut out = nonce.to_vec();
        out.extend_from_slice(&data);
        format!(
            "{SEALED}{}",
            base64::engine::general_purpose::STANDARD.encode(out)
        )
    }

    /// Decrypts what [`seal`](Self::seal) made for `place`; `None` if it was not sealed with
    /// this key for this place (or is damaged).
    pub(super) fn open(&self, place: &str, sealed: &str) -> Option<Vec<u8>> {
        let raw = base64::engine::general_purpose::STANDARD
            .decode(sealed.strip_prefix(SEALED)?)
            .ok()?;
        if raw.len() < NONCE_LEN {
            return None;
        }
        let (nonce, data) = raw.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).ok()?;
        let mut data = data.to_vec();
        let plain = self
            .0
            .open_in_place(nonce, Aad::from(place.as_bytes()), &mut data)
            .ok()?;
        Some(plain.to_vec())
    }
}

/// Whether a stored text is a sealed value.
pub(super) fn is_sealed(text: &str) -> bool {
    text.starts_with(SEALED)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(byte: u8) -> StoreKey {
        let b64 = base64::engine::general_purpose::STANDARD.encode([byte; 32]);
        StoreKey::from_base64(&b64, "test").unwrap()
    }

    #[test]
    fn sealed_values_open_only_with_the_key_and_in_their_place() {
        let k = key(1);
        let s = k.seal("m/ssh-key", b"-----BEGIN OPENSSH PRIVATE KEY-----");
        assert!(is_sealed(&s) && !s.contains("PRIVATE"));
        assert_ne!(
            s,
            k.seal("m/ssh-key", b"-----BEGIN OPENSSH PRIVATE KEY-----")
        );
        assert_eq!(
            k.open("m/ssh-key", &s).unwrap(),
            b"-----BEGIN OPENSSH PRIVATE KEY-----"
        );
        assert_eq!(k.open("other/ssh-key", &s), None);
        assert_eq!(key(2).open("m/ssh-key", &s), None);
    }

    #[test]
    fn a_key_file_must_be_private() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("team.key");
        let b64 = base64::engine::general_purpose::STANDARD.encode([7u8; 32]);
        std::fs::write(&path, format!("{b64}\n")).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        let k = StoreKey::from_file(&path).unwrap();
        assert_eq!(key(7).open("p", &k.seal("p", b"x")).unwrap(), b"x");

        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let e = StoreKey::from_file(&path).unwrap_err();
        assert!(matches!(e, KeyError::Exposed { mode: 0o644, .. }), "{e}");
        let said = e.to_string();
        assert!(
            said.contains("chmod 600") && said.contains("team.key"),
            "{said}"
        );
        assert!(!said.contains(&b64), "{said}");

        let e = StoreKey::from_file(&dir.path().join("missing.key")).unwrap_err();
        assert!(matches!(e, KeyError::Unreadable { .. }), "{e}");
    }

    #[test]
    fn a_key_must_be_32_bytes_of_base64() {
        assert!(StoreKey::from_base64("c2hvcnQ=", "MACHINE_STORE_KEY").is_err());
        assert!(StoreKey::from_base64("not base64!", "MACHINE_STORE_KEY").is_err());
        let err = StoreKey::from_base64("", "MACHINE_STORE_KEY").unwrap_err();
        assert_eq!(
            err.to_string(),
            "MACHINE_STORE_KEY is not base64 of 32 bytes"
        );
    }
}
