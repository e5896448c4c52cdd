//! The certificates of a store and its machines: the store-wide CA and client certificate (made
//! on first use, or imported), and each machine's server certificate.

use crate::cert::{self, Pem};
use crate::error::{Error, Result, StoreCaError};
use crate::store::{Store, StoreCerts};

/// The organisation named in every certificate this library makes.
const ORG: &str = "machine";

/// A new CA and a client certificate signed by it.
pub(crate) fn new_store_certs() -> Result<StoreCerts> {
    let ca = cert::new_ca(ORG)?;
    let client = cert::new_client(&ca, ORG)?;
    Ok(StoreCerts { ca, client })
}

/// The store's CA and client certificate, made (under the store's certificate lock) on first
/// use; a client certificate that expires within [`cert::RENEW_BEFORE`] is renewed under the
/// same CA. `made` is told what is made.
pub(crate) async fn store_certs(store: &dyn Store, made: impl FnOnce(&str)) -> Result<StoreCerts> {
    if let Some(c) = store.read_store_certs().await? {
        if !client_expiring(&c) {
            return Ok(c);
        }
    }
    let _lock = store.lock_store_certs().await?;
    match store.read_store_certs().await? {
        Some(c) if !client_expiring(&c) => Ok(c),
        Some(mut c) => {
            made("Renewing the client certificate, which expires soon...");
            c.client = cert::new_client(&c.ca, ORG)?;
            store.write_store_certs(&c).await?;
            Ok(c)
        }
        None => {
            made("Creating CA and client certificates...");
            let certs = new_store_certs()?;
            store.write_store_certs(&certs).await?;
            Ok(certs)
        }
    }
}

fn client_expiring(c: &StoreCerts) -> bool {
    cert::inspect(&c.client.cert).is_ok_and(|i| i.expires_within(cert::RENEW_BEFORE))
}

/// Makes `certs` the store's CA and client certificate, unless the store already trusts
/// another CA.
pub(crate) async fn import_store_certs(store: &dyn Store, certs: &StoreCerts) -> Result<()> {
    for (which, pem) in [("CA", &certs.ca), ("client", &certs.client)] {
        if !cert::key_matches(&pem.cert, &pem.key)? {
            return Err(Error::StoreCa(StoreCaError::KeyMismatch { which }));
        }
    }
    if !cert::signed_by(&certs.client.cert, &certs.ca.cert)? {
        return Err(Error::StoreCa(StoreCaError::ClientNotSignedByCa));
    }
    let _lock = store.lock_store_certs().await?;
    match store.read_store_certs().await? {
        Some(existing) if existing.ca.cert.trim() != certs.ca.cert.trim() => {
            Err(Error::StoreCa(StoreCaError::OtherCa {
                store: store.location(),
            }))
        }
        Some(existing) if existing == *certs => Ok(()),
        _ => Ok(store.write_store_certs(certs).await?),
    }
}

/// A server certificate for machine `name` at `ip`, also valid for `localhost` and `extra` names.
pub(crate) fn new_server_cert(ca: &Pem, name: &str, ip: &str, extra: &[String]) -> Result<Pem> {
    let mut sans = vec![ip.to_string(), name.to_string(), "localhost".to_string()];
    sans.extend(extra.iter().cloned());
    Ok(cert::new_server(ca, ORG, &sans)?)
}
