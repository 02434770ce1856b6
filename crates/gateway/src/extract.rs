//! Extractors: request bodies that fail in the project's error format, and the caller
//! (session cookie with CSRF check, or a bearer token whose session still lives). A staff
//! caller's record is read again on every request (cached in the directory), so a
//! deactivated member is refused at their next request.

use crate::error::ApiError;
use crate::sessions::SESSION_COOKIE;
use crate::state::AppState;
use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, Method, StatusCode, header};
use omadata_app::sign_in;
use omadata_app::{Principal, Role};
use omadata_vault::ClientId;
use serde::de::DeserializeOwned;

/// JSON body whose rejections come back as problem+json with stable codes.
#[derive(Debug)]
pub struct AppJson<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for AppJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(value)) => Ok(AppJson(value)),
            Err(rejection) => Err(match rejection {
                JsonRejection::MissingJsonContentType(_) => ApiError::new(
                    StatusCode::UNSUPPORTED_MEDIA_TYPE,
                    "unsupported_media_type",
                    "send the body as application/json",
                ),
                JsonRejection::JsonSyntaxError(e) => {
                    ApiError::bad_request("malformed_json", e.body_text())
                }
                JsonRejection::JsonDataError(e) => ApiError::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "invalid_body",
                    e.body_text(),
                ),
                JsonRejection::BytesRejection(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => {
                    ApiError::new(
                        StatusCode::PAYLOAD_TOO_LARGE,
                        "body_too_large",
                        "the request body is too large",
                    )
                }
                other => ApiError::bad_request("unreadable_body", other.body_text()),
            }),
        }
    }
}

/// Compares two secrets in time independent of where they differ.
pub fn same_secret(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// A JSON body that may be left out: an empty body means `T::default()`.
#[derive(Debug)]
pub struct OptionalJson<T>(pub T);

impl<T: DeserializeOwned + Default, S: Send + Sync> FromRequest<S> for OptionalJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let bytes = axum::body::Bytes::from_request(req, state)
            .await
            .map_err(|rejection| {
                if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                    ApiError::new(
                        StatusCode::PAYLOAD_TOO_LARGE,
                        "body_too_large",
                        "the request body is too large",
                    )
                } else {
                    ApiError::bad_request("unreadable_body", rejection.body_text())
                }
            })?;
        optional_json(&bytes).map(OptionalJson)
    }
}

fn optional_json<T: DeserializeOwned + Default>(body: &[u8]) -> Result<T, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    serde_json::from_slice(body).map_err(|e| match e.classify() {
        serde_json::error::Category::Data => ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_body",
            e.to_string(),
        ),
        _ => ApiError::bad_request("malformed_json", e.to_string()),
    })
}

pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
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
pub struct Caller {
    pub principal: Principal,
    /// The browser session's cookie value, when the caller came with a cookie (not with
    /// a bearer token).
    pub session_id: Option<String>,
    pub csrf_token: Option<String>,
    /// The session the caller acts under (the cookie's, or the one the token names).
    pub session: crate::sessions::Session,
}

impl Caller {
    pub fn client_id(&self) -> Result<ClientId, ApiError> {
        match &self.principal {
            Principal::Client { id, .. } => Ok(*id),
            Principal::Staff { .. } => Err(ApiError::forbidden()),
        }
    }

    pub fn staff(&self, role: Role) -> Result<&omadata_consent::Staff, ApiError> {
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
                .ok_or_else(ApiError::unauthenticated)?;
            let principal = sign_in::principal_from_subject(state.app(), &claims.sub, claims.role)?
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
            .ok_or_else(ApiError::unauthenticated)?;
        if state_changing(&parts.method) {
            let sent = parts
                .headers
                .get("x-csrf-token")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("");
            if !same_secret(sent.as_bytes(), session.csrf_token.as_bytes()) {
                return Err(ApiError::new(
                    StatusCode::FORBIDDEN,
                    "csrf_token_invalid",
                    "send the csrf_token from GET /api/v1/me in the X-CSRF-Token header",
                ));
            }
        }
        let principal = match &session.principal {
            // Staff standing can change under a live session: read it again (cached).
            Principal::Staff { staff, role } => {
                let current = sign_in::current_staff(state.app(), staff.id)?
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
pub struct ClientAddress(pub Option<std::net::IpAddr>);

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

/// Query parameters whose rejections come back as problem+json.
#[derive(Debug)]
pub struct AppQuery<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for AppQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        axum::extract::Query::<T>::from_request_parts(parts, state)
            .await
            .map(|axum::extract::Query(value)| AppQuery(value))
            .map_err(|rejection| ApiError::bad_request("invalid_query", rejection.body_text()))
    }
}

/// Path parameters whose rejections come back as problem+json.
#[derive(Debug)]
pub struct AppPath<T>(pub T);

impl<T: DeserializeOwned + Send, S: Send + Sync> FromRequestParts<S> for AppPath<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        axum::extract::Path::<T>::from_request_parts(parts, state)
            .await
            .map(|axum::extract::Path(value)| AppPath(value))
            .map_err(|rejection| ApiError::bad_request("invalid_path", rejection.body_text()))
    }
}
