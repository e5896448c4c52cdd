//! The TLS certificates that secure a remote Docker daemon, in Docker Machine's model: one CA and
//! one client certificate per store, and one server certificate per machine, signed by that CA,
//! whose subject alternative names cover the machine's IP address(es), its name, `localhost` and
//! any extra `--tls-san` value.
//!
//! Keys are ECDSA P-256 (Docker accepts them). Server and client certificates are valid for about
//! three years, the CA for ten. [`inspect`], [`check_against_ca`] and [`check_expiry`] tell
//! whether an existing certificate still fits.
//!
//! Private keys live in [`Pem::key`]; nothing here prints or logs them (the `Debug` output of
//! [`Pem`] hides the key).

use std::net::IpAddr;
use std::time::{Duration, SystemTime};

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, PublicKeyData, SanType,
};
use time::OffsetDateTime;

/// Validity of the CA certificate.
pub const CA_VALIDITY: Duration = Duration::from_secs(10 * 365 * 24 * 3600);
/// Validity of server and client certificates.
pub const LEAF_VALIDITY: Duration = Duration::from_secs(3 * 365 * 24 * 3600);
/// A certificate that expires within this time is reported by `ls` and renewed by `provision`.
pub const RENEW_BEFORE: Duration = Duration::from_secs(30 * 24 * 3600);
/// Certificates start being valid this long before they are made, for clocks that lag.
const BACKDATE: Duration = Duration::from_secs(3600);

/// A certificate and its private key, both PEM-encoded.
#[derive(Clone, PartialEq, Eq)]
pub struct Pem {
    /// The PEM-encoded certificate.
    pub cert: String,
    /// The PEM-encoded private key (kept secret; hidden from `Debug`).
    pub key: String,
}

impl std::fmt::Debug for Pem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pem")
            .field("cert", &self.cert)
            .field("key", &"<private key hidden>")
            .finish()
    }
}

/// What went wrong making or reading a certificate.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CertError {
    /// Generating a key or signing a certificate failed.
    #[error("cannot create the {what} certificate: {reason}")]
    Generate {
        /// Which certificate was being made (`CA`, `server` or `client`).
        what: &'static str,
        /// Why it failed.
        reason: String,
    },
    /// The CA certificate or key could not be loaded.
    #[error(
        "the CA certificate or key is unusable ({reason}): the store's CA files may be damaged; \
         restore them, or regenerate the CA and then every machine's certificates"
    )]
    BadCa {
        /// Why the CA is unusable.
        reason: String,
    },
    /// A certificate could not be parsed.
    #[error("not a usable PEM certificate ({reason})")]
    BadCert {
        /// Why it could not be parsed.
        reason: String,
    },
    /// A private key could not be parsed.
    #[error("not a usable PEM private key ({reason})")]
    BadKey {
        /// Why it could not be parsed.
        reason: String,
    },
    /// A subject alternative name is neither an IP address nor a valid DNS name.
    #[error("invalid subject alternative name {san:?}: use an IP address or a DNS name")]
    BadSan {
        /// The rejected name.
        san: String,
    },
}

/// Makes a new self-signed CA with organisation `org`.
pub fn new_ca(org: &str) -> Result<Pem, CertError> {
    let gen = |reason: String| CertError::Generate { what: "CA", reason };
    let key = KeyPair::generate().map_err(|e| gen(e.to_string()))?;
    let mut params = CertificateParams::default();
    params.distinguished_name = name(org, org);
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    set_validity(&mut params, CA_VALIDITY);
    let cert = params.self_signed(&key).map_err(|e| gen(e.to_string()))?;
    Ok(Pem {
        cert: cert.pem(),
        key: key.serialize_pem(),
    })
}

/// Makes a client certificate (for the `docker` client and `machine` itself) signed by `ca`.
pub fn new_client(ca: &Pem, org: &str) -> Result<Pem, CertError> {
    new_client_valid_for(ca, org, LEAF_VALIDITY)
}

/// A client certificate valid for `validity` (tests make short-lived ones with it).
pub fn new_client_valid_for(ca: &Pem, org: &str, validity: Duration) -> Result<Pem, CertError> {
    let mut params = CertificateParams::default();
    params.distinguished_name = name(org, "client");
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    sign_leaf("client", ca, params, validity)
}

/// Makes a server certificate for a Docker daemon, signed by `ca`. Each SAN that parses as an
/// IP address becomes an IP SAN, any other a DNS SAN; duplicates and blanks are dropped. The
/// first SAN becomes the common name.
pub fn new_server(ca: &Pem, org: &str, sans: &[String]) -> Result<Pem, CertError> {
    new_server_valid_for(ca, org, sans, LEAF_VALIDITY)
}

/// A server certificate valid for `validity` (tests make short-lived ones with it).
pub fn new_server_valid_for(
    ca: &Pem,
    org: &str,
    sans: &[String],
    validity: Duration,
) -> Result<Pem, CertError> {
    let mut params = CertificateParams::default();
    let mut seen = Vec::new();
    for san in sans.iter().map(|s| s.trim()).filter(|s| !s.is_empty()) {
        let ty = match san.parse::<IpAddr>() {
            Ok(ip) => SanType::IpAddress(ip),
            Err(_) => {
                SanType::DnsName(san.to_string().try_into().map_err(|_| CertError::BadSan {
                    san: san.to_string(),
                })?)
            }
        };
        if !seen.contains(&ty) {
            seen.push(ty);
        }
    }
    let cn = sans
        .iter()
        .map(|s| s.trim())
        .find(|s| !s.is_empty())
        .unwrap_or("docker");
    params.distinguished_name = name(org, cn);
    params.subject_alt_names = seen;
    params.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyEncipherment,
    ];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    sign_leaf("server", ca, params, validity)
}

fn name(org: &str, cn: &str) -> DistinguishedName {
    let mut dn = DistinguishedName::new();
    dn.push(DnType::OrganizationName, org);
    dn.push(DnType::CommonName, cn);
    dn
}

fn set_validity(params: &mut CertificateParams, validity: Duration) {
    let now = OffsetDateTime::now_utc();
    params.not_before = now - BACKDATE;
    params.not_after = now + validity;
}

fn sign_leaf(
    what: &'static str,
    ca: &Pem,
    mut params: CertificateParams,
    validity: Duration,
) -> Result<Pem, CertError> {
    let ca_key = KeyPair::from_pem(&ca.key).map_err(|e| CertError::BadCa {
        reason: format!("CA key: {e}"),
    })?;
    let issuer = Issuer::from_ca_cert_pem(&ca.cert, ca_key).map_err(|e| CertError::BadCa {
        reason: format!("CA certificate: {e}"),
    })?;
    set_validity(&mut params, validity);
    params.use_authority_key_identifier_extension = true;
    let key = KeyPair::generate().map_err(|e| CertError::Generate {
        what,
        reason: e.to_string(),
    })?;
    let cert = params
        .signed_by(&key, &issuer)
        .map_err(|e| CertError::Generate {
            what,
            reason: e.to_string(),
        })?;
    Ok(Pem {
        cert: cert.pem(),
        key: key.serialize_pem(),
    })
}

/// What a certificate says about itself.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct CertInfo {
    /// The subject's distinguished name.
    pub subject: String,
    /// The issuer's distinguished name.
    pub issuer: String,
    /// Start of the validity period.
    pub not_before: SystemTime,
    /// End of the validity period.
    pub not_after: SystemTime,
    /// Whether it is a CA certificate.
    pub is_ca: bool,
    /// Its DNS subject alternative names.
    pub dns_names: Vec<String>,
    /// Its IP address subject alternative names.
    pub ips: Vec<IpAddr>,
}

impl CertInfo {
    /// Whether it expires within `d` from now (or already has).
    pub fn expires_within(&self, d: Duration) -> bool {
        SystemTime::now() + d > self.not_after
    }

    /// Whether `san` (an IP address or a DNS name) is among its SANs.
    pub fn covers(&self, san: &str) -> bool {
        let san = san.trim();
        match san.parse::<IpAddr>() {
            Ok(ip) => self.ips.contains(&ip),
            Err(_) => self.dns_names.iter().any(|d| d.eq_ignore_ascii_case(san)),
        }
    }
}

fn parse_pem(pem: &str) -> Result<x509_parser::pem::Pem, CertError> {
    let (_, pem) =
        x509_parser::pem::parse_x509_pem(pem.as_bytes()).map_err(|e| CertError::BadCert {
            reason: format!("PEM: {e}"),
        })?;
    Ok(pem)
}

fn to_system_time(t: x509_parser::time::ASN1Time) -> SystemTime {
    let secs = t.timestamp();
    if secs >= 0 {
        SystemTime::UNIX_EPOCH + Duration::from_secs(secs as u64)
    } else {
        SystemTime::UNIX_EPOCH - Duration::from_secs(secs.unsigned_abs())
    }
}

/// Reads the subject, validity period and SANs of a PEM certificate.
pub fn inspect(cert_pem: &str) -> Result<CertInfo, CertError> {
    let pem = parse_pem(cert_pem)?;
    let cert = pem.parse_x509().map_err(|e| CertError::BadCert {
        reason: format!("X.509: {e}"),
    })?;
    let mut dns_names = Vec::new();
    let mut ips = Vec::new();
    if let Ok(Some(san)) = cert.subject_alternative_name() {
        for n in &san.value.general_names {
            match n {
                x509_parser::extensions::GeneralName::DNSName(d) => dns_names.push(d.to_string()),
                x509_parser::extensions::GeneralName::IPAddress(b) => match b.len() {
                    4 => ips.push(IpAddr::from(<[u8; 4]>::try_from(*b).expect("4 bytes"))),
                    16 => ips.push(IpAddr::from(<[u8; 16]>::try_from(*b).expect("16 bytes"))),
                    _ => {}
                },
                _ => {}
            }
        }
    }
    Ok(CertInfo {
        subject: cert.subject().to_string(),
        issuer: cert.issuer().to_string(),
        not_before: to_system_time(cert.validity().not_before),
        not_after: to_system_time(cert.validity().not_after),
        is_ca: cert.is_ca(),
        dns_names,
        ips,
    })
}

/// Whether `cert_pem` carries a valid signature by the CA certificate `ca_cert_pem`.
pub fn signed_by(cert_pem: &str, ca_cert_pem: &str) -> Result<bool, CertError> {
    let pem = parse_pem(cert_pem)?;
    let cert = pem.parse_x509().map_err(|e| CertError::BadCert {
        reason: format!("X.509: {e}"),
    })?;
    let ca_pem = parse_pem(ca_cert_pem).map_err(|e| CertError::BadCa {
        reason: e.to_string(),
    })?;
    let ca = ca_pem.parse_x509().map_err(|e| CertError::BadCa {
        reason: format!("X.509: {e}"),
    })?;
    Ok(cert.verify_signature(Some(ca.public_key())).is_ok())
}

/// Whether the private key `key_pem` belongs to the certificate `cert_pem` (their public keys
/// are the same).
pub fn key_matches(cert_pem: &str, key_pem: &str) -> Result<bool, CertError> {
    let key = KeyPair::from_pem(key_pem).map_err(|e| CertError::BadKey {
        reason: e.to_string(),
    })?;
    let pem = parse_pem(cert_pem)?;
    let cert = pem.parse_x509().map_err(|e| CertError::BadCert {
        reason: format!("X.509: {e}"),
    })?;
    Ok(cert.public_key().raw == key.subject_public_key_info().as_slice())
}

/// What is wrong with a machine's certificate, as a listing checks it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CertProblem {
    /// It expires within 30 days (or has expired); `days_left` is 0 once expired.
    Expiring {
        /// Whole days left.
        days_left: u64,
    },
    /// It is not signed by the CA the machine's record holds.
    NotSignedByCa,
    /// It cannot be parsed.
    Unreadable,
}

/// Checks a machine's certificate against the CA its record holds: signed by it, and not
/// expiring within [`RENEW_BEFORE`]. Parses each certificate once: cheap enough for a listing.
pub fn check_against_ca(cert_pem: &str, ca_cert_pem: &str) -> Option<CertProblem> {
    let Ok(pem) = parse_pem(cert_pem) else {
        return Some(CertProblem::Unreadable);
    };
    let Ok(cert) = pem.parse_x509() else {
        return Some(CertProblem::Unreadable);
    };
    // a CA file may hold several (an imported bundle): any of them, as TLS would accept
    let signed = x509_parser::pem::Pem::iter_from_buffer(ca_cert_pem.as_bytes())
        .map_while(Result::ok)
        .any(|ca| {
            ca.parse_x509()
                .is_ok_and(|ca| cert.verify_signature(Some(ca.public_key())).is_ok())
        });
    if !signed {
        return Some(CertProblem::NotSignedByCa);
    }
    expiring(&cert)
}

/// Checks only that a certificate does not expire within [`RENEW_BEFORE`]: for one whose
/// signature is known good (a daemon just presented it in a handshake verified against the CA).
pub fn check_expiry(cert_pem: &str) -> Option<CertProblem> {
    let Ok(pem) = parse_pem(cert_pem) else {
        return Some(CertProblem::Unreadable);
    };
    let Ok(cert) = pem.parse_x509() else {
        return Some(CertProblem::Unreadable);
    };
    expiring(&cert)
}

fn expiring(cert: &x509_parser::certificate::X509Certificate<'_>) -> Option<CertProblem> {
    let not_after = to_system_time(cert.validity().not_after);
    (SystemTime::now() + RENEW_BEFORE > not_after).then(|| CertProblem::Expiring {
        days_left: not_after
            .duration_since(SystemTime::now())
            .map(|d| d.as_secs() / 86400)
            .unwrap_or(0),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Command;

    fn sans(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn server_cert_verifies_against_ca_and_carries_sans() {
        let ca = new_ca("machine-test").unwrap();
        let ca_info = inspect(&ca.cert).unwrap();
        assert!(ca_info.is_ca);
        assert!(ca_info.expires_within(CA_VALIDITY + Duration::from_secs(86400)));
        assert!(!ca_info.expires_within(CA_VALIDITY - Duration::from_secs(86400)));

        let server = new_server(
            &ca,
            "machine-test.dev",
            &sans(&[
                "172.17.0.5",
                "dev",
                "localhost",
                "dev.example.com",
                "fd00::5",
                "dev",
            ]),
        )
        .unwrap();
        let info = inspect(&server.cert).unwrap();
        assert!(!info.is_ca);
        assert_eq!(
            info.ips,
            vec![
                "172.17.0.5".parse::<IpAddr>().unwrap(),
                "fd00::5".parse().unwrap()
            ]
        );
        assert_eq!(
            info.dns_names,
            sans(&["dev", "localhost", "dev.example.com"])
        );
        assert!(info.covers("172.17.0.5") && info.covers("DEV") && !info.covers("10.0.0.1"));
        assert!(info.not_before <= SystemTime::now() && SystemTime::now() <= info.not_after);
        assert!(info.expires_within(LEAF_VALIDITY + Duration::from_secs(86400)));
        assert!(!info.expires_within(LEAF_VALIDITY - Duration::from_secs(86400)));
        assert!(signed_by(&server.cert, &ca.cert).unwrap());

        let other_ca = new_ca("other").unwrap();
        assert!(!signed_by(&server.cert, &other_ca.cert).unwrap());

        let client = new_client(&ca, "machine-test").unwrap();
        assert!(signed_by(&client.cert, &ca.cert).unwrap());

        // Keys never show in Debug.
        let dbg = format!("{server:?}");
        assert!(!dbg.contains("PRIVATE KEY"), "{dbg}");
    }

    #[test]
    fn keys_are_matched_to_their_certificates() {
        let ca = new_ca("a").unwrap();
        let other = new_ca("b").unwrap();
        assert!(key_matches(&ca.cert, &ca.key).unwrap());
        assert!(!key_matches(&ca.cert, &other.key).unwrap());
        assert!(matches!(
            key_matches(&ca.cert, "not a key"),
            Err(CertError::BadKey { .. })
        ));
    }

    #[test]
    fn expiring_and_foreign_certificates_are_found() {
        let ca = new_ca("a").unwrap();
        let other = new_ca("b").unwrap();
        let good = new_server(&ca, "a", &sans(&["10.0.0.1"])).unwrap();
        assert_eq!(check_against_ca(&good.cert, &ca.cert), None);
        assert_eq!(check_expiry(&good.cert), None);
        assert_eq!(
            check_expiry(&good.cert[..40]),
            Some(CertProblem::Unreadable)
        );
        assert_eq!(
            check_against_ca(&good.cert, &other.cert),
            Some(CertProblem::NotSignedByCa)
        );
        let bundle = format!("{}{}", other.cert, ca.cert);
        assert_eq!(check_against_ca(&good.cert, &bundle), None);
        let soon = new_client_valid_for(&ca, "a", Duration::from_secs(10 * 86400 + 3600)).unwrap();
        for problem in [
            check_against_ca(&soon.cert, &ca.cert),
            check_expiry(&soon.cert),
        ] {
            assert_eq!(problem, Some(CertProblem::Expiring { days_left: 10 }));
        }
        assert_eq!(
            check_against_ca("garbage", &ca.cert),
            Some(CertProblem::Unreadable)
        );
    }

    #[test]
    fn openssl_agrees() {
        let dir = tempfile::tempdir().unwrap();
        let ca = new_ca("machine-test").unwrap();
        let server = new_server(&ca, "machine-test.dev", &sans(&["172.17.0.5", "dev"])).unwrap();
        let client = new_client(&ca, "machine-test").unwrap();
        let ca_path = dir.path().join("ca.pem");
        std::fs::write(&ca_path, &ca.cert).unwrap();
        for (name, pem, purpose) in [
            ("server.pem", &server, "sslserver"),
            ("cert.pem", &client, "sslclient"),
        ] {
            let p = dir.path().join(name);
            std::fs::write(&p, &pem.cert).unwrap();
            let out = Command::new("openssl")
                .args(["verify", "-purpose", purpose, "-CAfile"])
                .arg(&ca_path)
                .arg(&p)
                .output()
                .expect("openssl");
            assert!(
                out.status.success(),
                "{name}: {}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        let out = Command::new("openssl")
            .args(["x509", "-noout", "-text", "-in"])
            .arg(dir.path().join("server.pem"))
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(text.contains("IP Address:172.17.0.5"), "{text}");
        assert!(text.contains("DNS:dev"), "{text}");
        assert!(text.contains("TLS Web Server Authentication"), "{text}");
        // The keys are PKCS#8 that openssl reads.
        let key_path = dir.path().join("key.pem");
        std::fs::write(&key_path, &server.key).unwrap();
        let out = Command::new("openssl")
            .args(["pkey", "-noout", "-in"])
            .arg(&key_path)
            .output()
            .unwrap();
        assert!(out.status.success());
    }
}
