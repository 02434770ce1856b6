//! `keys`: master and signing keys, the published JWKS, and master-key rotation.

use super::{CliError, file_error, say};
use crate::store::{OpenStore, StoreChoice};
use clap::Subcommand;
use omadata_consent::{Jwks, ServiceKey};
use omadata_vault::{Catalogue, Keyring, MasterKey, Vault, VaultError};
use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;

#[derive(Debug, Subcommand)]
pub(super) enum KeysCommand {
    /// Writes a new random master key to a new file (never overwrites).
    GenerateMaster {
        #[arg(long)]
        out: PathBuf,
    },
    /// Writes a new Ed25519 signing key (receipts, checkpoints) to a new file.
    GenerateSigning {
        #[arg(long)]
        out: PathBuf,
    },
    /// Prints the JWKS that publishes a signing key's public half.
    Jwks {
        #[arg(long)]
        signing_key: PathBuf,
    },
    /// Rewraps every data key under a new master key; resumes an interrupted rotation.
    Rotate {
        #[arg(long)]
        data: PathBuf,
        #[arg(long)]
        old_key: PathBuf,
        #[arg(long)]
        new_key: PathBuf,
    },
}

pub(super) fn keys(
    command: KeysCommand,
    choice: &StoreChoice,
    out: &mut dyn Write,
) -> Result<(), CliError> {
    match command {
        KeysCommand::GenerateMaster { out: path } => {
            let key = MasterKey::generate()?;
            key.write_new_file(&path)?;
            say(
                out,
                format_args!("master key {} written to {}", key.id(), path.display()),
            )
        }
        KeysCommand::GenerateSigning { out: path } => {
            let key = ServiceKey::generate()?;
            key.write_new_file(&path)?;
            say(
                out,
                format_args!("signing key {} written to {}", key.kid(), path.display()),
            )
        }
        KeysCommand::Jwks { signing_key } => {
            let key = ServiceKey::from_file(&signing_key)?;
            let jwks = Jwks::of(&[key.public()]);
            let json =
                serde_json::to_string_pretty(&jwks).map_err(|e| file_error(&signing_key, e))?;
            say(out, format_args!("{json}"))
        }
        KeysCommand::Rotate {
            data,
            old_key,
            new_key,
        } => {
            let old = MasterKey::from_file(&old_key)?;
            let new = MasterKey::from_file(&new_key)?;
            let new_id = new.id().clone();
            // Every gateway caches which master key is active: none may serve meanwhile.
            let store = OpenStore::open_alone(&data, choice)
                .map_err(VaultError::from)?
                .vault();
            // The keyring holds both; `open` accepts a store under either or mid-rotation.
            let keyring = Keyring::new(old).with(MasterKey::from_file(&new_key)?);
            let vault = Vault::open(store, keyring, Arc::new(Catalogue::builtin()?))?;
            let progress = if vault.active_master_key() == new_id {
                vault.resume_rotation()?
            } else {
                vault.rotate_master_key(new)?
            };
            say(
                out,
                format_args!(
                    "master key rotated {} -> {}: {} data keys rewrapped, no record re-encrypted",
                    progress.from, progress.to, progress.rewrapped
                ),
            )
        }
    }
}
