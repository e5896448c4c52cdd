//! How a host starts a driver executable: with a minimal environment — the host's basics and
//! the plugin marker ([`crate::PLUGIN_COOKIE_KEY`]), nothing else of the user's — so a driver
//! sees no secret of the host's process. The variables a driver declares reach it after the
//! handshake (`$/environment`). Used by machine-core's driver host and by the conformance kit,
//! so a driver is checked in the environment it will run in.

use std::ffi::OsString;

/// What a driver's environment keeps of the host's: these names, and every `LC_*` variable.
pub const BASE_ENV: &[&str] = &[
    "PATH",
    "HOME",
    "USER",
    "LOGNAME",
    "LANG",
    "LANGUAGE",
    "TZ",
    "TMPDIR",
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "NO_PROXY",
    "ALL_PROXY",
    "http_proxy",
    "https_proxy",
    "no_proxy",
    "all_proxy",
];

/// The whole environment a driver starts with (give it to `Command::env_clear().envs(..)`):
/// the host's basics and the plugin marker.
pub fn environment() -> Vec<(OsString, OsString)> {
    let mut env: Vec<(OsString, OsString)> = std::env::vars_os()
        .filter(|(k, _)| {
            let k = k.to_string_lossy();
            BASE_ENV.contains(&k.as_ref()) || k.starts_with("LC_")
        })
        .collect();
    env.push((
        crate::PLUGIN_COOKIE_KEY.into(),
        crate::PLUGIN_COOKIE_VALUE.into(),
    ));
    env
}
