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
            cx.progress(
                Step::InstallDocker,
                &format!("{verb} {what} with the install script {url}..."),
            );
            run_install_script(cx, family, facts, url, version).await
        }
    }
}

/// Downloads the install script with curl (or wget, installing curl when neither is there) and
/// runs it with `sh` as root, with `VERSION` set when a version is pinned.
pub(crate) async fn run_install_script(
    cx: &Cx<'_>,
    family: Family,
    facts: &Facts,
    url: &str,
    version: Option<&str>,
) -> Result<(), ProvisionError> {
    let step = "downloading the install script";
    let fetch = if facts.tool("curl").is_some() {
        "curl -fsSL --retry 3"
    } else if facts.tool("wget").is_some() {
        "wget -q -O -"
    } else {
        cx.progress(Step::InstallDocker, "Installing curl...");
        family
            .install_tools(cx, &["curl", "ca-certificates"])
            .await?;
        "curl -fsSL --retry 3"
    };
    let dir = cx
        .check(step, "mktemp -d /tmp/machine-install.XXXXXX")
        .await?
        .stdout
        .trim()
        .to_string();
    let script_path = format!("{dir}/install.sh");
    cx.check(
        step,
        &format!(
            "{fetch} {} > {}",
            crate::shell::quote(url),
            crate::shell::quote(&script_path)
        ),
    )
    .await?;
    let mut env = String::from("DEBIAN_FRONTEND=noninteractive");
    if let Some(v) = version {
        env.push_str(&format!(" VERSION={}", crate::shell::quote(v)));
    }
    let result = cx
        .sudo_streaming(
            "running the install script",
            Step::InstallDocker,
            &format!("{env} sh {}", crate::shell::quote(&script_path)),
        )
        .await;
    let _ = cx
        .run(step, &format!("rm -rf {}", crate::shell::quote(&dir)))
        .await;
    result.map(|_| ())
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
