//! [`DockerUrl`]: where a machine's Docker daemon listens, the one parser of `tcp://HOST:PORT`.

use std::fmt;
use std::str::FromStr;

/// Where a Docker daemon listens over mutual TLS: `tcp://HOST:PORT`, as `DOCKER_HOST` and
/// docker contexts hold it. The host is an IP address (IPv6 in brackets in the URL) or a host
/// name, nothing a shell or another URL could misread; the port is not 0.
///
/// ```
/// use machine_core::DockerUrl;
///
/// let url: DockerUrl = "tcp://[fd00::1]:2376".parse()?;
/// assert_eq!((url.host(), url.port()), ("fd00::1", 2376));
/// assert_eq!(url.to_string(), "tcp://[fd00::1]:2376");
/// assert!("unix:///var/run/docker.sock".parse::<DockerUrl>().is_err());
/// # Ok::<(), machine_core::DockerUrlError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct DockerUrl {
    host: String,
    port: u16,
}

/// A text that is not `tcp://HOST:PORT`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid Docker URL {url:?}: {reason} (expected tcp://HOST:PORT)")]
pub struct DockerUrlError {
    /// The text as given.
    pub url: String,
    /// What is wrong with it.
    pub reason: &'static str,
}

impl DockerUrl {
    /// The daemon at `host` (an IP address, IPv6 without brackets, or a host name) on `port`.
    pub fn new(host: &str, port: u16) -> Result<DockerUrl, DockerUrlError> {
        let bad = |reason| DockerUrlError {
            url: format!("tcp://{}:{port}", bracketed(host)),
            reason,
        };
        if !is_host(host) {
            return Err(bad("the host is not an IP address or host name"));
        }
        if port == 0 {
            return Err(bad("the port is 0"));
        }
        Ok(DockerUrl {
            host: host.to_string(),
            port,
        })
    }

    /// The host: an IP address (IPv6 without brackets) or a host name.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `https://HOST:PORT`: the base of the daemon's API over TLS.
    pub(crate) fn https_base(&self) -> String {
        format!("https://{}:{}", bracketed(&self.host), self.port)
    }
}

impl fmt::Display for DockerUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "tcp://{}:{}", bracketed(&self.host), self.port)
    }
}

impl FromStr for DockerUrl {
    type Err = DockerUrlError;

    /// `tcp://HOST:PORT` (a trailing `/` is allowed); an IPv6 address in brackets.
    fn from_str(s: &str) -> Result<DockerUrl, DockerUrlError> {
        let bad = |reason| DockerUrlError {
            url: s.to_string(),
            reason,
        };
        let rest = s
            .strip_prefix("tcp://")
            .ok_or_else(|| bad("it does not start with tcp://"))?;
        let rest = rest.strip_suffix('/').unwrap_or(rest);
        let (host, port) = rest.rsplit_once(':').ok_or_else(|| bad("it has no port"))?;
        let host = match host.strip_prefix('[') {
            Some(h) => h
                .strip_suffix(']')
                .filter(|h| h.parse::<std::net::Ipv6Addr>().is_ok())
                .ok_or_else(|| bad("only an IPv6 address goes in brackets"))?,
            None if host.contains(':') => return Err(bad("an IPv6 address must be in brackets")),
            None => host,
        };
        let port = port
            .parse::<u16>()
            .map_err(|_| bad("the port is not a number from 1 to 65535"))?;
        DockerUrl::new(host, port).map_err(|e| bad(e.reason))
    }
}

/// `[host]` for an IPv6 address, `host` otherwise: the host as it goes before `:port`.
pub(crate) fn bracketed(host: &str) -> String {
    if host.contains(':') {
        format!("[{host}]")
    } else {
        host.to_string()
    }
}

/// Whether `host` is an IP address or a host name (nothing a shell or URL could misread).
pub(crate) fn is_host(host: &str) -> bool {
    if host.parse::<std::net::IpAddr>().is_ok() {
        return true;
    }
    !host.is_empty()
        && host.len() <= 253
        && host.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_what_drivers_and_docker_write() {
        let u: DockerUrl = "tcp://192.0.2.1:2376".parse().unwrap();
        assert_eq!((u.host(), u.port()), ("192.0.2.1", 2376));
        assert_eq!(u.https_base(), "https://192.0.2.1:2376");
        let u: DockerUrl = "tcp://[::1]:3000/".parse().unwrap();
        assert_eq!((u.host(), u.port()), ("::1", 3000));
        assert_eq!(u.to_string(), "tcp://[::1]:3000");
        assert_eq!(u.https_base(), "https://[::1]:3000");
        let u: DockerUrl = "tcp://docker.example:2376".parse().unwrap();
        assert_eq!(u, DockerUrl::new("docker.example", 2376).unwrap());
    }

    #[test]
    fn refuses_anything_else() {
        for bad in [
            "192.0.2.1:2376",
            "https://192.0.2.1:2376",
            "unix:///var/run/docker.sock",
            "tcp://192.0.2.1",
            "tcp://192.0.2.1:0",
            "tcp://192.0.2.1:99999",
            "tcp://192.0.2.1:2376/x",
            "tcp://192.0.2.1:2376$(id)",
            "tcp://$(id):2376",
            "tcp://fd00::1:2376",
            "tcp://[host]:2376",
            "tcp://:2376",
            "",
        ] {
            assert!(bad.parse::<DockerUrl>().is_err(), "{bad:?}");
        }
        let e = "tcp://h".parse::<DockerUrl>().unwrap_err();
        assert_eq!(e.url, "tcp://h");
        assert!(e.to_string().contains("no port"), "{e}");
        assert!(DockerUrl::new("a b", 1).is_err());
        assert!(DockerUrl::new("h", 0).is_err());
    }
}
