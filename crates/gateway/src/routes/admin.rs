//! An organisation admin's pages: their organisation and its staff. Registrations name
//! the gateway's configured issuer; `health_care` ones wait for the operator's
//! confirmation (`omadata register confirm-staff`). Deactivation takes effect at the
//! member's next request: their sessions and tokens end at once.

use crate::error::{ApiError, ApiResult, Problem};
use crate::extract::{AppJson, AppPath, Caller};
use crate::principal::Role;
use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use omadata_consent::audit::{AuditEntry, AuditEvent};
use omadata_consent::{NewStaff, Organisation, Registrar, Staff, StaffStatus};
use omadata_vault::ProfessionalId;

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
    AppJson(mut body): AppJson<NewStaff>,
) -> ApiResult<Response> {
    let admin = caller.staff(Role::Admin)?;
    let services = state.services();
    let now = state.now();
    let configured = &state.config().oidc.issuer;
    match &body.login_issuer {
        Some(issuer) if issuer != configured => {
            return Err(ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_value",
                "login_issuer must be the gateway's identity provider (or left out)",
            ));
        }
        _ => body.login_issuer = Some(configured.clone()),
    }
    let staff = services.directory.register_staff(
        admin.organisation,
        body,
        Registrar::OrganisationAdmin,
        now,
    )?;
    let mut entry = AuditEntry::new(AuditEvent::Admin, now);
    entry.professional = Some(admin.id);
    entry.organisation = Some(admin.organisation);
    entry.reason = Some(format!(
        "admin {} registered staff {} ({:?}, roles {:?}, status {:?})",
        admin.id, staff.id, staff.profession, staff.roles, staff.status
    ));
    state.audit(entry).await?;
    Ok((StatusCode::CREATED, Json(staff)).into_response())
}

/// Deactivates a staff member of the admin's own organisation: they cannot sign in again,
/// and their sessions and tokens end at once. Another organisation's member, or no such
/// member, answers 403 alike.
#[utoipa::path(post, path = "/api/v1/admin/professionals/{id}/deactivate", tag = "admin", params(("id" = String, Path, description = "staff id")), responses((status = 200, body = omadata_consent::Staff), (status = 400, body = Problem, content_type = "application/problem+json"), (status = 401, body = Problem, content_type = "application/problem+json"), (status = 403, body = Problem, content_type = "application/problem+json"), (status = 422, body = Problem, content_type = "application/problem+json")), security(("session" = []), ("bearer" = [])))]
pub async fn deactivate_staff(
    State(state): State<AppState>,
    caller: Caller,
    AppPath(id): AppPath<String>,
) -> ApiResult<Json<Staff>> {
    let admin = caller.staff(Role::Admin)?;
    let id: ProfessionalId = id
        .parse()
        .map_err(|_| ApiError::bad_request("invalid_path", "the id is not a staff id"))?;
    let services = state.services();
    let target = services
        .directory
        .staff(id)?
        .filter(|s| s.organisation == admin.organisation)
        .ok_or_else(ApiError::forbidden)?;
    let staff = services
        .directory
        .set_staff_status(target.id, StaffStatus::Deactivated)?;
    services.sessions.remove_staff(staff.id);
    let now = state.now();
    let mut entry = AuditEntry::new(AuditEvent::Admin, now);
    entry.professional = Some(admin.id);
    entry.organisation = Some(admin.organisation);
    entry.reason = Some(format!("admin {} deactivated staff {}", admin.id, staff.id));
    state.audit(entry).await?;
    Ok(Json(staff))
}
