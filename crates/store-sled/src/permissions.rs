//! Data at rest readable only by the service: directories 0700, files 0600, and the
//! directory syncs that make a created or renamed file's name durable.
//!
//! A data directory that others can read is fixed, with a warning, not refused: the
//! files are the service's own, an older release (or a loose umask) left them so, and
//! refusing would only stop the service without taking back what may have been read.

use std::fs::{DirBuilder, File, OpenOptions, Permissions};
use std::io;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

pub const DIR_MODE: u32 = 0o700;
pub const FILE_MODE: u32 = 0o600;

/// Creates `dir` and any missing parents, each 0700, and syncs the parent of each one
/// created so that its name survives a power cut.
pub fn create_private_dir(dir: &Path) -> io::Result<()> {
    let mut missing = Vec::new();
    let mut at = Some(dir);
    while let Some(path) = at.filter(|p| !p.as_os_str().is_empty() && !p.exists()) {
        missing.push(path);
        at = path.parent();
    }
    DirBuilder::new()
        .recursive(true)
        .mode(DIR_MODE)
        .create(dir)?;
    for created in missing.iter().rev() {
        sync_parent_dir(created)?;
    }
    Ok(())
}

/// Makes `dir` 0700 and everything under it private (directories 0700, other entries
/// 0600; symbolic links are left alone and not followed). Returns what it changed.
pub fn make_private(dir: &Path) -> io::Result<Vec<PathBuf>> {
    let mut changed = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(path) = pending.pop() {
        let meta = std::fs::symlink_metadata(&path)?;
        if meta.file_type().is_symlink() {
            continue;
        }
        let wanted = if meta.is_dir() { DIR_MODE } else { FILE_MODE };
        let mode = meta.permissions().mode() & 0o7777;
        // Owner bits beyond the wanted ones (an executable file) are harmless; group and
        // other bits are what is fixed.
        if mode & 0o077 != 0 {
            std::fs::set_permissions(&path, Permissions::from_mode(wanted))?;
            changed.push(path.clone());
        }
        if meta.is_dir() {
            for entry in std::fs::read_dir(&path)? {
                pending.push(entry?.path());
            }
        }
    }
    Ok(changed)
}

/// Prepares a data directory for serving: creates it 0700 if missing; if it or anything
/// in it is readable by group or others, fixes that and warns.
pub fn prepare_data_dir(dir: &Path) -> io::Result<()> {
    create_private_dir(dir)?;
    warn_if_fixed(dir, &make_private(dir)?);
    Ok(())
}

pub(crate) fn warn_if_fixed(dir: &Path, changed: &[PathBuf]) {
    if let Some(first) = changed.first() {
        tracing::warn!(
            dir = %dir.display(),
            entries = changed.len(),
            first = %first.display(),
            "the data directory was readable by other users: made it readable only by the service (directories 0700, files 0600)"
        );
    }
}

/// Creates a new file (never replacing one) readable only by its owner.
pub fn create_private_file(path: &Path) -> io::Result<File> {
    OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(FILE_MODE)
        .open(path)
}

/// Makes the directory's entries (names created, renamed or removed in it) durable.
pub fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// Makes `path`'s name in its directory durable.
pub fn sync_parent_dir(path: &Path) -> io::Result<()> {
    match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => sync_dir(parent),
        _ => sync_dir(Path::new(".")),
    }
}
