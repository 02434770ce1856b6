//! An organisation admin's pages: their organisation and its staff. Registrations name
//! the gateway's configured issuer; `health_care` ones wait for the operator's
//! confirmation (`omadata register confirm-staff`). Deactivation takes effect at the
//! member's next request: their sessions and tokens end at once.

use crate::error::{ApiResult, Problem};
use crate::extract::{AppJson, AppPath, Caller};
use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use omadata_app::Role;
use omadata_app::admin;
use omadata_consent::{NewStaff, Organisation, Staff};
use omadata_vault::ProfessionalId;

#[utoipa::path(get, path = "/api/v1/admin/organisation", tag = "admin", responses((status = 200, body = omadata_consent::Organisation), (status = 400, body = Problem, content_type = "application/problem+json"), (status = 401, body = Problem, content_type = "application/problem+json"), (status = 403, body = Problem, content_type = "application/problem+json"), (status = 422, body = Problem, content_type = "application/problem+json")), security(("session" = []), ("bearer" = [])))]
pub(crate) async fn organisation(
    State(state): State<AppState>,
    caller: Caller,
) -> ApiResult<Json<Organisation>> {
    let admin = caller.staff(Role::Admin)?;
    let admin = admin.clone();
    Ok(Json(
        state
            .app()
            .reading(move |app| admin::organisation(app, &admin))
            .await?,
    ))
}

#[utoipa::path(get, path = "/api/v1/admin/professionals", tag = "admin", params(crate::paging::PageQuery), responses((status = 200, body = [omadata_consent::Staff]), (status = 400, body = Problem, content_type = "application/problem+json"), (status = 401, body = Problem, content_type = "application/problem+json"), (status = 403, body = Problem, content_type = "application/problem+json"), (status = 422, body = Problem, content_type = "application/problem+json")), security(("session" = []), ("bearer" = [])))]
pub(crate) async fn staff(
    State(state): State<AppState>,
    caller: Caller,
    crate::extract::AppQuery(page): crate::extract::AppQuery<crate::paging::PageQuery>,
) -> ApiResult<Response> {
    let admin = caller.staff(Role::Admin)?;
    let (after, limit) = (page.after()?.map(ProfessionalId::from_bytes), page.limit());
    let admin = admin.clone();
    let (staff, next) = state
        .app()
        .reading(move |app| admin::staff(app, &admin, after, limit))
        .await?;
    Ok(crate::paging::page_response(
        staff,
        "/api/v1/admin/professionals",
        page.limit(),
        next.map(|p| *p.as_bytes()),
    ))
}

#[utoipa::path(post, path = "/api/v1/admin/professionals", tag = "admin", request_body = omadata_consent::NewStaff, responses((status = 201, body = omadata_consent::Staff), (status = 400, body = Problem, content_type = "application/problem+json"), (status = 401, body = Problem, content_type = "application/problem+json"), (status = 403, body = Problem, content_type = "application/problem+json"), (status = 409, description = "the sign-in identity already belongs to someone else (`login_subject_taken`)", body = Problem, content_type = "application/problem+json"), (status = 422, body = Problem, content_type = "application/problem+json"), (status = 413, body = Problem, content_type = "application/problem+json"), (status = 415, body = Problem, content_type = "application/problem+json")), security(("session" = []), ("bearer" = [])))]
pub(crate) async fn register_staff(
    State(state): State<AppState>,
    caller: Caller,
    AppJson(body): AppJson<NewStaff>,
) -> ApiResult<Response> {
    let admin = caller.staff(Role::Admin)?;
    let issuer = &state.config().oidc.issuer;
    let staff = admin::register_staff(state.app(), admin, body, issuer, state.now()).await?;
    Ok((StatusCode::CREATED, Json(staff)).into_response())
}

/// Deactivates a staff member of the admin's own organisation: they cannot sign in again,
/// and their sessions and tokens end at once. Another organisation's member, or no such
/// member, answers 403 alike.
#[utoipa::path(post, path = "/api/v1/admin/professionals/{id}/deactivate", tag = "admin", params(("id" = String, Path, description = "staff id")), responses((status = 200, body = omadata_consent::Staff), (status = 400, body = Problem, content_type = "application/problem+json"), (status = 401, body = Problem, content_type = "application/problem+json"), (status = 403, body = Problem, content_type = "application/problem+json"), (status = 422, body = Problem, content_type = "application/problem+json")), security(("session" = []), ("bearer" = [])))]
pub(crate) async fn deactivate_staff(
    State(state): State<AppState>,
    caller: Caller,
    AppPath(id): AppPath<String>,
) -> ApiResult<Json<Staff>> {
    let admin = caller.staff(Role::Admin)?;
    let staff = admin::deactivate_staff(state.app(), admin, &id, state.now()).await?;
    // Deactivated staff are refused at every request whatever their sessions say.
    state.services().sessions.remove_staff(staff.id).await;
    Ok(Json(staff))
}
