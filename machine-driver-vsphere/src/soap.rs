//! SOAP over HTTPS to vCenter's `/sdk` endpoint: envelopes out, bodies or faults back, the session
//! cookie kept between calls, and vCenter's certificate checked as the options say.
//!
//! Nothing here logs a request body: the `Login` body carries the password. An answer is read
//! up to [`ANSWER_MAX`] bytes and no further.

use crate::xml::{self, Element};
use std::sync::{Arc, Mutex};

/// The most of one SOAP answer of vCenter's that is read, in bytes (64 MiB: a property
/// collector's answer for a large inventory is a few MiB).
pub const ANSWER_MAX: usize = 64 * 1024 * 1024;

/// A managed object reference, e.g. `VirtualMachine:vm-42`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct MoRef {
    #[serde(rename = "type")]
    pub kind: String,
    pub value: String,
}

impl MoRef {
    pub fn new(kind: &str, value: &str) -> MoRef {
        MoRef {
            kind: kind.into(),
            value: value.into(),
        }
    }
    /// Reads `<x type="T">V</x>`.
    pub fn from_element(e: &Element) -> Option<MoRef> {
        let kind = e.attr("type")?;
        let value = e.text.trim();
        if value.is_empty() {
            return None;
        }
        Some(MoRef::new(kind, value))
    }
}

impl std::fmt::Display for MoRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.kind, self.value)
    }
}

/// What can go wrong with one SOAP call.
#[derive(Debug, thiserror::Error)]
pub enum SoapError {
    /// vCenter could not be reached (connection, TLS, timeout).
    #[error("{0}")]
    Transport(String),
    /// The TLS handshake failed on vCenter's certificate.
    #[error("{0}")]
    Certificate(String),
    /// vCenter answered with a SOAP fault: its type (e.g. `InvalidLogin`) and message.
    #[error("{message} ({kind})")]
    Fault { kind: String, message: String },
    /// vCenter answered with something that is not a SOAP answer.
    #[error("{0}")]
    Protocol(String),
}

impl SoapError {
    /// The fault type, if this is a fault.
    pub fn fault_kind(&self) -> Option<&str> {
        match self {
            SoapError::Fault { kind, .. } => Some(kind),
            _ => None,
        }
    }
}

/// How to trust vCenter's certificate.
#[derive(Debug, Clone, Default)]
pub struct Trust {
    /// Accept any certificate.
    pub insecure: bool,
    /// Extra trusted CA certificates (PEM).
    pub ca_pem: Option<Vec<u8>>,
    /// Accept exactly the certificate with this SHA-256 fingerprint (hex, colons optional).
    pub thumbprint: Option<String>,
}

/// A SOAP connection to one vCenter.
#[derive(Clone)]
pub struct Soap {
    pub http: reqwest::Client,
    /// `https://HOST:PORT`.
    pub base: String,
    cookie: Arc<Mutex<Option<String>>>,
}

impl Soap {
    pub fn new(base: String, trust: &Trust) -> Result<Soap, String> {
        let builder = reqwest::Client::builder()
            .connect_timeout(std::time::Duration::from_secs(15))
            .timeout(std::time::Duration::from_secs(300));
        let builder = if let Some(pin) = &trust.thumbprint {
            let pin = parse_thumbprint(pin)?;
            builder.use_preconfigured_tls(pinned_tls(pin)?)
        } else if trust.insecure {
            builder.danger_accept_invalid_certs(true)
        } else if let Some(pem) = &trust.ca_pem {
            let certs = reqwest::Certificate::from_pem_bundle(pem)
                .map_err(|e| format!("the CA certificate file is not valid PEM: {e}"))?;
            if certs.is_empty() {
                return Err("the CA certificate file holds no certificate".into());
            }
            certs
                .into_iter()
                .fold(builder, |b, c| b.add_root_certificate(c))
        } else {
            builder
        };
        let http = builder
            .build()
            .map_err(|e| format!("cannot set up HTTPS: {e}"))?;
        Ok(Soap {
            http,
            base,
            cookie: Arc::new(Mutex::new(None)),
        })
    }

    /// The session cookie, for HTTP calls outside SOAP (datastore file upload).
    pub fn cookie(&self) -> Option<String> {
        self.cookie.lock().unwrap().clone()
    }

    /// Forgets the session cookie (before logging in again).
    pub fn clear_cookie(&self) {
        *self.cookie.lock().unwrap() = None;
    }

    /// Calls one method. `body` is the method element (e.g. `<Login xmlns="urn:vim25">...`);
    /// the result is the response element (e.g. `LoginResponse`).
    pub async fn call(&self, body: &str) -> Result<Element, SoapError> {
        let envelope = format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\
             <soapenv:Envelope xmlns:soapenv=\"http://schemas.xmlsoap.org/soap/envelope/\" \
             xmlns:xsd=\"http://www.w3.org/2001/XMLSchema\" \
             xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\">\
             <soapenv:Body>{body}</soapenv:Body></soapenv:Envelope>"
        );
        let mut req = self
            .http
            .post(format!("{}/sdk", self.base))
            .header("Content-Type", "text/xml; charset=utf-8")
            .header("SOAPAction", "urn:vim25/6.7")
            .body(envelope);
        if let Some(c) = self.cookie() {
            req = req.header("Cookie", c);
        }
        let resp = req.send().await.map_err(|e| transport_error(&e))?;
        for v in resp.headers().get_all("set-cookie") {
            if let Ok(v) = v.to_str() {
                if let Some(pair) = v.split(';').next() {
                    if pair.starts_with("vmware_soap_session") {
                        *self.cookie.lock().unwrap() = Some(pair.to_string());
                    }
                }
            }
        }
        let status = resp.status();
        let body = crate::download::read_within(resp, ANSWER_MAX)
            .await
            .map_err(|e| match e {
                crate::download::ReadError::TooLarge { limit } => SoapError::Protocol(format!(
                    "vCenter's answer is more than {limit} bytes (the most read of one SOAP \
                     answer): read no further"
                )),
                crate::download::ReadError::Http(e) => {
                    SoapError::Transport(format!("reading vCenter's answer failed: {e}"))
                }
            })?;
        let text = String::from_utf8_lossy(&body);
        let root = xml::parse(&text).map_err(|e| {
            SoapError::Protocol(format!(
                "vCenter answered HTTP {status} with something that is not SOAP ({e}): {}",
                snippet(&text)
            ))
        })?;
        let body = root
            .child("Body")
            .ok_or_else(|| SoapError::Protocol("vCenter's answer has no SOAP body".into()))?;
        let first = body
            .children
            .first()
            .ok_or_else(|| SoapError::Protocol("vCenter's answer is empty".into()))?;
        if first.name == "Fault" {
            return Err(fault(first));
        }
        Ok(first.clone())
    }
}

/// Reads a SOAP fault: the type from `detail` (e.g. `InvalidLogin`), the message from `faultstring`.
fn fault(f: &Element) -> SoapError {
    let message = f.text_at("faultstring").unwrap_or("").trim().to_string();
    let kind = f
        .child("detail")
        .and_then(|d| d.children.first())
        .map(|d| {
            d.xsi_type()
                .map(str::to_string)
                .unwrap_or_else(|| d.name.trim_end_matches("Fault").to_string())
        })
        .unwrap_or_else(|| "Fault".to_string());
    SoapError::Fault { kind, message }
}

fn snippet(s: &str) -> String {
    let s: String = s.chars().take(200).collect();
    s.replace('\n', " ")
}

/// A transport error with its causes, told apart: certificate problems get their own variant.
pub fn transport_error(e: &reqwest::Error) -> SoapError {
    let mut msg = e.to_string();
    let mut src: Option<&dyn std::error::Error> = std::error::Error::source(e);
    while let Some(s) = src {
        msg.push_str(": ");
        msg.push_str(&s.to_string());
        src = s.source();
    }
    let lower = msg.to_lowercase();
    if lower.contains("certificate") || lower.contains("unknownissuer") {
        SoapError::Certificate(msg)
    } else {
        SoapError::Transport(msg)
    }
}

fn parse_thumbprint(s: &str) -> Result<Vec<u8>, String> {
    let hex: String = s.chars().filter(|c| !matches!(c, ':' | ' ')).collect();
    let bad = || {
        format!("the certificate thumbprint {s:?} is not a SHA-256 fingerprint (64 hex digits, colons allowed)")
    };
    if hex.len() != 64 {
        return Err(bad());
    }
    (0..32)
        .map(|i| u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).map_err(|_| bad()))
        .collect()
}

/// The SHA-256 fingerprint of a DER certificate, as `AA:BB:...`.
pub fn fingerprint(der: &[u8]) -> String {
    let d = ring::digest::digest(&ring::digest::SHA256, der);
    d.as_ref()
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(":")
}

fn pinned_tls(pin: Vec<u8>) -> Result<rustls::ClientConfig, String> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let verifier = Arc::new(PinnedCert {
        pin,
        provider: provider.clone(),
    });
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth();
    Ok(config)
}

/// Trusts exactly one certificate, named by its SHA-256 fingerprint (the usual pin for a
/// self-signed vCenter). Handshake signatures are still verified.
#[derive(Debug)]
struct PinnedCert {
    pin: Vec<u8>,
    provider: Arc<rustls::crypto::CryptoProvider>,
}

impl rustls::client::danger::ServerCertVerifier for PinnedCert {
    fn verify_server_cert(
        &self,
        end_entity: &rustls::pki_types::CertificateDer<'_>,
        _intermediates: &[rustls::pki_types::CertificateDer<'_>],
        _server_name: &rustls::pki_types::ServerName<'_>,
        _ocsp_response: &[u8],
        _now: rustls::pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        let got = ring::digest::digest(&ring::digest::SHA256, end_entity.as_ref());
        if got.as_ref() == self.pin.as_slice() {
            Ok(rustls::client::danger::ServerCertVerified::assertion())
        } else {
            Err(rustls::Error::General(format!(
                "vCenter's certificate (SHA-256 {}) does not match the pinned thumbprint",
                fingerprint(end_entity.as_ref())
            )))
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_faults() {
        let f = xml::parse(
            r#"<Fault><faultcode>ServerFaultCode</faultcode><faultstring>Login failure</faultstring>
<detail><InvalidLoginFault xmlns:xsi="x" xsi:type="InvalidLogin"></InvalidLoginFault></detail></Fault>"#,
        )
        .unwrap();
        match fault(&f) {
            SoapError::Fault { kind, message } => {
                assert_eq!(kind, "InvalidLogin");
                assert_eq!(message, "Login failure");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn thumbprints() {
        let hex = "AB".repeat(32);
        assert_eq!(parse_thumbprint(&hex).unwrap(), vec![0xAB; 32]);
        let colons = vec!["ab"; 32].join(":");
        assert_eq!(parse_thumbprint(&colons).unwrap(), vec![0xAB; 32]);
        assert!(parse_thumbprint("abcd").is_err());
    }
}
