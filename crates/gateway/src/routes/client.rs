//! The client's own data and consents: `/api/v1/me/...`.

use crate::error::{ApiResult, Problem};
use crate::extract::{AppJson, Caller};
use crate::paging::{PageQuery, page_response};
use crate::state::AppState;
use axum::Json;
use axum::body::Body;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use omadata_app::client::{self, AuthoredRecord, DescribedEntry};
use omadata_app::{Principal, Role};
use omadata_consent::audit::AuditEvent;
use omadata_consent::{
    AccessAsk, AccessRequest, Action, FieldSelector, Grant, GrantId, GrantState, Narrowing,
    Purpose, RequestId, RequestStatus,
};
use omadata_vault::{Author, ProfessionalId};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct Me {
    id: String,
    role: Role,
    display_name: String,
    /// Send back in `X-CSRF-Token` on state-changing requests (browser sessions only).
    csrf_token: Option<String>,
    organisation: Option<String>,
}

#[utoipa::path(get, path = "/api/v1/me", tag = "session", responses((status = 200, body = Me), (status = 400, body = Problem, content_type = "application/problem+json"), (status = 401, body = Problem, content_type = "application/problem+json"), (status = 403, body = Problem, content_type = "application/problem+json"), (status = 422, body = Problem, content_type = "application/problem+json")), security(("session" = []), ("bearer" = [])))]
pub(crate) async fn me(caller: Caller) -> Json<Me> {
    let (id, organisation) = match &caller.principal {
        Principal::Client { id, .. } => (id.to_string(), None),
        Principal::Staff { staff, .. } => {
            (staff.id.to_string(), Some(staff.organisation.to_string()))
        }
    };
    Json(Me {
        id,
        role: caller.principal.role(),
        display_name: caller.principal.display_name().to_owned(),
        csrf_token: caller.csrf_token.clone(),
        organisation,
    })
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct RecordView {
    path: String,
    version: u64,
    // Served as the JSON text the vault sealed (no parse and re-escape per read).
    #[schema(value_type = serde_json::Value)]
    value: Box<serde_json::value::RawValue>,
    author: AuthorView,
    written_at: DateTime<Utc>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct AuthorView {
    kind: &'static str,
    id: String,
    name: Option<String>,
    title: Option<String>,
}

pub(crate) fn record_view(authored: AuthoredRecord) -> RecordView {
    let AuthoredRecord {
        record,
        professional,
    } = authored;
    let author = match record.author {
        Author::Client(id) => AuthorView {
            kind: "client",
            id: id.to_string(),
            name: None,
            title: None,
        },
        Author::Professional(id) => AuthorView {
            kind: "professional",
            id: id.to_string(),
            name: professional.as_ref().map(|s| s.name.clone()),
            title: professional.map(|s| s.title),
        },
    };
    RecordView {
        path: record.path,
        version: record.version,
        value: record.value,
        author,
        written_at: record.written_at,
    }
}

#[utoipa::path(get, path = "/api/v1/me/record", tag = "client", responses((status = 200, body = [RecordView]), (status = 400, body = Problem, content_type = "application/problem+json"), (status = 401, body = Problem, content_type = "application/problem+json"), (status = 403, body = Problem, content_type = "application/problem+json"), (status = 422, body = Problem, content_type = "application/problem+json")), security(("session" = []), ("bearer" = [])))]
pub(crate) async fn my_record(
    State(state): State<AppState>,
    caller: Caller,
) -> ApiResult<Json<Vec<RecordView>>> {
    let client = caller.client_id()?;
    let records = state
        .app()
        .reading(move |app| client::my_record(app, client))
        .await?;
    Ok(Json(records.into_iter().map(record_view).collect()))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[derive(utoipa::ToSchema)]
pub(crate) struct WriteBody {
    pub value: serde_json::Value,
}

#[utoipa::path(put, path = "/api/v1/me/record/{path}", tag = "client", params(("path" = String, Path, description = "field path from the catalogue")), request_body = WriteBody, responses((status = 200, body = RecordView), (status = 400, body = Problem, content_type = "application/problem+json"), (status = 401, body = Problem, content_type = "application/problem+json"), (status = 403, body = Problem, content_type = "application/problem+json"), (status = 422, body = Problem, content_type = "application/problem+json"), (status = 413, body = Problem, content_type = "application/problem+json"), (status = 415, body = Problem, content_type = "application/problem+json")), security(("session" = []), ("bearer" = [])))]
pub(crate) async fn write_my_field(
    State(state): State<AppState>,
    caller: Caller,
    crate::extract::AppPath(path): crate::extract::AppPath<String>,
    AppJson(body): AppJson<WriteBody>,
) -> ApiResult<Json<RecordView>> {
    let client = caller.client_id()?;
    let record = client::write_my_field(state.app(), client, path, body.value, state.now()).await?;
    Ok(Json(record_view(record)))
}

#[utoipa::path(post, path = "/api/v1/me/pairing-codes", tag = "client", responses((status = 201, body = PairingCodeView), (status = 400, body = Problem, content_type = "application/problem+json"), (status = 401, body = Problem, content_type = "application/problem+json"), (status = 403, body = Problem, content_type = "application/problem+json"), (status = 422, body = Problem, content_type = "application/problem+json"), (status = 429, body = Problem, content_type = "application/problem+json")), security(("session" = []), ("bearer" = [])))]
pub(crate) async fn pairing_code(
    State(state): State<AppState>,
    caller: Caller,
) -> ApiResult<Response> {
    let code = client::issue_pairing_code(state.app(), caller.client_id()?, state.now()).await?;
    let qr_svg = qr_svg(&code.code);
    Ok((
        StatusCode::CREATED,
        Json(PairingCodeView {
            code: code.code,
            expires_at: code.expires_at,
            qr_svg,
        }),
    )
        .into_response())
}

/// `text` as a QR code (SVG, at least 200 px square, with its quiet zone); empty if it
/// does not fit one.
pub(crate) fn qr_svg(text: &str) -> String {
    qrcode::QrCode::new(text.as_bytes())
        .map(|qr| {
            qr.render::<qrcode::render::svg::Color<'_>>()
                .min_dimensions(200, 200)
                .quiet_zone(true)
                .build()
        })
        .unwrap_or_default()
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct PairingCodeView {
    code: String,
    expires_at: DateTime<Utc>,
    /// The code as a QR code (SVG), for the professional's camera.
    qr_svg: String,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct ProfessionalEntry {
    id: ProfessionalId,
    name: String,
    title: String,
    profession: omadata_consent::Profession,
    organisation: String,
}

/// Registered professionals, so a client can grant to the one in front of them.
#[utoipa::path(get, path = "/api/v1/directory/professionals", tag = "client", params(crate::paging::PageQuery), responses((status = 200, body = [ProfessionalEntry]), (status = 400, body = Problem, content_type = "application/problem+json"), (status = 401, body = Problem, content_type = "application/problem+json"), (status = 403, body = Problem, content_type = "application/problem+json")), security(("session" = []), ("bearer" = [])))]
pub(crate) async fn professionals(
    State(state): State<AppState>,
    caller: Caller,
    crate::extract::AppQuery(page): crate::extract::AppQuery<PageQuery>,
) -> ApiResult<Response> {
    caller.client_id()?;
    let (after, limit) = (page.after()?.map(ProfessionalId::from_bytes), page.limit());
    let (listed, next) = state
        .app()
        .reading(move |app| client::professionals(app, after, limit))
        .await?;
    let out: Vec<ProfessionalEntry> = listed
        .into_iter()
        .map(|listed| ProfessionalEntry {
            organisation: listed.organisation,
            id: listed.staff.id,
            name: listed.staff.name,
            title: listed.staff.title,
            profession: listed.staff.profession,
        })
        .collect();
    Ok(page_response(
        out,
        "/api/v1/directory/professionals",
        page.limit(),
        next.map(|p| *p.as_bytes()),
    ))
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct RequestView {
    #[serde(flatten)]
    request: AccessRequest,
    current_status: RequestStatus,
}

pub(crate) fn request_view(request: AccessRequest, now: DateTime<Utc>) -> RequestView {
    RequestView {
        current_status: request.status_at(now),
        request,
    }
}

#[utoipa::path(get, path = "/api/v1/me/access-requests", tag = "client", params(crate::paging::PageQuery), responses((status = 200, body = [RequestView]), (status = 400, body = Problem, content_type = "application/problem+json"), (status = 401, body = Problem, content_type = "application/problem+json"), (status = 403, body = Problem, content_type = "application/problem+json"), (status = 422, body = Problem, content_type = "application/problem+json")), security(("session" = []), ("bearer" = [])))]
pub(crate) async fn my_requests(
    State(state): State<AppState>,
    caller: Caller,
    crate::extract::AppQuery(page): crate::extract::AppQuery<PageQuery>,
) -> ApiResult<Response> {
    let client = caller.client_id()?;
    let now = state.now();
    let (after, limit) = (page.after()?.map(RequestId::from_bytes), page.limit());
    let (requests, next) = state
        .app()
        .reading(move |app| client::my_requests(app, client, after, limit))
        .await?;
    let views: Vec<RequestView> = requests
        .into_iter()
        .map(|request| request_view(request, now))
        .collect();
    Ok(page_response(
        views,
        "/api/v1/me/access-requests",
        page.limit(),
        next.map(|r| *r.as_bytes()),
    ))
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct GrantView {
    #[serde(flatten)]
    grant: Grant,
    state: GrantState,
}

pub(crate) fn grant_view(grant: Grant, now: DateTime<Utc>) -> GrantView {
    GrantView {
        state: grant.state(now),
        grant,
    }
}

#[utoipa::path(post, path = "/api/v1/me/access-requests/{id}/approve", tag = "client", params(("id" = String, Path)), request_body = Option<omadata_consent::Narrowing>, responses((status = 200, body = GrantView), (status = 400, body = Problem, content_type = "application/problem+json"), (status = 401, body = Problem, content_type = "application/problem+json"), (status = 403, body = Problem, content_type = "application/problem+json"), (status = 422, body = Problem, content_type = "application/problem+json"), (status = 413, body = Problem, content_type = "application/problem+json"), (status = 415, body = Problem, content_type = "application/problem+json"), (status = 404, body = Problem, content_type = "application/problem+json"), (status = 409, body = Problem, content_type = "application/problem+json")), security(("session" = []), ("bearer" = [])))]
pub(crate) async fn approve(
    State(state): State<AppState>,
    caller: Caller,
    crate::extract::AppPath(id): crate::extract::AppPath<String>,
    crate::extract::OptionalJson(narrowing): crate::extract::OptionalJson<Narrowing>,
) -> ApiResult<Json<GrantView>> {
    let client = caller.client_id()?;
    let now = state.now();
    let grant = client::approve(state.app(), client, &id, narrowing, now).await?;
    Ok(Json(grant_view(grant, now)))
}

#[utoipa::path(post, path = "/api/v1/me/access-requests/{id}/deny", tag = "client", params(("id" = String, Path)), responses((status = 200, body = omadata_consent::AccessRequest), (status = 400, body = Problem, content_type = "application/problem+json"), (status = 401, body = Problem, content_type = "application/problem+json"), (status = 403, body = Problem, content_type = "application/problem+json"), (status = 422, body = Problem, content_type = "application/problem+json"), (status = 404, body = Problem, content_type = "application/problem+json"), (status = 409, body = Problem, content_type = "application/problem+json")), security(("session" = []), ("bearer" = [])))]
pub(crate) async fn deny(
    State(state): State<AppState>,
    caller: Caller,
    crate::extract::AppPath(id): crate::extract::AppPath<String>,
) -> ApiResult<Json<AccessRequest>> {
    let request = client::deny(state.app(), caller.client_id()?, &id, state.now()).await?;
    Ok(Json(request))
}

#[utoipa::path(get, path = "/api/v1/me/grants", tag = "client", params(crate::paging::PageQuery), responses((status = 200, body = [GrantView]), (status = 400, body = Problem, content_type = "application/problem+json"), (status = 401, body = Problem, content_type = "application/problem+json"), (status = 403, body = Problem, content_type = "application/problem+json"), (status = 422, body = Problem, content_type = "application/problem+json")), security(("session" = []), ("bearer" = [])))]
pub(crate) async fn my_grants(
    State(state): State<AppState>,
    caller: Caller,
    crate::extract::AppQuery(page): crate::extract::AppQuery<PageQuery>,
) -> ApiResult<Response> {
    let client = caller.client_id()?;
    let now = state.now();
    let (after, limit) = (page.after()?.map(GrantId::from_bytes), page.limit());
    let (grants, next) = state
        .app()
        .reading(move |app| client::my_grants(app, client, after, limit))
        .await?;
    let views: Vec<GrantView> = grants.into_iter().map(|g| grant_view(g, now)).collect();
    Ok(page_response(
        views,
        "/api/v1/me/grants",
        page.limit(),
        next.map(|g| *g.as_bytes()),
    ))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[derive(utoipa::ToSchema)]
pub(crate) struct NewGrant {
    professional: ProfessionalId,
    fields: Vec<FieldSelector>,
    actions: BTreeSet<Action>,
    purpose: Purpose,
    valid_until: DateTime<Utc>,
}

#[utoipa::path(post, path = "/api/v1/me/grants", tag = "client", request_body = NewGrant, responses((status = 201, body = GrantView), (status = 400, body = Problem, content_type = "application/problem+json"), (status = 401, body = Problem, content_type = "application/problem+json"), (status = 403, body = Problem, content_type = "application/problem+json"), (status = 422, body = Problem, content_type = "application/problem+json"), (status = 413, body = Problem, content_type = "application/problem+json"), (status = 415, body = Problem, content_type = "application/problem+json"), (status = 429, body = Problem, content_type = "application/problem+json")), security(("session" = []), ("bearer" = [])))]
pub(crate) async fn create_grant(
    State(state): State<AppState>,
    caller: Caller,
    AppJson(body): AppJson<NewGrant>,
) -> ApiResult<Response> {
    let client = caller.client_id()?;
    let now = state.now();
    let ask = AccessAsk {
        fields: body.fields,
        actions: body.actions,
        purpose: body.purpose,
        valid_until: body.valid_until,
    };
    let grant = client::create_grant(state.app(), client, body.professional, ask, now).await?;
    Ok((StatusCode::CREATED, Json(grant_view(grant, now))).into_response())
}

#[utoipa::path(delete, path = "/api/v1/me/grants/{id}", tag = "client", params(("id" = String, Path)), responses((status = 200, body = GrantView), (status = 400, body = Problem, content_type = "application/problem+json"), (status = 401, body = Problem, content_type = "application/problem+json"), (status = 403, body = Problem, content_type = "application/problem+json"), (status = 422, body = Problem, content_type = "application/problem+json"), (status = 404, body = Problem, content_type = "application/problem+json"), (status = 409, body = Problem, content_type = "application/problem+json")), security(("session" = []), ("bearer" = [])))]
pub(crate) async fn revoke(
    State(state): State<AppState>,
    caller: Caller,
    crate::extract::AppPath(id): crate::extract::AppPath<String>,
) -> ApiResult<Json<GrantView>> {
    let client = caller.client_id()?;
    let now = state.now();
    let grant = client::revoke(state.app(), client, &id, now).await?;
    Ok(Json(grant_view(grant, now)))
}

/// The latest receipt of a grant, exactly as signed.
#[utoipa::path(get, path = "/api/v1/me/grants/{id}/receipt", tag = "client", params(("id" = String, Path)), responses((status = 200, description = "the signed consent receipt, canonical JSON", content_type = "application/json", body = Object), (status = 400, body = Problem, content_type = "application/problem+json"), (status = 401, body = Problem, content_type = "application/problem+json"), (status = 403, body = Problem, content_type = "application/problem+json"), (status = 422, body = Problem, content_type = "application/problem+json"), (status = 404, body = Problem, content_type = "application/problem+json")), security(("session" = []), ("bearer" = [])))]
pub(crate) async fn receipt(
    State(state): State<AppState>,
    caller: Caller,
    crate::extract::AppPath(id): crate::extract::AppPath<String>,
) -> ApiResult<Response> {
    let client = caller.client_id()?;
    let bytes = state
        .app()
        .reading(move |app| client::receipt(app, client, &id))
        .await?;
    Ok((
        [(header::CONTENT_TYPE, "application/json")],
        Body::from(bytes),
    )
        .into_response())
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct Page {
    before: Option<u64>,
    limit: Option<usize>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct AccessView {
    seq: u64,
    at: DateTime<Utc>,
    event: AuditEvent,
    professional: Option<String>,
    professional_name: Option<String>,
    organisation_name: Option<String>,
    fields: Vec<String>,
    /// `read` (looked at) or `write` (changed).
    action: Option<Action>,
    grant: Option<String>,
    outcome: Option<omadata_consent::audit::Outcome>,
}

fn access_view(described: DescribedEntry) -> AccessView {
    let DescribedEntry {
        entry,
        professional,
        organisation,
    } = described;
    AccessView {
        seq: entry.seq,
        at: entry.at,
        event: entry.event,
        professional: entry.professional.map(|p| p.to_string()),
        professional_name: professional.map(|s| s.name),
        organisation_name: organisation.map(|o| o.name),
        fields: entry.fields,
        action: entry.action,
        grant: entry.grant.map(|g| g.to_string()),
        outcome: entry.outcome,
    }
}

/// "Who has seen my data, and when": every access decision about the client.
#[utoipa::path(get, path = "/api/v1/me/access-log", tag = "client", params(Page), responses((status = 200, body = [AccessView]), (status = 400, body = Problem, content_type = "application/problem+json"), (status = 401, body = Problem, content_type = "application/problem+json"), (status = 403, body = Problem, content_type = "application/problem+json"), (status = 422, body = Problem, content_type = "application/problem+json")), security(("session" = []), ("bearer" = [])))]
pub(crate) async fn access_log(
    State(state): State<AppState>,
    caller: Caller,
    crate::extract::AppQuery(page): crate::extract::AppQuery<Page>,
) -> ApiResult<Json<Vec<AccessView>>> {
    let client = caller.client_id()?;
    let limit = page.limit.unwrap_or(50).clamp(1, 500);
    let before = page.before;
    let log = state
        .app()
        .reading(move |app| client::access_log(app, client, before, limit))
        .await?;
    Ok(Json(log.into_iter().map(access_view).collect()))
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct Export {
    client: String,
    exported_at: DateTime<Utc>,
    records: Vec<RecordView>,
    grants: Vec<GrantView>,
    access_requests: Vec<AccessRequest>,
    log: Vec<AccessView>,
}

/// Everything held about the client, machine-readable (GDPR Art. 15 and 20).
#[utoipa::path(get, path = "/api/v1/me/export", tag = "client", responses((status = 200, body = Export), (status = 400, body = Problem, content_type = "application/problem+json"), (status = 401, body = Problem, content_type = "application/problem+json"), (status = 403, body = Problem, content_type = "application/problem+json"), (status = 422, body = Problem, content_type = "application/problem+json")), security(("session" = []), ("bearer" = [])))]
pub(crate) async fn export(State(state): State<AppState>, caller: Caller) -> ApiResult<Response> {
    let client = caller.client_id()?;
    let now = state.now();
    let held = state
        .app()
        .reading(move |app| client::export(app, client))
        .await?;
    let export = Export {
        client: client.to_string(),
        exported_at: now,
        records: held.records.into_iter().map(record_view).collect(),
        grants: held
            .grants
            .into_iter()
            .map(|g| grant_view(g, now))
            .collect(),
        access_requests: held.requests,
        log: held.log.into_iter().map(access_view).collect(),
    };
    Ok((
        [(
            header::CONTENT_DISPOSITION,
            "attachment; filename=\"omadata-export.json\"",
        )],
        Json(export),
    )
        .into_response())
}

/// Erasure: ends every grant, crypto-shreds the records, forgets who the client was, and
/// ends every session and token of the client. Irreversible, so it needs a recent
/// sign-in: older than `reauthentication_max_age` (5 minutes) it answers 403
/// `reauthentication_required`; sign in again with `/auth/login?role=client&prompt=login`.
#[utoipa::path(delete, path = "/api/v1/me", tag = "client", responses((status = 204, description = "everything erased"), (status = 400, body = Problem, content_type = "application/problem+json"), (status = 401, body = Problem, content_type = "application/problem+json"), (status = 403, description = "not a client, or the sign-in is not recent (`reauthentication_required`)", body = Problem, content_type = "application/problem+json"), (status = 422, body = Problem, content_type = "application/problem+json")), security(("session" = []), ("bearer" = [])))]
pub(crate) async fn erase_me(
    State(state): State<AppState>,
    caller: Caller,
) -> ApiResult<StatusCode> {
    let client = caller.client_id()?;
    client::erase(
        state.app(),
        client,
        caller.session.authenticated_at,
        state.config().reauthentication_max_age,
        state.now(),
    )
    .await?;
    // The client's data is gone whatever happens here; a session left in the store finds
    // no client and is refused.
    state
        .services()
        .sessions
        .remove_principal(&caller.principal)
        .await;
    Ok(StatusCode::NO_CONTENT)
}
