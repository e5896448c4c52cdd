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
/// use. `made` is told when they are made.
pub(crate) async fn store_certs(store: &dyn Store, made: impl FnOnce()) -> Result<StoreCerts> {
    if let Some(c) = store.read_store_certs().await? {
        return Ok(c);
    }
    let _lock = store.lock_store_certs().await?;
    if let Some(c) = store.read_store_certs().await? {
        return Ok(c);
    }
    made();
    let certs = new_store_certs()?;
    store.write_store_certs(&certs).await?;
    Ok(certs)
}

/// Makes `certs` the store's CA and client certificate, unless the store already trusts
/// another CA.
pub(crate) async fn import_store_certs(store: &dyn Store, certs: &StoreCerts) -> Result<()> {
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
