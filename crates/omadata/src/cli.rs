//! Subcommands of `omadata`, runnable in-process (tests call [`run`] directly).

use crate::server::{ServerOptions, start};
use clap::{Args, Parser, Subcommand};
use omadata_consent::audit::{self, Checkpoint, LogInvalid};
use omadata_consent::receipt::{ReceiptInvalid, verify_receipt};
use omadata_consent::{
    Consent, ConsentConfig, Directory, NewOrganisation, NewStaff, OrganisationId, Profession,
    Registrar, SensitivityPolicy, StaffRole, StaffStatus,
};
use omadata_consent::{ConsentError, Jwks, ServiceKey};
use omadata_gateway::config::{DEFAULT_ACCEPTED_ACR, OidcSettings};
use omadata_store_sled::SledStore;
use omadata_vault::{Catalogue, Keyring, MasterKey, Vault, VaultError};
use std::ffi::OsString;
use std::io::Write;
use std::net::SocketAddr;
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
    /// Serves the gateway (config file plus OMADATA_* environment overrides).
    Serve(ServeArgs),
    /// Serves with the test identity provider and demo data for every test person.
    Demo {
        #[arg(long, default_value = "127.0.0.1:8080")]
        listen: SocketAddr,
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
    /// Restores a backup into a data directory that has no store yet.
    Restore {
        /// The backup file.
        #[arg(long)]
        from: PathBuf,
        #[arg(long)]
        data: PathBuf,
    },
}

#[derive(Debug, Args)]
struct ServeArgs {
    /// TOML file: listen, data, public_url, accepted_acr, insecure_http, trusted_proxies,
    /// header_read_timeout_secs, body_read_timeout_secs, idle_timeout_secs,
    /// max_connections, metrics_token_file, [oidc] issuer, client_id, client_secret_file.
    #[arg(long)]
    config: Option<PathBuf>,
    #[arg(long)]
    listen: Option<SocketAddr>,
    #[arg(long)]
    data: Option<PathBuf>,
    /// Serve an http:// public URL that is not loopback (no Secure cookies, no HSTS).
    #[arg(long)]
    insecure_http: bool,
    /// A reverse proxy (address or block, repeatable) whose X-Forwarded-For is believed;
    /// also OMADATA_TRUSTED_PROXIES (comma-separated) or `trusted_proxies`.
    #[arg(long = "trusted-proxy")]
    trusted_proxies: Vec<String>,
}

#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct ConfigFile {
    listen: Option<SocketAddr>,
    data: Option<PathBuf>,
    public_url: Option<String>,
    accepted_acr: Option<Vec<String>>,
    insecure_http: Option<bool>,
    trusted_proxies: Option<Vec<String>>,
    header_read_timeout_secs: Option<u64>,
    body_read_timeout_secs: Option<u64>,
    idle_timeout_secs: Option<u64>,
    max_connections: Option<usize>,
    /// A file (mode 0600) holding the bearer token `GET /metrics` requires.
    metrics_token_file: Option<PathBuf>,
    oidc: Option<OidcFile>,
}

/// The connection settings of `serve`: flag, then environment, then config file.
fn network_settings(
    args: &ServeArgs,
    file: &ConfigFile,
) -> Result<omadata_gateway::config::NetworkSettings, CliError> {
    use omadata_gateway::config::{IpCidr, NetworkSettings};
    let mut network = NetworkSettings::default();
    let proxies: Vec<String> = if !args.trusted_proxies.is_empty() {
        args.trusted_proxies.clone()
    } else if let Some(list) = env("OMADATA_TRUSTED_PROXIES") {
        list.split(',').map(str::to_owned).collect()
    } else {
        file.trusted_proxies.clone().unwrap_or_default()
    };
    network.trusted_proxies = proxies
        .iter()
        .filter(|p| !p.trim().is_empty())
        .map(|p| {
            p.parse::<IpCidr>()
                .map_err(|e| CliError::Config(format!("trusted proxy: {e}")))
        })
        .collect::<Result<_, _>>()?;
    let seconds = |value: Option<u64>, default: std::time::Duration, what: &str| match value {
        None => Ok(default),
        Some(0) => Err(CliError::Config(format!("{what} must be at least 1"))),
        Some(s) => Ok(std::time::Duration::from_secs(s)),
    };
    network.header_read_timeout = seconds(
        file.header_read_timeout_secs,
        network.header_read_timeout,
        "header_read_timeout_secs",
    )?;
    network.body_read_timeout = seconds(
        file.body_read_timeout_secs,
        network.body_read_timeout,
        "body_read_timeout_secs",
    )?;
    network.idle_timeout = seconds(
        file.idle_timeout_secs,
        network.idle_timeout,
        "idle_timeout_secs",
    )?;
    if let Some(max) = file.max_connections {
        if max == 0 {
            return Err(CliError::Config(
                "max_connections must be at least 1".into(),
            ));
        }
        network.max_connections = max;
    }
    network.metrics_token = match env("OMADATA_METRICS_TOKEN") {
        Some(token) => Some(zeroize::Zeroizing::new(token)),
        None => match &file.metrics_token_file {
            Some(path) => Some(zeroize::Zeroizing::new(
                omadata_vault::keys::read_secret_file(path)
                    .map_err(|e| file_error(path, e))?
                    .trim()
                    .to_owned(),
            )),
            None => None,
        },
    };
    if network
        .metrics_token
        .as_ref()
        .is_some_and(|token| token.len() < 16)
    {
        return Err(CliError::Config(
            "the metrics token must be at least 16 characters".into(),
        ));
    }
    Ok(network)
}

#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct OidcFile {
    issuer: Option<String>,
    client_id: Option<String>,
    client_secret_file: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
enum RegisterCommand {
    /// Registers an organisation; prints its id.
    Organisation {
        #[arg(long)]
        data: PathBuf,
        #[arg(long)]
        name: String,
        #[arg(long)]
        business_id: String,
        #[arg(long)]
        privacy_notice_url: String,
        #[arg(long)]
        dpo_contact: String,
    },
    /// Registers a professional, auditor or admin of an organisation.
    Staff {
        #[arg(long)]
        data: PathBuf,
        #[arg(long)]
        organisation: String,
        #[arg(long)]
        name: String,
        #[arg(long)]
        title: String,
        /// youth_work, social_work, employment_services, health_care, education, other
        #[arg(long)]
        profession: String,
        /// professional, auditor or admin (repeatable)
        #[arg(long = "role", required = true)]
        roles: Vec<String>,
        /// The identity provider subject the person logs in as.
        #[arg(long)]
        login_subject: String,
        /// The provider (issuer URL) of that subject; default: whichever issuer the
        /// gateway is configured with.
        #[arg(long)]
        login_issuer: Option<String>,
    },
    /// Confirms a staff registration an organisation admin made for a profession that
    /// unlocks special-category data (`health_care`): until then the person cannot sign in.
    ConfirmStaff {
        #[arg(long)]
        data: PathBuf,
        /// The staff id.
        #[arg(long)]
        staff: String,
    },
    /// Deactivates a staff member: they cannot sign in again (run while the gateway is
    /// stopped; at its next start their old sessions and tokens are gone too).
    DeactivateStaff {
        #[arg(long)]
        data: PathBuf,
        /// The staff id.
        #[arg(long)]
        staff: String,
    },
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
        Command::Serve(args) => serve(args, out),
        Command::Demo { listen, data } => {
            let options = ServerOptions::demo(listen, data);
            serve_until_signal(options, out, true)
        }
        Command::Register(command) => register(command, out),
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
        Command::Backup { data, out: path } => backup(&data, &path, out),
        Command::Restore { from, data } => {
            let mut file = std::fs::File::open(&from).map_err(|e| file_error(&from, e))?;
            let summary = SledStore::restore(&data.join("db"), &mut file)
                .map_err(|e| file_error(&from, e))?;
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

/// Writes the backup beside its final name, checks it whole, then moves it into place.
fn backup(data: &Path, path: &Path, out: &mut dyn Write) -> Result<(), CliError> {
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

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

fn serve(args: ServeArgs, out: &mut dyn Write) -> Result<(), CliError> {
    let file: ConfigFile = match &args.config {
        Some(path) => {
            let text = std::fs::read_to_string(path).map_err(|e| file_error(path, e))?;
            toml::from_str(&text).map_err(|e| file_error(path, e))?
        }
        None => ConfigFile::default(),
    };
    let network = network_settings(&args, &file)?;
    let insecure_http = args.insecure_http || file.insecure_http.unwrap_or(false);
    let oidc_file = file.oidc.unwrap_or_default();
    let listen = match args.listen.or(file.listen) {
        Some(listen) => listen,
        None => env("OMADATA_LISTEN")
            .unwrap_or_else(|| "127.0.0.1:8080".into())
            .parse()
            .map_err(|e| CliError::Config(format!("OMADATA_LISTEN: {e}")))?,
    };
    let data = args
        .data
        .or_else(|| env("OMADATA_DATA").map(PathBuf::from))
        .or(file.data)
        .ok_or_else(|| {
            CliError::Config("give --data, OMADATA_DATA or `data` in the config file".into())
        })?;
    let public_url = env("OMADATA_PUBLIC_URL")
        .or(file.public_url)
        .map(|u| url::Url::parse(&u).map_err(|e| CliError::Config(format!("public_url: {e}"))))
        .transpose()?;
    let issuer = env("OMADATA_OIDC_ISSUER")
        .or(oidc_file.issuer)
        .ok_or_else(|| CliError::Config("serve needs an OpenID provider: OMADATA_OIDC_ISSUER or [oidc] issuer (the test provider runs only with `omadata demo`)".into()))?;
    let client_id = env("OMADATA_OIDC_CLIENT_ID")
        .or(oidc_file.client_id)
        .ok_or_else(|| {
            CliError::Config("OMADATA_OIDC_CLIENT_ID or [oidc] client_id is required".into())
        })?;
    let client_secret = match env("OMADATA_OIDC_CLIENT_SECRET") {
        Some(secret) => Some(secret),
        None => match oidc_file.client_secret_file {
            Some(path) => Some(
                std::fs::read_to_string(&path)
                    .map_err(|e| file_error(&path, e))?
                    .trim()
                    .to_owned(),
            ),
            None => None,
        },
    };
    let options = ServerOptions {
        listen,
        data,
        public_url,
        oidc: Some(OidcSettings {
            issuer,
            client_id,
            client_secret,
        }),
        accepted_acr: file.accepted_acr.unwrap_or_else(|| {
            DEFAULT_ACCEPTED_ACR
                .iter()
                .map(|s| (*s).to_owned())
                .collect()
        }),
        demo: false,
        clock: None,
        network,
        insecure_http,
    };
    serve_until_signal(options, out, false)
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(term) => term,
                Err(_) => {
                    let _ = ctrl_c.await;
                    return;
                }
            };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}

fn serve_until_signal(
    options: ServerOptions,
    out: &mut dyn Write,
    demo: bool,
) -> Result<(), CliError> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| CliError::Config(format!("async runtime: {e}")))?;
    runtime.block_on(async {
        let mut server = start(options).await?;
        let base = server.public_url.as_str().trim_end_matches('/').to_owned();
        say(out, format_args!("OmaData is listening on {base}"))?;
        if demo {
            say(
                out,
                format_args!("Sign in as a test person (test identity provider):"),
            )?;
            for person in omadata_gateway::test_idp::TEST_PERSONS {
                say(
                    out,
                    format_args!(
                        "  {base}/auth/login?login_hint={:<15} {} ({})",
                        person.login, person.name, person.note
                    ),
                )?;
            }
        }
        let _ = out.flush();
        let shutdown = server.take_shutdown();
        let wait = server.wait();
        tokio::pin!(wait);
        tokio::select! {
            result = &mut wait => return result.map_err(|e| CliError::Config(e.to_string())),
            _ = shutdown_signal() => {}
        }
        tracing::info!("shutting down");
        if let Some(tx) = shutdown {
            let _ = tx.send(());
        }
        wait.await.map_err(|e| CliError::Config(e.to_string()))
    })
}

fn open_directory(data: &Path) -> Result<Directory, CliError> {
    let store = Arc::new(SledStore::open(&data.join("db")).map_err(VaultError::from)?);
    let secret = crate::server::read_enrolment_secret(&data.join("enrolment.secret"))?;
    Ok(Directory::new(store, secret))
}

/// Sets a staff member's status and writes who did what to the audit log.
fn set_staff_status(
    data: &Path,
    staff: &str,
    status: StaffStatus,
    now: chrono::DateTime<chrono::Utc>,
    out: &mut dyn Write,
) -> Result<(), CliError> {
    use omadata_consent::audit::{AuditEntry, AuditEvent};
    let id: omadata_vault::ProfessionalId = staff
        .parse()
        .map_err(|_| CliError::Config("--staff must be a staff id".into()))?;
    let store = Arc::new(SledStore::open(&data.join("db")).map_err(VaultError::from)?);
    let secret = crate::server::read_enrolment_secret(&data.join("enrolment.secret"))?;
    let directory = Directory::new(store.clone(), secret);
    let current = directory
        .staff(id)?
        .ok_or_else(|| CliError::Config(format!("no staff member {id}")))?;
    if status == StaffStatus::Active && current.status != StaffStatus::PendingConfirmation {
        return Err(CliError::Config(format!(
            "staff {id} is {:?}: only a pending registration can be confirmed",
            current.status
        )));
    }
    let consent = Consent::open(
        store,
        Arc::new(Catalogue::builtin()?),
        SensitivityPolicy::builtin()?,
        Arc::new(ServiceKey::from_file(&data.join("signing.key"))?),
        // Only appends to the audit log: no client keys needed, none loaded.
        Arc::new(omadata_consent::NoClientKeys),
        ConsentConfig::default(),
    )?;
    let staff = directory.set_staff_status(id, status)?;
    let what = if status == StaffStatus::Active {
        "confirmed"
    } else {
        "deactivated"
    };
    let mut entry = AuditEntry::new(AuditEvent::Admin, now);
    entry.professional = Some(staff.id);
    entry.organisation = Some(staff.organisation);
    entry.reason = Some(format!(
        "operator {what} staff {} ({:?})",
        staff.id, staff.profession
    ));
    consent.audit().append(entry)?;
    say(
        out,
        format_args!("staff {} {what}: {}", staff.id, staff.name),
    )
}

fn parse_enum<T: serde::de::DeserializeOwned>(what: &str, text: &str) -> Result<T, CliError> {
    serde_json::from_value(serde_json::Value::String(text.to_owned()))
        .map_err(|_| CliError::Config(format!("unknown {what} `{text}`")))
}

fn register(command: RegisterCommand, out: &mut dyn Write) -> Result<(), CliError> {
    let now = omadata_clock::Clock::now(&omadata_clock::SystemClock);
    match command {
        RegisterCommand::Organisation {
            data,
            name,
            business_id,
            privacy_notice_url,
            dpo_contact,
        } => {
            let organisation = open_directory(&data)?.register_organisation(NewOrganisation {
                name,
                business_id,
                privacy_notice_url,
                dpo_contact,
            })?;
            say(
                out,
                format_args!(
                    "organisation {} registered: {}",
                    organisation.id, organisation.name
                ),
            )
        }
        RegisterCommand::Staff {
            data,
            organisation,
            name,
            title,
            profession,
            roles,
            login_subject,
            login_issuer,
        } => {
            let organisation: OrganisationId = organisation.parse().map_err(|_| {
                CliError::Config("--organisation must be an organisation id".into())
            })?;
            let profession: Profession = parse_enum("profession", &profession)?;
            let roles = roles
                .iter()
                .map(|r| parse_enum::<StaffRole>("role", r))
                .collect::<Result<_, _>>()?;
            let staff = open_directory(&data)?.register_staff(
                organisation,
                NewStaff {
                    name,
                    title,
                    profession,
                    roles,
                    login_subject,
                    login_issuer,
                },
                Registrar::Operator,
                now,
            )?;
            say(
                out,
                format_args!("staff {} registered: {}", staff.id, staff.name),
            )
        }
        RegisterCommand::ConfirmStaff { data, staff } => {
            set_staff_status(&data, &staff, StaffStatus::Active, now, out)
        }
        RegisterCommand::DeactivateStaff { data, staff } => {
            set_staff_status(&data, &staff, StaffStatus::Deactivated, now, out)
        }
    }
}
