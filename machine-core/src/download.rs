//! Downloads: what may be fetched, and how a URL may be shown.
//!
//! Install scripts (and, in drivers, ISOs and cloud-init files) are fetched over https only,
//! never redirected to http, unless the user allows http for the machine
//! ([`crate::engine::EngineOptions::allow_http_downloads`]). A URL may carry credentials
//! (`https://user:token@host/...`): [`redact`] hides them in any text, and progress events,
//! `inspect` and the log go through it.

use regex::Regex;
use std::borrow::Cow;
use std::sync::LazyLock;

/// A download URL that the https-only rule refuses, or that is not a URL at all.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{what} {url}: {reason}")]
pub struct DownloadError {
    /// What was to be downloaded, e.g. `install script`.
    pub what: String,
    /// The URL, credentials hidden.
    pub url: String,
    /// Why it is refused.
    pub reason: DownloadRefusal,
}

/// Why a download URL is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DownloadRefusal {
    /// It is plain http and http is not allowed.
    #[error("plain http is refused: downloads are https only")]
    Http,
    /// The server redirected it to a plain http URL and http is not allowed.
    #[error("the server redirected it to a plain http URL, refused: downloads are https only")]
    RedirectToHttp,
    /// Neither http nor https (or not a URL).
    #[error("not an https URL")]
    NotHttps,
}

/// Checks that `url` may be downloaded: https, or http when `allow_http`.
pub fn check(what: &str, url: &str, allow_http: bool) -> Result<(), DownloadError> {
    let refuse = |reason| DownloadError {
        what: what.to_string(),
        url: redact(url).into_owned(),
        reason,
    };
    let parsed = reqwest::Url::parse(url).map_err(|_| refuse(DownloadRefusal::NotHttps))?;
    if parsed.host_str().is_none_or(str::is_empty) {
        return Err(refuse(DownloadRefusal::NotHttps));
    }
    match parsed.scheme() {
        "https" => Ok(()),
        "http" if allow_http => Ok(()),
        "http" => Err(refuse(DownloadRefusal::Http)),
        _ => Err(refuse(DownloadRefusal::NotHttps)),
    }
}

/// The error for a download whose redirect to http was refused.
pub(crate) fn redirected_to_http(what: &str, url: &str) -> DownloadError {
    DownloadError {
        what: what.to_string(),
        url: redact(url).into_owned(),
        reason: DownloadRefusal::RedirectToHttp,
    }
}

static USERINFO: LazyLock<Regex> = LazyLock::new(|| {
    // scheme://userinfo@ — userinfo cannot hold '/', '?', '#', '@' or white space
    Regex::new(r"(?i)\b([a-z][a-z0-9+.\-]*://)[^/?#@\s]+@").expect("valid regex")
});

/// `text` with the credentials of every URL in it replaced by `***`
/// (`https://user:token@host/x` becomes `https://***@host/x`).
pub fn redact(text: &str) -> Cow<'_, str> {
    USERINFO.replace_all(text, "${1}***@")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn https_passes_http_needs_the_permission() {
        assert!(check("install script", "https://get.docker.com", false).is_ok());
        let e = check("install script", "http://get.docker.com/x", false).unwrap_err();
        assert_eq!(e.reason, DownloadRefusal::Http);
        assert!(check("install script", "http://get.docker.com/x", true).is_ok());
        for bad in [
            "ftp://h/x",
            "file:///etc/passwd",
            "get.docker.com",
            "https://",
            "",
        ] {
            assert_eq!(
                check("install script", bad, true).unwrap_err().reason,
                DownloadRefusal::NotHttps,
                "{bad}"
            );
        }
    }

    #[test]
    fn refusals_hide_credentials() {
        let e = check("install script", "http://nick:s3cret@h.example/i.sh", false).unwrap_err();
        assert_eq!(e.url, "http://***@h.example/i.sh");
        assert!(!e.to_string().contains("s3cret"));
    }

    #[test]
    fn redact_hides_every_userinfo_and_nothing_else() {
        assert_eq!(
            redact("get https://nick:s3cret@h.example:8443/a?b=c@d then HTTP://tok@x/ ok"),
            "get https://***@h.example:8443/a?b=c@d then HTTP://***@x/ ok"
        );
        let plain = "https://get.docker.com/ and mail nick@example.com";
        assert!(matches!(redact(plain), Cow::Borrowed(_)));
        assert_eq!(redact(plain), plain);
    }
}
