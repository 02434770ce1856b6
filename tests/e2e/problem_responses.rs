//! Every error answers RFC 9457 problem+json with a stable code, whoever made it: the
//! router (an unknown path, a method a path does not answer), an extractor (a path, a
//! body that does not parse, a wrong content type, a body over the limit) or a handler.

use omadata_e2e::{Browser, Gateway};
use reqwest::{Method, StatusCode, header};
use serde_json::Value;

/// Sends `method path` with `body` (and its content type) as `browser`, and returns the
/// status, the Allow header and the problem, after checking it is problem+json.
async fn problem(
    browser: &Browser,
    method: Method,
    path: &str,
    body: Option<(&'static str, Vec<u8>)>,
) -> (StatusCode, Option<String>, Value) {
    let mut request = browser
        .http
        .request(method.clone(), format!("{}{path}", browser.base));
    if let Some(csrf) = &browser.csrf {
        request = request.header("x-csrf-token", csrf);
    }
    if let Some((content_type, bytes)) = body {
        request = request
            .header(header::CONTENT_TYPE, content_type)
            .body(bytes);
    }
    let response = request.send().await.unwrap();
    let status = response.status();
    let content_type = response
        .headers()
        .get(header::CONTENT_TYPE)
        .map(|v| v.to_str().unwrap().to_owned());
    let allow = response
        .headers()
        .get(header::ALLOW)
        .map(|v| v.to_str().unwrap().to_owned());
    let bytes = response.bytes().await.unwrap();
    assert_eq!(
        content_type.as_deref(),
        Some("application/problem+json"),
        "{method} {path} answered {status} with {content_type:?}: {}",
        String::from_utf8_lossy(&bytes)
    );
    let problem: Value = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(problem["status"], status.as_u16(), "{problem}");
    assert_eq!(
        problem["type"],
        format!("urn:omadata:problem:{}", problem["code"].as_str().unwrap()),
        "{problem}"
    );
    (status, allow, problem)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn routing_errors_answer_problem_json() {
    let gateway = Gateway::demo().await.unwrap();
    let anyone = gateway.browser().unwrap();

    let (status, allow, body) = problem(&anyone, Method::DELETE, "/healthz", None).await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(body["code"], "method_not_allowed");
    assert!(allow.unwrap_or_default().contains("GET"));

    let (status, _, body) = problem(&anyone, Method::PATCH, "/api/v1/me/record", None).await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(body["code"], "method_not_allowed");

    let (status, _, body) = problem(&anyone, Method::GET, "/api/v1/no-such-thing", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body["code"], "not_found");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rejected_paths_and_bodies_answer_problem_json_and_change_nothing() {
    let gateway = Gateway::demo().await.unwrap();
    let pro = gateway.signed_in("professional", None).await.unwrap();
    let client = gateway.signed_in("client", None).await.unwrap();
    let (_, before) = client.get("/api/v1/me/record").await.unwrap();

    // A path that is not UTF-8, in each place a path parameter is read.
    let (status, _, body) = problem(
        &pro,
        Method::PUT,
        "/api/v1/clients/someone/record/%FF",
        Some(("application/json", br#"{"value":"x"}"#.to_vec())),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["code"], "invalid_path");
    let (status, _, body) = problem(
        &client,
        Method::PUT,
        "/api/v1/me/record/%FF",
        Some(("application/json", br#"{"value":"x"}"#.to_vec())),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["code"], "invalid_path");

    let field = "/api/v1/me/record/identity.municipality";
    let cases: [(&str, Vec<u8>, StatusCode, &str); 4] = [
        (
            "application/json",
            b"{\"value\":".to_vec(),
            StatusCode::BAD_REQUEST,
            "malformed_json",
        ),
        (
            "application/json",
            br#"{"valeu":"x"}"#.to_vec(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_body",
        ),
        (
            "text/plain",
            br#"{"value":"x"}"#.to_vec(),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
        ),
        (
            "application/json",
            format!(r#"{{"value":"{}"}}"#, "x".repeat(128 * 1024)).into_bytes(),
            StatusCode::PAYLOAD_TOO_LARGE,
            "body_too_large",
        ),
    ];
    for (content_type, bytes, expected, code) in cases {
        let (status, _, body) =
            problem(&client, Method::PUT, field, Some((content_type, bytes))).await;
        assert_eq!(
            (status, body["code"].as_str()),
            (expected, Some(code)),
            "{body}"
        );
    }
    let (_, after) = client.get("/api/v1/me/record").await.unwrap();
    assert_eq!(before, after);
}
