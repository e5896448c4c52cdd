//! The per-user cache of an etcd store: what the docker client and the system `ssh` need on
//! disk for one machine (its certificates, keys and known_hosts), written from the record.

use crate::store::{ExportedFiles, StoreError};
use std::path::{Path, PathBuf};

/// The machine's folder under `root`. Names come from etcd, which anyone with write access to
/// the prefix fills: one that is not a machine name (`../..`) would lead out of the cache, and
/// has no folder.
pub(super) fn dir_of(root: &Path, name: &str) -> Result<PathBuf, StoreError> {
    if !crate::name::is_valid_name(name) {
        return Err(StoreError::Corrupt {
            machine: name.into(),
            what: "its name".into(),
            reason: "not a machine name (letters, digits, dots and dashes)".into(),
        });
    }
    Ok(root.join("machines").join(name))
}

/// Writes the CA, client certificate, client key and SSH key (`files`, in that order) and
/// `known_hosts` to the private folder `dir`, each file only when it differs.
pub(super) fn write(
    dir: PathBuf,
    files: [Vec<u8>; 4],
    known_hosts: &[u8],
) -> Result<ExportedFiles, StoreError> {
    use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
    let io = |op, dir: &Path| {
        let path = dir.to_path_buf();
        move |source| StoreError::Io { op, path, source }
    };
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(&dir)
        .map_err(io("creating the cache folder", &dir))?;
    // a folder that was there already is made private too (or refused, when it is another
    // user's)
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700))
        .map_err(io("making private the cache folder", &dir))?;
    let [ca, cert, key, ssh] = files;
    Ok(ExportedFiles {
        ca_cert: file(&dir, "ca.pem", &ca, false)?,
        client_cert: file(&dir, "cert.pem", &cert, false)?,
        client_key: file(&dir, "key.pem", &key, true)?,
        ssh_key: file(&dir, "id_ed25519", &ssh, true)?,
        known_hosts: file(&dir, "known_hosts", known_hosts, false)?,
        dir,
    })
}

/// Writes `data` to `dir/file` (0600 for secrets) unless it already holds exactly that, with
/// that mode.
fn file(dir: &Path, file: &str, data: &[u8], secret: bool) -> Result<PathBuf, StoreError> {
    use std::io::Write;
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let path = dir.join(file);
    let mode = if secret { 0o600 } else { 0o644 };
    let as_it_should_be = std::fs::symlink_metadata(&path)
        .is_ok_and(|m| m.is_file() && m.mode() & 0o777 == mode)
        && std::fs::read(&path).is_ok_and(|d| d == data);
    if as_it_should_be {
        return Ok(path);
    }
    let io = |op| {
        let path = path.clone();
        move |source| StoreError::Io { op, path, source }
    };
    let mut tmp = tempfile::Builder::new()
        .prefix(&format!(".{file}."))
        .permissions(std::fs::Permissions::from_mode(mode))
        .tempfile_in(dir)
        .map_err(io("creating a temporary file for"))?;
    tmp.write_all(data).map_err(io("writing"))?;
    tmp.persist(&path).map_err(|e| io("replacing")(e.error))?;
    Ok(path)
}
