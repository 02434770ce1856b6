//! Who sees the client's data, and sharing it: "who sees my data now" (each active grant
//! in words, stopped with one button), sharing ([`share`]: a pairing code to show, or a
//! grant given on the client's own initiative) and a grant's readable receipt
//! ([`receipt`]). Every grant is shown the same way: who, which fields (grouped by
//! category, sensitive ones marked), what they may do, why and until when.

mod receipt;
mod share;

use super::{ClientPage, DoneQuery, PageForm, PageQuery, done, notice, read_all};
use crate::extract::AppPath;
use crate::state::AppState;
use crate::web::i18n::{Lang, Speak};
use crate::web::words;
use crate::web::{Chrome, Notice, render};
use askama::Template;
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Redirect;
use axum::response::Response;
use axum::routing::{get, post};
use chrono::{DateTime, Utc};
use fluent_bundle::FluentArgs;
use omadata_app::client;
use omadata_consent::{Action, Grant, GrantId, GrantState, Grantee};
use omadata_vault::Catalogue;
use serde::Deserialize;
use std::collections::BTreeSet;

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/my/share", get(share::share_page))
        // Opened as a page (the language menu after showing a code): the share page.
        .route(
            "/my/share/code",
            get(|| async { Redirect::to("/my/share") }).post(share::show_code),
        )
        .route("/my/grants", get(my_grants))
        // The own-initiative form belongs to the share page (its menu entry, its way
        // back); opened as a page, it is that page.
        .route(
            "/my/share/grant",
            get(|| async { Redirect::to("/my/share") }).post(share::give_grant),
        )
        .route("/my/grants/{id}/revoke", post(revoke))
        .route("/my/grants/{id}/receipt", get(receipt::receipt_page))
}

/// The fields of one category that a grant names, as words.
struct FieldGroup {
    title: String,
    /// (label, the sensitivity badge when the field is sensitive)
    fields: Vec<(String, Option<String>)>,
}

/// `paths` grouped by the catalogue's categories, in its order; a path the catalogue no
/// longer knows is listed last under a generic word, never as the path.
fn field_groups(catalogue: &Catalogue, paths: &BTreeSet<String>, lang: Lang) -> Vec<FieldGroup> {
    let mut groups: Vec<FieldGroup> = catalogue
        .categories()
        .iter()
        .filter_map(|category| {
            let fields: Vec<_> = catalogue
                .fields()
                .iter()
                .filter(|f| f.category == category.id && paths.contains(&f.path))
                .map(|f| {
                    (
                        words::in_lang(&f.labels, lang).to_owned(),
                        words::sensitivity_badge(f, lang),
                    )
                })
                .collect();
            (!fields.is_empty()).then(|| FieldGroup {
                title: words::in_lang(&category.labels, lang).to_owned(),
                fields,
            })
        })
        .collect();
    let unknown = paths
        .iter()
        .filter(|path| catalogue.field(path).is_none())
        .count();
    if unknown > 0 {
        let word = lang.text("unknown-field", None);
        groups.push(FieldGroup {
            title: word.clone(),
            fields: vec![(word, None); unknown],
        });
    }
    groups
}

/// Who a grant is given to, in one line: "Tero Työvalmentaja, Työvalmentaja, Ohjaamo".
fn grantee_line(grantee: &Grantee) -> String {
    format!(
        "{}, {}, {}",
        grantee.name, grantee.title, grantee.organisation.name
    )
}

/// What the grant lets the professional do, in words; changing is never left unsaid.
fn rights(actions: &BTreeSet<Action>, lang: Lang) -> (String, bool) {
    let may_change = actions.contains(&Action::Write);
    let id = if may_change {
        "grants-rights-change"
    } else {
        "grants-rights-see"
    };
    (lang.text(id, None), may_change)
}

/// An element id for a grant's card (a fragment, never shown).
fn card_id(id: GrantId) -> String {
    format!("g-{id}")
}

/// An active grant as its card shows it.
struct GrantCard {
    id: String,
    who: String,
    groups: Vec<FieldGroup>,
    rights: String,
    may_change: bool,
    why: String,
    /// When a grant given to start later starts.
    starts: Option<String>,
    until: String,
    revoke: String,
    revoke_label: String,
    receipt: String,
    receipt_label: String,
}

/// A grant that no longer permits anything: who, and what happened when.
struct EndedGrant {
    who: String,
    what: String,
    receipt: String,
    receipt_label: String,
}

#[derive(Template)]
#[template(path = "client/grants.html")]
struct GrantsPage<'a> {
    chrome: &'a Chrome,
    csrf: &'a str,
    notice: Option<Notice>,
    active: Vec<GrantCard>,
    ended: Vec<EndedGrant>,
    ended_title: String,
}

/// The most grants the page reads: years of them (creating them is limited per day), and
/// bounded. The store lists them in id order (random), so the page reads them all to show
/// every active one, and the newest [`ENDED`] that have ended.
const MOST_GRANTS: usize = 10_000;

/// How many ended grants the page lists, newest first.
const ENDED: usize = 100;

/// Every grant of the client (up to [`MOST_GRANTS`]), read page by page in one go.
async fn all_grants(
    state: &AppState,
    page: &ClientPage,
) -> Result<Vec<Grant>, omadata_app::AppError> {
    let client = page.client;
    state
        .app()
        .reading(move |app| {
            read_all(MOST_GRANTS, |after| {
                client::my_grants(app, client, after, 200)
            })
            .map(|(grants, _)| grants)
        })
        .await
}

fn labelled(id: &str, name: &str, lang: Lang) -> String {
    let mut args = FluentArgs::new();
    args.set("name", name.to_owned());
    lang.text(id, Some(&args))
}

fn dated(id: &str, at: DateTime<Utc>, lang: Lang) -> String {
    let mut args = FluentArgs::new();
    args.set("date", words::date(at, lang));
    lang.text(id, Some(&args))
}

async fn my_grants(
    State(state): State<AppState>,
    page: ClientPage,
    PageQuery(query): PageQuery<DoneQuery>,
) -> Response {
    let mut grants = match all_grants(&state, &page).await {
        Ok(grants) => grants,
        Err(error) => return page.problem(error.into(), "/my/grants"),
    };
    grants.sort_by_key(|grant| std::cmp::Reverse(grant.updated_at));
    let now = state.now();
    let lang = page.lang();
    let catalogue = state.app().catalogue();
    let mut active = Vec::new();
    let mut ended = Vec::new();
    for grant in grants {
        let receipt = format!("/my/grants/{}/receipt", grant.id);
        let receipt_label = labelled("grants-receipt-label", &grant.grantee.name, lang);
        let ended_as = match grant.state(now) {
            // A grant that starts later is listed with the active ones, so it can be
            // stopped before it starts.
            GrantState::Active | GrantState::NotYetValid => None,
            GrantState::Revoked => Some(dated(
                "grants-state-revoked",
                grant.revoked_at.unwrap_or(grant.updated_at),
                lang,
            )),
            GrantState::Expired => Some(dated("grants-state-expired", grant.valid_until, lang)),
        };
        if let Some(what) = ended_as {
            if ended.len() == ENDED {
                continue;
            }
            ended.push(EndedGrant {
                who: grantee_line(&grant.grantee),
                what,
                receipt,
                receipt_label,
            });
            continue;
        }
        let (rights, may_change) = rights(&grant.actions, lang);
        active.push(GrantCard {
            id: card_id(grant.id),
            who: grantee_line(&grant.grantee),
            groups: field_groups(catalogue, &grant.fields, lang),
            rights,
            may_change,
            why: words::purpose(&grant.purpose, lang),
            starts: (grant.valid_from > now)
                .then(|| dated("grants-state-not-yet", grant.valid_from, lang)),
            until: words::date(grant.valid_until, lang),
            revoke: format!("/my/grants/{}/revoke", grant.id),
            revoke_label: labelled("grants-stop-label", &grant.grantee.name, lang),
            receipt,
            receipt_label,
        });
    }
    let mut args = FluentArgs::new();
    args.set("count", ended.len());
    let view = GrantsPage {
        chrome: &page.chrome,
        csrf: &page.csrf,
        notice: notice(lang, query.done.as_deref(), &["granted", "stopped"]),
        active,
        ended_title: lang.text("grants-ended", Some(&args)),
        ended,
    };
    render(StatusCode::OK, &view)
}

/// The revoke form carries nothing but its CSRF token.
#[derive(Debug, Deserialize)]
struct Empty {}

async fn revoke(
    State(state): State<AppState>,
    AppPath(id): AppPath<String>,
    post: PageForm<Empty>,
) -> Response {
    let page = post.page;
    match client::revoke(state.app(), page.client, &id, state.now()).await {
        Ok(_) => done("/my/grants", "stopped", None),
        Err(error) => page.problem(error.into(), "/my/grants"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A group as (title, [(label, badge)]).
    type Shown<'a> = (&'a str, Vec<(&'a str, Option<&'a str>)>);

    #[test]
    fn granted_fields_are_grouped_by_category_and_marked_never_shown_as_paths() {
        let catalogue = Catalogue::builtin().unwrap();
        let paths: BTreeSet<String> = [
            "health.status",
            "identity.phone",
            "identity.name",
            "gone.field",
        ]
        .map(String::from)
        .into();
        let groups = field_groups(&catalogue, &paths, Lang::Fi);
        let seen: Vec<Shown<'_>> = groups
            .iter()
            .map(|g| {
                (
                    g.title.as_str(),
                    g.fields
                        .iter()
                        .map(|(label, badge)| (label.as_str(), badge.as_deref()))
                        .collect(),
                )
            })
            .collect();
        assert_eq!(
            seen,
            [
                (
                    "Henkilö- ja yhteystiedot",
                    vec![("Nimi", None), ("Puhelinnumero", None)]
                ),
                (
                    "Terveys ja toimintakyky",
                    vec![("Terveydentila", Some("arkaluonteinen"))]
                ),
                (
                    "tieto, jota ei enää ole",
                    vec![("tieto, jota ei enää ole", None)]
                ),
            ]
        );
        let change: BTreeSet<Action> = [Action::Read, Action::Write].into();
        assert_eq!(
            rights(&change, Lang::Fi),
            ("Saa nähdä ja myös muuttaa tietoja".to_owned(), true)
        );
    }
}
