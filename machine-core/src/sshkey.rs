//! SSH key files: generate a machine's own ed25519 key pair, and load the private key a user
//! hands us (for example with `--generic-ssh-key`).
//!
//! Generated keys are written in the OpenSSH private key format with mode 0600, next to a `.pub`
//! file holding `ssh-ed25519 AAAA... COMMENT`. Loading accepts what russh reads: OpenSSH, PEM
//! (PKCS#1, SEC1) and PKCS#8 files with ed25519, ECDSA or RSA keys. Keys protected by a
//! passphrase are not supported and are reported as such.
//!
//! Nothing here ever prints or logs key material; errors name the file and what to do.

use std::io::ErrorKind;
use std::path::{Path, PathBuf};

use russh::keys::ssh_key::private::{Ed25519Keypair, KeypairData};
use russh::keys::ssh_key::LineEnding;
use russh::keys::PrivateKey;

/// What went wrong with an SSH key file. Every message names the file.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SshKeyError {
    /// The key file does not exist.
    #[error("SSH key {path} does not exist")]
    NotFound {
        /// The key file.
        path: PathBuf,
    },
    /// The key file exists but could not be read.
    #[error("cannot read SSH key {path}: {source}")]
    Unreadable {
        /// The key file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The key is encrypted with a passphrase.
    #[error("SSH key {path} is protected by a passphrase")]
    Encrypted {
        /// The key file.
        path: PathBuf,
    },
    /// A public key was given where a private key is needed.
    #[error("{path} is a public key, not a private key")]
    PublicNotPrivate {
        /// The public key file.
        path: PathBuf,
    },
    /// The file is not a private key in a supported format.
    #[error("{path} is not an SSH private key this library reads ({reason})")]
    Invalid {
        /// The key file.
        path: PathBuf,
        /// Why it could not be parsed.
        reason: String,
    },
    /// Generating a new key pair failed.
    #[error("cannot generate an SSH key: {0}")]
    Generate(String),
}

/// A new key pair in OpenSSH text form. Whoever stores it writes the private half owner-only.
pub struct NewKey {
    /// The private key, `-----BEGIN OPENSSH PRIVATE KEY-----`...
    pub private: String,
    /// The public key line, `ssh-ed25519 AAAA... COMMENT`.
    pub public: String,
}

impl std::fmt::Debug for NewKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "NewKey {{ public: {:?}, private: <hidden> }}",
            self.public
        )
    }
}

/// Generates an ed25519 key pair.
pub fn generate(comment: &str) -> Result<NewKey, SshKeyError> {
    let mut seed = [0u8; 32];
    rustls::crypto::ring::default_provider()
        .secure_random
        .fill(&mut seed)
        .map_err(|_| SshKeyError::Generate("the system's random number generator failed".into()))?;
    let keypair = Ed25519Keypair::from_seed(&seed);
    seed.fill(0);
    let key = PrivateKey::new(KeypairData::Ed25519(keypair), comment)
        .map_err(|e| SshKeyError::Generate(e.to_string()))?;
    let private = key
        .to_openssh(LineEnding::LF)
        .map_err(|e| SshKeyError::Generate(e.to_string()))?;
    let public = key
        .public_key()
        .to_openssh()
        .map_err(|e| SshKeyError::Generate(e.to_string()))?;
    Ok(NewKey {
        private: private.to_string(),
        public,
    })
}

/// Loads a private key. Errors say whether the file is missing, unreadable, protected by a
/// passphrase, a public key, or not a key at all.
pub fn load_private(path: &Path) -> Result<PrivateKey, SshKeyError> {
    let text = match std::fs::read(path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == ErrorKind::NotFound => {
            return Err(SshKeyError::NotFound { path: path.into() })
        }
        Err(e) => {
            return Err(SshKeyError::Unreadable {
                path: path.into(),
                source: e,
            })
        }
    };
    if path.is_dir() {
        return Err(SshKeyError::Invalid {
            path: path.into(),
            reason: "it is a folder".into(),
        });
    }
    let Ok(text) = String::from_utf8(text) else {
        return Err(SshKeyError::Invalid {
            path: path.into(),
            reason: "the file is binary, not a PEM or OpenSSH text file".into(),
        });
    };
    parse_private(&text, path)
}

/// Parses a private key held in memory; `origin` names where it came from in errors.
pub fn parse_private(text: &str, origin: &Path) -> Result<PrivateKey, SshKeyError> {
    let path = origin;
    let trimmed = text.trim_start();
    if looks_public(trimmed) {
        return Err(SshKeyError::PublicNotPrivate { path: path.into() });
    }
    if trimmed.contains("-----BEGIN ENCRYPTED PRIVATE KEY-----")
        || trimmed.contains("Proc-Type: 4,ENCRYPTED")
    {
        return Err(SshKeyError::Encrypted { path: path.into() });
    }
    if !trimmed.contains("-----BEGIN ") && !trimmed.starts_with("PuTTY-User-Key-File-") {
        return Err(SshKeyError::Invalid {
            path: path.into(),
            reason: "no `-----BEGIN ... PRIVATE KEY-----` block in it".into(),
        });
    }
    match russh::keys::decode_secret_key(text, None) {
        Ok(key) => Ok(key),
        Err(russh::keys::Error::KeyIsEncrypted) => {
            Err(SshKeyError::Encrypted { path: path.into() })
        }
        Err(e) => Err(SshKeyError::Invalid {
            path: path.into(),
            reason: describe_decode_error(&e),
        }),
    }
}

fn looks_public(text: &str) -> bool {
    let first = text.split_whitespace().next().unwrap_or("");
    first.starts_with("ssh-")
        || first.starts_with("ecdsa-sha2-")
        || first.starts_with("sk-")
        || text.starts_with("-----BEGIN PUBLIC KEY-----")
        || text.starts_with("-----BEGIN RSA PUBLIC KEY-----")
        || text.starts_with("---- BEGIN SSH2 PUBLIC KEY ----")
}

/// A short reason from a russh decoding error that never echoes the key material.
fn describe_decode_error(e: &russh::keys::Error) -> String {
    use russh::keys::Error as E;
    match e {
        E::UnsupportedKeyType {
            key_type_string, ..
        } => format!("unsupported key type {key_type_string}"),
        E::CouldNotReadKey => "unrecognised key format".into(),
        E::KeyIsCorrupt => "the key is corrupt".into(),
        E::UnknownAlgorithm(oid) => format!("unknown key algorithm {oid}"),
        E::Decode(_) => "invalid base64 in the key block".into(),
        other => {
            // Library messages describe the structure, not the contents; keep them short.
            let s = other.to_string();
            s.chars().take(160).collect()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;
    use std::process::Command;

    /// The OpenSSH public key line (`ALGORITHM BASE64 [COMMENT]`) of the private key at `path`.
    fn public_line(path: &Path) -> Result<String, SshKeyError> {
        let key = load_private(path)?;
        key.public_key()
            .to_openssh()
            .map_err(|e| SshKeyError::Invalid {
                path: path.into(),
                reason: e.to_string(),
            })
    }

    /// The conventional public key path of a private key: the same path with `.pub` appended.
    fn pub_path(private_path: &Path) -> PathBuf {
        let mut s = private_path.as_os_str().to_owned();
        s.push(".pub");
        PathBuf::from(s)
    }

    fn keygen(dir: &Path, name: &str, args: &[&str]) -> PathBuf {
        let path = dir.join(name);
        let out = Command::new("ssh-keygen")
            .args(["-q", "-C", "t", "-f"])
            .arg(&path)
            .args(args)
            .output()
            .expect("ssh-keygen");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        path
    }

    #[test]
    fn generated_keys_are_openssh_keys() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("id_ed25519");
        let key = generate("machine-dev").unwrap();
        std::fs::write(&path, &key.private).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        std::fs::write(pub_path(&path), format!("{}\n", key.public)).unwrap();
        let line = key.public;
        assert!(line.starts_with("ssh-ed25519 AAAA"), "{line}");
        assert!(line.ends_with(" machine-dev"), "{line}");
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let pub_text = std::fs::read_to_string(pub_path(&path)).unwrap();
        assert_eq!(pub_text.trim(), line);
        // Loads back, and OpenSSH agrees on the public key.
        assert_eq!(public_line(&path).unwrap(), line);
        let out = Command::new("ssh-keygen")
            .args(["-y", "-f"])
            .arg(&path)
            .output()
            .unwrap();
        assert!(out.status.success());
        let theirs = String::from_utf8_lossy(&out.stdout);
        let ours: Vec<_> = line.split_whitespace().take(2).collect();
        let theirs: Vec<_> = theirs.split_whitespace().take(2).collect();
        assert_eq!(ours, theirs);
        // Every key is new.
        assert_ne!(generate("x").unwrap().public, generate("x").unwrap().public);
    }

    #[test]
    fn loads_openssh_and_pem_keys() {
        let dir = tempfile::tempdir().unwrap();
        let ed = keygen(dir.path(), "ed", &["-t", "ed25519", "-N", ""]);
        let rsa = keygen(dir.path(), "rsa", &["-t", "rsa", "-b", "2048", "-N", ""]);
        let rsa_pem = keygen(
            dir.path(),
            "rsa_pem",
            &["-t", "rsa", "-b", "2048", "-N", "", "-m", "PEM"],
        );
        let ec_pem = keygen(dir.path(), "ec", &["-t", "ecdsa", "-N", "", "-m", "PEM"]);
        for p in [&ed, &rsa, &rsa_pem, &ec_pem] {
            let key = load_private(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
            let ours = key.public_key().to_openssh().unwrap();
            let theirs = std::fs::read_to_string(pub_path(p)).unwrap();
            assert_eq!(
                ours.split_whitespace().nth(1),
                theirs.split_whitespace().nth(1),
                "{}",
                p.display()
            );
        }
    }

    #[test]
    fn clear_errors() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("nope");
        let e = load_private(&missing).unwrap_err();
        assert!(matches!(e, SshKeyError::NotFound { .. }));
        assert!(e.to_string().contains("does not exist"), "{e}");
        assert!(e.to_string().contains(missing.to_str().unwrap()), "{e}");

        let enc = keygen(dir.path(), "enc", &["-t", "ed25519", "-N", "secret-pass"]);
        let e = load_private(&enc).unwrap_err();
        assert!(matches!(e, SshKeyError::Encrypted { .. }), "{e}");
        assert!(e.to_string().contains("passphrase"), "{e}");
        let enc_pem = keygen(
            dir.path(),
            "enc_pem",
            &["-t", "rsa", "-b", "2048", "-N", "secret-pass", "-m", "PEM"],
        );
        assert!(matches!(
            load_private(&enc_pem),
            Err(SshKeyError::Encrypted { .. })
        ));

        let e = load_private(&pub_path(&enc)).unwrap_err();
        assert!(matches!(e, SshKeyError::PublicNotPrivate { .. }), "{e}");

        let junk = dir.path().join("junk");
        std::fs::write(&junk, "hello world\n").unwrap();
        let e = load_private(&junk).unwrap_err();
        assert!(matches!(e, SshKeyError::Invalid { .. }), "{e}");

        let corrupt = dir.path().join("corrupt");
        std::fs::write(
            &corrupt,
            "-----BEGIN OPENSSH PRIVATE KEY-----\nAAAAbm90IGEga2V5\n-----END OPENSSH PRIVATE KEY-----\n",
        )
        .unwrap();
        let e = load_private(&corrupt).unwrap_err();
        assert!(matches!(e, SshKeyError::Invalid { .. }), "{e}");

        let e = load_private(dir.path()).unwrap_err();
        assert!(
            matches!(
                e,
                SshKeyError::Invalid { .. } | SshKeyError::Unreadable { .. }
            ),
            "{e}"
        );
    }
}
