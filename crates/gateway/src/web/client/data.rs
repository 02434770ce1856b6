//! "My data": what the client has filled in comes first, grouped by category; the rest
//! is one choice away ("add information") instead of a long page of empty boxes. Each
//! field is changed on its own page with the control its value needs (e-mail, phone,
//! date, choice, a list one item a line), and saving returns to the field's place.

use super::{ClientPage, DoneQuery, PageForm, PageQuery, done, field_anchor, notice};
use crate::error::ApiError;
use crate::state::AppState;
use crate::web::i18n::{Lang, Speak};
use crate::web::words;
use crate::web::{Chrome, Notice, render};
use askama::Template;
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::get;
use fluent_bundle::FluentArgs;
use omadata_app::client::{self, AuthoredRecord};
use omadata_vault::catalogue::{TextFormat, ValueType};
use omadata_vault::{Author, Catalogue, FieldSpec};
use serde::Deserialize;
use std::collections::HashMap;

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/my/data", get(my_data))
        .route("/my/data/edit", get(edit_field).post(save_field))
}

/// A filled-in field as the page shows it.
struct FilledField {
    anchor: String,
    label: String,
    help: String,
    badge: Option<String>,
    lines: Vec<String>,
    author: String,
    /// Where to change it, when the client may.
    edit: Option<String>,
    edit_label: String,
}

struct Section {
    anchor: String,
    title: String,
    fields: Vec<FilledField>,
}

/// The fields not filled in yet that the client may add, one group a category.
struct AddGroup {
    label: String,
    options: Vec<(String, String)>,
}

#[derive(Template)]
#[template(path = "client/data.html")]
struct DataPage<'a> {
    chrome: &'a Chrome,
    notice: Option<Notice>,
    /// How many fields are filled in, in words (a plural).
    filled: String,
    sections: Vec<Section>,
    add: Vec<AddGroup>,
}

async fn my_data(
    State(state): State<AppState>,
    page: ClientPage,
    PageQuery(query): PageQuery<DoneQuery>,
) -> Response {
    let client = page.client;
    let records = match state
        .app()
        .reading(move |app| client::my_record(app, client))
        .await
    {
        Ok(records) => records,
        Err(error) => return page.problem(error.into(), "/my/data"),
    };
    let catalogue = state.app().catalogue();
    let lang = page.lang();
    let mut by_path: HashMap<&str, &AuthoredRecord> = HashMap::new();
    for record in &records {
        by_path.insert(record.record.path.as_str(), record);
    }
    let mut sections = Vec::new();
    let mut add = Vec::new();
    for category in catalogue.categories() {
        let mut filled = Vec::new();
        let mut empty = Vec::new();
        for field in catalogue
            .fields()
            .iter()
            .filter(|f| f.category == category.id)
        {
            let value = by_path.get(field.path.as_str()).and_then(|record| {
                let lines = stored_lines(record, field, lang);
                (!lines.is_empty()).then_some((record, lines))
            });
            match value {
                Some((record, lines)) => filled.push(filled_field(field, record, lines, lang)),
                None if field.author.allows_client() => empty.push((
                    field.path.clone(),
                    words::in_lang(&field.labels, lang).to_owned(),
                )),
                None => {}
            }
        }
        let title = words::in_lang(&category.labels, lang).to_owned();
        if !filled.is_empty() {
            sections.push(Section {
                anchor: format!("c-{}", category.id.replace('_', "-")),
                title: title.clone(),
                fields: filled,
            });
        }
        if !empty.is_empty() {
            add.push(AddGroup {
                label: title,
                options: empty,
            });
        }
    }
    let mut count = FluentArgs::new();
    count.set(
        "filled",
        sections.iter().map(|s| s.fields.len()).sum::<usize>(),
    );
    let view = DataPage {
        filled: lang.text("my-data-filled", Some(&count)),
        chrome: &page.chrome,
        notice: notice(lang, query.done.as_deref(), &["saved", "cleared"]),
        sections,
        add,
    };
    render(StatusCode::OK, &view)
}

/// The stored value's lines; none when it is empty or cleared.
fn stored_lines(record: &AuthoredRecord, field: &FieldSpec, lang: Lang) -> Vec<String> {
    serde_json::from_str::<serde_json::Value>(record.record.value.get())
        .map(|value| words::value_lines(&value, Some(field), lang))
        .unwrap_or_default()
}

fn filled_field(
    field: &FieldSpec,
    record: &AuthoredRecord,
    lines: Vec<String>,
    lang: Lang,
) -> FilledField {
    let label = words::in_lang(&field.labels, lang).to_owned();
    let author = written_by(record, lang);
    let mut edit_args = FluentArgs::new();
    edit_args.set("field", label.clone());
    FilledField {
        anchor: field_anchor(&field.path),
        help: words::in_lang(&field.help, lang).to_owned(),
        badge: words::sensitivity_badge(field, lang),
        lines,
        author,
        edit: field
            .author
            .allows_client()
            .then(|| format!("/my/data/edit?field={}", field.path)),
        edit_label: lang.text("edit-field", Some(&edit_args)),
        label,
    }
}

/// Who wrote a value and when ("Kirjoitit tämän 15.1.2027"), for "my data" and the
/// export.
pub(super) fn written_by(record: &AuthoredRecord, lang: Lang) -> String {
    let mut args = FluentArgs::new();
    args.set("date", words::date(record.record.written_at, lang));
    match (&record.record.author, &record.professional) {
        (Author::Client(_), _) => lang.text("written-by-you", Some(&args)),
        (Author::Professional(_), Some(staff)) => {
            args.set("name", staff.name.clone());
            args.set("title", staff.title.clone());
            lang.text("written-by", Some(&args))
        }
        (Author::Professional(_), None) => lang.text("written-by-professional", Some(&args)),
    }
}

#[derive(Debug, Default, Deserialize)]
struct FieldQuery {
    /// (Missing is the same as no such field: the page says so.)
    #[serde(default)]
    field: String,
}

/// The control a field's value needs.
#[derive(Debug, PartialEq, Eq)]
enum Control {
    /// `<input type=…>`: text, email, tel or date.
    Input(&'static str),
    /// A longer text.
    Area,
    /// A list, one item a line.
    List,
    Choice,
}

#[derive(Template)]
#[template(path = "client/edit_field.html")]
struct EditPage<'a> {
    chrome: &'a Chrome,
    csrf: &'a str,
    path: &'a str,
    label: String,
    help: String,
    badge: Option<String>,
    control: Control,
    max_chars: Option<usize>,
    /// What the control holds: the stored value, or what was sent when it was refused.
    value: String,
    /// (code, label, selected) for a choice.
    options: Vec<(String, String, bool)>,
    error: Option<String>,
    back: String,
}

fn control_of(field: &FieldSpec) -> (Control, Option<usize>) {
    match &field.value_type {
        ValueType::Date => (Control::Input("date"), None),
        ValueType::Choice { .. } => (Control::Choice, None),
        ValueType::TextList { max_chars, .. } => (Control::List, Some(*max_chars)),
        ValueType::Text { max_chars, format } => match format {
            TextFormat::Email => (Control::Input("email"), Some(*max_chars)),
            TextFormat::Phone => (Control::Input("tel"), Some(*max_chars)),
            TextFormat::Free if *max_chars > 200 => (Control::Area, Some(*max_chars)),
            TextFormat::Free => (Control::Input("text"), Some(*max_chars)),
        },
    }
}

/// The field the client may write, or why it is not one.
fn writable<'c>(catalogue: &'c Catalogue, path: &str) -> Result<&'c FieldSpec, ApiError> {
    match catalogue.field(path) {
        Some(field) if field.author.allows_client() => Ok(field),
        Some(_) => Err(ApiError::forbidden()),
        None => Err(ApiError::bad_request("unknown_field", "no such field")),
    }
}

fn edit_page<'a>(
    page: &'a ClientPage,
    field: &'a FieldSpec,
    value: String,
    error: Option<String>,
) -> EditPage<'a> {
    let lang = page.lang();
    let (control, max_chars) = control_of(field);
    let options = match &field.value_type {
        ValueType::Choice { options } => options
            .iter()
            .map(|o| (o.clone(), words::choice(o, lang), *o == value))
            .collect(),
        _ => Vec::new(),
    };
    EditPage {
        chrome: &page.chrome,
        csrf: &page.csrf,
        path: &field.path,
        label: words::in_lang(&field.labels, lang).to_owned(),
        help: words::in_lang(&field.help, lang).to_owned(),
        badge: words::sensitivity_badge(field, lang),
        control,
        max_chars,
        value,
        options,
        error,
        back: format!("/my/data#{}", field_anchor(&field.path)),
    }
}

async fn edit_field(
    State(state): State<AppState>,
    page: ClientPage,
    PageQuery(query): PageQuery<FieldQuery>,
) -> Response {
    let catalogue = state.app().catalogue();
    let field = match writable(catalogue, &query.field) {
        Ok(field) => field,
        Err(error) => return page.problem(error, "/my/data"),
    };
    let client = page.client;
    let current = state
        .app()
        .reading(move |app| client::my_record(app, client))
        .await
        .ok()
        .and_then(|records| records.into_iter().find(|r| r.record.path == field.path))
        .and_then(|r| serde_json::from_str::<serde_json::Value>(r.record.value.get()).ok())
        .map(|value| form_text(&value))
        .unwrap_or_default();
    render(StatusCode::OK, &edit_page(&page, field, current, None))
}

/// A stored value as its control holds it (a list one item a line).
fn form_text(value: &serde_json::Value) -> String {
    match value {
        serde_json::Value::String(text) => text.clone(),
        serde_json::Value::Array(items) => items
            .iter()
            .filter_map(|item| item.as_str())
            .collect::<Vec<_>>()
            .join("\n"),
        _ => String::new(),
    }
}

#[derive(Debug, Deserialize)]
struct SaveForm {
    field: String,
    #[serde(default)]
    value: String,
}

/// What a control sent, as the field's value: empty clears the field; a list is one
/// item a line, blank lines dropped.
fn value_of(field: &FieldSpec, sent: &str) -> serde_json::Value {
    use serde_json::Value;
    match &field.value_type {
        ValueType::TextList { .. } => {
            let items: Vec<Value> = sent
                .lines()
                .map(str::trim)
                .filter(|line| !line.is_empty())
                .map(|line| Value::String(line.to_owned()))
                .collect();
            if items.is_empty() {
                Value::Null
            } else {
                Value::Array(items)
            }
        }
        _ if sent.trim().is_empty() => Value::Null,
        ValueType::Text { .. } => Value::String(sent.to_owned()),
        _ => Value::String(sent.trim().to_owned()),
    }
}

async fn save_field(State(state): State<AppState>, post: PageForm<SaveForm>) -> Response {
    let PageForm { page, form } = post;
    let catalogue = state.app().catalogue();
    let field = match writable(catalogue, &form.field) {
        Ok(field) => field,
        Err(error) => return page.problem(error, "/my/data"),
    };
    let value = value_of(field, &form.value);
    let cleared = value.is_null();
    let result = client::write_my_field(
        state.app(),
        page.client,
        field.path.clone(),
        value,
        state.now(),
    )
    .await;
    match result {
        Ok(_) => done(
            "/my/data",
            if cleared { "cleared" } else { "saved" },
            Some(&field_anchor(&field.path)),
        ),
        Err(error) => {
            let error = ApiError::from(error);
            let message = refusal_text(field, error.code, page.lang());
            let view = edit_page(&page, field, form.value, Some(message));
            render(error.status, &view)
        }
    }
}

/// Why a value was refused, in words that fit its control: a malformed e-mail address
/// or phone number is explained as such, anything else by its problem code.
fn refusal_text(field: &FieldSpec, code: &str, lang: Lang) -> String {
    let specific = match (code, control_of(field).0) {
        ("invalid_value", Control::Input("email")) => Some("invalid-email"),
        ("invalid_value", Control::Input("tel")) => Some("invalid-phone"),
        ("invalid_value", Control::Input("date")) => Some("invalid-date"),
        _ => None,
    };
    match specific {
        Some(id) => lang.text(id, None),
        None => words::problem(code, lang),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn field(value_type: ValueType) -> FieldSpec {
        serde_json::from_value(json!({
            "path": "a.b", "category": "a", "sensitivity": "basic", "author": "client",
            "type": value_type, "labels": {"fi": "a", "sv": "b", "en": "c"},
            "help": {"fi": "d", "sv": "e", "en": "f"}
        }))
        .unwrap()
    }

    #[test]
    fn what_a_control_sends_becomes_the_fields_value() {
        let list = field(ValueType::TextList {
            max_items: 5,
            max_chars: 50,
        });
        assert_eq!(
            value_of(&list, "kokki\r\n\r\n  tarjoilija \n"),
            json!(["kokki", "tarjoilija"])
        );
        assert_eq!(value_of(&list, " \n"), json!(null));
        let date = field(ValueType::Date);
        assert_eq!(value_of(&date, ""), json!(null));
        assert_eq!(value_of(&date, "2027-01-15"), json!("2027-01-15"));
        let text = field(ValueType::Text {
            max_chars: 50,
            format: TextFormat::Email,
        });
        assert_eq!(control_of(&text).0, Control::Input("email"));
        assert_eq!(value_of(&text, "  "), json!(null));
        assert_eq!(form_text(&json!(["a", "b"])), "a\nb");
    }
}
