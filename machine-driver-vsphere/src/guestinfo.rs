//! What the VM learns at first boot through VMware guestinfo (extraConfig `guestinfo.*`):
//! cloud-init's metadata (a fresh instance-id, the hostname) and user-data (the SSH user with the
//! machine's key and passwordless sudo), base64 with their `.encoding` keys; for the default ISO
//! (Flatcar) the same as an Ignition config.

use base64::Engine;
use serde_json::json;

/// A fresh random id, so cloud-init treats every machine (and every clone) as a new instance.
pub fn new_instance_id() -> String {
    let mut b = [0u8; 16];
    let ok = std::fs::File::open("/dev/urandom")
        .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut b))
        .is_ok();
    if !ok {
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        let d = ring::digest::digest(
            &ring::digest::SHA256,
            format!("{t}-{}", std::process::id()).as_bytes(),
        );
        b.copy_from_slice(&d.as_ref()[..16]);
    }
    let h: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

/// cloud-init metadata (JSON, which is YAML).
pub fn metadata(instance_id: &str, hostname: &str) -> String {
    json!({ "instance-id": instance_id, "local-hostname": hostname, "hostname": hostname })
        .to_string()
}

/// The driver's `#cloud-config`: hostname, /etc/hosts, the SSH user with the key and sudo.
pub fn cloud_config(hostname: &str, user: &str, public_key: &str) -> String {
    // JSON strings are valid YAML double-quoted scalars: safe for any key comment
    let q = |s: &str| serde_json::to_string(s).expect("string");
    format!(
        "#cloud-config\n\
         hostname: {h}\n\
         fqdn: {h}\n\
         manage_etc_hosts: true\n\
         users:\n\
         \x20 - name: {u}\n\
         \x20   sudo: \"ALL=(ALL) NOPASSWD:ALL\"\n\
         \x20   shell: /bin/bash\n\
         \x20   lock_passwd: true\n\
         \x20   no_user_group: true\n\
         \x20   ssh_authorized_keys:\n\
         \x20     - {k}\n",
        h = q(hostname),
        u = q(user),
        k = q(public_key.trim()),
    )
}

/// The user-data: the driver's cloud-config, plus the user's own (`--vmwarevsphere-cloudinit`)
/// as a second MIME part, merged by cloud-init (lists appended).
pub fn userdata(ours: &str, users: Option<&str>) -> String {
    let Some(theirs) = users.filter(|u| !u.trim().is_empty()) else {
        return ours.to_string();
    };
    let ctype = |s: &str| {
        let first = s.lines().next().unwrap_or("").trim();
        if first.starts_with("#cloud-config") {
            "text/cloud-config"
        } else if first.starts_with("#!") {
            "text/x-shellscript"
        } else if first.starts_with("#include") {
            "text/x-include-url"
        } else if first.starts_with("#cloud-boothook") {
            "text/cloud-boothook"
        } else {
            "text/cloud-config"
        }
    };
    let boundary = "==MACHINE-VSPHERE-BOUNDARY==";
    format!(
        "Content-Type: multipart/mixed; boundary=\"{b}\"\nMIME-Version: 1.0\n\n\
         --{b}\nContent-Type: text/cloud-config; charset=\"utf-8\"\nMIME-Version: 1.0\n\
         Content-Disposition: attachment; filename=\"machine.cfg\"\n\n{ours}\n\
         --{b}\nContent-Type: {t}; charset=\"utf-8\"\nMIME-Version: 1.0\n\
         Merge-Type: list(append)+dict(no_replace,recurse_list)+str()\n\
         Content-Disposition: attachment; filename=\"user-data\"\n\n{theirs}\n\
         --{b}--\n",
        b = boundary,
        t = ctype(theirs),
    )
}

/// An Ignition config (for Flatcar, the default ISO) with the same user, key and hostname.
pub fn ignition(hostname: &str, user: &str, public_key: &str) -> String {
    json!({
        "ignition": { "version": "3.3.0" },
        "passwd": { "users": [ {
            "name": user,
            "groups": ["sudo", "docker"],
            "sshAuthorizedKeys": [ public_key.trim() ]
        } ] },
        "storage": { "files": [ {
            "path": "/etc/hostname",
            "mode": 420,
            "overwrite": true,
            "contents": { "source": format!("data:,{hostname}") }
        } ] }
    })
    .to_string()
}

/// The extraConfig entries that carry it all.
pub fn extra_config(
    instance_id: &str,
    hostname: &str,
    user: &str,
    public_key: &str,
    user_cloudinit: Option<&str>,
    with_ignition: bool,
) -> Vec<(String, String)> {
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s.as_bytes());
    let mut v = vec![
        (
            "guestinfo.metadata".into(),
            b64(&metadata(instance_id, hostname)),
        ),
        ("guestinfo.metadata.encoding".into(), "base64".into()),
        (
            "guestinfo.userdata".into(),
            b64(&userdata(
                &cloud_config(hostname, user, public_key),
                user_cloudinit,
            )),
        ),
        ("guestinfo.userdata.encoding".into(), "base64".into()),
    ];
    if with_ignition {
        v.push((
            "guestinfo.ignition.config.data".into(),
            b64(&ignition(hostname, user, public_key)),
        ));
        v.push((
            "guestinfo.ignition.config.data.encoding".into(),
            "base64".into(),
        ));
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instance_ids_are_fresh() {
        let a = new_instance_id();
        assert_eq!(a.len(), 36);
        assert_ne!(a, new_instance_id());
    }

    #[test]
    fn cloud_config_quotes_the_key() {
        let c = cloud_config("testvm", "docker", "ssh-ed25519 AAAA x: #y\n");
        assert!(c.starts_with("#cloud-config\n"));
        assert!(c.contains("- \"ssh-ed25519 AAAA x: #y\""));
        assert!(c.contains("manage_etc_hosts: true"));
        assert!(c.contains("sudo: \"ALL=(ALL) NOPASSWD:ALL\""));
    }

    #[test]
    fn user_cloudinit_becomes_a_second_part() {
        let u = userdata("#cloud-config\na: 1\n", Some("#!/bin/sh\necho hi\n"));
        assert!(u.starts_with("Content-Type: multipart/mixed"));
        assert!(u.contains("text/x-shellscript"));
        assert_eq!(userdata("#cloud-config\n", None), "#cloud-config\n");
    }
}
