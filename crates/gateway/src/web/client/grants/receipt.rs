//! A grant's receipt as a page a person can read and print: what was agreed, when,
//! between whom, the fields, what the professional may do, why and for how long, and
//! that the receipt is signed and can be checked; beside it, the signed JSON to
//! download. The page is read from the signed receipt itself, so it says exactly what
//! was signed.

use super::super::ClientPage;
use super::{FieldGroup, dated, field_groups, grantee_line, rights};
use crate::error::ApiError;
use crate::extract::AppPath;
use crate::state::AppState;
use crate::web::i18n::Speak;
use crate::web::{Chrome, render, words};
use askama::Template;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use chrono::DateTime;
use fluent_bundle::FluentArgs;
use omadata_app::client;
use omadata_consent::receipt::{ReceiptEvent, SignedReceipt};

#[derive(Template)]
#[template(path = "client/receipt.html")]
struct ReceiptPage<'a> {
    chrome: &'a Chrome,
    /// What the receipt records, and when.
    event: String,
    number: String,
    professional: String,
    controller: String,
    /// The organisation's privacy notice, when it is a web address.
    privacy_notice: Option<String>,
    groups: Vec<FieldGroup>,
    rights: String,
    may_change: bool,
    why: String,
    valid: String,
    revoked: Option<String>,
    download: String,
    download_name: String,
}

/// A short receipt number for people to refer to: the first eight hexadecimal digits of
/// the receipt's id, in two groups ("3F2A-9C01"), never the whole id.
fn short_number(receipt_id: &str) -> String {
    let digits: String = receipt_id
        .chars()
        .filter(char::is_ascii_hexdigit)
        .take(8)
        .collect::<String>()
        .to_ascii_uppercase();
    match digits.split_at_checked(4) {
        Some((first, second)) if !second.is_empty() => format!("{first}-{second}"),
        _ => digits,
    }
}

pub(super) async fn receipt_page(
    State(state): State<AppState>,
    page: ClientPage,
    AppPath(id): AppPath<String>,
) -> Response {
    let client = page.client;
    let bytes = match state
        .app()
        .reading(move |app| client::receipt(app, client, &id))
        .await
    {
        Ok(bytes) => bytes,
        Err(error) => return page.problem(error.into(), "/my/grants"),
    };
    let Ok(signed) = serde_json::from_slice::<SignedReceipt>(&bytes) else {
        tracing::error!("a stored receipt did not parse");
        return page.problem(ApiError::internal(), "/my/grants");
    };
    let lang = page.lang();
    let body = &signed.receipt;
    let terms = &body.omadata;
    let at = DateTime::from_timestamp(body.consent_timestamp, 0).unwrap_or(terms.valid_from);
    let mut args = FluentArgs::new();
    args.set("time", words::date_time(at, lang));
    let event = lang.text(
        match terms.event {
            ReceiptEvent::Grant => "receipt-event-grant",
            ReceiptEvent::Narrow => "receipt-event-narrow",
            ReceiptEvent::Revoke => "receipt-event-revoke",
        },
        Some(&args),
    );
    let organisation = &terms.grantee.organisation;
    let mut controller = FluentArgs::new();
    controller.set("organisation", organisation.name.clone());
    controller.set("business_id", organisation.business_id.clone());
    controller.set("contact", organisation.dpo_contact.clone());
    let mut valid = FluentArgs::new();
    valid.set("from", words::date(terms.valid_from, lang));
    valid.set("until", words::date(terms.valid_until, lang));
    let (rights, may_change) = rights(&terms.actions, lang);
    let number = short_number(&body.consent_receipt_id);
    let view = ReceiptPage {
        chrome: &page.chrome,
        event,
        professional: grantee_line(&terms.grantee),
        controller: lang.text("receipt-controller", Some(&controller)),
        privacy_notice: Some(organisation.privacy_notice_url.clone())
            .filter(|url| url.starts_with("https://") || url.starts_with("http://")),
        groups: field_groups(state.app().catalogue(), &terms.fields, lang),
        rights,
        may_change,
        why: words::purpose(&terms.purpose, lang),
        valid: lang.text("receipt-valid", Some(&valid)),
        revoked: terms
            .revoked_at
            .map(|at| dated("grants-state-revoked", at, lang)),
        download: format!("/api/v1/me/grants/{}/receipt", terms.grant_id),
        download_name: format!("omadata-{}.json", number.to_ascii_lowercase()),
        number,
    };
    render(StatusCode::OK, &view)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_receipt_number_is_short_and_no_uuid() {
        assert_eq!(
            short_number("3f2a9c01-0000-4000-8000-000000000000"),
            "3F2A-9C01"
        );
        assert_eq!(short_number("ab"), "AB");
    }
}
