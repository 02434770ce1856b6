//! The auditor's views of the log: events with filters, the signed checkpoint, proofs
//! and verification. Never record contents. An auditor sees the events that involve
//! their own organisation.

use crate::error::{ApiError, ApiResult, Problem};
use crate::extract::Caller;
use crate::principal::Role;
use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use chrono::{DateTime, Utc};
use omadata_consent::OrganisationId;
use omadata_consent::audit::{AuditEntry, AuditFilter, Checkpoint, LogInvalid};
use omadata_vault::{ClientId, ProfessionalId};
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct EventQuery {
    client: Option<ClientId>,
    professional: Option<ProfessionalId>,
    organisation: Option<OrganisationId>,
    from: Option<DateTime<Utc>>,
    to: Option<DateTime<Utc>>,
    before: Option<u64>,
    limit: Option<usize>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct EventPage {
    events: Vec<AuditEntry>,
    /// Pass as `before` for the next (older) page.
    next_before: Option<u64>,
}

#[utoipa::path(get, path = "/api/v1/audit/events", tag = "auditor", params(EventQuery), responses((status = 200, body = EventPage), (status = 400, body = Problem, content_type = "application/problem+json"), (status = 401, body = Problem, content_type = "application/problem+json"), (status = 403, body = Problem, content_type = "application/problem+json"), (status = 422, body = Problem, content_type = "application/problem+json")), security(("session" = []), ("bearer" = [])))]
pub async fn events(
    State(state): State<AppState>,
    caller: Caller,
    crate::extract::AppQuery(query): crate::extract::AppQuery<EventQuery>,
) -> ApiResult<Json<EventPage>> {
    let auditor = caller.staff(Role::Auditor)?;
    let own = auditor.organisation;
    if query.organisation.is_some_and(|o| o != own) {
        return Err(ApiError::forbidden());
    }
    let filter = match (query.client, query.professional) {
        (Some(_), Some(_)) => {
            return Err(ApiError::bad_request(
                "conflicting_filters",
                "filter by client or by professional, not both",
            ));
        }
        (Some(client), None) => AuditFilter::Client(client),
        (None, Some(professional)) => AuditFilter::Professional(professional),
        (None, None) => AuditFilter::Organisation(own),
    };
    if let (Some(from), Some(to)) = (query.from, query.to)
        && from >= to
    {
        return Err(ApiError::bad_request(
            "invalid_time_range",
            "`from` must be before `to`",
        ));
    }
    let limit = query.limit.unwrap_or(100).clamp(1, 1000);
    let audit = state.services().consent.audit();
    let mut events = Vec::new();
    let mut before = query.before;
    let mut exhausted = false;
    while events.len() < limit {
        let batch = audit.query(filter, query.from, query.to, before, limit)?;
        let Some(last) = batch.last() else {
            exhausted = true;
            break;
        };
        before = Some(last.seq);
        events.extend(batch.into_iter().filter(|e| e.organisation == Some(own)));
    }
    events.truncate(limit);
    let next_before = if exhausted {
        None
    } else {
        events.last().map(|e| e.seq)
    };
    Ok(Json(EventPage {
        events,
        next_before,
    }))
}

/// The newest signed checkpoint. Checkpoints are signed on a schedule (and by
/// `POST`), never by this GET.
#[utoipa::path(get, path = "/api/v1/audit/checkpoint", tag = "auditor", responses((status = 200, body = omadata_consent::audit::Checkpoint), (status = 400, body = Problem, content_type = "application/problem+json"), (status = 401, body = Problem, content_type = "application/problem+json"), (status = 403, body = Problem, content_type = "application/problem+json"), (status = 404, body = Problem, content_type = "application/problem+json"), (status = 422, body = Problem, content_type = "application/problem+json")), security(("session" = []), ("bearer" = [])))]
pub async fn checkpoint(
    State(state): State<AppState>,
    caller: Caller,
) -> ApiResult<Json<Checkpoint>> {
    caller.staff(Role::Auditor)?;
    state
        .services()
        .consent
        .audit()
        .latest_checkpoint()?
        .map(Json)
        .ok_or_else(|| {
            ApiError::new(
                axum::http::StatusCode::NOT_FOUND,
                "no_checkpoint",
                "no checkpoint has been signed yet",
            )
        })
}

/// Signs a checkpoint over the whole log now, if it has grown since the newest one
/// (otherwise answers with the newest). A state change, so it needs the CSRF token.
#[utoipa::path(post, path = "/api/v1/audit/checkpoint", tag = "auditor", responses((status = 200, body = omadata_consent::audit::Checkpoint), (status = 400, body = Problem, content_type = "application/problem+json"), (status = 401, body = Problem, content_type = "application/problem+json"), (status = 403, body = Problem, content_type = "application/problem+json"), (status = 422, body = Problem, content_type = "application/problem+json")), security(("session" = []), ("bearer" = [])))]
pub async fn sign_checkpoint(
    State(state): State<AppState>,
    caller: Caller,
) -> ApiResult<Json<Checkpoint>> {
    caller.staff(Role::Auditor)?;
    let now = state.now();
    let signed = state
        .on_disk(move |services| services.consent.audit().checkpoint_if_grown(now))
        .await??;
    Ok(Json(signed))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct InclusionQuery {
    seq: u64,
    size: u64,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Proof {
    /// Hashes, base64.
    proof: Vec<String>,
}

fn encode(hashes: Vec<[u8; 32]>) -> Proof {
    Proof {
        proof: hashes
            .iter()
            .map(|h| base64::engine::general_purpose::STANDARD.encode(h))
            .collect(),
    }
}

#[utoipa::path(get, path = "/api/v1/audit/proofs/inclusion", tag = "auditor", params(InclusionQuery), responses((status = 200, body = Proof), (status = 400, body = Problem, content_type = "application/problem+json"), (status = 401, body = Problem, content_type = "application/problem+json"), (status = 403, body = Problem, content_type = "application/problem+json"), (status = 422, body = Problem, content_type = "application/problem+json")), security(("session" = []), ("bearer" = [])))]
pub async fn inclusion_proof(
    State(state): State<AppState>,
    caller: Caller,
    crate::extract::AppQuery(query): crate::extract::AppQuery<InclusionQuery>,
) -> ApiResult<Json<Proof>> {
    caller.staff(Role::Auditor)?;
    Ok(Json(encode(
        state
            .services()
            .consent
            .audit()
            .inclusion_proof(query.seq, query.size)?,
    )))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ConsistencyQuery {
    from: u64,
    to: u64,
}

#[utoipa::path(get, path = "/api/v1/audit/proofs/consistency", tag = "auditor", params(ConsistencyQuery), responses((status = 200, body = Proof), (status = 400, body = Problem, content_type = "application/problem+json"), (status = 401, body = Problem, content_type = "application/problem+json"), (status = 403, body = Problem, content_type = "application/problem+json"), (status = 422, body = Problem, content_type = "application/problem+json")), security(("session" = []), ("bearer" = [])))]
pub async fn consistency_proof(
    State(state): State<AppState>,
    caller: Caller,
    crate::extract::AppQuery(query): crate::extract::AppQuery<ConsistencyQuery>,
) -> ApiResult<Json<Proof>> {
    caller.staff(Role::Auditor)?;
    Ok(Json(encode(
        state
            .services()
            .consent
            .audit()
            .consistency_proof(query.from, query.to)?,
    )))
}

/// Sets the flag when dropped: a verification whose request went away (the client left,
/// or the request timed out) stops at its next batch instead of running on.
struct CancelOnDrop(Arc<AtomicBool>);

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Release);
    }
}

/// Recomputes the whole tree and checks every stored checkpoint, streaming the log in
/// bounded memory on the blocking pool. One at a time across the gateway: a second call
/// meanwhile gets 429 `verification_running`.
#[utoipa::path(get, path = "/api/v1/audit/verify", tag = "auditor", responses((status = 200, body = omadata_consent::audit::LogReport), (status = 400, body = Problem, content_type = "application/problem+json"), (status = 401, body = Problem, content_type = "application/problem+json"), (status = 403, body = Problem, content_type = "application/problem+json"), (status = 422, body = Problem, content_type = "application/problem+json"), (status = 409, body = Problem, content_type = "application/problem+json"), (status = 429, body = Problem, content_type = "application/problem+json")), security(("session" = []), ("bearer" = [])))]
pub async fn verify(State(state): State<AppState>, caller: Caller) -> ApiResult<Response> {
    caller.staff(Role::Auditor)?;
    let Ok(running) = state
        .services()
        .limits
        .audit_verification
        .clone()
        .try_acquire_owned()
    else {
        let mut response = ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "verification_running",
            "a verification of the audit log is already running: try again shortly",
        )
        .into_response();
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
        return Ok(response);
    };
    let cancel = Arc::new(AtomicBool::new(false));
    let _cancel_on_drop = CancelOnDrop(cancel.clone());
    let outcome = state
        .on_disk(move |services| {
            // Held until the work itself ends, not the request: a dropped request frees
            // the slot only once its verification has stopped.
            let _running = running;
            services
                .consent
                .audit()
                .verify_cancellable(&services.consent.jwks(), &cancel)
        })
        .await?;
    match outcome {
        Ok(report) => Ok(Json(report).into_response()),
        Err(LogInvalid::Cancelled) => Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "verification_cancelled",
            "the verification was stopped before it finished",
        )),
        Err(e) => Err(ApiError::new(
            StatusCode::CONFLICT,
            "log_invalid",
            e.to_string(),
        )),
    }
}
