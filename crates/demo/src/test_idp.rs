//! A small OpenID provider for the demo and tests, like the test identification that
//! national eID services offer. Served under `/test-idp` only where its router is mounted
//! (`omadata demo`); the gateway reaches it over HTTP through the same relying-party code
//! as any provider.
//!
//! `GET /test-idp/authorize?...&login_hint=<person>` answers at once with a redirect
//! carrying a code; without a hint it shows a page to pick a test person. A hint that
//! names no listed person but looks like a login (`[a-z0-9-]`, at most 64) signs in an
//! unlisted person with that subject, strongly and without a national identity number:
//! how tests sign in staff they registered themselves. It gives nothing the list does
//! not (anyone may sign in as any test person here), and it never runs in production.

use axum::Form;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Duration, Utc};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use omadata_clock::Clock;
use omadata_consent::ServiceKey;
use omadata_gateway::config::{GatewayConfig, OidcSettings};
use omadata_gateway::error::{ApiError, ApiResult};
use omadata_gateway::random_token;
use parking_lot::Mutex;
use ring::digest;
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::collections::HashMap;
use std::sync::Arc;
use url::Url;

/// The gateway's client id at the test provider.
const CLIENT_ID: &str = "omadata-demo";

/// A test person of the test provider.
#[derive(Clone, Copy, Debug)]
pub struct TestPerson {
    pub login: &'static str,
    pub name: &'static str,
    pub acr: &'static str,
    /// A made-up national identity number, for clients.
    pub national_id: Option<&'static str>,
    pub note: &'static str,
}

const LOA2: &str = "http://ftn.ficora.fi/2017/loa2";
const LOA3: &str = "http://ftn.ficora.fi/2017/loa3";
const LOW: &str = "http://eidas.europa.eu/LoA/low";

pub const TEST_PERSONS: [TestPerson; 11] = [
    TestPerson {
        login: "client1",
        name: "Aino Asiakas",
        acr: LOA3,
        national_id: Some("010106A901R"),
        note: "client with data and grants",
    },
    TestPerson {
        login: "client2",
        name: "Eero Esimerkki",
        acr: LOA2,
        national_id: Some("020205A9128"),
        note: "client with data",
    },
    TestPerson {
        login: "client-weak",
        name: "Heikki Heikko",
        acr: LOW,
        national_id: Some("030304A9139"),
        note: "always authenticates below substantial: refused",
    },
    TestPerson {
        login: "pro-youth",
        name: "Pirjo Nuorisotyö",
        acr: LOA3,
        national_id: None,
        note: "professional, youth work",
    },
    TestPerson {
        login: "pro-employment",
        name: "Tero Työllisyys",
        acr: LOA3,
        national_id: None,
        note: "professional, employment services",
    },
    TestPerson {
        login: "pro-health",
        name: "Hanna Terveys",
        acr: LOA3,
        national_id: None,
        note: "professional, health care",
    },
    TestPerson {
        login: "pro-unrelated",
        name: "Ulla Ulkopuolinen",
        acr: LOA3,
        national_id: None,
        note: "registered professional without grants",
    },
    TestPerson {
        login: "auditor",
        name: "Aatu Auditoija",
        acr: LOA3,
        national_id: None,
        note: "auditor (data-protection officer)",
    },
    TestPerson {
        login: "admin",
        name: "Anni Ylläpitäjä",
        acr: LOA3,
        national_id: None,
        note: "organisation admin",
    },
    TestPerson {
        login: "stranger",
        name: "Sami Satunnainen",
        acr: LOA3,
        national_id: None,
        note: "asks for the professional role, registered as nothing: refused",
    },
    TestPerson {
        login: "newcomer",
        name: "Niko Uusi",
        acr: LOA2,
        national_id: Some("040405A915F"),
        note: "never seen before: becomes a client",
    },
];

pub fn person(login: &str) -> Option<&'static TestPerson> {
    TEST_PERSONS.iter().find(|p| p.login == login)
}

/// Who a code was issued to: a listed person, or an unlisted login.
#[derive(Debug)]
struct Signed {
    subject: String,
    name: String,
    acr: &'static str,
    national_id: Option<&'static str>,
}

fn signed(login: &str) -> Option<Signed> {
    if let Some(p) = person(login) {
        return Some(Signed {
            subject: p.login.to_owned(),
            name: p.name.to_owned(),
            acr: p.acr,
            national_id: p.national_id,
        });
    }
    let plausible = !login.is_empty()
        && login.len() <= 64
        && login
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    plausible.then(|| Signed {
        subject: login.to_owned(),
        name: format!("Testihenkilö {login}"),
        acr: LOA3,
        national_id: None,
    })
}

#[derive(Debug)]
struct IssuedCode {
    person: Signed,
    client_id: String,
    redirect_uri: String,
    nonce: Option<String>,
    code_challenge: String,
    expires_at: DateTime<Utc>,
}

/// The OpenID settings of a gateway at `public_url` that signs people in through the
/// test provider it mounts (under `/test-idp`).
pub fn oidc_settings(public_url: &Url) -> OidcSettings {
    OidcSettings {
        issuer: format!("{}/test-idp", public_url.as_str().trim_end_matches('/')),
        client_id: CLIENT_ID.into(),
        client_secret: None,
    }
}

/// The provider: its key, the codes it has issued, and the one client it serves (the
/// gateway whose settings it was made from).
#[derive(Debug)]
pub struct TestIdp {
    key: ServiceKey,
    codes: Mutex<HashMap<String, IssuedCode>>,
    issuer: String,
    client_id: String,
    redirect_uri: String,
    /// The gateway's clock: tests that move time move the codes' and tokens' too.
    clock: Arc<dyn Clock>,
}

impl TestIdp {
    /// The provider for the gateway configured by `config` (its issuer, client id and
    /// callback).
    pub fn new(
        config: &GatewayConfig,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, omadata_consent::ConsentError> {
        tracing::warn!("the test identity provider is enabled: never in production");
        Ok(Self {
            key: ServiceKey::generate()?,
            codes: Mutex::new(HashMap::new()),
            issuer: config.oidc.issuer.clone(),
            client_id: config.oidc.client_id.clone(),
            redirect_uri: config.redirect_url(),
            clock,
        })
    }

    /// Its routes under `/test-idp`, carrying the provider as their state: ready to be
    /// merged into the gateway's router.
    pub fn routes(self) -> Router {
        Router::new()
            .route("/test-idp/.well-known/openid-configuration", get(discovery))
            .route("/test-idp/authorize", get(authorize))
            .route("/test-idp/token", post(token))
            .route("/test-idp/jwks", get(jwks))
            .with_state(Arc::new(self))
    }
}

async fn discovery(State(idp): State<Arc<TestIdp>>) -> Json<serde_json::Value> {
    let issuer = &idp.issuer;
    Json(json!({
        "issuer": issuer,
        "authorization_endpoint": format!("{issuer}/authorize"),
        "token_endpoint": format!("{issuer}/token"),
        "jwks_uri": format!("{issuer}/jwks"),
        "response_types_supported": ["code"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["EdDSA"],
        "scopes_supported": ["openid", "profile"],
        "token_endpoint_auth_methods_supported": ["none", "client_secret_basic", "client_secret_post"],
        "code_challenge_methods_supported": ["S256"],
        "grant_types_supported": ["authorization_code"],
        "acr_values_supported": [LOW, LOA2, LOA3],
        "claims_supported": ["sub", "name", "acr", "personal_identity_code"],
    }))
}

async fn jwks(State(idp): State<Arc<TestIdp>>) -> Json<omadata_consent::Jwks> {
    Json(omadata_consent::Jwks::of(&[idp.key.public()]))
}

#[derive(Debug, Deserialize)]
struct AuthorizeQuery {
    response_type: Option<String>,
    client_id: Option<String>,
    redirect_uri: Option<String>,
    scope: Option<String>,
    state: Option<String>,
    nonce: Option<String>,
    code_challenge: Option<String>,
    code_challenge_method: Option<String>,
    login_hint: Option<String>,
    acr_values: Option<String>,
}

fn html_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

async fn authorize(
    State(idp): State<Arc<TestIdp>>,
    Query(query): Query<AuthorizeQuery>,
) -> ApiResult<Response> {
    let bad = |why: &str| ApiError::bad_request("invalid_authorization_request", why.to_owned());
    if query.response_type.as_deref() != Some("code") {
        return Err(bad("response_type must be code"));
    }
    if !query
        .scope
        .as_deref()
        .unwrap_or("")
        .split(' ')
        .any(|s| s == "openid")
    {
        return Err(bad("scope must include openid"));
    }
    if query.code_challenge_method.as_deref() != Some("S256") {
        return Err(bad("PKCE with S256 is required"));
    }
    let client_id = query
        .client_id
        .clone()
        .ok_or_else(|| bad("client_id is required"))?;
    let redirect_uri = query
        .redirect_uri
        .clone()
        .ok_or_else(|| bad("redirect_uri is required"))?;
    let code_challenge = query
        .code_challenge
        .clone()
        .ok_or_else(|| bad("code_challenge is required"))?;
    // Only the gateway's own client and callback: the test provider is no open redirector.
    if client_id != idp.client_id || redirect_uri != idp.redirect_uri {
        return Err(bad("unknown client or redirect_uri"));
    }
    let Some(login) = query.login_hint.as_deref().filter(|l| !l.is_empty()) else {
        return Ok(chooser(&query).into_response());
    };
    let person = signed(login).ok_or_else(|| bad("unknown test person"))?;
    let code = random_token().ok_or_else(ApiError::internal)?;
    let now = idp.clock.now();
    {
        let mut codes = idp.codes.lock();
        codes.retain(|_, c| c.expires_at > now);
        codes.insert(
            code.clone(),
            IssuedCode {
                person,
                client_id,
                redirect_uri: redirect_uri.clone(),
                nonce: query.nonce.clone(),
                code_challenge,
                expires_at: now + Duration::minutes(2),
            },
        );
    }
    let mut target =
        url::Url::parse(&redirect_uri).map_err(|_| bad("redirect_uri is not a URL"))?;
    target.query_pairs_mut().append_pair("code", &code);
    if let Some(s) = &query.state {
        target.query_pairs_mut().append_pair("state", s);
    }
    Ok(Redirect::to(target.as_str()).into_response())
}

/// The page shown when no person was named: pick one.
fn chooser(query: &AuthorizeQuery) -> Html<String> {
    let mut items = String::new();
    for person in TEST_PERSONS {
        let mut params: Vec<(&str, String)> = Vec::new();
        let fields = [
            ("response_type", &query.response_type),
            ("client_id", &query.client_id),
            ("redirect_uri", &query.redirect_uri),
            ("scope", &query.scope),
            ("state", &query.state),
            ("nonce", &query.nonce),
            ("code_challenge", &query.code_challenge),
            ("code_challenge_method", &query.code_challenge_method),
            ("acr_values", &query.acr_values),
        ];
        for (name, value) in fields {
            if let Some(v) = value {
                params.push((name, v.clone()));
            }
        }
        params.push(("login_hint", person.login.to_owned()));
        let query_string = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(params)
            .finish();
        items.push_str(&format!(
            "<li><a href=\"/test-idp/authorize?{}\">{}</a> <span>({}; {})</span></li>",
            html_escape(&query_string),
            html_escape(person.name),
            html_escape(person.login),
            html_escape(person.note)
        ));
    }
    Html(format!(
        "<!doctype html><html lang=\"fi\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>Testitunnistus</title><link rel=\"stylesheet\" href=\"/assets/tokens.css\"><link rel=\"stylesheet\" href=\"/assets/app.css\"></head><body><main><h1>Testitunnistus (test identification)</h1><p>This provider exists only for the demo and tests. Choose a test person.</p><ul>{items}</ul></main></body></html>"
    ))
}

#[derive(Debug, Deserialize)]
struct TokenForm {
    grant_type: Option<String>,
    code: Option<String>,
    redirect_uri: Option<String>,
    code_verifier: Option<String>,
    client_id: Option<String>,
}

#[derive(Serialize)]
struct IdTokenClaims<'a> {
    iss: String,
    sub: &'a str,
    aud: String,
    exp: i64,
    iat: i64,
    auth_time: i64,
    nonce: Option<String>,
    acr: &'a str,
    name: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    personal_identity_code: Option<&'a str>,
}

fn token_error(code: &str) -> Response {
    (StatusCode::BAD_REQUEST, Json(json!({ "error": code }))).into_response()
}

fn basic_client_id(headers: &HeaderMap) -> Option<String> {
    let value = headers
        .get(axum::http::header::AUTHORIZATION)?
        .to_str()
        .ok()?;
    let encoded = value.strip_prefix("Basic ")?;
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (id, _) = text.split_once(':')?;
    Some(
        url::form_urlencoded::parse(id.as_bytes())
            .map(|(k, _)| k.into_owned())
            .next()
            .unwrap_or_default(),
    )
}

async fn token(
    State(idp): State<Arc<TestIdp>>,
    headers: HeaderMap,
    Form(form): Form<TokenForm>,
) -> Response {
    if form.grant_type.as_deref() != Some("authorization_code") {
        return token_error("unsupported_grant_type");
    }
    let Some(issued) = form
        .code
        .as_deref()
        .and_then(|c| idp.codes.lock().remove(c))
    else {
        return token_error("invalid_grant");
    };
    let now = idp.clock.now();
    let client_id = form.client_id.clone().or_else(|| basic_client_id(&headers));
    let verifier_ok = form.code_verifier.as_deref().is_some_and(|v| {
        URL_SAFE_NO_PAD.encode(digest::digest(&digest::SHA256, v.as_bytes()))
            == issued.code_challenge
    });
    if issued.expires_at <= now
        || form.redirect_uri.as_deref() != Some(issued.redirect_uri.as_str())
        || client_id.as_deref() != Some(issued.client_id.as_str())
        || !verifier_ok
    {
        return token_error("invalid_grant");
    }
    let person = issued.person;
    let claims = IdTokenClaims {
        iss: idp.issuer.clone(),
        sub: &person.subject,
        aud: issued.client_id,
        exp: (now + Duration::minutes(5)).timestamp(),
        iat: now.timestamp(),
        auth_time: now.timestamp(),
        nonce: issued.nonce,
        acr: person.acr,
        name: &person.name,
        personal_identity_code: person.national_id,
    };
    let mut header = Header::new(Algorithm::EdDSA);
    header.kid = Some(idp.key.kid().to_owned());
    let key = EncodingKey::from_ed_der(&idp.key.pkcs8_der());
    let Ok(id_token) = jsonwebtoken::encode(&header, &claims, &key) else {
        return ApiError::internal().into_response();
    };
    let access_token = random_token().unwrap_or_default();
    Json(json!({
        "access_token": access_token,
        "token_type": "Bearer",
        "expires_in": 300,
        "id_token": id_token,
    }))
    .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use axum::http::Request;
    use omadata_clock::{ManualClock, SystemClock};
    use tower::ServiceExt;

    fn provider() -> TestIdp {
        let public_url = Url::parse("http://127.0.0.1:8080/").unwrap();
        let config = GatewayConfig::new(public_url.clone(), oidc_settings(&public_url));
        TestIdp::new(&config, Arc::new(ManualClock::new(SystemClock.now()))).unwrap()
    }

    #[tokio::test]
    async fn its_routes_carry_their_own_state_and_name_the_gateways_issuer() {
        let response = provider()
            .routes()
            .oneshot(
                Request::get("/test-idp/.well-known/openid-configuration")
                    .body(Body::empty())
                    .unwrap(),
            )
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        let body = axum::body::to_bytes(response.into_body(), 1 << 16)
            .await
            .unwrap();
        let discovery: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(discovery["issuer"], "http://127.0.0.1:8080/test-idp");
        assert_eq!(
            discovery["token_endpoint"],
            "http://127.0.0.1:8080/test-idp/token"
        );
    }

    #[tokio::test]
    async fn it_redirects_only_to_the_gateways_callback() {
        let authorize = |redirect: &str| {
            format!(
                "/test-idp/authorize?response_type=code&scope=openid&client_id={CLIENT_ID}&redirect_uri={redirect}&code_challenge=x&code_challenge_method=S256&login_hint=client1"
            )
        };
        let router = provider().routes();
        for (redirect, expected) in [
            (
                "http%3A%2F%2F127.0.0.1%3A8080%2Fauth%2Fcallback",
                StatusCode::SEE_OTHER,
            ),
            ("https%3A%2F%2Fevil.example%2Fcb", StatusCode::BAD_REQUEST),
        ] {
            let response = router
                .clone()
                .oneshot(
                    Request::get(authorize(redirect))
                        .body(Body::empty())
                        .unwrap(),
                )
                .await
                .unwrap();
            assert_eq!(response.status(), expected, "{redirect}");
        }
    }
}
