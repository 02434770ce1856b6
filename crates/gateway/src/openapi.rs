//! The OpenAPI document, generated from the handlers (utoipa) of the routes the router
//! serves (`routes::documented`). `specs/openapi.json` is this document; a test fails
//! when the two drift.

use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

struct Security;

impl Modify for Security {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "session",
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::with_description(
                crate::sessions::SESSION_COOKIE,
                "browser session; state-changing requests also need the X-CSRF-Token header",
            ))),
        );
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .build(),
            ),
        );
    }
}

#[derive(Debug, OpenApi)]
#[openapi(
    info(
        title = "OmaData API",
        description = "Young people's own data, shared field by field, for a purpose and a time, with named professionals.",
        license(name = "EUPL-1.2")
    ),
    modifiers(&Security),
    tags(
        (name = "public", description = "No sign-in needed"),
        (name = "session", description = "Sign-in, sign-out, tokens, who am I"),
        (name = "client", description = "The client's own data and consents"),
        (name = "professional", description = "Access requests and granted records"),
        (name = "auditor", description = "The audit log: events, checkpoints, proofs"),
        (name = "admin", description = "An organisation's staff"),
    )
)]
pub(crate) struct ApiDoc;

/// The whole document: [`ApiDoc`]'s title, security schemes and tags, and the paths and
/// schemas of the routes in `routes::documented`.
pub(crate) fn document() -> utoipa::openapi::OpenApi {
    utoipa_axum::router::OpenApiRouter::with_openapi(ApiDoc::openapi())
        .merge(crate::routes::documented())
        .into_openapi()
}

/// The document as pretty JSON with a final newline, as committed in `specs/`.
pub(crate) fn openapi_json() -> String {
    let mut text = document().to_pretty_json().unwrap_or_default();
    text.push('\n');
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    const COMMITTED: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../specs/openapi.json");

    /// CI regenerates the document and fails when the committed one drifted.
    /// `OMADATA_UPDATE_SPECS=1 cargo test -p omadata-gateway openapi` rewrites it.
    #[test]
    fn committed_openapi_matches_the_code() {
        let generated = openapi_json();
        if std::env::var_os("OMADATA_UPDATE_SPECS").is_some() {
            std::fs::write(COMMITTED, &generated).unwrap();
        }
        let committed = std::fs::read_to_string(COMMITTED).unwrap_or_default();
        assert!(
            committed == generated,
            "specs/openapi.json drifted from the code: run `OMADATA_UPDATE_SPECS=1 cargo test -p omadata-gateway openapi`"
        );
    }

    #[test]
    fn every_api_path_is_documented() {
        let doc: serde_json::Value = serde_json::from_str(&openapi_json()).unwrap();
        let paths = doc["paths"].as_object().unwrap();
        for path in [
            "/api/v1/me",
            "/api/v1/me/record",
            "/api/v1/me/record/{path}",
            "/api/v1/me/pairing-codes",
            "/api/v1/me/access-requests",
            "/api/v1/me/access-requests/{id}/approve",
            "/api/v1/me/access-requests/{id}/deny",
            "/api/v1/me/grants",
            "/api/v1/me/grants/{id}",
            "/api/v1/me/grants/{id}/receipt",
            "/api/v1/me/access-log",
            "/api/v1/me/export",
            "/api/v1/access-requests",
            "/api/v1/clients",
            "/api/v1/clients/{id}/record",
            "/api/v1/clients/{id}/record/{path}",
            "/api/v1/audit/events",
            "/api/v1/audit/staff",
            "/api/v1/audit/checkpoint",
            "/api/v1/audit/proofs/inclusion",
            "/api/v1/audit/proofs/consistency",
            "/api/v1/audit/verify",
            "/api/v1/admin/organisation",
            "/api/v1/admin/professionals",
            "/api/v1/admin/professionals/{id}/deactivate",
            "/api/v1/fields",
            "/api/v1/tokens",
            "/.well-known/jwks.json",
            "/healthz",
            "/readyz",
            "/auth/login",
            "/auth/callback",
            "/auth/logout",
        ] {
            assert!(
                paths.contains_key(path),
                "{path} is not in the OpenAPI document"
            );
        }
    }
}
