//! What the system `ssh` needs to reach a machine by its alias, `machine-NAME`: the SSH
//! transport's way for the stock docker CLI (`DOCKER_HOST=ssh://machine-NAME`, or a docker
//! context of that host) to reach a machine's daemon.
//!
//! The docker CLI runs the `ssh` it finds on PATH and has no way to pass it options, and
//! OpenSSH reads its configuration from the home folder the password database names (not
//! `$HOME`). So the store keeps, beside each machine's exported files ([`crate::Store::export_root`],
//! ROOT below):
//!
//! - `ROOT/machines/NAME/ssh_config`: `Host machine-NAME` with the machine's address, user and
//!   key only (`IdentitiesOnly`, no agent), its recorded host key only (`UserKnownHostsFile` =
//!   the machine's exported known_hosts, no global one, `StrictHostKeyChecking yes`) and
//!   `BatchMode yes`: nothing is ever asked, nothing is learnt;
//! - `ROOT/ssh_config`: `Include`s every machine's, for a user's `~/.ssh/config` to include
//!   ([`include_line`], [`add_include`]): then `ssh machine-NAME` and docker contexts reach
//!   machines with no wrapper;
//! - `ROOT/bin/ssh` (folder and script private): a POSIX sh wrapper that `machine env` puts
//!   first on PATH. When the destination it is given is `machine-NAME` (NAME a machine name
//!   whose `ROOT/machines/NAME/ssh_config` exists) it runs the real ssh with `-F` that file;
//!   any other ssh runs the real one untouched. The real ssh is the first on PATH outside the
//!   wrapper folders, found when the wrapper is written.
//!
//! Every value reaching a file here is checked or quoted for it: a path holding a `"`, a
//! backslash, `${` or a control character is refused (ssh_config has no way to say those
//! safely), `%` is written `%%` where ssh expands tokens, the wrapper's paths are quoted for
//! the shell. Files are replaced atomically (a temporary file renamed over the old one), so
//! concurrent writers never leave half a file for an ssh to read.

use crate::store::ExportedFiles;
use driver_protocol::calls::SshEndpoint;
use std::ffi::{OsStr, OsString};
use std::io::{self, Read, Write};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// The prefix of every machine's alias.
const ALIAS_PREFIX: &str = "machine-";
/// The second line of the wrapper: how a folder holding it is recognised (to find the real
/// ssh past it, and to drop an earlier machine's wrapper folder from PATH).
const WRAPPER_MARKER: &str = "# machine: ssh wrapper";
/// The store-wide config, under the export root.
const STORE_CONFIG: &str = "ssh_config";
/// A machine's own config, in its exported folder.
const MACHINE_CONFIG: &str = "ssh_config";
/// The wrapper's folder, under the export root.
const BIN: &str = "bin";

/// The alias the system ssh knows a machine by: `machine-NAME`.
pub fn alias(name: &str) -> String {
    format!("{ALIAS_PREFIX}{name}")
}

/// Where [`write`] put what the system ssh needs for a machine.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SshClientFiles {
    /// The machine's own ssh_config (`Host machine-NAME`), for `ssh -F`.
    pub config: PathBuf,
    /// The store-wide ssh_config including every machine's: what a user's `~/.ssh/config`
    /// includes ([`include_line`]).
    pub include: PathBuf,
    /// The folder holding the `ssh` wrapper, to put first on PATH.
    pub bin_dir: PathBuf,
}

/// Writes what the system ssh needs to reach machine `name` at `ssh` with its exported
/// `files`: its own ssh_config in `files.dir`, the store-wide ssh_config and the wrapper.
/// `files.dir` must be the store's `ROOT/machines/NAME` (both stores export there).
pub(crate) fn write(
    files: &ExportedFiles,
    name: &str,
    ssh: &SshEndpoint,
) -> io::Result<SshClientFiles> {
    if !crate::name::is_valid_name(name) {
        return Err(invalid(format!("{name:?} is not a machine name")));
    }
    let dir = std::path::absolute(&files.dir)?;
    let root = match dir.parent() {
        Some(machines)
            if machines.file_name() == Some(OsStr::new("machines"))
                && dir.file_name() == Some(OsStr::new(name)) =>
        {
            machines
                .parent()
                .expect("machines/ has a parent")
                .to_path_buf()
        }
        _ => {
            return Err(invalid(format!(
                "{} is not a store's machines/{name} folder",
                dir.display()
            )))
        }
    };
    let key = std::path::absolute(&files.ssh_key)?;
    let known_hosts = std::path::absolute(&files.known_hosts)?;
    let config = dir.join(MACHINE_CONFIG);
    let text = machine_config(name, ssh, &key, &known_hosts)?;
    replace_if_changed(&config, text.as_bytes(), 0o600)?;
    let include = write_store_config(&root)?;
    let bin_dir = write_wrapper(&root, std::env::var_os("PATH").as_deref())?;
    Ok(SshClientFiles {
        config,
        include,
        bin_dir,
    })
}

/// [`write`], for this workspace's tests (`machine-core/tests/ssh_client_real.rs`): the files
/// of machine `name` exported in `dir` (`ROOT/machines/NAME`), its key and known_hosts there.
/// Not an API.
#[cfg(feature = "testing")]
#[doc(hidden)]
pub fn write_for_tests(dir: &Path, name: &str, ssh: &SshEndpoint) -> io::Result<SshClientFiles> {
    let files = ExportedFiles {
        ca_cert: dir.join("ca.pem"),
        client_cert: dir.join("cert.pem"),
        client_key: dir.join("key.pem"),
        ssh_key: dir.join("id_ed25519"),
        known_hosts: dir.join("known_hosts"),
        dir: dir.to_path_buf(),
    };
    write(&files, name, ssh)
}

/// The machine's own ssh_config.
fn machine_config(
    name: &str,
    ssh: &SshEndpoint,
    key: &Path,
    known_hosts: &Path,
) -> io::Result<String> {
    if !crate::docker_url::is_host(&ssh.host) {
        return Err(invalid(format!("{:?} is not a host name", ssh.host)));
    }
    if !crate::docker_url::is_user(&ssh.user) {
        return Err(invalid(format!("{:?} is not a user name", ssh.user)));
    }
    if ssh.port == 0 {
        return Err(invalid("the SSH port is 0".into()));
    }
    Ok(format!(
        "# What the system ssh needs to reach machine {name} (written by machine: any change \
         is overwritten).\n\
         Host {alias}\n\
         \x20   HostName {host}\n\
         \x20   Port {port}\n\
         \x20   User {user}\n\
         \x20   IdentityFile {key}\n\
         \x20   IdentitiesOnly yes\n\
         \x20   IdentityAgent none\n\
         \x20   PreferredAuthentications publickey\n\
         \x20   UserKnownHostsFile {known_hosts}\n\
         \x20   GlobalKnownHostsFile /dev/null\n\
         \x20   StrictHostKeyChecking yes\n\
         \x20   UpdateHostKeys no\n\
         \x20   CheckHostIP no\n\
         \x20   BatchMode yes\n\
         \x20   ForwardAgent no\n\
         \x20   ForwardX11 no\n\
         \x20   ProxyCommand none\n\
         \x20   ControlMaster no\n\
         \x20   ControlPath none\n",
        alias = alias(name),
        host = ssh.host,
        port = ssh.port,
        user = ssh.user,
        key = config_path(key, true)?,
        known_hosts = config_path(known_hosts, true)?,
    ))
}

/// `path` as one ssh_config argument: double-quoted; `%` doubled where ssh expands `%` tokens
/// (`tokens`). Refused: what a quoted ssh_config word cannot hold, or ssh would expand
/// (`"`, backslash, `${`, control characters), and a path that is not UTF-8.
fn config_path(path: &Path, tokens: bool) -> io::Result<String> {
    let s = path
        .to_str()
        .ok_or_else(|| invalid(format!("{} is not UTF-8", path.display())))?;
    if !path.is_absolute()
        || s.contains(['"', '\\'])
        || s.contains("${")
        || s.chars().any(char::is_control)
    {
        return Err(invalid(format!(
            "the path {s:?} cannot be written in an ssh config: it holds a quote, a backslash, \
             `${{` or a control character"
        )));
    }
    let s = if tokens {
        s.replace('%', "%%")
    } else {
        s.to_string()
    };
    Ok(format!("\"{s}\""))
}

/// `Include` of `path`: an absolute path with no glob characters (`*?[`), which Include would
/// expand.
fn include_of(path: &Path) -> io::Result<String> {
    let quoted = config_path(path, false)?;
    if quoted.contains(['*', '?', '[']) {
        return Err(invalid(format!(
            "the path {} cannot be included by an ssh config: it holds `*`, `?` or `[`",
            path.display()
        )));
    }
    Ok(format!("Include {quoted}"))
}

/// The line a user's `~/.ssh/config` needs (at its top) for `ssh machine-NAME` and docker
/// contexts (`ssh://machine-NAME`) to reach the machines of the store exporting under
/// `export_root`: `Include "ROOT/ssh_config"`.
pub fn include_line(export_root: &Path) -> io::Result<String> {
    include_of(&std::path::absolute(export_root)?.join(STORE_CONFIG))
}

/// Writes the store-wide ssh_config, `ROOT/ssh_config`, including every machine's
/// (`ROOT/machines/*/ssh_config`); says where it is.
pub fn write_store_config(export_root: &Path) -> io::Result<PathBuf> {
    let root = std::path::absolute(export_root)?;
    let path = root.join(STORE_CONFIG);
    // the glob is ours: the root itself must hold none
    include_of(&root)?;
    let pattern = root.join("machines").join("*").join(MACHINE_CONFIG);
    let text = format!(
        "# Every machine of the store at {root}, known to ssh as machine-NAME (written by \
         machine: any change is overwritten).\n{include}\n",
        root = root.display().to_string().replace('\n', " "),
        include = format_args!("Include {}", config_path(&pattern, false)?),
    );
    std::fs::create_dir_all(&root)?;
    replace_if_changed(&path, text.as_bytes(), 0o600)?;
    Ok(path)
}

/// Writes the wrapper `ROOT/bin/ssh` (folder 0700, script 0700), running the first `ssh` on
/// `path` (a PATH value) that is not a wrapper; says where its folder is.
fn write_wrapper(export_root: &Path, path: Option<&OsStr>) -> io::Result<PathBuf> {
    let root = std::path::absolute(export_root)?;
    let bin_dir = root.join(BIN);
    let real = real_ssh(path, &bin_dir)?;
    let script = wrapper_script(&real, &root)?;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(&bin_dir)?;
    // one that was there already is made private too
    std::fs::set_permissions(&bin_dir, std::fs::Permissions::from_mode(0o700))?;
    replace_if_changed(&bin_dir.join("ssh"), script.as_bytes(), 0o700)?;
    Ok(bin_dir)
}

/// The first executable `ssh` in an absolute folder of `path`, past `bin_dir` and any other
/// machine wrapper.
fn real_ssh(path: Option<&OsStr>, bin_dir: &Path) -> io::Result<PathBuf> {
    let ours = bin_dir.canonicalize().ok();
    for dir in std::env::split_paths(path.unwrap_or_default()) {
        if !dir.is_absolute() || dir == bin_dir || dir.canonicalize().ok() == ours && ours.is_some()
        {
            continue;
        }
        let candidate = dir.join("ssh");
        let executable = std::fs::metadata(&candidate)
            .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0);
        if executable && !is_wrapper(&candidate) {
            return Ok(candidate);
        }
    }
    Err(io::Error::new(
        io::ErrorKind::NotFound,
        "no ssh found on PATH (the SSH transport runs the system's OpenSSH client)",
    ))
}

/// Whether the file at `path` is a machine ssh wrapper.
fn is_wrapper(path: &Path) -> bool {
    let mut head = [0u8; 128];
    let Ok(mut f) = std::fs::File::open(path) else {
        return false;
    };
    let n = f.read(&mut head).unwrap_or(0);
    String::from_utf8_lossy(&head[..n])
        .lines()
        .nth(1)
        .is_some_and(|l| l.starts_with(WRAPPER_MARKER))
}

/// Whether `dir` holds a machine ssh wrapper (of any store): such a folder is dropped from a
/// PATH before another is put first.
pub fn is_wrapper_dir(dir: &Path) -> bool {
    is_wrapper(&dir.join("ssh"))
}

/// `path` (a PATH value) with `bin_dir` first and every machine wrapper folder taken out: what
/// `machine env` sets PATH to for an SSH machine (`bin_dir: None`: what `env -u` restores).
pub fn path_with_wrapper(bin_dir: Option<&Path>, path: &OsStr) -> OsString {
    let rest = std::env::split_paths(path)
        .filter(|d| Some(d.as_path()) != bin_dir && !(d.is_absolute() && is_wrapper_dir(d)));
    let all: Vec<PathBuf> = bin_dir
        .map(Path::to_path_buf)
        .into_iter()
        .chain(rest)
        .collect();
    std::env::join_paths(all).unwrap_or_else(|_| path.to_os_string())
}

/// The wrapper: `exec REAL -F ROOT/machines/NAME/ssh_config "$@"` when the destination is
/// `machine-NAME` and that config exists, else `exec REAL "$@"`.
fn wrapper_script(real: &Path, root: &Path) -> io::Result<String> {
    let word = |p: &Path| -> io::Result<String> {
        let s = p
            .to_str()
            .ok_or_else(|| invalid(format!("{} is not UTF-8", p.display())))?;
        if s.chars().any(char::is_control) {
            return Err(invalid(format!("the path {s:?} holds a control character")));
        }
        Ok(crate::shell::quote(s))
    };
    const LETTERS: &str = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    Ok(format!(
        r#"#!/bin/sh
{WRAPPER_MARKER} (written by machine: any change is overwritten).
# ssh to a machine's alias, machine-NAME, runs the real ssh with that machine's own config (its
# key, its recorded host key only); any other ssh runs the real ssh untouched.
real={real}
root={root}
dest=
# the destination: the first word that is not an option or an option's argument
find_dest() {{
    while [ $# -gt 0 ]; do
        case $1 in
        --) [ $# -gt 1 ] && dest=$2; return ;;
        -?*)
            rest=${{1#-}}
            while [ -n "$rest" ]; do
                c=${{rest%"${{rest#?}}"}}
                rest=${{rest#?}}
                case $c in
                [BbcDEeFIiJLlmOoPpQRSWw])
                    [ -z "$rest" ] && [ $# -gt 1 ] && shift
                    break ;;
                esac
            done ;;
        *) dest=$1; return ;;
        esac
        shift
    done
}}
find_dest "$@"
case $dest in
{ALIAS_PREFIX}*)
    name=${{dest#{ALIAS_PREFIX}}}
    case $name in
    '' | *[!{LETTERS}.-]* | [.-]* | *[.-] | *..* | *.-* | *-.*) ;;
    *)
        config=$root/machines/$name/{MACHINE_CONFIG}
        if [ ${{#name}} -le 63 ] && [ -f "$config" ]; then
            exec "$real" -F "$config" "$@"
        fi ;;
    esac ;;
esac
exec "$real" "$@"
"#,
        real = word(real)?,
        root = word(root)?,
    ))
}

/// Replaces `path` with `data` (mode `mode`) through a temporary file renamed over it, unless
/// it already holds exactly that with that mode.
fn replace_if_changed(path: &Path, data: &[u8], mode: u32) -> io::Result<()> {
    let same = std::fs::symlink_metadata(path)
        .is_ok_and(|m| m.is_file() && m.mode() & 0o777 == mode)
        && std::fs::read(path).is_ok_and(|d| d == data);
    if same {
        return Ok(());
    }
    replace(path, data, mode)
}

/// Writes `path` atomically: a temporary file in its folder, synced, renamed over it.
fn replace(path: &Path, data: &[u8], mode: u32) -> io::Result<()> {
    let dir = path.parent().expect("a file in a folder");
    let mut tmp = tempfile::Builder::new()
        .prefix(".machine-")
        .permissions(std::fs::Permissions::from_mode(mode))
        .tempfile_in(dir)?;
    tmp.write_all(data)?;
    tmp.as_file().sync_all()?;
    tmp.persist(path).map_err(|e| e.error)?;
    Ok(())
}

fn invalid(msg: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, msg)
}

/// The ssh config file of the user running this program: `.ssh/config` in the home folder
/// the password database (`/etc/passwd`) gives the real uid, which is where OpenSSH looks
/// (not `$HOME`).
pub fn user_ssh_config() -> io::Result<PathBuf> {
    let uid = rustix::process::getuid().as_raw();
    let passwd = std::fs::read_to_string("/etc/passwd")?;
    let home = home_of(&passwd, uid).ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::NotFound,
            format!("uid {uid} has no home folder in /etc/passwd, where ssh looks for it"),
        )
    })?;
    Ok(home.join(".ssh").join("config"))
}

/// The home folder of `uid` in a passwd file's text.
fn home_of(passwd: &str, uid: u32) -> Option<PathBuf> {
    passwd.lines().find_map(|line| {
        let fields: Vec<&str> = line.split(':').collect();
        match fields.as_slice() {
            [_, _, u, _, _, home, ..] if u.parse() == Ok(uid) && home.starts_with('/') => {
                Some(PathBuf::from(home))
            }
            _ => None,
        }
    })
}

/// What [`add_include`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct IncludeAdded {
    /// The user's ssh config file.
    pub config: PathBuf,
    /// The line.
    pub line: String,
    /// Whether it was added (`false`: it was there already).
    pub added: bool,
}

/// Adds [`include_line`] at the top of the current user's ssh config ([`user_ssh_config`]),
/// unless it is there; writes the store-wide config it includes.
pub fn add_include(export_root: &Path) -> io::Result<IncludeAdded> {
    add_include_to(&user_ssh_config()?, export_root)
}

/// [`add_include`], to the ssh config file `config`: `~/.ssh` is made (0700) and the file
/// (0600) when missing; a file holding the line is left as it is; otherwise the line goes
/// first and every other byte of the file stays (its mode too; a symbolic link's target is
/// what is rewritten).
pub fn add_include_to(config: &Path, export_root: &Path) -> io::Result<IncludeAdded> {
    let line = include_line(export_root)?;
    write_store_config(export_root)?;
    let dir = config.parent().expect("a file in a folder");
    if !dir.exists() {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)?;
    }
    let target = match std::fs::symlink_metadata(config) {
        Ok(m) if m.file_type().is_symlink() => config.canonicalize()?,
        _ => config.to_path_buf(),
    };
    let (old, mode) = match std::fs::read(&target) {
        Ok(t) => (t, std::fs::metadata(&target)?.permissions().mode() & 0o7777),
        Err(e) if e.kind() == io::ErrorKind::NotFound => (Vec::new(), 0o600),
        Err(e) => return Err(e),
    };
    let there = String::from_utf8_lossy(&old)
        .lines()
        .any(|l| l.trim() == line);
    if !there {
        let mut text = format!("{line}\n").into_bytes();
        text.extend_from_slice(&old);
        replace(&target, &text, mode)?;
    }
    Ok(IncludeAdded {
        config: config.to_path_buf(),
        line,
        added: !there,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Command;

    fn endpoint() -> SshEndpoint {
        SshEndpoint::new("192.0.2.10", 2222, "nick")
    }

    fn mode(p: &Path) -> u32 {
        std::fs::metadata(p).unwrap().permissions().mode() & 0o777
    }

    /// A store-like export of machine `name` under `root`.
    fn exported(root: &Path, name: &str) -> ExportedFiles {
        let dir = root.join("machines").join(name);
        std::fs::create_dir_all(&dir).unwrap();
        ExportedFiles {
            ca_cert: dir.join("ca.pem"),
            client_cert: dir.join("cert.pem"),
            client_key: dir.join("key.pem"),
            ssh_key: dir.join("id_ed25519"),
            known_hosts: dir.join("known_hosts"),
            dir,
        }
    }

    /// A folder holding an `ssh` that prints its arguments, one a line.
    fn fake_ssh(dir: &Path) {
        std::fs::create_dir_all(dir).unwrap();
        let p = dir.join("ssh");
        std::fs::write(
            &p,
            "#!/bin/sh\nfor a in \"$@\"; do printf '%s\\n' \"$a\"; done\n",
        )
        .unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
    }

    #[test]
    fn the_alias_and_the_machine_config() {
        assert_eq!(alias("web1"), "machine-web1");
        let text = machine_config(
            "web1",
            &endpoint(),
            Path::new("/s/machines/web1/id_ed25519"),
            Path::new("/s 100%/machines/web1/known_hosts"),
        )
        .unwrap();
        for want in [
            "\nHost machine-web1\n",
            "    HostName 192.0.2.10\n",
            "    Port 2222\n",
            "    User nick\n",
            "    IdentityFile \"/s/machines/web1/id_ed25519\"\n",
            "    IdentitiesOnly yes\n",
            "    IdentityAgent none\n",
            "    UserKnownHostsFile \"/s 100%%/machines/web1/known_hosts\"\n",
            "    GlobalKnownHostsFile /dev/null\n",
            "    StrictHostKeyChecking yes\n",
            "    BatchMode yes\n",
        ] {
            assert!(text.contains(want), "{want:?} in\n{text}");
        }
        // hostile values never reach the file
        for bad in ["/a\"b", "/a\nb", "/a\\b", "/a${HOME}b", "/a\tb", "relative"] {
            assert!(config_path(Path::new(bad), true).is_err(), "{bad:?}");
        }
        let mut e = endpoint();
        e.host = "x\n ProxyCommand evil".into();
        assert!(machine_config("web1", &e, Path::new("/k"), Path::new("/h")).is_err());
        let mut e = endpoint();
        e.user = "-oProxyCommand=x".into();
        assert!(machine_config("web1", &e, Path::new("/k"), Path::new("/h")).is_err());
        assert!(include_of(Path::new("/a*/ssh_config")).is_err());
        assert_eq!(
            include_line(Path::new("/s 1")).unwrap(),
            "Include \"/s 1/ssh_config\""
        );
    }

    #[test]
    fn write_makes_the_three_files() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("store");
        let files = exported(&root, "web1");
        let written = write(&files, "web1", &endpoint()).unwrap();
        assert_eq!(written.config, files.dir.join("ssh_config"));
        assert_eq!(written.include, root.join("ssh_config"));
        assert_eq!(written.bin_dir, root.join("bin"));
        assert_eq!(mode(&written.config), 0o600);
        assert_eq!(mode(&written.bin_dir), 0o700);
        assert_eq!(mode(&written.bin_dir.join("ssh")), 0o700);
        let store = std::fs::read_to_string(&written.include).unwrap();
        assert!(
            store.contains(&format!(
                "\nInclude \"{}/machines/*/ssh_config\"\n",
                root.display()
            )),
            "{store}"
        );
        assert!(is_wrapper_dir(&written.bin_dir));
        // nothing else in the folders: no temporary files left
        assert_eq!(std::fs::read_dir(&written.bin_dir).unwrap().count(), 1);
        // the same again: nothing rewritten
        let before = std::fs::metadata(&written.config)
            .unwrap()
            .modified()
            .unwrap();
        write(&files, "web1", &endpoint()).unwrap();
        assert_eq!(
            std::fs::metadata(&written.config)
                .unwrap()
                .modified()
                .unwrap(),
            before
        );
        // a folder that is not the store's machines/NAME is refused
        assert!(write(&files, "web2", &endpoint()).is_err());
        assert!(write(&exported(&root, "web1"), "../web1", &endpoint()).is_err());
    }

    #[test]
    fn the_real_ssh_is_past_every_wrapper() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("store");
        let real = tmp.path().join("real");
        fake_ssh(&real);
        let bin = root.join("bin");
        // an earlier wrapper folder (another store's) and a relative folder come first
        let other = tmp.path().join("other");
        write_wrapper(&other, Some(real.as_os_str())).unwrap();
        let path = std::env::join_paths([
            PathBuf::from("."),
            other.join("bin"),
            bin.clone(),
            real.clone(),
        ])
        .unwrap();
        assert_eq!(write_wrapper(&root, Some(&path)).unwrap(), bin);
        assert_eq!(real_ssh(Some(&path), &bin).unwrap(), real.join("ssh"));
        assert!(real_ssh(Some(OsStr::new("/nonexistent")), &bin).is_err());

        // PATH for env: ours first, every wrapper folder out, the rest in order
        let user = std::env::join_paths(["/usr/bin", other.join("bin").to_str().unwrap(), "/bin"])
            .unwrap();
        let set = path_with_wrapper(Some(&bin), &user);
        let want = std::env::join_paths([bin.to_str().unwrap(), "/usr/bin", "/bin"]).unwrap();
        assert_eq!(set, want);
        assert_eq!(
            path_with_wrapper(None, &set),
            std::env::join_paths(["/usr/bin", "/bin"]).unwrap()
        );
    }

    /// Runs the wrapper of `root` with `args`; the arguments the real (fake) ssh got.
    fn through_wrapper(bin: &Path, args: &[&str]) -> Vec<String> {
        let out = Command::new(bin.join("ssh")).args(args).output().unwrap();
        assert!(out.status.success(), "{out:?}");
        String::from_utf8(out.stdout)
            .unwrap()
            .lines()
            .map(str::to_string)
            .collect()
    }

    #[test]
    fn the_wrapper_adds_the_config_for_an_alias_only() {
        let tmp = tempfile::tempdir().unwrap();
        // a root that needs quoting for the shell
        let root = tmp.path().join("it's a $(store)");
        let real = tmp.path().join("real");
        fake_ssh(&real);
        let files = exported(&root, "web1");
        std::fs::write(files.dir.join("ssh_config"), "").unwrap();
        let bin = write_wrapper(&root, Some(real.as_os_str())).unwrap();
        let config = files.dir.join("ssh_config").display().to_string();
        let with = |args: &[&str]| -> Vec<String> {
            let mut v = vec!["-F".to_string(), config.clone()];
            v.extend(args.iter().map(|a| a.to_string()));
            v
        };
        let plain = |args: &[&str]| -> Vec<String> { args.iter().map(|a| a.to_string()).collect() };
        // the docker CLI's call
        let docker = [
            "-o",
            "ConnectTimeout=30",
            "-T",
            "--",
            "machine-web1",
            "docker",
            "system",
            "dial-stdio",
        ];
        assert_eq!(through_wrapper(&bin, &docker), with(&docker));
        for args in [
            &["machine-web1", "true"][..],
            &["-p", "22", "-Tv", "machine-web1"],
            &["-oBatchMode=yes", "-l", "nick", "machine-web1", "uname"],
        ] {
            assert_eq!(through_wrapper(&bin, args), with(args), "{args:?}");
        }
        for args in [
            // the destination is another host: an alias later on is the remote command's
            &["otherhost", "echo", "machine-web1"][..],
            // an option's argument is not the destination
            &["-l", "machine-web1", "otherhost"],
            &["-o", "machine-web1", "otherhost"],
            // a machine without a config, a name that is not one, a lookalike
            &["machine-web2"],
            &["machine-../web1"],
            &["machine-web1/../web1"],
            &["machine-"],
            &["xmachine-web1"],
            &["nick@machine-web1"],
            &["-V"],
        ] {
            assert_eq!(through_wrapper(&bin, args), plain(args), "{args:?}");
        }
    }

    #[test]
    fn the_include_goes_first_once_and_nothing_else_changes() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("store");
        let config = tmp.path().join("home/.ssh/config");
        let r = add_include_to(&config, &root).unwrap();
        assert!(r.added);
        assert_eq!(mode(config.parent().unwrap()), 0o700);
        assert_eq!(mode(&config), 0o600);
        let line = include_line(&root).unwrap();
        assert_eq!(
            std::fs::read_to_string(&config).unwrap(),
            format!("{line}\n")
        );
        assert!(
            root.join("ssh_config").is_file(),
            "what it includes is there"
        );

        let mine = "Host *\n    ServerAliveInterval 30\n# no newline at the end";
        std::fs::write(&config, mine).unwrap();
        std::fs::set_permissions(&config, std::fs::Permissions::from_mode(0o640)).unwrap();
        assert!(add_include_to(&config, &root).unwrap().added);
        assert_eq!(
            std::fs::read_to_string(&config).unwrap(),
            format!("{line}\n{mine}")
        );
        assert_eq!(mode(&config), 0o640);
        assert!(!add_include_to(&config, &root).unwrap().added);
        assert_eq!(
            std::fs::read_to_string(&config).unwrap(),
            format!("{line}\n{mine}")
        );

        // a symbolic link stays one: its target gets the line
        let target = tmp.path().join("dotfiles-ssh-config");
        std::fs::write(&target, mine).unwrap();
        let linked = tmp.path().join("home2/.ssh/config");
        std::fs::create_dir_all(linked.parent().unwrap()).unwrap();
        std::os::unix::fs::symlink(&target, &linked).unwrap();
        assert!(add_include_to(&linked, &root).unwrap().added);
        assert!(std::fs::symlink_metadata(&linked)
            .unwrap()
            .file_type()
            .is_symlink());
        assert_eq!(
            std::fs::read_to_string(&target).unwrap(),
            format!("{line}\n{mine}")
        );
    }

    #[test]
    fn the_home_is_the_password_databases() {
        let passwd = "root:x:0:0:root:/root:/bin/bash\n\
                      nick:x:1000:1000:Nick,,,:/home/nick:/bin/bash\n\
                      broken\n\
                      odd:x:1001:1001::relative:/bin/sh\n";
        assert_eq!(home_of(passwd, 1000), Some(PathBuf::from("/home/nick")));
        assert_eq!(home_of(passwd, 0), Some(PathBuf::from("/root")));
        assert_eq!(home_of(passwd, 1001), None);
        assert_eq!(home_of(passwd, 4242), None);
    }
}
