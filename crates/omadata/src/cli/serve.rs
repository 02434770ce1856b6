//! `serve` and `demo`: settings from flags, environment and config file, then serving until a signal.
//! `demo` (the test identity provider and demo data) exists only with the `demo` feature.

use super::{CliError, file_error, say};
use crate::server::{ServerOptions, start};
use crate::store::StoreChoice;
use clap::Args;
use omadata_gateway::config::{DEFAULT_ACCEPTED_ACR, OidcSettings};
use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;

#[derive(Debug, Args)]
pub(super) struct ServeArgs {
    /// TOML file: listen, data, store, public_url, accepted_acr, insecure_http, trusted_proxies,
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
    store: Option<String>,
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

pub(super) fn serve(
    args: ServeArgs,
    store_flag: Option<String>,
    out: &mut dyn Write,
) -> Result<(), CliError> {
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
    let store = StoreChoice::resolve(store_flag, file.store).map_err(CliError::Config)?;
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
        store,
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
    serve_until_signal(options, out, |_, _| Ok(()))
}

/// `demo`: the test identity provider and demo data, on `listen`, in `data`.
#[cfg(feature = "demo")]
pub(super) fn demo(
    listen: SocketAddr,
    data: PathBuf,
    store: StoreChoice,
    out: &mut dyn Write,
) -> Result<(), CliError> {
    let mut options = ServerOptions::demo(listen, data);
    options.store = store;
    // Gateways of one deployment answer at one public URL (their tokens name it), so a
    // second demo gateway on the same store takes the first's.
    if let Some(url) = env("OMADATA_PUBLIC_URL") {
        options.public_url = Some(
            url::Url::parse(&url)
                .map_err(|e| CliError::Config(format!("OMADATA_PUBLIC_URL: {e}")))?,
        );
    }
    serve_until_signal(options, out, list_test_persons)
}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

/// Listens for SIGTERM (and Ctrl-C) from the moment it is called, not from the first
/// poll: called before the gateway says it listens, so a stop right after start is a clean
/// shutdown rather than the default kill.
fn shutdown_signal() -> impl std::future::Future<Output = ()> {
    #[cfg(unix)]
    let term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
    async move {
        let ctrl_c = tokio::signal::ctrl_c();
        #[cfg(unix)]
        if let Some(mut term) = term {
            tokio::select! {
                _ = ctrl_c => {}
                _ = term.recv() => {}
            }
            return;
        }
        let _ = ctrl_c.await;
    }
}

/// Lists the test persons and how to sign in as each (the demo's welcome).
#[cfg(feature = "demo")]
fn list_test_persons(out: &mut dyn Write, base: &str) -> Result<(), CliError> {
    say(
        out,
        format_args!("Sign in as a test person (test identity provider):"),
    )?;
    for person in omadata_demo::TEST_PERSONS {
        say(
            out,
            format_args!(
                "  {base}/auth/login?login_hint={:<15} {} ({})",
                person.login, person.name, person.note
            ),
        )?;
    }
    Ok(())
}

/// Serves until SIGINT or SIGTERM; `welcome` adds to the greeting (given the base URL).
fn serve_until_signal(
    options: ServerOptions,
    out: &mut dyn Write,
    welcome: impl FnOnce(&mut dyn Write, &str) -> Result<(), CliError>,
) -> Result<(), CliError> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| CliError::Config(format!("async runtime: {e}")))?;
    runtime.block_on(async {
        let stop_asked = shutdown_signal();
        let mut server = start(options).await?;
        let base = server.public_url.as_str().trim_end_matches('/').to_owned();
        say(out, format_args!("OmaData is listening on {base}"))?;
        welcome(out, &base)?;
        let _ = out.flush();
        let shutdown = server.take_shutdown();
        let wait = server.wait();
        tokio::pin!(wait);
        tokio::select! {
            result = &mut wait => return result.map_err(|e| CliError::Config(e.to_string())),
            _ = stop_asked => {}
        }
        tracing::info!("shutting down");
        if let Some(tx) = shutdown {
            let _ = tx.send(());
        }
        wait.await.map_err(|e| CliError::Config(e.to_string()))
    })
}
