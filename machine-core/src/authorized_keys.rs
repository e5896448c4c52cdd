//! Installing a machine's own key in the login user's `authorized_keys` (as ssh-copy-id does)
//! and taking it off again: the scripts, for the shell the SSH session runs them in.

use crate::shell;

/// A script that adds `public_key` to the login user's `~/.ssh/authorized_keys` unless it is
/// there already, keeping OpenSSH's required modes.
pub fn install_script(public_key: &str) -> String {
    let line = shell::quote(public_key.trim());
    format!(
        "set -e; umask 077; mkdir -p ~/.ssh; touch ~/.ssh/authorized_keys; \
         grep -qxF {line} ~/.ssh/authorized_keys || printf '%s\\n' {line} >> ~/.ssh/authorized_keys; \
         chmod 700 ~/.ssh; chmod 600 ~/.ssh/authorized_keys"
    )
}

/// A script that removes every line holding `key_data` (the key's base64 part) from
/// `~/.ssh/authorized_keys`, rewriting the file in place so its owner and mode stay.
pub fn remove_script(key_data: &str) -> String {
    let data = shell::quote(key_data);
    format!(
        "set -e; f=~/.ssh/authorized_keys; [ -f \"$f\" ] || exit 0; \
         t=$(mktemp); trap 'rm -f \"$t\"' EXIT; \
         grep -vF {data} \"$f\" > \"$t\" || true; cat \"$t\" > \"$f\""
    )
}

/// The base64 part of an OpenSSH public key line (`ssh-ed25519 AAAA... comment`).
pub fn key_data(public_line: &str) -> Option<&str> {
    public_line.split_whitespace().nth(1).filter(|d| {
        d.len() > 16
            && d.chars()
                .all(|c| c.is_ascii_alphanumeric() || "+/=".contains(c))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scripts_quote_the_key() {
        let s = install_script("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJdD machine-web1\n");
        assert!(
            s.contains("'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJdD machine-web1'"),
            "{s}"
        );
        assert_eq!(
            key_data("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJdD c"),
            Some("AAAAC3NzaC1lZDI1NTE5AAAAIJdD")
        );
        assert_eq!(key_data("ssh-ed25519 $(reboot) c"), None);
        assert!(remove_script("AAAAC3NzaC1lZDI1NTE5AAAAIJdD")
            .contains("grep -vF AAAAC3NzaC1lZDI1NTE5AAAAIJdD"));
    }
}
