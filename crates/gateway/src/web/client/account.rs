//! "My settings": the client's own copy of everything held about them, and erasure.
//!
//! - `/my/account`: the way to the export; erasure explained in plain words, with a box
//!   to tick before it goes. Erasure is irreversible, so it needs a recent sign-in: an
//!   older one gets a link to sign in again (a link, not a redirect: the form-action
//!   policy would block a redirect to the identity provider after a form post).
//! - `/my/export`: everything held about the client, readable and printable (fields with
//!   every version, grants, requests, and the log), with the machine-readable JSON of
//!   `/api/v1/me/export` beside it.
//! - `POST /my/account/erase`: erases, ends every session and token of the client,
//!   clears the session cookie and says goodbye.

use super::data::written_by;
use super::history::{TimelineItem, access_item, field_labels, purpose_words, staff_words};
use super::{ClientPage, PageForm};
use crate::state::AppState;
use crate::web::i18n::{Lang, Speak};
use crate::web::{Chrome, render, words};
use askama::Template;
use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Redirect, Response};
use axum::routing::get;
use chrono::{DateTime, Utc};
use fluent_bundle::FluentArgs;
use omadata_app::client::{self, AuthoredRecord, DescribedEntry};
use omadata_app::{AppError, Principal};
use omadata_consent::audit::AuditEvent;
use omadata_consent::{AccessRequest, Action, Grant, GrantState, Grantee, Purpose, RequestStatus};
use omadata_vault::{Catalogue, FieldSpec};
use serde::Deserialize;
use std::collections::{BTreeMap, BTreeSet};

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/my/account", get(account))
        // A language chosen on a refused erasure returns here: back to the page.
        .route(
            "/my/account/erase",
            get(|| async { Redirect::to("/my/account") }).post(erase),
        )
        .route("/my/export", get(export))
}

/// A fresh sign-in that returns to the account page.
const SIGN_IN_AGAIN: &str = "/auth/login?role=client&prompt=login&next=account";

#[derive(Template)]
#[template(path = "client/account.html")]
struct AccountPage<'a> {
    chrome: &'a Chrome,
    csrf: &'a str,
    /// The message next to the confirm box, when it was not ticked.
    confirm_error: Option<String>,
    /// Why erasure did not go through, when the box was ticked.
    erase_error: Option<String>,
    /// The way on, when it is a fresh sign-in.
    sign_in_again: Option<&'static str>,
}

impl<'a> AccountPage<'a> {
    fn new(page: &'a ClientPage) -> Self {
        Self {
            chrome: &page.chrome,
            csrf: &page.csrf,
            confirm_error: None,
            erase_error: None,
            sign_in_again: None,
        }
    }
}

async fn account(page: ClientPage) -> Response {
    render(StatusCode::OK, &AccountPage::new(&page))
}

#[derive(Debug, Deserialize)]
struct EraseForm {
    /// `yes` when the box "I understand it cannot be undone" was ticked.
    #[serde(default)]
    confirm: Option<String>,
}

#[derive(Template)]
#[template(path = "client/erased.html")]
struct ErasedPage<'a> {
    chrome: &'a Chrome,
}

async fn erase(
    State(state): State<AppState>,
    headers: HeaderMap,
    post: PageForm<EraseForm>,
) -> Response {
    let PageForm { page, form } = post;
    if form.confirm.as_deref() != Some("yes") {
        let view = AccountPage {
            confirm_error: Some(page.text("erase-confirm-missing")),
            ..AccountPage::new(&page)
        };
        return render(StatusCode::UNPROCESSABLE_ENTITY, &view);
    }
    let erased = client::erase(
        state.app(),
        page.client,
        page.authenticated_at,
        state.config().reauthentication_max_age,
        state.now(),
    )
    .await;
    if let Err(error) = erased {
        let again = matches!(error, AppError::ReauthenticationRequired);
        let error = crate::error::ApiError::from(error);
        let view = AccountPage {
            erase_error: Some(if again {
                page.text("erase-sign-in-again")
            } else {
                words::problem(error.code, page.lang())
            }),
            sign_in_again: again.then_some(SIGN_IN_AGAIN),
            ..AccountPage::new(&page)
        };
        return render(error.status, &view);
    }
    // Every session of the client ends, and with them every token minted from one.
    state
        .services()
        .sessions
        .remove_principal(&Principal::Client {
            id: page.client,
            display_name: String::new(),
        })
        .await;
    // Nobody is signed in on the goodbye page.
    let chrome = Chrome::new(&headers, "/");
    let mut response = render(StatusCode::OK, &ErasedPage { chrome: &chrome });
    response.headers_mut().append(
        header::SET_COOKIE,
        crate::routes::auth::cleared_session_cookie(&state),
    );
    response
}

/// One version of a field's value.
struct Version {
    lines: Vec<String>,
    /// Who wrote it and when.
    by: String,
}

/// A field with every version held.
struct HeldField {
    label: String,
    current: Version,
    /// Newest first.
    earlier: Vec<Version>,
}

struct FieldSection {
    title: String,
    fields: Vec<HeldField>,
}

/// A grant or a request: a title and rows of (what, in words).
struct ConsentCard {
    title: String,
    rows: Vec<(String, String)>,
}

#[derive(Template)]
#[template(path = "client/export.html")]
struct ExportPage<'a> {
    chrome: &'a Chrome,
    compiled: String,
    sections: Vec<FieldSection>,
    grants: Vec<ConsentCard>,
    requests: Vec<ConsentCard>,
    log: Vec<TimelineItem>,
}

async fn export(State(state): State<AppState>, page: ClientPage) -> Response {
    let client = page.client;
    let held = match state
        .app()
        .reading(move |app| client::export(app, client))
        .await
    {
        Ok(held) => held,
        Err(error) => return page.problem(error.into(), "/my/account"),
    };
    let catalogue = state.app().catalogue();
    let lang = page.lang();
    let now = state.now();
    let mut args = FluentArgs::new();
    args.set("date", words::date_time(now, lang));
    let view = ExportPage {
        chrome: &page.chrome,
        compiled: lang.text("export-intro", Some(&args)),
        sections: field_sections(catalogue, &held.records, lang),
        grants: held
            .grants
            .iter()
            .map(|grant| grant_card(catalogue, grant, now, lang))
            .collect(),
        requests: held
            .requests
            .iter()
            .map(|request| request_card(catalogue, request, now, lang))
            .collect(),
        log: held
            .log
            .iter()
            .map(|entry| event_item(entry, catalogue, lang))
            .collect(),
    };
    render(StatusCode::OK, &view)
}

/// The fields held, by category in the catalogue's order; a field the catalogue no
/// longer knows comes last, under a heading of its own.
fn field_sections(
    catalogue: &Catalogue,
    records: &[AuthoredRecord],
    lang: Lang,
) -> Vec<FieldSection> {
    let mut by_path: BTreeMap<&str, Vec<&AuthoredRecord>> = BTreeMap::new();
    for record in records {
        by_path
            .entry(record.record.path.as_str())
            .or_default()
            .push(record);
    }
    let mut sections = Vec::new();
    for category in catalogue.categories() {
        let fields: Vec<HeldField> = catalogue
            .fields()
            .iter()
            .filter(|field| field.category == category.id)
            .filter_map(|field| held_field(Some(field), by_path.remove(field.path.as_str())?, lang))
            .collect();
        if !fields.is_empty() {
            sections.push(FieldSection {
                title: words::in_lang(&category.labels, lang).to_owned(),
                fields,
            });
        }
    }
    if !by_path.is_empty() {
        sections.push(FieldSection {
            title: lang.text("export-unknown-fields", None),
            fields: by_path
                .into_values()
                .filter_map(|versions| held_field(None, versions, lang))
                .collect(),
        });
    }
    sections
}

/// A field and its versions; `None` for a field the catalogue no longer knows. Never
/// called without a version.
fn held_field(
    field: Option<&FieldSpec>,
    mut versions: Vec<&AuthoredRecord>,
    lang: Lang,
) -> Option<HeldField> {
    versions.sort_by_key(|record| std::cmp::Reverse(record.record.version));
    let mut versions = versions.into_iter().map(|record| {
        let lines = serde_json::from_str::<serde_json::Value>(record.record.value.get())
            .map(|value| words::value_lines(&value, field, lang))
            .unwrap_or_default();
        Version {
            lines: if lines.is_empty() {
                vec![lang.text("export-cleared", None)]
            } else {
                lines
            },
            by: written_by(record, lang),
        }
    });
    Some(HeldField {
        label: field.map_or_else(
            || lang.text("unknown-field", None),
            |field| words::in_lang(&field.labels, lang).to_owned(),
        ),
        current: versions.next()?,
        earlier: versions.collect(),
    })
}

/// "Name, title, organisation" of the professional a grant or request names.
fn grantee_words(grantee: &Grantee) -> String {
    [&grantee.name, &grantee.title, &grantee.organisation.name]
        .into_iter()
        .map(|part| part.trim())
        .filter(|part| !part.is_empty())
        .collect::<Vec<_>>()
        .join(", ")
}

/// What a grant or request lets the professional do.
fn actions_words(actions: &BTreeSet<Action>, lang: Lang) -> String {
    let id = match (
        actions.contains(&Action::Read),
        actions.contains(&Action::Write),
    ) {
        (true, true) => "export-may-read-write",
        (false, true) => "export-may-write",
        _ => "export-may-read",
    };
    lang.text(id, None)
}

/// The rows a grant and a request share: who, which fields, what they may do, why.
fn common_rows(
    catalogue: &Catalogue,
    grantee: &Grantee,
    fields: &BTreeSet<String>,
    actions: &BTreeSet<Action>,
    purpose: &Purpose,
    lang: Lang,
) -> Vec<(String, String)> {
    vec![
        (lang.text("export-who", None), grantee_words(grantee)),
        (
            lang.text("export-which", None),
            field_labels(catalogue, fields, lang).join(", "),
        ),
        (lang.text("export-may", None), actions_words(actions, lang)),
        (lang.text("export-why", None), words::purpose(purpose, lang)),
    ]
}

fn dated(id: &str, at: DateTime<Utc>, lang: Lang) -> String {
    let mut args = FluentArgs::new();
    args.set("date", words::date(at, lang));
    lang.text(id, Some(&args))
}

fn grant_card(catalogue: &Catalogue, grant: &Grant, now: DateTime<Utc>, lang: Lang) -> ConsentCard {
    let mut rows = common_rows(
        catalogue,
        &grant.grantee,
        &grant.fields,
        &grant.actions,
        &grant.purpose,
        lang,
    );
    let mut args = FluentArgs::new();
    args.set("from", words::date(grant.valid_from, lang));
    args.set("until", words::date(grant.valid_until, lang));
    rows.push((
        lang.text("export-valid", None),
        lang.text("export-valid-range", Some(&args)),
    ));
    let state = match (grant.state(now), grant.revoked_at) {
        (GrantState::Revoked, Some(at)) => dated("export-grant-revoked-on", at, lang),
        (GrantState::Revoked, None) => lang.text("export-grant-revoked", None),
        (GrantState::Active, _) => lang.text("export-grant-active", None),
        (GrantState::Expired, _) => lang.text("export-grant-expired", None),
        (GrantState::NotYetValid, _) => lang.text("export-grant-not-yet-valid", None),
    };
    rows.push((lang.text("export-state", None), state));
    ConsentCard {
        title: grant.grantee.name.clone(),
        rows,
    }
}

fn request_card(
    catalogue: &Catalogue,
    request: &AccessRequest,
    now: DateTime<Utc>,
    lang: Lang,
) -> ConsentCard {
    let mut rows = common_rows(
        catalogue,
        &request.requester,
        &request.fields,
        &request.actions,
        &request.purpose,
        lang,
    );
    rows.push((
        lang.text("export-asked-on", None),
        words::date(request.created_at, lang),
    ));
    rows.push((
        lang.text("export-asked-until", None),
        words::date(request.valid_until, lang),
    ));
    let state = match request.status_at(now) {
        RequestStatus::Pending => "export-request-pending",
        RequestStatus::Approved => "export-request-approved",
        RequestStatus::Denied => "export-request-denied",
        RequestStatus::Expired => "export-request-expired",
    };
    rows.push((lang.text("export-state", None), lang.text(state, None)));
    ConsentCard {
        title: request.requester.name.clone(),
        rows,
    }
}

/// Any entry of the client's log in words: access decisions as on "who has looked",
/// the rest by what happened.
fn event_item(described: &DescribedEntry, catalogue: &Catalogue, lang: Lang) -> TimelineItem {
    let entry = &described.entry;
    let event = match entry.event {
        AuditEvent::Access => return access_item(described, catalogue, lang),
        AuditEvent::Request => "request",
        AuditEvent::Approve => "approve",
        AuditEvent::Deny => "deny",
        AuditEvent::RequestExpire => "request-expire",
        AuditEvent::Grant => "grant",
        AuditEvent::Narrow => "narrow",
        AuditEvent::Revoke => "revoke",
        AuditEvent::Expire => "expire",
        AuditEvent::PairingCode => "pairing-code",
        AuditEvent::Erase => "erase",
        AuditEvent::Login => "login",
        AuditEvent::LoginRefused => "login-refused",
        AuditEvent::Logout => "logout",
        AuditEvent::Admin => "admin",
        AuditEvent::Lockout => "lockout",
    };
    let who = staff_words(
        described.professional.as_ref(),
        described.organisation.as_ref(),
        lang,
    );
    // What a professional did reads "<who> asked for …"; what the client did names the
    // professional inside the sentence.
    let by_them = matches!(entry.event, AuditEvent::Request | AuditEvent::Lockout);
    let mut args = FluentArgs::new();
    args.set("who", who.clone());
    TimelineItem {
        when: words::date_time(entry.at, lang),
        who: by_them.then_some(who),
        did: lang.text(&format!("export-event-{event}"), Some(&args)),
        fields: field_labels(catalogue, &entry.fields, lang),
        purpose: purpose_words(entry, lang),
        refused: matches!(entry.event, AuditEvent::LoginRefused | AuditEvent::Lockout),
    }
}
