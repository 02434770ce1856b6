//! Login over OpenID Connect, logout, and bearer tokens.

use crate::error::{ApiError, ApiResult, Problem};
use crate::extract::{Caller, cookie, same_secret};
use crate::sessions::{LOGIN_COOKIE, PendingLogin, SESSION_COOKIE};
use crate::state::{AppState, Metrics};
use crate::web;
use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::Duration;
use omadata_app::Role;
use omadata_app::sign_in::{self, LoginIdentity, Resolved};
use omadata_vault::ProfessionalId;
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

fn set_cookie(state: &AppState, name: &str, value: &str, path: &str, max_age: i64) -> HeaderValue {
    let secure = if state.config().cookie_secure {
        "; Secure"
    } else {
        ""
    };
    // The session cookie is never sent on a request another site starts, so no link or
    // form elsewhere can make a signed-in browser read a record (audited) or change
    // anything. The web app's shell needs no cookie, so arriving from the identity
    // provider still works; its requests come from our own pages. The login cookie must
    // come back on the provider's redirect, which another site starts.
    let same_site = if name == SESSION_COOKIE {
        "Strict"
    } else {
        "Lax"
    };
    HeaderValue::from_str(&format!(
        "{name}={value}; Path={path}; Max-Age={max_age}; HttpOnly; SameSite={same_site}{secure}"
    ))
    .unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// The `Set-Cookie` that removes the session cookie (after signing out or erasure).
pub(crate) fn cleared_session_cookie(state: &AppState) -> HeaderValue {
    set_cookie(state, SESSION_COOKIE, "", "/", 0)
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct LoginQuery {
    role: Option<String>,
    login_hint: Option<String>,
    /// `login`: ask the provider for a fresh authentication (before erasure).
    prompt: Option<String>,
    /// The web app page to come back to (`account`, ...: lowercase letters only).
    next: Option<String>,
}

#[utoipa::path(get, path = "/auth/login", tag = "session", params(LoginQuery), responses((status = 303, description = "to the identity provider"), (status = 400, description = "unknown role (HTML page)"), (status = 429, description = "too many sign-in starts from this address (HTML page)"), (status = 502, description = "provider unreachable (HTML page)")))]
pub(crate) async fn login(
    State(state): State<AppState>,
    headers: HeaderMap,
    crate::extract::ClientAddress(address): crate::extract::ClientAddress,
    crate::extract::AppQuery(query): crate::extract::AppQuery<LoginQuery>,
) -> Response {
    let (verdict, closed) = state.services().limits.logins.check(address, state.now());
    if !closed.is_empty() {
        // Not on this caller's time.
        tokio::spawn(audit_rate_limit_summaries(state.clone(), closed));
    }
    if let crate::limits::LoginVerdict::Refused { first_in_window } = verdict {
        // One durable entry per address and window, not one per refusal: see
        // `limits::LoginLimiter`.
        if first_in_window {
            audit_refusal(&state, "rate_limited", None).await;
        } else {
            Metrics::add(&state.services().metrics.logins_refused, 1);
        }
        let mut response = web::refusal(
            &headers,
            StatusCode::TOO_MANY_REQUESTS,
            "login-rate-limited",
        );
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static("60"));
        return response;
    }
    let role = match query.role.as_deref() {
        None | Some("") => None,
        Some(text) => match Role::parse(text) {
            Some(role) => Some(role),
            None => {
                return web::refusal(&headers, StatusCode::BAD_REQUEST, "login-unknown-role");
            }
        },
    };
    let reauthenticate = match query.prompt.as_deref() {
        None | Some("") => false,
        Some("login") => true,
        Some(_) => {
            return web::refusal(&headers, StatusCode::BAD_REQUEST, "login-unknown-prompt");
        }
    };
    // Only a page name: the callback's redirect stays on this site.
    let next = query
        .next
        .filter(|n| !n.is_empty() && n.len() <= 32 && n.bytes().all(|b| b.is_ascii_lowercase()));
    let services = state.services();
    let start = match services
        .relying_party
        .start(
            query.login_hint.as_deref(),
            &state.config().accepted_acr,
            reauthenticate,
        )
        .await
    {
        Ok(start) => start,
        Err(error) => {
            tracing::error!(%error, "login could not start");
            return web::refusal(
                &headers,
                StatusCode::BAD_GATEWAY,
                "login-provider-unreachable",
            );
        }
    };
    let now = state.now();
    let pending = PendingLogin {
        nonce: start.nonce,
        pkce_verifier: start.pkce_verifier,
        role: role.map(|r| r.as_str().to_owned()),
        next,
        expires_at: now + Duration::minutes(10),
    };
    // Kept by the browser, sealed: any gateway of the deployment can finish it.
    let Some(sealed) = services.logins.seal(&start.state, &pending) else {
        return web::refusal(
            &headers,
            StatusCode::SERVICE_UNAVAILABLE,
            "login-interrupted",
        );
    };
    let mut response = (StatusCode::SEE_OTHER, [(header::LOCATION, start.url)]).into_response();
    response.headers_mut().append(
        header::SET_COOKIE,
        set_cookie(&state, LOGIN_COOKIE, &sealed, "/auth", 600),
    );
    response
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct CallbackQuery {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
}

/// Audits one summary entry per closed window of sign-in refusals (the count is in the
/// reason, `rate_limited_total=N`; the address only in the log line).
pub(crate) async fn audit_rate_limit_summaries(
    state: AppState,
    closed: Vec<(std::net::IpAddr, crate::limits::RefusalSummary)>,
) {
    for (address, summary) in closed {
        tracing::warn!(
            %address,
            refused = summary.refused,
            window_opened = %summary.window_opened,
            "sign-in starts refused over the rate limit"
        );
        let reason = format!("rate_limited_total={}", summary.refused);
        if let Err(error) = sign_in::audit_refusal(state.app(), reason, None, state.now()).await {
            tracing::error!(%error, "could not audit a rate-limit summary");
        }
    }
}

async fn audit_refusal(state: &AppState, reason: &str, professional: Option<ProfessionalId>) {
    Metrics::add(&state.services().metrics.logins_refused, 1);
    let reason = reason.to_owned();
    if let Err(error) = sign_in::audit_refusal(state.app(), reason, professional, state.now()).await
    {
        tracing::error!(%error, "could not audit a refused login");
    }
}

#[utoipa::path(get, path = "/auth/callback", tag = "session", params(CallbackQuery), responses((status = 200, description = "signed in; session cookie set; the page moves on to the client's pages or the web app"), (status = 400, description = "interrupted or expired login (HTML page)"), (status = 401, description = "ID token did not verify (HTML page)"), (status = 403, description = "weak acr or not registered for the role (HTML page)")))]
pub(crate) async fn callback(
    State(state): State<AppState>,
    headers: HeaderMap,
    crate::extract::AppQuery(query): crate::extract::AppQuery<CallbackQuery>,
) -> Response {
    let services = state.services();
    let now = state.now();
    let generic_failure = || web::refusal(&headers, StatusCode::BAD_REQUEST, "login-interrupted");
    if query.error.is_some() {
        return generic_failure();
    }
    let (Some(code), Some(returned_state)) = (query.code, query.state) else {
        return generic_failure();
    };
    // The login this browser started, for the state the provider returned (login CSRF).
    let Some(pending) = cookie(&headers, LOGIN_COOKIE)
        .and_then(|sealed| services.logins.open(sealed, &returned_state, now))
    else {
        return generic_failure();
    };
    let identity = match services
        .relying_party
        .finish(
            code,
            &pending.nonce,
            &Zeroizing::new(pending.pkce_verifier.to_string()),
        )
        .await
    {
        Ok(identity) => identity,
        Err(error) => {
            tracing::warn!(%error, "login failed");
            audit_refusal(&state, "id_token_rejected", None).await;
            return web::refusal(&headers, StatusCode::UNAUTHORIZED, "login-not-verified");
        }
    };
    let acr_ok = identity
        .acr
        .as_ref()
        .is_some_and(|acr| state.config().accepted_acr.iter().any(|a| a == acr));
    if !acr_ok {
        audit_refusal(&state, "weak_acr", None).await;
        return web::refusal(&headers, StatusCode::FORBIDDEN, "login-weak-acr");
    }
    let wished = pending.role.as_deref().and_then(Role::parse);
    let (issuer, subject) = (identity.issuer, identity.subject);
    let (national_id, name) = (identity.national_id, identity.name);
    let configured_issuer = state.config().oidc.issuer.clone();
    // Enrol-or-find reads the directory and the vault, and may write (a new client).
    let resolved = state
        .app()
        .on_disk(move |app| {
            let login = LoginIdentity {
                issuer: &issuer,
                subject: &subject,
                national_id: national_id.as_deref(),
                name: name.as_deref(),
            };
            sign_in::resolve_principal(app, login, wished, &configured_issuer)
        })
        .await;
    let principal = match resolved.map_err(ApiError::from) {
        Ok(Resolved::Principal(principal)) => principal,
        Ok(Resolved::StaffNotActive(staff)) => {
            audit_refusal(&state, "staff_not_active", Some(staff.id)).await;
            return web::refusal(&headers, StatusCode::FORBIDDEN, "login-staff-not-active");
        }
        Ok(Resolved::NotRegistered) => {
            audit_refusal(&state, "not_registered", None).await;
            return web::refusal(&headers, StatusCode::FORBIDDEN, "login-not-registered");
        }
        Err(error) => return error.into_response(),
    };
    if let Err(error) = sign_in::audit_sign_in(state.app(), &principal, now).await {
        return ApiError::from(error).into_response();
    }
    Metrics::add(&services.metrics.logins, 1);
    let ttl = state.config().session_ttl;
    let is_client = principal.role() == Role::Client;
    // The provider's word on when the person authenticated, never later than now.
    let authenticated_at = identity.auth_time.map_or(now, |at| at.min(now));
    let Some((session_id, _)) = services
        .sessions
        .create(principal, authenticated_at, now, now + ttl)
        .await
    else {
        // The session could not be kept: nothing is signed in.
        return ApiError::from(omadata_vault::store::StoreError::Backend(
            "the session could not be stored".into(),
        ))
        .into_response();
    };
    let location = match pending.next.as_deref() {
        Some(page) if is_client && web::is_client_page(page) => format!("/my/{page}"),
        _ if is_client => "/my/data".to_owned(),
        Some(page) => format!("/#/{page}"),
        None => "/".to_owned(),
    };
    let mut response = web::landing(&headers, &location);
    let headers = response.headers_mut();
    headers.append(
        header::SET_COOKIE,
        set_cookie(&state, SESSION_COOKIE, &session_id, "/", ttl.num_seconds()),
    );
    headers.append(
        header::SET_COOKIE,
        set_cookie(&state, LOGIN_COOKIE, "", "/auth", 0),
    );
    response
}

/// Signs out: ends the session, and with it every bearer token minted from it. Called
/// with a bearer token, it ends the session that token came from (the whole sign-in, not
/// only the token).
#[utoipa::path(post, path = "/auth/logout", tag = "session", responses((status = 204, description = "signed out; the session and its tokens ended"), (status = 400, body = Problem, content_type = "application/problem+json"), (status = 401, body = Problem, content_type = "application/problem+json"), (status = 403, body = Problem, content_type = "application/problem+json"), (status = 422, body = Problem, content_type = "application/problem+json")), security(("session" = []), ("bearer" = [])))]
pub(crate) async fn logout(State(state): State<AppState>, caller: Caller) -> ApiResult<Response> {
    let services = state.services();
    if !services.sessions.remove_sid(&caller.session.sid).await {
        return Err(ApiError::from(omadata_vault::store::StoreError::Backend(
            "the session could not be ended".into(),
        )));
    }
    sign_in::audit_sign_out(state.app(), &caller.principal, state.now()).await?;
    let mut response = StatusCode::NO_CONTENT.into_response();
    response
        .headers_mut()
        .append(header::SET_COOKIE, cleared_session_cookie(&state));
    Ok(response)
}

#[derive(Debug, Deserialize)]
pub(crate) struct SignOutForm {
    #[serde(default)]
    csrf: String,
}

/// Signs out from a page's form (the CSRF token in a hidden field): ends the session like
/// `/auth/logout`, then shows that it is done. Without a live session it only shows that.
pub(crate) async fn sign_out_form(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: axum::body::Body,
) -> Response {
    // Read here rather than by an extractor, so that no body, however odd, gets an answer
    // other than this page's.
    let body = axum::body::to_bytes(body, 4096).await.unwrap_or_default();
    let form: SignOutForm = serde_html_form::from_bytes(&body).unwrap_or(SignOutForm {
        csrf: String::new(),
    });
    let services = state.services();
    let now = state.now();
    let session = match cookie(&headers, SESSION_COOKIE) {
        Some(id) => services.sessions.get(id, now).await,
        None => None,
    };
    if let Some(session) = session {
        if !same_secret(form.csrf.as_bytes(), session.csrf_token.as_bytes()) {
            return web::refusal(&headers, StatusCode::FORBIDDEN, "form-expired");
        }
        if !services.sessions.remove_sid(&session.sid).await {
            return web::refusal(&headers, StatusCode::SERVICE_UNAVAILABLE, "not-signed-out");
        }
        // The session has ended whatever happens to its audit entry, so the person is
        // told so and the cookie goes; a failed entry is logged.
        if let Err(error) = sign_in::audit_sign_out(state.app(), &session.principal, now).await {
            tracing::error!(%error, "could not audit a sign-out");
        }
    }
    let mut response = (StatusCode::SEE_OTHER, [(header::LOCATION, "/signed-out")]).into_response();
    response
        .headers_mut()
        .append(header::SET_COOKIE, cleared_session_cookie(&state));
    response
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct TokenResponse {
    access_token: String,
    token_type: &'static str,
    expires_in: i64,
}

/// A short-lived bearer token for the signed-in caller (API clients), minted only from a
/// browser session: a bearer token cannot mint its successor (403 `session_required`).
/// The token lives no longer than the session and ends with it.
#[utoipa::path(post, path = "/api/v1/tokens", tag = "session", responses((status = 200, body = TokenResponse), (status = 400, body = Problem, content_type = "application/problem+json"), (status = 401, body = Problem, content_type = "application/problem+json"), (status = 403, description = "called with a bearer token (`session_required`), or CSRF token missing", body = Problem, content_type = "application/problem+json"), (status = 422, body = Problem, content_type = "application/problem+json")), security(("session" = [])))]
pub(crate) async fn issue_token(
    State(state): State<AppState>,
    caller: Caller,
) -> ApiResult<Json<TokenResponse>> {
    if caller.session_id.is_none() {
        return Err(ApiError::session_required());
    }
    let subject = sign_in::token_subject(&caller.principal);
    let now = state.now();
    let ttl = state
        .config()
        .bearer_ttl
        .min(caller.session.expires_at - now);
    let (token, _) = state
        .services()
        .bearer
        .issue(
            subject,
            caller.principal.role(),
            caller.session.sid.clone(),
            now,
            ttl,
        )
        .ok_or_else(ApiError::internal)?;
    Ok(Json(TokenResponse {
        access_token: token,
        token_type: "Bearer",
        expires_in: ttl.num_seconds(),
    }))
}
