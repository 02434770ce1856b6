//! "Who has looked at my data": every access decision about the client as a timeline,
//! newest first: when (Helsinki time), who (name, title, organisation), what they did in
//! words (looked at, changed, or tried to and were refused) and which fields, by label.
//! Older entries are one plain link away; the cursor stays in the link.
//!
//! The words for one access decision ([`access_item`]) also serve the readable export
//! (`account`), which shows the whole log.

use super::{ClientPage, PageQuery};
use crate::state::AppState;
use crate::web::i18n::{Lang, Speak};
use crate::web::{Chrome, render, words};
use askama::Template;
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::get;
use fluent_bundle::FluentArgs;
use omadata_app::client::{self, DescribedEntry};
use omadata_consent::audit::{AuditEntry, Outcome};
use omadata_consent::{Action, Organisation, Staff};
use omadata_vault::Catalogue;
use serde::Deserialize;

pub(super) fn routes() -> Router<AppState> {
    Router::new().route("/my/seen", get(seen))
}

/// How many entries one page of the timeline shows.
const PAGE: usize = 20;

/// One event on a timeline, in words.
pub(super) struct TimelineItem {
    pub(super) when: String,
    /// Who acted, when it was someone else than the client.
    pub(super) who: Option<String>,
    /// What happened, after `who` when there is one.
    pub(super) did: String,
    /// The fields' labels.
    pub(super) fields: Vec<String>,
    pub(super) purpose: Option<String>,
    /// An attempt that was refused (marked on the timeline besides its words).
    pub(super) refused: bool,
}

#[derive(Template)]
#[template(path = "client/seen.html")]
struct SeenPage<'a> {
    chrome: &'a Chrome,
    items: Vec<TimelineItem>,
    /// Whether this is a page of older entries (then "newest" leads back).
    older_page: bool,
    /// The link to the next older entries, when there are any.
    older: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
struct SeenQuery {
    /// The cursor: entries older than this one. Anything else than a number shows the
    /// newest entries.
    before: Option<String>,
}

async fn seen(
    State(state): State<AppState>,
    page: ClientPage,
    PageQuery(query): PageQuery<SeenQuery>,
) -> Response {
    let before = query.before.as_deref().and_then(|b| b.parse::<u64>().ok());
    // One more than a page, to know whether there are older ones.
    let client = page.client;
    let mut log = match state
        .app()
        .reading(move |app| client::access_log(app, client, before, PAGE + 1))
        .await
    {
        Ok(log) => log,
        Err(error) => return page.problem(error.into(), "/my/seen"),
    };
    let older = (log.len() > PAGE).then(|| {
        log.truncate(PAGE);
        log.last()
            .map(|last| format!("/my/seen?before={}", last.entry.seq))
    });
    let catalogue = state.app().catalogue();
    let lang = page.lang();
    let view = SeenPage {
        chrome: &page.chrome,
        items: log
            .iter()
            .map(|entry| access_item(entry, catalogue, lang))
            .collect(),
        older_page: before.is_some(),
        older: older.flatten(),
    };
    render(StatusCode::OK, &view)
}

/// A staff member as the client reads them: "name, title, organisation"; someone no
/// longer registered in plain words.
pub(super) fn staff_words(
    staff: Option<&Staff>,
    organisation: Option<&Organisation>,
    lang: Lang,
) -> String {
    match staff {
        Some(staff) => {
            let mut parts = vec![staff.name.as_str(), staff.title.as_str()];
            if let Some(organisation) = organisation {
                parts.push(organisation.name.as_str());
            }
            parts.retain(|part| !part.trim().is_empty());
            parts.join(", ")
        }
        None => lang.text("seen-unregistered", None),
    }
}

/// The labels of `fields`, each once, in the catalogue's order (as on "my data"); the
/// wildcard `*` (an attempt on the whole record) is left to the words around the list.
pub(super) fn field_labels<'a>(
    catalogue: &Catalogue,
    fields: impl IntoIterator<Item = &'a String>,
    lang: Lang,
) -> Vec<String> {
    let mut paths: Vec<&String> = fields.into_iter().filter(|path| *path != "*").collect();
    paths.sort_by_key(|path| {
        catalogue
            .fields()
            .iter()
            .position(|field| field.path == **path)
            .unwrap_or(usize::MAX)
    });
    let mut labels: Vec<String> = Vec::new();
    for path in paths {
        let label = words::field_label(catalogue, path, lang);
        if !labels.contains(&label) {
            labels.push(label);
        }
    }
    labels
}

/// One access decision in words: who looked at or changed which fields, or tried to and
/// was refused.
pub(super) fn access_item(
    described: &DescribedEntry,
    catalogue: &Catalogue,
    lang: Lang,
) -> TimelineItem {
    let entry = &described.entry;
    let refused = entry.outcome != Some(Outcome::Permit);
    let fields = field_labels(catalogue, &entry.fields, lang);
    let verb = match (entry.action, refused) {
        (Some(Action::Write), false) => "changed",
        (Some(Action::Write), true) => "tried-change",
        (_, false) => "looked",
        (_, true) => "tried-look",
    };
    // With no field to list (an attempt on the whole record), the words say "your data".
    let whole = if fields.is_empty() { "-any" } else { "" };
    TimelineItem {
        when: words::date_time(entry.at, lang),
        who: Some(staff_words(
            described.professional.as_ref(),
            described.organisation.as_ref(),
            lang,
        )),
        did: lang.text(&format!("seen-{verb}{whole}"), None),
        fields,
        purpose: purpose_words(entry, lang),
        refused,
    }
}

/// The purpose an entry was decided for, when it names one.
pub(super) fn purpose_words(entry: &AuditEntry, lang: Lang) -> Option<String> {
    entry.purpose.map(|code| {
        let mut args = FluentArgs::new();
        args.set("purpose", words::purpose_name(code, lang));
        lang.text("seen-purpose", Some(&args))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use omadata_consent::audit::AuditEvent;

    fn entry(action: Action, outcome: Outcome, fields: &[&str]) -> DescribedEntry {
        let at = chrono::DateTime::from_timestamp(1_800_000_000, 0).unwrap();
        let mut entry = AuditEntry::new(AuditEvent::Access, at);
        entry.action = Some(action);
        entry.outcome = Some(outcome);
        entry.fields = fields.iter().map(|f| (*f).to_owned()).collect();
        DescribedEntry {
            entry,
            professional: None,
            organisation: None,
        }
    }

    #[test]
    fn a_change_reads_as_a_change_and_a_refusal_as_an_attempt() {
        let catalogue = Catalogue::builtin().unwrap();
        let lang = Lang::Fi;
        let changed = access_item(
            &entry(Action::Write, Outcome::Permit, &["plan.agreed_actions"]),
            &catalogue,
            lang,
        );
        assert!(changed.did.starts_with("muutti"), "{}", changed.did);
        assert!(!changed.refused);
        assert_eq!(changed.fields.len(), 1);
        assert_ne!(changed.fields[0], "plan.agreed_actions");
        let looked = access_item(
            &entry(Action::Read, Outcome::Permit, &["identity.name"]),
            &catalogue,
            lang,
        );
        assert!(looked.did.starts_with("katsoi"), "{}", looked.did);
        let tried = access_item(
            &entry(Action::Read, Outcome::Deny, &["*"]),
            &catalogue,
            lang,
        );
        assert!(tried.refused && tried.fields.is_empty());
        assert!(tried.did.starts_with("yritti katsoa"), "{}", tried.did);
        assert_eq!(
            tried.who.as_deref(),
            Some(lang.text("seen-unregistered", None).as_str())
        );
    }
}
