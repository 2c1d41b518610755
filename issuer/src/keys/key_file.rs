//! Private key files on disk: who may read them, and writing them so that nobody else can.

use std::fs::{self, DirBuilder, File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::Path;

use super::KeyError;

/// File name of the private key inside `KEYS_DIR`.
pub const PRIVATE_KEY_FILE: &str = "private.pem";
/// File name of the public key inside `KEYS_DIR`.
pub const PUBLIC_KEY_FILE: &str = "public.pem";

/// Who besides its owner may read or write a private key file, by the file's mode.
///
/// Any permission for other users, or write permission for the group, refuses the key
/// ([`KeyError::ExposedKey`]): whoever can write the file can replace the signing key. Group
/// read is tolerated with a warning, because a Kubernetes secret mounted with `fsGroup` is
/// `0640` (or `0440`) and the issuer reads it through that group.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyFileAccess {
    /// The owner only (`0600`, `0400`).
    Owner,
    /// The file's group may read it too (`0640`, `0440`).
    Group,
    /// Other users may read it, or the group may write it (`0644`, `0604`, `0660`, `0620`, ...).
    Others,
}

impl KeyFileAccess {
    /// Judges a Unix mode (`st_mode`; only the permission bits count).
    pub fn of_mode(mode: u32) -> Self {
        if mode & 0o027 != 0 {
            Self::Others
        } else if mode & 0o050 != 0 {
            Self::Group
        } else {
            Self::Owner
        }
    }
}

/// The contents of a key file and who may access it; refused when other users may. The mode
/// is read from the open file, so it is the mode of the file that is read.
pub(super) fn read_key_file(path: &Path) -> Result<(String, KeyFileAccess), KeyError> {
    let unreadable = |source| KeyError::Unreadable {
        path: path.to_owned(),
        source,
    };
    let mut file = match File::open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            return Err(KeyError::Missing(path.to_owned()));
        }
        Err(source) => return Err(unreadable(source)),
    };
    let mode = regular_file_mode(&file).map_err(unreadable)?;
    let access = KeyFileAccess::of_mode(mode);
    if access == KeyFileAccess::Others {
        return Err(KeyError::ExposedKey {
            path: path.to_owned(),
            mode: mode & 0o7777,
        });
    }
    let mut pem = String::new();
    file.read_to_string(&mut pem).map_err(unreadable)?;
    Ok((pem, access))
}

/// The mode of `file`, which must be a regular file (after symbolic links, as Kubernetes
/// secret mounts use them): a FIFO or a device is not a key file.
fn regular_file_mode(file: &File) -> io::Result<u32> {
    use std::os::unix::fs::PermissionsExt;
    let metadata = file.metadata()?;
    if !metadata.is_file() {
        return Err(io::Error::other("not a regular file"));
    }
    Ok(metadata.permissions().mode())
}

/// Creates `keys_dir` (mode 0700) unless it exists.
pub(super) fn create_keys_dir(keys_dir: &Path) -> Result<(), KeyError> {
    DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(keys_dir)
        .map_err(|source| KeyError::Unwritable {
            path: keys_dir.to_owned(),
            source,
        })
}

/// Writes a fresh file with `mode`, replacing any file of that name, and syncs it.
pub(super) fn write_file(path: &Path, contents: &[u8], mode: u32) -> Result<(), KeyError> {
    let unwritable = |source| KeyError::Unwritable {
        path: path.to_owned(),
        source,
    };
    // Remove first so that the mode applies to a fresh file, never to an old one's permissions.
    match fs::remove_file(path) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(unwritable(e)),
    }
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(path)
        .map_err(unwritable)?;
    file.write_all(contents)
        .and_then(|()| file.sync_all())
        .map_err(unwritable)
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;
    use crate::keys::{RsaSigningKey, generate};

    #[test]
    fn a_key_file_is_private_to_its_owner_shared_with_its_group_or_exposed_to_others() {
        for mode in [0o600, 0o400, 0o700, 0o100_600] {
            assert_eq!(
                KeyFileAccess::of_mode(mode),
                KeyFileAccess::Owner,
                "{mode:o}"
            );
        }
        for mode in [0o640, 0o440, 0o650, 0o610] {
            assert_eq!(
                KeyFileAccess::of_mode(mode),
                KeyFileAccess::Group,
                "{mode:o}"
            );
        }
        for mode in [
            0o644, 0o604, 0o602, 0o601, 0o666, 0o777, 0o100_644, 0o660, 0o620,
        ] {
            assert_eq!(
                KeyFileAccess::of_mode(mode),
                KeyFileAccess::Others,
                "{mode:o}"
            );
        }
    }

    #[test]
    fn a_key_file_other_users_may_read_is_refused_and_one_its_group_may_read_is_loaded() {
        let dir = tempfile::TempDir::new().unwrap();
        let path = generate(dir.path(), false).unwrap().private_path;
        let chmod = |mode| fs::set_permissions(&path, fs::Permissions::from_mode(mode)).unwrap();

        chmod(0o644);
        let refused = RsaSigningKey::load_file(&path).unwrap_err();
        chmod(0o640);
        let shared = RsaSigningKey::load_file(&path).unwrap();
        chmod(0o600);
        let private = RsaSigningKey::load_file(&path).unwrap();

        assert!(
            matches!(refused, KeyError::ExposedKey { mode: 0o644, .. }),
            "{refused}"
        );
        assert_eq!(
            refused.to_string(),
            format!(
                "KEYS_DIR: {0} may be read or written by other users (mode 0644); run `chmod 600 {0}`",
                path.display()
            )
        );
        assert_eq!(shared.file_access(), KeyFileAccess::Group);
        assert_eq!(private.file_access(), KeyFileAccess::Owner);
        assert_eq!(shared.kid(), private.kid());
    }
}
