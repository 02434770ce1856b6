//! Who is calling: the session cookie (with its CSRF check on changes) or a bearer token
//! whose session still lives, and the caller's network address. A staff caller's record
//! is read again on every request (cached in the directory), so a deactivated member is
//! refused at their next request.

use crate::error::ApiError;
use crate::sessions::SESSION_COOKIE;
use crate::state::AppState;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, Method, header};
use omadata_app::sign_in;
use omadata_app::{Principal, Role};
use omadata_vault::ClientId;

/// Compares two secrets in time independent of where they differ.
pub(crate) fn same_secret(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

pub(crate) fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// The signed-in caller.
#[derive(Debug, Clone)]
pub(crate) struct Caller {
    pub principal: Principal,
    /// The browser session's cookie value, when the caller came with a cookie (not with
    /// a bearer token).
    pub session_id: Option<String>,
    pub csrf_token: Option<String>,
    /// The session the caller acts under (the cookie's, or the one the token names).
    pub session: crate::sessions::Session,
}

impl Caller {
    pub(crate) fn client_id(&self) -> Result<ClientId, ApiError> {
        match &self.principal {
            Principal::Client { id, .. } => Ok(*id),
            Principal::Staff { .. } => Err(ApiError::forbidden()),
        }
    }

    pub(crate) fn staff(&self, role: Role) -> Result<&omadata_consent::Staff, ApiError> {
        match &self.principal {
            Principal::Staff { staff, role: r } if *r == role => Ok(staff),
            _ => Err(ApiError::forbidden()),
        }
    }
}

fn state_changing(method: &Method) -> bool {
    !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let now = state.now();
        let services = state.services();
        if let Some(value) = parts.headers.get(header::AUTHORIZATION) {
            let token = value
                .to_str()
                .ok()
                .and_then(|v| v.strip_prefix("Bearer "))
                .ok_or_else(ApiError::unauthenticated)?;
            let claims = services
                .bearer
                .verify(token.trim(), now)
                .ok_or_else(ApiError::unauthenticated)?;
            // The token dies with its session: signed out, erased, removed or expired.
            let session = services
                .sessions
                .get_by_sid(&claims.sid, now)
                .await
                .ok_or_else(ApiError::unauthenticated)?;
            let (subject, role) = (claims.sub, claims.role);
            // From memory when the staff record is cached; else from the store, off the
            // async worker.
            let principal =
                match sign_in::principal_from_cached_subject(state.app(), &subject, role) {
                    Some(principal) => principal,
                    None => {
                        state
                            .app()
                            .reading(move |app| {
                                sign_in::principal_from_subject(app, &subject, role)
                            })
                            .await?
                    }
                }
                .ok_or_else(ApiError::unauthenticated)?;
            if principal.key() != session.principal.key() {
                return Err(ApiError::unauthenticated());
            }
            return Ok(Caller {
                principal,
                session_id: None,
                csrf_token: None,
                session,
            });
        }
        let session_id =
            cookie(&parts.headers, SESSION_COOKIE).ok_or_else(ApiError::unauthenticated)?;
        let session = services
            .sessions
            .get(session_id, now)
            .await
            .ok_or_else(ApiError::unauthenticated)?;
        if state_changing(&parts.method) {
            let sent = parts
                .headers
                .get("x-csrf-token")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("");
            if !same_secret(sent.as_bytes(), session.csrf_token.as_bytes()) {
                return Err(ApiError::csrf_token_invalid());
            }
        }
        let principal = match &session.principal {
            // Staff standing can change under a live session: read it again (cached).
            Principal::Staff { staff, role } => {
                let id = staff.id;
                let current = match sign_in::cached_current_staff(state.app(), id) {
                    Some(current) => current,
                    None => {
                        state
                            .app()
                            .reading(move |app| sign_in::current_staff(app, id))
                            .await?
                    }
                }
                .ok_or_else(ApiError::unauthenticated)?;
                Principal::Staff {
                    staff: Box::new(current),
                    role: *role,
                }
            }
            client => client.clone(),
        };
        Ok(Caller {
            principal,
            session_id: Some(session_id.to_owned()),
            csrf_token: Some(session.csrf_token.clone()),
            session,
        })
    }
}

/// The caller's network address, when the server knows it (for rate limits): the
/// connection's peer, or, when the peer is a configured trusted proxy, the rightmost
/// `X-Forwarded-For` address that is not itself a trusted proxy. From any other peer the
/// header is ignored, since anyone can write it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ClientAddress(pub Option<std::net::IpAddr>);

impl FromRequestParts<AppState> for ClientAddress {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let peer = parts
            .extensions
            .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
            .map(|c| crate::config::canonical_ip(c.0.ip()));
        let network = &state.config().network;
        Ok(ClientAddress(match peer {
            Some(peer) if network.is_trusted_proxy(peer) => {
                Some(forwarded_client(&parts.headers, network).unwrap_or(peer))
            }
            other => other,
        }))
    }
}

/// The rightmost `X-Forwarded-For` address that is not a trusted proxy (each proxy
/// appends the address it received from); `None` if the header is missing or an entry
/// does not parse (then the peer itself is the best known address).
fn forwarded_client(
    headers: &HeaderMap,
    network: &crate::config::NetworkSettings,
) -> Option<std::net::IpAddr> {
    let mut leftmost = None;
    for value in headers.get_all("x-forwarded-for").iter().rev() {
        for item in value.to_str().ok()?.rsplit(',') {
            let address = crate::config::canonical_ip(item.trim().parse().ok()?);
            if !network.is_trusted_proxy(address) {
                return Some(address);
            }
            leftmost = Some(address);
        }
    }
    leftmost
}
