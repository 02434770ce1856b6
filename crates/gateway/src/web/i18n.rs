//! The person's language and the texts in it: Fluent message files for Finnish, Swedish
//! and English, compiled into the binary (`locales/{fi,sv,en}/*.ftl`, one file a group of pages).

use axum::http::{HeaderMap, header};
use fluent_bundle::concurrent::FluentBundle;
use fluent_bundle::{FluentArgs, FluentResource};
use std::sync::LazyLock;

/// The cookie that remembers a language chosen from the menu (a preference, not a
/// secret: the web app's script reads it too).
pub(crate) const LANGUAGE_COOKIE: &str = "lang";

pub(crate) use omadata_app::calendar::Language as Lang;

/// What the pages need of a language beyond its code: its name in the menu, and the
/// texts in it.
pub(crate) trait Speak: Sized {
    fn menu_name(self) -> &'static str;
    fn text(self, id: &str, args: Option<&FluentArgs<'_>>) -> String;
}

/// The language to answer in: the one chosen from the menu (remembered in a cookie),
/// else the first the browser asks for that the pages speak, else Finnish.
pub(crate) fn language_of(headers: &HeaderMap) -> Lang {
    if let Some(chosen) = crate::extract::cookie(headers, LANGUAGE_COOKIE).and_then(Lang::parse) {
        return chosen;
    }
    headers
        .get(header::ACCEPT_LANGUAGE)
        .and_then(|v| v.to_str().ok())
        .and_then(|accepted| {
            accept_language::parse(accepted)
                .iter()
                .find_map(|tag| Lang::parse(tag))
        })
        .unwrap_or(Lang::Fi)
}

impl Speak for Lang {
    /// The language's name in itself, as the language menu shows it.
    fn menu_name(self) -> &'static str {
        match self {
            Lang::Fi => "Suomeksi",
            Lang::Sv => "På svenska",
            Lang::En => "In English",
        }
    }

    /// The message `id` in this language (`id.attribute` for an attribute), with `args`.
    /// A missing message shows its id (a test makes sure none is missing).
    fn text(self, id: &str, args: Option<&FluentArgs<'_>>) -> String {
        let Ok(bundles) = &*BUNDLES else {
            return id.to_owned();
        };
        let Some(bundle) = SOURCES
            .iter()
            .position(|(lang, _)| *lang == self)
            .and_then(|i| bundles.get(i))
        else {
            return id.to_owned();
        };
        let (message, attribute) = match id.split_once('.') {
            Some((message, attribute)) => (message, Some(attribute)),
            None => (id, None),
        };
        let pattern = bundle.get_message(message).and_then(|m| match attribute {
            Some(attribute) => m.get_attribute(attribute).map(|a| a.value()),
            None => m.value(),
        });
        let Some(pattern) = pattern else {
            tracing::warn!(id, lang = self.code(), "message missing");
            return id.to_owned();
        };
        let mut errors = Vec::new();
        let text = bundle
            .format_pattern(pattern, args, &mut errors)
            .into_owned();
        if !errors.is_empty() {
            tracing::warn!(id, lang = self.code(), ?errors, "message did not format");
        }
        text
    }
}

/// The message files of one language: one file a group of pages, so that work on one
/// group of pages touches only its own file.
macro_rules! messages {
    ($lang:literal) => {
        [
            include_str!(concat!("../../locales/", $lang, "/common.ftl")),
            include_str!(concat!("../../locales/", $lang, "/data.ftl")),
            include_str!(concat!("../../locales/", $lang, "/requests.ftl")),
            include_str!(concat!("../../locales/", $lang, "/grants.ftl")),
            include_str!(concat!("../../locales/", $lang, "/history.ftl")),
            include_str!(concat!("../../locales/", $lang, "/account.ftl")),
            include_str!(concat!("../../locales/", $lang, "/staff.ftl")),
        ]
    };
}

/// How many message files each language has.
const FILES: usize = 7;

/// Where in each language's files the staff's web app's texts are (the last file).
const STAFF_FILE: usize = FILES - 1;

/// The staff's web app's texts in `lang`, as JSON: every message of `staff.ftl` (ids
/// `app-<key>`, served as `<key>`), formatted with each variable left as `{name}` for the
/// script to fill in. Made once a language.
pub(crate) fn script_messages(lang: Lang) -> &'static str {
    static MESSAGES: LazyLock<Vec<String>> = LazyLock::new(|| {
        SOURCES
            .iter()
            .map(|(lang, sources)| {
                let source = sources[STAFF_FILE];
                let mut args = FluentArgs::new();
                for name in variables(source) {
                    args.set(name.clone(), format!("{{{name}}}"));
                }
                let texts: std::collections::BTreeMap<String, String> = message_ids(source)
                    .into_iter()
                    .filter_map(|id| {
                        let key = id.strip_prefix("app-")?.to_owned();
                        Some((key, lang.text(&id, Some(&args))))
                    })
                    .collect();
                serde_json::to_string(&texts).unwrap_or_else(|_| "{}".to_owned())
            })
            .collect()
    });
    let index = Lang::ALL.iter().position(|l| *l == lang).unwrap_or(0);
    MESSAGES.get(index).map_or("{}", String::as_str)
}

/// The ids of the messages a Fluent source defines (`id = …` at the start of a line).
fn message_ids(source: &str) -> Vec<String> {
    source
        .lines()
        .filter(|line| !line.starts_with([' ', '#', '.']))
        .filter_map(|line| line.split_once(" ="))
        .map(|(id, _)| id.trim().to_owned())
        .filter(|id| !id.is_empty())
        .collect()
}

/// The variables (`$name`) a Fluent source uses.
fn variables(source: &str) -> std::collections::BTreeSet<String> {
    source
        .split('$')
        .skip(1)
        .map(|rest| {
            rest.chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == '-')
                .collect::<String>()
        })
        .filter(|name| !name.is_empty())
        .collect()
}

const SOURCES: [(Lang, [&str; FILES]); 3] = [
    (Lang::Fi, messages!("fi")),
    (Lang::Sv, messages!("sv")),
    (Lang::En, messages!("en")),
];

/// One bundle a language, in the order of `SOURCES`.
type Bundles = Vec<FluentBundle<FluentResource>>;

static BUNDLES: LazyLock<Result<Bundles, String>> = LazyLock::new(load);

fn load() -> Result<Bundles, String> {
    SOURCES
        .iter()
        .map(|(lang, sources)| {
            let id = lang
                .code()
                .parse()
                .map_err(|e| format!("{}: {e}", lang.code()))?;
            let mut bundle = FluentBundle::new_concurrent(vec![id]);
            // Isolation marks would show as stray characters in some screen readers.
            bundle.set_use_isolating(false);
            for (file, source) in sources.iter().enumerate() {
                let resource = FluentResource::try_new((*source).to_owned())
                    .map_err(|(_, errors)| format!("{} file {file}: {errors:?}", lang.code()))?;
                // A message defined twice is an error too (`add_resource` refuses it).
                bundle
                    .add_resource(resource)
                    .map_err(|errors| format!("{} file {file}: {errors:?}", lang.code()))?;
            }
            Ok(bundle)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;
    use std::collections::BTreeSet;

    /// Every message and attribute id of a language's file (`id = …` at the start of a
    /// line, `.attribute = …` indented under it).
    fn ids(source: &str) -> BTreeSet<String> {
        let mut ids = BTreeSet::new();
        let mut message = String::new();
        for line in source.lines() {
            let Some((name, _)) = line.split_once(" =") else {
                continue;
            };
            if let Some(attribute) = name.trim_start().strip_prefix('.') {
                ids.insert(format!("{message}.{attribute}"));
            } else if !line.starts_with([' ', '#']) {
                message = name.to_owned();
                ids.insert(message.clone());
            }
        }
        ids
    }

    #[test]
    fn every_language_has_every_message_and_they_load() {
        assert!(BUNDLES.is_ok(), "{:?}", BUNDLES.as_ref().err());
        let finnish: BTreeSet<String> = SOURCES[0].1.iter().flat_map(|s| ids(s)).collect();
        assert!(finnish.len() > 10);
        for (lang, sources) in &SOURCES[1..] {
            for (file, source) in sources.iter().enumerate() {
                assert_eq!(
                    ids(source),
                    ids(SOURCES[0].1[file]),
                    "{} file {file} differs from fi",
                    lang.code()
                );
            }
        }
        for lang in Lang::ALL {
            for id in &finnish {
                let text = lang.text(id, None);
                assert!(!text.is_empty() && text != *id, "{id} in {}", lang.code());
            }
        }
    }

    #[test]
    fn the_web_apps_texts_keep_their_variables_for_the_script() {
        let finnish: serde_json::Value = serde_json::from_str(script_messages(Lang::Fi)).unwrap();
        let texts = finnish.as_object().unwrap();
        assert!(texts.len() > 50, "{}", texts.len());
        assert_eq!(texts["navClients"], "Asiakkaat");
        assert_eq!(texts["signedInAs"], "Kirjautuneena: {name}, {role}");
        let swedish: serde_json::Value = serde_json::from_str(script_messages(Lang::Sv)).unwrap();
        assert_eq!(swedish["navClients"], "Klienter");
    }

    #[test]
    fn arguments_are_filled_in() {
        let mut args = FluentArgs::new();
        args.set("name", "Aino");
        args.set("role", "asiakas");
        assert_eq!(
            Lang::Fi.text("signed-in-as", Some(&args)),
            "Kirjautunut: Aino (asiakas)"
        );
    }

    fn headers(pairs: &[(header::HeaderName, &str)]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for (name, value) in pairs {
            headers.append(name.clone(), HeaderValue::from_str(value).unwrap());
        }
        headers
    }

    #[test]
    fn counts_take_the_plural_each_language_needs() {
        let count = |lang: Lang, n: usize| {
            let mut args = FluentArgs::new();
            args.set("filled", n);
            lang.text("my-data-filled", Some(&args))
        };
        assert_eq!(count(Lang::Fi, 1), "Olet lisännyt yhden tiedon.");
        assert_eq!(count(Lang::Fi, 5), "Olet lisännyt 5 tietoa.");
        assert!(count(Lang::Fi, 0).starts_with("Et ole vielä"));
        assert_eq!(count(Lang::Sv, 1), "Du har lagt till en uppgift.");
        assert_eq!(count(Lang::En, 2), "You have added 2 items.");
    }

    #[test]
    fn the_chosen_language_wins_then_the_browsers_then_finnish() {
        assert_eq!(language_of(&headers(&[])), Lang::Fi);
        let swedish_browser = (header::ACCEPT_LANGUAGE, "sv-FI,sv;q=0.9,en;q=0.5");
        assert_eq!(
            language_of(&headers(std::slice::from_ref(&swedish_browser))),
            Lang::Sv
        );
        let british = (header::ACCEPT_LANGUAGE, "de-DE, en-GB;q=0.8");
        assert_eq!(language_of(&headers(&[british])), Lang::En);
        let unknown = (header::ACCEPT_LANGUAGE, "de, fr;q=0.5");
        assert_eq!(language_of(&headers(&[unknown])), Lang::Fi);
        let chosen = (header::COOKIE, "other=1; lang=en");
        assert_eq!(language_of(&headers(&[swedish_browser, chosen])), Lang::En);
        let nonsense = (header::COOKIE, "lang=xx");
        assert_eq!(language_of(&headers(&[nonsense])), Lang::Fi);
    }
}
