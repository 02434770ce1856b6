//! The web app: one HTML shell, one script and one stylesheet, compiled into the binary.
//! No inline script or style anywhere, so the Content-Security-Policy needs no
//! `unsafe-inline`. The script asks `/api/v1/me` who is signed in and shows that role's
//! pages; without a session it shows the sign-in choices.

use axum::http::header;
use axum::response::{Html, IntoResponse, Response};

const SHELL: &str = include_str!("../assets/app.html");
const SCRIPT: &str = include_str!("../assets/app.js");
const STYLESHEET: &str = include_str!("../assets/app.css");

pub(crate) async fn app_shell() -> Html<&'static str> {
    Html(SHELL)
}

pub(crate) async fn script() -> Response {
    (
        [(header::CONTENT_TYPE, "text/javascript; charset=utf-8")],
        SCRIPT,
    )
        .into_response()
}

pub(crate) async fn stylesheet() -> Response {
    (
        [(header::CONTENT_TYPE, "text/css; charset=utf-8")],
        STYLESHEET,
    )
        .into_response()
}
