//! `receipt verify`, `audit verify` and `audit export`: the signed evidence, checked offline
//! from published keys alone.

use super::{CliError, file_error, read, read_jwks, say};
use crate::store::{OpenStore, StoreChoice};
use clap::{Args, Subcommand};
use omadata_consent::audit::{self, Checkpoint};
use omadata_consent::receipt::verify_receipt;
use omadata_vault::VaultError;
use std::io::Write;
use std::path::{Path, PathBuf};

#[derive(Debug, Subcommand)]
pub(super) enum ReceiptCommand {
    /// Verifies a receipt file offline against published keys.
    Verify {
        receipt: PathBuf,
        #[arg(long)]
        jwks: PathBuf,
    },
}

#[derive(Debug, Args)]
#[group(required = false, multiple = false)]
pub(super) struct LogSource {
    /// A data directory (its `db` holds the log); not needed with a PostgreSQL `--store`.
    #[arg(long)]
    data: Option<PathBuf>,
    /// An exported entries file (one canonical JSON entry per line).
    #[arg(long, requires = "checkpoints")]
    entries: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub(super) enum AuditCommand {
    /// Recomputes the Merkle tree and checks every signed checkpoint.
    Verify {
        #[command(flatten)]
        source: LogSource,
        /// Checkpoints file (JSON array), with `--entries`.
        #[arg(long)]
        checkpoints: Option<PathBuf>,
        #[arg(long)]
        jwks: PathBuf,
    },
    /// Writes the log's entries and checkpoints for offline verification.
    Export {
        /// The data directory (not needed with a PostgreSQL `--store`).
        #[arg(long)]
        data: Option<PathBuf>,
        #[arg(long)]
        entries: PathBuf,
        #[arg(long)]
        checkpoints: PathBuf,
    },
}

pub(super) fn receipt(command: ReceiptCommand, out: &mut dyn Write) -> Result<(), CliError> {
    let ReceiptCommand::Verify { receipt, jwks } = command;
    let verified = verify_receipt(&read(&receipt)?, &read_jwks(&jwks)?)?;
    let body = &verified.receipt;
    say(
        out,
        format_args!(
            "receipt valid: {:?} of grant {} by client {} to {} ({}), signed by key {}",
            body.omadata.event,
            body.omadata.grant_id,
            body.pii_principal_id,
            body.omadata.grantee.name,
            body.omadata.grantee.organisation.name,
            verified.signature.kid
        ),
    )
}

pub(super) fn audit(
    command: AuditCommand,
    choice: &StoreChoice,
    out: &mut dyn Write,
) -> Result<(), CliError> {
    match command {
        AuditCommand::Verify {
            source,
            checkpoints,
            jwks,
        } => verify_log(source, choice, checkpoints, &jwks, out),
        AuditCommand::Export {
            data,
            entries,
            checkpoints,
        } => export_log(data.as_deref(), choice, &entries, &checkpoints, out),
    }
}

/// The store that holds the log: PostgreSQL when chosen, else sled in `data`.
fn log_store(data: Option<&Path>, choice: &StoreChoice) -> Result<Option<OpenStore>, CliError> {
    match (choice, data) {
        (StoreChoice::Postgres(_), _) => Ok(Some(
            OpenStore::open_to_read(Path::new(""), choice).map_err(VaultError::from)?,
        )),
        (StoreChoice::Embedded, Some(data)) => Ok(Some(
            OpenStore::open_to_read(data, choice).map_err(VaultError::from)?,
        )),
        (StoreChoice::Embedded, None) => Ok(None),
    }
}

fn verify_log(
    source: LogSource,
    choice: &StoreChoice,
    checkpoints: Option<PathBuf>,
    jwks: &Path,
    out: &mut dyn Write,
) -> Result<(), CliError> {
    let keys = read_jwks(jwks)?;
    let store = match source.entries {
        Some(_) => None,
        None => log_store(source.data.as_deref(), choice)?,
    };
    let report = match (store, source.entries, checkpoints) {
        (Some(store), _, _) => audit::verify_store(store.consent().as_ref(), &keys)?,
        (None, Some(entries), Some(checkpoints)) => {
            let bytes = read(&entries)?;
            let checkpoints: Vec<Checkpoint> = serde_json::from_slice(&read(&checkpoints)?)
                .map_err(|e| file_error(&checkpoints, e))?;
            let lines = bytes.split(|b| *b == b'\n').filter(|l| !l.is_empty());
            audit::verify_entries(lines, &checkpoints, &keys)?
        }
        _ => {
            return Err(CliError::Usage(
                "give --data, or --entries with --checkpoints\n".into(),
            ));
        }
    };
    say(
        out,
        format_args!(
            "audit log valid: {} entries, root {}, {} signed checkpoints verified, {} entries after the last checkpoint",
            report.entries,
            report.root_hash,
            report.checkpoints_verified,
            report.unanchored_entries
        ),
    )
}

fn export_log(
    data: Option<&Path>,
    choice: &StoreChoice,
    entries: &Path,
    checkpoints: &Path,
    out: &mut dyn Write,
) -> Result<(), CliError> {
    let store = log_store(data, choice)?
        .ok_or_else(|| CliError::Usage("give --data, or a PostgreSQL --store\n".into()))?;
    let (raw, signed) = audit::export_store(store.consent().as_ref())?;
    let mut lines = Vec::new();
    for entry in &raw {
        lines.extend_from_slice(entry);
        lines.push(b'\n');
    }
    std::fs::write(entries, lines).map_err(|e| file_error(entries, e))?;
    let json = serde_json::to_vec_pretty(&signed).map_err(|e| file_error(checkpoints, e))?;
    std::fs::write(checkpoints, json).map_err(|e| file_error(checkpoints, e))?;
    say(
        out,
        format_args!(
            "exported {} entries and {} checkpoints",
            raw.len(),
            signed.len()
        ),
    )
}
