//! The assets: the staff's web app (one HTML shell and one script, whose texts come from
//! the Fluent files as JSON), the server-rendered pages' small script, two stylesheets
//! (the Suomi.fi design tokens, then the pages' own), the Suomi.fi icons and the Source
//! Sans 3 web fonts, all compiled into the binary. No inline script or style anywhere,
//! and everything comes from the gateway itself, so the Content-Security-Policy needs
//! neither `unsafe-inline` nor another origin.
//!
//! `assets/tokens.css`, `assets/icons.svg` and `assets/fonts/` are generated from npm
//! packages by `tests/browser/design-assets.mjs`; the browser tests fail when they drift
//! from it.

use crate::error::ApiError;
use crate::extract::AppPath;
use axum::http::header;
use axum::response::{Html, IntoResponse, Response};

const SHELL: &str = include_str!("../assets/app.html");
const SCRIPT: &str = include_str!("../assets/app.js");
const PAGE_SCRIPT: &str = include_str!("../assets/pages.js");
const STYLESHEET: &str = include_str!("../assets/app.css");
const TOKENS: &str = include_str!("../assets/tokens.css");
/// The Suomi.fi icons the pages use, as one SVG sprite (`<use href="…#icon-edit">`).
const ICONS: &str = include_str!("../assets/icons.svg");

/// A font file of `assets/fonts/` with its name.
macro_rules! woff2 {
    ($file:literal) => {
        ($file, include_bytes!(concat!("../assets/fonts/", $file)))
    };
}

/// The fonts `tokens.css` names, served at `/assets/fonts/{file}`: Source Sans 3 regular,
/// semibold and bold, each in the latin and latin-ext subsets.
const FONTS: [(&str, &[u8]); 6] = [
    woff2!("source-sans-3-latin-400-normal.woff2"),
    woff2!("source-sans-3-latin-ext-400-normal.woff2"),
    woff2!("source-sans-3-latin-600-normal.woff2"),
    woff2!("source-sans-3-latin-ext-600-normal.woff2"),
    woff2!("source-sans-3-latin-700-normal.woff2"),
    woff2!("source-sans-3-latin-ext-700-normal.woff2"),
];

pub(crate) async fn app_shell() -> Html<&'static str> {
    Html(SHELL)
}

pub(crate) async fn script() -> Response {
    javascript(SCRIPT)
}

/// The server-rendered pages' small enhancements (they work without it).
pub(crate) async fn page_script() -> Response {
    javascript(PAGE_SCRIPT)
}

fn javascript(text: &'static str) -> Response {
    (
        [(header::CONTENT_TYPE, "text/javascript; charset=utf-8")],
        text,
    )
        .into_response()
}

pub(crate) async fn stylesheet() -> Response {
    css(STYLESHEET)
}

pub(crate) async fn tokens() -> Response {
    css(TOKENS)
}

/// The staff web app's texts in one language (`fi.json`, `sv.json`, `en.json`), from the
/// Fluent files.
pub(crate) async fn messages(AppPath(file): AppPath<String>) -> Response {
    use crate::web::i18n::{Lang, script_messages};
    let lang = file
        .strip_suffix(".json")
        .and_then(|code| Lang::ALL.into_iter().find(|lang| lang.code() == code));
    match lang {
        Some(lang) => (
            [(header::CONTENT_TYPE, "application/json")],
            script_messages(lang),
        )
            .into_response(),
        None => ApiError::not_found().into_response(),
    }
}

pub(crate) async fn icons() -> Response {
    ([(header::CONTENT_TYPE, "image/svg+xml")], ICONS).into_response()
}

fn css(text: &'static str) -> Response {
    ([(header::CONTENT_TYPE, "text/css; charset=utf-8")], text).into_response()
}

pub(crate) async fn font(AppPath(file): AppPath<String>) -> Response {
    match FONTS.iter().find(|(name, _)| *name == file) {
        Some((_, bytes)) => ([(header::CONTENT_TYPE, "font/woff2")], *bytes).into_response(),
        None => ApiError::not_found().into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every font file the stylesheet asks for is one the gateway serves, and every font in
    /// the assets directory is served (a weight added by the generator is not forgotten).
    #[test]
    fn the_fonts_served_are_the_fonts_the_tokens_name_and_the_fonts_committed() {
        let served: Vec<&str> = FONTS.iter().map(|(name, _)| *name).collect();
        let named: Vec<&str> = TOKENS
            .split("url(/assets/fonts/")
            .skip(1)
            .filter_map(|rest| rest.split(')').next())
            .collect();
        assert_eq!(named.len(), FONTS.len(), "{named:?}");
        for file in &named {
            assert!(
                served.contains(file),
                "{file} is named in tokens.css but not served"
            );
        }
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/assets/fonts");
        let mut committed: Vec<String> = std::fs::read_dir(dir)
            .expect("the fonts directory")
            .map(|entry| {
                entry
                    .expect("an entry")
                    .file_name()
                    .to_string_lossy()
                    .into_owned()
            })
            .filter(|name| name.ends_with(".woff2"))
            .collect();
        committed.sort();
        let mut served: Vec<String> = served.iter().map(|name| name.to_string()).collect();
        served.sort();
        assert_eq!(committed, served);
    }

    /// A font is served as woff2 under its own name only; any other name is the usual 404
    /// problem, so the route reads no file the table does not list.
    #[tokio::test]
    async fn a_font_is_served_by_its_name_and_nothing_else_is() {
        let regular = font(AppPath("source-sans-3-latin-400-normal.woff2".to_owned())).await;
        assert_eq!(regular.status(), axum::http::StatusCode::OK);
        assert_eq!(regular.headers()[header::CONTENT_TYPE], "font/woff2");
        for other in [
            "OFL.txt",
            "../app.css",
            "source-sans-3-latin-300-normal.woff2",
        ] {
            let response = font(AppPath(other.to_owned())).await;
            assert_eq!(
                response.status(),
                axum::http::StatusCode::NOT_FOUND,
                "{other}"
            );
        }
    }
}
