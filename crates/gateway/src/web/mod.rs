//! The server-rendered pages: the person's language ([`i18n`]), domain values as words
//! ([`words`]), the frame every page shares ([`Chrome`]: the service name, the language
//! menu, and for a signed-in person their name, role, menu and sign-out), the client's
//! pages ([`client`]), the sign-in refusal pages, and the routes that remember a chosen
//! language and sign out from a page. Templates live in `templates/` and are checked at
//! compile time (askama).

mod client;
pub(crate) mod i18n;
pub(crate) mod words;

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
    /// Who is signed in, when someone is: only then are the menu and sign-out shown.
    pub(crate) signed_in: Option<SignedIn>,
}

/// The signed-in person as the frame shows them.
#[derive(Debug)]
pub(crate) struct SignedIn {
    /// "Kirjautunut: Aino (asiakas)": on a shared computer it must be plain who it is.
    pub(crate) who: String,
    /// For the sign-out form.
    pub(crate) csrf: String,
    pub(crate) menu: Vec<MenuItem>,
}

/// One entry of a signed-in person's menu.
#[derive(Debug)]
pub(crate) struct MenuItem {
    pub(crate) href: String,
    pub(crate) label: String,
    pub(crate) current: bool,
}

impl SignedIn {
    /// `menu`: (path, label, whether it is the current page).
    pub(crate) fn new(
        lang: Lang,
        name: &str,
        role: omadata_app::Role,
        csrf: &str,
        menu: Vec<(String, String, bool)>,
    ) -> Self {
        let mut args = fluent_bundle::FluentArgs::new();
        args.set("name", name.to_owned());
        args.set("role", words::role(role, lang));
        Self {
            who: lang.text("signed-in-as", Some(&args)),
            csrf: csrf.to_owned(),
            menu: menu
                .into_iter()
                .map(|(href, label, current)| MenuItem {
                    href,
                    label,
                    current,
                })
                .collect(),
        }
    }
}

/// A short message at the top of a page after a change went through.
#[derive(Debug)]
pub(crate) struct Notice {
    pub(crate) text: String,
}

/// The icons of `assets/icons.svg`, ready to place.
macro_rules! icons {
    ($($name:literal),* $(,)?) => {
        [$(($name, concat!(
            r#"<svg class="icon" aria-hidden="true" focusable="false"><use href="/assets/icons.svg#icon-"#,
            $name,
            r#""></use></svg>"#
        ))),*]
    };
}

const ICONS: [(&str, &str); 14] = icons![
    "alert",
    "calendar",
    "check-circle",
    "download",
    "edit",
    "error",
    "internet",
    "lock",
    "logout",
    "person",
    "plus",
    "preview",
    "print",
    "warning",
];

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
            signed_in: None,
        }
    }

    pub(crate) fn text(&self, id: &str) -> String {
        self.lang.text(id, None)
    }

    /// A Suomi.fi icon from the sprite, beside a text that says the same (so hidden from
    /// screen readers); an unknown name draws nothing. Written into templates unescaped,
    /// so it is built only from the fixed names below.
    pub(crate) fn icon(&self, name: &str) -> &'static str {
        ICONS
            .iter()
            .find(|(known, _)| *known == name)
            .map_or("", |(_, svg)| *svg)
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

/// A page that says why signing in (or a form) did not go through: `message` is a Fluent
/// id whose value is the title and whose `text` attribute says what to do.
pub(crate) fn refusal(headers: &HeaderMap, status: StatusCode, message: &str) -> Response {
    let chrome = Chrome::new(headers, "/");
    let page = MessagePage {
        chrome: &chrome,
        title: chrome.text(message),
        text: chrome.text(&format!("{message}.text")),
        link: None,
    };
    render(status, &page)
}

pub(crate) fn render(status: StatusCode, page: &impl Template) -> Response {
    match page.render() {
        Ok(html) => (status, Html(html)).into_response(),
        Err(error) => {
            tracing::error!(%error, "a page did not render");
            ApiError::internal().into_response()
        }
    }
}

/// The pages' routes: the client's pages, the language menu's and sign-out's.
pub(crate) fn routes() -> axum::Router<crate::state::AppState> {
    use axum::routing::{get, post};
    axum::Router::new()
        .route("/language", get(choose_language))
        .route("/sign-out", post(crate::routes::auth::sign_out_form))
        .route("/signed-out", get(signed_out))
        .route("/", get(front))
        .merge(client::routes())
}

/// The front page: the sign-in choices for someone not signed in; a signed-in client
/// goes on to their pages, signed-in staff get the web app.
#[derive(Template)]
#[template(path = "front.html")]
struct FrontPage<'a> {
    chrome: &'a Chrome,
    /// (where to sign in, the message naming the role)
    roles: [(&'static str, &'static str); 4],
}

pub(crate) async fn front(
    axum::extract::State(state): axum::extract::State<crate::state::AppState>,
    headers: HeaderMap,
) -> Response {
    let session = match crate::extract::cookie(&headers, crate::sessions::SESSION_COOKIE) {
        Some(id) => state.services().sessions.get(id, state.now()).await,
        None => None,
    };
    match session.map(|s| s.principal.role()) {
        Some(omadata_app::Role::Client) => axum::response::Redirect::to("/my/data").into_response(),
        Some(_) => crate::pages::app_shell().await.into_response(),
        None => {
            let chrome = Chrome::new(&headers, "/");
            let page = FrontPage {
                chrome: &chrome,
                roles: [
                    ("/auth/login?role=client", "front-client"),
                    ("/auth/login?role=professional", "front-professional"),
                    ("/auth/login?role=auditor", "front-auditor"),
                    ("/auth/login?role=admin", "front-admin"),
                ],
            };
            render(StatusCode::OK, &page)
        }
    }
}

/// Whether a sign-in may return to the client's page `page`.
pub(crate) fn is_client_page(page: &str) -> bool {
    client::is_page(page)
}

/// A page with a title and one paragraph (a refusal, a farewell).
#[derive(Template)]
#[template(path = "message.html")]
struct MessagePage<'a> {
    chrome: &'a Chrome,
    title: String,
    text: String,
    link: Option<(&'a str, String)>,
}

/// Shown after signing out from a page.
async fn signed_out(headers: HeaderMap) -> Response {
    let chrome = Chrome::new(&headers, "/signed-out");
    let page = MessagePage {
        chrome: &chrome,
        title: chrome.text("signed-out"),
        text: chrome.text("signed-out.text"),
        link: Some(("/auth/login?role=client", chrome.text("sign-in-again"))),
    };
    render(StatusCode::OK, &page)
}

/// The page a sign-in ends on: the session cookie is set here, and the browser moves on
/// to `to` from this page. A redirect straight from the callback would not do: the
/// sign-in began on the provider's site, so the browser would hold back the
/// `SameSite=Strict` cookie on that redirect, and a page rendered on the server would
/// not know who is signed in.
#[derive(Template)]
#[template(path = "landing.html")]
struct LandingPage<'a> {
    chrome: &'a Chrome,
    to: &'a str,
}

pub(crate) fn landing(headers: &HeaderMap, to: &str) -> Response {
    let chrome = Chrome::new(headers, to);
    let to = local_path(to).unwrap_or("/");
    render(
        StatusCode::OK,
        &LandingPage {
            chrome: &chrome,
            to,
        },
    )
}

#[derive(Debug, Deserialize)]
pub(crate) struct LanguageQuery {
    to: String,
    back: Option<String>,
}

/// Remembers the language chosen from the menu for a year and returns to the page.
async fn choose_language(
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
