//! Domain values as words in the person's language: field and category labels from the
//! catalogue, choice options, purposes, roles, dates, and the plain message for a
//! problem's stable code. No page shows a code, a UUID or an ISO date.

use super::i18n::{Lang, Speak};
use chrono::{DateTime, NaiveDate, Utc};
use omadata_app::Role;
use omadata_app::calendar;
use omadata_consent::{Purpose, PurposeCode};
use omadata_vault::catalogue::{Labels, ValueType};
use omadata_vault::{Catalogue, FieldSpec, Sensitivity};

/// The text of `labels` in `lang`.
pub(crate) fn in_lang(labels: &Labels, lang: Lang) -> &str {
    match lang {
        Lang::Fi => &labels.fi,
        Lang::Sv => &labels.sv,
        Lang::En => &labels.en,
    }
}

/// A field's label; a path the catalogue no longer knows is shown as a generic word,
/// never as the path.
pub(crate) fn field_label(catalogue: &Catalogue, path: &str, lang: Lang) -> String {
    catalogue.field(path).map_or_else(
        || lang.text("unknown-field", None),
        |field| in_lang(&field.labels, lang).to_owned(),
    )
}

/// The words for a sensitive field's badge ("Arkaluonteinen" or "Luottamuksellinen").
pub(crate) fn sensitivity_badge(field: &FieldSpec, lang: Lang) -> Option<String> {
    match field.sensitivity {
        Sensitivity::Special => Some(lang.text("sensitivity-special", None)),
        Sensitivity::Confidential => Some(lang.text("sensitivity-confidential", None)),
        _ => None,
    }
}

/// A choice option's label (`choice-work`, ...).
pub(crate) fn choice(option: &str, lang: Lang) -> String {
    lang.text(&format!("choice-{option}"), None)
}

/// The purpose's words, with the free text the asker wrote after it.
pub(crate) fn purpose(purpose: &Purpose, lang: Lang) -> String {
    let name = purpose_name(purpose.code, lang);
    match purpose.text.as_deref().map(str::trim) {
        Some(text) if !text.is_empty() => format!("{name}: {text}"),
        _ => name,
    }
}

/// A purpose code's name.
pub(crate) fn purpose_name(code: PurposeCode, lang: Lang) -> String {
    lang.text(&format!("purpose-{}", purpose_code(code)), None)
}

/// The wire name of a purpose code (`guidance`, ...), as forms send it.
pub(crate) fn purpose_code(code: PurposeCode) -> &'static str {
    match code {
        PurposeCode::Guidance => "guidance",
        PurposeCode::ServiceNeedAssessment => "service_need_assessment",
        PurposeCode::ServiceDecision => "service_decision",
        PurposeCode::EmployerCooperation => "employer_cooperation",
        PurposeCode::SharedPlan => "shared_plan",
    }
}

/// Every purpose code, in the order forms offer them.
pub(crate) const PURPOSES: [PurposeCode; 5] = [
    PurposeCode::Guidance,
    PurposeCode::ServiceNeedAssessment,
    PurposeCode::ServiceDecision,
    PurposeCode::EmployerCooperation,
    PurposeCode::SharedPlan,
];

/// A role's name ("asiakas", ...).
pub(crate) fn role(role: Role, lang: Lang) -> String {
    lang.text(&format!("role-{}", role.as_str()), None)
}

/// An instant as a Helsinki date ("15.1.2027").
pub(crate) fn date(at: DateTime<Utc>, lang: Lang) -> String {
    calendar::format_date(at, lang)
}

/// An instant as a Helsinki date and time ("15.1.2027 klo 9.05").
pub(crate) fn date_time(at: DateTime<Utc>, lang: Lang) -> String {
    calendar::format_date_time(at, lang)
}

/// A calendar date as people write it ("15.1.2027", "15 January 2027").
pub(crate) fn calendar_date(date: NaiveDate, lang: Lang) -> String {
    calendar::format_day(date, lang)
}

/// A stored value as words: a choice's label, a date as people write it, a list one
/// item a line. Empty means "nothing filled in".
pub(crate) fn value_lines(
    value: &serde_json::Value,
    field: Option<&FieldSpec>,
    lang: Lang,
) -> Vec<String> {
    use serde_json::Value;
    match value {
        Value::Null => Vec::new(),
        Value::Array(items) => items
            .iter()
            .flat_map(|item| value_lines(item, field, lang))
            .collect(),
        Value::String(text) if text.trim().is_empty() => Vec::new(),
        Value::String(text) => {
            let kind = field.map(|f| &f.value_type);
            vec![match kind {
                Some(ValueType::Choice { .. }) => choice(text, lang),
                Some(ValueType::Date) => NaiveDate::parse_from_str(text, "%Y-%m-%d")
                    .map_or_else(|_| text.clone(), |d| calendar_date(d, lang)),
                _ => text.clone(),
            }]
        }
        Value::Bool(_) | Value::Number(_) | Value::Object(_) => vec![value.to_string()],
    }
}

/// The plain message for a problem's stable `code` (`problem-<code>`), or a general one
/// for a code without its own words.
pub(crate) fn problem(code: &str, lang: Lang) -> String {
    let id = format!("problem-{code}");
    let text = lang.text(&id, None);
    if text == id {
        lang.text("problem-other", None)
    } else {
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_dates_and_choices_become_words() {
        let date = NaiveDate::from_ymd_opt(2027, 1, 15).unwrap();
        assert_eq!(calendar_date(date, Lang::Fi), "15.1.2027");
        assert_eq!(calendar_date(date, Lang::En), "15 January 2027");
        assert_eq!(choice("study", Lang::Fi), "opiskelu");
        assert_eq!(choice("work", Lang::Sv), "arbete");
        assert_eq!(
            problem("invalid_value", Lang::Fi),
            Lang::Fi.text("problem-invalid_value", None)
        );
        assert_eq!(
            problem("no_such_code", Lang::En),
            Lang::En.text("problem-other", None)
        );
        let purpose = Purpose {
            code: PurposeCode::Guidance,
            text: Some("kesätyö".into()),
        };
        assert_eq!(super::purpose(&purpose, Lang::Fi), "Ohjaus: kesätyö");
    }
}
