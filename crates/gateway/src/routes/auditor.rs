//! The auditor's views of the log: events with filters, the signed checkpoint, proofs
//! and verification. Never record contents. An auditor sees the events that involve
//! their own organisation.

use crate::error::{ApiError, ApiResult, Problem};
use crate::extract::Caller;
use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use axum::response::Response;
use base64::Engine;
use chrono::{DateTime, Utc};
use omadata_app::Role;
use omadata_app::auditor;
use omadata_consent::audit::{AuditEntry, Checkpoint};
use omadata_consent::{OrganisationId, StaffRole};
use omadata_vault::ProfessionalId;
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub(crate) struct EventQuery {
    /// The client's id, or its short reference: the first 8 hex characters of it (the
    /// events of every client of the log it fits are listed together).
    client: Option<String>,
    professional: Option<ProfessionalId>,
    organisation: Option<OrganisationId>,
    from: Option<DateTime<Utc>>,
    to: Option<DateTime<Utc>>,
    before: Option<u64>,
    limit: Option<usize>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct EventPage {
    events: Vec<AuditEntry>,
    /// Pass as `before` for the next (older) page.
    next_before: Option<u64>,
}

#[utoipa::path(get, path = "/api/v1/audit/events", tag = "auditor", params(EventQuery), responses((status = 200, body = EventPage), (status = 400, body = Problem, content_type = "application/problem+json"), (status = 401, body = Problem, content_type = "application/problem+json"), (status = 403, body = Problem, content_type = "application/problem+json"), (status = 422, body = Problem, content_type = "application/problem+json")), security(("session" = []), ("bearer" = [])))]
pub(crate) async fn events(
    State(state): State<AppState>,
    caller: Caller,
    crate::extract::AppQuery(query): crate::extract::AppQuery<EventQuery>,
) -> ApiResult<Json<EventPage>> {
    let auditor = caller.staff(Role::Auditor)?;
    let query = auditor::EventQuery {
        client: query
            .client
            .as_deref()
            .map(str::parse::<auditor::ClientRef>)
            .transpose()?,
        professional: query.professional,
        organisation: query.organisation,
        from: query.from,
        to: query.to,
        before: query.before,
        limit: query.limit.unwrap_or(100).clamp(1, 1000),
    };
    let auditor = auditor.clone();
    let (events, next_before) = state
        .app()
        .reading(move |app| auditor::events(app, &auditor, query))
        .await?;
    Ok(Json(EventPage {
        events,
        next_before,
    }))
}

/// A member of the auditor's organisation as the events name them: who, not how they
/// sign in.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct StaffMember {
    id: ProfessionalId,
    name: String,
    title: String,
    roles: BTreeSet<StaffRole>,
}

/// The auditor's own organisation's staff, a page at a time: the names for the events'
/// professional ids and the choices of the professional filter.
#[utoipa::path(get, path = "/api/v1/audit/staff", tag = "auditor", params(crate::paging::PageQuery), responses((status = 200, body = [StaffMember]), (status = 400, body = Problem, content_type = "application/problem+json"), (status = 401, body = Problem, content_type = "application/problem+json"), (status = 403, body = Problem, content_type = "application/problem+json"), (status = 422, body = Problem, content_type = "application/problem+json")), security(("session" = []), ("bearer" = [])))]
pub(crate) async fn staff(
    State(state): State<AppState>,
    caller: Caller,
    crate::extract::AppQuery(page): crate::extract::AppQuery<crate::paging::PageQuery>,
) -> ApiResult<Response> {
    let auditor = caller.staff(Role::Auditor)?;
    let (after, limit) = (page.after()?.map(ProfessionalId::from_bytes), page.limit());
    let auditor = auditor.clone();
    let (staff, next) = state
        .app()
        .reading(move |app| auditor::staff(app, &auditor, after, limit))
        .await?;
    let members: Vec<StaffMember> = staff
        .into_iter()
        .map(|s| StaffMember {
            id: s.id,
            name: s.name,
            title: s.title,
            roles: s.roles,
        })
        .collect();
    Ok(crate::paging::page_response(
        members,
        "/api/v1/audit/staff",
        page.limit(),
        next.map(|p| *p.as_bytes()),
    ))
}

/// The newest signed checkpoint. Checkpoints are signed on a schedule (and by
/// `POST`), never by this GET.
#[utoipa::path(get, path = "/api/v1/audit/checkpoint", tag = "auditor", responses((status = 200, body = omadata_consent::audit::Checkpoint), (status = 400, body = Problem, content_type = "application/problem+json"), (status = 401, body = Problem, content_type = "application/problem+json"), (status = 403, body = Problem, content_type = "application/problem+json"), (status = 404, body = Problem, content_type = "application/problem+json"), (status = 422, body = Problem, content_type = "application/problem+json")), security(("session" = []), ("bearer" = [])))]
pub(crate) async fn checkpoint(
    State(state): State<AppState>,
    caller: Caller,
) -> ApiResult<Json<Checkpoint>> {
    caller.staff(Role::Auditor)?;
    state
        .app()
        .reading(auditor::checkpoint)
        .await?
        .map(Json)
        .ok_or_else(ApiError::no_checkpoint)
}

/// Signs a checkpoint over the whole log now, if it has grown since the newest one
/// (otherwise answers with the newest). A state change, so it needs the CSRF token.
#[utoipa::path(post, path = "/api/v1/audit/checkpoint", tag = "auditor", responses((status = 200, body = omadata_consent::audit::Checkpoint), (status = 400, body = Problem, content_type = "application/problem+json"), (status = 401, body = Problem, content_type = "application/problem+json"), (status = 403, body = Problem, content_type = "application/problem+json"), (status = 422, body = Problem, content_type = "application/problem+json")), security(("session" = []), ("bearer" = [])))]
pub(crate) async fn sign_checkpoint(
    State(state): State<AppState>,
    caller: Caller,
) -> ApiResult<Json<Checkpoint>> {
    caller.staff(Role::Auditor)?;
    Ok(Json(
        auditor::sign_checkpoint(state.app(), state.now()).await?,
    ))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub(crate) struct InclusionQuery {
    seq: u64,
    size: u64,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct Proof {
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
pub(crate) async fn inclusion_proof(
    State(state): State<AppState>,
    caller: Caller,
    crate::extract::AppQuery(query): crate::extract::AppQuery<InclusionQuery>,
) -> ApiResult<Json<Proof>> {
    caller.staff(Role::Auditor)?;
    let (seq, size) = (query.seq, query.size);
    let proof = state
        .app()
        .reading(move |app| auditor::inclusion_proof(app, seq, size))
        .await?;
    Ok(Json(encode(proof)))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub(crate) struct ConsistencyQuery {
    from: u64,
    to: u64,
}

#[utoipa::path(get, path = "/api/v1/audit/proofs/consistency", tag = "auditor", params(ConsistencyQuery), responses((status = 200, body = Proof), (status = 400, body = Problem, content_type = "application/problem+json"), (status = 401, body = Problem, content_type = "application/problem+json"), (status = 403, body = Problem, content_type = "application/problem+json"), (status = 422, body = Problem, content_type = "application/problem+json")), security(("session" = []), ("bearer" = [])))]
pub(crate) async fn consistency_proof(
    State(state): State<AppState>,
    caller: Caller,
    crate::extract::AppQuery(query): crate::extract::AppQuery<ConsistencyQuery>,
) -> ApiResult<Json<Proof>> {
    caller.staff(Role::Auditor)?;
    let (from, to) = (query.from, query.to);
    let proof = state
        .app()
        .reading(move |app| auditor::consistency_proof(app, from, to))
        .await?;
    Ok(Json(encode(proof)))
}

/// Recomputes the whole tree and checks every stored checkpoint, streaming the log in
/// bounded memory on the blocking pool. One at a time across the gateway: a second call
/// meanwhile gets 429 `verification_running`.
#[utoipa::path(get, path = "/api/v1/audit/verify", tag = "auditor", responses((status = 200, body = omadata_consent::audit::LogReport), (status = 400, body = Problem, content_type = "application/problem+json"), (status = 401, body = Problem, content_type = "application/problem+json"), (status = 403, body = Problem, content_type = "application/problem+json"), (status = 422, body = Problem, content_type = "application/problem+json"), (status = 409, body = Problem, content_type = "application/problem+json"), (status = 429, body = Problem, content_type = "application/problem+json")), security(("session" = []), ("bearer" = [])))]
pub(crate) async fn verify(
    State(state): State<AppState>,
    caller: Caller,
) -> ApiResult<Json<omadata_consent::audit::LogReport>> {
    caller.staff(Role::Auditor)?;
    Ok(Json(auditor::verify(state.app()).await?))
}
