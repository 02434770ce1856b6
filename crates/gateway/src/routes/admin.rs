//! An organisation admin's pages: their organisation and its staff.

use crate::error::{ApiError, ApiResult, Problem};
use crate::extract::{AppJson, Caller};
use crate::principal::Role;
use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use omadata_consent::audit::{AuditEntry, AuditEvent};
use omadata_consent::{NewStaff, Organisation, Staff};

#[utoipa::path(get, path = "/api/v1/admin/organisation", tag = "admin", responses((status = 200, body = omadata_consent::Organisation), (status = 400, body = Problem, content_type = "application/problem+json"), (status = 401, body = Problem, content_type = "application/problem+json"), (status = 403, body = Problem, content_type = "application/problem+json"), (status = 422, body = Problem, content_type = "application/problem+json")), security(("session" = []), ("bearer" = [])))]
pub async fn organisation(
    State(state): State<AppState>,
    caller: Caller,
) -> ApiResult<Json<Organisation>> {
    let admin = caller.staff(Role::Admin)?;
    state
        .services()
        .directory
        .organisation(admin.organisation)?
        .map(Json)
        .ok_or_else(ApiError::not_found)
}

#[utoipa::path(get, path = "/api/v1/admin/professionals", tag = "admin", params(crate::paging::PageQuery), responses((status = 200, body = [omadata_consent::Staff]), (status = 400, body = Problem, content_type = "application/problem+json"), (status = 401, body = Problem, content_type = "application/problem+json"), (status = 403, body = Problem, content_type = "application/problem+json"), (status = 422, body = Problem, content_type = "application/problem+json")), security(("session" = []), ("bearer" = [])))]
pub async fn staff(
    State(state): State<AppState>,
    caller: Caller,
    crate::extract::AppQuery(page): crate::extract::AppQuery<crate::paging::PageQuery>,
) -> ApiResult<Response> {
    let admin = caller.staff(Role::Admin)?;
    let organisation = admin.organisation;
    let (staff, next): (Vec<Staff>, _) = state.services().directory.staff_page(
        page.after()?.map(omadata_vault::ProfessionalId::from_bytes),
        page.limit(),
        |s| s.organisation == organisation,
    )?;
    Ok(crate::paging::page_response(
        staff,
        "/api/v1/admin/professionals",
        page.limit(),
        next.map(|p| *p.as_bytes()),
    ))
}

#[utoipa::path(post, path = "/api/v1/admin/professionals", tag = "admin", request_body = omadata_consent::NewStaff, responses((status = 201, body = omadata_consent::Staff), (status = 400, body = Problem, content_type = "application/problem+json"), (status = 401, body = Problem, content_type = "application/problem+json"), (status = 403, body = Problem, content_type = "application/problem+json"), (status = 422, body = Problem, content_type = "application/problem+json"), (status = 413, body = Problem, content_type = "application/problem+json"), (status = 415, body = Problem, content_type = "application/problem+json")), security(("session" = []), ("bearer" = [])))]
pub async fn register_staff(
    State(state): State<AppState>,
    caller: Caller,
    AppJson(body): AppJson<NewStaff>,
) -> ApiResult<Response> {
    let admin = caller.staff(Role::Admin)?;
    let services = state.services();
    let now = state.now();
    let staff = services
        .directory
        .register_staff(admin.organisation, body, now)?;
    let mut entry = AuditEntry::new(AuditEvent::Admin, now);
    entry.professional = Some(admin.id);
    entry.organisation = Some(admin.organisation);
    entry.reason = Some(format!("registered staff {}", staff.id));
    state.audit(entry).await?;
    Ok((StatusCode::CREATED, Json(staff)).into_response())
}
