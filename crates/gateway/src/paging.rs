//! Cursor paging for list endpoints: `limit` (default 100, at most 1000) and `cursor`
//! query parameters; the next page's address in a `Link: <...>; rel="next"` header, so
//! bodies that are arrays stay arrays. A cursor is the base64url form of the 16-byte id
//! the page ended at; anything else is refused with 400 `invalid_cursor`.

use crate::error::{ApiError, ApiResult};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Deserialize;

/// Items per page when the caller names no `limit`.
pub(crate) const DEFAULT_LIMIT: usize = 100;
/// The most items one page holds.
pub(crate) const MAX_LIMIT: usize = 1000;

#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub(crate) struct PageQuery {
    /// Items per page: 1 to 1000, 100 when absent.
    limit: Option<usize>,
    /// Where to continue: the `cursor` of the previous page's `Link: rel="next"` header.
    cursor: Option<String>,
}

impl PageQuery {
    pub(crate) fn limit(&self) -> usize {
        self.limit.unwrap_or(DEFAULT_LIMIT).clamp(1, MAX_LIMIT)
    }

    /// The id the previous page ended at, if a cursor was given.
    pub(crate) fn after(&self) -> ApiResult<Option<[u8; 16]>> {
        self.cursor
            .as_deref()
            .map(|cursor| {
                URL_SAFE_NO_PAD
                    .decode(cursor)
                    .ok()
                    .and_then(|bytes| <[u8; 16]>::try_from(bytes).ok())
                    .ok_or_else(ApiError::invalid_cursor)
            })
            .transpose()
    }
}

/// `body` as JSON, with a `Link: rel="next"` to `path` continuing after `next`.
pub(crate) fn page_response(
    body: impl serde::Serialize,
    path: &str,
    limit: usize,
    next: Option<[u8; 16]>,
) -> Response {
    let mut response = axum::Json(body).into_response();
    if let Some(next) = next {
        let link = format!(
            "<{path}?limit={limit}&cursor={}>; rel=\"next\"",
            URL_SAFE_NO_PAD.encode(next)
        );
        if let Ok(value) = HeaderValue::from_str(&link) {
            response.headers_mut().insert(header::LINK, value);
        }
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_anything_else_is_refused() {
        let id = [7u8; 16];
        let page = PageQuery {
            limit: Some(5000),
            cursor: Some(URL_SAFE_NO_PAD.encode(id)),
        };
        assert_eq!(page.limit(), MAX_LIMIT);
        assert_eq!(page.after().unwrap(), Some(id));
        for bad in ["", "!!", "AAAA", &URL_SAFE_NO_PAD.encode([1u8; 17])] {
            let page = PageQuery {
                limit: None,
                cursor: Some(bad.to_owned()),
            };
            assert_eq!(page.after().unwrap_err().code, "invalid_cursor", "{bad}");
        }
        assert_eq!(PageQuery::default().limit(), DEFAULT_LIMIT);
    }
}
