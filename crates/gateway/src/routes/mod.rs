//! HTTP routes, one module a role; [`documented`] is the table of the routes the OpenAPI
//! document describes, from which both the router and the document's paths are built.

pub(crate) mod admin;
pub(crate) mod auditor;
pub(crate) mod auth;
pub(crate) mod client;
pub(crate) mod professional;
pub(crate) mod public;

use crate::state::AppState;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// Every route in the OpenAPI document, each with its handler's `#[utoipa::path]`: the
/// path and method come from there, so the router and the document cannot disagree.
/// Handlers sharing a path are listed in one `routes!`.
pub(crate) fn documented() -> OpenApiRouter<AppState> {
    OpenApiRouter::default()
        .routes(routes!(public::healthz))
        .routes(routes!(public::readyz))
        .routes(routes!(public::jwks))
        .routes(routes!(public::fields))
        .routes(routes!(auth::login))
        .routes(routes!(auth::callback))
        .routes(routes!(auth::logout))
        .routes(routes!(auth::issue_token))
        .routes(routes!(client::me, client::erase_me))
        .routes(routes!(client::my_record))
        .routes(routes!(client::write_my_field))
        .routes(routes!(client::pairing_code))
        .routes(routes!(client::my_requests))
        .routes(routes!(client::approve))
        .routes(routes!(client::deny))
        .routes(routes!(client::my_grants, client::create_grant))
        .routes(routes!(client::revoke))
        .routes(routes!(client::receipt))
        .routes(routes!(client::access_log))
        .routes(routes!(client::professionals))
        .routes(routes!(client::export))
        .routes(routes!(
            professional::request_access,
            professional::sent_requests
        ))
        .routes(routes!(professional::shareable_fields))
        .routes(routes!(professional::my_clients))
        .routes(routes!(professional::client_record))
        .routes(routes!(professional::write_client_field))
        .routes(routes!(auditor::events))
        .routes(routes!(auditor::staff))
        .routes(routes!(auditor::checkpoint, auditor::sign_checkpoint))
        .routes(routes!(auditor::inclusion_proof))
        .routes(routes!(auditor::consistency_proof))
        .routes(routes!(auditor::verify))
        .routes(routes!(admin::organisation))
        .routes(routes!(admin::staff, admin::register_staff))
        .routes(routes!(admin::deactivate_staff))
}
