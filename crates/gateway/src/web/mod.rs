//! The server-rendered pages' foundation: the person's language ([`i18n`]), the frame
//! every page shares ([`Chrome`]: the service name, the language menu), the pages built
//! on it, and the route that remembers a chosen language. Templates live in
//! `templates/` and are checked at compile time (askama).

pub(crate) mod i18n;

use crate::error::ApiError;
use askama::Template;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use i18n::{LANGUAGE_COOKIE, Lang, Speak, language_of};
use serde::Deserialize;

/// What the frame of every page shows, in the person's language.
#[derive(Debug)]
pub(crate) struct Chrome {
    pub(crate) lang: Lang,
    /// Where the language menu returns to (a path on this site).
    back: String,
}

/// One entry of the language menu.
#[derive(Debug)]
pub(crate) struct LanguageChoice {
    pub(crate) lang: Lang,
    pub(crate) href: String,
    pub(crate) current: bool,
}

impl Chrome {
    pub(crate) fn new(headers: &HeaderMap, back: &str) -> Self {
        Self {
            lang: language_of(headers),
            back: local_path(back).unwrap_or("/").to_owned(),
        }
    }

    pub(crate) fn text(&self, id: &str) -> String {
        self.lang.text(id, None)
    }

    pub(crate) fn language_menu(&self) -> Vec<LanguageChoice> {
        Lang::ALL
            .iter()
            .map(|&lang| LanguageChoice {
                lang,
                href: format!("/language?to={}&back={}", lang.code(), encode(&self.back)),
                current: lang == self.lang,
            })
            .collect()
    }
}

/// A page that says why signing in did not go through.
#[derive(Template)]
#[template(path = "refusal.html")]
struct RefusalPage<'a> {
    chrome: &'a Chrome,
    title: String,
    text: String,
}

/// The refusal page for `message` (a Fluent id whose value is the title and whose `text`
/// attribute says what to do), in the person's language.
pub(crate) fn refusal(headers: &HeaderMap, status: StatusCode, message: &str) -> Response {
    let chrome = Chrome::new(headers, "/");
    let page = RefusalPage {
        chrome: &chrome,
        title: chrome.text(message),
        text: chrome.text(&format!("{message}.text")),
    };
    render(status, &page)
}

fn render(status: StatusCode, page: &impl Template) -> Response {
    match page.render() {
        Ok(html) => (status, Html(html)).into_response(),
        Err(error) => {
            tracing::error!(%error, "a page did not render");
            ApiError::internal().into_response()
        }
    }
}

#[derive(Debug, Deserialize)]
pub(crate) struct LanguageQuery {
    to: String,
    back: Option<String>,
}

/// Remembers the language chosen from the menu for a year and returns to the page.
pub(crate) async fn choose_language(
    crate::extract::AppQuery(query): crate::extract::AppQuery<LanguageQuery>,
) -> Response {
    let Some(lang) = Lang::parse(&query.to) else {
        return ApiError::bad_request("unknown_language", "the language must be fi, sv or en")
            .into_response();
    };
    let back = query.back.as_deref().and_then(local_path).unwrap_or("/");
    let mut response = (StatusCode::SEE_OTHER, [(header::LOCATION, back)]).into_response();
    let cookie = format!(
        "{LANGUAGE_COOKIE}={}; Path=/; Max-Age=31536000; SameSite=Lax",
        lang.code()
    );
    if let Ok(value) = HeaderValue::from_str(&cookie) {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
    response
}

/// `path` if it is a path on this site (no scheme, no other host, nothing odd), so the
/// language menu cannot send anyone elsewhere.
fn local_path(path: &str) -> Option<&str> {
    let plain = path.len() <= 512
        && path.starts_with('/')
        && !path.starts_with("//")
        && path.bytes().all(|b| b.is_ascii_graphic() && b != b'\\');
    plain.then_some(path)
}

/// Percent-encodes a path for a query value.
fn encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' | b'/' => {
                (b as char).to_string()
            }
            other => format!("%{other:02X}"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_language_menu_returns_only_to_this_site() {
        assert_eq!(local_path("/app#/data"), Some("/app#/data"));
        for elsewhere in ["https://evil.example", "//evil.example", "/\\evil", "x", ""] {
            assert_eq!(local_path(elsewhere), None, "{elsewhere}");
        }
        let chrome = Chrome::new(&HeaderMap::new(), "/app?x=1&y=2");
        let menu = chrome.language_menu();
        assert_eq!(menu.len(), 3);
        assert!(menu[0].current && !menu[1].current);
        assert_eq!(menu[1].href, "/language?to=sv&back=/app%3Fx%3D1%26y%3D2");
    }
}
