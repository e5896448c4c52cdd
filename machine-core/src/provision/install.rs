//! Installing Docker: by the distribution's packages or an install script, at a pinned version
//! when asked; finding the installed `dockerd`.

use super::*;

pub(crate) async fn install_docker(
    cx: &Cx<'_>,
    family: Family,
    facts: &Facts,
    engine: &EngineOptions,
    upgrade: bool,
) -> Result<(), ProvisionError> {
    let version = engine.version.as_deref().filter(|v| !v.is_empty());
    let what = match version {
        Some(v) => format!("Docker {v}"),
        None => "Docker".to_string(),
    };
    let verb = if upgrade { "Upgrading" } else { "Installing" };
    match &engine.install_method {
        InstallMethod::Packages => {
            cx.progress(
                Step::InstallDocker,
                &format!("{verb} {what} from the {} packages...", cx.os.pretty_name),
            );
            family.install_packages(cx, version, upgrade).await
        }
        InstallMethod::Script { url } => {
            if family == Family::Generic {
                return Err(generic::cannot_install(cx));
            }
            check_url(url, engine.allow_http_downloads)?;
            cx.progress(
                Step::InstallDocker,
                &format!("{verb} {what} with the install script {url}..."),
            );
            run_install_script(cx, family, facts, url, version, engine.allow_http_downloads).await
        }
    }
}

const SCRIPT: &str = "install script";
const DOWNLOAD_STEP: &str = "downloading the install script";

fn check_url(url: &str, allow_http: bool) -> Result<(), ProvisionError> {
    crate::download::check(SCRIPT, url, allow_http).map_err(|source| ProvisionError::Download {
        step: DOWNLOAD_STEP.into(),
        source,
    })
}

/// curl's exit status for a protocol it was told not to use (`--proto`, `--proto-redir`).
const CURL_UNSUPPORTED_PROTOCOL: u32 = 1;

/// Downloads the install script with curl (installing curl when it is missing) and runs it with
/// `sh` as root, with `VERSION` set when a version is pinned.
///
/// curl reads the URL from a 0600 config file, so credentials in it never appear in a command
/// line (the host's `ps`, our log), and is held to https, redirects included
/// (`--proto =https --proto-redir =https`), unless `allow_http`.
pub(crate) async fn run_install_script(
    cx: &Cx<'_>,
    family: Family,
    facts: &Facts,
    url: &str,
    version: Option<&str>,
    allow_http: bool,
) -> Result<(), ProvisionError> {
    let step = DOWNLOAD_STEP;
    if facts.tool("curl").is_none() {
        cx.progress(Step::InstallDocker, "Installing curl...");
        family
            .install_tools(cx, &["curl", "ca-certificates"])
            .await?;
    }
    let dir = cx
        .check(step, "mktemp -d /tmp/machine-install.XXXXXX")
        .await?
        .stdout
        .trim()
        .to_string();
    let script_path = format!("{dir}/install.sh");
    let config_path = format!("{dir}/curl.conf");
    let config = format!(
        "url = {}\noutput = {}\n",
        curl_config_string(url),
        curl_config_string(&script_path)
    );
    let protocols = if allow_http { "=http,https" } else { "=https" };
    let fetched = async {
        cx.remote
            .upload(&config_path, config.as_bytes(), 0o600, false)
            .await
            .map_err(|e| e.in_step(step))?;
        let command = format!(
            "curl -fsSL --retry 3 --proto {protocols} --proto-redir {protocols} --config {}",
            crate::shell::quote(&config_path)
        );
        let out = cx.run(step, &command).await?;
        match out.status {
            0 => Ok(()),
            CURL_UNSUPPORTED_PROTOCOL if !allow_http => Err(ProvisionError::Download {
                step: step.into(),
                source: crate::download::redirected_to_http(SCRIPT, url),
            }),
            _ => Err(command_failed(step, &command, &out)),
        }
    }
    .await;
    let result = match fetched {
        Ok(()) => {
            let mut env = String::from("DEBIAN_FRONTEND=noninteractive");
            if let Some(v) = version {
                env.push_str(&format!(" VERSION={}", crate::shell::quote(v)));
            }
            cx.sudo_streaming(
                "running the install script",
                Step::InstallDocker,
                &format!("{env} sh {}", crate::shell::quote(&script_path)),
            )
            .await
            .map(|_| ())
        }
        Err(e) => Err(e),
    };
    let _ = cx
        .run(step, &format!("rm -rf {}", crate::shell::quote(&dir)))
        .await;
    result
}

/// `s` as a double-quoted string of a curl config file.
fn curl_config_string(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Where the host's `dockerd` is (never assumed: Debian puts it in /usr/sbin).
pub(crate) async fn find_dockerd(cx: &Cx<'_>) -> Result<String, ProvisionError> {
    let step = "finding dockerd";
    let out = cx.run(step, &cx.root_sh("command -v dockerd")).await?;
    let path = out.stdout.trim().to_string();
    if !out.success() || !path.starts_with('/') {
        return Err(ProvisionError::Unsupported {
            step: step.into(),
            message: "Docker was installed but there is no `dockerd` on the host's PATH".into(),
        });
    }
    Ok(path)
}

/// Picks the newest available version matching `requested` (`24.0.7` matches `24.0.7-1`,
/// `5:24.0.7~3-0~debian`, `24.0.7+dfsg1-1+b3`, but not `24.0.70`). `available` is newest first.
pub(crate) fn match_version<'v>(available: &'v [String], requested: &str) -> Option<&'v String> {
    let strip_epoch = |v: &'v str| -> &'v str {
        match v.split_once(':') {
            Some((e, rest)) if e.chars().all(|c| c.is_ascii_digit()) => rest,
            _ => v,
        }
    };
    available.iter().find(|v| {
        let v = v.as_str();
        let bare = strip_epoch(v);
        if v == requested || bare == requested {
            return true;
        }
        match bare.strip_prefix(requested) {
            Some(rest) => rest.starts_with(['-', '+', '~', '_']),
            None => false,
        }
    })
}

pub(crate) fn version_unavailable(
    cx: &Cx<'_>,
    requested: &str,
    package: &str,
    available: Vec<String>,
) -> ProvisionError {
    ProvisionError::VersionUnavailable {
        requested: requested.to_string(),
        package: package.to_string(),
        os: cx.os.pretty_name.clone(),
        available,
    }
}
