//! A professional's work over HTTP: asking for access, their clients, reading and
//! writing exactly what grants permit (`omadata_app::professional`).

use crate::error::{ApiResult, Problem};
use crate::extract::{AppJson, AppPath, Caller};
use crate::paging::{PageQuery, page_response};
use crate::routes::client::{RecordView, WriteBody, record_view};
use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use omadata_app::{Role, professional};
use omadata_consent::{AccessAsk, Action, FieldSelector, Grant, GrantId, Purpose, RequestId};
use omadata_vault::ClientId;
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[derive(utoipa::ToSchema)]
pub(crate) struct NewRequest {
    pairing_code: String,
    fields: Vec<FieldSelector>,
    actions: BTreeSet<Action>,
    purpose: Purpose,
    valid_until: DateTime<Utc>,
}

#[utoipa::path(post, path = "/api/v1/access-requests", tag = "professional", request_body = NewRequest, responses((status = 201, body = omadata_consent::AccessRequest), (status = 400, body = Problem, content_type = "application/problem+json"), (status = 401, body = Problem, content_type = "application/problem+json"), (status = 403, body = Problem, content_type = "application/problem+json"), (status = 422, body = Problem, content_type = "application/problem+json"), (status = 413, body = Problem, content_type = "application/problem+json"), (status = 415, body = Problem, content_type = "application/problem+json"), (status = 429, body = Problem, content_type = "application/problem+json")), security(("session" = []), ("bearer" = [])))]
pub(crate) async fn request_access(
    State(state): State<AppState>,
    caller: Caller,
    AppJson(body): AppJson<NewRequest>,
) -> ApiResult<Response> {
    let staff = caller.staff(Role::Professional)?;
    let ask = AccessAsk {
        fields: body.fields,
        actions: body.actions,
        purpose: body.purpose,
        valid_until: body.valid_until,
    };
    let request =
        professional::request_access(state.app(), staff, body.pairing_code, ask, state.now())
            .await?;
    Ok((StatusCode::CREATED, Json(request)).into_response())
}

/// The requests the caller has sent, newest state first as of now, a page at a time.
#[utoipa::path(get, path = "/api/v1/access-requests", tag = "professional", params(crate::paging::PageQuery), responses((status = 200, body = [crate::routes::client::RequestView]), (status = 400, body = Problem, content_type = "application/problem+json"), (status = 401, body = Problem, content_type = "application/problem+json"), (status = 403, body = Problem, content_type = "application/problem+json"), (status = 422, body = Problem, content_type = "application/problem+json")), security(("session" = []), ("bearer" = [])))]
pub(crate) async fn sent_requests(
    State(state): State<AppState>,
    caller: Caller,
    crate::extract::AppQuery(page): crate::extract::AppQuery<PageQuery>,
) -> ApiResult<Response> {
    let staff = caller.staff(Role::Professional)?;
    let now = state.now();
    let (after, limit) = (page.after()?.map(RequestId::from_bytes), page.limit());
    let asker = staff.clone();
    let (requests, next) = state
        .app()
        .reading(move |app| professional::sent_requests(app, &asker, after, limit))
        .await?;
    let views: Vec<_> = requests
        .into_iter()
        .map(|request| crate::routes::client::request_view(request, now))
        .collect();
    Ok(page_response(
        views,
        "/api/v1/access-requests",
        page.limit(),
        next.map(|r| *r.as_bytes()),
    ))
}

/// The fields the sensitivity policy lets the caller be shared (their profession decides):
/// what a request form offers.
#[utoipa::path(get, path = "/api/v1/access-requests/fields", tag = "professional", responses((status = 200, body = [String]), (status = 400, body = Problem, content_type = "application/problem+json"), (status = 401, body = Problem, content_type = "application/problem+json"), (status = 403, body = Problem, content_type = "application/problem+json"), (status = 422, body = Problem, content_type = "application/problem+json")), security(("session" = []), ("bearer" = [])))]
pub(crate) async fn shareable_fields(
    State(state): State<AppState>,
    caller: Caller,
) -> ApiResult<Json<Vec<String>>> {
    let staff = caller.staff(Role::Professional)?;
    Ok(Json(professional::shareable_fields(state.app(), staff)))
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct GrantSummary {
    id: GrantId,
    fields: BTreeSet<String>,
    actions: BTreeSet<Action>,
    purpose: Purpose,
    /// When the access began: with no name to show, when the client is known from.
    valid_from: DateTime<Utc>,
    valid_until: DateTime<Utc>,
}

fn grant_summary(grant: Grant) -> GrantSummary {
    GrantSummary {
        id: grant.id,
        fields: grant.fields,
        actions: grant.actions,
        purpose: grant.purpose,
        valid_from: grant.valid_from,
        valid_until: grant.valid_until,
    }
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct ClientView {
    client: ClientId,
    /// The client's name, only when an active grant lets the caller read
    /// `identity.name` and it is filled in (that read is audited); otherwise null.
    name: Option<String>,
    grants: Vec<GrantSummary>,
}

/// Clients with at least one active grant to the caller, each with their name when a
/// grant lets the caller read it: each such read is audited as an access.
#[utoipa::path(get, path = "/api/v1/clients", tag = "professional", params(crate::paging::PageQuery), responses((status = 200, body = [ClientView]), (status = 400, body = Problem, content_type = "application/problem+json"), (status = 401, body = Problem, content_type = "application/problem+json"), (status = 403, body = Problem, content_type = "application/problem+json"), (status = 422, body = Problem, content_type = "application/problem+json")), security(("session" = []), ("bearer" = [])))]
pub(crate) async fn my_clients(
    State(state): State<AppState>,
    caller: Caller,
    crate::extract::AppQuery(page): crate::extract::AppQuery<PageQuery>,
) -> ApiResult<Response> {
    let staff = caller.staff(Role::Professional)?;
    let now = state.now();
    let (clients, next) = professional::my_clients(
        state.app(),
        staff,
        page.after()?.map(ClientId::from_bytes),
        page.limit(),
        now,
    )
    .await?;
    let views: Vec<ClientView> = clients
        .into_iter()
        .map(|listed| ClientView {
            client: listed.client,
            name: listed.name,
            grants: listed.grants.into_iter().map(grant_summary).collect(),
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
pub(crate) struct PermittedField {
    #[serde(flatten)]
    record: RecordView,
    grant: GrantId,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct ClientRecord {
    client: ClientId,
    /// Exactly the fields an active grant permits and that hold a value.
    fields: Vec<PermittedField>,
    /// The caller's active grants from this client: what they may see and change.
    grants: Vec<GrantSummary>,
}

#[utoipa::path(get, path = "/api/v1/clients/{id}/record", tag = "professional", params(("id" = String, Path)), responses((status = 200, body = ClientRecord), (status = 400, body = Problem, content_type = "application/problem+json"), (status = 401, body = Problem, content_type = "application/problem+json"), (status = 403, body = Problem, content_type = "application/problem+json"), (status = 422, body = Problem, content_type = "application/problem+json"), (status = 429, body = Problem, content_type = "application/problem+json")), security(("session" = []), ("bearer" = [])))]
pub(crate) async fn client_record(
    State(state): State<AppState>,
    caller: Caller,
    crate::extract::AppPath(client): crate::extract::AppPath<String>,
) -> ApiResult<Response> {
    let staff = caller.staff(Role::Professional)?;
    let now = state.now();
    let (client, permitted) =
        professional::read_client_record(state.app(), staff, &client, now).await?;
    let reader = staff.clone();
    let grants = state
        .app()
        .reading(move |app| professional::active_grants(app, &reader, client, now))
        .await?
        .into_iter()
        .map(grant_summary)
        .collect();
    let fields = permitted
        .into_iter()
        .map(|field| PermittedField {
            record: record_view(field.record),
            grant: field.grant,
        })
        .collect();
    Ok(Json(ClientRecord {
        client,
        fields,
        grants,
    })
    .into_response())
}

#[utoipa::path(put, path = "/api/v1/clients/{id}/record/{path}", tag = "professional", params(("id" = String, Path), ("path" = String, Path)), request_body = crate::routes::client::WriteBody, responses((status = 200, body = crate::routes::client::RecordView), (status = 400, body = Problem, content_type = "application/problem+json"), (status = 401, body = Problem, content_type = "application/problem+json"), (status = 403, body = Problem, content_type = "application/problem+json"), (status = 422, body = Problem, content_type = "application/problem+json"), (status = 413, body = Problem, content_type = "application/problem+json"), (status = 415, body = Problem, content_type = "application/problem+json"), (status = 429, body = Problem, content_type = "application/problem+json")), security(("session" = []), ("bearer" = [])))]
pub(crate) async fn write_client_field(
    State(state): State<AppState>,
    caller: Caller,
    AppPath((client, path)): AppPath<(String, String)>,
    AppJson(body): AppJson<WriteBody>,
) -> ApiResult<Response> {
    let staff = caller.staff(Role::Professional)?;
    let record = professional::write_client_field(
        state.app(),
        staff,
        &client,
        path,
        body.value,
        state.now(),
    )
    .await?;
    Ok(Json(record_view(record)).into_response())
}
