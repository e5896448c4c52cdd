//! Downloads against a real test host: the install script comes over https only (the file
//! server's test CA is trusted by the host); plain http is refused naming the flag that allows
//! it, a redirect from https to http is refused, and with the flag http works; credentials in
//! the URL show nowhere (progress, errors, the --debug log, inspect).

use machine_e2e::support::{FileServer, TestHost};
use machine_e2e::{install_script, unique_name, Cli, CREATE_TIMEOUT};

/// `url` with `user:password@` put in front of its host.
fn with_credentials(url: &str, userinfo: &str) -> String {
    let (scheme, rest) = url.split_once("://").expect("a URL");
    format!("{scheme}://{userinfo}@{rest}")
}

#[test]
fn install_script_downloads_are_https_only() {
    let cli = Cli::new();
    let host = TestHost::start("bookworm");
    let http = FileServer::start_http("/install.sh", install_script());
    let http_url = with_credentials(&http.url(), "nick:s3cret");

    // plain http: refused before anything is made, naming the flag
    let name = unique_name("e2e-http");
    let out = cli.create_on(&host, &["--engine-install-url", &http_url], &name);
    assert!(!out.success, "{out}");
    assert!(out.stderr.contains("--allow-http-downloads"), "{out}");
    assert!(!out.stderr.contains("s3cret"), "{out}");
    assert!(http.requests().is_empty(), "{:?}", http.requests());
    assert!(!cli.ok(&["ls", "-q"]).contains(&name));

    // https that redirects to http: refused by curl on the host, said so
    let redirect = FileServer::redirect("/install.sh", &http.url());
    let name = unique_name("e2e-redirect");
    let out = cli.create_on(&host, &["--engine-install-url", &redirect.url()], &name);
    assert!(!out.success, "{out}");
    assert!(
        out.stderr.contains("redirected it to a plain http URL"),
        "{out}"
    );
    assert!(out.stderr.contains("--allow-http-downloads"), "{out}");
    assert_eq!(redirect.requests().len(), 1, "{:?}", redirect.requests());
    assert!(http.requests().is_empty(), "{:?}", http.requests());
    assert!(
        !cli.ok(&["ls", "-q"]).contains(&name),
        "the failed create is undone"
    );

    // with the flag, http works; the credentials show nowhere
    let name = unique_name("e2e-allowed");
    let key = host.key.private.to_str().expect("key path");
    let out = cli.call_with_timeout(
        &[
            "--debug",
            "create",
            "-d",
            "generic",
            "--generic-ip-address",
            &host.ip,
            "--generic-ssh-user",
            &host.user,
            "--generic-ssh-key",
            key,
            "--allow-http-downloads",
            "--engine-install-url",
            &http_url,
            &name,
        ],
        CREATE_TIMEOUT,
    );
    assert!(out.success, "{out}");
    assert!(
        !out.stderr.contains("s3cret") && !out.stdout.contains("s3cret"),
        "{out}"
    );
    assert!(
        out.stderr.contains("***@"),
        "the URL shows, its credentials hidden: {out}"
    );
    assert_eq!(http.requests().len(), 1, "{:?}", http.requests());
    let inspect = cli.ok(&["inspect", &name]);
    assert!(!inspect.contains("s3cret"), "{inspect}");
    assert!(inspect.contains("http://***@"), "{inspect}");
    cli.ok(&["rm", "-y", &name]);
}
