//! OmaData gateway: where people meet OmaData. The use cases live in `omadata-app` and
//! the rules in the domain crates; this crate is HTTP. Its public face is small: [`state`]
//! and [`app`]/[`run`], the settings ([`config`]) and the error type ([`error`]); every
//! module else is the crate's own.
//!
//! Map of the crate:
//! - [`app`] builds the router from an [`AppState`] (plus routes the caller adds, such as
//!   the demo's test identity provider); [`run`] serves it on a listener until a shutdown
//!   future resolves (graceful), with its own accept loop: the peer address reaches the
//!   handlers, and header, body and idle timeouts and a cap on connections hold
//!   (`config::NetworkSettings`).
//! - [`config`]: settings; [`state`]: what handlers reach; [`error`]: problem+json and
//!   the one mapping from domain errors to HTTP status.
//! - [`oidc`]: the OpenID Connect relying party; [`sessions`], [`tokens`], [`extract`]:
//!   who is calling.
//! - [`deadline`]: the time limit on a request, and what the answer says when it passes.
//! - [`limits`]: rate limits on sign-in and pairing-code guessing.
//! - [`routes`]: public, auth, client (`/api/v1/me`), professional, auditor, admin; and
//!   the table of the documented routes, from which both the router and the OpenAPI
//!   paths are built.
//! - [`paging`]: cursor paging (`limit`, `cursor`, `Link: rel="next"`) for lists.
//! - [`web`]: the pages rendered on the server: the front page, sign-in and sign-out
//!   pages, and every client page (plain forms, no JavaScript needed), from askama
//!   templates and Fluent messages in the person's language.
//! - [`pages`]: the assets built into the binary: the staff's web app (HTML shell and
//!   script, its texts served from the Fluent files), stylesheets, icons and fonts.
//! - [`openapi`]: the OpenAPI document generated from the handlers.

// Crate-private by default: whatever another crate needs is re-exported here on purpose.
#![warn(unreachable_pub)]

pub mod config;
mod deadline;
pub mod error;
mod extract;
mod limits;
mod oidc;
mod openapi;
mod pages;
mod paging;
mod routes;
mod sessions;
mod state;
mod tokens;
mod web;

pub use sessions::random_token;
pub use state::AppState;
/// For the token benchmark.
pub use tokens::BearerKeys;

use crate::config::GatewayConfig;
use crate::error::ApiError;
use crate::state::{Metrics, Services};
use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderName, HeaderValue, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use omadata_clock::Clock;
use omadata_consent::{Consent, Directory, ServiceKey};
use omadata_vault::Vault;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tower::ServiceBuilder;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::trace::TraceLayer;

/// Errors that stop the gateway from starting.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("login: {0}")]
    Login(#[from] oidc::LoginError),
    #[error("keys: {0}")]
    Keys(String),
    #[error("audit flusher or checkpoint signer: {0}")]
    Threads(#[from] std::io::Error),
}

/// Assembles the state from the domain services.
pub fn state(
    vault: Arc<Vault>,
    consent: Consent,
    directory: Directory,
    signing_key: Arc<ServiceKey>,
    clock: Arc<dyn Clock>,
    config: GatewayConfig,
) -> Result<AppState, StartError> {
    let relying_party = oidc::RelyingParty::new(config.oidc.clone(), config.redirect_url())?;
    let bearer = tokens::BearerKeys::new(&signing_key, config.public_url.to_string())
        .map_err(|e| StartError::Keys(e.to_string()))?;
    let session_secret = signing_key
        .derive_secret(b"omadata gateway sessions")
        .map_err(|e| StartError::Keys(e.to_string()))?;
    let sessions = sessions::SessionVault::new(consent.store(), &session_secret)
        .map(sessions::Sessions::persistent)
        .ok_or_else(|| StartError::Keys("the session key".into()))?;
    let login_secret = signing_key
        .derive_secret(b"omadata gateway logins under way")
        .map_err(|e| StartError::Keys(e.to_string()))?;
    let logins = sessions::LoginSealer::new(&login_secret)
        .ok_or_else(|| StartError::Keys("the login key".into()))?;
    let app = omadata_app::Services::start(
        vault,
        consent,
        directory,
        clock.clone(),
        Some(config.checkpoint_interval),
    )?;
    Ok(AppState(Arc::new(Services {
        app,
        signing_key,
        clock,
        config,
        sessions,
        logins,
        relying_party,
        bearer,
        metrics: Metrics::default(),
        limits: limits::Limits::default(),
    })))
}

async fn count_responses(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let response = next.run(request).await;
    let metrics = &state.services().metrics;
    Metrics::add(&metrics.requests, 1);
    if response.status().is_server_error() {
        Metrics::add(&metrics.server_errors, 1);
    } else if response.status().is_client_error() {
        Metrics::add(&metrics.client_errors, 1);
    }
    response
}

/// With other gateways on the same store: before a request is served, forgets what this
/// gateway cached if another gateway changed the store since (see
/// `Services::observe_changes`). Assets,
/// health and metrics need nothing cached.
async fn observe_shared_changes(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    let path = request.uri().path();
    let cacheless =
        path.starts_with("/assets/") || matches!(path, "/healthz" | "/readyz" | "/metrics");
    if !cacheless {
        let forget_sessions = || state.services().sessions.forget_cached();
        if let Err(error) = state.app().observe_changes(forget_sessions).await {
            // What is cached may be stale: nothing is served from it.
            return error::ApiError::from(error).into_response();
        }
    }
    next.run(request).await
}

async fn openapi_document() -> Response {
    (
        [(header::CONTENT_TYPE, "application/json")],
        openapi::openapi_json(),
    )
        .into_response()
}

async fn not_found() -> Response {
    ApiError::not_found().into_response()
}

async fn method_not_allowed() -> Response {
    ApiError::method_not_allowed().into_response()
}

/// The whole HTTP surface: the documented API ([`routes::documented`]), the pages,
/// `/metrics` and the OpenAPI document itself, and `extra` (routes with their own state,
/// such as the demo's test identity provider; `Router::new()` for none), all behind the
/// same layers.
pub fn app(state: AppState, extra: Router) -> Router {
    use routes::public;
    let request_id = HeaderName::from_static("x-request-id");
    let mut router = Router::from(routes::documented())
        .route("/app", get(pages::app_shell))
        .route("/assets/app.js", get(pages::script))
        .route("/assets/app.css", get(pages::stylesheet))
        .route("/assets/tokens.css", get(pages::tokens))
        .route("/assets/fonts/{file}", get(pages::font))
        .route("/assets/icons.svg", get(pages::icons))
        .route("/assets/messages/{file}", get(pages::messages))
        .route("/assets/pages.js", get(pages::page_script))
        .merge(web::routes())
        .route("/metrics", get(public::metrics))
        .route("/api/v1/openapi.json", get(openapi_document))
        .with_state(state.clone())
        .merge(extra);
    let max_body = state.config().max_body_bytes;
    if state.config().public_url.scheme() == "https" {
        router = router.layer(SetResponseHeaderLayer::overriding(
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static("max-age=31536000; includeSubDomains"),
        ));
    }
    // One stack applied once: `Router::layer` boxes every layer separately around every
    // route, and cloning those boxes was several per cent of each request's CPU. The
    // first layer here is the outermost.
    let stack = ServiceBuilder::new()
        .layer(SetRequestIdLayer::new(request_id.clone(), MakeRequestUuid))
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(|request: &Request| {
                    let id = request
                        .headers()
                        .get("x-request-id")
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or("-");
                    // The path only: query strings may carry codes and hints.
                    tracing::info_span!("request", request_id = %id, method = %request.method(), path = %request.uri().path())
                })
                .on_response(tower_http::trace::DefaultOnResponse::new().level(tracing::Level::INFO)),
        )
        .layer(PropagateRequestIdLayer::new(request_id))
        .layer(SetResponseHeaderLayer::overriding(header::CACHE_CONTROL, HeaderValue::from_static("no-store")))
        .layer(SetResponseHeaderLayer::overriding(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(
                "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'",
            ),
        ))
        .layer(SetResponseHeaderLayer::overriding(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer")))
        .layer(SetResponseHeaderLayer::overriding(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff")))
        .layer(middleware::from_fn_with_state(state.config().request_timeout, deadline::deadline))
        .layer(axum::extract::DefaultBodyLimit::max(max_body))
        .layer(middleware::from_fn_with_state(state.clone(), count_responses))
        .layer(middleware::from_fn_with_state(state.clone(), observe_shared_changes));
    router
        .method_not_allowed_fallback(method_not_allowed)
        .fallback(not_found)
        .layer(stack)
}

/// Serves `app(state, extra)` on `listener` until `shutdown` resolves, then finishes the
/// requests under way, audits the sign-in refusals still counted, and saves the audit
/// log's chain heads (so the next start replays no entries: at 10^6 clients that was a
/// sixth of the start-up).
pub async fn run(
    listener: tokio::net::TcpListener,
    state: AppState,
    extra: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let sweeper = tokio::spawn(sweep_sign_in_refusals(state.clone()));
    serve(listener, &state, extra, shutdown).await;
    sweeper.abort();
    let counted = state.services().limits.logins.close_all();
    routes::auth::audit_rate_limit_summaries(state.clone(), counted).await;
    if let Err(error) = state.app().on_disk(|app| app.save_audit_heads()).await {
        // The next start replays the entries instead: nothing is lost.
        tracing::warn!(%error, "saving the audit chain heads at shutdown failed");
    }
    Ok(())
}

/// Audits the summaries of sign-in refusal windows that closed while nobody signed in
/// (otherwise the next sign-in start does it).
async fn sweep_sign_in_refusals(state: AppState) {
    let mut every = tokio::time::interval(Duration::from_secs(60));
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        every.tick().await;
        let closed = state.services().limits.logins.close_windows(state.now());
        routes::auth::audit_rate_limit_summaries(state.clone(), closed).await;
    }
}

/// The accept loop: at most `max_connections` connections at once (the rest wait in the
/// listen queue), each served by hyper's HTTP/1 with the header-read timeout, the idle
/// watch and the body timeout. On `shutdown` it stops accepting, lets every connection
/// finish its request under way, and returns when all have closed.
async fn serve(
    listener: tokio::net::TcpListener,
    state: &AppState,
    extra: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) {
    let network = &state.config().network;
    let router = app(state.clone(), extra);
    let permits = Arc::new(tokio::sync::Semaphore::new(network.max_connections.max(1)));
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(hyper_util::rt::TokioTimer::new())
        .header_read_timeout(network.header_read_timeout)
        .keep_alive(true);
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    // Every connection holds a receiver; `closed` resolves when the last has gone.
    let (open_tx, open_rx) = tokio::sync::watch::channel(());
    tokio::pin!(shutdown);
    loop {
        let permit = tokio::select! {
            permit = permits.clone().acquire_owned() => match permit {
                Ok(permit) => permit,
                Err(_) => break,
            },
            () = &mut shutdown => break,
        };
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    if !is_connection_error(&error) {
                        // Out of file descriptors and the like: pause instead of spinning.
                        tracing::error!(%error, "accepting a connection failed");
                        tokio::time::sleep(Duration::from_secs(1)).await;
                    }
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        tokio::spawn(serve_connection(Connection {
            stream,
            peer,
            router: router.clone(),
            http: http.clone(),
            body_read_timeout: network.body_read_timeout,
            idle_timeout: network.idle_timeout,
            stop: stop_rx.clone(),
            open: open_rx.clone(),
            permit,
        }));
    }
    drop(listener);
    let _ = stop_tx.send(true);
    drop(open_rx);
    open_tx.closed().await;
}

fn is_connection_error(error: &std::io::Error) -> bool {
    use std::io::ErrorKind;
    matches!(
        error.kind(),
        ErrorKind::ConnectionRefused | ErrorKind::ConnectionAborted | ErrorKind::ConnectionReset
    )
}

struct Connection {
    stream: tokio::net::TcpStream,
    peer: std::net::SocketAddr,
    router: Router,
    http: hyper::server::conn::http1::Builder,
    body_read_timeout: Duration,
    idle_timeout: Duration,
    stop: tokio::sync::watch::Receiver<bool>,
    /// Dropped when the connection ends: the accept loop waits for all at shutdown.
    open: tokio::sync::watch::Receiver<()>,
    /// The connection's place under the cap, given back when it ends.
    permit: tokio::sync::OwnedSemaphorePermit,
}

async fn serve_connection(connection: Connection) {
    let Connection {
        stream,
        peer,
        router,
        http,
        body_read_timeout,
        idle_timeout,
        mut stop,
        open,
        permit,
    } = connection;
    let activity = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let io = hyper_util::rt::TokioIo::new(Watched {
        inner: stream,
        activity: activity.clone(),
    });
    let service =
        hyper::service::service_fn(move |request: axum::http::Request<hyper::body::Incoming>| {
            let mut request = request.map(|body| {
                axum::body::Body::new(tower_http::timeout::TimeoutBody::new(
                    body_read_timeout,
                    body,
                ))
            });
            request
                .extensions_mut()
                .insert(axum::extract::ConnectInfo(peer));
            tower::ServiceExt::oneshot(router.clone(), request)
        });
    let served = http.serve_connection(io, service);
    tokio::pin!(served);
    let mut idle_watch =
        tokio::time::interval_at(tokio::time::Instant::now() + idle_timeout, idle_timeout);
    let mut last_seen = 0;
    let mut closing = false;
    let mut idle_once = false;
    loop {
        tokio::select! {
            result = served.as_mut() => {
                if let Err(error) = result {
                    tracing::debug!(%error, "connection ended with an error");
                }
                break;
            }
            _ = stop.changed(), if !closing => {
                closing = true;
                served.as_mut().graceful_shutdown();
            }
            _ = idle_watch.tick() => {
                let seen = activity.load(std::sync::atomic::Ordering::Relaxed);
                if seen != last_seen {
                    last_seen = seen;
                    idle_once = false;
                } else if idle_once {
                    // Still nothing moved after the grace period: drop it.
                    tracing::debug!(%peer, "closing a stalled connection");
                    break;
                } else {
                    // Ends at once when idle; a request under way may finish first.
                    idle_once = true;
                    closing = true;
                    served.as_mut().graceful_shutdown();
                }
            }
        }
    }
    drop(open);
    drop(permit);
}

/// A socket that counts its reads and writes, so the idle watch can see whether any
/// byte moved (one relaxed add per operation).
struct Watched {
    inner: tokio::net::TcpStream,
    activity: Arc<std::sync::atomic::AtomicU64>,
}

impl Watched {
    fn moved(&self) {
        self.activity
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }
}

impl tokio::io::AsyncRead for Watched {
    fn poll_read(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let result = std::pin::Pin::new(&mut this.inner).poll_read(cx, buf);
        if buf.filled().len() != before {
            this.moved();
        }
        result
    }
}

impl tokio::io::AsyncWrite for Watched {
    fn poll_write(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        data: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        let this = self.get_mut();
        let result = std::pin::Pin::new(&mut this.inner).poll_write(cx, data);
        if matches!(result, std::task::Poll::Ready(Ok(n)) if n > 0) {
            this.moved();
        }
        result
    }

    fn poll_write_vectored(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        data: &[std::io::IoSlice<'_>],
    ) -> std::task::Poll<std::io::Result<usize>> {
        let this = self.get_mut();
        let result = std::pin::Pin::new(&mut this.inner).poll_write_vectored(cx, data);
        if matches!(result, std::task::Poll::Ready(Ok(n)) if n > 0) {
            this.moved();
        }
        result
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}
