//! The client's pages, server-rendered and whole without JavaScript: plain links and
//! forms, each form posting back with the session's CSRF token in a hidden field. They
//! call the same use cases as the JSON API. After a change the browser is sent on to a
//! page (post/redirect/get), so reloading never repeats it; a refused change renders
//! the form again with the message next to the field, in the person's language.
//!
//! - [`data`]: "my data": what is filled in, adding and changing a field.
//! - [`requests`]: access requests, approving (all or less) and refusing.
//! - [`grants`]: who sees my data now, sharing on my own initiative, receipts.
//! - [`history`]: who has looked at or changed my data.
//! - [`account`]: the export and erasure.

mod account;
mod data;
mod grants;
mod history;
mod requests;

use super::i18n::{Lang, Speak};
use super::{Chrome, Notice, SignedIn, render};
use crate::error::ApiError;
use crate::extract::{cookie, same_secret};
use crate::sessions::SESSION_COOKIE;
use crate::state::AppState;
use askama::Template;
use axum::Router;
use axum::body::Body;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{Method, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use omadata_app::{Principal, Role};
use omadata_vault::ClientId;
use serde::Deserialize;
use serde::de::DeserializeOwned;

/// The client's pages: (path under `/my/`, the message naming it in the menu).
const MENU: [(&str, &str); 6] = [
    ("data", "nav-data"),
    ("requests", "nav-requests"),
    ("share", "nav-share"),
    ("grants", "nav-grants"),
    ("seen", "nav-seen"),
    ("account", "nav-account"),
];

/// Whether `page` is one of the client's pages (a sign-in may return to it).
pub(crate) fn is_page(page: &str) -> bool {
    MENU.iter().any(|(name, _)| *name == page)
}

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/my",
            axum::routing::get(|| async { Redirect::to("/my/data") }),
        )
        .merge(data::routes())
        .merge(requests::routes())
        .merge(grants::routes())
        .merge(history::routes())
        .merge(account::routes())
}

/// A signed-in client on one of their pages: who they are, and the page's frame in
/// their language with the menu and the sign-out form.
#[derive(Debug)]
pub(crate) struct ClientPage {
    pub(crate) client: ClientId,
    pub(crate) chrome: Chrome,
    /// The session's CSRF token, for the page's forms.
    pub(crate) csrf: String,
    pub(crate) authenticated_at: chrono::DateTime<chrono::Utc>,
    /// The page of the menu this request belongs to (`/my/requests`): where a refused
    /// form's problem page leads back to.
    home: String,
}

impl ClientPage {
    pub(crate) fn lang(&self) -> Lang {
        self.chrome.lang
    }

    pub(crate) fn text(&self, id: &str) -> String {
        self.chrome.text(id)
    }

    /// A page that says what went wrong (a use case refused), with a way back.
    pub(crate) fn problem(&self, error: ApiError, back: &str) -> Response {
        let page = ProblemPage {
            chrome: &self.chrome,
            title: self.text("problem-title"),
            text: super::words::problem(error.code, self.lang()),
            back,
        };
        render(error.status, &page)
    }
}

#[derive(Template)]
#[template(path = "client/problem.html")]
struct ProblemPage<'a> {
    chrome: &'a Chrome,
    title: String,
    text: String,
    back: &'a str,
}

/// The page a path names (`/my/requests/…` → `requests`), for the menu and for the
/// sign-in to return to.
fn page_of(path: &str) -> &str {
    path.strip_prefix("/my/")
        .and_then(|rest| rest.split('/').next())
        // The export is reached from the account page.
        .map(|page| if page == "export" { "account" } else { page })
        .filter(|page| is_page(page))
        .unwrap_or("data")
}

impl FromRequestParts<AppState> for ClientPage {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let path = parts.uri.path();
        let page = page_of(path);
        let session = match cookie(&parts.headers, SESSION_COOKIE) {
            Some(id) => state.services().sessions.get(id, state.now()).await,
            None => None,
        };
        let Some(session) = session else {
            // Signed out or expired: a page is shown after signing in again; a form's
            // post is not repeated (and a redirect to the provider would break the
            // form-action policy), so it says what happened.
            if parts.method == Method::GET {
                return Err(
                    Redirect::to(&format!("/auth/login?role=client&next={page}")).into_response(),
                );
            }
            return Err(super::refusal(
                &parts.headers,
                StatusCode::UNAUTHORIZED,
                "session-ended",
            ));
        };
        let Principal::Client { id, display_name } = &session.principal else {
            // Staff have their own pages.
            return Err(Redirect::to("/").into_response());
        };
        let back = parts
            .uri
            .path_and_query()
            .map_or(path, |p| p.as_str())
            .to_owned();
        let mut chrome = Chrome::new(&parts.headers, &back);
        let lang = chrome.lang;
        chrome.signed_in = Some(SignedIn::new(
            lang,
            display_name,
            Role::Client,
            &session.csrf_token,
            MENU.iter()
                .map(|(name, label)| (format!("/my/{name}"), lang.text(label, None), *name == page))
                .collect(),
        ));
        Ok(ClientPage {
            home: format!("/my/{page}"),
            client: *id,
            chrome,
            csrf: session.csrf_token.clone(),
            authenticated_at: session.authenticated_at,
        })
    }
}

/// The most a page's form may send: every form here is a few fields, and the longest
/// value a field holds is 64 KiB.
const FORM_LIMIT: usize = 256 * 1024;

/// A client's form post: the page it came from, and the form's fields as `T` once the
/// CSRF token in the hidden `csrf` field matched the session's. Repeated names (a
/// group of checkboxes) become a `Vec`.
pub(crate) struct PageForm<T> {
    pub(crate) page: ClientPage,
    pub(crate) form: T,
}

#[derive(Deserialize)]
struct CsrfField {
    #[serde(default)]
    csrf: String,
}

impl<T: DeserializeOwned> FromRequest<AppState> for PageForm<T> {
    type Rejection = Response;

    async fn from_request(request: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        let (mut parts, body) = request.into_parts();
        let page = ClientPage::from_request_parts(&mut parts, state).await?;
        let is_form = parts
            .headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
        if !is_form {
            return Err(page.problem(ApiError::unsupported_form(), &page.home));
        }
        // (Never more than the gateway takes for any body.)
        let limit = FORM_LIMIT.min(state.config().max_body_bytes);
        let bytes = match axum::body::to_bytes(Body::new(body), limit).await {
            Ok(bytes) => bytes,
            Err(_) => return Err(page.problem(ApiError::body_too_large(), &page.home)),
        };
        let sent: CsrfField = serde_html_form::from_bytes(&bytes).unwrap_or(CsrfField {
            csrf: String::new(),
        });
        if !same_secret(sent.csrf.as_bytes(), page.csrf.as_bytes()) {
            return Err(page.problem(ApiError::csrf_token_invalid(), &page.home));
        }
        match serde_html_form::from_bytes::<T>(&bytes) {
            Ok(form) => Ok(PageForm { page, form }),
            Err(error) => {
                tracing::debug!(%error, "a page's form did not parse");
                Err(page.problem(
                    ApiError::bad_request("invalid_form", "the form did not parse"),
                    &page.home,
                ))
            }
        }
    }
}

/// Every item a paged use case lists, page by page, up to `most` (a bound on one page
/// view's work); and whether there were more than that. `fetch(after)` returns one page
/// and the cursor of the next.
pub(crate) fn read_all<T, C, E>(
    most: usize,
    mut fetch: impl FnMut(Option<C>) -> Result<(Vec<T>, Option<C>), E>,
) -> Result<(Vec<T>, bool), E> {
    let mut items = Vec::new();
    let mut after = None;
    loop {
        let (batch, next) = fetch(after)?;
        items.extend(batch);
        match next {
            Some(_) if items.len() >= most => return Ok((items, true)),
            Some(next) => after = Some(next),
            None => return Ok((items, false)),
        }
    }
}

/// After a change: on to `to`, which says what was done (`?done=<notice>`) and where the
/// person was (`#<anchor>`), so the page shows the notice there and keeps the place.
pub(crate) fn done(to: &str, notice: &str, anchor: Option<&str>) -> Response {
    let separator = if to.contains('?') { '&' } else { '?' };
    let mut location = format!("{to}{separator}done={notice}");
    if let Some(anchor) = anchor {
        location.push('#');
        location.push_str(anchor);
    }
    (StatusCode::SEE_OTHER, [(header::LOCATION, location)]).into_response()
}

/// The notice a page shows after a change: only the notices the page knows, named by
/// `done` in the query; anything else shows nothing.
pub(crate) fn notice(lang: Lang, done: Option<&str>, known: &[&str]) -> Option<Notice> {
    let done = done?;
    known.contains(&done).then(|| Notice {
        text: lang.text(&format!("done-{done}"), None),
    })
}

/// A page's query, read leniently: a query that does not parse (a value given twice, a
/// stray parameter from a hand-edited address) is read as no query, so the page shows
/// its plain state rather than an error.
pub(crate) struct PageQuery<T>(pub(crate) T);

impl<T: DeserializeOwned + Default, S: Send + Sync> FromRequestParts<S> for PageQuery<T> {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let query = parts.uri.query().unwrap_or_default();
        Ok(PageQuery(
            serde_html_form::from_str(query).unwrap_or_default(),
        ))
    }
}

/// The `done` value of a page's query.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct DoneQuery {
    pub(crate) done: Option<String>,
}

/// An element id from a field path (`identity.phone` → `f-identity-phone`).
pub(crate) fn field_anchor(path: &str) -> String {
    let mut id = String::from("f-");
    id.extend(
        path.chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' }),
    );
    id
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reading_every_page_stops_at_the_end_or_the_bound() {
        // Pages of 3 from 0..10: the cursor is the next first item.
        let fetch = |after: Option<u32>| -> Result<(Vec<u32>, Option<u32>), ()> {
            let start = after.unwrap_or(0);
            let end = (start + 3).min(10);
            Ok(((start..end).collect(), (end < 10).then_some(end)))
        };
        assert_eq!(read_all(100, fetch), Ok(((0..10).collect(), false)));
        let (bounded, more) = read_all(5, fetch).unwrap();
        assert_eq!((bounded, more), ((0..6).collect(), true));
        assert_eq!(
            read_all(100, |_: Option<u32>| Err::<(Vec<u32>, _), _>(7)),
            Err(7)
        );
    }

    #[test]
    fn paths_name_their_page() {
        assert_eq!(page_of("/my/requests/abc/less"), "requests");
        assert_eq!(page_of("/my/data"), "data");
        assert_eq!(page_of("/my/export"), "account");
        assert_eq!(page_of("/my/nonsense"), "data");
        assert_eq!(page_of("/elsewhere"), "data");
        assert_eq!(
            field_anchor("background.work_history"),
            "f-background-work-history"
        );
    }
}
