//! [`DockerUrl`]: where a machine's Docker daemon is reached, the one parser of
//! `tcp://HOST:PORT` (mutual TLS) and `ssh://[USER@]HOST[:PORT]` (the daemon's socket over SSH).

use std::fmt;
use std::str::FromStr;

/// Where a Docker daemon is reached, as `DOCKER_HOST` and docker contexts hold it: over mutual
/// TLS at `tcp://HOST:PORT`, or through SSH at `ssh://[USER@]HOST[:PORT]` (the docker client
/// runs `ssh` to the host and `docker system dial-stdio` there). The host is an IP address
/// (IPv6 in brackets in the URL) or a host name, the user a user name: nothing a shell, ssh or
/// another URL could misread. A port is never 0.
///
/// ```
/// use machine_core::DockerUrl;
///
/// let url: DockerUrl = "tcp://[fd00::1]:2376".parse()?;
/// assert_eq!((url.host(), url.port()), ("fd00::1", 2376));
/// assert_eq!(url.to_string(), "tcp://[fd00::1]:2376");
/// let url: DockerUrl = "ssh://docker@192.0.2.7:2222".parse()?;
/// assert_eq!((url.user(), url.host(), url.port()), (Some("docker"), "192.0.2.7", 2222));
/// assert!(url.is_ssh());
/// assert!("unix:///var/run/docker.sock".parse::<DockerUrl>().is_err());
/// # Ok::<(), machine_core::DockerUrlError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct DockerUrl {
    host: String,
    /// `None` only for `ssh://` without a port (ssh's default, or its config's, applies).
    port: Option<u16>,
    /// `Some` for `ssh://`: the user, if the URL names one.
    ssh: Option<Option<String>>,
}

/// A text that is not `tcp://HOST:PORT` or `ssh://[USER@]HOST[:PORT]`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "invalid Docker URL {url:?}: {reason} (expected tcp://HOST:PORT or ssh://[USER@]HOST[:PORT])"
)]
pub struct DockerUrlError {
    /// The text as given.
    pub url: String,
    /// What is wrong with it.
    pub reason: &'static str,
}

impl DockerUrl {
    /// The daemon at `host` (an IP address, IPv6 without brackets, or a host name) on TCP
    /// `port`, over mutual TLS.
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
            port: Some(port),
            ssh: None,
        })
    }

    /// The daemon of the SSH server at `host` (`port`: ssh's own default when `None`), logged
    /// into as `user` (ssh's default when `None`).
    pub fn ssh(
        user: Option<&str>,
        host: &str,
        port: Option<u16>,
    ) -> Result<DockerUrl, DockerUrlError> {
        let shown = format!(
            "ssh://{}{}{}",
            user.map(|u| format!("{u}@")).unwrap_or_default(),
            bracketed(host),
            port.map(|p| format!(":{p}")).unwrap_or_default()
        );
        let bad = |reason| DockerUrlError {
            url: shown.clone(),
            reason,
        };
        if !is_host(host) {
            return Err(bad("the host is not an IP address or host name"));
        }
        if port == Some(0) {
            return Err(bad("the port is 0"));
        }
        if let Some(u) = user {
            if !is_user(u) {
                return Err(bad("the user is not a user name"));
            }
        }
        Ok(DockerUrl {
            host: host.to_string(),
            port,
            ssh: Some(user.map(str::to_string)),
        })
    }

    /// The host: an IP address (IPv6 without brackets) or a host name.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The port (for `ssh://` without one, SSH's 22).
    pub fn port(&self) -> u16 {
        self.port.unwrap_or(22)
    }

    /// Whether the daemon is reached through SSH (`ssh://`).
    pub fn is_ssh(&self) -> bool {
        self.ssh.is_some()
    }

    /// The SSH user an `ssh://` URL names.
    pub fn user(&self) -> Option<&str> {
        self.ssh.as_ref().and_then(|u| u.as_deref())
    }

    /// `https://HOST:PORT`: the base of the daemon's API over TLS.
    pub(crate) fn https_base(&self) -> String {
        format!("https://{}:{}", bracketed(&self.host), self.port())
    }
}

impl fmt::Display for DockerUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.ssh {
            None => write!(f, "tcp://{}:{}", bracketed(&self.host), self.port()),
            Some(user) => {
                write!(f, "ssh://")?;
                if let Some(u) = user {
                    write!(f, "{u}@")?;
                }
                write!(f, "{}", bracketed(&self.host))?;
                match self.port {
                    Some(p) => write!(f, ":{p}"),
                    None => Ok(()),
                }
            }
        }
    }
}

impl FromStr for DockerUrl {
    type Err = DockerUrlError;

    /// `tcp://HOST:PORT` or `ssh://[USER@]HOST[:PORT]` (a trailing `/` is allowed); an IPv6
    /// address in brackets.
    fn from_str(s: &str) -> Result<DockerUrl, DockerUrlError> {
        let bad = |reason| DockerUrlError {
            url: s.to_string(),
            reason,
        };
        let (ssh, rest) = match (s.strip_prefix("tcp://"), s.strip_prefix("ssh://")) {
            (Some(rest), _) => (false, rest),
            (_, Some(rest)) => (true, rest),
            _ => return Err(bad("it starts with neither tcp:// nor ssh://")),
        };
        let rest = rest.strip_suffix('/').unwrap_or(rest);
        let (user, rest) = match rest.split_once('@') {
            Some((u, r)) if ssh => (Some(u), r),
            Some(_) => return Err(bad("a tcp:// URL names no user")),
            None => (None, rest),
        };
        // HOST, [V6], HOST:PORT or [V6]:PORT
        let (host, port) = match rest.strip_prefix('[') {
            Some(r) => {
                let (h, after) = r
                    .split_once(']')
                    .ok_or_else(|| bad("an opening [ without its ]"))?;
                if h.parse::<std::net::Ipv6Addr>().is_err() {
                    return Err(bad("only an IPv6 address goes in brackets"));
                }
                match after {
                    "" => (h, None),
                    a => (
                        h,
                        Some(a.strip_prefix(':').ok_or_else(|| bad("junk after ]"))?),
                    ),
                }
            }
            None => match rest.split_once(':') {
                Some((_, p)) if p.contains(':') => {
                    return Err(bad("an IPv6 address must be in brackets"))
                }
                Some((h, p)) => (h, Some(p)),
                None => (rest, None),
            },
        };
        let port = port
            .map(|p| {
                p.parse::<u16>()
                    .map_err(|_| bad("the port is not a number from 1 to 65535"))
            })
            .transpose()?;
        if ssh {
            DockerUrl::ssh(user, host, port).map_err(|e| bad(e.reason))
        } else {
            let port = port.ok_or_else(|| bad("it has no port"))?;
            DockerUrl::new(host, port).map_err(|e| bad(e.reason))
        }
    }
}

/// Whether `user` is a user name, never an option of ssh, scp, rsync or sshfs
/// (`-oProxyCommand=...`).
pub(crate) fn is_user(user: &str) -> bool {
    !user.is_empty()
        && !user.starts_with(['-', '.'])
        && user
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
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
        for (text, user, host, port) in [
            ("ssh://machine-h1", None, "machine-h1", 22),
            (
                "ssh://docker@192.0.2.1:2222",
                Some("docker"),
                "192.0.2.1",
                2222,
            ),
            ("ssh://root@[fd00::1]", Some("root"), "fd00::1", 22),
            ("ssh://[fd00::1]:22/", None, "fd00::1", 22),
        ] {
            let u: DockerUrl = text.parse().unwrap();
            assert!(u.is_ssh(), "{text}");
            assert_eq!((u.user(), u.host(), u.port()), (user, host, port), "{text}");
            assert_eq!(u.to_string(), text.trim_end_matches('/'));
        }
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
            "tcp://root@192.0.2.1:2376",
            "ssh://-oProxyCommand=id@h",
            "ssh://a b@h",
            "ssh://u@h:0",
            "ssh://u@$(id)",
            "ssh://u@fd00::1",
            "ssh://",
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
