//! Subcommands of `omadata`, runnable in-process (tests call [`run`] directly). This module
//! parses the command line and holds what every command shares (errors, file reading, output);
//! each command group has its own module:
//!
//! - `serve`: `serve` and `demo` (settings from flags, environment and config file; `demo`
//!   only with the `demo` feature).
//! - `register`: `register` organisations and staff; confirm or deactivate staff.
//! - `keys`: `keys` (master and signing keys, the JWKS, master-key rotation).
//! - `evidence`: `receipt verify`, `audit verify` and `audit export`.
//! - `backup`: `backup` and `restore` (the embedded store).
//! - `migrate`: `migrate` (a PostgreSQL store's schema) and `migrate-store` (sled to
//!   PostgreSQL).

mod backup;
mod evidence;
mod keys;
mod migrate;
mod register;
mod serve;

use crate::store::StoreChoice;
use clap::{Parser, Subcommand};
use evidence::{AuditCommand, ReceiptCommand};
use keys::KeysCommand;
use omadata_consent::audit::LogInvalid;
use omadata_consent::receipt::ReceiptInvalid;
use omadata_consent::{ConsentError, Jwks};
use omadata_vault::VaultError;
use register::RegisterCommand;
use serve::ServeArgs;
use std::ffi::OsString;
use std::io::Write;
use std::path::{Path, PathBuf};

#[derive(Debug, Parser)]
#[command(
    name = "omadata",
    version,
    about = "OmaData: young people's own data, shared by consent"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
    /// The store: `sled` in the data directory (the default) or a postgres://… connection
    /// string (then the data directory holds only the key files); also OMADATA_STORE.
    #[arg(long, global = true)]
    store: Option<String>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serves the gateway (config file plus OMADATA_* environment overrides).
    Serve(ServeArgs),
    /// Serves with the test identity provider and demo data for every test person.
    #[cfg(feature = "demo")]
    Demo {
        #[arg(long, default_value = "127.0.0.1:8080")]
        listen: std::net::SocketAddr,
        #[arg(long, default_value = "demo-data")]
        data: PathBuf,
    },
    /// Registers organisations and their staff (operator).
    #[command(subcommand)]
    Register(RegisterCommand),
    /// Key management.
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Consent receipts.
    #[command(subcommand)]
    Receipt(ReceiptCommand),
    /// The audit log.
    #[command(subcommand)]
    Audit(AuditCommand),
    /// Copies the store into one file, consistently, also while the gateway serves it.
    /// Keys are not in the copy: keep the data directory's key files safe separately.
    Backup {
        #[arg(long)]
        data: PathBuf,
        /// The backup file to create (must not exist).
        #[arg(long)]
        out: PathBuf,
    },
    /// Creates or upgrades a PostgreSQL store's schema (`serve` also does at start).
    Migrate,
    /// Copies a sled store into an empty PostgreSQL store: records stay sealed, the audit
    /// log keeps its tree and checkpoints. Run with the gateway stopped.
    MigrateStore {
        /// The data directory whose `db` is copied.
        #[arg(long)]
        from: PathBuf,
        /// The empty PostgreSQL store (postgres://…).
        #[arg(long)]
        to: String,
    },
    /// Restores a backup into a data directory that has no store yet.
    Restore {
        /// The backup file.
        #[arg(long)]
        from: PathBuf,
        #[arg(long)]
        data: PathBuf,
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
    #[error("{0}")]
    Server(#[from] crate::server::ServerError),
    #[error("configuration: {0}")]
    Config(String),
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

/// `backup` and `restore` copy the embedded store; PostgreSQL has its own tools.
fn refuse_postgres(store: &StoreChoice, command: &str) -> Result<(), CliError> {
    match store {
        StoreChoice::Embedded => Ok(()),
        StoreChoice::Postgres(_) => Err(CliError::Config(format!(
            "`{command}` copies the embedded store; back up a PostgreSQL store with PostgreSQL's own tools (a base backup with pg_basebackup plus WAL archiving; see README, \"Running for real\")"
        ))),
    }
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
    if let Command::Serve(args) = cli.command {
        return serve::serve(args, cli.store, out);
    }
    let store = StoreChoice::resolve(cli.store, None).map_err(CliError::Config)?;
    match cli.command {
        Command::Serve(_) => Ok(()),
        #[cfg(feature = "demo")]
        Command::Demo { listen, data } => serve::demo(listen, data, store, out),
        Command::Register(command) => register::register(command, &store, out),
        Command::Keys(command) => keys::keys(command, &store, out),
        Command::Receipt(command) => evidence::receipt(command, out),
        Command::Audit(command) => evidence::audit(command, &store, out),
        Command::Backup { data, out: path } => {
            refuse_postgres(&store, "backup")?;
            backup::backup(&data, &path, out)
        }
        Command::Restore { from, data } => {
            refuse_postgres(&store, "restore")?;
            backup::restore(&from, &data, out)
        }
        Command::Migrate => migrate::migrate(&store, out),
        Command::MigrateStore { from, to } => migrate::migrate_store(&from, &to, out),
    }
}
