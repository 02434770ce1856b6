//! `backup` and `restore`: one consistent file of the store, live or stopped.

use super::{CliError, file_error, say};
use omadata_store_sled::SledStore;
use omadata_vault::VaultError;
use std::io::Write;
use std::path::{Path, PathBuf};

/// Writes the backup beside its final name, checks it whole, then moves it into place.
pub(super) fn backup(data: &Path, path: &Path, out: &mut dyn Write) -> Result<(), CliError> {
    if path.exists() {
        return Err(file_error(path, "already exists"));
    }
    let mut partial = path.as_os_str().to_owned();
    partial.push(".partial");
    let partial = PathBuf::from(partial);
    let written = (|| -> Result<(bool, omadata_store_sled::backup::BackupSummary), CliError> {
        let mut file = omadata_store_sled::permissions::create_private_file(&partial)
            .map_err(|e| file_error(&partial, e))?;
        let live = crate::control::request_backup(data, &mut file)
            .map_err(|e| file_error(&crate::control::socket_path(data), e))?;
        if !live {
            let store = SledStore::open(&data.join("db")).map_err(VaultError::from)?;
            store
                .write_backup(&mut file)
                .map_err(|e| file_error(&partial, e))?;
        }
        file.sync_all().map_err(|e| file_error(&partial, e))?;
        let mut check = std::fs::File::open(&partial).map_err(|e| file_error(&partial, e))?;
        let summary = SledStore::check_backup(&mut check).map_err(|e| file_error(&partial, e))?;
        std::fs::rename(&partial, path)
            .and_then(|()| omadata_store_sled::permissions::sync_parent_dir(path))
            .map_err(|e| file_error(path, e))?;
        Ok((live, summary))
    })();
    let (live, summary) = match written {
        Ok(done) => done,
        Err(e) => {
            let _ = std::fs::remove_file(&partial);
            return Err(e);
        }
    };
    say(
        out,
        format_args!(
            "backup of {} {}: {} stored keys, {} bytes, sha256 {}",
            data.display(),
            if live {
                "(live, from the running gateway)"
            } else {
                "(no gateway running)"
            },
            summary.records,
            summary.bytes,
            summary.sha256
        ),
    )
}

/// Restores a backup file into `data`, whose store must not exist yet.
pub(super) fn restore(from: &Path, data: &Path, out: &mut dyn Write) -> Result<(), CliError> {
    let mut file = std::fs::File::open(from).map_err(|e| file_error(from, e))?;
    let summary =
        SledStore::restore(&data.join("db"), &mut file).map_err(|e| file_error(from, e))?;
    say(
        out,
        format_args!(
            "restored {} stored keys from {} (sha256 {}) into {}; put the master key, signing key and enrolment secret beside it before serving",
            summary.records,
            from.display(),
            summary.sha256,
            data.display()
        ),
    )
}
