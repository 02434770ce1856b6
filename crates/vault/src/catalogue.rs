//! The field catalogue: every field a record may hold, from `specs/fields.json`.
//!
//! A write names a field by its dotted path; the catalogue says whether the path exists,
//! what type and size its value may have, who may author it, and how sensitive it is.
//! Each field also carries its label and a one-line plain-language explanation (`help`)
//! in Finnish, Swedish and English, for the person whose data it is.

use crate::error::VaultError;
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};

/// The catalogue shipped with OmaData.
pub const BUILTIN_JSON: &str = include_str!("../../../specs/fields.json");

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum Sensitivity {
    /// Ordinary personal data.
    Basic,
    /// Confidential client data (Publicity Act §24): social welfare, employment services.
    Confidential,
    /// GDPR Art. 9 special category: health, work capacity, substance use.
    Special,
}

/// Who may author a field's value.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum Authors {
    Client,
    Professional,
    Both,
}

impl Authors {
    pub fn allows_client(self) -> bool {
        matches!(self, Authors::Client | Authors::Both)
    }
    pub fn allows_professional(self) -> bool {
        matches!(self, Authors::Professional | Authors::Both)
    }
}

/// One text in each language the pages speak.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Labels {
    pub fi: String,
    pub sv: String,
    pub en: String,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum TextFormat {
    #[default]
    Free,
    Email,
    Phone,
}

/// The shape and size limit of a field's value. `null` is accepted by every type and
/// means the field was cleared.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum ValueType {
    /// A string of at most `max_chars` characters.
    Text {
        max_chars: usize,
        #[serde(default)]
        format: TextFormat,
    },
    /// A calendar date, `YYYY-MM-DD`.
    Date,
    /// A list of one-line strings.
    TextList { max_items: usize, max_chars: usize },
    /// One of a closed list of codes.
    Choice { options: Vec<String> },
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Category {
    pub id: String,
    pub labels: Labels,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FieldSpec {
    pub path: String,
    pub category: String,
    pub sensitivity: Sensitivity,
    pub author: Authors,
    #[serde(rename = "type")]
    pub value_type: ValueType,
    pub labels: Labels,
    /// What the field is, in one plain line (at most [`MAX_HELP_CHARS`] characters).
    pub help: Labels,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CatalogueFile {
    version: u32,
    categories: Vec<Category>,
    fields: Vec<FieldSpec>,
}

impl Labels {
    /// The Finnish, Swedish and English texts.
    pub fn all(&self) -> impl Iterator<Item = &str> {
        [&self.fi, &self.sv, &self.en]
            .into_iter()
            .map(String::as_str)
    }
}

/// The checked, indexed field catalogue.
#[derive(Clone, Debug)]
pub struct Catalogue {
    version: u32,
    categories: Vec<Category>,
    fields: Vec<FieldSpec>,
    by_path: BTreeMap<String, usize>,
}

/// The longest value accepted in any field, whatever the catalogue says: a guard
/// against a catalogue typo letting megabytes into one record.
pub const MAX_FIELD_CHARS: usize = 64 * 1024;

/// The longest explanation of a field: one line on a phone screen.
pub const MAX_HELP_CHARS: usize = 120;

impl Catalogue {
    /// The catalogue in `specs/fields.json`, compiled in.
    pub fn builtin() -> Result<Self, VaultError> {
        Self::from_json(BUILTIN_JSON)
    }

    /// Parses and checks a catalogue document.
    pub fn from_json(json: &str) -> Result<Self, VaultError> {
        let bad = |reason: String| VaultError::InvalidValue {
            path: "<catalogue>".into(),
            reason,
        };
        let file: CatalogueFile =
            serde_json::from_str(json).map_err(|e| bad(format!("not a catalogue: {e}")))?;
        let category_ids: BTreeSet<&str> = file.categories.iter().map(|c| c.id.as_str()).collect();
        if category_ids.len() != file.categories.len() {
            return Err(bad("duplicate category id".into()));
        }
        let mut by_path = BTreeMap::new();
        for (index, field) in file.fields.iter().enumerate() {
            if !is_valid_path(&field.path) {
                return Err(bad(format!("malformed path `{}`", field.path)));
            }
            if !category_ids.contains(field.category.as_str()) {
                return Err(bad(format!(
                    "`{}` names unknown category `{}`",
                    field.path, field.category
                )));
            }
            if field.labels.all().any(|l| l.trim().is_empty()) {
                return Err(bad(format!("`{}` lacks a label", field.path)));
            }
            if field.help.all().any(|h| h.trim().is_empty()) {
                return Err(bad(format!("`{}` lacks an explanation", field.path)));
            }
            if field
                .help
                .all()
                .any(|h| h.chars().count() > MAX_HELP_CHARS || h.contains('\n'))
            {
                return Err(bad(format!(
                    "`{}` has an explanation longer than one line of {MAX_HELP_CHARS} characters",
                    field.path
                )));
            }
            let limits_ok = match &field.value_type {
                ValueType::Text { max_chars, .. } => (1..=MAX_FIELD_CHARS).contains(max_chars),
                ValueType::Date => true,
                ValueType::TextList {
                    max_items,
                    max_chars,
                } => {
                    *max_items >= 1
                        && *max_chars >= 1
                        && max_items.saturating_mul(*max_chars) <= MAX_FIELD_CHARS
                }
                ValueType::Choice { options } => !options.is_empty(),
            };
            if !limits_ok {
                return Err(bad(format!("`{}` has unusable limits", field.path)));
            }
            if by_path.insert(field.path.clone(), index).is_some() {
                return Err(bad(format!("duplicate path `{}`", field.path)));
            }
        }
        Ok(Self {
            version: file.version,
            categories: file.categories,
            fields: file.fields,
            by_path,
        })
    }

    pub fn version(&self) -> u32 {
        self.version
    }

    pub fn categories(&self) -> &[Category] {
        &self.categories
    }

    pub fn fields(&self) -> &[FieldSpec] {
        &self.fields
    }

    pub fn field(&self, path: &str) -> Option<&FieldSpec> {
        self.by_path.get(path).and_then(|&i| self.fields.get(i))
    }

    /// The fields of one category, in catalogue order.
    pub fn fields_in_category<'a>(
        &'a self,
        category: &'a str,
    ) -> impl Iterator<Item = &'a FieldSpec> + 'a {
        self.fields.iter().filter(move |f| f.category == category)
    }

    /// Checks that `value` fits the field at `path`.
    pub fn validate(&self, path: &str, value: &Value) -> Result<&FieldSpec, VaultError> {
        let field = self.field(path).ok_or_else(|| VaultError::UnknownField {
            path: path.to_owned(),
        })?;
        check_value(&field.value_type, value).map_err(|reason| VaultError::InvalidValue {
            path: path.to_owned(),
            reason,
        })?;
        Ok(field)
    }
}

/// Lower-case segments of `[a-z0-9_]`, at least two, joined by dots.
fn is_valid_path(path: &str) -> bool {
    let segments: Vec<&str> = path.split('.').collect();
    segments.len() >= 2
        && segments.iter().all(|s| {
            !s.is_empty()
                && s.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        })
}

fn check_value(value_type: &ValueType, value: &Value) -> Result<(), String> {
    if value.is_null() {
        return Ok(());
    }
    match value_type {
        ValueType::Text { max_chars, format } => {
            let text = value.as_str().ok_or("expected a string")?;
            check_text(text, *max_chars, true)?;
            match format {
                TextFormat::Free => Ok(()),
                TextFormat::Email => check_email(text),
                TextFormat::Phone => check_phone(text),
            }
        }
        ValueType::Date => {
            let text = value.as_str().ok_or("expected a date string YYYY-MM-DD")?;
            if text.len() != 10 || NaiveDate::parse_from_str(text, "%Y-%m-%d").is_err() {
                return Err("expected a date YYYY-MM-DD".into());
            }
            Ok(())
        }
        ValueType::TextList {
            max_items,
            max_chars,
        } => {
            let items = value.as_array().ok_or("expected a list of strings")?;
            if items.len() > *max_items {
                return Err(format!("at most {max_items} items, got {}", items.len()));
            }
            for item in items {
                let text = item.as_str().ok_or("expected a list of strings")?;
                check_text(text, *max_chars, false)?;
            }
            Ok(())
        }
        ValueType::Choice { options } => {
            let code = value.as_str().ok_or("expected a string code")?;
            if options.iter().any(|o| o == code) {
                Ok(())
            } else {
                Err(format!("expected one of: {}", options.join(", ")))
            }
        }
    }
}

fn check_text(text: &str, max_chars: usize, multiline: bool) -> Result<(), String> {
    let chars = text.chars().count();
    if chars > max_chars {
        return Err(format!("at most {max_chars} characters, got {chars}"));
    }
    let allowed_control = |c: char| multiline && (c == '\n' || c == '\t' || c == '\r');
    if text.chars().any(|c| c.is_control() && !allowed_control(c)) {
        return Err("contains control characters".into());
    }
    Ok(())
}

fn check_email(text: &str) -> Result<(), String> {
    let invalid = || "expected an email address like name@example.fi".to_string();
    if text.is_empty() {
        return Ok(());
    }
    let (local, domain) = text.split_once('@').ok_or_else(invalid)?;
    let plausible = !local.is_empty()
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !domain.contains('@')
        && !text.chars().any(char::is_whitespace);
    if plausible { Ok(()) } else { Err(invalid()) }
}

fn check_phone(text: &str) -> Result<(), String> {
    if text.is_empty() {
        return Ok(());
    }
    let digits = text.chars().filter(char::is_ascii_digit).count();
    let allowed = text.chars().enumerate().all(|(i, c)| {
        c.is_ascii_digit() || matches!(c, ' ' | '-' | '(' | ')') || (c == '+' && i == 0)
    });
    if allowed && (5..=20).contains(&digits) {
        Ok(())
    } else {
        Err("expected a phone number like +358 40 123 4567".into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn builtin_catalogue_loads_and_covers_every_category() {
        let catalogue = Catalogue::builtin().unwrap();
        assert!(catalogue.fields().len() >= 30);
        for category in catalogue.categories() {
            assert!(
                catalogue.fields_in_category(&category.id).count() > 0,
                "category {} has no fields",
                category.id
            );
        }
        let health = catalogue.field("health.status").unwrap();
        assert_eq!(health.sensitivity, Sensitivity::Special);
        let social = catalogue.field("social_welfare.decisions").unwrap();
        assert_eq!(social.sensitivity, Sensitivity::Confidential);
        assert_eq!(
            catalogue.field("needs.own_goals").unwrap().author,
            Authors::Client
        );
    }

    #[test]
    fn unknown_paths_are_refused() {
        let catalogue = Catalogue::builtin().unwrap();
        for path in [
            "identity",
            "identity.nam",
            "",
            "identity.name.x",
            "IDENTITY.NAME",
        ] {
            assert!(matches!(
                catalogue.validate(path, &json!("x")),
                Err(VaultError::UnknownField { .. })
            ));
        }
    }

    #[test]
    fn values_are_checked_against_type_and_limits() {
        let c = Catalogue::builtin().unwrap();
        assert!(c.validate("identity.name", &json!("Aino Virtanen")).is_ok());
        assert!(c.validate("identity.name", &json!(null)).is_ok());
        assert!(c.validate("identity.name", &json!(42)).is_err());
        assert!(
            c.validate("identity.name", &json!("a".repeat(201)))
                .is_err()
        );
        assert!(c.validate("identity.name", &json!("ä".repeat(200))).is_ok());
        assert!(c.validate("identity.name", &json!("bell\u{7}")).is_err());
        assert!(
            c.validate("identity.email", &json!("aino@example.fi"))
                .is_ok()
        );
        assert!(
            c.validate("identity.email", &json!("aino at example"))
                .is_err()
        );
        assert!(
            c.validate("identity.phone", &json!("+358 40 123 4567"))
                .is_ok()
        );
        assert!(c.validate("identity.phone", &json!("call me")).is_err());
        assert!(
            c.validate("plan.next_meeting", &json!("2026-12-01"))
                .is_ok()
        );
        assert!(
            c.validate("plan.next_meeting", &json!("2026-02-30"))
                .is_err()
        );
        assert!(c.validate("plan.next_meeting", &json!("2026-2-3")).is_err());
        assert!(
            c.validate("identity.languages", &json!(["suomi", "svenska"]))
                .is_ok()
        );
        assert!(
            c.validate("identity.languages", &json!(["suomi", 3]))
                .is_err()
        );
        assert!(
            c.validate("identity.languages", &json!(vec!["x"; 11]))
                .is_err()
        );
        assert!(
            c.validate("identity.languages", &json!(["two\nlines"]))
                .is_err()
        );
        assert!(
            c.validate("encounters.service_end_reason", &json!("study"))
                .is_ok()
        );
        assert!(
            c.validate("encounters.service_end_reason", &json!("prison"))
                .is_err()
        );
    }

    #[test]
    fn malformed_catalogues_are_refused() {
        let field = |path: &str, cat: &str| {
            format!(
                r#"{{"path":"{path}","category":"{cat}","sensitivity":"basic","author":"client","type":{{"kind":"date"}},"labels":{{"fi":"a","sv":"b","en":"c"}},"help":{{"fi":"d","sv":"e","en":"f"}}}}"#
            )
        };
        let doc = |fields: Vec<String>| {
            format!(
                r#"{{"version":1,"categories":[{{"id":"a","labels":{{"fi":"a","sv":"b","en":"c"}}}}],"fields":[{}]}}"#,
                fields.join(",")
            )
        };
        assert!(Catalogue::from_json(&doc(vec![field("a.x", "a")])).is_ok());
        assert!(Catalogue::from_json(&doc(vec![field("a.x", "a"), field("a.x", "a")])).is_err());
        assert!(Catalogue::from_json(&doc(vec![field("a.x", "b")])).is_err());
        assert!(Catalogue::from_json(&doc(vec![field("ax", "a")])).is_err());
        assert!(Catalogue::from_json(&doc(vec![field("a..x", "a")])).is_err());
        assert!(Catalogue::from_json("{}").is_err());
    }

    #[test]
    fn every_field_needs_a_short_explanation_in_each_language() {
        let with_help = |help: Value| {
            let mut field = json!({
                "path": "a.x", "category": "a", "sensitivity": "basic", "author": "client",
                "type": {"kind": "date"}, "labels": {"fi": "a", "sv": "b", "en": "c"},
            });
            if !help.is_null() {
                field["help"] = help;
            }
            let doc = json!({
                "version": 1,
                "categories": [{"id": "a", "labels": {"fi": "a", "sv": "b", "en": "c"}}],
                "fields": [field],
            });
            Catalogue::from_json(&doc.to_string())
        };
        let longest = "x".repeat(MAX_HELP_CHARS);
        let loaded = with_help(json!({"fi": "Velat?", "sv": "Skulder?", "en": longest})).unwrap();
        assert_eq!(loaded.field("a.x").unwrap().help.fi, "Velat?");
        assert!(with_help(json!({"fi": "ä".repeat(MAX_HELP_CHARS), "sv": "b", "en": "c"})).is_ok());
        for refused in [
            Value::Null,
            json!({"fi": "a", "sv": "b"}),
            json!({"fi": "a", "sv": " ", "en": "c"}),
            json!({"fi": "a", "sv": "b", "en": ""}),
            json!({"fi": "a", "sv": "b", "en": "c", "de": "d"}),
            json!({"fi": "a", "sv": "b", "en": "x".repeat(MAX_HELP_CHARS + 1)}),
            json!({"fi": "two\nlines", "sv": "b", "en": "c"}),
        ] {
            assert!(with_help(refused.clone()).is_err(), "{refused}");
        }
    }

    #[test]
    fn builtin_fields_are_explained_in_plain_words() {
        let catalogue = Catalogue::builtin().unwrap();
        let debts = &catalogue.field("situation.debts").unwrap().help;
        assert_eq!(debts.fi, "Onko sinulla maksamattomia laskuja tai lainoja?");
        assert_eq!(debts.sv, "Har du obetalda räkningar eller lån?");
        assert_eq!(debts.en, "Do you have unpaid bills or loans?");
        for field in catalogue.fields() {
            assert!(
                !field.help.all().any(|h| h.to_lowercase().contains("must")),
                "{}: no orders",
                field.path
            );
        }
    }
}
