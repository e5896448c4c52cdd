//! A machine left on a retired CA: `rotate-ca` while one host cannot be reached moves the
//! others, and `ls` flags the one left behind (which still works: its daemon and its record
//! still hold the old CA) until `regenerate-certs` moves it too.

use machine_e2e::support::TestHost;
use machine_e2e::{timed, Cli, CREATE_TIMEOUT};

fn errors_of(cli: &Cli, name: &str) -> String {
    let table = cli.ls();
    let row = table
        .row(name)
        .unwrap_or_else(|| panic!("no row for {name}:\n{}", table.raw));
    assert_eq!(row["STATE"], "Running", "{}", table.raw);
    row.get("ERRORS").cloned().unwrap_or_default()
}

#[test]
fn ls_flags_a_machine_still_on_a_retired_ca() {
    let (a, b) = std::thread::scope(|s| {
        let a = s.spawn(|| timed("host a", TestHost::start_with_docker));
        let b = s.spawn(|| timed("host b", TestHost::start_with_docker));
        (a.join().unwrap(), b.join().unwrap())
    });
    let cli = Cli::new();
    for (host, name) in [(&a, "ca-a"), (&b, "ca-b")] {
        let out = cli.create_on(host, &[], name);
        assert!(out.success, "{out}");
    }
    assert_eq!(errors_of(&cli, "ca-b"), "");

    // b cannot be reached over SSH while the CA is rotated
    b.exec("systemctl stop ssh.socket ssh.service 2>/dev/null; systemctl stop ssh");
    let out = timed("rotate-ca", || {
        cli.call_with_timeout(&["rotate-ca", "-f"], CREATE_TIMEOUT)
    });
    assert!(
        !out.success,
        "rotate-ca must report the machine it could not move:\n{out}"
    );
    assert_eq!(errors_of(&cli, "ca-a"), "", "a was moved to the new CA");
    let errors = errors_of(&cli, "ca-b");
    assert!(
        errors.contains("retired CA") && errors.contains("regenerate-certs ca-b"),
        "ls must flag b, still on the old CA: {errors:?}"
    );

    b.exec("systemctl start ssh");
    let out = cli.call_with_timeout(&["regenerate-certs", "-f", "ca-b"], CREATE_TIMEOUT);
    assert!(out.success, "{out}");
    assert_eq!(
        errors_of(&cli, "ca-b"),
        "",
        "regenerate-certs moved b to the current CA"
    );
}
