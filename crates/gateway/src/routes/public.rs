//! What anyone may see: health, the published keys, the field catalogue, and the start
//! page; and the metrics, for a scraper with the metrics token only.

use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use omadata_vault::{Authors, Sensitivity};
use serde::Serialize;
use std::sync::atomic::Ordering;

#[utoipa::path(get, path = "/healthz", tag = "public", responses((status = 200, description = "alive", body = String)))]
pub(crate) async fn healthz() -> &'static str {
    "ok"
}

/// Ready when the store answers.
#[utoipa::path(get, path = "/readyz", tag = "public", responses((status = 200, description = "ready", body = String), (status = 503, description = "storage unavailable", body = String)))]
pub(crate) async fn readyz(State(state): State<AppState>) -> Response {
    match state.app().ready().await {
        Ok(_) => (StatusCode::OK, "ready").into_response(),
        Err(error) => {
            tracing::error!(%error, "not ready");
            (StatusCode::SERVICE_UNAVAILABLE, "storage unavailable").into_response()
        }
    }
}

/// Prometheus metrics, only for a scraper that sends the configured metrics token as
/// `Authorization: Bearer`; without a configured token, and to anyone else, `/metrics`
/// does not exist (404). Not in the public API document.
pub(crate) async fn metrics(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let Some(expected) = &state.config().network.metrics_token else {
        return ApiError::not_found().into_response();
    };
    let sent = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("");
    if !crate::extract::same_secret(sent.trim().as_bytes(), expected.as_bytes()) {
        return ApiError::not_found().into_response();
    }
    let m = &state.services().metrics;
    let decisions = &state.app().decisions;
    let audit_entries = state.app().audit_entries();
    let body = format!(
        "# TYPE omadata_http_requests_total counter\nomadata_http_requests_total {}\n\
         # TYPE omadata_http_client_errors_total counter\nomadata_http_client_errors_total {}\n\
         # TYPE omadata_http_server_errors_total counter\nomadata_http_server_errors_total {}\n\
         # TYPE omadata_logins_total counter\nomadata_logins_total {}\n\
         # TYPE omadata_logins_refused_total counter\nomadata_logins_refused_total {}\n\
         # TYPE omadata_access_permits_total counter\nomadata_access_permits_total {}\n\
         # TYPE omadata_access_denies_total counter\nomadata_access_denies_total {}\n\
         # TYPE omadata_audit_entries gauge\nomadata_audit_entries {}\n",
        m.requests.load(Ordering::Relaxed),
        m.client_errors.load(Ordering::Relaxed),
        m.server_errors.load(Ordering::Relaxed),
        m.logins.load(Ordering::Relaxed),
        m.logins_refused.load(Ordering::Relaxed),
        decisions.permits.load(Ordering::Relaxed),
        decisions.denies.load(Ordering::Relaxed),
        audit_entries,
    );
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], body).into_response()
}

#[utoipa::path(get, path = "/.well-known/jwks.json", tag = "public", responses((status = 200, description = "keys that verify receipts and checkpoints", body = omadata_consent::Jwks)))]
pub(crate) async fn jwks(State(state): State<AppState>) -> Json<omadata_consent::Jwks> {
    Json(state.app().published_keys())
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct FieldView {
    path: String,
    category: String,
    sensitivity: Sensitivity,
    author: Authors,
    #[serde(rename = "type")]
    value_type: omadata_vault::catalogue::ValueType,
    labels: omadata_vault::catalogue::Labels,
    /// What the field is, in one plain line, for the person whose data it is.
    help: omadata_vault::catalogue::Labels,
}

#[utoipa::path(get, path = "/api/v1/fields", tag = "public", responses((status = 200, body = [FieldView])))]
pub(crate) async fn fields(State(state): State<AppState>) -> ApiResult<Json<Vec<FieldView>>> {
    Ok(Json(
        state
            .app()
            .catalogue()
            .fields()
            .iter()
            .map(|f| FieldView {
                path: f.path.clone(),
                category: f.category.clone(),
                sensitivity: f.sensitivity,
                author: f.author,
                value_type: f.value_type.clone(),
                labels: f.labels.clone(),
                help: f.help.clone(),
            })
            .collect(),
    ))
}
