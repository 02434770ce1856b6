//! A professional's work: asking for access, their clients, reading and writing exactly
//! what grants permit. Every decision is audited before the answer leaves.

use crate::error::{ApiError, ApiResult, Problem};
use crate::extract::{AppJson, Caller};
use crate::paging::{PageQuery, page_response};
use crate::principal::Role;
use crate::routes::client::{RecordView, WriteBody, record_view};
use crate::state::{AppState, Metrics};
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use omadata_consent::audit::{AuditEntry, AuditEvent};
use omadata_consent::{
    AccessAsk, AccessRequest, Action, Decision, FieldSelector, GrantId, GrantState, Purpose,
};
use omadata_vault::{Author, ClientId};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;

/// Answered, without a new audit entry, to a professional whose reads were refused too
/// often lately: probing client ids for grants cannot grow the log one entry a probe.
fn probing_locked_out() -> Response {
    let mut response = ApiError::new(
        StatusCode::TOO_MANY_REQUESTS,
        "too_many_refused_reads",
        "too many reads were refused: try again in 15 minutes",
    )
    .into_response();
    response.headers_mut().insert(
        axum::http::header::RETRY_AFTER,
        axum::http::HeaderValue::from_static("900"),
    );
    response
}

/// Counts one refused read or write by `staff`; the refusal that reaches the limit is
/// audited once, as the summary of the probing (later ones are refused before any
/// decision, so they add nothing to the log).
async fn count_refusal(
    state: &AppState,
    staff: &omadata_consent::Staff,
    now: DateTime<Utc>,
) -> ApiResult<()> {
    let limits = &state.services().limits;
    let key = staff.id.to_string();
    limits.refused_reads.record(&key, now);
    if !limits.refused_reads.allows(&key, now) {
        let mut entry = AuditEntry::new(AuditEvent::Lockout, now);
        entry.professional = Some(staff.id);
        entry.organisation = Some(staff.organisation);
        entry.reason = Some("refused_reads".into());
        state.audit(entry).await?;
    }
    Ok(())
}

/// The client a professional's read or write names, or the answer that ends it first. A
/// malformed id is refused like a client without grants (and counted). Past the
/// refused-probe limit, an attempt `would_permit` says is refused gets 429 before its
/// decision is audited, so probing adds nothing to the log; what the grants allow goes
/// on, so the clients' service does not stop.
async fn probed_client(
    state: &AppState,
    staff: &omadata_consent::Staff,
    now: DateTime<Utc>,
    client: &str,
    would_permit: impl FnOnce(ClientId) -> ApiResult<bool>,
) -> ApiResult<Result<ClientId, Response>> {
    let probing = !state
        .services()
        .limits
        .refused_reads
        .allows(&staff.id.to_string(), now);
    let Ok(client) = client.parse::<ClientId>() else {
        if probing {
            return Ok(Err(probing_locked_out()));
        }
        count_refusal(state, staff, now).await?;
        return Err(ApiError::forbidden());
    };
    if probing && !would_permit(client)? {
        return Ok(Err(probing_locked_out()));
    }
    Ok(Ok(client))
}

fn locked_out() -> ApiError {
    ApiError::new(
        StatusCode::TOO_MANY_REQUESTS,
        "too_many_attempts",
        "too many wrong pairing codes: try again in 15 minutes",
    )
}

/// Waits until the audit entry `seq` is on disk (a flush shared with other requests).
async fn durable(state: &AppState, seq: Option<u64>) -> ApiResult<()> {
    state.services().committer.durable(seq).await
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[derive(utoipa::ToSchema)]
pub struct NewRequest {
    pairing_code: String,
    fields: Vec<FieldSelector>,
    actions: BTreeSet<Action>,
    purpose: Purpose,
    valid_until: DateTime<Utc>,
}

#[utoipa::path(post, path = "/api/v1/access-requests", tag = "professional", request_body = NewRequest, responses((status = 201, body = omadata_consent::AccessRequest), (status = 400, body = Problem, content_type = "application/problem+json"), (status = 401, body = Problem, content_type = "application/problem+json"), (status = 403, body = Problem, content_type = "application/problem+json"), (status = 422, body = Problem, content_type = "application/problem+json"), (status = 413, body = Problem, content_type = "application/problem+json"), (status = 415, body = Problem, content_type = "application/problem+json"), (status = 429, body = Problem, content_type = "application/problem+json")), security(("session" = []), ("bearer" = [])))]
pub async fn request_access(
    State(state): State<AppState>,
    caller: Caller,
    AppJson(body): AppJson<NewRequest>,
) -> ApiResult<Response> {
    let staff = caller.staff(Role::Professional)?;
    let services = state.services();
    let now = state.now();
    let limiter_key = staff.id.to_string();
    if !services.limits.pairing_failures.allows(&limiter_key, now) {
        return Err(locked_out());
    }
    let grantee = services.directory.grantee(staff)?;
    let ask = AccessAsk {
        fields: body.fields,
        actions: body.actions,
        purpose: body.purpose,
        valid_until: body.valid_until,
    };
    let code = body.pairing_code;
    let result = state
        .on_disk(move |services| services.consent.request_access(&grantee, &code, ask, now))
        .await?;
    let request: AccessRequest = match result {
        Err(omadata_consent::ConsentError::PairingCodeInvalid) => {
            services.limits.pairing_failures.record(&limiter_key, now);
            if !services.limits.pairing_failures.allows(&limiter_key, now) {
                // The lockout itself is audited, so repeated guessing is visible afterwards.
                let mut entry = AuditEntry::new(AuditEvent::Lockout, now);
                entry.professional = Some(staff.id);
                entry.organisation = Some(staff.organisation);
                entry.reason = Some("pairing_code_guessing".into());
                state.audit(entry).await?;
            }
            return Err(omadata_consent::ConsentError::PairingCodeInvalid.into());
        }
        other => other?,
    };
    Ok((StatusCode::CREATED, Json(request)).into_response())
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct GrantSummary {
    id: GrantId,
    fields: BTreeSet<String>,
    actions: BTreeSet<Action>,
    purpose: Purpose,
    valid_until: DateTime<Utc>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ClientView {
    client: ClientId,
    grants: Vec<GrantSummary>,
}

/// Clients with at least one active grant to the caller.
#[utoipa::path(get, path = "/api/v1/clients", tag = "professional", params(crate::paging::PageQuery), responses((status = 200, body = [ClientView]), (status = 400, body = Problem, content_type = "application/problem+json"), (status = 401, body = Problem, content_type = "application/problem+json"), (status = 403, body = Problem, content_type = "application/problem+json"), (status = 422, body = Problem, content_type = "application/problem+json")), security(("session" = []), ("bearer" = [])))]
pub async fn my_clients(
    State(state): State<AppState>,
    caller: Caller,
    crate::extract::AppQuery(page): crate::extract::AppQuery<PageQuery>,
) -> ApiResult<Response> {
    let staff = caller.staff(Role::Professional)?;
    let now = state.now();
    let (clients, next) = state.services().consent.clients_of_professional_page(
        staff.id,
        page.after()?.map(ClientId::from_bytes),
        page.limit(),
        |grant| grant.state(now) == GrantState::Active,
    )?;
    let views: Vec<ClientView> = clients
        .into_iter()
        .map(|(client, grants)| ClientView {
            client,
            grants: grants
                .into_iter()
                .map(|grant| GrantSummary {
                    id: grant.id,
                    fields: grant.fields,
                    actions: grant.actions,
                    purpose: grant.purpose,
                    valid_until: grant.valid_until,
                })
                .collect(),
        })
        .collect();
    Ok(page_response(
        views,
        "/api/v1/clients",
        page.limit(),
        next.map(|c| *c.as_bytes()),
    ))
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct PermittedField {
    #[serde(flatten)]
    record: RecordView,
    grant: GrantId,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ClientRecord {
    client: ClientId,
    /// Exactly the fields an active grant permits and that hold a value.
    fields: Vec<PermittedField>,
}

#[utoipa::path(get, path = "/api/v1/clients/{id}/record", tag = "professional", params(("id" = String, Path)), responses((status = 200, body = ClientRecord), (status = 400, body = Problem, content_type = "application/problem+json"), (status = 401, body = Problem, content_type = "application/problem+json"), (status = 403, body = Problem, content_type = "application/problem+json"), (status = 422, body = Problem, content_type = "application/problem+json"), (status = 429, body = Problem, content_type = "application/problem+json")), security(("session" = []), ("bearer" = [])))]
pub async fn client_record(
    State(state): State<AppState>,
    caller: Caller,
    crate::extract::AppPath(client): crate::extract::AppPath<String>,
) -> ApiResult<Response> {
    let staff = caller.staff(Role::Professional)?;
    let services = state.services();
    let now = state.now();
    let would_permit = |client| Ok(services.consent.permits_any_read(staff.id, client, now)?);
    let client = match probed_client(&state, staff, now, &client, would_permit).await? {
        Ok(client) => client,
        Err(locked_out) => return Ok(locked_out),
    };
    let (decisions, audited) = services.consent.authorize_granted_reads_deferred(
        staff.id,
        staff.organisation,
        client,
        now,
    )?;
    let mut permitted = Vec::new();
    for decision in &decisions {
        match &decision.decision {
            Decision::Permit { grant, .. } => {
                Metrics::add(&services.metrics.permits, 1);
                permitted.push((decision.field.as_str(), *grant));
            }
            Decision::Deny { .. } => Metrics::add(&services.metrics.denies, 1),
        }
    }
    let paths: Vec<&str> = permitted.iter().map(|(path, _)| *path).collect();
    let records = if paths.is_empty() {
        Vec::new()
    } else {
        services.vault.read_many(client, &paths)?
    };
    let fields: Vec<PermittedField> = records
        .into_iter()
        .zip(&permitted)
        .filter_map(|(record, (_, grant))| {
            record.map(|record| PermittedField {
                record: record_view(&state, record),
                grant: *grant,
            })
        })
        .collect();
    // Nothing leaves before its audit entry is on disk (a shared flush: group commit).
    durable(&state, audited).await?;
    if !decisions.iter().any(|d| d.decision.is_permit()) {
        count_refusal(&state, staff, now).await?;
        return Err(ApiError::forbidden());
    }
    Ok(Json(ClientRecord { client, fields }).into_response())
}

#[utoipa::path(put, path = "/api/v1/clients/{id}/record/{path}", tag = "professional", params(("id" = String, Path), ("path" = String, Path)), request_body = crate::routes::client::WriteBody, responses((status = 200, body = crate::routes::client::RecordView), (status = 400, body = Problem, content_type = "application/problem+json"), (status = 401, body = Problem, content_type = "application/problem+json"), (status = 403, body = Problem, content_type = "application/problem+json"), (status = 422, body = Problem, content_type = "application/problem+json"), (status = 413, body = Problem, content_type = "application/problem+json"), (status = 415, body = Problem, content_type = "application/problem+json"), (status = 429, body = Problem, content_type = "application/problem+json")), security(("session" = []), ("bearer" = [])))]
pub async fn write_client_field(
    State(state): State<AppState>,
    caller: Caller,
    Path((client, path)): Path<(String, String)>,
    AppJson(body): AppJson<WriteBody>,
) -> ApiResult<Response> {
    let staff = caller.staff(Role::Professional)?;
    let services = state.services();
    let now = state.now();
    let would_permit = |client| {
        Ok(services
            .consent
            .decide(staff.id, client, &path, Action::Write, now)?
            .is_permit())
    };
    let client = match probed_client(&state, staff, now, &client, would_permit).await? {
        Ok(client) => client,
        Err(locked_out) => return Ok(locked_out),
    };
    let (decisions, audited) = services.consent.authorize_deferred(
        staff.id,
        staff.organisation,
        client,
        std::slice::from_ref(&path),
        Action::Write,
        now,
    )?;
    durable(&state, audited).await?;
    if !decisions.iter().all(|d| d.decision.is_permit()) {
        Metrics::add(&services.metrics.denies, 1);
        count_refusal(&state, staff, now).await?;
        return Err(ApiError::forbidden());
    }
    Metrics::add(&services.metrics.permits, 1);
    let author = Author::Professional(staff.id);
    let record = state
        .on_disk(move |services| services.vault.write(client, &path, body.value, author, now))
        .await??;
    Ok(Json(record_view(&state, record)).into_response())
}
