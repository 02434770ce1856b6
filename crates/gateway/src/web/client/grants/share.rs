//! "Share data": a pairing code to show the professional who is with the client now (in
//! large letters, as a QR code, and until when it works), and a grant given on the
//! client's own initiative. The grant form starts empty: no professional chosen, no field
//! checked, only seeing allowed. A refused grant renders the form again with every choice
//! kept and the message next to the control that caused it.

use super::super::{ClientPage, PageForm, done, field_anchor, read_all};
use super::card_id;
use crate::error::ApiError;
use crate::state::AppState;
use crate::web::i18n::{Lang, Speak};
use crate::web::{Chrome, render, words};
use askama::Template;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use chrono::{Days, NaiveDate};
use fluent_bundle::FluentArgs;
use omadata_app::client::{self, ListedProfessional};
use omadata_app::{AppError, calendar, professional};
use omadata_consent::{
    AccessAsk, Action, ConsentError, FieldSelector, MAX_PURPOSE_TEXT, Purpose, PurposeCode,
};
use omadata_vault::ProfessionalId;
use serde::Deserialize;
use std::collections::BTreeSet;

/// What the own-initiative form sends (and, after a refusal, shows again).
#[derive(Debug, Default, Deserialize)]
pub(super) struct GrantForm {
    #[serde(default)]
    professional: String,
    /// The checked fields' paths.
    #[serde(default)]
    field: Vec<String>,
    /// `see`, or `change` for seeing and changing.
    #[serde(default)]
    may: String,
    #[serde(default)]
    purpose: String,
    #[serde(default)]
    purpose_text: String,
    /// A day (`YYYY-MM-DD`): the grant lasts to its end in Helsinki.
    #[serde(default)]
    until: String,
}

/// Why the form was refused, by the control that caused it.
#[derive(Debug, Default)]
struct FormErrors {
    professional: Option<String>,
    fields: Option<String>,
    /// Checked fields the policy does not let the chosen professional be shared.
    refused: BTreeSet<String>,
    purpose: Option<String>,
    purpose_text: Option<String>,
    until: Option<String>,
    /// Not about one control (too many grants today).
    form: Option<String>,
}

impl FormErrors {
    fn any(&self) -> bool {
        self.professional.is_some()
            || self.fields.is_some()
            || self.purpose.is_some()
            || self.purpose_text.is_some()
            || self.until.is_some()
            || self.form.is_some()
    }
}

/// One option of a `<select>`.
struct Choice {
    value: String,
    label: String,
    selected: bool,
}

/// One field's checkbox.
struct FieldChoice {
    path: String,
    id: String,
    label: String,
    badge: Option<String>,
    checked: bool,
    /// The policy's refusal, for this field.
    error: Option<String>,
}

struct FieldCategory {
    legend: String,
    fields: Vec<FieldChoice>,
}

/// A pairing code just issued.
struct CodeView {
    code: String,
    /// The code as an SVG QR code in a `data:` address, for an `<img>` (which the
    /// image policy allows; an image needs no style the style policy would block).
    qr_image: String,
    qr_label: String,
    valid: String,
}

#[derive(Template)]
#[template(path = "client/share.html")]
struct SharePage<'a> {
    chrome: &'a Chrome,
    csrf: &'a str,
    code: Option<CodeView>,
    code_error: Option<String>,
    professionals: Vec<Choice>,
    categories: Vec<FieldCategory>,
    may_change: bool,
    purposes: Vec<Choice>,
    purpose_text: String,
    max_text: usize,
    until: String,
    until_min: String,
    errors: FormErrors,
}

/// The most professionals the form lists.
const MOST_PROFESSIONALS: usize = 2000;

/// Everyone the client can grant to, sorted by name.
async fn all_professionals(state: &AppState) -> Result<Vec<ListedProfessional>, AppError> {
    let (mut listed, _) = state
        .app()
        .reading(|app| {
            read_all(MOST_PROFESSIONALS, |after| {
                client::professionals(app, after, 500)
            })
        })
        .await?;
    listed.sort_by(|a, b| a.staff.name.cmp(&b.staff.name));
    Ok(listed)
}

/// An id in a form, as a string compared with the options' values.
fn id_text(id: ProfessionalId) -> String {
    id.to_string()
}

fn page_view<'a>(
    state: &AppState,
    page: &'a ClientPage,
    professionals: &[ListedProfessional],
    form: &GrantForm,
    errors: FormErrors,
) -> SharePage<'a> {
    let lang = page.lang();
    let catalogue = state.app().catalogue();
    let checked: BTreeSet<&str> = form.field.iter().map(String::as_str).collect();
    let refused_text = lang.text("share-error-refused-field", None);
    let categories = catalogue
        .categories()
        .iter()
        .map(|category| FieldCategory {
            legend: words::in_lang(&category.labels, lang).to_owned(),
            fields: catalogue
                .fields()
                .iter()
                .filter(|f| f.category == category.id)
                .map(|f| FieldChoice {
                    id: format!("grant-{}", field_anchor(&f.path)),
                    label: words::in_lang(&f.labels, lang).to_owned(),
                    badge: words::sensitivity_badge(f, lang),
                    checked: checked.contains(f.path.as_str()),
                    error: errors
                        .refused
                        .contains(&f.path)
                        .then(|| refused_text.clone()),
                    path: f.path.clone(),
                })
                .collect(),
        })
        .filter(|c| !c.fields.is_empty())
        .collect();
    let today = calendar::local_date(state.now());
    SharePage {
        chrome: &page.chrome,
        csrf: &page.csrf,
        code: None,
        code_error: None,
        professionals: professionals
            .iter()
            .map(|p| {
                let value = id_text(p.staff.id);
                Choice {
                    selected: value == form.professional,
                    label: format!("{}, {} ({})", p.staff.name, p.staff.title, p.organisation),
                    value,
                }
            })
            .collect(),
        categories,
        may_change: form.may == "change",
        purposes: words::PURPOSES
            .iter()
            .map(|&code| Choice {
                value: words::purpose_code(code).to_owned(),
                label: words::purpose_name(code, lang),
                selected: words::purpose_code(code) == form.purpose,
            })
            .collect(),
        purpose_text: form.purpose_text.clone(),
        max_text: MAX_PURPOSE_TEXT,
        until: form.until.clone(),
        until_min: today.format("%Y-%m-%d").to_string(),
        errors,
    }
}

/// The form as it first shows: the grant would last 30 days.
fn fresh_form(state: &AppState) -> GrantForm {
    let until = calendar::local_date(state.now())
        .checked_add_days(Days::new(30))
        .map(|day| day.format("%Y-%m-%d").to_string())
        .unwrap_or_default();
    GrantForm {
        may: "see".into(),
        purpose: words::purpose_code(PurposeCode::Guidance).into(),
        until,
        ..GrantForm::default()
    }
}

/// The share page with a fresh form, and with a code or why there is none.
fn fresh_page(
    state: &AppState,
    page: &ClientPage,
    professionals: &[ListedProfessional],
    code: Option<CodeView>,
    code_error: Option<String>,
) -> Response {
    let status = if code_error.is_some() {
        StatusCode::TOO_MANY_REQUESTS
    } else {
        StatusCode::OK
    };
    let mut view = page_view(
        state,
        page,
        professionals,
        &fresh_form(state),
        FormErrors::default(),
    );
    view.code = code;
    view.code_error = code_error;
    render(status, &view)
}

pub(super) async fn share_page(State(state): State<AppState>, page: ClientPage) -> Response {
    match all_professionals(&state).await {
        Ok(professionals) => fresh_page(&state, &page, &professionals, None, None),
        Err(error) => page.problem(error.into(), "/my/share"),
    }
}

/// The code form carries nothing but its CSRF token.
#[derive(Debug, Deserialize)]
pub(super) struct CodeForm {}

pub(super) async fn show_code(State(state): State<AppState>, post: PageForm<CodeForm>) -> Response {
    let page = post.page;
    let lang = page.lang();
    // The page's list first: a code is issued only when it can be shown (each counts
    // toward the client's live codes).
    let professionals = match all_professionals(&state).await {
        Ok(listed) => listed,
        Err(error) => return page.problem(error.into(), "/my/share"),
    };
    match client::issue_pairing_code(state.app(), page.client, state.now()).await {
        Ok(code) => {
            let mut time = FluentArgs::new();
            time.set("time", words::date_time(code.expires_at, lang));
            let mut label = FluentArgs::new();
            label.set("code", spaced(&code.code));
            let svg = crate::routes::client::qr_svg(&code.code);
            let view = CodeView {
                qr_image: format!("data:image/svg+xml;base64,{}", BASE64.encode(svg)),
                qr_label: lang.text("share-code-qr", Some(&label)),
                valid: lang.text("share-code-valid", Some(&time)),
                code: code.code,
            };
            fresh_page(&state, &page, &professionals, Some(view), None)
        }
        Err(error) => {
            let error = ApiError::from(error);
            if error.code == "too_many_pairing_codes" {
                let message = words::problem(error.code, lang);
                fresh_page(&state, &page, &professionals, None, Some(message))
            } else {
                page.problem(error, "/my/share")
            }
        }
    }
}

/// A code with a space between its characters, so a screen reader spells it out.
fn spaced(code: &str) -> String {
    code.chars().map(String::from).collect::<Vec<_>>().join(" ")
}

fn text(id: &str, lang: Lang) -> Option<String> {
    Some(lang.text(id, None))
}

/// The terms the form asks for, or what is wrong with them (checked before the use
/// case, so every mistake is shown at once).
fn terms(
    form: &GrantForm,
    professionals: &[ListedProfessional],
    state: &AppState,
    lang: Lang,
    errors: &mut FormErrors,
) -> Option<(ProfessionalId, AccessAsk)> {
    let professional = professionals
        .iter()
        .find(|p| id_text(p.staff.id) == form.professional);
    if professional.is_none() {
        errors.professional = text("share-error-no-professional", lang);
    }
    let catalogue = state.app().catalogue();
    let fields: BTreeSet<String> = form
        .field
        .iter()
        .filter(|path| catalogue.field(path).is_some())
        .cloned()
        .collect();
    if fields.is_empty() {
        errors.fields = text("share-error-no-field", lang);
    } else if let Some(listed) = professional {
        // Every checked field the policy refuses is marked at once.
        let shareable: BTreeSet<String> =
            professional::shareable_fields(state.app(), &listed.staff)
                .into_iter()
                .collect();
        errors.refused = fields.difference(&shareable).cloned().collect();
        if !errors.refused.is_empty() {
            errors.fields = text("share-error-refused-fields", lang);
        }
    }
    let code = words::PURPOSES
        .iter()
        .copied()
        .find(|&code| words::purpose_code(code) == form.purpose);
    if code.is_none() {
        errors.purpose = text("share-error-purpose", lang);
    }
    let purpose_text = form.purpose_text.trim();
    if purpose_text.chars().count() > MAX_PURPOSE_TEXT {
        errors.purpose_text = text("share-error-purpose-text", lang);
    }
    let valid_until = match NaiveDate::parse_from_str(form.until.trim(), "%Y-%m-%d") {
        Ok(day) if calendar::end_of_day(day) <= state.now() => {
            errors.until = text("share-error-until-past", lang);
            None
        }
        Ok(day) => Some(calendar::end_of_day(day)),
        Err(_) => {
            errors.until = text("share-error-until-missing", lang);
            None
        }
    };
    if errors.any() {
        return None;
    }
    let mut actions: BTreeSet<Action> = [Action::Read].into_iter().collect();
    if form.may == "change" {
        actions.insert(Action::Write);
    }
    Some((
        professional?.staff.id,
        AccessAsk {
            fields: fields.into_iter().map(FieldSelector::Path).collect(),
            actions,
            purpose: Purpose {
                code: code?,
                text: (!purpose_text.is_empty()).then(|| purpose_text.to_owned()),
            },
            valid_until: valid_until?,
        },
    ))
}

/// Places a refusal by the use case next to the control it is about; one about no
/// control comes back as the error for the problem page.
fn placed(error: AppError, lang: Lang, errors: &mut FormErrors) -> Result<(), ApiError> {
    match error {
        AppError::Consent(ConsentError::PolicyForbids { field, .. }) => {
            errors.refused.insert(field);
            errors.fields = text("share-error-refused-fields", lang);
        }
        AppError::Consent(ConsentError::Invalid {
            what: "valid_until",
            ..
        }) => {
            errors.until = text("share-error-until-far", lang);
        }
        AppError::Consent(ConsentError::Invalid {
            what: "purpose", ..
        }) => {
            errors.purpose_text = text("share-error-purpose-text", lang);
        }
        AppError::UnknownProfessional => {
            errors.professional = text("share-error-no-professional", lang);
        }
        AppError::TooManyGrants => {
            errors.form = Some(words::problem("too_many_grants", lang));
        }
        other => return Err(other.into()),
    }
    Ok(())
}

pub(super) async fn give_grant(
    State(state): State<AppState>,
    post: PageForm<GrantForm>,
) -> Response {
    let PageForm { page, form } = post;
    let lang = page.lang();
    let professionals = match all_professionals(&state).await {
        Ok(listed) => listed,
        Err(error) => return page.problem(error.into(), "/my/share"),
    };
    let mut errors = FormErrors::default();
    let mut status = StatusCode::UNPROCESSABLE_ENTITY;
    if let Some((professional, ask)) = terms(&form, &professionals, &state, lang, &mut errors) {
        match client::create_grant(state.app(), page.client, professional, ask, state.now()).await {
            Ok(grant) => return done("/my/grants", "granted", Some(&card_id(grant.id))),
            Err(error) => {
                if matches!(error, AppError::TooManyGrants) {
                    status = StatusCode::TOO_MANY_REQUESTS;
                }
                if let Err(error) = placed(error, lang, &mut errors) {
                    return page.problem(error, "/my/share");
                }
            }
        }
    }
    let view = page_view(&state, &page, &professionals, &form, errors);
    render(status, &view)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_code_is_spelled_out() {
        assert_eq!(spaced("AB12"), "A B 1 2");
    }
}
