//! The time limit on handling a request, with an answer that says what is true.
//!
//! A read past the limit is stopped and answered 408: nothing was changed or shown. A
//! change (any other method) is never stopped halfway, neither by the limit nor by a
//! caller who goes away: it runs to its end on a task of its own, and if the limit
//! passes first the answer says the change may still be completed.

use crate::error::ApiError;
use axum::extract::{Request, State};
use axum::http::Method;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::time::Duration;
use tracing::Instrument;

fn changes_state(method: &Method) -> bool {
    !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// Middleware (`from_fn_with_state(limit, deadline)`).
pub(crate) async fn deadline(
    State(limit): State<Duration>,
    request: Request,
    next: Next,
) -> Response {
    if !changes_state(request.method()) {
        return match tokio::time::timeout(limit, next.run(request)).await {
            Ok(response) => response,
            Err(_) => ApiError::request_timeout().into_response(),
        };
    }
    let change = tokio::spawn(next.run(request).in_current_span());
    match tokio::time::timeout(limit, change).await {
        Ok(Ok(response)) => response,
        Ok(Err(error)) => {
            tracing::error!(%error, "a request handler failed");
            ApiError::internal().into_response()
        }
        Err(_) => ApiError::outcome_pending().into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::Router;
    use axum::body::Body;
    use axum::http::StatusCode;
    use axum::routing::post;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};
    use tower::ServiceExt;

    /// A router whose one handler takes `work` and then records that it finished.
    fn slow_app(work: Duration, limit: Duration) -> (Router, Arc<AtomicBool>) {
        let finished = Arc::new(AtomicBool::new(false));
        let done = finished.clone();
        let handler = move || {
            let done = done.clone();
            async move {
                tokio::time::sleep(work).await;
                done.store(true, Ordering::SeqCst);
                "done"
            }
        };
        let app = Router::new()
            .route("/slow", post(handler.clone()).get(handler))
            .layer(axum::middleware::from_fn_with_state(limit, deadline));
        (app, finished)
    }

    async fn finishes_within(flag: &AtomicBool, within: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + within;
        while tokio::time::Instant::now() < deadline {
            if flag.load(Ordering::SeqCst) {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        false
    }

    fn request(method: Method) -> Request {
        Request::builder()
            .method(method)
            .uri("/slow")
            .body(Body::empty())
            .unwrap()
    }

    async fn code_of(response: Response) -> String {
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 16)
            .await
            .unwrap();
        let problem: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        problem["code"].as_str().unwrap().to_owned()
    }

    #[tokio::test]
    async fn a_change_past_the_limit_is_finished_and_the_answer_says_so() {
        let (app, finished) = slow_app(Duration::from_millis(300), Duration::from_millis(30));
        let response = app.oneshot(request(Method::POST)).await.unwrap();
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(code_of(response).await, "outcome_pending");
        assert!(!finished.load(Ordering::SeqCst));
        assert!(
            finishes_within(&finished, Duration::from_secs(10)).await,
            "the change was cut off halfway"
        );
    }

    #[tokio::test]
    async fn a_change_whose_caller_goes_away_is_still_finished() {
        let (app, finished) = slow_app(Duration::from_millis(100), Duration::from_secs(30));
        let call = tokio::spawn(app.oneshot(request(Method::POST)));
        tokio::time::sleep(Duration::from_millis(20)).await;
        // The connection closes: the response future is dropped.
        call.abort();
        assert!(finishes_within(&finished, Duration::from_secs(10)).await);
    }

    #[tokio::test]
    async fn a_read_past_the_limit_is_stopped_and_answered_408() {
        let (app, finished) = slow_app(Duration::from_millis(300), Duration::from_millis(30));
        let response = app.oneshot(request(Method::GET)).await.unwrap();
        assert_eq!(response.status(), StatusCode::REQUEST_TIMEOUT);
        assert_eq!(code_of(response).await, "request_timeout");
        assert!(!finishes_within(&finished, Duration::from_millis(500)).await);
    }

    #[tokio::test]
    async fn within_the_limit_the_handler_answers() {
        let (app, finished) = slow_app(Duration::from_millis(1), Duration::from_secs(10));
        for method in [Method::GET, Method::POST] {
            let response = app.clone().oneshot(request(method)).await.unwrap();
            assert_eq!(response.status(), StatusCode::OK);
        }
        assert!(finished.load(Ordering::SeqCst));
    }
}
