//! Downloads of the ISO and the cloud-init file: https only, never redirected to http, unless
//! the host allows plain http (`allow_http_downloads` of `set_config`). Credentials in a URL are
//! never shown in a message. A body read into memory is read up to a bound ([`read_within`]): the
//! cloud-init file up to [`CLOUDINIT_MAX`] (the ISO is streamed to the datastore, never held).

use driver_protocol::DriverError;
use reqwest::Url;

/// The most of a cloud-init file read from a URL, in bytes.
pub const CLOUDINIT_MAX: usize = 4 * 1024 * 1024;

/// Why a body was not read whole.
#[derive(Debug)]
pub enum ReadError {
    /// It is longer than the bound given: it was read no further.
    TooLarge {
        /// The bound.
        limit: usize,
    },
    /// Reading it failed.
    Http(reqwest::Error),
}

/// `resp`'s body, read up to `limit` bytes and no further (a Content-Length over it is refused
/// before anything is read).
pub async fn read_within(mut resp: reqwest::Response, limit: usize) -> Result<Vec<u8>, ReadError> {
    if resp.content_length().is_some_and(|n| n > limit as u64) {
        return Err(ReadError::TooLarge { limit });
    }
    let mut body = Vec::new();
    while let Some(chunk) = resp.chunk().await.map_err(ReadError::Http)? {
        if body.len() + chunk.len() > limit {
            return Err(ReadError::TooLarge { limit });
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// Whether `s` is an http(s) URL (anything else is a file).
pub fn is_url(s: &str) -> bool {
    s.starts_with("http://") || s.starts_with("https://")
}

/// Checks that `url`, given with `option`, may be fetched.
pub fn check(option: &str, url: &str, allow_http: bool) -> Result<(), DriverError> {
    match Url::parse(url).map(|u| u.scheme().to_string()) {
        Ok(s) if s == "https" || (s == "http" && allow_http) => Ok(()),
        Ok(s) if s == "http" => Err(DriverError::invalid_option(format!(
            "{option} {}: plain http is refused: downloads are https only (machine create \
             --allow-http-downloads allows http)",
            redact(url)
        ))),
        _ => Err(DriverError::invalid_option(format!(
            "{option} {}: not an http(s) URL",
            redact(url)
        ))),
    }
}

/// GETs `url` (given with `option`) after [`check`], following redirects to https only (to
/// http too when `allow_http`), and fails on an error status.
pub async fn get(
    option: &str,
    url: &str,
    allow_http: bool,
) -> Result<reqwest::Response, DriverError> {
    check(option, url, allow_http)?;
    let policy = reqwest::redirect::Policy::custom(move |attempt| {
        if attempt.previous().len() >= 10 {
            attempt.error("more than 10 redirects")
        } else if attempt.url().scheme() == "https"
            || (allow_http && attempt.url().scheme() == "http")
        {
            attempt.follow()
        } else {
            attempt.error(RedirectRefused)
        }
    });
    let client = reqwest::Client::builder()
        .redirect(policy)
        .build()
        .map_err(|e| DriverError::internal(format!("cannot make an http client: {e}")))?;
    client
        .get(url)
        .send()
        .await
        .and_then(|r| r.error_for_status())
        .map_err(|e| failed(option, url, e))
}

/// A failed download of `url` (given with `option`), the URL's credentials hidden.
pub fn failed(option: &str, url: &str, e: reqwest::Error) -> DriverError {
    let refused = std::error::Error::source(&e)
        .is_some_and(|s| s.downcast_ref::<RedirectRefused>().is_some());
    let e = e.without_url();
    if refused {
        DriverError::invalid_option(format!(
            "{option} {}: the server redirected it to a plain http URL, refused: downloads are \
             https only (machine create --allow-http-downloads allows http)",
            redact(url)
        ))
    } else {
        DriverError::unreachable(format!("cannot fetch {option} {}: {e}", redact(url)))
    }
}

/// `url` with its credentials replaced by `***`.
pub fn redact(url: &str) -> String {
    match Url::parse(url) {
        Ok(mut u) if !u.username().is_empty() || u.password().is_some() => {
            let _ = u.set_password(None);
            let _ = u.set_username("***");
            u.to_string()
        }
        _ => url.to_string(),
    }
}

#[derive(Debug)]
struct RedirectRefused;

impl std::fmt::Display for RedirectRefused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("redirect to plain http refused")
    }
}

impl std::error::Error for RedirectRefused {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http_needs_the_permission_and_credentials_stay_hidden() {
        assert!(check("--x", "https://h/a.iso", false).is_ok());
        assert!(check("--x", "http://h/a.iso", true).is_ok());
        let e = check("--x", "http://nick:s3cret@h/a.iso", false).unwrap_err();
        assert!(e.message.contains("http://***@h/a.iso"), "{}", e.message);
        assert!(
            e.message.contains("--allow-http-downloads"),
            "{}",
            e.message
        );
        assert!(!e.message.contains("s3cret"));
        assert!(check("--x", "ftp://h/a.iso", true).is_err());
    }
}
