//! Subcommands of `omadata`, runnable in-process (tests call [`run`] directly).

use clap::{Args, Parser, Subcommand};
use omadata_consent::audit::{self, Checkpoint, LogInvalid};
use omadata_consent::receipt::{ReceiptInvalid, verify_receipt};
use omadata_consent::{ConsentError, Jwks, ServiceKey};
use omadata_store_sled::SledStore;
use omadata_vault::{Catalogue, Keyring, MasterKey, Vault, VaultError};
use std::ffi::OsString;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

#[derive(Debug, Parser)]
#[command(
    name = "omadata",
    version,
    about = "OmaData: young people's own data, shared by consent"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Key management.
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Consent receipts.
    #[command(subcommand)]
    Receipt(ReceiptCommand),
    /// The audit log.
    #[command(subcommand)]
    Audit(AuditCommand),
}

#[derive(Debug, Subcommand)]
enum KeysCommand {
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

#[derive(Debug, Subcommand)]
enum ReceiptCommand {
    /// Verifies a receipt file offline against published keys.
    Verify {
        receipt: PathBuf,
        #[arg(long)]
        jwks: PathBuf,
    },
}

#[derive(Debug, Args)]
#[group(required = true, multiple = false)]
struct LogSource {
    /// A data directory (its `db` holds the log).
    #[arg(long)]
    data: Option<PathBuf>,
    /// An exported entries file (one canonical JSON entry per line).
    #[arg(long, requires = "checkpoints")]
    entries: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
enum AuditCommand {
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
        #[arg(long)]
        data: PathBuf,
        #[arg(long)]
        entries: PathBuf,
        #[arg(long)]
        checkpoints: PathBuf,
    },
}

#[derive(Debug, thiserror::Error)]
pub enum CliError {
    #[error("{0}")]
    Usage(String),
    #[error("receipt does not verify: {0}")]
    Receipt(#[from] ReceiptInvalid),
    #[error("audit log does not verify: {0}")]
    Log(#[from] LogInvalid),
    #[error("{0}")]
    Vault(#[from] VaultError),
    #[error("{0}")]
    Consent(#[from] ConsentError),
    #[error("{path}: {reason}")]
    File { path: String, reason: String },
}

impl CliError {
    /// 1: the thing checked is not valid; 2: the command could not run.
    pub fn exit_code(&self) -> u8 {
        match self {
            CliError::Receipt(_) | CliError::Log(_) => 1,
            _ => 2,
        }
    }
}

fn file_error(path: &Path, reason: impl ToString) -> CliError {
    CliError::File {
        path: path.display().to_string(),
        reason: reason.to_string(),
    }
}

fn read(path: &Path) -> Result<Vec<u8>, CliError> {
    std::fs::read(path).map_err(|e| file_error(path, e))
}

fn read_jwks(path: &Path) -> Result<Jwks, CliError> {
    serde_json::from_slice(&read(path)?)
        .map_err(|e| file_error(path, format!("not a JWKS document: {e}")))
}

fn say(out: &mut dyn Write, text: std::fmt::Arguments<'_>) -> Result<(), CliError> {
    out.write_fmt(text)
        .and_then(|()| out.write_all(b"\n"))
        .map_err(|e| file_error(Path::new("<stdout>"), e))
}

/// Parses `args` (the first is the program name) and runs the command.
pub fn run<I, T>(args: I, out: &mut dyn Write) -> Result<(), CliError>
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let cli = Cli::try_parse_from(args).map_err(|e| {
        if matches!(
            e.kind(),
            clap::error::ErrorKind::DisplayHelp | clap::error::ErrorKind::DisplayVersion
        ) {
            let _ = write!(out, "{e}");
            return CliError::Usage(String::new());
        }
        CliError::Usage(e.render().to_string())
    });
    let cli = match cli {
        Ok(cli) => cli,
        Err(CliError::Usage(message)) if message.is_empty() => return Ok(()),
        Err(e) => return Err(e),
    };
    match cli.command {
        Command::Keys(command) => keys(command, out),
        Command::Receipt(ReceiptCommand::Verify { receipt, jwks }) => {
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
        Command::Audit(AuditCommand::Verify {
            source,
            checkpoints,
            jwks,
        }) => {
            let keys = read_jwks(&jwks)?;
            let report = match (source.data, source.entries, checkpoints) {
                (Some(data), _, _) => {
                    let store = SledStore::open(&data.join("db")).map_err(VaultError::from)?;
                    audit::verify_store(&store, &keys)?
                }
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
        Command::Audit(AuditCommand::Export {
            data,
            entries,
            checkpoints,
        }) => {
            let store = SledStore::open(&data.join("db")).map_err(VaultError::from)?;
            let (raw, signed) = audit::export_store(&store)?;
            let mut lines = Vec::new();
            for entry in &raw {
                lines.extend_from_slice(entry);
                lines.push(b'\n');
            }
            std::fs::write(&entries, lines).map_err(|e| file_error(&entries, e))?;
            let json =
                serde_json::to_vec_pretty(&signed).map_err(|e| file_error(&checkpoints, e))?;
            std::fs::write(&checkpoints, json).map_err(|e| file_error(&checkpoints, e))?;
            say(
                out,
                format_args!(
                    "exported {} entries and {} checkpoints",
                    raw.len(),
                    signed.len()
                ),
            )
        }
    }
}

fn keys(command: KeysCommand, out: &mut dyn Write) -> Result<(), CliError> {
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
            let store = Arc::new(SledStore::open(&data.join("db")).map_err(VaultError::from)?);
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
