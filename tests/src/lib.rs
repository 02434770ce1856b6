//! Fixtures for OmaData's end-to-end tests (the tests themselves are in `e2e/`, compiled
//! into one binary).
//!
//! - [`open_sled_vault`]: the vault on a real sled directory with a key file.
//! - [`Gateway`]: the real gateway wiring (`omadata demo`) started in-process on a free
//!   loopback port, with a clock the test moves.
//! - [`Browser`]: an HTTP client with a cookie jar that signs in through the OpenID flow
//!   and sends the CSRF token on state-changing requests.
//! - [`postgres`]: a private PostgreSQL cluster and a fresh database per test; with
//!   `OMADATA_TEST_STORE=postgres` every [`Gateway`] runs on one.
//! - [`powercut_fs`]: a FUSE file system that keeps every change not yet fsynced in memory
//!   only, like a disk's volatile write cache, and can cut the power.

pub mod postgres;
pub mod powercut_fs;

use chrono::{DateTime, Utc};
use omadata::server::{RunningServer, ServerOptions};
use omadata::store::{OpenStore, StoreChoice};
use omadata_clock::{Clock, ManualClock, SystemClock};
use omadata_store_sled::SledStore;
use omadata_vault::{Catalogue, Keyring, MasterKey, Vault, VaultError};
use reqwest::{Method, StatusCode};
use serde_json::Value;
use std::path::Path;
use std::sync::Arc;

/// Opens the vault in `dir/db` with the master key in `dir/master.key`.
pub fn open_sled_vault(dir: &Path) -> Result<Vault, VaultError> {
    let key = MasterKey::from_file(&dir.join("master.key"))?;
    let store = Arc::new(SledStore::open(&dir.join("db"))?);
    Vault::open(store, Keyring::new(key), Arc::new(Catalogue::builtin()?))
}

/// Runs `omadata <args>` in-process; returns what it printed.
pub fn omadata_cli<S: AsRef<str>>(args: &[S]) -> Result<String, omadata::cli::CliError> {
    let mut out = Vec::new();
    let argv =
        std::iter::once("omadata".to_owned()).chain(args.iter().map(|a| a.as_ref().to_owned()));
    omadata::cli::run(argv, &mut out)?;
    Ok(String::from_utf8_lossy(&out).into_owned())
}

/// The bearer token the test gateways' `/metrics` requires.
pub const METRICS_TOKEN: &str = "test-metrics-token-0123456789";

/// A running demo gateway.
#[derive(Debug)]
pub struct Gateway {
    pub server: Option<RunningServer>,
    /// Where its data lives (sled in the data directory, or a PostgreSQL database).
    pub store: StoreChoice,
    pub base: String,
    pub clock: Arc<ManualClock>,
    pub dir: tempfile::TempDir,
}

/// Any failure in a fixture; tests unwrap it.
pub type Fail = Box<dyn std::error::Error + Send + Sync>;

impl Gateway {
    /// Starts `omadata demo` wiring on 127.0.0.1:0 in a fresh data directory; `/metrics`
    /// answers to [`METRICS_TOKEN`].
    pub async fn demo() -> Result<Self, Fail> {
        Self::demo_with(|_| {}).await
    }

    /// Like [`Gateway::demo`], with the options changed by `adjust` first.
    pub async fn demo_with(adjust: impl FnOnce(&mut ServerOptions)) -> Result<Self, Fail> {
        let dir = tempfile::tempdir()?;
        let clock = Arc::new(ManualClock::new(SystemClock.now()));
        let mut options = ServerOptions::demo("127.0.0.1:0".parse()?, dir.path().join("data"));
        options.clock = Some(clock.clone());
        options.network.metrics_token = Some(METRICS_TOKEN.to_owned().into());
        if postgres::gateways_on_postgres() {
            options.store =
                omadata::store::StoreChoice::resolve(Some(postgres::fresh_database()?), None)?;
        }
        adjust(&mut options);
        let store = options.store.clone();
        let server = omadata::server::start(options).await?;
        let base = server.public_url.as_str().trim_end_matches('/').to_owned();
        Ok(Self {
            server: Some(server),
            store,
            base,
            clock,
            dir,
        })
    }

    pub fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    pub fn data_dir(&self) -> std::path::PathBuf {
        self.dir.path().join("data")
    }

    /// The `--store` arguments that point a CLI command at this gateway's store (none
    /// for sled in the data directory).
    pub fn store_args(&self) -> Vec<String> {
        match &self.store {
            StoreChoice::Embedded => Vec::new(),
            StoreChoice::Postgres(url) => vec!["--store".into(), url.expose().to_owned()],
        }
    }

    /// Runs `omadata <args>` in-process on this gateway's store; returns what it printed.
    pub fn cli(&self, args: &[&str]) -> Result<String, omadata::cli::CliError> {
        let argv: Vec<String> = args
            .iter()
            .map(|a| (*a).to_owned())
            .chain(self.store_args())
            .collect();
        omadata_cli(&argv)
    }

    /// Options that start the demo wiring again on this gateway's data and store.
    pub fn restart_options(&self) -> Result<ServerOptions, Fail> {
        let mut options = ServerOptions::demo("127.0.0.1:0".parse()?, self.data_dir());
        options.store = self.store.clone();
        Ok(options)
    }

    /// This gateway's store, opened to read as `omadata audit` does (stop it first when
    /// it is sled, whose lock only one process holds).
    pub fn open_store(&self) -> Result<OpenStore, Fail> {
        Ok(OpenStore::open_to_read(&self.data_dir(), &self.store)?)
    }

    /// Every audit entry in the store, as JSON (stop the gateway first).
    pub fn audit_entries(&self) -> Result<Vec<Value>, Fail> {
        let store = self.open_store()?;
        let (entries, _) = omadata_consent::audit::export_store(store.consent().as_ref())?;
        entries
            .iter()
            .map(|e| Ok(serde_json::from_slice::<Value>(e)?))
            .collect()
    }

    pub async fn stop(&mut self) -> Result<(), Fail> {
        if let Some(server) = self.server.take() {
            server.stop().await?;
        }
        Ok(())
    }

    /// The Prometheus text of `/metrics`, fetched with the metrics token.
    pub async fn metrics(&self) -> Result<String, Fail> {
        let response = reqwest::Client::new()
            .get(format!("{}/metrics", self.base))
            .bearer_auth(METRICS_TOKEN)
            .send()
            .await?
            .error_for_status()?;
        Ok(response.text().await?)
    }

    /// A browser signed in as the test person `person` (in `role`, when given), with its
    /// CSRF token; an error when the sign-in does not end on the app.
    pub async fn signed_in(&self, person: &str, role: Option<&str>) -> Result<Browser, Fail> {
        let mut browser = self.browser()?;
        let (status, page) = browser.login(person, role).await?;
        if status != StatusCode::OK {
            return Err(format!("{person} could not sign in: {status}: {page}").into());
        }
        Ok(browser)
    }

    /// A new browser (empty cookie jar).
    pub fn browser(&self) -> Result<Browser, Fail> {
        Ok(Browser {
            http: reqwest::Client::builder().cookie_store(true).build()?,
            base: self.base.clone(),
            csrf: None,
            bearer: None,
        })
    }
}

/// One person's browser or API client.
#[derive(Debug)]
pub struct Browser {
    pub http: reqwest::Client,
    pub base: String,
    pub csrf: Option<String>,
    pub bearer: Option<String>,
}

impl Browser {
    /// A browser signed in as `person` on the gateway at `base` (a server a test started
    /// itself); an error when the sign-in does not end on the app.
    pub async fn signed_in_at(base: &str, person: &str) -> Result<Self, Fail> {
        let mut browser = Browser {
            http: reqwest::Client::builder().cookie_store(true).build()?,
            base: base.to_owned(),
            csrf: None,
            bearer: None,
        };
        let (status, page) = browser.login(person, None).await?;
        if status != StatusCode::OK {
            return Err(format!("{person} could not sign in: {status}: {page}").into());
        }
        Ok(browser)
    }

    /// Follows the whole login through the test provider; returns the final status and
    /// page. On success the CSRF token is fetched from `/api/v1/me`.
    pub async fn login(
        &mut self,
        person: &str,
        role: Option<&str>,
    ) -> Result<(StatusCode, String), Fail> {
        let mut url = format!("{}/auth/login?login_hint={person}", self.base);
        if let Some(role) = role {
            url.push_str(&format!("&role={role}"));
        }
        let response = self.http.get(url).send().await?;
        let status = response.status();
        let page = response.text().await?;
        if status == StatusCode::OK {
            let (_, me) = self.call(Method::GET, "/api/v1/me", None).await?;
            self.csrf = me["csrf_token"].as_str().map(str::to_owned);
        }
        Ok((status, page))
    }

    /// Sends a request; returns status and JSON body (`Null` when empty or not JSON).
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<(StatusCode, Value), Fail> {
        let mut request = self.http.request(method, format!("{}{path}", self.base));
        if let Some(token) = &self.bearer {
            request = request.bearer_auth(token);
        } else if let Some(csrf) = &self.csrf {
            request = request.header("x-csrf-token", csrf);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await?;
        let status = response.status();
        let bytes = response.bytes().await?;
        let value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        Ok((status, value))
    }

    pub async fn get(&self, path: &str) -> Result<(StatusCode, Value), Fail> {
        self.call(Method::GET, path, None).await
    }

    /// Every item of a paged list: follows `Link: <...>; rel="next"` from `path` (which
    /// must not carry a query). Stops at the first answer that is not 200 and returns it.
    pub async fn get_all(&self, path: &str) -> Result<(StatusCode, Vec<Value>), Fail> {
        let mut next = Some(format!("{path}?limit=1000"));
        let mut items = Vec::new();
        while let Some(url) = next.take() {
            let mut request = self.http.get(format!("{}{url}", self.base));
            if let Some(token) = &self.bearer {
                request = request.bearer_auth(token);
            }
            let response = request.send().await?;
            let status = response.status();
            if status != StatusCode::OK {
                return Ok((status, items));
            }
            next = response
                .headers()
                .get("link")
                .and_then(|l| l.to_str().ok())
                .and_then(|l| l.strip_prefix('<'))
                .and_then(|l| l.split_once('>'))
                .map(|(url, _)| url.to_owned());
            let page: Value = response.json().await?;
            items.extend(page.as_array().cloned().unwrap_or_default());
        }
        Ok((StatusCode::OK, items))
    }

    pub async fn raw(&self, path: &str) -> Result<(StatusCode, Vec<u8>), Fail> {
        let response = self.http.get(format!("{}{path}", self.base)).send().await?;
        Ok((response.status(), response.bytes().await?.to_vec()))
    }

    /// This professional's access request to `client`, made with a pairing code the
    /// client issues: `terms` holds the fields, actions, purpose and end. Fails unless the
    /// request is created; returns it.
    pub async fn ask_access(
        &self,
        client: &Browser,
        mut terms: serde_json::Value,
    ) -> Result<serde_json::Value, Fail> {
        let (status, code) = client
            .call(Method::POST, "/api/v1/me/pairing-codes", None)
            .await?;
        if status != StatusCode::CREATED {
            return Err(format!("no pairing code: {status}: {code}").into());
        }
        terms["pairing_code"] = code["code"].clone();
        let (status, request) = self
            .call(Method::POST, "/api/v1/access-requests", Some(terms))
            .await?;
        if status != StatusCode::CREATED {
            return Err(format!("the request was refused: {status}: {request}").into());
        }
        Ok(request)
    }

    /// A page as a browser gets it (redirects followed): status and HTML.
    pub async fn page(&self, path: &str) -> Result<(StatusCode, String), Fail> {
        let response = self.http.get(format!("{}{path}", self.base)).send().await?;
        Ok((response.status(), response.text().await?))
    }

    /// Posts a page's form as a browser does (redirects followed): the final status,
    /// address and HTML. `fields` may repeat a name (a group of checkboxes).
    pub async fn post_form(
        &self,
        path: &str,
        fields: &[(&str, &str)],
    ) -> Result<(StatusCode, reqwest::Url, String), Fail> {
        let response = self
            .http
            .post(format!("{}{path}", self.base))
            .form(fields)
            .send()
            .await?;
        let (status, url) = (response.status(), response.url().clone());
        Ok((status, url, response.text().await?))
    }
}

/// Whether `text` holds something shaped like a UUID (8-4-4-4-12 hex digits): what no
/// page may show a person.
pub fn has_uuid(text: &str) -> bool {
    let bytes = text.as_bytes();
    let shape = [8, 4, 4, 4, 12];
    (0..bytes.len()).any(|start| {
        let mut at = start;
        shape.iter().enumerate().all(|(i, &len)| {
            let run = bytes.get(at..at + len);
            let ok = run.is_some_and(|r| r.iter().all(u8::is_ascii_hexdigit))
                && (i == 4 || bytes.get(at + len) == Some(&b'-'));
            at += len + 1;
            ok
        })
    })
}
