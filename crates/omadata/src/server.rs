//! Wires the stores, keys and gateway together and serves: what `omadata serve` and
//! `omadata demo` run, and what the end-to-end tests start in-process. Only the demo
//! (feature `demo`) mounts the test identity provider and seeds demo data.

use crate::store::{OpenStore, StoreChoice};
use omadata_clock::{Clock, SystemClock};
use omadata_consent::{
    Consent, ConsentConfig, ConsentError, Directory, EnrolmentSecret, SensitivityPolicy, ServiceKey,
};
use omadata_gateway::config::{GatewayConfig, NetworkSettings, OidcSettings};
use omadata_vault::{Catalogue, Keyring, MasterKey, Vault, VaultError};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tokio::sync::oneshot;
use url::Url;
use zeroize::Zeroizing;

#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error("{0}")]
    Vault(#[from] VaultError),
    #[error("{0}")]
    Consent(#[from] ConsentError),
    #[error("{0}")]
    Start(#[from] omadata_gateway::StartError),
    #[cfg(feature = "demo")]
    #[error("demo data: {0}")]
    Demo(#[from] omadata_demo::DemoError),
    #[error("{what}: {reason}")]
    Io { what: String, reason: String },
    #[error("configuration: {0}")]
    Config(String),
}

fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> ServerError {
    let what = what.into();
    move |e| ServerError::Io {
        what,
        reason: e.to_string(),
    }
}

/// How to run the gateway.
#[derive(Clone, Debug)]
pub struct ServerOptions {
    pub listen: SocketAddr,
    pub data: PathBuf,
    /// sled in `data/db`, or a PostgreSQL database (then `data` holds only the keys).
    pub store: StoreChoice,
    /// Where people reach the gateway; defaults to `http://<listen address>`.
    pub public_url: Option<Url>,
    /// `None`: use the built-in test identity provider (demo only; a build without the
    /// `demo` feature refuses to start).
    pub oidc: Option<OidcSettings>,
    pub accepted_acr: Vec<String>,
    /// Create keys and demo data in a fresh data directory.
    pub demo: bool,
    /// The clock; the system clock unless a test moves time itself.
    pub clock: Option<Arc<dyn Clock>>,
    /// Timeouts, connection cap, trusted proxies, metrics token.
    pub network: NetworkSettings,
    /// Serve a plain-http public URL on a non-loopback host anyway (no Secure cookies,
    /// no HSTS): only behind a TLS-terminating proxy that rewrites nothing.
    pub insecure_http: bool,
}

impl ServerOptions {
    #[cfg(feature = "demo")]
    pub fn demo(listen: SocketAddr, data: PathBuf) -> Self {
        Self {
            listen,
            data,
            store: StoreChoice::Embedded,
            public_url: None,
            oidc: None,
            accepted_acr: omadata_gateway::config::DEFAULT_ACCEPTED_ACR
                .iter()
                .map(|s| (*s).to_owned())
                .collect(),
            demo: true,
            clock: None,
            network: NetworkSettings::default(),
            insecure_http: false,
        }
    }
}

/// A gateway serving in the background.
#[derive(Debug)]
pub struct RunningServer {
    pub addr: SocketAddr,
    pub public_url: Url,
    shutdown: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
    /// `None` if the socket could not be made (the gateway serves anyway).
    control: Option<crate::control::ControlSocket>,
}

impl RunningServer {
    /// Stops accepting, finishes requests under way, and waits.
    pub async fn stop(mut self) -> std::io::Result<()> {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(control) = &self.control {
            control.stop();
        }
        match self.task.await {
            Ok(result) => result,
            Err(e) => Err(std::io::Error::other(e.to_string())),
        }
    }

    /// Waits until the server ends (after a shutdown signal).
    pub async fn wait(self) -> std::io::Result<()> {
        let result = self.task.await;
        if let Some(control) = &self.control {
            control.stop();
        }
        match result {
            Ok(result) => result,
            Err(e) => Err(std::io::Error::other(e.to_string())),
        }
    }

    pub fn take_shutdown(&mut self) -> Option<oneshot::Sender<()>> {
        self.shutdown.take()
    }
}

struct KeyFiles {
    master: PathBuf,
    signing: PathBuf,
    enrolment: PathBuf,
}

fn key_files(data: &Path) -> KeyFiles {
    KeyFiles {
        master: data.join("master.key"),
        signing: data.join("signing.key"),
        enrolment: data.join("enrolment.secret"),
    }
}

/// Creates every key of a fresh demo data directory. Refuses if a store exists.
fn create_demo_keys(data: &Path) -> Result<(), ServerError> {
    let keys = key_files(data);
    MasterKey::generate()?.write_new_file(&keys.master)?;
    ServiceKey::generate()?.write_new_file(&keys.signing)?;
    // The enrolment secret is a random signing seed's worth of bytes, stored like one.
    ServiceKey::generate()?.write_new_file(&keys.enrolment)?;
    Ok(())
}

pub fn read_enrolment_secret(path: &Path) -> Result<EnrolmentSecret, ServerError> {
    // Refuses a file others may read (`chmod 600` fixes it).
    let text = omadata_vault::keys::read_secret_file(path).map_err(|e| match e {
        omadata_vault::keys::SecretFileError::Io(e) => {
            io(format!("enrolment secret {}", path.display()))(e)
        }
        exposed => ServerError::Config(exposed.to_string()),
    })?;
    let mut bytes = Zeroizing::new(vec![0u8; text.trim().len() / 2]);
    hex::decode_to_slice(text.trim(), &mut bytes)
        .map_err(|_| ServerError::Config(format!("{} must hold hex", path.display())))?;
    if bytes.len() < 32 {
        return Err(ServerError::Config(format!(
            "{} must hold at least 32 bytes",
            path.display()
        )));
    }
    Ok(EnrolmentSecret::new(&bytes))
}

/// Whether the gateway may serve at `public_url`. Over plain http session cookies cannot
/// be `Secure` and no HSTS is sent, so a real deployment needs https: an `http://` URL
/// is refused unless its host is loopback (warned) or `insecure_http` is set (warned).
/// The demo, which only runs the test identity provider, is warned too.
pub fn check_transport(
    public_url: &Url,
    insecure_http: bool,
    demo: bool,
) -> Result<(), ServerError> {
    if public_url.scheme() == "https" {
        return Ok(());
    }
    let loopback = match public_url.host() {
        Some(url::Host::Domain(name)) => name.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    };
    if loopback || insecure_http || demo {
        tracing::warn!(
            %public_url,
            "serving over plain http: session cookies are not Secure and no HSTS is sent; use an https public URL for real people"
        );
        return Ok(());
    }
    Err(ServerError::Config(format!(
        "the public URL {public_url} is plain http: sessions would travel unencrypted, without Secure cookies or HSTS; give an https:// public URL (TLS at a reverse proxy), or pass --insecure-http (insecure_http = true) to serve it anyway"
    )))
}

/// Opens everything and starts serving.
pub async fn start(options: ServerOptions) -> Result<RunningServer, ServerError> {
    // Before anything is opened; a public URL derived from the listen address is
    // checked once it is known.
    let explicit_url = options.public_url.is_some();
    if let Some(public_url) = &options.public_url {
        check_transport(public_url, options.insecure_http, options.demo)?;
    }
    let data = &options.data;
    // 0700; one others can read is made private, with a warning.
    omadata_store_sled::permissions::prepare_data_dir(data)
        .map_err(io(format!("data directory {}", data.display())))?;
    let keys = key_files(data);
    let new_directory = OpenStore::is_new(data, &options.store);
    // A standby gateway waits here (on a blocking thread) until the active one stops.
    let store = {
        let (data, choice) = (data.clone(), options.store.clone());
        tokio::task::spawn_blocking(move || OpenStore::open_to_serve(&data, &choice))
            .await
            .map_err(|e| ServerError::Config(format!("opening the store: {e}")))?
            .map_err(VaultError::from)?
    };
    let fresh = match &store {
        OpenStore::Sled(_) => new_directory,
        // Several demo gateways may share one database: only the first seeds it.
        OpenStore::Postgres(_) => store.is_empty().map_err(VaultError::from)?,
    };
    let seed_demo = options.demo && fresh;
    if seed_demo && !keys.master.exists() {
        create_demo_keys(data)?;
    }
    let master = match std::env::var_os(omadata_vault::keys::MASTER_KEY_ENV) {
        Some(_) => MasterKey::from_env(omadata_vault::keys::MASTER_KEY_ENV)?,
        None => MasterKey::from_file(&keys.master)?,
    };
    let signing_key = Arc::new(ServiceKey::from_file(&keys.signing)?);
    let enrolment = read_enrolment_secret(&keys.enrolment)?;

    let catalogue = Arc::new(Catalogue::builtin()?);
    let vault = Arc::new(Vault::open(
        store.vault(),
        Keyring::new(master),
        catalogue.clone(),
    )?);
    let consent = Consent::open(
        store.consent(),
        catalogue,
        SensitivityPolicy::builtin()?,
        signing_key.clone(),
        vault.clone(),
        ConsentConfig::default(),
    )?;
    // Without the socket the gateway still serves; only live backups are unavailable
    // (a Unix socket path is limited to about 100 bytes). PostgreSQL is backed up with
    // its own tools.
    let control = match store.sled() {
        Some(sled) => match crate::control::start(data, sled.clone()) {
            Ok(control) => Some(control),
            Err(error) => {
                tracing::warn!(
                    %error,
                    socket = %crate::control::socket_path(data).display(),
                    "no control socket: `omadata backup` cannot reach this gateway"
                );
                None
            }
        },
        None => None,
    };
    let directory = Directory::new(store.consent(), enrolment);
    let clock: Arc<dyn Clock> = options
        .clock
        .clone()
        .unwrap_or_else(|| Arc::new(SystemClock));
    if seed_demo {
        seed_demo_data(&vault, &consent, &directory, clock.now())?;
    }

    let listener = tokio::net::TcpListener::bind(options.listen)
        .await
        .map_err(io(format!("listen on {}", options.listen)))?;
    let addr = listener.local_addr().map_err(io("listener address"))?;
    let public_url = match options.public_url {
        Some(url) => url,
        None => {
            Url::parse(&format!("http://{addr}")).map_err(|e| ServerError::Config(e.to_string()))?
        }
    };
    if !explicit_url {
        check_transport(&public_url, options.insecure_http, options.demo)?;
    }
    let uses_test_idp = options.oidc.is_none();
    let oidc = match options.oidc {
        Some(oidc) => oidc,
        None => test_idp_settings(&public_url)?,
    };
    let mut config = GatewayConfig::new(public_url.clone(), oidc);
    config.accepted_acr = options.accepted_acr;
    config.network = options.network;
    let extra = if uses_test_idp {
        test_idp_routes(&config, clock.clone())?
    } else {
        axum::Router::new()
    };
    let state = omadata_gateway::state(vault, consent, directory, signing_key, clock, config)?;
    let (tx, rx) = oneshot::channel::<()>();
    let task = tokio::spawn(omadata_gateway::run(listener, state, extra, async move {
        let _ = rx.await;
    }));
    tracing::info!(%addr, %public_url, "OmaData gateway listening");
    Ok(RunningServer {
        addr,
        public_url,
        shutdown: Some(tx),
        task,
        control,
    })
}

#[cfg(feature = "demo")]
fn seed_demo_data(
    vault: &Vault,
    consent: &Consent,
    directory: &Directory,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<(), ServerError> {
    omadata_demo::seed(vault, consent, directory, now)?;
    tracing::info!("demo data created");
    Ok(())
}

#[cfg(feature = "demo")]
fn test_idp_settings(public_url: &Url) -> Result<OidcSettings, ServerError> {
    Ok(omadata_demo::test_idp::oidc_settings(public_url))
}

#[cfg(feature = "demo")]
fn test_idp_routes(
    config: &GatewayConfig,
    clock: Arc<dyn Clock>,
) -> Result<axum::Router, ServerError> {
    Ok(omadata_demo::TestIdp::new(config, clock)?.routes())
}

#[cfg(not(feature = "demo"))]
fn no_demo() -> ServerError {
    ServerError::Config(
        "no OpenID provider configured, and this build has no test identity provider (feature `demo`)".into(),
    )
}

#[cfg(not(feature = "demo"))]
fn seed_demo_data(
    _vault: &Vault,
    _consent: &Consent,
    _directory: &Directory,
    _now: chrono::DateTime<chrono::Utc>,
) -> Result<(), ServerError> {
    Err(no_demo())
}

#[cfg(not(feature = "demo"))]
fn test_idp_settings(_public_url: &Url) -> Result<OidcSettings, ServerError> {
    Err(no_demo())
}

#[cfg(not(feature = "demo"))]
fn test_idp_routes(
    _config: &GatewayConfig,
    _clock: Arc<dyn Clock>,
) -> Result<axum::Router, ServerError> {
    Err(no_demo())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_http_is_refused_unless_loopback_or_insecure_http() {
        let url = |text: &str| Url::parse(text).unwrap();
        let public = url("http://omadata.example.org");
        let err = check_transport(&public, false, false)
            .unwrap_err()
            .to_string();
        assert!(err.contains("--insecure-http"), "{err}");
        assert!(check_transport(&public, true, false).is_ok());
        assert!(check_transport(&url("https://omadata.example.org"), false, false).is_ok());
        for loopback in [
            "http://127.0.0.1:8080",
            "http://localhost:8080",
            "http://[::1]:8080",
        ] {
            assert!(
                check_transport(&url(loopback), false, false).is_ok(),
                "{loopback}"
            );
        }
        assert!(check_transport(&url("http://10.0.0.5:8080"), false, false).is_err());
    }

    #[cfg(unix)]
    #[test]
    fn an_enrolment_secret_others_may_read_is_refused_with_the_fix() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("enrolment.secret");
        ServiceKey::generate()
            .unwrap()
            .write_new_file(&path)
            .unwrap();
        assert!(read_enrolment_secret(&path).is_ok());
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let err = read_enrolment_secret(&path).unwrap_err().to_string();
        assert!(
            err.contains("enrolment.secret") && err.contains("chmod 600"),
            "{err}"
        );
    }
}
